//! Sources that cannot be read (RFC.md §15.7): the master sends nothing that would delete
//! the mirror's copy (no `DELETE`, no `DIR_BEGIN`/`DIR_END`), the rest goes on, and the
//! change is acknowledged with status 23 and the executor's message.

use super::fake::assert_same;
use super::fakefs::{Fs, Kind};
use super::pair::{archive, Pair};
use crate::constant::{
    decode_master, record_context, ChangeId, ConstantError, MasterEvent, MasterRecord, RecordReader,
};
use crate::flist::WirePath;
use crate::session::FsRequest;

fn wp(s: &str) -> WirePath {
    WirePath::new(s.as_bytes().to_vec()).expect("path")
}

/// The paths of every record the master sent (`ENTRY`, `DELETE`, `DIR_BEGIN`, …).
fn record_paths(p: &Pair) -> Vec<(&'static str, Vec<u8>)> {
    let ctx = record_context(&archive());
    let mut r = RecordReader::new();
    r.push(&p.m2r_log);
    let mut v = Vec::new();
    while let Some((k, body)) = r.next_frame().expect("frame") {
        let rec = decode_master(&ctx, k, &body).expect("record");
        let (kind, path) = match rec {
            Some(MasterRecord::Entry { entry, .. }) => ("ENTRY", entry.name),
            Some(MasterRecord::Delete { path, .. }) => ("DELETE", path),
            Some(MasterRecord::HardLink { path, .. }) => ("HARDLINK", path),
            Some(MasterRecord::DirBegin { path, .. }) => ("DIR_BEGIN", path),
            Some(MasterRecord::DirEnd { path, .. }) => ("DIR_END", path),
            _ => continue,
        };
        v.push((kind, path.into_bytes()));
    }
    v
}

/// The status and message of `id`'s acknowledgement, and its position among the events.
fn ack_of(p: &Pair, id: ChangeId) -> (u32, Vec<u8>, usize) {
    let mut found = p
        .master_events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            MasterEvent::Acked {
                id: a,
                status,
                message,
            } if *a == id => Some((*status, message.clone(), i)),
            _ => None,
        });
    let first = found.next().expect("acknowledged");
    assert!(found.next().is_none(), "acknowledged twice");
    first
}

fn file_is(fs: &Fs, path: &str, data: &[u8]) -> bool {
    matches!(fs.get(path.as_bytes()), Some((_, i)) if i.kind == Kind::File(data.to_vec()))
}

/// The source: `d` cannot be listed; `o` can.
fn source() -> Fs {
    Fs::new()
        .dir("d")
        .file("d/new", b"never seen", 5)
        .dir("d/sub")
        .file("d/sub/x", b"source x", 5)
        .dir("o")
        .file("o/f", b"fresh content", 5)
        .file("top", b"top", 5)
}

/// The mirror: stale copies in `d` (to keep) and in `o` (to fix), an extraneous `gone`.
fn mirror() -> Fs {
    Fs::new()
        .dir("d")
        .file("d/old", b"mirror only", 1)
        .dir("d/sub")
        .file("d/sub/x", b"mirror x", 1)
        .dir("o")
        .file("o/f", b"stale", 1)
        .file("o/stale", b"extraneous", 1)
        .file("gone", b"extraneous", 1)
}

#[test]
fn an_unreadable_directory_keeps_its_mirror_subtree_and_the_walk_goes_on() {
    let src = source();
    let mut p = Pair::new(src.clone(), mirror());
    p.src.unlistable.insert(b"d".to_vec());
    let tree = p.master.submit_tree(wp(".")).expect("tree");
    let batch = p.master.end_batch().expect("batch");
    p.finish();

    // The walk went on past `d`: `o` and the top are identical to the source.
    let fs = &p.dst.fs;
    assert!(file_is(fs, "o/f", b"fresh content"));
    assert!(fs.get(b"o/stale").is_none(), "o was not synchronised");
    assert!(fs.get(b"gone").is_none(), "the root was not synchronised");
    assert!(file_is(fs, "top", b"top"));
    // Nothing in `d` was deleted nor sent: the mirror's copy is intact.
    assert!(file_is(fs, "d/old", b"mirror only"));
    assert!(file_is(fs, "d/sub/x", b"mirror x"));
    assert!(fs.get(b"d/new").is_none());
    let recs = record_paths(&p);
    assert!(recs.contains(&("DIR_BEGIN", b"o".to_vec())), "{recs:?}");
    assert!(
        !recs
            .iter()
            .any(|(k, p)| k.starts_with("DIR_") && p.as_slice() == b"d"),
        "{recs:?}"
    );
    assert!(!recs.iter().any(|(_, p)| p.starts_with(b"d/")), "{recs:?}");
    // Its subtree was skipped.
    let listed: Vec<&[u8]> = p
        .src
        .seen
        .iter()
        .filter_map(|r| match r {
            FsRequest::ListDir { path, .. } => Some(path.as_bytes()),
            _ => None,
        })
        .collect();
    assert!(!listed.iter().any(|l| l.starts_with(b"d/")), "{listed:?}");

    // The walk's change is acknowledged with 23 and the message, after the rest of the walk.
    let (status, message, at) = ack_of(&p, tree);
    assert_eq!(status, 23);
    assert_eq!(message, b"opendir failed: Permission denied");
    let sent_o = p
        .master_events
        .iter()
        .position(|e| matches!(e, MasterEvent::Sent { path, .. } if path.as_bytes() == b"o/f"));
    assert!(
        sent_o.is_some_and(|s| s < at),
        "acknowledged before the walk ended"
    );
    assert_eq!(ack_of(&p, batch).0, 0);

    // Once readable, the next walk makes the mirror identical.
    let mut q = Pair::new(src.clone(), p.dst.fs.clone());
    let again = q.master.submit_tree(wp(".")).expect("tree");
    q.master.end_batch().expect("batch");
    q.finish();
    assert_eq!(ack_of(&q, again).0, 0);
    assert_same(&q.dst.fs, &src);
}

#[test]
fn changes_riding_on_the_walk_beneath_the_directory_fail_with_it() {
    let mut p = Pair::new(source(), mirror());
    p.src.unlistable.insert(b"d".to_vec());
    let tree = p.master.submit_tree(wp(".")).expect("tree");
    let inside = p.master.submit(wp("d/sub/x")).expect("inside");
    let outside = p.master.submit(wp("o/f")).expect("outside");
    p.master.end_batch().expect("batch");
    p.finish();
    assert_eq!(ack_of(&p, tree).0, 23);
    let (status, message, _) = ack_of(&p, inside);
    assert_eq!(
        (status, message.as_slice()),
        (23, &b"opendir failed: Permission denied"[..])
    );
    assert_eq!(ack_of(&p, outside).0, 0);
    assert!(file_is(&p.dst.fs, "d/sub/x", b"mirror x"));
    assert!(file_is(&p.dst.fs, "o/f", b"fresh content"));
}

#[test]
fn an_unreadable_directory_of_a_wanted_subtree_is_skipped() {
    // `n` is new on the mirror: WANT_TREE; `n/locked` cannot be listed.
    let src = Fs::new()
        .dir("n")
        .file("n/a", b"a", 5)
        .dir("n/locked")
        .file("n/locked/secret", b"s", 5);
    let mut p = Pair::new(src, Fs::new());
    p.src.unlistable.insert(b"n/locked".to_vec());
    let n = p.master.submit(wp("n")).expect("n");
    p.master.end_batch().expect("batch");
    p.finish();
    let (status, message, _) = ack_of(&p, n);
    assert_eq!(
        (status, message.as_slice()),
        (23, &b"opendir failed: Permission denied"[..])
    );
    assert!(file_is(&p.dst.fs, "n/a", b"a"));
    assert!(p.dst.fs.get(b"n/locked/secret").is_none());
}

#[test]
fn a_path_that_cannot_be_stat_is_acked_23_without_any_record() {
    let src = Fs::new()
        .file("f", b"new", 5)
        .file("g", b"ok", 5)
        .dir("t")
        .file("t/x", b"x", 5);
    let dst = Fs::new()
        .file("f", b"old", 1)
        .dir("t")
        .file("t/keep", b"k", 1);
    let mut p = Pair::new(src, dst);
    p.src.unstatable.insert(b"f".to_vec());
    p.src.unstatable.insert(b"t".to_vec());
    let f = p.master.submit(wp("f")).expect("f");
    let g = p.master.submit(wp("g")).expect("g");
    let t = p.master.submit_tree(wp("t")).expect("t");
    p.master.end_batch().expect("batch");
    p.finish();
    let (status, message, _) = ack_of(&p, f);
    assert_eq!(
        (status, message.as_slice()),
        (23, &b"link_stat failed: Input/output error"[..])
    );
    assert_eq!(ack_of(&p, t).0, 23);
    assert_eq!(ack_of(&p, g).0, 0);
    let recs = record_paths(&p);
    assert!(
        !recs
            .iter()
            .any(|(_, p)| p.as_slice() == b"f" || p.starts_with(b"t")),
        "{recs:?}"
    );
    assert!(recs.contains(&("ENTRY", b"g".to_vec())), "{recs:?}");
    assert!(file_is(&p.dst.fs, "f", b"old"));
    assert!(file_is(&p.dst.fs, "t/keep", b"k"));
    assert!(p.dst.fs.get(b"t/x").is_none());
}

#[test]
fn a_name_of_a_listed_directory_that_cannot_be_stat_ends_the_session() {
    let src = Fs::new().dir("d").file("d/f", b"new", 5);
    let dst = Fs::new().dir("d").file("d/f", b"old", 1);
    let mut p = Pair::new(src, dst);
    p.src.unstatable.insert(b"d/f".to_vec());
    p.master.submit_tree(wp(".")).expect("tree");
    let err = p.settle(100_000).expect_err("the session must end");
    assert!(matches!(err, ConstantError::Unreadable { .. }), "{err:?}");
    assert_eq!(err.exit_code(), 23);
    assert!(p.master.is_done());
    let mut events = Vec::new();
    while let Some(e) = p.master.poll_event() {
        events.push(e);
    }
    assert!(
        events.contains(&MasterEvent::Done { exit_code: 23 }),
        "{events:?}"
    );
    // DIR_END for `d` was never sent: the mirror's copy stays.
    assert!(!record_paths(&p).contains(&("DIR_END", b"d".to_vec())));
    assert!(file_is(&p.dst.fs, "d/f", b"old"));
}
