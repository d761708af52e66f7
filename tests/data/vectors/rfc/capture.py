#!/usr/bin/env python3
"""Record the stock rsync sessions that RFC.md's message examples are cut from.

Usage:  tests/data/vectors/rfc/capture.py run [NAME...]   re-run the sessions (as root)
        tests/data/vectors/rfc/capture.py show NAME       annotated dump of raw/NAME.*
        tests/data/vectors/rfc/capture.py fill FILE.vec   add the hex lines of a new vector

Each case builds a small source tree (and, for some, a destination with older or extra
files) in a scratch directory and runs stock rsync 3.5.0 on both ends through the harness
of tests/capture/: `fake-rsh` as the remote shell and `rsync-tee` as --rsync-path, which
records what the server read (raw/NAME.c2s) and wrote (raw/NAME.s2c) and its argv
(raw/NAME.argv). This script adds raw/NAME.cmd (the client command) and raw/NAME.out (the
client's exit code, stdout and stderr). Nothing here uses rsync-constant's code.

The *.vec files next to this script are cut by hand from these raw streams; the test
tests/tests/rfc_vectors.rs checks that every vector's bytes really occur at the stated place
of the stated raw file, then decodes them with rsync-proto and compares the fields with the
values stated in the vector (and in RFC.md). Re-running a capture changes timing-dependent
bytes (statistics) and, below protocol 30 with -H, inode numbers: the .vec files that cite
them must then be updated.

`show` prints, per direction, the handshake bytes, every multiplexed frame (raw offset,
code, length) and a hex dump of the logical MSG_DATA stream with its offsets, which are the
coordinates a .vec file uses.
"""
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURE = os.path.normpath(os.path.join(HERE, "..", "..", "..", "capture"))
RAW = os.path.join(HERE, "raw")
RSYNC = os.environ.get("CAPTURE_RSYNC", "/usr/bin/rsync")
T = 1_700_000_000  # every mtime is T + small offsets, so the streams are reproducible

# name: (direction, extra client options, protocol or None, letters to strip, tree, flags)
# tree: "basic" source; dst setup is chosen by flags:
#   "fresh"   empty destination
#   "stale"   destination holds an older d/c, an identical a and extra files x, y/z
#   "nobody"  the server runs as user nobody (so that chmod 000 really denies access)
#   "secret"  the source has an unreadable file; "unreadable" also an unreadable directory
#   "missing" the source directory does not exist; "nodest" the destination's parent neither
#   "devices" the source also has a character and a block device and a FIFO (needs root)
#   "cmp"     a --compare-dest directory holds an older d/c, the basis of the transfer
#   "slowlist" the --files-from list is a FIFO whose writer waits 3 s (the server idles)
CASES = {
    "p31-pull-aH": ("pull", ["-aH", "-i"], 31, "", "fresh"),
    "p29-pull-aH": ("pull", ["-aH", "-i"], 29, "", "fresh"),
    "p27-pull-aH": ("pull", ["-aH"], 27, "", "fresh"),
    "p31-push-aH": ("push", ["-aH", "-i"], 31, "", "fresh"),
    "p31-push-delete": ("push", ["-a", "--delete", "-i"], 31, "", "stale"),
    "p30-push-delete": ("push", ["-a", "--delete", "-i"], 30, "", "stale"),
    "p31-pull-delete": ("pull", ["-a", "--delete", "-i"], 31, "", "stale"),
    "p31-pull-c": ("pull", ["-ac", "-i"], 31, "", "stale"),
    "p29-pull-c": ("pull", ["-ac", "-i"], 29, "", "stale"),
    "p31-pull-n": ("pull", ["-an", "-i"], 31, "", "stale"),
    "p31-pull-filter": ("pull", ["-a", "--exclude=*.tmp", "--include=d/", "--filter=- /l",
                                 "--filter=P x"], 31, "", "fresh"),
    "p28-pull-filter": ("pull", ["-a", "--exclude=*.tmp", "--include=d/", "--filter=- /l"],
                        28, "", "fresh"),
    "p31-pull-filesfrom": ("pull", ["-a", "--files-from=@LIST", "--from0"], 31, "", "fresh"),
    "p30-pull-filesfrom": ("pull", ["-a", "--files-from=@LIST", "--from0"], 30, "", "fresh"),
    "p31-pull-ioerror": ("pull", ["-a"], 31, "", "fresh nobody unreadable"),
    "p31-pull-ioerror-novarint": ("pull", ["-a"], 31, "v", "fresh nobody unreadable"),
    "p30-pull-noread": ("pull", ["-a", "--stderr=client"], 30, "", "fresh nobody secret"),
    "p31-pull-missing": ("pull", ["-a"], 31, "", "fresh missing"),
    "p31-push-error": ("push", ["-a", "--stderr=client"], 31, "", "fresh nodest"),
    "p31-pull-dev": ("pull", ["-a"], 31, "", "fresh devices"),
    "p29-pull-dev": ("pull", ["-a"], 29, "", "fresh devices"),
    "p27-pull-dev": ("pull", ["-a"], 27, "", "fresh devices"),
    "p31-pull-basis": ("pull", ["-a", "-i", "--compare-dest=@CMP"], 31, "", "fresh cmp"),
    "p31-pull-z": ("pull", ["-a", "-z"], 31, "", "fresh"),
    "p31-pull-secluded": ("pull", ["-a", "-s"], 31, "", "fresh"),
    "p31-pull-keepalive": ("pull", ["-a", "--files-from=@LIST", "--from0", "--timeout=2"], 31, "",
                           "fresh slowlist"),
}

SEED = 0x0102_0304  # --checksum-seed for every case


def write(path, data, mtime, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    os.utime(path, ns=(mtime, mtime))


def build_src(src, flags):
    os.makedirs(src)
    write(os.path.join(src, "a"), b"alpha\n", (T + 1) * 10**9)
    os.link(os.path.join(src, "a"), os.path.join(src, "b"))
    os.makedirs(os.path.join(src, "d"))
    write(os.path.join(src, "d", "c"), b"gamma gamma\n", (T + 2) * 10**9 + 500, 0o600)
    write(os.path.join(src, "d", "junk.tmp"), b"tmp\n", (T + 3) * 10**9)
    os.symlink("a", os.path.join(src, "l"))
    os.utime(os.path.join(src, "l"), ns=((T + 4) * 10**9,) * 2, follow_symlinks=False)
    if "unreadable" in flags or "secret" in flags:
        write(os.path.join(src, "secret"), b"secret\n", (T + 5) * 10**9, 0o000)
    if "unreadable" in flags:
        os.makedirs(os.path.join(src, "locked"))
        write(os.path.join(src, "locked", "f"), b"f\n", (T + 5) * 10**9)
        os.chmod(os.path.join(src, "locked"), 0o000)
        os.utime(os.path.join(src, "locked"), ns=((T + 6) * 10**9,) * 2)
    if "devices" in flags:
        for name, mode, dev in (("cdev", stat.S_IFCHR | 0o620, os.makedev(1, 3)),
                                ("bdev", stat.S_IFBLK | 0o660, os.makedev(8, 300)),
                                ("fifo", stat.S_IFIFO | 0o644, 0)):
            os.mknod(os.path.join(src, "d", name), mode, dev)
            os.chmod(os.path.join(src, "d", name), mode & 0o7777)
            os.utime(os.path.join(src, "d", name), ns=((T + 9) * 10**9,) * 2)
    os.utime(os.path.join(src, "d"), ns=((T + 7) * 10**9,) * 2)
    os.utime(src, ns=((T + 8) * 10**9,) * 2)


def build_dst(dst, flags):
    os.makedirs(dst)
    if "stale" in flags:
        write(os.path.join(dst, "a"), b"alpha\n", (T + 1) * 10**9)  # identical
        os.makedirs(os.path.join(dst, "d"))
        # same size and mtime as the source's d/c, other content: only -c sees it
        write(os.path.join(dst, "d", "c"), b"GAMMA GAMMA\n", (T + 2) * 10**9 + 500, 0o600)
        write(os.path.join(dst, "x"), b"extra\n", T * 10**9)
        os.makedirs(os.path.join(dst, "y"))
        write(os.path.join(dst, "y", "z"), b"zz\n", T * 10**9)
        os.utime(os.path.join(dst, "y"), ns=(T * 10**9,) * 2)
        os.utime(os.path.join(dst, "d"), ns=((T + 7) * 10**9,) * 2)


def run_case(name):
    direction, opts, proto, strip, flags = CASES[name]
    work = tempfile.mkdtemp(prefix="rsync-rfc-")
    os.chmod(work, 0o755)
    rawtmp = os.path.join(work, "raw")
    os.makedirs(rawtmp)
    os.chmod(rawtmp, 0o777)
    try:
        src, dst = os.path.join(work, "src"), os.path.join(work, "dst")
        build_src(src, flags)
        build_dst(dst, flags)
        lst = os.path.join(work, "list")
        writer = None
        if "slowlist" in flags:
            os.mkfifo(lst)
            writer = subprocess.Popen(["sh", "-c", f"sleep 3; printf 'a\\0d/c\\0' > {lst}"])
        else:
            with open(lst, "wb") as f:
                f.write(b"a\0d/c\0")
        cmp = os.path.join(work, "cmp")
        if "cmp" in flags:
            os.makedirs(os.path.join(cmp, "d"))
            write(os.path.join(cmp, "d", "c"), b"GAMMA GAMMA\n", (T + 1) * 10**9, 0o600)
        opts = [o.replace("@LIST", lst).replace("@CMP", cmp) for o in opts]
        cmd = [RSYNC, "--no-inc-recursive", f"--checksum-seed={SEED}"] + opts
        if proto is not None:
            cmd.append(f"--protocol={proto}")
        rsync_path = os.path.join(CAPTURE, "rsync-tee")
        if "nobody" in flags:
            nobody = pwd.getpwnam("nobody")
            rsync_path = (f"setpriv --reuid={nobody.pw_uid} --regid={nobody.pw_gid} "
                          f"--clear-groups {rsync_path}")
        cmd += ["-e", os.path.join(CAPTURE, "fake-rsh"), f"--rsync-path={rsync_path}"]
        source = os.path.join(work, "nonexistent") if "missing" in flags else src
        if "nodest" in flags:
            dst = os.path.join(work, "nonexistent", "dst")
        if direction == "pull":
            cmd += [f"localhost:{source}/", dst + "/"]
        else:
            cmd += [source + "/", f"localhost:{dst}/"]
        env = dict(os.environ, CAPTURE_DIR=rawtmp, CAPTURE_NAME=name, CAPTURE_STRIP=strip,
                   CAPTURE_CORRUPT="", LC_ALL="C")
        done = subprocess.run(cmd, env=env, capture_output=True)
        if writer:
            writer.wait()
        os.makedirs(RAW, exist_ok=True)
        for ext in (".c2s", ".s2c"):
            shutil.copyfile(os.path.join(rawtmp, name + ext), os.path.join(RAW, name + ext))

        def clean(s):
            return (s.replace(work, "$W").replace(CAPTURE, "tests/capture")
                    .replace(RSYNC, "rsync"))
        with open(os.path.join(rawtmp, name + ".argv")) as f:
            argv = clean(f.read().strip())
        with open(os.path.join(RAW, name + ".argv"), "w") as f:
            f.write(argv + "\n")
        with open(os.path.join(RAW, name + ".cmd"), "w") as f:
            f.write(clean(" ".join(cmd)) + (f"   # CAPTURE_STRIP={strip}" if strip else "")
                    + "\n")
        with open(os.path.join(RAW, name + ".out"), "w") as f:
            f.write(f"exit {done.returncode}\n")
            for line in clean(done.stdout.decode(errors="replace")).splitlines():
                f.write(f"stdout {line}\n")
            for line in clean(done.stderr.decode(errors="replace")).splitlines():
                f.write(f"stderr {line}\n")
        print(f"{name}: exit {done.returncode}, c2s {os.path.getsize(os.path.join(RAW, name + '.c2s'))}"
              f" bytes, s2c {os.path.getsize(os.path.join(RAW, name + '.s2c'))} bytes")
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", work])
        shutil.rmtree(work)


# ---------------------------------------------------------------------------------------
# `show`: a dump with the offsets the .vec files use.


def varint(b, p):
    """rsync varint at b[p:]; returns (value, new position)."""
    ch = b[p]
    extra = 0
    while extra < 6 and ch & (0x80 >> extra):
        extra += 1
    if extra == 0:
        return ch, p + 1
    val = int.from_bytes(b[p + 1:p + 1 + extra], "little")
    val |= (ch & ((1 << (8 - extra)) - 1)) << (8 * extra)
    if val & 0x80000000:
        val -= 1 << 32
    return val, p + 1 + extra


def vstring(b, p):
    n = b[p]
    p += 1
    if n & 0x80:
        n = (n & 0x7F) << 8 | b[p]
        p += 1
    return b[p:p + n], p + n


def handshake_len(c2s, s2c, argv):
    """Lengths of the handshake prefix of each direction."""
    proto = min(int.from_bytes(c2s[:4], "little"), int.from_bytes(s2c[:4], "little"))
    cp, sp = 4, 4
    compat = 0
    if proto >= 30:
        compat, sp = varint(s2c, sp)
    if compat & 0x80 and "--checksum-choice" not in argv:
        _, cp = vstring(c2s, cp)
        _, sp = vstring(s2c, sp)
    sp += 4
    return proto, compat, cp, sp


def frames(b, start):
    out, p = [], start
    while p + 4 <= len(b):
        hdr = int.from_bytes(b[p:p + 4], "little")
        tag, n = (hdr >> 24) - 7, hdr & 0xFFFFFF
        if tag < 0:
            out.append((p, None, None))
            break
        out.append((p, tag, n))
        p += 4 + n
    return out


def hexdump(data, base=0):
    for i in range(0, len(data), 16):
        chunk = data[i:i + 16]
        text = "".join(chr(c) if 32 <= c < 127 else "." for c in chunk)
        print(f"  {base + i:6d}  {chunk.hex(' '):47s}  {text}")


def show(name):
    c2s = open(os.path.join(RAW, name + ".c2s"), "rb").read()
    s2c = open(os.path.join(RAW, name + ".s2c"), "rb").read()
    argv = open(os.path.join(RAW, name + ".argv")).read()
    print(open(os.path.join(RAW, name + ".cmd")).read().strip())
    print(argv.strip())
    proto, compat, cp, sp = handshake_len(c2s, s2c, argv)
    print(f"protocol {proto} compat {compat:#x}; handshake c2s {cp} bytes, s2c {sp} bytes")
    for label, b, h, muxed in (("c2s", c2s, cp, proto >= 30), ("s2c", s2c, sp, True)):
        print(f"== {label} handshake: {b[:h].hex(' ')}")
        if not muxed:
            print(f"== {label} raw (not multiplexed) from {h}:")
            hexdump(b[h:], h)
            continue
        data = bytearray()
        for off, tag, n in frames(b, h):
            if tag is None:
                print(f"  raw {off}: not a frame header: {b[off:off + 8].hex(' ')}")
                break
            if tag == 0:
                print(f"  frame @{off}: MSG_DATA len {n} -> data {len(data)}..{len(data) + n}")
                data += b[off + 4:off + 4 + n]
            else:
                print(f"  frame @{off}: code {tag} len {n}: {b[off + 4:off + 4 + n]!r}")
        print(f"== {label} data stream ({len(data)} bytes):")
        hexdump(bytes(data))


def demux(b, start):
    data = bytearray()
    for off, tag, n in frames(b, start):
        if tag is None:
            raise SystemExit(f"not a frame header at raw offset {off}")
        if tag == 0:
            data += b[off + 4:off + 4 + n]
    return bytes(data)


def fill(path):
    """Adds the `hex` lines of a .vec file from its `source` line, if it has none."""
    lines = open(path).read().splitlines()
    if any(line.startswith("hex ") for line in lines):
        return
    src = next(line.split()[1:] for line in lines if line.startswith("source "))
    raw = open(os.path.join(RAW, src[0]), "rb").read()
    if src[1] == "raw":
        off, n = int(src[2]), int(src[3])
        b = raw[off:off + n]
    else:
        off, n = int(src[3]), int(src[4])
        b = demux(raw, int(src[2]))[off:off + n]
    if len(b) != n:
        raise SystemExit(f"{path}: source is too short")
    hexlines = [f"hex {b[i:i + 32].hex()}" for i in range(0, len(b), 32)]
    at = next((i for i, line in enumerate(lines) if line.startswith("expect ")), len(lines))
    lines[at:at] = hexlines
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "fill":
        for path in sys.argv[2:]:
            fill(path)
        return
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "show"):
        raise SystemExit(__doc__)
    if sys.argv[1] == "run":
        for name in sys.argv[2:] or CASES:
            run_case(name)
    else:
        for name in sys.argv[2:]:
            show(name)


if __name__ == "__main__":
    main()
