#!/usr/bin/env python3
"""Side-by-side: stock `rdiff` (librsync) against our `rsync-delta` on the same file pair,
in the same run, alternating which goes first, then prints the ratios.

The pair is 512 MiB of pseudo-random bytes and a copy with 1% scattered 4 KiB edits and
1,000 bytes inserted at offset 10,000 (`mkpair`). Each run gets a fresh directory that is
deleted after measuring. Also runs the in-process throughput tool (`pair`) on the same files.

Usage: benches/rdiff-compare.py [--mib 512] [--rounds 3] [--dir DIR] [--keep]
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(argv, **kw):
    """Runs argv under GNU time (whose child is forked from `time`, not from this Python
    process, so its peak RSS is the program's own); returns (wall seconds, max RSS in MiB).
    Fails loudly on a non-zero exit."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *argv], **kw)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            sys.exit(f"FAILED ({p.returncode}): {' '.join(argv)}")
        return wall, int(rss.read().split()[-1]) / 1024.0


def same(a, b):
    return subprocess.run(["cmp", "-s", a, b]).returncode == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=os.environ.get("BENCH_DIR", os.path.join(ROOT, "target", "bench")))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-inprocess", action="store_true")
    a = ap.parse_args()

    rdiff = shutil.which("rdiff")
    if not rdiff:
        sys.exit("rdiff is not installed (apt-get install -y rdiff)")
    if not os.path.exists("/usr/bin/time"):
        sys.exit("GNU time is not installed (apt-get install -y time)")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "rsync-constant", "-p", "rsync-benches", "--bins"],
                   cwd=ROOT, check=True)
    rel = os.path.join(ROOT, "target", "release")
    ours = os.path.join(rel, "rsync-delta")
    os.makedirs(a.dir, exist_ok=True)
    d = tempfile.mkdtemp(prefix="rdiff-compare-", dir=a.dir)
    try:
        old, new = os.path.join(d, "old"), os.path.join(d, "new")
        subprocess.run([os.path.join(rel, "mkpair"), old, new, str(a.mib)], check=True)
        print(f"machine: {os.cpu_count()} cores; {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}")
        print(f"rdiff: {subprocess.run([rdiff, '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
        print(f"pair: {a.mib} MiB, 1% scattered 4 KiB edits + 1,000 bytes inserted at 10,000; {a.rounds} rounds, alternating\n")
        for label, opts in [("md4 + rollsum", ["-H", "md4", "-R", "rollsum"]),
                            ("blake2 + rabinkarp (rdiff's default)", ["-H", "blake2", "-R", "rabinkarp"])]:
            res = {k: {"rdiff": [], "ours": [], "rss_r": [], "rss_o": []} for k in ("signature", "delta", "patch")}
            for r in range(a.rounds):
                order = [("rdiff", rdiff), ("ours", ours)]
                if r % 2:
                    order.reverse()
                for who, exe in order:
                    sig, dl, out = (os.path.join(d, f"{n}.{who}") for n in ("sig", "delta", "out"))
                    for p in (sig, dl, out):
                        if os.path.exists(p):
                            os.unlink(p)
                    steps = [("signature", [exe, *opts, "signature", old, sig]),
                             ("delta", [exe, "delta", sig, new, dl]),
                             ("patch", [exe, "patch", old, dl, out])]
                    for step, argv in steps:
                        t, rss = run(argv)
                        res[step][who].append(t)
                        res[step]["rss_r" if who == "rdiff" else "rss_o"].append(rss)
                    if not same(out, new):
                        sys.exit(f"{who}: patched output differs from NEW")
                if not same(os.path.join(d, "sig.rdiff"), os.path.join(d, "sig.ours")):
                    sys.exit("signatures differ between rdiff and rsync-delta")
                # Cross-check: each tool patches the other's delta.
                run([rdiff, "patch", old, os.path.join(d, "delta.ours"), os.path.join(d, "x.r")])
                run([ours, "patch", old, os.path.join(d, "delta.rdiff"), os.path.join(d, "x.o")])
                if not (same(os.path.join(d, "x.r"), new) and same(os.path.join(d, "x.o"), new)):
                    sys.exit("cross-patching failed")
                os.unlink(os.path.join(d, "x.r"))
                os.unlink(os.path.join(d, "x.o"))
            print(f"== {label}: signatures byte-identical, cross-patching OK")
            print(f"{'step':<10} {'rdiff s':>9} {'ours s':>9} {'speed-up':>9} {'rdiff RSS':>10} {'ours RSS':>9}")
            for step, v in res.items():
                mr, mo = statistics.median(v["rdiff"]), statistics.median(v["ours"])
                print(f"{step:<10} {mr:>9.3f} {mo:>9.3f} {mr / mo:>8.2f}x {max(v['rss_r']):>7.1f}MiB {max(v['rss_o']):>6.1f}MiB")
            sizes = {w: os.path.getsize(os.path.join(d, f"delta.{w}")) for w in ("rdiff", "ours")}
            print(f"delta bytes: rdiff {sizes['rdiff']:,}, ours {sizes['ours']:,}\n")
        if not a.no_inprocess:
            print("== in-process (rsync format, data in memory)")
            subprocess.run([os.path.join(rel, "pair"), old, new], check=True)
    finally:
        if a.keep:
            print(f"kept {d}")
        else:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
