//! Signature kinds (magic numbers) and parameters: block length and strong-sum length, with
//! librsync's rules for choosing them from the basis size.
//!
//! Spec: RFC.md Appendix R `[rdiff-magic]` and `[rdiff-sig-args]`. Reference: librsync
//! `librsync.h` (`rs_magic_number`), `sumset.c` (`rs_sig_args`), `util.c` (`rs_long_sqrt`,
//! `rs_long_ln2`).

use super::strong::StrongKind;

/// Magic number opening every delta (`"rs\x026"`).
///
/// Wire: RFC.md Appendix R `[rdiff-delta-header]`.
pub const DELTA_MAGIC: u32 = 0x7273_0236;

/// Block length used when the basis size is unknown (librsync `RS_DEFAULT_BLOCK_LEN`).
pub const DEFAULT_BLOCK_LEN: u32 = 2048;

/// Minimum strong-sum length used when the basis size is unknown (librsync
/// `RS_DEFAULT_MIN_STRONG_LEN`).
pub const DEFAULT_MIN_STRONG_LEN: u32 = 12;

/// Largest block length: librsync stores it in a C `int`.
pub const MAX_BLOCK_LEN: u32 = i32::MAX as u32;

/// The rolling (weak) checksum of a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeakKind {
    /// rsync-style sums over unsigned bytes ([`super::Rollsum`]).
    Rollsum,
    /// Polynomial hash ([`super::RabinKarp`]).
    RabinKarp,
}

/// The four signature formats of librsync 2.x, named by their weak and strong sums.
///
/// Wire: RFC.md Appendix R `[rdiff-magic]` — the first four bytes, big-endian.
///
/// ```
/// use rsync_core::librsync::{SignatureKind, StrongKind, WeakKind};
/// let k = SignatureKind::new(StrongKind::Md4, WeakKind::Rollsum);
/// assert_eq!(k.magic(), 0x7273_0136);
/// assert_eq!(SignatureKind::from_magic(0x7273_0147), Some(SignatureKind::Blake2RabinKarp));
/// assert_eq!(SignatureKind::default(), SignatureKind::Blake2RabinKarp);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignatureKind {
    /// MD4 and rollsum, magic `0x72730136` (librsync 1.x's only format).
    Md4Rollsum,
    /// BLAKE2 and rollsum, magic `0x72730137`.
    Blake2Rollsum,
    /// MD4 and RabinKarp, magic `0x72730146`.
    Md4RabinKarp,
    /// BLAKE2 and RabinKarp, magic `0x72730147`: rdiff 2.3's default.
    #[default]
    Blake2RabinKarp,
}

impl SignatureKind {
    /// The kind with these two sums.
    pub const fn new(strong: StrongKind, weak: WeakKind) -> Self {
        match (strong, weak) {
            (StrongKind::Md4, WeakKind::Rollsum) => Self::Md4Rollsum,
            (StrongKind::Blake2, WeakKind::Rollsum) => Self::Blake2Rollsum,
            (StrongKind::Md4, WeakKind::RabinKarp) => Self::Md4RabinKarp,
            (StrongKind::Blake2, WeakKind::RabinKarp) => Self::Blake2RabinKarp,
        }
    }

    /// The magic number.
    pub const fn magic(self) -> u32 {
        match self {
            Self::Md4Rollsum => 0x7273_0136,
            Self::Blake2Rollsum => 0x7273_0137,
            Self::Md4RabinKarp => 0x7273_0146,
            Self::Blake2RabinKarp => 0x7273_0147,
        }
    }

    /// The kind a magic number names, if any.
    pub const fn from_magic(magic: u32) -> Option<Self> {
        Some(match magic {
            0x7273_0136 => Self::Md4Rollsum,
            0x7273_0137 => Self::Blake2Rollsum,
            0x7273_0146 => Self::Md4RabinKarp,
            0x7273_0147 => Self::Blake2RabinKarp,
            _ => return None,
        })
    }

    /// The strong sum.
    pub const fn strong(self) -> StrongKind {
        match self {
            Self::Md4Rollsum | Self::Md4RabinKarp => StrongKind::Md4,
            Self::Blake2Rollsum | Self::Blake2RabinKarp => StrongKind::Blake2,
        }
    }

    /// The weak sum.
    pub const fn weak(self) -> WeakKind {
        match self {
            Self::Md4Rollsum | Self::Blake2Rollsum => WeakKind::Rollsum,
            Self::Md4RabinKarp | Self::Blake2RabinKarp => WeakKind::RabinKarp,
        }
    }
}

/// Why signature parameters were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// The block length is 0 or does not fit librsync's `int`.
    #[error("block length {block_len} is out of range 1..={max}")]
    BadBlockLen {
        /// The length given.
        block_len: u64,
        /// The largest accepted.
        max: u32,
    },
    /// The strong-sum length is not in `1..=digest length` (nor 0 or −1 where those mean
    /// "maximum" and "minimum").
    #[error("strong sum length {strong_len} is invalid for this hash (1..={max})")]
    BadStrongLen {
        /// The length given (or computed, for −1).
        strong_len: i64,
        /// The hash's digest length.
        max: u32,
    },
}

/// The header fields of a signature: kind, block length and strong-sum length.
///
/// Wire: RFC.md Appendix R `[rdiff-sig-header]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignatureParams {
    /// Weak and strong sums.
    pub kind: SignatureKind,
    /// Bytes per block (the last block may be shorter).
    pub block_len: u32,
    /// Strong-sum bytes kept per block (a prefix of the digest).
    pub strong_len: u32,
}

/// `rs_long_ln2`: ⌊log₂ v⌋, and 0 for 0.
fn ln2(v: u64) -> u32 {
    63u32.saturating_sub(v.leading_zeros())
}

impl SignatureParams {
    /// Checked constructor: `block_len` in `1..=`[`MAX_BLOCK_LEN`], `strong_len` in
    /// `1..=digest length`.
    pub fn new(kind: SignatureKind, block_len: u32, strong_len: u32) -> Result<Self, ParamsError> {
        let p = Self {
            kind,
            block_len,
            strong_len,
        };
        p.validate()?;
        Ok(p)
    }

    /// Checks the fields as [`new`](Self::new) does.
    pub fn validate(&self) -> Result<(), ParamsError> {
        if self.block_len == 0 || self.block_len > MAX_BLOCK_LEN {
            return Err(ParamsError::BadBlockLen {
                block_len: u64::from(self.block_len),
                max: MAX_BLOCK_LEN,
            });
        }
        let max = self.kind.strong().digest_len() as u32;
        if self.strong_len == 0 || self.strong_len > max {
            return Err(ParamsError::BadStrongLen {
                strong_len: i64::from(self.strong_len),
                max,
            });
        }
        Ok(())
    }

    /// librsync's recommended block length: 2048 when the basis size is unknown, 256 up to
    /// 64 KiB, else ⌊√size⌋ rounded down to a multiple of 128.
    ///
    /// Wire: RFC.md Appendix R `[rdiff-sig-args]`.
    pub fn recommended_block_len(basis_len: Option<u64>) -> u32 {
        match basis_len {
            None => DEFAULT_BLOCK_LEN,
            Some(n) if n <= 256 * 256 => 256,
            Some(n) => (n.isqrt().min(u64::from(MAX_BLOCK_LEN)) as u32) & !127,
        }
    }

    /// librsync's minimum strong-sum length for a basis size and block length: 12 when the
    /// size is unknown, else `2 + (⌊log₂(size + 2²⁴)⌋ + ⌊log₂(size / block_len + 1)⌋ + 7) / 8`.
    ///
    /// Wire: RFC.md Appendix R `[rdiff-sig-args]`.
    pub fn min_strong_len(basis_len: Option<u64>, block_len: u32) -> u32 {
        match basis_len {
            None => DEFAULT_MIN_STRONG_LEN,
            Some(n) => {
                let blocks = n / u64::from(block_len.max(1));
                2 + (ln2(n.saturating_add(1 << 24)) + ln2(blocks.saturating_add(1))).div_ceil(8)
            }
        }
    }

    /// Chooses parameters exactly as librsync's `rs_sig_args` (and so `rdiff signature`):
    /// `block_len` 0 means [recommended](Self::recommended_block_len); `strong_len` 0 means
    /// the digest length, −1 the [minimum](Self::min_strong_len), anything else is taken as
    /// is (rdiff only warns when it is below the minimum). `basis_len` is `None` when the
    /// basis size is unknown (a pipe).
    ///
    /// ```
    /// use rsync_core::librsync::{SignatureKind, SignatureParams};
    /// let k = SignatureKind::Md4Rollsum;
    /// let p = SignatureParams::choose(k, Some(1 << 20), 0, 0)?;
    /// assert_eq!((p.block_len, p.strong_len), (1024, 16));
    /// let p = SignatureParams::choose(k, None, 0, -1)?;
    /// assert_eq!((p.block_len, p.strong_len), (2048, 12));
    /// assert!(SignatureParams::choose(k, Some(10), 0, 17).is_err());
    /// # Ok::<(), rsync_core::librsync::ParamsError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ParamsError`] for a strong length above the digest length or below −1, or a block
    /// length above [`MAX_BLOCK_LEN`].
    pub fn choose(
        kind: SignatureKind,
        basis_len: Option<u64>,
        block_len: u32,
        strong_len: i64,
    ) -> Result<Self, ParamsError> {
        let block_len = if block_len == 0 {
            Self::recommended_block_len(basis_len)
        } else {
            block_len
        };
        let max = kind.strong().digest_len() as u32;
        let strong = match strong_len {
            0 => max,
            -1 => Self::min_strong_len(basis_len, block_len),
            n => u32::try_from(n).map_err(|_| ParamsError::BadStrongLen { strong_len: n, max })?,
        };
        if strong > max {
            return Err(ParamsError::BadStrongLen {
                strong_len: i64::from(strong),
                max,
            });
        }
        Self::new(kind, block_len, strong)
    }

    /// Bytes per block record in the signature: the 4-byte weak sum and the strong sum.
    pub const fn record_len(&self) -> usize {
        4 + self.strong_len as usize
    }

    /// Blocks in the signature of a basis of `basis_len` bytes.
    pub fn block_count(&self, basis_len: u64) -> u64 {
        basis_len.div_ceil(u64::from(self.block_len.max(1)))
    }

    /// The 12-byte header: magic, block length, strong length, each big-endian.
    ///
    /// Wire: RFC.md Appendix R `[rdiff-sig-header]`.
    pub fn header(&self) -> [u8; 12] {
        let mut h = [0u8; 12];
        h[..4].copy_from_slice(&self.kind.magic().to_be_bytes());
        h[4..8].copy_from_slice(&self.block_len.to_be_bytes());
        h[8..].copy_from_slice(&self.strong_len.to_be_bytes());
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics_round_trip() {
        for k in [
            SignatureKind::Md4Rollsum,
            SignatureKind::Blake2Rollsum,
            SignatureKind::Md4RabinKarp,
            SignatureKind::Blake2RabinKarp,
        ] {
            assert_eq!(SignatureKind::from_magic(k.magic()), Some(k));
            assert_eq!(SignatureKind::new(k.strong(), k.weak()), k);
        }
        assert_eq!(SignatureKind::from_magic(0x7273_0236), None);
    }

    #[test]
    fn recommended_block_len_matches_rs_sig_args() {
        assert_eq!(SignatureParams::recommended_block_len(None), 2048);
        assert_eq!(SignatureParams::recommended_block_len(Some(0)), 256);
        assert_eq!(SignatureParams::recommended_block_len(Some(65536)), 256);
        // √65537 = 256.0019 → 256.
        assert_eq!(SignatureParams::recommended_block_len(Some(65537)), 256);
        // √(100 MiB) = 10240 exactly; a multiple of 128.
        assert_eq!(
            SignatureParams::recommended_block_len(Some(100 << 20)),
            10240
        );
        // √(1e6) = 1000 → 896.
        assert_eq!(SignatureParams::recommended_block_len(Some(1_000_000)), 896);
        assert_eq!(
            SignatureParams::recommended_block_len(Some(512 << 20)),
            23168
        );
    }

    #[test]
    fn min_strong_len_matches_rs_sig_args() {
        assert_eq!(SignatureParams::min_strong_len(None, 2048), 12);
        // 2 + (24 + 0 + 7) / 8 = 5.
        assert_eq!(SignatureParams::min_strong_len(Some(0), 256), 5);
        // 1 MiB, block 1024: 2 + (24 + 10 + 7) / 8 = 7.
        assert_eq!(SignatureParams::min_strong_len(Some(1 << 20), 1024), 7);
    }

    #[test]
    fn choose_rules() {
        let b2 = SignatureKind::Blake2RabinKarp;
        let p = SignatureParams::choose(b2, Some(1), 0, 0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((p.block_len, p.strong_len), (256, 32));
        let p =
            SignatureParams::choose(b2, Some(1 << 20), 4096, -1).unwrap_or_else(|e| panic!("{e}"));
        // 2 + ⌈(24 + ⌊log₂ 257⌋) / 8⌉ = 6.
        assert_eq!((p.block_len, p.strong_len), (4096, 6));
        // Below the minimum is only a warning in rdiff.
        let p = SignatureParams::choose(b2, Some(1 << 20), 0, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.strong_len, 1);
        assert_eq!(
            SignatureParams::choose(SignatureKind::Md4RabinKarp, None, 0, 17),
            Err(ParamsError::BadStrongLen {
                strong_len: 17,
                max: 16
            })
        );
        assert!(SignatureParams::choose(b2, None, 0, -2).is_err());
        assert!(SignatureParams::new(b2, 0, 8).is_err());
        assert!(SignatureParams::new(b2, MAX_BLOCK_LEN + 1, 8).is_err());
        assert_eq!(
            SignatureParams::new(SignatureKind::Md4Rollsum, 16, 8)
                .map(|p| p.header())
                .ok(),
            Some([0x72, 0x73, 0x01, 0x36, 0, 0, 0, 16, 0, 0, 0, 8])
        );
    }
}
