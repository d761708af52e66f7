//! The receiving role: rsync's generator (which asks for files) and receiver (which
//! rebuilds them) in one state machine, for a client receiver (pull) or a server receiver
//! (push).
//!
//! Spec: RFC.md §10–§12. Reference: rsync `generate_files`/`recv_generator` (generator.c),
//! `recv_files`/`receive_data` (receiver.c), `do_recv`/`handle_stats`/`read_final_goodbye`
//! (main.c), `send_filter_list` (exclude.c).

mod generator;

use std::collections::{HashMap, VecDeque};

use rsync_core::{Applier, ApplyError, SumHead};

use super::io::{incomplete_ok, Core};
use super::sender::read_attrs;
use super::types::{iflags, io_error_exit, FilesFrom, FsAnswer, FsRequest, SessionError};
use super::types::{Event, FileOutcome, SessionOptions, Stats, RERR_PARTIAL};
use super::Session;
use crate::flist::{sort_file_list, FileEntry, FlistDecoder};
use crate::sums::decode_sum_head;
use crate::token::{decode_token, TokenEvent};
use crate::wire::{WireReader, WireWrite, NDX_DONE};
use generator::Generator;

#[derive(Debug)]
enum Recv {
    /// Decoding the file list.
    FileList(Box<FlistDecoder>),
    /// Reading the sender's records.
    Records,
    /// Reading a file's tokens.
    Tokens(Box<Incoming>),
    /// Waiting for basis bytes.
    AwaitCopy(Box<Incoming>),
    /// Reading the server sender's statistics.
    Stats,
    /// Protocol 31: waiting for the sender's echo of our early NDX_DONE.
    GoodbyeEcho,
    /// Finished.
    Finished,
}

#[derive(Debug)]
struct Incoming {
    ndx: i32,
    applier: Applier,
    literal: u64,
    matched: u64,
}

/// The receiving role (generator + receiver). See [`Session`] for the call order.
#[derive(Debug)]
pub struct Receiver {
    core: Core,
    recv: Recv,
    gen: Generator,
    list: Vec<Option<FileEntry>>,
    /// Outstanding transfer requests: index → the sum header we sent.
    requested: HashMap<i32, SumHead>,
    /// Files to request again in the redo phase.
    redo: VecDeque<i32>,
    /// Sender NDX_DONE markers read.
    recv_phase: u8,
    failures: bool,
    stats: Option<Stats>,
}

impl Receiver {
    /// A receiver for `opts`; a client receiver writes its filter list (and `--files-from`
    /// names) at once.
    ///
    /// # Errors
    /// [`SessionError::Unsupported`] for incremental recursion or `--files-from` forwarding
    /// at protocol 30; a file-list configuration error.
    pub fn new(opts: SessionOptions) -> Result<Self, SessionError> {
        let dec = FlistDecoder::new(opts.flist.clone())?;
        if opts.flist.inc_recurse {
            return Err(SessionError::Unsupported {
                what: "incremental recursion",
            });
        }
        let names = match &opts.files_from {
            FilesFrom::Send(n) if !opts.server => Some(n.clone()),
            _ => None,
        };
        if names.is_some() && opts.protocol == 30 {
            return Err(SessionError::Unsupported {
                what: "--files-from forwarding at protocol 30",
            });
        }
        let server = opts.server;
        let rules = opts.filter_rules.clone();
        let mut core = Core::new(opts, false);
        if !server {
            // exclude.c send_filter_list: a client whose peer sends always writes the list.
            let out = core.out();
            for rule in &rules {
                out.put_int(rule.len() as i32);
                out.put_bytes(rule);
            }
            out.put_int(0);
            for name in names.iter().flatten() {
                out.put_bytes(name);
                out.push(0);
            }
            if names.is_some() {
                out.push(0);
            }
        }
        Ok(Self {
            core,
            recv: Recv::FileList(Box::new(dec)),
            gen: Generator::default(),
            list: Vec::new(),
            requested: HashMap::new(),
            redo: VecDeque::new(),
            recv_phase: 0,
            failures: false,
            stats: None,
        })
    }

    /// The sorted file list (empty until it has been received).
    pub fn file_list(&self) -> &[Option<FileEntry>] {
        &self.list
    }

    fn run(&mut self) -> Result<(), SessionError> {
        while !self.core.done {
            while let Some(ndx) = self.core.no_send.pop_front() {
                self.requested.remove(&ndx);
                self.failures = true;
                self.core.events.push_back(Event::File {
                    ndx,
                    outcome: FileOutcome::Failed,
                });
            }
            let g = self.gen_step()?;
            let r = self.recv_step()?;
            if !g && !r {
                break;
            }
        }
        Ok(())
    }

    fn recv_step(&mut self) -> Result<bool, SessionError> {
        match std::mem::replace(&mut self.recv, Recv::Finished) {
            Recv::FileList(mut dec) => {
                let n = {
                    let r = self.core.reader();
                    dec.feed(r.remaining())?
                };
                self.core.consume(n);
                if !dec.is_done() {
                    self.recv = Recv::FileList(dec);
                    return Ok(false);
                }
                let list = dec.into_list();
                self.core.peer_io_error |= list.io_error;
                self.list = sort_file_list(list.entries, u32::from(self.core.protocol()));
                if self.list.is_empty() && !self.core.opts.server {
                    // main.c client_run: nothing to do, no statistics are read (a server
                    // receiver runs do_recv anyway, and the client sender send_files).
                    self.core
                        .finish(io_error_exit(self.core.peer_io_error), None);
                    return Ok(false);
                }
                self.gen.start();
                self.recv = Recv::Records;
                Ok(true)
            }
            Recv::Records => self.read_record(),
            Recv::Tokens(inc) => self.read_token(inc),
            s @ Recv::AwaitCopy(_) => {
                self.recv = s;
                Ok(false)
            }
            Recv::Stats => self.read_stats(),
            Recv::GoodbyeEcho => self.read_goodbye_echo(),
            Recv::Finished => Ok(false),
        }
    }

    /// One sender record: NDX_DONE, an itemize echo, or a transfer header.
    fn read_record(&mut self) -> Result<bool, SessionError> {
        self.recv = Recv::Records;
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
            Record::Itemize { ndx, iflags } => {
                self.core.events.push_back(Event::Itemize { ndx, iflags });
            }
            Record::Transfer { ndx, head } => {
                let sent = self.requested.remove(&ndx);
                if sent != Some(head) {
                    return Err(if sent.is_none() {
                        SessionError::Unrequested { ndx }
                    } else {
                        SessionError::EchoMismatch { ndx }
                    });
                }
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

    fn parse_record(&mut self, r: &mut WireReader<'_>, p: u8) -> Result<Record, SessionError> {
        let ndx = self.core.read_ndx(r)?;
        if ndx == NDX_DONE {
            return Ok(Record::Done);
        }
        let (flags, _) = read_attrs(r, p)?;
        let entry = self.entry(ndx)?;
        if flags & iflags::TRANSFER == 0 {
            return Ok(Record::Itemize { ndx, iflags: flags });
        }
        if !entry.is_regular() {
            return Err(SessionError::NotRegular { ndx });
        }
        if self.recv_phase >= 2 {
            return Err(SessionError::TransferInPhase2 { ndx });
        }
        let opts = &self.core.opts;
        let head = decode_sum_head(r, opts.strong.digest_len(), &opts.limits)?;
        Ok(Record::Transfer { ndx, head })
    }

    fn entry(&self, ndx: i32) -> Result<&FileEntry, SessionError> {
        let count = self.list.len();
        let slot = usize::try_from(ndx)
            .ok()
            .and_then(|i| self.list.get(i))
            .ok_or(SessionError::InvalidIndex { ndx, count })?;
        slot.as_ref().ok_or(SessionError::ClearedIndex { ndx })
    }

    /// The sender's NDX_DONE: phase bookkeeping (receiver.c recv_files, main.c do_recv).
    fn phase_done(&mut self) {
        self.recv_phase += 1;
        if self.recv_phase == 1 {
            // Every phase-0 file has arrived: the redo queue is final.
            let redo: Vec<i32> = self.redo.drain(..).collect();
            self.gen.start_redo(redo);
        }
        if self.recv_phase > self.core.opts.max_phase() {
            if self.core.opts.server {
                self.after_stats();
            } else {
                self.recv = Recv::Stats;
            }
        }
    }

    /// Wire: `[stats]`, read by a client receiver with the first two swapped.
    fn read_stats(&mut self) -> Result<bool, SessionError> {
        self.recv = Recv::Stats;
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
        self.stats = Some(Stats {
            total_written: v[0],
            total_read: v[1],
            total_size: v[2],
            flist_buildtime: v[3],
            flist_xfertime: v[4],
        });
        self.after_stats();
        Ok(true)
    }

    fn after_stats(&mut self) {
        if self.core.protocol() >= 31 {
            self.recv = Recv::GoodbyeEcho;
        } else {
            self.goodbye();
        }
    }

    /// Wire: `[goodbye]` (protocol 31): the sender echoes our early NDX_DONE.
    fn read_goodbye_echo(&mut self) -> Result<bool, SessionError> {
        self.recv = Recv::GoodbyeEcho;
        let saved = self.core.ndx_state();
        let buf = self.core.take_input();
        let mut r = WireReader::new(buf.get(self.core.input_pos()..).unwrap_or(&[]));
        let res = incomplete_ok(self.core.read_ndx(&mut r).map_err(SessionError::from));
        let used = r.position();
        self.core.restore_input(buf);
        let Some(v) = res? else {
            self.core.restore_ndx(saved);
            return Ok(false);
        };
        self.core.consume(used);
        if v != NDX_DONE {
            return Err(SessionError::BadGoodbye { value: v });
        }
        self.goodbye();
        Ok(true)
    }

    /// The generator's final NDX_DONE, directory metadata, and the end.
    fn goodbye(&mut self) {
        self.core.write_ndx(NDX_DONE);
        for (i, e) in self.list.iter().enumerate() {
            if let Some(e) = e.as_ref().filter(|e| e.is_dir()) {
                self.core.fs.push_back(FsRequest::SetMeta {
                    ndx: i as i32,
                    entry: e.clone(),
                });
            }
        }
        self.recv = Recv::Finished;
        let mut code = io_error_exit(self.core.peer_io_error);
        if self.failures {
            code = code.max(RERR_PARTIAL);
        }
        self.core.finish(code, self.stats);
    }

    fn read_token(&mut self, mut inc: Box<Incoming>) -> Result<bool, SessionError> {
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
                match applier.finish(&sum) {
                    Ok(_) => {
                        let entry = self.entry(ndx)?.clone();
                        self.core.fs.push_back(FsRequest::Commit { ndx, entry });
                        self.core.events.push_back(Event::File {
                            ndx,
                            outcome: FileOutcome::Updated { literal, matched },
                        });
                    }
                    Err(ApplyError::ChecksumMismatch) => {
                        self.core.fs.push_back(FsRequest::Discard { ndx });
                        let outcome = if self.recv_phase == 0 {
                            self.redo.push_back(ndx);
                            FileOutcome::Redo
                        } else {
                            self.failures = true;
                            FileOutcome::Failed
                        };
                        self.core.events.push_back(Event::File { ndx, outcome });
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(true)
    }

    fn copied(&mut self, ndx: i32, data: Vec<u8>) -> Result<(), SessionError> {
        let Recv::AwaitCopy(mut inc) = std::mem::replace(&mut self.recv, Recv::Finished) else {
            return Err(SessionError::UnexpectedAnswer {
                what: "basis bytes",
            });
        };
        if inc.ndx != ndx {
            return Err(SessionError::UnexpectedAnswer {
                what: "basis bytes for another index",
            });
        }
        inc.applier.copied(&data)?;
        self.core.fs.push_back(FsRequest::Write { ndx, data });
        self.recv = Recv::Tokens(inc);
        Ok(())
    }
}

/// A parsed sender record.
enum Record {
    Done,
    Itemize { ndx: i32, iflags: u16 },
    Transfer { ndx: i32, head: SumHead },
}

impl Session for Receiver {
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
        let r = match answer {
            FsAnswer::Copied { ndx, data } => self.copied(ndx, data),
            other => self.gen_answer(other),
        };
        let r = r.and_then(|()| self.run());
        r.map_err(|e| self.core.fail(e))
    }

    fn handle_eof(&mut self) -> Result<(), SessionError> {
        if !self.core.check()? {
            return Ok(());
        }
        self.core.eof = true;
        let state = match self.recv {
            Recv::FileList(_) => "reading the file list",
            Recv::Stats => "reading the statistics",
            Recv::GoodbyeEcho => "reading the goodbye",
            _ => "receiving files",
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
