//! Roles driven by hand-written records: a scripted master in front of a real [`Mirror`],
//! a scripted mirror in front of a real [`Master`]; for interleavings our own peers never
//! produce, and for hostile streams.

use super::fake::FakeFs;
use super::fakefs::Fs;
use super::pair::archive;
use crate::constant::{
    decode_master, decode_mirror, record_context, ConstantConfig, ConstantError, Hello, Master,
    MasterRecord, Mirror, MirrorEvent, MirrorRecord, RecordContext, RecordReader, VERSION,
};
use crate::filter::wire::encode_rules;

/// A `HELLO` with `window`.
pub(crate) fn hello(window: u32) -> Hello {
    Hello {
        version: VERSION,
        features: 0,
        window,
    }
}

/// A real mirror fed by a script.
pub(crate) struct ToMirror {
    pub(crate) mirror: Mirror,
    pub(crate) dst: FakeFs,
    pub(crate) ctx: RecordContext,
    reader: RecordReader,
    /// Records the mirror sent, decoded.
    pub(crate) got: Vec<MirrorRecord>,
    pub(crate) events: Vec<MirrorEvent>,
}

impl ToMirror {
    /// A mirror over `dst`, past `HELLO` and an empty `FILTERS`.
    pub(crate) fn new(dst: Fs, cfg: ConstantConfig) -> Self {
        let mut o = archive();
        o.server = true;
        let ctx = record_context(&o);
        let mut t = Self {
            mirror: Mirror::new(o.clone(), cfg).expect("mirror"),
            dst: FakeFs::new(dst, o),
            ctx,
            reader: RecordReader::new(),
            got: Vec::new(),
            events: Vec::new(),
        };
        t.send(MasterRecord::Hello(hello(64))).expect("hello");
        let empty: [&[u8]; 0] = [];
        t.send(MasterRecord::Filters(encode_rules(&empty)))
            .expect("filters");
        t.got.clear();
        t
    }

    /// Encodes and delivers one record, then runs the executor.
    pub(crate) fn send(&mut self, rec: MasterRecord) -> Result<(), ConstantError> {
        let mut b = Vec::new();
        rec.encode(&self.ctx, &mut b).expect("encode");
        self.raw(&b)
    }

    /// Delivers raw bytes, then runs the executor and collects the output.
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> Result<(), ConstantError> {
        self.mirror.handle_data(bytes)?;
        while let Some(r) = self.mirror.poll_request() {
            for a in self.dst.execute(r) {
                self.mirror.handle_answer(a)?;
            }
        }
        let mut out = Vec::new();
        let _ = self.mirror.poll_output(&mut out);
        self.reader.push(&out);
        while let Some((k, body)) = self.reader.next_frame().expect("frame") {
            if let Some(r) = decode_mirror(&self.ctx, k, &body).expect("mirror record") {
                self.got.push(r);
            }
        }
        while let Some(e) = self.mirror.poll_event() {
            self.events.push(e);
        }
        Ok(())
    }

    /// The `ACK`s received so far: (id, status).
    pub(crate) fn acks(&self) -> Vec<(u64, u32)> {
        self.got
            .iter()
            .filter_map(|r| match r {
                MirrorRecord::Ack { id, status, .. } => Some((*id, *status)),
                _ => None,
            })
            .collect()
    }
}

/// A real master answered by a script.
pub(crate) struct ToMaster {
    pub(crate) master: Master,
    pub(crate) src: FakeFs,
    pub(crate) ctx: RecordContext,
    reader: RecordReader,
    /// Records the master sent, decoded.
    pub(crate) got: Vec<MasterRecord>,
}

impl ToMaster {
    /// A master over `src`, greeted with `HELLO` (window 64).
    pub(crate) fn new(src: Fs) -> Self {
        let o = archive();
        let ctx = record_context(&o);
        let mut t = Self {
            master: Master::new(o.clone(), ConstantConfig::default()).expect("master"),
            src: FakeFs::new(src, o),
            ctx,
            reader: RecordReader::new(),
            got: Vec::new(),
        };
        t.send(MirrorRecord::Hello(hello(64))).expect("hello");
        t
    }

    pub(crate) fn send(&mut self, rec: MirrorRecord) -> Result<(), ConstantError> {
        let mut b = Vec::new();
        rec.encode(&mut b).expect("encode");
        self.raw(&b)
    }

    /// Delivers raw bytes, then runs the executor and collects the output.
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> Result<(), ConstantError> {
        self.master.handle_data(bytes)?;
        self.serve()
    }

    /// Runs the executor and collects the output.
    pub(crate) fn serve(&mut self) -> Result<(), ConstantError> {
        while let Some(r) = self.master.poll_request() {
            for a in self.src.execute(r) {
                self.master.handle_answer(a)?;
            }
        }
        let mut out = Vec::new();
        let _ = self.master.poll_output(&mut out);
        self.reader.push(&out);
        while let Some((k, body)) = self.reader.next_frame().expect("frame") {
            if let Some(r) = decode_master(&self.ctx, k, &body).expect("master record") {
                self.got.push(r);
            }
        }
        Ok(())
    }
}
