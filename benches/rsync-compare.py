#!/usr/bin/env python3
"""Side-by-side: stock `rsync -a` against `rsync-constant -a` (issue B's acceptance), in the
same run, alternating which goes first; prints the ratios and PASS/FAIL per target.

Scenarios (every run writes into a fresh destination directory):
  tree-local  `-a SRC/ DEST/` local to local, on a generated tree of 100,000 files
  tree-rsh    the same tree pushed through a pipe remote shell (`-a -e RSH SRC/ bench:DEST/`)
  delta       a 512 MiB file pushed through the pipe remote shell onto its basis, the new
              version having 1% scattered 4 KiB edits and 1,000 bytes inserted (`mkpair`)

Targets (ours / rsync): tree copy wall time <= 0.8; delta wall time <= 0.6 with wire bytes
<= 1.05; peak RSS <= 2 (client and server separately).

Measured: wall time of the client process (median of --rounds runs per tool); peak RSS of the
client and of the server through GNU time (the server wrapped by `--rsync-path`; the fake remote
shell detaches the server from the client's process tree so that the client's figure is its
own); wire bytes in a separate untimed run per tool, counted by a relaying remote shell. Every
destination is checked against the source (names, types, sizes, link targets; modes, mtimes and
owners are reported; contents on the first round and in the counting runs).

Usage: benches/rsync-compare.py --ours PATH/rsync-constant [--stock /usr/bin/rsync] [--rounds 5]
           [--dir DIR] [--scenarios tree-local,tree-rsh,delta] [--wait-idle 90] [--json FILE]
Check the script itself with `--ours /usr/bin/rsync`: the ratios come out near 1.00.
See benches/README.md.
"""
import argparse, ctypes, json, math, os, platform, random, shlex, shutil, statistics, subprocess
import sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TREE_FORMAT = 1  # bump when the tree generator changes, so that cached trees are regenerated
SCENARIOS = ("tree-local", "tree-rsh", "delta")
WALL_TARGET = {"tree-local": 0.8, "tree-rsh": 0.8, "delta": 0.6}
RSS_TARGET = 2.0
WIRE_TARGET = 1.05  # "within 5% of rsync's": fewer bytes than rsync is not a failure
PR_SET_CHILD_SUBREAPER = 36
# ext4 without a journal skips inodes freed less than 60 s ago (360 s while their inode-table
# block is dirty) when it allocates, so mass creation right after mass deletion is slow.
SETTLE_S = 400
NOISY = 1.25  # a median this many times the fastest run is flagged

# The pipe remote shell of the timed runs: `rsh [-l USER] HOST CMD...` drops the options and the
# host and runs CMD with `sh -c`, as ssh does on the far side. The server is started from a
# background job of a command substitution that exits at once, so the server is re-parented to
# the benchmark (a child subreaper) instead of being waited for inside the client's process tree:
# GNU time around the client then reports the client's own peak RSS, not max(client, server). The
# server's exit status comes back through the substitution's pipe.
RSH = r"""#!/bin/sh
while [ $# -gt 0 ]; do case $1 in -l) shift 2;; -*) shift;; *) break;; esac; done
shift
cmd=$*
exec 4>&1 5<&0
st=$( { sh -c "$cmd" <&5 >&4 4>&- 5<&- ; echo $?; } & )
exit "${st:-255}"
"""

# The counting remote shell (untimed runs only): relays both directions between the client and
# `sh -c CMD`, then appends "client-to-server server-to-client" byte counts to $RSYNC_COMPARE_WIRE.
RELAY = r"""#!/usr/bin/env python3
import os, subprocess, sys, threading
args = sys.argv[1:]
while args and args[0].startswith("-"):
    args = args[2:] if args[0] == "-l" else args[1:]
p = subprocess.Popen(["sh", "-c", " ".join(args[1:])], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, bufsize=0)
counts = [0, 0]
def pump(src, dst, i, done):
    try:
        while True:
            b = os.read(src, 1 << 18)
            if not b:
                break
            counts[i] += len(b)
            mv = memoryview(b)
            while mv:
                mv = mv[os.write(dst, mv):]
    except OSError:
        pass
    done()
up = threading.Thread(target=pump, args=(0, p.stdin.fileno(), 0, p.stdin.close), daemon=True)
down = threading.Thread(target=pump, args=(p.stdout.fileno(), 1, 1, lambda: None), daemon=True)
up.start(); down.start(); down.join()
rc = p.wait()
with open(os.environ["RSYNC_COMPARE_WIRE"], "a") as f:
    f.write(f"{counts[0]} {counts[1]}\n")
os._exit(rc)
"""


def die(msg):
    sys.exit(f"rsync-compare: {msg}")


def sh(argv, **kw):
    return subprocess.run(argv, check=True, **kw)


# ------------------------------------------------------------------------------ data

def log_uniform(rng, lo, hi):
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def file_size(rng):
    """Skewed small: 2% empty, 58% up to 4 KiB, 31.5% 4-16 KiB, 7.9% 16-128 KiB (log-uniform),
    0.55% 128 KiB-1 MiB, 0.05% 1-4 MiB: mean about 12 KiB, median about 3.4 KiB."""
    u = rng.random()
    if u < 0.02:
        return 0
    if u < 0.60:
        return rng.randint(1, 4 << 10)
    if u < 0.915:
        return rng.randint((4 << 10) + 1, 16 << 10)
    if u < 0.994:
        return log_uniform(rng, 16 << 10, 128 << 10)
    if u < 0.9995:
        return log_uniform(rng, 128 << 10, 1 << 20)
    return log_uniform(rng, 1 << 20, 4 << 20)


WORDS = ("src", "lib", "include", "docs", "test", "tests", "assets", "build", "util", "core",
         "net", "img", "data", "config", "scripts", "vendor", "pkg", "internal", "cmd", "api",
         "locale", "static", "templates", "models", "views", "fixtures", "old", "tmp", "misc")
EXTS = (".c", ".h", ".rs", ".py", ".txt", ".md", ".json", ".html", ".js", ".png", ".o", ".so",
        ".tar", "", ".log", ".yml", ".css", ".svg")


def make_tree(top, files, dirs, links, seed):
    """Writes a deterministic tree under `top` (which must not exist): `dirs` directories of
    depth up to 6, `files` regular files spread unevenly over them (0644, a tenth 0755), `links`
    relative symlinks to files, pseudo-random contents, fixed ns mtimes. Returns a summary."""
    rng = random.Random(seed)
    pool = rng.randbytes(8 << 20)
    os.makedirs(top)
    tree = [("", 0)]  # (relative path, depth)
    children = {}
    for _ in range(dirs):
        while True:
            parent, depth = tree[rng.randrange(len(tree))]
            if depth < 6:
                break
        k = children.get(parent, 0)
        children[parent] = k + 1
        rel = os.path.join(parent, f"{rng.choice(WORDS)}{k}")
        tree.append((rel, depth + 1))
        os.mkdir(os.path.join(top, rel))
    weights = [rng.lognormvariate(0, 1.2) for _ in tree]
    homes = rng.choices(range(len(tree)), weights, k=files)
    total = small = largest = 0
    base = 1_600_000_000 * 10**9
    span = 3 * 365 * 86400 * 10**9
    made = []
    old_umask = os.umask(0o022)
    try:
        for i, d in enumerate(homes):
            size = file_size(rng)
            rel = os.path.join(tree[d][0], f"f{i:06d}{rng.choice(EXTS)}")
            path = os.path.join(top, rel)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755 if rng.random() < 0.1 else 0o644)
            off = rng.randrange(len(pool) - size + 1)
            with os.fdopen(fd, "wb") as f:
                f.write(pool[off:off + size])
            t = base + rng.randrange(span)
            os.utime(path, ns=(t, t))
            total += size
            small += size <= 16 << 10
            largest = max(largest, size)
            made.append(rel)
        for i in range(links):
            d = tree[rng.randrange(len(tree))][0]
            path = os.path.join(top, d, f"link{i:04d}")
            os.symlink(os.path.relpath(rng.choice(made), d or "."), path)
            t = base + rng.randrange(span)
            os.utime(path, ns=(t, t), follow_symlinks=False)
        for rel, _ in sorted(tree, key=lambda x: -x[1]):  # deepest first: children touch parents
            t = base + rng.randrange(span)
            os.utime(os.path.join(top, rel), ns=(t, t))
    finally:
        os.umask(old_umask)
    return {"files": files, "dirs": len(tree), "links": links, "entries": len(tree) + files + links,
            "bytes": total, "small": small, "largest": largest}


def ensure_tree(data, a):
    key = f"tree-v{TREE_FORMAT}-{a.files}f-{a.dirs}d-{a.links}l-s{a.seed}"
    top, stamp = os.path.join(data, key), os.path.join(data, key + ".json")
    if os.path.exists(stamp):
        with open(stamp) as f:
            return top, json.load(f)
    shutil.rmtree(top, ignore_errors=True)
    t0 = time.perf_counter()
    print(f"generating {key} ...", flush=True)
    info = make_tree(top, a.files, a.dirs, a.links, a.seed)
    with open(stamp, "w") as f:
        json.dump(info, f)
    print(f"  {info['entries']:,} entries, {info['bytes'] / 2**30:.2f} GiB in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    return top, info


def ensure_pair(data, a):
    """The pair from `mkpair` (built with cargo unless --mkpair is given): pair-N/old (the basis)
    and pair-N/src/big.bin (the new version), with fixed, different mtimes."""
    top = os.path.join(data, f"pair-{a.mib}")
    stamp = top + ".done"
    old, src = os.path.join(top, "old"), os.path.join(top, "src")
    new = os.path.join(src, "big.bin")
    if not os.path.exists(stamp):
        mkpair = a.mkpair
        if not mkpair:
            target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
            sh(["cargo", "build", "--release", "-q", "-p", "rsync-benches", "--bin", "mkpair"], cwd=ROOT)
            mkpair = os.path.join(target, "release", "mkpair")
        shutil.rmtree(top, ignore_errors=True)
        os.makedirs(src)
        print(f"generating the {a.mib} MiB pair ...", flush=True)
        sh([mkpair, old, new, str(a.mib)])
        t_old, t_new = 1_650_000_000 * 10**9, 1_700_000_000 * 10**9 + 987_654_321
        os.utime(old, ns=(t_old, t_old))
        os.utime(new, ns=(t_new, t_new))
        os.utime(src, ns=(t_new, t_new))
        with open(stamp, "w") as f:
            f.write("ok\n")
    return old, src


# ------------------------------------------------------------------------------ checking

def snapshot(top):
    """{relative path: (kind, mode, size, mtime_ns, uid, gid, link target)} of a whole tree,
    the top directory included as "."."""
    out = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        here = os.path.join(top, rel) if rel else top
        st = os.lstat(here)
        out[rel or "."] = ("d", st.st_mode, 0, st.st_mtime_ns, st.st_uid, st.st_gid, None)
        with os.scandir(here) as it:
            for e in it:
                r = os.path.join(rel, e.name) if rel else e.name
                if e.is_dir(follow_symlinks=False):
                    stack.append(r)
                    continue
                st = e.stat(follow_symlinks=False)
                link = os.readlink(e.path) if e.is_symlink() else None
                kind = "f" if link is None else "l"
                out[r] = (kind, st.st_mode, st.st_size if kind == "f" else 0, st.st_mtime_ns,
                          st.st_uid, st.st_gid, link)
    return out


def same_bytes(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def check(label, src, src_snap, dest, contents):
    """Fails on a missing, extra or different-kind entry, a size or link-target difference and
    (with `contents`) a content difference; prints mode, mtime and owner differences as a
    warning. Returns the number of entries whose metadata differ."""
    got = snapshot(dest)
    missing = sorted(set(src_snap) - set(got))
    extra = sorted(set(got) - set(src_snap))
    if missing or extra:
        die(f"{label}: the destination differs from the source: missing {missing[:5]} "
            f"({len(missing)}), extra {extra[:5]} ({len(extra)})")
    meta = []
    for rel, s in src_snap.items():
        g = got[rel]
        if (s[0], s[2], s[6]) != (g[0], g[2], g[6]):
            die(f"{label}: {rel!r}: kind, size or link target differ: source {s}, destination {g}")
        if s[1] != g[1] or s[3] != g[3] or s[4:6] != g[4:6]:
            meta.append(rel)
        if contents and s[0] == "f" and s[2] and not same_bytes(os.path.join(src, rel), os.path.join(dest, rel)):
            die(f"{label}: {rel!r}: contents differ")
    if meta:
        r = meta[0]
        print(f"  WARNING {label}: {len(meta)} entries differ in mode, mtime or owner, e.g. {r!r}: "
              f"source {src_snap[r][:6]}, destination {got[r][:6]}", flush=True)
    return len(meta)


# ------------------------------------------------------------------------------ machine

def cpu_idle(interval=1.0):
    """Fraction of all CPUs left idle (idle + iowait) during `interval` seconds."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v[:8])
    i0, t0 = sample()
    time.sleep(interval)
    i1, t1 = sample()
    return (i1 - i0) / max(1, t1 - t0)


def wait_idle(pct, limit):
    """Waits until the CPUs were at least `pct`% idle over a second (if pct > 0), at most `limit`
    seconds; returns the idle percentage of the last second."""
    end = time.monotonic() + limit
    idle = 100 * cpu_idle()
    noted = False
    while pct and idle < pct and time.monotonic() < end:
        if not noted:
            print(f"  (waiting for the CPUs to be {pct}% idle: {idle:.0f}% now)", flush=True)
            noted = True
        idle = 100 * cpu_idle()
    return idle


def machine(path):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = next((int(l.split()[1]) for l in f if l.startswith("MemTotal")), 0)
    fs = subprocess.run(["findmnt", "-no", "FSTYPE,OPTIONS,SOURCE", "-T", path], capture_output=True,
                        text=True).stdout.split()
    dist = ""
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            kv = dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l)
        dist = kv.get("PRETTY_NAME", "").strip('"') + ", "
    fstype = fs[0] if fs else "?"
    notes = [o for o in (fs[1].split(",") if len(fs) > 1 else []) if o in ("discard", "data=journal")]
    if fstype == "ext4" and len(fs) > 2:
        try:  # without a journal, ext4 frees blocks with a synchronous discard and avoids reusing
            # inodes deleted in the last minutes (a long scan when many were just deleted)
            with open(f"/sys/fs/ext4/{os.path.basename(fs[2])}/journal_task") as f:
                if f.read().strip() == "<none>":
                    notes.insert(0, "no journal")
        except OSError:
            pass
    return fstype, (f"{os.cpu_count()} cores of {cpu}, {mem / 2**20:.0f} GiB RAM, {dist}Linux "
                    f"{platform.release()}, {fstype}{' (' + ', '.join(notes) + ')' if notes else ''} "
                    f"file system")


def version(exe):
    p = subprocess.run([exe, "--version"], capture_output=True, text=True, errors="replace")
    lines = (p.stdout or p.stderr).splitlines() if p.returncode == 0 else []
    return " ".join(lines[0].split()) if lines else "no --version"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ------------------------------------------------------------------------------ running

def reap_orphans(limit=120):
    """Waits for the servers that the fake remote shell detached (re-parented to us)."""
    end = time.monotonic() + limit
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > end:
                print("  WARNING: a detached server is still running", flush=True)
                return
            time.sleep(0.01)


TIME_FMT = "%M %U %S"


def read_time(path):
    """(peak RSS in KiB, user + system CPU seconds) from a `GNU time -f TIME_FMT -o` file (its
    last line; a failed command adds a line before it), or (None, None)."""
    try:
        with open(path) as f:
            rss, user, system = f.read().splitlines()[-1].split()
        return int(rss), float(user) + float(system)
    except (OSError, ValueError, IndexError):
        return None, None


def remove(paths, jobs=8):
    """rm -rf with `jobs` processes over the entries two levels down: with online discard,
    each freed file waits for the device, and concurrent removals overlap those waits."""
    paths = [p for p in paths if os.path.exists(p)]
    parts = []
    for p in paths:
        for d1 in os.scandir(p):
            if d1.is_dir(follow_symlinks=False):
                parts += [e.path for e in os.scandir(d1.path)]
    procs = []
    for k in range(jobs):
        chunk = parts[k::jobs]
        if chunk:
            with tempfile.TemporaryFile() as names:
                names.write(b"\0".join(os.fsencode(c) for c in chunk))
                names.seek(0)
                procs.append(subprocess.Popen(["xargs", "-0", "rm", "-rf", "--"], stdin=names))
    for p in procs:
        p.wait()
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)


class Runner:
    def __init__(self, a, work, tools, tree, pair, old):
        self.a, self.work, self.tools = a, work, tools
        self.tree, self.pair, self.old = tree, pair, old
        self.tree_snap = snapshot(tree) if tree else None
        self.pair_snap = snapshot(pair) if pair else None
        self.runs = os.path.join(work, "runs")
        self.logs = os.path.join(work, "logs")
        os.makedirs(self.runs)
        os.makedirs(self.logs)
        self.rsh = os.path.join(work, "rsh")
        self.relay = os.path.join(work, "rsh-count")
        for path, text in ((self.rsh, RSH), (self.relay, RELAY)):
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o755)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RSYNC_")}
        self.env["LC_ALL"] = "C"
        self.seq = 0
        self.sync_s = 0.0
        self.meta_diffs = {}

    def sync(self):
        t0 = time.perf_counter()
        os.sync()
        self.sync_s += time.perf_counter() - t0

    def argv(self, exe, scenario, src, dest, rsh, server_rss):
        if scenario == "tree-local":
            return [exe, "-a", src + "/", dest + "/"]
        server = f"/usr/bin/time -f {shlex.quote(TIME_FMT)} -o {shlex.quote(server_rss)} {shlex.quote(exe)}"
        return [exe, "-a", "-e", rsh, "--rsync-path", server, src + "/", f"bench:{dest}/"]

    def one(self, who, exe, scenario, counted=False, contents=False):
        """One transfer into a fresh destination, checked afterwards. Returns the wall time, the
        client's and server's peak RSS (KiB), the CPU idle percentage just before, and with
        `counted` the wire bytes (through the relaying remote shell, not timed)."""
        self.seq += 1
        name = f"{self.seq:03d}-{scenario}-{who}{'-count' if counted else ''}"
        dest = os.path.join(self.runs, name)
        os.makedirs(dest)
        if scenario == "delta":
            basis = os.path.join(dest, "big.bin")
            shutil.copyfile(self.old, basis)
            st = os.stat(self.old)
            os.utime(basis, ns=(st.st_atime_ns, st.st_mtime_ns))
            src, snap = self.pair, self.pair_snap
        else:
            src, snap = self.tree, self.tree_snap
        self.sync()  # the setup's and the previous run's writeback must not overlap the measurement
        idle = None if counted else wait_idle(self.a.wait_idle, self.a.wait_limit)
        tag = os.path.join(self.logs, name)
        crss, srss, wire = tag + ".client-rss", tag + ".server-rss", tag + ".wire"
        argv = self.argv(exe, scenario, src, dest, self.relay if counted else self.rsh, srss)
        with open(tag + ".log", "wb") as log:
            t0 = time.perf_counter()
            p = subprocess.run(["/usr/bin/time", "-f", TIME_FMT, "-o", crss, *argv], stdin=subprocess.DEVNULL,
                               stdout=log, stderr=subprocess.STDOUT, env=dict(self.env, RSYNC_COMPARE_WIRE=wire))
            wall = time.perf_counter() - t0
        reap_orphans()
        if p.returncode != 0:
            with open(tag + ".log", errors="replace") as f:
                sys.stderr.write(f.read()[-4000:])
            die(f"{who} failed with exit code {p.returncode}: {shlex.join(argv)}")
        (c_rss, c_cpu), (s_rss, s_cpu) = read_time(crss), read_time(srss)
        if scenario == "tree-local":
            s_rss, s_cpu = None, 0.0
        r = {"wall": wall, "idle": idle, "client_rss": c_rss, "server_rss": s_rss,
             "cpu": None if c_cpu is None or s_cpu is None else c_cpu + s_cpu}
        if counted:
            with open(wire) as f:
                up, down = map(int, f.read().split())
            r.update(wire=up + down, wire_up=up, wire_down=down)
        n = check(f"{scenario} {who} {name}", src, snap, dest, contents or scenario == "delta")
        self.meta_diffs[who] = self.meta_diffs.get(who, 0) + n
        if self.a.delete == "each":
            remove([dest])
        self.sync()
        return r


# ------------------------------------------------------------------------------ report

def fmt_s(x):
    return f"{x:.2f} s" if x >= 1 else f"{x * 1000:.0f} ms"


def fmt_rss(kib):
    return "?" if not kib else f"{kib / 1024:.1f} MiB"


TITLES = {"tree-local": "tree copy, local to local",
          "tree-rsh": "tree copy, push over a pipe remote shell",
          "delta": "delta, {mib} MiB 1% edited, push over a pipe remote shell"}


def report(a, scenarios, res, wire):
    """The markdown table; returns (lines, verdicts, summary). Ratios are ours / rsync of the
    medians (wall, CPU) or of the largest figure over the rounds (RSS)."""
    table = ["| scenario | measure | rsync | ours | ours / rsync | target | |",
             "|---|---|---|---|---|---|---|"]
    verdicts, summary = [], {}
    tools = ("rsync", "ours")
    for s in scenarios:
        def per_tool(key, pick):
            return [pick([(r[key] or 0) for r in res[s][w]]) for w in tools]
        wall, fastest = per_tool("wall", statistics.median), per_tool("wall", min)
        cpu = per_tool("cpu", statistics.median)
        rows = [(f"wall time, median of {a.rounds} (fastest)", wall,
                 [f"{fmt_s(m)} ({fmt_s(f)})" for m, f in zip(wall, fastest)], WALL_TARGET[s]),
                ("CPU time, user + system, all processes (median)", cpu, [fmt_s(v) for v in cpu], None)]
        if wire.get(s):
            w = [wire[s][t]["wire"] for t in tools]
            rows.append(("wire bytes, both directions", w, [f"{v:,}" for v in w],
                         WIRE_TARGET if s == "delta" else None))
        crss = per_tool("client_rss", max)
        if s == "tree-local":
            rows.append(("peak RSS (largest process)", crss, [fmt_rss(v) for v in crss], RSS_TARGET))
        else:
            srss = per_tool("server_rss", max)
            rows.append(("client peak RSS", crss, [fmt_rss(v) for v in crss], RSS_TARGET))
            rows.append(("server peak RSS", srss, [fmt_rss(v) for v in srss], RSS_TARGET))
        for i, (what, (x, y), (xs, ys), target) in enumerate(rows):
            ratio = y / x if x else float("nan")
            verdict = "" if target is None else ("PASS" if ratio <= target else "FAIL")
            if verdict:
                verdicts.append(verdict)
            tgt = "" if target is None else f"≤ {target:.2f}"
            title = TITLES[s].format(mib=a.mib) if i == 0 else ""
            table.append(f"| {title} | {what} | {xs} | {ys} | {ratio:.2f} | {tgt} | {verdict} |")
            summary.setdefault(s, {})[what] = {"rsync": x, "ours": y, "ratio": ratio, "target": target,
                                               "verdict": verdict}
    return table, verdicts, summary


# ------------------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", required=True, help="the rsync-constant binary (/usr/bin/rsync checks the script)")
    ap.add_argument("--stock", default=shutil.which("rsync") or "/usr/bin/rsync", help="stock rsync")
    ap.add_argument("--rounds", type=int, default=5, help="timed runs per tool and scenario (default 5)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset")
    ap.add_argument("--dir", default=os.environ.get("BENCH_DIR", os.path.join(ROOT, "target", "bench")),
                    help="work directory (default target/bench or $BENCH_DIR); data is cached in DIR/data")
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--dirs", type=int, default=3_000)
    ap.add_argument("--links", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0x5EED)
    ap.add_argument("--mib", type=int, default=512, help="size of the delta pair (default 512)")
    ap.add_argument("--mkpair", help="a built mkpair (default: cargo build -p rsync-benches)")
    ap.add_argument("--delete", choices=("auto", "end", "each"), default="auto",
                    help="when to delete destinations: at the end (default, except on tmpfs) or after "
                         "each run's check (tmpfs: no ext4 inode-reuse or discard penalties)")
    ap.add_argument("--keep", action="store_true", help="keep the destinations (implies --delete end)")
    ap.add_argument("--wait-idle", type=int, default=0, metavar="PCT",
                    help="before each timed run, wait until the CPUs were PCT%% idle for a second")
    ap.add_argument("--wait-limit", type=int, default=600, help="longest wait for --wait-idle, seconds")
    ap.add_argument("--json", help="also write the raw results to this file")
    a = ap.parse_args()
    started = time.perf_counter()

    scenarios = [s for s in a.scenarios.split(",") if s]
    if not scenarios or any(s not in SCENARIOS for s in scenarios):
        die(f"--scenarios takes a comma-separated subset of {','.join(SCENARIOS)}")
    if a.rounds < 1:
        die("--rounds must be at least 1")
    if not os.path.exists("/usr/bin/time"):
        die("GNU time is not installed (apt-get install -y time)")
    tools = []
    for who, exe in (("rsync", a.stock), ("ours", a.ours)):
        path = shutil.which(exe)
        if not path:
            die(f"{exe}: not an executable")
        tools.append((who, os.path.abspath(path)))
    a.dir = os.path.abspath(a.dir)
    if any(c in a.dir for c in " \t\n'\"\\$`"):
        die("--dir must not contain blanks, quotes or shell characters (it goes through rsync's -e and remote args)")
    os.makedirs(a.dir, exist_ok=True)
    fstype, host = machine(a.dir)
    if a.keep:
        a.delete = "end"
    elif a.delete == "auto":
        a.delete = "each" if fstype == "tmpfs" else "end"
    elif a.delete == "each" and fstype == "ext4":
        print("WARNING: --delete each on ext4: the runs after a deletion may be slowed down by it")
    # The servers detached by the fake remote shell are re-parented to us and reaped here.
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        die("prctl(PR_SET_CHILD_SUBREAPER) failed")

    data = os.path.join(a.dir, "data")
    os.makedirs(data, exist_ok=True)
    cleaned = os.path.join(a.dir, "last-cleanup")
    if os.path.exists(cleaned):
        wait = SETTLE_S - (time.time() - os.stat(cleaned).st_mtime)
        if wait > 0:
            print(f"waiting {wait:.0f} s: the last run deleted its destinations less than {SETTLE_S} s ago "
                  f"(ext4 reuses freed inodes slowly)", flush=True)
            time.sleep(wait)
    tree = pair = old = info = None
    if any(s.startswith("tree") for s in scenarios):
        tree, info = ensure_tree(data, a)
    if "delta" in scenarios:
        old, pair = ensure_pair(data, a)
    os.sync()

    copies = {s: 2 * a.rounds + (2 if s != "tree-local" else 0) for s in scenarios}
    if a.delete == "end":
        n_tree = sum(c for s, c in copies.items() if s != "delta")
        need = (info["bytes"] + 4096 * info["entries"]) * n_tree if tree else 0
        need += (a.mib << 20) * copies.get("delta", 0)
        inodes = info["entries"] * n_tree if tree else 0
    else:
        need = max(info["bytes"] + 4096 * info["entries"] if tree else 0, (a.mib << 20) * 2)
        inodes = info["entries"] if tree else 0
    st = os.statvfs(a.dir)
    if st.f_bavail * st.f_frsize < need * 1.1 or (st.f_files and st.f_favail < inodes * 1.1):
        die(f"not enough room in {a.dir}: need about {need / 2**30:.1f} GiB and {inodes:,} inodes "
            f"for the destinations (--delete {a.delete}); use fewer --rounds or --files")

    work = tempfile.mkdtemp(prefix="rsync-compare-", dir=a.dir)
    runner = Runner(a, work, tools, tree, pair, old)
    vers = {who: version(exe) for who, exe in tools}
    load0 = loadavg()
    print(f"machine: {host}; load average {load0}")
    for who, exe in tools:
        print(f"{who}: {exe} ({vers[who]})")
    if tools[0][1] == tools[1][1]:
        print("(the same binary in both slots: this checks the script; the ratios should be near 1.00)")
    if tree:
        print(f"tree: {info['files']:,} files, {info['dirs']:,} directories, {info['links']:,} symlinks, "
              f"{info['bytes'] / 2**30:.2f} GiB")
    if pair:
        print(f"delta: {a.mib} MiB, 1% scattered 4 KiB edits + 1,000 bytes inserted at offset 10,000")
    print(f"{a.rounds} rounds, alternating which tool goes first; destinations deleted "
          f"{'after each run' if a.delete == 'each' else 'at the end'}; work directory {work}\n", flush=True)

    # Untimed runs first: they count the wire bytes, check contents, and warm the caches.
    res = {s: {"rsync": [], "ours": []} for s in scenarios}
    wire = {s: {} for s in scenarios}
    for s in scenarios:
        if s == "tree-local":
            continue
        for who, exe in tools:
            r = runner.one(who, exe, s, counted=True, contents=True)
            wire[s][who] = r
            print(f"  {s:<10} {who:<5} wire bytes {r['wire']:>15,} "
                  f"(client to server {r['wire_up']:,}, server to client {r['wire_down']:,})", flush=True)
    for rnd in range(a.rounds):
        for s in scenarios:
            for who, exe in (tools if rnd % 2 == 0 else tools[::-1]):
                r = runner.one(who, exe, s, contents=(rnd == 0 and s == "tree-local"))
                res[s][who].append(r)
                print(f"  round {rnd + 1} {s:<10} {who:<5} {r['wall']:8.3f} s  client {fmt_rss(r['client_rss'])}"
                      + (f"  server {fmt_rss(r['server_rss'])}" if r["server_rss"] else "")
                      + f"  CPU {r['cpu'] or 0:.2f} s"
                      + f"  (CPU idle before: {r['idle']:.0f}%)", flush=True)

    table, verdicts, summary = report(a, scenarios, res, wire)
    idles = [r["idle"] for s in scenarios for w in res[s] for r in res[s][w]]
    print("\n## Results\n")
    print(f"Machine: {host}. rsync: {vers['rsync']}. ours: `{tools[1][1]}` ({vers['ours']}).")
    if tree:
        print(f"Tree: {info['files']:,} files in {info['dirs']:,} directories (depth ≤ 6) and "
              f"{info['links']:,} symlinks, {info['bytes'] / 2**30:.2f} GiB, sizes skewed small "
              f"({100 * info['small'] / info['files']:.0f}% ≤ 16 KiB, largest {info['largest'] / 2**20:.1f} MiB).")
    print(f"A fresh destination directory per run; {a.rounds} rounds alternating which tool goes first; wire "
          f"bytes counted at the remote shell in a separate run; peak RSS from GNU time, largest of the rounds; "
          f"load average {load0} at the start, CPUs {min(idles):.0f}-{max(idles):.0f}% idle before the runs.\n")
    print("\n".join(table))
    print("\nsamples (wall seconds):")
    for s in scenarios:
        for who in ("rsync", "ours"):
            print(f"  {s:<10} {who:<5} " + " ".join(f"{r['wall']:.3f}" for r in res[s][who]))
    noisy = [f"{s} {w}" for s in scenarios for w in ("rsync", "ours")
             if statistics.median(r["wall"] for r in res[s][w]) > NOISY * min(r["wall"] for r in res[s][w])]
    if noisy:
        print(f"WARNING: noisy measurements (median over {NOISY}x the fastest run): {', '.join(noisy)}; "
              f"other load or file-system work on the machine? Rerun with more --rounds or --wait-idle.")
    for who, n in runner.meta_diffs.items():
        if n:
            print(f"WARNING: {who}: {n} entries had a different mode, mtime or owner (see above)")
    print(f"\nload average at the end: {loadavg()}; time in sync between runs: {runner.sync_s:.0f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": host, "versions": vers, "tools": dict(tools), "rounds": a.rounds,
                       "tree": info, "runs": res, "wire": wire, "summary": summary}, f, indent=1)
    if a.keep:
        print(f"kept {work}")
    else:
        t0 = time.perf_counter()
        remove([work])
        os.sync()
        if fstype != "tmpfs":
            with open(os.path.join(a.dir, "last-cleanup"), "w") as f:
                f.write(f"{time.time()}\n")
        print(f"deleted the destinations in {time.perf_counter() - t0:.0f} s")
    print(f"total time {time.perf_counter() - started:.0f} s; "
          f"{verdicts.count('PASS')} PASS, {verdicts.count('FAIL')} FAIL")
    return 1 if "FAIL" in verdicts else 0


if __name__ == "__main__":
    sys.exit(main())
