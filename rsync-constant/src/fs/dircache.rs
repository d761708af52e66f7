//! [`DirCache`]: a small least-recently-used cache of directory handles opened beneath a
//! [`super::Destination`]'s root, so that consecutive operations in the same directory (the
//! usual case: a transfer walks a sorted list depth first) resolve their parent with no
//! system call instead of one `openat2` (or one `openat` per component) each.
//!
//! # Security
//! Every handle in the cache was opened beneath the root exactly as an uncached resolution
//! would: `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` from the root, or one
//! `openat(O_NOFOLLOW | O_DIRECTORY)` per component from a cached ancestor, so no symlink is
//! ever followed and nothing is reached that was not beneath the root when it was opened.
//! A handle pins its directory's inode, as [`super::TempFile`] pins its parent: if a third
//! party renames a cached directory while the transfer runs, later entries still go into
//! that same directory (wherever it now is), never through a symlink planted in its place.
//! Our own operations that can remove or replace a directory ([`DirCache::forget`]) drop the
//! handles of that path and everything beneath it, so a directory recreated under the same
//! name is opened afresh.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use rustix::fs::{openat, Mode};
use rustix::io::Errno;

use super::resolve::{open_dir, Strategy, DIR_FLAGS};

/// Handles kept. A transfer's working set is its current directory chain plus the
/// generator running a little ahead of the receiver; a constant mirror's is every
/// directory the current burst of changes touches, which for a busy tree is a few
/// hundred (a cache smaller than a round-robin working set misses on every entry).
/// Well below the default soft limit of 1024 descriptors.
const CAPACITY: usize = 256;

/// Handles dropped at once when the cache is full: the least recently used quarter, so
/// that the scan for them is paid once per [`EVICT`] misses, not on every miss.
const EVICT: usize = CAPACITY / 4;

/// One cached directory.
struct Slot {
    dir: Arc<OwnedFd>,
    used: u64,
}

/// The cache, keyed by the directory's path beneath the root. Not thread-safe by itself:
/// [`super::Destination`] keeps it behind a mutex.
#[derive(Default)]
pub(crate) struct DirCache {
    slots: HashMap<Vec<u8>, Slot>,
    clock: u64,
}

impl std::fmt::Debug for DirCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirCache")
            .field("cached", &self.slots.len())
            .finish()
    }
}

/// Whether `a` is a proper ancestor of `b` (component-wise).
fn is_ancestor(a: &[u8], b: &[u8]) -> bool {
    b.len() > a.len() && b.starts_with(a) && b.get(a.len()) == Some(&b'/')
}

impl DirCache {
    /// The handle of directory `dir` (a validated relative path's bytes, not empty),
    /// opened beneath `root` if it is not cached yet.
    pub(crate) fn get(
        &mut self,
        root: &Arc<OwnedFd>,
        dir: &[u8],
        strategy: Strategy,
    ) -> Result<Arc<OwnedFd>, Errno> {
        self.clock += 1;
        let now = self.clock;
        if let Some(s) = self.slots.get_mut(dir) {
            s.used = now;
            return Ok(Arc::clone(&s.dir));
        }
        // The nearest cached ancestor: one hash look-up per component, longest first.
        let ancestor = dir
            .iter()
            .enumerate()
            .rev()
            .filter(|&(_, &b)| b == b'/')
            .find_map(|(i, _)| {
                let s = self.slots.get(dir.get(..i)?)?;
                Some((Arc::clone(&s.dir), i + 1))
            });
        let (mut cur, start) = match ancestor {
            Some(a) => a,
            None if strategy == Strategy::Auto => {
                // One `openat2` for the whole path; only the directory itself is kept.
                let fd = Arc::new(open_dir(root.as_fd(), dir, strategy)?);
                self.insert(dir.to_vec(), Arc::clone(&fd));
                return Ok(fd);
            }
            None => (Arc::clone(root), 0),
        };
        // One `openat(O_NOFOLLOW | O_DIRECTORY)` per missing component; each
        // intermediate directory is kept too (its siblings usually come next).
        let rest = dir.get(start..).unwrap_or_default();
        let mut end = start;
        for comp in rest.split(|&b| b == b'/') {
            // `dir` comes from a `RelPath`, but stay defensive: never `..`.
            if comp.is_empty() || comp == b"." || comp == b".." {
                return Err(Errno::INVAL);
            }
            end += comp.len();
            let next = Arc::new(openat(cur.as_fd(), comp, DIR_FLAGS, Mode::empty())?);
            self.insert(
                dir.get(..end).unwrap_or_default().to_vec(),
                Arc::clone(&next),
            );
            cur = next;
            end += 1;
        }
        Ok(cur)
    }

    /// Caches `dir` as the handle of `path` (a directory just created beneath the root).
    pub(crate) fn put(&mut self, path: &[u8], dir: Arc<OwnedFd>) {
        self.clock += 1;
        self.insert(path.to_vec(), dir);
    }

    fn insert(&mut self, path: Vec<u8>, dir: Arc<OwnedFd>) {
        if self.slots.len() >= CAPACITY && !self.slots.contains_key(&path) {
            self.evict();
        }
        let used = self.clock;
        self.slots.insert(path, Slot { dir, used });
    }

    /// Drops the [`EVICT`] least recently used handles.
    fn evict(&mut self) {
        let mut ages: Vec<u64> = self.slots.values().map(|s| s.used).collect();
        let Some(cut) = EVICT.checked_sub(1) else {
            return;
        };
        if cut >= ages.len() {
            self.slots.clear();
            return;
        }
        let (_, &mut oldest_kept, _) = ages.select_nth_unstable(cut);
        // `used` values are distinct (one clock tick per use), so this drops exactly EVICT.
        self.slots.retain(|_, s| s.used > oldest_kept);
    }

    /// Drops the handles of `path` and of everything beneath it (it is being removed or
    /// replaced).
    pub(crate) fn forget(&mut self, path: &[u8]) {
        if self.slots.is_empty() {
            return;
        }
        self.slots
            .retain(|p, _| p.as_slice() != path && !is_ancestor(path, p));
    }

    /// Drops every handle.
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
    }

    /// How many handles are cached (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestry_is_component_wise() {
        assert!(is_ancestor(b"a", b"a/b"));
        assert!(is_ancestor(b"a/b", b"a/b/c"));
        assert!(!is_ancestor(b"a", b"ab/c"));
        assert!(!is_ancestor(b"a", b"a"));
        assert!(!is_ancestor(b"a/b", b"a"));
    }

    #[test]
    fn cached_handles_are_reused_evicted_and_forgotten() {
        let tmp = tempfile::tempdir().unwrap();
        let n = CAPACITY + 40;
        for i in 0..n {
            std::fs::create_dir_all(tmp.path().join(format!("x/d{i}/s"))).unwrap();
        }
        let root = Arc::new(rustix::fs::open(tmp.path(), DIR_FLAGS, Mode::empty()).unwrap());
        for strategy in [Strategy::Auto, Strategy::Walk] {
            let mut c = DirCache::default();
            let a = c.get(&root, b"x/d0/s", strategy).unwrap();
            let b = c.get(&root, b"x/d0/s", strategy).unwrap();
            assert!(Arc::ptr_eq(&a, &b));
            // A sibling beneath a cached ancestor (walk) or a fresh `openat2` (auto).
            c.get(&root, b"x/d1", strategy).unwrap();
            for i in 0..n {
                c.get(&root, format!("x/d{i}").as_bytes(), strategy)
                    .unwrap();
            }
            assert!(c.len() <= CAPACITY);
            // The most recent handles survived the evictions; the oldest did not.
            let last = format!("x/d{}", n - 1);
            let again = c.get(&root, last.as_bytes(), strategy).unwrap();
            assert!(Arc::ptr_eq(
                &again,
                &c.get(&root, last.as_bytes(), strategy).unwrap()
            ));
            let before = c.len();
            let recent = format!("x/d{}", n - 2);
            c.get(&root, recent.as_bytes(), strategy).unwrap();
            assert_eq!(c.len(), before, "a recent handle was evicted");
            c.get(&root, b"x/d39/s", strategy).unwrap();
            c.forget(b"x");
            assert_eq!(c.len(), 0);
            // A directory replaced by a symlink is refused once forgotten.
            c.get(&root, b"x/d2/s", strategy).unwrap();
            c.forget(b"x/d2");
            std::fs::remove_dir_all(tmp.path().join("x/d2")).unwrap();
            std::os::unix::fs::symlink("d3", tmp.path().join("x/d2")).unwrap();
            let e = c.get(&root, b"x/d2/s", strategy).unwrap_err();
            assert!(matches!(e, Errno::LOOP | Errno::NOTDIR), "{e}");
            std::fs::remove_file(tmp.path().join("x/d2")).unwrap();
            std::fs::create_dir_all(tmp.path().join("x/d2/s")).unwrap();
        }
    }
}
