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
}

impl fmt::Display for LinkErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Down => "down",
            Self::Partial => "partial",
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

    /// Drops the connection after an error (the next [`Link::connect`] starts afresh).
    fn disconnect(&mut self) {}
}
