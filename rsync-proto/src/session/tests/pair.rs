//! A `Pair` harness: our sender and our receiver connected in memory, each with a fake file
//! system, driven step by step (quinn-proto's `Pair`, with `drive_bounded`).

use super::fakefs::{DstDriver, Fs, SrcDriver};
use crate::session::{Event, FileOutcome, Receiver, Sender, Session, SessionError};
use crate::session::{SessionOptions, Stats};

/// Deterministic pseudo-random bytes.
pub(crate) fn prng(len: usize, seed: u64) -> Vec<u8> {
    rsync_tests::pseudo_random(len, seed)
}

/// Which side is the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Client receiver, server sender.
    Pull,
    /// Client sender, server receiver.
    Push,
}

/// The options of `-a` (as root, numeric ids) for `protocol`.
pub(crate) fn archive(protocol: u8, server: bool) -> SessionOptions {
    let mut o = SessionOptions::plain(protocol, 0x1234_5678, server);
    o.flist = o.flist.archive();
    o.flist.numeric_ids = true;
    o.recursive = true;
    o.preserve_perms = true;
    o.preserve_times = true;
    o.am_root = true;
    o
}

/// Two roles connected in memory.
pub(crate) struct Pair {
    pub(crate) sender: Sender,
    pub(crate) receiver: Receiver,
    pub(crate) src: SrcDriver,
    pub(crate) dst: DstDriver,
    /// Bytes in flight, sender → receiver and back.
    s2r: Vec<u8>,
    r2s: Vec<u8>,
    /// Every byte each side wrote.
    pub(crate) s2r_log: Vec<u8>,
    pub(crate) r2s_log: Vec<u8>,
    /// Chunk sizes for delivery (cycled).
    pub(crate) chunks: Vec<usize>,
    chunk_i: usize,
    pub(crate) sender_events: Vec<Event>,
    pub(crate) receiver_events: Vec<Event>,
    /// The receiver's bytes are kept from the sender (they wait in flight).
    pub(crate) hold_r2s: bool,
}

impl Pair {
    /// `-a` between `src` and `dst`.
    pub(crate) fn new(protocol: u8, dir: Dir, src: Fs, dst: Fs) -> Self {
        Self::with_options(protocol, dir, src, dst, |_| {})
    }

    /// `-a` plus what `tweak` changes (on both sides), then what `sender` and `receiver`
    /// change on their side only.
    pub(crate) fn with_sides(
        protocol: u8,
        dir: Dir,
        src: Fs,
        dst: Fs,
        sender: impl Fn(&mut SessionOptions),
        receiver: impl Fn(&mut SessionOptions),
    ) -> Self {
        let mut pair = Self::with_options(protocol, dir, src, dst.clone(), |_| {});
        let mut so = archive(protocol, dir == Dir::Pull);
        let mut ro = archive(protocol, dir == Dir::Push);
        sender(&mut so);
        receiver(&mut ro);
        pair.sender = Sender::new(so).expect("sender");
        pair.receiver = Receiver::new(ro.clone()).expect("receiver");
        pair.dst = DstDriver::new(dst, ro);
        pair
    }

    /// `-a` plus what `tweak` changes (on both sides).
    pub(crate) fn with_options(
        protocol: u8,
        dir: Dir,
        src: Fs,
        dst: Fs,
        tweak: impl Fn(&mut SessionOptions),
    ) -> Self {
        let mut so = archive(protocol, dir == Dir::Pull);
        let mut ro = archive(protocol, dir == Dir::Push);
        tweak(&mut so);
        tweak(&mut ro);
        so.server = dir == Dir::Pull;
        ro.server = dir == Dir::Push;
        let mut src = SrcDriver::from_fs(&src);
        src.devino_all = protocol < 28 && so.flist.preserve_hard_links;
        Self {
            sender: Sender::new(so).expect("sender"),
            receiver: Receiver::new(ro.clone()).expect("receiver"),
            src,
            dst: DstDriver::new(dst, ro),
            s2r: Vec::new(),
            r2s: Vec::new(),
            s2r_log: Vec::new(),
            r2s_log: Vec::new(),
            chunks: vec![usize::MAX],
            chunk_i: 0,
            sender_events: Vec::new(),
            receiver_events: Vec::new(),
            hold_r2s: false,
        }
    }

    /// One step: collect output, deliver one chunk each way, run the drivers. Returns
    /// whether anything happened.
    pub(crate) fn step(&mut self) -> Result<bool, SessionError> {
        let mut any = false;
        let mut out = Vec::new();
        if self.sender.poll_transmit(&mut out) {
            self.s2r_log.extend_from_slice(&out);
            self.s2r.append(&mut out);
            any = true;
        }
        if self.receiver.poll_transmit(&mut out) {
            self.r2s_log.extend_from_slice(&out);
            self.r2s.append(&mut out);
            any = true;
        }
        let n = self.chunks[self.chunk_i % self.chunks.len()].max(1);
        self.chunk_i += 1;
        if !self.s2r.is_empty() {
            let k = n.min(self.s2r.len());
            let c: Vec<u8> = self.s2r.drain(..k).collect();
            self.receiver.handle_input(&c)?;
            any = true;
        }
        if !self.r2s.is_empty() && !self.hold_r2s {
            let k = n.min(self.r2s.len());
            let c: Vec<u8> = self.r2s.drain(..k).collect();
            self.sender.handle_input(&c)?;
            any = true;
        }
        any |= self.src.serve(&mut self.sender)?;
        any |= self.dst.serve(&mut self.receiver)?;
        while let Some(e) = self.sender.poll_event() {
            self.sender_events.push(e);
            any = true;
        }
        while let Some(e) = self.receiver.poll_event() {
            self.receiver_events.push(e);
            any = true;
        }
        Ok(any)
    }

    /// Moves what both sides have to send into the in-flight queues (not delivered yet);
    /// returns the bytes of each side (sender, receiver).
    pub(crate) fn flush(&mut self) -> (Vec<u8>, Vec<u8>) {
        let (mut s, mut r) = (Vec::new(), Vec::new());
        let _ = self.sender.poll_transmit(&mut s);
        let _ = self.receiver.poll_transmit(&mut r);
        self.s2r_log.extend_from_slice(&s);
        self.s2r.extend_from_slice(&s);
        self.r2s_log.extend_from_slice(&r);
        self.r2s.extend_from_slice(&r);
        (s, r)
    }

    /// Runs until both sides are done; panics after `max` steps (livelock) or when nothing
    /// moves before both are done (deadlock).
    pub(crate) fn drive_bounded(&mut self, max: usize) -> Result<(), SessionError> {
        for _ in 0..max {
            let moved = self.step()?;
            if self.sender.is_done() && self.receiver.is_done() && !moved {
                return Ok(());
            }
            assert!(
                moved,
                "deadlock: sender done {}, receiver done {}",
                self.sender.is_done(),
                self.receiver.is_done()
            );
        }
        panic!("livelock: not done after {max} steps");
    }

    pub(crate) fn done(events: &[Event]) -> Option<(i32, Option<Stats>)> {
        events.iter().find_map(|e| match e {
            Event::Done { exit_code, stats } => Some((*exit_code, *stats)),
            _ => None,
        })
    }

    pub(crate) fn outcomes(&self) -> Vec<(i32, FileOutcome)> {
        self.receiver_events
            .iter()
            .filter_map(|e| match e {
                Event::File { ndx, outcome } => Some((*ndx, *outcome)),
                _ => None,
            })
            .collect()
    }
}
