//! A `Pair` harness: our sender and our receiver connected in memory, each with a fake file
//! system, driven step by step (quinn-proto's `Pair`, with `drive_bounded`).

use std::collections::{BTreeMap, HashSet};

use rsync_core::Signature;

use crate::flist::{mode, FileEntry, IdList, WirePath};
use crate::session::{BasisMeta, Event, FileOutcome, FsAnswer, FsRequest, Session};
use crate::session::{Receiver, Sender, SessionError, SessionOptions, Stats};

/// A node of the fake file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    File { data: Vec<u8>, mtime: i64 },
    Dir,
    Symlink(Vec<u8>),
}

/// Path → node.
pub(crate) type Tree = BTreeMap<Vec<u8>, Node>;

pub(crate) fn file(data: &[u8], mtime: i64) -> Node {
    Node::File {
        data: data.to_vec(),
        mtime,
    }
}

/// Deterministic pseudo-random bytes.
pub(crate) fn prng(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The sender's file system driver.
pub(crate) struct SrcFs {
    pub(crate) tree: Tree,
    /// Paths whose read fails.
    pub(crate) unreadable: HashSet<Vec<u8>>,
    /// Size of the `FileData` chunks.
    pub(crate) chunk: usize,
    /// Requests seen.
    pub(crate) seen: Vec<FsRequest>,
}

impl SrcFs {
    pub(crate) fn new(tree: Tree) -> Self {
        Self {
            tree,
            unreadable: HashSet::new(),
            chunk: 1000,
            seen: Vec::new(),
        }
    }

    fn entries(&self) -> Vec<FileEntry> {
        // Walk order: reversed, so that the roles' sort matters.
        self.tree
            .iter()
            .rev()
            .map(|(name, node)| {
                let path = WirePath::new(name.clone()).expect("valid test path");
                let mut e = match node {
                    Node::File { data, mtime } => {
                        let mut e = FileEntry::new(path, mode::S_IFREG | 0o644);
                        e.size = data.len() as u64;
                        e.mtime = *mtime;
                        e
                    }
                    Node::Dir => {
                        let mut e = FileEntry::new(path, mode::S_IFDIR | 0o755);
                        e.size = 4096;
                        e.mtime = 1_700_000_000;
                        e
                    }
                    Node::Symlink(t) => {
                        let mut e = FileEntry::new(path, mode::S_IFLNK | 0o777);
                        e.size = t.len() as u64;
                        e.mtime = 1_700_000_000;
                        e.symlink = Some(t.clone());
                        e
                    }
                };
                e.top_dir = name == b".";
                e
            })
            .collect()
    }

    /// Executes every queued request of `s`.
    pub(crate) fn serve(&mut self, s: &mut Sender) -> Result<bool, SessionError> {
        let mut any = false;
        while let Some(req) = s.poll_fs() {
            any = true;
            self.seen.push(req.clone());
            match req {
                FsRequest::FileList { .. } => s.handle_fs(FsAnswer::FileList {
                    entries: self.entries(),
                    io_error: 0,
                    uids: IdList::default(),
                    gids: IdList::default(),
                })?,
                FsRequest::ReadFile { ndx, path } => {
                    let data = match self.tree.get(path.as_bytes()) {
                        Some(Node::File { data, .. })
                            if !self.unreadable.contains(path.as_bytes()) =>
                        {
                            data.clone()
                        }
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

/// The receiver's file system driver.
pub(crate) struct DstFs {
    pub(crate) tree: Tree,
    temp: BTreeMap<i32, Vec<u8>>,
    /// Paths whose first basis copy is corrupted (once).
    pub(crate) corrupt_once: HashSet<Vec<u8>>,
    paths: BTreeMap<i32, Vec<u8>>,
    pub(crate) seen: Vec<FsRequest>,
}

impl DstFs {
    pub(crate) fn new(tree: Tree) -> Self {
        Self {
            tree,
            temp: BTreeMap::new(),
            corrupt_once: HashSet::new(),
            paths: BTreeMap::new(),
            seen: Vec::new(),
        }
    }

    pub(crate) fn serve(
        &mut self,
        r: &mut Receiver,
        strong: rsync_core::checksum::StrongSum,
    ) -> Result<bool, SessionError> {
        let mut any = false;
        while let Some(req) = r.poll_fs() {
            any = true;
            self.seen.push(req.clone());
            match req {
                FsRequest::Basis { ndx, path, .. } => {
                    self.paths.insert(ndx, path.as_bytes().to_vec());
                    let meta = match self.tree.get(path.as_bytes()) {
                        Some(Node::File { data, mtime }) => {
                            Some(BasisMeta::new(0o100_644, data.len() as u64, *mtime))
                        }
                        Some(_) => Some(BasisMeta::new(0o040_755, 0, 0)),
                        None => None,
                    };
                    r.handle_fs(FsAnswer::Basis { ndx, meta })?;
                }
                FsRequest::Signature { ndx, path, head } => {
                    let Some(Node::File { data, .. }) = self.tree.get(path.as_bytes()) else {
                        panic!("signature of a missing basis");
                    };
                    let signature = Signature::compute(data, head, strong);
                    r.handle_fs(FsAnswer::Signature { ndx, signature })?;
                }
                FsRequest::BeginFile { ndx, path } => {
                    self.paths.insert(ndx, path.as_bytes().to_vec());
                    self.temp.insert(ndx, Vec::new());
                }
                FsRequest::Write { ndx, data } => {
                    self.temp
                        .get_mut(&ndx)
                        .expect("begun")
                        .extend_from_slice(&data);
                }
                FsRequest::CopyFromBasis { ndx, offset, len } => {
                    let path = self.paths[&ndx].clone();
                    let Some(Node::File { data, .. }) = self.tree.get(&path) else {
                        panic!("copy from a missing basis");
                    };
                    let (o, l) = (offset as usize, len as usize);
                    let mut bytes = data[o..o + l].to_vec();
                    if self.corrupt_once.remove(&path) {
                        bytes[0] ^= 0xff;
                    }
                    r.handle_fs(FsAnswer::Copied { ndx, data: bytes })?;
                }
                FsRequest::Commit { ndx, entry } => {
                    let data = self.temp.remove(&ndx).expect("temp");
                    self.tree.insert(
                        entry.name.as_bytes().to_vec(),
                        Node::File {
                            data,
                            mtime: entry.mtime,
                        },
                    );
                }
                FsRequest::Discard { ndx } => {
                    self.temp.remove(&ndx);
                }
                FsRequest::Mkdir { entry, .. } => {
                    self.tree.insert(entry.name.as_bytes().to_vec(), Node::Dir);
                }
                FsRequest::Symlink { entry, .. } => {
                    let t = entry.symlink.clone().unwrap_or_default();
                    self.tree
                        .insert(entry.name.as_bytes().to_vec(), Node::Symlink(t));
                }
                FsRequest::SetMeta { .. } => {}
                other => panic!("receiver asked {other:?}"),
            }
        }
        Ok(any)
    }
}

/// Which side is the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Client receiver, server sender.
    Pull,
    /// Client sender, server receiver.
    Push,
}

/// Two roles connected in memory.
pub(crate) struct Pair {
    pub(crate) sender: Sender,
    pub(crate) receiver: Receiver,
    pub(crate) src: SrcFs,
    pub(crate) dst: DstFs,
    strong: rsync_core::checksum::StrongSum,
    /// Bytes in flight, sender → receiver and back.
    s2r: Vec<u8>,
    r2s: Vec<u8>,
    /// Every byte each side wrote.
    pub(crate) s2r_log: Vec<u8>,
    pub(crate) r2s_log: Vec<u8>,
    /// Chunk sizes for delivery (cycled).
    pub(crate) chunks: Vec<usize>,
    chunk_i: usize,
    pub(crate) sender_events: Vec<Event>,
    pub(crate) receiver_events: Vec<Event>,
}

impl Pair {
    pub(crate) fn new(protocol: u8, dir: Dir, src: Tree, dst: Tree) -> Self {
        Self::with_options(protocol, dir, src, dst, |_| {})
    }

    pub(crate) fn with_options(
        protocol: u8,
        dir: Dir,
        src: Tree,
        dst: Tree,
        tweak: impl Fn(&mut SessionOptions),
    ) -> Self {
        let mut so = SessionOptions::plain(protocol, 0x1234_5678, dir == Dir::Pull);
        let mut ro = SessionOptions::plain(protocol, 0x1234_5678, dir == Dir::Push);
        so.flist = so.flist.archive();
        ro.flist = ro.flist.archive();
        so.flist.numeric_ids = true;
        ro.flist.numeric_ids = true;
        tweak(&mut so);
        tweak(&mut ro);
        so.server = dir == Dir::Pull;
        ro.server = dir == Dir::Push;
        let strong = ro.strong;
        Self {
            sender: Sender::new(so).expect("sender"),
            receiver: Receiver::new(ro).expect("receiver"),
            src: SrcFs::new(src),
            dst: DstFs::new(dst),
            strong,
            s2r: Vec::new(),
            r2s: Vec::new(),
            s2r_log: Vec::new(),
            r2s_log: Vec::new(),
            chunks: vec![usize::MAX],
            chunk_i: 0,
            sender_events: Vec::new(),
            receiver_events: Vec::new(),
        }
    }

    /// One step: collect output, deliver one chunk each way, run the drivers. Returns
    /// whether anything happened.
    pub(crate) fn step(&mut self) -> Result<bool, SessionError> {
        let mut any = false;
        let mut out = Vec::new();
        if self.sender.poll_transmit(&mut out) {
            self.s2r_log.extend_from_slice(&out);
            self.s2r.append(&mut out);
            any = true;
        }
        if self.receiver.poll_transmit(&mut out) {
            self.r2s_log.extend_from_slice(&out);
            self.r2s.append(&mut out);
            any = true;
        }
        let n = self.chunks[self.chunk_i % self.chunks.len()].max(1);
        self.chunk_i += 1;
        if !self.s2r.is_empty() {
            let k = n.min(self.s2r.len());
            let c: Vec<u8> = self.s2r.drain(..k).collect();
            self.receiver.handle_input(&c)?;
            any = true;
        }
        if !self.r2s.is_empty() {
            let k = n.min(self.r2s.len());
            let c: Vec<u8> = self.r2s.drain(..k).collect();
            self.sender.handle_input(&c)?;
            any = true;
        }
        any |= self.src.serve(&mut self.sender)?;
        any |= self.dst.serve(&mut self.receiver, self.strong)?;
        while let Some(e) = self.sender.poll_event() {
            self.sender_events.push(e);
            any = true;
        }
        while let Some(e) = self.receiver.poll_event() {
            self.receiver_events.push(e);
            any = true;
        }
        Ok(any)
    }

    /// Runs until both sides are done; panics after `max` steps (livelock) or when nothing
    /// moves before both are done (deadlock).
    pub(crate) fn drive_bounded(&mut self, max: usize) -> Result<(), SessionError> {
        for _ in 0..max {
            let moved = self.step()?;
            if self.sender.is_done() && self.receiver.is_done() && !moved {
                return Ok(());
            }
            assert!(
                moved,
                "deadlock: sender done {}, receiver done {}",
                self.sender.is_done(),
                self.receiver.is_done()
            );
        }
        panic!("livelock: not done after {max} steps");
    }

    pub(crate) fn done(events: &[Event]) -> Option<(i32, Option<Stats>)> {
        events.iter().find_map(|e| match e {
            Event::Done { exit_code, stats } => Some((*exit_code, *stats)),
            _ => None,
        })
    }

    pub(crate) fn outcomes(&self) -> Vec<(i32, FileOutcome)> {
        self.receiver_events
            .iter()
            .filter_map(|e| match e {
                Event::File { ndx, outcome } => Some((*ndx, *outcome)),
                _ => None,
            })
            .collect()
    }
}
