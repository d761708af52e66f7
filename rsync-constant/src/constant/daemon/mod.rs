//! The `--constant` daemon: the FIFO feed into the durable queue, one independent loop per
//! mirror draining it through a [`Link`], and the status file.
//!
//! ```text
//!  FIFO ──feed thread──> Queue::append (durable) ──notify──> mirror thread 1: loop over Link 1
//!                                                 └────────> mirror thread 2: loop over Link 2
//!  status thread: every second and after changes, Snapshot -> status file; Queue::compact
//! ```
//!
//! - Every mirror is registered in the queue **before** the feed starts, so a name accepted
//!   while a mirror has not started yet is kept for it.
//! - A name counts as accepted once [`Queue::append`] returned; if the queue cannot store a
//!   batch (after a few retries), the feed stops and [`Daemon::feed_failed`] says so: the
//!   caller must stop, since names would otherwise be read and lost.
//! - Each mirror runs [`mirror`]'s loop on its own thread and single-threaded runtime, so a
//!   slow or dead mirror cannot delay the others.
//! - [`Daemon::stop`]: the feed stops first (every name read so far is in the queue), the
//!   mirror loops finish the batch in flight (for at most a grace period, then they are
//!   abandoned: their cursor did not move, nothing is lost), the status file says `stopped`,
//!   and a last durable commit makes the acknowledgements durable.
//!
//! Time comes from a [`Clock`] that does not step back (the queue's `--settle` relies on it).

mod link;
pub mod mirror;
pub mod status;
pub mod stream;
#[cfg(test)]
mod tests;

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{watch, Notify};

pub use self::link::{Fallback, Link, LinkError, LinkErrorKind};
pub use self::mirror::{Backoff, MirrorConfig};
pub use self::status::{LinkState, Snapshot, StatusBoard, StatusError};
pub use self::stream::{Connector, Observed, Observer, Opened, StreamLink};
use super::feed::{Feed, FeedConfig, FeedError, FeedStats};
use super::names::Name;
use super::queue::{Queue, QueueError};

/// How many times the feed retries a batch the queue failed to store before it gives up.
const APPEND_ATTEMPTS: u32 = 5;

/// A wall clock that never steps back: the start time plus a monotonic elapsed time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: SystemTime,
    mono: Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn new() -> Self {
        Self {
            wall: SystemTime::now(),
            mono: Instant::now(),
        }
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        self.wall + self.mono.elapsed()
    }

    /// Nanoseconds of the current time (for seeding jitter).
    pub fn nanos(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// The shutdown level the mirror loops watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Shutdown {
    /// Keep going.
    Run,
    /// Finish the batch in flight, then stop.
    Stop,
    /// Stop now, abandoning the batch in flight.
    Abort,
}

/// The daemon's configuration.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The FIFO feed.
    pub feed: FeedConfig,
    /// The status file (`None`: none is written).
    pub status_path: Option<PathBuf>,
    /// The mirror loops' tuning.
    pub mirror: MirrorConfig,
    /// How long [`Daemon::stop`] lets the mirror loops finish the batch in flight.
    pub stop_grace: Duration,
    /// How often the status file is rewritten when nothing changed (and the queue compacted).
    pub status_interval: Duration,
}

impl DaemonConfig {
    /// A configuration with the defaults (status every second, 5 s of grace at stop).
    pub fn new(feed: FeedConfig, status_path: Option<PathBuf>) -> Self {
        Self {
            feed,
            status_path,
            mirror: MirrorConfig::default(),
            stop_grace: Duration::from_secs(5),
            status_interval: Duration::from_secs(1),
        }
    }
}

/// Why the daemon could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The FIFO failed.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// The status file could not be written.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// A thread could not be started.
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// The system error.
        source: std::io::Error,
    },
    /// The queue could not store names read from the FIFO: the feed stopped.
    #[error("the queue could not store names read from the FIFO; the feed stopped")]
    FeedStopped,
}

/// A mirror to drive: its id in the queue (its DEST operand) and its link.
#[derive(Debug)]
pub struct MirrorSpec<L> {
    /// The mirror id (non-empty, at most [`super::queue::MAX_MIRROR_ID`] bytes).
    pub id: Vec<u8>,
    /// How changes reach it.
    pub link: L,
}

/// A running daemon. See the [module docs](self).
pub struct Daemon {
    queue: Arc<Queue>,
    feed: Option<Feed>,
    feed_failed: Arc<AtomicBool>,
    shutdown: watch::Sender<Shutdown>,
    mirrors: Vec<JoinHandle<()>>,
    status: StatusBoard,
    status_stop: Arc<AtomicBool>,
    status_thread: Option<JoinHandle<()>>,
    config: DaemonConfig,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("queue", &self.queue)
            .field("mirrors", &self.mirrors.len())
            .finish_non_exhaustive()
    }
}

impl Daemon {
    /// Registers every mirror in the queue, starts their loops and the status writer, then the
    /// feed.
    ///
    /// # Errors
    /// Queue errors (registering a mirror), feed errors (the FIFO cannot be opened or
    /// created), thread creation.
    pub fn start<L, F>(
        config: DaemonConfig,
        queue: Arc<Queue>,
        mirrors: Vec<MirrorSpec<L>>,
        make_runtime: F,
    ) -> Result<Self, DaemonError>
    where
        L: Link + Send + 'static,
        F: Fn() -> std::io::Result<tokio::runtime::Runtime>,
    {
        let clock = Clock::new();
        let status = StatusBoard::new();
        for m in &mirrors {
            queue.add_mirror(&m.id, clock.now())?;
            status.add(&m.id);
        }
        let (shutdown, shutdown_rx) = watch::channel(Shutdown::Run);
        let mut wakes = Vec::with_capacity(mirrors.len());
        let mut threads = Vec::with_capacity(mirrors.len());
        for m in mirrors {
            let wake = Arc::new(Notify::new());
            wakes.push(Arc::clone(&wake));
            let ctx = mirror::MirrorCtx {
                id: m.id,
                queue: Arc::clone(&queue),
                wake,
                shutdown: shutdown_rx.clone(),
                status: status.clone(),
                clock,
                config: config.mirror.clone(),
            };
            let rt = make_runtime().map_err(|source| DaemonError::Thread {
                what: "mirror runtime",
                source,
            })?;
            let link = m.link;
            let name = format!("mirror-{}", threads.len());
            let t = std::thread::Builder::new()
                .name(name)
                // A `LocalSet`, so that a link may run its connection as a local task
                // (`tokio::task::spawn_local`) next to the loop.
                .spawn(move || {
                    tokio::task::LocalSet::new().block_on(&rt, mirror::run(ctx, link));
                })
                .map_err(|source| DaemonError::Thread {
                    what: "mirror",
                    source,
                })?;
            threads.push(t);
        }
        let mut daemon = Self {
            queue: Arc::clone(&queue),
            feed: None,
            feed_failed: Arc::new(AtomicBool::new(false)),
            shutdown,
            mirrors: threads,
            status: status.clone(),
            status_stop: Arc::new(AtomicBool::new(false)),
            status_thread: None,
            config: config.clone(),
        };
        let feed_stats = Arc::new(std::sync::OnceLock::<Arc<FeedStats>>::new());
        let accepted = Arc::new(AtomicU64::new(0));
        daemon.status_thread = Some(spawn_status(
            &config,
            Arc::clone(&queue),
            status.clone(),
            Arc::clone(&daemon.status_stop),
            Counters {
                feed: Arc::clone(&feed_stats),
                accepted: Arc::clone(&accepted),
            },
            clock,
        )?);
        let sink = feed_sink(
            Arc::clone(&queue),
            wakes,
            status,
            Arc::clone(&daemon.feed_failed),
            accepted,
            clock,
        );
        let feed = Feed::start(config.feed.clone(), sink)?;
        let _ = feed_stats.set(Arc::clone(feed.stats()));
        daemon.feed = Some(feed);
        Ok(daemon)
    }

    /// The queue.
    pub fn queue(&self) -> &Arc<Queue> {
        &self.queue
    }

    /// The live status.
    pub fn status(&self) -> &StatusBoard {
        &self.status
    }

    /// Whether the feed stopped because the queue could not store names (the daemon must
    /// stop) or because of a FIFO error.
    pub fn feed_failed(&self) -> bool {
        self.feed_failed.load(Ordering::Acquire)
            || self.feed.as_ref().is_some_and(Feed::is_finished)
    }

    /// Stops the daemon (see the [module docs](self)).
    ///
    /// # Errors
    /// [`DaemonError::FeedStopped`] if the feed had failed, the feed's error, the last
    /// commit's queue error.
    pub fn stop(mut self) -> Result<(), DaemonError> {
        let failed = self.feed_failed.load(Ordering::Acquire);
        let feed = self.feed.take().map(Feed::stop).transpose();
        self.shutdown.send_replace(Shutdown::Stop);
        let deadline = Instant::now() + self.config.stop_grace;
        while Instant::now() < deadline && !self.mirrors.iter().all(JoinHandle::is_finished) {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.shutdown.send_replace(Shutdown::Abort);
        for t in self.mirrors.drain(..) {
            let _ = t.join();
        }
        self.status_stop.store(true, Ordering::Release);
        self.status.touch();
        if let Some(t) = self.status_thread.take() {
            let _ = t.join();
        }
        // A durable commit: the acknowledgements (committed without fsync) become durable.
        self.queue.compact(Clock::new().now())?;
        feed?;
        if failed {
            return Err(DaemonError::FeedStopped);
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.shutdown.send_replace(Shutdown::Abort);
        self.status_stop.store(true, Ordering::Release);
        self.status.touch();
    }
}

/// The feed's sink: one durable append per batch, then wake every mirror.
fn feed_sink(
    queue: Arc<Queue>,
    wakes: Vec<Arc<Notify>>,
    status: StatusBoard,
    failed: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    clock: Clock,
) -> impl FnMut(Vec<Name>) -> ControlFlow<()> + Send + 'static {
    move |names: Vec<Name>| {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match queue.append(&names, clock.now()) {
                Ok(appended) => {
                    accepted.fetch_add(names.len() as u64, Ordering::Release);
                    for w in &wakes {
                        w.notify_one();
                    }
                    for hot in &appended.hot {
                        tracing::warn!("hot path: {hot} is still changing (--hot-warn)");
                    }
                    for m in &appended.demoted {
                        tracing::warn!(
                            mirror = %String::from_utf8_lossy(m),
                            "backlog too long: the mirror will get a full sync"
                        );
                    }
                    status.touch();
                    return ControlFlow::Continue(());
                }
                Err(e) if attempt < APPEND_ATTEMPTS => {
                    tracing::error!("storing {} names in the queue: {e}; retrying", names.len());
                    std::thread::sleep(Duration::from_millis(100) * attempt);
                }
                Err(e) => {
                    tracing::error!(
                        "storing {} names in the queue: {e}; stopping the feed",
                        names.len()
                    );
                    failed.store(true, Ordering::Release);
                    return ControlFlow::Break(());
                }
            }
        }
    }
}

/// The counters the status file shows.
struct Counters {
    /// The feed's counters (set once the feed has started).
    feed: Arc<std::sync::OnceLock<Arc<FeedStats>>>,
    /// Names durably appended.
    accepted: Arc<AtomicU64>,
}

/// The status thread: rewrites the status file after changes (at most every 50 ms) and every
/// `status_interval`, and compacts the queue every interval.
fn spawn_status(
    config: &DaemonConfig,
    queue: Arc<Queue>,
    board: StatusBoard,
    stop: Arc<AtomicBool>,
    counters: Counters,
    clock: Clock,
) -> Result<JoinHandle<()>, DaemonError> {
    let path = config.status_path.clone();
    let waiter = board.clone();
    let compact_queue = Arc::clone(&queue);
    let interval = config.status_interval;
    let write = move |state: &str| {
        let Some(path) = &path else { return };
        let counts = status::FeedCounts {
            // Counted after the durable append, not when read from the FIFO.
            accepted: counters.accepted.load(Ordering::Acquire),
            rejected: counters.feed.get().map_or(0, |s| s.rejected()),
        };
        match queue.status(clock.now()) {
            Ok(q) => {
                if let Err(e) = board.snapshot(&q, counts, state).write_atomic(path) {
                    tracing::warn!("status file: {e}");
                }
            }
            Err(e) => tracing::warn!("queue status: {e}"),
        }
    };
    std::thread::Builder::new()
        .name("status".into())
        .spawn(move || {
            let mut last_compact = Instant::now();
            loop {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                waiter.wait_change(interval);
                if stop.load(Ordering::Acquire) {
                    break;
                }
                write("running");
                if last_compact.elapsed() >= interval {
                    last_compact = Instant::now();
                    if let Err(e) = compact_queue.compact(clock.now()) {
                        tracing::warn!("queue compaction: {e}");
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            write("stopped");
        })
        .map_err(|source| DaemonError::Thread {
            what: "status",
            source,
        })
}
