//! Race tests (issue D, the CVE-2024-12747 / CVE-2026-29518 family): while our receiver
//! writes many files into `dest/d`, a thread keeps exchanging `dest/d` with a symlink that
//! points at a sentinel directory outside the destination (`renameat2(RENAME_EXCHANGE)`, so
//! at every instant one of the two names is the symlink). A receiver that resolves paths by
//! name would sooner or later write through the symlink; ours anchors every call to a
//! directory handle (`openat2(RESOLVE_BENEATH)`), so the sentinel must stay identical.
//!
//! Covered: a push (our server receiving), a pull (our client receiving), and the constant
//! mode's streaming mirror (bootstrap and a batch of changes). The assertion is about safety
//! only (the sentinel, no panic, no signal, an rsync exit code), never about timing, so a
//! loaded machine makes a case weaker, not flaky. Each case has a hard deadline.
//!
//! Needs the binary: `cargo build --release -p rsync-constant --bin rsync-constant`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure is a test failure

use std::ffi::OsString;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rsync_tests::hostile::{Proc, Sentinel};
use rsync_tests::peers::{ours_binary, FakeShell};

/// The hard bound of one case.
const BOUND: Duration = Duration::from_secs(120);

/// Files in `src/d`.
const FILES: usize = 400;

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    src: PathBuf,
    dest: PathBuf,
    outside: Sentinel,
    deadline: Instant,
}

fn world() -> World {
    let tmp = tempfile::Builder::new().prefix("races").tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let src = root.join("src");
    fs::create_dir_all(src.join("d")).unwrap();
    for i in 0..FILES {
        fs::write(
            src.join(format!("d/f{i:04}")),
            rsync_tests::pseudo_random(2048, i as u64 + 1),
        )
        .unwrap();
    }
    let dest = root.join("dest");
    let outside = Sentinel::new(&root.join("outside")).unwrap();
    World {
        _tmp: tmp,
        root,
        src,
        dest,
        outside,
        deadline: Instant::now() + BOUND,
    }
}

/// Prepares `dest/d` (a directory) and `dest/evil` (a symlink to the sentinel).
fn arm(w: &World) {
    let _ = fs::remove_dir_all(&w.dest);
    fs::create_dir_all(w.dest.join("d")).unwrap();
    std::os::unix::fs::symlink(&w.outside.path, w.dest.join("evil")).unwrap();
}

/// Exchanges `dest/d` and `dest/evil` until stopped; returns the number of exchanges.
struct Swapper {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Swapper {
    fn start(dest: &Path) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let (a, b) = (dest.join("d"), dest.join("evil"));
        let (s, c) = (Arc::clone(&stop), Arc::clone(&count));
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                if rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &a,
                    rustix::fs::CWD,
                    &b,
                    rustix::fs::RenameFlags::EXCHANGE,
                )
                .is_ok()
                {
                    c.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        Self {
            stop,
            count,
            handle: Some(handle),
        }
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn os(s: impl AsRef<std::ffi::OsStr>) -> OsString {
    s.as_ref().to_os_string()
}

/// Runs our binary with `args` under the deadline while the swapper runs.
fn run_swapping(w: &World, args: &[OsString]) -> (rsync_tests::hostile::Outcome, u64) {
    arm(w);
    let swapper = Swapper::start(&w.dest);
    let p = Proc::spawn(&ours_binary().unwrap(), args, &w.root, false, w.deadline).unwrap();
    let o = p.finish();
    (o, swapper.stop())
}

fn check(w: &World, o: &rsync_tests::hostile::Outcome, what: &str) {
    assert!(!o.stderr.contains("panicked"), "{what}: panic: {o:#?}");
    let changed = w.outside.changes();
    assert!(
        changed.is_empty(),
        "{what}: written outside: {changed:?}; {o:#?}"
    );
    match o.code {
        Ok(0 | 23 | 24) => {}
        _ => panic!("{what}: unexpected end: {o:#?}"),
    }
}

fn remote(host_path: &Path) -> OsString {
    let mut s = os("racehost:");
    s.push(host_path);
    s
}

#[test]
fn a_directory_swapped_for_a_symlink_during_a_push_or_pull_never_leads_outside() {
    let w = world();
    let shell_dir = w.root.join("shell");
    fs::create_dir(&shell_dir).unwrap();
    let shell = FakeShell::write(&shell_dir, None).unwrap();
    let ours = ours_binary().unwrap();
    let mut rp = os("--rsync-path=");
    rp.push(&ours);
    let mut src = os(&w.src);
    src.push("/");
    let mut swaps = 0;
    let mut codes = Vec::new();
    for round in 0..3 {
        for push in [true, false] {
            let mut args = vec![os("-rt"), os("-e"), shell.rsh_option(), rp.clone()];
            if push {
                args.push(src.clone());
                args.push(remote(&w.dest));
            } else {
                args.push(remote(&w.src.join("")));
                args.push(os(&w.dest));
            }
            let (o, n) = run_swapping(&w, &args);
            swaps += n;
            check(&w, &o, &format!("round {round}, push {push}"));
            // The receiver did write beneath the swapped names meanwhile (the race was run).
            let landed = real_files(&w.dest);
            assert!(
                landed > 0,
                "round {round}, push {push}: nothing written: {o:#?}"
            );
            codes.push((o.code.clone(), landed));
        }
    }
    println!(
        "ordinary transfers: {swaps} exchanges of dest/d with a symlink, nothing outside; \
         (exit code, files landed) per run: {codes:?}"
    );
    assert!(swaps > 0);
}

#[test]
fn a_directory_swapped_for_a_symlink_under_the_constant_mirror_never_leads_outside() {
    let w = world();
    arm(&w);
    let fifo = w.root.join("changes.fifo");
    let mut ff = os("--files-from=");
    ff.push(&fifo);
    let mut src = os(&w.src);
    src.push("/");
    let args = vec![
        os("-rt"),
        os("--constant"),
        ff,
        os("--from0"),
        src,
        os(&w.dest),
    ];
    let swapper = Swapper::start(&w.dest);
    let daemon = Proc::spawn(&ours_binary().unwrap(), &args, &w.root, false, w.deadline).unwrap();
    // The bootstrap writes every file of d; wait until one of the two names holds them all
    // as a real directory (or the time a loaded machine needs).
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until && real_files(&w.dest) < FILES {
        std::thread::sleep(Duration::from_millis(20));
    }
    // A batch of changes while still swapping: rewrite every file and feed the names.
    for i in 0..FILES {
        fs::write(
            w.src.join(format!("d/f{i:04}")),
            rsync_tests::pseudo_random(3000, i as u64 + 1000),
        )
        .unwrap();
    }
    let deadline = w.deadline;
    let fifo_writer = std::thread::spawn(move || {
        // The daemon creates the FIFO; open it once it exists.
        while Instant::now() < deadline {
            if let Ok(mut f) = fs::OpenOptions::new().write(true).open(&fifo) {
                let mut names = Vec::new();
                for i in 0..FILES {
                    names.extend_from_slice(format!("d/f{i:04}\0").as_bytes());
                }
                let _ = f.write_all(&names);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    });
    assert!(fifo_writer.join().unwrap(), "the FIFO never opened");
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until && real_size(&w.dest) < FILES * 3000 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let swaps = swapper.stop();
    let landed = real_size(&w.dest);
    // Stop the daemon (SIGTERM: exit 20 or 0) and check.
    if let Some(pid) = rustix::process::Pid::from_raw(daemon.pid() as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let o = daemon.finish();
    assert!(!o.stderr.contains("panicked"), "panic: {o:#?}");
    let changed = w.outside.changes();
    assert!(changed.is_empty(), "written outside: {changed:?}; {o:#?}");
    assert!(matches!(o.code, Ok(0 | 20 | 23 | 24)), "{o:#?}");
    println!(
        "constant mirror: {swaps} exchanges of dest/d with a symlink during bootstrap and a \
         batch of {FILES} changes, nothing outside; {landed} bytes landed, exit {:?}",
        o.code
    );
    assert!(landed > 0, "nothing written: {o:#?}");
    assert!(swaps > 0);
}

/// Files in whichever of `dest/d`, `dest/evil` is a real directory.
fn real_files(dest: &Path) -> usize {
    real_dirs(dest)
        .iter()
        .map(|d| fs::read_dir(d).map(Iterator::count).unwrap_or(0))
        .sum()
}

/// Bytes of regular files there.
fn real_size(dest: &Path) -> usize {
    real_dirs(dest)
        .iter()
        .flat_map(|d| fs::read_dir(d).into_iter().flatten().flatten())
        .filter_map(|e| e.metadata().ok())
        .filter(fs::Metadata::is_file)
        .map(|m| m.len() as usize)
        .sum()
}

fn real_dirs(dest: &Path) -> Vec<PathBuf> {
    ["d", "evil"]
        .iter()
        .map(|n| dest.join(n))
        .filter(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
        .collect()
}
