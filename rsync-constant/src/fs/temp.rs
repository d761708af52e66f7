//! [`TempFile`]: a file written under a temporary name (`.NAME.XXXXXX`) in
//! the final directory and renamed over the final name on
//! [`TempFile::commit`], so readers see the old file or the new one, never a
//! half-written one.
//!
//! # No name until complete
//! Where the kernel allows it, the file is written with no name at all (`O_TMPFILE`,
//! [`TempFile::create_unnamed`]) and only named on commit: a file whose final name was
//! absent a moment ago is linked under it (`linkat`); any other is linked under a
//! temporary name and renamed over the final one. Nothing can see the file before it is
//! complete, and a crash (kill -9 of the receiver) leaves nothing behind: the kernel frees
//! an unlinked inode. A new small file is also about a third cheaper, with no directory
//! entry added and removed again. If the final name appeared meanwhile, a new file takes
//! the rename way too. File systems without `O_TMPFILE`, and processes that can neither
//! use `AT_EMPTY_PATH` nor reach `/proc/self/fd`, get a named temporary from the start.
//!
//! # The link name
//! A complete entry that replaces another (an unnamed file on commit, a symlink, a hard
//! link, a device node) is made under one fixed name per final name, `.NAME.~link~`
//! ([`link_name`]), and renamed over `NAME` at once: two system calls. A receiver killed
//! between them leaves a complete entry under that name; the next entry made for `NAME`
//! finds it (`EEXIST`), removes it and takes the name, and removing `NAME` removes it too
//! ([`remove_link_name`]). A name resent after a crash therefore sweeps what the crash left,
//! with no directory scan. The fixed suffix has characters a random one never has (`~`).
//!
use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{IoSlice, Write as _};
use std::num::NonZeroU64;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use rustix::fs::{linkat, openat, renameat, unlinkat, Advice, AtFlags, Mode, OFlags, CWD};
use rustix::io::Errno;

use super::error::{FsError, Op};
use super::meta::{apply_to_fd, ApplyError, Attrs};
use super::path::{RelPath, MAX_NAME_LEN};

/// How many random names to try before giving up on `EEXIST`.
const TEMP_ATTEMPTS: usize = 64;
/// A file's writeback is started every this many bytes appended ([`TempFile::write_behind`]).
const WRITE_BEHIND: u64 = 8 << 20;
/// Random suffix length, as rsync's `.NAME.XXXXXX`.
const SUFFIX_LEN: usize = 6;
const SUFFIX_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Builds a candidate temporary name for `name`: `.` + name (truncated to
/// fit `NAME_MAX`) + `.` + six random characters.
pub(crate) fn temp_name(name: &[u8]) -> Vec<u8> {
    let mut out = dotted(name);
    let mut h = RandomState::new().build_hasher();
    h.write(name);
    let mut r = h.finish();
    for _ in 0..SUFFIX_LEN {
        let n = SUFFIX_CHARS.len() as u64;
        out.push(SUFFIX_CHARS[usize::try_from(r % n).unwrap_or(0)]);
        r /= n;
    }
    out
}

/// The suffix of [`link_name`]: six characters, like a random one, but with `~`, which a
/// random one never has.
const LINK_SUFFIX: &[u8; SUFFIX_LEN] = b"~link~";

/// The one name under which a complete entry waits for its rename over `name`:
/// `.` + name (truncated to fit `NAME_MAX`) + `.~link~`.
pub(crate) fn link_name(name: &[u8]) -> Vec<u8> {
    let mut out = dotted(name);
    out.extend_from_slice(LINK_SUFFIX);
    out
}

/// `.` + name (truncated so that a suffix of [`SUFFIX_LEN`] still fits `NAME_MAX`) + `.`:
/// the part every temporary name shares.
fn dotted(name: &[u8]) -> Vec<u8> {
    let keep = name.len().min(MAX_NAME_LEN - SUFFIX_LEN - 2);
    let mut out = Vec::with_capacity(keep + SUFFIX_LEN + 2);
    out.push(b'.');
    out.extend_from_slice(&name[..keep]);
    out.push(b'.');
    out
}

/// Calls `create` with the [`link_name`] of `name`; where an entry is already there (left by
/// a receiver killed before its rename; an entry is made there and renamed away within one
/// call, and one process writes a destination), removes it and tries once more; then falls
/// back to random names ([`create_temp`]). Returns the name that was created.
pub(crate) fn create_link_name(
    parent: &OwnedFd,
    name: &[u8],
    mut create: impl FnMut(&[u8]) -> Result<(), Errno>,
) -> Result<Vec<u8>, Errno> {
    let fixed = link_name(name);
    match create(&fixed) {
        Err(Errno::EXIST) => {}
        Ok(()) => return Ok(fixed),
        Err(e) => return Err(e),
    }
    // Never a directory: only non-directories are made under this name.
    if unlinkat(parent, &fixed, AtFlags::empty()).is_ok() {
        match create(&fixed) {
            Err(Errno::EXIST) => {}
            Ok(()) => return Ok(fixed),
            Err(e) => return Err(e),
        }
    }
    create_temp(name, create)
}

/// Removes what a killed receiver may have left under the [`link_name`] of `name` in
/// `parent` (best effort: usually there is nothing).
pub(crate) fn remove_link_name(parent: &impl std::os::fd::AsFd, name: &[u8]) {
    let _ = unlinkat(parent, link_name(name), AtFlags::empty());
}

/// Calls `create` with fresh temporary names for `name` until one does not
/// already exist; returns the name that was created.
pub(crate) fn create_temp(
    name: &[u8],
    mut create: impl FnMut(&[u8]) -> Result<(), Errno>,
) -> Result<Vec<u8>, Errno> {
    for _ in 0..TEMP_ATTEMPTS {
        let tmp = temp_name(name);
        match create(&tmp) {
            Ok(()) => return Ok(tmp),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Errno::EXIST)
}

/// How an unnamed file gets its name: not known yet, `linkat(fd, "", AT_EMPTY_PATH)`
/// (needs `CAP_DAC_READ_SEARCH`), `linkat("/proc/self/fd/N", AT_SYMLINK_FOLLOW)`, or not
/// at all (named temporaries only).
static LINK_HOW: AtomicU8 = AtomicU8::new(LINK_UNKNOWN);
const LINK_UNKNOWN: u8 = 0;
const LINK_EMPTY_PATH: u8 = 1;
const LINK_PROC: u8 = 2;
const LINK_NONE: u8 = 3;

/// How this process links unnamed files, decided once.
fn link_how() -> u8 {
    let how = LINK_HOW.load(Ordering::Relaxed);
    if how != LINK_UNKNOWN {
        return how;
    }
    let how = if rustix::process::geteuid().is_root() {
        LINK_EMPTY_PATH
    } else if std::path::Path::new("/proc/self/fd").is_dir() {
        LINK_PROC
    } else {
        LINK_NONE
    };
    LINK_HOW.store(how, Ordering::Relaxed);
    how
}

/// The ways of naming an unnamed file (tests force each in turn).
#[cfg(test)]
#[derive(Clone, Copy)]
pub(crate) enum LinkHow {
    /// Decide again on next use.
    Auto,
    /// `AT_EMPTY_PATH`.
    EmptyPath,
    /// `/proc/self/fd/N`.
    Proc,
}

/// Forces how unnamed files are named (tests; either way is correct, so tests running
/// at the same time are not disturbed).
#[cfg(test)]
pub(crate) fn force_link_how(how: LinkHow) {
    let v = match how {
        LinkHow::Auto => LINK_UNKNOWN,
        LinkHow::EmptyPath => LINK_EMPTY_PATH,
        LinkHow::Proc => LINK_PROC,
    };
    LINK_HOW.store(v, Ordering::Relaxed);
}

/// Gives the unnamed file `file` the name `name` in `parent` (`EEXIST` if taken).
fn link_unnamed(file: &File, parent: &OwnedFd, name: &[u8]) -> Result<(), Errno> {
    if link_how() == LINK_EMPTY_PATH {
        match linkat(file, c"", parent, name, AtFlags::EMPTY_PATH) {
            // Root without the capability (a user namespace): the /proc way from now on.
            Err(Errno::NOENT | Errno::PERM) => LINK_HOW.store(LINK_PROC, Ordering::Relaxed),
            r => return r,
        }
    }
    let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(file));
    linkat(
        CWD,
        proc_path.as_str(),
        parent,
        name,
        AtFlags::SYMLINK_FOLLOW,
    )
}

/// A regular file being written with no name or under a temporary name next to its final
/// name (see the module's documentation).
///
/// Dropping it without [`commit`](Self::commit) removes the temporary name, if any.
#[derive(Debug)]
pub struct TempFile {
    /// The directory holding both names, pinned for the file's lifetime so
    /// a concurrent rename of a parent cannot redirect the commit.
    parent: Arc<OwnedFd>,
    /// Empty while the file has no name (`O_TMPFILE`).
    tmp_name: Vec<u8>,
    /// Unnamed, and the final name was absent when the file was begun: try to link it
    /// there directly.
    fresh: bool,
    final_name: Vec<u8>,
    rel: RelPath,
    file: File,
    committed: bool,
    /// Bytes appended so far.
    written: u64,
    /// Bytes whose writeback has been started ([`WRITE_BEHIND`]).
    flushed: u64,
}

impl TempFile {
    /// Creates `.NAME.XXXXXX` with `O_CREAT | O_EXCL | O_NOFOLLOW`, mode
    /// 0600, in `parent`.
    pub(crate) fn create(parent: Arc<OwnedFd>, rel: &RelPath) -> Result<Self, FsError> {
        let final_name = rel.file_name().to_vec();
        let mut file = None;
        let flags = OFlags::WRONLY
            | OFlags::CREATE
            | OFlags::EXCL
            | OFlags::NOFOLLOW
            | OFlags::CLOEXEC
            | OFlags::NOCTTY;
        let tmp_name = create_temp(&final_name, |tmp| {
            file = Some(openat(&parent, tmp, flags, Mode::from_raw_mode(0o600))?);
            Ok(())
        })
        .map_err(|e| FsError::io(Op::CreateTemp, rel.display(), e))?;
        let Some(fd) = file else {
            return Err(FsError::io(Op::CreateTemp, rel.display(), Errno::IO));
        };
        Ok(Self {
            parent,
            tmp_name,
            final_name,
            rel: rel.clone(),
            fresh: false,
            file: File::from(fd),
            committed: false,
            written: 0,
            flushed: 0,
        })
    }

    /// Creates a file with no name (`O_TMPFILE`, mode 0600) in `parent`; `fresh`: the final
    /// name was absent a moment ago, and [`commit`](Self::commit) first tries to link the
    /// file there. Falls back to [`TempFile::create`] where unnamed files are not available.
    pub(crate) fn create_unnamed(
        parent: Arc<OwnedFd>,
        rel: &RelPath,
        fresh: bool,
    ) -> Result<Self, FsError> {
        if link_how() == LINK_NONE {
            return Self::create(parent, rel);
        }
        let flags = OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = match openat(&parent, c".", flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => fd,
            // No `O_TMPFILE` on this file system (or kernel).
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOENT) => {
                return Self::create(parent, rel)
            }
            Err(e) => return Err(FsError::io(Op::CreateTemp, rel.display(), e)),
        };
        Ok(Self {
            parent,
            tmp_name: Vec::new(),
            fresh,
            final_name: rel.file_name().to_vec(),
            rel: rel.clone(),
            file: File::from(fd),
            committed: false,
            written: 0,
            flushed: 0,
        })
    }

    /// Whether the file has no name (yet: [`commit`](Self::commit) names it).
    pub fn is_unnamed(&self) -> bool {
        self.tmp_name.is_empty()
    }

    /// The final path this file will be committed to.
    pub fn rel(&self) -> &RelPath {
        &self.rel
    }

    /// The temporary name (a single component in the final directory; empty while the file
    /// has no name).
    pub fn temp_name(&self) -> &[u8] {
        &self.tmp_name
    }

    /// The open file, e.g. for `set_len` or positioned writes.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Appends `buf` to the file.
    ///
    /// # Errors
    /// [`Op::Write`] on an I/O error.
    pub fn write_all(&mut self, buf: &[u8]) -> Result<(), FsError> {
        self.file
            .write_all(buf)
            .map_err(|e| FsError::io(Op::Write, self.rel.display(), e))?;
        self.written += buf.len() as u64;
        self.write_behind();
        Ok(())
    }

    /// Appends `bufs`, in order, with as few `writev` calls as the kernel allows.
    ///
    /// # Errors
    /// [`Op::Write`] on an I/O error.
    pub fn write_all_bufs(&mut self, bufs: &[Vec<u8>]) -> Result<(), FsError> {
        let mut slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match self.file.write_vectored(rest) {
                Ok(0) => {
                    let e = std::io::Error::from(std::io::ErrorKind::WriteZero);
                    return Err(FsError::io(Op::Write, self.rel.display(), e));
                }
                Ok(n) => {
                    IoSlice::advance_slices(&mut rest, n);
                    self.written += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(FsError::io(Op::Write, self.rel.display(), e)),
            }
        }
        self.write_behind();
        Ok(())
    }

    /// Starts the writeback of every full [`WRITE_BEHIND`] bytes appended since the last
    /// call. `POSIX_FADV_DONTNEED` on pages just written starts their writeback without
    /// waiting for it; they stay cached (the kernel drops only clean pages, and these are
    /// dirty or under writeback). Without it a large file's dirty pages pile up and ext4's
    /// replace-by-rename rule (`auto_da_alloc`) allocates and flushes them all inside the
    /// final `rename`, after the data has long arrived. Advisory: an error changes nothing.
    fn write_behind(&mut self) {
        let pending = self.written - self.flushed;
        if pending >= WRITE_BEHIND {
            let _ = rustix::fs::fadvise(
                &self.file,
                self.flushed,
                NonZeroU64::new(pending),
                Advice::DontNeed,
            );
            self.flushed = self.written;
        }
    }

    /// Applies ownership, mode and mtime through the open descriptor. Call it
    /// after the last write: writing afterwards updates the mtime.
    ///
    /// # Errors
    /// [`Op::SetMeta`] on a failed `fchown`/`fchmod`/`futimens` or an
    /// out-of-range mtime.
    pub fn set_meta(&mut self, attrs: &Attrs) -> Result<(), FsError> {
        let mut attrs = *attrs;
        if attrs.uid.is_some() || attrs.gid.is_some() {
            // This process created the file: its owner is usually the wanted one already
            // (a receiver running as the files' owner, or root mirroring root's files), and
            // an `fstat` is much cheaper than a `fchown`, which is a journalled change.
            if let Ok(st) = rustix::fs::fstat(&self.file) {
                let m = super::meta::Meta::from_stat(&st);
                if attrs.uid == Some(m.uid) {
                    attrs.uid = None;
                }
                if attrs.gid == Some(m.gid) {
                    attrs.gid = None;
                }
            }
        }
        apply_to_fd(&self.file, &attrs).map_err(|e| match e {
            ApplyError::Invalid(what) => FsError::Invalid {
                op: Op::SetMeta,
                path: self.rel.display(),
                what,
            },
            ApplyError::Io(e) => FsError::io(Op::SetMeta, self.rel.display(), e),
        })
    }

    /// Flushes the file's data to stable storage (`fdatasync`), for callers
    /// that want durability before the rename (rsync `--fsync`).
    ///
    /// # Errors
    /// [`Op::Write`] on an I/O error.
    pub fn sync_data(&self) -> Result<(), FsError> {
        self.file
            .sync_data()
            .map_err(|e| FsError::io(Op::Write, self.rel.display(), e))
    }

    /// Renames the temporary name over the final name (atomically replacing
    /// any existing non-directory entry there).
    ///
    /// # Errors
    /// [`Op::Rename`] if the rename fails (the temporary is then removed).
    pub fn commit(mut self) -> Result<(), FsError> {
        if self.is_unnamed() {
            if self.fresh {
                match link_unnamed(&self.file, &self.parent, &self.final_name) {
                    Ok(()) => {
                        self.committed = true;
                        return Ok(());
                    }
                    // The name appeared meanwhile: replace it as any other file would be.
                    Err(Errno::EXIST) => {}
                    Err(e) => return Err(FsError::io(Op::Rename, self.rel.display(), e)),
                }
            }
            let (file, parent) = (&self.file, &self.parent);
            self.tmp_name = create_link_name(parent, &self.final_name, |tmp| {
                link_unnamed(file, parent, tmp)
            })
            .map_err(|e| FsError::io(Op::Rename, self.rel.display(), e))?;
        }
        renameat(&self.parent, &self.tmp_name, &self.parent, &self.final_name)
            .map_err(|e| FsError::io(Op::Rename, self.rel.display(), e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed && !self.tmp_name.is_empty() {
            // Best effort: the name is random and in a pinned directory. (A file that
            // never got a name is freed by the kernel when it is closed.)
            let _ = unlinkat(&self.parent, &self.tmp_name, AtFlags::empty());
        }
    }
}
