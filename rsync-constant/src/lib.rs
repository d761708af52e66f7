//! The internal library of the `rsync-constant` binaries: command-line options with rsync's
//! meaning and exit codes. Not a stable API: depend on `rsync-core` and `rsync-proto`.

#![forbid(unsafe_code)]

pub mod exit;
pub mod options;
