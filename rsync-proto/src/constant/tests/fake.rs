//! An executor of both roles' requests over the session tests' in-memory [`Fs`]: a source
//! for the master (`Stat`, `ListDir`, `ReadFile`), a destination for the mirror (every
//! receiver request, several files open at once, `Settle` reporting injected failures).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rsync_core::Signature;

use super::fakefs::{Fs, Inode, Kind};
use crate::flist::{mode, FileEntry, HardLink, WirePath};
use crate::session::{FsAnswer, FsRequest, SessionOptions};

/// A tree to compare: path → (kind, mode, mtime, nsec, uid, gid), and the link groups.
pub(crate) type Snap = (
    BTreeMap<Vec<u8>, (Kind, u32, i64, u32, u32, u32)>,
    BTreeSet<Vec<Vec<u8>>>,
);

/// Every detail the mirror must reproduce, nanoseconds included.
pub(crate) fn snap(fs: &Fs) -> Snap {
    let map = fs
        .paths
        .iter()
        .filter_map(|(p, ino)| {
            let i = fs.inodes.get(ino)?;
            Some((
                p.clone(),
                (i.kind.clone(), i.mode, i.mtime, i.nsec, i.uid, i.gid),
            ))
        })
        .collect();
    (map, fs.link_groups())
}

/// Panics with the differences (content shown by length) unless `got` equals `want`.
pub(crate) fn assert_same(got: &Fs, want: &Fs) {
    let (g, w) = (snap(got), snap(want));
    if g == w {
        return;
    }
    let show = |v: Option<&(Kind, u32, i64, u32, u32, u32)>| {
        v.map(|(k, m, t, n, u, gid)| {
            let k = match k {
                Kind::File(d) => format!("file[{}]", d.len()),
                other => format!("{other:?}"),
            };
            format!("{k} mode {m:o} mtime {t}.{n:09} owner {u}:{gid}")
        })
    };
    let mut diff = Vec::new();
    let keys: BTreeSet<&Vec<u8>> = g.0.keys().chain(w.0.keys()).collect();
    for k in keys {
        let (a, b) = (g.0.get(k), w.0.get(k));
        if a != b {
            let name = String::from_utf8_lossy(k);
            diff.push(format!("{name}: got {:?}, want {:?}", show(a), show(b)));
        }
    }
    if g.1 != w.1 {
        diff.push(format!("links: got {:?}, want {:?}", g.1, w.1));
    }
    panic!("mirror differs:\n{}", diff.join("\n"));
}

/// A file being written: its path, its basis (as read when it was opened) and its bytes.
struct Temp {
    path: Vec<u8>,
    basis: Vec<u8>,
    data: Vec<u8>,
}

/// The executor.
pub(crate) struct FakeFs {
    pub(crate) fs: Fs,
    opts: SessionOptions,
    temps: HashMap<i32, Temp>,
    failures: HashMap<i32, Vec<u8>>,
    /// Every request, in order.
    pub(crate) seen: Vec<FsRequest>,
    /// Paths whose first basis copy comes back corrupted.
    pub(crate) corrupt_once: BTreeSet<Vec<u8>>,
    /// Paths whose basis copies come back short.
    pub(crate) short_basis: BTreeSet<Vec<u8>>,
    /// Source paths that cannot be read.
    pub(crate) unreadable: BTreeSet<Vec<u8>>,
    /// Source directories whose listing fails ([`FsAnswer::Unreadable`]).
    pub(crate) unlistable: BTreeSet<Vec<u8>>,
    /// Source paths whose `Stat` fails ([`FsAnswer::Unreadable`]).
    pub(crate) unstatable: BTreeSet<Vec<u8>>,
    /// Paths whose commit fails.
    pub(crate) fail_commit: BTreeSet<Vec<u8>>,
    /// Status change times (seconds) the `lstat` of these paths reports (else unknown, 0).
    pub(crate) ctime: HashMap<Vec<u8>, i64>,
    /// Size of the `FileData` answers.
    pub(crate) chunk: usize,
    /// Most temporary files open at once.
    pub(crate) max_open: usize,
}

pub(crate) fn file_data(fs: &Fs, path: &[u8]) -> Option<Vec<u8>> {
    match fs.get(path) {
        Some((
            _,
            Inode {
                kind: Kind::File(d),
                ..
            },
        )) => Some(d.clone()),
        _ => None,
    }
}

impl FakeFs {
    pub(crate) fn new(fs: Fs, opts: SessionOptions) -> Self {
        Self {
            fs,
            opts,
            temps: HashMap::new(),
            failures: HashMap::new(),
            seen: Vec::new(),
            corrupt_once: BTreeSet::new(),
            short_basis: BTreeSet::new(),
            unreadable: BTreeSet::new(),
            unlistable: BTreeSet::new(),
            unstatable: BTreeSet::new(),
            fail_commit: BTreeSet::new(),
            ctime: HashMap::new(),
            chunk: 100_000,
            max_open: 0,
        }
    }

    /// The source's description of `path`, as a driver's `lstat` builds it.
    fn entry(&self, path: &[u8]) -> Option<FileEntry> {
        let (ino, i) = self.fs.get(path)?;
        let mut e = FileEntry::new(WirePath::new(path.to_vec()).ok()?, i.mode);
        e.set_mtime(i.mtime);
        e.mtime_nsec = i.nsec;
        e.uid = i.uid;
        e.gid = i.gid;
        if !self.opts.flist.numeric_ids {
            e.set_user_name(Some(format!("user{}", i.uid).into_bytes()));
            e.set_group_name(Some(format!("group{}", i.gid).into_bytes()));
        }
        match &i.kind {
            Kind::File(d) => e.set_size(d.len() as u64),
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
        let links = self.fs.paths.values().filter(|&&x| x == ino).count();
        if i.kind != Kind::Dir && links > 1 {
            e.set_hardlink(Some(HardLink::DevIno {
                dev: 1,
                ino: ino as i64,
            }));
        }
        Some(e)
    }

    /// `set_file_attrs` as the options preserve.
    fn set_meta(&mut self, path: &[u8], e: &FileEntry) {
        let o = &self.opts;
        let Some(i) = self
            .fs
            .paths
            .get(path)
            .and_then(|n| self.fs.inodes.get_mut(n))
        else {
            return;
        };
        if o.preserve_perms && !matches!(i.kind, Kind::Symlink(_)) {
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

    fn fail(&mut self, ndx: i32, what: &str) {
        self.failures
            .entry(ndx)
            .or_insert_with(|| what.as_bytes().to_vec());
    }

    /// Whether `path`'s parent is a directory (else creating or removing it fails with
    /// `ENOTDIR`/`ENOENT`, as the kernel's calls do).
    fn parent_ok(&self, path: &[u8]) -> bool {
        let parent = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => &path[..i],
            None => b".",
        };
        path == b"." || matches!(self.fs.get(parent), Some((_, i)) if i.kind == Kind::Dir)
    }

    /// The path a writing request creates or removes, and its index.
    fn target(&self, req: &FsRequest) -> Option<(i32, Vec<u8>)> {
        match req {
            FsRequest::Commit { ndx, .. } => {
                Some((*ndx, self.temps.get(ndx).map(|t| t.path.clone())?))
            }
            FsRequest::Mkdir { ndx, entry }
            | FsRequest::Symlink { ndx, entry }
            | FsRequest::Mknod { ndx, entry }
            | FsRequest::HardLink { ndx, entry, .. } => {
                Some((*ndx, entry.name.as_bytes().to_vec()))
            }
            FsRequest::Remove { ndx, path } => Some((*ndx, path.as_bytes().to_vec())),
            _ => None,
        }
    }

    /// Executes one request; its answers in order.
    pub(crate) fn execute(&mut self, req: FsRequest) -> Vec<FsAnswer> {
        self.seen.push(req.clone());
        let strong = self.opts.strong;
        if let Some((ndx, path)) = self.target(&req) {
            if !self.parent_ok(&path) {
                if let FsRequest::Commit { .. } = req {
                    self.temps.remove(&ndx);
                }
                self.fail(ndx, "parent is not a directory");
                return vec![];
            }
        }
        match req {
            FsRequest::Stat { ndx, path } if self.unstatable.contains(path.as_bytes()) => {
                vec![FsAnswer::Unreadable {
                    ndx,
                    error: b"link_stat failed: Input/output error".to_vec(),
                }]
            }
            FsRequest::Stat { ndx, path } => vec![FsAnswer::Entry {
                ndx,
                entry: self.entry(path.as_bytes()),
            }],
            FsRequest::ListDir { ndx, path } if self.unlistable.contains(path.as_bytes()) => {
                vec![FsAnswer::Unreadable {
                    ndx,
                    error: b"opendir failed: Permission denied".to_vec(),
                }]
            }
            FsRequest::ListDir { ndx, path } => vec![FsAnswer::DirList {
                ndx,
                names: self.fs.list(path.as_bytes()),
            }],
            FsRequest::ReadFile { ndx, path } => {
                let p = path.as_bytes();
                match file_data(&self.fs, p).filter(|_| !self.unreadable.contains(p)) {
                    None => vec![FsAnswer::FileError {
                        ndx,
                        vanished: self.fs.get(p).is_none(),
                    }],
                    Some(d) => {
                        let mut v: Vec<FsAnswer> = d
                            .chunks(self.chunk.max(1))
                            .map(|c| FsAnswer::FileData {
                                ndx,
                                data: c.to_vec(),
                            })
                            .collect();
                        v.push(FsAnswer::FileEnd { ndx });
                        v
                    }
                }
            }
            FsRequest::Basis { ndx, path, .. } => {
                let mut meta = self.fs.lstat(path.as_bytes(), None);
                if let (Some(m), Some(&c)) = (&mut meta, self.ctime.get(path.as_bytes())) {
                    m.ctime = c;
                }
                vec![FsAnswer::Basis { ndx, meta }]
            }
            FsRequest::Signature { ndx, path, head } => {
                let data = file_data(&self.fs, path.as_bytes()).unwrap_or_default();
                let signature = Signature::compute(&data, head, strong);
                vec![FsAnswer::Signature { ndx, signature }]
            }
            FsRequest::BeginFile { ndx, path } => {
                self.begin(ndx, path.as_bytes(), path.as_bytes());
                vec![]
            }
            FsRequest::BeginFileFrom { ndx, path, basis } => {
                self.begin(ndx, path.as_bytes(), basis.as_bytes());
                vec![]
            }
            FsRequest::Write { ndx, data } => {
                match self.temps.get_mut(&ndx) {
                    Some(t) => t.data.extend_from_slice(&data),
                    None => self.fail(ndx, "write without a file"),
                }
                vec![]
            }
            FsRequest::CopyFromBasis { ndx, offset, len } => {
                let mut data = Vec::new();
                if let Some(t) = self.temps.get(&ndx) {
                    let (a, b) = (offset as usize, offset as usize + len as usize);
                    data = t.basis.get(a..b).unwrap_or_default().to_vec();
                    if self.short_basis.contains(&t.path) {
                        data.pop();
                    }
                    if self.corrupt_once.remove(&t.path) {
                        if let Some(x) = data.first_mut() {
                            *x ^= 0xff;
                        }
                    }
                }
                vec![FsAnswer::Copied { ndx, data }]
            }
            FsRequest::Commit { ndx, entry } => {
                match self.temps.remove(&ndx) {
                    Some(t) if self.fail_commit.contains(&t.path) => {
                        self.fail(ndx, "rename failed: injected");
                    }
                    Some(t) => {
                        let mut i = Inode::new(Kind::File(t.data), entry.mode, 0);
                        i.mode = mode::S_IFREG | (entry.mode & 0o7777);
                        self.fs.put(&t.path, i);
                        self.set_meta(&t.path, &entry);
                    }
                    None => self.fail(ndx, "commit without a file"),
                }
                vec![]
            }
            FsRequest::Discard { ndx } => {
                self.temps.remove(&ndx);
                vec![]
            }
            FsRequest::Mkdir { ndx, entry } => {
                if self.fs.get(entry.name.as_bytes()).is_some() {
                    self.fail(ndx, "mkdir: exists");
                } else {
                    let i = Inode::new(Kind::Dir, (entry.mode | 0o700) & 0o7777, 0);
                    self.fs.put(entry.name.as_bytes(), i);
                }
                vec![]
            }
            FsRequest::Symlink { entry, .. } => {
                let t = entry.symlink().map(<[u8]>::to_vec).unwrap_or_default();
                self.fs.put(
                    entry.name.as_bytes(),
                    Inode::new(Kind::Symlink(t), 0o777, 0),
                );
                vec![]
            }
            FsRequest::Mknod { entry, .. } => {
                let kind = if entry.is_device() {
                    Kind::Device(entry.rdev_major(), entry.rdev_minor())
                } else {
                    Kind::Special
                };
                let mut i = Inode::new(kind, entry.mode, 0);
                i.mode = entry.mode;
                self.fs.put(entry.name.as_bytes(), i);
                vec![]
            }
            FsRequest::SetMeta { entry, .. } => {
                self.set_meta(entry.name.as_bytes(), &entry);
                vec![]
            }
            FsRequest::HardLink {
                ndx, entry, target, ..
            } => {
                if self.fs.get(target.as_bytes()).is_none() {
                    self.fail(ndx, "link: no target");
                }
                self.fs.link(entry.name.as_bytes(), target.as_bytes());
                vec![]
            }
            FsRequest::Remove { path, .. } => {
                self.fs.remove(path.as_bytes());
                vec![]
            }
            FsRequest::Settle { ndx } => vec![FsAnswer::Settled {
                ndx,
                error: self.failures.remove(&ndx),
            }],
            other => panic!("unexpected request {other:?}"),
        }
    }

    fn begin(&mut self, ndx: i32, path: &[u8], basis: &[u8]) {
        let t = Temp {
            path: path.to_vec(),
            basis: file_data(&self.fs, basis).unwrap_or_default(),
            data: Vec::new(),
        };
        self.temps.insert(ndx, t);
        self.max_open = self.max_open.max(self.temps.len());
    }

    /// Temporary files still open.
    pub(crate) fn open_temps(&self) -> usize {
        self.temps.len()
    }
}
