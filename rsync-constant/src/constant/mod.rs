//! The foundations of `--constant` mode: the FIFO feed of changed names and the durable,
//! coalescing, per-mirror change queue they go into.
//!
//! The data flow is `FIFO -> [`feed`] (a reader thread) -> [`names`] (parse, normalise,
//! reject) -> batch of names -> [`queue`] (one durable commit per batch) -> per-mirror
//! drainers`. A name counts as accepted only once [`queue::Queue::append`] has returned: that
//! is the point where it survives `kill -9`.
//!
//! - [`names`]: the pure streaming parser of the FIFO byte stream (NUL- or newline-separated,
//!   names split across reads joined, over-long names dropped in bounded memory).
//! - [`feed`]: opens or creates the FIFO (mode 0600), reads it on a dedicated thread, reopens
//!   it when the last writer closes, hands every read's accepted names over as one batch and
//!   logs rejections.
//! - [`queue`]: the redb-backed queue: group commit, per-path coalescing, a cursor per mirror,
//!   `--settle` and `--hot-warn`, bounded disk use through compaction and the demotion of
//!   mirrors that fall too far behind to a full resync.
//! - [`daemon`]: the daemon itself: the feed into the queue, one independent loop per mirror
//!   over a [`daemon::Link`] (a loop of one-shot sessions, or the streaming extension), with
//!   backoff, bootstrap and the status file.

pub mod daemon;
pub mod feed;
pub mod names;
pub mod queue;
