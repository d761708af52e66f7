//! The file-system side: directory-handle-anchored operations on a
//! destination ([`Destination`]), atomic file replacement ([`TempFile`]),
//! in-place updates (`--inplace`, [`InPlaceFile`]),
//! validated byte paths ([`RelPath`]) and a symlink-safe tree walk
//! ([`walk()`]).
//!
//! # Security
//! Every path a peer can influence is a [`RelPath`] (relative, no `..`) and
//! is resolved beneath a held directory file descriptor with `openat2`
//! (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`) or, where
//! `openat2` is unavailable, a component-by-component walk with
//! `O_NOFOLLOW | O_DIRECTORY`. The final component is then operated on with
//! an `*at` call that does not follow symlinks either. A symlink anywhere
//! in a path is therefore an error, never followed (the rsync CVE-2024-12087,
//! CVE-2024-12088, CVE-2026-29518 and CVE-2026-43619 classes).

mod dest;
mod dircache;
mod error;
mod inplace;
mod meta;
pub mod path;
mod resolve;
mod temp;
mod walk;

#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod tests;

pub use dest::{Basis, Destination, Special};
pub use error::{FsError, Op};
pub use inplace::InPlaceFile;
pub use meta::{Attrs, FileKind, Meta, Mtime};
pub use path::{PathError, RelPath};
pub use temp::TempFile;
pub use walk::{open_dir_beneath, walk, Entry, Walk};
