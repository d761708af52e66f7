//! librsync's strong block sums: unseeded MD4 (16 bytes) and unkeyed BLAKE2b with a 32-byte
//! digest, truncated to the signature's `strong_len`.
//!
//! Spec: RFC.md Appendix R `[rdiff-strong]`. Reference: librsync `checksum.c`
//! (`rs_calc_strong_sum`), `mdfour.c`, `blake2b-ref.c`.

use blake2::digest::consts::U32;
use blake2::Digest as _;

use crate::engine::{StrongHasher, BATCH, MAX_STRONG};
use crate::multibuf::{digest_lanes, Algo, LANES};

/// MD4's digest length (librsync `RS_MD4_SUM_LENGTH`).
pub const MD4_LEN: usize = 16;
/// BLAKE2b-256's digest length (librsync `RS_BLAKE2_SUM_LENGTH`).
pub const BLAKE2_LEN: usize = 32;

/// A strong hash of librsync signatures.
///
/// ```
/// use rsync_core::librsync::StrongKind;
/// let mut out = [0u8; 32];
/// StrongKind::Md4.hash(b"abc", &mut out);
/// // RFC 1320's test vector for "abc".
/// assert_eq!(out[..4], [0xa4, 0x48, 0x01, 0x7a]);
/// assert_eq!(StrongKind::Blake2.digest_len(), 32);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrongKind {
    /// MD4, unseeded.
    Md4,
    /// BLAKE2b with a 32-byte digest, unkeyed.
    Blake2,
}

impl StrongKind {
    /// The full digest length: the largest valid `strong_len`.
    pub const fn digest_len(self) -> usize {
        match self {
            Self::Md4 => MD4_LEN,
            Self::Blake2 => BLAKE2_LEN,
        }
    }

    /// Hashes `data`, writing the full digest to the start of `out`.
    #[inline]
    pub fn hash(self, data: &[u8], out: &mut [u8; MAX_STRONG]) {
        match self {
            Self::Md4 => Md4.strong(data, out),
            Self::Blake2 => Blake2.strong(data, out),
        }
    }
}

/// Unseeded MD4, as librsync's `rs_mdfour`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Md4;

/// Unkeyed BLAKE2b-256, as librsync's `blake2b_init(ctx, 32)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Blake2;

impl StrongHasher for Md4 {
    #[inline]
    fn strong(&self, data: &[u8], out: &mut [u8; MAX_STRONG]) {
        let d = md4::Md4::digest(data);
        out[..MD4_LEN].copy_from_slice(&d);
    }
}

impl StrongHasher for Blake2 {
    #[inline]
    fn strong(&self, data: &[u8], out: &mut [u8; MAX_STRONG]) {
        let d = blake2::Blake2b::<U32>::digest(data);
        out[..BLAKE2_LEN].copy_from_slice(&d);
    }
}

impl StrongHasher for StrongKind {
    #[inline]
    fn strong(&self, data: &[u8], out: &mut [u8; MAX_STRONG]) {
        self.hash(data, out)
    }

    fn strong_batch(&self, windows: &[&[u8]], out: &mut [[u8; MAX_STRONG]; BATCH]) {
        match (self, windows.first()) {
            (Self::Md4, Some(first)) if windows.len() <= LANES && LANES == BATCH => {
                let len = first.len();
                let lanes: [&[u8]; LANES] =
                    std::array::from_fn(|j| windows.get(j).copied().unwrap_or(first));
                if lanes.iter().all(|w| w.len() == len) {
                    let d = digest_lanes(Algo::Md4, &lanes, len, &[], &[]);
                    for (o, d) in out.iter_mut().zip(d.iter()).take(windows.len()) {
                        o[..MD4_LEN].copy_from_slice(d);
                    }
                    return;
                }
                for (w, o) in windows.iter().zip(out.iter_mut()) {
                    self.hash(w, o);
                }
            }
            _ => {
                for (w, o) in windows.iter().zip(out.iter_mut()) {
                    self.hash(w, o);
                }
            }
        }
    }

    fn batches(&self) -> bool {
        *self == Self::Md4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn known_answers() {
        let mut out = [0u8; MAX_STRONG];
        StrongKind::Md4.hash(b"", &mut out);
        assert_eq!(hex(&out[..16]), "31d6cfe0d16ae931b73c59d7e0c089c0");
        StrongKind::Blake2.hash(b"", &mut out);
        // BLAKE2b-256 of the empty string (output length is a parameter, not a truncation).
        assert_eq!(
            hex(&out),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
        );
        // From `rdiff -H md4 -R rollsum -b 16 -S 8 signature` of
        // "hello world, this is a test of rdiff!\n": the first block's strong sum prefix.
        StrongKind::Md4.hash(b"hello world, thi", &mut out);
        assert_eq!(hex(&out[..8]), "2c7994584a016278");
        StrongKind::Blake2.hash(b"hello world, thi", &mut out);
        assert_eq!(hex(&out[..8]), "5d906224ef86bf8f");
    }
}
