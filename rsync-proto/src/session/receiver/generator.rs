//! The generator half of the receiving role: walks the sorted list, decides what to
//! request, runs the deletion passes, links hard-link groups, and writes the phase
//! markers.
//!
//! Spec: RFC.md §10 `[gen-request]`, §12 `[phases]`. Reference: rsync `generate_files`,
//! `check_for_finished_files`, `touch_up_dirs` (generator.c). One thing runs at a time: an
//! entry (`recv_generator`, see `entry.rs`), the linking of a finished hard-link leader, or
//! one directory of a deletion pass; queued work (`tasks`) goes before the next entry, as
//! rsync's `check_for_finished_files` runs after every `recv_generator`.

use std::collections::{HashMap, HashSet, VecDeque};

use rsync_core::{Signature, SumHead};

use super::super::error::{SessionError, IOERR_GENERAL};
use super::super::events::Event;
use super::super::protect::Protection;
use super::super::types::{iflags, BasisMeta, DeleteTiming, FsAnswer, FsRequest};
use super::attrs::{itemize_flags, significant};
use super::delete::Deleter;
use super::entry::EntryJob;
use super::hlink::Hlinks;
use super::Receiver;
use crate::flist::{FileEntry, WirePath};
use crate::mux::MsgCode;
use crate::sums::{encode_block_sums, encode_sum_head};
use crate::wire::{WireWrite, NDX_DONE};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Waiting for the file list.
    #[default]
    Idle,
    /// Waiting for the id map.
    AwaitIds,
    /// `--delete-before`, at this position of the sorted list.
    Before(usize),
    /// The first pass, at this position of the sorted list.
    Initial(usize),
    /// Waiting for the receiver to finish phase 0 (`msgdone_cnt` 1).
    AwaitDone1,
    /// The redo pass.
    Redo,
    /// Waiting for the receiver to finish the redo phase (`msgdone_cnt` 2).
    AwaitDone2,
    /// `--delete-after`, at this position.
    After(usize),
    /// Protocol ≥ 31: the late deletion statistics and marker.
    Late,
    /// Waiting for the receiver's last phase before the goodbye.
    AwaitLast,
    /// The goodbye is written.
    Finished,
}

/// Transfer requests the generator may have outstanding (sent, not yet answered by the
/// sender) before it waits, protocol ≥ 30.
const MAX_REQUESTS_AHEAD: usize = 1024;

/// Work queued for the generator.
#[derive(Debug)]
pub(super) enum Task {
    /// `recv_generator` for this index.
    Entry { ndx: i32, redo: bool },
    /// `finish_hard_link`: this leader is in place; `stp` is its destination metadata if
    /// known (else it is asked for).
    Finish { leader: i32, stp: Option<BasisMeta> },
    /// Link this follower to its finished leader.
    Link {
        ndx: i32,
        leader: i32,
        leader_meta: BasisMeta,
    },
}

/// What the generator is doing now.
#[derive(Debug)]
pub(super) enum Active {
    Entry(Box<EntryJob>),
    /// Waiting for a finished leader's metadata.
    Finish(i32),
    /// One directory of a deletion pass.
    Pass(Box<Deleter>),
}

/// Generator state.
#[derive(Debug, Default)]
pub(super) struct Generator {
    pub(super) stage: Stage,
    pub(super) tasks: VecDeque<Task>,
    pub(super) active: Option<Active>,
    /// The answer to the active work's request, until it runs.
    pub(super) answer: Option<FsAnswer>,
    pub(super) redo: VecDeque<i32>,
    pub(super) hl: Hlinks,
    /// Every name in the list (`flist_find_ignore_dirness`), with `--delete` only.
    pub(super) names: HashSet<WirePath>,
    /// The names of the `--delete-missing-args` entries (mode 0) of the list.
    pub(super) missing_names: HashSet<WirePath>,
    /// The directories of the list, by name.
    pub(super) dir_ndx: HashMap<WirePath, i32>,
    /// Directories whose content is part of the transfer (`FLAG_CONTENT_DIR`).
    pub(super) content: HashSet<i32>,
    pub(super) protection: Protection,
    /// Dry run: the first missing directory; what is below it is missing too.
    pub(super) dry_missing: Option<i32>,
    /// `FLAG_MISSING_DIR`.
    pub(super) missing: HashSet<i32>,
    /// "IO error encountered -- skipping file deletion" was said.
    io_warned: bool,
}

impl Receiver {
    /// The list (and the id map) is in: index it and start.
    pub(super) fn gen_start(&mut self) -> Result<(), SessionError> {
        let mut names = HashSet::new();
        let mut missing = HashSet::new();
        let mut dirs = HashMap::new();
        let deleting = self.core.opts.delete_timing().is_some();
        for (i, e) in self.list.iter().enumerate() {
            if let Some(e) = e {
                if deleting {
                    names.insert(e.name.clone());
                }
                if e.is_dir() {
                    dirs.insert(e.name.clone(), i as i32);
                } else if e.is_missing() {
                    missing.insert(e.name.clone());
                }
            }
        }
        self.gen.names = names;
        self.gen.missing_names = missing;
        self.gen.dir_ndx = dirs;
        self.gen.protection = match &self.core.opts.filter {
            Some(list) => Protection::from_list(list.clone()),
            None => Protection::from_wire(
                &self.filters,
                u32::from(self.core.opts.protocol),
                self.core.opts.delete_excluded,
            )?,
        };
        self.gen.stage = match self.core.opts.delete_timing() {
            Some(DeleteTiming::Before) => Stage::Before(0),
            _ => Stage::Initial(0),
        };
        if self.gen.stage == Stage::Initial(0) {
            self.delta_note();
        }
        Ok(())
    }

    fn delta_note(&mut self) {
        if self.core.opts.verbose >= 2 {
            let text: &[u8] = if self.core.opts.whole_file {
                b"delta-transmission disabled for local transfer or --whole-file\n"
            } else {
                b"delta-transmission enabled\n"
            };
            self.core.log(MsgCode::Info, text.to_vec());
        }
    }

    /// The entry at `ndx`.
    pub(super) fn entry(&self, ndx: i32) -> Result<&FileEntry, SessionError> {
        let count = self.list.len();
        let slot = usize::try_from(ndx)
            .ok()
            .and_then(|i| self.list.get(i))
            .ok_or(SessionError::InvalidIndex { ndx, count })?;
        slot.as_ref().ok_or(SessionError::ClearedIndex { ndx })
    }

    /// One generator step; `false` when it waits (for an answer, the peer, or nothing).
    pub(super) fn gen_step(&mut self) -> Result<bool, SessionError> {
        if let Some(active) = self.gen.active.take() {
            let answer = self.gen.answer.take();
            let waiting = answer.is_none();
            let done = match active {
                Active::Entry(mut job) => {
                    let done = self.entry_run(&mut job, answer)?;
                    if !done {
                        self.gen.active = Some(Active::Entry(job));
                    }
                    done
                }
                Active::Finish(leader) => match answer {
                    Some(FsAnswer::Basis { ndx, meta }) if ndx == leader => {
                        self.expand_finish(leader, meta.unwrap_or_else(zero_meta));
                        true
                    }
                    Some(_) => {
                        return Err(SessionError::UnexpectedAnswer {
                            what: "not the leader's metadata",
                        })
                    }
                    None => {
                        self.gen.active = Some(Active::Finish(leader));
                        false
                    }
                },
                Active::Pass(mut d) => match self.del_step(&mut d, answer)? {
                    Some(_) => true,
                    None => {
                        self.gen.active = Some(Active::Pass(d));
                        false
                    }
                },
            };
            return Ok(done || !waiting);
        }
        if let Some(task) = self.gen.tasks.pop_front() {
            self.start_task(task)?;
            return Ok(true);
        }
        self.gen_stage()
    }

    fn start_task(&mut self, task: Task) -> Result<(), SessionError> {
        match task {
            Task::Entry { ndx, redo } => {
                let entry = self.entry(ndx)?.clone();
                self.gen.active = Some(Active::Entry(Box::new(EntryJob::new(ndx, entry, redo))));
            }
            Task::Finish { leader, stp } => match stp {
                Some(meta) => self.expand_finish(leader, meta),
                None if self.gen.hl.has_waiters(leader) => {
                    let path = self.entry(leader)?.name.clone();
                    self.core.fs.push_back(FsRequest::Basis {
                        ndx: leader,
                        path,
                        checksum: None,
                    });
                    self.gen.active = Some(Active::Finish(leader));
                }
                None => self.expand_finish(leader, zero_meta()),
            },
            Task::Link {
                ndx,
                leader,
                leader_meta,
            } => {
                let entry = self.entry(ndx)?.clone();
                let job = EntryJob::link(ndx, entry, leader, leader_meta);
                self.gen.active = Some(Active::Entry(Box::new(job)));
            }
        }
        Ok(())
    }

    /// `finish_hard_link`: queue the linking of every member waiting for `leader`, first.
    fn expand_finish(&mut self, leader: i32, leader_meta: BasisMeta) {
        let chain = self.gen.hl.finish(leader);
        for ndx in chain.into_iter().rev() {
            self.gen.tasks.push_front(Task::Link {
                ndx,
                leader,
                leader_meta: leader_meta.clone(),
            });
        }
    }

    /// The next thing to do between entries and phases.
    fn gen_stage(&mut self) -> Result<bool, SessionError> {
        let p = self.core.protocol();
        match self.gen.stage {
            Stage::Idle | Stage::AwaitIds | Stage::Finished => Ok(false),
            Stage::Before(i) => {
                self.gen.stage = match self.pass_dir(i) {
                    Some(j) => Stage::Before(j + 1),
                    None => Stage::Initial(0),
                };
                if self.gen.stage == Stage::Initial(0) {
                    self.delta_note();
                }
                Ok(true)
            }
            Stage::Initial(i) if i >= self.list.len() => {
                // End of phase 0.
                self.core.write_ndx(NDX_DONE);
                self.gen.stage = Stage::AwaitDone1;
                Ok(true)
            }
            Stage::Initial(_) if p >= 30 && self.requested.len() >= MAX_REQUESTS_AHEAD => {
                // rsync's generator is held back by its pipe; ours waits for the receiver
                // (the sender reports a file it cannot send with MSG_NO_SEND from 30 on, so
                // every request is answered). Otherwise it would run the whole list ahead,
                // and the requests would pile up in both peers' memory.
                Ok(false)
            }
            Stage::Initial(i) => {
                self.gen.stage = Stage::Initial(i + 1);
                if self.list.get(i).is_some_and(Option::is_some) {
                    self.start_task(Task::Entry {
                        ndx: i as i32,
                        redo: false,
                    })?;
                }
                Ok(true)
            }
            Stage::AwaitDone1 if self.msgdone >= 1 => {
                self.gen.stage = Stage::Redo;
                Ok(true)
            }
            Stage::Redo => {
                if let Some(ndx) = self.gen.redo.pop_front() {
                    self.start_task(Task::Entry { ndx, redo: true })?;
                    return Ok(true);
                }
                // End of the redo phase, then the delay-updates phase (≥ 29) and the
                // early late-delete phase (≥ 31) markers (generate_files).
                self.core.write_ndx(NDX_DONE);
                if p >= 29 {
                    self.core.write_ndx(NDX_DONE);
                }
                if p >= 31 && self.early_delete_done() {
                    if self.core.opts.delete_recurse() {
                        let d = self.stats.deleted;
                        self.core.write_del_stats(&d);
                    }
                    self.core.write_ndx(NDX_DONE);
                }
                self.gen.stage = Stage::AwaitDone2;
                Ok(true)
            }
            Stage::AwaitDone2 if self.msgdone >= 2 => {
                let after = self.core.opts.delete_timing() == Some(DeleteTiming::After);
                self.gen.stage = if after { Stage::After(0) } else { Stage::Late };
                Ok(true)
            }
            Stage::After(i) => {
                self.gen.stage = match self.pass_dir(i) {
                    Some(j) => Stage::After(j + 1),
                    None => Stage::Late,
                };
                Ok(true)
            }
            Stage::Late => {
                if p >= 31 && !self.early_delete_done() {
                    if self.core.opts.delete_recurse() {
                        let d = self.stats.deleted;
                        self.core.write_del_stats(&d);
                    }
                    self.core.write_ndx(NDX_DONE);
                }
                self.gen.stage = Stage::AwaitLast;
                Ok(true)
            }
            Stage::AwaitLast => {
                let need = match p {
                    31.. => 4,
                    29..=30 => 3,
                    _ => 2,
                };
                if self.msgdone < need {
                    return Ok(false);
                }
                self.goodbye();
                Ok(true)
            }
            Stage::AwaitDone1 | Stage::AwaitDone2 => Ok(false),
        }
    }

    /// `EARLY_DELETE_DONE_MSG`: the late-delete marker goes out with the others.
    fn early_delete_done(&self) -> bool {
        self.core.opts.delete_timing() != Some(DeleteTiming::After)
    }

    /// `do_delete_pass`: starts `delete_in_dir` for the next content directory at or after
    /// `i`; returns its position, or `None` at the end.
    fn pass_dir(&mut self, i: usize) -> Option<usize> {
        let j = (i..self.list.len()).find(|&j| self.gen.content.contains(&(j as i32)))?;
        let path = self.list.get(j)?.as_ref()?.name.as_bytes().to_vec();
        if let Some(d) = self.delete_in_dir(path) {
            self.gen.active = Some(Active::Pass(Box::new(d)));
        }
        Some(j)
    }

    /// `delete_in_dir`: a deleter for `dir`, unless an I/O error of the sender forbids
    /// deleting.
    pub(super) fn delete_in_dir(&mut self, dir: Vec<u8>) -> Option<Deleter> {
        if self.core.peer_io_error & IOERR_GENERAL != 0 {
            if !self.gen.io_warned {
                self.gen.io_warned = true;
                self.core.log(
                    MsgCode::Info,
                    b"IO error encountered -- skipping file deletion\n".to_vec(),
                );
            }
            return None;
        }
        Some(Deleter::in_dir(dir))
    }

    /// `touch_up_dirs`, the final NDX_DONE (main.c `do_recv`), and the end.
    fn goodbye(&mut self) {
        if !self.core.opts.dry_run {
            for (i, e) in self.list.iter().enumerate() {
                let ndx = i as i32;
                if let Some(e) = e.as_ref().filter(|e| e.is_dir()) {
                    if !self.gen.missing.contains(&ndx) {
                        self.core.fs.push_back(FsRequest::SetMeta {
                            ndx,
                            entry: e.clone(),
                        });
                    }
                }
            }
        }
        self.core.write_ndx(NDX_DONE);
        self.gen.stage = Stage::Finished;
        self.end();
    }

    /// generator.c `itemize`: computes the flags against `meta` and writes the record when
    /// it is worth one (protocol ≥ 29); a client below 29 logs it itself.
    pub(super) fn itemize(
        &mut self,
        ndx: i32,
        entry: &FileEntry,
        meta: Option<&BasisMeta>,
        flags: u16,
        xname: Option<&[u8]>,
    ) {
        let flags = itemize_flags(&self.core.opts, entry, meta, flags, xname);
        let named = xname.is_some_and(|x| !x.is_empty());
        if !(significant(flags) || self.core.opts.itemize_all() || named) {
            return;
        }
        if self.core.protocol() >= 29 {
            self.core.write_ndx(ndx);
            self.core.out().put_shortint(flags);
            if flags & iflags::XNAME_FOLLOWS != 0 {
                self.core.out().put_vstring(xname.unwrap_or(b""));
            }
        } else if !self.core.opts.server && self.core.opts.itemize > 0 {
            self.core.events.push_back(Event::Itemize {
                ndx,
                iflags: flags,
                xname: xname.map(<[u8]>::to_vec),
            });
        }
    }

    /// generator.c `rprintf(code, …)` name lines: below protocol 29 with `-v` (and, for a
    /// client, without `-i`), a server sends them as `MSG_INFO`, a client shows them.
    pub(super) fn gen_log(&mut self, text: impl FnOnce() -> String) {
        let o = &self.core.opts;
        if o.protocol < 29 && o.verbose > 0 && (o.server || o.itemize == 0) {
            let t = text();
            self.core.log(MsgCode::Info, t.into_bytes());
        }
    }

    /// `-vv` name lines of `set_file_attrs`/`maybe_hard_link` (`INFO_GTE(NAME, 2)` with
    /// `maybe_ATTRS_REPORT`: not when itemizing, except for a server below protocol 29).
    pub(super) fn report_name2(&mut self, text: String) {
        let o = &self.core.opts;
        let report = o.itemize == 0 || (o.server && o.protocol < 29);
        if o.verbose >= 2 && report {
            self.core.log(MsgCode::Info, text.into_bytes());
        }
    }

    /// Wire: `[gen-request]`: the sum header and block sums after the record.
    pub(super) fn send_sums(&mut self, ndx: i32, sig: &Signature) {
        let head = sig.head();
        encode_sum_head(&head, self.core.out());
        encode_block_sums(sig, self.core.out());
        self.requested.insert(ndx, head);
    }

    /// The transfer record: ndx, then the flags (≥ 29; `itemize` from `notify_others`).
    pub(super) fn write_transfer(
        &mut self,
        ndx: i32,
        entry: &FileEntry,
        meta: Option<&BasisMeta>,
        flags: u16,
    ) {
        self.core.write_ndx(ndx);
        if self.core.protocol() >= 29 {
            let flags = itemize_flags(&self.core.opts, entry, meta, flags, None);
            self.core.out().put_shortint(flags);
        }
        if self.core.opts.dry_run {
            self.requested.insert(ndx, SumHead::EMPTY);
        }
    }

    /// The path of an entry as a request argument.
    pub(super) fn path_of(&self, ndx: i32) -> Result<WirePath, SessionError> {
        Ok(self.entry(ndx)?.name.clone())
    }
}

/// The metadata rsync assumes for a leader that a dry run did not create.
pub(super) fn zero_meta() -> BasisMeta {
    BasisMeta::new(0, 0, 0)
}
