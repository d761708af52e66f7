//! Tests of the constant extension: records, and a master and a mirror connected in memory
//! over fake file systems.

// The session tests' in-memory file system, compiled here as well (only `Fs` is used).
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../session/tests/fakefs.rs"]
mod fakefs;

mod batch;
mod converge;
mod fake;
mod hostile;
mod pair;
mod records;
mod script;
mod sync;
mod unread;
