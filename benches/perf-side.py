#!/usr/bin/env python3
"""Profiling helper: runs stock rsync and rsync-constant alternately on one scenario and
prints the median wall time, user+sys, wire bytes and peak RSS of every process.

usage: perf-side.py SCENARIO SRC WORK [RUNS] [OURS]
(PERF_FRESH_FS=GiB in the environment: each destination on a fresh ext4 image of that size,
loop-mounted under WORK, so that no run pays for inodes freed by an earlier one: ext4 skips
inodes freed in the last minutes when it allocates, which makes creating many files soon
after deleting many several times slower.)

SCENARIO: tree-local (`-a SRC/ DEST/`), tree-rsh (the same through a pipe remote shell),
delta-rsh (SRC is a file; WORK/basis is copied to a fresh DEST first; push over the pipe
remote shell). WORK is a scratch directory on the same file system. Each run gets a fresh
destination, deleted after it was measured (and synced) so that deleting does not overlap
the next measurement. Peak RSS is sampled from /proc every 5 ms (VmHWM, the high-water mark,
so only growth in the last few ms of a process can be missed).
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import time

RSYNC = "/usr/bin/rsync"


def descendants(root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rfind(b")") + 2 :].split()
        kids.setdefault(int(rest[1]), []).append(int(p))
    out, todo = [], [root]
    while todo:
        x = todo.pop()
        out.append(x)
        todo.extend(kids.get(x, []))
    return out


def hwm(pid: int) -> tuple[str, int] | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            txt = f.read()
    except OSError:
        return None
    name = re.search(r"^Name:\s*(\S+)", txt, re.M)
    m = re.search(r"^VmHWM:\s*(\d+)", txt, re.M)
    if not m or not name:
        return None
    return name.group(1), int(m.group(1))


def run(cmd: list[str]) -> dict:
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peaks: dict[int, tuple[str, int]] = {}
    while p.poll() is None:
        for pid in descendants(p.pid):
            h = hwm(pid)
            if h and h[0] not in ("sh", "rsh"):
                old = peaks.get(pid, ("", 0))
                peaks[pid] = (h[0], max(old[1], h[1]))
        time.sleep(0.005)
    wall = time.monotonic() - t0
    out, err = p.communicate()
    text = out.decode(errors="replace")
    if p.returncode != 0:
        print(" ".join(cmd), "exit", p.returncode, err.decode(errors="replace")[-2000:])
    sent = re.search(r"Total bytes sent: ([\d,]+)", text)
    recv = re.search(r"Total bytes received: ([\d,]+)", text)
    wire = sum(int(m.group(1).replace(",", "")) for m in (sent, recv) if m)
    return {"wall": wall, "wire": wire, "rss": sorted(v[1] for v in peaks.values())}


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    scen, src, work = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    ours = sys.argv[5] if len(sys.argv) > 5 else "/work/target-perf/release/rsync-constant"
    rsh = os.path.join(work, "rsh")
    with open(rsh, "w") as f:
        f.write('#!/bin/sh\nshift\nexec sh -c "$*"\n')
    os.chmod(rsh, 0o755)
    # Warm the page cache with the source first, so that the first run (rsync's) does not
    # pay for reading it from disk.
    subprocess.run(["sh", "-c", f"find {src} -type f -print0 | xargs -0 cat > /dev/null"])
    results: dict[str, list[dict]] = {"rsync": [], "ours": []}
    for i in range(runs):
        for tool in ("rsync", "ours"):
            exe = RSYNC if tool == "rsync" else ours
            dest = os.path.join(work, f"dest-{tool}-{i}")
            fresh = os.environ.get("PERF_FRESH_FS")
            if fresh:
                img = os.path.join(work, "fresh.img")
                mnt = os.path.join(work, "fresh-mnt")
                subprocess.run(["truncate", "-s", f"{fresh}G", img], check=True)
                subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True)
                os.makedirs(mnt, exist_ok=True)
                subprocess.run(["mount", "-o", "loop", img, mnt], check=True)
                dest = os.path.join(mnt, "dest")
                subprocess.run(["sync"])
            if scen == "delta-rsh":
                os.makedirs(dest)
                shutil.copyfile(os.path.join(work, "basis"), os.path.join(dest, "f"))
                shutil.copystat(os.path.join(work, "basis"), os.path.join(dest, "f"))
                subprocess.run(["sync"])
                args = [exe, "-a", "--stats", "-e", f"sh {rsh}", f"--rsync-path={exe}",
                        src, f"localhost:{dest}/f"]
            elif scen == "tree-rsh":
                args = [exe, "-a", "--stats", "-e", f"sh {rsh}", f"--rsync-path={exe}",
                        src.rstrip("/") + "/", f"localhost:{dest}/"]
            else:
                args = [exe, "-a", "--stats", src.rstrip("/") + "/", dest + "/"]
            before = os.times()
            r = run(args)
            after = os.times()
            r["cpu"] = (after.children_user - before.children_user) + (
                after.children_system - before.children_system)
            results[tool].append(r)
            print(f"{tool:5} run {i}: wall {r['wall']:.2f}s cpu {r['cpu']:.2f}s "
                  f"wire {r['wire']} rss(KiB) {r['rss']}", flush=True)
            if fresh:
                subprocess.run(["umount", mnt], check=True)
                os.remove(img)
            else:
                shutil.rmtree(dest)
                subprocess.run(["sync"])
            time.sleep(1)
    med = {t: {k: statistics.median(x[k] for x in v) for k in ("wall", "cpu", "wire")}
           for t, v in results.items()}
    for t in med:
        rss = [statistics.median(x["rss"][j] for x in results[t] if len(x["rss"]) > j)
               for j in range(max(len(x["rss"]) for x in results[t]))]
        med[t]["rss"] = rss
        print(f"{t:5} median wall {med[t]['wall']:.2f}s cpu {med[t]['cpu']:.2f}s "
              f"wire {med[t]['wire']:.0f} rss(KiB) {rss} sum {sum(rss)}")
    r, o = med["rsync"], med["ours"]
    print(f"ratio wall {o['wall'] / r['wall']:.2f} cpu {o['cpu'] / max(r['cpu'], 1e-9):.2f} "
          f"wire {o['wire'] / max(r['wire'], 1):.3f} "
          f"rss-sum {sum(o['rss']) / max(sum(r['rss']), 1):.2f} "
          f"rss-max {max(o['rss'], default=0) / max(max(r['rss'], default=1), 1):.2f}")


if __name__ == "__main__":
    main()
