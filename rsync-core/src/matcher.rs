//! rsync's sender side of the delta: match a new file, fed in chunks, against the receiver's
//! block signature and emit tokens.
//!
//! Spec: RFC.md §3.5 `[matching]` and §3.6 `[token]`. Reference: rsync `match_sums` and
//! `hash_search` (match.c). Literal runs are at most [`Limits::max_literal`] bytes (32 KiB by
//! default, the `CHUNK_SIZE` every stock sender keeps to).

use crate::checksum::StrongSum;
use crate::engine::{Engine, Index, Op};
use crate::limits::Limits;
use crate::rolling::RollingSum;
use crate::signature::{Signature, SumHead};

/// One unit of an rsync delta.
///
/// Wire: `[token]` — a literal of *n* bytes is the `int32` *n* followed by the bytes; a copy
/// of block *i* is the `int32` −(*i*+1); the stream ends with `int32` 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// Bytes the receiver does not have.
    Literal(&'a [u8]),
    /// Copy block `i` of the basis (`block_len` bytes at `i × block_len`, or the remainder
    /// for the last block).
    Copy(u32),
}

/// Streaming matcher: feed the new file with [`push`](Self::push), end with
/// [`finish`](Self::finish); tokens go to a callback as they are decided. Memory use is the
/// signature plus one block.
///
/// It prefers the block after the previous match, so unchanged runs come out in order, and
/// it cannot be made quadratic: a weak sum is compared against at most 1024 blocks, and a
/// weak sum that produced 1024 false positives is ignored afterwards.
///
/// ```
/// use rsync_core::{checksum::{ChecksumKind, StrongSum}, Matcher, Signature, SumHead, Token};
/// let basis = b"0123456789abcdefghij";
/// let head = SumHead { count: 4, block_len: 5, strong_len: 16, remainder: 0 };
/// let strong = StrongSum::new(ChecksumKind::Md5, 42);
/// let sig = Signature::compute(basis, head, strong);
/// let mut m = Matcher::new(sig, strong);
/// let mut out = Vec::new();
/// let mut sink = |t: Token<'_>| -> Result<(), ()> {
///     out.push(match t { Token::Literal(b) => format!("L{}", b.len()), Token::Copy(i) => format!("C{i}") });
///     Ok(())
/// };
/// m.push(b"01234XYZ56789", &mut sink)?;
/// m.push(b"abcdefghij", &mut sink)?;
/// m.finish(&mut sink)?;
/// assert_eq!(out, ["C0", "L3", "C1", "C2", "C3"]);
/// # Ok::<(), ()>(())
/// ```
#[derive(Debug)]
pub struct Matcher {
    engine: Engine<RollingSum, StrongSum>,
}

impl Matcher {
    /// A matcher against `signature`, whose strong sums were made with `strong`.
    pub fn new(signature: Signature, strong: StrongSum) -> Self {
        Self::with_limits(signature, strong, &Limits::default())
    }

    /// As [`new`](Self::new), with literal runs capped at `limits.max_literal`.
    pub fn with_limits(signature: Signature, strong: StrongSum, limits: &Limits) -> Self {
        let head: SumHead = signature.head();
        let stored = head.strong_len as usize;
        let strong_len = stored.min(strong.digest_len());
        let (weak, mut sums) = signature.into_parts();
        if strong_len < stored {
            // A header asking for more strong bytes than the digest has (rejected on the
            // wire, but constructible in memory): compare the digest's bytes only.
            sums = sums
                .chunks(stored.max(1))
                .flat_map(|s| &s[..strong_len.min(s.len())])
                .copied()
                .collect();
        }
        let full = if head.remainder != 0 {
            head.count.saturating_sub(1)
        } else {
            head.count
        };
        let index = Index::new(weak, sums, strong_len, full);
        let engine = Engine::new(
            index,
            strong,
            head.block_len as usize,
            head.remainder as usize,
            limits.max_literal as usize,
        );
        Self { engine }
    }

    /// Feeds the next bytes of the new file; decided tokens go to `sink`.
    pub fn push<E, F>(&mut self, data: &[u8], sink: &mut F) -> Result<(), E>
    where
        F: FnMut(Token<'_>) -> Result<(), E>,
    {
        self.engine.push(data, &mut |op| sink(op.into()))
    }

    /// Ends the new file, emitting the remaining tokens (not the end marker).
    pub fn finish<E, F>(self, sink: &mut F) -> Result<(), E>
    where
        F: FnMut(Token<'_>) -> Result<(), E>,
    {
        self.engine.finish(&mut |op| sink(op.into()))
    }
}

impl<'a> From<Op<'a>> for Token<'a> {
    #[inline]
    fn from(op: Op<'a>) -> Self {
        match op {
            Op::Literal(b) => Token::Literal(b),
            Op::Copy(i) => Token::Copy(i),
        }
    }
}
