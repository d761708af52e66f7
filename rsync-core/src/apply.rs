//! rsync's receiver side of the delta: rebuild the new file from tokens and the basis,
//! validating every token and the whole-file checksum.
//!
//! Spec: RFC.md §3.6 `[token]` and `[file-sum]`. Reference: rsync `receive_data`
//! (receiver.c). The [`Applier`] does no I/O: for a copy it names the basis range, the caller
//! reads it and hands the bytes back, so it fits both blocking code and sans-IO drivers.

use crate::checksum::{FileHasher, StrongSum};
use crate::limits::Limits;
use crate::matcher::Token;
use crate::signature::{SumHead, SumHeadError};

/// A byte range of the basis to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRange {
    /// Offset in the basis.
    pub offset: u64,
    /// Length in bytes.
    pub len: u32,
}

/// Why a token stream was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// A literal token longer than [`Limits::max_literal`].
    #[error("literal of {len} bytes exceeds the limit {max}")]
    LiteralTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: u32,
    },
    /// A literal token of zero bytes (zero is the end marker).
    #[error("empty literal token")]
    EmptyLiteral,
    /// A copy of a block the sum header does not have.
    #[error("copy of block {index} but the basis has {count} blocks")]
    BlockOutOfRange {
        /// The block requested.
        index: u64,
        /// Blocks in the sum header.
        count: u32,
    },
    /// The output would exceed [`Limits::max_output`].
    #[error("output exceeds the limit of {max} bytes")]
    OutputLimit {
        /// The limit.
        max: u64,
    },
    /// A token arrived while the bytes of the previous copy were still awaited.
    #[error("token before the bytes of the pending copy were supplied")]
    CopyPending,
    /// Basis bytes were supplied with no copy pending, or of the wrong length.
    #[error("supplied {got} basis bytes, expected {expected}")]
    CopyLength {
        /// Bytes the pending copy needs (0 if none is pending).
        expected: u32,
        /// Bytes supplied.
        got: usize,
    },
    /// The basis is shorter than the sum header says.
    #[error("basis has {len} bytes but block {index} needs bytes up to {end}")]
    BasisTooShort {
        /// The block.
        index: u32,
        /// End offset needed.
        end: u64,
        /// Basis length.
        len: u64,
    },
    /// The whole-file checksum differs: the result is wrong (rsync then redoes the file).
    #[error("whole-file checksum mismatch")]
    ChecksumMismatch,
}

/// Rebuilds a file from rsync tokens; see the module docs.
///
/// ```
/// use rsync_core::{checksum::{ChecksumKind, StrongSum}, Applier, Limits, SumHead, Token};
/// let basis = b"hello world!";
/// let head = SumHead { count: 2, block_len: 6, strong_len: 2, remainder: 0 };
/// let strong = StrongSum::new(ChecksumKind::Xxh128, 7);
/// let mut a = Applier::new(head, strong, Limits::default())?;
/// let mut out = Vec::new();
/// a.apply_in_memory(Token::Copy(1), basis, &mut out)?;
/// a.apply_in_memory(Token::Literal(b", "), basis, &mut out)?;
/// a.apply_in_memory(Token::Copy(0), basis, &mut out)?;
/// let mut f = strong.file_hasher();
/// f.update(b"world!, hello ");
/// a.finish(f.finish().as_bytes())?;
/// assert_eq!(out, b"world!, hello ");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Applier {
    head: SumHead,
    limits: Limits,
    hasher: FileHasher,
    written: u64,
    pending: Option<u32>,
}

impl Applier {
    /// An applier for tokens against a basis described by `head`, which is validated here.
    pub fn new(head: SumHead, strong: StrongSum, limits: Limits) -> Result<Self, SumHeadError> {
        head.validate(strong.digest_len(), &limits)?;
        Ok(Self {
            head,
            limits,
            hasher: strong.file_hasher(),
            written: 0,
            pending: None,
        })
    }

    /// Bytes produced so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn grow(&mut self, n: u64) -> Result<(), ApplyError> {
        match self.written.checked_add(n) {
            Some(w) if w <= self.limits.max_output => {
                self.written = w;
                Ok(())
            }
            _ => Err(ApplyError::OutputLimit {
                max: self.limits.max_output,
            }),
        }
    }

    /// Accepts a literal token; on `Ok` the caller writes `data` to the output.
    pub fn literal(&mut self, data: &[u8]) -> Result<(), ApplyError> {
        if self.pending.is_some() {
            return Err(ApplyError::CopyPending);
        }
        if data.is_empty() {
            return Err(ApplyError::EmptyLiteral);
        }
        if data.len() > self.limits.max_literal as usize {
            return Err(ApplyError::LiteralTooLong {
                len: data.len(),
                max: self.limits.max_literal,
            });
        }
        self.grow(data.len() as u64)?;
        self.hasher.update(data);
        Ok(())
    }

    /// Accepts a copy of block `index` (wire token −(`index`+1)) and returns the basis range
    /// to read; the caller then passes those bytes to [`copied`](Self::copied).
    pub fn copy(&mut self, index: u64) -> Result<BlockRange, ApplyError> {
        if self.pending.is_some() {
            return Err(ApplyError::CopyPending);
        }
        let out_of_range = || ApplyError::BlockOutOfRange {
            index,
            count: self.head.count,
        };
        let i = u32::try_from(index).map_err(|_| out_of_range())?;
        let len = self.head.block_len_of(i).ok_or_else(out_of_range)?;
        self.grow(u64::from(len))?;
        self.pending = Some(len);
        Ok(BlockRange {
            offset: u64::from(i) * u64::from(self.head.block_len),
            len,
        })
    }

    /// Supplies the basis bytes of the pending copy; on `Ok` the caller writes them out.
    pub fn copied(&mut self, data: &[u8]) -> Result<(), ApplyError> {
        match self.pending {
            Some(n) if n as usize == data.len() => {
                self.pending = None;
                self.hasher.update(data);
                Ok(())
            }
            other => Err(ApplyError::CopyLength {
                expected: other.unwrap_or(0),
                got: data.len(),
            }),
        }
    }

    /// Applies one token against an in-memory basis, appending to `out`.
    pub fn apply_in_memory(
        &mut self,
        token: Token<'_>,
        basis: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ApplyError> {
        match token {
            Token::Literal(data) => {
                self.literal(data)?;
                out.extend_from_slice(data);
            }
            Token::Copy(i) => {
                let r = self.copy(u64::from(i))?;
                let end = r.offset + u64::from(r.len);
                let bytes = usize::try_from(r.offset)
                    .ok()
                    .zip(usize::try_from(end).ok())
                    .and_then(|(s, e)| basis.get(s..e))
                    .ok_or(ApplyError::BasisTooShort {
                        index: i,
                        end,
                        len: basis.len() as u64,
                    })?;
                self.copied(bytes)?;
                out.extend_from_slice(bytes);
            }
        }
        Ok(())
    }

    /// Ends the file: compares the sender's whole-file checksum with ours. Returns the
    /// length of the rebuilt file.
    pub fn finish(self, expected: &[u8]) -> Result<u64, ApplyError> {
        if self.pending.is_some() {
            return Err(ApplyError::CopyPending);
        }
        if self.hasher.finish().as_bytes() != expected {
            return Err(ApplyError::ChecksumMismatch);
        }
        Ok(self.written)
    }
}
