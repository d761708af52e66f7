//! File trees for the interop tests: a deterministic builder and a snapshot with a comparison
//! that explains every difference.
//!
//! [`TreeBuilder`] creates files, directories, symlinks, hard links and special files with
//! exact modes, owners and nanosecond mtimes (set last, deepest first, so that creating an entry
//! does not disturb its parent's time). [`Snapshot::take`] records a tree without following
//! symlinks, and [`Snapshot::diff`] lists the differences between two snapshots under a
//! [`Compare`] policy (which attributes count, at which mtime precision).
//!
//! Names are bytes everywhere: a path inside a tree is a `/`-separated byte string, relative to
//! the tree's root; the root itself is the empty string (shown as `.`).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::hash::Hasher;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps, CWD};

/// A modification time with nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mtime {
    /// Seconds since the epoch.
    pub secs: i64,
    /// Nanoseconds, 0..1_000_000_000.
    pub nanos: u32,
}

impl Mtime {
    /// `secs` seconds and `nanos` nanoseconds after the epoch.
    pub const fn new(secs: i64, nanos: u32) -> Self {
        Self { secs, nanos }
    }
}

impl std::fmt::Display for Mtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:09}", self.secs, self.nanos)
    }
}

/// Joins `rel` (a tree path, bytes) to `root`.
pub fn join(root: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(OsStr::from_bytes(rel))
    }
}

/// Shows bytes for a message: printable ASCII as is, `\\`, `\n`, `\t`, other bytes `\xNN`.
pub fn printable(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(char::from(c)),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s
}

/// Shows a tree path: `.` for the root, other paths through [`printable`].
pub fn show(rel: &[u8]) -> String {
    if rel.is_empty() {
        ".".to_owned()
    } else {
        printable(rel)
    }
}

fn ctx(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Builds a tree beneath a root directory. Every call creates the entry at once; the mtimes
/// given are applied by [`TreeBuilder::finish`], after every entry exists.
#[derive(Debug)]
pub struct TreeBuilder {
    root: PathBuf,
    /// (path, mtime) of every entry whose time is set at the end, in creation order.
    times: Vec<(Vec<u8>, Mtime)>,
    /// Directory modes, applied at the end (a 0500 directory would refuse its children).
    dir_modes: Vec<(Vec<u8>, u32)>,
}

impl TreeBuilder {
    /// Starts a tree at `root`, creating the directory (and missing parents) if needed. The
    /// root's mode and mtime are set with [`TreeBuilder::root`].
    pub fn new(root: &Path) -> io::Result<Self> {
        fs::create_dir_all(root).map_err(|e| ctx(e, "create", root))?;
        Ok(Self {
            root: root.to_path_buf(),
            times: Vec::new(),
            dir_modes: Vec::new(),
        })
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Sets the root directory's mode and mtime (applied by `finish`).
    pub fn root(&mut self, perm: u32, mtime: Mtime) -> &mut Self {
        self.dir_modes.push((Vec::new(), perm));
        self.times.push((Vec::new(), mtime));
        self
    }

    /// Creates directory `rel` (its parent must exist).
    pub fn dir(&mut self, rel: &[u8], perm: u32, mtime: Mtime) -> io::Result<&mut Self> {
        let p = join(&self.root, rel);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&p)
            .map_err(|e| ctx(e, "mkdir", &p))?;
        self.dir_modes.push((rel.to_vec(), perm));
        self.times.push((rel.to_vec(), mtime));
        Ok(self)
    }

    /// Creates regular file `rel` holding `data`, replacing any file of that name.
    pub fn file(
        &mut self,
        rel: &[u8],
        data: &[u8],
        perm: u32,
        mtime: Mtime,
    ) -> io::Result<&mut Self> {
        let p = join(&self.root, rel);
        fs::write(&p, data).map_err(|e| ctx(e, "write", &p))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(perm))
            .map_err(|e| ctx(e, "chmod", &p))?;
        self.times.push((rel.to_vec(), mtime));
        Ok(self)
    }

    /// Creates symlink `rel` pointing at `target` (any bytes; it need not exist).
    pub fn symlink(&mut self, rel: &[u8], target: &[u8], mtime: Mtime) -> io::Result<&mut Self> {
        let p = join(&self.root, rel);
        std::os::unix::fs::symlink(OsStr::from_bytes(target), &p)
            .map_err(|e| ctx(e, "symlink", &p))?;
        self.times.push((rel.to_vec(), mtime));
        Ok(self)
    }

    /// Makes `rel` a new hard link to the existing entry `existing`.
    pub fn hard_link(&mut self, existing: &[u8], rel: &[u8]) -> io::Result<&mut Self> {
        let p = join(&self.root, rel);
        fs::hard_link(join(&self.root, existing), &p).map_err(|e| ctx(e, "link", &p))?;
        Ok(self)
    }

    /// Creates a named pipe.
    pub fn fifo(&mut self, rel: &[u8], perm: u32, mtime: Mtime) -> io::Result<&mut Self> {
        self.node(rel, FileType::Fifo, 0, perm, mtime)
    }

    /// Creates a character device `major:minor` (needs CAP_MKNOD: the error says so).
    pub fn char_device(
        &mut self,
        rel: &[u8],
        major: u32,
        minor: u32,
        perm: u32,
        mtime: Mtime,
    ) -> io::Result<&mut Self> {
        let dev = rustix::fs::makedev(major, minor);
        self.node(rel, FileType::CharacterDevice, dev, perm, mtime)
    }

    fn node(
        &mut self,
        rel: &[u8],
        kind: FileType,
        dev: u64,
        perm: u32,
        mtime: Mtime,
    ) -> io::Result<&mut Self> {
        let p = join(&self.root, rel);
        rustix::fs::mknodat(CWD, &p, kind, Mode::from_raw_mode(perm), dev)
            .map_err(|e| ctx(e.into(), "mknod", &p))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(perm))
            .map_err(|e| ctx(e, "chmod", &p))?;
        self.times.push((rel.to_vec(), mtime));
        Ok(self)
    }

    /// Sets the owner of `rel` (without following a symlink). Needs root for foreign ids.
    pub fn owner(&mut self, rel: &[u8], uid: u32, gid: u32) -> io::Result<&mut Self> {
        let p = join(&self.root, rel);
        std::os::unix::fs::lchown(&p, Some(uid), Some(gid)).map_err(|e| ctx(e, "chown", &p))?;
        Ok(self)
    }

    /// Removes `rel` (a file, symlink or a whole directory).
    pub fn remove(&mut self, rel: &[u8]) -> io::Result<&mut Self> {
        let p = join(&self.root, rel);
        let meta = fs::symlink_metadata(&p).map_err(|e| ctx(e, "lstat", &p))?;
        if meta.is_dir() {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        }
        .map_err(|e| ctx(e, "remove", &p))?;
        self.times.retain(|(r, _)| r.as_slice() != rel);
        self.dir_modes.retain(|(r, _)| r.as_slice() != rel);
        Ok(self)
    }

    /// Applies the directory modes and every recorded mtime: non-directories first, then
    /// directories deepest first, the root last.
    pub fn finish(self) -> io::Result<()> {
        for (rel, perm) in &self.dir_modes {
            let p = join(&self.root, rel);
            fs::set_permissions(&p, fs::Permissions::from_mode(*perm))
                .map_err(|e| ctx(e, "chmod", &p))?;
        }
        let mut times = self.times;
        let depth = |rel: &[u8]| {
            if rel.is_empty() {
                0
            } else {
                1 + rel.iter().filter(|&&b| b == b'/').count()
            }
        };
        let dirs: BTreeSet<&[u8]> = self.dir_modes.iter().map(|(r, _)| r.as_slice()).collect();
        // Stable sort: files (key 0) before directories, directories by decreasing depth.
        times.sort_by_key(|(rel, _)| {
            if dirs.contains(rel.as_slice()) {
                (1, usize::MAX - depth(rel))
            } else {
                (0, 0)
            }
        });
        for (rel, t) in &times {
            set_mtime(&join(&self.root, rel), *t)?;
        }
        Ok(())
    }
}

/// Sets the access and modification times of `path` to `t`, without following a symlink.
pub fn set_mtime(path: &Path, t: Mtime) -> io::Result<()> {
    let ts = Timespec {
        tv_sec: t.secs,
        tv_nsec: i64::from(t.nanos),
    };
    let times = Timestamps {
        last_access: ts,
        last_modification: ts,
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| ctx(e.into(), "utimensat", path))
}

/// The type and contents of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file: its length and a 64-bit digest of its contents.
    File {
        /// Length in bytes.
        len: u64,
        /// 64-bit SipHash of the contents (fixed keys: equal contents, equal digests).
        digest: u64,
    },
    /// A directory (its size is file-system noise and is not recorded).
    Dir,
    /// A symlink and its target.
    Symlink(Vec<u8>),
    /// A named pipe.
    Fifo,
    /// A socket.
    Socket,
    /// A character device and its device number.
    CharDev(u64),
    /// A block device and its device number.
    BlockDev(u64),
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File { len, .. } => write!(f, "file of {len} bytes"),
            Self::Dir => f.write_str("directory"),
            Self::Symlink(t) => write!(f, "symlink -> {}", printable(t)),
            Self::Fifo => f.write_str("fifo"),
            Self::Socket => f.write_str("socket"),
            Self::CharDev(d) => write!(f, "char device {d:#x}"),
            Self::BlockDev(d) => write!(f, "block device {d:#x}"),
        }
    }
}

/// One entry of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Type and contents.
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky (`st_mode & 0o7777`).
    pub perm: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time.
    pub mtime: Mtime,
    /// (device, inode), to find hard links.
    pub inode: (u64, u64),
}

/// A recorded tree: every entry beneath (and including) a root, by path.
#[derive(Clone, Debug)]
pub struct Snapshot {
    root: PathBuf,
    entries: BTreeMap<Vec<u8>, Entry>,
}

/// What [`Snapshot::diff`] compares besides names, types and contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compare {
    /// Compare mtimes with nanoseconds (`true`) or seconds only (`false`).
    pub mtime_nanos: bool,
    /// Compare mtimes at all.
    pub mtimes: bool,
    /// Compare permission bits (symlinks' are never compared).
    pub perms: bool,
    /// Compare uid and gid.
    pub owners: bool,
    /// Compare hard-link groups (which paths share an inode).
    pub hard_links: bool,
    /// Compare the root directory's own attributes (mode, owner, mtime).
    pub root_attrs: bool,
    /// Compare (device, inode) numbers: only meaningful between two snapshots of the same
    /// tree, where a different inode means the entry was replaced.
    pub inodes: bool,
}

impl Compare {
    /// Everything, mtimes to the nanosecond.
    pub const EXACT: Self = Self {
        mtime_nanos: true,
        mtimes: true,
        perms: true,
        owners: true,
        hard_links: true,
        root_attrs: true,
        inodes: false,
    };

    /// Everything, inodes too: for the same tree before and after something that must not
    /// touch it.
    pub const UNTOUCHED: Self = Self {
        inodes: true,
        ..Self::EXACT
    };
}

impl Snapshot {
    /// Records the tree at `root` (which must be a directory), reading every file's contents.
    pub fn take(root: &Path) -> io::Result<Self> {
        let mut entries = BTreeMap::new();
        walk(root, Vec::new(), &mut entries)?;
        Ok(Self {
            root: root.to_path_buf(),
            entries,
        })
    }

    /// The directory this snapshot was taken of.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The entries by path (the root is the empty path).
    pub fn entries(&self) -> &BTreeMap<Vec<u8>, Entry> {
        &self.entries
    }

    /// The entry at `rel`.
    pub fn get(&self, rel: &[u8]) -> Option<&Entry> {
        self.entries.get(rel)
    }

    /// A copy keeping only the root and the entries whose path is in `keep`.
    pub fn subset(&self, keep: &[&[u8]]) -> Self {
        let keep: BTreeSet<&[u8]> = keep.iter().copied().collect();
        Self {
            root: self.root.clone(),
            entries: self
                .entries
                .iter()
                .filter(|(p, _)| p.is_empty() || keep.contains(p.as_slice()))
                .map(|(p, e)| (p.clone(), e.clone()))
                .collect(),
        }
    }

    /// Paths sharing the inode of `rel` within this tree (including `rel`); empty for
    /// directories.
    fn link_group(&self, rel: &[u8]) -> Vec<&[u8]> {
        match self.entries.get(rel) {
            Some(e) if e.kind != Kind::Dir => self
                .entries
                .iter()
                .filter(|(_, o)| o.inode == e.inode && o.kind != Kind::Dir)
                .map(|(p, _)| p.as_slice())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Lists how `actual` differs from `self` (the expectation) under `how`, one line per
    /// difference, in path order. Empty means equal.
    pub fn diff(&self, actual: &Self, how: Compare) -> Vec<String> {
        let mut out = Vec::new();
        let paths: BTreeSet<&Vec<u8>> = self.entries.keys().chain(actual.entries.keys()).collect();
        for path in paths {
            let shown = show(path);
            let (exp, act) = match (self.entries.get(path), actual.entries.get(path)) {
                (Some(e), Some(a)) => (e, a),
                (Some(e), None) => {
                    out.push(format!("{shown}: missing (expected {})", e.kind));
                    continue;
                }
                (None, Some(a)) => {
                    out.push(format!("{shown}: unexpected {}", a.kind));
                    continue;
                }
                (None, None) => continue,
            };
            if exp.kind != act.kind {
                let what = match (&exp.kind, &act.kind) {
                    (Kind::File { len: l1, .. }, Kind::File { len: l2, .. }) => {
                        let at =
                            first_difference(&join(&self.root, path), &join(&actual.root, path))
                                .map_or_else(String::new, |o| {
                                    format!(", first difference at byte {o}")
                                });
                        format!("contents differ (expected {l1} bytes, got {l2}{at})")
                    }
                    (e, a) => format!("expected {e}, got {a}"),
                };
                out.push(format!("{shown}: {what}"));
                continue;
            }
            if path.is_empty() && !how.root_attrs {
                continue;
            }
            let is_link = matches!(exp.kind, Kind::Symlink(_));
            if how.perms && !is_link && exp.perm != act.perm {
                out.push(format!(
                    "{shown}: mode {:04o}, expected {:04o}",
                    act.perm, exp.perm
                ));
            }
            if how.owners && (exp.uid, exp.gid) != (act.uid, act.gid) {
                out.push(format!(
                    "{shown}: owner {}:{}, expected {}:{}",
                    act.uid, act.gid, exp.uid, exp.gid
                ));
            }
            let mtime_differs = if how.mtime_nanos {
                exp.mtime != act.mtime
            } else {
                exp.mtime.secs != act.mtime.secs
            };
            if how.mtimes && mtime_differs {
                out.push(format!(
                    "{shown}: mtime {}, expected {}{}",
                    act.mtime,
                    exp.mtime,
                    if how.mtime_nanos {
                        ""
                    } else {
                        " (seconds compared)"
                    }
                ));
            }
            if how.inodes && exp.inode != act.inode {
                out.push(format!("{shown}: replaced (another inode)"));
            }
            if how.hard_links {
                let (eg, ag) = (self.link_group(path), actual.link_group(path));
                if eg != ag {
                    let list =
                        |g: &[&[u8]]| g.iter().map(|p| show(p)).collect::<Vec<_>>().join(", ");
                    out.push(format!(
                        "{shown}: hard-linked with [{}], expected [{}]",
                        list(&ag),
                        list(&eg)
                    ));
                }
            }
        }
        out
    }

    /// A short listing of the tree (one line per entry), for failure messages.
    pub fn listing(&self, max: usize) -> String {
        let mut s = String::new();
        for (i, (p, e)) in self.entries.iter().enumerate() {
            if i == max {
                let _ = writeln!(s, "  ... {} more", self.entries.len() - max);
                break;
            }
            let _ = writeln!(
                s,
                "  {} {:04o} {}:{} {} {}",
                show(p),
                e.perm,
                e.uid,
                e.gid,
                e.mtime,
                e.kind
            );
        }
        s
    }
}

fn walk(root: &Path, rel: Vec<u8>, out: &mut BTreeMap<Vec<u8>, Entry>) -> io::Result<()> {
    let p = join(root, &rel);
    let meta = fs::symlink_metadata(&p).map_err(|e| ctx(e, "lstat", &p))?;
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        let t = fs::read_link(&p).map_err(|e| ctx(e, "readlink", &p))?;
        Kind::Symlink(t.into_os_string().as_bytes().to_vec())
    } else if ft.is_file() {
        Kind::File {
            len: meta.len(),
            digest: digest(&p)?,
        }
    } else if ft.is_fifo() {
        Kind::Fifo
    } else if ft.is_socket() {
        Kind::Socket
    } else if ft.is_char_device() {
        Kind::CharDev(meta.rdev())
    } else {
        Kind::BlockDev(meta.rdev())
    };
    let entry = Entry {
        kind,
        perm: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: Mtime::new(meta.mtime(), u32::try_from(meta.mtime_nsec()).unwrap_or(0)),
        inode: (meta.dev(), meta.ino()),
    };
    let is_dir = entry.kind == Kind::Dir;
    out.insert(rel.clone(), entry);
    if is_dir {
        for child in fs::read_dir(&p).map_err(|e| ctx(e, "readdir", &p))? {
            let child = child.map_err(|e| ctx(e, "readdir", &p))?;
            let mut r = rel.clone();
            if !r.is_empty() {
                r.push(b'/');
            }
            r.extend_from_slice(child.file_name().as_bytes());
            walk(root, r, out)?;
        }
    }
    Ok(())
}

fn digest(path: &Path) -> io::Result<u64> {
    let mut f = fs::File::open(path).map_err(|e| ctx(e, "open", path))?;
    // `DefaultHasher::new()` uses fixed keys: equal contents give equal digests in a process.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| ctx(e, "read", path))?;
        if n == 0 {
            break;
        }
        h.write(buf.get(..n).unwrap_or_default());
    }
    Ok(h.finish())
}

/// The first byte offset at which two files differ (or where the shorter one ends), if both
/// can be read.
fn first_difference(a: &Path, b: &Path) -> Option<u64> {
    let (a, b) = (fs::read(a).ok()?, fs::read(b).ok()?);
    let same = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    (a.len() != b.len() || same < a.len()).then_some(same as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Mtime = Mtime::new(1_600_000_000, 123_456_789);

    fn base(root: &Path) -> TreeBuilder {
        let mut b = TreeBuilder::new(root).unwrap();
        b.root(0o755, T);
        b.dir(b"d", 0o1777, T).unwrap();
        b.file(b"d/f", b"hello", 0o640, T).unwrap();
        b.file(b"g", b"", 0o600, Mtime::new(2_200_000_000, 1))
            .unwrap();
        b.hard_link(b"d/f", b"h").unwrap();
        b.symlink(b"l", b"../nowhere", T).unwrap();
        b.file(&[b'n', 0xff, b'\n'], b"x", 0o644, T).unwrap();
        b
    }

    fn pair() -> (tempfile::TempDir, Snapshot, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        base(&a).finish().unwrap();
        let sa = Snapshot::take(&a).unwrap();
        base(&b).finish().unwrap();
        (tmp, sa, b)
    }

    #[test]
    fn builder_sets_everything_and_equal_trees_compare_equal() {
        let (_tmp, a, b) = pair();
        let e = a.get(b"d").unwrap();
        assert_eq!((e.kind.clone(), e.perm, e.mtime), (Kind::Dir, 0o1777, T));
        assert_eq!(
            a.get(b"").unwrap().mtime,
            T,
            "root mtime set after its children"
        );
        assert_eq!(a.get(b"g").unwrap().mtime, Mtime::new(2_200_000_000, 1));
        assert_eq!(
            a.get(b"l").unwrap().kind,
            Kind::Symlink(b"../nowhere".to_vec())
        );
        assert_eq!(a.get(b"l").unwrap().mtime, T, "symlink's own time");
        assert_eq!(a.link_group(b"h"), vec![&b"d/f"[..], b"h"]);
        assert_eq!(a.entries().len(), 7);
        assert_eq!(
            a.diff(&Snapshot::take(&b).unwrap(), Compare::EXACT),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_kind_of_difference_is_reported() {
        let (_tmp, a, b) = pair();
        fs::write(b.join("d/f"), b"hellO").unwrap(); // same length, same inode (h too)
        set_mtime(&b.join("d/f"), T).unwrap();
        fs::set_permissions(b.join("g"), fs::Permissions::from_mode(0o644)).unwrap();
        set_mtime(&b.join("g"), Mtime::new(2_200_000_000, 2)).unwrap();
        fs::remove_file(b.join("l")).unwrap();
        std::os::unix::fs::symlink("elsewhere", b.join("l")).unwrap();
        set_mtime(&b.join("l"), T).unwrap();
        fs::remove_file(b.join(OsStr::from_bytes(&[b'n', 0xff, b'\n']))).unwrap();
        fs::write(b.join("extra"), b"").unwrap();
        set_mtime(&b.join("d"), T).unwrap();
        set_mtime(&b, T).unwrap();
        let d = a.diff(&Snapshot::take(&b).unwrap(), Compare::EXACT);
        assert_eq!(
            d,
            [
                "d/f: contents differ (expected 5 bytes, got 5, first difference at byte 4)",
                "extra: unexpected file of 0 bytes",
                "g: mode 0644, expected 0600",
                "g: mtime 2200000000.000000002, expected 2200000000.000000001",
                "h: contents differ (expected 5 bytes, got 5, first difference at byte 4)",
                "l: expected symlink -> ../nowhere, got symlink -> elsewhere",
                "n\\xff\\n: missing (expected file of 1 bytes)",
            ]
        );
        let secs = Compare {
            mtime_nanos: false,
            perms: false,
            ..Compare::EXACT
        };
        assert_eq!(
            a.diff(&Snapshot::take(&b).unwrap(), secs).len(),
            5,
            "{secs:?}"
        );
    }

    #[test]
    fn hard_link_groups_and_root_attributes() {
        let (_tmp, a, b) = pair();
        fs::remove_file(b.join("h")).unwrap();
        fs::copy(b.join("d/f"), b.join("h")).unwrap();
        set_mtime(&b.join("h"), T).unwrap();
        set_mtime(&b.join("d"), T).unwrap();
        set_mtime(&b, Mtime::new(5, 0)).unwrap();
        let sb = Snapshot::take(&b).unwrap();
        assert_eq!(
            a.diff(&sb, Compare::EXACT),
            [
                ".: mtime 5.000000000, expected 1600000000.123456789",
                "d/f: hard-linked with [d/f], expected [d/f, h]",
                "h: hard-linked with [h], expected [d/f, h]",
            ]
        );
        let loose = Compare {
            hard_links: false,
            root_attrs: false,
            ..Compare::EXACT
        };
        assert!(a.diff(&sb, loose).is_empty());
        let untouched = Snapshot::take(&b).unwrap();
        assert!(sb.diff(&untouched, Compare::UNTOUCHED).is_empty());
        fs::rename(b.join("g"), b.join("g2")).unwrap();
        fs::copy(b.join("g2"), b.join("g")).unwrap();
        fs::remove_file(b.join("g2")).unwrap();
        let replaced = Snapshot::take(&b).unwrap();
        let d = sb.diff(&replaced, Compare::UNTOUCHED);
        assert!(
            d.contains(&"g: replaced (another inode)".to_owned()),
            "{d:?}"
        );
        assert!(!sb
            .diff(&replaced, Compare::EXACT)
            .iter()
            .any(|l| l.contains("inode")));
        let sub = a.subset(&[b"d", b"d/f"]);
        assert_eq!(sub.entries().len(), 3);
        assert_eq!(
            sub.diff(&sb, loose),
            [
                "g: unexpected file of 0 bytes",
                "h: unexpected file of 5 bytes",
                "l: unexpected symlink -> ../nowhere",
                "n\\xff\\n: unexpected file of 1 bytes",
            ]
        );
    }
}
