//! Operation sequences on the roles of the constant extension (RFC.md §15): our `Master` and
//! our `Mirror` connected in memory, each served by an in-memory file system, with the fuzzer
//! choosing every step: submissions (names, subtrees, batch ends, close), source changes,
//! which records are delivered and in what pieces, which request is answered and whether
//! the answer is spoiled (unreadable path, vanished file, short read or copy, failed settle),
//! corrupted, injected or dropped bytes, keepalives, an early end of file, stray answers.
//!
//! Input: byte 0 the window and the settle batch, byte 1 the record and frame sizes, byte 2
//! and 3 the lengths of the source and destination tree specs (bit 6 of byte 3 turns
//! `walk_named_dirs` off), the specs, the operations.
//!
//! Checked: never a panic; a failed call leaves the role done; `Done` comes once, last; the
//! master never has more ids in flight than its window, the mirror never more changes than
//! its own; when nothing was spoiled, a last walk of the whole tree, a batch end and a close
//! end the session with exit code 0 on both sides and a mirror identical to the source.
#![no_main]

#[path = "common/fs.rs"]
mod fs;
#[path = "common/link.rs"]
mod link;

use std::collections::VecDeque;

use fs::{stray_answer, FakeFs};
use libfuzzer_sys::fuzz_target;

/// `FUZZ_DEBUG=1` prints every request and event (to study a crash).
fn debug() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FUZZ_DEBUG").is_some())
}
use rsync_proto::constant::{
    ConstantConfig, ConstantError, ConstantRole, Master, MasterEvent, Mirror, MirrorEvent,
    MIN_WINDOW,
};
use rsync_proto::flist::WirePath;
use rsync_proto::session::{FsAnswer, FsRequest, SessionOptions};

/// The exit code of a `Done` event of either role.
trait DoneEvent {
    fn exit(&self) -> Option<i32>;
}
impl DoneEvent for MasterEvent {
    fn exit(&self) -> Option<i32> {
        match self {
            MasterEvent::Done { exit_code } => Some(*exit_code),
            _ => None,
        }
    }
}
impl DoneEvent for MirrorEvent {
    fn exit(&self) -> Option<i32> {
        match self {
            MirrorEvent::Done { exit_code } => Some(*exit_code),
            _ => None,
        }
    }
}

struct Side<R: ConstantRole> {
    role: R,
    fs: FakeFs,
    requests: VecDeque<FsRequest>,
    answers: VecDeque<FsAnswer>,
    exit: Option<i32>,
    failed: Option<String>,
}

impl<R: ConstantRole> Side<R>
where
    R::Event: DoneEvent + std::fmt::Debug,
{
    fn new(role: R, fs: FakeFs) -> Self {
        Self {
            role,
            fs,
            requests: VecDeque::new(),
            answers: VecDeque::new(),
            exit: None,
            failed: None,
        }
    }

    fn check(&mut self, r: Result<(), ConstantError>) {
        if let Err(e) = r {
            assert!(
                self.role.is_done(),
                "a failed call left the role running: {e}"
            );
            self.failed.get_or_insert(e.to_string());
        }
    }

    fn poll(&mut self, link: &mut Vec<u8>) -> bool {
        let mut any = self.role.poll_output(link);
        while let Some(r) = self.role.poll_request() {
            if debug() {
                eprintln!("request {r:?}");
            }
            self.requests.push_back(r);
            any = true;
        }
        while let Some(e) = self.role.poll_event() {
            if debug() {
                eprintln!("event {e:?}");
            }
            assert!(self.exit.is_none(), "an event after Done");
            self.exit = e.exit();
            any = true;
        }
        if self.exit.is_some() {
            assert!(self.role.is_done());
        }
        any
    }

    fn serve(&mut self, fault: u8) -> bool {
        if let Some(a) = self.answers.pop_front() {
            let r = self.role.handle_answer(a);
            self.check(r);
            return true;
        }
        let Some(req) = self.requests.pop_front() else {
            return false;
        };
        self.answers.extend(self.fs.execute(req, fault));
        while let Some(a) = self.answers.pop_front() {
            let r = self.role.handle_answer(a);
            self.check(r);
        }
        true
    }

    fn deliver(&mut self, link: &mut Vec<u8>, n: usize) -> bool {
        if link.is_empty() {
            return false;
        }
        let n = n.clamp(1, link.len());
        let chunk: Vec<u8> = link.drain(..n).collect();
        let r = self.role.handle_data(&chunk);
        self.check(r);
        true
    }
}

fn options(server: bool) -> SessionOptions {
    let mut o = SessionOptions::plain(31, 0x1234_5678, server);
    o.flist = o.flist.archive();
    o.flist.numeric_ids = true;
    o.recursive = true;
    o.preserve_perms = true;
    o.preserve_times = true;
    o.am_root = true;
    o
}

const NAMES: [&[u8]; 8] = [b"a", b"b", b"d", b"d/x", b"d/y", b"e", b"e/f", b"."];

fuzz_target!(|input: &[u8]| {
    let [cfgb, sizes, ls, ld, rest @ ..] = input else {
        return;
    };
    let walk_named_dirs = *ld & 0x40 == 0;
    let (ls, ld) = (usize::from(*ls % 64).min(rest.len()), usize::from(*ld % 64));
    let (src_spec, rest) = rest.split_at(ls);
    let (dst_spec, ops) = rest.split_at(ld.min(rest.len()));
    let mut cfg = ConstantConfig::default().with_window(u32::from(cfgb & 7) + 1);
    cfg.max_settle_batch = usize::from(cfgb >> 3 & 7);
    cfg.max_open_files = usize::from(cfgb >> 6) + 1;
    cfg.parent_times = cfgb & 0x20 != 0;
    cfg.data_record = usize::from(sizes & 0x0f) * 97 + 1;
    cfg.walk_named_dirs = walk_named_dirs;
    let mo = options(false);
    let (Ok(master), Ok(mirror)) = (
        Master::new(mo.clone(), cfg),
        Mirror::new(options(true), cfg),
    ) else {
        return;
    };
    let mut m = Side::new(master, FakeFs::from_spec(src_spec, mo.strong));
    let mut r = Side::new(mirror, FakeFs::from_spec(dst_spec, mo.strong));
    let (mut m2r, mut r2m) = (Vec::new(), Vec::new());
    let mut spoiled = false;
    let step = usize::from(sizes >> 4) * 13 + 1;
    let bounds = |m: &Side<Master>, r: &Side<Mirror>| {
        assert!(
            m.role.in_flight() <= cfg.window.max(3) as usize,
            "master: {} in flight",
            m.role.in_flight()
        );
        assert!(
            r.role.in_flight() <= cfg.window.max(MIN_WINDOW) as usize,
            "mirror: {} in flight",
            r.role.in_flight()
        );
    };

    let mut ops = ops.iter();
    while let Some(&op) = ops.next() {
        let arg = ops.next().copied().unwrap_or(0);
        m.poll(&mut m2r);
        r.poll(&mut r2m);
        bounds(&m, &r);
        match op % 14 {
            0 => {
                r.deliver(&mut m2r, usize::from(arg) * step + 1);
            }
            1 => {
                m.deliver(&mut r2m, usize::from(arg) * step + 1);
            }
            2 => {
                m.serve(if arg < 0xf0 { 0 } else { arg & 0x0f | 1 });
            }
            3 => {
                r.serve(if arg < 0xf0 { 0 } else { arg & 0x0f | 1 });
            }
            kind @ 4..=7 => {
                spoiled |= link::link_fault(kind, op, arg, &mut ops, &mut m2r, &mut r2m);
            }
            8 => {
                m.role.keepalive();
                r.role.keepalive();
            }
            9 => {
                spoiled = true;
                if arg & 1 == 0 {
                    let e = m.role.handle_eof();
                    m.check(e)
                } else {
                    let e = r.role.handle_eof();
                    r.check(e)
                }
            }
            10 => {
                spoiled = true;
                if arg & 1 == 0 {
                    let e = m.role.handle_answer(stray_answer(arg >> 1));
                    m.check(e)
                } else {
                    let e = r.role.handle_answer(stray_answer(arg >> 1));
                    r.check(e)
                }
            }
            11 => {
                let path = WirePath::try_from(NAMES[usize::from(arg % 8)]).expect("a valid name");
                // Refused only when closing or full: the master stays up.
                let _ = if arg & 0x80 != 0 {
                    m.role.submit_tree(path)
                } else {
                    m.role.submit(path)
                };
            }
            12 => match arg % 4 {
                0 => {
                    let _ = m.role.end_batch();
                }
                1 => m.role.close(),
                _ => {
                    // The source changes (a later submission or the final walk sends it).
                    let name = NAMES[usize::from(arg >> 2) % 7].to_vec();
                    match m.fs.nodes.get_mut(&name) {
                        Some(n) if arg & 0x80 != 0 => {
                            if n.mode & rsync_proto::flist::mode::S_IFMT
                                == rsync_proto::flist::mode::S_IFREG
                            {
                                n.data.extend_from_slice(&[arg; 5]);
                            }
                        }
                        Some(_) => {
                            m.fs.nodes.retain(|p, _| {
                                !(p == &name || p.starts_with(&[name.as_slice(), b"/"].concat()))
                            });
                        }
                        None => {
                            let more = FakeFs::from_spec(&[0, arg & 0x7f, arg, 3], mo.strong);
                            // A new top-level name only (never over an existing directory).
                            for (p, n) in more.nodes {
                                m.fs.nodes.entry(p).or_insert(n);
                            }
                        }
                    }
                }
            },
            _ => {
                // A source file changes between its sums and its read.
                if let Some(n) = m.fs.nodes.values_mut().find(|n| !n.data.is_empty()) {
                    n.data[0] ^= arg | 1;
                    // As a write does; past every mtime a tree spec makes (1_700_000_000 + 0..=255), so
                    // that the change never meets a mirror file of the same size and mtime by
                    // chance (the quick check would rightly skip it, as rsync's does).
                    n.mtime += 1_000;
                }
            }
        }
    }
    spoiled |= m.fs.faults + r.fs.faults > 0;

    // A last walk of the whole tree, then a fair driver runs the session to its end.
    let closing = m
        .role
        .submit_tree(WirePath::try_from(".").expect("valid"))
        .is_err();
    let _ = m.role.end_batch();
    m.role.close();
    // Each named directory is walked whole (`walk_named_dirs`), and an input may name `.`
    // hundreds of times: the bound is for a session that never stops working, not a slow one.
    let mut busy = true;
    for _ in 0..2_000_000 {
        let mut any = m.poll(&mut m2r) | r.poll(&mut r2m);
        bounds(&m, &r);
        any |= r.deliver(&mut m2r, usize::MAX);
        any |= m.deliver(&mut r2m, usize::MAX);
        any |= m.serve(0);
        any |= r.serve(0);
        if !any {
            busy = false;
            break;
        }
    }
    assert!(!busy, "the roles still work after 2,000,000 steps");
    if debug() {
        eprintln!(
            "end: master done {} pending {} in flight {} requests {}; mirror done {} in flight {} requests {}; links {} {}; spoiled {spoiled} closing {closing}",
            m.role.is_done(), m.role.pending(), m.role.in_flight(), m.requests.len(),
            r.role.is_done(), r.role.in_flight(), r.requests.len(), m2r.len(), r2m.len()
        );
    }
    if spoiled || closing {
        return;
    }
    assert_eq!((&m.failed, &r.failed), (&None, &None), "clean run failed");
    assert_eq!(
        (m.exit, r.exit),
        (Some(0), Some(0)),
        "clean run did not end well"
    );
    let (got, want) = (r.fs.shape(), m.fs.shape());
    let show = |v: Option<&fs::Shape>| v.map(|(k, d, t)| (format!("{k:o}"), d.len(), t.clone()));
    let differ: Vec<String> = want
        .keys()
        .chain(got.keys())
        .filter(|k| got.get(*k) != want.get(*k))
        .map(|k| {
            let name = String::from_utf8_lossy(k);
            format!(
                "{name}: mirror {:?}, source {:?}",
                show(got.get(k)),
                show(want.get(k))
            )
        })
        .collect();
    assert!(
        differ.is_empty(),
        "the mirror differs from the source: {differ:?}"
    );
});
