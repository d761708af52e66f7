//! Integer and string codecs. Decoding works on a cursor over received bytes and never
//! panics; an incomplete value leaves the cursor where it was.

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// More bytes are needed; nothing was consumed.
    #[error("incomplete {what}: need {needed} more bytes")]
    Incomplete {
        /// The value being read.
        what: &'static str,
        /// Bytes missing (at least).
        needed: usize,
    },
    /// A variable-length integer announces more bytes than its type holds.
    #[error("{what} overflows its type (prefix byte {prefix:#04x})")]
    Overflow {
        /// The value being read.
        what: &'static str,
        /// The prefix byte.
        prefix: u8,
    },
    /// A `varlong` minimum width outside 1..=8.
    #[error("varlong minimum width {0} is outside 1..=8")]
    BadWidth(u8),
}

/// Extra bytes after a varint/varlong prefix, by the prefix's top six bits
/// (`int_byte_extra` in rsync): the count of leading one bits, at most 6.
fn extra_bytes(prefix: u8) -> usize {
    (prefix.leading_ones() as usize).min(6)
}

/// The prefix bits that belong to the value when `extra` bytes follow.
fn value_mask(extra: usize) -> u8 {
    (1u8 << (8 - extra)).wrapping_sub(1)
}

/// A cursor over received bytes.
#[derive(Debug, Clone)]
pub struct WireReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> WireReader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The bytes not consumed yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let rest = self.remaining();
        match rest.get(..n) {
            Some(b) => {
                self.pos += n;
                Ok(b)
            }
            None => Err(DecodeError::Incomplete {
                what,
                needed: n - rest.len(),
            }),
        }
    }

    /// Runs `f`; if it fails, the cursor goes back to where it was.
    fn atomic<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        let start = self.pos;
        let r = f(self);
        if r.is_err() {
            self.pos = start;
        }
        r
    }

    /// `n` raw bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        self.take(n, "bytes")
    }

    /// One byte.
    pub fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1, "byte")?[0])
    }

    /// Wire: `[int]`, 4 bytes little-endian, signed.
    pub fn int(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4, "int")?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Wire: `[shortint]`, 2 bytes little-endian, unsigned.
    pub fn shortint(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2, "shortint")?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    /// Wire: `[longint]` (protocol < 30): an `int`, or `int` −1 then 8 bytes little-endian.
    pub fn longint(&mut self) -> Result<i64, DecodeError> {
        self.atomic(|r| {
            let v = r.int()?;
            if v != -1 {
                return Ok(i64::from(v));
            }
            let b = r.take(8, "longint")?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Ok(i64::from_le_bytes(a))
        })
    }

    /// Wire: `[varint]`: a prefix byte whose leading one bits count the bytes that follow
    /// (low-order first); the prefix's remaining bits are the top byte.
    pub fn varint(&mut self) -> Result<i32, DecodeError> {
        self.atomic(|r| {
            let prefix = r.byte()?;
            let extra = extra_bytes(prefix);
            if extra == 0 {
                return Ok(i32::from(prefix));
            }
            if extra >= 5 {
                return Err(DecodeError::Overflow {
                    what: "varint",
                    prefix,
                });
            }
            let mut b = [0u8; 5];
            b[..extra].copy_from_slice(r.take(extra, "varint")?);
            b[extra] = prefix & value_mask(extra);
            Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        })
    }

    /// Wire: `[varlong]`: like `varint`, but the prefix is always followed by
    /// `min_bytes − 1` low-order bytes before the extra ones.
    pub fn varlong(&mut self, min_bytes: u8) -> Result<i64, DecodeError> {
        if !(1..=8).contains(&min_bytes) {
            return Err(DecodeError::BadWidth(min_bytes));
        }
        self.atomic(|r| {
            let min = usize::from(min_bytes);
            let head = r.take(min, "varlong")?;
            let prefix = head[0];
            let mut b = [0u8; 9];
            b[..min - 1].copy_from_slice(&head[1..]);
            let extra = extra_bytes(prefix);
            if extra == 0 {
                b[min - 1] = prefix;
            } else {
                if min + extra > 9 {
                    return Err(DecodeError::Overflow {
                        what: "varlong",
                        prefix,
                    });
                }
                b[min - 1..min - 1 + extra].copy_from_slice(r.take(extra, "varlong")?);
                b[min + extra - 1] = prefix & value_mask(extra);
            }
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[..8]);
            Ok(i64::from_le_bytes(a))
        })
    }

    /// Wire: `[vstring]`: length in one byte (≤ 0x7f) or two (`0x80 | hi`, `lo`; ≤ 0x7fff),
    /// then the bytes. The length is bounded by the encoding, so nothing huge is allocated.
    pub fn vstring(&mut self) -> Result<&'a [u8], DecodeError> {
        self.atomic(|r| {
            let first = r.byte()?;
            let len = if first & 0x80 != 0 {
                usize::from(first & 0x7f) << 8 | usize::from(r.byte()?)
            } else {
                usize::from(first)
            };
            r.take(len, "vstring")
        })
    }
}

/// Encoders for the primitive types, on any byte sink.
pub trait WireWrite {
    /// Appends raw bytes.
    fn put_bytes(&mut self, b: &[u8]);

    /// Wire: `[int]`.
    fn put_int(&mut self, v: i32) {
        self.put_bytes(&v.to_le_bytes());
    }

    /// Wire: `[shortint]`.
    fn put_shortint(&mut self, v: u16) {
        self.put_bytes(&v.to_le_bytes());
    }

    /// Wire: `[longint]`.
    fn put_longint(&mut self, v: i64) {
        match i32::try_from(v) {
            Ok(small) if small >= 0 => self.put_int(small),
            _ => {
                self.put_int(-1);
                self.put_bytes(&v.to_le_bytes());
            }
        }
    }

    /// Wire: `[varint]`.
    fn put_varint(&mut self, v: i32) {
        put_var(self, &v.to_le_bytes(), 1);
    }

    /// Wire: `[varlong]` with `min_bytes` in 3..=8 (clamped). rsync uses 3 for sizes and 4
    /// for times; below 3 its own reader cannot decode the largest values.
    fn put_varlong(&mut self, v: i64, min_bytes: u8) {
        put_var(self, &v.to_le_bytes(), usize::from(min_bytes.clamp(3, 8)));
    }

    /// Wire: `[vstring]`. Strings longer than 0x7fff bytes are cut to that length; callers
    /// check lengths before encoding.
    fn put_vstring(&mut self, s: &[u8]) {
        let s = &s[..s.len().min(0x7fff)];
        if s.len() > 0x7f {
            self.put_bytes(&[0x80 | (s.len() >> 8) as u8, s.len() as u8]);
        } else {
            self.put_bytes(&[s.len() as u8]);
        }
        self.put_bytes(s);
    }
}

/// The shared varint/varlong encoder: `le` is the value's little-endian bytes, `min` the
/// bytes always written (1 for varint).
fn put_var<W: WireWrite + ?Sized>(w: &mut W, le: &[u8], min: usize) {
    // cnt = number of significant bytes, at least `min`.
    let mut cnt = le.len();
    while cnt > min && le[cnt - 1] == 0 {
        cnt -= 1;
    }
    let top = le[cnt - 1];
    let bit = 1u16 << (8 - (cnt - min + 1));
    let mut out = [0u8; 10];
    if u16::from(top) >= bit {
        // The top byte does not fit beside the length bits: it goes out whole.
        out[0] = !((bit - 1) as u8);
        out[1..=cnt].copy_from_slice(&le[..cnt]);
        w.put_bytes(&out[..=cnt]);
    } else {
        out[0] = if cnt > min {
            top | !((bit * 2 - 1) as u8)
        } else {
            top
        };
        out[1..cnt].copy_from_slice(&le[..cnt - 1]);
        w.put_bytes(&out[..cnt]);
    }
}

impl WireWrite for Vec<u8> {
    fn put_bytes(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut v = Vec::new();
        f(&mut v);
        v
    }

    #[test]
    fn vectors_from_stock_traffic() {
        // rsync-protocol.md §2.1, observed.
        assert_eq!(enc(|w| w.put_varint(0x1ff)), [0x81, 0xff]);
        assert_eq!(
            enc(|w| w.put_varlong(0x6B01_F4E3, 4)),
            [0x6b, 0xe3, 0xf4, 0x01]
        );
        assert_eq!(enc(|w| w.put_varlong(4096, 3)), [0x00, 0x00, 0x10]);
        assert_eq!(enc(|w| w.put_varint(0)), [0x00]);
        assert_eq!(enc(|w| w.put_varint(0x7f)), [0x7f]);
        assert_eq!(enc(|w| w.put_varint(0x80)), [0x80, 0x80]);
        assert_eq!(enc(|w| w.put_varint(-1)), [0xf0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(enc(|w| w.put_longint(5)), [5, 0, 0, 0]);
        assert_eq!(
            enc(|w| w.put_longint(1 << 32)),
            [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 0, 0, 0]
        );
        assert_eq!(enc(|w| w.put_vstring(b"md5")), b"\x03md5");
        let long = vec![b'x'; 0x123];
        assert_eq!(&enc(|w| w.put_vstring(&long))[..2], [0x81, 0x23]);
    }

    #[test]
    fn decoding_errors() {
        let mut r = WireReader::new(&[0x81]);
        assert_eq!(
            r.varint(),
            Err(DecodeError::Incomplete {
                what: "varint",
                needed: 1
            })
        );
        assert_eq!(r.position(), 0, "an incomplete value consumes nothing");
        assert_eq!(
            WireReader::new(&[0xfc, 0, 0, 0, 0, 0]).varint(),
            Err(DecodeError::Overflow {
                what: "varint",
                prefix: 0xfc
            })
        );
        assert_eq!(
            WireReader::new(&[0xff; 16]).varlong(4),
            Err(DecodeError::Overflow {
                what: "varlong",
                prefix: 0xff
            })
        );
        assert_eq!(
            WireReader::new(&[0; 4]).varlong(0),
            Err(DecodeError::BadWidth(0))
        );
        let mut r = WireReader::new(&[0xff, 0xff, 0xff, 0xff, 1, 2]);
        assert!(matches!(r.longint(), Err(DecodeError::Incomplete { .. })));
        assert_eq!(r.position(), 0);
        assert_eq!(
            WireReader::new(&[0x85, 0x00]).vstring(),
            Err(DecodeError::Incomplete {
                what: "vstring",
                needed: 0x500
            })
        );
    }

    proptest! {
        #[test]
        fn varint_round_trips(v in any::<i32>()) {
            let b = enc(|w| w.put_varint(v));
            let mut r = WireReader::new(&b);
            prop_assert_eq!(r.varint(), Ok(v));
            prop_assert!(r.is_empty());
            prop_assert!(b.len() <= 5);
        }

        #[test]
        fn varlong_round_trips(v in any::<i64>(), min in 3u8..=8) {
            let b = enc(|w| w.put_varlong(v, min));
            let mut r = WireReader::new(&b);
            prop_assert_eq!(r.varlong(min), Ok(v));
            prop_assert!(r.is_empty());
        }

        #[test]
        fn longint_and_vstring_round_trip(v in any::<i64>(), s in proptest::collection::vec(any::<u8>(), 0..0x300)) {
            let b = enc(|w| { w.put_longint(v); w.put_vstring(&s) });
            let mut r = WireReader::new(&b);
            prop_assert_eq!(r.longint(), Ok(v));
            prop_assert_eq!(r.vstring(), Ok(&s[..]));
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..40), min in 0u8..12) {
            let mut r = WireReader::new(&b);
            let _ = r.varint();
            let _ = r.varlong(min);
            let _ = r.longint();
            let _ = r.vstring();
            let _ = r.shortint();
            prop_assert!(r.position() <= b.len());
        }
    }
}
