//! Operation sequences on the role state machines of a transfer: our `Sender` and our
//! `Receiver` (rsync's generator and receiver) connected in memory, each served by an
//! in-memory file system, with the fuzzer choosing every step: which bytes are delivered and
//! in what pieces, which request is answered and whether the answer is spoiled (vanished or
//! unreadable file, short read, absent basis, wrong signature, short basis copy), corrupted,
//! injected or dropped bytes, keepalives, an early end of file, stray answers, a source file
//! changed mid-transfer.
//!
//! Input: byte 0 protocol and direction, byte 1 options, byte 2 and 3 the lengths of the
//! source and destination tree specs, the specs, then the operations.
//!
//! Checked: never a panic; a failed `handle_*` leaves the role done; `Event::Done` comes once,
//! last; no request or event after the end. When nothing was spoiled the run ends with exit
//! code 0 on both sides and (but for a dry run) every source path is on the destination with
//! its kind, content and symlink target (with `--delete`: nothing else is).
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
use rsync_proto::session::{
    DeleteTiming, Event, FsAnswer, Receiver, Sender, Session, SessionOptions,
};

/// One role with its file system, its queued requests and what it said.
struct Side<R: Session> {
    role: R,
    fs: FakeFs,
    requests: VecDeque<rsync_proto::session::FsRequest>,
    answers: VecDeque<FsAnswer>,
    done_events: u32,
    events_after_done: bool,
    exit: Option<i32>,
    failed: Option<String>,
}

impl<R: Session> Side<R> {
    fn new(role: R, fs: FakeFs) -> Self {
        Self {
            role,
            fs,
            requests: VecDeque::new(),
            answers: VecDeque::new(),
            done_events: 0,
            events_after_done: false,
            exit: None,
            failed: None,
        }
    }

    /// Checks the result of a `handle_*` call.
    fn check(&mut self, r: Result<(), rsync_proto::session::SessionError>) {
        if let Err(e) = r {
            assert!(
                self.role.is_done(),
                "a failed handle_* left the role running: {e}"
            );
            self.failed.get_or_insert(e.to_string());
        }
    }

    /// Collects output into `link`, requests and events.
    fn poll(&mut self, link: &mut Vec<u8>) -> bool {
        let mut any = self.role.poll_transmit(link);
        while let Some(r) = self.role.poll_fs() {
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
            if self.done_events > 0 {
                self.events_after_done = true;
            }
            if let Event::Done { exit_code, .. } = e {
                self.done_events += 1;
                self.exit = Some(exit_code);
            }
            any = true;
        }
        assert!(self.done_events <= 1, "Event::Done twice");
        assert!(!self.events_after_done, "an event after Event::Done");
        if self.done_events == 1 {
            assert!(self.role.is_done());
        }
        any
    }

    /// Serves the oldest request (its answers are given now, in order).
    fn serve(&mut self, fault: u8) -> bool {
        if let Some(a) = self.answers.pop_front() {
            let r = self.role.handle_fs(a);
            self.check(r);
            return true;
        }
        let Some(req) = self.requests.pop_front() else {
            return false;
        };
        self.answers.extend(self.fs.execute(req, fault));
        while let Some(a) = self.answers.pop_front() {
            let r = self.role.handle_fs(a);
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
        let r = self.role.handle_input(&chunk);
        self.check(r);
        true
    }
}

fn options(protocol: u8, server: bool, opt: u8, strong_seed: i32) -> SessionOptions {
    let mut o = SessionOptions::plain(protocol, strong_seed, server);
    o.flist = o.flist.archive();
    o.flist.numeric_ids = true;
    o.recursive = true;
    o.preserve_perms = true;
    o.preserve_times = true;
    o.am_root = true;
    o.delete = [
        None,
        Some(DeleteTiming::Auto),
        Some(DeleteTiming::After),
        Some(DeleteTiming::Before),
    ][usize::from(opt & 3)];
    o.checksum = opt & 0x04 != 0;
    o.whole_file = opt & 0x08 != 0;
    o.inplace = opt & 0x10 != 0;
    o.dry_run = opt & 0x20 != 0;
    o.ignore_times = opt & 0x40 != 0;
    // A directory in the way of another type goes with its content (without --force rsync
    // refuses, exit 23, and the trees differ).
    o.force = true;
    o.itemize = (opt >> 7) * 2;
    o.max_data_frame = 1 + usize::from(opt) * 64;
    o
}

fuzz_target!(|input: &[u8]| {
    let [sel, opt, ls, ld, rest @ ..] = input else {
        return;
    };
    let protocol = [27u8, 29, 30, 31][usize::from(sel & 3)];
    let pull = sel & 4 != 0;
    let (ls, ld) = (usize::from(*ls % 64).min(rest.len()), usize::from(*ld % 64));
    let (src_spec, rest) = rest.split_at(ls);
    let (dst_spec, ops) = rest.split_at(ld.min(rest.len()));
    let so = options(protocol, pull, *opt, 0x1234_5678);
    let ro = options(protocol, !pull, *opt, 0x1234_5678);
    let dry_run = so.dry_run;
    let delete = so.delete.is_some();
    let (Ok(sender), Ok(receiver)) = (Sender::new(so.clone()), Receiver::new(ro)) else {
        return;
    };
    let mut s = Side::new(sender, FakeFs::from_spec(src_spec, so.strong));
    let mut r = Side::new(receiver, FakeFs::from_spec(dst_spec, so.strong));
    let src_shape = s.fs.shape();
    let (mut s2r, mut r2s) = (Vec::new(), Vec::new());
    let mut spoiled = false;

    let mut ops = ops.iter();
    while let Some(&op) = ops.next() {
        let arg = ops.next().copied().unwrap_or(0);
        s.poll(&mut s2r);
        r.poll(&mut r2s);
        match op % 12 {
            0 => {
                r.deliver(&mut s2r, usize::from(arg) * 8 + 1);
            }
            1 => {
                s.deliver(&mut r2s, usize::from(arg) * 8 + 1);
            }
            2 => {
                s.serve(if arg < 0xf0 { 0 } else { arg & 0x0f | 1 });
            }
            3 => {
                r.serve(if arg < 0xf0 { 0 } else { arg & 0x0f | 1 });
            }
            kind @ 4..=7 => {
                spoiled |= link::link_fault(kind, op, arg, &mut ops, &mut s2r, &mut r2s);
            }
            8 => {
                s.role.keepalive();
                r.role.keepalive();
            }
            9 => {
                spoiled = true;
                if arg & 1 == 0 {
                    let e = s.role.handle_eof();
                    s.check(e)
                } else {
                    let e = r.role.handle_eof();
                    r.check(e)
                }
            }
            10 => {
                spoiled = true;
                if arg & 1 == 0 {
                    let e = s.role.handle_fs(stray_answer(arg >> 1));
                    s.check(e)
                } else {
                    let e = r.role.handle_fs(stray_answer(arg >> 1));
                    r.check(e)
                }
            }
            _ => {
                // A source file changes between the file list and its read.
                if let Some(n) = s.fs.nodes.values_mut().find(|n| !n.data.is_empty()) {
                    n.data[0] ^= arg | 1;
                    spoiled = true;
                }
            }
        }
    }
    spoiled |= s.fs.faults + r.fs.faults > 0;

    // Then a fair driver runs the session to its end.
    for _ in 0..20_000 {
        let mut any = s.poll(&mut s2r) | r.poll(&mut r2s);
        any |= r.deliver(&mut s2r, usize::MAX);
        any |= s.deliver(&mut r2s, usize::MAX);
        any |= s.serve(0);
        any |= r.serve(0);
        if !any {
            break;
        }
    }
    if spoiled {
        return;
    }
    assert_eq!((&s.failed, &r.failed), (&None, &None), "clean run failed");
    assert_eq!(
        (s.exit, r.exit),
        (Some(0), Some(0)),
        "clean run did not end well"
    );
    if dry_run {
        return;
    }
    let dst_shape = r.fs.shape();
    let differ: Vec<String> = src_shape
        .keys()
        .chain(dst_shape.keys().filter(|_| delete))
        .filter(|k| dst_shape.get(*k) != src_shape.get(*k))
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert!(
        differ.is_empty(),
        "the destination differs from the source at {differ:?}"
    );
});
