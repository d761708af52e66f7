//! The streaming link (RFC.md §15 `[const-stream]`): one long-lived `--server --constant=1`
//! mirror fed by the master role of [`rsync_proto::constant`], driven by
//! [`rsync_proto::driver::run_constant`] as a local task of the mirror's thread (the mirror
//! loop runs in a `LocalSet`).
//!
//! - [`Link::connect`] opens a connection through the [`Connector`] (the binary starts the
//!   server, or the remote shell that runs it) and waits for the end of the handshake;
//! - [`Link::deliver`] submits the batch's names and a `BATCH_END`, wakes the driver and
//!   returns once every change is acknowledged (`.` is submitted as a tree);
//! - [`Link::full_sync`] submits the tree `.` (RFC.md §15.10) and a `BATCH_END`;
//! - [`Link::close`] submits `BYE` (RFC.md §15.9) and waits for the end of the session;
//! - [`Link::lost`] resolves when the session ends while the link is idle (the mirror closed
//!   it, the transport broke, or the keepalive timeout fired: the driver sends keepalives and
//!   times the peer's).
//!
//! A change acknowledged with status 23 or 24 makes the call [`LinkErrorKind::Partial`],
//! unless its message says the mirror cannot store files (no space, quota, file size limit,
//! read-only or failing file system): that is [`LinkErrorKind::Down`], retried until it
//! works, since giving up would lose names that no later change may bring again;
//! the end of the session, for any reason, makes it [`LinkErrorKind::Down`] (the next
//! `connect` starts a new session, which resends everything after the cursor). A peer that
//! ends before the handshake with exit code 1 (a stock rsync: "unknown option") or 4 (an
//! older rsync-constant: "not supported") is [`LinkErrorKind::Refused`], so that
//! [`super::Fallback`] switches to the session loop.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use rsync_proto::constant::{ChangeId, ConstantError, Master, MasterEvent};
use rsync_proto::driver::{run_constant, ConstantApp, DriverConfig, Executor, StartConstant};
use rsync_proto::flist::WirePath;
use rsync_proto::handshake::Handshake;
use rsync_proto::mux::MsgCode;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;

use super::link::{Link, LinkError, LinkErrorKind};
use crate::constant::queue::Entry;
use crate::transfer::SourceEpoch;

/// Exit codes of a peer that refuses `--constant=1` before the handshake: 1 (a stock rsync's
/// "unknown option", RFC.md §15.2), 4 (an rsync-constant without the server side).
const REFUSAL_CODES: [i32; 2] = [1, 4];

/// How long a mirror's process may take to exit after a clean end of its session.
const CHILD_EXIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the link reports besides acknowledgements: the peer's log lines and the master's
/// `Sent` events (the binary prints `-i` lines and logs literal bytes with `-v`).
pub type Observer = Box<dyn FnMut(Observed<'_>)>;

/// One thing an [`Observer`] sees.
#[derive(Debug)]
pub enum Observed<'a> {
    /// A log line of the mirror (`MSG_INFO`: its `-i` lines; the others: warnings, errors).
    Message(MsgCode, &'a [u8]),
    /// A file's data was sent.
    Sent {
        /// Its name.
        path: &'a WirePath,
        /// Literal bytes sent.
        literal: u64,
        /// Bytes the mirror copied from its basis.
        matched: u64,
    },
}

/// A fresh connection to the mirror, ready for the handshake.
pub struct Opened<X> {
    /// What the mirror writes.
    pub reader: Box<dyn AsyncRead + Unpin>,
    /// What the mirror reads.
    pub writer: Box<dyn AsyncWrite + Unpin>,
    /// Our side of the handshake.
    pub handshake: Handshake,
    /// Builds the master and its source executor after the handshake.
    pub start: StartConstant<'static, Master, X>,
    /// Timeout and buffers.
    pub config: DriverConfig,
    /// The mirror's process (or the remote shell running it): its exit code tells a refusal.
    pub child: Option<tokio::process::Child>,
    /// Sees the peer's messages and the master's `Sent` events.
    pub observer: Option<Observer>,
    /// The source executor's epoch, advanced before each batch (see [`SourceEpoch`]).
    pub epoch: Option<SourceEpoch>,
}

/// Opens connections to one mirror (the binary starts the server or the remote shell).
pub trait Connector {
    /// The source executor.
    type Executor: Executor + 'static;

    /// A new connection.
    ///
    /// # Errors
    /// A [`LinkError`] (normally [`LinkErrorKind::Down`]) when
    /// it cannot be started.
    fn open(&mut self) -> Result<Opened<Self::Executor>, LinkError>;
}

/// Work for the master, handed over by the link and run in [`ConstantApp::feed`].
#[derive(Debug)]
enum Job {
    Submit(WirePath),
    Tree(WirePath),
    EndBatch,
    /// `BYE` once everything is sent (the daemon stops).
    Close,
}

/// How a session ended.
#[derive(Debug, Clone)]
struct Ended {
    message: String,
    refused: bool,
}

impl Ended {
    /// The link's error for this end: [`LinkErrorKind::Refused`] or [`LinkErrorKind::Down`].
    fn error(&self) -> LinkError {
        if self.refused {
            LinkError::refused(self.message.clone())
        } else {
            LinkError::down(self.message.clone())
        }
    }
}

/// What the link and its driver task share.
#[derive(Debug, Default)]
struct Shared {
    /// The handshake is done and the master built.
    started: bool,
    jobs: Vec<Job>,
    outstanding: HashSet<ChangeId>,
    /// The worst status of the changes acknowledged since the last call, and its message.
    worst: u32,
    message: Vec<u8>,
    ended: Option<Ended>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The driver's application: submits the link's jobs, collects acknowledgements.
struct App {
    shared: Arc<Mutex<Shared>>,
    progress: Arc<Notify>,
    observer: Option<Observer>,
}

impl ConstantApp<Master> for App {
    fn feed(&mut self, m: &mut Master) -> Result<(), ConstantError> {
        let jobs = {
            let mut s = lock(&self.shared);
            if !s.started {
                s.started = true;
                self.progress.notify_one();
            }
            std::mem::take(&mut s.jobs)
        };
        for job in jobs {
            let id = match job {
                Job::Submit(p) => m.submit(p)?,
                Job::Tree(p) => m.submit_tree(p)?,
                Job::EndBatch => m.end_batch()?,
                Job::Close => {
                    m.close();
                    continue;
                }
            };
            lock(&self.shared).outstanding.insert(id);
        }
        Ok(())
    }

    fn event(&mut self, event: MasterEvent) {
        match event {
            MasterEvent::Acked {
                id,
                status,
                message,
            } => {
                let mut s = lock(&self.shared);
                s.outstanding.remove(&id);
                if status > s.worst {
                    s.worst = status;
                    s.message = message;
                }
                if s.outstanding.is_empty() {
                    self.progress.notify_one();
                }
            }
            MasterEvent::Sent {
                path,
                literal,
                matched,
            } => {
                if let Some(o) = &mut self.observer {
                    o(Observed::Sent {
                        path: &path,
                        literal,
                        matched,
                    });
                }
            }
            MasterEvent::Done { exit_code } => {
                lock(&self.shared).ended.get_or_insert(Ended {
                    message: format!("the mirror ended the session (code {exit_code})"),
                    refused: false,
                });
                self.progress.notify_one();
            }
            _ => {}
        }
    }

    fn peer_message(&mut self, code: MsgCode, text: &[u8]) {
        if let Some(o) = &mut self.observer {
            o(Observed::Message(code, text));
        }
    }
}

/// The errors (as `io::Error` or rsync words them) of a mirror that cannot store files:
/// no space, quota, file size limit, read-only or failing file system.
const MIRROR_RESOURCE_ERRORS: [&[u8]; 10] = [
    b"(os error 28)",
    b"(os error 122)",
    b"(os error 27)",
    b"(os error 30)",
    b"(os error 5)",
    b"No space left on device",
    b"Disk quota exceeded",
    b"File too large",
    b"Read-only file system",
    b"Input/output error",
];

/// Whether a failed change's message says the mirror cannot store files (rather than that
/// the file itself is bad): see [`MIRROR_RESOURCE_ERRORS`].
pub(crate) fn mirror_resource_error(message: &[u8]) -> bool {
    MIRROR_RESOURCE_ERRORS
        .iter()
        .any(|e| message.windows(e.len()).any(|w| w == *e))
}

/// A live session: the state shared with its driver task.
struct Conn {
    epoch: Option<SourceEpoch>,
    shared: Arc<Mutex<Shared>>,
    wake: Arc<Notify>,
    progress: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Drops the transport and the child (started with `kill_on_drop`).
        self.task.abort();
    }
}

/// The streaming link. See the [module docs](self).
pub struct StreamLink<C> {
    connector: C,
    conn: Option<Conn>,
}

impl<C> std::fmt::Debug for StreamLink<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamLink")
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

impl<C: Connector> StreamLink<C> {
    /// A link that connects through `connector` when first used.
    pub fn new(connector: C) -> Self {
        Self {
            connector,
            conn: None,
        }
    }

    /// Waits for the handshake (`for_start`) or for every submitted change.
    async fn wait(&mut self, for_start: bool) -> Result<(), LinkError> {
        loop {
            let Some(conn) = &self.conn else {
                return Err(LinkError::down("not connected"));
            };
            let progress = Arc::clone(&conn.progress);
            let outcome = {
                let s = lock(&conn.shared);
                if let Some(end) = &s.ended {
                    Some(Err(end.error()))
                } else if for_start && s.started {
                    Some(Ok(()))
                } else if !for_start && s.jobs.is_empty() && s.outstanding.is_empty() {
                    Some(match s.worst {
                        0 => Ok(()),
                        w => {
                            let text = format!(
                                "a change failed on the mirror (code {w}): {}",
                                String::from_utf8_lossy(&s.message).trim_end()
                            );
                            // The mirror cannot store anything (its disk is full...): not a
                            // bad file, so never given up on (stock rsync's receiver stops
                            // with code 11 on a write error): retried, from a new session.
                            Err(if mirror_resource_error(&s.message) {
                                LinkError::down(text)
                            } else {
                                LinkError::partial(text)
                            })
                        }
                    })
                } else {
                    None
                }
            };
            match outcome {
                Some(Err(e)) => {
                    if e.kind != LinkErrorKind::Partial {
                        self.conn = None;
                    }
                    return Err(e);
                }
                Some(Ok(())) => return Ok(()),
                None => progress.notified().await,
            }
        }
    }

    fn push(&mut self, jobs: Vec<Job>) -> Result<(), LinkError> {
        let conn = self
            .conn
            .as_ref()
            .ok_or_else(|| LinkError::down("not connected"))?;
        if let Some(e) = &conn.epoch {
            e.advance();
        }
        {
            let mut s = lock(&conn.shared);
            s.worst = 0;
            s.message.clear();
            s.jobs.extend(jobs);
        }
        conn.wake.notify_one();
        Ok(())
    }
}

impl<C: Connector> Link for StreamLink<C> {
    async fn connect(&mut self) -> Result<(), LinkError> {
        if self.conn.is_some() {
            return Ok(());
        }
        let opened = self.connector.open()?;
        let epoch = opened.epoch.clone();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let wake = Arc::new(Notify::new());
        let progress = Arc::new(Notify::new());
        let (s2, w2, p2) = (
            Arc::clone(&shared),
            Arc::clone(&wake),
            Arc::clone(&progress),
        );
        let task = tokio::task::spawn_local(async move {
            let Opened {
                reader,
                writer,
                handshake,
                start,
                config,
                mut child,
                observer,
                epoch: _,
            } = opened;
            let mut app = App {
                shared: Arc::clone(&s2),
                progress: Arc::clone(&p2),
                observer,
            };
            let r = run_constant(reader, writer, handshake, start, &mut app, &w2, config).await;
            let started = lock(&s2).started;
            let clean = matches!(&r, Ok(o) if o.exit_code == 0 && o.error.is_none());
            let status = match &mut child {
                Some(c) if !started => c.wait().await.ok().and_then(|s| s.code()),
                // After `BYE`, the mirror exits by itself: do not kill it on drop.
                Some(c) if clean => {
                    let _ = tokio::time::timeout(CHILD_EXIT, c.wait()).await;
                    None
                }
                _ => None,
            };
            let ended = match (r, status) {
                (Err(e), Some(code)) if REFUSAL_CODES.contains(&code) => Ended {
                    message: format!(
                        "the mirror refused the streaming link (--constant=1) before the \
                         handshake (code {code}): {e}"
                    ),
                    refused: true,
                },
                (Err(e), Some(code)) => Ended {
                    message: format!("{e} (the mirror's command ended with code {code})"),
                    refused: false,
                },
                (Err(e), None) => Ended {
                    message: format!("{e} (code {})", e.exit_code()),
                    refused: false,
                },
                (Ok(o), _) => Ended {
                    message: match o.error {
                        Some(e) => format!("{e} (code {})", o.exit_code),
                        None => format!("the session ended (code {})", o.exit_code),
                    },
                    refused: false,
                },
            };
            // The first reason wins (a `Done` event may have come first).
            lock(&s2).ended.get_or_insert(ended);
            p2.notify_one();
        });
        self.conn = Some(Conn {
            epoch,
            shared,
            wake,
            progress,
            task,
        });
        self.wait(true).await
    }

    async fn full_sync(&mut self) -> Result<(), LinkError> {
        self.push(vec![Job::Tree(WirePath::dot()), Job::EndBatch])?;
        self.wait(false).await
    }

    async fn deliver(&mut self, entries: &[Entry]) -> Result<(), LinkError> {
        let mut jobs = Vec::with_capacity(entries.len() + 1);
        for e in entries {
            if e.name.is_root() {
                jobs.push(Job::Tree(WirePath::dot()));
                continue;
            }
            match WirePath::new(e.name.as_bytes().to_vec()) {
                Ok(p) => jobs.push(Job::Submit(p)),
                // The feed accepts only names that are valid paths; skip one that is not.
                Err(err) => tracing::warn!("skipping {}: {err}", e.name),
            }
        }
        jobs.push(Job::EndBatch);
        self.push(jobs)?;
        self.wait(false).await
    }

    async fn lost(&mut self) -> LinkError {
        loop {
            let Some(conn) = &self.conn else {
                return std::future::pending().await;
            };
            let progress = Arc::clone(&conn.progress);
            let ended = lock(&conn.shared).ended.as_ref().map(Ended::error);
            if let Some(e) = ended {
                self.conn = None;
                return e;
            }
            // The driver task notifies once it sets `ended` (a permit is kept if it does so
            // before this wait starts).
            progress.notified().await;
        }
    }

    fn disconnect(&mut self) {
        self.conn = None;
    }

    /// Sends `BYE` after what is in flight and waits for the session to end (the mirror
    /// answers `BYE` and exits with code 0).
    async fn close(&mut self) {
        if self.push(vec![Job::Close]).is_err() {
            return;
        }
        if let Some(conn) = &mut self.conn {
            // The driver task ends with the session, after the mirror's process exited.
            let _ = (&mut conn.task).await;
        }
        self.conn = None;
    }
}
