//! [`InPlaceFile`]: a destination file updated where it is (rsync `--inplace`): the same
//! inode, so every hard link to it sees the new contents, written at explicit offsets
//! (a block that is already in place is skipped, not rewritten) and cut to its new length
//! at the end.
//!
//! # Security
//! The file is opened beneath the destination handle like every other entry (the parent
//! resolved without following any symlink, the final component with `O_NOFOLLOW`), never
//! truncated on open, and refused unless it is a regular file. A FIFO is opened
//! non-blocking, so it cannot hang the receiver before it is refused. A read-only file we
//! own gets owner-write permission only for as long as the `open` takes (rsync's
//! `open_readonly_inplace`).

use std::io::IoSlice;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{fchmod, fstat, ftruncate, openat, Mode, OFlags};
use rustix::io::Errno;

use super::error::{FsError, Op};
use super::meta::{apply_to_fd, ApplyError, Attrs, FileKind, Meta};
use super::path::RelPath;

/// A regular file open for writing in place (`O_WRONLY`, no `O_TRUNC`), with a write
/// position that starts at 0.
///
/// Dropping it keeps whatever was written (rsync leaves an interrupted in-place file as it
/// is); [`truncate`](Self::truncate) cuts it to the written length.
#[derive(Debug)]
pub struct InPlaceFile {
    fd: OwnedFd,
    rel: RelPath,
    /// `fstat` at open.
    meta: Meta,
    /// Where the next write goes.
    pos: u64,
    /// Whether the file was created by the open.
    created: bool,
}

/// Flags of every in-place open.
fn flags() -> OFlags {
    OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC
}

impl InPlaceFile {
    /// Opens `name` in `parent` (which must be resolved beneath the destination) for an
    /// in-place update; with `create`, a missing file is created under that name with mode
    /// 0600 (its final mode is applied at the end, as for a temporary file).
    pub(crate) fn open(
        parent: &impl AsFd,
        name: &[u8],
        rel: &RelPath,
        create: bool,
    ) -> Result<Self, FsError> {
        let e = |err: Errno| FsError::io(Op::Write, rel.display(), err);
        let plain = openat(parent, name, flags(), Mode::empty());
        let (fd, created) = match plain {
            Ok(fd) => (fd, false),
            Err(Errno::NOENT) if create => {
                let fd = openat(
                    parent,
                    name,
                    flags() | OFlags::CREATE,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(e)?;
                (fd, true)
            }
            Err(Errno::ACCESS) => (open_read_only_file(parent, name).map_err(e)?, false),
            Err(err) => return Err(e(err)),
        };
        let meta = Meta::from_stat(&fstat(&fd).map_err(e)?);
        if meta.kind != FileKind::File {
            return Err(FsError::WrongKind {
                op: Op::Write,
                path: rel.display(),
                found: meta.kind,
                expected: FileKind::File,
            });
        }
        Ok(Self {
            fd,
            rel: rel.clone(),
            meta,
            pos: 0,
            created,
        })
    }

    /// The path it was opened at.
    pub fn rel(&self) -> &RelPath {
        &self.rel
    }

    /// Metadata when it was opened (its `dev`/`ino` identify it).
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Whether the open created it (it did not exist).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Where the next write goes (bytes written or skipped so far).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Writes `bufs`, in order, at the write position and moves it past them.
    ///
    /// # Errors
    /// [`Op::Write`] on an I/O error.
    pub fn write_all_bufs(&mut self, bufs: &[Vec<u8>]) -> Result<(), FsError> {
        let mut slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match rustix::io::pwritev(&self.fd, rest, self.pos) {
                Ok(0) => return Err(FsError::io(Op::Write, self.rel.display(), Errno::IO)),
                Ok(n) => {
                    IoSlice::advance_slices(&mut rest, n);
                    self.pos += n as u64;
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(FsError::io(Op::Write, self.rel.display(), e)),
            }
        }
        Ok(())
    }

    /// Moves the write position `len` bytes on without writing (the bytes there are
    /// already the right ones: a block matched at its own offset).
    pub fn skip(&mut self, len: u64) {
        self.pos = self.pos.saturating_add(len);
    }

    /// Applies ownership, mode and mtime through the open descriptor. Call it after the
    /// last write.
    ///
    /// # Errors
    /// [`Op::SetMeta`] on a failed `fchown`/`fchmod`/`futimens` or an out-of-range mtime.
    pub fn set_meta(&mut self, attrs: &Attrs) -> Result<(), FsError> {
        apply_to_fd(&self.fd, attrs).map_err(|e| match e {
            ApplyError::Invalid(what) => FsError::Invalid {
                op: Op::SetMeta,
                path: self.rel.display(),
                what,
            },
            ApplyError::Io(e) => FsError::io(Op::SetMeta, self.rel.display(), e),
        })
    }

    /// Cuts the file at the write position: the new version may be shorter than the old one
    /// (rsync `receive_data`'s `ftruncate` with `inplace_sizing`).
    ///
    /// # Errors
    /// [`Op::Write`] if `ftruncate` fails.
    pub fn truncate(&mut self) -> Result<(), FsError> {
        ftruncate(&self.fd, self.pos).map_err(|e| FsError::io(Op::Write, self.rel.display(), e))
    }

    /// The open descriptor (tests, `fsync`).
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}

/// rsync `open_readonly_inplace`: a regular file we may not write (mode without owner
/// write) is opened after adding owner write for the duration of the `open`; its mode is
/// restored at once, whatever happened. Anything else stays `EACCES`.
fn open_read_only_file(parent: &impl AsFd, name: &[u8]) -> Result<OwnedFd, Errno> {
    let ro = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
    let probe = openat(parent, name, ro | OFlags::CLOEXEC, Mode::empty())?;
    let st = fstat(&probe)?;
    let meta = Meta::from_stat(&st);
    let ours = st.st_uid == rustix::process::geteuid().as_raw();
    if meta.kind != FileKind::File || !ours || meta.mode & 0o200 != 0 {
        return Err(Errno::ACCESS);
    }
    fchmod(&probe, Mode::from_raw_mode(meta.mode | 0o200))?;
    let opened = openat(parent, name, flags(), Mode::empty());
    let restored = fchmod(&probe, Mode::from_raw_mode(meta.mode));
    let fd = opened?;
    restored?;
    // The name may have been swapped between the two opens: the writable descriptor must
    // be the file whose mode we changed.
    let now = fstat(&fd)?;
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
        return Err(Errno::ACCESS);
    }
    Ok(fd)
}
