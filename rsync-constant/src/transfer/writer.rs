//! [`Writer`]: the receiver's file writing (create the temporary file, write it, set its
//! attributes, rename it into place) on a thread of its own, so that the session's decoding
//! and the generator's `lstat`s go on while the kernel allocates inodes and copies data.
//! rsync gets the same overlap from its separate generator and receiver processes.
//!
//! # Order
//! Jobs run in the order they were given. Before the receiver runs a request that reads or
//! changes a path that a job still in the thread's hands touches (the same path, an
//! ancestor or a descendant), it waits for every job given so far ([`Writer::settle`]);
//! before any request that could observe the results elsewhere (directory attributes,
//! deletions, listings, links) it waits unconditionally ([`Writer::drain`]). Every request
//! therefore sees the destination exactly as if the jobs had run synchronously.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use super::{report, Failures, Role};
use crate::fs::{Attrs, Destination, FsError, RelPath, TempFile};

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
    /// Create the temporary file for `rel` (a previous unfinished file is dropped).
    Begin { ndx: i32, rel: RelPath },
    /// Append to it.
    Write { ndx: i32, data: Vec<u8> },
    /// Apply `attrs` and rename it into place.
    Commit { ndx: i32, attrs: Attrs },
    /// Remove it.
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
    /// The files with jobs in the thread's hands: the sequence number of the last job given
    /// for each, and its path.
    files: VecDeque<(u64, RelPath)>,
}

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
    /// Starts the thread, writing beneath `dest`; failures are reported as the receiver's.
    pub(super) fn spawn(dest: Arc<Destination>, failures: Failures) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<Vec<Job>>(QUEUE);
        let progress = Arc::new(Progress::default());
        let keep_partial = Arc::new(AtomicBool::new(false));
        let mut worker = Worker {
            dest,
            failures,
            cur: None,
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
            files: VecDeque::new(),
        })
    }

    /// Queues `job`; jobs are handed over in batches (blocks while the queue is full).
    pub(super) fn send(&mut self, job: Job) {
        self.forget_done();
        let seq = self.sent + 1;
        match &job {
            Job::Begin { rel, .. } => self.files.push_back((seq, rel.clone())),
            Job::Write { data, .. } => {
                self.batch_bytes += data.len();
                if let Some(last) = self.files.back_mut() {
                    last.0 = seq;
                }
            }
            _ => {
                if let Some(last) = self.files.back_mut() {
                    last.0 = seq;
                }
            }
        }
        self.sent = seq;
        self.batch.push(job);
        if self.batch.len() >= BATCH_JOBS || self.batch_bytes >= BATCH_BYTES {
            self.hand_over();
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
        self.hand_over();
        let p = &self.progress;
        if p.done.load(Ordering::SeqCst) < self.sent && self.handle.is_some() {
            p.waiting.store(true, Ordering::SeqCst);
            let mut guard = p.lock.lock().unwrap_or_else(PoisonError::into_inner);
            while p.done.load(Ordering::SeqCst) < self.sent {
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
        self.files.clear();
    }

    /// Waits for the queue first if a job in the thread's hands touches `rel`, an ancestor
    /// or a descendant of it.
    pub(super) fn settle(&mut self, rel: &RelPath) {
        self.forget_done();
        if self.files.iter().any(|(_, p)| related(p, rel)) {
            self.drain();
        }
    }

    /// Drops the files whose jobs have all run.
    fn forget_done(&mut self) {
        let done = self.progress.done.load(Ordering::SeqCst);
        while self.files.front().is_some_and(|(seq, _)| *seq <= done) {
            self.files.pop_front();
        }
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

/// The file being written.
struct Current {
    ndx: i32,
    temp: TempFile,
    /// Pieces not written yet (kept as they came: no copy).
    pending: Vec<Vec<u8>>,
    pending_len: usize,
}

impl Current {
    fn flush(&mut self) -> Result<(), FsError> {
        let r = self.temp.write_all_bufs(&self.pending);
        self.pending.clear();
        self.pending_len = 0;
        r
    }
}

/// The thread's side.
struct Worker {
    dest: Arc<Destination>,
    failures: Failures,
    cur: Option<Current>,
    keep_partial: Arc<AtomicBool>,
}

impl Worker {
    fn fail(&mut self, e: &FsError) {
        report(Role::Receiver, &e.to_string());
        self.failures.error();
        // A file that failed is not written further (its temporary is removed).
        self.cur = None;
    }

    fn current(&mut self, ndx: i32) -> Option<&mut Current> {
        self.cur.as_mut().filter(|c| c.ndx == ndx)
    }

    fn run(&mut self, job: Job) {
        match job {
            Job::Begin { ndx, rel } => {
                self.cur = None;
                match self.dest.begin_file(&rel) {
                    Ok(temp) => {
                        self.cur = Some(Current {
                            ndx,
                            temp,
                            pending: Vec::new(),
                            pending_len: 0,
                        });
                    }
                    Err(e) => self.fail(&e),
                }
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
                        self.fail(&e);
                    }
                }
            }
            Job::Commit { ndx, attrs } => {
                let Some(mut c) = self.cur.take().filter(|c| c.ndx == ndx) else {
                    return;
                };
                let r = c.flush().and_then(|()| {
                    apply_tolerant(attrs, |a| c.temp.set_meta(a))?;
                    c.temp.commit()
                });
                if let Err(e) = r {
                    self.fail(&e);
                }
            }
            Job::Discard { ndx } => {
                if self.current(ndx).is_some() {
                    self.cur = None;
                }
            }
        }
    }

    /// The receiver has gone: `--partial` keeps what was received of an unfinished file.
    fn finish(&mut self) {
        if let Some(mut c) = self.cur.take() {
            if self.keep_partial.load(Ordering::SeqCst) && c.flush().is_ok() {
                let _ = c.temp.commit();
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
            w.send(Job::Begin {
                ndx: i,
                rel: rel.clone(),
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
        w.send(Job::Begin {
            ndx: 60,
            rel: rp("gone"),
        });
        w.send(Job::Discard { ndx: 60 });
        w.send(Job::Begin {
            ndx: 61,
            rel: rp("half"),
        });
        w.send(Job::Write {
            ndx: 61,
            data: b"x".to_vec(),
        });
        w.finish(false);
        let mut names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names.len(), 50, "{names:?}");
    }

    #[test]
    fn partial_keeps_an_unfinished_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = Arc::new(Destination::open(tmp.path()).unwrap());
        let mut w = Writer::spawn(dest, Failures::new()).unwrap();
        w.send(Job::Begin {
            ndx: 1,
            rel: rp("half"),
        });
        w.send(Job::Write {
            ndx: 1,
            data: b"abc".to_vec(),
        });
        w.finish(true);
        assert_eq!(std::fs::read(tmp.path().join("half")).unwrap(), b"abc");
    }
}
