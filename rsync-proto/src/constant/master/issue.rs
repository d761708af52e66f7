//! What the master sends and in which order: queued changes and subtree walks become
//! `Stat`/`ListDir` requests (slots), whose answers become records in request order, within
//! the window (RFC.md §15.4–§15.7).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use super::{Expect, Flight, Master, State};
use crate::constant::config::STATUS_PARTIAL;
use crate::constant::record::MasterRecord;
use crate::filter::Side;
use crate::flist::{mode, FileEntry, HardLink, WirePath};
use crate::session::{FsRequest, ListedName};

use super::send::FileState;

/// Most hard-link candidates remembered in one batch.
const MAX_LINKS: usize = 1 << 20;
/// Most parent directories remembered in one batch.
const MAX_PARENTS: usize = 1 << 16;
/// Most user or group ids whose names are remembered as sent.
const MAX_NAMED: usize = 1 << 16;

/// Work the daemon queued.
#[derive(Debug)]
pub(super) enum Feed {
    /// A name that may have changed.
    Change(u64, WirePath),
    /// A subtree.
    Tree(u64, WirePath),
    /// The end of a batch (then its parent directories, when configured).
    BatchEnd(u64),
    /// A parent directory of a name of the batch that just ended.
    Parent(u64, WirePath),
}

/// A subtree being walked.
#[derive(Debug)]
pub(super) struct Walk {
    change: u64,
    /// Directories still to list.
    stack: Vec<WirePath>,
    /// The same, to look names up.
    set: HashSet<Vec<u8>>,
    /// Started for a named directory whose `ENTRY` went first (`walk_named_dirs`): the
    /// mirror has the directory, so later names of the batch beneath it go out on their own
    /// (within the batch, where hard links are detected) rather than riding on the walk.
    named: bool,
}

impl Walk {
    pub(super) fn new(change: u64, root: WirePath) -> Self {
        Self {
            change,
            set: HashSet::from([root.as_bytes().to_vec()]),
            stack: vec![root],
            named: false,
        }
    }

    /// The walk of a named directory (see [`Walk::named`]).
    fn of_named(change: u64, root: WirePath) -> Self {
        Self {
            named: true,
            ..Self::new(change, root)
        }
    }

    fn push(&mut self, dir: WirePath) {
        self.set.insert(dir.as_bytes().to_vec());
        self.stack.push(dir);
    }

    fn pop(&mut self) -> Option<WirePath> {
        let dir = self.stack.pop()?;
        self.set.remove(dir.as_bytes());
        Some(dir)
    }
}

/// The directory of a walk that is being sent.
#[derive(Debug)]
pub(super) enum Open {
    None,
    /// The listing of this directory is awaited.
    Listing(WirePath),
    /// `DIR_BEGIN` is out (or queued); these names remain.
    Dir(Box<DirWork>),
}

#[derive(Debug)]
pub(super) struct DirWork {
    change: u64,
    dir: WirePath,
    names: VecDeque<ListedName>,
    subdirs: Vec<WirePath>,
    /// Every directory in it (the walk will list them).
    dirs: HashSet<Vec<u8>>,
}

/// An answer to a `Stat` or a `ListDir`.
#[derive(Debug)]
pub(in crate::constant) enum Got {
    /// `Stat`: the entry, `None` when absent.
    Entry(Option<FileEntry>),
    /// `ListDir`: the names.
    List(Vec<ListedName>),
    /// Either: the path is there but could not be read (the executor's message).
    Unreadable(Vec<u8>),
}

/// Why a path is `Stat`ed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// A queued change: missing means `DELETE`.
    Feed,
    /// A name of a directory being walked: missing means nothing (`DIR_END` deletes it).
    Child,
    /// A walked directory's own attributes, after its `DIR_END`.
    DirSelf,
    /// The root of a subtree: a directory starts a walk.
    TreeRoot,
    /// A parent directory at the end of a batch.
    Parent,
    /// A directory of a walk, just before its listing: is it still a directory?
    WalkDir,
    /// A walk's directory that is no longer one: its state is sent as for a change (the
    /// changes riding on the walk for it depend on that).
    Vanished,
}

/// A request whose answer becomes a record, or a record waiting for earlier ones.
#[derive(Debug)]
pub(super) enum Slot {
    Stat {
        change: u64,
        ndx: i32,
        path: WirePath,
        purpose: Purpose,
        /// The entry (`None`: absent), or why it could not be read.
        answer: Option<Result<Option<FileEntry>, Vec<u8>>>,
    },
    List {
        change: u64,
        ndx: i32,
        dir: WirePath,
        /// The names, or why the directory could not be read.
        answer: Option<Result<Vec<ListedName>, Vec<u8>>>,
        /// The directory is gone (or no longer one): nothing is sent for it.
        gone: bool,
    },
    DirEnd {
        change: u64,
        dir: WirePath,
    },
    BatchEnd {
        change: u64,
    },
}

impl Slot {
    fn ready(&self) -> bool {
        match self {
            Self::Stat { answer, .. } => answer.is_some(),
            Self::List { answer, .. } => answer.is_some(),
            Self::DirEnd { .. } | Self::BatchEnd { .. } => true,
        }
    }

    fn change(&self) -> u64 {
        match self {
            Self::Stat { change, .. }
            | Self::List { change, .. }
            | Self::DirEnd { change, .. }
            | Self::BatchEnd { change } => *change,
        }
    }
}

/// What a batch remembers: hard-link candidates and parent directories.
#[derive(Debug, Default)]
pub(super) struct Batch {
    links: HashMap<(i64, i64), WirePath>,
    parents: BTreeSet<WirePath>,
}

/// The directory holding `path`, `None` for `.`.
fn parent_of(path: &WirePath) -> Option<WirePath> {
    let p = path.as_bytes();
    if p == b"." {
        return None;
    }
    match p.iter().rposition(|&b| b == b'/') {
        Some(i) => WirePath::new(p.get(..i)?.to_vec()).ok(),
        None => WirePath::new(b".".to_vec()).ok(),
    }
}

fn child_of(dir: &WirePath, name: &[u8]) -> Option<WirePath> {
    if name.is_empty() || name.contains(&b'/') || name == b"." || name == b".." {
        return None;
    }
    let mut p = if dir.is_dot() {
        Vec::new()
    } else {
        let mut d = dir.as_bytes().to_vec();
        d.push(b'/');
        d
    };
    p.extend_from_slice(name);
    WirePath::new(p).ok()
}

impl Master {
    fn room(&self) -> usize {
        (self.window as usize).saturating_sub(self.flights.len() + self.slots.len())
    }

    fn next_ndx(&mut self) -> i32 {
        self.next_ndx = if self.next_ndx == i32::MAX {
            0
        } else {
            self.next_ndx + 1
        };
        self.next_ndx
    }

    fn stat(&mut self, change: u64, path: WirePath, purpose: Purpose) {
        let ndx = self.next_ndx();
        self.hold(change);
        self.requests.push_back(FsRequest::Stat {
            ndx,
            path: path.clone(),
        });
        self.expect.push_back(Expect::Slot);
        self.slots.push_back(Slot::Stat {
            change,
            ndx,
            path,
            purpose,
            answer: None,
        });
    }

    /// Issues requests while the window has room, then starts reads; sends `BYE` when all
    /// is done after [`Master::close`].
    pub(super) fn pump(&mut self) {
        if self.phase == super::Phase::Running {
            while self.room() > 0 && self.issue_one() {
                // Markers (DIR_END, BATCH_END) at the front go out at once.
                self.drain();
            }
        }
        if self.phase != super::Phase::Done {
            // After BYE, files in flight are still sent (their SUMS may come late).
            self.start_read();
        }
        self.maybe_bye();
    }

    /// One step of issuing; `false` when nothing can be issued now.
    fn issue_one(&mut self) -> bool {
        match &mut self.open {
            Open::Listing(_) => false,
            Open::Dir(d) => {
                if let Some(l) = d.names.pop_front() {
                    let (change, dir) = (d.change, d.dir.clone());
                    let Some(path) = child_of(&dir, &l.name) else {
                        return true;
                    };
                    let is_dir = l.mode & mode::S_IFMT == mode::S_IFDIR;
                    let hidden = self
                        .filter
                        .as_ref()
                        .is_some_and(|f| f.excluded(path.as_bytes(), is_dir, Side::Sender));
                    if hidden {
                        return true;
                    }
                    if is_dir {
                        if let Open::Dir(d) = &mut self.open {
                            d.subdirs.push(path.clone());
                        }
                    }
                    self.stat(change, path, Purpose::Child);
                    return true;
                }
                if self.room() < 2 {
                    return false;
                }
                let Open::Dir(d) = std::mem::replace(&mut self.open, Open::None) else {
                    return false;
                };
                let DirWork {
                    change,
                    dir,
                    mut subdirs,
                    ..
                } = *d;
                self.hold(change);
                self.slots.push_back(Slot::DirEnd {
                    change,
                    dir: dir.clone(),
                });
                self.stat(change, dir, Purpose::DirSelf);
                if let Some(w) = self.walks.front_mut() {
                    subdirs.reverse();
                    for d in subdirs {
                        w.push(d);
                    }
                }
                true
            }
            Open::None => {
                let walk_turn = !self.walks.is_empty()
                    && (self.feed.is_empty() || self.turn >= self.window as usize);
                if walk_turn {
                    self.turn = 0;
                    return self.walk_step();
                }
                match self.feed.pop_front() {
                    Some(item) => {
                        self.turn += 1;
                        self.start_feed(item);
                        true
                    }
                    None => false,
                }
            }
        }
    }

    /// The next directory of the current walk (or its end).
    fn walk_step(&mut self) -> bool {
        let Some(w) = self.walks.front_mut() else {
            return false;
        };
        let change = w.change;
        match w.pop() {
            Some(dir) => {
                // A directory that vanished (or changed type) since it was listed is not
                // walked: DIR_BEGIN would recreate it.
                self.stat(change, dir.clone(), Purpose::WalkDir);
                let ndx = self.next_ndx();
                self.hold(change);
                self.requests.push_back(FsRequest::ListDir {
                    ndx,
                    path: dir.clone(),
                });
                self.expect.push_back(Expect::Slot);
                self.slots.push_back(Slot::List {
                    change,
                    ndx,
                    dir: dir.clone(),
                    answer: None,
                    gone: false,
                });
                self.open = Open::Listing(dir);
            }
            None => {
                self.walks.pop_front();
                self.release(change, 0, &[]);
            }
        }
        true
    }

    fn start_feed(&mut self, item: Feed) {
        match item {
            Feed::Change(c, path) => {
                if self.cfg.parent_times && self.batch.parents.len() < MAX_PARENTS {
                    if let Some(p) = parent_of(&path) {
                        self.batch.parents.insert(p);
                    }
                }
                self.stat(c, path, Purpose::Feed);
                self.release(c, 0, &[]);
            }
            Feed::Tree(c, path) => {
                self.stat(c, path, Purpose::TreeRoot);
                self.release(c, 0, &[]);
            }
            Feed::BatchEnd(change) => {
                // Parent directories go after BATCH_END, whose deferred deletions change
                // their times too.
                self.slots.push_back(Slot::BatchEnd { change });
                let parents = std::mem::take(&mut self.batch.parents);
                for p in parents.into_iter().rev() {
                    self.hold(change);
                    self.feed.push_front(Feed::Parent(change, p));
                }
            }
            Feed::Parent(c, path) => {
                self.stat(c, path, Purpose::Parent);
                self.release(c, 0, &[]);
            }
        }
    }

    /// A `Stat` or `ListDir` answer for the first unanswered slot.
    pub(super) fn slot_answer(
        &mut self,
        got: i32,
        a: Got,
    ) -> Result<(), crate::constant::ConstantError> {
        let slot = self.slots.iter_mut().find(|s| !s.ready());
        let fits = match (slot, a) {
            (Some(Slot::Stat { ndx, answer, .. }), Got::Entry(e)) if *ndx == got => {
                *answer = Some(Ok(e));
                true
            }
            (Some(Slot::List { ndx, answer, .. }), Got::List(names)) if *ndx == got => {
                *answer = Some(Ok(names));
                true
            }
            (
                Some(Slot::Stat {
                    ndx,
                    purpose: Purpose::Child,
                    ..
                }),
                Got::Unreadable(message),
            ) if *ndx == got => {
                // DIR_BEGIN is out and DIR_END must follow, which would delete the name.
                return Err(crate::constant::ConstantError::Unreadable { message });
            }
            (Some(Slot::Stat { ndx, answer, .. }), Got::Unreadable(e)) if *ndx == got => {
                *answer = Some(Err(e));
                true
            }
            (Some(Slot::List { ndx, answer, .. }), Got::Unreadable(e)) if *ndx == got => {
                *answer = Some(Err(e));
                true
            }
            _ => false,
        };
        if !fits {
            return Err(crate::constant::ConstantError::UnexpectedAnswer {
                what: "not the answer to the oldest request",
            });
        }
        self.drain();
        Ok(())
    }

    /// Sends the records of the slots at the front that are ready.
    pub(super) fn drain(&mut self) {
        while self.slots.front().is_some_and(Slot::ready) {
            let Some(slot) = self.slots.pop_front() else {
                break;
            };
            let change = slot.change();
            let mut failed = None;
            match slot {
                Slot::Stat {
                    path,
                    purpose,
                    answer: Some(Err(e)),
                    ..
                } => {
                    self.stat_unreadable(change, path, purpose);
                    failed = Some(e);
                }
                Slot::Stat {
                    path,
                    purpose,
                    answer,
                    ..
                } => self.stat_done(change, path, purpose, answer.and_then(Result::ok).flatten()),
                Slot::List { gone: true, .. } => self.open = Open::None,
                Slot::List {
                    dir,
                    answer: Some(Err(e)),
                    ..
                } => {
                    // No DIR_BEGIN/DIR_END: nothing in it is deleted; its subtree is skipped.
                    self.open = Open::None;
                    self.note_unread(change, dir);
                    failed = Some(e);
                }
                Slot::List { dir, answer, .. } => {
                    let names = answer.and_then(Result::ok).unwrap_or_default();
                    self.dir_begin(change, dir, names)
                }
                Slot::DirEnd { dir, .. } => {
                    let id = self.emit(change, Some(dir.clone()), State::Plain);
                    self.send(&MasterRecord::DirEnd { id, path: dir });
                }
                Slot::BatchEnd { .. } => {
                    let id = self.emit(change, None, State::Plain);
                    self.send(&MasterRecord::BatchEnd { id });
                    self.batch.links.clear();
                }
            }
            match failed {
                Some(e) => self.release(change, STATUS_PARTIAL, &e),
                None => self.release(change, 0, &[]),
            }
        }
    }

    /// A `Stat` answered [`Got::Unreadable`]: nothing is sent for the path (the mirror keeps
    /// its copy); the caller fails the change with status 23. A walk's directory is not
    /// listed.
    fn stat_unreadable(&mut self, change: u64, path: WirePath, purpose: Purpose) {
        if matches!(purpose, Purpose::WalkDir | Purpose::TreeRoot) {
            if purpose == Purpose::WalkDir {
                if let Some(Slot::List { gone, .. }) = self.slots.front_mut() {
                    *gone = true;
                }
            }
            self.note_unread(change, path);
        }
    }

    /// Remembers that `dir` of `change`'s walk could not be read: the changes riding on
    /// the walk beneath it fail with it.
    fn note_unread(&mut self, change: u64, dir: WirePath) {
        if let Some(c) = self.changes.get_mut(&change) {
            if c.unread.len() < super::MAX_UNREAD {
                c.unread.push(dir);
            } else {
                c.unread_full = true;
            }
        }
    }

    /// A new id for a record of `change`.
    fn emit(&mut self, change: u64, path: Option<WirePath>, state: State) -> u64 {
        self.last_id += 1;
        self.hold(change);
        let f = Flight {
            change,
            path,
            state,
            wanted: false,
            walked: false,
        };
        self.flights.insert(self.last_id, f);
        self.last_id
    }

    /// The walk that will list `path` or a directory above it, if any: its change. For a
    /// name of the feed (`feed`), walks of named directories do not count.
    pub(super) fn covering_walk(&self, path: &WirePath, feed: bool) -> Option<u64> {
        let p = path.as_bytes();
        let mut dirs = vec![p];
        let cuts = p.iter().enumerate().filter(|(_, &b)| b == b'/');
        dirs.extend(cuts.filter_map(|(i, _)| p.get(..i)));
        dirs.push(b".");
        let open = match &self.open {
            Open::Listing(d) => Some((d.as_bytes(), None)),
            Open::Dir(w) => Some((w.dir.as_bytes(), Some(&w.dirs))),
            Open::None => None,
        };
        let front = self
            .walks
            .front()
            .filter(|w| !(feed && w.named))
            .map(|w| w.change);
        for d in dirs {
            let counts = |w: &&Walk| !(feed && w.named) && w.set.contains(d);
            if let Some(w) = self.walks.iter().find(counts) {
                return Some(w.change);
            }
            if let (Some((listing, inside)), Some(_)) = (open, front) {
                if d == listing || inside.is_some_and(|s| s.contains(d)) {
                    return front;
                }
            }
        }
        None
    }

    /// RFC.md §15.10: a change beneath a directory that a walk has yet to list rides on
    /// that walk (the walk reads its state later) and is acknowledged with it: its record
    /// would reach the mirror before the directory does.
    pub(super) fn ride(&mut self, change: u64, path: &WirePath, feed: bool) -> bool {
        let Some(walk) = self.covering_walk(path, feed).filter(|&w| w != change) else {
            return false;
        };
        let Some(w) = self.changes.get_mut(&walk) else {
            return false;
        };
        w.riders.push((change, path.clone()));
        self.hold(change);
        true
    }

    fn stat_done(&mut self, change: u64, path: WirePath, purpose: Purpose, e: Option<FileEntry>) {
        if purpose == Purpose::WalkDir {
            if !e.as_ref().is_some_and(|e| e.is_dir() && e.name == path) {
                if let Some(Slot::List { gone, .. }) = self.slots.front_mut() {
                    *gone = true;
                }
                self.stat_done(change, path, Purpose::Vanished, e);
            }
            return;
        }
        if matches!(purpose, Purpose::Feed) && e.is_none() && self.ride(change, &path, true) {
            return;
        }
        let Some(e) = e else {
            let hidden = self.filter.as_ref().is_some_and(|f| {
                let p = path.as_bytes();
                f.excluded(p, false, Side::Sender) || f.excluded(p, true, Side::Sender)
            });
            if matches!(
                purpose,
                Purpose::Feed | Purpose::TreeRoot | Purpose::DirSelf | Purpose::Vanished
            ) && !hidden
                && !path.is_dot()
            {
                let id = self.emit(change, Some(path.clone()), State::Plain);
                self.send(&MasterRecord::Delete { id, path });
            }
            return;
        };
        if e.name != path {
            // The executor described another path: treat the answer as missing data.
            return;
        }
        let hidden = self.filter.as_ref().is_some_and(|f| {
            !path.is_dot() && f.excluded(path.as_bytes(), e.is_dir(), Side::Sender)
        });
        if hidden {
            return;
        }
        match purpose {
            Purpose::Feed | Purpose::Parent | Purpose::TreeRoot
                if self.ride(change, &path, true) => {}
            Purpose::TreeRoot if e.is_dir() => {
                self.hold(change);
                self.walks.push_back(Walk::new(change, path));
            }
            // A named directory brings its subtree (`walk_named_dirs`): what was added,
            // changed or removed inside it (a directory swapped by a rename has new content
            // that nobody names). Its `ENTRY` first, in the batch's order (a `WANT_TREE` for
            // it, when the mirror creates it, finds this walk and adds nothing).
            Purpose::Feed if e.is_dir() && self.cfg.walk_named_dirs => {
                let id = self.entry(change, e);
                if let Some(f) = self.flights.get_mut(&id) {
                    f.walked = true;
                }
                self.hold(change);
                self.walks.push_back(Walk::of_named(change, path));
            }
            Purpose::Parent if !e.is_dir() => {}
            _ => {
                self.entry(change, e);
            }
        }
    }

    /// `ENTRY` (or `HARDLINK` for a second name of an inode in this batch); its id.
    fn entry(&mut self, change: u64, mut e: FileEntry) -> u64 {
        let devino = e.hardlink();
        e.set_hardlink(None);
        e.set_checksum(None);
        e.set_top_dir(false);
        e.set_no_content_dir(false);
        if self.opts.flist.preserve_hard_links && e.is_regular() {
            if let Some(HardLink::DevIno { dev, ino }) = devino {
                match self.batch.links.get(&(dev, ino)) {
                    Some(target) if *target != e.name => {
                        let target = target.clone();
                        let id = self.emit(change, Some(e.name.clone()), State::Plain);
                        let path = e.name;
                        self.send(&MasterRecord::HardLink { id, path, target });
                        return id;
                    }
                    Some(_) => {}
                    None if self.batch.links.len() < MAX_LINKS => {
                        self.batch.links.insert((dev, ino), e.name.clone());
                    }
                    None => {}
                }
            }
        }
        if !self.ctx.flist.numeric_ids {
            if !keep_name(&mut self.named_uids, e.uid, e.user_name().is_some()) {
                e.set_user_name(None);
            }
            if !keep_name(&mut self.named_gids, e.gid, e.group_name().is_some()) {
                e.set_group_name(None);
            }
        }
        let state = if e.is_regular() {
            State::File(FileState::AwaitSums)
        } else if e.is_dir() {
            State::Dir
        } else {
            State::Plain
        };
        let id = self.emit(change, Some(e.name.clone()), state);
        self.send(&MasterRecord::Entry { id, entry: e });
        id
    }

    /// `DIR_BEGIN`: the listing is in; its names are `Stat`ed next.
    fn dir_begin(&mut self, change: u64, dir: WirePath, mut names: Vec<ListedName>) {
        let id = self.emit(change, Some(dir.clone()), State::Plain);
        self.send(&MasterRecord::DirBegin {
            id,
            path: dir.clone(),
        });
        names.sort_by(|a, b| a.name.cmp(&b.name));
        names.dedup_by(|a, b| a.name == b.name);
        let dirs = names
            .iter()
            .filter(|l| l.mode & mode::S_IFMT == mode::S_IFDIR)
            .filter_map(|l| child_of(&dir, &l.name))
            .map(WirePath::into_bytes)
            .collect();
        // The walk's own reference keeps the change open until its last directory.
        self.open = Open::Dir(Box::new(DirWork {
            change,
            dir,
            names: names.into(),
            subdirs: Vec::new(),
            dirs,
        }));
    }
}

/// Whether an entry keeps its owner or group name: names travel the first time an id appears
/// in the session (RFC.md §15.3).
fn keep_name(sent: &mut std::collections::HashSet<u32>, id: u32, has_name: bool) -> bool {
    if !has_name {
        return true;
    }
    if sent.contains(&id) {
        return false;
    }
    if sent.len() < MAX_NAMED {
        sent.insert(id);
    }
    true
}
