#!/usr/bin/python3
"""Independent oracle for the hand-made vector files, written from RFC.md §3 alone.

Usage:
  tests/capture/oracle.py generate   rewrite rolling.txt, block_size.txt and strong.txt
  tests/capture/oracle.py check      check these rules against every captured vector
                                     (rsync's own bytes) and the published hash vectors

Sources of truth, none of them rsync-constant's Rust code:
  * MD4: a from-scratch Python MD4 below, checked against the RFC 1320 test suite and
    against `openssl dgst -md4 -provider legacy` when available;
  * MD5: Python's hashlib, checked against the RFC 1321 test suite;
  * XXH64 / XXH3-64 / XXH3-128: the `xxhash` Python module (Debian python3-xxhash, the
    reference C library), checked against xxHash's published empty-input values;
  * the rolling sum and the block-size rule: the Python transcriptions of RFC.md §3.1 and
    §3.2 below, and the block-size rows were also compared with stock rsync's own
    `--debug=deltasum2` output (see block_size_from_rsync.py).
The seed is placed by hand exactly as RFC.md §3.3 says.
Needs /usr/bin/python3 with python3-xxhash (apt-get install python3-xxhash).
"""
import glob
import hashlib
import os
import struct
import subprocess
import sys

import xxhash

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import filespec  # noqa: E402

VEC = os.path.normpath(os.path.join(HERE, "..", "data", "vectors"))
M32 = 0xFFFFFFFF
M64 = (1 << 64) - 1


# ---------------------------------------------------------------------------------------
# MD4 (RFC 1320), from the RFC's description.

def _rotl(x, n):
    return ((x << n) | (x >> (32 - n))) & M32


def md4(data):
    msg = bytearray(data)
    bitlen = (8 * len(data)) & M64
    msg.append(0x80)
    while len(msg) % 64 != 56:
        msg.append(0)
    msg += struct.pack("<Q", bitlen)
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for off in range(0, len(msg), 64):
        x = struct.unpack("<16I", msg[off:off + 64])
        aa, bb, cc, dd = a, b, c, d

        def f(x_, y, z):
            return (x_ & y) | (~x_ & z)

        def g(x_, y, z):
            return (x_ & y) | (x_ & z) | (y & z)

        def h(x_, y, z):
            return x_ ^ y ^ z

        for i in range(16):
            k = i
            s = (3, 7, 11, 19)[i % 4]
            a = _rotl((a + f(b, c, d) + x[k]) & M32, s)
            a, b, c, d = d, a, b, c
        for i in range(16):
            k = (i % 4) * 4 + i // 4
            s = (3, 5, 9, 13)[i % 4]
            a = _rotl((a + g(b, c, d) + x[k] + 0x5A827999) & M32, s)
            a, b, c, d = d, a, b, c
        for i in range(16):
            k = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)[i]
            s = (3, 9, 11, 15)[i % 4]
            a = _rotl((a + h(b, c, d) + x[k] + 0x6ED9EBA1) & M32, s)
            a, b, c, d = d, a, b, c
        a, b, c, d = (a + aa) & M32, (b + bb) & M32, (c + cc) & M32, (d + dd) & M32
    return struct.pack("<4I", a, b, c, d)


# ---------------------------------------------------------------------------------------
# RFC.md §3.1: the rolling sum over signed bytes, CHAR_OFFSET 0.

def weak_sum(data):
    s1 = s2 = 0
    n = len(data)
    for i, byte in enumerate(data):
        x = byte - 256 if byte >= 128 else byte
        s1 += x
        s2 += (n - i) * x
    return (s1 & 0xFFFF) | ((s2 & 0xFFFF) << 16)


def roll(s1s2, n, out_byte, in_byte):
    """[weak-roll] on the unpacked sums (s1, s2) of an n-byte window."""
    s1, s2 = s1s2
    o = out_byte - 256 if out_byte >= 128 else out_byte
    i = in_byte - 256 if in_byte >= 128 else in_byte
    s1 = (s1 - o + i) & M32
    s2 = (s2 - n * o + s1) & M32
    return s1, s2


# ---------------------------------------------------------------------------------------
# RFC.md §3.2: block length and s2length.

def floor_log2(v):
    return v.bit_length() - 1


def block_len(length, protocol, block_size=0):
    if block_size:
        return block_size
    if length <= 700 * 700:
        return 700
    max_len = (1 << 29) if protocol < 30 else (1 << 17)
    # largest multiple of 8 whose square is <= length, found by bits from 2^floor(log4 len)
    c = 1 << (floor_log2(length) // 2)
    if c >= max_len:
        return max_len
    b = 0
    while c >= 8:
        if (b | c) * (b | c) <= length:
            b |= c
        c >>= 1
    return max(b, 700)


def s2length(length, blen, digest_len, csum_length):
    cap = min(16, digest_len)
    if csum_length == 16:
        return cap
    b = 10 + 2 * (floor_log2(length) if length > 0 else 0)
    b = max(b - floor_log2(blen), 0) if b > floor_log2(blen) else 0
    s2 = int((b - 24) / 8)  # C division truncates toward zero
    return min(max(s2, csum_length), cap)


def sum_head(length, protocol, digest_len, csum_length):
    blen = block_len(length, protocol)
    rem = length % blen
    count = length // blen + (1 if rem else 0)
    return count, blen, s2length(length, blen, digest_len, csum_length), rem


# ---------------------------------------------------------------------------------------
# RFC.md §3.3: strong sums with the seed placed by hand.

DIGEST = {"md4": 16, "md5": 16, "xxh64": 8, "xxh3": 8, "xxh128": 16}


def seed_bytes(seed):
    return struct.pack("<i", seed)


def block_sum(kind, seed, seed_fix, data):
    if kind == "md4":
        return md4(data + (seed_bytes(seed) if seed != 0 else b""))
    if kind == "md5":
        s = seed_bytes(seed) if seed != 0 else b""
        return hashlib.md5(s + data if seed_fix else data + s).digest()
    xseed = seed & M64  # sign-extended to 64 bits
    if kind == "xxh64":
        return struct.pack("<Q", xxhash.xxh64_intdigest(data, seed=xseed))
    if kind == "xxh3":
        return struct.pack("<Q", xxhash.xxh3_64_intdigest(data, seed=xseed))
    if kind == "xxh128":
        v = xxhash.xxh3_128_intdigest(data, seed=xseed)
        return struct.pack("<QQ", v & M64, v >> 64)
    raise ValueError(kind)


def file_sum(kind, seed, data):
    if kind == "md4":
        return md4(seed_bytes(seed) + data)
    if kind == "md5":
        return hashlib.md5(data).digest()
    return block_sum(kind, 0, True, data)


# ---------------------------------------------------------------------------------------

def self_test():
    rfc1320 = {
        b"": "31d6cfe0d16ae931b73c59d7e0c089c0",
        b"a": "bde52cb31de33e46245e05fbdbd6fb24",
        b"abc": "a448017aaf21d8525fc10ae87aa6729d",
        b"message digest": "d9130a8164549fe818874806e1c7014b",
        b"abcdefghijklmnopqrstuvwxyz": "d79e1c308aa5bbcdeea8ed63df412da9",
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789":
            "043f8582f241db351ce627e153e7f0e4",
        b"1234567890" * 8: "e33b4ddc9c38f2199c3e7b164fcc0536",
    }
    for msg, hexd in rfc1320.items():
        assert md4(msg).hex() == hexd, msg
    assert hashlib.md5(b"abc").hexdigest() == "900150983cd24fb0d6963f7d28e17f72"
    assert xxhash.xxh64_hexdigest(b"") == "ef46db3751d8e999"
    assert xxhash.xxh3_64_hexdigest(b"") == "2d06800538d394c2"
    assert xxhash.xxh3_128_hexdigest(b"") == "99aa06d3014798d86001c324468d497f"
    try:
        out = subprocess.run(["openssl", "dgst", "-md4", "-provider", "legacy", "-provider",
                              "default"], input=b"rsync", capture_output=True, check=True)
        assert out.stdout.split()[-1].decode() == md4(b"rsync").hex(), "openssl md4"
    except (OSError, subprocess.CalledProcessError):
        print("note: openssl md4 unavailable, relying on RFC 1320 vectors only")


def h(b):
    return b.hex()


def gen_rolling():
    lines = [
        "# covers: [weak-sum] [weak-roll]",
        "# Rolling (weak) checksum vectors; RFC.md Appendix B.1. Generated by",
        "# tests/capture/oracle.py from the RFC.md §3.1 definition (signed bytes, CHAR_OFFSET 0).",
        "#",
        "# sum <input> <weak>           input: hex bytes, or '-' for empty, or @SPEC (filespec);",
        "#                               weak: the packed 32-bit sum, 8 hex digits",
        "# roll <input> <window> <weaks> slide a <window>-byte window over the input one byte",
        "#                               at a time; <weaks> lists the sum at every offset,",
        "#                               comma-separated",
    ]
    cases = [
        ("-", b""),
        ("00", b"\x00"), ("01", b"\x01"), ("7f", b"\x7f"), ("80", b"\x80"), ("ff", b"\xff"),
        ("010203", b"\x01\x02\x03"),
        ("80ff", b"\x80\xff"),
        ("ff80", b"\xff\x80"),
        ("7f80", b"\x7f\x80"),
        (h(b"abc"), b"abc"),
        (h(b"rsync"), b"rsync"),
        (h(b"The quick brown fox jumps over the lazy dog"),
         b"The quick brown fox jumps over the lazy dog"),
        (h(bytes(range(256))), bytes(range(256))),
    ]
    specs = ["fill:700:00", "fill:700:80", "fill:700:ff", "fill:4096:80", "fill:65536:ff",
             "fill:131072:80", "fill:131073:ff", "fill:1000000:7f", "prng:700:1",
             "prng:1408:7", "prng:5000:1", "prng:33:3", "prng:31:3", "prng:32:3",
             "prng:65:5", "prng:100000:11"]
    for hx, data in cases:
        lines.append(f"sum {hx} {weak_sum(data):08x}")
    for spec in specs:
        lines.append(f"sum @{spec} {weak_sum(filespec.build(spec)):08x}")
    for spec, window in [("prng:64:9", 8), ("fill:40:80", 5), ("prng:300:4", 37),
                         ("hex:" + h(b"\xff\x80\x7f\x00\x01" * 8), 7)]:
        data = filespec.build(spec)
        # The rolled values come from the recurrence, checked here against recomputation.
        w = data[:window]
        s1 = sum(b - 256 if b >= 128 else b for b in w) & M32
        s2 = sum((window - i) * (b - 256 if b >= 128 else b) for i, b in enumerate(w)) & M32
        sums = []
        for start in range(len(data) - window + 1):
            packed = (s1 & 0xFFFF) | ((s2 & 0xFFFF) << 16)
            assert packed == weak_sum(data[start:start + window])
            sums.append(f"{packed:08x}")
            if start + window < len(data):
                s1, s2 = roll((s1, s2), window, data[start], data[start + window])
        lines.append(f"roll @{spec} {window} " + ",".join(sums))
    return lines


def gen_block_size():
    lines = [
        "# covers: [block-length] [s2length] [sum-head]",
        "# Sum-head rule vectors; RFC.md Appendix B.2. Generated by tests/capture/oracle.py",
        "# from RFC.md §3.2; rows marked `rsync` were also compared with stock rsync 3.5.0's",
        "# `--debug=deltasum2` output by tests/capture/block_size_from_rsync.py.",
        "#",
        "# <file length> <protocol> <digest_len> <csum_length> -> <count> <blength> "
        "<s2length> <remainder>",
    ]
    rows = []
    lengths = [0, 1, 699, 700, 701, 5000, 490000, 490001, 501264, 501265, 2000000,
               1 << 20, 10_000_000, 123_456_789, 512 << 20, 1 << 32, 1 << 34, (1 << 34) + 1,
               1 << 40, (1 << 40) + 12345, 1 << 50, (1 << 58) - 1]
    for length in lengths:
        for protocol in (27, 29, 30, 31, 32):
            if protocol in (27, 30, 32) and length not in (0, 2000000, 1 << 34, 1 << 40):
                continue
            for digest, csum in ((16, 2), (8, 2), (16, 16), (8, 16)):
                if length in (1 << 50, (1 << 58) - 1) and csum == 16:
                    continue
                count, blen, s2, rem = sum_head(length, protocol, digest, csum)
                if count > 0x7FFFFFFF:
                    continue  # rsync refuses such files (count must fit an int32)
                rows.append(f"{length} {protocol} {digest} {csum} -> {count} {blen} {s2} {rem}")
    return lines + rows


def gen_strong():
    lines = [
        "# covers: [strong-sum] [seed-placement] [file-sum]",
        "# Strong checksum vectors; RFC.md Appendix B.3. Generated by tests/capture/oracle.py",
        "# with independent hash implementations and the seed placed by hand (RFC.md §3.3).",
        "#",
        "# <kind> <seed> <seed_fix> <input> -> <block sum> <whole-file sum>",
        "#   kind: md4 (protocol 27-29 MD4), md5, xxh64, xxh3, xxh128; seed: decimal int32;",
        "#   seed_fix: 1 if CF_CHKSUM_SEED_FIX (MD5 only); input: hex, '-' for empty, @SPEC;",
        "#   block sum: the full digest (the wire carries its first s2length bytes);",
        "#   whole-file sum: as sent after the token stream.",
    ]
    inputs = [("-", b""), ("61", b"a"), (h(b"abc"), b"abc"),
              (h(b"message digest"), b"message digest"),
              ("@prng:55:1", None), ("@prng:56:1", None), ("@prng:60:1", None),
              ("@prng:64:1", None), ("@prng:700:2", None), ("@fill:1408:80", None),
              ("@prng:5000:1", None)]
    seeds = [0, 1, 0x12345678, -1, -12345, 0x7FFFFFFF, -0x80000000]
    for kind in ("md4", "md5", "xxh64", "xxh3", "xxh128"):
        for seed in seeds:
            for fix in ((0, 1) if kind == "md5" else (1,) if kind != "md4" else (0,)):
                for hx, data in inputs:
                    if data is None:
                        data = filespec.build(hx[1:])
                    if seed not in (0, -12345, 0x12345678) and hx not in ("-", h(b"abc"),
                                                                         "@prng:700:2"):
                        continue
                    lines.append(f"{kind} {seed} {fix} {hx} -> "
                                 f"{h(block_sum(kind, seed, fix, data))} "
                                 f"{h(file_sum(kind, seed, data))}")
    return lines


def check_captured():
    bad = 0
    files = sorted(glob.glob(os.path.join(VEC, "captured", "*.txt")))
    for path in files:
        kv = {}
        passes = []
        for line in open(path):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            key, _, rest = line.partition(" ")
            if key == "pass":
                passes.append({"blocks": []})
            elif key == "block":
                passes[-1]["blocks"].append(rest.split())
            elif passes and key in ("sum_head", "tokens", "file_sum"):
                passes[-1][key] = rest
            else:
                kv[key] = rest
        kind, seed, fix = kv["checksum"], int(kv["seed"]), int(kv["seed_fix"])
        named = kv.get("checksum_source", "default") != "default"
        # RFC.md Appendix D.2 / D.3, OpenSSL build (Debian): MD5 selected by name puts the
        # seed first whatever the flag says; MD4 selected by name uses the built-in code
        # (OpenSSL 3 has no MD4 by default): seed last in blocks, no seed in the file sum.
        if kind == "md5" and named:
            fix = 1
        basis, new = filespec.build(kv["basis"]), filespec.build(kv["new"])
        proto = int(kv["protocol"])
        name = os.path.basename(path)
        for pi, p in enumerate(passes):
            count, blen, s2, rem = map(int, p["sum_head"].split())
            want = sum_head(len(basis), proto, DIGEST[kind], 16 if pi else 2)
            if (count, blen, s2, rem) != want:
                print(f"{name} pass {pi}: sum head {count, blen, s2, rem} != rule {want}")
                bad += 1
            order_note = set()
            for i, w, s in p["blocks"]:
                i = int(i)
                blk = basis[i * blen:i * blen + blen]
                if f"{weak_sum(blk):08x}" != w:
                    print(f"{name} pass {pi} block {i}: weak {w} != {weak_sum(blk):08x}")
                    bad += 1
                mine = h(block_sum(kind, seed, fix, blk)[:s2])
                if mine != s:
                    other = h(block_sum(kind, seed, 1 - fix, blk)[:s2]) if kind == "md5" else None
                    order_note.add("the other MD5 seed order matches" if other == s else "no")
                    bad += 1
            if order_note:
                print(f"{name} pass {pi}: strong sums differ from the rule; {order_note}")
            fs = h(md4(new)) if kind == "md4" and named else h(file_sum(kind, seed, new))
            if fs != p["file_sum"]:
                print(f"{name} pass {pi}: file sum {p['file_sum']} != {fs}")
                bad += 1
    print(f"checked {len(files)} captured files, {bad} disagreements")
    return bad


def main():
    self_test()
    cmd = sys.argv[1] if len(sys.argv) > 1 else "check"
    if cmd == "generate":
        for name, gen in (("rolling.txt", gen_rolling), ("block_size.txt", gen_block_size),
                          ("strong.txt", gen_strong)):
            with open(os.path.join(VEC, name), "w") as f:
                f.write("\n".join(gen()) + "\n")
            print("wrote", name)
    elif cmd == "check":
        sys.exit(1 if check_captured() else 0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
