//! [`Writer`]: the receiver's file writing (create the temporary file, write it, set its
//! attributes, rename it into place; or, with `--inplace`, write the destination file itself
//! at explicit offsets, skip the blocks already in place and cut it to its new length) on a
//! thread of its own, so that the session's decoding and the generator's `lstat`s go on
//! while the kernel allocates inodes and copies data. rsync gets the same overlap from its
//! separate generator and receiver processes.
//!
//! # Order
//! Jobs run in the order they were given. Before the receiver runs a request that reads or
//! changes a path that a job still in the thread's hands touches (the same path, an
//! ancestor or a descendant), it waits for every job given so far ([`Writer::settle`]);
//! before any request that could observe the results elsewhere (directory attributes,
//! deletions, listings, links) it waits unconditionally ([`Writer::drain`]). An in-place
//! file is also known by its inode ([`Writer::busy_inode`]): a hard link to it elsewhere
//! sees its writes, so a request that finds that inode under another name waits too. Every
//! request therefore sees the destination exactly as if the jobs had run synchronously.
//!
//! # Several files
//! A session receiver writes one file at a time (a new file drops an unfinished one); a
//! constant mirror (RFC.md §15.5) interleaves the data of up to `max_open` files, each job
//! naming its file by index. A failure drops only that file, and is recorded for its index
//! in the [`FailLog`] when there is one, for the next `Settle` of that index (which drains
//! the queue first).
//!
//! # A failed write ends a session
//! Without a [`FailLog`] (a one-shot session), the first failed write of received data
//! (`ENOSPC`, `EFBIG`, `EIO`) stops the thread as rsync's receiver stops (receiver.c
//! `receive_data`: "write failed on", exit 11): nothing more is written, the open files are
//! dropped, and [`Writer::write_failure`] tells the receiver, which ends the run with it.
//! A constant mirror keeps such a failure per file and retries later.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use super::settle::FailLog;
use super::{report, Failures, Role};
use crate::fs::{Attrs, Destination, FsError, InPlaceFile, Op, RelPath, TempFile};

/// The failed write that ended a session's writing ([`Writer::write_failure`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WriteFailure {
    /// The file's path beneath the destination root.
    pub(super) path: String,
    /// The system's description of the error, without Rust's "(os error N)".
    pub(super) error: String,
    /// The error number, when there is one.
    pub(super) errno: Option<i32>,
}

impl WriteFailure {
    fn of(e: &FsError) -> Self {
        let error = match e {
            FsError::Io { source, .. } => {
                let text = source.to_string();
                match text.find(" (os error ") {
                    Some(i) => text.get(..i).unwrap_or(&text).to_owned(),
                    None => text,
                }
            }
            other => other.to_string(),
        };
        Self {
            path: e.path().to_owned(),
            error,
            errno: e.errno(),
        }
    }
}

/// Where the thread leaves a session's failed write.
type FatalSlot = Arc<Mutex<Option<WriteFailure>>>;

/// Batches queued before [`Writer::send`] blocks.
const QUEUE: usize = 4;
/// Jobs handed over together (one wake-up of the thread per batch).
const BATCH_JOBS: usize = 64;
/// Data bytes handed over together.
const BATCH_BYTES: usize = 256 * 1024;
/// Received bytes gathered before one `writev` to the temporary file.
const WRITE_BUF: usize = 256 * 1024;
/// Most pieces gathered for one `writev` (well below `IOV_MAX`).
const WRITE_PIECES: usize = 64;

/// One step of writing a file.
#[derive(Debug)]
pub(super) enum Job {
    /// Create the temporary file for `rel` (a previous unfinished file is dropped);
    /// `fresh`: `rel` was absent when the receiver looked ([`Destination::begin_new_file`]).
    Begin { ndx: i32, rel: RelPath, fresh: bool },
    /// `--inplace`: write into this file, opened by the receiver (a previous unfinished
    /// file is dropped).
    BeginInPlace { ndx: i32, file: InPlaceFile },
    /// Append to it (in place: write at the current position).
    Write { ndx: i32, data: Vec<u8> },
    /// In place: move the position on without writing (a block already where it belongs).
    Skip { ndx: i32, len: u64 },
    /// Apply `attrs` and rename it into place (in place: cut it at the position, then
    /// apply `attrs`).
    Commit { ndx: i32, attrs: Attrs },
    /// Remove it (in place: keep what was written, cut at the position, as rsync keeps a
    /// file that failed verification).
    Discard { ndx: i32 },
}

/// How far the thread has got, and a way to wait for it without a system call per job.
#[derive(Default)]
struct Progress {
    /// Jobs processed.
    done: AtomicU64,
    /// The receiver is (about to be) waiting: the thread must notify.
    waiting: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

/// The writing thread and what the receiver knows of its queue.
pub(super) struct Writer {
    tx: Option<mpsc::SyncSender<Vec<Job>>>,
    handle: Option<JoinHandle<()>>,
    progress: Arc<Progress>,
    /// Jobs not handed over yet, and their data bytes.
    batch: Vec<Job>,
    batch_bytes: usize,
    /// Set by the receiver's `Drop` with `--partial`: commit an unfinished file.
    keep_partial: Arc<AtomicBool>,
    /// Jobs given so far.
    sent: u64,
    /// Most files open at once (as the thread's).
    max_open: usize,
    /// The files with jobs in the thread's hands, or still open (not committed or
    /// discarded yet).
    files: VecDeque<Tracked>,
    /// A session's failed write, once the thread has met one.
    fatal: FatalSlot,
}

/// A file the receiver gave the thread.
struct Tracked {
    /// The sequence number of the last job given for it.
    seq: u64,
    ndx: i32,
    rel: RelPath,
    /// An in-place file's (device, inode).
    inode: Option<Inode>,
    /// Neither committed nor discarded yet.
    open: bool,
}

/// A file's (device, inode).
type Inode = (u64, u64);

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("sent", &self.sent).finish()
    }
}

/// Whether `a` and `b` are the same path or one lies beneath the other.
fn related(a: &RelPath, b: &RelPath) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long.starts_with(short) && (long.len() == short.len() || long.get(short.len()) == Some(&b'/'))
}

impl Writer {
    /// Starts the thread, writing beneath `dest`, one file at a time; failures are reported
    /// as the receiver's.
    #[cfg(test)]
    pub(super) fn spawn(dest: Arc<Destination>, failures: Failures) -> std::io::Result<Self> {
        Self::spawn_with(dest, failures, 1, None)
    }

    /// Starts the thread with up to `max_open` files open at once (a new one beyond drops
    /// the oldest unfinished one); failures are also recorded per index in `log`.
    pub(super) fn spawn_with(
        dest: Arc<Destination>,
        failures: Failures,
        max_open: usize,
        log: Option<Arc<FailLog>>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<Vec<Job>>(QUEUE);
        let progress = Arc::new(Progress::default());
        let keep_partial = Arc::new(AtomicBool::new(false));
        let fatal = FatalSlot::default();
        let mut worker = Worker {
            fatal: log.is_none().then(|| Arc::clone(&fatal)),
            stopped: false,
            dest,
            failures,
            cur: Vec::new(),
            max_open: max_open.max(1),
            log,
            keep_partial: Arc::clone(&keep_partial),
        };
        let p = Arc::clone(&progress);
        let handle = std::thread::Builder::new()
            .name("rsync-write".into())
            .spawn(move || {
                while let Ok(batch) = rx.recv() {
                    let n = batch.len() as u64;
                    for job in batch {
                        worker.run(job);
                    }
                    // Jobs count as done once their bytes are in the file: an in-place
                    // file is the basis, and may be another name's content.
                    worker.flush_in_place();
                    p.done.fetch_add(n, Ordering::SeqCst);
                    if p.waiting.load(Ordering::SeqCst) {
                        let _guard = p.lock.lock().unwrap_or_else(PoisonError::into_inner);
                        p.cv.notify_all();
                    }
                }
                worker.finish();
            })?;
        Ok(Self {
            tx: Some(tx),
            handle: Some(handle),
            progress,
            batch: Vec::new(),
            batch_bytes: 0,
            keep_partial,
            sent: 0,
            max_open: max_open.max(1),
            files: VecDeque::new(),
            fatal,
        })
    }

    /// The failed write that stopped a session's thread, if any (it is found once the
    /// thread has reached the job: after [`Writer::drain`] for certain).
    pub(super) fn write_failure(&self) -> Option<WriteFailure> {
        self.fatal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Queues `job`; jobs are handed over in batches (blocks while the queue is full).
    pub(super) fn send(&mut self, job: Job) {
        self.forget_done();
        let seq = self.sent + 1;
        let track = |ndx, rel, inode| Tracked {
            seq,
            ndx,
            rel,
            inode,
            open: true,
        };
        match &job {
            Job::Begin { ndx, rel, .. } => {
                self.close(*ndx, seq);
                self.files.push_back(track(*ndx, rel.clone(), None));
            }
            Job::BeginInPlace { ndx, file } => {
                self.close(*ndx, seq);
                let m = file.meta();
                let inode = Some((m.dev, m.ino));
                self.files.push_back(track(*ndx, file.rel().clone(), inode));
            }
            Job::Write { ndx, data } => {
                self.batch_bytes += data.len();
                self.touch(*ndx, seq, false);
            }
            Job::Skip { ndx, .. } => self.touch(*ndx, seq, false),
            Job::Commit { ndx, .. } | Job::Discard { ndx } => self.touch(*ndx, seq, true),
        }
        self.sent = seq;
        self.batch.push(job);
        if self.batch.len() >= BATCH_JOBS || self.batch_bytes >= BATCH_BYTES {
            self.hand_over();
        }
    }

    /// The open file `ndx` has job `seq`; `close`: its last.
    fn touch(&mut self, ndx: i32, seq: u64, close: bool) {
        if let Some(f) = self.files.iter_mut().rev().find(|f| f.ndx == ndx && f.open) {
            f.seq = seq;
            f.open = !close;
        }
    }

    /// A new file `ndx` replaces an unfinished one of the same index, or the oldest when
    /// `max_open` are open, as the thread does (job `seq`).
    fn close(&mut self, ndx: i32, seq: u64) {
        self.touch(ndx, seq, true);
        if self.files.iter().filter(|f| f.open).count() >= self.max_open {
            if let Some(f) = self.files.iter_mut().find(|f| f.open) {
                f.seq = seq;
                f.open = false;
            }
        }
    }

    /// Hands the batch to the thread.
    fn hand_over(&mut self) {
        self.batch_bytes = 0;
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let n = batch.len() as u64;
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(batch).is_ok());
        if !sent {
            // The thread has gone (it cannot, short of a panic): count the jobs as done so
            // that nobody waits for them.
            self.progress.done.fetch_add(n, Ordering::SeqCst);
        }
    }

    /// Waits until every job given so far has run.
    pub(super) fn drain(&mut self) {
        self.wait_for(self.sent);
        self.files.retain(|f| f.open);
    }

    /// Waits until the first `seq` jobs have run.
    fn wait_for(&mut self, seq: u64) {
        self.hand_over();
        let p = &self.progress;
        if p.done.load(Ordering::SeqCst) < seq && self.handle.is_some() {
            p.waiting.store(true, Ordering::SeqCst);
            let mut guard = p.lock.lock().unwrap_or_else(PoisonError::into_inner);
            while p.done.load(Ordering::SeqCst) < seq {
                if self.handle.as_ref().is_some_and(JoinHandle::is_finished) {
                    break;
                }
                // A timeout too, so that a thread that died cannot hang us.
                guard =
                    p.cv.wait_timeout(guard, std::time::Duration::from_millis(100))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
            }
            drop(guard);
            p.waiting.store(false, Ordering::SeqCst);
        }
    }

    /// Waits for the queue first if a job in the thread's hands touches `rel`, an ancestor
    /// or a descendant of it.
    pub(super) fn settle(&mut self, rel: &RelPath) {
        self.forget_done();
        if self.files.iter().any(|f| related(&f.rel, rel)) {
            self.drain();
        }
    }

    /// Waits for the queue if an in-place file in the thread's hands is the inode
    /// `(dev, ino)` (the same file under another name: a hard link); `true` if it waited.
    pub(super) fn busy_inode(&mut self, dev: u64, ino: u64) -> bool {
        self.forget_done();
        let busy = self.files.iter().any(|f| f.inode == Some((dev, ino)));
        if busy {
            self.drain();
        }
        busy
    }

    /// Drops the files whose jobs have all run, the last of them their commit or discard.
    fn forget_done(&mut self) {
        let done = self.progress.done.load(Ordering::SeqCst);
        self.files.retain(|f| f.open || f.seq > done);
    }

    /// Files tracked (tests).
    #[cfg(test)]
    pub(super) fn tracked(&self) -> usize {
        self.files.len()
    }

    /// Runs what is queued and stops the thread; with `keep_partial`, an unfinished file is
    /// committed as it is (`--partial`), else removed.
    pub(super) fn finish(&mut self, keep_partial: bool) {
        self.hand_over();
        self.keep_partial.store(keep_partial, Ordering::SeqCst);
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.finish(self.keep_partial.load(Ordering::SeqCst));
    }
}

/// Where a file's data goes.
enum Target {
    /// A temporary file, renamed over the final name at the end.
    Temp(TempFile),
    /// The destination file itself (`--inplace`).
    InPlace(InPlaceFile),
}

/// The file being written.
struct Current {
    ndx: i32,
    target: Target,
    /// Pieces not written yet (kept as they came: no copy).
    pending: Vec<Vec<u8>>,
    pending_len: usize,
}

impl Current {
    fn new(ndx: i32, target: Target) -> Self {
        Self {
            ndx,
            target,
            pending: Vec::new(),
            pending_len: 0,
        }
    }

    fn flush(&mut self) -> Result<(), FsError> {
        let r = match &mut self.target {
            Target::Temp(t) => t.write_all_bufs(&self.pending),
            Target::InPlace(f) => f.write_all_bufs(&self.pending),
        };
        self.pending.clear();
        self.pending_len = 0;
        r
    }

    /// Writes what is pending, then applies `attrs` and puts the file in place.
    fn commit(mut self, attrs: Attrs) -> Result<(), FsError> {
        self.flush()?;
        match self.target {
            Target::Temp(mut t) => {
                apply_tolerant(attrs, |a| t.set_meta(a))?;
                t.commit()
            }
            Target::InPlace(mut f) => {
                f.truncate()?;
                apply_tolerant(attrs, |a| f.set_meta(a))
            }
        }
    }
}

/// The thread's side.
struct Worker {
    dest: Arc<Destination>,
    failures: Failures,
    /// The files open, oldest first (at most `max_open`).
    cur: Vec<Current>,
    max_open: usize,
    log: Option<Arc<FailLog>>,
    keep_partial: Arc<AtomicBool>,
    /// A session's slot for its first failed write (`None` in a constant mirror).
    fatal: Option<FatalSlot>,
    /// A session's write failed: every further job is ignored.
    stopped: bool,
}

impl Worker {
    /// A failed write of received data: the end of a session (see the module
    /// documentation), one file's failure in a constant mirror.
    fn fail_write(&mut self, ndx: i32, e: &FsError) {
        if let (Some(slot), Op::Write) = (&self.fatal, e.op()) {
            // receiver.c: a failed write ends the run (reported once, by the receiver).
            let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
            slot.get_or_insert_with(|| WriteFailure::of(e));
            drop(slot);
            self.stopped = true;
            // The temporaries go (no `--partial` file of a run that failed this way).
            self.cur.clear();
            return;
        }
        self.fail(ndx, e);
    }

    fn fail(&mut self, ndx: i32, e: &FsError) {
        let msg = e.to_string();
        report(Role::Receiver, &msg);
        self.failures.error();
        if let Some(log) = &self.log {
            log.record(ndx, &msg);
        }
        // A file that failed is not written further (its temporary is removed).
        self.take(ndx);
    }

    fn current(&mut self, ndx: i32) -> Option<&mut Current> {
        self.cur.iter_mut().find(|c| c.ndx == ndx)
    }

    fn take(&mut self, ndx: i32) -> Option<Current> {
        let i = self.cur.iter().position(|c| c.ndx == ndx)?;
        Some(self.cur.remove(i))
    }

    /// Opens file `ndx`: an unfinished file of the same index, or the oldest one when
    /// `max_open` are open, is dropped.
    fn open(&mut self, c: Current) {
        self.take(c.ndx);
        if self.cur.len() >= self.max_open {
            self.cur.remove(0);
        }
        self.cur.push(c);
    }

    fn run(&mut self, job: Job) {
        if self.stopped {
            return;
        }
        match job {
            Job::Begin { ndx, rel, fresh } => {
                self.take(ndx);
                let begun = if fresh {
                    self.dest.begin_new_file(&rel)
                } else {
                    self.dest.begin_file(&rel)
                };
                match begun {
                    Ok(temp) => self.open(Current::new(ndx, Target::Temp(temp))),
                    Err(e) => self.fail(ndx, &e),
                }
            }
            Job::BeginInPlace { ndx, file } => {
                self.open(Current::new(ndx, Target::InPlace(file)));
            }
            Job::Write { ndx, data } => {
                let Some(c) = self.current(ndx) else {
                    // The temporary could not be created: already reported.
                    return;
                };
                c.pending_len += data.len();
                c.pending.push(data);
                if c.pending_len >= WRITE_BUF || c.pending.len() >= WRITE_PIECES {
                    if let Err(e) = c.flush() {
                        self.fail_write(ndx, &e);
                    }
                }
            }
            Job::Skip { ndx, len } => {
                let Some(c) = self.current(ndx) else {
                    return;
                };
                let r = c.flush();
                if let Target::InPlace(f) = &mut c.target {
                    f.skip(len);
                }
                if let Err(e) = r {
                    self.fail_write(ndx, &e);
                }
            }
            Job::Commit { ndx, attrs } => {
                let Some(mut c) = self.take(ndx) else {
                    return;
                };
                if let Err(e) = c.flush() {
                    self.fail_write(ndx, &e);
                    return;
                }
                if let Err(e) = c.commit(attrs) {
                    self.fail(ndx, &e);
                }
            }
            Job::Discard { ndx } => {
                let Some(mut c) = self.take(ndx) else {
                    return;
                };
                if matches!(c.target, Target::InPlace(_)) {
                    // receiver.c: the in-place file keeps what was received, at its new
                    // length; the redo phase updates it again.
                    let r = c.flush().and_then(|()| match &mut c.target {
                        Target::InPlace(f) => f.truncate(),
                        Target::Temp(_) => Ok(()),
                    });
                    if let Err(e) = r {
                        self.fail(ndx, &e);
                    }
                }
            }
        }
    }

    /// Writes what the in-place files have pending (the end of a batch).
    fn flush_in_place(&mut self) {
        let failed: Vec<(i32, FsError)> = self
            .cur
            .iter_mut()
            .filter(|c| matches!(c.target, Target::InPlace(_)) && !c.pending.is_empty())
            .filter_map(|c| c.flush().err().map(|e| (c.ndx, e)))
            .collect();
        for (ndx, e) in failed {
            self.fail_write(ndx, &e);
        }
    }

    /// The receiver has gone: `--partial` keeps what was received of an unfinished file; an
    /// in-place file always keeps it, where it was written and at its old length beyond
    /// (rsync's cleanup only flushes the in-place descriptor).
    fn finish(&mut self) {
        for mut c in std::mem::take(&mut self.cur) {
            match c.target {
                Target::InPlace(_) => {
                    let _ = c.flush();
                }
                Target::Temp(_) => {
                    if self.keep_partial.load(Ordering::SeqCst) && c.flush().is_ok() {
                        if let Target::Temp(t) = c.target {
                            let _ = t.commit();
                        }
                    }
                }
            }
        }
    }
}

/// Applies attributes, tolerating a group change a non-root user may not make (rsync keeps
/// the file and its default group then).
pub(super) fn apply_tolerant(
    attrs: Attrs,
    mut apply: impl FnMut(&Attrs) -> Result<(), FsError>,
) -> Result<(), FsError> {
    match apply(&attrs) {
        Err(e)
            if e.errno() == Some(rustix::io::Errno::PERM.raw_os_error()) && attrs.gid.is_some() =>
        {
            apply(&Attrs { gid: None, ..attrs })
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rp(s: &str) -> RelPath {
        RelPath::new(s.as_bytes()).unwrap()
    }

    #[test]
    fn related_paths_are_component_wise() {
        assert!(related(&rp("a"), &rp("a")));
        assert!(related(&rp("a"), &rp("a/b")));
        assert!(related(&rp("a/b/c"), &rp("a")));
        assert!(!related(&rp("a"), &rp("ab")));
        assert!(!related(&rp("a/b"), &rp("a/c")));
    }

    #[test]
    fn jobs_run_in_order_and_settle_waits_for_related_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = Arc::new(Destination::open(tmp.path()).unwrap());
        let mut w = Writer::spawn(Arc::clone(&dest), Failures::new()).unwrap();
        for i in 0..50 {
            let rel = rp(&format!("f{i}"));
            // Half of them unnamed until committed.
            w.send(Job::Begin {
                ndx: i,
                rel: rel.clone(),
                fresh: i % 2 == 0,
            });
            w.send(Job::Write {
                ndx: i,
                data: vec![i as u8; 1000],
            });
            w.send(Job::Commit {
                ndx: i,
                attrs: Attrs::default(),
            });
            // The file is in place once settled on its path.
            w.settle(&rel);
            assert_eq!(
                std::fs::read(tmp.path().join(format!("f{i}")))
                    .unwrap()
                    .len(),
                1000
            );
        }
        // A discarded file leaves nothing; an unfinished one is removed at the end.
        for (ndx, fresh) in [(60, false), (62, true)] {
            w.send(Job::Begin {
                ndx,
                rel: rp(&format!("gone{ndx}")),
                fresh,
            });
            w.send(Job::Discard { ndx });
        }
        for (ndx, fresh) in [(61, false), (63, true)] {
            w.send(Job::Begin {
                ndx,
                rel: rp(&format!("half{ndx}")),
                fresh,
            });
            w.send(Job::Write {
                ndx,
                data: b"x".to_vec(),
            });
        }
        w.finish(false);
        let mut names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names.len(), 50, "{names:?}");
    }

    #[test]
    fn interleaved_files_and_failures_by_index() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = Arc::new(Destination::open(tmp.path()).unwrap());
        let log = Arc::new(FailLog::default());
        let mut w = Writer::spawn_with(dest, Failures::new(), 3, Some(Arc::clone(&log))).unwrap();
        for (ndx, name) in [(1, "a"), (2, "b"), (3, "missing/c")] {
            w.send(Job::Begin {
                ndx,
                rel: rp(name),
                fresh: ndx != 2,
            });
        }
        for round in 0..3u8 {
            for ndx in [2, 1, 3] {
                let data = vec![b'0' + round; ndx as usize];
                w.send(Job::Write { ndx, data });
            }
        }
        for ndx in [2, 1, 3] {
            let attrs = Attrs::default();
            w.send(Job::Commit { ndx, attrs });
        }
        w.drain();
        assert_eq!(std::fs::read(tmp.path().join("a")).unwrap(), b"012");
        assert_eq!(std::fs::read(tmp.path().join("b")).unwrap(), b"001122");
        // Only the file whose directory is missing failed, under its own index.
        assert_eq!(log.take(1), None);
        assert_eq!(log.take(2), None);
        assert!(log.take(3).is_some());
        assert_eq!(w.tracked(), 0, "nothing kept once done");
    }

    #[test]
    fn partial_keeps_an_unfinished_file() {
        for fresh in [false, true] {
            let tmp = tempfile::tempdir().unwrap();
            let dest = Arc::new(Destination::open(tmp.path()).unwrap());
            let mut w = Writer::spawn(dest, Failures::new()).unwrap();
            w.send(Job::Begin {
                ndx: 1,
                rel: rp("half"),
                fresh,
            });
            w.send(Job::Write {
                ndx: 1,
                data: b"abc".to_vec(),
            });
            w.finish(true);
            assert_eq!(std::fs::read(tmp.path().join("half")).unwrap(), b"abc");
        }
    }
}
