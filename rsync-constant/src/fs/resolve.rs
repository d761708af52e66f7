//! Resolving directories beneath a held directory handle without following
//! symlinks: `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS)` when the kernel has it, else a
//! component-by-component walk with `O_NOFOLLOW | O_DIRECTORY`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};

use rustix::fs::{openat, openat2, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::path::RelPath;

/// Flags for opening an intermediate directory: never a symlink.
pub(crate) const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

const OPENAT2_UNKNOWN: u8 = 0;
const OPENAT2_YES: u8 = 1;
const OPENAT2_NO: u8 = 2;

/// Whether this kernel (and seccomp policy) supports `openat2`.
static OPENAT2: AtomicU8 = AtomicU8::new(OPENAT2_UNKNOWN);

/// How to resolve intermediate directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// `openat2` if available, else [`Strategy::Walk`].
    Auto,
    /// Always the component-by-component walk (tests, old kernels).
    Walk,
}

/// A parent directory: the root handle itself or a directory opened beneath
/// it.
pub(crate) enum Parent<'a> {
    Root(BorrowedFd<'a>),
    Owned(OwnedFd),
}

impl AsFd for Parent<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Root(fd) => *fd,
            Self::Owned(fd) => fd.as_fd(),
        }
    }
}

/// Opens the directory `rel` (a validated path's bytes) beneath `root`,
/// refusing symlinks in every component.
pub(crate) fn open_dir(
    root: BorrowedFd<'_>,
    rel: &[u8],
    strategy: Strategy,
) -> Result<OwnedFd, Errno> {
    if strategy == Strategy::Auto && OPENAT2.load(Ordering::Relaxed) != OPENAT2_NO {
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        let mut attempts = 0;
        loop {
            match openat2(root, rel, DIR_FLAGS, Mode::empty(), resolve) {
                Ok(fd) => {
                    OPENAT2.store(OPENAT2_YES, Ordering::Relaxed);
                    return Ok(fd);
                }
                // A concurrent rename anywhere on the system; retry a little.
                Err(Errno::AGAIN) if attempts < 16 => attempts += 1,
                // No openat2 (old kernel) or a seccomp filter refusing it.
                Err(Errno::NOSYS) | Err(Errno::PERM)
                    if OPENAT2.load(Ordering::Relaxed) == OPENAT2_UNKNOWN =>
                {
                    OPENAT2.store(OPENAT2_NO, Ordering::Relaxed);
                    break;
                }
                Err(Errno::NOSYS) => {
                    OPENAT2.store(OPENAT2_NO, Ordering::Relaxed);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
    }
    walk_components(root, rel)
}

/// The fallback: one `openat(O_NOFOLLOW | O_DIRECTORY)` per component, each
/// relative to the previous handle.
fn walk_components(root: BorrowedFd<'_>, rel: &[u8]) -> Result<OwnedFd, Errno> {
    let mut cur: Option<OwnedFd> = None;
    for comp in rel.split(|&b| b == b'/') {
        // `rel` comes from a `RelPath`, but stay defensive: never `..`.
        if comp.is_empty() || comp == b"." || comp == b".." {
            return Err(Errno::INVAL);
        }
        let dir = cur.as_ref().map_or(root, AsFd::as_fd);
        let next = openat(dir, comp, DIR_FLAGS, Mode::empty())?;
        cur = Some(next);
    }
    match cur {
        Some(fd) => Ok(fd),
        None => root.try_clone_to_owned().map_err(|e| {
            e.raw_os_error()
                .map_or(Errno::BADF, Errno::from_raw_os_error)
        }),
    }
}

/// Opens the parent directory of `rel` beneath `root` and returns it with
/// the final component.
pub(crate) fn open_parent<'a, 'p>(
    root: BorrowedFd<'a>,
    rel: &'p RelPath,
    strategy: Strategy,
) -> Result<(Parent<'a>, &'p [u8]), Errno> {
    match rel.split_last() {
        (None, name) => Ok((Parent::Root(root), name)),
        (Some(parent), name) => Ok((Parent::Owned(open_dir(root, parent, strategy)?), name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_inside_the_tree_are_refused_too() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("real/sub")).unwrap();
        std::os::unix::fs::symlink("real", tmp.path().join("inner")).unwrap();
        let root = rustix::fs::open(tmp.path(), DIR_FLAGS, Mode::empty()).unwrap();
        for strategy in [Strategy::Auto, Strategy::Walk] {
            assert!(open_dir(root.as_fd(), b"real/sub", strategy).is_ok());
            // openat2 says ELOOP; the O_NOFOLLOW | O_DIRECTORY walk, ENOTDIR.
            let e = open_dir(root.as_fd(), b"inner/sub", strategy).unwrap_err();
            assert!(matches!(e, Errno::LOOP | Errno::NOTDIR), "{strategy:?} {e}");
            // A final symlink under `O_NOFOLLOW | O_DIRECTORY` is ENOTDIR.
            let e = open_dir(root.as_fd(), b"inner", strategy).unwrap_err();
            assert!(matches!(e, Errno::LOOP | Errno::NOTDIR), "{strategy:?} {e}");
            assert_eq!(
                open_dir(root.as_fd(), b"nope/sub", strategy).unwrap_err(),
                Errno::NOENT
            );
        }
        // On kernels with openat2 (5.6+) the fast path is taken.
        eprintln!("openat2 state: {}", OPENAT2.load(Ordering::Relaxed));
    }
}
