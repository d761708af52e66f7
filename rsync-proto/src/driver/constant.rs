//! The tokio driver of a constant session (RFC.md §15): runs the [`Handshake`], then a
//! [`ConstantRole`] ([`Master`](crate::constant::Master) or
//! [`Mirror`](crate::constant::Mirror)) over an [`AsyncRead`] + [`AsyncWrite`] pair, the
//! counterpart of [`run`](super::run) for ordinary sessions. It makes no protocol decision:
//! it frames, demultiplexes, runs requests and hands events to a [`ConstantApp`].
//!
//! # What travels
//!
//! After the handshake both directions are multiplexed (RFC.md §5, §15.2 `[const-argv]`).
//! Incoming frames are decoded with a bounded [`MuxDecoder`] (RFC.md §5.5 `[mux-limits]`):
//!
//! - `MSG_DATA` payloads go to [`ConstantRole::handle_data`]; an empty one is a keepalive
//!   (RFC.md §5.4 `[keepalive]`) and only counts as input for the timeout;
//! - log lines (`MSG_INFO`, `MSG_WARNING`, `MSG_ERROR`, `MSG_ERROR_XFER`) go to
//!   [`ConstantApp::peer_message`]; other messages of RFC.md §5.2 mean nothing here and are
//!   ignored;
//! - `MSG_ERROR_EXIT` ends the run with the peer's code (RFC.md §13.6 `[error-exit]`, §15.9
//!   `[const-end]`): a 4-byte one is answered with an empty one, an empty one is not
//!   answered (so two drivers never bounce messages).
//!
//! The role's record bytes ([`ConstantRole::poll_output`]) leave as `MSG_DATA` frames of at
//! most 32 KiB; messages the application gives ([`ConstantApp::poll_message`]) as their own
//! frames, in order with the data.
//!
//! # Scheduling
//!
//! One task polls the reader, the writer, the executor's answers, the timer and the
//! application's [`Notify`] together, as [`run`](super::run) does (RFC.md Appendix D): reading
//! never stops, and back-pressure holds back only executor answers (and requests run on the
//! driver's task) while more than [`DriverConfig::max_pending_output`] bytes wait to be
//! written. Requests execute strictly in order: cheap ones (`lstat`, creations, writes,
//! renames, `Settle`, small reads and small signatures) on the driver's task while the
//! executor's thread is idle, so that a change costs no thread hand-off; those that can take
//! long (a directory listing, a recursive `Remove`, a large file's read or signature) on the
//! thread. A notification of the application's [`Notify`] calls [`ConstantApp::feed`] at once:
//! nothing waits on an interval.
//!
//! # End
//!
//! The run ends when the role is done and its output is written (the writer is then shut
//! down), when the peer closes the connection ([`ConstantRole::handle_eof`]), when the peer
//! sends `MSG_ERROR_EXIT`, or on an error. A [`ConstantError`] of the role or the application
//! is reported in [`ConstantOutcome::error`]; when its exit code calls for it (not 10, 12, 19
//! or 30, RFC.md §13.6) the driver first sends `MSG_ERROR_EXIT` with the code and reads until
//! the peer answers or closes (at most [`ERROR_EXIT_DRAIN`]). A broken transport, a frame
//! that cannot be demultiplexed (exit code 12), the timeout (30) or an executor failure is a
//! [`DriverError`].

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{
    DriverConfig, DriverError, Executor, ExecutorThread, Io, Job, Reply, Step, EXIT_STREAMIO,
    INLINE_READ_MAX,
};
use crate::constant::{ConstantError, ConstantRole};
use crate::handshake::{Handshake, Negotiated};
use crate::mux::{Frame, MsgCode, MuxDecoder, MuxEncoder, MuxLimits};
use crate::session::{FsAnswer, FsRequest};

/// Longest the driver waits, after sending `MSG_ERROR_EXIT`, for the peer to answer or close
/// (rsync waits up to 60 s; the inactivity timeout applies when it is shorter).
pub const ERROR_EXIT_DRAIN: Duration = Duration::from_secs(10);

/// Largest basis (blocks × block length) whose signature is computed on the driver's task.
const INLINE_SIGNATURE_MAX: u64 = 256 * 1024;

/// File sizes remembered from `Stat` answers, to decide where a later read runs.
const SIZES_KEPT: usize = 4096;

/// Longest text of a message we send (RFC.md §5.2: below `BIGPATHBUFLEN`, 5120).
const MAX_TEXT: usize = 5119;

/// Builds the role and its executor once the handshake negotiated the protocol (both need
/// the negotiated checksum and protocol).
pub type StartConstant<'a, R, X> =
    Box<dyn FnOnce(&Negotiated) -> Result<(R, X), ConstantError> + 'a>;

/// The application side of a constant run: it gives the role work and sees its events.
pub trait ConstantApp<R: ConstantRole> {
    /// Gives the role work (a master: [`submit`](crate::constant::Master::submit),
    /// [`submit_tree`](crate::constant::Master::submit_tree),
    /// [`end_batch`](crate::constant::Master::end_batch),
    /// [`close`](crate::constant::Master::close)). Called once after the role is built, after
    /// every notification of the run's [`Notify`], and after each batch of events.
    ///
    /// # Errors
    /// A [`ConstantError`] ends the run (reported in [`ConstantOutcome::error`]).
    fn feed(&mut self, role: &mut R) -> Result<(), ConstantError>;

    /// One event of the role (master: `Acked`, `Sent`, `Done`; mirror: `Itemize`, `Deleted`,
    /// `Acked`, `Log`, `Done`).
    fn event(&mut self, event: R::Event);

    /// A log line from the peer (`MSG_INFO`, `MSG_WARNING`, `MSG_ERROR`,
    /// `MSG_ERROR_XFER`), as received (at most 64 KiB, not NUL-terminated). The default
    /// ignores it.
    fn peer_message(&mut self, code: MsgCode, text: &[u8]) {
        let _ = (code, text);
    }

    /// A message to send to the peer (a mirror's log lines as `MSG_INFO` or `MSG_ERROR`),
    /// polled with the role's output until `None`; a text longer than 5119 bytes is cut
    /// (RFC.md §5.2), and `MSG_DATA` or `MSG_ERROR_EXIT` are not sent this way. The default
    /// has none.
    fn poll_message(&mut self) -> Option<(MsgCode, Vec<u8>)> {
        None
    }
}

/// How a constant run ended without a transport failure.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConstantOutcome {
    /// 0 after a clean end (`BYE`), the code of [`ConstantOutcome::error`], or the peer's
    /// `MSG_ERROR_EXIT` code.
    pub exit_code: i32,
    /// The error of the role or the application that ended the run, if any.
    pub error: Option<ConstantError>,
    /// The code of the peer's `MSG_ERROR_EXIT` (0 for an empty one), if it sent one.
    pub peer_exit: Option<i32>,
    /// Bytes read from the peer (handshake included).
    pub bytes_read: u64,
    /// Bytes written to the peer.
    pub bytes_written: u64,
    /// The handshake's outcome.
    pub negotiated: Negotiated,
}

/// Runs `handshake`, then the role `start` builds, over `reader`/`writer`, executing its
/// file-system requests with the executor `start` builds; `app` feeds the role (at once when
/// `wake` is notified: use [`Notify::notify_one`], which is not lost while the driver is
/// busy) and sees its events.
///
/// # Errors
/// A [`DriverError`] when the transport, the handshake, the demultiplexing of the peer's
/// frames (exit code 12), the executor or the timeout ends the run; an error of the role
/// or the application is reported in [`ConstantOutcome::error`] instead.
pub async fn run_constant<Rd, Wr, R, X, A>(
    mut reader: Rd,
    mut writer: Wr,
    mut handshake: Handshake,
    start: StartConstant<'_, R, X>,
    app: &mut A,
    wake: &Notify,
    config: DriverConfig,
) -> Result<ConstantOutcome, DriverError>
where
    Rd: AsyncRead + Unpin,
    Wr: AsyncWrite + Unpin,
    R: ConstantRole,
    X: Executor,
    A: ConstantApp<R>,
{
    let mut io = Io::new(&config);
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
    let mut demux = MuxDecoder::with_limits(MuxLimits::default());
    demux.push(&handshake.take_remaining());
    let result = match start(&negotiated) {
        Ok((role, executor)) => {
            let exec = ExecutorThread::spawn(executor).map_err(|source| DriverError::Io {
                op: "spawn executor",
                source,
            })?;
            let mut d = Drive {
                role,
                app,
                exec,
                demux,
                enc: MuxEncoder::default(),
                queue: VecDeque::new(),
                answers: Vec::new(),
                sizes: Sizes::default(),
                scratch: Vec::new(),
                failure: None,
                peer_exit: None,
                answer_exit: false,
                clean_before_exit: false,
                ending: None,
            };
            let r = d.drive(&mut io, &mut reader, &mut writer, wake).await;
            d.exec.replies.close();
            d.exec.close();
            while let Some(ev) = d.role.poll_event() {
                d.app.event(ev);
            }
            r.map(|()| d.exit())
        }
        Err(e) => {
            // RFC.md §15.2: a role that cannot start (protocol below 31) tells the peer.
            let enc = MuxEncoder::default();
            let drain = send_error_exit(&enc, &e, &mut io.out);
            let mut ending = Ending::new(drain, config.timeout);
            ending
                .run(&mut io, &mut demux, &mut reader, &mut writer)
                .await;
            Ok((e.exit_code(), Some(e), ending.peer_exit))
        }
    };
    let (exit_code, error, peer_exit) = result?;
    let _ = writer.flush().await;
    let _ = writer.shutdown().await;
    Ok(ConstantOutcome {
        exit_code,
        error,
        peer_exit,
        bytes_read: io.bytes_read,
        bytes_written: io.bytes_written,
        negotiated,
    })
}

/// Queues `MSG_ERROR_EXIT` with the code of `e` when RFC.md §13.6 calls for it; `true` if
/// it was queued (the driver then waits for the peer's answer or end of file).
fn send_error_exit(enc: &MuxEncoder, e: &ConstantError, out: &mut Vec<u8>) -> bool {
    let code = e.exit_code();
    if matches!(code, 10 | 12 | 19 | 30) {
        return false;
    }
    enc.encode_message(MsgCode::ErrorExit, &code.to_le_bytes(), out)
        .is_ok()
}

/// The code of a `MSG_ERROR_EXIT` payload: 0 when empty, `None` when malformed.
fn error_exit_code(payload: &[u8]) -> Option<i32> {
    match payload {
        [] => Some(0),
        &[a, b, c, d] => Some(i32::from_le_bytes([a, b, c, d])),
        _ => None,
    }
}

/// The last stage after an error or the peer's `MSG_ERROR_EXIT`: write what is queued,
/// keep reading (discarding) so that the peer never blocks on us, and, when we sent
/// `MSG_ERROR_EXIT`, wait for the peer's answer or end of file.
struct Ending {
    /// Wait for the peer (we sent `MSG_ERROR_EXIT`); otherwise only flush.
    drain: bool,
    until: Instant,
    peer_exit: Option<i32>,
}

impl Ending {
    fn new(drain: bool, timeout: Option<Duration>) -> Self {
        let limit = timeout.map_or(ERROR_EXIT_DRAIN, |t| t.min(ERROR_EXIT_DRAIN));
        Self {
            drain,
            until: Instant::now() + limit,
            peer_exit: None,
        }
    }

    /// Whether the stage is over.
    fn finished(&self, io: &Io) -> bool {
        if self.drain {
            io.eof
        } else {
            io.pending() == 0
        }
    }

    /// Reads the peer's frames for its `MSG_ERROR_EXIT` (answering nothing: we are the side
    /// that failed, or we have answered already).
    fn input(&mut self, demux: &mut MuxDecoder, bytes: &[u8]) {
        demux.push(bytes);
        while let Ok(Some(frame)) = demux.poll_frame() {
            if let Frame::Message {
                code: MsgCode::ErrorExit,
                payload,
            } = frame
            {
                self.peer_exit = Some(error_exit_code(&payload).unwrap_or(0));
                self.drain = false;
            }
        }
    }

    /// Runs the stage to its end; transport errors and the timeout end it quietly (the
    /// run's outcome is decided already).
    async fn run<Rd, Wr>(
        &mut self,
        io: &mut Io,
        demux: &mut MuxDecoder,
        reader: &mut Rd,
        writer: &mut Wr,
    ) where
        Rd: AsyncRead + Unpin,
        Wr: AsyncWrite + Unpin,
    {
        // Frames received before this stage (with the end of the handshake).
        self.input(demux, &[]);
        while !self.finished(io) {
            let until = self.until;
            let step = tokio::select! {
                biased;
                s = io.step(reader, writer, None, true) => s,
                () = tokio::time::sleep_until(until) => return,
            };
            match step {
                Ok(Step::Input(n)) => self.input(demux, io.input(n)),
                Ok(Step::Eof) => self.drain = false,
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }
}

/// Sizes of regular files from `Stat` answers (the master reads a file right after it has
/// described it), bounded to the last [`SIZES_KEPT`] names.
#[derive(Default)]
struct Sizes {
    map: HashMap<Vec<u8>, u64>,
    order: VecDeque<Vec<u8>>,
}

impl Sizes {
    fn note(&mut self, answer: &FsAnswer) {
        let FsAnswer::Entry { entry: Some(e), .. } = answer else {
            return;
        };
        if !e.is_regular() {
            return;
        }
        let name = e.name.as_bytes();
        if let Some(size) = self.map.get_mut(name) {
            *size = e.size();
            return;
        }
        self.map.insert(name.to_vec(), e.size());
        self.order.push_back(name.to_vec());
        if self.order.len() > SIZES_KEPT {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    fn get(&self, name: &[u8]) -> Option<u64> {
        self.map.get(name).copied()
    }
}

/// Whether `request` runs on the driver's task when the executor's thread is idle: what is
/// a few system calls with a bounded answer. A read runs here, in budgeted slices, only when
/// the executor is resumable and the file was described (by a `Stat`) as at most
/// [`INLINE_READ_MAX`] bytes; a signature when its basis is at most
/// [`INLINE_SIGNATURE_MAX`] bytes. Directory listings and `Remove` (which may be recursive)
/// always go to the thread.
fn runs_inline(request: &FsRequest, resumable: bool, sizes: &Sizes) -> bool {
    match request {
        FsRequest::FileList { .. } | FsRequest::ListDir { .. } | FsRequest::Remove { .. } => false,
        FsRequest::ReadFile { path, .. } => {
            resumable
                && sizes
                    .get(path.as_bytes())
                    .is_some_and(|s| s <= INLINE_READ_MAX)
        }
        FsRequest::Signature { head, .. } => {
            u64::from(head.count) * u64::from(head.block_len) <= INLINE_SIGNATURE_MAX
        }
        FsRequest::Basis { checksum, .. } => checksum.is_none(),
        FsRequest::Delete { is_dir, .. } => !is_dir,
        _ => true,
    }
}

/// What the outer select of [`Drive::drive`] returned.
enum Wait {
    Step(Result<Step, DriverError>),
    Wake,
}

/// The state of the constant stage.
struct Drive<'a, R, A, X> {
    role: R,
    app: &'a mut A,
    exec: ExecutorThread<X>,
    demux: MuxDecoder,
    enc: MuxEncoder,
    /// Requests in order, not yet executed nor handed to the thread.
    queue: VecDeque<FsRequest>,
    answers: Vec<FsAnswer>,
    sizes: Sizes,
    scratch: Vec<u8>,
    /// The error of the role or the application that ends the run.
    failure: Option<ConstantError>,
    peer_exit: Option<i32>,
    /// The peer's `MSG_ERROR_EXIT` carried a code: answer it with an empty one.
    answer_exit: bool,
    /// The role had ended cleanly when the peer's `MSG_ERROR_EXIT` came.
    clean_before_exit: bool,
    /// Set once the run is ending (after `failure` or `peer_exit`).
    ending: Option<Ending>,
}

impl<R, A, X> Drive<'_, R, A, X>
where
    R: ConstantRole,
    X: Executor,
    A: ConstantApp<R>,
{
    /// The exit code, error and peer's code once the run is over.
    fn exit(&mut self) -> (i32, Option<ConstantError>, Option<i32>) {
        let code = match (&self.failure, self.peer_exit) {
            (Some(e), _) => e.exit_code(),
            (None, Some(0)) if self.clean_before_exit => 0,
            (None, Some(0)) => EXIT_STREAMIO,
            (None, Some(c)) => c,
            (None, None) if self.role.is_done() => 0,
            (None, None) => EXIT_STREAMIO,
        };
        (code, self.failure.take(), self.peer_exit)
    }

    fn fail(&mut self, e: ConstantError) {
        self.failure.get_or_insert(e);
    }

    /// Whether the role still takes input and answers.
    fn running(&self) -> bool {
        self.failure.is_none() && self.peer_exit.is_none()
    }

    /// An answer of the executor, for the role.
    fn answer(&mut self, a: FsAnswer) {
        self.sizes.note(&a);
        if self.running() {
            if let Err(e) = self.role.handle_answer(a) {
                self.fail(e);
            }
        }
    }

    /// Hands the answers collected by an inline request to the role.
    fn take_answers(&mut self) {
        let mut answers = std::mem::take(&mut self.answers);
        for a in answers.drain(..) {
            self.answer(a);
        }
        self.answers = answers;
    }

    /// Frames the role's output and the application's messages.
    fn output(&mut self, io: &mut Io) -> bool {
        let mut any = false;
        self.scratch.clear();
        if self.role.poll_output(&mut self.scratch) {
            any = true;
            if self.scratch.is_empty() {
                self.enc.encode_keepalive(&mut io.out);
            } else {
                self.enc.encode_data(&self.scratch, &mut io.out);
            }
        }
        while let Some((code, mut text)) = self.app.poll_message() {
            any = true;
            if matches!(code, MsgCode::Data | MsgCode::ErrorExit) {
                continue;
            }
            text.truncate(MAX_TEXT);
            // At most MAX_TEXT bytes: always fits a frame.
            let _ = self.enc.encode_message(code, &text, &mut io.out);
        }
        any
    }

    /// Pumps the role's outputs, events and requests until nothing moves, running cheap
    /// requests here while the thread is idle and our output is not backed up.
    fn pump(&mut self, io: &mut Io) -> Result<(), DriverError> {
        while self.running() {
            let mut any = self.output(io);
            while let Some(req) = self.role.poll_request() {
                any = true;
                self.queue.push_back(req);
            }
            let mut events = false;
            while let Some(ev) = self.role.poll_event() {
                events = true;
                self.app.event(ev);
            }
            if events {
                any = true;
                if let Err(e) = self.app.feed(&mut self.role) {
                    self.fail(e);
                    break;
                }
            }
            any |= self.execute(io)?;
            if !any {
                break;
            }
        }
        Ok(())
    }

    /// Runs or hands over the queued requests, in order; stops after one request run here
    /// (its answers may have made output or requests). `true` if anything was done.
    fn execute(&mut self, io: &mut Io) -> Result<bool, DriverError> {
        let mut any = false;
        loop {
            if self.exec.partial {
                if io.pending() >= io.max_pending {
                    break;
                }
                self.exec.resume_inline(&mut self.answers)?;
                io.touch();
                self.take_answers();
                return Ok(true);
            }
            let Some(req) = self.queue.front() else {
                break;
            };
            let inline = runs_inline(req, self.exec.resumable, &self.sizes);
            if self.exec.outstanding > 0 || !inline {
                if let Some(req) = self.queue.pop_front() {
                    self.exec.send(Job::Request(req));
                }
                any = true;
                continue;
            }
            if io.pending() >= io.max_pending {
                // Back-pressure: run it once our output has drained.
                break;
            }
            let Some(req) = self.queue.pop_front() else {
                break;
            };
            self.exec.run_inline(req, &mut self.answers)?;
            io.touch();
            self.take_answers();
            return Ok(true);
        }
        Ok(any)
    }

    /// The peer's bytes: frames to the role and the application.
    fn input(&mut self, bytes: &[u8]) -> Result<(), DriverError> {
        self.demux.push(bytes);
        while self.running() {
            let frame = match self.demux.poll_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    return Err(DriverError::Io {
                        op: "demultiplex",
                        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                    })
                }
            };
            match frame {
                Frame::Data(d) if d.is_empty() => {}
                Frame::Data(d) => {
                    if let Err(e) = self.role.handle_data(&d) {
                        self.fail(e);
                    }
                }
                Frame::Message { code, payload } => match code {
                    MsgCode::Info | MsgCode::Warning | MsgCode::Error | MsgCode::ErrorXfer => {
                        self.app.peer_message(code, &payload);
                    }
                    MsgCode::ErrorExit => match error_exit_code(&payload) {
                        Some(c) => self.peer_exited(c, !payload.is_empty()),
                        None => self.fail(ConstantError::Unexpected {
                            record: "MSG_ERROR_EXIT",
                            why: "payload is neither empty nor 4 bytes",
                        }),
                    },
                    _ => {}
                },
            }
        }
        Ok(())
    }

    /// The peer's `MSG_ERROR_EXIT` with `code`: answered with an empty one when it carried
    /// a code; the role ends as on end of file.
    fn peer_exited(&mut self, code: i32, answer: bool) {
        self.peer_exit = Some(code);
        self.answer_exit = answer;
        self.clean_before_exit = self.role.is_done();
        // The role learns the session is over (its `Done` event); the peer's code is the
        // run's, not the role's end-of-file error.
        let _ = self.role.handle_eof();
    }

    /// Enters the ending stage once the run failed or the peer exited.
    fn start_ending(&mut self, io: &mut Io) {
        if self.ending.is_some() || self.running() {
            return;
        }
        let drain = match &self.failure {
            Some(e) => send_error_exit(&self.enc, e, &mut io.out),
            None => {
                if self.answer_exit {
                    let _ = self
                        .enc
                        .encode_message(MsgCode::ErrorExit, &[], &mut io.out);
                }
                false
            }
        };
        self.ending = Some(Ending::new(drain, io.timeout));
    }

    /// The constant stage.
    async fn drive<Rd, Wr>(
        &mut self,
        io: &mut Io,
        reader: &mut Rd,
        writer: &mut Wr,
        wake: &Notify,
    ) -> Result<(), DriverError>
    where
        Rd: AsyncRead + Unpin,
        Wr: AsyncWrite + Unpin,
    {
        if let Err(e) = self.app.feed(&mut self.role) {
            self.fail(e);
        }
        // Frames that came with the end of the handshake.
        self.input(&[])?;
        loop {
            self.pump(io)?;
            self.exec.flush()?;
            self.start_ending(io);
            if let Some(mut ending) = self.ending.take() {
                ending.run(io, &mut self.demux, reader, writer).await;
                if self.peer_exit.is_none() {
                    self.peer_exit = ending.peer_exit;
                }
                return Ok(());
            }
            let done = self.role.is_done();
            let idle = self.exec.outstanding == 0 && !self.exec.partial && self.queue.is_empty();
            if done && idle && io.pending() == 0 {
                return Ok(());
            }
            let accept = io.pending() < io.max_pending || done;
            let replies = (self.exec.outstanding > 0 && accept).then_some(&mut self.exec.replies);
            // Biased: the application's wake-up first (a submitted name goes out before
            // anything else is read), then the byte pumps (whose own order is `run`'s).
            let wait = tokio::select! {
                biased;
                () = wake.notified() => Wait::Wake,
                s = io.step(reader, writer, replies, true) => Wait::Step(s),
            };
            let step = match wait {
                Wait::Wake => {
                    if let Err(e) = self.app.feed(&mut self.role) {
                        self.fail(e);
                    }
                    continue;
                }
                Wait::Step(Ok(step)) => step,
                // The peer may close as soon as it has what it needs once the role is done.
                Wait::Step(Err(DriverError::Io { .. })) if done => return Ok(()),
                Wait::Step(Err(e)) => return Err(e),
            };
            match step {
                Step::Input(n) => self.input(io.input(n))?,
                Step::Eof => {
                    if let Err(e) = self.role.handle_eof() {
                        self.fail(e);
                    }
                }
                Step::Wrote => {}
                Step::Keepalive => self.role.keepalive(),
                Step::Reply(None) => return Err(DriverError::ExecutorDied),
                Step::Reply(Some(batch)) => {
                    for reply in batch {
                        match reply {
                            Reply::Completed(n) => {
                                self.exec.outstanding = self.exec.outstanding.saturating_sub(n);
                            }
                            Reply::Failed(e) => return Err(e.into()),
                            Reply::Answer(a) => self.answer(a),
                            Reply::Info(_) => {}
                        }
                    }
                }
            }
        }
    }
}
