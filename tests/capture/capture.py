#!/usr/bin/env python3
"""Capture stock rsync traffic and turn it into test vectors.

Usage:  tests/capture/capture.py [--redecode] [NAME...]

For every case in CASES (or only the NAMEs given) this

  1. writes the basis (the receiver's old file) and the new file (the sender's) from their
     specs (filespec.py) into a scratch directory;
  2. runs stock rsync through a fake remote shell (`fake-rsh`) and a recording
     `--rsync-path` wrapper (`rsync-tee`), which stores the server's stdin (.c2s) and
     stdout (.s2c) under tests/data/vectors/captured/raw/;
  3. checks the transfer produced the new file;
  4. decodes both streams (rsyncwire.py) and writes tests/data/vectors/captured/NAME.txt
     with the seed, the sum head and block sums the generator sent, the sender's tokens and
     the whole-file checksum.

With --redecode, step 1-3 are skipped and the stored raw captures are decoded again.
Nothing here uses rsync-constant's code: the expected values are rsync's own bytes.
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import filespec  # noqa: E402
import rsyncwire  # noqa: E402

OUT = os.path.normpath(os.path.join(HERE, "..", "data", "vectors", "captured"))
RAW = os.path.join(OUT, "raw")
RSYNC = os.environ.get("CAPTURE_RSYNC", "/usr/bin/rsync")

SMALL_BASIS = "prng:5000:1"
# 10 bytes replaced inside block 1, 37 bytes inserted inside block 4, tail unchanged so
# that the short last block (remainder) matches at the end of the file.
SMALL_NEW = (SMALL_BASIS + ",splice:1000:10:" + b"0123456789".hex()
             + ",splice:3000:0:" + bytes(range(0x80, 0x80 + 37)).hex())
BIG_BASIS = "prng:2000000:7"
BIG_NEW = BIG_BASIS + ",splice:1000000:100:" + ("ff" * 100)

INSERTED = bytes(range(0x80, 0x80 + 37)).hex()

# name, direction, --protocol (None = not forced), --checksum-choice (None = default),
# --checksum-seed, letters stripped from the client's -e capability string, bytes to
# corrupt in transit (push only: forces a redo pass with full-length strong sums), basis, new
CASES = [
    ("p27-md4-pull", "pull", 27, None, 12345, "", "", SMALL_BASIS, SMALL_NEW),
    ("p27-md4-push-redo", "push", 27, None, 54321, "", INSERTED, SMALL_BASIS, SMALL_NEW),
    ("p29-md4-pull", "pull", 29, None, -12345, "", "", SMALL_BASIS, SMALL_NEW),
    ("p29-md4-push-redo", "push", 29, None, 0x12345678, "", INSERTED, SMALL_BASIS, SMALL_NEW),
    ("p30-md5-pull", "pull", 30, "md5", 424242, "", "", SMALL_BASIS, SMALL_NEW),
    ("p31-md5-push-redo-negseed", "push", 31, "md5", -1, "", INSERTED, SMALL_BASIS,
     SMALL_NEW),
    ("p30-md5-noseedfix-auto-pull", "pull", 30, None, 777, "Cv", "", SMALL_BASIS, SMALL_NEW),
    ("p30-md5-noseedfix-auto-push-redo", "push", 30, None, -777, "Cv", INSERTED, SMALL_BASIS,
     SMALL_NEW),
    ("p30-md5-noseedfix-chosen-push-redo", "push", 30, "md5", -777, "C", INSERTED,
     SMALL_BASIS, SMALL_NEW),
    ("p31-md4-chosen-push-redo", "push", 31, "md4", -4, "", INSERTED, SMALL_BASIS, SMALL_NEW),
    ("p31-xxh64-pull", "pull", 31, "xxh64", -424242, "", "", SMALL_BASIS, SMALL_NEW),
    ("p31-xxh64-push-redo", "push", 31, "xxh64", -5, "", INSERTED, SMALL_BASIS, SMALL_NEW),
    ("p31-xxh3-pull", "pull", 31, "xxh3", 99, "", "", SMALL_BASIS, SMALL_NEW),
    ("p31-xxh3-push-redo", "push", 31, "xxh3", -6, "", INSERTED, SMALL_BASIS, SMALL_NEW),
    ("p31-xxh128-pull", "pull", 31, "xxh128", -99, "", "", SMALL_BASIS, SMALL_NEW),
    ("p30-xxh128-push-redo", "push", 30, "xxh128", -2024, "", INSERTED, SMALL_BASIS,
     SMALL_NEW),
    ("p32-negotiated-push-redo", "push", None, None, 7, "", INSERTED, SMALL_BASIS, SMALL_NEW),
    ("p31-xxh128-2000000", "pull", 31, "xxh128", 1, "", "", BIG_BASIS, BIG_NEW),
]

COVERS = "[weak-sum] [block-length] [s2length] [strong-sum] [seed-placement] [file-sum] " \
         "[sum-head] [block-sums] [matching] [token]"


def command(direction, proto, choice, seed, work):
    cmd = [RSYNC, "-I", "--no-whole-file", f"--checksum-seed={seed}"]
    if proto is not None:
        cmd.append(f"--protocol={proto}")
    if choice is not None:
        cmd.append(f"--checksum-choice={choice}")
    cmd += ["-e", os.path.join(HERE, "fake-rsh"), f"--rsync-path={os.path.join(HERE, 'rsync-tee')}"]
    src, dst = os.path.join(work, "src", "file"), os.path.join(work, "dst", "file")
    cmd += [f"localhost:{src}", dst] if direction == "pull" else [src, f"localhost:{dst}"]
    return cmd


def run_case(name, direction, proto, choice, seed, strip, corrupt, basis_spec, new_spec):
    basis, new = filespec.build(basis_spec), filespec.build(new_spec)
    work = tempfile.mkdtemp(prefix="rsync-capture-")
    try:
        os.makedirs(os.path.join(work, "src"))
        os.makedirs(os.path.join(work, "dst"))
        with open(os.path.join(work, "src", "file"), "wb") as f:
            f.write(new)
        with open(os.path.join(work, "dst", "file"), "wb") as f:
            f.write(basis)
        env = dict(os.environ, CAPTURE_DIR=RAW, CAPTURE_NAME=name, CAPTURE_STRIP=strip,
                   CAPTURE_CORRUPT=corrupt)
        for ext in (".c2s", ".s2c", ".argv"):
            if os.path.exists(os.path.join(RAW, name + ext)):
                os.remove(os.path.join(RAW, name + ext))
        cmd = command(direction, proto, choice, seed, work)
        subprocess.run(cmd, env=env, check=True)
        with open(os.path.join(work, "dst", "file"), "rb") as f:
            if f.read() != new:
                raise SystemExit(f"{name}: transfer did not reproduce the new file")
        with open(os.path.join(RAW, name + ".argv")) as f:
            argv = f.read().strip().replace(work, "$W")
        with open(os.path.join(RAW, name + ".argv"), "w") as f:
            f.write(argv + "\n")
        shown = " ".join(c.replace(work, "$W").replace(HERE, "tests/capture")
                         .replace(RSYNC, "rsync") for c in cmd)
        with open(os.path.join(RAW, name + ".cmd"), "w") as f:
            f.write(shown + (f"   # CAPTURE_STRIP={strip}" if strip else "") + "\n")
    finally:
        shutil.rmtree(work)


def apply_tokens(basis, head, tokens):
    out = bytearray()
    for kind, v in tokens:
        if kind == "L":
            out += v
        else:
            n = head["remainder"] if v == head["count"] - 1 and head["remainder"] else head["blength"]
            out += basis[v * head["blength"]:v * head["blength"] + n]
    return bytes(out)


def decode_case(name, direction, proto, choice, seed, strip, corrupt, basis_spec, new_spec):
    basis, new = filespec.build(basis_spec), filespec.build(new_spec)
    with open(os.path.join(RAW, name + ".c2s"), "rb") as f:
        c2s = f.read()
    with open(os.path.join(RAW, name + ".s2c"), "rb") as f:
        s2c = f.read()
    with open(os.path.join(RAW, name + ".cmd")) as f:
        cmd = f.read().strip()
    with open(os.path.join(RAW, name + ".argv")) as f:
        argv = f.read().strip()
    info, flist, requests, files = rsyncwire.decode(c2s, s2c, direction == "pull", choice)
    if info["seed"] != seed:
        raise SystemExit(f"{name}: seed {info['seed']} != {seed}")
    if [e["name"] for e in flist] != ["file"] or flist[0]["size"] != len(new):
        raise SystemExit(f"{name}: unexpected file list {flist}")
    xfer = [r for r in requests if "head" in r]
    sent = [f for f in files if "head" in f]
    if len(xfer) != len(sent) or len(xfer) not in (1, 2) or \
            [r["phase"] for r in xfer] != list(range(len(xfer))):
        raise SystemExit(f"{name}: expected one transfer (+ one redo), got {requests} / {files}")
    if corrupt and len(xfer) != 2:
        raise SystemExit(f"{name}: the corrupted literal did not cause a redo")
    lines = [
        f"# covers: {COVERS}",
        "# Captured from stock rsync 3.5.0 traffic by tests/capture/capture.py; do not edit.",
        "# Expected values are rsync's bytes; see RFC.md Appendix B for the format.",
        f"name {name}",
        f"command {cmd}",
        f"server_argv {argv}",
        f"direction {direction}",
        f"protocol {info['protocol']}",
        f"checksum {info['checksum']}",
        "checksum_source " + ("choice" if choice else
                              "negotiated" if "server_list" in info else "default"),
        f"seed {info['seed']}",
        f"seed_fix {info['seed_fix']}",
        f"compat {info['compat']:#x}",
    ]
    if "server_list" in info:
        lines.append("negotiation_server " + " ".join(info["server_list"]))
        lines.append("negotiation_client " + " ".join(info["client_list"]))
    lines += [
        f"basis {basis_spec}",
        f"new {new_spec}",
        f"raw raw/{name}.c2s raw/{name}.s2c",
    ]
    if corrupt:
        lines.append(f"corrupted_in_transit {corrupt}")
    for req, snd in zip(xfer, sent):
        if req["head"] != snd["head"]:
            raise SystemExit(f"{name}: sender echoed {snd['head']}, generator sent {req['head']}")
        head = req["head"]
        rebuilt = apply_tokens(basis, head, snd["tokens"]) == new
        if not rebuilt and not (corrupt and req["phase"] == 0):
            raise SystemExit(f"{name}: tokens do not rebuild the new file")
        lines.append(f"pass {req['phase']}")
        lines.append(f"sum_head {head['count']} {head['blength']} {head['s2length']} "
                     f"{head['remainder']}")
        for i, (weak, strong) in enumerate(req["blocks"]):
            lines.append(f"block {i} {weak:08x} {strong.hex()}")
        toks = []
        for kind, v in snd["tokens"]:
            toks.append(f"L{len(v)}" if kind == "L" else f"C{v}")
        lines.append("tokens " + " ".join(toks))
        lines.append(f"file_sum {snd['file_sum'].hex()}")
        print(f"{name}: pass {req['phase']} protocol {info['protocol']} {info['checksum']} "
              f"seed {info['seed']} seed_fix {info['seed_fix']} head {head} "
              f"tokens {len(toks)} msgs {len(info['messages'])}")
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    args = sys.argv[1:]
    redecode = "--redecode" in args
    names = [a for a in args if not a.startswith("--")]
    os.makedirs(RAW, exist_ok=True)
    for case in CASES:
        if names and case[0] not in names:
            continue
        if not redecode:
            run_case(*case)
        decode_case(*case)


if __name__ == "__main__":
    main()
