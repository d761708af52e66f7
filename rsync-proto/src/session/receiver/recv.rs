//! The receiver half of the receiving role: reads the sender's records and tokens,
//! rebuilds files, and follows the phases to the statistics and the goodbye.
//!
//! Spec: RFC.md §10–§12. Reference: rsync `recv_files`/`receive_data` (receiver.c),
//! `read_ndx_and_attrs` (rsync.c), `handle_stats`/`read_final_goodbye` (main.c).

use rsync_core::{Applier, ApplyError, SumHead};

use super::super::error::SessionError;
use super::super::events::{Event, FileOutcome, Stats};
use super::super::io::{incomplete_ok, read_filter_rule, Core, NDX_DEL_STATS};
use super::super::item::{read_attrs, Attrs};
use super::super::types::{iflags, FsRequest};
use super::{Incoming, Receiver, Recv};
use crate::mux::MsgCode;
use crate::sums::decode_sum_head;
use crate::token::{decode_token, TokenEvent};
use crate::wire::{WireReader, NDX_DONE};

/// A parsed sender record.
enum Record {
    Done,
    DelStats,
    Keepalive,
    Itemize {
        ndx: i32,
        attrs: Attrs,
    },
    DryTransfer {
        ndx: i32,
        attrs: Attrs,
    },
    Transfer {
        ndx: i32,
        attrs: Attrs,
        head: SumHead,
    },
}

impl Receiver {
    /// Wire: `[filter-list]` from a client sender (`--delete`).
    pub(super) fn read_filter(&mut self) -> Result<bool, SessionError> {
        match read_filter_rule(&mut self.core, &mut self.filters)? {
            None => Ok(false),
            Some(false) => Ok(true),
            Some(true) => {
                self.recv = Recv::FileList(Box::new(self.new_decoder()?));
                Ok(true)
            }
        }
    }

    /// One sender record: NDX_DONE, deletion statistics, an itemize echo, or a transfer.
    pub(super) fn read_record(&mut self) -> Result<bool, SessionError> {
        let p = self.core.protocol();
        let saved = self.core.ndx_state();
        let buf = self.core.take_input();
        let mut r = WireReader::new(buf.get(self.core.input_pos()..).unwrap_or(&[]));
        let parsed = incomplete_ok(self.parse_record(&mut r, p));
        let used = r.position();
        self.core.restore_input(buf);
        let rec = match parsed {
            Ok(Some(rec)) => rec,
            Ok(None) => {
                self.core.restore_ndx(saved);
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        self.core.consume(used);
        match rec {
            Record::Done => self.phase_done(),
            Record::DelStats | Record::Keepalive => {}
            Record::Itemize { ndx, attrs } => self.record_event(ndx, attrs, false)?,
            Record::DryTransfer { ndx, attrs } => {
                if self.requested.remove(&ndx).is_none() {
                    return Err(SessionError::Unrequested { ndx });
                }
                self.record_event(ndx, attrs, true)?;
            }
            Record::Transfer { ndx, attrs, head } => {
                let sent = self.requested.remove(&ndx);
                if sent != Some(head) {
                    return Err(if sent.is_none() {
                        SessionError::Unrequested { ndx }
                    } else {
                        SessionError::EchoMismatch { ndx }
                    });
                }
                self.record_event(ndx, attrs, true)?;
                let opts = &self.core.opts;
                let applier = Applier::new(head, opts.strong, opts.limits)?;
                let path = self.entry(ndx)?.name.clone();
                self.core.fs.push_back(FsRequest::BeginFile { ndx, path });
                self.recv = Recv::Tokens(Box::new(Incoming {
                    ndx,
                    applier,
                    literal: 0,
                    matched: 0,
                }));
            }
        }
        Ok(true)
    }

    /// receiver.c: log the record (`maybe_log_item`/`log_item`) and count it.
    fn record_event(&mut self, ndx: i32, attrs: Attrs, transfer: bool) -> Result<(), SessionError> {
        let e = self.entry(ndx)?;
        let (m, size) = (e.mode, e.size());
        let slot = usize::try_from(ndx)
            .ok()
            .and_then(|i| self.received.get_mut(i));
        let redo = transfer && slot.is_some_and(|s| std::mem::replace(s, true));
        if attrs.iflags & iflags::IS_NEW != 0 && !redo {
            self.stats.created.add(m);
        }
        if transfer {
            self.stats.xferred_files += 1;
            self.stats.total_transferred_size += size;
        }
        self.core.events.push_back(Event::Itemize {
            ndx,
            iflags: attrs.iflags,
            xname: attrs.xname,
        });
        Ok(())
    }

    fn parse_record(&mut self, r: &mut WireReader<'_>, p: u8) -> Result<Record, SessionError> {
        let ndx = self.core.read_ndx(r)?;
        if ndx == NDX_DONE {
            return Ok(Record::Done);
        }
        if ndx == NDX_DEL_STATS {
            Core::read_del_stats(r)?;
            return Ok(Record::DelStats);
        }
        let count = self.list.len();
        if ndx < 0 {
            return Err(SessionError::InvalidIndex { ndx, count });
        }
        let attrs = read_attrs(r, p)?;
        if p < 30 && ndx as usize == count && attrs.iflags == iflags::IS_NEW {
            // rsync.c: the protocol-29 keepalive.
            return Ok(Record::Keepalive);
        }
        let entry = self.entry(ndx)?;
        if attrs.iflags & iflags::TRANSFER == 0 {
            return Ok(Record::Itemize { ndx, attrs });
        }
        if !entry.is_regular() {
            return Err(SessionError::NotRegular { ndx });
        }
        if self.recv_phase >= 2 {
            return Err(SessionError::TransferInPhase2 { ndx });
        }
        if self.core.opts.dry_run {
            return Ok(Record::DryTransfer { ndx, attrs });
        }
        let opts = &self.core.opts;
        let head = decode_sum_head(r, opts.strong.digest_len(), &opts.limits)?;
        Ok(Record::Transfer { ndx, attrs, head })
    }

    /// The sender's NDX_DONE: phase bookkeeping (receiver.c `recv_files`, main.c
    /// `do_recv`); `msgdone` counts what rsync's receiver tells its generator.
    fn phase_done(&mut self) {
        self.recv_phase += 1;
        if self.recv_phase == 1 {
            // Every phase-0 file has arrived: the redo queue is final.
            let redo: Vec<i32> = self.redo.drain(..).collect();
            self.gen.redo.extend(redo);
        }
        if self.recv_phase <= self.core.opts.max_phase() {
            self.msgdone += 1;
        } else if self.core.opts.server {
            self.after_stats();
        } else {
            self.recv = Recv::Stats;
        }
    }

    /// Wire: `[stats]`, read by a client receiver with the first two swapped.
    pub(super) fn read_stats(&mut self) -> Result<bool, SessionError> {
        let p = self.core.protocol();
        let n = if p >= 29 { 5 } else { 3 };
        let mut r = self.core.reader();
        let mut v = [0i64; 5];
        for slot in v.iter_mut().take(n) {
            let x = if p >= 30 { r.varlong(3) } else { r.longint() };
            match incomplete_ok(x.map_err(SessionError::from))? {
                Some(x) => *slot = x,
                None => return Ok(false),
            }
        }
        self.core.consume(r.position());
        self.wire_stats = Some(Stats {
            total_written: v[0],
            total_read: v[1],
            total_size: v[2],
            flist_buildtime: v[3],
            flist_xfertime: v[4],
            ..Stats::default()
        });
        self.after_stats();
        Ok(true)
    }

    fn after_stats(&mut self) {
        self.msgdone += 1;
        self.recv = if self.core.protocol() >= 31 {
            Recv::GoodbyeEcho
        } else {
            Recv::Finished
        };
    }

    /// Wire: `[goodbye]` (protocol 31): the sender echoes our late NDX_DONE, after the
    /// deletion statistics a server sender passes on.
    pub(super) fn read_goodbye_echo(&mut self) -> Result<bool, SessionError> {
        let saved = self.core.ndx_state();
        let buf = self.core.take_input();
        let mut r = WireReader::new(buf.get(self.core.input_pos()..).unwrap_or(&[]));
        let res = incomplete_ok(
            self.core
                .read_ndx(&mut r)
                .map_err(SessionError::from)
                .and_then(|n| {
                    if n == NDX_DEL_STATS {
                        Core::read_del_stats(&mut r).map(|_| n)
                    } else {
                        Ok(n)
                    }
                }),
        );
        let used = r.position();
        self.core.restore_input(buf);
        let Some(v) = res? else {
            self.core.restore_ndx(saved);
            return Ok(false);
        };
        self.core.consume(used);
        match v {
            NDX_DEL_STATS => Ok(true),
            NDX_DONE => {
                self.msgdone += 1;
                self.recv = Recv::Finished;
                Ok(true)
            }
            value => Err(SessionError::BadGoodbye { value }),
        }
    }

    pub(super) fn read_token(&mut self, mut inc: Box<Incoming>) -> Result<bool, SessionError> {
        let opts = &self.core.opts;
        let (sum_len, limits) = (opts.strong.digest_len(), opts.limits);
        let mut r = self.core.reader();
        let ev = match incomplete_ok(decode_token(&mut r, sum_len, &limits).map_err(Into::into))? {
            Some(ev) => ev,
            None => {
                self.recv = Recv::Tokens(inc);
                return Ok(false);
            }
        };
        let ndx = inc.ndx;
        let used = r.position();
        match ev {
            TokenEvent::Token(rsync_core::Token::Literal(data)) => {
                inc.applier.literal(data)?;
                inc.literal += data.len() as u64;
                let data = data.to_vec();
                self.core.consume(used);
                self.core.fs.push_back(FsRequest::Write { ndx, data });
                self.recv = Recv::Tokens(inc);
            }
            TokenEvent::Token(rsync_core::Token::Copy(i)) => {
                self.core.consume(used);
                let range = inc.applier.copy(u64::from(i))?;
                inc.matched += u64::from(range.len);
                self.core.fs.push_back(FsRequest::CopyFromBasis {
                    ndx,
                    offset: range.offset,
                    len: range.len,
                });
                self.recv = Recv::AwaitCopy(inc);
            }
            TokenEvent::End { file_sum } => {
                let sum = file_sum.to_vec();
                self.core.consume(used);
                self.recv = Recv::Records;
                let Incoming {
                    applier,
                    literal,
                    matched,
                    ..
                } = *inc;
                self.stats.literal_data += literal;
                self.stats.matched_data += matched;
                match applier.finish(&sum) {
                    Ok(_) => {
                        let entry = self.entry(ndx)?.clone();
                        self.core.fs.push_back(FsRequest::Commit { ndx, entry });
                        self.core.events.push_back(Event::File {
                            ndx,
                            outcome: FileOutcome::Updated { literal, matched },
                        });
                        // receiver.c: MSG_SUCCESS for a hard-linked file.
                        self.finish_if_linked_later(ndx);
                    }
                    Err(ApplyError::ChecksumMismatch) => {
                        self.core.fs.push_back(FsRequest::Discard { ndx });
                        let outcome = self.verification_failed(ndx)?;
                        self.core.events.push_back(Event::File { ndx, outcome });
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(true)
    }

    /// The sender could not send `ndx` (`MSG_NO_SEND`).
    pub(super) fn no_send(&mut self, ndx: i32) {
        self.requested.remove(&ndx);
        self.failures = true;
        self.core.events.push_back(Event::File {
            ndx,
            outcome: FileOutcome::Failed,
        });
        if self.core.opts.flist.preserve_hard_links && self.gen.hl.linked(ndx) {
            if let Some(p) = self.gen.hl.skip(ndx) {
                self.gen.tasks.push_back(super::generator::Task::Entry {
                    ndx: p,
                    redo: false,
                });
            }
        }
    }

    /// receiver.c: a whole-file checksum mismatch is redone once (a warning at `-v`/`-i`),
    /// then it is an error.
    fn verification_failed(&mut self, ndx: i32) -> Result<FileOutcome, SessionError> {
        let name = String::from_utf8_lossy(self.entry(ndx)?.name.as_bytes()).into_owned();
        let kept = if self.core.opts.inplace {
            "retained"
        } else {
            "discarded"
        };
        if self.recv_phase == 0 {
            let o = &self.core.opts;
            if o.verbose > 0 || o.itemize > 0 {
                let text = format!(
                    "WARNING: {name} failed verification -- update {kept} (will try again).\n"
                );
                self.core.log(MsgCode::Warning, text.into_bytes());
            }
            self.redo.push_back(ndx);
            return Ok(FileOutcome::Redo);
        }
        self.failures = true;
        let text = format!("ERROR: {name} failed verification -- update {kept}.\n");
        self.core.log(MsgCode::ErrorXfer, text.into_bytes());
        Ok(FileOutcome::Failed)
    }
}
