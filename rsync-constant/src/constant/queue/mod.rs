//! The durable change queue of `--constant` mode: every accepted name is on disk before it
//! counts as accepted, coalesced per path, with a cursor per mirror, `--settle` and
//! `--hot-warn`, and compaction that keeps disk use bounded.
//!
//! # Model
//! The queue is a sequence of entries, each a path with a sequence number ([`Seq`], from 1,
//! never reused). Appending a path that is already queued **moves** it: its old entry is
//! deleted and it gets a new sequence number at the end. So a path is queued at most once (the
//! queue stores names; the content is read when the path is sent, which is "only the latest
//! state is sent"), and every mirror, wherever its cursor is, sees the path exactly once more
//! after each change. A side effect that the design relies on: the time of the last change
//! (`last_seen`) is non-decreasing in sequence order (times are clamped to the largest time
//! seen, so a wall clock stepping back cannot break it).
//!
//! Each mirror has a cursor: every entry up to it was delivered and acknowledged. A mirror is
//! in one of three [`MirrorState`]s: `NeedsFullSync` (new, or fell too far behind: it holds
//! nothing back and must be bootstrapped), `FullSync` (a bootstrap is running; entries
//! appended since [`Queue::begin_full_sync`] are kept for it) and `Live` (it drains entries
//! after its cursor with [`Queue::next_for`] and acknowledges them with [`Queue::ack`]).
//!
//! # `--settle` and `--hot-warn`
//! An entry is eligible once its path has been quiet for `settle`. Because `last_seen` is
//! non-decreasing in sequence order, the first entry that is not settled is followed only by
//! entries that are not settled either, so [`Queue::next_for`] stops there: the cursor can
//! never pass an entry that was not delivered, and a path that keeps changing never blocks
//! others (each change moves it behind them).
//!
//! Changes of a path less than `max(settle, burst_gap)` apart form one burst; a path whose
//! burst has lasted `hot_warn` is reported once per burst in [`Appended::hot`] (the daemon
//! logs it). The burst survives delivery: compaction keeps an entry until its path has been
//! quiet for the burst gap, so that a file rewritten every few milliseconds with `--settle=0`
//! is still recognised as hot.
//!
//! # Storage: why redb
//! [redb] is a pure-Rust embedded key-value store (no C build), a copy-on-write B-tree with
//! checksummed commit slots: a commit is atomic, and [`redb::Durability::Immediate`] makes it
//! durable with one `fdatasync` when [`redb::WriteTransaction::commit`] returns, which is what
//! "on disk before it counts as accepted" needs. One write transaction per batch is the group
//! commit: the fsync is shared by every name of the batch. Freed pages are reused, so with
//! compaction the file stays bounded. A log of checksummed records would need its own
//! indexing (coalescing needs path lookups), compaction and recovery; SQLite would need a C
//! build. Measured with `cargo bench -p rsync-constant --bench queue_throughput` on the
//! development VM (ext4 on virtio, `fdatasync` of 4 KiB p50 ≈ 0.11 ms): a commit of one name
//! p50 ≈ 0.3 ms (about 9 page writes and one `fdatasync`), of 100 names ≈ 0.6 ms, of 1000
//! names ≈ 3 ms, i.e. 3,000 to 250,000 names/s depending on the batch; an ack ≈ 20 µs.
//! redb 4.x is required (not 2.x): 4.2 and 4.3 fixed crash-recovery bugs that could roll back
//! durable commits.
//!
//! Tables:
//! - `by_seq`: `u64` → a record (path, first and last change of its burst, hot reported);
//! - `by_path`: path → `u64`, the only entry of the path (invariant: `by_seq[by_path[p]].path
//!   == p`, and both tables have the same length);
//! - `mirrors`: mirror id → state, cursor, pending count, last ack, state change time;
//! - `meta`: `version`, `next_seq`, `clock` (the largest time stored).
//!
//! Per-mirror pending counts are maintained incrementally (a moved path adds one pending
//! entry only to the mirrors that had already passed its old entry), so status and the
//! backlog bound cost O(1); [`Queue::check`] recomputes them.
//!
//! # Compaction and bounds
//! An entry is deleted once every mirror that holds entries (`Live` and `FullSync`) has
//! passed it and its path has been quiet for the burst gap. [`Queue::append`] deletes a
//! bounded number of such entries in its own transaction (incremental, so a steady state
//! needs no separate pass), [`Queue::compact`] deletes all of them in chunks and enforces
//! the backlog bounds: a mirror with more than `max_backlog_entries` pending entries, or (if
//! `Live`) whose oldest pending change is older than `max_backlog_age`, is switched to
//! `NeedsFullSync` and no longer holds entries back. [`Queue::shrink_file`] gives free pages
//! back to the file system.
//!
//! # Durability of each operation
//! Appends, state changes and compaction commit with `Durability::Immediate`. Acks commit with
//! `Durability::None`: they become durable with the next durable commit (the next append), so
//! a crash can only move a cursor back, and the mirror is sent a few paths again, which is
//! harmless (sending a path sends its current state).
//!
//! # Memory
//! Nothing proportional to the queue length is held in RAM: redb's cache is bounded
//! ([`QueueConfig::cache_size`]), batches are bounded by the caller, [`Queue::next_for`] by
//! its `max`, compaction works in chunks.
//!
//! Time is always passed in (`now`), never read from a clock, so tests are deterministic.
//! The daemon should pass a clock that does not step back (e.g. its start time plus a
//! monotonic elapsed time): a step back of D delays `--settle` by up to D.
//!
//! [redb]: https://www.redb.org

mod record;
mod write;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use self::record::{MirrorRow, Record, Stamp};
use super::names::{normalize, Name};

const BY_SEQ: TableDefinition<'static, u64, &'static [u8]> = TableDefinition::new("by_seq");
const BY_PATH: TableDefinition<'static, &'static [u8], u64> = TableDefinition::new("by_path");
const MIRRORS: TableDefinition<'static, &'static [u8], &'static [u8]> =
    TableDefinition::new("mirrors");
const META: TableDefinition<'static, &'static str, u64> = TableDefinition::new("meta");

const META_VERSION: &str = "version";
const META_NEXT_SEQ: &str = "next_seq";
const META_CLOCK: &str = "clock";

/// The on-disk format version this code reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// Longest mirror id accepted, in bytes.
pub const MAX_MIRROR_ID: usize = 4096;

/// A sequence number: the position of an entry in the queue. Numbers start at 1 and are never
/// reused; a cursor of `Seq(0)` means "nothing delivered yet".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq(pub u64);

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Tuning of a [`Queue`]. Not stored: a queue may be reopened with another configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// `--settle`: an entry is delivered only once its path has been quiet this long.
    pub settle: Duration,
    /// `--hot-warn`: report a path whose burst of changes has lasted this long (`None`: off).
    pub hot_warn: Option<Duration>,
    /// Changes of a path closer than `max(settle, burst_gap)` belong to one burst.
    pub burst_gap: Duration,
    /// A mirror with more pending entries than this is switched to
    /// [`MirrorState::NeedsFullSync`]. Each entry costs roughly 100 bytes plus twice its path
    /// length on disk.
    pub max_backlog_entries: u64,
    /// A `Live` mirror whose oldest pending change is older than this is switched to
    /// [`MirrorState::NeedsFullSync`] by [`Queue::compact`] (`None`: no age bound).
    pub max_backlog_age: Option<Duration>,
    /// redb's page cache, in bytes.
    pub cache_size: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            settle: Duration::ZERO,
            hot_warn: None,
            burst_gap: Duration::from_secs(1),
            max_backlog_entries: 4_000_000,
            max_backlog_age: None,
            cache_size: 4 << 20,
        }
    }
}

impl QueueConfig {
    /// The gap that ends a burst: `max(settle, burst_gap)`.
    pub fn effective_burst_gap(&self) -> Duration {
        self.settle.max(self.burst_gap)
    }
}

/// Where a mirror stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorState {
    /// Delivering entries after its cursor.
    Live,
    /// New, or fell too far behind: must be bootstrapped with a full sync; holds nothing back.
    NeedsFullSync,
    /// A full sync is running; entries appended since it began are kept for it.
    FullSync,
}

impl fmt::Display for MirrorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Live => "live",
            Self::NeedsFullSync => "needs full sync",
            Self::FullSync => "full sync",
        })
    }
}

/// The queue's typed error.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The database reported an error (I/O, or corruption it detected).
    #[error("queue database: {0}")]
    Db(#[from] redb::Error),
    /// Another process (or another `Queue` in this one) has the file open.
    #[error("queue database {}: already in use", path.display())]
    Locked {
        /// The queue file.
        path: PathBuf,
    },
    /// A row read back breaks the queue's format or invariants.
    #[error("queue database is corrupt (table {table}): {what}")]
    Corrupt {
        /// The table the damage was found in.
        table: &'static str,
        /// What is wrong, naming the row.
        what: String,
    },
    /// The file was written by another version of the queue.
    #[error("queue format version {found}, this program reads version {expected}")]
    Version {
        /// The version found in the file.
        found: u64,
        /// [`FORMAT_VERSION`].
        expected: u64,
    },
    /// The mirror id is empty or longer than [`MAX_MIRROR_ID`].
    #[error("invalid mirror id of {len} bytes")]
    InvalidMirror {
        /// Its length.
        len: usize,
    },
    /// No such mirror (see [`Queue::add_mirror`]).
    #[error("unknown mirror {0:?}")]
    UnknownMirror(String),
    /// An acknowledgement beyond the last sequence number ever assigned.
    #[error("mirror {mirror:?}: ack of {upto} beyond the last sequence number {last}")]
    AckBeyondEnd {
        /// The mirror (lossily decoded).
        mirror: String,
        /// The acknowledged sequence number.
        upto: Seq,
        /// The last sequence number assigned.
        last: Seq,
    },
    /// The operation needs the mirror in another state.
    #[error("mirror {mirror:?}: cannot {op} in state {state}")]
    WrongState {
        /// The mirror (lossily decoded).
        mirror: String,
        /// The operation.
        op: &'static str,
        /// The mirror's state.
        state: MirrorState,
    },
}

macro_rules! redb_error {
    ($($t:ty),*) => {$(
        impl From<$t> for QueueError {
            fn from(e: $t) -> Self {
                Self::Db(e.into())
            }
        }
    )*};
}
redb_error!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::CompactionError,
    redb::SetDurabilityError
);

/// One entry handed to a mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its sequence number (acknowledge up to it with [`Queue::ack`]).
    pub seq: Seq,
    /// The changed path, relative to SRC.
    pub name: Name,
    /// When the path last changed (for latency and lag figures).
    pub last_seen: SystemTime,
}

/// What [`Queue::next_for`] has for a mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Entries to deliver, in sequence order (possibly none).
    Entries {
        /// At most `max` entries, all settled.
        entries: Vec<Entry>,
        /// When the first entry held back by `--settle` becomes eligible, if one was.
        settle_at: Option<SystemTime>,
    },
    /// The mirror must be bootstrapped first ([`Queue::begin_full_sync`]).
    NeedsFullSync,
    /// The mirror's full sync is running ([`Queue::end_full_sync`] ends it).
    InFullSync,
}

/// What [`Queue::append`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Appended {
    /// The sequence number of the first name of the batch (`Seq(0)` for an empty batch).
    pub first: Seq,
    /// The sequence number of the last name of the batch (`Seq(0)` for an empty batch).
    pub last: Seq,
    /// How many names of the batch were already queued (and were moved to the end).
    pub coalesced: u64,
    /// Paths whose burst of changes has now lasted `hot_warn` (reported once per burst).
    pub hot: Vec<Name>,
    /// Mirrors switched to [`MirrorState::NeedsFullSync`] because their backlog is too long.
    pub demoted: Vec<Vec<u8>>,
    /// Entries deleted by the incremental compaction.
    pub compacted: u64,
}

/// What [`Queue::compact`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Entries deleted.
    pub removed: u64,
    /// Mirrors switched to [`MirrorState::NeedsFullSync`].
    pub demoted: Vec<Vec<u8>>,
}

/// One mirror's status (for `--status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorStatus {
    /// The mirror id.
    pub mirror: Vec<u8>,
    /// Its state.
    pub state: MirrorState,
    /// Its cursor (for [`MirrorState::FullSync`]: where the full sync started).
    pub cursor: Seq,
    /// Entries waiting for it (0 unless it holds entries).
    pub pending: u64,
    /// The age of its oldest pending change (zero when none).
    pub lag: Duration,
    /// Its last acknowledgement.
    pub last_ack: Option<SystemTime>,
    /// When it entered its state.
    pub state_since: SystemTime,
}

/// The whole queue's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStatus {
    /// Entries stored (including delivered ones not yet compacted).
    pub entries: u64,
    /// The last sequence number assigned.
    pub last_seq: Seq,
    /// Size of the queue file in bytes.
    pub file_bytes: u64,
    /// Every mirror, in id order.
    pub mirrors: Vec<MirrorStatus>,
}

/// The durable change queue. See the [module docs](self).
///
/// `Send + Sync`: share it (`Arc`) between the feed thread and the mirror drainers; redb
/// serialises write transactions and lets reads run concurrently.
pub struct Queue {
    db: Database,
    path: PathBuf,
    config: QueueConfig,
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("path", &self.path)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// Opens the queue file at `path`, creating it if missing. After a crash redb checks and
    /// repairs the file first (a walk of the whole file, which compaction keeps small).
    ///
    /// # Errors
    /// [`QueueError::Locked`] if the file is in use, [`QueueError::Version`] for a file of
    /// another format, [`QueueError::Db`] for I/O errors or a file that is not a queue.
    pub fn open(path: &Path, config: QueueConfig) -> Result<Self, QueueError> {
        let db = Database::builder()
            .set_cache_size(config.cache_size)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => QueueError::Locked {
                    path: path.to_owned(),
                },
                e => e.into(),
            })?;
        let txn = db.begin_write()?;
        {
            let by_seq = txn.open_table(BY_SEQ)?;
            txn.open_table(BY_PATH)?;
            txn.open_table(MIRRORS)?;
            let mut meta = txn.open_table(META)?;
            let version = meta.get(META_VERSION)?.map(|g| g.value());
            match version {
                Some(FORMAT_VERSION) => {}
                Some(found) => {
                    return Err(QueueError::Version {
                        found,
                        expected: FORMAT_VERSION,
                    })
                }
                None if by_seq.is_empty()? => {
                    meta.insert(META_VERSION, FORMAT_VERSION)?;
                    meta.insert(META_NEXT_SEQ, 1)?;
                }
                None => {
                    return Err(QueueError::Corrupt {
                        table: "meta",
                        what: "no format version".into(),
                    })
                }
            }
        }
        txn.commit()?;
        Ok(Self {
            db,
            path: path.to_owned(),
            config,
        })
    }

    /// The configuration the queue was opened with.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// The queue file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entries [`Live`](MirrorState::Live) mirror `mirror` may be sent next: up to `max`
    /// settled entries with a sequence number above both its cursor and `after` (pass the last
    /// sequence number already in flight to pipeline; `None` to start at the cursor), in
    /// sequence order, stopping at the first entry not settled at `now`.
    ///
    /// Acknowledge with [`Queue::ack`] only a contiguous delivered prefix.
    ///
    /// # Errors
    /// [`QueueError::UnknownMirror`], database errors, corrupt rows.
    pub fn next_for(
        &self,
        mirror: &[u8],
        after: Option<Seq>,
        max: usize,
        now: SystemTime,
    ) -> Result<Next, QueueError> {
        check_mirror_id(mirror)?;
        let txn = self.db.begin_read()?;
        let mirrors = txn.open_table(MIRRORS)?;
        let row = match mirrors.get(mirror)? {
            Some(g) => MirrorRow::decode(mirror, g.value())?,
            None => return Err(unknown(mirror)),
        };
        match row.state {
            MirrorState::NeedsFullSync => return Ok(Next::NeedsFullSync),
            MirrorState::FullSync => return Ok(Next::InFullSync),
            MirrorState::Live => {}
        }
        let start = row.cursor.max(after.map_or(0, |s| s.0)).saturating_add(1);
        let now = Stamp::from_system(now);
        let by_seq = txn.open_table(BY_SEQ)?;
        let mut entries = Vec::with_capacity(max.min(4096));
        let mut settle_at = None;
        for item in by_seq.range(start..)? {
            if entries.len() >= max {
                break;
            }
            let (k, v) = item?;
            let seq = k.value();
            let rec = Record::decode(seq, v.value())?;
            if now.since(rec.last_seen) < self.config.settle {
                settle_at = Some(rec.last_seen.plus(self.config.settle).to_system());
                break;
            }
            entries.push(Entry {
                seq: Seq(seq),
                name: stored_name(seq, rec.path)?,
                last_seen: rec.last_seen.to_system(),
            });
        }
        Ok(Next::Entries { entries, settle_at })
    }

    /// The status of the queue and of every mirror at `now`.
    ///
    /// # Errors
    /// Database errors, corrupt rows.
    pub fn status(&self, now: SystemTime) -> Result<QueueStatus, QueueError> {
        let now = Stamp::from_system(now);
        let txn = self.db.begin_read()?;
        let by_seq = txn.open_table(BY_SEQ)?;
        let meta = txn.open_table(META)?;
        let mirrors = txn.open_table(MIRRORS)?;
        let next = meta.get(META_NEXT_SEQ)?.map_or(1, |g| g.value());
        let mut out = Vec::new();
        for item in mirrors.iter()? {
            let (k, v) = item?;
            let id = k.value().to_vec();
            let row = MirrorRow::decode(&id, v.value())?;
            let mut lag = Duration::ZERO;
            if row.holds_entries() {
                if let Some(first) = by_seq.range(row.cursor.saturating_add(1)..)?.next() {
                    let (k, v) = first?;
                    lag = now.since(Record::decode(k.value(), v.value())?.last_seen);
                }
            }
            out.push(MirrorStatus {
                mirror: id,
                state: row.state,
                cursor: Seq(row.cursor),
                pending: if row.holds_entries() { row.pending } else { 0 },
                lag,
                last_ack: (row.last_ack.0 != 0).then(|| row.last_ack.to_system()),
                state_since: row.since.to_system(),
            });
        }
        Ok(QueueStatus {
            entries: by_seq.len()?,
            last_seq: Seq(next.saturating_sub(1)),
            file_bytes: std::fs::metadata(&self.path).map_or(0, |m| m.len()),
            mirrors: out,
        })
    }

    /// Verifies every invariant of the stored queue (a full scan: for tests and for an
    /// explicit check, not for the hot path): every row decodes, `by_seq` and `by_path` agree,
    /// sequence numbers are below `next_seq`, `last_seen` is non-decreasing in sequence order,
    /// and every mirror's pending count is the number of entries after its cursor.
    ///
    /// # Errors
    /// [`QueueError::Corrupt`] naming the first violation; database errors.
    pub fn check(&self) -> Result<(), QueueError> {
        let txn = self.db.begin_read()?;
        let by_seq = txn.open_table(BY_SEQ)?;
        let by_path = txn.open_table(BY_PATH)?;
        let meta = txn.open_table(META)?;
        let mirrors = txn.open_table(MIRRORS)?;
        let next = meta.get(META_NEXT_SEQ)?.map_or(1, |g| g.value());
        let clock = Stamp(meta.get(META_CLOCK)?.map_or(0, |g| g.value()));
        let corrupt = |table, what: String| Err(QueueError::Corrupt { table, what });
        let mut last = Stamp(0);
        for item in by_seq.iter()? {
            let (k, v) = item?;
            let seq = k.value();
            let rec = Record::decode(seq, v.value())?;
            stored_name(seq, rec.path)?;
            if seq >= next {
                return corrupt("by_seq", format!("row {seq} at or after next_seq {next}"));
            }
            if rec.last_seen < last || rec.last_seen > clock {
                return corrupt("by_seq", format!("row {seq}: last change out of order"));
            }
            last = rec.last_seen;
            if by_path.get(rec.path)?.map(|g| g.value()) != Some(seq) {
                return corrupt("by_path", format!("no entry pointing at row {seq}"));
            }
        }
        if by_path.len()? != by_seq.len()? {
            return corrupt("by_path", "length differs from by_seq".into());
        }
        for item in mirrors.iter()? {
            let (k, v) = item?;
            let row = MirrorRow::decode(k.value(), v.value())?;
            if row.cursor >= next {
                return corrupt("mirrors", format!("cursor {} beyond the end", row.cursor));
            }
            if row.holds_entries() {
                let n = by_seq.range(row.cursor.saturating_add(1)..)?.count() as u64;
                if n != row.pending {
                    return corrupt(
                        "mirrors",
                        format!(
                            "mirror {}: {} pending recorded, {n} stored",
                            String::from_utf8_lossy(k.value()),
                            row.pending
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    /// Gives the file's free pages back to the file system (redb's `compact`). Needs the queue
    /// to itself; pays after a long backlog was compacted away (e.g. at start-up).
    ///
    /// # Errors
    /// Database errors (including a transaction still running).
    pub fn shrink_file(&mut self) -> Result<bool, QueueError> {
        Ok(self.db.compact()?)
    }
}

fn check_mirror_id(mirror: &[u8]) -> Result<(), QueueError> {
    if mirror.is_empty() || mirror.len() > MAX_MIRROR_ID {
        return Err(QueueError::InvalidMirror { len: mirror.len() });
    }
    Ok(())
}

fn unknown(mirror: &[u8]) -> QueueError {
    QueueError::UnknownMirror(String::from_utf8_lossy(mirror).into_owned())
}

/// Re-validates a stored path: the file may have been damaged.
fn stored_name(seq: u64, path: &[u8]) -> Result<Name, QueueError> {
    match normalize(path) {
        Ok(n) if n.as_bytes() == path => Ok(n),
        _ => Err(QueueError::Corrupt {
            table: "by_seq",
            what: format!("row {seq}: invalid path"),
        }),
    }
}
