#!/usr/bin/env python3
"""Session vectors from stock rsync: whole transfers of small trees (itemize, --delete, -H,
-n, -c, permission-only changes, symlinks, devices) in both directions.

Usage:  tests/capture/session_capture.py [NAME...]      (must run as root: mknod, chown)

For every case in CASES (or only the NAMEs given) this

  1. builds the source tree and the destination tree of the case in a scratch directory,
     with fixed modes, owners, mtimes (ns) and hard links;
  2. runs stock rsync (pull or push) through fake-rsh and rsync-tee, which record the
     server's stdin (.c2s) and stdout (.s2c);
  3. writes tests/data/vectors/captured/session/NAME.txt: the case, the trees (`src`/`dst`
     lines, as built), the handshake outcome, the client's stdout (itemize lines) and exit
     code, and the destination tree after the run (`after` lines, read back with lstat);
     and NAME.c2s / NAME.s2c / NAME.argv next to it.

Nothing here uses rsync-constant's code: the expected values are rsync's own bytes.

Tree lines (`src`, `dst`, `after`), fields separated by one space:

    TYPE PATH-HEX MODE-OCTAL MTIME NSEC UID GID INO EXTRA

TYPE is f (regular; EXTRA = content spec of filespec.py; in `after` lines `=src` / `=dst`
for the content the source / destination spec had at that path, else `hex:BYTES`), d (directory; EXTRA -), l (symlink; EXTRA = target hex), c / b (device; EXTRA =
MAJOR,MINOR), p (FIFO; EXTRA -). INO is a small number shared by hard-linked names (- when
the name has one link). Directory mtimes in `after` lines are omitted (0): rsync sets them,
but the kernel changes them while the run writes.
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

OUT = os.path.normpath(os.path.join(HERE, "..", "data", "vectors", "captured", "session"))
RSYNC = os.environ.get("CAPTURE_RSYNC", "/usr/bin/rsync")
T = 1_700_000_000

# (type, path, mode, mtime, nsec, uid, gid, extra); hard links: ("h", path, target-path).
SRC = [
    ("d", ".", 0o755, T, 0, 0, 0, None),
    ("f", "a.txt", 0o644, T + 1, 500, 0, 0, "hex:68656c6c6f0a"),
    ("f", "empty", 0o644, T + 2, 0, 0, 0, "hex:"),
    ("f", "mode600", 0o600, T + 3, 0, 0, 0, "hex:7365637265740a"),
    ("f", "exec", 0o755, T + 4, 0, 1, 1, "hex:23210a"),
    ("f", "sametime", 0o644, T + 5, 0, 0, 0, "prng:2000:5"),
    ("f", "touched", 0o644, T + 6, 0, 0, 0, "prng:1500:6"),
    ("d", "sub", 0o755, T + 7, 0, 0, 0, None),
    ("f", "sub/b.bin", 0o644, T + 8, 0, 0, 0, "prng:3000:2,splice:1000:4:01020304"),
    ("d", "sub/deep", 0o700, T + 9, 0, 0, 0, None),
    ("f", "sub/deep/f", 0o640, T + 10, 0, 0, 0, "hex:64656570"),
    ("l", "link", 0o777, T + 11, 0, 0, 0, "a.txt"),
    ("l", "dangling", 0o777, T + 12, 0, 0, 0, "no/such/target"),
    ("l", "relink", 0o777, T + 13, 0, 0, 0, "sub/b.bin"),
    ("f", "hl1", 0o644, T + 14, 0, 0, 0, "hex:6c696e6b65640a"),
    ("h", "sub/hl2", "hl1"),
    ("h", "hl3", "hl1"),
    ("f", "was-dir", 0o644, T + 15, 0, 0, 0, "hex:6e6f772061206669"),
    ("d", "was-file", 0o755, T + 16, 0, 0, 0, None),
    ("f", "was-file/inner", 0o644, T + 17, 0, 0, 0, "hex:696e6e6572"),
    ("p", "fifo", 0o644, T + 18, 0, 0, 0, None),
    ("c", "null", 0o666, T + 19, 0, 0, 0, "1,3"),
]

# A destination that differs from SRC in every way the generator distinguishes.
DST_CHANGED = [
    ("d", ".", 0o755, T, 0, 0, 0, None),
    ("f", "a.txt", 0o644, T + 1, 500, 0, 0, "hex:68656c6c6f0a"),          # up to date
    ("f", "empty", 0o644, T + 2, 0, 0, 0, "hex:"),                        # up to date
    ("f", "mode600", 0o644, T + 3, 0, 0, 0, "hex:7365637265740a"),        # perms only
    ("f", "exec", 0o755, T + 4, 0, 0, 0, "hex:23210a"),                   # owner+group only
    ("f", "sametime", 0o644, T + 5, 0, 0, 0, "prng:2000:99"),             # same size+time
    ("f", "touched", 0o644, T + 600, 0, 0, 0, "prng:1500:6"),             # time only
    ("d", "sub", 0o700, T + 7, 0, 0, 0, None),                           # dir perms
    ("f", "sub/b.bin", 0o644, T + 1, 0, 0, 0, "prng:3000:2"),             # delta
    ("f", "sub/gone.txt", 0o644, T, 0, 0, 0, "hex:676f6e65"),             # extraneous
    ("l", "link", 0o777, T + 11, 0, 0, 0, "a.txt"),                       # up to date
    ("l", "relink", 0o777, T + 13, 0, 0, 0, "old/target"),                # new target
    ("f", "dangling", 0o644, T, 0, 0, 0, "hex:66"),                       # file -> symlink
    ("f", "hl1", 0o644, T + 14, 0, 0, 0, "hex:6c696e6b65640a"),           # leader up to date
    ("f", "hl3", 0o644, T + 14, 0, 0, 0, "hex:6c696e6b65640a"),           # not linked yet
    ("d", "was-dir", 0o755, T, 0, 0, 0, None),                           # dir -> file
    ("f", "was-dir/x", 0o644, T, 0, 0, 0, "hex:78"),
    ("f", "was-file", 0o644, T, 0, 0, 0, "hex:66696c65"),                 # file -> dir
    ("f", "old.txt", 0o644, T, 0, 0, 0, "hex:6f6c64"),                    # extraneous
    ("d", "olddir", 0o755, T, 0, 0, 0, None),                            # extraneous dir
    ("f", "olddir/x", 0o644, T, 0, 0, 0, "hex:78"),
    ("d", "olddir/sub", 0o755, T, 0, 0, 0, None),
    ("f", "olddir/sub/y", 0o644, T, 0, 0, 0, "hex:79"),
    ("l", "olddir/sub/ln", 0o777, T, 0, 0, 0, "y"),
    ("p", "fifo", 0o600, T + 18, 0, 0, 0, None),                         # perms only
    ("c", "null", 0o666, T + 19, 0, 0, 0, "1,5"),                        # other rdev
]

# name, direction, --protocol (None: 32), options, dst tree (None: no dst dir), strip
CASES = []
for proto in (31, 30, 29, 27):
    for direction in ("pull", "push"):
        p = f"p{proto}"
        CASES += [
            (f"{p}-new-aHi-{direction}", direction, proto, ["-aH", "-i", "--delete"], [], ""),
            (f"{p}-upd-aHi-{direction}", direction, proto, ["-aH", "-i", "--delete"],
             DST_CHANGED, ""),
            (f"{p}-dry-{direction}", direction, proto, ["-aH", "-n", "-i", "--delete"],
             DST_CHANGED, ""),
        ]
    CASES += [
        (f"p{proto}-c-pull", "pull", proto, ["-a", "-c", "-i"], DST_CHANGED, ""),
        (f"p{proto}-c-push", "push", proto, ["-a", "-c", "-i"], DST_CHANGED, ""),
    ]
CASES += [
    ("p31-ii-pull", "pull", 31, ["-a", "-ii"], DST_CHANGED, ""),
    ("p31-ii-push", "push", 31, ["-a", "-ii"], DST_CHANGED, ""),
    ("p31-rlp-pull", "pull", 31, ["-rlp", "-i"], DST_CHANGED, ""),
    ("p31-rlp-push", "push", 31, ["-rlp", "-i"], DST_CHANGED, ""),
    ("p31-delafter-pull", "pull", 31, ["-a", "-i", "--delete-after"], DST_CHANGED, ""),
    ("p31-delafter-push", "push", 31, ["-a", "-i", "--delete-after"], DST_CHANGED, ""),
    ("p31-delbefore-pull", "pull", 31, ["-a", "-i", "--delete-before"], DST_CHANGED, ""),
    ("p31-delbefore-push", "push", 31, ["-a", "-i", "--delete-before"], DST_CHANGED, ""),
    ("p31-v-del-push", "push", 31, ["-a", "-v", "--delete"], DST_CHANGED, ""),
    ("p27-v-del-push", "push", 27, ["-a", "-v", "--delete"], DST_CHANGED, ""),
    ("p32-upd-aHi-pull", "pull", None, ["-aH", "-i", "--delete"], DST_CHANGED, ""),
    ("p32-upd-aHi-push", "push", None, ["-aH", "-i", "--delete"], DST_CHANGED, ""),
    ("p31-vv-pull", "pull", 31, ["-aH", "-vv"], DST_CHANGED, ""),
    ("p31-vv-push", "push", 31, ["-aH", "-vv"], DST_CHANGED, ""),
    ("p29-vv-push", "push", 29, ["-aH", "-vv"], DST_CHANGED, ""),
    ("p27-vv-push", "push", 27, ["-aH", "-vv"], DST_CHANGED, ""),
    ("p30-iin-push", "push", 30, ["-aH", "-ii", "-n", "--delete-after"], DST_CHANGED, ""),
    ("p31-W-push", "push", 31, ["-a", "-W", "-i"], DST_CHANGED, ""),
    ("p31-inplace-push", "push", 31, ["-a", "--inplace", "-i"], DST_CHANGED, ""),
]


def build(root, spec):
    """Creates `spec` under `root`; returns the tree lines as built."""
    ino = {}
    for item in spec:
        if item[0] == "h":
            continue
        kind, path, mode, *_ = item
        p = os.path.join(root, path)
        if kind == "d":
            os.makedirs(p, exist_ok=True)
        elif kind == "f":
            with open(p, "wb") as f:
                f.write(filespec.build(item[7]))
        elif kind == "l":
            os.symlink(item[7], p)
        elif kind == "p":
            os.mkfifo(p)
        elif kind in "cb":
            major, minor = (int(x) for x in item[7].split(","))
            os.mknod(p, (0o20000 if kind == "c" else 0o60000) | mode, os.makedev(major, minor))
    for item in spec:
        if item[0] == "h":
            os.link(os.path.join(root, item[2]), os.path.join(root, item[1]))
    # Owners, modes and times, deepest first so that directory mtimes stick.
    by_path = {i[1]: i for i in spec if i[0] != "h"}
    for item in spec:
        if item[0] == "h":
            by_path[item[1]] = by_path[item[2]]
    for path in sorted(by_path, key=lambda s: -s.count("/") - (s != ".")):
        kind, _, mode, mtime, nsec, uid, gid, _ = by_path[path]
        p = os.path.join(root, path)
        os.chown(p, uid, gid, follow_symlinks=False)
        if kind != "l":
            os.chmod(p, mode)
        ns = mtime * 10**9 + nsec
        os.utime(p, ns=(ns, ns), follow_symlinks=False)
    for item in spec:
        if item[0] == "h":
            ino.setdefault(item[2], len(ino) + 1)
            ino[item[1]] = ino[item[2]]
    return listing(root, ino_names=ino, spec=by_path)


def content_ref(data, path, refs):
    """`=src` / `=dst` when `data` is what the source / destination spec had at `path`,
    else the bytes in hex."""
    for tag, spec in refs:
        item = spec.get(path)
        if item is not None and item[0] == "f" and filespec.build(item[7]) == data:
            return tag
    return "hex:" + data.hex()


def spec_by_path(spec):
    by = {i[1]: i for i in spec if i[0] != "h"}
    for i in spec:
        if i[0] == "h":
            by[i[1]] = by[i[2]]
    return by


def listing(root, ino_names=None, spec=None, refs=()):
    """Tree lines read back with lstat (`after`), or with the spec's content (`src`/`dst`)."""
    broot = os.fsencode(root)
    out = []
    inodes = {}
    for dirpath, dirnames, filenames in os.walk(broot):
        for n in dirnames + filenames + ([b"."] if dirpath == broot else []):
            p = os.path.normpath(os.path.join(dirpath, n))
            rel = os.path.relpath(p, broot)
            st = os.lstat(p)
            m = st.st_mode
            if os.path.islink(p):
                kind, extra = "l", os.readlink(p).hex()
            elif os.path.isdir(p):
                kind, extra = "d", "-"
            elif (m & 0o170000) == 0o010000:
                kind, extra = "p", "-"
            elif (m & 0o170000) in (0o020000, 0o060000):
                kind = "c" if (m & 0o170000) == 0o020000 else "b"
                extra = f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}"
            else:
                kind = "f"
                if spec is not None:
                    extra = spec[rel.decode()][7]
                else:
                    extra = content_ref(open(p, "rb").read(), rel.decode(), refs)
            if st.st_nlink > 1 and kind != "d":
                if ino_names is not None:
                    ino = str(ino_names[rel.decode()])
                else:
                    ino = str(inodes.setdefault(st.st_ino, len(inodes) + 1))
            else:
                ino = "-"
            mtime, nsec = divmod(st.st_mtime_ns, 10**9)
            if kind == "d" and spec is None:
                mtime, nsec = 0, 0
            out.append(f"{kind} {rel.hex()} {m & 0o7777:o} {mtime} {nsec} {st.st_uid} "
                       f"{st.st_gid} {ino} {extra}")
    return sorted(out, key=lambda l: bytes.fromhex(l.split()[1]))


def run_case(name, direction, proto, opts, dst, strip):
    work = tempfile.mkdtemp(prefix="rsync-session-")
    try:
        src_root = os.path.join(work, "src")
        dst_root = os.path.join(work, "dst")
        os.makedirs(src_root)
        src_lines = build(src_root, SRC)
        dst_lines = []
        if dst is not None:
            os.makedirs(dst_root)
            dst_lines = build(dst_root, dst) if dst else listing(dst_root)
        cmd = [RSYNC, *opts, "--checksum-seed=4242", "--no-inc-recursive"]
        if proto is not None:
            cmd.append(f"--protocol={proto}")
        cmd += ["-e", os.path.join(HERE, "fake-rsh"),
                f"--rsync-path={os.path.join(HERE, 'rsync-tee')}"]
        if direction == "pull":
            cmd += [f"localhost:{src_root}/", dst_root + "/"]
        else:
            cmd += [src_root + "/", f"localhost:{dst_root}/"]
        env = dict(os.environ, CAPTURE_DIR=OUT, CAPTURE_NAME=name, CAPTURE_STRIP=strip,
                   CAPTURE_CORRUPT="")
        for ext in (".c2s", ".s2c", ".argv"):
            if os.path.exists(os.path.join(OUT, name + ext)):
                os.remove(os.path.join(OUT, name + ext))
        res = subprocess.run(cmd, env=env, capture_output=True)
        refs = [("=src", spec_by_path(SRC))] + ([("=dst", spec_by_path(dst))] if dst else [])
        after = listing(dst_root, refs=refs) if os.path.isdir(dst_root) else []
        c2s = open(os.path.join(OUT, name + ".c2s"), "rb").read()
        s2c = open(os.path.join(OUT, name + ".s2c"), "rb").read()
        argv = open(os.path.join(OUT, name + ".argv")).read().strip().replace(work, "$W")
        with open(os.path.join(OUT, name + ".argv"), "w") as f:
            f.write(argv + "\n")
        info, _, _ = rsyncwire.read_handshake(c2s, s2c, None)
        shown = " ".join(c.replace(work, "$W").replace(HERE, "tests/capture")
                         .replace(RSYNC, "rsync") for c in cmd)
        lines = [
            "# Session vector captured from stock rsync 3.5.0 by "
            "tests/capture/session_capture.py; do not edit.",
            "# Tree lines: TYPE PATH-HEX MODE MTIME NSEC UID GID INO EXTRA (see the script).",
            f"name {name}",
            f"direction {direction}",
            f"command {shown}" + (f"   # CAPTURE_STRIP={strip}" if strip else ""),
            f"server_argv {argv}",
            f"options {' '.join(opts)}",
            f"protocol {info['protocol']}",
            f"compat {info['compat']:#x}",
            f"checksum {info['checksum']}",
            f"seed {info['seed']}",
            f"exit {res.returncode}",
            f"dst_exists {int(dst is not None)}",
        ]
        lines += [f"stdout {l.hex()}" for l in res.stdout.split(b"\n") if l]
        lines += [f"stderr {l.hex()}" for l in res.stderr.split(b"\n") if l]
        lines += ["src " + l for l in src_lines]
        lines += ["dst " + l for l in dst_lines]
        lines += ["after " + l for l in after]
        with open(os.path.join(OUT, name + ".txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{name}: protocol {info['protocol']} exit {res.returncode}, "
              f"{len(c2s)}+{len(s2c)} bytes, {len(res.stdout.splitlines())} stdout lines")
    finally:
        shutil.rmtree(work)


def main():
    names = sys.argv[1:]
    os.makedirs(OUT, exist_ok=True)
    for case in CASES:
        if names and case[0] not in names:
            continue
        run_case(*case)


if __name__ == "__main__":
    main()
