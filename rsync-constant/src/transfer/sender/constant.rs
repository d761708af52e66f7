//! [`SenderFs`] as the source executor of a constant master (RFC.md §15.5–§15.7): `Stat`
//! describes one path as the file list would, `ListDir` lists one source directory,
//! `ReadFile` reads by path (the `ndx` is the change's, not an index into a list); see
//! [`rsync_proto::session::FsRequest`].
//!
//! # The source changes while we read it
//! Every path is resolved afresh beneath the source root (no cached directory handle: a
//! directory removed and made again must be seen as the new one), with `openat2`
//! (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`): a symlink in a path is never followed, and a
//! path whose parent is a symlink or not a directory is absent.
//!
//! # Failures
//! The mirror deletes what the master says is absent (`DELETE`) and what a listing does not
//! name (`DIR_END`). So only "not there" answers as absent (`ENOENT`, `ENOTDIR`, `ELOOP`);
//! any other failure of a `Stat` or a `ListDir` (a directory that cannot be read, `EACCES`,
//! `EIO`) answers [`FsAnswer::Unreadable`] with the message: the master then sends nothing
//! that would delete the mirror's copy and acknowledges the change with status 23
//! (RFC.md §15.7). Guessing "absent" or "empty" would delete the mirror's copy.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rsync_proto::driver::ExecutorError;
use rsync_proto::flist::{FileEntry, WirePath};
use rsync_proto::session::{FsAnswer, ListedName};
use rustix::io::Errno;

use super::super::kind_bits;
use super::{ListBuilder, SenderFs, SenderOptions, Source};
use crate::fs::{walk, Destination, FileKind, FsError, RelPath};
use crate::transfer::Failures;

/// Most user or group names remembered (the cache starts over when full).
const NAME_CACHE: usize = 4096;

/// Exit code of a source that cannot be read (rsync's `RERR_PARTIAL`).
const EXIT_PARTIAL: i32 = 23;

/// What a constant master's source executor keeps.
#[derive(Debug, Default)]
pub(super) struct SourceState {
    /// With [`SenderFs::with_source_epoch`]: the epoch and the value seen last.
    epoch: Option<(SourceEpoch, u64)>,
    users: HashMap<u32, Option<Vec<u8>>>,
    groups: HashMap<u32, Option<Vec<u8>>>,
    /// Tests: listing this directory fails as an unreadable one would (`EACCES`), for
    /// tests that run as root, whom permissions do not stop.
    #[cfg(test)]
    pub(crate) unreadable: Option<Vec<u8>>,
    /// Tests: `Stat` of this path fails as an I/O error would (`EIO`).
    #[cfg(test)]
    pub(crate) unstatable: Option<Vec<u8>>,
}

/// The name of `id`, looked up once (while the cache has room).
fn cached_name(
    cache: &mut HashMap<u32, Option<Vec<u8>>>,
    id: u32,
    lookup: fn(u32) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    if let Some(n) = cache.get(&id) {
        return n.clone();
    }
    if cache.len() >= NAME_CACHE {
        cache.clear();
    }
    let n = lookup(id);
    cache.insert(id, n.clone());
    n
}

/// Whether `e` says the path is not there (missing, or a parent that is a symlink or not
/// a directory).
fn is_absent(e: &FsError) -> bool {
    let absent = [Errno::NOENT, Errno::NOTDIR, Errno::LOOP];
    e.errno()
        .is_some_and(|n| absent.iter().any(|a| a.raw_os_error() == n))
}

fn shown(path: &WirePath) -> String {
    String::from_utf8_lossy(path.as_bytes()).into_owned()
}

/// The message of a path that is there but cannot be read.
fn unreadable(what: &str, path: &WirePath, e: &dyn std::fmt::Display) -> String {
    format!("{what} \"{}\" failed: {e}", shown(path))
}

/// The answer for a path that is there but cannot be read.
fn unreadable_answer(ndx: i32, message: String) -> FsAnswer {
    FsAnswer::Unreadable {
        ndx,
        error: message.into_bytes(),
    }
}

/// A counter shared by a constant master's source executor and the daemon, which advances
/// it before each batch: the executor then drops its cached directory handles, so that
/// within a batch a parent directory is opened once, and no batch reads through a handle
/// opened before its changes were notified (a directory renamed or removed since is seen).
#[derive(Debug, Clone, Default)]
pub struct SourceEpoch(Arc<AtomicU64>);

impl SourceEpoch {
    /// A new epoch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a new epoch (call it before submitting a batch whose requests must not use
    /// directory handles opened earlier).
    pub fn advance(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

impl SenderFs {
    /// Caches source directory handles between advances of `epoch` (see [`SourceEpoch`]);
    /// without it every request resolves its parents afresh.
    #[must_use]
    pub fn with_source_epoch(mut self, epoch: SourceEpoch) -> Self {
        if let Some(c) = &mut self.constant {
            let now = epoch.get();
            c.epoch = Some((epoch, now));
            self.roots = std::mem::take(&mut self.roots)
                .into_iter()
                .map(Destination::with_dir_cache)
                .collect();
        }
        self
    }

    /// Drops the cached directory handles if the epoch advanced since the last request.
    pub(super) fn check_epoch(&mut self) {
        let Some(c) = &mut self.constant else { return };
        let Some((epoch, seen)) = &mut c.epoch else {
            return;
        };
        let now = epoch.get();
        if now != *seen {
            *seen = now;
            for r in &self.roots {
                r.forget_all();
            }
        }
    }

    /// The source executor of a constant master reading beneath `root` (opened now). `opts`
    /// as for a session: `links`, `devices`, `specials` select what is described (an
    /// excluded kind is absent), `hard_links` adds the device and inode of a
    /// non-directory with several links, `user_names`/`group_names` the owner names.
    ///
    /// # Errors
    /// [`crate::fs::Op::OpenDestination`] when `root` cannot be opened as a directory.
    pub fn for_constant(
        root: PathBuf,
        opts: SenderOptions,
        failures: Failures,
    ) -> Result<Self, FsError> {
        let d = Destination::open(&root)?.without_dir_cache();
        let source = Source(root.as_os_str().as_bytes().to_vec());
        let mut s = Self::new(vec![source], opts, failures);
        s.roots.push(d);
        s.constant = Some(Box::default());
        Ok(s)
    }

    /// Tests: makes listing `dir` fail as an unreadable directory would.
    #[cfg(test)]
    pub(crate) fn set_unreadable(&mut self, dir: Option<&[u8]>) {
        if let Some(c) = &mut self.constant {
            c.unreadable = dir.map(<[u8]>::to_vec);
        }
    }

    /// Tests: makes `Stat` of `path` fail as an I/O error would.
    #[cfg(test)]
    pub(crate) fn set_unstatable(&mut self, path: Option<&[u8]>) {
        if let Some(c) = &mut self.constant {
            c.unstatable = path.map(<[u8]>::to_vec);
        }
    }

    /// A constant master's file is gone when it is no longer a regular file at its path,
    /// not only when it is missing.
    pub(super) fn gone_since_stat(&self, e: Option<&FsError>) -> bool {
        self.constant.is_some()
            && e.is_some_and(|e| is_absent(e) || matches!(e, FsError::WrongKind { .. }))
    }

    /// `Stat`: the entry of `path` as the file list would describe it, `None`
    /// when it is not there, [`FsAnswer::Unreadable`] when it cannot be read.
    pub(super) fn stat(&mut self, ndx: i32, path: &WirePath) -> Result<FsAnswer, ExecutorError> {
        Ok(match self.describe(path) {
            Ok(entry) => FsAnswer::Entry { ndx, entry },
            Err(message) => unreadable_answer(ndx, message),
        })
    }

    /// The entry of `path`, `None` when it is not there; `Err` with the message when it
    /// cannot be read.
    fn describe(&mut self, path: &WirePath) -> Result<Option<FileEntry>, String> {
        if let Some(e) = self.injected(path, Injected::Stat) {
            return Err(e);
        }
        let Some(root) = self.roots.first() else {
            return Err(format!(
                "link_stat \"{}\" failed: no source root",
                shown(path)
            ));
        };
        let rel = if path.is_dot() {
            None
        } else {
            match RelPath::new(path.as_bytes()) {
                Ok(r) => Some(r),
                Err(_) => return Ok(None),
            }
        };
        let meta = match &rel {
            None => Self::root_meta(root),
            Some(r) => root.try_lstat(r).and_then(|m| m.ok_or_else(|| absent(r))),
        };
        let meta = match meta {
            Ok(m) => m,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(unreadable("link_stat", path, &e)),
        };
        let target = match (&rel, meta.kind) {
            (Some(r), FileKind::Symlink) => match root.read_link(r) {
                Ok(t) => Some(t),
                // Replaced meanwhile: what is there now is another change's.
                Err(e) if is_absent(&e) || e.errno() == Some(Errno::INVAL.raw_os_error()) => {
                    return Ok(None)
                }
                Err(e) => return Err(unreadable("readlink", path, &e)),
            },
            _ => None,
        };
        let Some(mut e) = self.entry(&ListBuilder::new(), path.as_bytes(), &meta, target) else {
            return Ok(None);
        };
        e.name = path.clone();
        if let Some(c) = &mut self.constant {
            let id0 = self.opts.id0_names;
            if self.opts.user_names && (e.uid != 0 || id0) {
                e.set_user_name(cached_name(&mut c.users, e.uid, super::super::user_name));
            }
            if self.opts.group_names && (e.gid != 0 || id0) {
                e.set_group_name(cached_name(&mut c.groups, e.gid, super::super::group_name));
            }
        }
        Ok(Some(e))
    }

    /// `ListDir` on the source: the names in `path` with their `lstat` modes.
    /// A path that is not there, or not a directory, lists as empty (the master learns it
    /// is gone from its own `Stat`); a name that vanishes while it is listed is left out; a
    /// directory that cannot be read answers [`FsAnswer::Unreadable`].
    pub(super) fn list_source(&self, ndx: i32, path: &WirePath) -> Result<FsAnswer, ExecutorError> {
        let empty = || FsAnswer::DirList {
            ndx,
            names: Vec::new(),
        };
        let Some(root) = self.roots.first() else {
            return Err(ExecutorError::new(EXIT_PARTIAL, "no source root"));
        };
        if let Some(e) = self.injected(path, Injected::List) {
            return Ok(unreadable_answer(ndx, e));
        }
        let rel = if path.is_dot() {
            None
        } else {
            match RelPath::new(path.as_bytes()) {
                Ok(r) => Some(r),
                Err(_) => return Ok(empty()),
            }
        };
        let mut w = walk(root.dir_fd(), rel.as_ref(), false);
        if rel.is_some() {
            // The directory itself first.
            match w.next() {
                Some(Ok(e)) if e.meta.kind == FileKind::Dir => {}
                Some(Ok(_)) | None => return Ok(empty()),
                Some(Err(e)) if is_absent(&e) => return Ok(empty()),
                Some(Err(e)) => return Ok(unreadable_answer(ndx, unreadable("opendir", path, &e))),
            }
        }
        let mut names = Vec::new();
        for item in w {
            match item {
                Ok(e) => names.push(ListedName::new(
                    e.path.file_name().to_vec(),
                    kind_bits(e.meta.kind) | e.meta.mode,
                )),
                Err(e) if e.errno() == Some(Errno::NOENT.raw_os_error()) => {}
                Err(e) => return Ok(unreadable_answer(ndx, unreadable("readdir", path, &e))),
            }
        }
        Ok(FsAnswer::DirList { ndx, names })
    }
}

/// Which request a test injects a failure into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Injected {
    Stat,
    List,
}

impl SenderFs {
    /// Tests: the failure injected for `path`.
    #[cfg(test)]
    fn injected(&self, path: &WirePath, req: Injected) -> Option<String> {
        let c = self.constant.as_ref()?;
        let (hook, what, errno) = match req {
            Injected::Stat => (&c.unstatable, "link_stat", Errno::IO),
            Injected::List => (&c.unreadable, "opendir", Errno::ACCESS),
        };
        (hook.as_deref() == Some(path.as_bytes())).then(|| {
            let e = std::io::Error::from_raw_os_error(errno.raw_os_error());
            unreadable(what, path, &e)
        })
    }

    #[cfg(not(test))]
    fn injected(&self, _path: &WirePath, _req: Injected) -> Option<String> {
        None
    }
}

/// The error of a path found missing.
fn absent(r: &RelPath) -> FsError {
    let e = std::io::Error::from_raw_os_error(Errno::NOENT.raw_os_error());
    FsError::io(crate::fs::Op::Lstat, r.display(), e)
}

/// Tests of the request forms (the sessions are in `transfer/constant_tests.rs`).
#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SenderOptions {
        SenderOptions {
            recursive: true,
            links: true,
            devices: true,
            specials: true,
            hard_links: true,
            ..SenderOptions::default()
        }
    }

    fn wp(s: &str) -> WirePath {
        WirePath::new(s.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn stat_describes_and_absent_is_none() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir(root.join("d")).unwrap();
        std::fs::write(root.join("d/f"), b"hello").unwrap();
        std::fs::hard_link(root.join("d/f"), root.join("d/g")).unwrap();
        std::os::unix::fs::symlink("d", root.join("l")).unwrap();
        let mut s = SenderFs::for_constant(root.to_path_buf(), opts(), Failures::new()).unwrap();
        let e = s.describe(&wp("d/f")).unwrap().unwrap();
        assert!(e.is_regular());
        assert_eq!(e.size(), 5);
        assert_eq!(e.name, wp("d/f"));
        assert!(e.hardlink().is_some(), "two links: dev/ino given");
        let l = s.describe(&wp("l")).unwrap().unwrap();
        assert_eq!(l.symlink(), Some(&b"d"[..]));
        assert!(s.describe(&WirePath::dot()).unwrap().unwrap().is_dir());
        // Missing, beneath a file, beneath a symlink: absent.
        assert_eq!(s.describe(&wp("nope")).unwrap(), None);
        assert_eq!(s.describe(&wp("d/f/x")).unwrap(), None);
        assert_eq!(s.describe(&wp("l/f")).unwrap(), None);
    }

    #[test]
    fn a_new_epoch_sees_a_directory_renamed_since_it_was_cached() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir(root.join("d")).unwrap();
        std::fs::write(root.join("d/f"), b"old").unwrap();
        let epoch = SourceEpoch::new();
        let mut s = SenderFs::for_constant(root.to_path_buf(), opts(), Failures::new())
            .unwrap()
            .with_source_epoch(epoch.clone());
        s.check_epoch();
        assert_eq!(s.describe(&wp("d/f")).unwrap().unwrap().size(), 3);
        // A third party renames the directory away and makes a new one in its place; the
        // next batch (a new epoch) must read the new one, not the cached handle.
        std::fs::rename(root.join("d"), root.join("gone")).unwrap();
        std::fs::create_dir(root.join("d")).unwrap();
        std::fs::write(root.join("d/f"), b"new!!").unwrap();
        epoch.advance();
        s.check_epoch();
        assert_eq!(s.describe(&wp("d/f")).unwrap().unwrap().size(), 5);
        assert_eq!(s.describe(&wp("gone/f")).unwrap().unwrap().size(), 3);
    }

    #[test]
    fn listing_names_modes_and_refuses_unreadable() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("d/sub")).unwrap();
        std::fs::write(root.join("d/f"), b"x").unwrap();
        let mut s = SenderFs::for_constant(root.to_path_buf(), opts(), Failures::new()).unwrap();
        let FsAnswer::DirList { mut names, .. } = s.list_source(3, &wp("d")).unwrap() else {
            panic!("not a listing");
        };
        names.sort_by(|a, b| a.name.cmp(&b.name));
        let got: Vec<_> = names
            .iter()
            .map(|n| (n.name.clone(), n.mode >> 12))
            .collect();
        assert_eq!(got, vec![(b"f".to_vec(), 0o10), (b"sub".to_vec(), 0o4)]);
        let missing = s.list_source(4, &wp("gone")).unwrap();
        assert_eq!(
            missing,
            FsAnswer::DirList {
                ndx: 4,
                names: vec![]
            }
        );
        s.set_unreadable(Some(&b"d"[..]));
        let FsAnswer::Unreadable { ndx: 5, error } = s.list_source(5, &wp("d")).unwrap() else {
            panic!("an unreadable directory must not list as empty");
        };
        assert!(error.starts_with(b"opendir \"d\" failed"), "{error:?}");
        // Without the hook, a real permission failure (only when permissions apply).
        s.set_unreadable(None);
        if !rustix::process::geteuid().is_root() {
            use std::os::unix::fs::PermissionsExt as _;
            let p = std::fs::Permissions::from_mode(0o000);
            std::fs::set_permissions(root.join("d"), p).unwrap();
            let r = s.list_source(6, &wp("d"));
            // Searching `d` is refused too: its names cannot be described.
            let st = s.stat(7, &wp("d/f"));
            let back = std::fs::Permissions::from_mode(0o755);
            std::fs::set_permissions(root.join("d"), back).unwrap();
            assert!(
                matches!(r, Ok(FsAnswer::Unreadable { ndx: 6, .. })),
                "an unreadable directory must not list as empty: {r:?}"
            );
            assert!(
                matches!(st, Ok(FsAnswer::Unreadable { ndx: 7, .. })),
                "a name that cannot be described is not absent: {st:?}"
            );
        }
    }

    #[test]
    fn a_stat_failure_is_unreadable_not_absent() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        let mut s =
            SenderFs::for_constant(tmp.path().to_path_buf(), opts(), Failures::new()).unwrap();
        s.set_unstatable(Some(&b"f"[..]));
        let a = s.stat(9, &wp("f")).unwrap();
        let FsAnswer::Unreadable { ndx: 9, error } = a else {
            panic!("not unreadable: {a:?}");
        };
        assert!(error.starts_with(b"link_stat \"f\" failed"), "{error:?}");
        s.set_unstatable(None);
        assert!(matches!(
            s.stat(9, &wp("f")).unwrap(),
            FsAnswer::Entry { entry: Some(_), .. }
        ));
    }
}
