//! The sender: builds and sends the file list, then serves the generator's requests with
//! tokens from the [`Matcher`].
//!
//! Spec: RFC.md §9–§12. Reference: rsync `send_files` (sender.c), `read_ndx_and_attrs`
//! (rsync.c), `send_file_entry` hard-link numbering (flist.c), `do_server_sender` and
//! `read_final_goodbye` (main.c), `recv_filter_list`/`send_filter_list` (exclude.c).

use std::collections::HashMap;

use rsync_core::checksum::FileHasher;
use rsync_core::{Matcher, SumHead};

use super::error::{io_error_exit, SessionError, IOERR_GENERAL, IOERR_VANISHED};
use super::events::{Event, FileCounts, FileOutcome, Stats};
use super::io::{incomplete_ok, read_filter_rule, Core, NDX_DEL_STATS};
use super::item::{read_attrs, Attrs};
use super::tokens::{InPlace, TokenSink};
use super::types::{iflags, FilesFrom, FsAnswer, FsRequest, MissingArgs, SessionOptions};
use super::Session;
use crate::flist::{sort_file_list, FileEntry, FlistEncoder, HardLink, IdList, MAX_NAME_LEN};
use crate::mux::MsgCode;
use crate::sums::{decode_block_sums, decode_sum_head, encode_sum_head, limits_for_protocol};
use crate::token::encode_end;
use crate::wire::{WireReader, WireWrite, NDX_DONE};

/// Most `--files-from` names accepted.
const MAX_FILES_FROM: usize = 1_000_000;
/// Most bytes of `--files-from` names accepted in all.
const MAX_FILES_FROM_BYTES: usize = 256 << 20;
/// File-list bytes encoded at a time.
const LIST_CHUNK: usize = 64 << 10;
/// The list is encoded further only while the caller's output buffer holds less than this:
/// a list of 100,000 entries is megabytes, written as the peer reads it.
const LIST_PACE: usize = 128 << 10;

#[derive(Debug)]
enum State {
    Filters,
    FilesFrom,
    AwaitList,
    /// Writing the file list, a chunk at a time.
    List(Box<ListOut>),
    Requests,
    Sending(Box<Sending>),
    Goodbye {
        echoed: bool,
    },
    Finished,
}

#[derive(Debug)]
struct Sending {
    ndx: i32,
    echo: Vec<u8>,
    head: SumHead,
    matcher: Matcher,
    hasher: FileHasher,
    started: bool,
    literal: u64,
    matched: u64,
    /// `--inplace`: input bytes not yet covered by a token, and the output position.
    inplace: Option<InPlace>,
}

/// The file list being written (it has been encoded once, to check it, and its size and
/// trailer are known).
#[derive(Debug)]
struct ListOut {
    enc: FlistEncoder,
    entries: Vec<FileEntry>,
    next: usize,
    /// The end marker, id lists and io_error.
    tail: Vec<u8>,
    /// The io_error, when it goes as `MSG_IO_ERROR` after the list.
    io_error_msg: i32,
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
    names_bytes: usize,
    list: Vec<Option<FileEntry>>,
    phase: u8,
    io_error: i32,
    /// The io_error sent with the file list (sender.c: `MSG_IO_ERROR` at the end only
    /// when it changed).
    flist_io_error: i32,
    /// Indices sent once already (a second request is the redo), one flag per entry.
    sent: Vec<bool>,
    stats: Stats,
    /// Block copies sent (`total_matches`).
    matches: u64,
}

impl Sender {
    /// A sender for `opts` (`opts.server` tells whether it is the server sender of a pull).
    /// A client sender with `--delete` writes its filter list at once.
    ///
    /// # Errors
    /// [`SessionError::Unsupported`] for incremental recursion, or a file list configuration
    /// [`crate::flist::FlistOptions::validate`] rejects.
    pub fn new(mut opts: SessionOptions) -> Result<Self, SessionError> {
        opts.flist.checksum_len = opts.flist_csum_len();
        opts.flist.delete_missing_args = opts.missing_args == MissingArgs::Delete;
        opts.flist.validate()?;
        if opts.flist.inc_recurse {
            return Err(SessionError::Unsupported {
                what: "incremental recursion",
            });
        }
        let receive_names = opts.files_from == FilesFrom::Receive;
        let state = if opts.server {
            State::Filters
        } else {
            State::AwaitList
        };
        let mut core = Core::new(opts, true);
        if receive_names && core.protocol() < 31 {
            // flist.c send_file_list: the names come raw after the filter list, even where
            // our input is multiplexed (protocol 30).
            core.frame_at_a_time();
        }
        let mut s = Self {
            core,
            state,
            filters: Vec::new(),
            names: Vec::new(),
            names_bytes: 0,
            list: Vec::new(),
            phase: 0,
            io_error: 0,
            flist_io_error: 0,
            sent: Vec::new(),
            stats: Stats::default(),
            matches: 0,
        };
        if matches!(s.state, State::AwaitList) {
            // exclude.c send_filter_list: toward a server receiver only with --delete.
            if s.core.opts.filter_list_on_wire(true) {
                let rules = s.core.opts.filter_rules.clone();
                let out = s.core.out();
                for rule in &rules {
                    out.put_int(rule.len() as i32);
                    out.put_bytes(rule);
                }
                out.put_int(0);
            }
            s.ask_list();
        }
        Ok(s)
    }

    /// The file-list build and transfer times (ms) the driver measured, written in the
    /// statistics of a server sender (protocol ≥ 29). Call before the end of the run.
    pub fn set_flist_times(&mut self, build_ms: i64, xfer_ms: i64) {
        self.stats.flist_buildtime = build_ms;
        self.stats.flist_xfertime = xfer_ms;
    }

    fn ask_list(&mut self) {
        let files_from = (self.core.opts.files_from == FilesFrom::Receive)
            .then(|| std::mem::take(&mut self.names));
        let opts = &self.core.opts;
        let checksum = opts.checksum.then(|| opts.file_checksum());
        let filter_rules = if opts.server {
            std::mem::take(&mut self.filters)
        } else {
            opts.filter_rules.clone()
        };
        self.core.fs.push_back(FsRequest::FileList {
            filter_rules,
            files_from,
            checksum,
        });
        self.state = State::AwaitList;
    }

    /// Processes buffered input until it needs more bytes or an answer.
    fn run(&mut self) -> Result<(), SessionError> {
        while !self.core.done {
            self.core.flush_deferred();
            let progressed = match self.state {
                State::Filters => self.read_filter()?,
                State::FilesFrom => self.read_name()?,
                State::Requests => self.read_request()?,
                State::Goodbye { echoed } => self.read_goodbye(echoed)?,
                State::AwaitList | State::List(_) | State::Sending(_) | State::Finished => false,
            };
            if !progressed && !self.core.next_frame()? {
                break;
            }
        }
        self.core.flush_deferred();
        Ok(())
    }

    /// Wire: `[filter-list]`: `int len` + rule, …, `int 0`.
    fn read_filter(&mut self) -> Result<bool, SessionError> {
        match read_filter_rule(&mut self.core, &mut self.filters)? {
            None => Ok(false),
            Some(false) => Ok(true),
            Some(true) => {
                if self.core.opts.files_from == FilesFrom::Receive {
                    if self.core.protocol() < 31 {
                        // Wire: `[files-from]` below 31: raw, between two frames at 30.
                        self.core.input_raw()?;
                    }
                    self.state = State::FilesFrom;
                } else {
                    self.ask_list();
                }
                Ok(true)
            }
        }
    }

    /// Wire: `[files-from]`: NUL-terminated names, ending with an empty one (inside
    /// `MSG_DATA` from protocol 31, raw below: RFC.md §8.3).
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
            // flist.c: multiplexed input again (protocol 30) once the names are read.
            self.core.input_muxed()?;
            self.ask_list();
        } else {
            if nul > MAX_NAME_LEN
                || self.names.len() >= MAX_FILES_FROM
                || self.names_bytes + nul > MAX_FILES_FROM_BYTES
            {
                return Err(SessionError::BadFilesFrom);
            }
            self.names_bytes += nul;
            self.names.push(name);
        }
        Ok(true)
    }

    fn send_list(
        &mut self,
        mut entries: Vec<FileEntry>,
        io_error: i32,
        uids: &IdList,
        gids: &IdList,
    ) -> Result<(), SessionError> {
        let p = self.core.protocol();
        let opts = self.core.opts.flist.clone();
        if opts.preserve_hard_links && p >= 30 {
            number_hard_links(&mut entries, opts.ndx_start);
        }
        // Encoded once here, into a scratch buffer, so that an entry that cannot be encoded
        // fails now; written by `write_list` as the output drains.
        let mut check = FlistEncoder::new(opts.clone())?;
        let mut buf = Vec::new();
        let mut size = 0;
        for e in &entries {
            check.encode_entry(e, &mut buf)?;
            if buf.len() >= LIST_CHUNK {
                size += buf.len();
                buf.clear();
            }
        }
        // At 30 the io_error travels as MSG_IO_ERROR unless the list is safe (flist.c).
        let in_list =
            p < 30 || self.core.opts.flist.safe_flist || self.core.opts.flist.varint_flags;
        let mut tail = Vec::new();
        check.finish(if in_list { io_error } else { 0 }, uids, gids, &mut tail)?;
        self.stats.flist_size = (size + buf.len() + tail.len()) as u64;
        self.io_error |= io_error;
        self.flist_io_error = self.io_error;
        self.stats.num_files = FileCounts::of(&entries);
        self.stats.total_size = entries
            .iter()
            .filter(|e| e.is_regular() || e.is_symlink())
            .map(|e| e.size() as i64)
            .sum();
        self.state = State::List(Box::new(ListOut {
            enc: FlistEncoder::new(opts)?,
            entries,
            next: 0,
            tail,
            io_error_msg: if in_list { 0 } else { io_error },
        }));
        self.write_list()
    }

    /// Writes the next chunk of the file list; after the last, sorts it and serves
    /// requests.
    fn write_list(&mut self) -> Result<(), SessionError> {
        let State::List(l) = &mut self.state else {
            return Ok(());
        };
        let out = self.core.out();
        let start = out.len();
        while out.len() - start < LIST_CHUNK {
            let Some(e) = l.entries.get(l.next) else {
                break;
            };
            l.enc.encode_entry(e, out)?;
            l.next += 1;
        }
        if l.next < l.entries.len() {
            return Ok(());
        }
        out.extend_from_slice(&l.tail);
        let io_error = l.io_error_msg;
        let entries = std::mem::take(&mut l.entries);
        if io_error != 0 {
            self.core
                .send_msg(MsgCode::IoError, &io_error.to_le_bytes());
        }
        let p = self.core.protocol();
        self.list = sort_file_list(entries, u32::from(p));
        self.sent = vec![false; self.list.len()];
        if self.list.is_empty() && self.core.opts.server {
            // main.c do_server_sender: an empty list ends the server sender at once.
            self.state = State::Finished;
            let stats = self.stats();
            self.core.finish(0, Some(stats));
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
        if ndx == NDX_DEL_STATS {
            return Ok(Request::DelStats(Core::read_del_stats(r)?));
        }
        let p = self.core.protocol();
        let count = self.list.len();
        let Some(slot) = usize::try_from(ndx).ok() else {
            return Err(SessionError::InvalidIndex { ndx, count });
        };
        let attrs = read_attrs(r, p)?;
        if p < 30 && slot == count && attrs.iflags == iflags::IS_NEW {
            // rsync.c: the protocol-29 keepalive.
            return Ok(Request::Keepalive);
        }
        let entry = self
            .list
            .get(slot)
            .ok_or(SessionError::InvalidIndex { ndx, count })?
            .as_ref()
            .ok_or(SessionError::ClearedIndex { ndx })?;
        if attrs.iflags & iflags::TRANSFER == 0 {
            return Ok(Request::Itemize { ndx, attrs });
        }
        if !entry.is_regular() {
            return Err(SessionError::NotRegular { ndx });
        }
        if self.phase >= 2 {
            return Err(SessionError::TransferInPhase2 { ndx });
        }
        if self.core.opts.dry_run {
            return Ok(Request::DryTransfer { ndx, attrs });
        }
        let strong = self.core.opts.strong;
        let limits = limits_for_protocol(&self.core.opts.limits, self.core.protocol());
        let head = decode_sum_head(r, strong.digest_len(), &limits)?;
        let sig = decode_block_sums(r, head)?;
        Ok(Request::Transfer {
            ndx,
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
            Request::DelStats(d) => self.del_stats(d),
            Request::Keepalive => {}
            Request::Itemize { ndx, attrs } => {
                self.itemized(ndx, &attrs, false);
                self.core.write_ndx(ndx);
                self.core.out().extend_from_slice(&attrs.bytes);
            }
            Request::DryTransfer { ndx, attrs } => {
                self.itemized(ndx, &attrs, true);
                self.core.write_ndx(ndx);
                self.core.out().extend_from_slice(&attrs.bytes);
            }
            Request::Transfer {
                ndx,
                attrs,
                head,
                sig,
            } => {
                self.itemized(ndx, &attrs, true);
                let opts = &self.core.opts;
                let strong = opts.strong;
                let matcher = Matcher::with_limits(*sig, strong, &opts.limits);
                let inplace = opts.inplace.then(InPlace::default);
                let path = self.entry(ndx)?.name.clone();
                self.core.fs.push_back(FsRequest::ReadFile { ndx, path });
                self.state = State::Sending(Box::new(Sending {
                    ndx,
                    echo: attrs.bytes,
                    head,
                    matcher,
                    hasher: strong.file_hasher(),
                    started: false,
                    literal: 0,
                    matched: 0,
                    inplace,
                }));
            }
        }
        Ok(())
    }

    fn entry(&self, ndx: i32) -> Result<&FileEntry, SessionError> {
        let count = self.list.len();
        usize::try_from(ndx)
            .ok()
            .and_then(|i| self.list.get(i))
            .and_then(Option::as_ref)
            .ok_or(SessionError::InvalidIndex { ndx, count })
    }

    /// sender.c: log the record and count it (created items, transfers).
    fn itemized(&mut self, ndx: i32, attrs: &Attrs, transfer: bool) {
        let mode = self.entry(ndx).map(|e| e.mode).unwrap_or(0);
        let slot = usize::try_from(ndx).ok().and_then(|i| self.sent.get_mut(i));
        let redo = transfer && slot.is_some_and(|s| std::mem::replace(s, true));
        if attrs.iflags & iflags::IS_NEW != 0 && !redo {
            self.stats.created.add(mode);
        }
        if transfer {
            self.stats.xferred_files += 1;
            let size = self.entry(ndx).map(|e| e.size()).unwrap_or(0);
            self.stats.total_transferred_size += size;
        }
        self.core.events.push_back(Event::Itemize {
            ndx,
            iflags: attrs.iflags,
            xname: attrs.xname.clone(),
        });
    }

    /// rsync.c `read_ndx_and_attrs`: deletion statistics from the generator; a server
    /// sender passes them on to the client receiver.
    fn del_stats(&mut self, d: FileCounts) {
        self.stats.deleted = d;
        if self.core.opts.server {
            self.core.write_del_stats(&d);
        }
    }

    /// After the last phase: MSG_IO_ERROR (≥ 30) if it changed since the file list, the
    /// final NDX_DONE, the statistics of a server sender, then the goodbye.
    fn end_transfers(&mut self) {
        if self.core.protocol() >= 30 && self.io_error != self.flist_io_error {
            self.core
                .send_msg(MsgCode::IoError, &self.io_error.to_le_bytes());
        }
        if self.core.opts.verbose >= 2 {
            // match.c match_report (`DEBUG_GTE(DELTASUM, 1)`). Our matcher does not count
            // weak-sum false alarms: every hash hit is reported as a match.
            let m = self.matches;
            let text = format!(
                "total: matches={m}  hash_hits={m}  false_alarms=0 data={}\n",
                self.stats.literal_data
            );
            self.core.log(MsgCode::Info, text.into_bytes());
        }
        self.core.write_ndx(NDX_DONE);
        if self.core.opts.server {
            // main.c do_server_sender: io_flush(FULL_FLUSH) before handle_stats.
            self.core.flush_data();
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

    /// rsync's `total_read`/`total_written` count what went through the socket after the
    /// handshake, frame headers included.
    fn stats(&self) -> Stats {
        Stats {
            total_read: self.core.bytes_in as i64,
            total_written: self.core.written_total() as i64,
            ..self.stats
        }
    }

    /// Wire: `[goodbye]` (main.c `read_final_goodbye`).
    fn read_goodbye(&mut self, echoed: bool) -> Result<bool, SessionError> {
        let p = self.core.protocol();
        let saved = self.core.ndx_state();
        let buf = self.core.take_input();
        let mut r = WireReader::new(buf.get(self.core.input_pos()..).unwrap_or(&[]));
        let res = if p < 29 {
            r.int().map(Goodbye::Ndx).map_err(Into::into)
        } else {
            self.core
                .read_ndx(&mut r)
                .map_err(SessionError::from)
                .and_then(|n| match n {
                    NDX_DONE => Ok(Goodbye::Ndx(n)),
                    NDX_DEL_STATS => Core::read_del_stats(&mut r).map(Goodbye::DelStats),
                    _ => read_attrs(&mut r, p).map(|_| Goodbye::Ndx(n)),
                })
        };
        let used = r.position();
        self.core.restore_input(buf);
        let Some(v) = incomplete_ok(res)? else {
            self.core.restore_ndx(saved);
            return Ok(false);
        };
        self.core.consume(used);
        let v = match v {
            Goodbye::DelStats(d) => {
                self.del_stats(d);
                return Ok(true);
            }
            Goodbye::Ndx(v) => v,
        };
        if v != NDX_DONE {
            return Err(SessionError::BadGoodbye { value: v });
        }
        if p >= 31 && !echoed {
            self.core.write_ndx(NDX_DONE);
            self.state = State::Goodbye { echoed: true };
        } else {
            self.state = State::Finished;
            let stats = self.stats();
            self.core.finish(io_error_exit(self.io_error), Some(stats));
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
            self.core.write_ndx(s.ndx);
            self.core.out().extend_from_slice(&s.echo);
            encode_sum_head(&s.head, self.core.out());
        }
        s.hasher.update(data);
        let out = self.core.out();
        {
            let mut sink = TokenSink::new(s.head, &mut s.inplace, out);
            if let Some(ip) = sink.inplace.as_mut() {
                ip.feed(data);
            }
            let _ = s.matcher.push(data, &mut |t| sink.token(t));
            s.literal += sink.literal;
            s.matched += sink.matched;
            self.matches += sink.copies;
        }
        if !end {
            return Ok(());
        }
        let State::Sending(s) = std::mem::replace(&mut self.state, State::Requests) else {
            return Ok(());
        };
        let mut s = *s;
        let out = self.core.out();
        let mut sink = TokenSink::new(s.head, &mut s.inplace, out);
        let _ = s.matcher.finish(&mut |t| sink.token(t));
        let (literal, matched) = (s.literal + sink.literal, s.matched + sink.matched);
        self.matches += sink.copies;
        encode_end(s.hasher.finish().as_bytes(), out);
        self.stats.literal_data += literal;
        self.stats.matched_data += matched;
        self.core.events.push_back(Event::File {
            ndx,
            outcome: FileOutcome::Sent { literal, matched },
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

/// flist.c `send_file_entry` (protocol ≥ 30): the first entry of each (dev, ino) group in
/// send order becomes `HardLink::First`, the others `Follower` of its index.
fn number_hard_links(entries: &mut [FileEntry], ndx_start: i32) {
    let mut firsts: HashMap<(i64, i64), i32> = HashMap::new();
    for (i, e) in entries.iter_mut().enumerate() {
        let Some(HardLink::DevIno { dev, ino }) = e.hardlink() else {
            continue;
        };
        if e.is_dir() {
            e.set_hardlink(None);
            continue;
        }
        let ndx = ndx_start.saturating_add(i32::try_from(i).unwrap_or(i32::MAX));
        e.set_hardlink(Some(match firsts.get(&(dev, ino)) {
            Some(&first) => HardLink::Follower { first },
            None => {
                firsts.insert((dev, ino), ndx);
                HardLink::First
            }
        }));
    }
}

/// A parsed generator record.
enum Request {
    Done,
    DelStats(FileCounts),
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
        sig: Box<rsync_core::Signature>,
    },
}

/// What the goodbye reader found.
enum Goodbye {
    Ndx(i32),
    DelStats(FileCounts),
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
        if matches!(self.state, State::List(_)) && out.len() < LIST_PACE {
            // Checked when the list came: an error here is a bug; it ends the session.
            if let Err(e) = self.write_list().and_then(|()| self.run()) {
                self.core.fail(e);
            }
        }
        self.core.poll_transmit(out)
    }

    fn poll_fs(&mut self) -> Option<FsRequest> {
        self.core.fs.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.core.events.pop_front()
    }

    fn keepalive(&mut self) {
        self.core.keepalive();
    }

    fn info(&mut self, text: Vec<u8>) {
        self.core.log(MsgCode::Info, text);
    }

    fn file_list(&self) -> &[Option<FileEntry>] {
        &self.list
    }

    fn is_done(&self) -> bool {
        self.core.done
    }
}
