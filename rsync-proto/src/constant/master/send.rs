//! The master's file data (RFC.md §15.5): block sums from `SUMS`/`SUMS_MORE`, the file read
//! and matched with rsync_core's [`Matcher`], tokens in `DATA` records, `DATA_END` with the
//! whole-file checksum, `ABORT` when the file cannot be read.
//!
//! Reference: rsync `send_files` (sender.c), `match_sums` (match.c).

use std::convert::Infallible;

use rsync_core::checksum::FileHasher;
use rsync_core::{Matcher, Signature, SumHead, Token};

use super::{Expect, Flight, Master, MasterEvent, State};
use crate::constant::config::{ndx_of, ConstantError};
use crate::constant::record::MasterRecord;
use crate::flist::WirePath;
use crate::session::FsRequest;
use crate::token::encode_token;

/// Where a regular file's `ENTRY` is.
#[derive(Debug)]
pub(super) enum FileState {
    /// Sent; the mirror answers `ACK` (current) or `SUMS`.
    AwaitSums,
    /// Some block sums are in, `SUMS_MORE` follows until `count`.
    Partial {
        sig: Signature,
        count: u32,
        retry: bool,
        held: u64,
    },
    /// All sums are in; the file waits for its turn to be read.
    Ready {
        sig: Signature,
        retry: bool,
        held: u64,
    },
    /// Being read and sent.
    Reading { retry: bool, held: u64 },
    /// `DATA_END` is out (`retry`: it was the whole-file retry).
    Sent { retry: bool },
    /// `ABORT` is out.
    Aborted,
}

impl FileState {
    /// Whether an `ACK` may come now.
    pub(super) fn ackable(&self) -> bool {
        matches!(self, Self::AwaitSums | Self::Sent { .. } | Self::Aborted)
    }

    /// Bytes of block sums held for the file.
    pub(super) fn held(&self) -> u64 {
        match self {
            Self::Partial { held, .. } | Self::Ready { held, .. } | Self::Reading { held, .. } => {
                *held
            }
            _ => 0,
        }
    }
}

/// The file being read.
#[derive(Debug)]
pub(super) struct Reading {
    id: u64,
    path: WirePath,
    head: SumHead,
    matcher: Option<Matcher>,
    hasher: FileHasher,
    buf: Vec<u8>,
    literal: u64,
    matched: u64,
}

/// Appends whole block sums (`4 + strong_len` bytes each) to `sig`.
fn push_sums(sig: &mut Signature, sums: &[u8], per: usize) {
    for b in sums.chunks_exact(per) {
        let (w, s) = b.split_at(4.min(b.len()));
        if let Ok(w) = <[u8; 4]>::try_from(w) {
            sig.push(u32::from_le_bytes(w), s);
        }
    }
}

impl Master {
    fn file_mut(&mut self, id: u64, record: &'static str) -> Result<&mut FileState, ConstantError> {
        match self.flights.get_mut(&id) {
            Some(Flight {
                state: State::File(s),
                ..
            }) => Ok(s),
            _ => Err(ConstantError::UnknownId { record, id }),
        }
    }

    /// `SUMS`: the first sums of a file, or the whole-file retry (`count` 0).
    pub(super) fn sums(
        &mut self,
        id: u64,
        head: SumHead,
        sums: &[u8],
    ) -> Result<(), ConstantError> {
        let per = 4 + head.strong_len as usize;
        let need = u64::from(head.count) * per as u64;
        let (used, max) = (self.sums_bytes, self.cfg.max_sums_bytes);
        let s = self.file_mut(id, "SUMS")?;
        let retry = match s {
            FileState::AwaitSums => false,
            FileState::Sent { retry: false } if head.count == 0 => true,
            _ => return Err(ConstantError::UnknownId { record: "SUMS", id }),
        };
        if used.saturating_add(need) > max {
            return Err(ConstantError::SumsTooLarge { max });
        }
        let mut sig = Signature::with_head(head);
        push_sums(&mut sig, sums, per);
        *s = if sig.len() == head.count as usize {
            FileState::Ready {
                sig,
                retry,
                held: need,
            }
        } else {
            FileState::Partial {
                sig,
                count: head.count,
                retry,
                held: need,
            }
        };
        if matches!(s, FileState::Ready { .. }) {
            self.ready.push_back(id);
        }
        self.sums_bytes += need;
        Ok(())
    }

    /// `SUMS_MORE`: further block sums of a file.
    pub(super) fn sums_more(&mut self, id: u64, sums: &[u8]) -> Result<(), ConstantError> {
        let s = self.file_mut(id, "SUMS_MORE")?;
        let FileState::Partial {
            sig,
            count,
            retry,
            held,
        } = s
        else {
            return Err(ConstantError::UnknownId {
                record: "SUMS_MORE",
                id,
            });
        };
        let per = 4 + sig.head().strong_len as usize;
        let n = sums.len() / per;
        if !sums.len().is_multiple_of(per) || sig.len() + n > *count as usize {
            return Err(ConstantError::Unexpected {
                record: "SUMS_MORE",
                why: "partial block sums or more than the head's count",
            });
        }
        push_sums(sig, sums, per);
        if sig.len() == *count as usize {
            let (retry, held) = (*retry, *held);
            let sig = std::mem::replace(sig, Signature::with_head(SumHead::EMPTY));
            *s = FileState::Ready { sig, retry, held };
            self.ready.push_back(id);
        }
        Ok(())
    }

    /// Starts reading the next file whose sums are complete.
    pub(super) fn start_read(&mut self) {
        while self.reading.is_none() {
            let Some(id) = self.ready.pop_front() else {
                return;
            };
            let Some(Flight {
                path: Some(path),
                state: State::File(s),
                ..
            }) = self.flights.get_mut(&id)
            else {
                continue;
            };
            let FileState::Ready { sig, retry, held } = std::mem::replace(s, FileState::AwaitSums)
            else {
                continue;
            };
            *s = FileState::Reading { retry, held };
            let path = path.clone();
            let head = sig.head();
            let o = &self.opts;
            let matcher = Matcher::with_limits(sig, o.strong, &o.limits);
            self.requests.push_back(FsRequest::ReadFile {
                ndx: ndx_of(id),
                path: path.clone(),
            });
            self.expect.push_back(Expect::Read(id));
            self.reading = Some(Box::new(Reading {
                id,
                path,
                head,
                matcher: Some(matcher),
                hasher: o.strong.file_hasher(),
                buf: Vec::new(),
                literal: 0,
                matched: 0,
            }));
        }
    }

    fn reading_of(&mut self, id: u64, ndx: i32) -> Result<Box<Reading>, ConstantError> {
        match self.reading.take() {
            Some(r) if r.id == id && ndx == ndx_of(id) => Ok(r),
            other => {
                self.reading = other;
                Err(ConstantError::UnexpectedAnswer {
                    what: "file data for another file",
                })
            }
        }
    }

    /// Matches `data` (or, at the end, what remains) and sends full `DATA` records.
    fn feed(&mut self, r: &mut Reading, data: Option<&[u8]>) {
        let lim = self.cfg.data_record_len();
        let Reading {
            id,
            head,
            matcher,
            buf,
            literal,
            matched,
            hasher,
            ..
        } = r;
        let (ctx, out) = (&self.ctx, &mut self.out);
        let mut sink = |t: Token<'_>| -> Result<(), Infallible> {
            match t {
                Token::Literal(b) => *literal += b.len() as u64,
                Token::Copy(i) => *matched += u64::from(head.block_len_of(i).unwrap_or(0)),
            }
            encode_token(t, buf);
            if buf.len() >= lim {
                let tokens = std::mem::take(buf);
                let _ = MasterRecord::Data { id: *id, tokens }.encode(ctx, out);
            }
            Ok(())
        };
        let _ = match data {
            Some(d) => {
                hasher.update(d);
                match matcher {
                    Some(m) => m.push(d, &mut sink),
                    None => Ok(()),
                }
            }
            None => match matcher.take() {
                Some(m) => m.finish(&mut sink),
                None => Ok(()),
            },
        };
    }

    pub(super) fn file_data(
        &mut self,
        id: u64,
        ndx: i32,
        data: &[u8],
    ) -> Result<(), ConstantError> {
        let mut r = self.reading_of(id, ndx)?;
        self.feed(&mut r, Some(data));
        self.reading = Some(r);
        Ok(())
    }

    /// The file is read: the last tokens, `DATA_END`.
    pub(super) fn file_end(&mut self, id: u64, ndx: i32) -> Result<(), ConstantError> {
        let mut r = self.reading_of(id, ndx)?;
        self.feed(&mut r, None);
        let Reading {
            path,
            buf,
            hasher,
            literal,
            matched,
            ..
        } = *r;
        if !buf.is_empty() {
            self.send(&MasterRecord::Data { id, tokens: buf });
        }
        let checksum = hasher.finish().as_bytes().to_vec();
        self.send(&MasterRecord::DataEnd { id, checksum });
        self.done_reading(id, FileStateAfter::Sent);
        self.events.push_back(MasterEvent::Sent {
            path,
            literal,
            matched,
        });
        Ok(())
    }

    /// The file could not be read: `ABORT` (tokens already sent are dropped by the mirror).
    pub(super) fn file_error(
        &mut self,
        id: u64,
        ndx: i32,
        vanished: bool,
    ) -> Result<(), ConstantError> {
        let _ = (self.reading_of(id, ndx)?, vanished);
        self.send(&MasterRecord::Abort { id });
        self.done_reading(id, FileStateAfter::Aborted);
        Ok(())
    }

    fn done_reading(&mut self, id: u64, after: FileStateAfter) {
        if let Ok(s) = self.file_mut(id, "DATA_END") {
            let held = s.held();
            let retry = matches!(s, FileState::Reading { retry: true, .. });
            *s = match after {
                FileStateAfter::Sent => FileState::Sent { retry },
                FileStateAfter::Aborted => FileState::Aborted,
            };
            self.sums_bytes = self.sums_bytes.saturating_sub(held);
        }
    }
}

/// How a read ended.
enum FileStateAfter {
    Sent,
    Aborted,
}
