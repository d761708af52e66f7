//! The FIFO reader of `--constant --files-from=FIFO`: opens (or creates, mode 0600) the FIFO,
//! reads it on a dedicated thread, parses the names ([`crate::constant::names`]) and hands
//! the accepted names to a sink in **batches**, which is what lets the queue commit them
//! together (group commit). Rejected names are logged (`tracing` warn) and counted; they
//! never stop the feed.
//!
//! # Batches (group commit)
//! A name that arrives when the sink last returned more than
//! [`FeedConfig::commit_delay`] ago is handed over at once, alone or with whatever the same
//! read brought: an isolated change waits for nothing. A name that arrives sooner (changes
//! are streaming in) waits until `commit_delay` has passed since that return, gathering every
//! name read meanwhile into the same batch (at most [`MAX_BATCH`] names). So under a stream
//! of changes the sink runs at most once per `commit_delay` (plus its own time), and each
//! durable commit, whose cost is mostly per commit (an `fdatasync` and the copy-on-write of a
//! few B-tree pages), is shared by every name of those milliseconds.
//!
//! # Writers
//! Any number of processes may write, concurrently and one after another. A write of at most
//! `PIPE_BUF` (4096) bytes is atomic, so a writer that writes whole names (with their
//! separators) in writes of at most 4096 bytes never has its names interleaved with another
//! writer's; one name of the maximal length plus its separator is exactly 4096 bytes. A name a
//! single writer splits across several writes is joined.
//!
//! # End of input and reopening
//! When the last writer closes, a read returns end-of-file: an unterminated last name counts
//! (as rsync does at the end of a `--files-from` file) and the FIFO is reopened, so that the
//! next writer is read and `poll` does not report the hang-up forever. The new descriptor is
//! opened **before** the old one is closed, so the FIFO never has zero readers while the feed
//! runs: a writer never gets `ENXIO` (non-blocking open) or `EPIPE`. If the path was removed
//! meanwhile, it is created again; if it was replaced by something that is not a FIFO, the
//! feed stops with [`FeedError::NotAFifo`].
//!
//! # Shutdown
//! The FIFO is opened non-blocking (`O_RDONLY | O_NONBLOCK` does not wait for a writer) and the
//! thread waits in `poll(2)` on the FIFO and on the read end of a private pipe (a self-pipe).
//! [`Feed::stop`] sets a flag and writes one byte to that pipe: the thread wakes up whether or
//! not a writer is connected, and returns. Opening the FIFO `O_RDWR` ourselves would also
//! unblock it, but would hide the end-of-file of the real writers, which the unterminated
//! last name relies on.
//!
//! Linux only, like the rest of the binary (`poll` on a FIFO only reports a hang-up after a
//! writer has come and gone since the descriptor was opened).

#[cfg(test)]
mod tests;

use std::io;
use std::ops::ControlFlow;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::fs::{FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

use super::names::{Name, NameParser, Parsed, Separator};

/// Size of one read of the FIFO.
pub const READ_SIZE: usize = 64 << 10;

/// Most names handed to the sink at once.
pub const MAX_BATCH: usize = 16_384;

/// Default [`FeedConfig::commit_delay`].
pub const COMMIT_DELAY: Duration = Duration::from_millis(5);

/// Pipe buffer requested for the FIFO with `F_SETPIPE_SZ` (the unprivileged maximum by
/// default): it absorbs bursts while the sink commits a batch.
pub const PIPE_SIZE: usize = 1 << 20;

/// The feed's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// The FIFO path (created with mode 0600 if missing).
    pub path: PathBuf,
    /// NUL (`--from0`) or newline.
    pub separator: Separator,
    /// Bytes per read (at least 1; default [`READ_SIZE`]).
    pub read_size: usize,
    /// Pipe buffer size to request (best effort; `None`: leave the kernel's default).
    pub pipe_size: Option<usize>,
    /// Shortest time between two batches while names stream in (see the
    /// [module docs](self); default [`COMMIT_DELAY`]; zero: one batch per read).
    pub commit_delay: Duration,
}

impl FeedConfig {
    /// A configuration with the default sizes.
    pub fn new(path: impl Into<PathBuf>, separator: Separator) -> Self {
        Self {
            path: path.into(),
            separator,
            read_size: READ_SIZE,
            pipe_size: Some(PIPE_SIZE),
            commit_delay: COMMIT_DELAY,
        }
    }
}

/// Counters of a running feed (shared with the feed thread; read them any time).
#[derive(Debug, Default)]
pub struct FeedStats {
    accepted: AtomicU64,
    rejected: AtomicU64,
    ignored: AtomicU64,
    batches: AtomicU64,
    bytes: AtomicU64,
    reopens: AtomicU64,
}

impl FeedStats {
    /// Names handed to the sink.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
    /// Names rejected (and logged).
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
    /// Blank and comment lines skipped (newline mode).
    pub fn ignored(&self) -> u64 {
        self.ignored.load(Ordering::Relaxed)
    }
    /// Batches handed to the sink.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }
    /// Bytes read from the FIFO.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    /// Times the FIFO was reopened after its last writer closed.
    pub fn reopens(&self) -> u64 {
        self.reopens.load(Ordering::Relaxed)
    }
}

/// What can go wrong with the FIFO.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The path exists and is not a FIFO (the binary maps this to rsync's exit code 3, "error
    /// selecting input/output files").
    #[error("{}: exists and is not a FIFO (it is a {kind})", path.display())]
    NotAFifo {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// `mkfifo` failed.
    #[error("{}: cannot create the FIFO: {source}", path.display())]
    Create {
        /// The path.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },
    /// Opening or inspecting the FIFO failed.
    #[error("{}: cannot open the FIFO: {source}", path.display())]
    Open {
        /// The path.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },
    /// Reading (or polling) the FIFO failed.
    #[error("{}: cannot read the FIFO: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },
    /// The thread or its wake-up pipe could not be created.
    #[error("cannot start the FIFO reader: {0}")]
    Start(io::Error),
    /// The reader thread panicked (a bug).
    #[error("the FIFO reader thread panicked")]
    Panicked,
}

/// A running FIFO reader. Dropping it stops it (like [`Feed::stop`], ignoring the result).
#[derive(Debug)]
pub struct Feed {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    wake: OwnedFd,
    stats: Arc<FeedStats>,
    thread: Option<JoinHandle<Result<(), FeedError>>>,
}

impl Feed {
    /// Opens (creating if missing) the FIFO and starts the reader thread. `sink` receives the
    /// accepted names of each read as one non-empty batch, on the reader thread; it returns
    /// [`ControlFlow::Break`] to stop the feed. While the sink runs, writers fill the pipe
    /// buffer (and then block), so a slow sink gets larger batches, never lost names.
    ///
    /// # Errors
    /// [`FeedError::NotAFifo`], [`FeedError::Create`], [`FeedError::Open`] (reported here,
    /// before any thread starts), [`FeedError::Start`].
    pub fn start<F>(config: FeedConfig, sink: F) -> Result<Self, FeedError>
    where
        F: FnMut(Vec<Name>) -> ControlFlow<()> + Send + 'static,
    {
        let fifo = open_or_create(&config.path)?;
        if let Some(size) = config.pipe_size {
            if let Err(e) = rustix::pipe::fcntl_setpipe_size(&fifo, size) {
                tracing::debug!(fifo = %config.path.display(), "F_SETPIPE_SZ {size}: {e}");
            }
        }
        let (wake_rx, wake_tx) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(start_err)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(FeedStats::default());
        let reader = Reader {
            path: config.path.clone(),
            fifo,
            wake: wake_rx,
            stop: Arc::clone(&stop),
            stats: Arc::clone(&stats),
            parser: NameParser::new(config.separator),
            buf: vec![0; config.read_size.max(1)],
            out: Vec::new(),
            commit_delay: config.commit_delay,
            last_batch: None,
            due: None,
        };
        let thread = std::thread::Builder::new()
            .name("fifo-feed".into())
            .spawn(move || reader.run(sink))
            .map_err(FeedError::Start)?;
        Ok(Self {
            path: config.path,
            stop,
            wake: wake_tx,
            stats,
            thread: Some(thread),
        })
    }

    /// The FIFO path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The live counters.
    pub fn stats(&self) -> &Arc<FeedStats> {
        &self.stats
    }

    /// Whether the reader thread has ended (the sink said stop, or an error).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the reader (it returns within one `poll`, writer or not) and waits for it. The
    /// complete names already read and not yet handed over go to the sink first; a partial
    /// name still buffered is dropped: it was never terminated nor ended by EOF.
    ///
    /// # Errors
    /// The error the thread ended with, if it ended on its own because of one.
    pub fn stop(mut self) -> Result<(), FeedError> {
        self.signal();
        self.join_thread()
    }

    /// Waits for the reader to end on its own (the sink returned `Break`, or an error).
    ///
    /// # Errors
    /// The error the thread ended with.
    pub fn join(mut self) -> Result<(), FeedError> {
        self.join_thread()
    }

    fn signal(&self) {
        self.stop.store(true, Ordering::Release);
        // A full pipe (impossible with one byte per stop) or a gone reader both mean the
        // thread is already awake or gone.
        let _ = rustix::io::write(&self.wake, &[1]);
    }

    fn join_thread(&mut self) -> Result<(), FeedError> {
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| FeedError::Panicked)?,
            None => Ok(()),
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.signal();
            let _ = self.join_thread();
        }
    }
}

/// The reader thread's state.
struct Reader {
    path: PathBuf,
    fifo: OwnedFd,
    wake: OwnedFd,
    stop: Arc<AtomicBool>,
    stats: Arc<FeedStats>,
    parser: NameParser,
    buf: Vec<u8>,
    out: Vec<Parsed>,
    commit_delay: Duration,
    /// When the sink last returned.
    last_batch: Option<Instant>,
    /// When the names in `out` are due (set while they wait for more).
    due: Option<Instant>,
}

impl Reader {
    fn run<F>(mut self, mut sink: F) -> Result<(), FeedError>
    where
        F: FnMut(Vec<Name>) -> ControlFlow<()>,
    {
        let result = self.read_loop(&mut sink);
        if let Err(e) = &result {
            tracing::error!("{e}");
        }
        result
    }

    fn read_loop<F>(&mut self, sink: &mut F) -> Result<(), FeedError>
    where
        F: FnMut(Vec<Name>) -> ControlFlow<()>,
    {
        loop {
            if self.stop.load(Ordering::Acquire) {
                // Stopping: the complete names already read still go to the sink.
                let _ = self.deliver(sink);
                return Ok(());
            }
            let timeout = self.due.map(|due| {
                let left = due.saturating_duration_since(Instant::now());
                rustix::event::Timespec {
                    tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                    tv_nsec: i64::from(left.subsec_nanos()),
                }
            });
            let (fifo_ready, woken) = {
                let mut fds = [
                    PollFd::new(&self.fifo, PollFlags::IN),
                    PollFd::new(&self.wake, PollFlags::IN),
                ];
                match poll(&mut fds, timeout.as_ref()) {
                    Ok(_) => {}
                    Err(Errno::INTR) => continue,
                    Err(e) => return Err(self.read_err(e)),
                }
                (!fds[0].revents().is_empty(), !fds[1].revents().is_empty())
            };
            if woken || self.stop.load(Ordering::Acquire) {
                // Stopping: the complete names already read still go to the sink.
                let _ = self.deliver(sink);
                return Ok(());
            }
            if !fifo_ready {
                // The gathering time is over.
                if self.due.is_some_and(|due| Instant::now() >= due)
                    && self.deliver(sink).is_break()
                {
                    return Ok(());
                }
                continue;
            }
            match rustix::io::read(&self.fifo, &mut self.buf) {
                Ok(0) => {
                    // The last writer closed: the end of one input stream.
                    self.parser.finish(&mut self.out);
                    let flow = self.deliver(sink);
                    // Open the new descriptor before the old one is closed (see module docs).
                    let fresh = open_or_create(&self.path)?;
                    self.fifo = fresh;
                    self.stats.reopens.fetch_add(1, Ordering::Relaxed);
                    if flow.is_break() {
                        return Ok(());
                    }
                }
                Ok(n) => {
                    self.stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    let data = self.buf.get(..n).unwrap_or_default();
                    self.parser.push(data, &mut self.out);
                    if self.ready() && self.deliver(sink).is_break() {
                        return Ok(());
                    }
                }
                Err(Errno::AGAIN | Errno::INTR) => {}
                Err(e) => return Err(self.read_err(e)),
            }
        }
    }

    /// Whether the names parsed so far go to the sink now (see "Batches" in the module docs);
    /// otherwise sets the time they are due.
    fn ready(&mut self) -> bool {
        if self.out.is_empty() {
            return false;
        }
        if self.out.len() >= MAX_BATCH {
            return true;
        }
        let due = match (self.due, self.last_batch) {
            (Some(due), _) => due,
            (None, Some(last)) => last + self.commit_delay,
            (None, None) => return true,
        };
        if Instant::now() >= due {
            return true;
        }
        self.due = Some(due);
        false
    }

    /// Logs and counts the rejections of `out`, hands the accepted names to the sink.
    fn deliver<F>(&mut self, sink: &mut F) -> ControlFlow<()>
    where
        F: FnMut(Vec<Name>) -> ControlFlow<()>,
    {
        self.due = None;
        self.stats
            .ignored
            .store(self.parser.ignored(), Ordering::Relaxed);
        let mut names = Vec::with_capacity(self.out.len());
        for parsed in self.out.drain(..) {
            match parsed {
                Ok(name) => names.push(name),
                Err(rejection) => {
                    self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(fifo = %self.path.display(), "{rejection}");
                }
            }
        }
        if names.is_empty() {
            return ControlFlow::Continue(());
        }
        self.stats
            .accepted
            .fetch_add(names.len() as u64, Ordering::Relaxed);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        let flow = sink(names);
        self.last_batch = Some(Instant::now());
        flow
    }

    fn read_err(&self, e: Errno) -> FeedError {
        FeedError::Read {
            path: self.path.clone(),
            source: e.into(),
        }
    }
}

fn start_err(e: Errno) -> FeedError {
    FeedError::Start(e.into())
}

/// Opens the FIFO at `path` for reading without blocking, creating it (mode 0600) if missing.
fn open_or_create(path: &Path) -> Result<OwnedFd, FeedError> {
    let open_err = |e: Errno| FeedError::Open {
        path: path.to_owned(),
        source: e.into(),
    };
    let mut created = false;
    match rustix::fs::stat(path) {
        Ok(st) => check_fifo(path, FileType::from_raw_mode(st.st_mode))?,
        Err(Errno::NOENT) => match rustix::fs::mkfifoat(CWD, path, Mode::from_raw_mode(0o600)) {
            Ok(()) => created = true,
            // Created by someone else meanwhile (or a dangling symlink): check what it is.
            Err(Errno::EXIST) => {
                let st = rustix::fs::stat(path).map_err(open_err)?;
                check_fifo(path, FileType::from_raw_mode(st.st_mode))?;
            }
            Err(e) => {
                return Err(FeedError::Create {
                    path: path.to_owned(),
                    source: e.into(),
                })
            }
        },
        Err(e) => return Err(open_err(e)),
    }
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(open_err)?;
    // The path may have been replaced between the stat and the open.
    let st = rustix::fs::fstat(&fd).map_err(open_err)?;
    check_fifo(path, FileType::from_raw_mode(st.st_mode))?;
    if created {
        // mkfifo applied the umask; the issue asks for 0600 exactly.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o600)).map_err(open_err)?;
    }
    Ok(fd)
}

fn check_fifo(path: &Path, kind: FileType) -> Result<(), FeedError> {
    let kind = match kind {
        FileType::Fifo => return Ok(()),
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "file of unknown type",
    };
    Err(FeedError::NotAFifo {
        path: path.to_owned(),
        kind,
    })
}
