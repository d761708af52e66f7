//! The file-system side of a run, as the application implements it.

use crate::flist::FileEntry;
use crate::session::{FsAnswer, FsRequest};

/// The shape of the file list, given to the executor once it is known and before the first
/// request that names an entry (rsync's `get_local_name` decides from it whether the
/// destination operand names a file or a directory).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListSummary {
    /// Entries in the sorted list, cleared duplicates included.
    pub count: usize,
    /// The first entry, when the list holds exactly one.
    pub only: Option<FileEntry>,
}

impl ListSummary {
    /// The summary of a sorted list.
    pub fn of(list: &[Option<FileEntry>]) -> Self {
        Self {
            count: list.len(),
            only: match list {
                [Some(e)] => Some(e.clone()),
                _ => None,
            },
        }
    }
}

/// A fatal executor failure: the run stops with this rsync exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct ExecutorError {
    /// rsync exit code (e.g. 11 for file I/O, 3 for file selection, 23 partial).
    pub exit_code: i32,
    /// What happened, for the user.
    pub message: String,
    /// The executor has shown the message to the user already, at the moment of the
    /// failure ([`ExecutorError::shown`]); the application need not print it again.
    pub shown: bool,
}

impl ExecutorError {
    /// A failure with this code and message.
    pub fn new(exit_code: i32, message: impl Into<String>) -> Self {
        Self {
            exit_code,
            message: message.into(),
            shown: false,
        }
    }

    /// A failure whose message the executor has printed already. rsync prints such an
    /// error where it happens, before it tells the peer (`MSG_ERROR_EXIT`), and a stock
    /// client may end the connection, and kill its remote shell, as soon as it is told:
    /// a server that printed only afterwards could lose the message.
    pub fn shown(exit_code: i32, message: impl Into<String>) -> Self {
        Self {
            shown: true,
            ..Self::new(exit_code, message)
        }
    }
}

/// Executes a session's file-system requests, synchronously and strictly in order, on the
/// driver's executor thread.
///
/// Per-file failures (a file that cannot be written, a vanished source) are the executor's
/// to report and remember (they make the exit code 23 or 24); an `Err` from
/// [`Executor::execute`] ends the whole run.
pub trait Executor: Send + 'static {
    /// The file list is known (called once, before any request naming an entry).
    fn file_list(&mut self, summary: ListSummary) {
        let _ = summary;
    }

    /// Info lines the executor has for the user since the last call, which rsync's receiver
    /// prints with `rprintf(FINFO)` (`created directory DEST` when [`Executor::file_list`]
    /// made the destination). The driver takes them after [`Executor::file_list`] and hands
    /// them to [`Session::info`](crate::session::Session::info): a server sends them to the
    /// client as `MSG_INFO`, a client shows them. The default has none.
    fn take_info(&mut self) -> Vec<Vec<u8>> {
        Vec::new()
    }

    /// Executes one request, giving its answers (none, one, or several for
    /// [`FsRequest::ReadFile`]) to `answer` in order. `answer` may block: it is the
    /// driver's back-pressure.
    ///
    /// # Errors
    /// An [`ExecutorError`] that ends the run.
    fn execute(
        &mut self,
        request: FsRequest,
        answer: &mut dyn FnMut(FsAnswer),
    ) -> Result<(), ExecutorError>;

    /// Whether [`Executor::execute_budget`] really stops at its budget, so that the driver
    /// may run a [`FsRequest::ReadFile`] on its own task, slice by slice. The default is
    /// `false`: such requests then always go to the executor thread, whose bounded answer
    /// channel is the back-pressure. A wrapper that forwards [`Executor::execute_budget`] and
    /// [`Executor::resume`] must forward this too.
    fn resumable(&self) -> bool {
        false
    }

    /// Like [`Executor::execute`], but may stop once its answers carry about `budget`
    /// bytes of data and return `Ok(false)`: the request is then unfinished and the driver
    /// calls [`Executor::resume`] (and nothing else) until it returns `Ok(true)`. The driver
    /// uses it to run a [`FsRequest::ReadFile`] on its own task without holding a whole
    /// file in memory. The default runs the request to the end.
    ///
    /// # Errors
    /// As [`Executor::execute`].
    fn execute_budget(
        &mut self,
        request: FsRequest,
        answer: &mut dyn FnMut(FsAnswer),
        budget: usize,
    ) -> Result<bool, ExecutorError> {
        let _ = budget;
        self.execute(request, answer).map(|()| true)
    }

    /// Continues the unfinished request of [`Executor::execute_budget`] for about `budget`
    /// more bytes; `Ok(true)` once it is finished. The default has nothing to continue.
    ///
    /// # Errors
    /// As [`Executor::execute`].
    fn resume(
        &mut self,
        answer: &mut dyn FnMut(FsAnswer),
        budget: usize,
    ) -> Result<bool, ExecutorError> {
        let _ = (answer, budget);
        Ok(true)
    }
}
