//! The mirror's `Settle`s in bursts: changes that become ready while the mirror has other
//! work at hand settle together, after the other requests, in id order; an idle mirror
//! settles (and acknowledges) a single change at once; `BATCH_END`, `BYE` and a full window
//! never wait for a `Settle` held back.

use super::fake::assert_same;
use super::fakefs::{Fs, Kind};
use super::pair::{archive, prng, Pair};
use super::script::ToMirror;
use crate::constant::{ConstantConfig, ConstantError, MasterRecord, MirrorEvent, MirrorRecord};
use crate::flist::{mode, FileEntry, WirePath};
use crate::session::FsRequest;
use crate::token::encode_token;
use rsync_core::Token;

fn wp(s: &str) -> WirePath {
    WirePath::new(s.as_bytes().to_vec()).expect("path")
}

fn file(name: &str, size: u64, mtime: i64) -> FileEntry {
    let mut e = FileEntry::new(wp(name), mode::S_IFREG | 0o644);
    e.set_size(size);
    e.set_mtime(mtime);
    e
}

fn file_sum(data: &[u8]) -> Vec<u8> {
    let mut h = archive().strong.file_hasher();
    h.update(data);
    h.finish().as_bytes().to_vec()
}

/// `DATA` and `DATA_END` of a whole file.
fn whole(id: u64, bytes: &[u8]) -> Vec<MasterRecord> {
    let mut tokens = Vec::new();
    encode_token(Token::Literal(bytes), &mut tokens);
    vec![
        MasterRecord::Data { id, tokens },
        MasterRecord::DataEnd {
            id,
            checksum: file_sum(bytes),
        },
    ]
}

/// Delivers `recs` in one input.
fn send_all(t: &mut ToMirror, recs: Vec<MasterRecord>) -> Result<(), ConstantError> {
    let mut b = Vec::new();
    for r in recs {
        r.encode(&t.ctx, &mut b).expect("encode");
    }
    t.raw(&b)
}

/// A short name for each request from `from` on: `C3` a commit of id 3, `S3` a settle,
/// `B3` an lstat, `M3` a mkdir, `R3` a removal, `-` anything else.
fn trace(t: &ToMirror, from: usize) -> Vec<String> {
    t.dst
        .seen
        .iter()
        .skip(from)
        .map(|r| match r {
            FsRequest::Commit { ndx, .. } => format!("C{ndx}"),
            FsRequest::Settle { ndx } => format!("S{ndx}"),
            FsRequest::Basis { ndx, .. } => format!("B{ndx}"),
            FsRequest::Mkdir { ndx, .. } => format!("M{ndx}"),
            FsRequest::Remove { ndx, .. } => format!("R{ndx}"),
            _ => "-".into(),
        })
        .filter(|s| s != "-")
        .collect()
}

/// New files `f1`…`fn` announced one at a time (each answered with `SUMS`).
fn announce(t: &mut ToMirror, n: u64) -> Result<(), ConstantError> {
    for id in 1..=n {
        let size = 10 + id;
        t.send(MasterRecord::Entry {
            id,
            entry: file(&format!("f{id}"), size, 1_700_000_000),
        })?;
    }
    assert!(t.acks().is_empty());
    Ok(())
}

fn content(id: u64) -> Vec<u8> {
    prng(10 + id as usize, id)
}

#[test]
fn changes_ready_together_settle_together_in_id_order() -> Result<(), ConstantError> {
    let mut t = ToMirror::new(Fs::new(), ConstantConfig::default());
    announce(&mut t, 4)?;
    let from = t.dst.seen.len();
    // The data of the four files in one input, the highest id first.
    let recs = (1..=4)
        .rev()
        .flat_map(|id| whole(id, &content(id)))
        .collect();
    send_all(&mut t, recs)?;
    assert_eq!(
        trace(&t, from),
        ["C4", "C3", "C2", "C1", "S1", "S2", "S3", "S4"],
        "one burst of Settles, after the commits, in id order"
    );
    assert_eq!(t.acks(), [(1, 0), (2, 0), (3, 0), (4, 0)]);
    for id in 1..=4 {
        let got = t
            .dst
            .fs
            .get(format!("f{id}").as_bytes())
            .map(|(_, i)| i.kind.clone());
        assert_eq!(got, Some(Kind::File(content(id))));
    }
    assert_eq!(t.mirror.in_flight(), 0);
    Ok(())
}

#[test]
fn an_idle_mirror_settles_a_single_change_at_once() -> Result<(), ConstantError> {
    let mut t = ToMirror::new(Fs::new(), ConstantConfig::default());
    announce(&mut t, 3)?;
    for id in 1..=3 {
        let from = t.dst.seen.len();
        send_all(&mut t, whole(id, &content(id)))?;
        assert_eq!(trace(&t, from), [format!("C{id}"), format!("S{id}")]);
        assert_eq!(t.acks().last(), Some(&(id, 0)), "ACK {id} at once");
    }
    // A change done without data (a new directory) too.
    let from = t.dst.seen.len();
    let dir = FileEntry::new(wp("d"), mode::S_IFDIR | 0o755);
    t.send(MasterRecord::Entry { id: 4, entry: dir })?;
    assert_eq!(trace(&t, from), ["B4", "M4", "S4"]);
    assert_eq!(t.acks().last(), Some(&(4, 0)));
    Ok(())
}

#[test]
fn a_decision_in_progress_holds_the_settle_back() -> Result<(), ConstantError> {
    // The lstat of a new change is answered next: the mirror is not idle until the change
    // has decided, so the earlier file's Settle comes after it (and its SUMS before the
    // ACK).
    let mut t = ToMirror::new(Fs::new(), ConstantConfig::default());
    announce(&mut t, 1)?;
    let from = t.dst.seen.len();
    let mut recs = whole(1, &content(1));
    recs.push(MasterRecord::Entry {
        id: 2,
        entry: file("f2", 12, 1_700_000_000),
    });
    send_all(&mut t, recs)?;
    assert_eq!(trace(&t, from), ["C1", "B2", "S1"]);
    let order: Vec<&MirrorRecord> = t
        .got
        .iter()
        .filter(|r| {
            matches!(
                r,
                MirrorRecord::Sums { id: 2, .. } | MirrorRecord::Ack { .. }
            )
        })
        .collect();
    assert!(
        matches!(
            order.as_slice(),
            [
                MirrorRecord::Sums { id: 2, .. },
                MirrorRecord::Ack { id: 1, .. }
            ]
        ),
        "{order:?}"
    );
    Ok(())
}

#[test]
fn a_busy_mirror_settles_at_the_bound() -> Result<(), ConstantError> {
    let cfg = ConstantConfig {
        max_settle_batch: 2,
        ..ConstantConfig::default()
    };
    let mut t = ToMirror::new(Fs::new(), cfg);
    announce(&mut t, 5)?;
    let from = t.dst.seen.len();
    let recs = (1..=5).flat_map(|id| whole(id, &content(id))).collect();
    send_all(&mut t, recs)?;
    assert_eq!(
        trace(&t, from),
        ["C1", "C2", "S1", "S2", "C3", "C4", "S3", "S4", "C5", "S5"]
    );
    assert_eq!(t.acks(), [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]);
    Ok(())
}

#[test]
fn a_failed_file_in_a_burst_is_status_23_alone() -> Result<(), ConstantError> {
    let mut t = ToMirror::new(Fs::new(), ConstantConfig::default());
    t.dst.fail_commit.insert(b"f2".to_vec());
    announce(&mut t, 3)?;
    let recs = (1..=3).flat_map(|id| whole(id, &content(id))).collect();
    send_all(&mut t, recs)?;
    assert_eq!(t.acks(), [(1, 0), (2, 23), (3, 0)]);
    let msg = t.got.iter().find_map(|r| match r {
        MirrorRecord::Ack { id: 2, message, .. } => Some(message.clone()),
        _ => None,
    });
    assert_eq!(msg.as_deref(), Some(&b"rename failed: injected"[..]));
    assert!(t.dst.fs.get(b"f2").is_none());
    assert!(t.dst.fs.get(b"f3").is_some());
    Ok(())
}

#[test]
fn acks_without_a_settle_wait_behind_lower_ids() -> Result<(), ConstantError> {
    // f9 is current (same size and time): acknowledged without a Settle, but after f1,
    // which settles in the same burst.
    let dst = Fs::new().file("f9", b"current", 1_700_000_000);
    let mut t = ToMirror::new(dst, ConstantConfig::default());
    announce(&mut t, 1)?;
    let from = t.dst.seen.len();
    let mut recs = whole(1, &content(1));
    recs.push(MasterRecord::Entry {
        id: 2,
        entry: file("f9", 7, 1_700_000_000),
    });
    send_all(&mut t, recs)?;
    assert_eq!(trace(&t, from), ["C1", "B2", "S1"], "no Settle for f9");
    assert_eq!(t.acks(), [(1, 0), (2, 0)]);
    assert_eq!(t.mirror.in_flight(), 0);
    Ok(())
}

#[test]
fn batch_end_waits_for_held_settles_without_deadlock() -> Result<(), ConstantError> {
    // DELETE old (deferred), a new file, BATCH_END and a directory after it, all in one
    // input with the file's data: BATCH_END waits for the file's Settle, which must go out.
    let dst = Fs::new().file("old", b"gone soon", 5);
    let mut t = ToMirror::new(dst, ConstantConfig::default());
    t.send(MasterRecord::Delete {
        id: 1,
        path: wp("old"),
    })?;
    t.send(MasterRecord::Entry {
        id: 2,
        entry: file("new", 3, 1_700_000_000),
    })?;
    let mut recs = whole(2, b"abc");
    recs.push(MasterRecord::BatchEnd { id: 3 });
    recs.push(MasterRecord::Entry {
        id: 4,
        entry: FileEntry::new(wp("d"), mode::S_IFDIR | 0o755),
    });
    send_all(&mut t, recs)?;
    assert_eq!(t.acks(), [(2, 0), (1, 0), (3, 0), (4, 0)]);
    assert!(t.dst.fs.get(b"old").is_none());
    assert!(t.dst.fs.get(b"d").is_some());
    assert_eq!(t.mirror.in_flight(), 0);
    Ok(())
}

#[test]
fn bye_after_held_settles_ends_the_session() -> Result<(), ConstantError> {
    let mut t = ToMirror::new(Fs::new(), ConstantConfig::default());
    announce(&mut t, 2)?;
    let mut recs: Vec<MasterRecord> = (1..=2).flat_map(|id| whole(id, &content(id))).collect();
    recs.push(MasterRecord::Bye);
    send_all(&mut t, recs)?;
    assert_eq!(t.acks(), [(1, 0), (2, 0)]);
    assert_eq!(t.got.last(), Some(&MirrorRecord::Bye));
    assert!(t.mirror.is_done());
    assert!(t.events.contains(&MirrorEvent::Done { exit_code: 0 }));
    Ok(())
}

#[test]
fn a_full_window_is_acknowledged_in_bursts() {
    // Three windows of new files: the master stops at the window each time, the mirror
    // consumes its input, settles what is ready in one burst, and the master goes on.
    let mut src = Fs::new();
    for i in 0..192 {
        src = src.file(
            &format!("f{i:03}"),
            &prng(50 + i, i as u64),
            1_000 + i as i64,
        );
    }
    let cfg = ConstantConfig::default().with_window(64);
    let mut p = Pair::with(src.clone(), Fs::new(), archive(), cfg);
    let names: Vec<String> = (0..192).map(|i| format!("f{i:03}")).collect();
    for n in &names {
        p.master.submit(wp(n)).expect("submit");
    }
    p.master.end_batch().expect("batch");
    p.finish();
    assert_same(&p.dst.fs, &src);
    let acked = p.acked();
    assert_eq!(acked.len(), 193, "every change and BATCH_END");
    assert!(acked.iter().all(|&(_, s)| s == 0), "{acked:?}");
    assert!(p.max_in_flight <= 64, "{}", p.max_in_flight);
    // The longest run of consecutive Settles: a burst, not one at a time.
    let (mut run, mut longest) = (0, 0);
    for r in &p.dst.seen {
        run = if matches!(r, FsRequest::Settle { .. }) {
            run + 1
        } else {
            0
        };
        longest = longest.max(run);
    }
    assert!(
        longest >= 32,
        "Settles issued one at a time (longest run {longest})"
    );
}
