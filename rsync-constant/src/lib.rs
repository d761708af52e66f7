//! The internal library of the `rsync-constant` binaries; not a stable API (depend on
//! `rsync-core` and `rsync-proto` instead).
//!
//! - [`options`]: command-line options with rsync's meaning, and the server's argv;
//! - [`exit`]: rsync's exit codes;
//! - [`transfer`]: the sender's and receiver's file-system executors for the driver;
//! - [`itemize`]: rsync's `--itemize-changes` strings;
//! - [`fs`]: the receiver's (and sender's) file-system side: every operation is anchored to
//!   a held directory handle and resolves peer-chosen names with `*at` system calls, never
//!   string-joined paths;
//! - [`constant`]: the foundations of `--constant` mode: the FIFO name feed and the durable
//!   per-mirror change queue.

#![forbid(unsafe_code)]

pub mod constant;
pub mod exit;
pub mod fs;
pub mod itemize;
pub mod options;
pub mod transfer;
