//! `rsync-constant` as a command: local copies (dirs, symlinks, modes, ns mtimes, empty
//! files, non-UTF-8 names), a second run that transfers nothing, a delta, push and pull
//! through a fake remote shell to our own server, a server with a non-blocking stdout,
//! refusals with rsync's exit codes, and smoke interop with stock rsync both ways (skipped
//! loudly without it; failing under `RSYNC_INTEROP=require`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failure is a test failure

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rsync_tests::{interop_tool, pseudo_random};

const BIN: &str = env!("CARGO_BIN_EXE_rsync-constant");

/// What a tree holds: path → (kind, mode, size, mtime s, mtime ns, content or target).
type Snapshot = Vec<(Vec<u8>, char, u32, u64, i64, i64, Vec<u8>)>;

fn snapshot(root: &Path) -> Snapshot {
    fn go(root: &Path, rel: &Path, out: &mut Snapshot) {
        let mut names: Vec<_> = std::fs::read_dir(root.join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            let p = root.join(&r);
            let m = std::fs::symlink_metadata(&p).unwrap();
            let ft = m.file_type();
            let (kind, data) = if ft.is_symlink() {
                (
                    'l',
                    std::fs::read_link(&p)
                        .unwrap()
                        .as_os_str()
                        .as_bytes()
                        .to_vec(),
                )
            } else if ft.is_dir() {
                ('d', Vec::new())
            } else {
                ('f', std::fs::read(&p).unwrap())
            };
            let (size, mtime, nsec) = match kind {
                'f' => (m.len(), m.mtime(), m.mtime_nsec()),
                // Directory sizes differ between file systems; symlink times are checked
                // only where the receiver sets them.
                'd' => (0, m.mtime(), m.mtime_nsec()),
                _ => (m.len(), 0, 0),
            };
            let mode = if kind == 'l' { 0 } else { m.mode() & 0o7777 };
            out.push((
                r.as_os_str().as_bytes().to_vec(),
                kind,
                mode,
                size,
                mtime,
                nsec,
                data,
            ));
            if kind == 'd' {
                go(root, &r, out);
            }
        }
    }
    let mut out = Vec::new();
    go(root, Path::new(""), &mut out);
    out
}

fn set_mtime(p: &Path, sec: i64, nsec: u32) {
    let f = std::fs::File::open(p).unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(sec as u64, nsec);
    f.set_modified(t).unwrap();
}

/// A tree with nested dirs, symlinks (relative, absolute, dangling), modes, ns mtimes,
/// empty files, spaces and non-UTF-8 bytes in names.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(root.join("empty dir")).unwrap();
    std::fs::write(root.join("a.txt"), b"hello\n").unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::write(root.join("sub/data.bin"), pseudo_random(200_000, 7)).unwrap();
    std::fs::write(root.join("sub/deeper/with space.txt"), b"spaces").unwrap();
    let latin1 = OsStr::from_bytes(b"caf\xe9-\xff.txt");
    std::fs::write(root.join(latin1), b"not utf-8").unwrap();
    std::os::unix::fs::symlink("a.txt", root.join("rel-link")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("nowhere/at/all", root.join("dangling")).unwrap();
    std::fs::set_permissions(root.join("a.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(
        root.join("sub/data.bin"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    set_mtime(&root.join("a.txt"), 1_600_000_000, 123_456_789);
    set_mtime(&root.join("sub/data.bin"), 1_500_000_000, 987_654_321);
    set_mtime(&root.join(latin1), 1_400_000_000, 1);
    set_mtime(&root.join("sub/deeper/with space.txt"), 1_300_000_000, 0);
    // Directory times last, after their content exists.
    for d in ["sub/deeper", "sub", "empty dir"] {
        set_mtime(&root.join(d), 1_234_567_890, 555);
    }
}

fn run(args: &[&OsStr]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(args: &[&OsStr]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "rsync-constant {args:?} failed ({:?}): {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// `path/` as an operand.
fn slash(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push("/");
    PathBuf::from(s)
}

/// A remote shell that drops `-l USER` and the host argument and runs the rest with
/// `sh -c`.
fn fake_rsh(dir: &Path) -> PathBuf {
    let p = dir.join("fake-rsh");
    let script = "#!/bin/sh\n[ \"$1\" = -l ] && shift 2\nshift\nexec sh -c \"$*\"\n";
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn stat_line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key:?} in:\n{out}"))
        .trim()
}

#[test]
fn local_copy_preserves_everything_and_second_run_is_a_no_op() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let dst = tmp.path().join("dst");
    make_tree(&src);
    let out = ok(&[os("-a"), slash(&src).as_os_str(), slash(&dst).as_os_str()]);
    assert_eq!(out, "", "-a alone prints nothing");
    let want = snapshot(&src);
    assert_eq!(snapshot(&dst), want);
    // The top directory's own attributes follow `src/` too.
    let (sm, dm) = (
        std::fs::metadata(&src).unwrap(),
        std::fs::metadata(&dst).unwrap(),
    );
    assert_eq!(sm.mode() & 0o7777, dm.mode() & 0o7777);

    // A second run transfers no file and leaves every inode in place.
    let ino = std::fs::metadata(dst.join("sub/data.bin")).unwrap().ino();
    let out = ok(&[
        os("-a"),
        os("--stats"),
        slash(&src).as_os_str(),
        slash(&dst).as_os_str(),
    ]);
    assert_eq!(stat_line(&out, "Number of regular files transferred:"), "0");
    assert_eq!(stat_line(&out, "Literal data:"), "0 bytes");
    assert_eq!(
        stat_line(&out, "Number of files:"),
        "12 (reg: 5, dir: 4, link: 3)"
    );
    assert_eq!(
        std::fs::metadata(dst.join("sub/data.bin")).unwrap().ino(),
        ino
    );
    assert_eq!(snapshot(&dst), want);
}

#[test]
fn source_without_slash_copies_the_directory_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_tree(&src);
    let dst = tmp.path().join("dst");
    let out = ok(&[os("-av"), src.as_os_str(), dst.as_os_str()]);
    assert!(out.starts_with("building file list ... done\n"), "{out}");
    assert!(out.contains("\nsrc/sub/deeper/with space.txt\n"), "{out}");
    assert!(out.contains("\nsrc/rel-link -> a.txt\n"), "{out}");
    assert!(out.contains("\ntotal size is "), "{out}");
    assert_eq!(snapshot(&dst.join("src")), snapshot(&src));
    // A single file to a new name.
    let one = tmp.path().join("one.txt");
    ok(&[os("-t"), src.join("a.txt").as_os_str(), one.as_os_str()]);
    assert_eq!(std::fs::read(&one).unwrap(), b"hello\n");
    // Without -r a directory is skipped, as rsync does.
    let o = run(&[src.as_os_str(), tmp.path().join("none").as_os_str()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("skipping directory src"));
}

#[test]
fn delta_of_a_modified_file_sends_little_literal_data() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let dst = tmp.path().join("dst");
    std::fs::create_dir_all(&src).unwrap();
    let mut data = pseudo_random(2_000_000, 3);
    std::fs::write(src.join("big"), &data).unwrap();
    ok(&[os("-a"), slash(&src).as_os_str(), slash(&dst).as_os_str()]);
    data[1_000_000..1_000_100].fill(0x55);
    std::fs::write(src.join("big"), &data).unwrap();
    set_mtime(&src.join("big"), 1_700_000_000, 0);
    let out = ok(&[
        os("-a"),
        os("--no-W"),
        os("--stats"),
        slash(&src).as_os_str(),
        slash(&dst).as_os_str(),
    ]);
    assert_eq!(std::fs::read(dst.join("big")).unwrap(), data);
    let literal: u64 = stat_line(&out, "Literal data:")
        .trim_end_matches(" bytes")
        .replace(',', "")
        .parse()
        .unwrap();
    assert!(literal < 20_000, "literal {literal}\n{out}");
    assert_eq!(stat_line(&out, "Number of regular files transferred:"), "1");
}

#[test]
fn push_and_pull_through_a_remote_shell_to_our_server() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_tree(&src);
    let rsh = fake_rsh(tmp.path());
    for (i, pull) in [(0, false), (1, true)] {
        let dst = tmp.path().join(format!("dst{i}"));
        let (from, to) = if pull {
            let mut f = std::ffi::OsString::from("somehost:");
            f.push(slash(&src));
            (f, slash(&dst).into_os_string())
        } else {
            let mut t = std::ffi::OsString::from("user@somehost:");
            t.push(slash(&dst));
            (slash(&src).into_os_string(), t)
        };
        ok(&[
            os("-a"),
            os("-e"),
            rsh.as_os_str(),
            os("--rsync-path"),
            os(BIN),
            &from,
            &to,
        ]);
        assert_eq!(snapshot(&dst), snapshot(&src), "pull: {pull}");
    }
}

#[test]
fn refusals_use_rsync_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let dst = tmp.path().join("dst");
    // Per-directory merge files are not supported: refused, never ignored.
    let o = run(&[
        os("-a"),
        os("--filter=dir-merge .rules"),
        src.as_os_str(),
        dst.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("dir-merge"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&[os("-a"), os("-F"), src.as_os_str(), dst.as_os_str()]);
    assert_eq!(o.status.code(), Some(4));
    let o = run(&[os("-a"), src.as_os_str(), os("host::module/")]);
    assert_eq!(o.status.code(), Some(4));
    let o = run(&[os("-a"), os("rsync://host/m/"), dst.as_os_str()]);
    assert_eq!(o.status.code(), Some(4));
    let o = run(&[os("-z"), src.as_os_str(), dst.as_os_str()]);
    assert_eq!(o.status.code(), Some(4));
    let o = run(&[os("--no-such-option"), src.as_os_str(), dst.as_os_str()]);
    assert_eq!(o.status.code(), Some(1));
    let o = run(&[os("a:x"), os("b:y")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!dst.exists());
}

#[test]
fn dry_run_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_tree(&src);
    let dst = tmp.path().join("dst");
    let out = ok(&[os("-avn"), slash(&src).as_os_str(), slash(&dst).as_os_str()]);
    assert!(out.ends_with("(DRY RUN)\n"), "{out}");
    assert!(!dst.exists());
    std::fs::create_dir_all(&dst).unwrap();
    ok(&[os("-an"), slash(&src).as_os_str(), slash(&dst).as_os_str()]);
    assert!(snapshot(&dst).is_empty());
}

#[test]
fn server_copes_with_a_non_blocking_stdout() {
    // Stock rsync hands its server a non-blocking stdout; a remote shell that makes the
    // pipe non-blocking before running our server reproduces it.
    let Some(python) = interop_tool("python3") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("big"), pseudo_random(8_000_000, 9)).unwrap();
    let rsh = tmp.path().join("nonblock-rsh");
    std::fs::write(
        &rsh,
        format!(
            "#!/bin/sh\nshift\nexec {} -c 'import os,sys,fcntl\nfcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_NONBLOCK)\nos.execvp(\"sh\", [\"sh\", \"-c\", \" \".join(sys.argv[1:])])' \"$@\"\n",
            python.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rsh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dst = tmp.path().join("dst");
    let mut from = std::ffi::OsString::from("h:");
    from.push(slash(&src));
    ok(&[
        os("-a"),
        os("-e"),
        rsh.as_os_str(),
        os("--rsync-path"),
        os(BIN),
        &from,
        slash(&dst).as_os_str(),
    ]);
    assert_eq!(snapshot(&dst), snapshot(&src));
}

#[test]
fn interop_with_stock_rsync_both_ways() {
    let Some(rsync) = interop_tool("rsync") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_tree(&src);
    let rsh = fake_rsh(tmp.path());
    let want = snapshot(&src);
    let remote = |p: &Path| {
        let mut s = std::ffi::OsString::from("localhost:");
        s.push(slash(p));
        s
    };
    for protocol in ["32", "30", "29", "27"] {
        let proto = format!("--protocol={protocol}");
        // Stock client, our server: push and pull.
        for pull in [false, true] {
            let dst = tmp.path().join(format!("stock-{protocol}-{pull}"));
            let (from, to) = if pull {
                (remote(&src), slash(&dst).into_os_string())
            } else {
                (slash(&src).into_os_string(), remote(&dst))
            };
            let o = Command::new(&rsync)
                .args([os("-a"), os(&proto), os("-e"), rsh.as_os_str()])
                .args([os("--rsync-path"), os(BIN), &from, &to])
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "stock client, pull {pull}, protocol {protocol}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let got = snapshot(&dst);
            // Protocol 27 has no nanoseconds.
            let strip = |s: Snapshot| -> Snapshot {
                s.into_iter()
                    .map(|mut e| {
                        if protocol < "31" {
                            e.5 = 0;
                        }
                        e
                    })
                    .collect()
            };
            assert_eq!(
                strip(got),
                strip(want.clone()),
                "stock client, pull {pull}, p{protocol}"
            );
        }
        // Our client, stock server: push and pull.
        for pull in [false, true] {
            let dst = tmp.path().join(format!("ours-{protocol}-{pull}"));
            let (from, to) = if pull {
                (remote(&src), slash(&dst).into_os_string())
            } else {
                (slash(&src).into_os_string(), remote(&dst))
            };
            ok(&[
                os("-a"),
                os(&proto),
                os("-e"),
                rsh.as_os_str(),
                os("--rsync-path"),
                rsync.as_os_str(),
                &from,
                &to,
            ]);
            let strip = |s: Snapshot| -> Snapshot {
                s.into_iter()
                    .map(|mut e| {
                        if protocol < "31" {
                            e.5 = 0;
                        }
                        e
                    })
                    .collect()
            };
            assert_eq!(
                strip(snapshot(&dst)),
                strip(want.clone()),
                "our client, pull {pull}, p{protocol}"
            );
        }
    }
}

#[test]
fn version_banner_like_rsyncs() {
    for flag in ["--version", "-V"] {
        let out = run(&[os(flag)]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        let text = String::from_utf8(out.stdout).unwrap();
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            format!(
                "rsync-constant  version {}  protocol version 31",
                env!("CARGO_PKG_VERSION")
            ),
            "{flag}"
        );
        assert!(text.contains("Capabilities:\n") && text.contains("inplace,"));
        assert!(out.stderr.is_empty(), "{flag}");
    }
    // With other options and operands too (rsync prints it and exits).
    let out = run(&[os("-av"), os("--version"), os("a"), os("b")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.starts_with(b"rsync-constant  version "));
}
