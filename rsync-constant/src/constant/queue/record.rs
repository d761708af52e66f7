//! On-disk encodings of the queue's rows, with typed errors on decode: the file may be
//! damaged or written by something else, so nothing read back is trusted.
//!
//! All integers are little-endian. A row starts with a format tag byte so that a later
//! version can change the layout without misreading old rows.
//!
//! - `by_seq` value, a [`Record`]: `[tag=1][first_seen u64][last_seen u64][flags u8][path…]`
//!   (flags bit 0: hot reported), at least 18 bytes plus a non-empty path.
//! - `mirrors` value, a [`MirrorRow`]:
//!   `[tag=1][state u8][cursor u64][pending u64][last_ack u64][since u64]`, 34 bytes.
//!
//! Times are [`Stamp`]s: nanoseconds since the Unix epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{MirrorState, QueueError};

const RECORD_TAG: u8 = 1;
const RECORD_HEADER: usize = 1 + 8 + 8 + 1;
const FLAG_HOT: u8 = 1;

const MIRROR_TAG: u8 = 1;
const MIRROR_LEN: usize = 1 + 1 + 8 * 4;

/// A point in time as stored: nanoseconds since the Unix epoch (saturating at both ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(super) struct Stamp(pub(super) u64);

impl Stamp {
    pub(super) fn from_system(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Self(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            Err(_) => Self(0),
        }
    }

    pub(super) fn to_system(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.0)
    }

    /// `self - earlier`, zero if `earlier` is later.
    pub(super) fn since(self, earlier: Self) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    pub(super) fn plus(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }
}

/// One queued path (a `by_seq` row), borrowing its path from the stored bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Record<'a> {
    /// When the current burst of changes to this path started (for `--hot-warn`).
    pub(super) first_seen: Stamp,
    /// The last change (for `--settle`); non-decreasing in sequence order.
    pub(super) last_seen: Stamp,
    /// Whether this burst was already reported as hot.
    pub(super) hot_reported: bool,
    /// The normalised name.
    pub(super) path: &'a [u8],
}

impl<'a> Record<'a> {
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(RECORD_HEADER + self.path.len());
        v.push(RECORD_TAG);
        v.extend_from_slice(&self.first_seen.0.to_le_bytes());
        v.extend_from_slice(&self.last_seen.0.to_le_bytes());
        v.push(if self.hot_reported { FLAG_HOT } else { 0 });
        v.extend_from_slice(self.path);
        v
    }

    /// Decodes the row stored under sequence number `seq`.
    pub(super) fn decode(seq: u64, bytes: &'a [u8]) -> Result<Self, QueueError> {
        let corrupt = |what: &str| QueueError::Corrupt {
            table: "by_seq",
            what: format!("row {seq}: {what}"),
        };
        let (header, path) = bytes
            .split_at_checked(RECORD_HEADER)
            .ok_or_else(|| corrupt("short row"))?;
        let [tag, rest @ ..] = header else {
            return Err(corrupt("short row"));
        };
        if *tag != RECORD_TAG {
            return Err(corrupt(&format!("unknown row tag {tag}")));
        }
        if path.is_empty() {
            return Err(corrupt("empty path"));
        }
        let (first, rest) = read_u64(rest).ok_or_else(|| corrupt("short row"))?;
        let (last, rest) = read_u64(rest).ok_or_else(|| corrupt("short row"))?;
        let flags = *rest.first().ok_or_else(|| corrupt("short row"))?;
        if flags & !FLAG_HOT != 0 {
            return Err(corrupt(&format!("unknown flags {flags:#x}")));
        }
        if first > last {
            return Err(corrupt("first change after the last"));
        }
        Ok(Self {
            first_seen: Stamp(first),
            last_seen: Stamp(last),
            hot_reported: flags & FLAG_HOT != 0,
            path,
        })
    }
}

/// A mirror's row in the `mirrors` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MirrorRow {
    pub(super) state: MirrorState,
    /// Every entry with a sequence number up to this one was delivered (for
    /// [`MirrorState::FullSync`]: the point the full sync started from).
    pub(super) cursor: u64,
    /// How many queued entries have a sequence number above `cursor` (maintained
    /// incrementally; meaningful for the states that hold entries).
    pub(super) pending: u64,
    /// The last acknowledgement (0: never).
    pub(super) last_ack: Stamp,
    /// When the mirror entered its current state.
    pub(super) since: Stamp,
}

impl MirrorRow {
    pub(super) fn encode(&self) -> [u8; MIRROR_LEN] {
        let mut v = [0u8; MIRROR_LEN];
        v[0] = MIRROR_TAG;
        v[1] = match self.state {
            MirrorState::Live => 0,
            MirrorState::NeedsFullSync => 1,
            MirrorState::FullSync => 2,
        };
        for (i, x) in [self.cursor, self.pending, self.last_ack.0, self.since.0]
            .into_iter()
            .enumerate()
        {
            v[2 + 8 * i..10 + 8 * i].copy_from_slice(&x.to_le_bytes());
        }
        v
    }

    pub(super) fn decode(mirror: &[u8], bytes: &[u8]) -> Result<Self, QueueError> {
        let corrupt = |what: &str| QueueError::Corrupt {
            table: "mirrors",
            what: format!("mirror {}: {what}", String::from_utf8_lossy(mirror)),
        };
        let [tag, state, rest @ ..] = bytes else {
            return Err(corrupt("short row"));
        };
        if *tag != MIRROR_TAG || bytes.len() != MIRROR_LEN {
            return Err(corrupt("unknown row format"));
        }
        let state = match state {
            0 => MirrorState::Live,
            1 => MirrorState::NeedsFullSync,
            2 => MirrorState::FullSync,
            x => return Err(corrupt(&format!("unknown state {x}"))),
        };
        let (cursor, rest) = read_u64(rest).ok_or_else(|| corrupt("short row"))?;
        let (pending, rest) = read_u64(rest).ok_or_else(|| corrupt("short row"))?;
        let (last_ack, rest) = read_u64(rest).ok_or_else(|| corrupt("short row"))?;
        let (since, _) = read_u64(rest).ok_or_else(|| corrupt("short row"))?;
        Ok(Self {
            state,
            cursor,
            pending,
            last_ack: Stamp(last_ack),
            since: Stamp(since),
        })
    }

    /// Whether the queue keeps entries after `cursor` for this mirror.
    pub(super) fn holds_entries(&self) -> bool {
        matches!(self.state, MirrorState::Live | MirrorState::FullSync)
    }
}

fn read_u64(b: &[u8]) -> Option<(u64, &[u8])> {
    let (head, rest) = b.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*head), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_layout() {
        let r = Record {
            first_seen: Stamp(0x0102),
            last_seen: Stamp(0x0304),
            hot_reported: true,
            path: b"a/b",
        };
        let bytes = r.encode();
        assert_eq!(
            bytes,
            [1, 2, 1, 0, 0, 0, 0, 0, 0, 4, 3, 0, 0, 0, 0, 0, 0, 1, b'a', b'/', b'b']
        );
        assert_eq!(Record::decode(7, &bytes).unwrap(), r);
    }

    #[test]
    fn damaged_records_are_typed_errors() {
        let good = Record {
            first_seen: Stamp(1),
            last_seen: Stamp(2),
            hot_reported: false,
            path: b"x",
        }
        .encode();
        let mut bad_tag = good.clone();
        bad_tag[0] = 9;
        let mut bad_flags = good.clone();
        bad_flags[17] = 0x80;
        let mut reversed = good.clone();
        reversed[1] = 9; // first_seen 9 > last_seen 2
        for (bytes, what) in [
            (&good[..5], "short row"),
            (&good[..18], "empty path"),
            (&bad_tag[..], "unknown row tag 9"),
            (&bad_flags[..], "unknown flags 0x80"),
            (&reversed[..], "first change after the last"),
        ] {
            let err = Record::decode(3, bytes).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("queue database is corrupt (table by_seq): row 3: {what}")
            );
        }
    }

    #[test]
    fn mirror_round_trip_and_damage() {
        for state in [
            MirrorState::Live,
            MirrorState::NeedsFullSync,
            MirrorState::FullSync,
        ] {
            let m = MirrorRow {
                state,
                cursor: 5,
                pending: 6,
                last_ack: Stamp(7),
                since: Stamp(8),
            };
            assert_eq!(MirrorRow::decode(b"m", &m.encode()).unwrap(), m);
        }
        let mut bytes = MirrorRow {
            state: MirrorState::Live,
            cursor: 0,
            pending: 0,
            last_ack: Stamp(0),
            since: Stamp(0),
        }
        .encode();
        bytes[1] = 3;
        assert!(MirrorRow::decode(b"m", &bytes)
            .unwrap_err()
            .to_string()
            .ends_with("mirror m: unknown state 3"));
        assert!(MirrorRow::decode(b"m", &bytes[..20]).is_err());
        assert!(MirrorRow::decode(b"m", &[]).is_err());
    }

    #[test]
    fn stamps_saturate() {
        assert_eq!(
            Stamp::from_system(UNIX_EPOCH - Duration::from_secs(1)),
            Stamp(0)
        );
        let t = UNIX_EPOCH + Duration::from_nanos(123_456_789);
        assert_eq!(Stamp::from_system(t).to_system(), t);
        assert_eq!(Stamp(5).since(Stamp(9)), Duration::ZERO);
        assert_eq!(
            Stamp(u64::MAX - 1).plus(Duration::from_secs(1)),
            Stamp(u64::MAX)
        );
    }
}
