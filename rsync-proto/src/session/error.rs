//! Why a session failed, and rsync's exit codes.

use rsync_core::{ApplyError, SumHeadError};

use crate::filter::RejectedName;
use crate::flist::{FlistError, PathError};
use crate::mux::{MsgCode, MuxError};
use crate::sums::SumsError;
use crate::token::TokenError;
use crate::wire::DecodeError;

/// `IOERR_GENERAL`.
pub(crate) const IOERR_GENERAL: i32 = 1;
/// `IOERR_VANISHED`.
pub(crate) const IOERR_VANISHED: i32 = 2;
/// `RERR_PARTIAL`.
pub(crate) const RERR_PARTIAL: i32 = 23;
/// `RERR_VANISHED`.
pub(crate) const RERR_VANISHED: i32 = 24;
/// `RERR_PROTOCOL`.
pub(crate) const RERR_PROTOCOL: i32 = 2;
/// `RERR_STREAMIO`.
pub(crate) const RERR_STREAMIO: i32 = 12;
/// `RERR_UNSUPPORTED`.
pub(crate) const RERR_UNSUPPORTED: i32 = 4;
/// `RERR_MALLOC`.
pub(crate) const RERR_MALLOC: i32 = 22;

/// Why a session failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A primitive could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Bad multiplex frame.
    #[error(transparent)]
    Mux(#[from] MuxError),
    /// Bad file list.
    #[error(transparent)]
    Flist(#[from] FlistError),
    /// Bad sum header or block sums.
    #[error(transparent)]
    Sums(#[from] SumsError),
    /// Bad token.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A token the applier rejected.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A sum header we could not use.
    #[error(transparent)]
    SumHead(#[from] SumHeadError),
    /// A file index outside the list.
    #[error("Invalid file index: {ndx} (list has {count})")]
    InvalidIndex {
        /// Index received.
        ndx: i32,
        /// Entries in the list.
        count: usize,
    },
    /// An index of a duplicate that the sort cleared.
    #[error("refusing transfer of cleared file index {ndx}")]
    ClearedIndex {
        /// Index.
        ndx: i32,
    },
    /// `ITEM_TRANSFER` for something that is not a regular file.
    #[error("received request to transfer non-regular file: {ndx}")]
    NotRegular {
        /// Index.
        ndx: i32,
    },
    /// A transfer request after the redo phase.
    #[error("got transfer request in phase 2")]
    TransferInPhase2 {
        /// Index.
        ndx: i32,
    },
    /// Item flags with an unassigned bit.
    #[error("unknown item flags {iflags:#06x}")]
    UnknownIflags {
        /// Flags received.
        iflags: u16,
    },
    /// A basis type other than the file itself.
    #[error("unsupported basis type {kind:#04x}")]
    UnsupportedBasisType {
        /// The byte received.
        kind: u8,
    },
    /// The sender echoed a different index or sum header than requested.
    #[error("sender echo for index {ndx} does not match the request")]
    EchoMismatch {
        /// Index.
        ndx: i32,
    },
    /// A file the receiver did not ask for, or asked for while another was in progress.
    #[error("unrequested transfer of index {ndx}")]
    Unrequested {
        /// Index.
        ndx: i32,
    },
    /// A filter rule longer than the limit.
    #[error("filter rule of {len} bytes")]
    FilterTooLong {
        /// Length received.
        len: i32,
    },
    /// More filter rules than the limit.
    #[error("more than {max} filter rules")]
    TooManyFilters {
        /// The limit.
        max: usize,
    },
    /// A filter rule from the peer that rsync would refuse.
    #[error("bad filter rule from the peer: {reason}")]
    BadFilter {
        /// Why.
        reason: String,
    },
    /// A `--files-from` name that is not a valid relative path, or too many names.
    #[error("bad --files-from name")]
    BadFilesFrom,
    /// Something at the end of the run other than NDX_DONE.
    #[error("Invalid packet at end of run ({value})")]
    BadGoodbye {
        /// The value read.
        value: i32,
    },
    /// An entry whose parent directory is not in the file list (generator.c: "ABORTING
    /// due to invalid path from sender").
    #[error("ABORTING due to invalid path from sender: {name}")]
    BadPath {
        /// The entry's name (lossy).
        name: String,
    },
    /// A deletion count of `NDX_DEL_STATS` outside `0..=max`.
    #[error("{what} value {value} out of range (0..={max})")]
    OutOfRange {
        /// The field.
        what: &'static str,
        /// The value read.
        value: i64,
        /// The largest value accepted.
        max: i64,
    },
    /// A message code not allowed here.
    #[error("unexpected message {code:?}")]
    UnexpectedMessage {
        /// The code.
        code: MsgCode,
    },
    /// An answer that does not fit the outstanding request.
    #[error("unexpected file system answer: {what}")]
    UnexpectedAnswer {
        /// What was received.
        what: &'static str,
    },
    /// The peer closed the connection early.
    #[error("connection unexpectedly closed ({state})")]
    UnexpectedEof {
        /// What we were doing.
        state: &'static str,
    },
    /// The peer ended the session with `MSG_ERROR_EXIT`.
    #[error("peer exited with code {code}")]
    PeerExit {
        /// Its exit code.
        code: i32,
    },
    /// A file-list name the client did not request or excludes (rsync flist.c
    /// `recv_file_entry`, CVE-2022-29154).
    #[error(transparent)]
    Rejected(#[from] RejectedName),
    /// A combination this implementation does not support.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What.
        what: &'static str,
    },
}

impl SessionError {
    /// The rsync exit code for this error.
    ///
    /// As stock rsync 3.5.0 (RFC.md §13.7): a bad frame is an error in the data stream
    /// ("unexpected tag", "invalid multi-message", 12); an unsafe name in the file list is
    /// "ABORTING due to unsafe pathname from sender" (4, `RERR_UNSUPPORTED`); a name longer
    /// or symlink target longer than `MAXPATHLEN` is rsync's "overflow" (22, `RERR_MALLOC`).
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::UnexpectedEof { .. } | Self::Mux(_) => RERR_STREAMIO,
            Self::PeerExit { code } => *code,
            Self::Rejected(r) => r.exit_code(),
            Self::Unsupported { .. }
            | Self::Flist(FlistError::BadName {
                source: PathError::Absolute | PathError::DotDot | PathError::Nul { .. },
                ..
            }) => RERR_UNSUPPORTED,
            Self::Flist(FlistError::NameTooLong { .. } | FlistError::SymlinkTooLong { .. }) => {
                RERR_MALLOC
            }
            _ => RERR_PROTOCOL,
        }
    }
}

/// The exit code for the sender's io_error bits (`log_exit`/`exit_cleanup`).
pub(crate) fn io_error_exit(io_error: i32) -> i32 {
    if io_error & !IOERR_VANISHED != 0 {
        RERR_PARTIAL
    } else if io_error & IOERR_VANISHED != 0 {
        RERR_VANISHED
    } else {
        0
    }
}
