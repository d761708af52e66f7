//! A master and a mirror connected in memory, each with a [`FakeFs`], driven step by step
//! (quinn-proto's `Pair`): record bytes cut in configurable chunks, requests executed in
//! order as a driver would.

use super::fake::FakeFs;
use super::fakefs::Fs;
use crate::constant::{
    ConstantConfig, ConstantError, ConstantRole, Master, MasterEvent, Mirror, MirrorEvent,
};
use crate::session::SessionOptions;

/// Deterministic pseudo-random bytes.
pub(crate) fn prng(len: usize, seed: u64) -> Vec<u8> {
    rsync_tests::pseudo_random(len, seed)
}

/// `-a` as root with numeric ids and `-H`, protocol 31.
pub(crate) fn archive() -> SessionOptions {
    let mut o = SessionOptions::plain(31, 0x1234_5678, false);
    o.flist = o.flist.archive();
    o.flist.numeric_ids = true;
    o.flist.preserve_hard_links = true;
    o.recursive = true;
    o.preserve_perms = true;
    o.preserve_times = true;
    o.am_root = true;
    o
}

/// Executes the requests of either role in order, as a driver does; `true` if there were any.
fn serve<R: ConstantRole>(role: &mut R, fs: &mut FakeFs) -> Result<bool, ConstantError> {
    let mut any = false;
    while let Some(r) = role.poll_request() {
        any = true;
        for a in fs.execute(r) {
            role.handle_answer(a)?;
        }
    }
    Ok(any)
}

/// Two roles connected in memory.
pub(crate) struct Pair {
    pub(crate) master: Master,
    pub(crate) mirror: Mirror,
    pub(crate) src: FakeFs,
    pub(crate) dst: FakeFs,
    m2r: Vec<u8>,
    r2m: Vec<u8>,
    /// Every byte the master sent.
    pub(crate) m2r_log: Vec<u8>,
    /// Every byte the mirror sent.
    pub(crate) r2m_log: Vec<u8>,
    /// Bytes each side sent.
    pub(crate) m2r_total: u64,
    pub(crate) r2m_total: u64,
    /// Chunk sizes for delivery (cycled).
    pub(crate) chunks: Vec<usize>,
    chunk_i: usize,
    pub(crate) master_events: Vec<MasterEvent>,
    pub(crate) mirror_events: Vec<MirrorEvent>,
    /// The most changes the mirror held at once.
    pub(crate) max_in_flight: usize,
}

impl Pair {
    /// `-a` between `src` and `dst` with the default configuration.
    pub(crate) fn new(src: Fs, dst: Fs) -> Self {
        Self::with(src, dst, archive(), ConstantConfig::default())
    }

    pub(crate) fn with(src: Fs, dst: Fs, opts: SessionOptions, cfg: ConstantConfig) -> Self {
        let mirror_opts = {
            let mut o = opts.clone();
            o.server = true;
            o.filter = None;
            o
        };
        Self {
            master: Master::new(opts.clone(), cfg).expect("master"),
            mirror: Mirror::new(mirror_opts.clone(), cfg).expect("mirror"),
            src: FakeFs::new(src, opts),
            dst: FakeFs::new(dst, mirror_opts),
            m2r: Vec::new(),
            r2m: Vec::new(),
            m2r_log: Vec::new(),
            r2m_log: Vec::new(),
            m2r_total: 0,
            r2m_total: 0,
            chunks: vec![usize::MAX],
            chunk_i: 0,
            master_events: Vec::new(),
            mirror_events: Vec::new(),
            max_in_flight: 0,
        }
    }

    /// One step: collect output, deliver one chunk each way, execute requests. Returns
    /// whether anything happened.
    pub(crate) fn step(&mut self) -> Result<bool, ConstantError> {
        let mut any = false;
        let mut out = Vec::new();
        if self.master.poll_output(&mut out) {
            self.m2r_total += out.len() as u64;
            self.m2r_log.extend_from_slice(&out);
            self.m2r.append(&mut out);
            any = true;
        }
        if self.mirror.poll_output(&mut out) {
            self.r2m_total += out.len() as u64;
            self.r2m_log.extend_from_slice(&out);
            self.r2m.append(&mut out);
            any = true;
        }
        let n = self.chunks[self.chunk_i % self.chunks.len()].max(1);
        self.chunk_i += 1;
        if !self.m2r.is_empty() {
            let k = n.min(self.m2r.len());
            let c: Vec<u8> = self.m2r.drain(..k).collect();
            self.mirror.handle_data(&c)?;
            any = true;
        }
        if !self.r2m.is_empty() {
            let k = n.min(self.r2m.len());
            let c: Vec<u8> = self.r2m.drain(..k).collect();
            self.master.handle_data(&c)?;
            any = true;
        }
        any |= serve(&mut self.master, &mut self.src)?;
        any |= serve(&mut self.mirror, &mut self.dst)?;
        self.max_in_flight = self.max_in_flight.max(self.mirror.in_flight());
        while let Some(e) = self.master.poll_event() {
            self.master_events.push(e);
            any = true;
        }
        while let Some(e) = self.mirror.poll_event() {
            self.mirror_events.push(e);
            any = true;
        }
        Ok(any)
    }

    /// Runs until nothing moves; panics after `max` steps (livelock).
    pub(crate) fn settle(&mut self, max: usize) -> Result<(), ConstantError> {
        for _ in 0..max {
            if !self.step()? {
                return Ok(());
            }
        }
        panic!("livelock: still moving after {max} steps");
    }

    /// Closes the session and runs it to its end; both sides must be done.
    pub(crate) fn finish(&mut self) {
        self.master.close();
        self.settle(1_000_000).expect("session");
        assert!(self.master.is_done(), "master not done");
        assert!(self.mirror.is_done(), "mirror not done");
        assert!(self
            .master_events
            .contains(&MasterEvent::Done { exit_code: 0 }));
        assert!(self
            .mirror_events
            .contains(&MirrorEvent::Done { exit_code: 0 }));
        assert_eq!(self.dst.open_temps(), 0, "temporary files left open");
    }

    /// The acknowledgements the master reported: (change, status).
    pub(crate) fn acked(&self) -> Vec<(u64, u32)> {
        self.master_events
            .iter()
            .filter_map(|e| match e {
                MasterEvent::Acked { id, status, .. } => Some((id.0, *status)),
                _ => None,
            })
            .collect()
    }

    /// Literal and matched bytes the master sent.
    pub(crate) fn sent(&self) -> (u64, u64) {
        self.master_events
            .iter()
            .filter_map(|e| match e {
                MasterEvent::Sent {
                    literal, matched, ..
                } => Some((*literal, *matched)),
                _ => None,
            })
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
    }
}
