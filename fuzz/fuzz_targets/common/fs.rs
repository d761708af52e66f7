//! An in-memory file system that serves the requests of every role (sender, receiver,
//! constant master and mirror) for the operation-sequence targets, with fuzzer-chosen faults.
//! Only what the targets compare is modelled: kind, permission bits, content, symlink target.

use std::collections::{BTreeMap, HashMap};

use rsync_core::checksum::StrongSum;
use rsync_core::Signature;
use rsync_proto::flist::{mode, FileEntry, IdList, WirePath};
use rsync_proto::session::{BasisMeta, FsAnswer, FsRequest, ListedName};

/// One file-system object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `st_mode`.
    pub mode: u32,
    /// Content (regular files).
    pub data: Vec<u8>,
    /// Target (symlinks).
    pub target: Option<Vec<u8>>,
    /// Modification time.
    pub mtime: i64,
}

/// What a convergence check compares of one path: kind bits, content, symlink target.
pub type Shape = (u32, Vec<u8>, Option<Vec<u8>>);

/// A file being received: the bytes written and its basis.
#[derive(Debug, Clone)]
struct Temp {
    data: Vec<u8>,
    basis: Vec<u8>,
}

/// Whether `n` is a directory.
fn is_dir(n: &Node) -> bool {
    n.mode & mode::S_IFMT == mode::S_IFDIR
}

/// A tree: path (`.`-less, `/`-separated) → node; `.` is the top directory.
#[derive(Debug, Clone)]
pub struct FakeFs {
    pub nodes: BTreeMap<Vec<u8>, Node>,
    temps: HashMap<i32, Temp>,
    pub strong: StrongSum,
    /// Faults injected into answers so far.
    pub faults: u32,
    /// `Stat`s answered "absent" (each makes the master send a `DELETE`).
    pub absent: u32,
}

fn parent(p: &[u8]) -> &[u8] {
    match p.iter().rposition(|&b| b == b'/') {
        Some(i) => &p[..i],
        None => b".",
    }
}

impl FakeFs {
    /// A tree built from `spec`: per entry a kind byte, a name byte and content bytes.
    pub fn from_spec(spec: &[u8], strong: StrongSum) -> Self {
        let mut nodes = BTreeMap::new();
        let dir = |m| Node {
            mode: mode::S_IFDIR | m,
            data: Vec::new(),
            target: None,
            mtime: 1_700_000_000,
        };
        nodes.insert(b".".to_vec(), dir(0o755));
        for (i, e) in spec.chunks(4).enumerate() {
            let [k, n, c, l] = [
                e[0],
                *e.get(1).unwrap_or(&0),
                *e.get(2).unwrap_or(&0),
                *e.get(3).unwrap_or(&0),
            ];
            let base =
                [b"a".as_slice(), b"b", b"d", b"d/x", b"d/y", b"e/f", b"e"][usize::from(n % 7)];
            let name = if n & 0x80 != 0 {
                format!("{}{}", String::from_utf8_lossy(base), i).into_bytes()
            } else {
                base.to_vec()
            };
            if name.contains(&b'/') && nodes.get(parent(&name)).is_none_or(|n| !is_dir(n)) {
                continue;
            }
            let node = match k % 4 {
                0 | 1 => Node {
                    mode: mode::S_IFREG | 0o644,
                    data: (0..usize::from(l) * 37)
                        .map(|j| (j as u8).wrapping_mul(c | 1))
                        .collect(),
                    target: None,
                    mtime: 1_700_000_000 + i64::from(c),
                },
                2 => dir(0o700 | u32::from(c & 0o77)),
                _ => Node {
                    mode: mode::S_IFLNK | 0o777,
                    data: Vec::new(),
                    target: Some(vec![b'a' + c % 3]),
                    mtime: 1,
                },
            };
            nodes.entry(name).or_insert(node);
        }
        Self {
            nodes,
            temps: HashMap::new(),
            strong,
            faults: 0,
            absent: 0,
        }
    }

    /// What a convergence check compares: kind bits, content and target of every path.
    pub fn shape(&self) -> BTreeMap<Vec<u8>, Shape> {
        let shape = |n: &Node| {
            let kind = n.mode & mode::S_IFMT;
            let data = if kind == mode::S_IFREG {
                n.data.clone()
            } else {
                Vec::new()
            };
            (kind, data, n.target.clone())
        };
        self.nodes
            .iter()
            .map(|(p, n)| (p.clone(), shape(n)))
            .collect()
    }

    fn entry(&self, path: &[u8]) -> Option<FileEntry> {
        let n = self.nodes.get(path)?;
        let mut e = FileEntry::new(WirePath::try_from(path).ok()?, n.mode);
        e.set_mtime(n.mtime);
        e.set_top_dir(path == b".");
        if n.mode & mode::S_IFMT == mode::S_IFREG {
            e.set_size(n.data.len() as u64);
        } else if let Some(t) = &n.target {
            e.set_size(t.len() as u64);
            e.set_symlink(Some(t.clone()));
        }
        Some(e)
    }

    fn meta(&self, path: &[u8], checksum: Option<StrongSum>) -> Option<BasisMeta> {
        let n = self.nodes.get(path)?;
        let mut m = BasisMeta::new(n.mode, n.data.len() as u64, n.mtime);
        m.symlink = n.target.clone();
        if n.mode & mode::S_IFMT == mode::S_IFREG {
            m.checksum = checksum.map(|s| {
                let mut h = s.file_hasher();
                h.update(&n.data);
                h.finish().as_bytes().to_vec()
            });
        }
        Some(m)
    }

    fn remove_tree(&mut self, path: &[u8]) {
        let under = |p: &[u8]| {
            p == path || (p.len() > path.len() && p.starts_with(path) && p[path.len()] == b'/')
        };
        if path == b"." {
            self.nodes.retain(|p, _| p == b".");
        } else {
            self.nodes.retain(|p, _| !under(p));
        }
    }

    fn put(&mut self, entry: &FileEntry, data: Vec<u8>) {
        let p = entry.name.as_bytes().to_vec();
        if p != b"." && self.nodes.get(parent(&p)).is_none_or(|n| !is_dir(n)) {
            return; // no parent directory: the create fails
        }
        self.nodes.insert(
            p,
            Node {
                mode: entry.mode,
                data,
                target: entry.symlink().map(<[u8]>::to_vec),
                mtime: entry.mtime(),
            },
        );
    }

    /// Executes `req`; `fault` (from the fuzzer, 0 = none) may spoil the answer. Returns the
    /// answers to give, in order.
    pub fn execute(&mut self, req: FsRequest, fault: u8) -> Vec<FsAnswer> {
        if fault != 0 {
            self.faults += 1;
        }
        match req {
            FsRequest::FileList { checksum, .. } => {
                let mut entries: Vec<FileEntry> =
                    self.nodes.keys().filter_map(|p| self.entry(p)).collect();
                for e in entries.iter_mut().filter(|e| e.is_regular()) {
                    let sum = checksum
                        .zip(self.nodes.get(e.name.as_bytes()))
                        .map(|(s, n)| {
                            let mut h = s.file_hasher();
                            h.update(&n.data);
                            h.finish().as_bytes().to_vec()
                        });
                    e.set_checksum(sum);
                }
                vec![FsAnswer::FileList {
                    entries,
                    io_error: i32::from(fault & 1),
                    uids: IdList::default(),
                    gids: IdList::default(),
                }]
            }
            FsRequest::ReadFile { ndx, path } => match self.nodes.get(path.as_bytes()) {
                Some(n) if fault == 0 => {
                    let mut v: Vec<FsAnswer> = n
                        .data
                        .chunks(1000)
                        .map(|c| FsAnswer::FileData {
                            ndx,
                            data: c.to_vec(),
                        })
                        .collect();
                    v.push(FsAnswer::FileEnd { ndx });
                    v
                }
                Some(n) if fault & 1 == 0 => {
                    // The file changed while it was read: a short read.
                    let half = n.data.len() / 2;
                    vec![
                        FsAnswer::FileData {
                            ndx,
                            data: n.data[..half].to_vec(),
                        },
                        FsAnswer::FileEnd { ndx },
                    ]
                }
                _ => vec![FsAnswer::FileError {
                    ndx,
                    vanished: fault & 2 != 0,
                }],
            },
            FsRequest::Basis {
                ndx,
                path,
                checksum,
            } => {
                let meta = if fault & 1 != 0 {
                    None
                } else {
                    self.meta(path.as_bytes(), checksum)
                };
                vec![FsAnswer::Basis { ndx, meta }]
            }
            FsRequest::Signature { ndx, path, head } => {
                let data = self
                    .nodes
                    .get(path.as_bytes())
                    .map(|n| n.data.clone())
                    .unwrap_or_default();
                let mut data = data
                    .get(..head.basis_len() as usize)
                    .map(<[u8]>::to_vec)
                    .unwrap_or(data);
                if fault != 0 {
                    data.iter_mut().for_each(|b| *b ^= fault);
                }
                vec![FsAnswer::Signature {
                    ndx,
                    signature: Signature::compute(&data, head, self.strong),
                }]
            }
            FsRequest::BeginFile { ndx, path } => {
                let basis = self
                    .nodes
                    .get(path.as_bytes())
                    .map(|n| n.data.clone())
                    .unwrap_or_default();
                let data = Vec::new();
                self.temps.insert(ndx, Temp { data, basis });
                vec![]
            }
            FsRequest::BeginFileFrom { ndx, basis, .. } => {
                let basis = self
                    .nodes
                    .get(basis.as_bytes())
                    .map(|n| n.data.clone())
                    .unwrap_or_default();
                let data = Vec::new();
                self.temps.insert(ndx, Temp { data, basis });
                vec![]
            }
            FsRequest::Write { ndx, data } => {
                if let Some(t) = self.temps.get_mut(&ndx) {
                    t.data.extend_from_slice(&data);
                }
                vec![]
            }
            FsRequest::CopyFromBasis { ndx, offset, len } => {
                let basis = self
                    .temps
                    .get(&ndx)
                    .map(|t| t.basis.clone())
                    .unwrap_or_default();
                let s = (offset as usize).min(basis.len());
                let mut e = (s + len as usize).min(basis.len());
                if fault != 0 {
                    e = s + (e - s) / 2;
                }
                vec![FsAnswer::Copied {
                    ndx,
                    data: basis[s..e].to_vec(),
                }]
            }
            FsRequest::Commit { ndx, entry } => {
                if let Some(Temp { data, .. }) = self.temps.remove(&ndx) {
                    self.put(&entry, data);
                }
                vec![]
            }
            FsRequest::Discard { ndx } => {
                self.temps.remove(&ndx);
                vec![]
            }
            FsRequest::Mkdir { entry, .. }
            | FsRequest::Symlink { entry, .. }
            | FsRequest::Mknod { entry, .. } => {
                self.put(&entry, Vec::new());
                vec![]
            }
            FsRequest::SetMeta { entry, .. } => {
                if let Some(n) = self.nodes.get_mut(entry.name.as_bytes()) {
                    n.mode = (n.mode & mode::S_IFMT) | (entry.mode & !mode::S_IFMT);
                    n.mtime = entry.mtime();
                }
                vec![]
            }
            FsRequest::HardLink { entry, target, .. } => {
                if let Some(n) = self.nodes.get(target.as_bytes()).cloned() {
                    self.nodes.insert(entry.name.as_bytes().to_vec(), n);
                }
                vec![]
            }
            FsRequest::ListDir { ndx, path } => {
                if fault & 1 != 0 {
                    return vec![FsAnswer::Unreadable {
                        ndx,
                        error: b"opendir failed: Permission denied".to_vec(),
                    }];
                }
                let dir = path.as_bytes();
                let names = self
                    .nodes
                    .iter()
                    .filter(|(p, _)| p.as_slice() != b"." && parent(p) == dir)
                    .map(|(p, n)| {
                        ListedName::new(
                            p[p.len() - p.iter().rev().take_while(|&&b| b != b'/').count()..]
                                .to_vec(),
                            n.mode,
                        )
                    })
                    .collect();
                vec![FsAnswer::DirList { ndx, names }]
            }
            FsRequest::Delete { path, .. } | FsRequest::Remove { path, .. } => {
                self.remove_tree(path.as_bytes());
                vec![]
            }
            FsRequest::MapIds { .. } => vec![FsAnswer::IdMap {
                uids: Vec::new(),
                gids: Vec::new(),
            }],
            FsRequest::Stat { ndx, path } => {
                if fault & 1 != 0 {
                    return vec![FsAnswer::Unreadable {
                        ndx,
                        error: b"link_stat failed: Input/output error".to_vec(),
                    }];
                }
                {
                    let entry = self.entry(path.as_bytes());
                    self.absent += u32::from(entry.is_none());
                    vec![FsAnswer::Entry { ndx, entry }]
                }
            }
            FsRequest::Settle { ndx } => {
                vec![FsAnswer::Settled {
                    ndx,
                    error: (fault != 0).then(|| b"rename failed: No space left on device".to_vec()),
                }]
            }
            _ => vec![],
        }
    }
}

/// An answer nobody asked for, of the kind `k`.
pub fn stray_answer(k: u8) -> FsAnswer {
    match k % 6 {
        0 => FsAnswer::FileEnd { ndx: 3 },
        1 => FsAnswer::Basis {
            ndx: -1,
            meta: None,
        },
        2 => FsAnswer::Copied {
            ndx: 0,
            data: vec![1, 2, 3],
        },
        3 => FsAnswer::Settled {
            ndx: 7,
            error: None,
        },
        4 => FsAnswer::Entry {
            ndx: 0,
            entry: None,
        },
        _ => FsAnswer::DirList {
            ndx: 0,
            names: Vec::new(),
        },
    }
}
