//! File-index (`ndx`) codec, delta-coded from protocol 30 on.
//!
//! Wire: `[ndx]` (RFC.md §4). `00` is NDX_DONE (−1). A positive index is sent as its
//! difference from the previous positive one (initially −1): 1..=253 as one byte; 0 or
//! 254..=32767 as `FE` + 2 bytes big-endian; larger as `FE` + `0x80 | n>>24`, `n`, `n>>8`,
//! `n>>16` (the full value, not a difference). Other negatives are `FF` followed by the same
//! encoding of −ndx against the previous negative (initially 1). Below protocol 30 an ndx is
//! a plain `int`. Reference: rsync `read_ndx`/`write_ndx` (io.c).

use super::int::{DecodeError, WireReader};

/// The end-of-phase marker.
pub const NDX_DONE: i32 = -1;

#[derive(Debug, Clone, Copy)]
struct Prev {
    pos: i32,
    neg: i32,
}

impl Default for Prev {
    fn default() -> Self {
        Self { pos: -1, neg: 1 }
    }
}

/// Stateful `ndx` encoder (one per direction of a session).
#[derive(Debug, Clone, Copy, Default)]
pub struct NdxEncoder {
    prev: Prev,
}

impl NdxEncoder {
    /// Encodes `ndx` (protocol ≥ 30) into `out`.
    pub fn encode(&mut self, ndx: i32, out: &mut Vec<u8>) {
        let (diff, abs) = if ndx >= 0 {
            let d = ndx.wrapping_sub(self.prev.pos);
            self.prev.pos = ndx;
            (d, ndx)
        } else if ndx == NDX_DONE {
            out.push(0);
            return;
        } else {
            out.push(0xff);
            let a = ndx.wrapping_neg();
            let d = a.wrapping_sub(self.prev.neg);
            self.prev.neg = a;
            (d, a)
        };
        if (1..0xfe).contains(&diff) {
            out.push(diff as u8);
        } else if (0..0x8000).contains(&diff) {
            out.extend_from_slice(&[0xfe, (diff >> 8) as u8, diff as u8]);
        } else {
            out.extend_from_slice(&[
                0xfe,
                ((abs >> 24) as u8) | 0x80,
                abs as u8,
                (abs >> 8) as u8,
                (abs >> 16) as u8,
            ]);
        }
    }
}

/// Stateful `ndx` decoder (one per direction of a session).
#[derive(Debug, Clone, Copy, Default)]
pub struct NdxDecoder {
    prev: Prev,
}

impl NdxDecoder {
    /// Decodes one `ndx` (protocol ≥ 30). On [`DecodeError::Incomplete`] neither the reader
    /// nor the decoder state moves.
    pub fn decode(&mut self, r: &mut WireReader<'_>) -> Result<i32, DecodeError> {
        let mut probe = r.clone();
        let mut b = probe.byte()?;
        let negative = b == 0xff;
        if b == 0 {
            *r = probe;
            return Ok(NDX_DONE);
        }
        if negative {
            b = probe.byte()?;
        }
        let prev = if negative {
            self.prev.neg
        } else {
            self.prev.pos
        };
        let value = if b == 0xfe {
            let hi = probe.byte()?;
            if hi & 0x80 != 0 {
                let rest = probe.bytes(3)?;
                i32::from_le_bytes([rest[0], rest[1], rest[2], hi & 0x7f])
            } else {
                let lo = probe.byte()?;
                prev.checked_add(i32::from(hi) << 8 | i32::from(lo)).ok_or(
                    DecodeError::Overflow {
                        what: "ndx",
                        prefix: b,
                    },
                )?
            }
        } else {
            prev.checked_add(i32::from(b))
                .ok_or(DecodeError::Overflow {
                    what: "ndx",
                    prefix: b,
                })?
        };
        *r = probe;
        if negative {
            self.prev.neg = value;
            Ok(value.wrapping_neg())
        } else {
            self.prev.pos = value;
            Ok(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vectors() {
        let mut e = NdxEncoder::default();
        let mut out = Vec::new();
        for n in [0, 1, 5, NDX_DONE, 300, 100_000, -2, -101] {
            e.encode(n, &mut out);
        }
        assert_eq!(
            out,
            [
                0x01, // 0 - (-1) = 1
                0x01, // 1 - 0
                0x04, // 5 - 1
                0x00, // NDX_DONE
                0xfe, 0x01, 0x27, // 300 - 5 = 295 big-endian
                0xfe, 0x80, 0xa0, 0x86, 0x01, // 100000 in full
                0xff, 0x01, // -2: 2 - 1
                0xff, 0x63, // -101: 101 - 2 = 99
            ]
        );
        let mut d = NdxDecoder::default();
        let mut r = WireReader::new(&out);
        let got: Vec<i32> = (0..8)
            .map(|_| d.decode(&mut r).unwrap_or(i32::MIN))
            .collect();
        assert_eq!(got, [0, 1, 5, NDX_DONE, 300, 100_000, -2, -101]);
    }

    #[test]
    fn incomplete_moves_nothing() {
        let mut d = NdxDecoder::default();
        let mut r = WireReader::new(&[0xfe, 0x80, 1]);
        assert!(matches!(
            d.decode(&mut r),
            Err(DecodeError::Incomplete { .. })
        ));
        assert_eq!(r.position(), 0);
        let mut r = WireReader::new(&[0x03]);
        assert_eq!(
            d.decode(&mut r),
            Ok(2),
            "state untouched by the failed decode"
        );
    }

    #[test]
    fn indices_above_i32_max_are_refused() {
        // Full form 0x7fffffff, then a delta of 1: stock read_ndx() exits with code 2.
        let mut d = NdxDecoder::default();
        let mut r = WireReader::new(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(d.decode(&mut r), Ok(i32::MAX));
        assert!(matches!(
            d.decode(&mut r),
            Err(DecodeError::Overflow { what: "ndx", .. })
        ));
        // The same through the two-byte delta form and on the negative side.
        let mut d = NdxDecoder::default();
        let mut r = WireReader::new(&[0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0x01, 0x00]);
        assert_eq!(d.decode(&mut r), Ok(-i32::MAX));
        assert!(matches!(
            d.decode(&mut r),
            Err(DecodeError::Overflow { what: "ndx", .. })
        ));
    }

    proptest! {
        #[test]
        fn sequences_round_trip(seq in proptest::collection::vec(prop_oneof![0i32..100_000, -5000i32..0, Just(NDX_DONE), 0i32..i32::MAX], 0..60)) {
            let mut e = NdxEncoder::default();
            let mut out = Vec::new();
            for &n in &seq { e.encode(n, &mut out); }
            let mut d = NdxDecoder::default();
            let mut r = WireReader::new(&out);
            for &n in &seq { prop_assert_eq!(d.decode(&mut r), Ok(n)); }
            prop_assert!(r.is_empty());
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut d = NdxDecoder::default();
            let mut r = WireReader::new(&b);
            while d.decode(&mut r).is_ok() {}
        }
    }
}
