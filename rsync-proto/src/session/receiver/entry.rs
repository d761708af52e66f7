//! One entry of the generator's walk: rsync's `recv_generator`, as a job that waits for
//! the driver's answers (the destination's `lstat`, a `-c` sum, a signature, a hard-link
//! leader's `lstat`, a deletion to make room).
//!
//! Reference: rsync `recv_generator`, `atomic_create` (generator.c), `hard_link_check`,
//! `maybe_hard_link` (hlink.c).

use rsync_core::block_size::{SizeRule, SHORT_SUM_LENGTH, SUM_LENGTH};
use rsync_core::{Signature, SumHead};

use super::super::error::SessionError;
use super::super::events::{Event, FileOutcome};
use super::super::types::{iflags, BasisMeta, DeleteTiming, FsAnswer, FsRequest};
use super::attrs::{attrs_differ, regular_up_to_date, same_non_regular, same_type};
use super::delete::Deleter;
use super::generator::{zero_meta, Task};
use super::hlink::Check;
use super::Receiver;
use crate::flist::FileEntry;
use crate::mux::MsgCode;

/// Where an entry's processing is.
#[derive(Debug)]
enum Step {
    /// Nothing asked yet.
    Start,
    /// Waiting for the destination's `lstat`.
    Stat,
    /// Waiting for the `lstat` with the `-c` sum.
    StatSum,
    /// Metadata known: decide.
    Dispatch,
    /// A follower waits for its leader's `lstat`.
    Leader(i32),
    /// A follower to link to a finished leader: ask its own `lstat`…
    LinkAsk(i32, BasisMeta),
    /// … and wait for it.
    LinkStat(i32, BasisMeta),
    /// Waiting for a deletion that makes room, then `Then`.
    MakeRoom(Box<Deleter>, Then),
    /// Waiting for the basis signature.
    Signature(SumHead, u16),
}

/// What follows a deletion.
#[derive(Debug, Clone)]
enum Then {
    /// Nothing (the `--delete-during` of a directory).
    Done,
    /// Create the symlink.
    Symlink,
    /// Create the device or special.
    Special,
    /// Transfer the regular file as new.
    Regular,
    /// Link to this leader.
    Link(i32),
}

/// One entry's `recv_generator`.
#[derive(Debug)]
pub(super) struct EntryJob {
    ndx: i32,
    e: FileEntry,
    redo: bool,
    meta: Option<BasisMeta>,
    step: Step,
}

impl EntryJob {
    /// `recv_generator` for entry `ndx` (`redo`: the redo pass).
    pub(super) fn new(ndx: i32, e: FileEntry, redo: bool) -> Self {
        Self {
            ndx,
            e,
            redo,
            meta: None,
            step: Step::Start,
        }
    }

    /// `finish_hard_link` → `maybe_hard_link` for a follower of `leader`.
    pub(super) fn link(ndx: i32, e: FileEntry, leader: i32, leader_meta: BasisMeta) -> Self {
        Self {
            ndx,
            e,
            redo: false,
            meta: None,
            step: Step::LinkAsk(leader, leader_meta),
        }
    }
}

/// `true` when `child` lies below the directory `dir` (`is_below`).
fn is_below(child: &[u8], dir: &[u8]) -> bool {
    if dir == b"." {
        return child != b".";
    }
    child.len() > dir.len() && child.starts_with(dir) && child.get(dir.len()) == Some(&b'/')
}

impl Receiver {
    /// Runs `job` as far as it goes; `true` when it is finished.
    pub(super) fn entry_run(
        &mut self,
        job: &mut EntryJob,
        mut answer: Option<FsAnswer>,
    ) -> Result<bool, SessionError> {
        loop {
            let step = std::mem::replace(&mut job.step, Step::Dispatch);
            match step {
                Step::Start => {
                    if !self.start_entry(job)? {
                        return Ok(true);
                    }
                }
                Step::Stat | Step::StatSum => {
                    let Some(a) = answer.take() else {
                        job.step = step;
                        return Ok(false);
                    };
                    let meta = basis_answer(a, job.ndx)?;
                    job.meta = meta;
                    if matches!(step, Step::Stat) && self.wants_sum(job) {
                        self.core.fs.push_back(FsRequest::Basis {
                            ndx: job.ndx,
                            path: job.e.name.clone(),
                            checksum: Some(self.core.opts.file_checksum()),
                        });
                        job.step = Step::StatSum;
                        return Ok(false);
                    }
                }
                Step::Dispatch => return self.dispatch(job),
                Step::Leader(leader) => {
                    let Some(a) = answer.take() else {
                        job.step = step;
                        return Ok(false);
                    };
                    let lm = basis_answer(a, leader)?.unwrap_or_else(zero_meta);
                    return self.maybe_hard_link(job, leader, &lm);
                }
                Step::LinkAsk(leader, lm) => {
                    self.core.fs.push_back(FsRequest::Basis {
                        ndx: job.ndx,
                        path: job.e.name.clone(),
                        checksum: None,
                    });
                    job.step = Step::LinkStat(leader, lm);
                    return Ok(false);
                }
                Step::LinkStat(leader, lm) => {
                    let Some(a) = answer.take() else {
                        job.step = Step::LinkStat(leader, lm);
                        return Ok(false);
                    };
                    job.meta = basis_answer(a, job.ndx)?;
                    return self.maybe_hard_link(job, leader, &lm);
                }
                Step::MakeRoom(mut d, then) => match self.del_step(&mut d, answer.take())? {
                    None => {
                        job.step = Step::MakeRoom(d, then);
                        return Ok(false);
                    }
                    Some(ok) => return self.after_room(job, ok, then),
                },
                Step::Signature(head, flags) => {
                    let Some(a) = answer.take() else {
                        job.step = Step::Signature(head, flags);
                        return Ok(false);
                    };
                    let FsAnswer::Signature { ndx, signature } = a else {
                        return Err(SessionError::UnexpectedAnswer {
                            what: "not a signature",
                        });
                    };
                    if ndx != job.ndx
                        || signature.head() != head
                        || signature.len() != head.count as usize
                    {
                        return Err(SessionError::UnexpectedAnswer {
                            what: "signature for another sum header",
                        });
                    }
                    self.send_sums(job.ndx, &signature);
                    return Ok(true);
                }
            }
        }
    }

    /// The checks before the `lstat`; `false` when the entry is finished already.
    fn start_entry(&mut self, job: &mut EntryJob) -> Result<bool, SessionError> {
        let name = job.e.name.as_bytes();
        // recv_generator: each parent directory must be in the list. A missing-args entry
        // may name a parent the sender did not find either (another missing entry, or
        // nothing: rsync then only warns).
        if let Some(slash) = name.iter().rposition(|&b| b == b'/') {
            let parent = &name[..slash];
            if !self.gen.dir_ndx.contains_key(parent) {
                if !job.e.is_missing() {
                    return Err(SessionError::BadPath {
                        name: String::from_utf8_lossy(name).into_owned(),
                    });
                }
                if !self.gen.missing_names.contains(parent) {
                    let text = format!(
                        "WARNING: parent dir is absent in the file list: {}\n",
                        String::from_utf8_lossy(parent)
                    );
                    self.core.log(MsgCode::Error, text.into_bytes());
                }
            }
        }
        if job.e.is_missing() && self.gen.protection.protects(name, false) {
            // recv_generator: a missing-args name the receiver's rules exclude stays.
            return Ok(false);
        }
        if let Some(d) = self.gen.dry_missing {
            let dir = self.entry(d)?.name.as_bytes().to_vec();
            if is_below(name, &dir) {
                job.meta = None;
                job.step = Step::Dispatch;
                return Ok(true);
            }
            self.gen.dry_missing = None;
        }
        self.core.fs.push_back(FsRequest::Basis {
            ndx: job.ndx,
            path: job.e.name.clone(),
            checksum: None,
        });
        job.step = Step::Stat;
        Ok(true)
    }

    /// `-c`: the sum is computed only for a regular file of the same size.
    fn wants_sum(&self, job: &EntryJob) -> bool {
        self.core.opts.checksum
            && !job.redo
            && job.e.is_regular()
            && job
                .meta
                .as_ref()
                .is_some_and(|m| m.is_regular() && m.size == job.e.size())
    }

    fn dispatch(&mut self, job: &mut EntryJob) -> Result<bool, SessionError> {
        if job.e.is_missing() {
            return self.gen_missing(job);
        }
        if job.e.is_dir() {
            return self.gen_dir(job);
        }
        let o = &self.core.opts;
        if o.flist.preserve_hard_links && self.gen.hl.not_first(job.ndx) {
            match self.gen.hl.check(job.ndx) {
                Check::Wait => return Ok(true),
                Check::Link(leader) => {
                    let path = self.path_of(leader)?;
                    self.core.fs.push_back(FsRequest::Basis {
                        ndx: leader,
                        path,
                        checksum: None,
                    });
                    job.step = Step::Leader(leader);
                    return Ok(false);
                }
                Check::Process => {}
            }
        }
        let o = &self.core.opts;
        if o.flist.preserve_links && job.e.is_symlink() {
            return self.gen_symlink(job);
        }
        if (o.am_root && o.flist.preserve_devices && job.e.is_device())
            || (o.flist.preserve_specials && job.e.is_special())
        {
            return self.gen_special(job);
        }
        if !job.e.is_regular() {
            let name = String::from_utf8_lossy(job.e.name.as_bytes()).into_owned();
            self.core.log(
                MsgCode::Info,
                format!("skipping non-regular file \"{name}\"\n").into_bytes(),
            );
            return Ok(true);
        }
        self.gen_regular(job)
    }

    /// `recv_generator` for a directory.
    fn gen_dir(&mut self, job: &mut EntryJob) -> Result<bool, SessionError> {
        let dry = self.core.opts.dry_run;
        if job.meta.as_ref().is_some_and(|m| !m.is_dir()) {
            // delete_item(DEL_FOR_DIR) of a non-directory: not reported.
            if !dry {
                self.core.fs.push_back(FsRequest::Delete {
                    path: job.e.name.clone(),
                    is_dir: false,
                });
            }
            job.meta = None;
        }
        if dry && job.meta.is_none() {
            if self.gen.dry_missing.is_none() {
                self.gen.dry_missing = Some(job.ndx);
            }
            self.gen.missing.insert(job.ndx);
        }
        let local = if job.meta.is_some() {
            0
        } else {
            iflags::LOCAL_CHANGE
        };
        let e = job.e.clone();
        self.itemize(job.ndx, &e, job.meta.as_ref(), local, None);
        let updated = match &job.meta {
            None => {
                if !dry {
                    self.core.fs.push_back(FsRequest::Mkdir {
                        ndx: job.ndx,
                        entry: e.clone(),
                    });
                }
                true
            }
            Some(m) => attrs_differ(&self.core.opts, &e, m, false),
        };
        if updated {
            self.gen_log(|| format!("{}/\n", String::from_utf8_lossy(e.name.as_bytes())));
        }
        let during = self.core.opts.delete_timing() == Some(DeleteTiming::During);
        if during
            && !job.redo
            && !self.gen.missing.contains(&job.ndx)
            && self.gen.content.contains(&job.ndx)
        {
            if let Some(d) = self.delete_in_dir(e.name.as_bytes().to_vec()) {
                job.step = Step::MakeRoom(Box::new(d), Then::Done);
                return self.entry_run(job, None);
            }
        }
        Ok(true)
    }

    /// `recv_generator` for a `--delete-missing-args` entry: `delete_item` of whatever is
    /// at the name (a directory with its content only with `--delete` or `--force`, else
    /// only when empty), reported as a deletion; nothing when the name is absent.
    fn gen_missing(&mut self, job: &mut EntryJob) -> Result<bool, SessionError> {
        let Some(m) = job.meta.take() else {
            return Ok(true);
        };
        let path = job.e.name.as_bytes().to_vec();
        if m.is_dir() {
            let d = Deleter::item(path, self.core.opts.delete_recurse());
            job.step = Step::MakeRoom(Box::new(d), Then::Done);
            return self.entry_run(job, None);
        }
        self.deleted(&path, m.mode);
        Ok(true)
    }

    /// A directory in the way of a non-directory: delete it (recursively with
    /// `--delete`), then continue with `then`.
    fn make_room(
        &mut self,
        job: &mut EntryJob,
        what: &'static str,
        then: Then,
    ) -> Result<bool, SessionError> {
        let recurse = self.core.opts.delete_recurse();
        let d = Deleter::make_room(job.e.name.as_bytes().to_vec(), what, recurse);
        job.step = Step::MakeRoom(Box::new(d), then);
        self.entry_run(job, None)
    }

    fn after_room(
        &mut self,
        job: &mut EntryJob,
        ok: bool,
        then: Then,
    ) -> Result<bool, SessionError> {
        if matches!(then, Then::Done) {
            return Ok(true);
        }
        if !ok {
            return Ok(true);
        }
        job.meta = None;
        match then {
            Then::Done => Ok(true),
            Then::Symlink => self.create_symlink(job),
            Then::Special => self.create_special(job),
            Then::Regular => self.gen_regular(job),
            Then::Link(leader) => self.create_link(job, leader),
        }
    }

    /// Up to date: set what differs, itemize, finish a hard-link leader.
    fn up_to_date(&mut self, job: &EntryJob, accurate: bool) {
        let Some(m) = job.meta.clone() else {
            return;
        };
        let differ = attrs_differ(&self.core.opts, &job.e, &m, accurate);
        if !self.core.opts.dry_run && differ {
            self.core.fs.push_back(FsRequest::SetMeta {
                ndx: job.ndx,
                entry: job.e.clone(),
            });
        }
        // rsync.c set_file_attrs with ATTRS_REPORT.
        let name = String::from_utf8_lossy(job.e.name.as_bytes()).into_owned();
        let text = if differ {
            format!("{name}\n")
        } else {
            format!("{name} is uptodate\n")
        };
        self.report_name2(text);
        self.itemize(job.ndx, &job.e, Some(&m), 0, None);
        self.finish_if_linked(job.ndx, Some(m));
    }

    /// A leader is in place (`finish_hard_link`).
    pub(super) fn finish_if_linked(&mut self, ndx: i32, stp: Option<BasisMeta>) {
        if self.core.opts.flist.preserve_hard_links && self.gen.hl.linked(ndx) {
            self.gen.tasks.push_front(Task::Finish { leader: ndx, stp });
        }
    }

    fn gen_symlink(&mut self, job: &mut EntryJob) -> Result<bool, SessionError> {
        if let Some(m) = &job.meta {
            if m.is_symlink() && same_non_regular(&job.e, m) {
                self.up_to_date(job, false);
                return Ok(true);
            }
            if m.is_dir() {
                return self.make_room(job, "symlink", Then::Symlink);
            }
        }
        self.create_symlink(job)
    }

    fn create_symlink(&mut self, job: &mut EntryJob) -> Result<bool, SessionError> {
        if !self.core.opts.dry_run {
            self.core.fs.push_back(FsRequest::Symlink {
                ndx: job.ndx,
                entry: job.e.clone(),
            });
            self.core.fs.push_back(FsRequest::SetMeta {
                ndx: job.ndx,
                entry: job.e.clone(),
            });
        }
        let meta = job.meta.clone().filter(|m| m.is_symlink());
        let flags = iflags::LOCAL_CHANGE | iflags::REPORT_CHANGE;
        self.itemize(job.ndx, &job.e, meta.as_ref(), flags, None);
        let (n, t) = (job.e.name.as_bytes(), job.e.symlink().unwrap_or(b""));
        let text = format!(
            "{} -> {}\n",
            String::from_utf8_lossy(n),
            String::from_utf8_lossy(t)
        );
        self.gen_log(|| text);
        self.finish_if_linked(job.ndx, None);
        Ok(true)
    }

    fn gen_special(&mut self, job: &mut EntryJob) -> Result<bool, SessionError> {
        if let Some(m) = &job.meta {
            if same_non_regular(&job.e, m) {
                self.up_to_date(job, false);
                return Ok(true);
            }
            if m.is_dir() {
                let what = if job.e.is_device() {
                    "device file"
                } else {
                    "special file"
                };
                return self.make_room(job, what, Then::Special);
            }
        }
        self.create_special(job)
    }

    fn create_special(&mut self, job: &mut EntryJob) -> Result<bool, SessionError> {
        if !self.core.opts.dry_run {
            self.core.fs.push_back(FsRequest::Mknod {
                ndx: job.ndx,
                entry: job.e.clone(),
            });
            self.core.fs.push_back(FsRequest::SetMeta {
                ndx: job.ndx,
                entry: job.e.clone(),
            });
        }
        // A type change counts as new; a device with another rdev does not.
        let meta = job.meta.clone().filter(|m| same_type(&job.e, m));
        let flags = iflags::LOCAL_CHANGE | iflags::REPORT_CHANGE;
        self.itemize(job.ndx, &job.e, meta.as_ref(), flags, None);
        let text = format!("{}\n", String::from_utf8_lossy(job.e.name.as_bytes()));
        self.gen_log(|| text);
        self.finish_if_linked(job.ndx, None);
        Ok(true)
    }

    /// `recv_generator` for a regular file.
    fn gen_regular(&mut self, job: &mut EntryJob) -> Result<bool, SessionError> {
        if let Some(m) = &job.meta {
            if !m.is_regular() {
                if m.is_dir() {
                    return self.make_room(job, "regular file", Then::Regular);
                }
                // delete_item(DEL_FOR_FILE) of a symlink, device or special: not reported.
                if !self.core.opts.dry_run {
                    self.core.fs.push_back(FsRequest::Delete {
                        path: job.e.name.clone(),
                        is_dir: false,
                    });
                }
                job.meta = None;
            }
        }
        let Some(m) = job.meta.clone() else {
            if self.core.opts.flist.preserve_hard_links && self.gen.hl.not_last(job.ndx) {
                // hlink.c: a later member of the group may have a basis.
                return Ok(true);
            }
            return self.transfer(job);
        };
        if !job.redo && regular_up_to_date(&self.core.opts, &job.e, &m) {
            self.up_to_date(job, self.core.opts.checksum);
            self.core.events.push_back(Event::File {
                ndx: job.ndx,
                outcome: FileOutcome::UpToDate,
            });
            return Ok(true);
        }
        self.transfer(job)
    }

    /// `notify_others`: the transfer record, then the sum header (or, in a dry run,
    /// nothing).
    fn transfer(&mut self, job: &mut EntryJob) -> Result<bool, SessionError> {
        let o = &self.core.opts;
        let mut flags = iflags::TRANSFER;
        if o.checksum && !job.redo {
            flags |= iflags::REPORT_CHANGE;
        }
        self.gen.hl.mark_sent(job.ndx);
        let e = job.e.clone();
        self.write_transfer(job.ndx, &e, job.meta.as_ref(), flags);
        if self.core.opts.dry_run {
            let stp = job.meta.clone().unwrap_or_else(zero_meta);
            self.finish_if_linked(job.ndx, Some(stp));
            return Ok(true);
        }
        let o = &self.core.opts;
        let size = job.meta.as_ref().map_or(0, |m| m.size);
        let head = if o.whole_file || job.meta.is_none() || size == 0 {
            None
        } else {
            let rule = SizeRule {
                protocol: u32::from(o.protocol),
                block_size: o.block_size,
                csum_length: if job.redo {
                    SUM_LENGTH
                } else {
                    SHORT_SUM_LENGTH
                },
                digest_len: o.strong.digest_len() as u32,
            };
            rule.sum_head(size)
        };
        let head = head.unwrap_or(SumHead::EMPTY);
        if head.count == 0 {
            self.send_sums(job.ndx, &Signature::with_head(head));
            return Ok(true);
        }
        self.core.fs.push_back(FsRequest::Signature {
            ndx: job.ndx,
            path: job.e.name.clone(),
            head,
        });
        job.step = Step::Signature(head, flags);
        Ok(false)
    }

    /// hlink.c `maybe_hard_link`: already linked, or link (making room first).
    fn maybe_hard_link(
        &mut self,
        job: &mut EntryJob,
        leader: i32,
        lm: &BasisMeta,
    ) -> Result<bool, SessionError> {
        if let Some(m) = &job.meta {
            if m.dev == lm.dev && m.ino == lm.ino {
                let flags = iflags::LOCAL_CHANGE | iflags::XNAME_FOLLOWS;
                let m = m.clone();
                self.itemize(job.ndx, &job.e, Some(&m), flags, Some(b""));
                let name = String::from_utf8_lossy(job.e.name.as_bytes()).into_owned();
                self.report_name2(format!("{name} is uptodate\n"));
                return Ok(true);
            }
            if m.is_dir() {
                return self.make_room(job, "regular file", Then::Link(leader));
            }
        }
        self.create_link(job, leader)
    }

    fn create_link(&mut self, job: &mut EntryJob, leader: i32) -> Result<bool, SessionError> {
        let target = self.path_of(leader)?;
        if !self.core.opts.dry_run {
            self.core.fs.push_back(FsRequest::HardLink {
                ndx: job.ndx,
                entry: job.e.clone(),
                target: target.clone(),
            });
        }
        let flags = iflags::LOCAL_CHANGE | iflags::XNAME_FOLLOWS;
        let meta = job.meta.clone();
        self.itemize(
            job.ndx,
            &job.e,
            meta.as_ref(),
            flags,
            Some(target.as_bytes()),
        );
        let (n, t) = (job.e.name.as_bytes(), target.as_bytes());
        let text = format!(
            "{} => {}\n",
            String::from_utf8_lossy(n),
            String::from_utf8_lossy(t)
        );
        self.gen_log(|| text);
        Ok(true)
    }
}

/// The metadata of a `Basis` answer for `ndx`.
fn basis_answer(a: FsAnswer, want: i32) -> Result<Option<BasisMeta>, SessionError> {
    match a {
        FsAnswer::Basis { ndx, meta } if ndx == want => Ok(meta),
        _ => Err(SessionError::UnexpectedAnswer {
            what: "not the metadata asked for",
        }),
    }
}
