//! End-to-end tests of `rsync-constant --constant` (issue C) through the built binary: names
//! written to the FIFO reach the mirrors (a named directory with its subtree), bootstrap
//! loses no concurrent change, the queue survives `kill -9` of the daemon, a dead mirror
//! does not delay a live one, a stock rsync mirror is fed through the session loop (after
//! refusing the streaming link), a rename over the streaming link costs block copies only,
//! and `kill -9` of a streaming mirror mid-file is followed by a reconnect with no partial
//! file under its final name; cutting or stalling the transport (a relay between the daemon
//! and a remote mirror) is followed by a reconnect and convergence (a link cut while idle,
//! before the next change), `--settle` holds a name until it is quiet, `--hot-warn` logs a
//! busy path once, and stopping the daemon ends the mirror session cleanly.
//!
//! Every test has a hard wall-clock bound ([`BOUND`]): each wait gives up (and fails) at the
//! test's deadline, and the daemon's whole process group is killed when the test ends,
//! passing or not.
//!
//! Needs the binary: `cargo build --release -p rsync-constant --bin rsync-constant` (found
//! next to the test executable, or through `RSYNC_CONSTANT_BIN`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure is a test failure

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rsync_tests::daemon::{
    gone, os, signal, tree_diff, writing_unnamed_in, Daemon, Deadline, RelayShell,
};
use rsync_tests::interop_tool;
use rsync_tests::peers::{ours_binary, FakeShell};

/// The hard bound of one test.
const BOUND: Duration = Duration::from_secs(90);

/// The relay a [`RelayShell`] puts between the daemon and a remote mirror.
const RELAY: &str = env!("CARGO_BIN_EXE_rsync-tests-wire-relay");

/// Writes names (NUL-terminated) into the FIFO once the daemon reads it.
fn feed(fifo: &Path, names: &[&str], deadline: &Deadline, d: &Daemon) {
    let mut data = Vec::new();
    for n in names {
        data.extend_from_slice(n.as_bytes());
        data.push(0);
    }
    let mut f = None;
    deadline.wait(
        "the daemon to open its FIFO",
        || d.logs(),
        || {
            // Non-blocking: fails (ENXIO) until the daemon has the FIFO open for reading.
            f = fs::OpenOptions::new()
                .write(true)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(fifo)
                .ok();
            f.is_some()
        },
    );
    let mut f = f.unwrap();
    // Small writes are atomic; the pipe is large enough for these tests.
    for chunk in data.chunks(4096) {
        loop {
            match f.write(chunk) {
                Ok(n) if n == chunk.len() => break,
                Ok(_) => panic!("short write to the FIFO"),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(!deadline.passed(), "FIFO full");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("writing the FIFO: {e}"),
            }
        }
    }
}

/// Whether `dest/name` has the same bytes and mode as `src/name`.
fn same(src: &Path, dest: &Path, name: &str) -> bool {
    let (a, b) = (src.join(name), dest.join(name));
    match (
        fs::read(&a),
        fs::read(&b),
        fs::metadata(&a),
        fs::metadata(&b),
    ) {
        (Ok(x), Ok(y), Ok(ma), Ok(mb)) => x == y && ma.mode() == mb.mode(),
        _ => false,
    }
}

/// Every regular file under `root`, relative, sorted.
fn files(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Whether the trees hold the same files with the same bytes and modes.
fn trees_equal(src: &Path, dest: &Path) -> bool {
    let names = files(src);
    names == files(dest) && names.iter().all(|n| same(src, dest, n))
}

struct World {
    dir: tempfile::TempDir,
    src: PathBuf,
    fifo: PathBuf,
}

fn world() -> World {
    let dir = tempfile::Builder::new()
        .prefix("constant-e2e-")
        .tempdir()
        .unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("a.txt"), b"alpha\n").unwrap();
    fs::write(
        src.join("sub/b.bin"),
        rsync_tests::pseudo_random(100_000, 7),
    )
    .unwrap();
    fs::set_permissions(src.join("a.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    let fifo = dir.path().join("changes.fifo");
    World { dir, src, fifo }
}

fn src_arg(w: &World) -> std::ffi::OsString {
    let mut s = os(&w.src);
    s.push("/");
    s
}

fn base_args(w: &World) -> Vec<std::ffi::OsString> {
    let mut ff = os("--files-from=");
    ff.push(&w.fifo);
    vec![os("-a"), os("--constant"), ff, os("--from0")]
}

#[test]
fn names_written_to_the_fifo_appear_on_the_mirror_byte_identical() {
    let deadline = Deadline::after(BOUND);
    let w = world();
    let dest = w.dir.path().join("mirror");
    let mut args = base_args(&w);
    args.push(os("-i"));
    args.push(src_arg(&w));
    args.push(os(&dest));
    let mut d = Daemon::start(w.dir.path(), "1", &args);
    deadline.wait("the bootstrap", || d.logs(), || trees_equal(&w.src, &dest));

    // New files, a changed file, a new directory.
    fs::write(w.src.join("new.txt"), b"fresh\n").unwrap();
    fs::write(w.src.join("a.txt"), b"alpha, changed\n").unwrap();
    fs::create_dir(w.src.join("newdir")).unwrap();
    fs::write(
        w.src.join("newdir/deep.dat"),
        rsync_tests::pseudo_random(5000, 3),
    )
    .unwrap();
    // A directory created with content: its name alone brings the subtree.
    fs::create_dir_all(w.src.join("tree/deeper")).unwrap();
    fs::write(w.src.join("tree/deeper/leaf"), b"leaf\n").unwrap();
    feed(
        &w.fifo,
        &["new.txt", "a.txt", "newdir/deep.dat", "tree"],
        &deadline,
        &d,
    );
    deadline.wait("the changes", || d.logs(), || trees_equal(&w.src, &dest));
    assert_eq!(
        fs::metadata(w.src.join("a.txt")).unwrap().mtime(),
        fs::metadata(dest.join("a.txt")).unwrap().mtime()
    );

    // Latency of one change, FIFO write to file visible (printed, not asserted).
    let mut lat = Vec::new();
    for i in 0..10 {
        let name = format!("lat{i}.txt");
        fs::write(w.src.join(&name), format!("latency probe {i}\n")).unwrap();
        let t = Instant::now();
        feed(&w.fifo, &[&name], &deadline, &d);
        deadline.wait(
            "a latency probe",
            || d.logs(),
            || same(&w.src, &dest, &name),
        );
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "session-loop latency FIFO -> mirror over {} changes: min {:.1} ms, median {:.1} ms, \
         max {:.1} ms",
        lat.len(),
        lat[0].as_secs_f64() * 1e3,
        lat[lat.len() / 2].as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3
    );
    // -i: an itemized line per applied change.
    deadline.wait(
        "itemized lines",
        || d.logs(),
        || {
            let out = d.stdout();
            out.contains("new.txt") && out.contains("lat9.txt")
        },
    );
    // A rejected name is logged and does not stop the daemon.
    fs::write(w.src.join("after.txt"), b"after\n").unwrap();
    feed(&w.fifo, &["../escape", "after.txt"], &deadline, &d);
    deadline.wait(
        "the name after a rejected one",
        || d.logs(),
        || same(&w.src, &dest, "after.txt"),
    );
    assert_eq!(d.terminate(&deadline), Some(0), "{}", d.logs());
    assert!(d.logs().contains("escape"), "{}", d.logs());
}

#[test]
fn a_listed_name_missing_at_the_source_is_deleted_on_the_mirror() {
    let deadline = Deadline::after(BOUND);
    let w = world();
    let dest = w.dir.path().join("mirror");
    let mut args = base_args(&w);
    args.push(src_arg(&w));
    args.push(os(&dest));
    let mut d = Daemon::start(w.dir.path(), "1", &args);
    deadline.wait("the bootstrap", || d.logs(), || trees_equal(&w.src, &dest));
    fs::remove_file(w.src.join("sub/b.bin")).unwrap();
    fs::remove_file(w.src.join("a.txt")).unwrap();
    feed(&w.fifo, &["sub/b.bin", "a.txt"], &deadline, &d);
    deadline.wait(
        "the deletions",
        || d.logs(),
        || !dest.join("sub/b.bin").exists() && !dest.join("a.txt").exists(),
    );
    assert!(dest.join("sub").is_dir());
    // A non-empty directory removed at the source goes with its content (`--force`).
    fs::write(w.src.join("sub/c.txt"), b"c\n").unwrap();
    feed(&w.fifo, &["sub/c.txt"], &deadline, &d);
    deadline.wait(
        "sub/c.txt",
        || d.logs(),
        || same(&w.src, &dest, "sub/c.txt"),
    );
    fs::remove_dir_all(w.src.join("sub")).unwrap();
    feed(&w.fifo, &["sub"], &deadline, &d);
    deadline.wait(
        "the directory's deletion",
        || d.logs(),
        || !dest.join("sub").exists(),
    );
    assert!(trees_equal(&w.src, &dest));
    assert_eq!(d.terminate(&deadline), Some(0), "{}", d.logs());
}

/// A directory swapped by a rename (`mv new sub` after `sub` is gone) is one name on the
/// FIFO, as a watcher sees it: the mirror, which already has `sub`, gets the new content and
/// loses the old (a named directory brings its subtree, as with `rsync -r --files-from`).
#[test]
fn a_directory_swapped_by_a_rename_brings_its_new_content() {
    let deadline = Deadline::after(BOUND);
    let w = world();
    let dest = w.dir.path().join("mirror");
    let mut args = base_args(&w);
    args.push(src_arg(&w));
    args.push(os(&dest));
    let mut d = Daemon::start(w.dir.path(), "1", &args);
    deadline.wait("the bootstrap", || d.logs(), || trees_equal(&w.src, &dest));
    let staged = w.dir.path().join("staged");
    fs::create_dir_all(staged.join("deeper")).unwrap();
    fs::write(staged.join("new.txt"), b"new release\n").unwrap();
    fs::write(staged.join("deeper/more.txt"), b"more\n").unwrap();
    fs::remove_dir_all(w.src.join("sub")).unwrap();
    fs::rename(&staged, w.src.join("sub")).unwrap();
    feed(&w.fifo, &["sub"], &deadline, &d);
    deadline.wait(
        "the new content of sub, without the old",
        || d.logs(),
        || trees_equal(&w.src, &dest),
    );
    assert!(!dest.join("sub/b.bin").exists());
    assert!(same(&w.src, &dest, "sub/deeper/more.txt"));
    assert_eq!(d.terminate(&deadline), Some(0), "{}", d.logs());
}

/// Deletions of regular files wait for the batch's end on the mirror (a rename in the batch
/// may use the old file); more of them than the window in one batch must not hold every id
/// in flight (the session stalled for good with more than 256).
#[test]
fn a_batch_of_more_deletions_than_the_window_is_carried_out() {
    let deadline = Deadline::after(BOUND);
    let w = world();
    let names: Vec<String> = (0..600).map(|i| format!("many/f{i}")).collect();
    fs::create_dir_all(w.src.join("many")).unwrap();
    for n in &names {
        fs::write(w.src.join(n), n.as_bytes()).unwrap();
    }
    let dest = w.dir.path().join("mirror");
    let mut args = base_args(&w);
    args.push(src_arg(&w));
    args.push(os(&dest));
    let mut d = Daemon::start(w.dir.path(), "1", &args);
    deadline.wait("the bootstrap", || d.logs(), || trees_equal(&w.src, &dest));
    for n in &names {
        fs::remove_file(w.src.join(n)).unwrap();
    }
    // A directory walked in the same batch: its end needs ids too.
    fs::create_dir_all(w.src.join("walked/sub")).unwrap();
    fs::write(w.src.join("walked/sub/x"), b"x\n").unwrap();
    let mut refs: Vec<&str> = names.iter().map(String::as_str).collect();
    refs.push("walked");
    feed(&w.fifo, &refs, &deadline, &d);
    deadline.wait(
        "600 deletions and a walk in one batch",
        || d.logs(),
        || trees_equal(&w.src, &dest),
    );
    assert_eq!(d.terminate(&deadline), Some(0), "{}", d.logs());
}

#[test]
fn bootstrap_of_an_empty_mirror_with_concurrent_changes_loses_none() {
    let deadline = Deadline::after(BOUND);
    let w = world();
    // Enough files that the full sync takes a while.
    for i in 0..3000 {
        let dir = w.src.join(format!("d{}", i % 30));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("f{i}")), format!("file {i}\n")).unwrap();
    }
    let dest = w.dir.path().join("mirror");
    let mut args = base_args(&w);
    args.push(src_arg(&w));
    args.push(os(&dest));
    let mut d = Daemon::start(w.dir.path(), "1", &args);
    // Change files while the bootstrap runs: rewrite some, add some, each named in the FIFO.
    let mut round = 0;
    let started = Instant::now();
    while round < 40 || started.elapsed() < Duration::from_millis(500) {
        let mut names = Vec::new();
        for k in 0..5 {
            let i = (round * 37 + k * 101) % 3000;
            let old = format!("d{}/f{i}", i % 30);
            fs::write(
                w.src.join(&old),
                format!("file {i} changed in round {round}\n"),
            )
            .unwrap();
            names.push(old);
            let new = format!("d{}/new{round}_{k}", round % 30);
            fs::write(w.src.join(&new), format!("new {round} {k}\n")).unwrap();
            names.push(new);
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        feed(&w.fifo, &refs, &deadline, &d);
        round += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    deadline.wait("convergence", || d.logs(), || trees_equal(&w.src, &dest));
    assert_eq!(d.terminate(&deadline), Some(0), "{}", d.logs());
}

/// A fake remote shell that fails while `marker` exists (the mirror is down), else drops the
/// host and runs the command here.
fn flaky_rsh(dir: &Path, marker: &Path) -> std::ffi::OsString {
    let path = dir.join("flaky-rsh");
    let script = format!(
        "#!/bin/sh\nif [ -e '{}' ]; then echo 'ssh: connect to host: Connection refused' >&2; \
         exit 255; fi\nshift\nexec sh -c \"$*\"\n",
        marker.display()
    );
    fs::write(&path, script).unwrap();
    let mut o = os("sh ");
    o.push(&path);
    o
}

#[test]
fn kill_9_of_the_daemon_then_restart_loses_no_name_the_fifo_delivered() {
    let deadline = Deadline::after(BOUND);
    let w = world();
    let dest = w.dir.path().join("mirror");
    let marker = w.dir.path().join("mirror-down");
    let ours = ours_binary().unwrap_or_else(|e| panic!("{e}"));
    let rsh = flaky_rsh(w.dir.path(), &marker);
    let args = remote_args(&w, &[], rsh, ours.as_os_str(), "mirrorhost", &dest);
    let mut d = Daemon::start(w.dir.path(), "1", &args);
    deadline.wait("the bootstrap", || d.logs(), || trees_equal(&w.src, &dest));
    fs::write(w.src.join("first.txt"), b"first\n").unwrap();
    feed(&w.fifo, &["first.txt"], &deadline, &d);
    deadline.wait(
        "the first name",
        || d.logs(),
        || same(&w.src, &dest, "first.txt"),
    );

    // The mirror goes down (its streaming session is cut and it cannot be reached again);
    // names keep coming and are queued.
    fs::write(&marker, b"").unwrap();
    let dest_text = dest.to_string_lossy().into_owned();
    deadline.wait(
        "the streaming mirror to be killed",
        || d.logs(),
        || kill_processes_with(&["--constant=1", &dest_text]) == 0,
    );
    let names: Vec<String> = (0..20).map(|i| format!("queued{i}.txt")).collect();
    for n in &names {
        fs::write(w.src.join(n), format!("{n}\n")).unwrap();
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    feed(&w.fifo, &refs, &deadline, &d);
    let mut status_fifo = os(&w.fifo);
    status_fifo.push(".status");
    deadline.wait(
        "the names in the queue (status file)",
        || d.logs(),
        || fs::read_to_string(&status_fifo).is_ok_and(|s| s.contains("accepted=21")),
    );
    d.kill9();
    assert!(names.iter().all(|n| !dest.join(n).exists()));

    // The mirror is back, the daemon restarts: the queued names are delivered from the
    // queue (no full sync: a file changed without being named stays unsent).
    fs::remove_file(&marker).unwrap();
    fs::write(w.src.join("unnamed.txt"), b"never listed\n").unwrap();
    let mut d = Daemon::start(w.dir.path(), "2", &args);
    deadline.wait(
        "the queued names after restart",
        || d.logs(),
        || names.iter().all(|n| same(&w.src, &dest, n)),
    );
    assert!(!dest.join("unnamed.txt").exists(), "{}", d.logs());
    assert_eq!(d.terminate(&deadline), Some(0), "{}", d.logs());
}

#[test]
fn a_mirror_that_is_down_does_not_delay_the_first() {
    let deadline = Deadline::after(BOUND);
    let w = world();
    let dest = w.dir.path().join("mirror");
    let marker = w.dir.path().join("always-down");
    fs::write(&marker, b"").unwrap();
    let mut args = base_args(&w);
    args.push(os("-e"));
    args.push(flaky_rsh(w.dir.path(), &marker));
    args.push(src_arg(&w));
    args.push(os(&dest));
    args.push(os("deadhost:/nowhere"));
    let mut d = Daemon::start(w.dir.path(), "1", &args);
    deadline.wait(
        "the bootstrap of the live mirror",
        || d.logs(),
        || trees_equal(&w.src, &dest),
    );
    for i in 0..5 {
        let name = format!("n{i}.txt");
        fs::write(w.src.join(&name), format!("{i}\n")).unwrap();
        let t = Instant::now();
        feed(&w.fifo, &[&name], &deadline, &d);
        deadline.wait(
            "the live mirror",
            || d.logs(),
            || same(&w.src, &dest, &name),
        );
        // Far below the dead mirror's backoff, which reaches seconds.
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "change {i} took {:?}\n{}",
            t.elapsed(),
            d.logs()
        );
    }
    // `--status` shows both mirrors, the dead one with its error.
    let mut ff = os("--files-from=");
    ff.push(&w.fifo);
    let mut table = String::new();
    deadline.wait(
        "--status to show the dead mirror's error",
        || d.logs(),
        || {
            let out = Command::new(ours_binary().unwrap())
                .arg("--status")
                .arg(&ff)
                .output()
                .unwrap();
            table = String::from_utf8_lossy(&out.stdout).into_owned();
            out.status.success() && table.contains("deadhost:/nowhere") && table.contains("code")
        },
    );
    assert!(
        table.contains(&dest.to_string_lossy().into_owned()),
        "{table}"
    );
    assert!(table.contains("queue depth"), "{table}");
    assert_eq!(d.terminate(&deadline), Some(0), "{}", d.logs());
}

#[test]
fn a_stock_rsync_mirror_is_fed_through_the_session_loop() {
    let Some(stock) = interop_tool("rsync") else {
        return;
    };
    let deadline = Deadline::after(BOUND);
    let w = world();
    let dest = w.dir.path().join("stock-mirror");
    let shell = FakeShell::write(w.dir.path(), None).unwrap();
    let args = remote_args(
        &w,
        &[],
        shell.rsh_option(),
        stock.as_ref(),
        "stockhost",
        &dest,
    );
    let mut d = Daemon::start(w.dir.path(), "1", &args);
    deadline.wait("the bootstrap", || d.logs(), || trees_equal(&w.src, &dest));
    fs::write(w.src.join("to-stock.txt"), b"hello stock rsync\n").unwrap();
    fs::write(w.src.join("a.txt"), b"changed for stock\n").unwrap();
    feed(&w.fifo, &["to-stock.txt", "a.txt"], &deadline, &d);
    deadline.wait(
        "the changes on the stock mirror",
        || d.logs(),
        || trees_equal(&w.src, &dest),
    );
    // A deletion (needs --delete-missing-args, which stock rsync understands).
    fs::remove_file(w.src.join("to-stock.txt")).unwrap();
    feed(&w.fifo, &["to-stock.txt"], &deadline, &d);
    deadline.wait(
        "the deletion on the stock mirror",
        || d.logs(),
        || !dest.join("to-stock.txt").exists(),
    );
    let cmds = shell.remote_commands();
    assert!(cmds.contains("--server"), "{cmds}");
    // The streaming link was offered once, refused, and never again: every later command
    // is a one-shot session.
    assert_eq!(
        cmds.matches("--constant").count(),
        1,
        "--constant=1 offered exactly once: {cmds}"
    );
    assert!(
        cmds.matches("--server").count() >= 3,
        "bootstrap and batches as sessions: {cmds}"
    );
    assert!(
        d.logs().contains("using one-shot sessions instead"),
        "the fallback is logged\n{}",
        d.logs()
    );
    assert_eq!(d.terminate(&deadline), Some(0), "{}", d.logs());
}

/// The daemon's children that are streaming mirrors (`--server ... --constant=1`).
fn stream_mirrors(daemon: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces, so split after the last `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
        if ppid == Some(daemon) && String::from_utf8_lossy(&cmdline).contains("--constant=1") {
            out.push(pid);
        }
    }
    out
}

/// `literal` of the `-v` line `sent NAME: LITERAL literal bytes, MATCHED matched`.
fn literal_sent(logs: &str, name: &str) -> Option<u64> {
    let prefix = format!("sent {name}: ");
    logs.lines().find_map(|l| {
        let rest = &l[l.find(&prefix)? + prefix.len()..];
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[test]
fn a_rename_over_the_streaming_link_sends_under_one_percent_of_the_file() {
    const SIZE: usize = 64 << 20;
    let deadline = Deadline::after(BOUND);
    let w = world();
    let dest = w.dir.path().join("mirror");
    let mut args = base_args(&w);
    args.push(os("-v"));
    args.push(src_arg(&w));
    args.push(os(&dest));
    let d = Daemon::start(w.dir.path(), "1", &args);
    deadline.wait("the bootstrap", || d.logs(), || trees_equal(&w.src, &dest));
    fs::write(w.src.join("big.bin"), rsync_tests::pseudo_random(SIZE, 11)).unwrap();
    feed(&w.fifo, &["big.bin"], &deadline, &d);
    deadline.wait(
        "the big file",
        || d.logs(),
        || same(&w.src, &dest, "big.bin"),
    );
    assert!(
        literal_sent(&d.logs(), "big.bin").is_some_and(|l| l as usize == SIZE),
        "the first copy is all literal\n{}",
        d.logs()
    );
    fs::rename(w.src.join("big.bin"), w.src.join("moved.bin")).unwrap();
    // Both names in one batch: the old name's deletion is deferred to the batch's end and
    // serves as the new name's basis.
    feed(&w.fifo, &["big.bin", "moved.bin"], &deadline, &d);
    deadline.wait(
        "the rename on the mirror",
        || d.logs(),
        || same(&w.src, &dest, "moved.bin") && !dest.join("big.bin").exists(),
    );
    let mut literal = None;
    deadline.wait(
        "the -v line of the renamed file",
        || d.logs(),
        || {
            literal = literal_sent(&d.logs(), "moved.bin");
            literal.is_some()
        },
    );
    let literal = literal.unwrap();
    assert!(
        literal < (SIZE / 100) as u64,
        "a rename sent {literal} literal bytes of {SIZE}\n{}",
        d.logs()
    );
    // The session loop was never used: one streaming mirror did it all.
    assert!(!d.logs().contains("one-shot"), "{}", d.logs());
}

#[test]
fn kill_9_of_a_streaming_mirror_mid_file_then_it_reconnects_and_converges() {
    const SIZE: usize = 64 << 20;
    let deadline = Deadline::after(BOUND);
    let w = world();
    let dest = w.dir.path().join("mirror");
    let mut args = base_args(&w);
    args.push(src_arg(&w));
    args.push(os(&dest));
    let d = Daemon::start(w.dir.path(), "1", &args);
    deadline.wait("the bootstrap", || d.logs(), || trees_equal(&w.src, &dest));
    let mut first = Vec::new();
    deadline.wait(
        "the streaming mirror process",
        || d.logs(),
        || {
            first = stream_mirrors(d.pid());
            first.len() == 1
        },
    );
    let content = rsync_tests::pseudo_random(SIZE, 5);
    fs::write(w.src.join("big.bin"), &content).unwrap();
    let final_ok = |dest: &Path| match fs::metadata(dest.join("big.bin")) {
        // Never a partial file under the final name.
        Ok(m) => {
            assert_eq!(m.len() as usize, SIZE, "a partial big.bin is visible");
            true
        }
        Err(_) => false,
    };
    feed(&w.fifo, &["big.bin"], &deadline, &d);
    // Kill the mirror as soon as it writes the file (which has no name until complete), or
    // at once if a fast machine wrote it before it was seen.
    deadline.wait(
        "the mirror writing big.bin",
        || d.logs(),
        || writing_unnamed_in(&dest) || final_ok(&dest),
    );
    let victim = rustix::process::Pid::from_raw(first[0] as i32).unwrap();
    rustix::process::kill_process(victim, rustix::process::Signal::KILL)
        .expect("the mirror was alive when killed");
    deadline.wait(
        "a new streaming mirror",
        || d.logs(),
        || {
            let now = stream_mirrors(d.pid());
            now.len() == 1 && now != first
        },
    );
    deadline.wait(
        "convergence after the reconnect",
        || d.logs(),
        || {
            final_ok(&dest);
            same(&w.src, &dest, "big.bin")
        },
    );
    // The new session carries later changes too.
    fs::write(w.src.join("after.txt"), b"after the reconnect\n").unwrap();
    feed(&w.fifo, &["after.txt"], &deadline, &d);
    deadline.wait(
        "a change after the reconnect",
        || d.logs(),
        || same(&w.src, &dest, "after.txt"),
    );
    assert!(
        d.logs().contains("retrying"),
        "the failure is logged\n{}",
        d.logs()
    );
    assert!(!d.logs().contains("one-shot"), "{}", d.logs());
}

/// `kill -9` of every process whose command line holds all of `parts`; how many there were.
fn kill_processes_with(parts: &[&str]) -> usize {
    let mut n = 0;
    let Ok(rd) = fs::read_dir("/proc") else {
        return 0;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if pid as u32 != std::process::id() && parts.iter().all(|p| cmdline.contains(p)) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                n += 1;
            }
        }
    }
    n
}

/// The temporary files (`.NAME.XXXXXX`) under `root`.
fn temp_files(root: &Path) -> Vec<String> {
    files(root)
        .into_iter()
        .filter(|n| n.rsplit('/').next().is_some_and(|b| b.starts_with('.')))
        .collect()
}

/// Watches a mirror on a thread while a test runs: every regular file under a final name
/// must be complete (the same bytes as the source, which the test does not change once
/// named; only the length for files over 1 MiB). Returns the violations when stopped.
struct Sampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(Vec<String>, u64)>>,
}

impl Sampler {
    fn start(src: &Path, dest: &Path) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (src, dest, flag) = (src.to_path_buf(), dest.to_path_buf(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut bad = Vec::new();
            let mut rounds = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                rounds += 1;
                for n in files(&dest) {
                    if n.rsplit('/').next().is_some_and(|b| b.starts_with('.')) {
                        continue;
                    }
                    let Ok(m) = fs::metadata(dest.join(&n)) else {
                        continue;
                    };
                    let Ok(ms) = fs::metadata(src.join(&n)) else {
                        bad.push(format!("{n}: not at the source"));
                        continue;
                    };
                    let ok = if ms.len() > 1 << 20 {
                        m.len() == ms.len()
                    } else {
                        fs::read(dest.join(&n)).ok() == fs::read(src.join(&n)).ok()
                    };
                    if !ok {
                        bad.push(format!(
                            "{n}: incomplete ({} of {} bytes)",
                            m.len(),
                            ms.len()
                        ));
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            (bad, rounds)
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread; the violations seen and how many rounds it made.
    fn finish(mut self) -> (Vec<String>, u64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

/// Daemon arguments for one mirror `HOST:DEST` reached through the remote shell `rsh`,
/// running `rsync_path` there.
fn remote_args(
    w: &World,
    extra: &[&str],
    rsh: std::ffi::OsString,
    rsync_path: &std::ffi::OsStr,
    host: &str,
    dest: &Path,
) -> Vec<std::ffi::OsString> {
    let mut args = base_args(w);
    args.extend(extra.iter().map(os));
    args.push(os("-e"));
    args.push(rsh);
    let mut rp = os("--rsync-path=");
    rp.push(rsync_path);
    args.push(rp);
    args.push(src_arg(w));
    let mut remote = os(format!("{host}:"));
    remote.push(dest);
    args.push(remote);
    args
}

/// Daemon arguments for one mirror `relayhost:DEST` reached through `shell`.
fn relay_args(
    w: &World,
    shell: &RelayShell,
    dest: &Path,
    extra: &[&str],
) -> Vec<std::ffi::OsString> {
    let ours = ours_binary().unwrap_or_else(|e| panic!("{e}"));
    remote_args(w, extra, shell.rsh(), ours.as_os_str(), "relayhost", dest)
}

/// The status file's line for the mirror whose id ends with `suffix`.
fn status_line(w: &World, suffix: &str) -> String {
    let mut p = os(&w.fifo);
    p.push(".status");
    fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .find(|l| {
            l.starts_with("mirror ") && l.split('\t').next().is_some_and(|id| id.ends_with(suffix))
        })
        .unwrap_or_default()
        .to_owned()
}

/// Writes `n` small files `PREFIX{i}.txt` at the source; their names.
fn small_files(src: &Path, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let name = format!("{prefix}{i}.txt");
            fs::write(
                src.join(&name),
                format!("{prefix} number {i}\n").repeat(1 + i % 7),
            )
            .unwrap();
            name
        })
        .collect()
}

#[test]
fn killing_the_transport_mid_stream_converges_after_reconnect() {
    const SIZE: usize = 32 << 20;
    let deadline = Deadline::after(BOUND);
    let w = world();
    let dest = w.dir.path().join("mirror");
    let shell = RelayShell::write(w.dir.path(), "1", Path::new(RELAY), "");
    let args = relay_args(&w, &shell, &dest, &[]);
    let d = Daemon::start(w.dir.path(), "1", &args);
    deadline.wait(
        "the bootstrap",
        || d.logs(),
        || tree_diff(&w.src, &dest).is_none(),
    );
    let first = shell.sessions();
    assert_eq!(first.len(), 1, "one session for the bootstrap: {first:?}");
    let first = first[0].clone();

    // A stream of changes: 100 small files, a large one, 100 more small ones.
    let sampler = Sampler::start(&w.src, &dest);
    let mut names = small_files(&w.src, "before", 100);
    fs::write(w.src.join("big.bin"), rsync_tests::pseudo_random(SIZE, 9)).unwrap();
    names.push("big.bin".into());
    names.extend(small_files(&w.src, "during", 100));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    feed(&w.fifo, &refs, &deadline, &d);
    // Cut the transport while the large file is on its way (the mirror writes it).
    deadline.wait(
        "the mirror writing the large file",
        || d.logs(),
        || writing_unnamed_in(&dest) || dest.join("big.bin").exists(),
    );
    assert!(
        signal(first.relay, rustix::process::Signal::KILL),
        "the relay was alive"
    );
    let mid_stream = !dest.join("big.bin").exists();
    // Names keep coming while the link is down.
    let after = small_files(&w.src, "after", 100);
    let refs: Vec<&str> = after.iter().map(String::as_str).collect();
    feed(&w.fifo, &refs, &deadline, &d);

    // The mirror notices the cut and ends (without being killed).
    deadline.wait(
        "the old mirror to notice the cut and exit",
        || d.logs(),
        || shell.sessions().first().is_some_and(|s| s.exit.is_some()),
    );
    // The daemon reconnects: a new session through a new relay, and converges.
    deadline.wait("a new session", || d.logs(), || shell.sessions().len() >= 2);
    deadline.wait(
        "convergence after the reconnect",
        || d.logs(),
        || tree_diff(&w.src, &dest).is_none(),
    );
    let (bad, rounds) = sampler.finish();
    assert!(bad.is_empty(), "partial files under final names: {bad:?}");
    assert!(rounds > 10, "the sampler ran {rounds} rounds only");
    deadline.wait(
        "the status file to show the mirror live",
        || d.logs(),
        || {
            let l = status_line(&w, "mirror");
            l.contains("state=live") && l.contains("lag_entries=0")
        },
    );
    let sessions = shell.sessions();
    assert_eq!(sessions.len(), 2, "one reconnect: {sessions:?}");
    assert_ne!(
        sessions[0].exit,
        Some(0),
        "the cut session cannot end cleanly"
    );
    assert!(
        sessions[1].exit.is_none(),
        "the new session is live: {sessions:?}"
    );
    assert!(temp_files(&dest).is_empty(), "{:?}", temp_files(&dest));
    let logs = d.logs();
    assert!(logs.contains("retrying"), "the cut is logged\n{logs}");
    assert!(!logs.contains("one-shot"), "{logs}");
    println!(
        "transport cut {} the large file; sessions {sessions:?}",
        if mid_stream {
            "before the end of"
        } else {
            "after"
        }
    );
}

/// A mirror whose link dies between changes is reconnected at once (not when the next change
/// comes): the status shows the failure, then the new session live, and the next change goes
/// over that session.
#[test]
fn a_link_cut_while_idle_is_reconnected_before_the_next_change() {
    let deadline = Deadline::after(BOUND);
    let w = world();
    let dest = w.dir.path().join("mirror");
    let shell = RelayShell::write(w.dir.path(), "1", Path::new(RELAY), "");
    let args = relay_args(&w, &shell, &dest, &[]);
    let d = Daemon::start(w.dir.path(), "1", &args);
    deadline.wait(
        "the bootstrap, then the mirror live",
        || d.logs(),
        || tree_diff(&w.src, &dest).is_none() && status_line(&w, "mirror").contains("state=live"),
    );
    let first = shell.sessions();
    assert_eq!(first.len(), 1, "one session for the bootstrap: {first:?}");
    assert!(
        signal(first[0].relay, rustix::process::Signal::KILL),
        "the relay was alive"
    );
    // Nothing is fed: the daemon notices the idle link's end by itself and reconnects.
    deadline.wait(
        "a new session without any change",
        || d.logs(),
        || shell.sessions().len() >= 2,
    );
    deadline.wait(
        "the status file to show the mirror live again",
        || d.logs(),
        || {
            let l = status_line(&w, "mirror");
            l.contains("state=live") && shell.sessions().len() == 2
        },
    );
    let logs = d.logs();
    assert!(logs.contains("retrying"), "the cut is logged\n{logs}");
    let line = status_line(&w, "mirror");
    assert!(
        line.split("\terror=").nth(1).is_some_and(|e| !e.is_empty()),
        "the status keeps the cut as the last error: {line}"
    );

    let names = small_files(&w.src, "after", 3);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    feed(&w.fifo, &refs, &deadline, &d);
    deadline.wait(
        "the next change on the mirror",
        || d.logs(),
        || tree_diff(&w.src, &dest).is_none(),
    );
    let sessions = shell.sessions();
    assert_eq!(
        sessions.len(),
        2,
        "the change went over the session opened while idle: {sessions:?}"
    );
    assert!(sessions[1].exit.is_none(), "{sessions:?}");
}

#[test]
fn a_stalled_transport_is_detected_by_timeout_and_the_daemon_reconnects() {
    let deadline = Deadline::after(BOUND);
    let w = world();
    let dest = w.dir.path().join("mirror");
    let shell = RelayShell::write(w.dir.path(), "1", Path::new(RELAY), "");
    let args = relay_args(&w, &shell, &dest, &["--timeout=2"]);
    let d = Daemon::start(w.dir.path(), "1", &args);
    deadline.wait(
        "the bootstrap",
        || d.logs(),
        || tree_diff(&w.src, &dest).is_none(),
    );
    // Idle for longer than the timeout: keepalives keep a healthy link up.
    std::thread::sleep(Duration::from_millis(3500));
    fs::write(w.src.join("idle.txt"), b"after an idle link\n").unwrap();
    feed(&w.fifo, &["idle.txt"], &deadline, &d);
    deadline.wait(
        "a change after the idle time",
        || d.logs(),
        || same(&w.src, &dest, "idle.txt"),
    );
    let sessions = shell.sessions();
    assert_eq!(
        sessions.len(),
        1,
        "an idle link was dropped: {sessions:?}\n{}",
        d.logs()
    );
    let first = sessions[0].clone();

    // The transport stalls (nothing passes, nothing closes) and a change is waiting.
    assert!(
        signal(first.relay, rustix::process::Signal::STOP),
        "the relay was alive"
    );
    let stalled = Instant::now();
    fs::write(
        w.src.join("stalled.txt"),
        b"sent while the link is stalled\n",
    )
    .unwrap();
    feed(&w.fifo, &["stalled.txt"], &deadline, &d);
    deadline.wait(
        "a new session after the timeout",
        || d.logs(),
        || shell.sessions().len() >= 2,
    );
    let detected = stalled.elapsed();
    deadline.wait(
        "the change over the new session",
        || d.logs(),
        || same(&w.src, &dest, "stalled.txt"),
    );
    // The daemon detected it through its timeout (2 s without input; the mirror's last
    // keepalive may have arrived just before the stall), not sooner, and not much later.
    assert!(
        detected >= Duration::from_millis(900),
        "reconnected {detected:?} after the stall, before the timeout could expire\n{}",
        d.logs()
    );
    assert!(
        detected < Duration::from_secs(15),
        "the stall took {detected:?} to detect\n{}",
        d.logs()
    );
    assert!(
        d.logs()
            .lines()
            .any(|l| l.contains("warn: io timeout after 2 seconds") && l.contains("retrying")),
        "the daemon's timeout is logged\n{}",
        d.logs()
    );
    // The daemon dropped the stalled relay itself, and the old mirror ended.
    deadline.wait(
        "the stalled relay to be gone",
        || d.logs(),
        || gone(first.relay),
    );
    deadline.wait(
        "the old mirror to exit",
        || d.logs(),
        || shell.sessions().first().is_some_and(|s| s.exit.is_some()),
    );
    assert!(
        tree_diff(&w.src, &dest).is_none(),
        "{:?}",
        tree_diff(&w.src, &dest)
    );
    println!(
        "stall detected after {detected:?}; sessions {:?}",
        shell.sessions()
    );
}

/// How many `-i` lines on the daemon's stdout name `name`.
fn itemized(d: &Daemon, name: &str) -> usize {
    let suffix = format!(" {name}");
    d.stdout().lines().filter(|l| l.ends_with(&suffix)).count()
}

#[test]
fn settle_sends_a_name_only_once_it_has_been_quiet() {
    const SETTLE: Duration = Duration::from_millis(500);
    // The lower bounds allow for clock granularity only: a name is never applied sooner.
    const NOT_BEFORE: Duration = Duration::from_millis(450);
    let deadline = Deadline::after(BOUND);
    let w = world();
    let dest = w.dir.path().join("mirror");
    let mut args = base_args(&w);
    args.push(os("--settle=500ms"));
    args.push(os("-i"));
    args.push(src_arg(&w));
    args.push(os(&dest));
    let d = Daemon::start(w.dir.path(), "1", &args);
    deadline.wait(
        "the bootstrap",
        || d.logs(),
        || tree_diff(&w.src, &dest).is_none(),
    );

    // One change: applied no sooner than the settle time after it was written to the FIFO.
    fs::write(w.src.join("once.txt"), b"written once\n").unwrap();
    let fed = Instant::now();
    feed(&w.fifo, &["once.txt"], &deadline, &d);
    let mut visible = Duration::ZERO;
    deadline.wait(
        "once.txt",
        || d.logs(),
        || {
            visible = fed.elapsed();
            same(&w.src, &dest, "once.txt")
        },
    );
    assert!(
        visible >= NOT_BEFORE,
        "once.txt was applied {visible:?} after its name was written (--settle={SETTLE:?})"
    );

    // A name re-written every 100 ms for 1 s: applied only once it goes quiet, once, with
    // its last content.
    let mut feeds = Vec::new();
    let mut early = None;
    for k in 0..10 {
        fs::write(w.src.join("busy.txt"), format!("version {k}\n")).unwrap();
        feeds.push(Instant::now());
        feed(&w.fifo, &["busy.txt"], &deadline, &d);
        let next = Instant::now() + Duration::from_millis(100);
        while Instant::now() < next {
            if early.is_none() && dest.join("busy.txt").exists() {
                early = Some(k);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let last = *feeds.last().unwrap();
    let mut visible = None;
    deadline.wait(
        "busy.txt once quiet",
        || d.logs(),
        || {
            // `same` first: the file may appear between two checks, and the one that sees it
            // must also record when.
            let done = same(&w.src, &dest, "busy.txt");
            if visible.is_none() && (done || dest.join("busy.txt").exists()) {
                visible = Some(last.elapsed());
            }
            done
        },
    );
    let visible = visible.expect("recorded by the check that saw the file");
    let longest_gap = feeds
        .windows(2)
        .map(|p| p[1] - p[0])
        .max()
        .unwrap_or_default();
    if longest_gap < NOT_BEFORE - Duration::from_millis(50) {
        assert_eq!(
            early,
            None,
            "busy.txt was applied while still changing\n{}",
            d.logs()
        );
        assert!(
            visible >= NOT_BEFORE,
            "busy.txt was applied {visible:?} after its last change (--settle={SETTLE:?})"
        );
        deadline.wait(
            "the -i line of busy.txt",
            || d.logs(),
            || itemized(&d, "busy.txt") >= 1,
        );
        assert_eq!(itemized(&d, "busy.txt"), 1, "{}", d.stdout());
    } else {
        // The test itself was descheduled for longer than the settle time: the name was
        // legitimately quiet in between.
        println!("the feed loop stalled for {longest_gap:?}: the quiet-time checks are skipped");
    }
    assert_eq!(fs::read(dest.join("busy.txt")).unwrap(), b"version 9\n");
    assert!(
        tree_diff(&w.src, &dest).is_none(),
        "{:?}",
        tree_diff(&w.src, &dest)
    );
    println!(
        "--settle=500ms: busy.txt applied {visible:?} after its last change; longest feed gap {longest_gap:?}"
    );
}

#[test]
fn hot_warn_logs_a_path_that_keeps_changing_once() {
    const HOT: &str = "hot path: hot.txt is still changing";
    let deadline = Deadline::after(BOUND);
    let w = world();
    let dest = w.dir.path().join("mirror");
    let mut args = base_args(&w);
    args.push(os("--hot-warn=300ms"));
    args.push(src_arg(&w));
    args.push(os(&dest));
    let d = Daemon::start(w.dir.path(), "1", &args);
    deadline.wait(
        "the bootstrap",
        || d.logs(),
        || tree_diff(&w.src, &dest).is_none(),
    );
    // A path changed once is not hot.
    fs::write(w.src.join("cold.txt"), b"cold\n").unwrap();
    feed(&w.fifo, &["cold.txt"], &deadline, &d);
    deadline.wait("cold.txt", || d.logs(), || same(&w.src, &dest, "cold.txt"));
    // A path changed every 50 ms for 1 s (more than three times --hot-warn).
    let started = Instant::now();
    for k in 0..20 {
        fs::write(w.src.join("hot.txt"), format!("hot version {k}\n")).unwrap();
        feed(&w.fifo, &["hot.txt"], &deadline, &d);
        std::thread::sleep(Duration::from_millis(50));
    }
    let burst = started.elapsed();
    deadline.wait(
        "the last version of hot.txt",
        || d.logs(),
        || same(&w.src, &dest, "hot.txt"),
    );
    // Every append (and its log line) happened before the last version was applied.
    let logs = d.logs();
    assert_eq!(
        logs.matches(HOT).count(),
        1,
        "logged once per burst\n{logs}"
    );
    assert!(!logs.contains("cold.txt is still changing"), "{logs}");
    assert_eq!(fs::read(dest.join("hot.txt")).unwrap(), b"hot version 19\n");
    println!("a burst of {burst:?} logged as hot once");
}

#[test]
fn stopping_the_daemon_ends_the_mirror_session_cleanly() {
    let deadline = Deadline::after(BOUND);
    let w = world();
    let dest = w.dir.path().join("mirror");
    let shell = RelayShell::write(w.dir.path(), "1", Path::new(RELAY), "");
    let args = relay_args(&w, &shell, &dest, &[]);
    let mut d = Daemon::start(w.dir.path(), "1", &args);
    deadline.wait(
        "the bootstrap",
        || d.logs(),
        || tree_diff(&w.src, &dest).is_none(),
    );
    fs::write(w.src.join("last.txt"), b"the last change\n").unwrap();
    feed(&w.fifo, &["last.txt"], &deadline, &d);
    deadline.wait("last.txt", || d.logs(), || same(&w.src, &dest, "last.txt"));
    let stopping = Instant::now();
    assert_eq!(d.sigterm(&deadline), Some(0), "{}", d.logs());
    let stopped = stopping.elapsed();
    deadline.wait(
        "the mirror's exit",
        || d.logs(),
        || shell.sessions().first().is_some_and(|s| s.exit.is_some()),
    );
    let sessions = shell.sessions();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(
        sessions[0].exit,
        Some(0),
        "the mirror's session did not end cleanly (BYE) when the daemon stopped\n{}",
        d.logs()
    );
    assert!(temp_files(&dest).is_empty(), "{:?}", temp_files(&dest));
    assert!(
        tree_diff(&w.src, &dest).is_none(),
        "{:?}",
        tree_diff(&w.src, &dest)
    );
    println!("the daemon stopped in {stopped:?}");
}
