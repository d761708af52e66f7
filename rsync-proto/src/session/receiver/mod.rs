//! The receiving role: rsync's generator (which decides and asks) and receiver (which
//! rebuilds files) in one state machine, for a client receiver (pull) or a server receiver
//! (push).
//!
//! Spec: RFC.md §9–§12. Reference: rsync `generate_files`/`recv_generator` (generator.c),
//! `recv_files`/`receive_data` (receiver.c), `do_recv`/`handle_stats`/`read_final_goodbye`
//! (main.c), `send_filter_list`/`recv_filter_list` (exclude.c), hlink.c, delete.c.

mod attrs;
mod delete;
mod entry;
mod generator;
mod hlink;
mod recv;
mod requested;

use std::collections::{HashMap, VecDeque};

use rsync_core::{Applier, SumHead};

use super::error::{io_error_exit, SessionError, RERR_PARTIAL};
use super::events::{Event, FileCounts, Stats};
use super::io::Core;
use super::types::{FilesFrom, FsAnswer, FsRequest, MissingArgs, SessionOptions};
use super::Session;
use crate::filter::ImpliedFilter;
use crate::flist::{sort_file_list, FileEntry, FileList, FlistDecoder, IdList};
use crate::mux::MsgCode;
use crate::wire::WireWrite;
use generator::{Generator, Stage};
use hlink::Hlinks;
use requested::NameChecks;

#[derive(Debug)]
enum Recv {
    /// A server receiver with `--delete`: reading the client's filter list.
    Filters,
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
    /// Protocol 31: waiting for the sender's echo of our late NDX_DONE.
    GoodbyeEcho,
    /// Nothing more to read.
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
    /// Filter rules: ours (client) or the client's (server, `--delete`).
    filters: Vec<Vec<u8>>,
    /// A client's checks of the names the sender lists.
    checks: NameChecks,
    /// Outstanding transfer requests: index → the sum header we sent.
    requested: HashMap<i32, SumHead>,
    /// Indices received once (a second transfer is the redo), one flag per entry.
    received: Vec<bool>,
    /// Files to request again in the redo phase.
    redo: VecDeque<i32>,
    /// Sender NDX_DONE markers read.
    recv_phase: u8,
    /// What rsync's receiver process would have told its generator (`msgdone_cnt`).
    msgdone: u8,
    failures: bool,
    /// Local counts.
    stats: Stats,
    /// The server sender's statistics (client receiver).
    wire_stats: Option<Stats>,
    /// Logical bytes the file list took.
    flist_bytes: u64,
}

impl Receiver {
    /// A receiver for `opts`; a client receiver writes its filter list (and `--files-from`
    /// names) at once.
    ///
    /// # Errors
    /// [`SessionError::Unsupported`] for incremental recursion; a file-list configuration
    /// error.
    pub fn new(mut opts: SessionOptions) -> Result<Self, SessionError> {
        opts.flist.checksum_len = opts.flist_csum_len();
        opts.flist.delete_missing_args = opts.missing_args == MissingArgs::Delete;
        opts.flist.validate()?;
        if opts.flist.inc_recurse {
            return Err(SessionError::Unsupported {
                what: "incremental recursion",
            });
        }
        let names = match &opts.files_from {
            FilesFrom::Send(n) if !opts.server => Some(n.clone()),
            _ => None,
        };
        let server = opts.server;
        let rules = opts.filter_rules.clone();
        // flist.c recv_file_entry: a client checks the list against its own rules.
        let excluded = opts.filter.clone().filter(|f| !server && !f.is_empty());
        let reads_filters = server && opts.filter_list_on_wire(true);
        let mut core = Core::new(opts, false);
        if !server {
            // exclude.c send_filter_list: a client whose peer sends always writes the list.
            let out = core.out();
            for rule in &rules {
                out.put_int(rule.len() as i32);
                out.put_bytes(rule);
            }
            out.put_int(0);
            if let Some(names) = &names {
                // Wire: `[files-from]`: inside MSG_DATA from protocol 31; below, raw (at 30
                // between two frames: io.c start_filesfrom_forwarding).
                let mut list = Vec::new();
                for name in names {
                    list.extend_from_slice(name);
                    list.push(0);
                }
                list.push(0);
                if core.protocol() >= 31 {
                    core.out().extend_from_slice(&list);
                } else {
                    core.send_raw(&list);
                }
            }
        }
        let mut r = Self {
            core,
            recv: Recv::Finished,
            gen: Generator::default(),
            list: Vec::new(),
            filters: if server { Vec::new() } else { rules },
            checks: NameChecks {
                implied: None,
                excluded,
            },
            requested: HashMap::new(),
            received: Vec::new(),
            redo: VecDeque::new(),
            recv_phase: 0,
            msgdone: 0,
            failures: false,
            stats: Stats::default(),
            wire_stats: None,
            flist_bytes: 0,
        };
        r.recv = if reads_filters {
            Recv::Filters
        } else {
            Recv::FileList(Box::new(r.new_decoder()?))
        };
        Ok(r)
    }

    /// A client pulling: the names it requested (see [`ImpliedFilter`]). A name the sender
    /// lists that the filter does not allow ends the session with
    /// [`SessionError::Rejected`] (exit code 4) before anything is written; a directory
    /// requested only as a parent is never a content directory. An empty filter checks
    /// nothing.
    #[must_use]
    pub fn with_requested(mut self, implied: ImpliedFilter) -> Self {
        self.checks.implied = (!implied.is_empty()).then_some(implied);
        self
    }

    /// `--trust-sender`: no check of the sender's names, neither against the requested
    /// names nor against the client's filter rules (which a client receiver otherwise
    /// applies to the list it receives).
    #[must_use]
    pub fn trust_sender(mut self) -> Self {
        self.checks = NameChecks::default();
        self
    }

    /// Transfer requests sent and not yet answered by the sender.
    #[cfg(test)]
    pub(crate) fn outstanding_requests(&self) -> usize {
        self.requested.len()
    }

    fn new_decoder(&self) -> Result<FlistDecoder, SessionError> {
        Ok(FlistDecoder::new(self.core.opts.flist.clone())?)
    }

    fn run(&mut self) -> Result<(), SessionError> {
        while !self.core.done {
            self.core.flush_deferred();
            while let Some(ndx) = self.core.no_send.pop_front() {
                self.no_send(ndx);
            }
            let g = self.gen_step()?;
            let r = self.recv_step()?;
            if !g && !r {
                break;
            }
        }
        self.core.flush_deferred();
        Ok(())
    }

    fn recv_step(&mut self) -> Result<bool, SessionError> {
        match std::mem::replace(&mut self.recv, Recv::Finished) {
            Recv::Filters => {
                self.recv = Recv::Filters;
                self.read_filter()
            }
            Recv::FileList(mut dec) => {
                let n = {
                    let r = self.core.reader();
                    dec.feed(r.remaining())?
                };
                self.core.consume(n);
                self.flist_bytes += n as u64;
                if !dec.is_done() {
                    self.recv = Recv::FileList(dec);
                    return Ok(false);
                }
                self.recv = Recv::Records;
                self.list_received(dec.into_list())?;
                Ok(true)
            }
            Recv::Records => {
                self.recv = Recv::Records;
                self.read_record()
            }
            Recv::Tokens(inc) => self.read_token(inc),
            s @ Recv::AwaitCopy(_) => {
                self.recv = s;
                Ok(false)
            }
            Recv::Stats => {
                self.recv = Recv::Stats;
                self.read_stats()
            }
            Recv::GoodbyeEcho => {
                self.recv = Recv::GoodbyeEcho;
                self.read_goodbye_echo()
            }
            Recv::Finished => Ok(false),
        }
    }

    /// The file list is in: sort it, group hard links, find the content directories,
    /// then map the ids (if named) and start the generator.
    fn list_received(&mut self, list: FileList) -> Result<(), SessionError> {
        let p = self.core.protocol();
        let FileList {
            entries,
            io_error,
            uids,
            gids,
        } = list;
        // flist.c recv_file_entry: names are checked in the order received, before any
        // is acted on.
        for e in &entries {
            self.checks.check(e)?;
        }
        self.core.peer_io_error |= io_error;
        self.stats.num_files = FileCounts::of(&entries);
        self.stats.total_size = entries
            .iter()
            .filter(|e| e.is_regular() || e.is_symlink())
            .map(|e| e.size() as i64)
            .sum();
        self.stats.flist_size = self.flist_bytes;
        let o = &self.core.opts;
        let gnums = if o.flist.preserve_hard_links {
            hlink::group_numbers(&entries, o.flist.ndx_start)
        } else {
            HashMap::new()
        };
        self.list = sort_file_list(entries, u32::from(p));
        self.received = vec![false; self.list.len()];
        self.gen.hl = Hlinks::new(&self.list, &gnums);
        let recursive = o.recursive;
        for (i, e) in self.list.iter().enumerate() {
            // flist.c recv_file_entry: FLAG_CONTENT_DIR (protocol < 30: a top directory
            // and, with -r, everything below it).
            if let Some(e) = e.as_ref().filter(|e| e.is_dir()) {
                // A directory requested only as a parent is an implied directory whatever
                // the sender flagged (flist.c: the implied-parent downgrade; below 30 only
                // for a top directory).
                let parent_only = self.checks.parent_only(e);
                let content = if p >= 30 {
                    !e.no_content_dir() && !parent_only
                } else if e.top_dir() {
                    !parent_only
                } else {
                    recursive
                };
                if content {
                    self.gen.content.insert(i as i32);
                }
            }
        }
        if self.list.is_empty() && !self.core.opts.server {
            // main.c client_run: nothing to do, no statistics are read.
            self.recv = Recv::Finished;
            self.end();
            return Ok(());
        }
        let o = &self.core.opts;
        let named = |l: &IdList| !l.names.is_empty() || l.id0_name.is_some();
        let wants_map = !o.flist.numeric_ids
            && ((o.flist.preserve_uid && named(&uids)) || (o.flist.preserve_gid && named(&gids)));
        if wants_map {
            self.core.fs.push_back(FsRequest::MapIds { uids, gids });
            self.gen.stage = Stage::AwaitIds;
        } else {
            self.gen_start()?;
        }
        Ok(())
    }

    /// The driver's id map: rewrite the list's ids (uidlist.c `match_uid`/`match_gid`).
    fn id_map(&mut self, uids: &[(u32, u32)], gids: &[(u32, u32)]) -> Result<(), SessionError> {
        if self.gen.stage != Stage::AwaitIds {
            return Err(SessionError::UnexpectedAnswer { what: "id map" });
        }
        let u: HashMap<u32, u32> = uids.iter().copied().collect();
        let g: HashMap<u32, u32> = gids.iter().copied().collect();
        for e in self.list.iter_mut().flatten() {
            if let Some(&x) = u.get(&e.uid) {
                e.uid = x;
            }
            if let Some(&x) = g.get(&e.gid) {
                e.gid = x;
            }
        }
        self.gen_start()
    }

    /// The end of the run: the exit code and the statistics.
    fn end(&mut self) {
        let mut code = io_error_exit(self.core.peer_io_error);
        if self.failures {
            code = code.max(RERR_PARTIAL);
        }
        let mut stats = Stats {
            total_read: self.core.bytes_in as i64,
            total_written: self.core.written_total() as i64,
            ..self.stats
        };
        if let Some(w) = self.wire_stats {
            stats.total_read = w.total_read;
            stats.total_written = w.total_written;
            stats.total_size = w.total_size;
            stats.flist_buildtime = w.flist_buildtime;
            stats.flist_xfertime = w.flist_xfertime;
        }
        self.core.finish(code, Some(stats));
    }

    /// The receiver's share of `finish_hard_link`: once a transferred file is committed.
    fn finish_if_linked_later(&mut self, ndx: i32) {
        if self.core.opts.flist.preserve_hard_links && self.gen.hl.linked(ndx) {
            self.gen.tasks.push_back(generator::Task::Finish {
                leader: ndx,
                stp: None,
            });
        }
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

    fn answer(&mut self, answer: FsAnswer) -> Result<(), SessionError> {
        match answer {
            FsAnswer::Copied { ndx, data } => self.copied(ndx, data),
            FsAnswer::IdMap { uids, gids } => self.id_map(&uids, &gids),
            a
            @ (FsAnswer::Basis { .. } | FsAnswer::Signature { .. } | FsAnswer::DirList { .. })
                if self.gen.active.is_some() && self.gen.answer.is_none() =>
            {
                self.gen.answer = Some(a);
                Ok(())
            }
            _ => Err(SessionError::UnexpectedAnswer {
                what: "not a receiver answer",
            }),
        }
    }
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
        let r = self.answer(answer).and_then(|()| self.run());
        r.map_err(|e| self.core.fail(e))
    }

    fn handle_eof(&mut self) -> Result<(), SessionError> {
        if !self.core.check()? {
            return Ok(());
        }
        self.core.eof = true;
        let state = match self.recv {
            Recv::Filters => "reading the filter list",
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
