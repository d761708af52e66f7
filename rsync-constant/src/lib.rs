//! Internal library of the rsync-constant binaries; not a stable API.
//!
//! [`fs`] is the receiver's (and sender's) file-system side: every operation
//! is anchored to a held directory handle and resolves peer-chosen names
//! with `*at` system calls, never string-joined paths.

pub mod fs;
