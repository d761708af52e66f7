//! A mirror's deletions and directory work (RFC.md §15.6, §15.7): `DELETE` (deferred for
//! regular files until `BATCH_END`), removal of what is in the way, `DIR_BEGIN`/`DIR_END`
//! and the deletion of unnamed entries, all honouring the names the master's filter rules
//! protect.
//!
//! Without protecting rules a directory goes with one [`FsRequest::Remove`]; with them the
//! mirror lists it and removes what is not protected, depth first, keeping a directory that
//! keeps a protected name (rsync's `delete_dir_contents`).

use super::{Job, Kind, Mirror, MirrorEvent, Phase, Step, Want, SILENT_ID};
use crate::constant::config::{ndx_of, ConstantError, STATUS_PARTIAL};
use crate::constant::record::MirrorRecord;
use crate::flist::{mode, FileEntry, WirePath};
use crate::mux::MsgCode;
use crate::session::{BasisMeta, FsRequest, ListedName};

/// What follows a deletion.
#[derive(Debug)]
pub(super) enum Then {
    /// Acknowledge (`DELETE`, `DIR_END`).
    Settle,
    /// The `ENTRY` can now be created.
    Entry,
    /// The `HARDLINK` can now be made (its target's `lstat`).
    Link(BasisMeta),
}

/// One directory being emptied.
#[derive(Debug)]
struct Frame {
    path: WirePath,
    /// Its names left to do; `None` until listed.
    todo: Option<Vec<ListedName>>,
    /// A protected name stays in it.
    kept: bool,
}

/// A deletion that must look inside directories for protected names.
#[derive(Debug)]
pub(super) struct Purge {
    /// Directories still to start.
    roots: Vec<WirePath>,
    /// The directory being emptied and those above it.
    stack: Vec<Frame>,
    /// Report deletions as [`MirrorEvent::Deleted`] (not when making room).
    report: bool,
}

/// The directory holding `path`, `None` for a top-level name or `.` (the root exists).
fn parent_of(path: &WirePath) -> Option<WirePath> {
    let p = path.as_bytes();
    let i = p.iter().rposition(|&b| b == b'/')?;
    WirePath::new(p.get(..i)?.to_vec()).ok()
}

/// `dir/name` as a checked path.
fn join(dir: &[u8], name: &[u8]) -> Option<WirePath> {
    if name.is_empty() || name.contains(&b'/') || name == b"." || name == b".." {
        return None;
    }
    let mut p = if dir == b"." {
        Vec::new()
    } else {
        dir.to_vec()
    };
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    WirePath::new(p).ok()
}

fn is_dir_mode(m: u32) -> bool {
    m & mode::S_IFMT == mode::S_IFDIR
}

impl Mirror {
    /// Removes `path` (recursively for a directory) for change `id`.
    pub(super) fn remove(&mut self, id: u64, path: WirePath, is_dir: bool, report: bool) {
        if path.is_dot() {
            return;
        }
        if report {
            self.events.push_back(MirrorEvent::Deleted {
                id,
                path: path.clone(),
                is_dir,
            });
        }
        self.request(FsRequest::Remove {
            ndx: ndx_of(id),
            path,
        });
    }

    /// Deletes `targets` (path, is a directory), then goes on with `then`.
    pub(super) fn purge_then(
        &mut self,
        id: u64,
        targets: Vec<(WirePath, bool)>,
        then: Then,
    ) -> Result<(), ConstantError> {
        let report = matches!(then, Then::Settle);
        let mut p = Purge {
            roots: Vec::new(),
            stack: Vec::new(),
            report,
        };
        for (path, is_dir) in targets {
            if is_dir && self.filter.is_some() {
                p.roots.push(path);
            } else {
                self.remove(id, path, is_dir, report);
            }
        }
        self.purge_run(id, Box::new(p), then)
    }

    /// A listing for the purge of job `id`.
    pub(super) fn purge_listed(
        &mut self,
        id: u64,
        mut p: Box<Purge>,
        then: Then,
        names: Vec<ListedName>,
    ) -> Result<(), ConstantError> {
        match p.stack.last_mut() {
            Some(top) if top.todo.is_none() => top.todo = Some(names),
            _ => {
                return Err(ConstantError::UnexpectedAnswer {
                    what: "listing nobody asked for",
                })
            }
        }
        self.purge_run(id, p, then)
    }

    fn purge_run(&mut self, id: u64, mut p: Box<Purge>, then: Then) -> Result<(), ConstantError> {
        loop {
            let Some(top) = p.stack.last_mut() else {
                match p.roots.pop() {
                    Some(path) => p.stack.push(Frame {
                        path,
                        todo: None,
                        kept: false,
                    }),
                    None => return self.after_purge(id, then),
                }
                continue;
            };
            let Some(todo) = &mut top.todo else {
                let (ndx, path) = (ndx_of(id), top.path.clone());
                self.ask(id, FsRequest::ListDir { ndx, path }, Want::DirList);
                self.set_step(id, Step::Purge(p, then));
                return Ok(());
            };
            match todo.pop() {
                Some(child) => {
                    let Some(path) = join(top.path.as_bytes(), &child.name) else {
                        continue;
                    };
                    let is_dir = is_dir_mode(child.mode);
                    if self.protected(path.as_bytes(), is_dir, true) {
                        top.kept = true;
                    } else if is_dir {
                        p.stack.push(Frame {
                            path,
                            todo: None,
                            kept: false,
                        });
                    } else {
                        self.remove(id, path, false, p.report);
                    }
                }
                None => {
                    let Some(done) = p.stack.pop() else { continue };
                    if done.kept {
                        if let Some(up) = p.stack.last_mut() {
                            up.kept = true;
                        }
                        let name = String::from_utf8_lossy(done.path.as_bytes()).into_owned();
                        let text = format!("cannot delete non-empty directory: {name}\n");
                        self.log(MsgCode::Info, text);
                    } else {
                        self.remove(id, done.path, true, p.report);
                    }
                }
            }
        }
    }

    fn after_purge(&mut self, id: u64, then: Then) -> Result<(), ConstantError> {
        match then {
            Then::Settle => {
                self.settle(id, 0, Vec::new(), Vec::new());
                Ok(())
            }
            Then::Entry => self.entry_decide(id, None),
            Then::Link(t) => self.link_answer(id, None, Some(t)),
        }
    }

    /// `DELETE`: what is at the path now.
    pub(super) fn delete_stat(
        &mut self,
        id: u64,
        meta: Option<BasisMeta>,
    ) -> Result<(), ConstantError> {
        let Some(Kind::Delete { path }) = self.jobs.get(&id).map(|j| &j.kind) else {
            return Ok(());
        };
        let path = path.clone();
        if path.is_dot() {
            let msg = b"refusing to delete the transfer root".to_vec();
            self.ack(id, STATUS_PARTIAL, msg);
            return Ok(());
        }
        match meta {
            None => {
                self.ack(id, 0, Vec::new());
                Ok(())
            }
            Some(m) if m.is_regular() => {
                // RFC.md §15.6: deferred until BATCH_END, a basis meanwhile.
                self.set_step(id, Step::Deferred(m));
                self.deferred.push(id);
                self.decided(id);
                self.flush_if_full();
                Ok(())
            }
            Some(m) if m.is_dir() => self.purge_then(id, vec![(path, true)], Then::Settle),
            Some(_) => {
                self.remove(id, path, false, true);
                self.settle(id, 0, Vec::new(), Vec::new());
                Ok(())
            }
        }
    }

    /// `DIR_BEGIN D`: `D` becomes a directory (its attributes come with the `ENTRY D` the
    /// master sends after `DIR_END D`).
    pub(super) fn dir_begin_stat(
        &mut self,
        id: u64,
        meta: Option<BasisMeta>,
    ) -> Result<(), ConstantError> {
        let Some(Kind::DirBegin { path }) = self.jobs.get(&id).map(|j| &j.kind) else {
            return Ok(());
        };
        let path = path.clone();
        match meta {
            Some(m) if m.is_dir() => self.ack(id, 0, Vec::new()),
            _ if path.is_dot() => {
                let msg = b"the transfer root is not a directory".to_vec();
                self.ack(id, STATUS_PARTIAL, msg);
            }
            other => {
                if other.is_some() {
                    self.remove(id, path.clone(), false, false);
                }
                let entry = FileEntry::new(path, mode::S_IFDIR | 0o700);
                self.request(FsRequest::Mkdir {
                    ndx: ndx_of(id),
                    entry,
                });
                self.settle(id, 0, Vec::new(), Vec::new());
            }
        }
        Ok(())
    }

    /// `DIR_END D`: delete the names of `D` that were not named since `DIR_BEGIN D`.
    pub(super) fn dir_listed(
        &mut self,
        id: u64,
        listed: Vec<ListedName>,
    ) -> Result<(), ConstantError> {
        let Some(Job {
            kind: Kind::DirEnd { path, names },
            ..
        }) = self.jobs.get_mut(&id)
        else {
            return Ok(());
        };
        let (dir, seen) = (path.clone(), std::mem::take(names));
        let mut targets = Vec::new();
        for l in listed {
            if seen.contains(&l.name) {
                continue;
            }
            let Some(child) = join(dir.as_bytes(), &l.name) else {
                continue;
            };
            let is_dir = is_dir_mode(l.mode);
            if !self.protected(child.as_bytes(), is_dir, false) {
                targets.push((child, is_dir));
            }
        }
        self.purge_then(id, targets, Then::Settle)
    }

    /// `BATCH_END` (every earlier change is done but the deferred deletions): `lstat` each
    /// deferred name again.
    pub(super) fn batch_begin(&mut self, id: u64) -> Result<(), ConstantError> {
        let ids = std::mem::take(&mut self.deferred);
        let mut found = Vec::new();
        for d in ids {
            if let Some(Job {
                kind: Kind::Delete { path },
                step: Step::Deferred(m),
            }) = self.jobs.get(&d)
            {
                found.push((d, path.clone(), m.clone()));
            }
        }
        if found.is_empty() {
            self.ack(id, 0, Vec::new());
            return Ok(());
        }
        for (_, path, _) in &found {
            let r = FsRequest::Basis {
                ndx: ndx_of(id),
                path: path.clone(),
                checksum: None,
            };
            self.ask(id, r, Want::Basis);
        }
        self.set_step(id, Step::BatchStat(found, 0));
        Ok(())
    }

    /// One deferred name's `lstat`: still the file seen at `DELETE` (same inode): unlink.
    pub(super) fn batch_stat(
        &mut self,
        id: u64,
        found: Vec<(u64, WirePath, BasisMeta)>,
        answered: usize,
        meta: Option<BasisMeta>,
    ) -> Result<(), ConstantError> {
        let Some((d, path, old)) = found.get(answered) else {
            return Err(ConstantError::UnexpectedAnswer {
                what: "lstat nobody asked for",
            });
        };
        if meta.is_some_and(|m| m.is_regular() && m.dev == old.dev && m.ino == old.ino) {
            self.events.push_back(MirrorEvent::Deleted {
                id: *d,
                path: path.clone(),
                is_dir: false,
            });
            self.request(FsRequest::Remove {
                ndx: ndx_of(id),
                path: path.clone(),
            });
        }
        let answered = answered + 1;
        if answered < found.len() {
            self.set_step(id, Step::BatchStat(found, answered));
        } else {
            let with = found.into_iter().map(|(d, _, _)| d).collect();
            self.settle(id, 0, Vec::new(), with);
        }
        Ok(())
    }

    /// A new name outside a directory listing: check that its parent is a directory
    /// (`false` when it is `.`, which always is). The answer goes to
    /// [`Mirror::parent_answer`].
    pub(super) fn parents_begin(&mut self, id: u64, name: &WirePath) -> bool {
        match parent_of(name) {
            Some(parent) => {
                self.ask_lstat(id, parent.clone());
                self.set_step(id, Step::Parents(vec![parent]));
                true
            }
            None => false,
        }
    }

    fn ask_lstat(&mut self, id: u64, path: WirePath) {
        let r = FsRequest::Basis {
            ndx: ndx_of(id),
            path,
            checksum: None,
        };
        self.ask(id, r, Want::Basis);
    }

    /// RFC.md §15.5: the parents of a new name that are missing (or not directories) are
    /// created, mode `0700` until their own entries come, and the topmost is asked for as
    /// a subtree (`WANT_TREE` of this id): the source has more there than this one name.
    pub(super) fn parent_answer(
        &mut self,
        id: u64,
        mut missing: Vec<WirePath>,
        meta: Option<BasisMeta>,
    ) -> Result<(), ConstantError> {
        let Some(last) = missing.last().cloned() else {
            return self.named_stat(id, None);
        };
        match meta {
            Some(m) if m.is_dir() => {
                missing.pop();
            }
            Some(_) => self.remove(id, last.clone(), false, false),
            None => {
                if let Some(up) = parent_of(&last) {
                    self.ask_lstat(id, up.clone());
                    missing.push(up);
                    self.set_step(id, Step::Parents(missing));
                    return Ok(());
                }
            }
        }
        if let Some(top) = missing.last().cloned() {
            for dir in missing.into_iter().rev() {
                let entry = FileEntry::new(dir, mode::S_IFDIR | 0o700);
                self.request(FsRequest::Mkdir {
                    ndx: ndx_of(id),
                    entry,
                });
            }
            self.send(&MirrorRecord::WantTree { id, path: top });
            if let Some(Job {
                kind: Kind::Entry { in_tree, .. },
                ..
            }) = self.jobs.get_mut(&id)
            {
                // The subtree asked for covers the entry itself.
                *in_tree = true;
            }
        }
        self.named_stat(id, None)
    }

    /// After `BYE`, deletions still deferred are carried out as at a `BATCH_END` (of an id
    /// the master never sent, acknowledged silently). `true` if it was queued.
    pub(super) fn flush_deferred(&mut self) -> bool {
        if self.deferred.is_empty() || !self.queue.is_empty() || self.active.is_some() {
            return false;
        }
        let id = self.last_id.saturating_add(1);
        self.last_id = id;
        self.silent = Some(id);
        self.silent_before = id;
        self.jobs.insert(
            id,
            Job {
                kind: Kind::BatchEnd,
                step: Step::Queued,
            },
        );
        self.queue.push_back(id);
        true
    }

    /// When [`Mirror::flush_at`] deletions are deferred, the mirror carries them out as at a
    /// `BATCH_END` of its own, after every change received so far (RFC.md §15.6): their ids
    /// would otherwise hold the master's window until its next `BATCH_END`, which it may be
    /// unable to send. One at a time; acknowledged silently.
    pub(super) fn flush_if_full(&mut self) {
        if self.silent.is_some()
            || self.deferred.len() < self.flush_at
            || self.phase != Phase::Running
        {
            return;
        }
        self.silent = Some(SILENT_ID);
        self.silent_before = self.last_id.saturating_add(1);
        self.jobs.insert(
            SILENT_ID,
            Job {
                kind: Kind::BatchEnd,
                step: Step::Queued,
            },
        );
        self.queue.push_back(SILENT_ID);
    }
}
