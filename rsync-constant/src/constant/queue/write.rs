//! The queue's write transactions: [`Queue::append`] (the group commit), acknowledgements,
//! mirror life cycle (add, full sync, remove) and compaction.

use std::time::SystemTime;

use redb::{Durability, ReadableTable, Table, WriteTransaction};

use super::record::{MirrorRow, Record, Stamp};
use super::{
    check_mirror_id, unknown, Appended, Compacted, MirrorState, Queue, QueueError, Seq, BY_PATH,
    BY_SEQ, META, META_CLOCK, META_NEXT_SEQ, MIRRORS,
};
use crate::constant::names::Name;

/// Entries deleted per transaction by [`Queue::compact`], so that an append never waits long
/// for the write lock (about 3 ms per chunk measured, fsync included).
const COMPACT_CHUNK: u64 = 1024;

/// Extra entries the incremental compaction of one append may delete beyond twice the batch
/// length (so that it outpaces the appends and catches up after an acknowledgement burst).
const APPEND_COMPACT_SLACK: u64 = 64;

/// The four tables, opened in one write transaction.
struct Tables<'t> {
    by_seq: Table<'t, u64, &'static [u8]>,
    by_path: Table<'t, &'static [u8], u64>,
    mirrors: Table<'t, &'static [u8], &'static [u8]>,
    meta: Table<'t, &'static str, u64>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, QueueError> {
        Ok(Self {
            by_seq: txn.open_table(BY_SEQ)?,
            by_path: txn.open_table(BY_PATH)?,
            mirrors: txn.open_table(MIRRORS)?,
            meta: txn.open_table(META)?,
        })
    }

    /// The next sequence number to assign (1 for an empty queue).
    fn next_seq(&self) -> Result<u64, QueueError> {
        match self.meta.get(META_NEXT_SEQ)?.map(|g| g.value()) {
            Some(n) if n >= 1 => Ok(n),
            _ => Err(QueueError::Corrupt {
                table: "meta",
                what: "missing or zero next_seq".into(),
            }),
        }
    }

    fn clock(&self) -> Result<Stamp, QueueError> {
        Ok(Stamp(self.meta.get(META_CLOCK)?.map_or(0, |g| g.value())))
    }

    fn load_mirrors(&self) -> Result<Vec<(Vec<u8>, MirrorRow)>, QueueError> {
        let mut out = Vec::new();
        for item in self.mirrors.iter()? {
            let (k, v) = item?;
            let id = k.value().to_vec();
            let row = MirrorRow::decode(&id, v.value())?;
            out.push((id, row));
        }
        Ok(out)
    }

    fn mirror(&self, id: &[u8]) -> Result<MirrorRow, QueueError> {
        match self.mirrors.get(id)? {
            Some(g) => MirrorRow::decode(id, g.value()),
            None => Err(unknown(id)),
        }
    }

    fn put_mirror(&mut self, id: &[u8], row: &MirrorRow) -> Result<(), QueueError> {
        self.mirrors.insert(id, row.encode().as_slice())?;
        Ok(())
    }

    /// Deletes up to `limit` entries from the front whose sequence number is at most `upto`
    /// and, with `quiet_before`, whose last change is not after it. Returns how many.
    fn compact_prefix(
        &mut self,
        upto: u64,
        quiet_before: Option<Stamp>,
        limit: u64,
    ) -> Result<u64, QueueError> {
        let mut removed = 0;
        while removed < limit {
            let (seq, path) = {
                let Some((k, v)) = self.by_seq.first()? else {
                    break;
                };
                let seq = k.value();
                if seq > upto {
                    break;
                }
                let rec = Record::decode(seq, v.value())?;
                if quiet_before.is_some_and(|q| rec.last_seen > q) {
                    break;
                }
                (seq, rec.path.to_vec())
            };
            self.by_seq.remove(seq)?;
            let owner = self.by_path.remove(path.as_slice())?.map(|g| g.value());
            if owner != Some(seq) {
                return Err(QueueError::Corrupt {
                    table: "by_path",
                    what: format!("row {seq}'s path points at {owner:?}"),
                });
            }
            removed += 1;
        }
        Ok(removed)
    }
}

/// The compaction bound: the smallest cursor of the mirrors that hold entries, or everything
/// when none does.
fn min_cursor(mirrors: &[(Vec<u8>, MirrorRow)], next: u64) -> u64 {
    mirrors
        .iter()
        .filter(|(_, m)| m.holds_entries())
        .map(|(_, m)| m.cursor)
        .min()
        .unwrap_or(next.saturating_sub(1))
}

fn demote(row: &mut MirrorRow, now: Stamp) {
    row.state = MirrorState::NeedsFullSync;
    row.pending = 0;
    row.since = now;
}

impl Queue {
    /// Appends one batch of changed names in one durable transaction (the group commit): when
    /// this returns `Ok`, every name of the batch is on disk. A name already queued is moved
    /// to the end (coalescing). Also runs a bounded step of compaction and demotes mirrors
    /// whose backlog exceeds [`QueueConfig::max_backlog_entries`](super::QueueConfig).
    ///
    /// # Errors
    /// Database errors (then nothing of the batch is stored), corrupt rows.
    pub fn append(&self, names: &[Name], now: SystemTime) -> Result<Appended, QueueError> {
        let mut out = Appended::default();
        if names.is_empty() {
            return Ok(out);
        }
        let txn = self.db.begin_write()?;
        {
            let mut t = Tables::open(&txn)?;
            let mut next = t.next_seq()?;
            let clock = t.clock()?.max(Stamp::from_system(now));
            let gap = self.config.effective_burst_gap();
            let mut mirrors = t.load_mirrors()?;
            out.first = Seq(next);
            for name in names {
                let seq = next;
                next = next.checked_add(1).ok_or_else(|| QueueError::Corrupt {
                    table: "meta",
                    what: "sequence numbers exhausted".into(),
                })?;
                let path = name.as_bytes();
                let old = t.by_path.insert(path, seq)?.map(|g| g.value());
                let (mut first_seen, mut hot) = (clock, false);
                if let Some(old) = old {
                    out.coalesced += 1;
                    let guard = t.by_seq.remove(old)?.ok_or_else(|| QueueError::Corrupt {
                        table: "by_path",
                        what: format!("points at missing row {old}"),
                    })?;
                    let rec = Record::decode(old, guard.value())?;
                    if rec.path != path {
                        return Err(QueueError::Corrupt {
                            table: "by_path",
                            what: format!("points at row {old} of another path"),
                        });
                    }
                    if clock.since(rec.last_seen) < gap {
                        first_seen = rec.first_seen;
                        hot = rec.hot_reported;
                    }
                    // Mirrors that had passed the old entry have one more pending; for the
                    // others the old pending entry is replaced by the new one.
                    for (_, m) in &mut mirrors {
                        if m.holds_entries() && m.cursor >= old {
                            m.pending += 1;
                        }
                    }
                } else {
                    for (_, m) in &mut mirrors {
                        if m.holds_entries() {
                            m.pending += 1;
                        }
                    }
                }
                if let Some(limit) = self.config.hot_warn {
                    if !hot && clock.since(first_seen) >= limit {
                        hot = true;
                        out.hot.push(name.clone());
                    }
                }
                let rec = Record {
                    first_seen,
                    last_seen: clock,
                    hot_reported: hot,
                    path,
                };
                t.by_seq.insert(seq, rec.encode().as_slice())?;
            }
            out.last = Seq(next - 1);
            for (id, m) in &mut mirrors {
                if m.holds_entries() && m.pending > self.config.max_backlog_entries {
                    demote(m, clock);
                    out.demoted.push(id.clone());
                }
                t.put_mirror(id, m)?;
            }
            t.meta.insert(META_NEXT_SEQ, next)?;
            t.meta.insert(META_CLOCK, clock.0)?;
            let limit = (names.len() as u64)
                .saturating_mul(2)
                .saturating_add(APPEND_COMPACT_SLACK);
            out.compacted =
                t.compact_prefix(min_cursor(&mirrors, next), self.quiet_before(clock), limit)?;
        }
        txn.commit()?;
        Ok(out)
    }

    /// With `--hot-warn`, entries are kept until their path has been quiet for the burst gap
    /// (so that a burst is recognised across deliveries); otherwise as soon as delivered.
    fn quiet_before(&self, clock: Stamp) -> Option<Stamp> {
        self.config.hot_warn.map(|_| {
            let gap = u64::try_from(self.config.effective_burst_gap().as_nanos());
            Stamp(clock.0.saturating_sub(gap.unwrap_or(u64::MAX)))
        })
    }

    /// Acknowledges that every entry up to `upto` was delivered to `mirror`: its cursor moves
    /// there. Returns `false` (and changes nothing) if the mirror is no longer
    /// [`Live`](MirrorState::Live), e.g. it was demoted while the transfer ran. An ack at or
    /// below the cursor only records the time.
    ///
    /// Committed with `Durability::None` (see the [module docs](super)).
    ///
    /// # Errors
    /// [`QueueError::UnknownMirror`], [`QueueError::AckBeyondEnd`], database errors.
    pub fn ack(&self, mirror: &[u8], upto: Seq, now: SystemTime) -> Result<bool, QueueError> {
        check_mirror_id(mirror)?;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::None)?;
        let advanced = {
            let mut t = Tables::open(&txn)?;
            let mut row = t.mirror(mirror)?;
            let last = t.next_seq()? - 1;
            if upto.0 > last {
                return Err(QueueError::AckBeyondEnd {
                    mirror: String::from_utf8_lossy(mirror).into_owned(),
                    upto,
                    last: Seq(last),
                });
            }
            if row.state == MirrorState::Live {
                if upto.0 > row.cursor {
                    let n = t.by_seq.range(row.cursor + 1..=upto.0)?.count() as u64;
                    row.pending = row.pending.saturating_sub(n);
                    row.cursor = upto.0;
                }
                row.last_ack = Stamp::from_system(now);
                t.put_mirror(mirror, &row)?;
                true
            } else {
                false
            }
        };
        txn.commit()?;
        Ok(advanced)
    }

    /// Registers `mirror` if it is new (in state [`MirrorState::NeedsFullSync`]); returns its
    /// state.
    ///
    /// # Errors
    /// [`QueueError::InvalidMirror`], database errors.
    pub fn add_mirror(&self, mirror: &[u8], now: SystemTime) -> Result<MirrorState, QueueError> {
        check_mirror_id(mirror)?;
        let txn = self.db.begin_write()?;
        let state = {
            let mut t = Tables::open(&txn)?;
            let existing = t
                .mirrors
                .get(mirror)?
                .map(|g| MirrorRow::decode(mirror, g.value()))
                .transpose()?;
            match existing {
                Some(row) => row.state,
                None => {
                    let row = MirrorRow {
                        state: MirrorState::NeedsFullSync,
                        cursor: 0,
                        pending: 0,
                        last_ack: Stamp(0),
                        since: Stamp::from_system(now),
                    };
                    t.put_mirror(mirror, &row)?;
                    row.state
                }
            }
        };
        txn.commit()?;
        Ok(state)
    }

    /// Forgets `mirror` (it no longer holds entries back). Returns whether it existed.
    ///
    /// # Errors
    /// Database errors.
    pub fn remove_mirror(&self, mirror: &[u8]) -> Result<bool, QueueError> {
        check_mirror_id(mirror)?;
        let txn = self.db.begin_write()?;
        let existed = txn.open_table(MIRRORS)?.remove(mirror)?.is_some();
        txn.commit()?;
        Ok(existed)
    }

    /// Starts (or restarts) a full sync of `mirror`, whatever its state: from now on every
    /// appended entry is kept for it, and once [`Queue::end_full_sync`] is called it drains
    /// them from the returned sequence number on. The tree walk of the full sync must start
    /// after this returns; then no change is lost: a change appended before is seen by the
    /// walk, one appended after is delivered after the walk.
    ///
    /// # Errors
    /// [`QueueError::UnknownMirror`], database errors.
    pub fn begin_full_sync(&self, mirror: &[u8], now: SystemTime) -> Result<Seq, QueueError> {
        check_mirror_id(mirror)?;
        let txn = self.db.begin_write()?;
        let since = {
            let mut t = Tables::open(&txn)?;
            let mut row = t.mirror(mirror)?;
            let since = t.next_seq()? - 1;
            row.state = MirrorState::FullSync;
            row.cursor = since;
            row.pending = 0;
            row.since = Stamp::from_system(now);
            t.put_mirror(mirror, &row)?;
            since
        };
        txn.commit()?;
        Ok(Seq(since))
    }

    /// Ends the full sync of `mirror`: it becomes [`Live`](MirrorState::Live) with its cursor
    /// where the full sync began.
    ///
    /// # Errors
    /// [`QueueError::WrongState`] if no full sync is running (e.g. the mirror was demoted
    /// meanwhile: start again), [`QueueError::UnknownMirror`], database errors.
    pub fn end_full_sync(&self, mirror: &[u8], now: SystemTime) -> Result<(), QueueError> {
        check_mirror_id(mirror)?;
        let txn = self.db.begin_write()?;
        {
            let mut t = Tables::open(&txn)?;
            let mut row = t.mirror(mirror)?;
            if row.state != MirrorState::FullSync {
                return Err(QueueError::WrongState {
                    mirror: String::from_utf8_lossy(mirror).into_owned(),
                    op: "end a full sync",
                    state: row.state,
                });
            }
            row.state = MirrorState::Live;
            row.since = Stamp::from_system(now);
            t.put_mirror(mirror, &row)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Enforces the backlog bounds (entries for every mirror holding entries, age for `Live`
    /// ones) and deletes every entry no mirror needs any more, in chunks of a few thousand
    /// per transaction. Call it periodically (e.g. every second); [`Queue::append`] already
    /// compacts incrementally.
    ///
    /// # Errors
    /// Database errors, corrupt rows.
    pub fn compact(&self, now: SystemTime) -> Result<Compacted, QueueError> {
        let mut out = Compacted::default();
        let now = Stamp::from_system(now);
        let mut first = true;
        loop {
            let txn = self.db.begin_write()?;
            let removed = {
                let mut t = Tables::open(&txn)?;
                let next = t.next_seq()?;
                let clock = t.clock()?.max(now);
                let mut mirrors = t.load_mirrors()?;
                if first {
                    for (id, m) in &mut mirrors {
                        if self.over_bound(&t, m, clock)? {
                            demote(m, clock);
                            t.put_mirror(id, m)?;
                            out.demoted.push(id.clone());
                        }
                    }
                }
                t.compact_prefix(
                    min_cursor(&mirrors, next),
                    self.quiet_before(clock),
                    COMPACT_CHUNK,
                )?
            };
            txn.commit()?;
            out.removed += removed;
            first = false;
            if removed < COMPACT_CHUNK {
                return Ok(out);
            }
        }
    }

    /// Whether a mirror holding entries has fallen beyond a backlog bound.
    fn over_bound(&self, t: &Tables<'_>, m: &MirrorRow, now: Stamp) -> Result<bool, QueueError> {
        if !m.holds_entries() {
            return Ok(false);
        }
        if m.pending > self.config.max_backlog_entries {
            return Ok(true);
        }
        let (Some(max_age), MirrorState::Live) = (self.config.max_backlog_age, m.state) else {
            return Ok(false);
        };
        let Some(item) = t.by_seq.range(m.cursor.saturating_add(1)..)?.next() else {
            return Ok(false);
        };
        let (k, v) = item?;
        let oldest = Record::decode(k.value(), v.value())?.last_seen;
        Ok(now.since(oldest) > max_age)
    }
}
