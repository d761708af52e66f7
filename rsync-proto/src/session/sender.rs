//! The sender: serves the generator's requests with tokens from the [`Matcher`].
//!
//! Spec: RFC.md §10–§12. Reference: rsync `send_files` (sender.c), `do_server_sender` and
//! `read_final_goodbye` (main.c), `recv_filter_list` (exclude.c).

use rsync_core::checksum::FileHasher;
use rsync_core::{Matcher, Token};

use super::io::{incomplete_ok, Core};
use super::types::{iflags, io_error_exit, FilesFrom, FsAnswer, FsRequest, SessionError};
use super::types::{Event, FileOutcome, SessionOptions, Stats, IOERR_GENERAL, IOERR_VANISHED};
use super::Session;
use crate::flist::{sort_file_list, FileEntry, FlistEncoder, WirePath, MAX_NAME_LEN};
use crate::mux::MsgCode;
use crate::sums::{decode_block_sums, decode_sum_head, encode_sum_head};
use crate::token::{encode_end, encode_token};
use crate::wire::{WireReader, WireWrite, NDX_DONE};

/// Longest filter rule accepted (rsync: `MAXPATHLEN + 2`-ish; generous).
const MAX_FILTER_LEN: i32 = 8192;
/// Most `--files-from` names accepted.
const MAX_FILES_FROM: usize = 1_000_000;

#[derive(Debug)]
enum State {
    Filters,
    FilesFrom,
    AwaitList,
    Requests,
    Sending(Box<Sending>),
    Goodbye { echoed: bool },
    Finished,
}

#[derive(Debug)]
struct Sending {
    ndx: i32,
    echo: Vec<u8>,
    head: rsync_core::SumHead,
    matcher: Matcher,
    hasher: FileHasher,
    started: bool,
    literal: u64,
    matched: u64,
}

/// The sending role: a server sender (pull) or a client sender (push).
///
/// See [`Session`] for the call order.
#[derive(Debug)]
pub struct Sender {
    core: Core,
    state: State,
    filters: Vec<Vec<u8>>,
    names: Vec<Vec<u8>>,
    list: Vec<Option<FileEntry>>,
    phase: u8,
    io_error: i32,
    total_size: i64,
}

impl Sender {
    /// A sender for `opts` (`opts.server` tells whether it is the server sender of a pull).
    ///
    /// # Errors
    /// [`SessionError::Unsupported`] for protocol 30 with `--files-from` forwarding, or a file
    /// list configuration [`crate::flist::FlistOptions::validate`] rejects.
    pub fn new(opts: SessionOptions) -> Result<Self, SessionError> {
        opts.flist.validate()?;
        if opts.flist.inc_recurse {
            return Err(SessionError::Unsupported {
                what: "incremental recursion",
            });
        }
        let receive_names = opts.files_from == FilesFrom::Receive;
        if receive_names && opts.protocol == 30 {
            return Err(SessionError::Unsupported {
                what: "--files-from forwarding at protocol 30",
            });
        }
        let state = if opts.server {
            State::Filters
        } else {
            State::AwaitList
        };
        let mut s = Self {
            core: Core::new(opts, true),
            state,
            filters: Vec::new(),
            names: Vec::new(),
            list: Vec::new(),
            phase: 0,
            io_error: 0,
            total_size: 0,
        };
        if matches!(s.state, State::AwaitList) {
            s.ask_list();
        }
        Ok(s)
    }

    fn ask_list(&mut self) {
        let files_from = (self.core.opts.files_from == FilesFrom::Receive)
            .then(|| std::mem::take(&mut self.names));
        self.core.fs.push_back(FsRequest::FileList {
            filter_rules: std::mem::take(&mut self.filters),
            files_from,
            checksum: None,
        });
        self.state = State::AwaitList;
    }

    /// Processes buffered input until it needs more bytes or an answer.
    fn run(&mut self) -> Result<(), SessionError> {
        while !self.core.done {
            let progressed = match self.state {
                State::Filters => self.read_filter()?,
                State::FilesFrom => self.read_name()?,
                State::Requests => self.read_request()?,
                State::Goodbye { echoed } => self.read_goodbye(echoed)?,
                State::AwaitList | State::Sending(_) | State::Finished => false,
            };
            if !progressed {
                break;
            }
        }
        Ok(())
    }

    /// Wire: `[filter-list]`: `int len` + rule, …, `int 0`.
    fn read_filter(&mut self) -> Result<bool, SessionError> {
        let mut r = self.core.reader();
        let Some(len) = incomplete_ok(r.int().map_err(Into::into))? else {
            return Ok(false);
        };
        if !(0..=MAX_FILTER_LEN).contains(&len) {
            return Err(SessionError::FilterTooLong { len });
        }
        if len == 0 {
            self.core.consume(r.position());
            if self.core.opts.files_from == FilesFrom::Receive {
                self.state = State::FilesFrom;
            } else {
                self.ask_list();
            }
            return Ok(true);
        }
        let Some(rule) = incomplete_ok(r.bytes(len as usize).map_err(Into::into))? else {
            return Ok(false);
        };
        self.filters.push(rule.to_vec());
        self.core.consume(r.position());
        Ok(true)
    }

    /// Wire: `[files-from]`: NUL-terminated names, ending with an empty one.
    fn read_name(&mut self) -> Result<bool, SessionError> {
        let r = self.core.reader();
        let rest = r.remaining();
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            if rest.len() > MAX_NAME_LEN {
                return Err(SessionError::BadFilesFrom);
            }
            return Ok(false);
        };
        let name = rest[..nul].to_vec();
        self.core.consume(nul + 1);
        if name.is_empty() {
            self.ask_list();
        } else {
            if nul > MAX_NAME_LEN || self.names.len() >= MAX_FILES_FROM {
                return Err(SessionError::BadFilesFrom);
            }
            self.names.push(name);
        }
        Ok(true)
    }

    fn send_list(
        &mut self,
        entries: Vec<FileEntry>,
        io_error: i32,
        uids: &crate::flist::IdList,
        gids: &crate::flist::IdList,
    ) -> Result<(), SessionError> {
        let opts = self.core.opts.flist.clone();
        let mut enc = FlistEncoder::new(opts)?;
        let mut buf = Vec::new();
        for e in &entries {
            enc.encode_entry(e, &mut buf)?;
        }
        // At 30 the io_error travels as MSG_IO_ERROR unless the list is safe (flist.c).
        let p = self.core.protocol();
        let in_list =
            p < 30 || self.core.opts.flist.safe_flist || self.core.opts.flist.varint_flags;
        enc.finish(if in_list { io_error } else { 0 }, uids, gids, &mut buf)?;
        self.core.out().extend_from_slice(&buf);
        if !in_list && io_error != 0 {
            self.core
                .send_msg(MsgCode::IoError, &io_error.to_le_bytes());
        }
        self.io_error |= io_error;
        self.total_size = entries
            .iter()
            .filter(|e| e.is_regular())
            .map(|e| e.size as i64)
            .sum();
        self.list = sort_file_list(entries, u32::from(p));
        if self.list.is_empty() && self.core.opts.server {
            // main.c do_server_sender: an empty list ends the server sender at once.
            self.state = State::Finished;
            self.core.finish(0, None);
        } else {
            self.state = State::Requests;
        }
        Ok(())
    }

    /// One generator record: `ndx` [+ `iflags` [+ basis type] [+ xname]] [+ sums].
    fn read_request(&mut self) -> Result<bool, SessionError> {
        let saved = self.core.ndx_state();
        let buf = self.core.take_input();
        let mut r = WireReader::new(buf.get(self.core.input_pos()..).unwrap_or(&[]));
        let res = self.parse_request(&mut r);
        let used = r.position();
        self.core.restore_input(buf);
        match incomplete_ok(res) {
            Ok(None) => {
                self.core.restore_ndx(saved);
                Ok(false)
            }
            Ok(Some(req)) => {
                self.core.consume(used);
                self.apply_request(req)?;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    fn parse_request(&mut self, r: &mut WireReader<'_>) -> Result<Request, SessionError> {
        let ndx = self.core.read_ndx(r)?;
        if ndx == NDX_DONE {
            return Ok(Request::Done);
        }
        let p = self.core.protocol();
        let count = self.list.len();
        let Some(slot) = usize::try_from(ndx).ok().filter(|&i| i < count) else {
            return Err(SessionError::InvalidIndex { ndx, count });
        };
        let (flags, attrs) = read_attrs(r, p)?;
        let entry = self.list[slot]
            .as_ref()
            .ok_or(SessionError::ClearedIndex { ndx })?;
        if flags & iflags::TRANSFER == 0 {
            return Ok(Request::Itemize { ndx, attrs });
        }
        if !entry.is_regular() {
            return Err(SessionError::NotRegular { ndx });
        }
        if self.phase >= 2 {
            return Err(SessionError::TransferInPhase2 { ndx });
        }
        let strong = self.core.opts.strong;
        let head = decode_sum_head(r, strong.digest_len(), &self.core.opts.limits)?;
        let sig = decode_block_sums(r, head)?;
        Ok(Request::Transfer {
            ndx,
            path: entry.name.clone(),
            attrs,
            head,
            sig: Box::new(sig),
        })
    }

    fn apply_request(&mut self, req: Request) -> Result<(), SessionError> {
        match req {
            Request::Done => {
                self.phase += 1;
                if self.phase > self.core.opts.max_phase() {
                    self.end_transfers();
                } else {
                    self.core.write_ndx(NDX_DONE);
                }
            }
            Request::Itemize { ndx, attrs } => {
                self.core.write_ndx(ndx);
                self.core.out().extend_from_slice(&attrs);
                let iflags = iflags_of(&attrs);
                self.core.events.push_back(Event::Itemize { ndx, iflags });
            }
            Request::Transfer {
                ndx,
                path,
                attrs,
                head,
                sig,
            } => {
                let strong = self.core.opts.strong;
                let matcher = Matcher::with_limits(*sig, strong, &self.core.opts.limits);
                self.core.fs.push_back(FsRequest::ReadFile { ndx, path });
                self.state = State::Sending(Box::new(Sending {
                    ndx,
                    echo: attrs,
                    head,
                    matcher,
                    hasher: strong.file_hasher(),
                    started: false,
                    literal: 0,
                    matched: 0,
                }));
            }
        }
        Ok(())
    }

    /// After the last phase: MSG_IO_ERROR (≥ 30), the final NDX_DONE, the statistics of a
    /// server sender, then the goodbye.
    fn end_transfers(&mut self) {
        if self.core.protocol() >= 30 && self.io_error != 0 {
            self.core
                .send_msg(MsgCode::IoError, &self.io_error.to_le_bytes());
        }
        self.core.write_ndx(NDX_DONE);
        if self.core.opts.server {
            let s = self.stats();
            let p = self.core.protocol();
            let mut fields = vec![s.total_read, s.total_written, s.total_size];
            if p >= 29 {
                fields.extend([s.flist_buildtime, s.flist_xfertime]);
            }
            let out = self.core.out();
            for v in fields {
                if p >= 30 {
                    out.put_varlong(v, 3);
                } else {
                    out.put_longint(v);
                }
            }
        }
        self.state = State::Goodbye { echoed: false };
    }

    fn stats(&self) -> Stats {
        Stats {
            total_read: self.core.bytes_in as i64,
            total_written: self.core.written_total() as i64,
            total_size: self.total_size,
            flist_buildtime: 0,
            flist_xfertime: 0,
        }
    }

    /// Wire: `[goodbye]`.
    fn read_goodbye(&mut self, echoed: bool) -> Result<bool, SessionError> {
        let p = self.core.protocol();
        let saved = self.core.ndx_state();
        let buf = self.core.take_input();
        let mut r = WireReader::new(buf.get(self.core.input_pos()..).unwrap_or(&[]));
        let res = if p < 29 {
            r.int().map_err(Into::into)
        } else {
            self.core
                .read_ndx(&mut r)
                .map_err(SessionError::from)
                .and_then(|n| {
                    if n == NDX_DONE {
                        Ok(n)
                    } else {
                        read_attrs(&mut r, p).map(|_| n)
                    }
                })
        };
        let used = r.position();
        self.core.restore_input(buf);
        let Some(v) = incomplete_ok(res)? else {
            self.core.restore_ndx(saved);
            return Ok(false);
        };
        self.core.consume(used);
        if v != NDX_DONE {
            return Err(SessionError::BadGoodbye { value: v });
        }
        if p >= 31 && !echoed {
            self.core.write_ndx(NDX_DONE);
            self.state = State::Goodbye { echoed: true };
        } else {
            self.state = State::Finished;
            let stats = self.core.opts.server.then(|| self.stats());
            self.core.finish(io_error_exit(self.io_error), stats);
        }
        Ok(true)
    }

    fn file_data(&mut self, ndx: i32, data: &[u8], end: bool) -> Result<(), SessionError> {
        let State::Sending(s) = &mut self.state else {
            return Err(SessionError::UnexpectedAnswer { what: "file data" });
        };
        if s.ndx != ndx {
            return Err(SessionError::UnexpectedAnswer {
                what: "file data for another index",
            });
        }
        if !s.started {
            s.started = true;
            // Echo: ndx + attrs + the same sum header (sender.c write_ndx_and_attrs).
            write_echo(&mut self.core, s.ndx, &s.echo, &s.head);
        }
        let out = self.core.out();
        let (mut lit, mut mat) = (0u64, 0u64);
        let head = s.head;
        let mut sink = |t: Token<'_>| -> Result<(), std::convert::Infallible> {
            match t {
                Token::Literal(b) => lit += b.len() as u64,
                Token::Copy(i) => mat += u64::from(head.block_len_of(i).unwrap_or(0)),
            }
            encode_token(t, out);
            Ok(())
        };
        s.hasher.update(data);
        let _ = s.matcher.push(data, &mut sink);
        s.literal += lit;
        s.matched += mat;
        if !end {
            return Ok(());
        }
        let State::Sending(s) = std::mem::replace(&mut self.state, State::Requests) else {
            return Ok(());
        };
        let s = *s;
        let out = self.core.out();
        let (mut lit, mut mat) = (0u64, 0u64);
        let mut sink = |t: Token<'_>| -> Result<(), std::convert::Infallible> {
            match t {
                Token::Literal(b) => lit += b.len() as u64,
                Token::Copy(i) => mat += u64::from(head.block_len_of(i).unwrap_or(0)),
            }
            encode_token(t, out);
            Ok(())
        };
        let _ = s.matcher.finish(&mut sink);
        encode_end(s.hasher.finish().as_bytes(), out);
        self.core.events.push_back(Event::File {
            ndx,
            outcome: FileOutcome::Sent {
                literal: s.literal + lit,
                matched: s.matched + mat,
            },
        });
        Ok(())
    }

    fn file_error(&mut self, ndx: i32, vanished: bool) -> Result<(), SessionError> {
        match &self.state {
            State::Sending(s) if s.ndx == ndx && !s.started => {}
            _ => return Err(SessionError::UnexpectedAnswer { what: "file error" }),
        }
        self.io_error |= if vanished {
            IOERR_VANISHED
        } else {
            IOERR_GENERAL
        };
        if self.core.protocol() >= 30 {
            self.core.send_msg(MsgCode::NoSend, &ndx.to_le_bytes());
        }
        self.core.events.push_back(Event::File {
            ndx,
            outcome: FileOutcome::Failed,
        });
        self.state = State::Requests;
        Ok(())
    }

    fn answer(&mut self, answer: FsAnswer) -> Result<(), SessionError> {
        match answer {
            FsAnswer::FileList {
                entries,
                io_error,
                uids,
                gids,
            } if matches!(self.state, State::AwaitList) => {
                self.send_list(entries, io_error, &uids, &gids)
            }
            FsAnswer::FileData { ndx, data } => self.file_data(ndx, &data, false),
            FsAnswer::FileEnd { ndx } => self.file_data(ndx, &[], true),
            FsAnswer::FileError { ndx, vanished } => self.file_error(ndx, vanished),
            _ => Err(SessionError::UnexpectedAnswer {
                what: "not a sender answer",
            }),
        }
    }
}

/// A parsed generator record.
enum Request {
    Done,
    Itemize {
        ndx: i32,
        attrs: Vec<u8>,
    },
    Transfer {
        ndx: i32,
        path: WirePath,
        attrs: Vec<u8>,
        head: rsync_core::SumHead,
        sig: Box<rsync_core::Signature>,
    },
}

/// Reads `iflags` [+ basis type] [+ xname] (protocol ≥ 29) and returns the flags and the
/// exact bytes, for the echo. Below 29 the flags are `ITEM_TRANSFER` and nothing is read.
///
/// Wire: `[iflags]`, `[basis-type]`, `[xname]`.
pub(crate) fn read_attrs(r: &mut WireReader<'_>, p: u8) -> Result<(u16, Vec<u8>), SessionError> {
    if p < 29 {
        return Ok((iflags::TRANSFER, Vec::new()));
    }
    let start = r.position();
    let all = r.remaining();
    let flags = r.shortint()?;
    if flags & iflags::UNASSIGNED != 0 {
        return Err(SessionError::UnknownIflags { iflags: flags });
    }
    if flags & iflags::BASIS_TYPE_FOLLOWS != 0 {
        let kind = r.byte()?;
        if kind != iflags::FNAMECMP_FNAME {
            return Err(SessionError::UnsupportedBasisType { kind });
        }
    }
    if flags & iflags::XNAME_FOLLOWS != 0 {
        r.vstring()?;
    }
    let used = r.position() - start;
    Ok((flags, all[..used].to_vec()))
}

fn iflags_of(attrs: &[u8]) -> u16 {
    match attrs {
        [a, b, ..] => u16::from_le_bytes([*a, *b]),
        _ => iflags::TRANSFER,
    }
}

fn write_echo(core: &mut Core, ndx: i32, attrs: &[u8], head: &rsync_core::SumHead) {
    core.write_ndx(ndx);
    core.out().extend_from_slice(attrs);
    encode_sum_head(head, core.out());
}

impl Session for Sender {
    fn handle_input(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        if !self.core.check()? {
            return Ok(());
        }
        let r = self.core.push_input(bytes).and_then(|()| self.run());
        r.map_err(|e| self.core.fail(e))
    }

    fn handle_fs(&mut self, answer: FsAnswer) -> Result<(), SessionError> {
        if !self.core.check()? {
            return Ok(());
        }
        let r = self.answer(answer).and_then(|()| self.run());
        r.map_err(|e| self.core.fail(e))
    }

    fn handle_eof(&mut self) -> Result<(), SessionError> {
        if !self.core.check()? {
            return Ok(());
        }
        self.core.eof = true;
        let state = match self.state {
            State::Filters | State::FilesFrom => "reading the filter list",
            State::Requests => "reading requests",
            State::Goodbye { .. } => "reading the goodbye",
            _ => "sending",
        };
        Err(self.core.fail(SessionError::UnexpectedEof { state }))
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> bool {
        self.core.poll_transmit(out)
    }

    fn poll_fs(&mut self) -> Option<FsRequest> {
        self.core.fs.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.core.events.pop_front()
    }

    fn file_list(&self) -> &[Option<FileEntry>] {
        &self.list
    }

    fn is_done(&self) -> bool {
        self.core.done
    }
}
