//! An in-memory file system with inodes (hard links), modes, owners and ns mtimes, and the
//! drivers that execute the roles' requests against it as a real driver would.
//!
//! Directory mtimes change to [`NOW`] when an entry is added or removed, as the kernel's
//! do, so that itemized directory times behave as in stock captures.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rsync_core::checksum::StrongSum;
use rsync_core::Signature;

use crate::flist::{mode, FileEntry, HardLink, IdList, WirePath};
use crate::session::{BasisMeta, FsAnswer, FsRequest, ListedName, Session, SessionError};
use crate::session::{Receiver, Sender, SessionOptions};

/// A tree to compare: path → (kind, mode, mtime, uid, gid), and the hard-link groups.
pub(crate) type Snapshot = (
    BTreeMap<Vec<u8>, (Kind, u32, i64, u32, u32)>,
    BTreeSet<Vec<Vec<u8>>>,
);

/// (sender id, local id) pairs.
pub(crate) type IdPairs = Vec<(u32, u32)>;

/// The "current time" of the fake file system.
pub(crate) const NOW: i64 = 2_000_000_000;

/// What an inode holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(Vec<u8>),
    Device(u32, u32),
    Special,
}

/// An inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inode {
    pub(crate) kind: Kind,
    /// Full `st_mode`.
    pub(crate) mode: u32,
    pub(crate) mtime: i64,
    pub(crate) nsec: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl Inode {
    pub(crate) fn new(kind: Kind, perm: u32, mtime: i64) -> Self {
        let t = match kind {
            Kind::File(_) => mode::S_IFREG,
            Kind::Dir => mode::S_IFDIR,
            Kind::Symlink(_) => mode::S_IFLNK,
            Kind::Device(..) => mode::S_IFCHR,
            Kind::Special => mode::S_IFIFO,
        };
        Self {
            kind,
            mode: t | (perm & 0o7777),
            mtime,
            nsec: 0,
            uid: 0,
            gid: 0,
        }
    }
}

/// rsync's `file_checksum` of `data` (`-c`): the digest of `sum.file_hasher()`, except that
/// MD4 (protocols < 30) is plain MD4 (no seed), which `rsync_core` only offers one-shot.
pub(crate) fn file_sum(sum: StrongSum, data: &[u8]) -> Vec<u8> {
    let mut h = sum.file_hasher();
    h.update(data);
    h.finish().as_bytes().to_vec()
}

/// Path → inode number, inode number → inode. `.` is the root directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Fs {
    pub(crate) paths: BTreeMap<Vec<u8>, u64>,
    pub(crate) inodes: HashMap<u64, Inode>,
    next: u64,
}

fn parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[..i],
        None => b".",
    }
}

fn below(path: &[u8], dir: &[u8]) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/'
}

impl Fs {
    /// A file system with just the root.
    pub(crate) fn new() -> Self {
        let mut fs = Self::default();
        let root = fs.alloc(Inode::new(Kind::Dir, 0o755, 0));
        fs.paths.insert(b".".to_vec(), root);
        fs
    }

    fn alloc(&mut self, i: Inode) -> u64 {
        self.next += 1;
        self.inodes.insert(self.next, i);
        self.next
    }

    fn touch_parent(&mut self, path: &[u8]) {
        if path == b"." {
            return;
        }
        if let Some(ino) = self.paths.get(parent(path)) {
            if let Some(d) = self.inodes.get_mut(ino) {
                d.mtime = NOW;
                d.nsec = 0;
            }
        }
    }

    /// Puts `inode` at `path`, replacing what was there (and its subtree).
    pub(crate) fn put(&mut self, path: &[u8], inode: Inode) -> u64 {
        self.remove(path);
        let ino = self.alloc(inode);
        self.paths.insert(path.to_vec(), ino);
        self.touch_parent(path);
        ino
    }

    /// Makes `path` another name of `target`'s inode.
    pub(crate) fn link(&mut self, path: &[u8], target: &[u8]) {
        let Some(&ino) = self.paths.get(target) else {
            return;
        };
        self.remove(path);
        self.paths.insert(path.to_vec(), ino);
        self.touch_parent(path);
    }

    /// Removes `path` and everything below it.
    pub(crate) fn remove(&mut self, path: &[u8]) {
        if self.paths.remove(path).is_none() {
            return;
        }
        let gone: Vec<Vec<u8>> = self
            .paths
            .keys()
            .filter(|p| below(p, path))
            .cloned()
            .collect();
        for p in gone {
            self.paths.remove(&p);
        }
        self.touch_parent(path);
    }

    pub(crate) fn get(&self, path: &[u8]) -> Option<(u64, &Inode)> {
        let ino = *self.paths.get(path)?;
        Some((ino, self.inodes.get(&ino)?))
    }

    fn get_mut(&mut self, path: &[u8]) -> Option<&mut Inode> {
        let ino = *self.paths.get(path)?;
        self.inodes.get_mut(&ino)
    }

    /// `lstat`, with the whole-file checksum of `sum` for a regular file.
    pub(crate) fn lstat(&self, path: &[u8], sum: Option<StrongSum>) -> Option<BasisMeta> {
        let (ino, i) = self.get(path)?;
        let size = match &i.kind {
            Kind::File(d) => d.len() as u64,
            Kind::Symlink(t) => t.len() as u64,
            _ => 0,
        };
        let mut m = BasisMeta::new(i.mode, size, i.mtime);
        m.mtime_nsec = i.nsec;
        m.uid = i.uid;
        m.gid = i.gid;
        m.dev = 1;
        m.ino = ino;
        match &i.kind {
            Kind::Symlink(t) => m.symlink = Some(t.clone()),
            Kind::Device(a, b) => {
                m.rdev_major = *a;
                m.rdev_minor = *b;
            }
            Kind::File(d) => m.checksum = sum.map(|s| file_sum(s, d)),
            _ => {}
        }
        Some(m)
    }

    /// The names directly in `dir`, with their modes.
    pub(crate) fn list(&self, dir: &[u8]) -> Vec<ListedName> {
        if !self.get(dir).is_some_and(|(_, i)| i.kind == Kind::Dir) {
            return Vec::new();
        }
        self.paths
            .iter()
            .filter(|(p, _)| p.as_slice() != b"." && parent(p) == dir)
            .filter_map(|(p, ino)| {
                let i = self.inodes.get(ino)?;
                let name = p.rsplit(|&b| b == b'/').next()?.to_vec();
                Some(ListedName::new(name, i.mode))
            })
            .collect()
    }

    /// Applies the metadata `e` carries, as the options preserve it (`set_file_attrs`).
    fn set_meta(&mut self, path: &[u8], e: &FileEntry, o: &SessionOptions) {
        let Some(i) = self.get_mut(path) else { return };
        let symlink = matches!(i.kind, Kind::Symlink(_));
        if o.preserve_perms && !symlink {
            i.mode = (i.mode & mode::S_IFMT) | (e.mode & 0o7777);
        }
        if o.preserve_times {
            i.mtime = e.mtime();
            i.nsec = e.mtime_nsec;
        }
        if o.flist.preserve_uid && o.am_root {
            i.uid = e.uid;
        }
        if o.flist.preserve_gid {
            i.gid = e.gid;
        }
    }

    /// Adds a regular file (0644, root).
    pub(crate) fn file(mut self, path: &str, data: &[u8], mtime: i64) -> Self {
        self.put(
            path.as_bytes(),
            Inode::new(Kind::File(data.to_vec()), 0o644, mtime),
        );
        self.fix_times();
        self
    }

    /// Adds a directory (0755).
    pub(crate) fn dir(mut self, path: &str) -> Self {
        if path == "."
            || self
                .get(path.as_bytes())
                .is_some_and(|(_, i)| i.kind == Kind::Dir)
        {
            return self;
        }
        self.put(path.as_bytes(), Inode::new(Kind::Dir, 0o755, 1_700_000_000));
        self.fix_times();
        self
    }

    /// Adds a symlink.
    pub(crate) fn symlink(mut self, path: &str, target: &str) -> Self {
        let i = Inode::new(
            Kind::Symlink(target.as_bytes().to_vec()),
            0o777,
            1_700_000_000,
        );
        self.put(path.as_bytes(), i);
        self.fix_times();
        self
    }

    /// Adds a FIFO.
    pub(crate) fn fifo(mut self, path: &str) -> Self {
        self.put(
            path.as_bytes(),
            Inode::new(Kind::Special, 0o644, 1_700_000_000),
        );
        self.fix_times();
        self
    }

    /// Adds a character device.
    pub(crate) fn chardev(mut self, path: &str, major: u32, minor: u32) -> Self {
        let i = Inode::new(Kind::Device(major, minor), 0o666, 1_700_000_000);
        self.put(path.as_bytes(), i);
        self.fix_times();
        self
    }

    /// Adds a hard link to an existing name.
    pub(crate) fn hardlink(mut self, path: &str, target: &str) -> Self {
        self.link(path.as_bytes(), target.as_bytes());
        self.fix_times();
        self
    }

    /// Changes an item's permissions, owner and group.
    pub(crate) fn attrs(mut self, path: &str, perm: u32, uid: u32, gid: u32) -> Self {
        if let Some(i) = self.get_mut(path.as_bytes()) {
            i.mode = (i.mode & mode::S_IFMT) | perm;
            i.uid = uid;
            i.gid = gid;
        }
        self
    }

    /// Directories built by hand have a fixed mtime (not [`NOW`]).
    fn fix_times(&mut self) {
        for i in self.inodes.values_mut() {
            if i.kind == Kind::Dir && i.mtime == NOW {
                i.mtime = 1_700_000_000;
            }
        }
    }

    /// Path → (kind, mode, mtime, uid, gid) and the hard-link groups, to compare trees.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let map = self
            .paths
            .iter()
            .filter_map(|(p, ino)| {
                let i = self.inodes.get(ino)?;
                Some((p.clone(), (i.kind.clone(), i.mode, i.mtime, i.uid, i.gid)))
            })
            .collect();
        (map, self.link_groups())
    }

    /// Every hard-link group (paths sharing an inode), sorted.
    pub(crate) fn link_groups(&self) -> BTreeSet<Vec<Vec<u8>>> {
        let mut by: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
        for (p, ino) in &self.paths {
            by.entry(*ino).or_default().push(p.clone());
        }
        by.into_values()
            .filter(|v| v.len() > 1)
            .map(|mut v| {
                v.sort();
                v
            })
            .collect()
    }
}

/// The receiver's driver: executes requests against `fs`.
pub(crate) struct DstDriver {
    pub(crate) fs: Fs,
    pub(crate) opts: SessionOptions,
    temp: HashMap<i32, (Vec<u8>, Vec<u8>)>,
    pub(crate) seen: Vec<FsRequest>,
    /// Paths whose first basis copy is corrupted (once).
    pub(crate) corrupt_once: BTreeSet<Vec<u8>>,
    /// The answer to `MapIds`.
    pub(crate) id_map: (IdPairs, IdPairs),
}

impl DstDriver {
    pub(crate) fn new(fs: Fs, opts: SessionOptions) -> Self {
        Self {
            fs,
            opts,
            temp: HashMap::new(),
            seen: Vec::new(),
            corrupt_once: BTreeSet::new(),
            id_map: (Vec::new(), Vec::new()),
        }
    }

    /// Whether a request writes.
    pub(crate) fn is_write(r: &FsRequest) -> bool {
        !matches!(
            r,
            FsRequest::Basis { .. }
                | FsRequest::Signature { .. }
                | FsRequest::ListDir { .. }
                | FsRequest::MapIds { .. }
                | FsRequest::CopyFromBasis { .. }
        )
    }

    /// Executes every queued request of `r`; `true` if there was one.
    pub(crate) fn serve(&mut self, r: &mut Receiver) -> Result<bool, SessionError> {
        let mut any = false;
        while let Some(req) = r.poll_fs() {
            any = true;
            self.seen.push(req.clone());
            if let Some(a) = self.execute(req) {
                r.handle_fs(a)?;
            }
        }
        Ok(any)
    }

    fn execute(&mut self, req: FsRequest) -> Option<FsAnswer> {
        let o = self.opts.clone();
        match req {
            FsRequest::Basis {
                ndx,
                path,
                checksum,
            } => Some(FsAnswer::Basis {
                ndx,
                meta: self.fs.lstat(path.as_bytes(), checksum),
            }),
            FsRequest::Signature { ndx, path, head } => {
                let data = match self.fs.get(path.as_bytes()) {
                    Some((
                        _,
                        Inode {
                            kind: Kind::File(d),
                            ..
                        },
                    )) => d.clone(),
                    _ => Vec::new(),
                };
                let signature = Signature::compute(&data, head, o.strong);
                Some(FsAnswer::Signature { ndx, signature })
            }
            FsRequest::BeginFile { ndx, path } => {
                self.temp.insert(ndx, (path.into_bytes(), Vec::new()));
                None
            }
            FsRequest::Write { ndx, data } if o.inplace => {
                // --inplace: the data lands in the destination file at once.
                let (path, written) = self.temp.get_mut(&ndx)?;
                let at = written.len();
                written.extend_from_slice(&data);
                let ino = *self.fs.paths.get(path.as_slice())?;
                if let Some(Inode {
                    kind: Kind::File(d),
                    ..
                }) = self.fs.inodes.get_mut(&ino)
                {
                    if d.len() < at + data.len() {
                        d.resize(at + data.len(), 0);
                    }
                    d[at..at + data.len()].copy_from_slice(&data);
                }
                None
            }
            FsRequest::Write { ndx, data } => {
                if let Some((_, t)) = self.temp.get_mut(&ndx) {
                    t.extend_from_slice(&data);
                }
                None
            }
            FsRequest::CopyFromBasis { ndx, offset, len } => {
                let path = self.temp.get(&ndx).map(|t| t.0.clone()).unwrap_or_default();
                let mut data = match self.fs.get(&path) {
                    Some((
                        _,
                        Inode {
                            kind: Kind::File(d),
                            ..
                        },
                    )) => {
                        let (a, b) = (offset as usize, offset as usize + len as usize);
                        d.get(a..b).unwrap_or_default().to_vec()
                    }
                    _ => Vec::new(),
                };
                if self.corrupt_once.remove(&path) {
                    if let Some(b) = data.first_mut() {
                        *b ^= 0xff;
                    }
                }
                Some(FsAnswer::Copied { ndx, data })
            }
            FsRequest::Commit { ndx, entry } => {
                let (path, data) = self.temp.remove(&ndx)?;
                let mut i = Inode::new(Kind::File(data), entry.mode, NOW);
                i.uid = 0;
                i.gid = 0;
                self.fs.put(&path, i);
                self.fs.set_meta(&path, &entry, &o);
                None
            }
            FsRequest::Discard { ndx } => {
                self.temp.remove(&ndx);
                None
            }
            FsRequest::Mkdir { entry, .. } => {
                let i = Inode::new(Kind::Dir, entry.mode | 0o700, NOW);
                self.fs.put(entry.name.as_bytes(), i);
                None
            }
            FsRequest::Symlink { entry, .. } => {
                let t = entry.symlink().map(<[u8]>::to_vec).unwrap_or_default();
                self.fs.put(
                    entry.name.as_bytes(),
                    Inode::new(Kind::Symlink(t), 0o777, NOW),
                );
                None
            }
            FsRequest::Mknod { entry, .. } => {
                let kind = if entry.is_device() {
                    Kind::Device(entry.rdev_major(), entry.rdev_minor())
                } else {
                    Kind::Special
                };
                let mut i = Inode::new(kind, entry.mode, NOW);
                i.mode = entry.mode;
                self.fs.put(entry.name.as_bytes(), i);
                None
            }
            FsRequest::SetMeta { entry, .. } => {
                self.fs.set_meta(entry.name.as_bytes(), &entry, &o);
                None
            }
            FsRequest::HardLink { entry, target, .. } => {
                self.fs.link(entry.name.as_bytes(), target.as_bytes());
                None
            }
            FsRequest::ListDir { ndx, path } => Some(FsAnswer::DirList {
                ndx,
                names: self.fs.list(path.as_bytes()),
            }),
            FsRequest::Delete { path, .. } => {
                self.fs.remove(path.as_bytes());
                None
            }
            FsRequest::MapIds { .. } => Some(FsAnswer::IdMap {
                uids: self.id_map.0.clone(),
                gids: self.id_map.1.clone(),
            }),
            other => panic!("receiver asked {other:?}"),
        }
    }
}

/// The sender's driver: a fixed list (in walk order) and the contents of the files.
pub(crate) struct SrcDriver {
    pub(crate) entries: Vec<FileEntry>,
    pub(crate) data: HashMap<Vec<u8>, Vec<u8>>,
    pub(crate) unreadable: BTreeSet<Vec<u8>>,
    pub(crate) chunk: usize,
    pub(crate) seen: Vec<FsRequest>,
    /// Keep the entries' `-c` sums instead of computing them.
    pub(crate) keep_checksums: bool,
    /// Protocol < 28 with `-H`: every regular file carries its dev/ino.
    pub(crate) devino_all: bool,
    /// The user and group name lists.
    pub(crate) ids: (IdList, IdList),
    /// The walk's I/O error bits.
    pub(crate) io_error: i32,
}

impl SrcDriver {
    pub(crate) fn new(entries: Vec<FileEntry>, data: HashMap<Vec<u8>, Vec<u8>>) -> Self {
        Self {
            entries,
            data,
            unreadable: BTreeSet::new(),
            chunk: 1000,
            seen: Vec::new(),
            keep_checksums: false,
            devino_all: false,
            ids: (IdList::default(), IdList::default()),
            io_error: 0,
        }
    }

    /// The walk of `fs` (reversed name order, so that the roles' sort matters), as a driver
    /// would build it: hard links as dev/ino, `-c` sums when asked.
    pub(crate) fn from_fs(fs: &Fs) -> Self {
        let mut nlink: HashMap<u64, usize> = HashMap::new();
        for ino in fs.paths.values() {
            *nlink.entry(*ino).or_default() += 1;
        }
        let mut entries = Vec::new();
        let mut data = HashMap::new();
        for (p, ino) in fs.paths.iter().rev() {
            let Some(i) = fs.inodes.get(ino) else {
                continue;
            };
            let Ok(name) = WirePath::new(p.clone()) else {
                continue;
            };
            let mut e = FileEntry::new(name, i.mode);
            e.set_mtime(i.mtime);
            e.mtime_nsec = i.nsec;
            e.uid = i.uid;
            e.gid = i.gid;
            e.set_top_dir(p == b".");
            match &i.kind {
                Kind::File(d) => {
                    e.set_size(d.len() as u64);
                    data.insert(p.clone(), d.clone());
                }
                Kind::Symlink(t) => {
                    e.set_size(t.len() as u64);
                    e.set_symlink(Some(t.clone()));
                }
                Kind::Device(a, b) => {
                    e.set_rdev(*a, *b);
                }
                Kind::Dir => e.set_size(4096),
                Kind::Special => {}
            }
            if i.kind != Kind::Dir && nlink[ino] > 1 {
                e.set_hardlink(Some(HardLink::DevIno {
                    dev: 1,
                    ino: *ino as i64,
                }));
            }
            entries.push(e);
        }
        Self::new(entries, data)
    }

    /// Executes every queued request of `s`.
    pub(crate) fn serve(&mut self, s: &mut Sender) -> Result<bool, SessionError> {
        let mut any = false;
        while let Some(req) = s.poll_fs() {
            any = true;
            self.seen.push(req.clone());
            match req {
                FsRequest::FileList { checksum, .. } => {
                    let mut entries = self.entries.clone();
                    for (i, e) in entries.iter_mut().enumerate() {
                        let data = self.data.get(e.name.as_bytes());
                        if let (Some(sum), Some(d), false) = (checksum, data, self.keep_checksums) {
                            e.set_checksum(Some(file_sum(sum, d)));
                        }
                        if self.devino_all && e.is_regular() && e.hardlink().is_none() {
                            let ino = 1_000_000 + i as i64;
                            e.set_hardlink(Some(HardLink::DevIno { dev: 1, ino }));
                        }
                    }
                    s.handle_fs(FsAnswer::FileList {
                        entries,
                        io_error: self.io_error,
                        uids: self.ids.0.clone(),
                        gids: self.ids.1.clone(),
                    })?
                }
                FsRequest::ReadFile { ndx, path } => {
                    let data = match self.data.get(path.as_bytes()) {
                        Some(d) if !self.unreadable.contains(path.as_bytes()) => d.clone(),
                        _ => {
                            s.handle_fs(FsAnswer::FileError {
                                ndx,
                                vanished: false,
                            })?;
                            continue;
                        }
                    };
                    for c in data.chunks(self.chunk.max(1)) {
                        s.handle_fs(FsAnswer::FileData {
                            ndx,
                            data: c.to_vec(),
                        })?;
                    }
                    s.handle_fs(FsAnswer::FileEnd { ndx })?;
                }
                other => panic!("sender asked {other:?}"),
            }
        }
        Ok(any)
    }
}
