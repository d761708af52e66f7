//! The file-system executors of a transfer: [`SenderFs`] builds the file list from the
//! source operands and reads files; [`ReceiverFs`] answers a receiver's requests on a
//! [`crate::fs::Destination`]. Both implement [`rsync_proto::driver::Executor`].
//!
//! Per-file failures are printed to stderr in rsync's style and remembered in a shared
//! [`Failures`]; the run's exit code then becomes 23 (or 24 when source files vanished).

mod basis;
mod ids;
mod receiver;
mod sender;
#[cfg(test)]
mod tests;
mod writer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use ids::{group_id, group_name, user_id, user_name};
pub use receiver::{ReceiverFs, ReceiverOptions};
pub use sender::{SenderFs, SenderOptions, Source};

/// Either executor, forwarding every [`rsync_proto::driver::Executor`] method, the
/// resumable reads ([`rsync_proto::driver::Executor::resumable`]) included, so that the
/// driver can run a sender's reads on its own task.
pub enum TransferFs {
    /// The sender's.
    Send(SenderFs),
    /// The receiver's.
    Receive(Box<ReceiverFs>),
}

impl rsync_proto::driver::Executor for TransferFs {
    fn file_list(&mut self, summary: rsync_proto::driver::ListSummary) {
        match self {
            Self::Send(s) => s.file_list(summary),
            Self::Receive(r) => r.file_list(summary),
        }
    }

    fn execute(
        &mut self,
        request: rsync_proto::session::FsRequest,
        answer: &mut dyn FnMut(rsync_proto::session::FsAnswer),
    ) -> Result<(), rsync_proto::driver::ExecutorError> {
        match self {
            Self::Send(s) => s.execute(request, answer),
            Self::Receive(r) => r.execute(request, answer),
        }
    }

    fn resumable(&self) -> bool {
        match self {
            Self::Send(s) => s.resumable(),
            Self::Receive(r) => r.resumable(),
        }
    }

    fn execute_budget(
        &mut self,
        request: rsync_proto::session::FsRequest,
        answer: &mut dyn FnMut(rsync_proto::session::FsAnswer),
        budget: usize,
    ) -> Result<bool, rsync_proto::driver::ExecutorError> {
        match self {
            Self::Send(s) => s.execute_budget(request, answer, budget),
            Self::Receive(r) => r.execute_budget(request, answer, budget),
        }
    }

    fn resume(
        &mut self,
        answer: &mut dyn FnMut(rsync_proto::session::FsAnswer),
        budget: usize,
    ) -> Result<bool, rsync_proto::driver::ExecutorError> {
        match self {
            Self::Send(s) => s.resume(answer, budget),
            Self::Receive(r) => r.resume(answer, budget),
        }
    }
}

/// Errors and vanished files seen by an executor, shared with the application.
#[derive(Debug, Clone, Default)]
pub struct Failures {
    error: Arc<AtomicBool>,
    vanished: Arc<AtomicBool>,
}

impl Failures {
    /// A fresh record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a failure (exit 23).
    pub fn error(&self) {
        self.error.store(true, Ordering::Relaxed);
    }

    /// Records a vanished source file (exit 24).
    pub fn vanished(&self) {
        self.vanished.store(true, Ordering::Relaxed);
    }

    /// The exit code these failures call for (0, 23 or 24), combined with `code`: the
    /// larger wins, as rsync's `log_exit` keeps the most serious.
    pub fn exit_code(&self, code: i32) -> i32 {
        let ours = if self.error.load(Ordering::Relaxed) {
            23
        } else if self.vanished.load(Ordering::Relaxed) {
            24
        } else {
            0
        };
        match (code, ours) {
            (0, o) => o,
            (23 | 24, 23) => 23,
            (c, _) => c,
        }
    }
}

/// Where an executor's messages go: stderr, prefixed like rsync's (`rsync: [receiver] …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `[sender]`.
    Sender,
    /// `[receiver]`.
    Receiver,
    /// `[generator]`.
    Generator,
}

impl Role {
    fn tag(self) -> &'static str {
        match self {
            Self::Sender => "sender",
            Self::Receiver => "receiver",
            Self::Generator => "generator",
        }
    }
}

/// Prints an rsync-style error line to stderr.
pub fn report(role: Role, message: &str) {
    eprintln!("rsync-constant: [{}] {message}", role.tag());
}

/// How a list of `--include`/`--exclude`/`--filter` rules is applied. Filters are not wired
/// to the transfer yet: this is the single place that decides, so that connecting
/// `rsync_proto::filter` later changes nothing else.
///
/// # Errors
/// [`FilterUnsupported`] when any rule is given.
pub fn check_filters(rules: &[Vec<u8>]) -> Result<(), FilterUnsupported> {
    if rules.is_empty() {
        Ok(())
    } else {
        Err(FilterUnsupported { count: rules.len() })
    }
}

/// Filter rules were given, and rsync-constant cannot apply them yet (rsync exit code 4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--include/--exclude/--filter are not supported by rsync-constant yet ({count} rule(s) given)"
)]
pub struct FilterUnsupported {
    /// Rules given.
    pub count: usize,
}

/// The file-type bits of a [`crate::fs::FileKind`] (`S_IFMT` part of `st_mode`).
pub fn kind_bits(kind: crate::fs::FileKind) -> u32 {
    use crate::fs::FileKind as K;
    use rsync_proto::flist::mode;
    match kind {
        K::File | K::Unknown => mode::S_IFREG,
        K::Dir => mode::S_IFDIR,
        K::Symlink => mode::S_IFLNK,
        K::Fifo => mode::S_IFIFO,
        K::Socket => mode::S_IFSOCK,
        K::CharDevice => mode::S_IFCHR,
        K::BlockDevice => mode::S_IFBLK,
    }
}
