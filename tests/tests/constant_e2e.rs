//! End-to-end tests of `rsync-constant --constant` (issue C) through the built binary: names
//! written to the FIFO reach the mirrors, bootstrap loses no concurrent change, the queue
//! survives `kill -9` of the daemon, a dead mirror does not delay a live one, a stock
//! rsync mirror is fed through the session loop (after refusing the streaming link), a
//! rename over the streaming link costs block copies only, and `kill -9` of a streaming
//! mirror mid-file is followed by a reconnect with no partial file under its final name.
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
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rsync_tests::interop_tool;
use rsync_tests::peers::{ours_binary, FakeShell};

/// The hard bound of one test.
const BOUND: Duration = Duration::from_secs(90);

/// A test's deadline.
struct Deadline(Instant);

impl Deadline {
    fn new() -> Self {
        Self(Instant::now() + BOUND)
    }

    /// Polls `cond` every millisecond until it holds; panics at the deadline.
    fn wait(&self, what: &str, d: &Daemon, mut cond: impl FnMut() -> bool) {
        while !cond() {
            assert!(
                Instant::now() < self.0,
                "timed out waiting for {what}\n{}",
                d.logs()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A running daemon (its own process group, killed on drop).
struct Daemon {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
}

impl Daemon {
    fn start(dir: &Path, tag: &str, args: &[&std::ffi::OsStr]) -> Self {
        let out = dir.join(format!("daemon-{tag}.out"));
        let err = dir.join(format!("daemon-{tag}.err"));
        let child = Command::new(ours_binary().unwrap_or_else(|e| panic!("{e}")))
            .args(args)
            .env("LC_ALL", "C")
            .env_remove("RSYNC_RSH")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap())
            .process_group(0)
            .spawn()
            .unwrap();
        Self {
            child: Some(child),
            out,
            err,
        }
    }

    fn logs(&self) -> String {
        format!(
            "--- daemon stdout ---\n{}\n--- daemon stderr ---\n{}",
            String::from_utf8_lossy(&fs::read(&self.out).unwrap_or_default()),
            String::from_utf8_lossy(&fs::read(&self.err).unwrap_or_default())
        )
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.out).unwrap_or_default()).into_owned()
    }

    /// `kill -9` of the daemon and everything it started.
    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = rustix::process::Pid::from_raw(c.id() as i32) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits (bounded) for a clean exit; returns its exit code.
    fn terminate(&mut self, deadline: &Deadline) -> Option<i32> {
        let mut c = self.child.take()?;
        let pid = rustix::process::Pid::from_raw(c.id() as i32)?;
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                return st.code();
            }
            if Instant::now() > deadline.0 {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Writes names (NUL-terminated) into the FIFO once the daemon reads it.
fn feed(fifo: &Path, names: &[&str], deadline: &Deadline, d: &Daemon) {
    let mut data = Vec::new();
    for n in names {
        data.extend_from_slice(n.as_bytes());
        data.push(0);
    }
    let mut f = None;
    deadline.wait("the daemon to open its FIFO", d, || {
        // Non-blocking: fails (ENXIO) until the daemon has the FIFO open for reading.
        f = fs::OpenOptions::new()
            .write(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(fifo)
            .ok();
        f.is_some()
    });
    let mut f = f.unwrap();
    // Small writes are atomic; the pipe is large enough for these tests.
    for chunk in data.chunks(4096) {
        loop {
            match f.write(chunk) {
                Ok(n) if n == chunk.len() => break,
                Ok(_) => panic!("short write to the FIFO"),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline.0, "FIFO full");
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

fn os(s: impl AsRef<std::ffi::OsStr>) -> std::ffi::OsString {
    s.as_ref().to_os_string()
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

fn args_ref(v: &[std::ffi::OsString]) -> Vec<&std::ffi::OsStr> {
    v.iter().map(std::ffi::OsString::as_os_str).collect()
}

#[test]
fn names_written_to_the_fifo_appear_on_the_mirror_byte_identical() {
    let deadline = Deadline::new();
    let w = world();
    let dest = w.dir.path().join("mirror");
    let mut args = base_args(&w);
    args.push(os("-i"));
    args.push(src_arg(&w));
    args.push(os(&dest));
    let mut d = Daemon::start(w.dir.path(), "1", &args_ref(&args));
    deadline.wait("the bootstrap", &d, || trees_equal(&w.src, &dest));

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
    deadline.wait("the changes", &d, || trees_equal(&w.src, &dest));
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
        deadline.wait("a latency probe", &d, || same(&w.src, &dest, &name));
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
    deadline.wait("itemized lines", &d, || {
        let out = d.stdout();
        out.contains("new.txt") && out.contains("lat9.txt")
    });
    // A rejected name is logged and does not stop the daemon.
    fs::write(w.src.join("after.txt"), b"after\n").unwrap();
    feed(&w.fifo, &["../escape", "after.txt"], &deadline, &d);
    deadline.wait("the name after a rejected one", &d, || {
        same(&w.src, &dest, "after.txt")
    });
    assert_eq!(d.terminate(&deadline), Some(0), "{}", d.logs());
    assert!(d.logs().contains("escape"), "{}", d.logs());
}

#[test]
fn a_listed_name_missing_at_the_source_is_deleted_on_the_mirror() {
    let deadline = Deadline::new();
    let w = world();
    let dest = w.dir.path().join("mirror");
    let mut args = base_args(&w);
    args.push(src_arg(&w));
    args.push(os(&dest));
    let mut d = Daemon::start(w.dir.path(), "1", &args_ref(&args));
    deadline.wait("the bootstrap", &d, || trees_equal(&w.src, &dest));
    fs::remove_file(w.src.join("sub/b.bin")).unwrap();
    fs::remove_file(w.src.join("a.txt")).unwrap();
    feed(&w.fifo, &["sub/b.bin", "a.txt"], &deadline, &d);
    deadline.wait("the deletions", &d, || {
        !dest.join("sub/b.bin").exists() && !dest.join("a.txt").exists()
    });
    assert!(dest.join("sub").is_dir());
    // A non-empty directory removed at the source goes with its content (`--force`).
    fs::write(w.src.join("sub/c.txt"), b"c\n").unwrap();
    feed(&w.fifo, &["sub/c.txt"], &deadline, &d);
    deadline.wait("sub/c.txt", &d, || same(&w.src, &dest, "sub/c.txt"));
    fs::remove_dir_all(w.src.join("sub")).unwrap();
    feed(&w.fifo, &["sub"], &deadline, &d);
    deadline.wait("the directory's deletion", &d, || {
        !dest.join("sub").exists()
    });
    assert!(trees_equal(&w.src, &dest));
    assert_eq!(d.terminate(&deadline), Some(0), "{}", d.logs());
}

#[test]
fn bootstrap_of_an_empty_mirror_with_concurrent_changes_loses_none() {
    let deadline = Deadline::new();
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
    let mut d = Daemon::start(w.dir.path(), "1", &args_ref(&args));
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
    deadline.wait("convergence", &d, || trees_equal(&w.src, &dest));
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
    let deadline = Deadline::new();
    let w = world();
    let dest = w.dir.path().join("mirror");
    let marker = w.dir.path().join("mirror-down");
    let ours = ours_binary().unwrap_or_else(|e| panic!("{e}"));
    let mut args = base_args(&w);
    args.push(os("-e"));
    args.push(flaky_rsh(w.dir.path(), &marker));
    let mut rp = os("--rsync-path=");
    rp.push(&ours);
    args.push(rp);
    args.push(src_arg(&w));
    let mut remote = os("mirrorhost:");
    remote.push(&dest);
    args.push(remote);
    let mut d = Daemon::start(w.dir.path(), "1", &args_ref(&args));
    deadline.wait("the bootstrap", &d, || trees_equal(&w.src, &dest));
    fs::write(w.src.join("first.txt"), b"first\n").unwrap();
    feed(&w.fifo, &["first.txt"], &deadline, &d);
    deadline.wait("the first name", &d, || same(&w.src, &dest, "first.txt"));

    // The mirror goes down (its streaming session is cut and it cannot be reached again);
    // names keep coming and are queued.
    fs::write(&marker, b"").unwrap();
    let dest_text = dest.to_string_lossy().into_owned();
    deadline.wait("the streaming mirror to be killed", &d, || {
        kill_processes_with(&["--constant=1", &dest_text]) == 0
    });
    let names: Vec<String> = (0..20).map(|i| format!("queued{i}.txt")).collect();
    for n in &names {
        fs::write(w.src.join(n), format!("{n}\n")).unwrap();
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    feed(&w.fifo, &refs, &deadline, &d);
    let mut status_fifo = os(&w.fifo);
    status_fifo.push(".status");
    deadline.wait("the names in the queue (status file)", &d, || {
        fs::read_to_string(&status_fifo).is_ok_and(|s| s.contains("accepted=21"))
    });
    d.kill9();
    assert!(names.iter().all(|n| !dest.join(n).exists()));

    // The mirror is back, the daemon restarts: the queued names are delivered from the
    // queue (no full sync: a file changed without being named stays unsent).
    fs::remove_file(&marker).unwrap();
    fs::write(w.src.join("unnamed.txt"), b"never listed\n").unwrap();
    let mut d = Daemon::start(w.dir.path(), "2", &args_ref(&args));
    deadline.wait("the queued names after restart", &d, || {
        names.iter().all(|n| same(&w.src, &dest, n))
    });
    assert!(!dest.join("unnamed.txt").exists(), "{}", d.logs());
    assert_eq!(d.terminate(&deadline), Some(0), "{}", d.logs());
}

#[test]
fn a_mirror_that_is_down_does_not_delay_the_first() {
    let deadline = Deadline::new();
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
    let mut d = Daemon::start(w.dir.path(), "1", &args_ref(&args));
    deadline.wait("the bootstrap of the live mirror", &d, || {
        trees_equal(&w.src, &dest)
    });
    for i in 0..5 {
        let name = format!("n{i}.txt");
        fs::write(w.src.join(&name), format!("{i}\n")).unwrap();
        let t = Instant::now();
        feed(&w.fifo, &[&name], &deadline, &d);
        deadline.wait("the live mirror", &d, || same(&w.src, &dest, &name));
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
    deadline.wait("--status to show the dead mirror's error", &d, || {
        let out = Command::new(ours_binary().unwrap())
            .arg("--status")
            .arg(&ff)
            .output()
            .unwrap();
        table = String::from_utf8_lossy(&out.stdout).into_owned();
        out.status.success() && table.contains("deadhost:/nowhere") && table.contains("code")
    });
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
    let deadline = Deadline::new();
    let w = world();
    let dest = w.dir.path().join("stock-mirror");
    let shell = FakeShell::write(w.dir.path(), None).unwrap();
    let mut args = base_args(&w);
    args.push(os("-e"));
    args.push(shell.rsh_option());
    let mut rp = os("--rsync-path=");
    rp.push(&stock);
    args.push(rp);
    args.push(src_arg(&w));
    let mut remote = os("stockhost:");
    remote.push(&dest);
    args.push(remote);
    let mut d = Daemon::start(w.dir.path(), "1", &args_ref(&args));
    deadline.wait("the bootstrap", &d, || trees_equal(&w.src, &dest));
    fs::write(w.src.join("to-stock.txt"), b"hello stock rsync\n").unwrap();
    fs::write(w.src.join("a.txt"), b"changed for stock\n").unwrap();
    feed(&w.fifo, &["to-stock.txt", "a.txt"], &deadline, &d);
    deadline.wait("the changes on the stock mirror", &d, || {
        trees_equal(&w.src, &dest)
    });
    // A deletion (needs --delete-missing-args, which stock rsync understands).
    fs::remove_file(w.src.join("to-stock.txt")).unwrap();
    feed(&w.fifo, &["to-stock.txt"], &deadline, &d);
    deadline.wait("the deletion on the stock mirror", &d, || {
        !dest.join("to-stock.txt").exists()
    });
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
    let deadline = Deadline::new();
    let w = world();
    let dest = w.dir.path().join("mirror");
    let mut args = base_args(&w);
    args.push(os("-v"));
    args.push(src_arg(&w));
    args.push(os(&dest));
    let d = Daemon::start(w.dir.path(), "1", &args_ref(&args));
    deadline.wait("the bootstrap", &d, || trees_equal(&w.src, &dest));
    fs::write(w.src.join("big.bin"), rsync_tests::pseudo_random(SIZE, 11)).unwrap();
    feed(&w.fifo, &["big.bin"], &deadline, &d);
    deadline.wait("the big file", &d, || same(&w.src, &dest, "big.bin"));
    assert!(
        literal_sent(&d.logs(), "big.bin").is_some_and(|l| l as usize == SIZE),
        "the first copy is all literal\n{}",
        d.logs()
    );
    fs::rename(w.src.join("big.bin"), w.src.join("moved.bin")).unwrap();
    // Both names in one batch: the old name's deletion is deferred to the batch's end and
    // serves as the new name's basis.
    feed(&w.fifo, &["big.bin", "moved.bin"], &deadline, &d);
    deadline.wait("the rename on the mirror", &d, || {
        same(&w.src, &dest, "moved.bin") && !dest.join("big.bin").exists()
    });
    let mut literal = None;
    deadline.wait("the -v line of the renamed file", &d, || {
        literal = literal_sent(&d.logs(), "moved.bin");
        literal.is_some()
    });
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
    let deadline = Deadline::new();
    let w = world();
    let dest = w.dir.path().join("mirror");
    let mut args = base_args(&w);
    args.push(src_arg(&w));
    args.push(os(&dest));
    let d = Daemon::start(w.dir.path(), "1", &args_ref(&args));
    deadline.wait("the bootstrap", &d, || trees_equal(&w.src, &dest));
    let mut first = Vec::new();
    deadline.wait("the streaming mirror process", &d, || {
        first = stream_mirrors(d.pid());
        first.len() == 1
    });
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
    // Kill the mirror as soon as its temporary file shows (or, on a fast machine, at once).
    let before: Vec<String> = files(&dest);
    let t = Instant::now();
    while files(&dest) == before && t.elapsed() < Duration::from_secs(5) {
        final_ok(&dest);
        std::thread::sleep(Duration::from_micros(200));
    }
    let victim = rustix::process::Pid::from_raw(first[0] as i32).unwrap();
    rustix::process::kill_process(victim, rustix::process::Signal::KILL)
        .expect("the mirror was alive when killed");
    deadline.wait("a new streaming mirror", &d, || {
        let now = stream_mirrors(d.pid());
        now.len() == 1 && now != first
    });
    deadline.wait("convergence after the reconnect", &d, || {
        final_ok(&dest);
        same(&w.src, &dest, "big.bin")
    });
    // The new session carries later changes too.
    fs::write(w.src.join("after.txt"), b"after the reconnect\n").unwrap();
    feed(&w.fifo, &["after.txt"], &deadline, &d);
    deadline.wait("a change after the reconnect", &d, || {
        same(&w.src, &dest, "after.txt")
    });
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
