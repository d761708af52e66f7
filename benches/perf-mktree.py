#!/usr/bin/env python3
"""Writes a deterministic file tree for the side-by-side measurements.

usage: perf-mktree.py DIR [FILES]   (default 100000 files)

About one directory per 30 files, depth at most 6, file sizes mostly under 16 KiB (a few
up to 256 KiB), mtimes spread over a year with nanoseconds, modes 0644/0600/0755. The
same FILES always gives the same tree (names, sizes, contents, times).
"""

import os
import random
import sys


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    root = sys.argv[1]
    files = int(sys.argv[2]) if len(sys.argv) == 3 else 100_000
    rng = random.Random(0x5EED)
    ndirs = max(1, files // 30)
    dirs = [""]
    for i in range(ndirs):
        # A parent among the existing dirs whose depth is below 6.
        while True:
            parent = dirs[rng.randrange(len(dirs))]
            if parent.count("/") < 5:
                break
        dirs.append(f"{parent}/d{i:05d}" if parent else f"d{i:05d}")
    os.makedirs(root, exist_ok=True)
    for d in dirs[1:]:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    blob = rng.randbytes(1 << 20)
    base_time = 1_700_000_000
    for i in range(files):
        d = dirs[rng.randrange(len(dirs))]
        r = rng.random()
        if r < 0.05:
            size = 0
        elif r < 0.98:
            size = rng.randrange(1, 16 << 10)
        else:
            size = rng.randrange(16 << 10, 256 << 10)
        name = f"f{i:06d}.{rng.choice(['txt', 'c', 'bin', 'dat'])}"
        path = os.path.join(root, d, name)
        off = rng.randrange(0, len(blob) - size) if size else 0
        with open(path, "wb") as f:
            f.write(blob[off : off + size])
        os.chmod(path, rng.choice([0o644, 0o644, 0o644, 0o600, 0o755]))
        t = base_time + rng.randrange(0, 365 * 86400)
        ns = t * 1_000_000_000 + rng.randrange(0, 1_000_000_000)
        os.utime(path, ns=(ns, ns))


if __name__ == "__main__":
    main()
