//! [`walk()`]: a symlink-safe, depth-first listing of a tree beneath a
//! directory handle, names in byte order within each directory.
//!
//! Directories are listed with `getdents` on handles opened with
//! `O_NOFOLLOW | O_DIRECTORY` relative to their parent's handle, never by
//! joined path, so a directory swapped for a symlink mid-walk is an error,
//! not a detour outside the tree. Memory is one sorted name list per open
//! directory level.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{fstat, openat, readlinkat, statat, AtFlags, Dir, Mode};
use rustix::io::Errno;

use super::error::{FsError, Op};
use super::meta::{FileKind, Meta};
use super::path::RelPath;
use super::resolve::{open_dir, open_parent, Strategy, DIR_FLAGS};

/// One entry found by [`walk()`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the walk's root handle.
    pub path: RelPath,
    /// `lstat` metadata (for a directory that is descended into, `fstat` of
    /// the opened handle, so it describes the directory actually listed).
    pub meta: Meta,
    /// The symlink target, byte for byte, for symlinks.
    pub link_target: Option<Vec<u8>>,
}

/// Reads the names in a directory (without `.` and `..`), sorted bytewise.
pub(crate) fn read_names(dir: BorrowedFd<'_>) -> Result<Vec<Vec<u8>>, Errno> {
    let mut d = Dir::read_from(dir)?;
    let mut names = Vec::new();
    while let Some(ent) = d.read() {
        let ent = ent?;
        let name = ent.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// The names of one directory, sorted bytewise, in one buffer (two allocations per
/// directory instead of one per name).
struct DirNames {
    bytes: Vec<u8>,
    /// `(start, end)` of each name in `bytes`, in order.
    spans: Vec<(u32, u32)>,
    next: usize,
}

impl DirNames {
    fn read(dir: BorrowedFd<'_>) -> Result<Self, Errno> {
        let mut d = Dir::read_from(dir)?;
        let mut bytes = Vec::new();
        let mut spans = Vec::new();
        while let Some(ent) = d.read() {
            let ent = ent?;
            let name = ent.file_name().to_bytes();
            if name != b"." && name != b".." {
                let start = bytes.len();
                bytes.extend_from_slice(name);
                // A directory's names stay far below 4 GiB (each ≤ 255 bytes).
                let span = u32::try_from(start).and_then(|s| Ok((s, u32::try_from(bytes.len())?)));
                spans.push(span.map_err(|_| Errno::NAMETOOLONG)?);
            }
        }
        let name = |&(s, e): &(u32, u32)| bytes.get(s as usize..e as usize).unwrap_or_default();
        spans.sort_unstable_by(|a, b| name(a).cmp(name(b)));
        Ok(Self {
            bytes,
            spans,
            next: 0,
        })
    }

    /// The next name, in byte order.
    fn next(&mut self) -> Option<&[u8]> {
        let &(s, e) = self.spans.get(self.next)?;
        self.next += 1;
        self.bytes.get(s as usize..e as usize)
    }
}

struct Frame {
    dir: OwnedFd,
    /// Path of this directory (`None`: the walk's root handle).
    prefix: Option<RelPath>,
    names: DirNames,
}

/// Iterator returned by [`walk()`]; yields entries depth-first, each
/// directory before its contents. Errors are yielded in place and the walk
/// continues with the next entry.
pub struct Walk {
    recursive: bool,
    first: Option<Result<Entry, FsError>>,
    stack: Vec<Frame>,
    /// The last entry yielded was a directory whose listing was pushed on the stack.
    last_descended: bool,
}

/// Walks beneath `root`: if `start` is `Some`, yields `start` itself first;
/// then the contents of `start` (or of `root` when `start` is `None`) if it
/// is a directory, descending into subdirectories only when `recursive`.
/// Symlinks are reported (with their target), never followed.
///
/// # Errors
/// Yielded per entry: [`Op::Lstat`], [`Op::Readlink`], [`Op::ReadDir`],
/// [`Op::Resolve`], or [`FsError::Path`] for a path over 4095 bytes.
pub fn walk(root: BorrowedFd<'_>, start: Option<&RelPath>, recursive: bool) -> Walk {
    let mut w = Walk {
        recursive,
        first: None,
        stack: Vec::new(),
        last_descended: false,
    };
    match start {
        None => match root.try_clone_to_owned() {
            Ok(fd) => w.push_dir(fd, None),
            Err(e) => w.first = Some(Err(FsError::io(Op::ReadDir, ".", e))),
        },
        Some(rel) => {
            w.first = Some(match open_parent(root, rel, Strategy::Auto) {
                Ok((parent, name)) => {
                    // `start` is always descended into (one level when not
                    // recursive), like `rsync -d DIR/`.
                    visit(parent.as_fd(), name, rel.clone(), true).map(|(entry, frame)| {
                        w.last_descended = frame.is_some();
                        w.stack.extend(frame);
                        entry
                    })
                }
                Err(e) => Err(FsError::io(Op::Resolve, rel.display(), e)),
            });
        }
    }
    w
}

impl Walk {
    /// Does not descend into the directory the walk has just yielded (an excluded
    /// directory's content is never visited); nothing happens after any other entry.
    pub fn prune(&mut self) {
        if std::mem::take(&mut self.last_descended) {
            self.stack.pop();
        }
    }

    fn push_dir(&mut self, dir: OwnedFd, prefix: Option<RelPath>) {
        match DirNames::read(dir.as_fd()) {
            Ok(names) => self.stack.push(Frame { dir, prefix, names }),
            Err(e) => {
                let path = prefix
                    .as_ref()
                    .map_or_else(|| ".".to_owned(), RelPath::display);
                self.first = Some(Err(FsError::io(Op::ReadDir, path, e)));
            }
        }
    }
}

/// Stats `name` in `parent`; reads its link target; opens and lists it
/// when it is a directory to descend into.
fn visit(
    parent: BorrowedFd<'_>,
    name: &[u8],
    path: RelPath,
    descend: bool,
) -> Result<(Entry, Option<Frame>), FsError> {
    let st = statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| FsError::io(Op::Lstat, path.display(), e))?;
    let mut meta = Meta::from_stat(&st);
    let mut link_target = None;
    let mut frame = None;
    match meta.kind {
        FileKind::Symlink => {
            let t = readlinkat(parent, name, Vec::new())
                .map_err(|e| FsError::io(Op::Readlink, path.display(), e))?;
            link_target = Some(t.into_bytes());
        }
        FileKind::Dir if descend => {
            let fd = openat(parent, name, DIR_FLAGS, Mode::empty())
                .map_err(|e| FsError::io(Op::ReadDir, path.display(), e))?;
            let st = fstat(&fd).map_err(|e| FsError::io(Op::ReadDir, path.display(), e))?;
            meta = Meta::from_stat(&st);
            let names = DirNames::read(fd.as_fd())
                .map_err(|e| FsError::io(Op::ReadDir, path.display(), e))?;
            frame = Some(Frame {
                dir: fd,
                prefix: Some(path.clone()),
                names,
            });
        }
        _ => {}
    }
    Ok((
        Entry {
            path,
            meta,
            link_target,
        },
        frame,
    ))
}

impl Iterator for Walk {
    type Item = Result<Entry, FsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        self.last_descended = false;
        loop {
            let frame = self.stack.last_mut()?;
            let Some(name) = frame.names.next() else {
                self.stack.pop();
                continue;
            };
            let path = match &frame.prefix {
                Some(p) => p.join(name),
                None => RelPath::from_name(name),
            };
            let path = match path {
                Ok(p) => p,
                Err(source) => {
                    return Some(Err(FsError::Path {
                        op: Op::ReadDir,
                        path: super::path::display_bytes(name),
                        source,
                    }))
                }
            };
            let visited = visit(frame.dir.as_fd(), name, path, self.recursive);
            return Some(visited.map(|(entry, sub)| {
                self.last_descended = sub.is_some();
                self.stack.extend(sub);
                entry
            }));
        }
    }
}

/// Opens the directory `rel` beneath `root` for a caller that wants to walk
/// from a handle of its own.
///
/// # Errors
/// [`Op::Resolve`] if any component is a symlink or not a directory.
pub fn open_dir_beneath(root: BorrowedFd<'_>, rel: &RelPath) -> Result<OwnedFd, FsError> {
    open_dir(root, rel.as_bytes(), Strategy::Auto)
        .map_err(|e| FsError::io(Op::Resolve, rel.display(), e))
}
