//! [`FsError`]: the file-system layer's typed error, naming the operation
//! and the (lossily displayed) path it failed on.

use std::{fmt, io};

use super::meta::FileKind;
use super::path::PathError;

/// The operation that failed, for messages and for tests to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Opening the destination directory itself.
    OpenDestination,
    /// Resolving the parent directory of a path beneath the destination.
    Resolve,
    /// Creating a directory.
    Mkdir,
    /// Reading metadata without following symlinks.
    Lstat,
    /// Opening a basis file for reading.
    OpenBasis,
    /// Reading from a basis file.
    Read,
    /// Creating a temporary file.
    CreateTemp,
    /// Writing to a temporary file.
    Write,
    /// Setting mode, times or ownership.
    SetMeta,
    /// Renaming a temporary name over the final name.
    Rename,
    /// Creating a symlink.
    Symlink,
    /// Reading a symlink's target.
    Readlink,
    /// Creating a hard link.
    HardLink,
    /// Creating a device, FIFO or socket.
    Mknod,
    /// Removing an entry.
    Remove,
    /// Listing a directory.
    ReadDir,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OpenDestination => "open destination",
            Self::Resolve => "resolve",
            Self::Mkdir => "mkdir",
            Self::Lstat => "lstat",
            Self::OpenBasis => "open basis",
            Self::Read => "read",
            Self::CreateTemp => "create temp file",
            Self::Write => "write",
            Self::SetMeta => "set metadata",
            Self::Rename => "rename",
            Self::Symlink => "symlink",
            Self::Readlink => "readlink",
            Self::HardLink => "hard link",
            Self::Mknod => "mknod",
            Self::Remove => "remove",
            Self::ReadDir => "read directory",
        })
    }
}

/// An error from the file-system layer.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// A system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: Op,
        /// The path, lossily displayed with control characters escaped.
        path: String,
        /// The underlying error (see [`FsError::errno`]).
        #[source]
        source: io::Error,
    },
    /// A name read from disk or built by joining is not a valid path.
    #[error("{op} {path}: {source}")]
    Path {
        /// What was being done.
        op: Op,
        /// The offending path, lossily displayed.
        path: String,
        /// Why it is invalid.
        #[source]
        source: PathError,
    },
    /// The entry exists but has the wrong kind (e.g. a basis that is a FIFO).
    #[error("{op} {path}: is a {found}, expected a {expected}")]
    WrongKind {
        /// What was being done.
        op: Op,
        /// The path, lossily displayed.
        path: String,
        /// What was found.
        found: FileKind,
        /// What the operation needs.
        expected: FileKind,
    },
    /// An argument is out of range (e.g. nanoseconds ≥ 10⁹, NUL in a link
    /// target).
    #[error("{op} {path}: invalid argument: {what}")]
    Invalid {
        /// What was being done.
        op: Op,
        /// The path, lossily displayed.
        path: String,
        /// Which argument.
        what: &'static str,
    },
    /// Creating a device node needs root (rsync skips devices otherwise).
    #[error("mknod {path}: creating a device node requires root")]
    NeedsRoot {
        /// The path, lossily displayed.
        path: String,
    },
}

impl FsError {
    pub(crate) fn io(op: Op, path: impl Into<String>, source: impl Into<io::Error>) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source: source.into(),
        }
    }

    /// The operation that failed.
    pub fn op(&self) -> Op {
        match self {
            Self::Io { op, .. }
            | Self::Path { op, .. }
            | Self::WrongKind { op, .. }
            | Self::Invalid { op, .. } => *op,
            Self::NeedsRoot { .. } => Op::Mknod,
        }
    }

    /// The OS error number, when a system call failed.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The path the error is about, lossily displayed.
    pub fn path(&self) -> &str {
        match self {
            Self::Io { path, .. }
            | Self::Path { path, .. }
            | Self::WrongKind { path, .. }
            | Self::Invalid { path, .. }
            | Self::NeedsRoot { path } => path,
        }
    }
}
