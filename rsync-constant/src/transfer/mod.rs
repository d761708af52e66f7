//! The file-system executors of a transfer: [`SenderFs`] builds the file list from the
//! source operands and reads files; [`ReceiverFs`] answers a receiver's requests on a
//! [`crate::fs::Destination`]. Both implement [`rsync_proto::driver::Executor`].
//!
//! Per-file failures are printed to stderr in rsync's style and remembered in a shared
//! [`Failures`]; the run's exit code then becomes 23 (or 24 when source files vanished).
//!
//! Both also serve the constant extension (RFC.md §15): [`SenderFs::for_constant`] is a
//! master's source (`Stat`, `ListDir`, `ReadFile` by path) and [`ReceiverFs::for_constant`]
//! a long-lived mirror's destination (several files at once, `Remove`, `Settle`).

mod basis;
#[cfg(test)]
mod constant_tests;
mod ids;
#[cfg(test)]
mod inplace_tests;
#[cfg(test)]
mod mirror_exec_tests;
mod receiver;
mod sender;
mod settle;
#[cfg(test)]
mod tests;
mod writer;

use crate::options::{FilterArg, Options};
use rsync_proto::filter::{FilterError, FilterList};
use std::os::unix::ffi::OsStrExt as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use ids::{group_id, group_name, user_id, user_name};
pub use receiver::{ReceiverFs, ReceiverOptions};
pub use sender::{SenderFs, SenderOptions, Source, SourceEpoch};

/// Either executor, forwarding every [`rsync_proto::driver::Executor`] method, the
/// resumable reads ([`rsync_proto::driver::Executor::resumable`]) included, so that the
/// driver can run a sender's reads on its own task.
pub enum TransferFs {
    /// The sender's.
    Send(Box<SenderFs>),
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

    fn take_info(&mut self) -> Vec<Vec<u8>> {
        match self {
            Self::Send(s) => s.take_info(),
            Self::Receive(r) => r.take_info(),
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

/// Builds the client's filter list from its command line, in command-line order as rsync
/// does (`--delete-excluded` changes the rules after it). `--include-from`/`--exclude-from`
/// files (`-` = stdin) and `merge` rule files are read here, relative to the current
/// directory.
///
/// # Errors
/// [`FilterSetupError`]: a rule rsync would refuse, a rule form not supported (per-directory
/// merge files), or a rule file that cannot be read.
pub fn build_filters(opts: &Options) -> Result<FilterList, FilterSetupError> {
    let mut list = FilterList::new();
    list.set_from0(opts.from0);
    let mut source = |name: &[u8]| read_rule_file(name);
    for arg in &opts.filters {
        match arg {
            FilterArg::Filter(rule) => list.add_filter_with(rule, &mut source),
            FilterArg::Include(p) => list.add_include(p),
            FilterArg::Exclude(p) => list.add_exclude(p),
            FilterArg::IncludeFrom(f) => {
                let contents = read_rule_file(f.as_bytes())
                    .map_err(|e| FilterSetupError::Read(f.to_string_lossy().into_owned(), e))?;
                list.add_include_from(&contents)
            }
            FilterArg::ExcludeFrom(f) => {
                let contents = read_rule_file(f.as_bytes())
                    .map_err(|e| FilterSetupError::Read(f.to_string_lossy().into_owned(), e))?;
                list.add_exclude_from(&contents)
            }
            FilterArg::DeleteExcluded => {
                list.set_delete_excluded(true);
                Ok(())
            }
        }?;
    }
    Ok(list)
}

/// Reads a rule file (`-` = stdin).
fn read_rule_file(name: &[u8]) -> std::io::Result<Vec<u8>> {
    if name == b"-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut v)?;
        Ok(v)
    } else {
        std::fs::read(std::ffi::OsStr::from_bytes(name))
    }
}

/// Why the filter options could not be turned into a rule list.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilterSetupError {
    /// A rule rsync refuses, or one we do not support (`dir-merge`).
    #[error(transparent)]
    Rule(#[from] FilterError),
    /// A rule file could not be read.
    #[error("failed to open exclude file {0}: {1}")]
    Read(String, std::io::Error),
}

impl FilterSetupError {
    /// rsync's exit code: 4 for a form we do not support, 1 (syntax) otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Rule(FilterError::DirMergeUnsupported { .. }) => 4,
            _ => 1,
        }
    }
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
