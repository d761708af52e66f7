//! [`Destination`]: a held handle on the destination directory; every
//! operation takes a [`RelPath`] and is anchored to that handle.
//!
//! # Security
//! Parents are resolved with [`super::resolve`] or from handles cached by
//! `dircache`, opened the same way (no symlink is followed in any component,
//! nothing escapes the handle); the final component is
//! handled by an `*at` call that does not follow it either (`O_NOFOLLOW`,
//! `AT_SYMLINK_NOFOLLOW`, or calls such as `mkdirat`/`unlinkat`/`renameat`
//! that never follow a final symlink). New entries are created under a
//! random temporary name and renamed into place.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rustix::fs::{
    chmodat, chownat, fstat, linkat, mkdirat, mknodat, open, openat, readlinkat, renameat, statat,
    symlinkat, unlinkat, utimensat, AtFlags, FileType, Gid, Mode, OFlags, Uid,
};
use rustix::io::Errno;

use super::dircache::DirCache;
use super::error::{FsError, Op};
use super::inplace::InPlaceFile;
use super::meta::{apply_to_fd, ApplyError, Attrs, FileKind, Meta, Mtime};
use super::path::RelPath;
use super::resolve::{Parent, Strategy, DIR_FLAGS};
use super::temp::{create_link_name, remove_link_name, TempFile};
use super::walk::read_names;

/// A non-regular, non-directory, non-symlink entry for [`Destination::mknod`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// A named pipe.
    Fifo,
    /// A Unix-domain socket node.
    Socket,
    /// A character device with the given `rdev`.
    CharDevice(u64),
    /// A block device with the given `rdev`.
    BlockDevice(u64),
}

/// The destination directory, opened once; all paths are resolved beneath
/// it. Directory handles resolved beneath it are kept in a small cache (see
/// `dircache`), so operations in the same directory cost no extra `open`.
#[derive(Debug)]
pub struct Destination {
    root: Arc<OwnedFd>,
    strategy: Strategy,
    cache: Mutex<DirCache>,
    /// Directory handles are cached (see [`Destination::without_dir_cache`]).
    cached: bool,
}

/// An existing file opened read-only (`O_NOFOLLOW`) as a delta basis.
#[derive(Debug)]
pub struct Basis {
    file: File,
    rel: RelPath,
    meta: Meta,
}

impl Basis {
    /// Metadata of the opened file (from `fstat`, so it describes exactly
    /// the file being read).
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The file's length when it was opened.
    pub fn len(&self) -> u64 {
        self.meta.size
    }

    /// Whether the file was empty when opened.
    pub fn is_empty(&self) -> bool {
        self.meta.size == 0
    }

    /// Reads at `offset` (random access, no shared cursor); returns the
    /// number of bytes read, 0 at end of file.
    ///
    /// # Errors
    /// [`Op::Read`] on an I/O error.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, FsError> {
        self.file
            .read_at(buf, offset)
            .map_err(|e| FsError::io(Op::Read, self.rel.display(), e))
    }

    /// The underlying file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// Maps an errno to an [`FsError`] for `op` on `rel`.
fn err(op: Op, rel: &RelPath) -> impl FnOnce(Errno) -> FsError + '_ {
    move |e| FsError::io(op, rel.display(), e)
}

/// Maps an [`ApplyError`] to an [`FsError`].
fn apply_err(path: String) -> impl FnOnce(ApplyError) -> FsError {
    move |e| match e {
        ApplyError::Invalid(what) => FsError::Invalid {
            op: Op::SetMeta,
            path,
            what,
        },
        ApplyError::Io(e) => FsError::io(Op::SetMeta, path, e),
    }
}

impl Destination {
    /// Opens the destination directory at an operator-given path.
    ///
    /// The operator's own path may itself be (or pass through) a symlink, as
    /// rsync allows; everything beneath it is resolved without following
    /// symlinks.
    ///
    /// # Errors
    /// [`Op::OpenDestination`] if it cannot be opened as a directory.
    pub fn open(path: &Path) -> Result<Self, FsError> {
        let fd = open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| FsError::io(Op::OpenDestination, path.to_string_lossy(), e))?;
        Ok(Self::from_dir_fd(fd))
    }

    /// Wraps an already opened directory handle.
    pub fn from_dir_fd(root: OwnedFd) -> Self {
        Self {
            root: Arc::new(root),
            strategy: Strategy::Auto,
            cache: Mutex::new(DirCache::default()),
            cached: true,
        }
    }

    /// Resolves every parent afresh (one `openat2` per operation) instead of keeping
    /// directory handles: for a tree that others change while we read it (the source of a
    /// constant master), where a cached handle could name a directory that was removed
    /// or renamed since.
    pub fn without_dir_cache(mut self) -> Self {
        self.cached = false;
        self.forget_all();
        self
    }

    /// Caches directory handles again (undoes [`Destination::without_dir_cache`]; the
    /// caller then calls [`Destination::forget_all`] whenever an old handle may be stale).
    pub fn with_dir_cache(mut self) -> Self {
        self.cached = true;
        self
    }

    /// Drops every cached directory handle: the next operations resolve their parents
    /// afresh (a long-lived receiver calls it between changes, so that a directory a third
    /// party removed or renamed meanwhile is never written through an old handle).
    pub fn forget_all(&self) {
        self.cache().clear();
    }

    /// Resolves paths with the component-by-component `O_NOFOLLOW` walk even
    /// when `openat2` is available (the fallback path, for tests).
    pub fn with_component_walk(mut self) -> Self {
        self.strategy = Strategy::Walk;
        self
    }

    /// The destination directory handle.
    pub fn dir_fd(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, DirCache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The handle of directory `dir` beneath the root (cached).
    fn dir(&self, dir: &[u8]) -> Result<Arc<OwnedFd>, Errno> {
        if !self.cached {
            return super::resolve::open_dir(self.root.as_fd(), dir, self.strategy).map(Arc::new);
        }
        self.cache().get(&self.root, dir, self.strategy)
    }

    /// The parent directory of `rel` (cached) and its final component.
    fn parent<'p>(&self, op: Op, rel: &'p RelPath) -> Result<(Arc<OwnedFd>, &'p [u8]), FsError> {
        match rel.split_last() {
            (None, name) => Ok((Arc::clone(&self.root), name)),
            (Some(parent), name) => self.dir(parent).map(|fd| (fd, name)).map_err(|e| {
                let path = rel.parent().map_or_else(String::new, |p| p.display());
                FsError::io(op, format!("{path} (parent of {rel})"), e)
            }),
        }
    }

    /// Forgets cached handles of `rel` and beneath it (it is being removed or replaced).
    fn forget(&self, rel: &RelPath) {
        self.cache().forget(rel.as_bytes());
    }

    /// Creates the directory `rel` (its parent must exist) with exactly
    /// `mode` (applied with `fchmod`, so the umask does not interfere).
    ///
    /// # Errors
    /// [`Op::Mkdir`], e.g. `EEXIST` if anything, even a symlink, is there.
    pub fn mkdir(&self, rel: &RelPath, mode: u32) -> Result<(), FsError> {
        let (parent, name) = self.parent(Op::Mkdir, rel)?;
        let fd = mkdir_exact(&parent, name, mode).map_err(err(Op::Mkdir, rel))?;
        // Its entries usually come next: keep the handle.
        let mut cache = self.cache();
        cache.forget(rel.as_bytes());
        if self.cached {
            cache.put(rel.as_bytes(), Arc::new(fd));
        }
        Ok(())
    }

    /// Creates `rel` and any missing parents (new ones get `mode`); existing
    /// directories are kept as they are. A symlink in the way is an error.
    ///
    /// # Errors
    /// [`Op::Mkdir`] if a component exists as a non-directory or cannot be
    /// created.
    pub fn mkdir_all(&self, rel: &RelPath, mode: u32) -> Result<(), FsError> {
        let mut cur: Parent<'_> = Parent::Root(self.root.as_fd());
        for comp in rel.components() {
            let next = match openat(&cur, comp, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    match mkdir_exact(&cur, comp, mode) {
                        Ok(_) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(err(Op::Mkdir, rel)(e)),
                    }
                    openat(&cur, comp, DIR_FLAGS, Mode::empty()).map_err(err(Op::Mkdir, rel))?
                }
                Err(e) => return Err(err(Op::Mkdir, rel)(e)),
            };
            cur = Parent::Owned(next);
        }
        Ok(())
    }

    /// Metadata of `rel` without following a final symlink.
    ///
    /// # Errors
    /// [`Op::Lstat`], `ENOENT` if absent.
    pub fn lstat(&self, rel: &RelPath) -> Result<Meta, FsError> {
        let (parent, name) = self.parent(Op::Lstat, rel)?;
        let st = statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW).map_err(err(Op::Lstat, rel))?;
        Ok(Meta::from_stat(&st))
    }

    /// Like [`lstat`](Self::lstat) but `Ok(None)` when `rel` does not exist.
    ///
    /// # Errors
    /// As [`lstat`](Self::lstat), except `ENOENT` on the final component.
    pub fn try_lstat(&self, rel: &RelPath) -> Result<Option<Meta>, FsError> {
        let (parent, name) = self.parent(Op::Lstat, rel)?;
        match statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Meta::from_stat(&st))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(err(Op::Lstat, rel)(e)),
        }
    }

    /// The target of the symlink `rel`, byte for byte.
    ///
    /// # Errors
    /// [`Op::Readlink`], `EINVAL` if `rel` is not a symlink.
    pub fn read_link(&self, rel: &RelPath) -> Result<Vec<u8>, FsError> {
        let (parent, name) = self.parent(Op::Readlink, rel)?;
        readlinkat(&parent, name, Vec::new())
            .map(std::ffi::CString::into_bytes)
            .map_err(err(Op::Readlink, rel))
    }

    /// Opens the regular file `rel` read-only as a delta basis.
    ///
    /// # Errors
    /// [`Op::OpenBasis`]: `ELOOP` for a symlink; [`FsError::WrongKind`] for
    /// anything but a regular file (FIFOs are opened non-blocking, so they
    /// cannot hang the receiver).
    pub fn open_basis(&self, rel: &RelPath) -> Result<Basis, FsError> {
        let (parent, name) = self.parent(Op::OpenBasis, rel)?;
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = openat(&parent, name, flags, Mode::empty()).map_err(err(Op::OpenBasis, rel))?;
        let meta = Meta::from_stat(&fstat(&fd).map_err(err(Op::OpenBasis, rel))?);
        if meta.kind != FileKind::File {
            return Err(FsError::WrongKind {
                op: Op::OpenBasis,
                path: rel.display(),
                found: meta.kind,
                expected: FileKind::File,
            });
        }
        Ok(Basis {
            file: File::from(fd),
            rel: rel.clone(),
            meta,
        })
    }

    /// Starts writing a new version of `rel`: a file with no name until
    /// [`TempFile::commit`] gives it a temporary name in the same directory and renames
    /// it over `rel`, or a named temporary from the start where unnamed files are not
    /// available (see [`TempFile`]).
    ///
    /// # Errors
    /// [`Op::Resolve`] if the parent cannot be resolved safely;
    /// [`Op::CreateTemp`] if no temporary can be created.
    pub fn begin_file(&self, rel: &RelPath) -> Result<TempFile, FsError> {
        let (parent, _) = self.parent(Op::Resolve, rel)?;
        TempFile::create_unnamed(parent, rel, false)
    }

    /// Like [`begin_file`](Self::begin_file), for a name that was absent a moment ago:
    /// [`TempFile::commit`] links the file directly under `rel`, with no temporary name
    /// (cheaper for a new small file). If `rel` exists by then, the commit replaces it as
    /// `begin_file`'s would.
    ///
    /// # Errors
    /// As [`begin_file`](Self::begin_file).
    pub fn begin_new_file(&self, rel: &RelPath) -> Result<TempFile, FsError> {
        let (parent, _) = self.parent(Op::Resolve, rel)?;
        TempFile::create_unnamed(parent, rel, true)
    }

    /// Opens the existing regular file `rel` for an in-place update (`--inplace`): for
    /// writing, without truncating it, never following a symlink; with `create`, a missing
    /// file is created under its final name (mode 0600 until its metadata is applied), as
    /// rsync's receiver does. See [`InPlaceFile`].
    ///
    /// # Errors
    /// [`Op::Resolve`] if the parent cannot be resolved safely; [`Op::Write`] if the open
    /// fails (`ELOOP` for a symlink, `ENOENT` for a missing file without `create`);
    /// [`FsError::WrongKind`] for anything but a regular file.
    pub fn open_in_place(&self, rel: &RelPath, create: bool) -> Result<InPlaceFile, FsError> {
        let (parent, name) = self.parent(Op::Resolve, rel)?;
        InPlaceFile::open(&parent, name, rel, create)
    }

    /// Creates (or atomically replaces a non-directory at) `rel` as a symlink
    /// to `target`, byte for byte; the target is never resolved.
    ///
    /// # Errors
    /// [`FsError::Invalid`] for an empty target or one containing NUL;
    /// [`Op::Symlink`]/[`Op::Rename`] on a failed system call.
    pub fn symlink(&self, rel: &RelPath, target: &[u8]) -> Result<(), FsError> {
        if target.is_empty() || target.contains(&0) {
            return Err(FsError::Invalid {
                op: Op::Symlink,
                path: rel.display(),
                what: "symlink target is empty or contains NUL",
            });
        }
        let (parent, name) = self.parent(Op::Symlink, rel)?;
        self.forget(rel);
        let tmp = create_link_name(&parent, name, |tmp| symlinkat(target, &parent, tmp))
            .map_err(err(Op::Symlink, rel))?;
        rename_into_place(&parent, &tmp, name).map_err(err(Op::Rename, rel))
    }

    /// Makes `new` a hard link to the existing entry `existing` (a symlink is
    /// linked itself, not its target), atomically replacing a non-directory
    /// at `new`.
    ///
    /// # Errors
    /// [`Op::HardLink`]/[`Op::Rename`] on a failed system call.
    pub fn hard_link(&self, existing: &RelPath, new: &RelPath) -> Result<(), FsError> {
        let (from_parent, from_name) = self.parent(Op::HardLink, existing)?;
        let (to_parent, to_name) = self.parent(Op::HardLink, new)?;
        self.forget(new);
        let tmp = create_link_name(&to_parent, to_name, |tmp| {
            linkat(&from_parent, from_name, &to_parent, tmp, AtFlags::empty())
        })
        .map_err(err(Op::HardLink, new))?;
        let renamed = rename_into_place(&to_parent, &tmp, to_name);
        // If `new` already was a link to the same inode, rename(2) succeeds
        // without removing the temporary name.
        let _ = unlinkat(&to_parent, &tmp, AtFlags::empty());
        renamed.map_err(err(Op::Rename, new))
    }

    /// Creates a FIFO, socket or device node at `rel` with permission bits
    /// `mode`, atomically replacing a non-directory there.
    ///
    /// # Errors
    /// [`FsError::NeedsRoot`] for a device when not running as root;
    /// [`Op::Mknod`]/[`Op::SetMeta`]/[`Op::Rename`] on a failed system call.
    pub fn mknod(&self, rel: &RelPath, special: Special, mode: u32) -> Result<(), FsError> {
        let (file_type, dev) = match special {
            Special::Fifo => (FileType::Fifo, 0),
            Special::Socket => (FileType::Socket, 0),
            Special::CharDevice(d) => (FileType::CharacterDevice, d),
            Special::BlockDevice(d) => (FileType::BlockDevice, d),
        };
        if matches!(special, Special::CharDevice(_) | Special::BlockDevice(_))
            && !rustix::process::geteuid().is_root()
        {
            return Err(FsError::NeedsRoot {
                path: rel.display(),
            });
        }
        let (parent, name) = self.parent(Op::Mknod, rel)?;
        self.forget(rel);
        let perm = Mode::from_raw_mode(mode & 0o7777);
        let tmp = create_link_name(&parent, name, |tmp| {
            mknodat(&parent, tmp, file_type, perm, dev)
        })
        .map_err(err(Op::Mknod, rel))?;
        // The link name lives in the pinned parent; set the exact mode
        // (mknod applies the umask) before the entry becomes visible.
        if let Err(e) = chmodat(&parent, &tmp, perm, AtFlags::empty()) {
            let _ = unlinkat(&parent, &tmp, AtFlags::empty());
            return Err(err(Op::SetMeta, rel)(e));
        }
        rename_into_place(&parent, &tmp, name).map_err(err(Op::Rename, rel))
    }

    /// Removes `rel`: a non-directory (a symlink itself, never its target)
    /// or an empty directory; and anything a killed receiver left under its link name
    /// (`.NAME.~link~`, see [`TempFile`]).
    ///
    /// # Errors
    /// [`Op::Remove`], e.g. `ENOTEMPTY` for a non-empty directory.
    pub fn remove(&self, rel: &RelPath) -> Result<(), FsError> {
        let (parent, name) = self.parent(Op::Remove, rel)?;
        self.forget(rel);
        remove_link_name(&parent, name);
        match unlinkat(&parent, name, AtFlags::empty()) {
            Err(Errno::ISDIR) => unlinkat(&parent, name, AtFlags::REMOVEDIR),
            other => other,
        }
        .map_err(err(Op::Remove, rel))
    }

    /// Removes `rel` and, if it is a directory, everything beneath it. Never
    /// follows symlinks: a symlink is removed, not its target's contents. As
    /// [`remove`](Self::remove), also removes a leftover under its link name.
    ///
    /// # Errors
    /// [`Op::Remove`] or [`Op::ReadDir`] on the first failure; entries
    /// removed before it stay removed.
    pub fn remove_all(&self, rel: &RelPath) -> Result<(), FsError> {
        let (parent, name) = self.parent(Op::Remove, rel)?;
        self.forget(rel);
        remove_link_name(&parent, name);
        remove_entry(&parent, name, rel)
    }

    /// Applies `attrs` to the directory `rel` (`None`: the destination
    /// itself) through a handle opened with `O_NOFOLLOW | O_DIRECTORY`.
    ///
    /// # Errors
    /// [`Op::SetMeta`] (`ELOOP`/`ENOTDIR` for a symlink or non-directory).
    pub fn set_dir_meta(&self, rel: Option<&RelPath>, attrs: &Attrs) -> Result<(), FsError> {
        let (fd, path) = match rel {
            None => (Arc::clone(&self.root), ".".to_owned()),
            Some(rel) => (
                self.dir(rel.as_bytes()).map_err(err(Op::SetMeta, rel))?,
                rel.display(),
            ),
        };
        apply_to_fd(&fd, attrs).map_err(apply_err(path))
    }

    /// Applies `attrs` to the existing regular file `rel` (e.g. when only
    /// attributes changed), opening it with `O_NOFOLLOW | O_NONBLOCK`.
    ///
    /// # Errors
    /// [`Op::SetMeta`]; [`FsError::WrongKind`] if `rel` is not a regular
    /// file.
    pub fn set_file_meta(&self, rel: &RelPath, attrs: &Attrs) -> Result<(), FsError> {
        let (parent, name) = self.parent(Op::SetMeta, rel)?;
        let st = statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW).map_err(err(Op::SetMeta, rel))?;
        let kind = Meta::from_stat(&st).kind;
        if kind != FileKind::File {
            return Err(FsError::WrongKind {
                op: Op::SetMeta,
                path: rel.display(),
                found: kind,
                expected: FileKind::File,
            });
        }
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = openat(&parent, name, flags, Mode::empty()).map_err(err(Op::SetMeta, rel))?;
        let found = Meta::from_stat(&fstat(&fd).map_err(err(Op::SetMeta, rel))?).kind;
        if found != FileKind::File {
            return Err(FsError::WrongKind {
                op: Op::SetMeta,
                path: rel.display(),
                found,
                expected: FileKind::File,
            });
        }
        apply_to_fd(&fd, attrs).map_err(apply_err(rel.display()))
    }

    /// Changes the owner and/or group of `rel` itself (a symlink is changed,
    /// not its target).
    ///
    /// # Errors
    /// [`Op::SetMeta`], typically `EPERM` when not root.
    pub fn lchown(&self, rel: &RelPath, uid: Option<u32>, gid: Option<u32>) -> Result<(), FsError> {
        let (parent, name) = self.parent(Op::SetMeta, rel)?;
        chownat(
            &parent,
            name,
            uid.map(Uid::from_raw),
            gid.map(Gid::from_raw),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(err(Op::SetMeta, rel))
    }

    /// Sets the mtime of `rel` itself with `utimensat(AT_SYMLINK_NOFOLLOW)`
    /// (works for symlinks and special files; atime is left alone).
    ///
    /// # Errors
    /// [`FsError::Invalid`] for nanoseconds ≥ 10⁹; [`Op::SetMeta`] otherwise.
    pub fn set_mtime_nofollow(&self, rel: &RelPath, mtime: Mtime) -> Result<(), FsError> {
        let ts = mtime.timestamps().ok_or_else(|| FsError::Invalid {
            op: Op::SetMeta,
            path: rel.display(),
            what: "mtime nanoseconds out of range",
        })?;
        let (parent, name) = self.parent(Op::SetMeta, rel)?;
        utimensat(&parent, name, &ts, AtFlags::SYMLINK_NOFOLLOW).map_err(err(Op::SetMeta, rel))
    }
}

/// `mkdirat` then `fchmod` through a no-follow handle, so the mode is exact; returns that
/// handle.
fn mkdir_exact(parent: &impl AsFd, name: &[u8], mode: u32) -> Result<OwnedFd, Errno> {
    let perm = Mode::from_raw_mode(mode & 0o7777);
    mkdirat(parent, name, perm)?;
    let fd = openat(parent, name, DIR_FLAGS, Mode::empty())?;
    rustix::fs::fchmod(&fd, perm)?;
    Ok(fd)
}

/// Renames `tmp` over `name` in `parent`; removes `tmp` if that fails.
fn rename_into_place(parent: &impl AsFd, tmp: &[u8], name: &[u8]) -> Result<(), Errno> {
    renameat(parent, tmp, parent, name).inspect_err(|_| {
        let _ = unlinkat(parent, tmp, AtFlags::empty());
    })
}

/// Removes `name` in `parent`, recursing into it if it is a real directory.
fn remove_entry(parent: &impl AsFd, name: &[u8], rel: &RelPath) -> Result<(), FsError> {
    match unlinkat(parent, name, AtFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(Errno::ISDIR) => {}
        Err(e) => return Err(err(Op::Remove, rel)(e)),
    }
    // A directory (not a symlink: unlink would have removed that). If it is
    // swapped for a symlink now, O_NOFOLLOW makes the open fail.
    let dir = openat(parent, name, DIR_FLAGS, Mode::empty()).map_err(err(Op::Remove, rel))?;
    let names = read_names(dir.as_fd()).map_err(err(Op::ReadDir, rel))?;
    for child in names {
        let child_rel = rel.join(&child).map_err(|source| FsError::Path {
            op: Op::Remove,
            path: rel.display(),
            source,
        })?;
        remove_entry(&dir, &child, &child_rel)?;
    }
    unlinkat(parent, name, AtFlags::REMOVEDIR).map_err(err(Op::Remove, rel))
}
