//! A thin tokio driver (feature `tokio`): runs a [`Handshake`] and then a [`Session`] over an
//! [`AsyncRead`] + [`AsyncWrite`] pair, with a synchronous file-system [`Executor`]. It
//! makes no protocol decision: it moves bytes, requests and answers. [`run_constant`] is its
//! counterpart for the constant extension's roles (RFC.md §15), with the same scheduling.
//!
//! # No deadlock on a full pipe (RFC.md Appendix D, rsync issue #159)
//!
//! One task polls the reader, the writer, the executor's answers and the timer together
//! (`tokio::select!` over cancel-safe `read`/`write`), so:
//!
//! - **reading never stops** until the peer's end of file: whatever we are waiting for
//!   (our output to drain, the executor to finish a slow write), received bytes keep being
//!   handed to the session, which buffers what it cannot act on yet;
//! - **back-pressure applies to our own production only**: while more than
//!   [`DriverConfig::max_pending_output`] bytes wait to be written, the driver stops
//!   feeding executor answers to the session (file data read by a sender, basis metadata
//!   that lets a generator emit requests), so the executor blocks on its bounded answer
//!   channel instead of the output buffer growing. Input-driven output (rsync's echoes) is
//!   small and not held back;
//! - the executor runs requests strictly in order. Cheap ones (a few system calls on one
//!   entry, bounded answers: `lstat`, create, write, rename, block copies, and a sender's
//!   reads of small files in 256 KiB slices through [`Executor::execute_budget`]) run on the
//!   driver's task while the executor's thread is idle, with no thread hand-off per file;
//!   whatever can take long or answer with unbounded data (building the file list, a
//!   signature, a `-c` checksum, a large file's read, a recursive delete) runs on the
//!   thread, whose answers come back in batches over a bounded channel, so a slow disk
//!   delays answers but never the reader. A request run here is finite work that depends on
//!   nothing from the peer, so running it cannot deadlock; it is held back while our output
//!   is over the threshold.
//!
//! Why not also stop reading when the executor falls behind: if both peers did that while
//! each waited for the other to read its output, neither would read again. Memory while
//! the disk is slower than the link is therefore bounded by what the peer may send, which
//! is what we requested.
//!
//! # Timeout
//!
//! With [`DriverConfig::timeout`] (rsync `--timeout`), the run fails with
//! [`DriverError::Timeout`] (exit code 30) when nothing was read, written or executed for
//! that long.

mod constant;
#[cfg(test)]
mod constant_tests;
mod executor;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use constant::{run_constant, ConstantApp, ConstantOutcome, StartConstant, ERROR_EXIT_DRAIN};
pub use executor::{Executor, ExecutorError, ListSummary};

use crate::flist::FileEntry;
use crate::handshake::{Handshake, HandshakeError, Negotiated};
use crate::mux::{MsgCode, MuxEncoder};
use crate::session::{Event, FsAnswer, FsRequest, Session, SessionError, Stats};

/// rsync's `RERR_TIMEOUT`.
pub const EXIT_TIMEOUT: i32 = 30;
/// rsync's `RERR_STREAMIO`.
pub const EXIT_STREAMIO: i32 = 12;
/// rsync's `RERR_PROTOCOL`.
pub const EXIT_PROTOCOL: i32 = 2;

/// Reply batches the executor may have queued before it blocks (its back-pressure).
const ANSWER_QUEUE: usize = 2;

/// Answer bytes (file data, basis bytes) the executor thread gathers before it hands a
/// batch over; also the most it gathers beyond the driver's back-pressure threshold.
const REPLY_BATCH_BYTES: usize = 64 * 1024;

/// Output buffer capacity kept between bursts, and the written prefix worth compacting.
const OUT_KEEP: usize = 64 * 1024;

/// Largest listed file a sender reads on the driver's task.
const INLINE_READ_MAX: u64 = 1 << 20;

/// Data bytes one slice of a request run on the driver's task may answer with.
const INLINE_BUDGET: usize = 64 * 1024;

/// Longest the executor thread holds finished answers while it has more jobs to run.
const REPLY_BATCH_DELAY: Duration = Duration::from_millis(2);

/// Settings of one run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DriverConfig {
    /// Inactivity timeout (`--timeout`); `None` waits forever.
    pub timeout: Option<Duration>,
    /// Output bytes waiting to be written above which executor answers are held back.
    pub max_pending_output: usize,
    /// Size of one read from the peer.
    pub read_size: usize,
}

impl Default for DriverConfig {
    /// No timeout, 128 KiB of pending output, 64 KiB reads.
    fn default() -> Self {
        Self {
            timeout: None,
            max_pending_output: 128 * 1024,
            read_size: 64 * 1024,
        }
    }
}

impl DriverConfig {
    /// The default settings with an inactivity timeout.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

/// What the observer sees with each event.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Progress<'a> {
    /// The session's sorted file list (events name entries by index into it).
    pub file_list: &'a [Option<FileEntry>],
    /// Bytes read from the peer so far (handshake included).
    pub bytes_read: u64,
    /// Bytes written to the peer so far.
    pub bytes_written: u64,
    /// What the handshake negotiated (protocol, compat flags: what the output depends
    /// on, e.g. rsync's itemize strings).
    pub negotiated: &'a Negotiated,
}

/// How a run ended without a transport failure.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Outcome {
    /// The session's exit code (0, 23, 24, or the code of a protocol error).
    pub exit_code: i32,
    /// Statistics the session reported (a client receiver reads the sender's).
    pub stats: Option<Stats>,
    /// The session error that ended the run early, if any (the peer was told).
    pub error: Option<SessionError>,
    /// Bytes read from the peer (rsync's "received").
    pub bytes_read: u64,
    /// Bytes written to the peer (rsync's "sent").
    pub bytes_written: u64,
    /// The handshake's outcome.
    pub negotiated: Negotiated,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The handshake failed.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The session could not be started.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Reading from or writing to the peer failed.
    #[error("{op} failed: {source}")]
    Io {
        /// `read` or `write`.
        op: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The peer closed the connection before the handshake completed.
    #[error("connection unexpectedly closed during the handshake")]
    EofInHandshake,
    /// Nothing happened for the configured timeout.
    #[error("io timeout after {secs} seconds -- exiting")]
    Timeout {
        /// The timeout, in seconds.
        secs: u64,
    },
    /// The executor failed fatally.
    #[error(transparent)]
    Executor(#[from] ExecutorError),
    /// The executor thread died (a panic in the application's executor).
    #[error("file-system executor thread died")]
    ExecutorDied,
}

impl DriverError {
    /// Whether the failure's message was shown to the user already (an executor error
    /// made with [`ExecutorError::shown`]): the application then prints only its closing
    /// line.
    pub fn shown(&self) -> bool {
        matches!(self, Self::Executor(e) if e.shown)
    }

    /// rsync's exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Handshake(_) => EXIT_PROTOCOL,
            Self::Session(e) => e.exit_code(),
            Self::Io { .. } | Self::EofInHandshake => EXIT_STREAMIO,
            Self::Timeout { .. } => EXIT_TIMEOUT,
            Self::Executor(e) => e.exit_code,
            Self::ExecutorDied => 14,
        }
    }
}

/// Builds the session and its executor once the handshake has negotiated the protocol (the
/// executor usually needs the negotiated checksum).
pub type StartSession<'a, X> =
    Box<dyn FnOnce(&Negotiated) -> Result<(Box<dyn Session + Send>, X), SessionError> + 'a>;

/// A job for the executor thread.
enum Job {
    List(ListSummary),
    Request(FsRequest),
}

/// A message from the executor thread.
enum Reply {
    Answer(FsAnswer),
    /// An info line of the executor's ([`Executor::take_info`]).
    Info(Vec<u8>),
    /// This many jobs (one batch) are done.
    Completed(usize),
    Failed(ExecutorError),
}

/// Whether `request` is cheap enough to run on the driver's own task when the executor
/// thread is idle: a handful of system calls on one entry, answers of bounded size. What can
/// read a whole file or tree (and so answer with unbounded data, or take long) always goes
/// to the thread, where the bounded answer channel is its back-pressure.
/// A [`FsRequest::ReadFile`] of a file listed at most [`INLINE_READ_MAX`] bytes long runs
/// here too when the executor is [`Executor::resumable`], in slices of [`INLINE_BUDGET`]
/// bytes ([`Executor::execute_budget`]), each only while our output is below the
/// back-pressure threshold (so a file that has grown since it was listed costs no memory).
/// A larger file is read by the thread, ahead of the session consuming it.
fn runs_inline(request: &FsRequest, resumable: bool, list: &[Option<FileEntry>]) -> bool {
    match request {
        FsRequest::FileList { .. } | FsRequest::Signature { .. } => false,
        FsRequest::ReadFile { ndx, .. } => {
            resumable
                && usize::try_from(*ndx)
                    .ok()
                    .and_then(|i| list.get(i))
                    .and_then(Option::as_ref)
                    .is_some_and(|e| e.size() <= INLINE_READ_MAX)
        }
        FsRequest::Basis { checksum, .. } => checksum.is_none(),
        FsRequest::Delete { is_dir, .. } => !is_dir,
        _ => true,
    }
}

/// Bytes of data an answer carries (what the reply batches are bounded by).
fn answer_bytes(answer: &FsAnswer) -> usize {
    match answer {
        FsAnswer::FileData { data, .. } | FsAnswer::Copied { data, .. } => data.len(),
        _ => 64,
    }
}

/// The executor's thread and its channels. The executor itself is shared with the driver,
/// which runs cheap requests ([`runs_inline`]) itself while the thread has nothing to do:
/// no thread hand-off per file, and requests still execute strictly in order.
struct ExecutorThread<X> {
    executor: Arc<Mutex<X>>,
    jobs: Option<std_mpsc::Sender<Vec<Job>>>,
    /// Jobs queued by the current pump, sent as one batch (one wake-up of the thread).
    batch: Vec<Job>,
    replies: mpsc::Receiver<Vec<Reply>>,
    outstanding: usize,
    /// A request run on the driver's task is unfinished ([`Executor::resume`]).
    partial: bool,
    /// [`Executor::resumable`].
    resumable: bool,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// Gathers the thread's replies into batches: one channel message (one wake-up of the
/// driver) per batch instead of one per answer.
struct ReplySink {
    tx: mpsc::Sender<Vec<Reply>>,
    held: Vec<Reply>,
    bytes: usize,
    since: Option<std::time::Instant>,
}

impl ReplySink {
    fn push(&mut self, reply: Reply, bytes: usize) {
        if self.held.is_empty() {
            self.since = Some(std::time::Instant::now());
        }
        self.held.push(reply);
        self.bytes += bytes;
        if self.bytes >= REPLY_BATCH_BYTES {
            self.flush();
        }
    }

    /// Hands the held replies over if they have waited long enough.
    fn flush_if_stale(&mut self) {
        if self.since.is_some_and(|t| t.elapsed() >= REPLY_BATCH_DELAY) {
            self.flush();
        }
    }

    /// Hands the held replies over; `false` when the driver has gone.
    fn flush(&mut self) -> bool {
        self.bytes = 0;
        self.since = None;
        if self.held.is_empty() {
            return true;
        }
        // Blocks while the driver holds back (its back-pressure).
        self.tx
            .blocking_send(std::mem::take(&mut self.held))
            .is_ok()
    }
}

impl<X: Executor> ExecutorThread<X> {
    fn spawn(executor: X) -> std::io::Result<Self> {
        let resumable = executor.resumable();
        let executor = Arc::new(Mutex::new(executor));
        let shared = Arc::clone(&executor);
        let (job_tx, job_rx) = std_mpsc::channel::<Vec<Job>>();
        let (reply_tx, reply_rx) = mpsc::channel::<Vec<Reply>>(ANSWER_QUEUE);
        let handle = std::thread::Builder::new()
            .name("rsync-fs".into())
            .spawn(move || {
                let mut sink = ReplySink {
                    tx: reply_tx,
                    held: Vec::new(),
                    bytes: 0,
                    since: None,
                };
                while let Ok(batch) = job_rx.recv() {
                    let n = batch.len();
                    // Released before `Completed` is sent: the driver runs requests itself
                    // only once every batch is complete.
                    let Ok(mut executor) = shared.lock() else {
                        return;
                    };
                    for job in batch {
                        let result = match job {
                            Job::List(summary) => {
                                executor.file_list(summary);
                                for line in executor.take_info() {
                                    sink.push(Reply::Info(line), 64);
                                }
                                Ok(())
                            }
                            Job::Request(req) => executor.execute(req, &mut |answer| {
                                let bytes = answer_bytes(&answer);
                                sink.push(Reply::Answer(answer), bytes);
                            }),
                        };
                        if let Err(e) = result {
                            sink.held.push(Reply::Failed(e));
                            sink.flush();
                            return;
                        }
                        sink.flush_if_stale();
                    }
                    drop(executor);
                    sink.held.push(Reply::Completed(n));
                    if !sink.flush() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            executor,
            jobs: Some(job_tx),
            batch: Vec::new(),
            replies: reply_rx,
            outstanding: 0,
            partial: false,
            resumable,
            handle: Some(handle),
        })
    }

    fn send(&mut self, job: Job) {
        self.batch.push(job);
        self.outstanding += 1;
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let tx = self.jobs.as_ref().ok_or(DriverError::ExecutorDied)?;
        tx.send(std::mem::take(&mut self.batch))
            .map_err(|_| DriverError::ExecutorDied)
    }

    /// Runs `request` on the caller's task (the thread must be idle), collecting its answers.
    fn run_inline(
        &mut self,
        request: FsRequest,
        answers: &mut Vec<FsAnswer>,
    ) -> Result<(), DriverError> {
        let mut executor = self
            .executor
            .lock()
            .map_err(|_| DriverError::ExecutorDied)?;
        let finished = executor.execute_budget(request, &mut |a| answers.push(a), INLINE_BUDGET)?;
        self.partial = !finished;
        Ok(())
    }

    /// Continues the unfinished request of [`ExecutorThread::run_inline`].
    fn resume_inline(&mut self, answers: &mut Vec<FsAnswer>) -> Result<(), DriverError> {
        let mut executor = self
            .executor
            .lock()
            .map_err(|_| DriverError::ExecutorDied)?;
        let finished = executor.resume(&mut |a| answers.push(a), INLINE_BUDGET)?;
        self.partial = !finished;
        Ok(())
    }

    fn close(&mut self) {
        self.jobs = None;
        // On an error path the thread may be blocked on a full reply channel: closing our
        // end makes its send fail, so the join below cannot hang.
        self.replies.close();
        if let Some(h) = self.handle.take() {
            // The thread has no more jobs once `outstanding` is 0 and the sender is gone;
            // joining is then immediate.
            let _ = h.join();
        }
    }
}

/// Runs `handshake`, then the session `start` builds, over `reader`/`writer`, executing its
/// file-system requests with the executor `start` builds; `observer` sees every event.
///
/// # Errors
/// A [`DriverError`] when the transport, the handshake, the executor or the timeout ends
/// the run; a session error is reported in [`Outcome::error`] instead, after the session
/// has told the peer.
pub async fn run<R, W, X, O>(
    mut reader: R,
    mut writer: W,
    mut handshake: Handshake,
    start: StartSession<'_, X>,
    mut observer: O,
    config: DriverConfig,
) -> Result<Outcome, DriverError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    X: Executor,
    O: FnMut(&Event, Progress<'_>),
{
    let mut io = Io::new(&config);
    // Stage 1: the handshake.
    let negotiated = loop {
        if let Some(b) = handshake.poll_transmit() {
            io.out.extend_from_slice(&b);
        }
        if let Some(n) = handshake.negotiated() {
            break n.clone();
        }
        match io.step(&mut reader, &mut writer, None, true).await? {
            Step::Input(n) => {
                handshake.handle_input(io.input(n))?;
            }
            Step::Eof => return Err(DriverError::EofInHandshake),
            Step::Wrote | Step::Keepalive | Step::Reply(_) => {}
        }
    };
    let (mut session, executor) = start(&negotiated)?;
    let mut exec = ExecutorThread::spawn(executor).map_err(|source| DriverError::Io {
        op: "spawn executor",
        source,
    })?;
    let result = drive(
        &mut io,
        &mut reader,
        &mut writer,
        session.as_mut(),
        &mut exec,
        &mut observer,
        handshake.take_remaining(),
        &negotiated,
    )
    .await;
    exec.close();
    let result = match result {
        Err(e @ (DriverError::Executor(_) | DriverError::ExecutorDied)) => Err(abort(
            &mut io,
            &mut reader,
            &mut writer,
            session.as_mut(),
            &negotiated,
            e,
        )
        .await),
        r => r,
    };
    let (exit_code, stats, error) = result?;
    // Flush what is left; the peer may already have closed (rsync's server exits as soon
    // as it has sent its last bytes), which is not an error once the session is done.
    let _ = writer.flush().await;
    let _ = writer.shutdown().await;
    Ok(Outcome {
        exit_code,
        stats,
        error,
        bytes_read: io.bytes_read,
        bytes_written: io.bytes_written,
        negotiated,
    })
}

/// The session stage; returns the exit code, statistics and the first session error.
#[allow(clippy::too_many_arguments)] // the driver's parts, borrowed separately
async fn drive<R, W, O, X>(
    io: &mut Io,
    reader: &mut R,
    writer: &mut W,
    session: &mut (dyn Session + Send),
    exec: &mut ExecutorThread<X>,
    observer: &mut O,
    early: Vec<u8>,
    negotiated: &Negotiated,
) -> Result<(i32, Option<Stats>, Option<SessionError>), DriverError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    O: FnMut(&Event, Progress<'_>),
    X: Executor,
{
    let mut error: Option<SessionError> = None;
    let mut done: Option<(i32, Option<Stats>)> = None;
    let mut announced = false;
    // Requests in order, not yet executed nor handed to the thread.
    let mut queue: VecDeque<FsRequest> = VecDeque::new();
    let mut answers: Vec<FsAnswer> = Vec::new();
    let note = |r: Result<(), SessionError>, error: &mut Option<SessionError>| {
        if let Err(e) = r {
            error.get_or_insert(e);
        }
    };
    if !early.is_empty() {
        note(session.handle_input(&early), &mut error);
    }
    loop {
        // Pump the session's outputs in the documented order, running cheap requests here
        // while the thread is idle and our output is not backed up.
        loop {
            let mut any = session.poll_transmit(&mut io.out);
            if !announced && !session.file_list().is_empty() {
                announced = true;
                exec.send(Job::List(ListSummary::of(session.file_list())));
            }
            while let Some(req) = session.poll_fs() {
                any = true;
                queue.push_back(req);
            }
            while let Some(ev) = session.poll_event() {
                any = true;
                if let Event::Done { exit_code, stats } = &ev {
                    done = Some((*exit_code, *stats));
                }
                observer(
                    &ev,
                    Progress {
                        file_list: session.file_list(),
                        bytes_read: io.bytes_read,
                        bytes_written: io.bytes_written,
                        negotiated,
                    },
                );
            }
            loop {
                if exec.partial {
                    if io.pending() >= io.max_pending && done.is_none() {
                        break;
                    }
                    any = true;
                    exec.resume_inline(&mut answers)?;
                    io.touch();
                    for a in answers.drain(..) {
                        if !session.is_done() {
                            note(session.handle_fs(a), &mut error);
                        }
                    }
                    break;
                }
                let Some(req) = queue.front() else {
                    break;
                };
                if exec.outstanding > 0 || !runs_inline(req, exec.resumable, session.file_list()) {
                    if let Some(req) = queue.pop_front() {
                        exec.send(Job::Request(req));
                    }
                    any = true;
                    continue;
                }
                if io.pending() >= io.max_pending && done.is_none() {
                    // Back-pressure: run it once our output has drained.
                    break;
                }
                let Some(req) = queue.pop_front() else {
                    break;
                };
                any = true;
                exec.run_inline(req, &mut answers)?;
                io.touch();
                for a in answers.drain(..) {
                    if !session.is_done() {
                        note(session.handle_fs(a), &mut error);
                    }
                }
                // The answers may have made output or requests: pump them first.
                break;
            }
            if !any {
                break;
            }
        }
        exec.flush()?;
        let idle = exec.outstanding == 0 && !exec.partial && queue.is_empty();
        if done.is_some() && idle && io.pending() == 0 {
            break;
        }
        let accept_replies = io.pending() < io.max_pending || done.is_some();
        let replies = (exec.outstanding > 0 && accept_replies).then_some(&mut exec.replies);
        let step = match io.step(reader, writer, replies, done.is_none()).await {
            Ok(step) => step,
            // The peer may close as soon as it has what it needs once the session is done.
            Err(DriverError::Io { .. }) if done.is_some() => break,
            Err(e) => return Err(e),
        };
        match step {
            Step::Input(n) => {
                if !session.is_done() {
                    note(session.handle_input(io.input(n)), &mut error);
                }
            }
            Step::Eof => {
                if !session.is_done() {
                    note(session.handle_eof(), &mut error);
                }
            }
            Step::Wrote => {}
            Step::Keepalive => {
                if !session.is_done() {
                    session.keepalive();
                }
            }
            Step::Reply(None) => return Err(DriverError::ExecutorDied),
            Step::Reply(Some(batch)) => {
                for reply in batch {
                    match reply {
                        Reply::Completed(n) => exec.outstanding -= n,
                        Reply::Failed(e) => return Err(e.into()),
                        Reply::Answer(a) => {
                            if !session.is_done() {
                                note(session.handle_fs(a), &mut error);
                            }
                        }
                        Reply::Info(line) => {
                            if !session.is_done() {
                                session.info(line);
                            }
                        }
                    }
                }
            }
        }
    }
    let (code, stats) = done.unwrap_or((EXIT_STREAMIO, None));
    Ok((code, stats, error))
}

/// Ends a run our own side failed (the executor's fatal error `e`) as rsync's
/// `_exit_cleanup` does: what the session had queued is sent, then `MSG_ERROR_EXIT` with
/// the exit code (protocol ≥ 31, where both directions are multiplexed; not for the codes
/// rsync never reports this way: 10, 12, 19, 30), and the peer's input is read and
/// discarded until it closes (`noop_io_until_death`: a peer blocked writing to us must not
/// die of a broken pipe before it has read our code), for at most [`ERROR_EXIT_DRAIN`] or
/// the timeout. RFC.md §13.6 `[error-exit]`. Returns `e`.
async fn abort<R, W>(
    io: &mut Io,
    reader: &mut R,
    writer: &mut W,
    session: &mut (dyn Session + Send),
    negotiated: &Negotiated,
    e: DriverError,
) -> DriverError
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let code = e.exit_code();
    if session.is_done() || negotiated.protocol < 31 || matches!(code, 0 | 10 | 12 | 19 | 30) {
        return e;
    }
    let _ = session.poll_transmit(&mut io.out);
    if MuxEncoder::default()
        .encode_message(MsgCode::ErrorExit, &code.to_le_bytes(), &mut io.out)
        .is_err()
    {
        return e;
    }
    let limit = io
        .timeout
        .map_or(ERROR_EXIT_DRAIN, |t| t.min(ERROR_EXIT_DRAIN));
    let until = Instant::now() + limit;
    while !(io.eof && io.pending() == 0) {
        let step = tokio::select! {
            biased;
            s = io.step(reader, writer, None, true) => s,
            () = tokio::time::sleep_until(until) => break,
        };
        if step.is_err() {
            break;
        }
    }
    let _ = writer.flush().await;
    let _ = writer.shutdown().await;
    e
}

/// What one [`Io::step`] did.
enum Step {
    /// This many bytes were read into the read buffer ([`Io::input`]).
    Input(usize),
    Eof,
    Wrote,
    /// Half the timeout passed without a write: time for a keepalive.
    Keepalive,
    Reply(Option<Vec<Reply>>),
}

/// The byte pumps and the timer.
struct Io {
    out: Vec<u8>,
    pos: usize,
    rbuf: Vec<u8>,
    eof: bool,
    /// Bytes were written since the last flush (a buffered writer such as tokio's stdout
    /// must be flushed, or they wait in its buffer).
    need_flush: bool,
    bytes_read: u64,
    bytes_written: u64,
    max_pending: usize,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    /// When to send a keepalive (half the timeout after the last write).
    keepalive_at: Option<Instant>,
}

impl Io {
    fn new(config: &DriverConfig) -> Self {
        Self {
            out: Vec::new(),
            pos: 0,
            rbuf: vec![0; config.read_size.max(1)],
            eof: false,
            need_flush: false,
            bytes_read: 0,
            bytes_written: 0,
            max_pending: config.max_pending_output.max(1),
            timeout: config.timeout,
            deadline: config.timeout.map(|t| Instant::now() + t),
            keepalive_at: config.timeout.map(|t| Instant::now() + t / 2),
        }
    }

    /// The `n` bytes the last [`Step::Input`] read.
    fn input(&self, n: usize) -> &[u8] {
        self.rbuf.get(..n).unwrap_or_default()
    }

    fn pending(&self) -> usize {
        self.out.len() - self.pos
    }

    fn touch(&mut self) {
        self.deadline = self.timeout.map(|t| Instant::now() + t);
    }

    /// Waits for the first of: input, a completed write, an executor reply, the timeout.
    /// Reading is always armed until end of file; `read` is false only to stop reading
    /// once the session has ended.
    async fn step<R, W>(
        &mut self,
        reader: &mut R,
        writer: &mut W,
        replies: Option<&mut mpsc::Receiver<Vec<Reply>>>,
        read: bool,
    ) -> Result<Step, DriverError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let can_read = read && !self.eof;
        let can_write = self.pending() > 0;
        let can_flush = !can_write && self.need_flush;
        let has_replies = replies.is_some();
        if !can_read && !can_write && !can_flush && !has_replies {
            // The peer has closed and the session waits for nothing we can give it.
            return Err(DriverError::Io {
                op: "read",
                source: std::io::ErrorKind::UnexpectedEof.into(),
            });
        }
        let deadline = self.deadline;
        let keepalive_at = self.keepalive_at;
        let (out, pos, rbuf) = (&self.out, self.pos, &mut self.rbuf);
        // Biased: input first (reading never waits behind anything), then executor
        // replies, then writing, so that output coalesces into larger writes while other
        // work is ready; the back-pressure threshold bounds it.
        let step = tokio::select! {
            biased;
            r = reader.read(rbuf), if can_read => match r {
                Ok(0) => Ok(Step::Eof),
                Ok(n) => Ok(Step::Input(n)),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(Step::Wrote),
                Err(source) => Err(DriverError::Io { op: "read", source }),
            },
            a = async { match replies { Some(r) => r.recv().await, None => std::future::pending().await } }, if has_replies => {
                Ok(Step::Reply(a))
            }
            w = async {
                if can_write {
                    writer.write(&out[pos..]).await.map(Some)
                } else {
                    writer.flush().await.map(|()| None)
                }
            }, if can_write || can_flush => match w {
                Ok(Some(0)) => Err(DriverError::Io {
                    op: "write",
                    source: std::io::ErrorKind::WriteZero.into(),
                }),
                Ok(Some(n)) => {
                    self.pos += n;
                    self.bytes_written += n as u64;
                    self.need_flush = true;
                    self.keepalive_at = self.timeout.map(|t| Instant::now() + t / 2);
                    Ok(Step::Wrote)
                }
                Ok(None) => {
                    self.need_flush = false;
                    Ok(Step::Wrote)
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(Step::Wrote),
                Err(source) => Err(DriverError::Io { op: "write", source }),
            },
            () = async { match keepalive_at { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } }, if !can_write => {
                self.keepalive_at = self.timeout.map(|t| Instant::now() + t / 2);
                return Ok(Step::Keepalive);
            }
            () = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                return Err(DriverError::Timeout {
                    secs: self.timeout.map_or(0, |t| t.as_secs()),
                });
            }
        };
        match &step {
            Ok(Step::Input(n)) => self.bytes_read += *n as u64,
            Ok(Step::Eof) => self.eof = true,
            _ => {}
        }
        if self.pos == self.out.len() {
            self.out.clear();
            self.pos = 0;
            // A burst (the whole file list) does not keep its buffer for the run.
            if self.out.capacity() > 4 * self.max_pending.max(OUT_KEEP) {
                self.out.shrink_to(OUT_KEEP);
            }
        } else if self.pos >= OUT_KEEP && self.pos * 2 >= self.out.len() {
            // Written bytes are dropped once they outweigh the pending ones, so the buffer
            // stays near the pending size (each byte is moved at most once on average).
            self.out.drain(..self.pos);
            self.pos = 0;
        }
        // The inactivity timeout counts from the last input (rsync `last_io_in`): our own
        // writes, keepalives included, do not prove the peer alive.
        if matches!(step, Ok(Step::Input(_) | Step::Eof)) {
            self.touch();
        }
        step
    }
}
