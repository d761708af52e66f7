//! A constant master and mirror (rsync_proto's sans-IO roles) connected in memory, each
//! served by the real executors on temporary directories: [`SenderFs::for_constant`] on the
//! source, [`ReceiverFs::for_constant`] on the mirror. A synchronous loop passes record bytes
//! both ways and executes requests in order, as a driver does; hooks run before chosen
//! requests to change the file system at the worst moment (a file vanishing between its
//! `Stat` and its read, a directory appearing where a file is about to be renamed).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rsync_core::checksum::StrongSum;
use rsync_proto::constant::{ConstantConfig, Master, MasterEvent, Mirror, MirrorEvent};
use rsync_proto::driver::Executor;
use rsync_proto::flist::WirePath;
use rsync_proto::session::{FsRequest, SessionOptions};

use super::{Failures, ReceiverFs, ReceiverOptions, SenderFs, SenderOptions};

type Hook = Box<dyn FnMut(&FsRequest)>;

fn am_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `-a` (`-rlptgoD`, `-H`, numeric ids) at protocol 31.
pub(super) fn session_options() -> SessionOptions {
    let mut o = SessionOptions::plain(31, 0x2468_ace0, false);
    o.flist = o.flist.archive();
    o.flist.numeric_ids = true;
    o.flist.preserve_hard_links = true;
    o.recursive = true;
    o.preserve_perms = true;
    o.preserve_times = true;
    o.am_root = am_root();
    o
}

pub(super) fn wp(s: &str) -> WirePath {
    WirePath::new(s.as_bytes().to_vec()).expect("path")
}

/// Master and mirror with their executors.
struct Pair {
    master: Master,
    mirror: Mirror,
    src: SenderFs,
    dst: ReceiverFs,
    src_dir: PathBuf,
    dst_dir: PathBuf,
    /// Runs before each request of the master / of the mirror.
    src_hook: Option<Hook>,
    dst_hook: Option<Hook>,
    acked: HashMap<u64, (u32, Vec<u8>)>,
    sent: Vec<(WirePath, u64, u64)>,
    mirror_events: Vec<MirrorEvent>,
    _tmp: tempfile::TempDir,
}

impl Pair {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let src_dir = tmp.path().join("src");
        let dst_dir = tmp.path().join("dst");
        std::fs::create_dir(&src_dir).expect("src");
        let opts = session_options();
        let mut mopts = opts.clone();
        mopts.server = true;
        let cfg = ConstantConfig::default();
        let sopts = SenderOptions {
            recursive: true,
            links: true,
            devices: true,
            specials: true,
            hard_links: true,
            relative: true,
            protocol: 31,
            ..SenderOptions::default()
        };
        let ropts = ReceiverOptions {
            perms: true,
            times: true,
            owner: true,
            group: true,
            numeric_ids: true,
            am_root: am_root(),
            umask: 0o022,
            ..ReceiverOptions::default()
        };
        let src = SenderFs::for_constant(src_dir.clone(), sopts, Failures::new()).expect("src");
        let strong: StrongSum = opts.strong;
        let dst = ReceiverFs::for_constant(
            dst_dir.clone(),
            strong,
            ropts,
            Failures::new(),
            cfg.max_open_files,
        )
        .expect("dst");
        Self {
            master: Master::new(opts, cfg).expect("master"),
            mirror: Mirror::new(mopts, cfg).expect("mirror"),
            src,
            dst,
            src_dir,
            dst_dir,
            src_hook: None,
            dst_hook: None,
            acked: HashMap::new(),
            sent: Vec::new(),
            mirror_events: Vec::new(),
            _tmp: tmp,
        }
    }

    fn src(&self, p: &str) -> PathBuf {
        self.src_dir.join(p)
    }

    fn dst(&self, p: &str) -> PathBuf {
        self.dst_dir.join(p)
    }

    /// One round: bytes both ways, requests of both sides, events.
    fn step(&mut self) -> Result<bool, String> {
        let mut any = false;
        let mut out = Vec::new();
        if self.master.poll_output(&mut out) && !out.is_empty() {
            self.mirror.handle_data(&out).map_err(|e| e.to_string())?;
            any = true;
        }
        out.clear();
        if self.mirror.poll_output(&mut out) && !out.is_empty() {
            self.master.handle_data(&out).map_err(|e| e.to_string())?;
            any = true;
        }
        while let Some(r) = self.master.poll_request() {
            any = true;
            if let Some(h) = &mut self.src_hook {
                h(&r);
            }
            let mut answers = Vec::new();
            self.src
                .execute(r, &mut |a| answers.push(a))
                .map_err(|e| format!("source executor: {e}"))?;
            for a in answers {
                self.master.handle_answer(a).map_err(|e| e.to_string())?;
            }
        }
        while let Some(r) = self.mirror.poll_request() {
            any = true;
            if let Some(h) = &mut self.dst_hook {
                h(&r);
            }
            let mut answers = Vec::new();
            self.dst
                .execute(r, &mut |a| answers.push(a))
                .map_err(|e| format!("mirror executor: {e}"))?;
            for a in answers {
                self.mirror.handle_answer(a).map_err(|e| e.to_string())?;
            }
        }
        while let Some(e) = self.master.poll_event() {
            any = true;
            match e {
                MasterEvent::Acked {
                    id,
                    status,
                    message,
                } => {
                    self.acked.insert(id.0, (status, message));
                }
                MasterEvent::Sent {
                    path,
                    literal,
                    matched,
                } => self.sent.push((path, literal, matched)),
                _ => {}
            }
        }
        while let Some(e) = self.mirror.poll_event() {
            any = true;
            self.mirror_events.push(e);
        }
        Ok(any)
    }

    /// Runs until nothing moves.
    fn run(&mut self) -> Result<(), String> {
        for _ in 0..1_000_000 {
            if !self.step()? {
                return Ok(());
            }
        }
        panic!("livelock");
    }

    /// Submits the names as one batch, runs until quiet; the acknowledgement of each
    /// (status, message), which must have come.
    fn batch(&mut self, names: &[&str]) -> Vec<(u32, String)> {
        let ids: Vec<u64> = names
            .iter()
            .map(|n| self.master.submit(wp(n)).expect("submit").0)
            .collect();
        self.master.end_batch().expect("batch");
        self.run().expect("session");
        ids.iter()
            .map(|id| {
                let (s, m) = self.acked.get(id).cloned().expect("acknowledged");
                (s, String::from_utf8_lossy(&m).into_owned())
            })
            .collect()
    }

    /// Makes the mirror identical (`submit_tree(".")`).
    fn bootstrap(&mut self) {
        let id = self.master.submit_tree(WirePath::dot()).expect("tree").0;
        self.master.end_batch().expect("batch");
        self.run().expect("session");
        assert_eq!(self.acked.get(&id).map(|a| a.0), Some(0), "bootstrap acked");
    }

    /// Literal and matched bytes sent since `from` (an index into `sent`).
    fn sent_since(&self, from: usize) -> (u64, u64) {
        self.sent
            .get(from..)
            .unwrap_or_default()
            .iter()
            .fold((0, 0), |(l, m), (_, a, b)| (l + a, m + b))
    }
}

/// Everything the mirror must reproduce: kind, permissions, mtime to the nanosecond,
/// content or link target, and the hard-link groups.
type Tree = (
    BTreeMap<Vec<u8>, (char, u32, i64, i64, Vec<u8>)>,
    BTreeSet<Vec<Vec<u8>>>,
);

fn snapshot(root: &Path) -> Tree {
    let mut map = BTreeMap::new();
    let mut inodes: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let full = root.join(&rel);
        let m = std::fs::symlink_metadata(&full).expect("lstat");
        let ft = m.file_type();
        let key = if rel.as_os_str().is_empty() {
            b".".to_vec()
        } else {
            rel.as_os_str().as_bytes().to_vec()
        };
        let (kind, data) = if ft.is_dir() {
            for e in std::fs::read_dir(&full).expect("readdir") {
                stack.push(rel.join(e.expect("entry").file_name()));
            }
            ('d', Vec::new())
        } else if ft.is_symlink() {
            let t = std::fs::read_link(&full).expect("readlink");
            ('l', t.as_os_str().as_bytes().to_vec())
        } else {
            if m.nlink() > 1 {
                inodes.entry(m.ino()).or_default().push(key.clone());
            }
            ('f', std::fs::read(&full).expect("read"))
        };
        let mode = if kind == 'l' { 0 } else { m.mode() & 0o7777 };
        map.insert(key, (kind, mode, m.mtime(), m.mtime_nsec(), data));
    }
    let groups = inodes
        .into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    (map, groups)
}

fn assert_same(src: &Path, dst: &Path) {
    let (a, b) = (snapshot(src), snapshot(dst));
    if a == b {
        return;
    }
    let keys: BTreeSet<&Vec<u8>> = a.0.keys().chain(b.0.keys()).collect();
    let mut diff = Vec::new();
    for k in keys {
        let (x, y) = (a.0.get(k), b.0.get(k));
        if x != y {
            let show = |v: Option<&(char, u32, i64, i64, Vec<u8>)>| {
                v.map(|(k, m, s, n, d)| format!("{k} {m:o} {s}.{n:09} [{}]", d.len()))
            };
            diff.push(format!(
                "{}: source {:?}, mirror {:?}",
                String::from_utf8_lossy(k),
                show(x),
                show(y)
            ));
        }
    }
    if a.1 != b.1 {
        diff.push(format!("links: source {:?}, mirror {:?}", a.1, b.1));
    }
    panic!("mirror differs:\n{}", diff.join("\n"));
}

fn set_mtime(p: &Path, sec: i64, nsec: u32) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(sec as u64, nsec);
    let f = std::fs::File::options().write(true).open(p).expect("open");
    f.set_modified(t).expect("mtime");
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Temporary names left in a directory tree (`.NAME.XXXXXX`).
fn temporaries(root: &Path) -> Vec<Vec<u8>> {
    snapshot(root)
        .0
        .into_keys()
        .filter(|k| {
            let name = k.rsplit(|&b| b == b'/').next().unwrap_or(k);
            name.starts_with(b".") && name != b"."
        })
        .collect()
}

/// A source tree with files, a nested directory, a symlink, a hard link, odd modes and
/// nanosecond times.
fn populate(p: &Pair) {
    std::fs::create_dir_all(p.src("a/b/c")).unwrap();
    std::fs::create_dir(p.src("empty")).unwrap();
    std::fs::write(p.src("top.txt"), b"top").unwrap();
    std::fs::write(p.src("a/one"), rsync_tests::pseudo_random(10_000, 1)).unwrap();
    std::fs::write(p.src("a/b/two"), rsync_tests::pseudo_random(70_000, 2)).unwrap();
    std::fs::write(p.src("a/b/c/zero"), b"").unwrap();
    std::fs::write(p.src("big"), rsync_tests::pseudo_random(1 << 20, 3)).unwrap();
    std::os::unix::fs::symlink("a/one", p.src("link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", p.src("a/dangling")).unwrap();
    std::fs::hard_link(p.src("a/one"), p.src("a/b/one-again")).unwrap();
    chmod(&p.src("top.txt"), 0o640);
    chmod(&p.src("a/b"), 0o750);
    set_mtime(&p.src("top.txt"), 1_600_000_000, 123_456_789);
    set_mtime(&p.src("big"), 1_500_000_000, 999_999_999);
}

#[test]
fn bootstrap_then_changes_converge() {
    let mut p = Pair::new();
    populate(&p);
    p.bootstrap();
    assert_same(&p.src_dir, &p.dst_dir);

    // New files, in a new directory too.
    std::fs::create_dir(p.src("new")).unwrap();
    std::fs::write(p.src("new/f"), b"fresh").unwrap();
    std::fs::write(p.src("a/added"), b"added").unwrap();
    let acks = p.batch(&["new", "new/f", "a/added"]);
    assert!(acks.iter().all(|a| a.0 == 0), "{acks:?}");
    assert_same(&p.src_dir, &p.dst_dir);

    // A symlink changes target, a new one appears; mode and nanosecond mtime of a file.
    std::fs::remove_file(p.src("link")).unwrap();
    std::os::unix::fs::symlink("top.txt", p.src("link")).unwrap();
    std::os::unix::fs::symlink("a", p.src("link2")).unwrap();
    chmod(&p.src("a/one"), 0o604);
    set_mtime(&p.src("a/one"), 1_234_567_890, 42);
    let acks = p.batch(&["link", "link2", "a/one", "a/b/one-again"]);
    assert!(acks.iter().all(|a| a.0 == 0), "{acks:?}");
    assert_same(&p.src_dir, &p.dst_dir);
    let m = std::fs::metadata(p.dst("a/one")).unwrap();
    assert_eq!(
        (m.mode() & 0o7777, m.mtime(), m.mtime_nsec()),
        (0o604, 1_234_567_890, 42)
    );
    assert!(temporaries(&p.dst_dir).is_empty());
}

#[test]
fn modified_file_goes_as_a_delta() {
    let mut p = Pair::new();
    populate(&p);
    p.bootstrap();
    let mut data = std::fs::read(p.src("big")).unwrap();
    for b in data.iter_mut().skip(500_000).take(100) {
        *b ^= 0x5a;
    }
    std::fs::write(p.src("big"), &data).unwrap();
    set_mtime(&p.src("big"), 1_700_000_000, 5);
    let from = p.sent.len();
    let acks = p.batch(&["big"]);
    assert_eq!(acks[0].0, 0, "{acks:?}");
    let (literal, matched) = p.sent_since(from);
    assert!(literal < 20_000, "literal {literal}");
    assert!(matched > 1_000_000, "matched {matched}");
    assert_eq!(std::fs::read(p.dst("big")).unwrap(), data);
    assert_same(&p.src_dir, &p.dst_dir);
}

#[test]
fn rename_of_a_large_file_copies_blocks_only() {
    let mut p = Pair::new();
    populate(&p);
    p.bootstrap();
    std::fs::rename(p.src("big"), p.src("a/big-renamed")).unwrap();
    let from = p.sent.len();
    let acks = p.batch(&["big", "a/big-renamed"]);
    assert!(acks.iter().all(|a| a.0 == 0), "{acks:?}");
    let (literal, matched) = p.sent_since(from);
    assert!(literal < 4096, "literal {literal}");
    assert_eq!(matched, 1 << 20);
    assert!(!p.dst("big").exists(), "old name gone");
    assert_same(&p.src_dir, &p.dst_dir);
}

#[test]
fn deletions_of_a_file_and_a_non_empty_directory() {
    let mut p = Pair::new();
    populate(&p);
    // A symlink on the mirror pointing out of it must not be followed by the removal.
    let outside = p._tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("precious"), b"keep").unwrap();
    p.bootstrap();
    std::os::unix::fs::symlink(&outside, p.dst("a/b/c/escape")).unwrap();
    std::fs::remove_file(p.src("top.txt")).unwrap();
    std::fs::remove_dir_all(p.src("a/b")).unwrap();
    let acks = p.batch(&["top.txt", "a/b"]);
    assert!(acks.iter().all(|a| a.0 == 0), "{acks:?}");
    assert!(!p.dst("top.txt").exists());
    assert!(!p.dst("a/b").exists());
    assert_eq!(std::fs::read(outside.join("precious")).unwrap(), b"keep");
    assert_same(&p.src_dir, &p.dst_dir);
}

/// The mirror's entries beneath `dir/` (hard-link groups left out).
fn beneath(t: &Tree, dir: &[u8]) -> Tree {
    let map =
        t.0.iter()
            .filter(|(k, _)| k.starts_with(dir) && k.get(dir.len()) == Some(&b'/'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
    (map, BTreeSet::new())
}

#[test]
fn unreadable_source_directory_deletes_nothing() {
    let mut p = Pair::new();
    populate(&p);
    p.bootstrap();
    // The source changes inside `a` and outside it; then `a` cannot be read.
    std::fs::remove_file(p.src("a/one")).unwrap();
    std::fs::write(p.src("a/b/new"), b"not readable yet").unwrap();
    std::fs::write(p.src("top.txt"), b"top, changed").unwrap();
    std::fs::write(p.src("fresh"), b"fresh").unwrap();
    let before = snapshot(&p.dst_dir);
    if am_root() {
        p.src.set_unreadable(Some(&b"a"[..]));
    } else {
        chmod(&p.src("a"), 0o000);
    }
    let id = p.master.submit_tree(WirePath::dot()).unwrap().0;
    let batch = p.master.end_batch().unwrap().0;
    let r = p.run();
    if !am_root() {
        chmod(&p.src("a"), 0o755);
        // The mirror copied `a`'s mode (its own `lstat` worked): let the test look inside.
        chmod(&p.dst("a"), 0o755);
    }
    r.expect("the session goes on");
    // The walk's change is acknowledged with 23 and what failed; the batch is fine.
    let (status, message) = p.acked.get(&id).cloned().expect("acknowledged");
    assert_eq!(status, 23);
    let message = String::from_utf8_lossy(&message).into_owned();
    assert!(message.contains("opendir \"a\""), "{message}");
    assert_eq!(p.acked.get(&batch).map(|a| a.0), Some(0));
    // Nothing beneath `a` changed on the mirror; the rest was synchronised.
    let after = snapshot(&p.dst_dir);
    assert_eq!(beneath(&after, b"a"), beneath(&before, b"a"));
    assert!(!beneath(&before, b"a").0.is_empty());
    assert_eq!(std::fs::read(p.dst("top.txt")).unwrap(), b"top, changed");
    assert_eq!(std::fs::read(p.dst("fresh")).unwrap(), b"fresh");
    // Readable again, the next walk converges.
    p.src.set_unreadable(None);
    p.bootstrap();
    assert_same(&p.src_dir, &p.dst_dir);
}

#[test]
fn unreadable_source_path_of_a_change_is_acked_23() {
    let mut p = Pair::new();
    populate(&p);
    p.bootstrap();
    std::fs::write(p.src("a/one"), b"changed but unreadable").unwrap();
    std::fs::write(p.src("top.txt"), b"top, changed").unwrap();
    let before = snapshot(&p.dst_dir);
    if am_root() {
        p.src.set_unstatable(Some(&b"a/one"[..]));
    } else {
        // Without search permission on `a`, `lstat("a/one")` fails with EACCES.
        chmod(&p.src("a"), 0o600);
    }
    let ids: Vec<u64> = ["a/one", "top.txt"]
        .iter()
        .map(|n| p.master.submit(wp(n)).unwrap().0)
        .collect();
    p.master.end_batch().unwrap();
    let r = p.run();
    if !am_root() {
        chmod(&p.src("a"), 0o755);
        // The mirror copied `a`'s mode (its own `lstat` worked): let the test look inside.
        chmod(&p.dst("a"), 0o755);
    }
    r.expect("the session goes on");
    let (status, message) = p.acked.get(&ids[0]).cloned().expect("acknowledged");
    assert_eq!(status, 23);
    let message = String::from_utf8_lossy(&message).into_owned();
    assert!(message.contains("a/one"), "{message}");
    assert_eq!(p.acked.get(&ids[1]).map(|a| a.0), Some(0));
    // The mirror's copy stays as it was (neither deleted nor changed).
    let after = snapshot(&p.dst_dir);
    assert_eq!(after.0.get(&b"a/one"[..]), before.0.get(&b"a/one"[..]));
    assert!(after.0.contains_key(&b"a/one"[..]));
    assert_eq!(std::fs::read(p.dst("top.txt")).unwrap(), b"top, changed");
    p.src.set_unstatable(None);
    // `a/b/one-again` is the same inode: it changed too.
    let acks = p.batch(&["a/one", "a/b/one-again"]);
    assert!(acks.iter().all(|a| a.0 == 0), "{acks:?}");
    assert_same(&p.src_dir, &p.dst_dir);
}

#[test]
fn file_vanishing_between_stat_and_read_is_aborted() {
    let mut p = Pair::new();
    populate(&p);
    p.bootstrap();
    std::fs::write(p.src("fleeting"), rsync_tests::pseudo_random(50_000, 9)).unwrap();
    let victim = p.src("fleeting");
    p.src_hook = Some(Box::new(move |r| {
        if let FsRequest::ReadFile { path, .. } = r {
            if path.as_bytes() == b"fleeting" {
                let _ = std::fs::remove_file(&victim);
            }
        }
    }));
    let acks = p.batch(&["fleeting"]);
    assert_eq!(acks[0].0, 24, "{acks:?}");
    assert!(!p.dst("fleeting").exists());
    assert!(temporaries(&p.dst_dir).is_empty(), "temporary left");
    // The next change of the name (now gone) converges.
    p.src_hook = None;
    let acks = p.batch(&["fleeting"]);
    assert_eq!(acks[0].0, 0);
    assert_same(&p.src_dir, &p.dst_dir);
}

#[test]
fn settle_reports_a_failed_commit() {
    let mut p = Pair::new();
    populate(&p);
    p.bootstrap();
    std::fs::write(p.src("blocked"), b"cannot land").unwrap();
    std::fs::write(p.src("fine"), b"lands").unwrap();
    let dst = p.dst_dir.clone();
    // Just before the commit, a third party puts a non-empty directory at the name: the
    // rename fails on the writing thread, and only `Settle` can tell.
    p.dst_hook = Some(Box::new(move |r| {
        if let FsRequest::Commit { entry, .. } = r {
            if entry.name.as_bytes() == b"blocked" {
                std::fs::create_dir_all(dst.join("blocked/inside")).unwrap();
            }
        }
    }));
    let acks = p.batch(&["blocked", "fine"]);
    assert_eq!(acks[0].0, 23, "{acks:?}");
    assert!(!acks[0].1.is_empty(), "the failure is described");
    assert_eq!(acks[1].0, 0, "{acks:?}");
    assert_eq!(std::fs::read(p.dst("fine")).unwrap(), b"lands");
    // Nothing is left over: failures were taken by Settle, no file is open.
    assert_eq!(p.dst.constant_state(), (0, 0));
}

#[test]
fn unprivileged_write_failure_is_settled() {
    if am_root() {
        eprintln!("SKIP: permissions do not stop root (see settle_reports_a_failed_commit)");
        return;
    }
    let mut p = Pair::new();
    populate(&p);
    p.bootstrap();
    std::fs::write(p.src("a/ro-new"), b"x").unwrap();
    chmod(&p.dst("a"), 0o555);
    let acks = p.batch(&["a/ro-new"]);
    chmod(&p.dst("a"), 0o755);
    assert_eq!(acks[0].0, 23, "{acks:?}");
}
