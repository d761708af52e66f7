//! Reading signatures: a streaming [`SignatureReader`] and [`Signature::from_bytes`], both
//! validating the header and bounding every count by [`Limits`] before allocating, and the
//! in-memory [`Signature`] the delta is computed against.
//!
//! Spec: RFC.md Appendix R `[rdiff-sig-header]` and `[rdiff-sig-block]`. Reference: librsync
//! `readsums.c` (`rs_loadsig_s_*`), `sumset.c` (`rs_signature_init`).

use super::params::{SignatureKind, SignatureParams};
use super::sigwrite::block_sums;
use crate::limits::Limits;

/// Why a signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The first four bytes are not one of the four signature magics.
    #[error("bad signature magic {magic:#010x} (not an rdiff signature)")]
    BadMagic {
        /// The value read.
        magic: u32,
    },
    /// The block length is below 1 or above [`Limits::max_block_len`].
    #[error("signature block length {block_len} is out of range 1..={max}")]
    BadBlockLen {
        /// The value read (as librsync's signed `int`).
        block_len: i32,
        /// The limit.
        max: u32,
    },
    /// The strong-sum length is negative or longer than the hash's digest.
    #[error("signature strong sum length {strong_len} is out of range 0..={max}")]
    BadStrongLen {
        /// The value read.
        strong_len: i32,
        /// The digest length.
        max: u32,
    },
    /// More blocks than [`Limits::max_block_count`].
    #[error("signature has more than {max} blocks")]
    TooManyBlocks {
        /// The limit.
        max: u32,
    },
    /// The block sums would exceed [`Limits::max_signature_bytes`].
    #[error("signature of {bytes} bytes exceeds the limit {max}")]
    TooLarge {
        /// Bytes needed so far.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// The input ended inside the header or a block record.
    #[error("signature truncated in the {reading} ({have} of {need} bytes)")]
    Truncated {
        /// What was being read: `"header"` or `"block record"`.
        reading: &'static str,
        /// Bytes of it present.
        have: usize,
        /// Bytes it needs.
        need: usize,
    },
}

/// A parsed signature: parameters and per-block sums, ready for a
/// [`DeltaWriter`](super::DeltaWriter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    params: SignatureParams,
    weak: Vec<u32>,
    /// `strong_len` bytes per block.
    strong: Vec<u8>,
}

impl Signature {
    /// The signature of an in-memory basis (what [`SignatureWriter`](super::SignatureWriter)
    /// would write, parsed).
    pub fn compute(basis: &[u8], params: SignatureParams) -> Self {
        let n = params.block_count(basis.len() as u64) as usize;
        let rec = params.record_len();
        let mut records = vec![0u8; n * rec];
        block_sums(&params, basis, &mut records);
        let mut weak = Vec::with_capacity(n);
        let mut strong = Vec::with_capacity(n * (rec - 4));
        for r in records.chunks_exact(rec) {
            let (w, s) = r.split_at(4);
            weak.push(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
            strong.extend_from_slice(s);
        }
        Self {
            params,
            weak,
            strong,
        }
    }

    /// Parses and validates a whole serialized signature.
    ///
    /// ```
    /// use rsync_core::librsync::{Signature, SignatureError};
    /// use rsync_core::Limits;
    /// let sig = Signature::from_bytes(&[0x72, 0x73, 0x01, 0x36, 0, 0, 8, 0, 0, 0, 0, 8], &Limits::default())?;
    /// assert_eq!((sig.params().block_len, sig.block_count()), (2048, 0));
    /// let bad = Signature::from_bytes(b"rs\x026\0\0\0\0", &Limits::default());
    /// assert!(matches!(bad, Err(SignatureError::BadMagic { magic: 0x7273_0236 })));
    /// # Ok::<(), SignatureError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`SignatureError`].
    pub fn from_bytes(bytes: &[u8], limits: &Limits) -> Result<Self, SignatureError> {
        let mut r = SignatureReader::new(*limits);
        let (head, body) = bytes.split_at(bytes.len().min(12));
        r.push(head)?;
        if let Some(p) = r.params {
            let count = body.len() / p.record_len();
            r.check(count as u64)?;
            r.weak.reserve_exact(count);
            r.strong.reserve_exact(count * (p.record_len() - 4));
        }
        r.push(body)?;
        r.finish()
    }

    /// Serializes the signature (header and block records).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.weak.len() * self.params.record_len());
        out.extend_from_slice(&self.params.header());
        let n = self.params.strong_len as usize;
        for (w, s) in self.weak.iter().zip(self.strong.chunks_exact(n.max(1))) {
            out.extend_from_slice(&w.to_be_bytes());
            out.extend_from_slice(s);
        }
        out
    }

    /// The header fields.
    pub fn params(&self) -> SignatureParams {
        self.params
    }

    /// Number of blocks.
    pub fn block_count(&self) -> u32 {
        self.weak.len() as u32
    }

    /// Weak sum of block `i`.
    pub fn weak(&self, i: u32) -> Option<u32> {
        self.weak.get(i as usize).copied()
    }

    /// Strong sum (truncated to `strong_len`) of block `i`.
    pub fn strong(&self, i: u32) -> Option<&[u8]> {
        let n = self.params.strong_len as usize;
        let s = (i as usize).checked_mul(n)?;
        self.strong.get(s..s.checked_add(n)?)
    }

    pub(crate) fn into_parts(self) -> (SignatureParams, Vec<u32>, Vec<u8>) {
        (self.params, self.weak, self.strong)
    }
}

/// Streaming signature parser: feed bytes with [`push`](Self::push), then
/// [`finish`](Self::finish). Memory grows only with block records actually received.
///
/// ```
/// use rsync_core::librsync::{SignatureKind, SignatureParams, SignatureReader, SignatureWriter};
/// use rsync_core::Limits;
/// let p = SignatureParams::new(SignatureKind::Blake2RabinKarp, 4, 6)?;
/// let mut bytes = Vec::new();
/// let mut w = SignatureWriter::new(p);
/// w.push(b"0123456789", &mut bytes);
/// w.finish(&mut bytes);
/// let mut r = SignatureReader::new(Limits::default());
/// for b in bytes.chunks(5) { r.push(b)?; }
/// let sig = r.finish()?;
/// assert_eq!((sig.params(), sig.block_count()), (p, 3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SignatureReader {
    limits: Limits,
    params: Option<SignatureParams>,
    /// Bytes of the header or of the current record gathered so far.
    buf: [u8; 36],
    have: usize,
    weak: Vec<u32>,
    strong: Vec<u8>,
}

impl SignatureReader {
    /// A reader enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            params: None,
            buf: [0; 36],
            have: 0,
            weak: Vec::new(),
            strong: Vec::new(),
        }
    }

    /// The header, once it has been read.
    pub fn params(&self) -> Option<SignatureParams> {
        self.params
    }

    /// Checks that a signature of `count` blocks fits the limits.
    fn check(&self, count: u64) -> Result<(), SignatureError> {
        let rec = self.params.map_or(4, |p| p.record_len()) as u64;
        if count > u64::from(self.limits.max_block_count) {
            return Err(SignatureError::TooManyBlocks {
                max: self.limits.max_block_count,
            });
        }
        let bytes = count.saturating_mul(rec);
        if bytes > self.limits.max_signature_bytes {
            return Err(SignatureError::TooLarge {
                bytes,
                max: self.limits.max_signature_bytes,
            });
        }
        Ok(())
    }

    fn parse_header(&self) -> Result<SignatureParams, SignatureError> {
        let b = &self.buf;
        let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let block_len = i32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        let strong_len = i32::from_be_bytes([b[8], b[9], b[10], b[11]]);
        let kind = SignatureKind::from_magic(magic).ok_or(SignatureError::BadMagic { magic })?;
        let max_block = self.limits.max_block_len.min(super::params::MAX_BLOCK_LEN);
        let block_len = u32::try_from(block_len)
            .ok()
            .filter(|&n| n >= 1 && n <= max_block)
            .ok_or(SignatureError::BadBlockLen {
                block_len,
                max: max_block,
            })?;
        let digest = kind.strong().digest_len() as u32;
        let strong_len = match u32::try_from(strong_len) {
            // librsync's rs_signature_init turns 0 into the digest length.
            Ok(0) => digest,
            Ok(n) if n <= digest => n,
            _ => {
                return Err(SignatureError::BadStrongLen {
                    strong_len,
                    max: digest,
                })
            }
        };
        Ok(SignatureParams {
            kind,
            block_len,
            strong_len,
        })
    }

    /// Feeds the next bytes of the signature.
    ///
    /// # Errors
    ///
    /// [`SignatureError`] for a bad header or a signature beyond the limits. The reader
    /// should be dropped after an error.
    pub fn push(&mut self, mut data: &[u8]) -> Result<(), SignatureError> {
        while !data.is_empty() {
            let Some(p) = self.params else {
                let take = (12 - self.have).min(data.len());
                self.buf[self.have..self.have + take].copy_from_slice(&data[..take]);
                self.have += take;
                data = &data[take..];
                if let Some(&[a, b, c, d]) = self.buf.get(..4).filter(|_| self.have >= 4) {
                    let magic = u32::from_be_bytes([a, b, c, d]);
                    if SignatureKind::from_magic(magic).is_none() {
                        return Err(SignatureError::BadMagic { magic });
                    }
                }
                if self.have == 12 {
                    self.params = Some(self.parse_header()?);
                    self.have = 0;
                }
                continue;
            };
            let rec = p.record_len();
            // Whole records straight from the input, the rest through `buf`.
            if self.have == 0 && data.len() >= rec {
                let n = data.len() / rec;
                self.check(self.weak.len() as u64 + n as u64)?;
                let (whole, rest) = data.split_at(n * rec);
                self.weak.reserve(n);
                self.strong.reserve(n * (rec - 4));
                for r in whole.chunks_exact(rec) {
                    self.add(r);
                }
                data = rest;
                continue;
            }
            let take = (rec - self.have).min(data.len());
            self.buf[self.have..self.have + take].copy_from_slice(&data[..take]);
            self.have += take;
            data = &data[take..];
            if self.have == rec {
                self.check(self.weak.len() as u64 + 1)?;
                let r = self.buf;
                self.add(&r[..rec]);
                self.have = 0;
            }
        }
        Ok(())
    }

    fn add(&mut self, record: &[u8]) {
        if let Some((w, s)) = record.split_first_chunk::<4>() {
            self.weak.push(u32::from_be_bytes(*w));
            self.strong.extend_from_slice(s);
        }
    }

    /// Ends the signature.
    ///
    /// # Errors
    ///
    /// [`SignatureError::Truncated`] if the input stopped inside the header or a record.
    pub fn finish(self) -> Result<Signature, SignatureError> {
        match self.params {
            None => Err(SignatureError::Truncated {
                reading: "header",
                have: self.have,
                need: 12,
            }),
            Some(p) if self.have != 0 => Err(SignatureError::Truncated {
                reading: "block record",
                have: self.have,
                need: p.record_len(),
            }),
            Some(params) => Ok(Signature {
                params,
                weak: self.weak,
                strong: self.strong,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig_bytes(kind: SignatureKind, bl: u32, sl: u32, data: &[u8]) -> Vec<u8> {
        let p = SignatureParams::new(kind, bl, sl).unwrap();
        Signature::compute(data, p).to_bytes()
    }

    #[test]
    fn round_trip_and_split_invariance() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 256) as u8).collect();
        let bytes = sig_bytes(SignatureKind::Md4RabinKarp, 64, 5, &data);
        assert_eq!(bytes.len(), 12 + 16 * 9);
        let whole = Signature::from_bytes(&bytes, &Limits::default()).unwrap();
        assert_eq!(whole.to_bytes(), bytes);
        for step in [1, 2, 3, 7, 11, 500] {
            let mut r = SignatureReader::new(Limits::default());
            for c in bytes.chunks(step) {
                r.push(c).unwrap();
            }
            assert_eq!(r.finish().unwrap(), whole);
        }
    }

    #[test]
    fn header_errors() {
        let l = Limits::default();
        let mut h = SignatureParams::new(SignatureKind::Md4Rollsum, 16, 8)
            .unwrap()
            .header();
        h[3] = 0x38;
        assert_eq!(
            Signature::from_bytes(&h, &l),
            Err(SignatureError::BadMagic { magic: 0x7273_0138 })
        );
        h[3] = 0x36;
        h[8..].copy_from_slice(&17i32.to_be_bytes());
        assert_eq!(
            Signature::from_bytes(&h, &l),
            Err(SignatureError::BadStrongLen {
                strong_len: 17,
                max: 16
            })
        );
        h[8..].copy_from_slice(&0i32.to_be_bytes());
        assert_eq!(
            Signature::from_bytes(&h, &l).map(|s| s.params().strong_len),
            Ok(16)
        );
        h[4..8].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            Signature::from_bytes(&h, &l),
            Err(SignatureError::BadBlockLen { block_len: -1, .. })
        ));
        assert_eq!(
            Signature::from_bytes(&h[..7], &l),
            Err(SignatureError::Truncated {
                reading: "header",
                have: 7,
                need: 12
            })
        );
    }

    #[test]
    fn limits_and_truncation() {
        let bytes = sig_bytes(SignatureKind::Blake2Rollsum, 10, 4, &[9u8; 100]);
        let strict = Limits {
            max_block_count: 9,
            ..Limits::default()
        };
        assert_eq!(
            Signature::from_bytes(&bytes, &strict),
            Err(SignatureError::TooManyBlocks { max: 9 })
        );
        let mut r = SignatureReader::new(strict);
        let res = bytes.chunks(3).try_for_each(|c| r.push(c));
        assert_eq!(res, Err(SignatureError::TooManyBlocks { max: 9 }));
        let small = Limits {
            max_signature_bytes: 79,
            ..Limits::default()
        };
        assert_eq!(
            Signature::from_bytes(&bytes, &small),
            Err(SignatureError::TooLarge { bytes: 80, max: 79 })
        );
        assert_eq!(
            Signature::from_bytes(&bytes[..bytes.len() - 1], &Limits::default()),
            Err(SignatureError::Truncated {
                reading: "block record",
                have: 7,
                need: 8
            })
        );
        assert!(Signature::from_bytes(&[], &Limits::default()).is_err());
    }
}
