//! Sum header and block sums on the wire: what the generator sends for each file it wants,
//! and the sender reads back (and echoes the header).
//!
//! Wire: RFC.md §10 `[sum-head]` and `[block-sums]` (§3.4 defines the fields). Reference:
//! rsync `write_sum_head`/`read_sum_head` (io.c), `generate_and_send_sums` (generator.c),
//! `receive_sums` (sender.c). Everything is validated against [`Limits`] before anything is
//! allocated for it.

use rsync_core::{Limits, Signature, SumHead, SumHeadError};

use crate::wire::{DecodeError, WireReader, WireWrite};

/// Why a sum header or block-sum list was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SumsError {
    /// More bytes are needed; nothing was consumed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The header is malformed or over a limit.
    #[error(transparent)]
    Head(#[from] SumHeadError),
}

/// rsync's `MAX_BLOCK_SIZE` from protocol 30 (RFC.md §14.2, check 2).
pub const MAX_BLOCK_LEN: u32 = 1 << 17;

/// rsync's `OLD_MAX_BLOCK_SIZE`, below protocol 30.
pub const OLD_MAX_BLOCK_LEN: u32 = 1 << 29;

/// `limits` with the block length capped at the protocol's maximum (RFC.md §14.2, check 2:
/// `blength` above `MAX_BLOCK_SIZE` is a fatal protocol error, whatever the local limits).
pub fn limits_for_protocol(limits: &Limits, protocol: u8) -> Limits {
    let cap = if protocol >= 30 {
        MAX_BLOCK_LEN
    } else {
        OLD_MAX_BLOCK_LEN
    };
    Limits {
        max_block_len: limits.max_block_len.min(cap),
        ..*limits
    }
}

/// Encodes a sum header: four `int32`s.
pub fn encode_sum_head(head: &SumHead, out: &mut Vec<u8>) {
    for v in [head.count, head.block_len, head.strong_len, head.remainder] {
        out.put_int(v as i32);
    }
}

/// Decodes and validates a sum header (protocol ≥ 27) for a checksum of `digest_len` bytes.
/// On [`DecodeError::Incomplete`] the reader does not move.
pub fn decode_sum_head(
    r: &mut WireReader<'_>,
    digest_len: usize,
    limits: &Limits,
) -> Result<SumHead, SumsError> {
    let start = r.clone();
    let ints = (|| Ok::<_, DecodeError>([r.int()?, r.int()?, r.int()?, r.int()?]))();
    let [count, block_len, strong_len, remainder] = match ints {
        Ok(v) => v,
        Err(e) => {
            *r = start;
            return Err(e.into());
        }
    };
    Ok(SumHead::from_wire(
        count, block_len, strong_len, remainder, digest_len, limits,
    )?)
}

/// Encodes the block sums of `sig`: per block the weak sum (`int32`) and `strong_len` bytes.
pub fn encode_block_sums(sig: &Signature, out: &mut Vec<u8>) {
    let n = sig.head().strong_len as usize;
    for (i, &weak) in sig.weak_sums().iter().enumerate() {
        out.put_int(weak as i32);
        if let Some(s) = sig.strong_sums().get(i * n..(i + 1) * n) {
            out.put_bytes(s);
        }
    }
}

/// Decodes `head.count` block sums. `head` must come from [`decode_sum_head`] (validated, so
/// the allocation is bounded by [`Limits::max_signature_bytes`]). All of the sums must be in
/// `r`; otherwise [`DecodeError::Incomplete`] and the reader does not move.
pub fn decode_block_sums(r: &mut WireReader<'_>, head: SumHead) -> Result<Signature, SumsError> {
    let n = head.strong_len as usize;
    let need = head.count as usize * (4 + n);
    let bytes = r.bytes(need)?;
    let mut sig = Signature::with_head(head);
    for rec in bytes.chunks_exact(4 + n) {
        let weak = u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
        sig.push(weak, &rec[4..]);
    }
    Ok(sig)
}

#[cfg(test)]
mod protocol_cap_tests {
    use super::*;

    #[test]
    fn block_length_above_max_block_size_is_rejected_from_protocol_30() {
        let mut b = Vec::new();
        for v in [1, (MAX_BLOCK_LEN + 1) as i32, 2, 0] {
            b.put_int(v);
        }
        let l30 = limits_for_protocol(&Limits::default(), 30);
        assert!(decode_sum_head(&mut WireReader::new(&b), 16, &l30).is_err());
        let l29 = limits_for_protocol(&Limits::default(), 29);
        assert!(decode_sum_head(&mut WireReader::new(&b), 16, &l29).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsync_core::checksum::{ChecksumKind, StrongSum};

    #[test]
    fn round_trip_and_captured_header() {
        // captured/p31-xxh128-pull.txt: sum_head 8 700 2 100.
        let head = SumHead {
            count: 8,
            block_len: 700,
            strong_len: 2,
            remainder: 100,
        };
        let mut out = Vec::new();
        encode_sum_head(&head, &mut out);
        assert_eq!(out, [8, 0, 0, 0, 0xbc, 2, 0, 0, 2, 0, 0, 0, 100, 0, 0, 0]);
        let basis: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let sig = Signature::compute(&basis, head, StrongSum::new(ChecksumKind::Xxh128, -99));
        encode_block_sums(&sig, &mut out);
        assert_eq!(out.len(), 16 + 8 * 6);
        let limits = Limits::default();
        let mut r = WireReader::new(&out);
        let got = decode_sum_head(&mut r, 16, &limits).unwrap();
        assert_eq!(got, head);
        assert_eq!(decode_block_sums(&mut r, got).unwrap(), sig);
        assert!(r.is_empty());
    }

    #[test]
    fn hostile_headers() {
        let limits = Limits {
            max_signature_bytes: 1 << 20,
            ..Limits::default()
        };
        let enc = |v: [i32; 4]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let cases = [
            [-1, 700, 2, 0],
            [1, 700, 17, 0],
            [1, 0, 2, 0],
            [1, 700, 2, 700],
            [i32::MAX, 700, 16, 0],
        ];
        for c in cases {
            let b = enc(c);
            assert!(
                matches!(
                    decode_sum_head(&mut WireReader::new(&b), 16, &limits),
                    Err(SumsError::Head(_))
                ),
                "{c:?}"
            );
        }
        // Truncated: nothing consumed.
        let b = enc([1, 700, 2, 0]);
        let mut r = WireReader::new(&b[..10]);
        assert!(matches!(
            decode_sum_head(&mut r, 16, &limits),
            Err(SumsError::Decode(DecodeError::Incomplete { .. }))
        ));
        assert_eq!(r.position(), 0);
        // Block sums announced but missing.
        let head = SumHead {
            count: 3,
            block_len: 700,
            strong_len: 2,
            remainder: 0,
        };
        let mut r = WireReader::new(&[0u8; 17]);
        assert!(decode_block_sums(&mut r, head).is_err());
        assert_eq!(r.position(), 0);
    }
}
