//! The sender's token stream for one file (uncompressed), then the whole-file checksum.
//!
//! Wire: RFC.md §11 and §3.6 `[token]`: `int32 t`; `t > 0` is followed by `t` literal bytes,
//! `t < 0` copies block `−(t + 1)`, `t = 0` ends the file and is followed by the whole-file
//! checksum. Reference: rsync `simple_send_token`/`simple_recv_token` (token.c). Literal runs
//! are bounded by [`Limits::max_literal`] before waiting for their bytes.

use rsync_core::{Limits, Token};

use crate::wire::{DecodeError, WireReader, WireWrite};

/// Most bytes in one literal token a stock sender produces (`CHUNK_SIZE`).
pub const CHUNK_SIZE: usize = 32 * 1024;

/// Encodes a token; literals longer than [`CHUNK_SIZE`] are split.
pub fn encode_token(token: Token<'_>, out: &mut Vec<u8>) {
    match token {
        Token::Literal(mut data) => {
            while !data.is_empty() {
                let n = data.len().min(CHUNK_SIZE);
                out.put_int(n as i32);
                out.put_bytes(&data[..n]);
                data = &data[n..];
            }
        }
        Token::Copy(i) => out.put_int((-i64::from(i) - 1) as i32),
    }
}

/// Encodes the end of a file: token 0, then the whole-file checksum.
pub fn encode_end(file_sum: &[u8], out: &mut Vec<u8>) {
    out.put_int(0);
    out.put_bytes(file_sum);
}

/// One decoded item of a token stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEvent<'a> {
    /// A token ([`Token::Copy`] carries the block index).
    Token(Token<'a>),
    /// The end marker and the whole-file checksum that follows it.
    End {
        /// The sender's whole-file checksum.
        file_sum: &'a [u8],
    },
}

/// Why a token stream was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// More bytes are needed; nothing was consumed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A literal token longer than the limit (rejected before reading its bytes).
    #[error("literal token of {len} bytes exceeds the limit {max}")]
    LiteralTooLong {
        /// The announced length.
        len: u32,
        /// The limit.
        max: u32,
    },
}

/// Decodes the next token of a stream whose whole-file checksum is `sum_len` bytes. A literal
/// is returned only when all its bytes are in `r`; on [`DecodeError::Incomplete`] the reader
/// does not move. Block indices are range-checked by the applier (`rsync_core::Applier`).
pub fn decode_token<'a>(
    r: &mut WireReader<'a>,
    sum_len: usize,
    limits: &Limits,
) -> Result<TokenEvent<'a>, TokenError> {
    let start = r.clone();
    let result = (|| {
        let t = r.int()?;
        Ok(match t {
            0 => TokenEvent::End {
                file_sum: r.bytes(sum_len)?,
            },
            t if t > 0 => {
                let len = t as u32;
                if len > limits.max_literal {
                    return Err(TokenError::LiteralTooLong {
                        len,
                        max: limits.max_literal,
                    });
                }
                TokenEvent::Token(Token::Literal(r.bytes(len as usize)?))
            }
            t => TokenEvent::Token(Token::Copy((-(i64::from(t) + 1)) as u32)),
        })
    })();
    if matches!(result, Err(TokenError::Decode(_))) {
        *r = start;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vectors() {
        let mut out = Vec::new();
        encode_token(Token::Copy(0), &mut out);
        encode_token(Token::Literal(b"abc"), &mut out);
        encode_token(Token::Copy(u32::MAX >> 1), &mut out);
        encode_end(&[0xaa; 16], &mut out);
        assert_eq!(&out[..4], [0xff, 0xff, 0xff, 0xff]);
        assert_eq!(&out[4..11], [3, 0, 0, 0, b'a', b'b', b'c']);
        assert_eq!(&out[11..15], [0, 0, 0, 0x80]);
        let limits = Limits::default();
        let mut r = WireReader::new(&out);
        assert_eq!(
            decode_token(&mut r, 16, &limits),
            Ok(TokenEvent::Token(Token::Copy(0)))
        );
        assert_eq!(
            decode_token(&mut r, 16, &limits),
            Ok(TokenEvent::Token(Token::Literal(b"abc")))
        );
        assert_eq!(
            decode_token(&mut r, 16, &limits),
            Ok(TokenEvent::Token(Token::Copy(u32::MAX >> 1)))
        );
        assert_eq!(
            decode_token(&mut r, 16, &limits),
            Ok(TokenEvent::End {
                file_sum: &[0xaa; 16]
            })
        );
        assert!(r.is_empty());
    }

    #[test]
    fn long_literals_split_and_hostile_lengths() {
        let mut out = Vec::new();
        encode_token(Token::Literal(&vec![7u8; 70_000]), &mut out);
        assert_eq!(&out[..4], &(CHUNK_SIZE as i32).to_le_bytes());
        assert_eq!(out.len(), 3 * 4 + 70_000);
        let huge = i32::MAX.to_le_bytes();
        assert_eq!(
            decode_token(&mut WireReader::new(&huge), 16, &Limits::default()),
            Err(TokenError::LiteralTooLong {
                len: i32::MAX as u32,
                max: 32768
            })
        );
        let mut r = WireReader::new(&[5, 0, 0, 0, 1, 2]);
        assert!(matches!(
            decode_token(&mut r, 16, &Limits::default()),
            Err(TokenError::Decode(_))
        ));
        assert_eq!(r.position(), 0);
        assert_eq!(
            decode_token(
                &mut WireReader::new(&i32::MIN.to_le_bytes()),
                16,
                &Limits::default()
            ),
            Ok(TokenEvent::Token(Token::Copy(i32::MAX as u32)))
        );
    }

    proptest! {
        #[test]
        fn split_invariance(lits in proptest::collection::vec((any::<bool>(), 0u32..1000, proptest::collection::vec(any::<u8>(), 1..50)), 0..20), cut in 0usize..2000) {
            let mut out = Vec::new();
            for (copy, i, lit) in &lits {
                if *copy { encode_token(Token::Copy(*i), &mut out) } else { encode_token(Token::Literal(lit), &mut out) }
            }
            encode_end(&[1; 8], &mut out);
            // Decoding a prefix then the rest gives the same events as decoding everything.
            let limits = Limits::default();
            let all: Vec<String> = { let mut r = WireReader::new(&out); let mut v = Vec::new(); while let Ok(e) = decode_token(&mut r, 8, &limits) { v.push(format!("{e:?}")); if matches!(e, TokenEvent::End { .. }) { break } } v };
            let cut = cut.min(out.len());
            let mut r = WireReader::new(&out[..cut]);
            let mut got = Vec::new();
            while let Ok(e) = decode_token(&mut r, 8, &limits) { got.push(format!("{e:?}")); }
            let mut r2 = WireReader::new(&out[r.position()..]);
            while let Ok(e) = decode_token(&mut r2, 8, &limits) { got.push(format!("{e:?}")); if matches!(e, TokenEvent::End { .. }) { break } }
            prop_assert_eq!(got, all);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut r = WireReader::new(&b);
            while let Ok(TokenEvent::Token(_)) = decode_token(&mut r, 16, &Limits::default()) {}
        }
    }
}
