//! The sender's token stream decoded on its own (RFC.md §11, §3.6 `[token]`): byte 0 picks
//! the whole-file checksum length and the literal limit, the rest is the wire. The decoder
//! never panics, never moves the reader on a short input, never returns a literal above the
//! limit, and every token it returns re-encodes to exactly the bytes it was read from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsync_core::{Limits, Token};
use rsync_proto::token::{decode_token, encode_end, encode_token, TokenError, TokenEvent};
use rsync_proto::{DecodeError, WireReader};

fuzz_target!(|input: &[u8]| {
    let Some((&sel, data)) = input.split_first() else {
        return;
    };
    let sum_len = [16usize, 8, 20, 0][usize::from(sel & 3)];
    let limits = Limits {
        max_literal: if sel & 4 == 0 { 32 * 1024 } else { 100 },
        ..Limits::default()
    };
    let mut r = WireReader::new(data);
    loop {
        let before = r.position();
        let event = decode_token(&mut r, sum_len, &limits);
        let after = r.position();
        let mut again = Vec::new();
        match event {
            Ok(TokenEvent::Token(t)) => {
                if let Token::Literal(b) = t {
                    assert!(!b.is_empty() && b.len() <= limits.max_literal as usize);
                }
                encode_token(t, &mut again);
            }
            Ok(TokenEvent::End { file_sum }) => {
                assert_eq!(file_sum.len(), sum_len);
                encode_end(file_sum, &mut again);
            }
            Err(TokenError::Decode(DecodeError::Incomplete { .. })) => {
                assert_eq!(after, before, "a short input moved the reader");
                return;
            }
            Err(TokenError::LiteralTooLong { len, max }) => {
                assert!(len > max);
                return;
            }
            Err(e) => panic!("unexpected error {e:?}"),
        }
        assert!(after > before);
        assert_eq!(again, data[before..after]);
        if after == data.len() {
            return;
        }
    }
});
