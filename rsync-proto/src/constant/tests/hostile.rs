//! Scripted peers: interleavings our own peers never produce, and hostile records, each
//! ending with a typed error (and the role finished) or a per-change status.

use proptest::prelude::*;
use rsync_core::{SumHead, Token};

use super::fakefs::Fs;
use super::pair::archive;
use super::script::{hello, ToMaster, ToMirror};
use crate::constant::{
    kind, ConstantConfig, ConstantError, MasterRecord, Mirror, MirrorEvent, MirrorRecord,
    RecordError,
};
use crate::flist::{mode, FileEntry, WirePath};
use crate::token::encode_token;
use crate::wire::WireWrite;

fn wp(s: &str) -> WirePath {
    WirePath::new(s.as_bytes().to_vec()).expect("path")
}

fn file(name: &str, size: u64) -> FileEntry {
    let mut e = FileEntry::new(wp(name), mode::S_IFREG | 0o644);
    e.set_size(size);
    e.set_mtime(1_700_000_000);
    e
}

fn literal(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_token(Token::Literal(data), &mut v);
    v
}

fn file_sum(data: &[u8]) -> Vec<u8> {
    let mut h = archive().strong.file_hasher();
    h.update(data);
    h.finish().as_bytes().to_vec()
}

fn entry(t: &mut ToMirror, id: u64, name: &str, size: u64) -> Result<(), ConstantError> {
    t.send(MasterRecord::Entry {
        id,
        entry: file(name, size),
    })
}

fn data(t: &mut ToMirror, id: u64, bytes: &[u8]) -> Result<(), ConstantError> {
    t.send(MasterRecord::Data {
        id,
        tokens: literal(bytes),
    })
}

fn end(t: &mut ToMirror, id: u64, whole: &[u8]) -> Result<(), ConstantError> {
    t.send(MasterRecord::DataEnd {
        id,
        checksum: file_sum(whole),
    })
}

/// The session ended with `MirrorEvent::Done` and exit code 12.
fn ended(t: &mut ToMirror) {
    assert!(t.mirror.is_done());
    while let Some(e) = t.mirror.poll_event() {
        t.events.push(e);
    }
    assert!(t.events.contains(&MirrorEvent::Done { exit_code: 12 }));
}

#[test]
fn data_of_two_files_may_interleave() -> Result<(), ConstantError> {
    let mut t = ToMirror::new(Fs::new(), ConstantConfig::default());
    entry(&mut t, 1, "f1", 10)?;
    entry(&mut t, 2, "f2", 3)?;
    let sums = t
        .got
        .iter()
        .filter(|r| matches!(r, MirrorRecord::Sums { head, .. } if *head == SumHead::EMPTY))
        .count();
    assert_eq!(sums, 2);
    data(&mut t, 1, b"hello")?;
    data(&mut t, 2, b"abc")?;
    data(&mut t, 1, b"world")?;
    end(&mut t, 2, b"abc")?;
    end(&mut t, 1, b"helloworld")?;
    assert_eq!(t.acks(), vec![(2, 0), (1, 0)]);
    assert_eq!(t.dst.max_open, 2);
    let content = |p: &str| t.dst.fs.get(p.as_bytes()).map(|(_, i)| i.kind.clone());
    use super::fakefs::Kind;
    assert_eq!(content("f1"), Some(Kind::File(b"helloworld".to_vec())));
    assert_eq!(content("f2"), Some(Kind::File(b"abc".to_vec())));
    Ok(())
}

#[test]
fn a_second_mismatch_is_status_23() -> Result<(), ConstantError> {
    let mut t = ToMirror::new(Fs::new(), ConstantConfig::default());
    entry(&mut t, 1, "f", 3)?;
    data(&mut t, 1, b"abc")?;
    end(&mut t, 1, b"xyz")?;
    assert!(t.acks().is_empty());
    data(&mut t, 1, b"abc")?;
    end(&mut t, 1, b"xyz")?;
    assert_eq!(t.acks(), vec![(1, 23)]);
    let sums = t
        .got
        .iter()
        .filter(|r| matches!(r, MirrorRecord::Sums { id: 1, .. }))
        .count();
    assert_eq!(sums, 2, "one whole-file retry");
    assert!(t.dst.fs.get(b"f").is_none());
    assert_eq!(t.dst.open_temps(), 0);
    // A third SUMS would be a protocol error for the master; the mirror forgot the id.
    assert_eq!(
        data(&mut t, 1, b"abc"),
        Err(ConstantError::UnknownId {
            record: "DATA",
            id: 1
        })
    );
    Ok(())
}

#[test]
fn abort_drops_the_file_and_acknowledges_24() -> Result<(), ConstantError> {
    let mut t = ToMirror::new(Fs::new().file("f", b"old", 1), ConstantConfig::default());
    entry(&mut t, 1, "f", 30)?;
    data(&mut t, 1, b"partial")?;
    t.send(MasterRecord::Abort { id: 1 })?;
    assert_eq!(t.acks(), vec![(1, 24)]);
    assert_eq!(t.dst.open_temps(), 0);
    use super::fakefs::Kind;
    let kept = t.dst.fs.get(b"f").map(|(_, i)| i.kind.clone());
    assert_eq!(kept, Some(Kind::File(b"old".to_vec())));
    Ok(())
}

#[test]
fn bye_waits_for_the_changes_in_flight() -> Result<(), ConstantError> {
    let mut t = ToMirror::new(Fs::new(), ConstantConfig::default());
    entry(&mut t, 1, "f", 1)?;
    t.send(MasterRecord::Bye)?;
    assert!(!t.mirror.is_done());
    assert!(!t.got.contains(&MirrorRecord::Bye));
    data(&mut t, 1, b"z")?;
    end(&mut t, 1, b"z")?;
    assert_eq!(t.acks(), vec![(1, 0)]);
    assert_eq!(t.got.last(), Some(&MirrorRecord::Bye));
    assert!(t.mirror.is_done());
    assert!(t.events.contains(&MirrorEvent::Done { exit_code: 0 }));
    Ok(())
}

#[test]
fn ids_must_grow() -> Result<(), ConstantError> {
    let mut t = ToMirror::new(Fs::new(), ConstantConfig::default());
    entry(&mut t, 5, "f", 1)?;
    let again = t.send(MasterRecord::Delete {
        id: 5,
        path: wp("g"),
    });
    assert_eq!(again, Err(ConstantError::StaleId { id: 5, last: 5 }));
    assert_eq!(again.map_err(|e| e.exit_code()), Err(12));
    ended(&mut t);
    // Once failed, the role ignores further input.
    assert_eq!(data(&mut t, 5, b"x"), Ok(()));
    Ok(())
}

/// A `DELETE` record with a raw name, which no [`WirePath`] can hold.
fn raw_delete(name: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.put_varlong(1, 3);
    body.put_vstring(name);
    let mut rec = vec![kind::DELETE];
    rec.put_varint(body.len() as i32);
    rec.extend_from_slice(&body);
    rec
}

#[test]
fn hostile_names_are_rejected_before_any_request() {
    for name in [&b"a/../b"[..], b"/etc/passwd", b"..", b"", b"a//b"] {
        let mut t = ToMirror::new(Fs::new(), ConstantConfig::default());
        let seen = t.dst.seen.len();
        let r = t.raw(&raw_delete(name));
        assert!(
            matches!(r, Err(ConstantError::Record(RecordError::Malformed { .. }))),
            "{name:?}: {r:?}"
        );
        assert_eq!(t.dst.seen.len(), seen, "a request was made for {name:?}");
        assert!(t.mirror.is_done());
    }
}

#[test]
fn the_window_is_enforced() -> Result<(), ConstantError> {
    let cfg = ConstantConfig::default().with_window(64);
    let mut t = ToMirror::new(Fs::new(), cfg);
    for id in 1..=64 {
        entry(&mut t, id, &format!("f{id}"), 1)?;
    }
    assert_eq!(t.mirror.in_flight(), 64);
    assert_eq!(
        entry(&mut t, 65, "f65", 1),
        Err(ConstantError::WindowExceeded { window: 64 })
    );
    Ok(())
}

#[test]
fn records_for_ids_not_expecting_them() -> Result<(), ConstantError> {
    let mut t = ToMirror::new(Fs::new(), ConstantConfig::default());
    assert_eq!(
        data(&mut t, 9, b"x"),
        Err(ConstantError::UnknownId {
            record: "DATA",
            id: 9
        })
    );
    let mut t = ToMirror::new(Fs::new(), ConstantConfig::default());
    let mut dir = FileEntry::new(wp("d"), mode::S_IFDIR | 0o755);
    dir.set_mtime(5);
    t.send(MasterRecord::DirBegin {
        id: 1,
        path: wp("."),
    })?;
    t.send(MasterRecord::Entry { id: 2, entry: dir })?;
    assert_eq!(
        t.send(MasterRecord::DataEnd {
            id: 2,
            checksum: vec![0; 16]
        }),
        Err(ConstantError::UnknownId {
            record: "DATA_END",
            id: 2
        })
    );
    Ok(())
}

#[test]
fn directory_listing_rules() -> Result<(), ConstantError> {
    let cfg = ConstantConfig::default();
    let cases: Vec<(Vec<MasterRecord>, &str)> = vec![
        (
            vec![MasterRecord::DirEnd {
                id: 1,
                path: wp("d"),
            }],
            "without DIR_BEGIN",
        ),
        (
            vec![
                MasterRecord::DirBegin {
                    id: 1,
                    path: wp("d"),
                },
                MasterRecord::Entry {
                    id: 2,
                    entry: file("x/y", 1),
                },
            ],
            "outside",
        ),
        (
            vec![
                MasterRecord::DirBegin {
                    id: 1,
                    path: wp("d"),
                },
                MasterRecord::Delete {
                    id: 2,
                    path: wp("d/x"),
                },
            ],
            "inside",
        ),
        (
            vec![
                MasterRecord::DirBegin {
                    id: 1,
                    path: wp("d"),
                },
                MasterRecord::DirBegin {
                    id: 2,
                    path: wp("d/e"),
                },
            ],
            "inside",
        ),
        (
            vec![
                MasterRecord::DirBegin {
                    id: 1,
                    path: wp("d"),
                },
                MasterRecord::DirEnd {
                    id: 2,
                    path: wp("e"),
                },
            ],
            "another directory",
        ),
    ];
    for (recs, want) in cases {
        let mut t = ToMirror::new(Fs::new().dir("d"), cfg);
        let mut last = Ok(());
        for r in recs {
            last = t.send(r);
            if last.is_err() {
                break;
            }
        }
        match last {
            Err(ConstantError::Unexpected { why, .. }) => assert!(why.contains(want), "{why}"),
            other => panic!("{want}: {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn a_directory_listing_is_bounded() -> Result<(), ConstantError> {
    let cfg = ConstantConfig {
        max_dir_names: 3,
        ..ConstantConfig::default()
    };
    let mut t = ToMirror::new(Fs::new(), cfg);
    t.send(MasterRecord::DirBegin {
        id: 1,
        path: wp("."),
    })?;
    for id in 2..=4 {
        entry(&mut t, id, &format!("f{id}"), 0)?;
    }
    // A name sent twice counts once.
    entry(&mut t, 5, "f2", 0)?;
    let r = entry(&mut t, 6, "f6", 0);
    assert!(
        matches!(r, Err(ConstantError::DirTooLarge { max_names: 3, .. })),
        "{r:?}"
    );
    Ok(())
}

#[test]
fn open_files_are_bounded() -> Result<(), ConstantError> {
    let cfg = ConstantConfig {
        max_open_files: 2,
        ..ConstantConfig::default()
    };
    let mut t = ToMirror::new(Fs::new(), cfg);
    for id in 1..=3 {
        entry(&mut t, id, &format!("f{id}"), 1)?;
    }
    data(&mut t, 1, b"a")?;
    data(&mut t, 2, b"b")?;
    assert_eq!(
        data(&mut t, 3, b"c"),
        Err(ConstantError::TooManyOpenFiles { max: 2 })
    );
    Ok(())
}

#[test]
fn records_before_the_opening() {
    let mut m = Mirror::new(archive(), ConstantConfig::default()).expect("mirror");
    let ctx = crate::constant::record_context(&archive());
    let mut b = Vec::new();
    MasterRecord::Delete {
        id: 1,
        path: wp("x"),
    }
    .encode(&ctx, &mut b)
    .expect("encode");
    let r = m.handle_data(&b);
    assert!(
        matches!(
            r,
            Err(ConstantError::Unexpected {
                why: "before HELLO",
                ..
            })
        ),
        "{r:?}"
    );
    // HELLO with version 0.
    let mut m = Mirror::new(archive(), ConstantConfig::default()).expect("mirror");
    let mut b = Vec::new();
    let h = crate::constant::Hello {
        version: 0,
        features: 0,
        window: 64,
    };
    MasterRecord::Hello(h).encode(&ctx, &mut b).expect("encode");
    assert_eq!(m.handle_data(&b).map_err(|e| e.exit_code()), Err(2));
    assert_eq!(
        m.handle_eof(),
        Ok(()),
        "finished roles ignore the end of file"
    );
}

#[test]
fn master_rejects_records_for_ids_it_did_not_send() -> Result<(), ConstantError> {
    let src = Fs::new().file("f", b"data", 1).dir("d");
    let mut t = ToMaster::new(src.clone());
    t.master.submit(wp("f"))?;
    t.serve()?;
    assert!(matches!(
        t.got.last(),
        Some(MasterRecord::Entry { id: 1, .. })
    ));
    let sums = |id| MirrorRecord::Sums {
        id,
        head: SumHead::EMPTY,
        sums: Vec::new(),
    };
    assert_eq!(
        t.send(sums(2)),
        Err(ConstantError::UnknownId {
            record: "SUMS",
            id: 2
        })
    );
    let mut t = ToMaster::new(src.clone());
    t.master.submit(wp("f"))?;
    t.serve()?;
    let ack = MirrorRecord::Ack {
        id: 7,
        status: 0,
        message: Vec::new(),
    };
    assert_eq!(
        t.send(ack),
        Err(ConstantError::UnknownId {
            record: "ACK",
            id: 7
        })
    );
    let mut t = ToMaster::new(src.clone());
    t.master.submit(wp("f"))?;
    t.serve()?;
    let want = MirrorRecord::WantTree {
        id: 1,
        path: wp("f"),
    };
    assert_eq!(
        t.send(want),
        Err(ConstantError::UnknownId {
            record: "WANT_TREE",
            id: 1
        })
    );
    // SUMS twice for the same file (the retry must come after DATA_END).
    let mut t = ToMaster::new(src.clone());
    t.master.submit(wp("f"))?;
    t.serve()?;
    let head = SumHead {
        count: 1,
        block_len: 700,
        strong_len: 2,
        remainder: 4,
    };
    let partial = MirrorRecord::Sums {
        id: 1,
        head: SumHead { count: 2, ..head },
        sums: vec![0; 6],
    };
    t.send(partial)?;
    assert_eq!(
        t.send(sums(1)),
        Err(ConstantError::UnknownId {
            record: "SUMS",
            id: 1
        })
    );
    // Block sums beyond what the master holds.
    let mut t = ToMaster::new(src);
    t.master.submit(wp("f"))?;
    t.serve()?;
    let huge = MirrorRecord::Sums {
        id: 1,
        head: SumHead {
            count: 1 << 24,
            block_len: 700,
            strong_len: 16,
            remainder: 0,
        },
        sums: Vec::new(),
    };
    let r = t.send(huge);
    assert!(
        matches!(r, Err(ConstantError::SumsTooLarge { .. })),
        "{r:?}"
    );
    Ok(())
}

#[test]
fn master_keeps_to_the_mirrors_window() -> Result<(), ConstantError> {
    let mut src = Fs::new();
    for i in 0..200 {
        src = src.file(&format!("f{i:03}"), b"x", 1);
    }
    let mut t = ToMaster::new(src);
    for i in 0..200 {
        t.master.submit(wp(&format!("f{i:03}")))?;
    }
    t.serve()?;
    assert_eq!(t.master.in_flight(), 64);
    let ids: Vec<u64> = t
        .got
        .iter()
        .filter_map(|r| match r {
            MasterRecord::Entry { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(ids, (1..=64).collect::<Vec<u64>>());
    // One acknowledgement makes room for one more.
    t.send(MirrorRecord::Ack {
        id: 3,
        status: 0,
        message: Vec::new(),
    })?;
    assert_eq!(t.master.in_flight(), 64);
    assert!(matches!(
        t.got.last(),
        Some(MasterRecord::Entry { id: 65, .. })
    ));
    // A mirror BYE before every change is acknowledged.
    let r = t.send(MirrorRecord::Bye);
    assert!(
        matches!(r, Err(ConstantError::Unexpected { record: "BYE", .. })),
        "{r:?}"
    );
    Ok(())
}

#[test]
fn master_refuses_a_small_window() {
    let mut t = ToMaster::new(Fs::new());
    let mut m = crate::constant::Master::new(archive(), ConstantConfig::default()).expect("m");
    let mut b = Vec::new();
    MirrorRecord::Hello(hello(10))
        .encode(&mut b)
        .expect("encode");
    assert!(matches!(
        m.handle_data(&b),
        Err(ConstantError::Incompatible { window: 10, .. })
    ));
    assert_eq!(
        t.send(MirrorRecord::Hello(hello(64))),
        Err(ConstantError::Unexpected {
            record: "HELLO",
            why: "twice"
        })
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary bytes after a valid opening end in an error or nothing, never a panic,
    /// and leave the roles consistent.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        cut in 1usize..64,
    ) {
        let mut t = ToMirror::new(Fs::new().file("f", b"abc", 1).dir("d"), ConstantConfig::default());
        for c in bytes.chunks(cut) {
            if t.raw(c).is_err() {
                prop_assert!(t.mirror.is_done());
                break;
            }
        }
        let mut m = ToMaster::new(Fs::new().file("f", b"abc", 1).dir("d"));
        let _ = m.master.submit(wp("f"));
        let _ = m.master.submit(wp("d"));
        let _ = m.serve();
        for c in bytes.chunks(cut) {
            if m.raw(c).is_err() {
                prop_assert!(m.master.is_done());
                break;
            }
        }
    }

    /// Valid-looking records with random ids, names and tokens.
    #[test]
    fn random_records_never_panic(ops in proptest::collection::vec((0u8..8, 1u64..6, 0usize..4), 0..40)) {
        let names = ["f", "d", "d/x", "."];
        let mut t = ToMirror::new(Fs::new().file("f", b"abc", 1).dir("d"), ConstantConfig::default());
        for (op, id, n) in ops {
            let name = wp(names[n % names.len()]);
            let rec = match op {
                0 => MasterRecord::Entry { id, entry: file(names[n % 3], 3) },
                1 => MasterRecord::Delete { id, path: name },
                2 => MasterRecord::Data { id, tokens: literal(b"abc") },
                3 => MasterRecord::DataEnd { id, checksum: file_sum(b"abc") },
                4 => MasterRecord::Abort { id },
                5 => MasterRecord::DirBegin { id, path: name },
                6 => MasterRecord::DirEnd { id, path: name },
                _ => MasterRecord::BatchEnd { id },
            };
            if t.send(rec).is_err() {
                prop_assert!(t.mirror.is_done());
                break;
            }
        }
    }
}

#[test]
fn want_tree_precedes_the_ack_and_listings_do_not_ask() -> Result<(), ConstantError> {
    let mut t = ToMirror::new(Fs::new(), ConstantConfig::default());
    let dir = |name: &str| {
        let mut d = FileEntry::new(wp(name), mode::S_IFDIR | 0o755);
        d.set_mtime(9);
        d
    };
    t.send(MasterRecord::Entry {
        id: 1,
        entry: dir("n"),
    })?;
    let want = t.got.iter().position(
        |r| matches!(r, MirrorRecord::WantTree { id: 1, path } if path.as_bytes() == b"n"),
    );
    let ack = t
        .got
        .iter()
        .position(|r| matches!(r, MirrorRecord::Ack { id: 1, .. }));
    assert!(
        matches!((want, ack), (Some(w), Some(a)) if w < a),
        "{:?}",
        t.got
    );
    // Inside a listing a created directory is not asked for: the master walks it.
    t.send(MasterRecord::DirBegin {
        id: 2,
        path: wp("n"),
    })?;
    t.send(MasterRecord::Entry {
        id: 3,
        entry: dir("n/sub"),
    })?;
    t.send(MasterRecord::DirEnd {
        id: 4,
        path: wp("n"),
    })?;
    let wants = t
        .got
        .iter()
        .filter(|r| matches!(r, MirrorRecord::WantTree { .. }))
        .count();
    assert_eq!(wants, 1);
    assert_eq!(t.acks(), vec![(1, 0), (2, 0), (3, 0), (4, 0)]);
    assert!(t.dst.fs.get(b"n/sub").is_some());
    Ok(())
}

#[test]
fn a_later_change_supersedes_a_deferred_deletion() -> Result<(), ConstantError> {
    let mut t = ToMirror::new(Fs::new().file("f", b"old", 1), ConstantConfig::default());
    t.send(MasterRecord::Delete {
        id: 1,
        path: wp("f"),
    })?;
    assert!(t.acks().is_empty(), "deferred until BATCH_END");
    entry(&mut t, 2, "f", 5)?;
    // The superseded deletion is acknowledged at once, not carried out.
    assert_eq!(t.acks(), vec![(1, 0)]);
    data(&mut t, 2, b"fresh")?;
    end(&mut t, 2, b"fresh")?;
    t.send(MasterRecord::BatchEnd { id: 3 })?;
    assert_eq!(t.acks(), vec![(1, 0), (2, 0), (3, 0)]);
    use super::fakefs::Kind;
    let got = t.dst.fs.get(b"f").map(|(_, i)| i.kind.clone());
    assert_eq!(got, Some(Kind::File(b"fresh".to_vec())));
    Ok(())
}

#[test]
fn a_deferred_file_replaced_behind_our_back_is_kept() -> Result<(), ConstantError> {
    let mut t = ToMirror::new(Fs::new().file("f", b"old", 1), ConstantConfig::default());
    t.send(MasterRecord::Delete {
        id: 1,
        path: wp("f"),
    })?;
    // Another process replaces the file (a new inode) before the batch ends.
    t.dst.fs = t.dst.fs.clone().file("f", b"someone else's", 2);
    t.send(MasterRecord::BatchEnd { id: 2 })?;
    assert_eq!(t.acks(), vec![(1, 0), (2, 0)]);
    assert!(t.dst.fs.get(b"f").is_some());
    Ok(())
}

#[test]
fn keepalives_are_empty_output() {
    let mut t = ToMirror::new(Fs::new(), ConstantConfig::default());
    let mut out = Vec::new();
    assert!(!t.mirror.poll_output(&mut out));
    t.mirror.keepalive();
    assert!(t.mirror.poll_output(&mut out));
    assert!(out.is_empty());
    assert!(!t.mirror.poll_output(&mut out), "one keepalive per call");
    let mut m = ToMaster::new(Fs::new());
    m.master.keepalive();
    assert!(m.master.poll_output(&mut out));
    assert!(out.is_empty());
}

#[test]
fn bye_carries_out_deferred_deletions_silently() -> Result<(), ConstantError> {
    let mut t = ToMirror::new(Fs::new().file("f", b"old", 1), ConstantConfig::default());
    t.send(MasterRecord::Delete {
        id: 1,
        path: wp("f"),
    })?;
    entry(&mut t, 2, "g", 1)?;
    t.send(MasterRecord::Bye)?;
    assert!(
        t.acks().is_empty(),
        "the deletion waits for the file in flight"
    );
    data(&mut t, 2, b"g")?;
    end(&mut t, 2, b"g")?;
    // Only the master's ids are acknowledged, then BYE.
    assert_eq!(t.acks(), vec![(2, 0), (1, 0)]);
    assert_eq!(t.got.last(), Some(&MirrorRecord::Bye));
    assert!(t.dst.fs.get(b"f").is_none());
    Ok(())
}
