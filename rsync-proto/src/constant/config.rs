//! What both roles of the constant extension share: their settings, their errors, the record
//! context derived from the session options, and the mapping of change ids to the `ndx` of
//! file-system requests.
//!
//! Spec: RFC.md §15.2 `[const-argv]`, §15.3 `[const-record]`, §15.4 `[const-hello]`.

use rsync_core::{ApplyError, SumHeadError};

use super::record::{RecordContext, RecordError, MAX_RECORD_LEN, MIN_WINDOW};
use crate::filter::FilterError;
use crate::session::SessionOptions;

/// Limits and pacing of one role. The defaults suit a mirror exposed to any master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConstantConfig {
    /// The window written in our `HELLO` (RFC.md §15.4): the most changes the master keeps
    /// unacknowledged, the most a mirror accepts in flight. A mirror uses at least
    /// [`MIN_WINDOW`], a master at least 3 (a walked directory's
    /// `DIR_BEGIN`, then its `DIR_END` and its `ENTRY` at once).
    pub window: u32,
    /// Mirror: most names one `DIR_BEGIN`…`DIR_END` may name (the set of names kept for the
    /// deletions of `DIR_END`, RFC.md §15.7).
    pub max_dir_names: usize,
    /// Mirror: most bytes of those names.
    pub max_dir_bytes: usize,
    /// Mirror: most files receiving data at once (interleaved `DATA` of different ids).
    pub max_open_files: usize,
    /// Mirror: most distinct user and group names remembered (each kind).
    pub max_id_names: usize,
    /// Master: most changes queued by [`super::Master::submit`] and not yet sent.
    pub max_queued: usize,
    /// Master: a `DATA` record is flushed once its tokens reach this many bytes (at most
    /// 512 KiB, so that a record never exceeds [`MAX_RECORD_LEN`]).
    pub data_record: usize,
    /// Master: most bytes of block sums held for files not yet sent.
    pub max_sums_bytes: u64,
    /// Master: at the end of a batch, send the entry of every parent directory of a name of
    /// the batch, so that directory times stay right after creations and deletions.
    pub parent_times: bool,
    /// Master: a submitted name that is a directory brings its subtree (walked as
    /// [`crate::constant::Master::submit_tree`] does, deleting on the mirror what the
    /// source no longer has), as rsync's `-r --files-from` does; off, it means the
    /// directory's own entry (and its subtree only when the mirror has to create it).
    pub walk_named_dirs: bool,
    /// Mirror: most changes whose `Settle` (the executor's confirmation that a change is on
    /// disk, before its `ACK`) is held back to be issued with others. A mirror issues the
    /// held ones together as soon as it waits for nothing but the master, so an idle mirror
    /// acknowledges a single change at once and a busy one in bursts of at most this many
    /// (one wait for the executor's writing thread per burst). 1 settles every change on
    /// its own; 0 counts as 1.
    pub max_settle_batch: usize,
}

impl Default for ConstantConfig {
    /// Window 256, 1 Mi names (64 MiB) per directory, 16 open files, 64 Ki names,
    /// 1 Mi queued changes, 64 KiB `DATA` records, 256 MiB of sums, parent times on,
    /// named directories walked, `Settle`s held back by 128.
    fn default() -> Self {
        Self {
            window: 256,
            max_dir_names: 1 << 20,
            max_dir_bytes: 64 << 20,
            max_open_files: 16,
            max_id_names: 1 << 16,
            max_queued: 1 << 20,
            data_record: 64 << 10,
            max_sums_bytes: 256 << 20,
            parent_times: true,
            walk_named_dirs: true,
            max_settle_batch: 128,
        }
    }
}

impl ConstantConfig {
    /// The configuration with another window.
    pub fn with_window(mut self, window: u32) -> Self {
        self.window = window;
        self
    }

    /// The `DATA` record size actually used (clamped so that a record always fits).
    pub(crate) fn data_record_len(&self) -> usize {
        self.data_record.clamp(1, MAX_RECORD_LEN / 2)
    }

    /// The window a mirror announces (never below [`MIN_WINDOW`]).
    pub(crate) fn mirror_window(&self) -> u32 {
        self.window.max(MIN_WINDOW)
    }
}

/// The record context both sides derive from the session options (RFC.md §15.3): file
/// entries with a fresh state, uid and gid names inline (`inc_recurse`), no hard-link
/// fields (links travel as `HARDLINK`), no `-c` sums; block and file sums of the
/// negotiated checksum.
pub fn record_context(opts: &SessionOptions) -> RecordContext {
    let mut flist = opts.flist.clone();
    flist.inc_recurse = true;
    flist.preserve_hard_links = false;
    flist.checksum_len = 0;
    flist.ndx_start = 0;
    flist.max_entries = 1;
    RecordContext {
        flist,
        digest_len: opts.strong.digest_len(),
        file_sum_len: opts.strong.digest_len(),
        limits: opts.limits,
    }
}

/// The `ndx` of the file-system requests of change `id` (ids grow without bound; the low 31
/// bits are unique among the ids in flight, which a window bounds).
pub(crate) fn ndx_of(id: u64) -> i32 {
    (id & 0x7fff_ffff) as i32
}

/// rsync's `RERR_STREAMIO`: a malformed or hostile record stream.
pub(crate) const EXIT_STREAM: i32 = 12;
/// rsync's `RERR_PROTOCOL`: the peers cannot agree.
pub(crate) const EXIT_PROTOCOL: i32 = 2;
/// rsync's `RERR_PARTIAL`: a per-change failure.
pub(crate) const STATUS_PARTIAL: u32 = 23;
/// rsync's `RERR_VANISHED`: the source vanished.
pub(crate) const STATUS_VANISHED: u32 = 24;

/// Why a constant session failed. Every error is final; see [`ConstantError::exit_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConstantError {
    /// A record could not be framed or decoded.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The peer speaks no version we do, or announced a window below the minimum.
    #[error("constant extension: peer sent version {version} with window {window}")]
    Incompatible {
        /// The peer's version.
        version: u32,
        /// The peer's window.
        window: u32,
    },
    /// A record that is not allowed at this point.
    #[error("constant extension: unexpected {record} ({why})")]
    Unexpected {
        /// The record type.
        record: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// A change id that is not above every id before it.
    #[error("constant extension: id {id} after id {last} (ids must grow)")]
    StaleId {
        /// The id received.
        id: u64,
        /// The highest id before it.
        last: u64,
    },
    /// A record for an id that is not in flight, or not in a state that takes it.
    #[error("constant extension: {record} for id {id}, which does not expect it")]
    UnknownId {
        /// The record type.
        record: &'static str,
        /// The id.
        id: u64,
    },
    /// More changes in flight than the window.
    #[error("constant extension: more than {window} changes in flight")]
    WindowExceeded {
        /// The window.
        window: u32,
    },
    /// A directory listing (`DIR_BEGIN`…`DIR_END`) named too many names.
    #[error(
        "constant extension: a directory listing exceeds {max_names} names or {max_bytes} bytes"
    )]
    DirTooLarge {
        /// The name limit.
        max_names: usize,
        /// The byte limit.
        max_bytes: usize,
    },
    /// More files receiving data at once than allowed.
    #[error("constant extension: more than {max} files receiving data at once")]
    TooManyOpenFiles {
        /// The limit.
        max: usize,
    },
    /// More distinct user or group names than allowed.
    #[error("constant extension: more than {max} user or group names")]
    TooManyNames {
        /// The limit.
        max: usize,
    },
    /// Block sums beyond what the master holds.
    #[error("constant extension: block sums exceed {max} bytes")]
    SumsTooLarge {
        /// The limit.
        max: u64,
    },
    /// The master's queue of submitted changes is full.
    #[error("constant extension: {max} changes queued already")]
    QueueFull {
        /// The limit.
        max: usize,
    },
    /// The session is ending or ended: nothing more can be submitted.
    #[error("constant extension: the session is closing")]
    Closing,
    /// The filter rules of `FILTERS` could not be used.
    #[error("constant extension: bad filter list: {reason}")]
    Filter {
        /// Why.
        reason: String,
    },
    /// A token stream that cannot be applied (a block out of range, a literal too long).
    #[error("constant extension: {0}")]
    Apply(#[from] ApplyError),
    /// A sum header that cannot be used.
    #[error("constant extension: {0}")]
    SumHead(#[from] SumHeadError),
    /// An answer that does not fit the outstanding request.
    #[error("constant extension: unexpected file system answer: {what}")]
    UnexpectedAnswer {
        /// What was received.
        what: &'static str,
    },
    /// The peer closed the connection before `BYE`.
    #[error("constant extension: connection closed before BYE")]
    UnexpectedEof,
    /// Master: a name of a directory being listed (between `DIR_BEGIN` and `DIR_END`)
    /// could not be read ([`crate::session::FsAnswer::Unreadable`]): the `DIR_END` that
    /// must follow would delete the mirror's copy, so the session ends (exit code 23).
    #[error("constant extension: {}", String::from_utf8_lossy(message))]
    Unreadable {
        /// The executor's message.
        message: Vec<u8>,
    },
    /// A configuration the roles do not support.
    #[error("constant extension: unsupported: {what}")]
    Unsupported {
        /// What.
        what: &'static str,
    },
}

impl From<FilterError> for ConstantError {
    fn from(e: FilterError) -> Self {
        Self::Filter {
            reason: e.to_string(),
        }
    }
}

impl ConstantError {
    /// The rsync exit code for this error: 2 when the peers cannot agree, 23 for a source
    /// that cannot be read, 12 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Incompatible { .. } | Self::Unsupported { .. } => EXIT_PROTOCOL,
            Self::Unreadable { .. } => STATUS_PARTIAL as i32,
            _ => EXIT_STREAM,
        }
    }
}

/// Checks the options both roles need (RFC.md §15.2: protocol ≥ 31).
pub(crate) fn check_options(opts: &SessionOptions) -> Result<(), ConstantError> {
    if opts.protocol < 31 {
        return Err(ConstantError::Unsupported {
            what: "protocol below 31",
        });
    }
    record_context(opts)
        .flist
        .validate()
        .map_err(|_| ConstantError::Unsupported {
            what: "file-list options",
        })
}
