//! A sum header and its block sums from a hostile generator (RFC.md §10 `[sum-head]`,
//! `[block-sums]`): byte 0 picks the digest length, the rest is the wire. The decoder never
//! panics, never moves the reader on a short input, accepts only headers within the limits
//! (CVE-2024-12084: `s2length` above the digest), and whatever decodes re-encodes to exactly
//! the bytes it was read from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsync_core::Limits;
use rsync_proto::sums::{decode_block_sums, decode_sum_head, encode_block_sums, encode_sum_head};
use rsync_proto::{DecodeError, WireReader};

fuzz_target!(|input: &[u8]| {
    let Some((&sel, data)) = input.split_first() else {
        return;
    };
    let digest_len = [16usize, 8, 20, 32][usize::from(sel & 3)];
    let limits = Limits {
        max_signature_bytes: 1 << 16,
        max_block_len: 1 << 17,
        ..Limits::default()
    };
    let mut r = WireReader::new(data);
    let head = match decode_sum_head(&mut r, digest_len, &limits) {
        Ok(h) => h,
        Err(e) => {
            if matches!(
                e,
                rsync_proto::sums::SumsError::Decode(DecodeError::Incomplete { .. })
            ) {
                assert_eq!(r.position(), 0);
            }
            return;
        }
    };
    assert_eq!(r.position(), 16);
    assert!(head.strong_len as usize <= digest_len);
    assert!(u64::from(head.count) * (4 + u64::from(head.strong_len)) <= limits.max_signature_bytes);
    assert!(head.block_len <= limits.max_block_len);
    assert!(head.count == 0 || head.block_len > 0);
    assert!(head.remainder == 0 || head.remainder < head.block_len);
    let mut again = Vec::new();
    encode_sum_head(&head, &mut again);
    assert_eq!(again, data[..16]);
    match decode_block_sums(&mut r, head) {
        Ok(sig) => {
            assert_eq!(sig.head(), head);
            assert_eq!(sig.len(), head.count as usize);
            let end = r.position();
            encode_block_sums(&sig, &mut again);
            assert_eq!(again, data[..end]);
        }
        Err(_) => assert_eq!(r.position(), 16),
    }
});
