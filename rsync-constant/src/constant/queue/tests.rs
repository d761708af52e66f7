//! Tests of the change queue: coalescing, cursors, settle and hot, compaction and its bounds,
//! the full-sync life cycle, reopening, damaged files, and a model-based property test.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;

use super::*;
use crate::constant::names::normalize;

const M1: &[u8] = b"mirror-1";
const M2: &[u8] = b"mirror-2";

fn t(secs: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_secs_f64(secs)
}

fn names(list: &[&str]) -> Vec<Name> {
    list.iter()
        .map(|s| normalize(s.as_bytes()).unwrap())
        .collect()
}

fn open(dir: &tempfile::TempDir, config: QueueConfig) -> Queue {
    Queue::open(&dir.path().join("queue.redb"), config).unwrap()
}

/// A queue with `mirrors` registered and made live at time 0.
fn live(config: QueueConfig, mirrors: &[&[u8]]) -> (tempfile::TempDir, Queue) {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir, config);
    for m in mirrors {
        assert_eq!(q.add_mirror(m, t(0.0)).unwrap(), MirrorState::NeedsFullSync);
        q.begin_full_sync(m, t(0.0)).unwrap();
        q.end_full_sync(m, t(0.0)).unwrap();
    }
    (dir, q)
}

/// `(seq, name)` of the entries `mirror` gets next.
fn next(q: &Queue, mirror: &[u8], now: SystemTime) -> Vec<(u64, String)> {
    match q.next_for(mirror, None, usize::MAX, now).unwrap() {
        Next::Entries { entries, .. } => entries
            .into_iter()
            .map(|e| (e.seq.0, String::from_utf8(e.name.into_bytes()).unwrap()))
            .collect(),
        other => panic!("expected entries, got {other:?}"),
    }
}

fn settle_at(q: &Queue, mirror: &[u8], now: SystemTime) -> Option<SystemTime> {
    match q.next_for(mirror, None, usize::MAX, now).unwrap() {
        Next::Entries { settle_at, .. } => settle_at,
        other => panic!("expected entries, got {other:?}"),
    }
}

fn mirror_status(q: &Queue, mirror: &[u8], now: SystemTime) -> MirrorStatus {
    q.status(now)
        .unwrap()
        .mirrors
        .into_iter()
        .find(|m| m.mirror == mirror)
        .unwrap()
}

fn s(seq: u64, name: &str) -> (u64, String) {
    (seq, name.to_owned())
}

#[test]
fn append_deliver_ack() {
    let (_d, q) = live(QueueConfig::default(), &[M1]);
    let a = q.append(&names(&["a", "b/c"]), t(1.0)).unwrap();
    assert_eq!((a.first, a.last, a.coalesced), (Seq(1), Seq(2), 0));
    assert_eq!(next(&q, M1, t(1.0)), [s(1, "a"), s(2, "b/c")]);
    // Nothing moves until acknowledged.
    assert_eq!(next(&q, M1, t(2.0)).len(), 2);
    assert!(q.ack(M1, Seq(1), t(2.0)).unwrap());
    assert_eq!(next(&q, M1, t(2.0)), [s(2, "b/c")]);
    assert!(q.ack(M1, Seq(2), t(2.0)).unwrap());
    assert!(next(&q, M1, t(2.0)).is_empty());
    let st = mirror_status(&q, M1, t(2.0));
    assert_eq!((st.cursor, st.pending), (Seq(2), 0));
    assert_eq!(st.last_ack, Some(t(2.0)));
    q.check().unwrap();
}

#[test]
fn empty_batch_is_a_no_op() {
    let (_d, q) = live(QueueConfig::default(), &[M1]);
    assert_eq!(q.append(&[], t(1.0)).unwrap(), Appended::default());
    assert_eq!(q.status(t(1.0)).unwrap().last_seq, Seq(0));
}

#[test]
fn coalescing_moves_a_path_to_the_end() {
    let (_d, q) = live(QueueConfig::default(), &[M1]);
    q.append(&names(&["a", "b"]), t(1.0)).unwrap();
    let a = q.append(&names(&["a"]), t(2.0)).unwrap();
    assert_eq!((a.first, a.coalesced), (Seq(3), 1));
    assert_eq!(next(&q, M1, t(2.0)), [s(2, "b"), s(3, "a")]);
    // Twice in one batch: one entry.
    let a = q.append(&names(&["c", "c", "b"]), t(3.0)).unwrap();
    assert_eq!(a.coalesced, 2);
    assert_eq!(next(&q, M1, t(3.0)), [s(3, "a"), s(5, "c"), s(6, "b")]);
    assert_eq!(q.status(t(3.0)).unwrap().entries, 3);
    q.check().unwrap();
}

#[test]
fn each_mirror_has_its_own_cursor() {
    let (_d, q) = live(QueueConfig::default(), &[M1, M2]);
    q.append(&names(&["a", "b", "c"]), t(1.0)).unwrap();
    q.ack(M1, Seq(3), t(1.0)).unwrap();
    q.ack(M2, Seq(1), t(1.0)).unwrap();
    assert!(next(&q, M1, t(1.0)).is_empty());
    assert_eq!(next(&q, M2, t(1.0)), [s(2, "b"), s(3, "c")]);
    // `b` changes again: M1 (past it) gets it once more, M2 once (moved, not doubled).
    q.append(&names(&["b"]), t(2.0)).unwrap();
    assert_eq!(next(&q, M1, t(2.0)), [s(4, "b")]);
    assert_eq!(next(&q, M2, t(2.0)), [s(3, "c"), s(4, "b")]);
    assert_eq!(mirror_status(&q, M1, t(2.0)).pending, 1);
    assert_eq!(mirror_status(&q, M2, t(2.0)).pending, 2);
    assert_eq!(mirror_status(&q, M2, t(3.0)).lag, Duration::from_secs(2));
    q.check().unwrap();
}

#[test]
fn pipelined_reads_start_after_the_in_flight_position() {
    let (_d, q) = live(QueueConfig::default(), &[M1]);
    q.append(&names(&["a", "b", "c", "d"]), t(1.0)).unwrap();
    let Next::Entries { entries, .. } = q.next_for(M1, None, 2, t(1.0)).unwrap() else {
        panic!()
    };
    assert_eq!(entries.iter().map(|e| e.seq.0).collect::<Vec<_>>(), [1, 2]);
    let Next::Entries { entries, .. } = q.next_for(M1, Some(Seq(2)), 10, t(1.0)).unwrap() else {
        panic!()
    };
    assert_eq!(entries.iter().map(|e| e.seq.0).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(entries[0].last_seen, t(1.0));
}

#[test]
fn settle_holds_recent_changes_and_never_skips_them() {
    let config = QueueConfig {
        settle: Duration::from_secs(10),
        ..QueueConfig::default()
    };
    let (_d, q) = live(config, &[M1]);
    q.append(&names(&["a"]), t(0.0)).unwrap();
    q.append(&names(&["b"]), t(5.0)).unwrap();
    assert!(next(&q, M1, t(9.0)).is_empty());
    assert_eq!(settle_at(&q, M1, t(9.0)), Some(t(10.0)));
    assert_eq!(next(&q, M1, t(10.0)), [s(1, "a")]);
    assert_eq!(settle_at(&q, M1, t(10.0)), Some(t(15.0)));
    // `a` changes again before `b` settles: it moves behind `b` and waits again.
    q.append(&names(&["a"]), t(12.0)).unwrap();
    assert_eq!(next(&q, M1, t(15.0)), [s(2, "b")]);
    assert_eq!(settle_at(&q, M1, t(15.0)), Some(t(22.0)));
    assert_eq!(next(&q, M1, t(22.0)), [s(2, "b"), s(3, "a")]);
    assert_eq!(settle_at(&q, M1, t(22.0)), None);
}

#[test]
fn a_path_changing_for_hot_warn_is_reported_once_per_burst() {
    let config = QueueConfig {
        settle: Duration::from_secs(10),
        hot_warn: Some(Duration::from_secs(60)),
        ..QueueConfig::default()
    };
    let (_d, q) = live(config, &[M1]);
    let mut reported = Vec::new();
    // Every 5 s (less than the 10 s burst gap) from 0 to 90 s.
    for i in 0..=18 {
        let at = f64::from(i) * 5.0;
        let a = q.append(&names(&["hot", "other"]), t(at)).unwrap();
        if !a.hot.is_empty() {
            assert_eq!(a.hot, names(&["hot", "other"]));
            reported.push(at);
        }
    }
    assert_eq!(reported, [60.0]);
    // Quiet for 20 s: a new burst starts, reported again 60 s later.
    reported.clear();
    for i in 0..=13 {
        let at = 110.0 + f64::from(i) * 5.0;
        if !q.append(&names(&["hot"]), t(at)).unwrap().hot.is_empty() {
            reported.push(at);
        }
    }
    assert_eq!(reported, [170.0]);
}

#[test]
fn hot_is_recognised_across_deliveries_with_settle_zero() {
    let config = QueueConfig {
        hot_warn: Some(Duration::from_secs(5)),
        ..QueueConfig::default()
    };
    let (_d, q) = live(config, &[M1]);
    let mut reported = Vec::new();
    // Rewritten every 100 ms, each change delivered and acknowledged at once.
    for i in 0..80 {
        let at = f64::from(i) * 0.1;
        let a = q.append(&names(&["log"]), t(at)).unwrap();
        if !a.hot.is_empty() {
            reported.push(i);
        }
        q.ack(M1, a.last, t(at)).unwrap();
    }
    assert_eq!(reported, [50]);
    // Delivered entries are still compacted once quiet for the burst gap (1 s).
    assert_eq!(q.status(t(8.0)).unwrap().entries, 1);
    q.append(&names(&["x"]), t(10.0)).unwrap();
    assert_eq!(next(&q, M1, t(10.0)), [s(81, "x")]);
    assert_eq!(q.status(t(10.0)).unwrap().entries, 1);
    q.check().unwrap();
}

#[test]
fn compaction_keeps_what_the_slowest_live_mirror_needs() {
    let (_d, q) = live(QueueConfig::default(), &[M1, M2]);
    let batch: Vec<Name> = (0..1000)
        .map(|i| normalize(format!("d/f{i}").as_bytes()).unwrap())
        .collect();
    q.append(&batch, t(1.0)).unwrap();
    q.ack(M1, Seq(1000), t(1.0)).unwrap();
    q.ack(M2, Seq(400), t(1.0)).unwrap();
    let c = q.compact(t(2.0)).unwrap();
    assert_eq!(c.removed, 400);
    assert!(c.demoted.is_empty());
    assert_eq!(q.status(t(2.0)).unwrap().entries, 600);
    assert_eq!(next(&q, M2, t(2.0)).first(), Some(&s(401, "d/f400")));
    q.ack(M2, Seq(1000), t(2.0)).unwrap();
    assert_eq!(q.compact(t(3.0)).unwrap().removed, 600);
    assert_eq!(q.status(t(3.0)).unwrap().entries, 0);
    q.check().unwrap();
}

#[test]
fn append_compacts_incrementally() {
    let (_d, q) = live(QueueConfig::default(), &[M1]);
    for i in 0..200u32 {
        let a = q
            .append(&[normalize(format!("f{i}").as_bytes()).unwrap()], t(1.0))
            .unwrap();
        q.ack(M1, a.last, t(1.0)).unwrap();
    }
    // Each append deleted what the previous ack released.
    assert_eq!(q.status(t(1.0)).unwrap().entries, 1);
}

#[test]
fn the_file_does_not_grow_under_churn() {
    let (dir, q) = live(QueueConfig::default(), &[M1]);
    let size = || {
        std::fs::metadata(dir.path().join("queue.redb"))
            .unwrap()
            .len()
    };
    let mut n = 0u32;
    let mut after_warm_up = 0;
    for round in 0..60 {
        let batch: Vec<Name> = (0..500)
            .map(|_| {
                n += 1;
                normalize(format!("d{}/f{n}", n % 97).as_bytes()).unwrap()
            })
            .collect();
        let a = q.append(&batch, t(1.0)).unwrap();
        q.ack(M1, a.last, t(1.0)).unwrap();
        if round == 10 {
            after_warm_up = size();
        }
    }
    // 30,000 names went through; freed pages were reused.
    assert!(after_warm_up > 0);
    assert_eq!(size(), after_warm_up);
    assert!(q.status(t(1.0)).unwrap().entries <= 500);
}

#[test]
fn a_mirror_over_the_entry_bound_needs_a_full_sync_and_stops_holding_rows() {
    let config = QueueConfig {
        max_backlog_entries: 100,
        ..QueueConfig::default()
    };
    let (_d, q) = live(config, &[M1, M2]);
    let mut demoted_at = None;
    for i in 0..150u32 {
        let a = q
            .append(&[normalize(format!("f{i}").as_bytes()).unwrap()], t(1.0))
            .unwrap();
        q.ack(M1, a.last, t(1.0)).unwrap();
        if !a.demoted.is_empty() {
            assert_eq!(a.demoted, [M2.to_vec()]);
            assert!(demoted_at.is_none());
            demoted_at = Some(i);
        }
    }
    assert_eq!(demoted_at, Some(100));
    assert_eq!(
        q.next_for(M2, None, 10, t(1.0)).unwrap(),
        Next::NeedsFullSync
    );
    assert!(!q.ack(M2, Seq(5), t(1.0)).unwrap());
    q.compact(t(1.0)).unwrap();
    assert_eq!(q.status(t(1.0)).unwrap().entries, 0);
    let st = mirror_status(&q, M2, t(1.0));
    assert_eq!((st.state, st.pending), (MirrorState::NeedsFullSync, 0));
    q.check().unwrap();
}

#[test]
fn a_live_mirror_over_the_age_bound_is_demoted_by_compact() {
    let config = QueueConfig {
        max_backlog_age: Some(Duration::from_secs(60)),
        ..QueueConfig::default()
    };
    let (_d, q) = live(config, &[M1, M2]);
    q.append(&names(&["a"]), t(0.0)).unwrap();
    q.ack(M1, Seq(1), t(0.0)).unwrap();
    assert!(q.compact(t(60.0)).unwrap().demoted.is_empty());
    let c = q.compact(t(61.0)).unwrap();
    assert_eq!(c.demoted, [M2.to_vec()]);
    assert_eq!(c.removed, 1);
    assert_eq!(mirror_status(&q, M1, t(61.0)).state, MirrorState::Live);
}

#[test]
fn full_sync_life_cycle_keeps_changes_made_during_it() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir, QueueConfig::default());
    assert_eq!(
        q.add_mirror(M1, t(0.0)).unwrap(),
        MirrorState::NeedsFullSync
    );
    assert_eq!(
        q.next_for(M1, None, 10, t(0.0)).unwrap(),
        Next::NeedsFullSync
    );
    // No mirror holds entries: the entry is compacted away by its own append.
    let a = q.append(&names(&["before"]), t(0.0)).unwrap();
    assert_eq!((a.first, a.compacted), (Seq(1), 1));
    assert_eq!(q.status(t(0.0)).unwrap().entries, 0);
    assert_eq!(q.begin_full_sync(M1, t(1.0)).unwrap(), Seq(1));
    assert_eq!(q.next_for(M1, None, 10, t(1.0)).unwrap(), Next::InFullSync);
    q.append(&names(&["during", "other"]), t(2.0)).unwrap();
    q.compact(t(2.0)).unwrap();
    assert_eq!(mirror_status(&q, M1, t(2.0)).pending, 2);
    q.end_full_sync(M1, t(3.0)).unwrap();
    assert_eq!(next(&q, M1, t(3.0)), [s(2, "during"), s(3, "other")]);
    let err = q.end_full_sync(M1, t(3.0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "mirror \"mirror-1\": cannot end a full sync in state live"
    );
    // Restarting a full sync of a live mirror moves its cursor to the end.
    assert_eq!(q.begin_full_sync(M1, t(4.0)).unwrap(), Seq(3));
    q.end_full_sync(M1, t(5.0)).unwrap();
    assert!(next(&q, M1, t(5.0)).is_empty());
    assert_eq!(q.add_mirror(M1, t(5.0)).unwrap(), MirrorState::Live);
    assert!(q.remove_mirror(M1).unwrap());
    assert!(!q.remove_mirror(M1).unwrap());
    q.check().unwrap();
}

#[test]
fn reopen_after_drop_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    {
        let q = open(&dir, QueueConfig::default());
        q.add_mirror(M1, t(0.0)).unwrap();
        q.begin_full_sync(M1, t(0.0)).unwrap();
        q.end_full_sync(M1, t(0.0)).unwrap();
        q.append(&names(&["a", "b", "c"]), t(1.0)).unwrap();
        // A non-durable ack is made durable by the clean close.
        q.ack(M1, Seq(1), t(1.0)).unwrap();
    }
    let q = open(&dir, QueueConfig::default());
    q.check().unwrap();
    assert_eq!(next(&q, M1, t(2.0)), [s(2, "b"), s(3, "c")]);
    // Sequence numbers are never reused.
    assert_eq!(q.append(&names(&["d"]), t(2.0)).unwrap().first, Seq(4));
}

#[test]
fn a_wall_clock_stepping_back_keeps_last_seen_ordered() {
    let (_d, q) = live(QueueConfig::default(), &[M1]);
    q.append(&names(&["a"]), t(100.0)).unwrap();
    q.append(&names(&["b"]), t(50.0)).unwrap();
    q.check().unwrap();
    let Next::Entries { entries, .. } = q.next_for(M1, None, 10, t(50.0)).unwrap() else {
        panic!()
    };
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].last_seen, t(100.0));
}

#[test]
fn typed_errors() {
    let (dir, q) = live(QueueConfig::default(), &[M1]);
    q.append(&names(&["a"]), t(1.0)).unwrap();
    assert!(matches!(
        q.next_for(b"nope", None, 1, t(1.0)),
        Err(QueueError::UnknownMirror(m)) if m == "nope"
    ));
    assert_eq!(
        q.ack(M1, Seq(2), t(1.0)).unwrap_err().to_string(),
        "mirror \"mirror-1\": ack of 2 beyond the last sequence number 1"
    );
    assert!(matches!(
        q.add_mirror(b"", t(1.0)),
        Err(QueueError::InvalidMirror { len: 0 })
    ));
    assert!(matches!(
        q.add_mirror(&[b'x'; MAX_MIRROR_ID + 1], t(1.0)),
        Err(QueueError::InvalidMirror { .. })
    ));
    // A second open of the same file is refused while the first is open.
    assert!(matches!(
        Queue::open(&dir.path().join("queue.redb"), QueueConfig::default()),
        Err(QueueError::Locked { .. })
    ));
}

#[test]
fn a_file_of_another_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.redb");
    drop(Queue::open(&path, QueueConfig::default()).unwrap());
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(META_VERSION, 99)
            .unwrap();
        txn.commit().unwrap();
    }
    let err = Queue::open(&path, QueueConfig::default()).unwrap_err();
    assert!(matches!(
        err,
        QueueError::Version {
            found: 99,
            expected: 1
        }
    ));
}

#[test]
fn damaged_rows_are_typed_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.redb");
    {
        let q = Queue::open(&path, QueueConfig::default()).unwrap();
        q.add_mirror(M1, t(0.0)).unwrap();
        q.begin_full_sync(M1, t(0.0)).unwrap();
        q.end_full_sync(M1, t(0.0)).unwrap();
        q.append(&names(&["a"]), t(1.0)).unwrap();
    }
    let damage = |f: &dyn Fn(&redb::WriteTransaction)| {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        f(&txn);
        txn.commit().unwrap();
    };
    // A row with a path that is not a valid name.
    damage(&|txn| {
        let rec = Record {
            first_seen: Stamp(1),
            last_seen: Stamp(1),
            hot_reported: false,
            path: b"../x",
        };
        txn.open_table(BY_SEQ)
            .unwrap()
            .insert(1, rec.encode().as_slice())
            .unwrap();
    });
    let q = Queue::open(&path, QueueConfig::default()).unwrap();
    let err = q.next_for(M1, None, 10, t(2.0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "queue database is corrupt (table by_seq): row 1: invalid path"
    );
    assert!(matches!(q.check(), Err(QueueError::Corrupt { .. })));
    drop(q);
    // A truncated row, and a by_path entry pointing at nothing.
    damage(&|txn| {
        txn.open_table(BY_SEQ)
            .unwrap()
            .insert(1, &b"\x01"[..])
            .unwrap();
        txn.open_table(BY_PATH)
            .unwrap()
            .insert(&b"zz"[..], 77)
            .unwrap();
    });
    let q = Queue::open(&path, QueueConfig::default()).unwrap();
    assert!(matches!(
        q.next_for(M1, None, 10, t(2.0)),
        Err(QueueError::Corrupt {
            table: "by_seq",
            ..
        })
    ));
    assert!(matches!(
        q.append(&names(&["zz"]), t(2.0)),
        Err(QueueError::Corrupt {
            table: "by_path",
            ..
        })
    ));
    drop(q);
    // A mirror row of the wrong size.
    damage(&|txn| {
        txn.open_table(MIRRORS)
            .unwrap()
            .insert(M1, &b"\x01\x00"[..])
            .unwrap();
    });
    let q = Queue::open(&path, QueueConfig::default()).unwrap();
    assert!(matches!(
        q.status(t(2.0)),
        Err(QueueError::Corrupt {
            table: "mirrors",
            ..
        })
    ));
}

#[test]
fn a_file_that_is_not_a_queue_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.redb");
    std::fs::write(&path, vec![0x5a; 100_000]).unwrap();
    assert!(matches!(
        Queue::open(&path, QueueConfig::default()),
        Err(QueueError::Db(_))
    ));
}

/// One operation of the model test.
#[derive(Debug, Clone)]
enum Op {
    /// Append these paths (indices into a small alphabet), advancing time by `dt` seconds.
    Append(Vec<u8>, u8),
    /// Mirror `m` acknowledges `k` more of the entries it is offered.
    Ack(u8, u8),
    /// Compact.
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (prop::collection::vec(0u8..12, 1..6), 0u8..3).prop_map(|(p, dt)| Op::Append(p, dt)),
        3 => (0u8..2, 0u8..6).prop_map(|(m, k)| Op::Ack(m, k)),
        1 => Just(Op::Compact),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Against a model (a map path -> seq of its only entry, a cursor per mirror): the
    /// queue offers each mirror exactly the model's entries after its cursor, in order, and
    /// the stored invariants (pending counts, index agreement) hold after every operation.
    #[test]
    fn queue_matches_a_simple_model(ops in prop::collection::vec(op(), 1..40)) {
        let (_d, q) = live(QueueConfig::default(), &[M1, M2]);
        let mirrors = [M1, M2];
        let mut model: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut cursors = [0u64; 2];
        let mut next_seq = 1u64;
        let mut now = 0.0;
        for op in ops {
            match op {
                Op::Append(paths, dt) => {
                    now += f64::from(dt);
                    let batch: Vec<Name> = paths
                        .iter()
                        .map(|p| normalize(format!("p{p}").as_bytes()).unwrap())
                        .collect();
                    q.append(&batch, t(now)).unwrap();
                    for n in &batch {
                        model.retain(|_, p| p != n.as_bytes());
                        model.insert(next_seq, n.as_bytes().to_vec());
                        next_seq += 1;
                    }
                }
                Op::Ack(m, k) => {
                    let m = usize::from(m);
                    let offered = next(&q, mirrors[m], t(now));
                    if let Some((seq, _)) = offered.get(usize::from(k)) {
                        q.ack(mirrors[m], Seq(*seq), t(now)).unwrap();
                        cursors[m] = *seq;
                    }
                }
                Op::Compact => {
                    q.compact(t(now)).unwrap();
                }
            }
            q.check().unwrap();
            for (m, mirror) in mirrors.iter().enumerate() {
                let want: Vec<(u64, String)> = model
                    .range(cursors[m] + 1..)
                    .map(|(s, p)| (*s, String::from_utf8(p.clone()).unwrap()))
                    .collect();
                prop_assert_eq!(next(&q, mirror, t(now)), want);
            }
            let min = cursors.iter().min().copied().unwrap_or(0);
            prop_assert!(q.status(t(now)).unwrap().entries >= model.range(min + 1..).count() as u64);
        }
    }
}

#[test]
fn concurrent_appender_and_drainer_see_every_name_once() {
    let (_d, q) = live(QueueConfig::default(), &[M1]);
    let q = std::sync::Arc::new(q);
    let appender = {
        let q = std::sync::Arc::clone(&q);
        std::thread::spawn(move || {
            for b in 0..100u32 {
                let batch: Vec<Name> = (0..7)
                    .map(|i| normalize(format!("b{b}/f{i}").as_bytes()).unwrap())
                    .collect();
                q.append(&batch, t(1.0)).unwrap();
            }
        })
    };
    let mut seen = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < 700 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} seen",
            seen.len()
        );
        let Next::Entries { entries, .. } = q.next_for(M1, None, 50, t(1.0)).unwrap() else {
            panic!()
        };
        if let Some(last) = entries.last() {
            q.ack(M1, last.seq, t(1.0)).unwrap();
        }
        for e in entries {
            assert!(seen.insert(e.name.into_bytes()), "delivered twice");
        }
    }
    appender.join().unwrap();
    assert!(next(&q, M1, t(1.0)).is_empty());
    q.check().unwrap();
}
