//! [`ReceiverFs`]: a receiver's file-system requests on a [`Destination`], every path
//! resolved beneath the destination handle, files written to a temporary name and renamed
//! (with `--inplace`: into the destination file itself, see [`ReceiverFs::begin`]).

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rsync_core::checksum::StrongSum;
use rsync_proto::driver::{Executor, ExecutorError, ListSummary};
use rsync_proto::flist::{mode, FileEntry, IdList, WirePath};
use rsync_proto::session::{BasisMeta, FsAnswer, FsRequest, ListedName};

mod constant;
mod incoming;

use super::basis::hash_file;
use super::writer::{apply_tolerant, Job, Writer};
use super::{kind_bits, report, Failures, Role};
use crate::fs::Special;
use crate::fs::{walk, Attrs, Destination, FileKind, FsError, Meta, Mtime, RelPath};
use constant::ConstantState;
use incoming::Incoming;

/// Most user or group names whose local id is remembered (a long-lived mirror sees names
/// without end; the cache starts over when full).
const ID_CACHE: usize = 4096;

/// The local id of `name`, looked up once (while the cache has room).
fn cached_id(
    cache: &mut HashMap<Vec<u8>, Option<u32>>,
    name: &[u8],
    lookup: fn(&[u8]) -> Option<u32>,
) -> Option<u32> {
    if let Some(id) = cache.get(name) {
        return *id;
    }
    if cache.len() >= ID_CACHE {
        cache.clear();
    }
    let id = lookup(name);
    cache.insert(name.to_vec(), id);
    id
}

/// What the receiver preserves and how it behaves (from the command line).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ReceiverOptions {
    /// `-p`.
    pub perms: bool,
    /// `-t`.
    pub times: bool,
    /// `-o` (effective only as root, as in rsync).
    pub owner: bool,
    /// `-g`.
    pub group: bool,
    /// `--numeric-ids`: never map names.
    pub numeric_ids: bool,
    /// `-n`: change nothing.
    pub dry_run: bool,
    /// `--partial`: keep a partly received file when the run is interrupted.
    pub partial: bool,
    /// The process umask, applied to new entries without `-p`.
    pub umask: u32,
    /// Running as root (ownership can be set).
    pub am_root: bool,
    /// `-c`: an up-to-date file's time is compared to the nanosecond before it is set
    /// (rsync's `ATTRS_ACCURATE_TIME`).
    pub checksum: bool,
    /// `--inplace`: files are updated where they are (same inode), not replaced.
    pub inplace: bool,
    /// rsync's `INFO_GTE(NAME, 1) || stdout_format_has_i` (`-v` or `-i`; on a server `v`
    /// letters or `--log-format=%i`): say `created directory DEST` when the destination is
    /// made.
    pub names: bool,
}

/// The receiver's executor.
pub struct ReceiverFs {
    dest_path: PathBuf,
    dest: Option<Arc<Destination>>,
    /// Writes files on a thread of its own (started with the first file).
    writer: Option<Writer>,
    /// `(wire name, local name)` when the destination operand names the single file.
    single: Option<(Vec<u8>, RelPath)>,
    strong: StrongSum,
    opts: ReceiverOptions,
    failures: Failures,
    /// The files being received (one in a session; up to `max_open` in a constant mirror).
    incoming: Vec<Incoming>,
    uid_cache: HashMap<Vec<u8>, Option<u32>>,
    gid_cache: HashMap<Vec<u8>, Option<u32>>,
    /// A constant mirror's state (RFC.md §15.5–§15.8), `None` in a session.
    constant: Option<ConstantState>,
    /// The index of the request being executed (its failures are recorded under it for the
    /// next [`FsRequest::Settle`]).
    cur_ndx: Option<i32>,
    /// Indexes whose [`FsRequest::Basis`] found nothing: the generator then asked for the
    /// whole file, so [`FsRequest::BeginFile`] need not look for a basis again.
    absent: HashSet<i32>,
    /// The destination could not be opened or made: returned by the next request.
    dest_error: Option<ExecutorError>,
    /// The destination directory was made for this run (rsync's `FLAG_DIR_CREATED`).
    pub created_dest: bool,
    /// Info lines for the user ([`Executor::take_info`]).
    info: Vec<Vec<u8>>,
}

/// Indexes a constant mirror remembers as absent between their `Basis` and their `Settle`
/// (more than the changes it has in flight).
const MAX_ABSENT: usize = 4096;

/// Leaves out of `attrs` the ownership and mode `existing` already has, as rsync's
/// `set_file_attrs` does: a directory whose only change is the mtime a new entry gave it
/// (every change in a constant mirror's busy directory) costs one `futimens`, not a
/// `fchown` and a `fchmod` too. A `chown` clears set-uid and set-gid bits, so the mode
/// is kept whenever the ownership changes.
fn keep_unchanged(attrs: &mut Attrs, existing: &Meta) {
    if attrs.uid == Some(existing.uid) {
        attrs.uid = None;
    }
    if attrs.gid == Some(existing.gid) {
        attrs.gid = None;
    }
    if attrs.uid.is_none() && attrs.gid.is_none() && attrs.mode == Some(existing.mode) {
        attrs.mode = None;
    }
}

fn fs_fail(e: &FsError) -> String {
    e.to_string()
}

impl ReceiverFs {
    /// A receiver writing beneath the operator's destination path `dest` (created when
    /// missing and the file list calls for a directory, like rsync).
    pub fn new(
        dest: PathBuf,
        strong: StrongSum,
        opts: ReceiverOptions,
        failures: Failures,
    ) -> Self {
        Self {
            dest_path: dest,
            dest: None,
            writer: None,
            single: None,
            strong,
            opts,
            failures,
            incoming: Vec::new(),
            uid_cache: HashMap::new(),
            gid_cache: HashMap::new(),
            constant: None,
            cur_ndx: None,
            absent: HashSet::new(),
            dest_error: None,
            created_dest: false,
            info: Vec::new(),
        }
    }

    fn fail(&self, msg: &str) {
        report(Role::Receiver, msg);
        self.failures.error();
        if let (Some(c), Some(ndx)) = (&self.constant, self.cur_ndx) {
            c.log.record(ndx, msg);
        }
    }

    /// Opens (or creates) the destination, deciding like rsync's `get_local_name` whether
    /// the operand names the single file of the list or a directory.
    fn open_dest(&mut self, summary: &ListSummary) -> Result<(), ExecutorError> {
        let path = self.dest_path.clone();
        let trailing_slash = path.as_os_str().as_bytes().ends_with(b"/");
        let is_dir = std::fs::metadata(&path).map(|m| m.is_dir());
        let single_file = summary.only.as_ref().filter(|e| !e.is_dir());
        match (is_dir, single_file) {
            (Ok(true), _) => {}
            (Ok(false), Some(e)) | (Err(_), Some(e)) if !trailing_slash => {
                let name = path.file_name().map(|n| n.as_bytes().to_vec());
                let local = name
                    .as_deref()
                    .and_then(|n| RelPath::new(n).ok())
                    .ok_or_else(|| ExecutorError::new(3, format!("bad destination {path:?}")))?;
                self.single = Some((e.name.as_bytes().to_vec(), local));
                let parent = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                return self.open_root(&parent);
            }
            (Ok(false), _) => {
                return Err(ExecutorError::new(
                    3,
                    "ERROR: destination must be a directory when copying more than 1 file",
                ))
            }
            (Err(_), _) => {
                if !self.opts.dry_run {
                    std::fs::create_dir(&path).map_err(|e| {
                        ExecutorError::new(11, format!("mkdir {} failed: {e}", path.display()))
                    })?;
                }
                self.created_dest = true;
                if self.opts.names && (summary.count > 1 || trailing_slash) {
                    // main.c get_local_name: the operand without its final slash.
                    let shown = path.as_os_str().as_bytes();
                    let shown = shown.strip_suffix(b"/").unwrap_or(shown);
                    let line = [&b"created directory "[..], shown, b"\n"].concat();
                    self.info.push(line);
                }
                if self.opts.dry_run {
                    return Ok(());
                }
            }
        }
        self.open_root(&path)
    }

    fn open_root(&mut self, path: &Path) -> Result<(), ExecutorError> {
        match Destination::open(path) {
            Ok(d) => {
                self.dest = Some(Arc::new(d));
                Ok(())
            }
            Err(e) if self.opts.dry_run => {
                let _ = e;
                Ok(())
            }
            Err(e) => Err(ExecutorError::new(11, fs_fail(&e))),
        }
    }

    /// The local path of a wire name; `None` for the transfer root `.`.
    fn local(&self, name: &WirePath) -> Result<Option<RelPath>, String> {
        if let Some((wire, local)) = &self.single {
            if wire == name.as_bytes() {
                return Ok(Some(local.clone()));
            }
        }
        if name.is_dot() {
            return Ok(None);
        }
        RelPath::new(name.as_bytes())
            .map(Some)
            .map_err(|e| format!("bad name {:?}: {e}", name_str(name.as_bytes())))
    }

    fn lstat(&self, rel: Option<&RelPath>) -> Result<Option<Meta>, FsError> {
        let Some(dest) = &self.dest else {
            return Ok(None);
        };
        match rel {
            Some(r) => dest.try_lstat(r),
            None => rustix::fs::fstat(dest.dir_fd())
                .map(|st| Some(Meta::from_stat(&st)))
                .map_err(|e| FsError::io(crate::fs::Op::Lstat, ".", e)),
        }
    }

    fn basis_meta(&mut self, ndx: i32, path: &WirePath, checksum: Option<StrongSum>) -> FsAnswer {
        let mut answer = self.basis_answer(ndx, path, checksum);
        if let FsAnswer::Basis { meta: Some(m), .. } = &answer {
            if self.busy_in_place(m.dev, m.ino) {
                // A hard link of a file being written in place: as it is once written.
                answer = self.basis_answer(ndx, path, checksum);
            }
        }
        // A constant mirror asks about many names it never receives: its set is bounded
        // (an index leaves it at its `Settle`), and `BeginFile` of an index it forgot
        // looks for the basis itself.
        if let FsAnswer::Basis { meta: None, .. } = &answer {
            if self.constant.is_some() && self.absent.len() >= MAX_ABSENT {
                self.absent.clear();
            }
            self.absent.insert(ndx);
        }
        answer
    }

    fn basis_answer(&self, ndx: i32, path: &WirePath, checksum: Option<StrongSum>) -> FsAnswer {
        let rel = match self.local(path) {
            Ok(r) => r,
            Err(msg) => {
                self.fail(&msg);
                return FsAnswer::Basis { ndx, meta: None };
            }
        };
        if rel.is_none() && self.created_dest && ndx == 0 && self.constant.is_none() {
            // rsync's FLAG_DIR_CREATED: the destination directory was made for this run,
            // so the generator treats `.` as new (`cd+++++++++ ./`) and sets its metadata.
            // rsync marks the first entry of the sorted list, which is `.` except when a
            // name sorts before it (protocol < 29 sorts ` x` and `\nx` first): then `.`
            // shows as existing, and so it does here.
            return FsAnswer::Basis { ndx, meta: None };
        }
        let meta = match self.lstat(rel.as_ref()) {
            Ok(Some(m)) => m,
            Ok(None) => return FsAnswer::Basis { ndx, meta: None },
            // A missing parent (a new directory, or none at all with -n) means no entry.
            Err(e)
                if e.errno().is_some_and(|n| {
                    n == rustix::io::Errno::NOENT.raw_os_error()
                        || n == rustix::io::Errno::NOTDIR.raw_os_error()
                }) =>
            {
                return FsAnswer::Basis { ndx, meta: None }
            }
            Err(e) => {
                self.fail(&format!("recv_generator: failed to stat {}", fs_fail(&e)));
                return FsAnswer::Basis { ndx, meta: None };
            }
        };
        let mut b = BasisMeta::new(kind_bits(meta.kind) | meta.mode, meta.size, meta.mtime_sec);
        b.mtime_nsec = meta.mtime_nsec;
        b.uid = meta.uid;
        b.gid = meta.gid;
        b.dev = meta.dev;
        b.ino = meta.ino;
        b.ctime = meta.ctime_sec;
        b.ctime_nsec = meta.ctime_nsec;
        b.rdev_major = rustix::fs::major(meta.rdev);
        b.rdev_minor = rustix::fs::minor(meta.rdev);
        if let (Some(dest), Some(rel)) = (&self.dest, &rel) {
            if meta.kind == FileKind::Symlink {
                b.symlink = dest.read_link(rel).ok();
            }
            if let (Some(sum), FileKind::File) = (checksum, meta.kind) {
                b.checksum = dest
                    .open_basis(rel)
                    .and_then(|f| hash_file(&f, sum))
                    .map_err(|e| self.fail(&fs_fail(&e)))
                    .ok();
            }
        }
        FsAnswer::Basis { ndx, meta: Some(b) }
    }

    /// The mode bits a new or updated entry gets: the sender's with `-p`, else the
    /// sender's masked with the umask (rsync's `dest_mode` for new entries).
    fn perms_for(&self, entry: &FileEntry, existing: Option<&Meta>) -> u32 {
        let src = entry.mode & 0o7777;
        if self.opts.perms {
            src
        } else if let Some(m) = existing.filter(|m| m.kind == FileKind::File) {
            m.mode
        } else {
            src & !self.opts.umask & 0o7777
        }
    }

    fn owner_of(&mut self, entry: &FileEntry) -> (Option<u32>, Option<u32>) {
        let uid = (self.opts.owner && self.opts.am_root).then(|| {
            match (entry.user_name(), self.opts.numeric_ids || entry.uid == 0) {
                (Some(name), false) => {
                    cached_id(&mut self.uid_cache, name, super::user_id).unwrap_or(entry.uid)
                }
                _ => entry.uid,
            }
        });
        let gid = self.opts.group.then(|| {
            match (entry.group_name(), self.opts.numeric_ids || entry.gid == 0) {
                (Some(name), false) => {
                    cached_id(&mut self.gid_cache, name, super::group_id).unwrap_or(entry.gid)
                }
                _ => entry.gid,
            }
        });
        (uid, gid)
    }

    fn attrs(&mut self, entry: &FileEntry, existing: Option<&Meta>) -> Attrs {
        let (uid, gid) = self.owner_of(entry);
        Attrs {
            mode: Some(self.perms_for(entry, existing)),
            mtime: self.opts.times.then_some(Mtime {
                sec: entry.mtime(),
                nsec: entry.mtime_nsec,
            }),
            uid,
            gid,
        }
    }

    fn mkdir(&mut self, entry: &FileEntry) -> Result<(), String> {
        let Some(rel) = self.local(&entry.name)? else {
            return Ok(());
        };
        let Some(dest) = &self.dest else {
            return Ok(());
        };
        match dest.try_lstat(&rel).map_err(|e| fs_fail(&e))? {
            Some(m) if m.kind == FileKind::Dir => return Ok(()),
            Some(_) => dest.remove(&rel).map_err(|e| fs_fail(&e))?,
            None => {}
        }
        let m = self.perms_for(entry, None) | 0o700;
        dest.mkdir(&rel, m).map_err(|e| fs_fail(&e))
    }

    fn replace_dir_if_any(&self, rel: &RelPath) -> Result<(), String> {
        let Some(dest) = &self.dest else {
            return Ok(());
        };
        if let Some(m) = dest.try_lstat(rel).map_err(|e| fs_fail(&e))? {
            if m.kind == FileKind::Dir {
                dest.remove(rel).map_err(|e| fs_fail(&e))?;
            }
        }
        Ok(())
    }

    fn symlink(&mut self, entry: &FileEntry) -> Result<(), String> {
        let rel = self
            .local(&entry.name)?
            .ok_or("symlink at the transfer root")?;
        let target = entry.symlink().map(<[u8]>::to_vec).unwrap_or_default();
        self.replace_dir_if_any(&rel)?;
        let Some(dest) = &self.dest else {
            return Ok(());
        };
        dest.symlink(&rel, &target).map_err(|e| fs_fail(&e))?;
        self.set_link_meta(&rel, entry, true)
    }

    /// Metadata of a symlink or special file: ownership and mtime, never following.
    fn set_link_meta(
        &mut self,
        rel: &RelPath,
        entry: &FileEntry,
        set_time: bool,
    ) -> Result<(), String> {
        let (uid, gid) = self.owner_of(entry);
        let Some(dest) = &self.dest else {
            return Ok(());
        };
        if uid.is_some() || gid.is_some() {
            match dest.lchown(rel, uid, gid) {
                Err(e) if e.errno() == Some(libc_eperm()) && !self.opts.am_root => {}
                r => r.map_err(|e| fs_fail(&e))?,
            }
        }
        if self.opts.times && set_time {
            let t = Mtime {
                sec: entry.mtime(),
                nsec: entry.mtime_nsec,
            };
            dest.set_mtime_nofollow(rel, t).map_err(|e| fs_fail(&e))?;
        }
        Ok(())
    }

    fn mknod(&mut self, entry: &FileEntry) -> Result<(), String> {
        let rel = self
            .local(&entry.name)?
            .ok_or("special file at the transfer root")?;
        let rdev = rustix::fs::makedev(entry.rdev_major(), entry.rdev_minor());
        let special = match entry.mode & mode::S_IFMT {
            mode::S_IFIFO => Special::Fifo,
            mode::S_IFSOCK => Special::Socket,
            mode::S_IFCHR => Special::CharDevice(rdev),
            mode::S_IFBLK => Special::BlockDevice(rdev),
            _ => return Err("mknod of a non-special file".into()),
        };
        self.replace_dir_if_any(&rel)?;
        let perms = self.perms_for(entry, None);
        let Some(dest) = &self.dest else {
            return Ok(());
        };
        dest.mknod(&rel, special, perms).map_err(|e| fs_fail(&e))?;
        self.set_link_meta(&rel, entry, true)
    }

    fn hard_link(&mut self, entry: &FileEntry, target: &WirePath) -> Result<(), String> {
        let rel = self
            .local(&entry.name)?
            .ok_or("hard link at the transfer root")?;
        let to = self
            .local(target)?
            .ok_or("hard link to the transfer root")?;
        let Some(dest) = &self.dest else {
            return Ok(());
        };
        dest.hard_link(&to, &rel).map_err(|e| fs_fail(&e))
    }

    fn set_meta(&mut self, entry: &FileEntry) -> Result<(), String> {
        let rel = self.local(&entry.name)?;
        let existing = self.lstat(rel.as_ref()).map_err(|e| fs_fail(&e))?;
        let Some(existing) = existing else {
            return Ok(());
        };
        let mut attrs = self.attrs(entry, Some(&existing));
        // rsync `set_file_attrs` without ATTRS_ACCURATE_TIME (`same_time` at modify-window
        // 0): an existing entry whose mtime has the same seconds keeps its own.
        // A constant mirror compares times to the nanosecond (RFC.md §15.5), so sets them so.
        let accurate =
            (self.opts.checksum && existing.kind == FileKind::File) || self.constant.is_some();
        let same_time = existing.mtime_sec == entry.mtime()
            && (!accurate || existing.mtime_nsec == entry.mtime_nsec);
        if same_time {
            attrs.mtime = None;
        }
        keep_unchanged(&mut attrs, &existing);
        let Some(dest) = &self.dest else {
            return Ok(());
        };
        match existing.kind {
            FileKind::Dir => apply_tolerant(attrs, |a| dest.set_dir_meta(rel.as_ref(), a))
                .map_err(|e| fs_fail(&e)),
            FileKind::File => {
                let rel = rel.ok_or("the transfer root is not a file")?;
                apply_tolerant(attrs, |a| dest.set_file_meta(&rel, a)).map_err(|e| fs_fail(&e))
            }
            _ => {
                let rel = rel.ok_or("the transfer root is not a special file")?;
                self.set_link_meta(&rel, entry, !same_time)
            }
        }
    }

    fn list_dir(&self, ndx: i32, path: &WirePath) -> FsAnswer {
        let mut names = Vec::new();
        if let (Some(dest), Ok(rel)) = (&self.dest, self.local(path)) {
            let start_is_dir = self
                .lstat(rel.as_ref())
                .ok()
                .flatten()
                .is_some_and(|m| m.kind == FileKind::Dir);
            if start_is_dir {
                let w = walk(dest.dir_fd(), rel.as_ref(), false);
                let skip = usize::from(rel.is_some());
                for item in w.skip(skip) {
                    match item {
                        Ok(e) => names.push(ListedName::new(
                            e.path.file_name().to_vec(),
                            kind_bits(e.meta.kind) | e.meta.mode,
                        )),
                        Err(e) => self.fail(&fs_fail(&e)),
                    }
                }
            }
        }
        FsAnswer::DirList { ndx, names }
    }

    fn delete(&self, path: &WirePath, is_dir: bool) -> Result<(), String> {
        let rel = self
            .local(path)?
            .ok_or("refusing to delete the transfer root")?;
        let Some(dest) = &self.dest else {
            return Ok(());
        };
        if is_dir {
            dest.remove_all(&rel)
        } else {
            dest.remove(&rel)
        }
        .map_err(|e| fs_fail(&e))
    }

    /// The failed write that ended this session's writing, as rsync's receiver reports it
    /// before it exits with 11 (receiver.c: `write failed on "PATH": ERROR (N)`, the path
    /// as given on the command line).
    fn write_failure(&self) -> Option<ExecutorError> {
        let f = self.writer.as_ref()?.write_failure()?;
        let root = match (&self.single, self.dest_path.parent()) {
            (Some(_), Some(p)) => p.to_path_buf(),
            _ => self.dest_path.clone(),
        };
        let path = root.join(&f.path);
        let errno = f.errno.map(|n| format!(" ({n})")).unwrap_or_default();
        let msg = format!("write failed on \"{}\": {}{errno}", path.display(), f.error);
        // Shown now, before the driver tells the peer (see `ExecutorError::shown`).
        report(Role::Receiver, &msg);
        Some(ExecutorError::shown(11, format!("[receiver] {msg}")))
    }

    /// Waits until every file handed to the writing thread so far is written (requests that
    /// could observe the files wait by themselves; this is for callers outside a run).
    pub fn settle(&mut self) {
        if let Some(w) = &mut self.writer {
            w.drain();
        }
    }

    /// Waits for the writing thread when `request` could observe or change what its queued
    /// jobs touch (see [`Writer`]): requests on one path wait only if that path (or an
    /// ancestor or descendant) is in the thread's hands, the file's own steps never, and
    /// anything else always.
    fn order(&mut self, request: &FsRequest) {
        let Some(w) = &mut self.writer else {
            return;
        };
        let path = match request {
            FsRequest::BeginFile { .. }
            | FsRequest::BeginFileFrom { .. }
            | FsRequest::Write { .. }
            | FsRequest::CopyFromBasis { .. }
            | FsRequest::Commit { .. }
            | FsRequest::Discard { .. }
            | FsRequest::Settle { .. } => return,
            FsRequest::Basis { path, .. }
            | FsRequest::Signature { path, .. }
            | FsRequest::Remove { path, .. } => path,
            FsRequest::Mkdir { entry, .. } | FsRequest::Symlink { entry, .. } => &entry.name,
            _ => {
                w.drain();
                return;
            }
        };
        let rel = match &self.single {
            Some((wire, local)) if wire == path.as_bytes() => Some(local.clone()),
            _ => RelPath::new(path.as_bytes()).ok(),
        };
        match rel {
            Some(rel) => w.settle(&rel),
            None => w.drain(),
        }
    }

    /// Whether `request` changes the destination (skipped entirely with `-n`).
    fn writes(request: &FsRequest) -> bool {
        !matches!(
            request,
            FsRequest::Basis { .. }
                | FsRequest::Signature { .. }
                | FsRequest::ListDir { .. }
                | FsRequest::CopyFromBasis { .. }
                | FsRequest::FileList { .. }
                | FsRequest::ReadFile { .. }
                | FsRequest::MapIds { .. }
        )
    }
}

fn libc_eperm() -> i32 {
    rustix::io::Errno::PERM.raw_os_error()
}

fn name_str(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// rsync's `recv_id_list` mapping: each sender id whose name exists here maps to the
/// local id of that name; the others keep their number.
fn map_ids(list: &IdList, lookup: fn(&[u8]) -> Option<u32>) -> Vec<(u32, u32)> {
    let id0 = list.id0_name.iter().map(|n| (0, n));
    list.names
        .iter()
        .map(|(id, n)| (*id, n))
        .chain(id0)
        .filter_map(|(id, name)| lookup(name).map(|local| (id, local)))
        .collect()
}

impl Executor for ReceiverFs {
    fn file_list(&mut self, summary: ListSummary) {
        if let Err(e) = self.open_dest(&summary) {
            // The first request ends the session with it (rsync: a destination that cannot
            // be made is fatal, exit 11), instead of one failure per file. Shown now, before
            // the driver tells the peer (see `ExecutorError::shown`).
            report(Role::Receiver, &e.message);
            self.dest_error = Some(ExecutorError::shown(
                e.exit_code,
                format!("[receiver] {}", e.message),
            ));
        }
    }

    fn take_info(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.info)
    }

    fn execute(
        &mut self,
        request: FsRequest,
        answer: &mut dyn FnMut(FsAnswer),
    ) -> Result<(), ExecutorError> {
        if let Some(e) = self.dest_error.take() {
            return Err(e);
        }
        // A session's failed write ends the run (the writer is told so only without a
        // constant mirror's log); requests that wait for the writer find it afterwards.
        if let Some(e) = self.write_failure() {
            return Err(e);
        }
        if self.opts.dry_run && Self::writes(&request) {
            if let FsRequest::Settle { ndx } = request {
                answer(FsAnswer::Settled { ndx, error: None });
            }
            return Ok(());
        }
        self.order(&request);
        if let Some(e) = self.write_failure() {
            return Err(e);
        }
        self.cur_ndx = constant::ndx_of(&request);
        let result = match request {
            FsRequest::Basis {
                ndx,
                path,
                checksum,
            } => {
                answer(self.basis_meta(ndx, &path, checksum));
                Ok(())
            }
            FsRequest::Signature { ndx, path, head } => {
                answer(self.signature(ndx, &path, head));
                Ok(())
            }
            FsRequest::BeginFile { ndx, path } => self.begin(ndx, &path, None),
            FsRequest::BeginFileFrom { ndx, path, basis } => self.begin(ndx, &path, Some(&basis)),
            FsRequest::Write { ndx, data } => {
                self.write(ndx, data);
                Ok(())
            }
            FsRequest::CopyFromBasis { ndx, offset, len } => {
                answer(self.copy_from_basis(ndx, offset, len));
                Ok(())
            }
            FsRequest::Commit { ndx, entry } => self.commit(ndx, &entry),
            FsRequest::Discard { ndx } => {
                if self.take_incoming(ndx).is_some() {
                    if let Some(w) = &mut self.writer {
                        w.send(Job::Discard { ndx });
                    }
                }
                Ok(())
            }
            FsRequest::Mkdir { entry, .. } => self.mkdir(&entry),
            FsRequest::Symlink { entry, .. } => self.symlink(&entry),
            FsRequest::Mknod { entry, .. } => self.mknod(&entry),
            FsRequest::HardLink { entry, target, .. } => self.hard_link(&entry, &target),
            FsRequest::SetMeta { entry, .. } => self.set_meta(&entry),
            FsRequest::ListDir { ndx, path } => {
                answer(self.list_dir(ndx, &path));
                Ok(())
            }
            FsRequest::Delete { path, is_dir } => self.delete(&path, is_dir),
            FsRequest::Remove { path, .. } => self.remove_beneath(&path),
            FsRequest::Settle { ndx } => {
                answer(self.settled(ndx));
                Ok(())
            }
            FsRequest::MapIds { uids, gids } => {
                answer(FsAnswer::IdMap {
                    uids: map_ids(&uids, super::user_id),
                    gids: map_ids(&gids, super::group_id),
                });
                Ok(())
            }
            other => Err(format!("unexpected request for a receiver: {other:?}")),
        };
        if let Err(msg) = result {
            self.fail(&msg);
        }
        Ok(())
    }
}

impl Drop for ReceiverFs {
    fn drop(&mut self) {
        // `--partial`: an interrupted file keeps what was received, under its own name.
        if let Some(w) = &mut self.writer {
            w.finish(self.opts.partial);
        }
    }
}

#[cfg(test)]
mod keep_tests {
    use super::*;

    #[test]
    fn only_what_differs_is_applied() {
        let existing = Meta {
            kind: FileKind::Dir,
            mode: 0o4755,
            size: 0,
            mtime_sec: 1,
            mtime_nsec: 0,
            uid: 10,
            gid: 20,
            nlink: 2,
            dev: 1,
            ino: 1,
            rdev: 0,
            ctime_sec: 1,
            ctime_nsec: 0,
        };
        let mtime = Some(Mtime { sec: 2, nsec: 5 });
        let want = |mode, uid, gid| Attrs {
            mode: Some(mode),
            mtime,
            uid: Some(uid),
            gid: Some(gid),
        };
        let mut a = want(0o4755, 10, 20);
        keep_unchanged(&mut a, &existing);
        let only_time = Attrs {
            mtime,
            ..Attrs::default()
        };
        assert_eq!(a, only_time);
        // A new owner: the mode goes again (chown clears the set-uid bit).
        let mut a = want(0o4755, 11, 20);
        keep_unchanged(&mut a, &existing);
        assert_eq!((a.uid, a.gid, a.mode), (Some(11), None, Some(0o4755)));
        let mut a = want(0o700, 10, 20);
        keep_unchanged(&mut a, &existing);
        assert_eq!((a.uid, a.gid, a.mode), (None, None, Some(0o700)));
    }
}
