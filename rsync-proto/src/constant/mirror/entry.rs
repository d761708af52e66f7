//! A mirror's decisions for one `ENTRY` (RFC.md §15.5): directories, symlinks, devices and
//! specials made to match; regular files either current by the quick check (size and mtime
//! to the nanosecond, and a copy that is not *racy*: see [`BasisMeta::is_racy`]) or
//! transferred against a basis.
//!
//! Reference: rsync `recv_generator` (generator.c) and `itemize` for the item flags.

use rsync_core::block_size::{SizeRule, SHORT_SUM_LENGTH};
use rsync_core::SumHead;

use super::tree::Then;
use super::{Job, Kind, Mirror, MirrorEvent, Step, Want};
use crate::constant::config::{ndx_of, ConstantError, STATUS_PARTIAL};
use crate::constant::record::MirrorRecord;
use crate::flist::{mode, FileEntry, WirePath};
use crate::mux::MsgCode;
use crate::session::{iflags, BasisMeta, FsRequest, SessionOptions};

/// The permission bits rsync compares and sets.
const CHMOD_BITS: u32 = 0o7777;

/// rsync `itemize`: adds to `flags` what differs between `e` and the mirror's `meta`
/// (`IS_NEW` when absent). Times compare to the nanosecond.
pub(super) fn item_flags(
    o: &SessionOptions,
    e: &FileEntry,
    meta: Option<&BasisMeta>,
    mut flags: u16,
) -> u16 {
    let Some(st) = meta else {
        return flags | iflags::IS_NEW;
    };
    if e.is_regular() && e.size() != st.size {
        flags |= iflags::REPORT_SIZE;
    }
    if o.preserve_times && (e.mtime() != st.mtime || e.mtime_nsec != st.mtime_nsec) {
        flags |= iflags::REPORT_TIME;
    }
    if o.preserve_perms && !e.is_symlink() && (st.mode ^ e.mode) & CHMOD_BITS != 0 {
        flags |= iflags::REPORT_PERMS;
    }
    if o.flist.preserve_uid && o.am_root && e.uid != st.uid {
        flags |= iflags::REPORT_OWNER;
    }
    if o.flist.preserve_gid && o.group_applies(e.gid) && e.gid != st.gid {
        flags |= iflags::REPORT_GROUP;
    }
    flags
}

/// Whether setting the entry's attributes would change something.
fn attrs_differ(o: &SessionOptions, e: &FileEntry, st: &BasisMeta) -> bool {
    let mask = iflags::REPORT_TIME | iflags::REPORT_PERMS | iflags::REPORT_OWNER;
    item_flags(o, e, Some(st), 0) & (mask | iflags::REPORT_GROUP) != 0
}

/// The same symlink target, device numbers, or (specials) the same type.
fn same_non_regular(e: &FileEntry, st: &BasisMeta) -> bool {
    if (e.mode ^ st.mode) & mode::S_IFMT != 0 {
        return false;
    }
    if e.is_symlink() {
        return st.symlink.is_some() && st.symlink.as_deref() == e.symlink();
    }
    if e.is_device() {
        return st.rdev_major == e.rdev_major() && st.rdev_minor == e.rdev_minor();
    }
    true
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Mirror {
    /// Starts job `id` (it is [`Mirror::active`] until it stops deciding).
    pub(super) fn begin(&mut self, id: u64) -> Result<(), ConstantError> {
        let ndx = ndx_of(id);
        let Some(job) = self.jobs.get(&id) else {
            self.decided(id);
            return Ok(());
        };
        let path = match &job.kind {
            Kind::Entry { entry, .. } => {
                if entry.name.is_dot() && !entry.is_dir() {
                    let msg = b"refusing to replace the transfer root".to_vec();
                    self.ack(id, STATUS_PARTIAL, msg);
                    return Ok(());
                }
                entry.name.clone()
            }
            Kind::Delete { path } | Kind::HardLink { path, .. } | Kind::DirBegin { path } => {
                path.clone()
            }
            Kind::DirEnd { path, .. } => {
                let path = path.clone();
                self.ask(id, FsRequest::ListDir { ndx, path }, Want::DirList);
                self.set_step(id, Step::Listing);
                return Ok(());
            }
            Kind::BatchEnd => return self.batch_begin(id),
        };
        // A directory stays a directory (what is beneath it stays) for `DIR_BEGIN` and a
        // directory's `ENTRY`; the other changes replace what is at the path.
        let below = match self.jobs.get(&id).map(|j| &j.kind) {
            Some(Kind::DirBegin { .. }) => false,
            Some(Kind::Entry { entry, .. }) => !entry.is_dir(),
            _ => true,
        };
        self.supersede(path.as_bytes(), below);
        let r = FsRequest::Basis {
            ndx,
            path,
            checksum: None,
        };
        self.ask(id, r, Want::Basis);
        self.set_step(id, Step::Stat);
        Ok(())
    }

    pub(super) fn set_step(&mut self, id: u64, step: Step) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.step = step;
        }
    }

    /// The `lstat` of a job's own path.
    pub(super) fn stat_answer(
        &mut self,
        id: u64,
        meta: Option<BasisMeta>,
    ) -> Result<(), ConstantError> {
        let new_name = match self.jobs.get(&id).map(|j| &j.kind) {
            Some(Kind::Entry { entry, in_tree }) if meta.is_none() && !in_tree => {
                Some(entry.name.clone())
            }
            Some(Kind::HardLink { path, .. }) if meta.is_none() => Some(path.clone()),
            _ => None,
        };
        if let Some(name) = new_name {
            if self.parents_begin(id, &name) {
                return Ok(());
            }
        }
        self.named_stat(id, meta)
    }

    /// Goes on once the parents of a new name are known to be there.
    pub(super) fn named_stat(
        &mut self,
        id: u64,
        meta: Option<BasisMeta>,
    ) -> Result<(), ConstantError> {
        match self.jobs.get(&id).map(|j| &j.kind) {
            Some(Kind::Entry { .. }) => self.entry_decide(id, meta),
            Some(Kind::Delete { .. }) => self.delete_stat(id, meta),
            Some(Kind::DirBegin { .. }) => self.dir_begin_stat(id, meta),
            Some(Kind::HardLink { target, .. }) => {
                let r = FsRequest::Basis {
                    ndx: ndx_of(id),
                    path: target.clone(),
                    checksum: None,
                };
                self.ask(id, r, Want::Basis);
                self.set_step(id, Step::LinkStat(meta));
                Ok(())
            }
            _ => Err(ConstantError::UnexpectedAnswer {
                what: "lstat for a change that did not ask",
            }),
        }
    }

    fn entry_of(&self, id: u64) -> Option<(FileEntry, bool)> {
        match self.jobs.get(&id) {
            Some(Job {
                kind: Kind::Entry { entry, in_tree },
                ..
            }) => Some((entry.clone(), *in_tree)),
            _ => None,
        }
    }

    /// Decides what an `ENTRY` needs, given what the mirror has at its name.
    pub(super) fn entry_decide(
        &mut self,
        id: u64,
        meta: Option<BasisMeta>,
    ) -> Result<(), ConstantError> {
        let Some((e, in_tree)) = self.entry_of(id) else {
            return Ok(());
        };
        let o = &self.opts;
        if e.is_dir() {
            return self.dir_entry(id, &e, meta, in_tree);
        }
        let wanted = (o.flist.preserve_links && e.is_symlink())
            || (o.am_root && o.flist.preserve_devices && e.is_device())
            || (o.flist.preserve_specials && e.is_special());
        if !e.is_regular() && !wanted {
            let text = format!(
                "skipping non-regular file \"{}\"\n",
                lossy(e.name.as_bytes())
            );
            self.log(MsgCode::Info, text);
            self.ack(id, 0, Vec::new());
            return Ok(());
        }
        if let Some(m) = meta.as_ref().filter(|m| m.is_dir()) {
            // A directory is in the way: delete it (and its content), then create.
            let _ = m;
            return self.purge_then(id, vec![(e.name.clone(), true)], Then::Entry);
        }
        if !e.is_regular() {
            return self.non_regular(id, &e, meta);
        }
        let meta = match meta {
            Some(m) if !m.is_regular() => {
                self.remove(id, e.name.clone(), false, false);
                None
            }
            m => m,
        };
        if let Some(m) = &meta {
            let o = &self.opts;
            let quick = m.size == e.size() && m.mtime == e.mtime() && m.mtime_nsec == e.mtime_nsec;
            // A racy copy (made within the timestamp granularity of its mtime) may predate a
            // same-size rewrite in the same tick: transfer it against itself (cheap when equal).
            if quick && !o.ignore_times && !m.is_racy() {
                return self.up_to_date(id, &e, m);
            }
        }
        self.transfer(id, &e, meta)
    }

    /// Current already: set the attributes that differ.
    fn up_to_date(&mut self, id: u64, e: &FileEntry, m: &BasisMeta) -> Result<(), ConstantError> {
        self.itemize(id, e, Some(m), 0, None);
        if attrs_differ(&self.opts, e, m) {
            let ndx = ndx_of(id);
            self.request(FsRequest::SetMeta {
                ndx,
                entry: e.clone(),
            });
            self.settle(id, 0, Vec::new(), Vec::new());
        } else {
            self.ack(id, 0, Vec::new());
        }
        Ok(())
    }

    fn dir_entry(
        &mut self,
        id: u64,
        e: &FileEntry,
        meta: Option<BasisMeta>,
        in_tree: bool,
    ) -> Result<(), ConstantError> {
        let ndx = ndx_of(id);
        match meta {
            Some(m) if m.is_dir() => self.up_to_date(id, e, &m),
            _ if e.name.is_dot() => {
                let msg = b"the transfer root is not a directory".to_vec();
                self.ack(id, STATUS_PARTIAL, msg);
                Ok(())
            }
            other => {
                if other.is_some() {
                    self.remove(id, e.name.clone(), false, false);
                }
                self.itemize(id, e, None, iflags::LOCAL_CHANGE, None);
                self.request(FsRequest::Mkdir {
                    ndx,
                    entry: e.clone(),
                });
                self.request(FsRequest::SetMeta {
                    ndx,
                    entry: e.clone(),
                });
                if !in_tree {
                    // RFC.md §15.7: a directory the mirror had to create needs its subtree;
                    // WANT_TREE goes out before the ACK of the same id.
                    let path = e.name.clone();
                    self.send(&MirrorRecord::WantTree { id, path });
                }
                self.settle(id, 0, Vec::new(), Vec::new());
                Ok(())
            }
        }
    }

    /// A symlink, device or special file.
    fn non_regular(
        &mut self,
        id: u64,
        e: &FileEntry,
        meta: Option<BasisMeta>,
    ) -> Result<(), ConstantError> {
        if let Some(m) = meta.as_ref().filter(|m| same_non_regular(e, m)) {
            return self.up_to_date(id, e, m);
        }
        let ndx = ndx_of(id);
        let same_type = meta
            .as_ref()
            .filter(|m| (m.mode ^ e.mode) & mode::S_IFMT == 0);
        let flags = iflags::LOCAL_CHANGE | iflags::REPORT_CHANGE;
        self.itemize(id, e, same_type, flags, None);
        let entry = e.clone();
        let create = if e.is_symlink() {
            FsRequest::Symlink { ndx, entry }
        } else {
            FsRequest::Mknod { ndx, entry }
        };
        self.request(create);
        self.request(FsRequest::SetMeta {
            ndx,
            entry: e.clone(),
        });
        self.settle(id, 0, Vec::new(), Vec::new());
        Ok(())
    }

    /// A regular file that is not current: choose the basis, ask its signature.
    fn transfer(
        &mut self,
        id: u64,
        e: &FileEntry,
        meta: Option<BasisMeta>,
    ) -> Result<(), ConstantError> {
        self.itemize(id, e, meta.as_ref(), iflags::TRANSFER, None);
        let basis = match &meta {
            Some(m) => Some((e.name.clone(), m.size)),
            None => self.rename_basis(e),
        };
        let o = &self.opts;
        let rule = SizeRule {
            protocol: u32::from(o.protocol),
            block_size: o.block_size,
            csum_length: SHORT_SUM_LENGTH,
            digest_len: o.strong.digest_len() as u32,
        };
        let head = match &basis {
            Some((_, size)) if *size > 0 && !o.whole_file => rule.sum_head(*size),
            _ => None,
        };
        match (basis, head) {
            (Some((path, _)), Some(head)) if head.count > 0 => {
                let ndx = ndx_of(id);
                let r = FsRequest::Signature {
                    ndx,
                    path: path.clone(),
                    head,
                };
                self.ask(id, r, Want::Signature);
                self.set_step(id, Step::Sig { basis: path, head });
                Ok(())
            }
            _ => self.start_data(id, None, SumHead::EMPTY),
        }
    }

    /// RFC.md §15.5: with no file at the name, a regular file whose deletion is deferred
    /// with the same size and mtime (the old name of a rename) is the basis.
    fn rename_basis(&self, e: &FileEntry) -> Option<(WirePath, u64)> {
        if e.size() == 0 {
            return None;
        }
        self.deferred
            .iter()
            .rev()
            .find_map(|d| match self.jobs.get(d) {
                Some(Job {
                    kind: Kind::Delete { path },
                    step: Step::Deferred(m),
                }) if m.size == e.size()
                    && m.mtime == e.mtime()
                    && m.mtime_nsec == e.mtime_nsec =>
                {
                    Some((path.clone(), m.size))
                }
                _ => None,
            })
    }

    /// `HARDLINK`: both `lstat`s are known.
    pub(super) fn link_answer(
        &mut self,
        id: u64,
        own: Option<BasisMeta>,
        target: Option<BasisMeta>,
    ) -> Result<(), ConstantError> {
        let Some(Kind::HardLink {
            path,
            target: tpath,
        }) = self.jobs.get(&id).map(|j| &j.kind)
        else {
            return Ok(());
        };
        let (path, tpath) = (path.clone(), tpath.clone());
        let Some(t) = target.filter(BasisMeta::is_regular) else {
            let msg = format!(
                "hard link target {} is not a regular file",
                lossy(tpath.as_bytes())
            );
            self.ack(id, STATUS_PARTIAL, msg.into_bytes());
            return Ok(());
        };
        let mut entry = FileEntry::new(path.clone(), t.mode);
        entry.set_size(t.size);
        entry.set_mtime(t.mtime);
        entry.mtime_nsec = t.mtime_nsec;
        let flags = iflags::LOCAL_CHANGE | iflags::XNAME_FOLLOWS;
        match own {
            Some(m) if m.dev == t.dev && m.ino == t.ino => {
                self.itemize(id, &entry, Some(&m), flags, Some(Vec::new()));
                self.ack(id, 0, Vec::new());
                Ok(())
            }
            Some(m) if m.is_dir() => self.purge_then(id, vec![(path, true)], Then::Link(t)),
            own => {
                let xname = Some(tpath.as_bytes().to_vec());
                self.itemize(id, &entry, own.as_ref(), flags, xname);
                self.request(FsRequest::HardLink {
                    ndx: ndx_of(id),
                    entry,
                    target: tpath,
                });
                self.settle(id, 0, Vec::new(), Vec::new());
                Ok(())
            }
        }
    }

    /// Queues an itemize event.
    pub(super) fn itemize(
        &mut self,
        id: u64,
        e: &FileEntry,
        meta: Option<&BasisMeta>,
        flags: u16,
        xname: Option<Vec<u8>>,
    ) {
        let iflags = item_flags(&self.opts, e, meta, flags);
        self.events.push_back(MirrorEvent::Itemize {
            id,
            entry: e.clone(),
            iflags,
            xname,
        });
    }
}
