//! Applying a librsync delta: a sans-IO [`Patcher`] that parses the command stream fed in
//! chunks of any size and hands out literal bytes and basis ranges to copy, and [`apply`]
//! for an in-memory basis.
//!
//! Spec: RFC.md Appendix R `[rdiff-delta-header]`, `[rdiff-opcodes]`, `[rdiff-op-literal]`,
//! `[rdiff-op-copy]`, `[rdiff-op-end]`. Reference: librsync `patch.c`, `prototab.c`.
//!
//! # Security
//!
//! Every length is checked against [`Limits::max_output`] before anything is emitted;
//! nothing is allocated from a length read from the delta (literal bytes are passed through
//! as they arrive); a COPY beyond a known basis length is rejected; reserved opcodes, zero or
//! negative lengths and bytes after END are errors.

use super::command::{shape, width, Shape};
use super::params::DELTA_MAGIC;
use crate::limits::Limits;

/// Why a delta was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The delta does not start with the delta magic.
    #[error("bad delta magic {magic:#010x} (expected {DELTA_MAGIC:#010x})")]
    BadMagic {
        /// The value read.
        magic: u32,
    },
    /// A reserved opcode (`0x55`–`0xff`).
    #[error("unknown delta opcode {opcode:#04x} at byte {at}")]
    UnknownOpcode {
        /// The opcode.
        opcode: u8,
        /// Its offset in the delta.
        at: u64,
    },
    /// A parameter is zero where a length is required, or negative as librsync's signed
    /// 64-bit integers.
    #[error("invalid {field} {value} in delta command at byte {at}")]
    BadParameter {
        /// `"literal length"`, `"copy offset"` or `"copy length"`.
        field: &'static str,
        /// The value read.
        value: u64,
        /// Offset of the command in the delta.
        at: u64,
    },
    /// A COPY reaches past the end of the basis.
    #[error("copy of {len} bytes at offset {offset} is beyond the basis ({basis_len} bytes)")]
    CopyOutOfRange {
        /// Offset requested.
        offset: u64,
        /// Length requested.
        len: u64,
        /// The basis length.
        basis_len: u64,
    },
    /// The output would exceed [`Limits::max_output`].
    #[error("delta output exceeds the limit of {max} bytes")]
    OutputLimit {
        /// The limit.
        max: u64,
    },
    /// The delta ended before END.
    #[error("delta truncated in the {reading}")]
    Truncated {
        /// `"magic"`, `"command"`, `"command parameters"` or `"literal data"`.
        reading: &'static str,
    },
    /// Bytes follow the END command.
    #[error("unexpected data after the end of the delta, at byte {at}")]
    TrailingData {
        /// Offset of the first byte after END.
        at: u64,
    },
    /// The patcher was used again after an error.
    #[error("delta patcher used after an error")]
    Failed,
}

/// One output step of a delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOp<'a> {
    /// Bytes to write to the output (part or all of a LITERAL command).
    Literal(&'a [u8]),
    /// Copy `len` bytes of the basis from `offset` to the output. `len` can be large; the
    /// caller reads it in pieces.
    Copy {
        /// Offset in the basis.
        offset: u64,
        /// Bytes to copy (≥ 1).
        len: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Magic,
    Opcode,
    /// Gathering the parameters of the opcode at `at`.
    Params {
        op: Shape,
        at: u64,
    },
    Literal {
        remaining: u64,
    },
    Done,
    Failed,
}

/// Streaming delta parser; see the module docs.
///
/// ```
/// use rsync_core::librsync::{PatchError, PatchOp, Patcher};
/// use rsync_core::Limits;
/// let basis = b"0123456789";
/// // magic, COPY(offset 2, len 3), LITERAL 2 "ab", END
/// let delta = [0x72, 0x73, 0x02, 0x36, 0x45, 2, 3, 0x02, b'a', b'b', 0x00];
/// let mut p = Patcher::with_basis_len(Limits::default(), basis.len() as u64);
/// let mut out = Vec::new();
/// for chunk in delta.chunks(3) {
///     p.push(chunk, &mut |op| -> Result<(), PatchError> {
///         match op {
///             PatchOp::Literal(b) => out.extend_from_slice(b),
///             PatchOp::Copy { offset, len } => {
///                 out.extend_from_slice(&basis[offset as usize..(offset + len) as usize])
///             }
///         }
///         Ok(())
///     })?;
/// }
/// assert_eq!(p.finish()?, 5);
/// assert_eq!(out, b"234ab");
/// # Ok::<(), PatchError>(())
/// ```
#[derive(Debug)]
pub struct Patcher {
    limits: Limits,
    basis_len: Option<u64>,
    state: State,
    /// Bytes of the magic or of the current command's parameters.
    buf: [u8; 16],
    have: usize,
    /// Delta bytes consumed.
    pos: u64,
    written: u64,
}

impl Patcher {
    /// A patcher whose basis length is unknown: the caller must check copies against the
    /// basis itself.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            basis_len: None,
            state: State::Magic,
            buf: [0; 16],
            have: 0,
            pos: 0,
            written: 0,
        }
    }

    /// A patcher that rejects copies beyond `basis_len` bytes.
    pub fn with_basis_len(limits: Limits, basis_len: u64) -> Self {
        Self {
            basis_len: Some(basis_len),
            ..Self::new(limits)
        }
    }

    /// Output bytes announced so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Whether END has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn grow(&mut self, n: u64) -> Result<(), PatchError> {
        match self.written.checked_add(n) {
            Some(w) if w <= self.limits.max_output => {
                self.written = w;
                Ok(())
            }
            _ => Err(PatchError::OutputLimit {
                max: self.limits.max_output,
            }),
        }
    }

    /// Big-endian integer from `buf[from..from + len]`.
    fn param(&self, from: usize, len: usize) -> u64 {
        self.buf
            .get(from..from + len)
            .unwrap_or_default()
            .iter()
            .fold(0u64, |v, &b| (v << 8) | u64::from(b))
    }

    /// Gathers up to `need` bytes into `buf`; returns whether it is complete.
    fn gather(&mut self, need: usize, data: &mut &[u8]) -> bool {
        let take = need.saturating_sub(self.have).min(data.len());
        let (head, rest) = data.split_at(take);
        if let Some(dst) = self.buf.get_mut(self.have..self.have + take) {
            dst.copy_from_slice(head);
        }
        self.have += take;
        self.pos += take as u64;
        *data = rest;
        self.have >= need
    }

    fn start_literal(&mut self, len: u64, at: u64) -> Result<(), PatchError> {
        if len == 0 || len > i64::MAX as u64 {
            return Err(PatchError::BadParameter {
                field: "literal length",
                value: len,
                at,
            });
        }
        self.grow(len)?;
        self.state = State::Literal { remaining: len };
        Ok(())
    }

    fn check_copy(&mut self, offset: u64, len: u64, at: u64) -> Result<(), PatchError> {
        let bad = |field, value| PatchError::BadParameter { field, value, at };
        if offset > i64::MAX as u64 {
            return Err(bad("copy offset", offset));
        }
        if len == 0 || len > i64::MAX as u64 {
            return Err(bad("copy length", len));
        }
        if let Some(basis_len) = self.basis_len {
            if offset.checked_add(len).is_none_or(|end| end > basis_len) {
                return Err(PatchError::CopyOutOfRange {
                    offset,
                    len,
                    basis_len,
                });
            }
        }
        self.grow(len)
    }

    /// Feeds the next bytes of the delta; output steps go to `sink` in order. `sink`'s error
    /// type must absorb [`PatchError`], so that I/O errors and delta errors share one path.
    ///
    /// # Errors
    ///
    /// A [`PatchError`] (converted) for an invalid delta, or the sink's error. After an
    /// error the patcher only returns [`PatchError::Failed`].
    pub fn push<E, F>(&mut self, data: &[u8], sink: &mut F) -> Result<(), E>
    where
        E: From<PatchError>,
        F: FnMut(PatchOp<'_>) -> Result<(), E>,
    {
        let r = self.run(data, sink);
        if r.is_err() {
            self.state = State::Failed;
        }
        r
    }

    fn run<E, F>(&mut self, mut data: &[u8], sink: &mut F) -> Result<(), E>
    where
        E: From<PatchError>,
        F: FnMut(PatchOp<'_>) -> Result<(), E>,
    {
        while !data.is_empty() {
            match self.state {
                State::Failed => return Err(PatchError::Failed.into()),
                State::Done => {
                    return Err(PatchError::TrailingData { at: self.pos }.into());
                }
                State::Magic => {
                    if self.gather(4, &mut data) {
                        let magic = self.param(0, 4) as u32;
                        if magic != DELTA_MAGIC {
                            return Err(PatchError::BadMagic { magic }.into());
                        }
                        self.have = 0;
                        self.state = State::Opcode;
                    }
                }
                State::Opcode => {
                    let Some((&op, rest)) = data.split_first() else {
                        break;
                    };
                    let at = self.pos;
                    data = rest;
                    self.pos += 1;
                    match shape(op) {
                        Shape::End => self.state = State::Done,
                        Shape::ShortLiteral(n) => self.start_literal(u64::from(n), at)?,
                        Shape::Reserved => {
                            return Err(PatchError::UnknownOpcode { opcode: op, at }.into())
                        }
                        s => {
                            self.have = 0;
                            self.state = State::Params { op: s, at };
                        }
                    }
                }
                State::Params { op, at } => {
                    let (w1, w2) = match op {
                        Shape::Literal(w) => (width(w), 0),
                        Shape::Copy(a, b) => (width(a), width(b)),
                        _ => (0, 0),
                    };
                    if self.gather(w1 + w2, &mut data) {
                        let p1 = self.param(0, w1);
                        self.have = 0;
                        if let Shape::Copy(..) = op {
                            let len = self.param(w1, w2);
                            self.check_copy(p1, len, at)?;
                            self.state = State::Opcode;
                            sink(PatchOp::Copy { offset: p1, len })?;
                        } else {
                            self.start_literal(p1, at)?;
                        }
                    }
                }
                State::Literal { remaining } => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    let (run, rest) = data.split_at(take);
                    data = rest;
                    self.pos += take as u64;
                    let remaining = remaining - take as u64;
                    self.state = if remaining == 0 {
                        State::Opcode
                    } else {
                        State::Literal { remaining }
                    };
                    sink(PatchOp::Literal(run))?;
                }
            }
        }
        Ok(())
    }

    /// Ends the delta. Returns the length of the output.
    ///
    /// # Errors
    ///
    /// [`PatchError::Truncated`] if END has not been read.
    pub fn finish(self) -> Result<u64, PatchError> {
        let reading = match self.state {
            State::Done => return Ok(self.written),
            State::Failed => return Err(PatchError::Failed),
            State::Magic => "magic",
            State::Opcode => "command",
            State::Params { .. } => "command parameters",
            State::Literal { .. } => "literal data",
        };
        Err(PatchError::Truncated { reading })
    }
}

/// Applies a whole delta to an in-memory basis; the output is bounded by
/// `limits.max_output`.
///
/// ```
/// use rsync_core::librsync::{apply, PatchError};
/// use rsync_core::Limits;
/// let delta = [0x72, 0x73, 0x02, 0x36, 0x45, 0, 2, 0x01, b'!', 0x00];
/// assert_eq!(apply(b"hi", &delta, &Limits::default())?, b"hi!");
/// let small = Limits { max_output: 2, ..Limits::default() };
/// assert_eq!(apply(b"hi", &delta, &small), Err(PatchError::OutputLimit { max: 2 }));
/// # Ok::<(), PatchError>(())
/// ```
///
/// # Errors
///
/// See [`PatchError`].
pub fn apply(basis: &[u8], delta: &[u8], limits: &Limits) -> Result<Vec<u8>, PatchError> {
    let mut p = Patcher::with_basis_len(*limits, basis.len() as u64);
    let mut out = Vec::new();
    p.push(delta, &mut |op| -> Result<(), PatchError> {
        match op {
            PatchOp::Literal(b) => out.extend_from_slice(b),
            PatchOp::Copy { offset, len } => {
                let range = usize::try_from(offset)
                    .ok()
                    .zip(usize::try_from(offset.saturating_add(len)).ok())
                    .and_then(|(s, e)| basis.get(s..e))
                    .ok_or(PatchError::CopyOutOfRange {
                        offset,
                        len,
                        basis_len: basis.len() as u64,
                    })?;
                out.extend_from_slice(range);
            }
        }
        Ok(())
    })?;
    p.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAGIC: [u8; 4] = [0x72, 0x73, 0x02, 0x36];

    fn run(basis: &[u8], body: &[u8]) -> Result<Vec<u8>, PatchError> {
        let mut d = MAGIC.to_vec();
        d.extend_from_slice(body);
        apply(basis, &d, &Limits::default())
    }

    #[test]
    fn every_literal_and_copy_width() {
        let basis: Vec<u8> = (0..=255u8).collect();
        // LITERAL_N1..N8 of 2 bytes each.
        for (op, w) in [(0x41u8, 1usize), (0x42, 2), (0x43, 4), (0x44, 8)] {
            let mut body = vec![op];
            body.extend(std::iter::repeat_n(0, w - 1));
            body.extend_from_slice(&[2, b'x', b'y', 0]);
            assert_eq!(run(&basis, &body).unwrap(), b"xy", "opcode {op:#x}");
        }
        // COPY_Na_Nb of (offset 5, len 3) for all 16 width pairs.
        for a in 0..4u8 {
            for b in 0..4u8 {
                let mut body = vec![0x45 + 4 * a + b];
                body.extend(std::iter::repeat_n(0, width(a) - 1));
                body.push(5);
                body.extend(std::iter::repeat_n(0, width(b) - 1));
                body.extend_from_slice(&[3, 0]);
                assert_eq!(run(&basis, &body).unwrap(), [5, 6, 7]);
            }
        }
        assert_eq!(
            run(&basis, &[0x40]).err(),
            Some(PatchError::Truncated {
                reading: "literal data"
            })
        );
    }

    #[test]
    fn errors() {
        let basis = b"0123456789";
        assert_eq!(
            apply(basis, b"rs\x016\0", &Limits::default()),
            Err(PatchError::BadMagic { magic: 0x7273_0136 })
        );
        assert_eq!(
            run(basis, &[0x55]),
            Err(PatchError::UnknownOpcode {
                opcode: 0x55,
                at: 4
            })
        );
        assert_eq!(
            run(basis, &[0x45, 8, 3, 0]),
            Err(PatchError::CopyOutOfRange {
                offset: 8,
                len: 3,
                basis_len: 10
            })
        );
        assert_eq!(
            run(basis, &[0x45, 0, 0, 0]),
            Err(PatchError::BadParameter {
                field: "copy length",
                value: 0,
                at: 4
            })
        );
        assert_eq!(
            run(basis, &[0x41, 0, 0]),
            Err(PatchError::BadParameter {
                field: "literal length",
                value: 0,
                at: 4
            })
        );
        let mut huge = vec![0x44, 0x80];
        huge.extend_from_slice(&[0; 7]);
        assert!(matches!(
            run(basis, &huge),
            Err(PatchError::BadParameter { .. })
        ));
        assert_eq!(
            run(basis, &[0x01, b'a', 0, 0]),
            Err(PatchError::TrailingData { at: 7 })
        );
        assert_eq!(
            run(basis, &[]),
            Err(PatchError::Truncated { reading: "command" })
        );
        assert_eq!(
            run(basis, &[0x49, 0]),
            Err(PatchError::Truncated {
                reading: "command parameters"
            })
        );
        assert_eq!(
            apply(basis, &MAGIC[..2], &Limits::default()),
            Err(PatchError::Truncated { reading: "magic" })
        );
        // The limit is checked on the declared length, before any byte is output.
        let small = Limits {
            max_output: 5,
            ..Limits::default()
        };
        let mut d = MAGIC.to_vec();
        d.extend_from_slice(&[0x06, 1, 2, 3, 4, 5, 6, 0]);
        assert_eq!(
            apply(basis, &d, &small),
            Err(PatchError::OutputLimit { max: 5 })
        );
    }

    #[test]
    fn failed_patcher_stays_failed() {
        let mut p = Patcher::new(Limits::default());
        let mut sink = |_: PatchOp<'_>| -> Result<(), PatchError> { Ok(()) };
        assert!(p.push(b"xxxx", &mut sink).is_err());
        assert_eq!(p.push(&MAGIC, &mut sink), Err(PatchError::Failed));
        assert_eq!(p.finish(), Err(PatchError::Failed));
    }
}
