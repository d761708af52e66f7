#!/usr/bin/env python3
"""Compare block_size.txt with stock rsync's own sum-head computation.

For every first-pass row (csum_length 2, length > 0) it makes a sparse basis file of that
length, runs a local `rsync -I --no-whole-file --debug=deltasum2 --protocol=P` into it, reads
the generator's `count=… rem=… blength=… s2length=…` line (printed before any block is
read), kills rsync, and compares. Digest length 16 uses the protocol's default checksum
(MD4 below 30, MD5 from 30) and 8 uses --checksum-choice=xxh64. Rows that agree get a
trailing `# rsync` mark; a disagreement is printed and the script exits 1. Lengths the file
system cannot hold are left unmarked. Redo-pass rows (csum_length 16) cannot be forced from
the command line; the captured `*-redo` vectors cover them.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.normpath(os.path.join(HERE, "..", "data", "vectors", "block_size.txt"))
RSYNC = os.environ.get("CAPTURE_RSYNC", "/usr/bin/rsync")
LINE = re.compile(r"count=([\d,]+) rem=(\d+) blength=(\d+) s2length=(\d+) flength=")


def rsync_head(work, length, protocol, digest):
    src, dst = os.path.join(work, "src"), os.path.join(work, "dst")
    with open(src, "wb") as f:
        f.write(b"x")
    with open(dst, "wb") as f:
        f.truncate(length)
    cmd = [RSYNC, "--outbuf=L", "-I", "--no-whole-file", "--debug=deltasum2",
           f"--protocol={protocol}"]
    if digest == 8:
        cmd.append("--checksum-choice=xxh64")
    p = subprocess.Popen(cmd + [src, dst], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    found = None
    for raw in p.stdout:
        m = LINE.search(raw.decode(errors="replace"))
        if m:
            found = tuple(int(g.replace(",", "")) for g in m.groups())
            break
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    p.wait()
    return found


def main():
    lines = open(PATH).read().splitlines()
    out, bad = [], 0
    with tempfile.TemporaryDirectory(prefix="rsync-bs-") as work:
        for line in lines:
            body = line.split("#")[0].strip()
            if not body:
                out.append(line)
                continue
            left, right = body.split("->")
            length, protocol, digest, csum = map(int, left.split())
            count, blen, s2, rem = map(int, right.split())
            if csum != 2 or length == 0:
                out.append(body)
                continue
            try:
                got = rsync_head(work, length, protocol, digest)
            except OSError as e:
                print(f"skip {length}: {e}")
                out.append(body)
                continue
            if got is None:
                print(f"no debug line for {body}")
                out.append(body)
                continue
            if got != (count, rem, blen, s2):
                print(f"MISMATCH {body}: rsync says count {got[0]} rem {got[1]} "
                      f"blength {got[2]} s2length {got[3]}")
                bad += 1
                out.append(body)
            else:
                out.append(body + "  # rsync")
    with open(PATH, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"{sum(1 for x in out if x.endswith('# rsync'))} rows confirmed, {bad} mismatches")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
