//! rsync's block-length and strong-sum-length rules, as pure functions of the file length.
//!
//! Spec: RFC.md §3.2 `[block-length]` and `[s2length]`. Reference: rsync `sum_sizes_sqroot`
//! (generator.c). The sender accepts any sum header that passes validation, so these rules
//! matter for efficiency and for producing the same headers as stock rsync, not for
//! correctness.

use crate::signature::SumHead;

/// rsync's smallest (and default) block length, `BLOCK_SIZE`.
pub const BLOCK_SIZE: u32 = 700;
/// The largest block length from protocol 30 on, `MAX_BLOCK_SIZE` (128 KiB).
pub const MAX_BLOCK_SIZE: u32 = 1 << 17;
/// The largest block length before protocol 30, `OLD_MAX_BLOCK_SIZE` (512 MiB).
pub const OLD_MAX_BLOCK_SIZE: u32 = 1 << 29;
/// The strong-sum length of the first pass, `SHORT_SUM_LENGTH`.
pub const SHORT_SUM_LENGTH: u32 = 2;
/// The strong-sum length of the redo pass, `SUM_LENGTH`.
pub const SUM_LENGTH: u32 = 16;
const BLOCKSUM_BIAS: i32 = 10;

/// Inputs to the block-size rule besides the file length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeRule {
    /// Negotiated protocol version (27 or later).
    pub protocol: u32,
    /// `--block-size`, if given (0 means unset).
    pub block_size: u32,
    /// `csum_length`: [`SHORT_SUM_LENGTH`] in the first pass, [`SUM_LENGTH`] in the redo pass.
    pub csum_length: u32,
    /// The negotiated digest length (`xfer_sum_len`); s2length never exceeds it.
    pub digest_len: u32,
}

impl SizeRule {
    /// The first-pass rule for `protocol` and a digest of `digest_len` bytes.
    pub const fn new(protocol: u32, digest_len: u32) -> Self {
        Self {
            protocol,
            block_size: 0,
            csum_length: SHORT_SUM_LENGTH,
            digest_len,
        }
    }

    /// The sum header rsync's generator would send for a basis of `len` bytes, or `None` if
    /// the block count does not fit an `int32` (rsync then refuses the file).
    ///
    /// ```
    /// use rsync_core::block_size::SizeRule;
    /// let h = SizeRule::new(31, 16).sum_head(2_000_000).unwrap();
    /// assert_eq!((h.block_len, h.strong_len, h.count, h.remainder), (1408, 2, 1421, 640));
    /// ```
    pub fn sum_head(&self, len: u64) -> Option<SumHead> {
        let block_len = self.block_len(len);
        let strong_len = self.strong_len(len, block_len);
        let remainder = (len % u64::from(block_len)) as u32;
        let count = len / u64::from(block_len) + u64::from(remainder != 0);
        let count = i32::try_from(count).ok()?;
        Some(SumHead {
            count: count as u32,
            block_len,
            strong_len,
            remainder,
        })
    }

    /// The block length for a basis of `len` bytes.
    pub fn block_len(&self, len: u64) -> u32 {
        if self.block_size != 0 {
            return self.block_size;
        }
        if len <= u64::from(BLOCK_SIZE) * u64::from(BLOCK_SIZE) {
            return BLOCK_SIZE;
        }
        let max = if self.protocol < 30 {
            OLD_MAX_BLOCK_SIZE
        } else {
            MAX_BLOCK_SIZE
        };
        // c = 2^floor(log4(len)), the starting bit of the square-root search.
        let mut c: u64 = 1;
        let mut l = len >> 2;
        while l != 0 {
            c <<= 1;
            l >>= 2;
        }
        if c >= u64::from(max) {
            return max;
        }
        let mut blength: u64 = 0;
        loop {
            blength |= c;
            if u128::from(len) < u128::from(blength) * u128::from(blength) {
                blength &= !c;
            }
            c >>= 1;
            if c < 8 {
                break;
            }
        }
        blength.max(u64::from(BLOCK_SIZE)) as u32
    }

    /// The strong-sum length for a basis of `len` bytes cut into `block_len` blocks.
    pub fn strong_len(&self, len: u64, block_len: u32) -> u32 {
        let max = SUM_LENGTH.min(self.digest_len);
        if self.csum_length == SUM_LENGTH {
            return max;
        }
        let mut b = BLOCKSUM_BIAS;
        let mut l = len >> 1;
        while l != 0 {
            b += 2;
            l >>= 1;
        }
        let mut c = block_len >> 1;
        while c != 0 && b != 0 {
            b -= 1;
            c >>= 1;
        }
        // C integer division truncates toward zero.
        let s2 = (b + 1 - 32 + 7) / 8;
        (s2.max(self.csum_length as i32) as u32).min(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_example() {
        let h = SizeRule::new(31, 16).sum_head(2_000_000).unwrap();
        assert_eq!(
            h,
            SumHead {
                count: 1421,
                block_len: 1408,
                strong_len: 2,
                remainder: 640
            }
        );
    }

    #[test]
    fn small_and_edge_lengths() {
        let r = SizeRule::new(31, 16);
        assert_eq!(
            r.sum_head(0).unwrap(),
            SumHead {
                count: 0,
                block_len: 700,
                strong_len: 2,
                remainder: 0
            }
        );
        assert_eq!(
            r.sum_head(1).unwrap(),
            SumHead {
                count: 1,
                block_len: 700,
                strong_len: 2,
                remainder: 1
            }
        );
        assert_eq!(r.block_len(490_000), 700);
        assert_eq!(r.block_len(490_001), 700);
        // Square root, rounded down to a multiple of 8.
        assert_eq!(r.block_len(1 << 20), 1024);
        assert_eq!(r.block_len(512 << 20), 23168);
        // Capped by protocol.
        assert_eq!(r.block_len(1 << 40), MAX_BLOCK_SIZE);
        assert_eq!(SizeRule::new(29, 16).block_len(1 << 40), 1 << 20);
        assert_eq!(SizeRule::new(29, 16).block_len(1 << 62), OLD_MAX_BLOCK_SIZE);
    }

    #[test]
    fn strong_len_grows_and_is_capped() {
        let r = SizeRule::new(31, 8);
        // Large files need longer sums, but never more than the digest.
        let h = r.sum_head(1 << 40).unwrap();
        assert!(h.strong_len > 2 && h.strong_len <= 8, "{h:?}");
        let redo = SizeRule {
            csum_length: SUM_LENGTH,
            ..r
        };
        assert_eq!(redo.sum_head(10).unwrap().strong_len, 8);
        assert_eq!(
            SizeRule {
                csum_length: SUM_LENGTH,
                ..SizeRule::new(31, 16)
            }
            .sum_head(10)
            .unwrap()
            .strong_len,
            16
        );
    }

    #[test]
    fn brute_force_square_root() {
        let r = SizeRule::new(31, 16);
        for len in (490_001u64..40_000_000).step_by(99_991) {
            let b = u64::from(r.block_len(len));
            if b == u64::from(BLOCK_SIZE) {
                // The floor of 700 wins over the rounded-down root just above 700².
                assert!(len < 708 * 708, "len {len}");
                continue;
            }
            assert_eq!(b % 8, 0);
            assert!(b * b <= len && (b + 8) * (b + 8) > len, "len {len} -> {b}");
        }
    }
}
