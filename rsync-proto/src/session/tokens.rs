//! The sender's token output: counts literal and matched bytes, and keeps `--inplace`
//! transfers safe.
//!
//! Reference: rsync `matched`/`hash_search` with `updating_basis_file` (match.c).

use rsync_core::{SumHead, Token};

use crate::token::{encode_token, CHUNK_SIZE};

/// `--inplace`: the input bytes not yet covered by a token, and the output position.
#[derive(Debug, Default)]
pub(super) struct InPlace {
    pending: Vec<u8>,
    pos: u64,
}

impl InPlace {
    /// Bytes given to the matcher.
    pub(super) fn feed(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
    }
}

/// Writes tokens and counts them; with `--inplace` a copy of a block that lies before the
/// output position (already overwritten at the receiver) is sent as literal data.
pub(super) struct TokenSink<'a> {
    head: SumHead,
    pub(super) inplace: &'a mut Option<InPlace>,
    out: &'a mut Vec<u8>,
    pub(super) literal: u64,
    pub(super) matched: u64,
    pub(super) copies: u64,
}

impl<'a> TokenSink<'a> {
    pub(super) fn new(
        head: SumHead,
        inplace: &'a mut Option<InPlace>,
        out: &'a mut Vec<u8>,
    ) -> Self {
        Self {
            head,
            inplace,
            out,
            literal: 0,
            matched: 0,
            copies: 0,
        }
    }

    pub(super) fn token(&mut self, t: Token<'_>) -> Result<(), std::convert::Infallible> {
        let Some(ip) = self.inplace.as_mut() else {
            match t {
                Token::Literal(b) => self.literal += b.len() as u64,
                Token::Copy(i) => {
                    self.copies += 1;
                    self.matched += u64::from(self.head.block_len_of(i).unwrap_or(0));
                }
            }
            encode_token(t, self.out);
            return Ok(());
        };
        match t {
            Token::Literal(b) => {
                let n = b.len().min(ip.pending.len());
                ip.pending.drain(..n);
                ip.pos += b.len() as u64;
                self.literal += b.len() as u64;
                encode_token(t, self.out);
            }
            Token::Copy(i) => {
                let len = self.head.block_len_of(i).unwrap_or(0);
                let offset = u64::from(i) * u64::from(self.head.block_len);
                let n = (len as usize).min(ip.pending.len());
                if offset < ip.pos {
                    // match.c updating_basis_file: that block is gone at the receiver.
                    for c in ip.pending[..n].chunks(CHUNK_SIZE) {
                        encode_token(Token::Literal(c), self.out);
                    }
                    self.literal += n as u64;
                } else {
                    encode_token(t, self.out);
                    self.copies += 1;
                    self.matched += u64::from(len);
                }
                ip.pending.drain(..n);
                ip.pos += u64::from(len);
            }
        }
        Ok(())
    }
}
