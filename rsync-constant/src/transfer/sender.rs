//! [`SenderFs`]: builds the file list from the source operands with rsync's rules and reads
//! files for the sender.
//!
//! Source operands (rsync.1 "USAGE"): `src/` (or `src/.`) sends the *contents* of `src`,
//! named relative to it, with `src` itself as `.`; `src` sends the directory itself as
//! `src`. Directories need `-r` (recursive) or `-d` (the directory and, for `src/`, its
//! immediate contents); otherwise rsync skips them with `skipping directory`. Symlinks need
//! `-l`, devices `--devices`, FIFOs and sockets `--specials`; otherwise `skipping
//! non-regular file`. `--files-from` names are relative to the single source directory and
//! bring their parent directories with them (`-R`, implied by `--files-from`).

use rsync_proto::filter::{FilterList, Side};
use std::collections::{BTreeSet, HashMap};
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;

use rsync_core::checksum::StrongSum;
use rsync_proto::driver::{Executor, ExecutorError};
use rsync_proto::flist::{FileEntry, HardLink, IdList, PathBatch, WirePath};
use rsync_proto::session::{FsAnswer, FsRequest, MissingArgs};

mod constant;
mod names;

pub use constant::SourceEpoch;

use super::basis::hash_file;
use super::{kind_bits, report, Failures, Role};
use crate::fs::{walk, Destination, FileKind, FsError, Meta, RelPath};

/// `IOERR_GENERAL`.
const IOERR_GENERAL: i32 = 1;
/// `IOERR_VANISHED`.
const IOERR_VANISHED: i32 = 2;
/// Bytes per [`FsAnswer::FileData`] of a file under [`LARGE_FILE`]: each piece passes
/// through several buffers on its way to the peer, and a tree has many such files.
const DATA_CHUNK: usize = 64 * 1024;
/// Bytes per [`FsAnswer::FileData`] of a large file: fewer reads, and fewer pieces for the
/// matcher (which ends a literal run where a piece ends).
const LARGE_CHUNK: usize = 256 * 1024;
/// Size from which a file is read in [`LARGE_CHUNK`] pieces.
const LARGE_FILE: u64 = 16 << 20;
/// Names per shared name buffer of the file list.
const NAME_BATCH: usize = 1024;

/// The file list as the walk builds it: entries in walk order, named in batches of
/// [`NAME_BATCH`] that share one buffer (a 100,000-entry list makes 25 allocations for its
/// names, not 100,000).
struct ListBuilder {
    done: Vec<FileEntry>,
    /// Entries named `placeholder` until the batch of their names (`names`) is finished.
    pending: Vec<FileEntry>,
    names: PathBatch,
    placeholder: WirePath,
}

impl ListBuilder {
    fn new() -> Self {
        Self {
            done: Vec::new(),
            pending: Vec::new(),
            names: PathBatch::default(),
            placeholder: WirePath::dot(),
        }
    }

    /// Adds `e` (named with [`Self::placeholder`]) as `name`; an unsafe name is dropped.
    fn push(&mut self, name: &[u8], e: FileEntry) {
        if self.names.push(name).is_ok() {
            self.pending.push(e);
            if self.pending.len() >= NAME_BATCH {
                self.flush();
            }
        }
    }

    /// Names the pending entries and moves them to the list.
    fn flush(&mut self) {
        for (mut e, name) in self.pending.drain(..).zip(self.names.finish()) {
            e.name = name;
            self.done.push(e);
        }
    }

    /// Entries done (flush first for the pending ones).
    fn len(&self) -> usize {
        self.done.len()
    }

    fn finish(mut self) -> Vec<FileEntry> {
        self.flush();
        self.done.shrink_to_fit();
        self.done
    }
}

/// What the sender includes (from the command line and the negotiated file-list options).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SenderOptions {
    /// `-r`.
    pub recursive: bool,
    /// `-d`.
    pub dirs: bool,
    /// `-l`.
    pub links: bool,
    /// `--devices`.
    pub devices: bool,
    /// `--specials`.
    pub specials: bool,
    /// `-H`: give every non-directory with several links its device and inode (as rsync
    /// from protocol 28).
    pub hard_links: bool,
    /// `-H` below protocol 28: every regular file carries its device and inode.
    pub hlink_every_file: bool,
    /// `-o` without `--numeric-ids`: send user names.
    pub user_names: bool,
    /// `-g` without `--numeric-ids`: send group names.
    pub group_names: bool,
    /// `CF_ID0_NAMES`: the id lists carry the names of id 0.
    pub id0_names: bool,
    /// `-R` (`--files-from` implies it): keep the names' leading directories.
    pub relative: bool,
    /// The negotiated protocol (a server reads the client's filter rules by it).
    pub protocol: u32,
    /// `--delete-excluded` (a server's reading of the client's rules depends on it).
    pub delete_excluded: bool,
    /// `--ignore-missing-args` / `--delete-missing-args`: what a `--files-from` name that
    /// does not exist becomes (an error, nothing, or a mode-0 entry).
    pub missing_args: MissingArgs,
}

/// One source operand, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source(pub Vec<u8>);

impl Source {
    /// How the operand is walked: `(directory to open, name to start from)`; no name means
    /// "the contents of the directory" (`src/`, `src/.`, `.`).
    fn split(&self) -> (PathBuf, Option<Vec<u8>>) {
        let p = self.0.as_slice();
        let contents = p.ends_with(b"/") || p.ends_with(b"/.") || p == b"." || p == b"/";
        if contents {
            return (PathBuf::from(std::ffi::OsStr::from_bytes(p)), None);
        }
        match p.iter().rposition(|&b| b == b'/') {
            Some(0) => (PathBuf::from("/"), Some(p[1..].to_vec())),
            Some(i) => (
                PathBuf::from(std::ffi::OsStr::from_bytes(&p[..i])),
                Some(p[i + 1..].to_vec()),
            ),
            None => (PathBuf::from("."), Some(p.to_vec())),
        }
    }
}

/// The sender's executor.
pub struct SenderFs {
    sources: Vec<Source>,
    roots: Vec<Destination>,
    /// Which root each sent name lives under (only with several roots).
    owner: HashMap<Vec<u8>, usize>,
    opts: SenderOptions,
    failures: Failures,
    /// Names given with a local `--files-from` (push); names received from the client
    /// come with the request instead.
    files_from: Option<Vec<Vec<u8>>>,
    /// The filter rules: a client's own; a server's are built from the client's list.
    filter: Option<FilterList>,
    /// The file being sent, when a [`FsRequest::ReadFile`] is unfinished.
    reading: Option<Box<Reading>>,
    /// A constant master's state (see [`SenderFs::for_constant`]), `None` in a session.
    constant: Option<Box<constant::SourceState>>,
}

impl SenderFs {
    /// A sender for `sources`.
    pub fn new(sources: Vec<Source>, opts: SenderOptions, failures: Failures) -> Self {
        Self {
            sources,
            roots: Vec::new(),
            owner: HashMap::new(),
            opts,
            failures,
            files_from: None,
            filter: None,
            reading: None,
            constant: None,
        }
    }

    /// The client's filter rules (names they exclude on the sender side are left out of
    /// the file list, and an excluded directory is not descended into).
    pub fn with_filter(mut self, filter: FilterList) -> Self {
        self.filter = (!filter.is_empty()).then_some(filter);
        self
    }

    /// Whether the rules hide `name` from the file list.
    fn hidden(&self, name: &[u8], is_dir: bool) -> bool {
        self.filter
            .as_ref()
            .is_some_and(|f| f.excluded(name, is_dir, Side::Sender))
    }

    /// Names read locally from `--files-from` (a push).
    pub fn with_files_from(mut self, names: Vec<Vec<u8>>) -> Self {
        self.files_from = Some(names);
        self
    }

    fn fail(&self, io_error: &mut i32, msg: &str) {
        report(Role::Sender, msg);
        *io_error |= IOERR_GENERAL;
        self.failures.error();
    }

    /// Converts a walked entry, named with `out`'s placeholder (see [`ListBuilder::push`]);
    /// `None` (with a message) when the options exclude it.
    fn entry(
        &self,
        out: &ListBuilder,
        name: &[u8],
        meta: &Meta,
        target: Option<Vec<u8>>,
    ) -> Option<FileEntry> {
        let skip = |what: &str| {
            eprintln!("skipping {what} \"{}\"", String::from_utf8_lossy(name));
            None
        };
        match meta.kind {
            FileKind::Symlink if !self.opts.links => return skip("non-regular file"),
            FileKind::CharDevice | FileKind::BlockDevice if !self.opts.devices => {
                return skip("non-regular file")
            }
            FileKind::Fifo | FileKind::Socket if !self.opts.specials => {
                return skip("non-regular file")
            }
            FileKind::Unknown => return skip("non-regular file"),
            _ => {}
        }
        let mut e = FileEntry::new(out.placeholder.clone(), kind_bits(meta.kind) | meta.mode);
        e.set_size(match meta.kind {
            FileKind::File | FileKind::Dir => meta.size,
            FileKind::Symlink => target.as_ref().map_or(0, |t| t.len() as u64),
            _ => 0,
        });
        e.set_mtime(meta.mtime_sec);
        e.mtime_nsec = meta.mtime_nsec;
        e.uid = meta.uid;
        e.gid = meta.gid;
        if matches!(meta.kind, FileKind::CharDevice | FileKind::BlockDevice) {
            e.set_rdev(rustix::fs::major(meta.rdev), rustix::fs::minor(meta.rdev));
        }
        e.set_symlink(target);
        let linked = meta.kind != FileKind::Dir
            && (meta.nlink > 1 || (self.opts.hlink_every_file && meta.kind == FileKind::File));
        if self.opts.hard_links && linked {
            e.set_hardlink(Some(HardLink::DevIno {
                dev: meta.dev as i64,
                ino: meta.ino as i64,
            }));
        }
        Some(e)
    }

    fn root_meta(root: &Destination) -> Result<Meta, FsError> {
        rustix::fs::fstat(root.dir_fd())
            .map(|st| Meta::from_stat(&st))
            .map_err(|e| FsError::io(crate::fs::Op::Lstat, ".", e))
    }

    /// Walks one operand into `out`.
    fn walk_source(
        &mut self,
        idx: usize,
        start: Option<&[u8]>,
        out: &mut ListBuilder,
        io_error: &mut i32,
    ) {
        let Some(root) = self.roots.get(idx) else {
            return;
        };
        let descend = self.opts.recursive;
        let (first, start_rel) = match start {
            None => {
                if !self.opts.recursive && !self.opts.dirs {
                    eprintln!("skipping directory .");
                    return;
                }
                match Self::root_meta(root) {
                    Ok(m) => {
                        let mut e = self.entry(out, b".", &m, None);
                        if let Some(e) = &mut e {
                            e.set_top_dir(true);
                        }
                        (e, None)
                    }
                    Err(e) => return self.fail(io_error, &e.to_string()),
                }
            }
            Some(name) => match RelPath::new(name) {
                Ok(r) => (None, Some(r)),
                Err(e) => {
                    let msg = format!("bad source name {:?}: {e}", String::from_utf8_lossy(name));
                    return self.fail(io_error, &msg);
                }
            },
        };
        if let Some(e) = first {
            out.push(b".", e);
        }
        let mut it = walk(root.dir_fd(), start_rel.as_ref(), descend);
        if let Some(rel) = &start_rel {
            // The operand itself.
            match it.next() {
                Some(Ok(e)) => {
                    let is_dir = e.meta.kind == FileKind::Dir;
                    if self.hidden(e.path.as_bytes(), is_dir) {
                        return;
                    }
                    if is_dir && !self.opts.recursive && !self.opts.dirs {
                        eprintln!("skipping directory {}", rel.display());
                        return;
                    }
                    let name = e.path.as_bytes();
                    if let Some(mut fe) = self.entry(out, name, &e.meta, e.link_target) {
                        fe.set_top_dir(is_dir);
                        out.push(name, fe);
                    }
                    if is_dir && !self.opts.recursive {
                        return;
                    }
                }
                Some(Err(e)) => {
                    let vanished = e.errno() == Some(rustix::io::Errno::NOENT.raw_os_error());
                    report(
                        Role::Sender,
                        &format!(
                            "link_stat \"{}\" failed: {e}",
                            String::from_utf8_lossy(&self.sources[idx].0)
                        ),
                    );
                    *io_error |= IOERR_GENERAL;
                    let _ = vanished;
                    self.failures.error();
                    return;
                }
                None => return,
            }
        }
        while let Some(item) = it.next() {
            match item {
                Ok(e) => {
                    let name = e.path.as_bytes();
                    if self.hidden(name, e.meta.kind == FileKind::Dir) {
                        it.prune();
                        continue;
                    }
                    if let Some(fe) = self.entry(out, name, &e.meta, e.link_target) {
                        out.push(name, fe);
                    }
                }
                Err(e) => {
                    let vanished = e.errno() == Some(rustix::io::Errno::NOENT.raw_os_error());
                    if vanished {
                        *io_error |= IOERR_VANISHED;
                        self.failures.vanished();
                        report(Role::Sender, &format!("file has vanished: {}", e.path()));
                    } else {
                        self.fail(io_error, &e.to_string());
                    }
                }
            }
        }
    }

    fn build_list(
        &mut self,
        files_from: Option<Vec<Vec<u8>>>,
        checksum: Option<StrongSum>,
    ) -> FsAnswer {
        let mut io_error = 0;
        let mut out = ListBuilder::new();
        self.roots.clear();
        let names = files_from.or_else(|| self.files_from.take());
        // With --files-from the operand is the base directory, slash or not; with -R each
        // operand names a path beneath a directory (names.rs).
        let relative = names.is_none() && self.opts.relative;
        let splits: Vec<(PathBuf, Option<Vec<u8>>)> = if names.is_some() {
            self.sources
                .iter()
                .map(|s| (PathBuf::from(std::ffi::OsStr::from_bytes(&s.0)), None))
                .collect()
        } else if relative {
            self.sources
                .iter()
                .map(|s| {
                    let (dir, name) = s.split_relative();
                    (dir, Some(name))
                })
                .collect()
        } else {
            self.sources.iter().map(Source::split).collect()
        };
        let mut starts = Vec::new();
        let mut opened: HashMap<PathBuf, usize> = HashMap::new();
        for (i, (dir, start)) in splits.into_iter().enumerate() {
            // -R operands beneath one directory share its handle (and their names one root).
            if let Some(&idx) = opened.get(&dir).filter(|_| relative) {
                starts.push((i, idx, start));
                continue;
            }
            match Destination::open(&dir) {
                Ok(d) => {
                    self.roots.push(d);
                    opened.insert(dir, self.roots.len() - 1);
                    starts.push((i, self.roots.len() - 1, start));
                }
                Err(e) => {
                    let shown = String::from_utf8_lossy(&self.sources[i].0).into_owned();
                    let msg = format!("change_dir \"{shown}\" failed: {e}");
                    self.fail(&mut io_error, &msg);
                }
            }
        }
        if let Some(names) = names {
            self.walk_names(&names, &mut out, &mut io_error);
        } else if relative {
            let starts: Vec<_> = starts
                .into_iter()
                .map(|(i, idx, start)| (i, idx, start.unwrap_or_default()))
                .collect();
            self.walk_relative(&starts, &mut out, &mut io_error);
        } else {
            for (_, idx, start) in starts {
                let before = out.len();
                self.walk_source(idx, start.as_deref(), &mut out, &mut io_error);
                if self.roots.len() > 1 {
                    out.flush();
                    for e in out.done.get(before..).unwrap_or_default() {
                        self.owner.entry(e.name.as_bytes().to_vec()).or_insert(idx);
                    }
                }
            }
        }
        let mut out = out.finish();
        if let Some(sum) = checksum {
            for e in out.iter_mut().filter(|e| e.is_regular()) {
                let root = self.root_of(e.name.as_bytes());
                let got = RelPath::new(e.name.as_bytes())
                    .map_err(|_| None)
                    .and_then(|rel| root.ok_or(None)?.open_basis(&rel).map_err(Some))
                    .and_then(|f| hash_file(&f, sum).map_err(Some));
                match got {
                    Ok(h) => e.set_checksum(Some(h)),
                    Err(Some(err)) => self.fail(&mut io_error, &err.to_string()),
                    Err(None) => {}
                }
            }
        }
        let (uids, gids) = self.id_lists(&out);
        FsAnswer::FileList {
            entries: out,
            io_error,
            uids,
            gids,
        }
    }

    fn id_lists(&self, list: &[FileEntry]) -> (IdList, IdList) {
        let mut uids = IdList::default();
        let mut gids = IdList::default();
        if self.opts.user_names {
            let ids: BTreeSet<u32> = list.iter().map(|e| e.uid).filter(|&u| u != 0).collect();
            uids = IdList::new(
                ids.into_iter()
                    .filter_map(|u| super::user_name(u).map(|n| (u, n)))
                    .collect(),
            );
            if self.opts.id0_names {
                uids.id0_name = super::user_name(0);
            }
        }
        if self.opts.group_names {
            let ids: BTreeSet<u32> = list.iter().map(|e| e.gid).filter(|&g| g != 0).collect();
            gids = IdList::new(
                ids.into_iter()
                    .filter_map(|g| super::group_name(g).map(|n| (g, n)))
                    .collect(),
            );
            if self.opts.id0_names {
                gids.id0_name = super::group_name(0);
            }
        }
        (uids, gids)
    }

    fn root_of(&self, name: &[u8]) -> Option<&Destination> {
        if self.roots.len() == 1 {
            return self.roots.first();
        }
        self.owner.get(name).and_then(|&i| self.roots.get(i))
    }

    /// Opens a file to send; answers [`FsAnswer::FileError`] when it cannot.
    fn open_file(&mut self, ndx: i32, path: &WirePath, answer: &mut dyn FnMut(FsAnswer)) {
        let shown = String::from_utf8_lossy(path.as_bytes()).into_owned();
        let opened = RelPath::new(path.as_bytes())
            .map_err(|_| None)
            .and_then(|rel| {
                self.root_of(path.as_bytes())
                    .ok_or(None)?
                    .open_basis(&rel)
                    .map_err(Some)
            });
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                let vanished = e
                    .as_ref()
                    .and_then(FsError::errno)
                    .is_some_and(|n| n == rustix::io::Errno::NOENT.raw_os_error())
                    || self.gone_since_stat(e.as_ref());
                if vanished {
                    report(Role::Sender, &format!("file has vanished: \"{shown}\""));
                    self.failures.vanished();
                } else {
                    let why = e.map_or_else(|| "not in the file list".into(), |e| e.to_string());
                    report(
                        Role::Sender,
                        &format!("send_files failed to open \"{shown}\": {why}"),
                    );
                    self.failures.error();
                }
                answer(FsAnswer::FileError { ndx, vanished });
                return;
            }
        };
        // As rsync's sender, send the length `fstat` gave when the file was opened (less if
        // it shrinks meanwhile): no extra read to find the end.
        self.reading = Some(Box::new(Reading {
            ndx,
            size: file.len(),
            file,
            off: 0,
            shown,
        }));
    }

    /// Sends about `budget` more bytes of the open file; `true` once it is finished (its
    /// [`FsAnswer::FileEnd`] given).
    fn read_more(&mut self, answer: &mut dyn FnMut(FsAnswer), budget: usize) -> bool {
        let Some(r) = self.reading.as_mut() else {
            return true;
        };
        let mut given = 0;
        while r.off < r.size {
            if given >= budget {
                return false;
            }
            // A buffer sized to what is left, filled by a sequential read straight into its
            // spare capacity: no zeroing pass over every chunk (the file is read front to
            // back from offset 0, so its position is `r.off`).
            let chunk = if r.size >= LARGE_FILE {
                LARGE_CHUNK
            } else {
                DATA_CHUNK
            };
            let want = usize::try_from(r.size - r.off).map_or(chunk, |n| n.min(chunk));
            let mut buf = Vec::with_capacity(want);
            match std::io::Read::read_to_end(
                &mut std::io::Read::take(r.file.file(), want as u64),
                &mut buf,
            ) {
                Ok(0) => break,
                Ok(n) => {
                    r.off += n as u64;
                    given += n;
                    answer(FsAnswer::FileData {
                        ndx: r.ndx,
                        data: buf,
                    });
                }
                Err(e) => {
                    report(
                        Role::Sender,
                        &format!("read errors mapping \"{}\": {e}", r.shown),
                    );
                    self.failures.error();
                    break;
                }
            }
        }
        answer(FsAnswer::FileEnd { ndx: r.ndx });
        self.reading = None;
        true
    }
}

/// The file being sent.
struct Reading {
    ndx: i32,
    file: crate::fs::Basis,
    size: u64,
    off: u64,
    shown: String,
}

impl Executor for SenderFs {
    fn execute(
        &mut self,
        request: FsRequest,
        answer: &mut dyn FnMut(FsAnswer),
    ) -> Result<(), ExecutorError> {
        self.check_epoch();
        match request {
            FsRequest::FileList {
                filter_rules,
                files_from,
                checksum,
            } => {
                if self.filter.is_none() && !filter_rules.is_empty() {
                    // A server: the client's rules, read as rsync's recv_filter_list does.
                    let list = FilterList::from_wire(
                        &filter_rules,
                        self.opts.protocol,
                        self.opts.delete_excluded,
                    )
                    .map_err(|e| ExecutorError::new(2, e.to_string()))?;
                    self.filter = (!list.is_empty()).then_some(list);
                }
                answer(self.build_list(files_from, checksum));
                Ok(())
            }
            FsRequest::ReadFile { ndx, path } => {
                self.open_file(ndx, &path, answer);
                self.read_more(answer, usize::MAX);
                Ok(())
            }
            FsRequest::Stat { ndx, path } => {
                answer(self.stat(ndx, &path)?);
                Ok(())
            }
            FsRequest::ListDir { ndx, path } => {
                answer(self.list_source(ndx, &path)?);
                Ok(())
            }
            other => Err(ExecutorError::new(
                2,
                format!("unexpected request for a sender: {other:?}"),
            )),
        }
    }

    fn resumable(&self) -> bool {
        true
    }

    fn execute_budget(
        &mut self,
        request: FsRequest,
        answer: &mut dyn FnMut(FsAnswer),
        budget: usize,
    ) -> Result<bool, ExecutorError> {
        match request {
            FsRequest::ReadFile { ndx, path } => {
                self.check_epoch();
                self.open_file(ndx, &path, answer);
                Ok(self.read_more(answer, budget))
            }
            other => self.execute(other, answer).map(|()| true),
        }
    }

    fn resume(
        &mut self,
        answer: &mut dyn FnMut(FsAnswer),
        budget: usize,
    ) -> Result<bool, ExecutorError> {
        Ok(self.read_more(answer, budget))
    }
}
