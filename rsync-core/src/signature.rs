//! rsync block signatures: the sum header and per-block weak and strong sums, built
//! incrementally from a basis file fed in chunks of any size.
//!
//! Spec: RFC.md §3.4 `[sum-head]` and `[block-sums]`. Reference: rsync `generate_and_send_sums`
//! (generator.c) and `read_sum_head`/`receive_sums` (io.c, sender.c).

use crate::checksum::{StrongSum, MAX_DIGEST_LEN};
use crate::limits::Limits;
use crate::multibuf::LANES;
use crate::rolling::weak_sum;

/// The four integers that open every block-sum list.
///
/// Wire: `[sum-head]` — `count`, `blength`, `s2length`, `remainder`, each an `int32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SumHead {
    /// Number of blocks.
    pub count: u32,
    /// Length of every block but possibly the last.
    pub block_len: u32,
    /// Strong-sum bytes kept per block (a prefix of the full digest).
    pub strong_len: u32,
    /// Length of the last block when it is short; 0 when every block is full.
    pub remainder: u32,
}

/// Why a sum header or signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SumHeadError {
    /// A field was negative on the wire.
    #[error("sum header field {field} is negative ({value})")]
    Negative {
        /// The field.
        field: &'static str,
        /// Its value.
        value: i32,
    },
    /// The block count exceeds [`Limits::max_block_count`].
    #[error("sum header count {count} exceeds the limit {max}")]
    TooManyBlocks {
        /// The count received.
        count: u32,
        /// The limit.
        max: u32,
    },
    /// The block length is 0 with blocks present, or above [`Limits::max_block_len`].
    #[error("sum header block length {block_len} is out of range 1..={max}")]
    BadBlockLen {
        /// The length received.
        block_len: u32,
        /// The limit.
        max: u32,
    },
    /// `s2length` exceeds the digest length (CVE-2024-12084).
    #[error("sum header strong length {strong_len} exceeds the digest length {digest_len}")]
    StrongTooLong {
        /// The length received.
        strong_len: u32,
        /// The digest's length.
        digest_len: u32,
    },
    /// `remainder` is not shorter than a block.
    #[error("sum header remainder {remainder} is not below the block length {block_len}")]
    BadRemainder {
        /// The remainder received.
        remainder: u32,
        /// The block length.
        block_len: u32,
    },
    /// The whole signature would exceed [`Limits::max_signature_bytes`].
    #[error("signature of {bytes} bytes exceeds the limit {max}")]
    TooLarge {
        /// Bytes it would take.
        bytes: u64,
        /// The limit.
        max: u64,
    },
}

impl SumHead {
    /// The header for "no basis": all four fields zero (a whole-file transfer).
    pub const EMPTY: Self = Self {
        count: 0,
        block_len: 0,
        strong_len: 0,
        remainder: 0,
    };

    /// Builds and validates a header from the four signed integers on the wire.
    pub fn from_wire(
        count: i32,
        block_len: i32,
        strong_len: i32,
        remainder: i32,
        digest_len: usize,
        limits: &Limits,
    ) -> Result<Self, SumHeadError> {
        let pos = |field, value: i32| {
            u32::try_from(value).map_err(|_| SumHeadError::Negative { field, value })
        };
        let head = Self {
            count: pos("count", count)?,
            block_len: pos("blength", block_len)?,
            strong_len: pos("s2length", strong_len)?,
            remainder: pos("remainder", remainder)?,
        };
        head.validate(digest_len, limits)?;
        Ok(head)
    }

    /// Checks the header against the digest length and `limits` (rsync 3.5.0's rules plus
    /// our memory bounds).
    pub fn validate(&self, digest_len: usize, limits: &Limits) -> Result<(), SumHeadError> {
        if self.count > limits.max_block_count {
            return Err(SumHeadError::TooManyBlocks {
                count: self.count,
                max: limits.max_block_count,
            });
        }
        if self.block_len > limits.max_block_len || (self.count > 0 && self.block_len == 0) {
            return Err(SumHeadError::BadBlockLen {
                block_len: self.block_len,
                max: limits.max_block_len,
            });
        }
        if self.strong_len as usize > digest_len {
            return Err(SumHeadError::StrongTooLong {
                strong_len: self.strong_len,
                digest_len: digest_len as u32,
            });
        }
        if self.remainder != 0 && self.remainder >= self.block_len {
            return Err(SumHeadError::BadRemainder {
                remainder: self.remainder,
                block_len: self.block_len,
            });
        }
        let bytes = u64::from(self.count) * (4 + u64::from(self.strong_len));
        if bytes > limits.max_signature_bytes {
            return Err(SumHeadError::TooLarge {
                bytes,
                max: limits.max_signature_bytes,
            });
        }
        Ok(())
    }

    /// The length of block `index`, or `None` if there is no such block.
    pub fn block_len_of(&self, index: u32) -> Option<u32> {
        if index >= self.count {
            None
        } else if index + 1 == self.count && self.remainder != 0 {
            Some(self.remainder)
        } else {
            Some(self.block_len)
        }
    }

    /// The length of the basis this header describes.
    pub fn basis_len(&self) -> u64 {
        match self.count {
            0 => 0,
            n => {
                u64::from(n - 1) * u64::from(self.block_len)
                    + u64::from(self.block_len_of(n - 1).unwrap_or(0))
            }
        }
    }
}

/// A complete block signature of a basis, held in memory (`count × (4 + s2length)` bytes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Signature {
    head: SumHead,
    weak: Vec<u32>,
    strong: Vec<u8>,
}

impl Signature {
    /// An empty signature for `head`, with room reserved for its blocks. `head` must already
    /// be validated (see [`SumHead::validate`]).
    pub fn with_head(head: SumHead) -> Self {
        Self {
            head: SumHead { count: 0, ..head },
            weak: Vec::with_capacity(head.count as usize),
            strong: Vec::with_capacity(head.count as usize * head.strong_len as usize),
        }
    }

    /// Computes the signature of an in-memory basis.
    ///
    /// ```
    /// use rsync_core::{block_size::SizeRule, checksum::{ChecksumKind, StrongSum}, Signature};
    /// let basis = vec![7u8; 5000];
    /// let head = SizeRule::new(31, 16).sum_head(basis.len() as u64).unwrap();
    /// let sig = Signature::compute(&basis, head, StrongSum::new(ChecksumKind::Xxh128, 1));
    /// assert_eq!(sig.len(), 8);
    /// ```
    pub fn compute(basis: &[u8], head: SumHead, strong: StrongSum) -> Self {
        let mut sig = Self::with_head(head);
        let mut b = SignatureBuilder::new(head, strong);
        b.update(basis, &mut |w, s| sig.push(w, s));
        b.finish(&mut |w, s| sig.push(w, s));
        sig
    }

    /// Appends one block's sums; `strong` is truncated or zero-padded to `strong_len`.
    pub fn push(&mut self, weak: u32, strong: &[u8]) {
        let n = self.head.strong_len as usize;
        self.weak.push(weak);
        let take = strong.len().min(n);
        self.strong.extend_from_slice(&strong[..take]);
        self.strong.resize(self.strong.len() + (n - take), 0);
        self.head.count += 1;
    }

    /// The header, with `count` equal to the blocks pushed so far.
    pub fn head(&self) -> SumHead {
        self.head
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.weak.len()
    }

    /// Whether there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.weak.is_empty()
    }

    /// The weak sum of block `i`.
    pub fn weak(&self, i: usize) -> Option<u32> {
        self.weak.get(i).copied()
    }

    /// The strong sum (first `strong_len` bytes) of block `i`.
    pub fn strong(&self, i: usize) -> Option<&[u8]> {
        let n = self.head.strong_len as usize;
        self.strong.get(i * n..(i + 1) * n)
    }

    /// All weak sums in block order.
    pub fn weak_sums(&self) -> &[u32] {
        &self.weak
    }

    /// All strong sums, concatenated, `strong_len` bytes each.
    pub fn strong_sums(&self) -> &[u8] {
        &self.strong
    }

    pub(crate) fn into_parts(self) -> (Vec<u32>, Vec<u8>) {
        (self.weak, self.strong)
    }
}

/// Computes block sums from a basis fed in chunks, emitting each block's
/// `(weak, strong prefix)` as soon as the block is complete. Memory use is one block.
///
/// ```
/// use rsync_core::{checksum::{ChecksumKind, StrongSum}, SignatureBuilder, SumHead};
/// let head = SumHead { count: 3, block_len: 4, strong_len: 2, remainder: 2 };
/// let mut b = SignatureBuilder::new(head, StrongSum::new(ChecksumKind::Md5, 0));
/// let mut n = 0;
/// b.update(b"abcdefg", &mut |_w, s| { assert_eq!(s.len(), 2); n += 1 });
/// b.update(b"hij", &mut |_w, _s| n += 1);
/// b.finish(&mut |_w, _s| n += 1);
/// assert_eq!(n, 3);
/// ```
#[derive(Debug)]
pub struct SignatureBuilder {
    head: SumHead,
    strong: StrongSum,
    partial: Vec<u8>,
}

impl SignatureBuilder {
    /// A builder producing blocks of `head.block_len` bytes with `head.strong_len`-byte
    /// strong sums. `count` and `remainder` are not consulted: the basis decides.
    pub fn new(head: SumHead, strong: StrongSum) -> Self {
        Self {
            head,
            strong,
            partial: Vec::new(),
        }
    }

    fn emit_block(&self, block: &[u8], emit: &mut impl FnMut(u32, &[u8])) {
        let mut d = [0u8; MAX_DIGEST_LEN];
        self.strong.block_sum(block, &mut d);
        let n = (self.head.strong_len as usize).min(MAX_DIGEST_LEN);
        emit(weak_sum(block), &d[..n]);
    }

    /// Feeds the next bytes of the basis.
    pub fn update(&mut self, mut data: &[u8], emit: &mut impl FnMut(u32, &[u8])) {
        let bl = self.head.block_len as usize;
        if bl == 0 {
            return;
        }
        if !self.partial.is_empty() {
            let take = (bl - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() < bl {
                return;
            }
            let block = std::mem::take(&mut self.partial);
            self.emit_block(&block, emit);
            self.partial = block;
            self.partial.clear();
        }
        let (mut whole, rest) = data.split_at(data.len() / bl * bl);
        if self.strong.has_lanes() {
            // Eight blocks at a time through the multi-buffer hash.
            let n = (self.head.strong_len as usize).min(MAX_DIGEST_LEN);
            let mut groups = whole.chunks_exact(bl * LANES);
            for group in &mut groups {
                let lanes: [&[u8]; LANES] = std::array::from_fn(|j| &group[j * bl..(j + 1) * bl]);
                match self.strong.block_sums_lanes(&lanes, bl) {
                    Some(sums) => {
                        for (block, sum) in lanes.iter().zip(sums.iter()) {
                            emit(weak_sum(block), &sum[..n]);
                        }
                    }
                    None => {
                        for block in lanes {
                            self.emit_block(block, emit);
                        }
                    }
                }
            }
            whole = groups.remainder();
        }
        for block in whole.chunks_exact(bl) {
            self.emit_block(block, emit);
        }
        self.partial.extend_from_slice(rest);
    }

    /// Ends the basis, emitting the short last block if there is one.
    pub fn finish(self, emit: &mut impl FnMut(u32, &[u8])) {
        if !self.partial.is_empty() {
            self.emit_block(&self.partial, emit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::ChecksumKind;

    #[test]
    fn header_validation() {
        let l = Limits::default();
        assert!(SumHead::from_wire(0, 0, 0, 0, 16, &l).is_ok());
        assert_eq!(
            SumHead::from_wire(-1, 700, 2, 0, 16, &l),
            Err(SumHeadError::Negative {
                field: "count",
                value: -1
            })
        );
        assert!(matches!(
            SumHead::from_wire(1, 0, 2, 0, 16, &l),
            Err(SumHeadError::BadBlockLen { .. })
        ));
        assert!(matches!(
            SumHead::from_wire(1, 700, 17, 0, 16, &l),
            Err(SumHeadError::StrongTooLong { .. })
        ));
        assert!(matches!(
            SumHead::from_wire(1, 700, 16, 0, 8, &l),
            Err(SumHeadError::StrongTooLong { .. })
        ));
        assert!(matches!(
            SumHead::from_wire(1, 700, 2, 700, 16, &l),
            Err(SumHeadError::BadRemainder { .. })
        ));
        let tight = Limits {
            max_signature_bytes: 100,
            ..l
        };
        assert!(matches!(
            SumHead::from_wire(100, 700, 2, 0, 16, &tight),
            Err(SumHeadError::TooLarge { .. })
        ));
        assert_eq!(
            SumHeadError::StrongTooLong {
                strong_len: 17,
                digest_len: 16
            }
            .to_string(),
            "sum header strong length 17 exceeds the digest length 16"
        );
    }

    #[test]
    fn builder_matches_whole_computation_for_any_split() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let head = SumHead {
            count: 15,
            block_len: 700,
            strong_len: 4,
            remainder: 200,
        };
        let s = StrongSum::new(ChecksumKind::Xxh3, -7);
        let whole = Signature::compute(&data, head, s);
        assert_eq!(whole.head(), head);
        for split in [1usize, 3, 699, 700, 701, 4096] {
            let mut sig = Signature::with_head(head);
            let mut b = SignatureBuilder::new(head, s);
            for c in data.chunks(split) {
                b.update(c, &mut |w, st| sig.push(w, st));
            }
            b.finish(&mut |w, st| sig.push(w, st));
            assert_eq!(sig, whole, "split {split}");
        }
        assert_eq!(whole.weak(14), Some(weak_sum(&data[9800..])));
        assert_eq!(head.basis_len(), 10_000);
    }
}
