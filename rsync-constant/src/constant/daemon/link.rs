//! The [`Link`] to one mirror: how the daemon's mirror loop bootstraps a mirror and delivers
//! batches of changed names to it, whatever carries them.
//!
//! Two kinds of links exist:
//! - the **session loop**: one ordinary one-shot client session per batch (`--files-from`
//!   the batch's names, `--delete-missing-args`), and one `-a --delete` session for a full
//!   sync. It works with any peer, including a stock rsync, at the cost of one process start
//!   and handshake per batch;
//! - the **streaming link** (RFC.md §15): one long-lived `--server --constant=1` peer, the
//!   master role of `rsync_proto::constant` submitting names and waiting for their
//!   acknowledgements.
//!
//! The mirror loop ([`super::mirror`]) only needs the four methods below: it never knows which
//! kind it drives. A link is used by one mirror loop at a time, on that mirror's own thread,
//! so its futures need not be `Send`; the thread runs a `tokio::task::LocalSet`, so a link
//! may keep its connection running between calls with `tokio::task::spawn_local`.

use std::fmt;
use std::future::Future;

use crate::constant::queue::Entry;

/// What went wrong on a link, and so what the mirror loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkErrorKind {
    /// The mirror is unreachable, the transport broke, the peer failed or timed out: retry the
    /// same work after a backoff (the cursor did not move, nothing is lost).
    Down,
    /// The session ran but some names could not be applied (rsync's exit codes 23 and 24):
    /// retried a few times, then acknowledged with the error logged, so that one bad file never
    /// stops a mirror (a later change of it is queued again).
    Partial,
    /// The peer does not speak this link's protocol (a stock rsync refuses `--constant=1`
    /// before the handshake): [`Fallback`] switches to its other link for good.
    Refused,
}

impl fmt::Display for LinkErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Down => "down",
            Self::Partial => "partial",
            Self::Refused => "refused",
        })
    }
}

/// A failure of a [`Link`] operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LinkError {
    /// What kind of failure, which decides the retry policy.
    pub kind: LinkErrorKind,
    /// What happened, for the log and the status file.
    pub message: String,
}

impl LinkError {
    /// A [`LinkErrorKind::Down`] error.
    pub fn down(message: impl Into<String>) -> Self {
        Self {
            kind: LinkErrorKind::Down,
            message: message.into(),
        }
    }

    /// A [`LinkErrorKind::Refused`] error.
    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            kind: LinkErrorKind::Refused,
            message: message.into(),
        }
    }

    /// A [`LinkErrorKind::Partial`] error.
    pub fn partial(message: impl Into<String>) -> Self {
        Self {
            kind: LinkErrorKind::Partial,
            message: message.into(),
        }
    }
}

/// The transport of changes to one mirror.
pub trait Link {
    /// Makes sure the link is up (the session loop has nothing to do; the streaming link starts
    /// its peer and runs the handshake). Called before every [`Link::full_sync`] and
    /// [`Link::deliver`]; must be cheap when already connected.
    fn connect(&mut self) -> impl Future<Output = Result<(), LinkError>>;

    /// Makes the mirror a copy of the whole source tree, deleting what the source does not
    /// have (rsync `-a --delete SRC/ DEST`). Returns once the mirror has everything the tree
    /// walk saw.
    fn full_sync(&mut self) -> impl Future<Output = Result<(), LinkError>>;

    /// Delivers `entries` (never empty, in sequence order): each name's current state at the
    /// source is applied on the mirror; a name missing at the source is deleted there.
    /// Returns once every entry is applied on the mirror, so the caller may acknowledge them
    /// in the queue.
    fn deliver(&mut self, entries: &[Entry]) -> impl Future<Output = Result<(), LinkError>>;

    /// Resolves once a standing connection ends by itself (the peer closed it, the transport
    /// broke, the keepalive timeout fired) while the loop has nothing to send, so that the
    /// loop reconnects at once rather than with the next change. Never resolves for a link
    /// without a standing connection (the default) or while not connected.
    fn lost(&mut self) -> impl Future<Output = LinkError> {
        std::future::pending()
    }

    /// Drops the connection after an error (the next [`Link::connect`] starts afresh).
    fn disconnect(&mut self) {}

    /// Ends the connection cleanly when the daemon stops (the streaming link says `BYE` and
    /// waits for the mirror's; the caller bounds the wait). Nothing to do by default.
    fn close(&mut self) -> impl Future<Output = ()> {
        async {}
    }
}

/// A link that tries `first` and, once it answers [`LinkErrorKind::Refused`], uses `second`
/// for good: the streaming link first, the session loop for a stock rsync mirror.
#[derive(Debug)]
pub struct Fallback<A, B> {
    first: Option<A>,
    second: B,
}

impl<A: Link, B: Link> Fallback<A, B> {
    /// `first`, then `second` once `first` is refused.
    pub fn new(first: A, second: B) -> Self {
        Self {
            first: Some(first),
            second,
        }
    }

    /// Whether the fallback is in use.
    pub fn fell_back(&self) -> bool {
        self.first.is_none()
    }

    fn refused(&mut self, e: &LinkError) {
        tracing::warn!("{e}; using one-shot sessions instead");
        self.first = None;
    }
}

impl<A: Link, B: Link> Link for Fallback<A, B> {
    async fn connect(&mut self) -> Result<(), LinkError> {
        if let Some(a) = &mut self.first {
            match a.connect().await {
                Err(e) if e.kind == LinkErrorKind::Refused => self.refused(&e),
                other => return other,
            }
        }
        self.second.connect().await
    }

    async fn full_sync(&mut self) -> Result<(), LinkError> {
        match &mut self.first {
            Some(a) => a.full_sync().await,
            None => self.second.full_sync().await,
        }
    }

    async fn deliver(&mut self, entries: &[Entry]) -> Result<(), LinkError> {
        match &mut self.first {
            Some(a) => a.deliver(entries).await,
            None => self.second.deliver(entries).await,
        }
    }

    async fn lost(&mut self) -> LinkError {
        match &mut self.first {
            Some(a) => a.lost().await,
            None => self.second.lost().await,
        }
    }

    fn disconnect(&mut self) {
        match &mut self.first {
            Some(a) => a.disconnect(),
            None => self.second.disconnect(),
        }
    }

    async fn close(&mut self) {
        match &mut self.first {
            Some(a) => a.close().await,
            None => self.second.close().await,
        }
    }
}
