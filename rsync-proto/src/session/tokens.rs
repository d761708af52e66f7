//! The sender's token output: counts literal and matched bytes, and keeps `--inplace`
//! transfers safe.
//!
//! Reference: rsync `matched`/`hash_search` with `updating_basis_file` (match.c).

use std::collections::HashSet;

use rsync_core::{SumHead, Token};

use crate::token::{encode_token, CHUNK_SIZE};

/// `--inplace` (rsync's `updating_basis_file`): the receiver rebuilds the file inside its
/// basis, so by the time a token is applied every byte before the output position has been
/// rewritten. A copy of a block that starts before that position is therefore sent as
/// literal data, unless the block was already matched at its own offset (`SUMFLG_SAME_OFFSET`:
/// the receiver skipped it, so its bytes are still the basis's). Keeps the input bytes that
/// no token covers yet, to send them as literals.
#[derive(Debug, Default)]
pub(super) struct InPlace {
    /// Input bytes; `pending[start..]` are not covered by a token yet.
    pending: Vec<u8>,
    start: usize,
    /// The output position: bytes covered by tokens so far.
    pos: u64,
    /// Blocks matched at their own offset (`SUMFLG_SAME_OFFSET`).
    same_offset: HashSet<u32>,
}

impl InPlace {
    /// Bytes given to the matcher.
    pub(super) fn feed(&mut self, data: &[u8]) {
        if self.start > 0 && self.start * 2 >= self.pending.len() {
            self.pending.drain(..self.start);
            self.start = 0;
        }
        self.pending.extend_from_slice(data);
    }

    /// The next `n` uncovered input bytes (fewer if the matcher gave fewer).
    fn take(&mut self, n: usize) -> &[u8] {
        let from = self.start;
        let to = from.saturating_add(n).min(self.pending.len());
        self.start = to;
        self.pending.get(from..to).unwrap_or_default()
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
                ip.take(b.len());
                ip.pos += b.len() as u64;
                self.literal += b.len() as u64;
                encode_token(t, self.out);
            }
            Token::Copy(i) => {
                let len = self.head.block_len_of(i).unwrap_or(0);
                let offset = u64::from(i) * u64::from(self.head.block_len);
                if offset == ip.pos {
                    ip.same_offset.insert(i);
                }
                if offset < ip.pos && !ip.same_offset.contains(&i) {
                    // match.c: that block is gone at the receiver.
                    let data = ip.take(len as usize);
                    for c in data.chunks(CHUNK_SIZE) {
                        encode_token(Token::Literal(c), self.out);
                    }
                    self.literal += data.len() as u64;
                } else {
                    ip.take(len as usize);
                    encode_token(t, self.out);
                    self.copies += 1;
                    self.matched += u64::from(len);
                }
                ip.pos += u64::from(len);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{decode_token, TokenEvent};
    use crate::wire::WireReader;

    /// The tokens `sink` wrote, as (literal bytes | copied block) in order.
    #[allow(clippy::panic)]
    fn decode(out: &[u8]) -> Vec<Result<Vec<u8>, u32>> {
        let mut r = WireReader::new(out);
        let mut v = Vec::new();
        while !r.remaining().is_empty() {
            match decode_token(&mut r, 16, &rsync_core::Limits::default()) {
                Ok(TokenEvent::Token(Token::Literal(b))) => v.push(Ok(b.to_vec())),
                Ok(TokenEvent::Token(Token::Copy(i))) => v.push(Err(i)),
                other => panic!("{other:?}"),
            }
        }
        v
    }

    #[test]
    fn inplace_copies_only_blocks_still_in_place() {
        let head = SumHead {
            count: 4,
            block_len: 4,
            strong_len: 16,
            remainder: 0,
        };
        // New file: block 0 at 0 (same offset), block 2 at 4 (ahead: fine), block 0 again
        // at 8 (behind, but matched in place: fine), block 1 at 12 (behind: overwritten).
        let input = b"AAAACCCCAAAABBBB";
        let mut ip = Some(InPlace::default());
        let mut out = Vec::new();
        let mut sink = TokenSink::new(head, &mut ip, &mut out);
        if let Some(ip) = sink.inplace.as_mut() {
            ip.feed(&input[..6]);
        }
        let _ = sink.token(Token::Copy(0));
        if let Some(ip) = sink.inplace.as_mut() {
            ip.feed(&input[6..]);
        }
        for t in [Token::Copy(2), Token::Copy(0), Token::Copy(1)] {
            let _ = sink.token(t);
        }
        assert_eq!((sink.literal, sink.matched, sink.copies), (4, 12, 3));
        assert_eq!(decode(&out), [Err(0), Err(2), Err(0), Ok(b"BBBB".to_vec())]);
    }
}
