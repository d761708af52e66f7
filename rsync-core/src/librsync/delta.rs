//! Streaming delta generation: match a new file, fed in chunks, against a [`Signature`] and
//! write a librsync delta (magic, LITERAL and COPY commands, END).
//!
//! Spec: RFC.md Appendix R `[rdiff-delta-header]`, `[rdiff-op-literal]`, `[rdiff-op-copy]`,
//! `[rdiff-op-end]`; matching is informative (any correct matcher interoperates). Reference:
//! librsync `delta.c`, `emit.c`.
//!
//! Block matches become byte ranges of the basis, and a match that continues the previous
//! one extends it, so an unchanged run of any length is one COPY. Literal runs are coalesced
//! up to [`Limits::max_literal`] bytes (librsync also caps them at 32 KiB). The short last
//! block of the basis, whose length the signature does not record, is found as librsync
//! does: at the end of the new file, the longest suffix shorter than a block whose sums equal
//! the last block's.

use super::command::Command;
use super::params::{WeakKind, DELTA_MAGIC};
use super::rabinkarp::RabinKarp;
use super::rollsum::Rollsum;
use super::signature::Signature;
use super::strong::StrongKind;
use crate::engine::{Engine, Index, Op, StrongHasher, MAX_STRONG};
use crate::limits::Limits;

#[derive(Debug)]
enum AnyEngine {
    Rollsum(Engine<Rollsum, StrongKind>),
    RabinKarp(Engine<RabinKarp, StrongKind>),
}

/// The last block's sums, to find a short last block at the end of the new file.
#[derive(Debug)]
struct LastBlock {
    offset: u64,
    weak: u32,
    strong: Vec<u8>,
}

/// Turns engine ops into encoded commands, coalescing copies and literals.
#[derive(Debug)]
struct Emitter {
    block_len: u64,
    max_literal: usize,
    /// Pending COPY (offset, len); never set while `literal` is non-empty.
    copy: Option<(u64, u64)>,
    literal: Vec<u8>,
    /// While finishing, literal bytes go here to search for the short last block.
    tail: Option<Vec<u8>>,
}

impl Emitter {
    fn flush_copy(&mut self, out: &mut Vec<u8>) {
        if let Some((offset, len)) = self.copy.take() {
            Command::Copy { offset, len }.encode(out);
        }
    }

    fn flush_literal(&mut self, out: &mut Vec<u8>) {
        if !self.literal.is_empty() {
            Command::Literal(self.literal.len() as u64).encode(out);
            out.extend_from_slice(&self.literal);
            self.literal.clear();
        }
    }

    fn literal(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        if data.is_empty() {
            return;
        }
        if let Some(tail) = &mut self.tail {
            tail.extend_from_slice(data);
            return;
        }
        self.flush_copy(out);
        while !data.is_empty() {
            if self.literal.is_empty() && data.len() >= self.max_literal {
                let (run, rest) = data.split_at(self.max_literal);
                Command::Literal(run.len() as u64).encode(out);
                out.extend_from_slice(run);
                data = rest;
                continue;
            }
            let take = (self.max_literal - self.literal.len()).min(data.len());
            let (run, rest) = data.split_at(take);
            self.literal.extend_from_slice(run);
            data = rest;
            if self.literal.len() == self.max_literal {
                self.flush_literal(out);
            }
        }
    }

    fn copy(&mut self, offset: u64, len: u64, out: &mut Vec<u8>) {
        self.flush_literal(out);
        match &mut self.copy {
            Some((o, l)) if o.checked_add(*l) == Some(offset) => *l += len,
            _ => {
                self.flush_copy(out);
                self.copy = Some((offset, len));
            }
        }
    }

    fn op(&mut self, op: Op<'_>, out: &mut Vec<u8>) {
        match op {
            Op::Literal(data) => self.literal(data, out),
            Op::Copy(i) => self.copy(u64::from(i) * self.block_len, self.block_len, out),
        }
    }
}

/// Streaming delta writer; see the module docs.
///
/// ```
/// use rsync_core::librsync::{apply, DeltaWriter, Signature, SignatureKind, SignatureParams};
/// use rsync_core::Limits;
/// let basis = b"The quick brown fox jumps over the lazy dog.".repeat(20);
/// let mut new = basis.clone();
/// new.splice(100..100, b"INSERTED".iter().copied());
/// let sig = Signature::compute(&basis, SignatureParams::new(SignatureKind::Md4Rollsum, 32, 8)?);
/// let mut w = DeltaWriter::new(sig, &Limits::default());
/// let mut delta = Vec::new();
/// for chunk in new.chunks(100) { w.push(chunk, &mut delta); }
/// w.finish(&mut delta);
/// assert!(delta.len() < 100);
/// assert_eq!(apply(&basis, &delta, &Limits::default())?, new);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DeltaWriter {
    engine: AnyEngine,
    strong_kind: StrongKind,
    last: Option<LastBlock>,
    emit: Emitter,
    header_done: bool,
}

impl DeltaWriter {
    /// A writer against `signature`. Literal commands carry at most `limits.max_literal`
    /// bytes (at least 1).
    pub fn new(signature: Signature, limits: &Limits) -> Self {
        let (params, weak, strong) = signature.into_parts();
        let strong_len = params.strong_len as usize;
        let count = weak.len() as u32;
        let last = count.checked_sub(1).and_then(|i| {
            let s = i as usize * strong_len;
            Some(LastBlock {
                offset: u64::from(i) * u64::from(params.block_len),
                weak: *weak.last()?,
                strong: strong.get(s..s + strong_len)?.to_vec(),
            })
        });
        // Every block takes part in rolling lookups: the signature does not say whether the
        // last one is short (if it is, a full window cannot match it but by collision).
        let index = Index::new(weak, strong, strong_len, count);
        let strong_kind = params.kind.strong();
        let bl = params.block_len as usize;
        let max_literal = (limits.max_literal as usize).max(1);
        let engine = match params.kind.weak() {
            WeakKind::Rollsum => {
                AnyEngine::Rollsum(Engine::new(index, strong_kind, bl, 0, max_literal))
            }
            WeakKind::RabinKarp => {
                AnyEngine::RabinKarp(Engine::new(index, strong_kind, bl, 0, max_literal))
            }
        };
        Self {
            engine,
            strong_kind,
            last,
            emit: Emitter {
                block_len: u64::from(params.block_len),
                max_literal,
                copy: None,
                literal: Vec::new(),
                tail: None,
            },
            header_done: false,
        }
    }

    fn header(&mut self, out: &mut Vec<u8>) {
        if !self.header_done {
            out.extend_from_slice(&DELTA_MAGIC.to_be_bytes());
            self.header_done = true;
        }
    }

    /// Feeds the next bytes of the new file; encoded commands are appended to `out`. Up to
    /// one block and one literal run are held back until later calls.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.header(out);
        let emit = &mut self.emit;
        let mut sink = |op: Op<'_>| -> Result<(), std::convert::Infallible> {
            emit.op(op, out);
            Ok(())
        };
        let _ = match &mut self.engine {
            AnyEngine::Rollsum(e) => e.push(data, &mut sink),
            AnyEngine::RabinKarp(e) => e.push(data, &mut sink),
        };
    }

    /// Ends the new file: the remaining commands and END are appended to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        self.header(out);
        self.emit.tail = Some(Vec::new());
        let emit = &mut self.emit;
        let mut sink = |op: Op<'_>| -> Result<(), std::convert::Infallible> {
            emit.op(op, out);
            Ok(())
        };
        let weak = match self.engine {
            AnyEngine::Rollsum(e) => {
                let _ = e.finish(&mut sink);
                WeakKind::Rollsum
            }
            AnyEngine::RabinKarp(e) => {
                let _ = e.finish(&mut sink);
                WeakKind::RabinKarp
            }
        };
        let tail = self.emit.tail.take().unwrap_or_default();
        let found = self.last.as_ref().and_then(|last| match weak {
            WeakKind::Rollsum => tail_match::<Rollsum>(&tail, last, self.strong_kind),
            WeakKind::RabinKarp => tail_match::<RabinKarp>(&tail, last, self.strong_kind),
        });
        match (found, &self.last) {
            (Some(start), Some(last)) => {
                let (lit, matched) = tail.split_at(start);
                self.emit.literal(lit, out);
                self.emit.copy(last.offset, matched.len() as u64, out);
            }
            _ => self.emit.literal(&tail, out),
        }
        self.emit.flush_literal(out);
        self.emit.flush_copy(out);
        Command::End.encode(out);
    }
}

/// A weak sum that can shrink from the front, for the end-of-file search.
trait Shrinking: crate::engine::Rolling {
    fn shrink(&mut self, out: u8);
}

impl Shrinking for Rollsum {
    fn shrink(&mut self, out: u8) {
        self.rollout(out)
    }
}

impl Shrinking for RabinKarp {
    fn shrink(&mut self, out: u8) {
        self.rollout(out)
    }
}

/// The start of the longest suffix of `tail` whose weak and strong sums equal the last
/// block's (librsync's end-of-input search, restricted to the one block that can be short).
fn tail_match<R: Shrinking>(tail: &[u8], last: &LastBlock, strong: StrongKind) -> Option<usize> {
    if tail.is_empty() {
        return None;
    }
    let mut roll = R::of_window(tail);
    for start in 0..tail.len() {
        if roll.digest() == last.weak {
            let mut d = [0u8; MAX_STRONG];
            let suffix = tail.get(start..)?;
            strong.strong(suffix, &mut d);
            if d.get(..last.strong.len()) == Some(&last.strong[..]) {
                return Some(start);
            }
        }
        roll.shrink(*tail.get(start)?);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::librsync::{apply, SignatureKind, SignatureParams};

    fn delta(basis: &[u8], new: &[u8], kind: SignatureKind, bl: u32) -> Vec<u8> {
        let p = SignatureParams::new(kind, bl, kind.strong().digest_len() as u32).unwrap();
        let mut w = DeltaWriter::new(Signature::compute(basis, p), &Limits::default());
        let mut out = Vec::new();
        w.push(new, &mut out);
        w.finish(&mut out);
        out
    }

    #[test]
    fn identical_file_is_one_copy() {
        // 10 blocks of 16 and a short block of 5: one COPY(0, 165).
        let basis: Vec<u8> = (0..165u32).map(|i| (i * 31 % 251) as u8).collect();
        let d = delta(&basis, &basis, SignatureKind::Md4Rollsum, 16);
        assert_eq!(d, [0x72, 0x73, 0x02, 0x36, 0x45, 0, 165, 0]);
    }

    #[test]
    fn all_new_is_literal() {
        let d = delta(b"", b"abc", SignatureKind::Blake2RabinKarp, 16);
        assert_eq!(d, [0x72, 0x73, 0x02, 0x36, 0x03, b'a', b'b', b'c', 0]);
        let d = delta(b"", b"", SignatureKind::Blake2RabinKarp, 16);
        assert_eq!(d, [0x72, 0x73, 0x02, 0x36, 0]);
    }

    #[test]
    fn short_last_block_matches_at_end() {
        let basis = b"0123456789abcdefXYZ";
        let new = b"____XYZ";
        let d = delta(basis, new, SignatureKind::Md4RabinKarp, 16);
        // LITERAL 4 "____", COPY(16, 3), END.
        assert_eq!(
            d,
            [0x72, 0x73, 0x02, 0x36, 0x04, b'_', b'_', b'_', b'_', 0x45, 16, 3, 0]
        );
        assert_eq!(apply(basis, &d, &Limits::default()).unwrap(), new);
    }

    #[test]
    fn long_literals_are_split_at_max_literal() {
        let new: Vec<u8> = (0..100u32).map(|i| i as u8).collect();
        let p = SignatureParams::new(SignatureKind::Md4Rollsum, 16, 4).unwrap();
        let limits = Limits {
            max_literal: 40,
            ..Limits::default()
        };
        let mut w = DeltaWriter::new(Signature::compute(b"", p), &limits);
        let mut out = Vec::new();
        for c in new.chunks(7) {
            w.push(c, &mut out);
        }
        w.finish(&mut out);
        assert_eq!(out.len(), 4 + 3 + 100 + 1);
        assert_eq!((out[4], out[45], out[86]), (40, 40, 20));
    }
}
