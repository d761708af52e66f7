#!/usr/bin/env python3
"""File-list vectors from stock rsync: pulls of a fixed tree at several protocols.

For each case this builds the same tree (directories, regular files with fixed mtimes and
nanoseconds, a symlink, a FIFO, two devices, a hard-link pair, an 8-bit name, a path longer
than 255 bytes after the shared prefix, a sparse file over 4 GiB, several owners), runs
`rsync -n` (dry run: the file list is all that matters) as a pull through fake-rsh and
rsync-tee, cuts the server's sender stream out of the capture with rsyncwire.py (handshake,
then the MSG_DATA payloads concatenated) and writes

  tests/data/vectors/flist/NAME.data   the demultiplexed server->client data stream: the
                                       file list, then the rest of the (dry) run
  tests/data/vectors/flist/NAME.txt    protocol, compat flags, options, the command, and one
                                       `entry` line per file as os.lstat() saw it

The `entry` lines come from the file system, not from any decoder. Must run as root (chown,
mknod). Usage: tests/capture/flist_capture.py [NAME...]
       tests/capture/flist_capture.py --from-captured   (no rsync run, see from_captured)
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rsyncwire  # noqa: E402

OUT = os.path.normpath(os.path.join(HERE, "..", "data", "vectors", "flist"))
RSYNC = os.environ.get("CAPTURE_RSYNC", "/usr/bin/rsync")
BASE_MTIME = 1_700_000_000

# name, --protocol (None: not forced), extra options, letters stripped from -e.
CASES = [
    ("p27-aH", 27, ["-aH"], ""),
    ("p28-aH", 28, ["-aH"], ""),
    ("p29-aH", 29, ["-aH"], ""),
    ("p30-aH", 30, ["-aH"], ""),
    ("p31-aH", 31, ["-aH"], ""),
    ("p32-aH", None, ["-aH"], ""),
    ("p31-aH-novarint", 31, ["-aH"], "v"),
    ("p29-ac", 29, ["-ac", "--exclude=big"], ""),
    ("p31-ac", 31, ["-ac", "--exclude=big", "--checksum-choice=md5"], ""),
    ("p30-numeric", 30, ["-a", "--numeric-ids"], ""),
    ("p27-plain", 27, ["-r"], ""),
]

LONG_A = "A" * 200
LONG_B = "B" * 200


def build_tree(root):
    """Creates the tree; returns nothing (the expectations are read back with lstat)."""
    j = lambda *p: os.path.join(root, *p)  # noqa: E731
    os.makedirs(j("sub", "deep"))
    os.makedirs(j(LONG_A, LONG_B))
    os.makedirs(j("a"))
    files = {
        "a.txt": b"hello", "a-b": b"x" * 10, "a/x": b"", "sub/b.bin": bytes(range(256)) * 3,
        "sub/deep/f": b"deep", "h1": b"linked", f"{LONG_A}/{LONG_B}/{'C' * 60}": b"long",
    }
    for name, data in files.items():
        with open(j(name), "wb") as f:
            f.write(data)
    with open(os.fsencode(j("caf")) + b"\xe9", "wb") as f:
        f.write(b"latin-1 name")
    os.link(j("h1"), j("sub", "h2"))
    os.symlink("a.txt", j("link"))
    os.mkfifo(j("fifo"))
    os.mknod(j("null"), 0o20666, os.makedev(1, 3))
    os.mknod(j("sub", "blk"), 0o60640, os.makedev(8, 300))
    with open(j("big"), "wb") as f:
        f.truncate(5 * 1024**3 + 7)
    owners = {"a.txt": (1, 1), "sub": (65534, 65534), "sub/b.bin": (4242, 4243),
              "caf": (1, 65534), "link": (1, 1)}
    for i, (dirpath, dirnames, filenames) in enumerate(sorted(os.walk(os.fsencode(root)))):
        for k, n in enumerate(sorted(dirnames + filenames)):
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, os.fsencode(root)).decode("latin-1").rstrip("\xe9")
            uid, gid = owners.get(rel, (0, 0))
            os.chown(p, uid, gid, follow_symlinks=False)
            ns = (BASE_MTIME + 1000 * i + k) * 10**9 + (123456789 * (k + 1)) % 10**9
            os.utime(p, ns=(ns, ns), follow_symlinks=False)
    for d in sorted({dp for dp, _, _ in os.walk(root)}, key=len, reverse=True):
        os.utime(d, ns=(BASE_MTIME * 10**9 + 5, BASE_MTIME * 10**9 + 5))


def entries(root):
    out = []
    broot = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(broot):
        for n in dirnames + filenames + ([b"."] if dirpath == broot else []):
            p = os.path.normpath(os.path.join(dirpath, n))
            rel = os.path.relpath(p, broot)
            st = os.lstat(p)
            target = os.readlink(p).hex() if os.path.islink(p) else "-"
            rdev = f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}"
            out.append(f"entry {rel.hex()} {st.st_mode:o} {st.st_size} {st.st_mtime_ns // 10**9} "
                       f"{st.st_mtime_ns % 10**9} {st.st_uid} {st.st_gid} {rdev} {target} "
                       f"{st.st_ino if st.st_nlink > 1 and not os.path.isdir(p) else '-'}")
    return sorted(out)


def run_case(name, proto, opts, strip):
    work = tempfile.mkdtemp(prefix="rsync-flist-")
    raw = os.path.join(work, "raw")
    os.makedirs(raw)
    try:
        src = os.path.join(work, "src")
        os.makedirs(src)
        build_tree(src)
        os.makedirs(os.path.join(work, "dst"))
        cmd = [RSYNC, "-n", "--no-inc-recursive", *opts]
        if proto is not None:
            cmd.append(f"--protocol={proto}")
        cmd += ["-e", os.path.join(HERE, "fake-rsh"),
                f"--rsync-path={os.path.join(HERE, 'rsync-tee')}",
                f"localhost:{src}/", os.path.join(work, "dst") + "/"]
        env = dict(os.environ, CAPTURE_DIR=raw, CAPTURE_NAME=name, CAPTURE_STRIP=strip,
                   CAPTURE_CORRUPT="")
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        c2s = open(os.path.join(raw, name + ".c2s"), "rb").read()
        s2c = open(os.path.join(raw, name + ".s2c"), "rb").read()
        argv = open(os.path.join(raw, name + ".argv")).read().strip().replace(work, "$W")
        choice = next((o.split("=", 1)[1] for o in opts if o.startswith("--checksum-choice=")),
                      None)
        info, _, s_rest = rsyncwire.read_handshake(c2s, s2c, choice)
        data, _ = rsyncwire.demux(s_rest, "s2c frames")
        with open(os.path.join(OUT, name + ".data"), "wb") as f:
            f.write(data)
        shown = " ".join(c.replace(work, "$W").replace(HERE, "tests/capture")
                         .replace(RSYNC, "rsync") for c in cmd)
        lines = [
            f"# File-list vector captured from stock rsync 3.5.0 by tests/capture/flist_capture.py;",
            "# do not edit. entry: name(hex) mode(octal) size mtime nsec uid gid rdev(major,minor)",
            "# symlink-target(hex) hardlink-inode(- if none), all from os.lstat() of the source.",
            f"name {name}",
            f"command {shown}" + (f"   # CAPTURE_STRIP={strip}" if strip else ""),
            f"server_argv {argv}",
            f"protocol {info['protocol']}",
            f"compat {info['compat']:#x}",
            f"checksum {info['checksum']}",
            f"options {' '.join(opts)}",
        ] + entries(src)
        with open(os.path.join(OUT, name + ".txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{name}: protocol {info['protocol']} compat {info['compat']:#x}, "
              f"{len(data)} data bytes")
    finally:
        shutil.rmtree(work)


def from_captured():
    """The single-file captures of capture.py: cuts the sender stream out of each raw pair
    and writes captured-NAME.data/.txt. The size comes from the case's file spec; mode and
    mtime (not recorded by capture.py) from rsyncwire.py's own decoder."""
    import capture
    import filespec
    for (name, direction, proto, choice, seed, strip, corrupt, basis, new) in capture.CASES:
        raw = os.path.join(capture.RAW, name)
        c2s, s2c = open(raw + ".c2s", "rb").read(), open(raw + ".s2c", "rb").read()
        info, flist, _, _ = rsyncwire.decode(c2s, s2c, direction == "pull", choice)
        info2, c_rest, s_rest = rsyncwire.read_handshake(c2s, s2c, choice)
        p = info["protocol"]
        if direction == "pull":
            data, _ = rsyncwire.demux(s_rest, "s2c frames")
        elif p >= 30:
            data, _ = rsyncwire.demux(c_rest, "c2s frames")
        else:
            data = c_rest
        with open(os.path.join(OUT, f"captured-{name}.data"), "wb") as f:
            f.write(data)
        (e,) = flist
        size = len(filespec.build(new))
        assert e["size"] == size, (name, e, size)
        lines = [
            f"# Sender stream of tests/data/vectors/captured/raw/{name}.* (stock rsync 3.5.0),",
            "# cut by tests/capture/flist_capture.py --from-captured; do not edit.",
            "# entry: name(hex) mode(octal) size mtime nsec uid gid rdev target inode; the size",
            "# is the file spec's length, mode, mtime and nsec as tests/capture/rsyncwire.py decodes them.",
            f"name captured-{name}",
            f"command {open(raw + '.cmd').read().strip()}",
            f"server_argv {open(raw + '.argv').read().strip()}",
            f"protocol {p}",
            f"compat {info['compat']:#x}",
            f"checksum {info['checksum']}",
            "options -I",
            f"entry {b'file'.hex()} {e['mode']:o} {size} {e['mtime']} {e['nsec']} 0 0 0,0 - -",
        ]
        with open(os.path.join(OUT, f"captured-{name}.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"captured-{name}: protocol {p}, {len(data)} data bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    if sys.argv[1:] == ["--from-captured"]:
        from_captured()
        return
    want = set(sys.argv[1:])
    for case in CASES:
        if not want or case[0] in want:
            run_case(*case)


if __name__ == "__main__":
    main()
