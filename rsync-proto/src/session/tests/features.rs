//! Pair scenarios for the full feature set, at every protocol and in both directions: hard
//! links, `--delete`, dry runs, `-c`, attribute-only changes, type changes, symlinks,
//! devices, `--inplace`, keepalives, id mapping, `--files-from` forwarding.

use super::fakefs::{DstDriver, Fs, Kind, NOW};
use super::pair::{prng, Dir, Pair};
use super::scenarios::{run, DIRS, PROTOCOLS};
use crate::flist::IdList;
use crate::session::{iflags, DeleteTiming, Event, FileOutcome, FilesFrom, FsRequest, Session};

/// The flags of every itemize record one side reported, by name.
fn records(p: &Pair, sender_side: bool) -> Vec<(String, u16, Option<Vec<u8>>)> {
    let (events, list) = if sender_side {
        (&p.sender_events, p.sender.file_list())
    } else {
        (&p.receiver_events, p.receiver.file_list())
    };
    events
        .iter()
        .filter_map(|e| match e {
            Event::Itemize { ndx, iflags, xname } => {
                let e = list.get(*ndx as usize)?.as_ref()?;
                let name = String::from_utf8_lossy(e.name.as_bytes()).into_owned();
                Some((name, *iflags, xname.clone()))
            }
            _ => None,
        })
        .collect()
}

fn flags_of(p: &Pair, name: &str) -> Option<u16> {
    records(p, false)
        .into_iter()
        .find(|(n, ..)| n == name)
        .map(|(_, f, _)| f)
}

fn deleted(events: &[Event]) -> Vec<(String, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Deleted { name, is_dir } => Some((
                String::from_utf8_lossy(name.as_bytes()).into_owned(),
                *is_dir,
            )),
            _ => None,
        })
        .collect()
}

fn hlinked(o: &mut crate::session::SessionOptions) {
    o.flist.preserve_hard_links = true;
    o.itemize = 1;
}

/// A new group of three: one transfer, the others linked to it and itemized with the
/// target name (hf+++++++++ x => y).
#[test]
fn hard_links_new_group() {
    for p in PROTOCOLS {
        for d in DIRS {
            let src = Fs::new()
                .file("a", b"linked data", 5)
                .dir("sub")
                .hardlink("sub/b", "a")
                .hardlink("c", "a")
                .file("solo", b"alone", 5);
            let mut pair = Pair::with_options(p, d, src.clone(), Fs::new(), hlinked);
            run(&mut pair, 0);
            assert_eq!(pair.dst.fs.snapshot(), src.snapshot(), "p{p} {d:?}");
            let reads = pair
                .src
                .seen
                .iter()
                .filter(|r| matches!(r, FsRequest::ReadFile { .. }))
                .count();
            assert_eq!(reads, 2, "p{p} {d:?}: one transfer per group");
            let links = pair
                .dst
                .seen
                .iter()
                .filter(|r| matches!(r, FsRequest::HardLink { .. }))
                .count();
            assert_eq!(links, 2);
            if p >= 29 {
                // The last member is transferred; the others follow it.
                let recs = records(&pair, false);
                let linked: Vec<_> = recs
                    .iter()
                    .filter(|(_, f, _)| f & iflags::XNAME_FOLLOWS != 0)
                    .collect();
                assert_eq!(linked.len(), 2, "p{p} {d:?}: {recs:?}");
                for (_, f, x) in linked {
                    assert_eq!(
                        *f,
                        iflags::IS_NEW | iflags::LOCAL_CHANGE | iflags::XNAME_FOLLOWS
                    );
                    assert_eq!(x.as_deref(), Some(&b"sub/b"[..]));
                }
            }
        }
    }
}

/// The leader is up to date and one member is a separate copy: it is linked (no transfer).
#[test]
fn hard_links_leader_up_to_date() {
    for p in PROTOCOLS {
        for d in DIRS {
            let src = Fs::new().file("a", b"same", 5).hardlink("b", "a");
            let dst = Fs::new().file("a", b"same", 5).file("b", b"same", 5);
            let mut pair = Pair::with_options(p, d, src.clone(), dst, hlinked);
            run(&mut pair, 0);
            assert_eq!(pair.dst.fs.snapshot(), src.snapshot(), "p{p} {d:?}");
            assert!(!pair
                .src
                .seen
                .iter()
                .any(|r| matches!(r, FsRequest::ReadFile { .. })));
            if p >= 29 {
                assert_eq!(
                    flags_of(&pair, "b"),
                    Some(iflags::LOCAL_CHANGE | iflags::XNAME_FOLLOWS)
                );
            }
        }
    }
}

fn delete_trees() -> (Fs, Fs) {
    let src = Fs::new()
        .file("keep", b"k", 1)
        .dir("d")
        .file("d/in", b"i", 1);
    let dst = Fs::new()
        .file("keep", b"k", 1)
        .file("old", b"o", 1)
        .dir("d")
        .file("d/in", b"i", 1)
        .file("d/gone", b"g", 1)
        .dir("x")
        .file("x/y", b"y", 1)
        .dir("x/z")
        .symlink("x/z/l", "y");
    (src, dst)
}

/// `--delete` (each timing) removes what the list does not have, depth first and in
/// rsync's order, reports it on both sides, and counts it.
#[test]
fn delete_extraneous_entries() {
    for p in PROTOCOLS {
        for d in DIRS {
            for t in [
                DeleteTiming::Auto,
                DeleteTiming::Before,
                DeleteTiming::After,
            ] {
                let (src, dst) = delete_trees();
                let mut pair = Pair::with_options(p, d, src.clone(), dst, |o| {
                    o.delete = Some(t);
                });
                run(&mut pair, 0);
                assert_eq!(
                    pair.dst.fs.snapshot().0,
                    src.snapshot().0,
                    "p{p} {d:?} {t:?}"
                );
                let ours = deleted(&pair.receiver_events);
                // delete.c order: the listing backwards (protocol ≥ 29: directories after
                // files, so they come first), a directory's content before it.
                // (Byte order gives the same sequence here.)
                let x = [
                    ("x/z/l", false),
                    ("x/z", true),
                    ("x/y", false),
                    ("x", true),
                    ("old", false),
                ];
                let mut want: Vec<(String, bool)> =
                    x.into_iter().map(|(n, b)| (n.to_string(), b)).collect();
                want.push(("d/gone".into(), false));
                assert_eq!(ours, want, "p{p} {d:?} {t:?}");
                // The client sender hears of them with MSG_DELETED (protocol ≥ 29).
                if d == Dir::Push && p >= 29 {
                    assert_eq!(deleted(&pair.sender_events), want, "p{p} {t:?}");
                }
                let (_, rs) = Pair::done(&pair.receiver_events).expect("done");
                let del = rs.expect("stats").deleted;
                assert_eq!((del.regular, del.dirs, del.symlinks), (3, 2, 1));
                if p >= 31 {
                    // NDX_DEL_STATS reaches the sender.
                    let (_, ss) = Pair::done(&pair.sender_events).expect("done");
                    assert_eq!(ss.expect("stats").deleted, del, "p{p} {d:?} {t:?}");
                }
            }
        }
    }
}

/// A dry run asks for no write, leaves the destination alone, and reports exactly what
/// the real run does.
#[test]
fn dry_run_changes_nothing_and_reports_the_same() {
    for p in PROTOCOLS {
        for d in DIRS {
            let (src, dst) = delete_trees();
            let src = src
                .file("new", &prng(3000, 3), 7)
                .symlink("ln", "keep")
                .fifo("ff")
                .chardev("null", 1, 3)
                .dir("nd")
                .file("nd/f", b"f", 4)
                .file("x", b"file over dir", 4);
            let tweak = |dry: bool| {
                move |o: &mut crate::session::SessionOptions| {
                    // (--delete-before would change directory times in the real run only.)
                    o.delete = Some(DeleteTiming::During);
                    o.dry_run = dry;
                    o.itemize = 1;
                }
            };
            let mut dry = Pair::with_options(p, d, src.clone(), dst.clone(), tweak(true));
            run(&mut dry, 0);
            assert_eq!(dry.dst.fs, dst, "p{p} {d:?}: the destination changed");
            assert!(
                !dry.dst.seen.iter().any(DstDriver::is_write),
                "p{p} {d:?}: {:?}",
                dry.dst.seen
            );
            assert!(!dry
                .src
                .seen
                .iter()
                .any(|r| matches!(r, FsRequest::ReadFile { .. })));
            let mut real = Pair::with_options(p, d, src.clone(), dst, tweak(false));
            run(&mut real, 0);
            assert_eq!(real.dst.fs.snapshot().0, src.snapshot().0);
            assert_eq!(records(&dry, false), records(&real, false), "p{p} {d:?}");
            assert_eq!(records(&dry, true), records(&real, true), "p{p} {d:?}");
            assert_eq!(
                deleted(&dry.receiver_events),
                deleted(&real.receiver_events)
            );
        }
    }
}

/// `-c`: equal size and mtime but different content is transferred; equal content with
/// another mtime is not (only its time is set).
#[test]
fn checksum_mode() {
    for p in PROTOCOLS {
        for d in DIRS {
            let src = Fs::new()
                .file("differs", b"AAAA", 5)
                .file("touched", b"same", 9);
            let dst = Fs::new()
                .file("differs", b"BBBB", 5)
                .file("touched", b"same", 1);
            let mut pair = Pair::with_options(p, d, src.clone(), dst, |o| {
                o.checksum = true;
                o.itemize = 1;
            });
            run(&mut pair, 0);
            assert_eq!(pair.dst.fs.snapshot(), src.snapshot(), "p{p} {d:?}");
            let reads: Vec<_> = pair
                .src
                .seen
                .iter()
                .filter_map(|r| match r {
                    FsRequest::ReadFile { path, .. } => Some(path.as_bytes().to_vec()),
                    _ => None,
                })
                .collect();
            assert_eq!(reads, vec![b"differs".to_vec()], "p{p} {d:?}");
            if p >= 29 {
                assert_eq!(
                    flags_of(&pair, "differs"),
                    Some(iflags::TRANSFER | iflags::REPORT_CHANGE)
                );
                assert_eq!(flags_of(&pair, "touched"), Some(iflags::REPORT_TIME));
            }
        }
    }
}

/// Attributes only: no transfer, a SetMeta, and `.f...p.....`-style flags.
#[test]
fn attribute_only_changes() {
    for p in PROTOCOLS {
        for d in DIRS {
            let src = Fs::new()
                .file("perm", b"x", 5)
                .attrs("perm", 0o600, 0, 0)
                .file("own", b"y", 5)
                .attrs("own", 0o644, 7, 8)
                .dir("dir")
                .attrs("dir", 0o700, 0, 0);
            let dst = Fs::new()
                .file("perm", b"x", 5)
                .file("own", b"y", 5)
                .dir("dir");
            let mut pair = Pair::with_options(p, d, src.clone(), dst, |o| o.itemize = 1);
            run(&mut pair, 0);
            assert_eq!(pair.dst.fs.snapshot(), src.snapshot(), "p{p} {d:?}");
            assert!(!pair
                .src
                .seen
                .iter()
                .any(|r| matches!(r, FsRequest::ReadFile { .. })));
            if p >= 29 {
                assert_eq!(flags_of(&pair, "perm"), Some(iflags::REPORT_PERMS));
                assert_eq!(
                    flags_of(&pair, "own"),
                    Some(iflags::REPORT_OWNER | iflags::REPORT_GROUP)
                );
                assert_eq!(flags_of(&pair, "dir"), Some(iflags::REPORT_PERMS));
            }
        }
    }
}

/// Symlinks, devices and specials are created, replaced and left alone as rsync does;
/// a type change replaces what is in the way (a directory with its content).
#[test]
fn non_regular_entries_and_type_changes() {
    for p in PROTOCOLS {
        for d in DIRS {
            let src = Fs::new()
                .symlink("same", "t")
                .symlink("retarget", "new")
                .chardev("dev", 1, 3)
                .fifo("fifo")
                .file("was_dir", b"file now", 3)
                .dir("was_file")
                .symlink("was_file_link", "x");
            let dst = Fs::new()
                .symlink("same", "t")
                .symlink("retarget", "old")
                .chardev("dev", 1, 5)
                .fifo("fifo")
                .dir("was_dir")
                .file("was_dir/inside", b"i", 1)
                .file("was_file", b"f", 1)
                .file("was_file_link", b"f", 1);
            let mut pair = Pair::with_options(p, d, src.clone(), dst, |o| {
                o.delete = Some(DeleteTiming::Auto);
                o.itemize = 1;
            });
            run(&mut pair, 0);
            assert_eq!(pair.dst.fs.snapshot(), src.snapshot(), "p{p} {d:?}");
            // The content of a directory in the way is deleted (and reported), the
            // directory itself silently.
            assert_eq!(
                deleted(&pair.receiver_events),
                vec![("was_dir/inside".to_string(), false)]
            );
            if p >= 29 {
                let change = iflags::LOCAL_CHANGE | iflags::REPORT_CHANGE;
                assert_eq!(flags_of(&pair, "same"), None, "unchanged: no record");
                assert_eq!(flags_of(&pair, "retarget"), Some(change));
                assert_eq!(flags_of(&pair, "dev"), Some(change));
                assert_eq!(
                    flags_of(&pair, "was_file"),
                    Some(iflags::IS_NEW | iflags::LOCAL_CHANGE)
                );
                assert_eq!(
                    flags_of(&pair, "was_file_link"),
                    Some(change | iflags::IS_NEW)
                );
                assert_eq!(
                    flags_of(&pair, "was_dir"),
                    Some(iflags::TRANSFER | iflags::IS_NEW)
                );
            }
        }
    }
}

/// Without `--delete` a non-empty directory in the way stays: exit 23, as rsync.
#[test]
fn non_empty_directory_in_the_way_without_delete() {
    for p in [29, 31] {
        let src = Fs::new().file("x", b"file", 3);
        let dst = Fs::new().dir("x").file("x/keep", b"k", 1);
        let mut pair = Pair::new(p, Dir::Pull, src, dst.clone());
        run(&mut pair, 23);
        assert_eq!(
            pair.dst.fs.get(b"x/keep").map(|(_, i)| i.kind.clone()),
            Some(Kind::File(b"k".to_vec()))
        );
        let logs: Vec<String> = pair
            .receiver_events
            .iter()
            .filter_map(|e| match e {
                Event::Log { text, .. } => Some(String::from_utf8_lossy(text).into_owned()),
                _ => None,
            })
            .collect();
        assert_eq!(
            logs,
            [
                "cannot delete non-empty directory: x\n",
                "could not make way for new regular file: x\n"
            ]
        );
    }
}

/// `--inplace`: the sender never copies a block the receiver has already overwritten.
#[test]
fn inplace_never_copies_overwritten_blocks() {
    for p in PROTOCOLS {
        for d in DIRS {
            // Two blocks swapped: copying block 0 after writing block 1 over it would read
            // new data.
            let a = prng(70_000, 1);
            let b = prng(70_000, 2);
            let old = [a.as_slice(), b.as_slice()].concat();
            let new = [b.as_slice(), a.as_slice()].concat();
            let src = Fs::new().file("f", &new, 9);
            let dst = Fs::new().file("f", &old, 1);
            let mut pair = Pair::with_options(p, d, src.clone(), dst, |o| {
                o.inplace = true;
                o.block_size = 70_000;
            });
            run(&mut pair, 0);
            assert_eq!(pair.dst.fs.snapshot(), src.snapshot(), "p{p} {d:?}");
            assert!(
                !pair.outcomes().iter().any(|(_, o)| *o == FileOutcome::Redo),
                "p{p} {d:?}: {:?}",
                pair.outcomes()
            );
            let mut written = 0u64;
            for r in &pair.dst.seen {
                match r {
                    FsRequest::Write { data, .. } => written += data.len() as u64,
                    FsRequest::CopyFromBasis { offset, .. } => {
                        assert!(
                            *offset >= written,
                            "p{p} {d:?}: copy of {offset} at {written}"
                        )
                    }
                    _ => {}
                }
            }
        }
    }
}

/// A keepalive is an empty `MSG_DATA` frame where the output is multiplexed, nothing on a
/// plain stream or with output pending, and the peer takes it mid-session.
#[test]
fn keepalives() {
    for p in PROTOCOLS {
        for d in DIRS {
            let src = Fs::new().file("f", &prng(10_000, 1), 9);
            let mut pair = Pair::new(p, d, src.clone(), Fs::new());
            for _ in 0..3 {
                pair.step().expect("step");
            }
            pair.flush();
            pair.sender.keepalive();
            pair.receiver.keepalive();
            // Delivered to the peers in the course of the run, they change nothing.
            let (s, r) = pair.flush();
            let muxed = |server: bool| server || p >= 30;
            let frame = vec![0, 0, 0, 7];
            let want = |server: bool| {
                if muxed(server) {
                    frame.clone()
                } else {
                    Vec::new()
                }
            };
            assert_eq!(s, want(d == Dir::Pull), "p{p} {d:?} sender");
            assert_eq!(r, want(d == Dir::Push), "p{p} {d:?} receiver");
            run(&mut pair, 0);
            assert_eq!(pair.dst.fs.snapshot(), src.snapshot());
        }
    }
    // Nothing when output is pending.
    let mut o = crate::session::SessionOptions::plain(31, 0, false);
    o.filter_rules = vec![b"- x".to_vec()];
    let mut r = crate::session::Receiver::new(o).expect("receiver");
    r.keepalive();
    let mut out = Vec::new();
    assert!(r.poll_transmit(&mut out));
    assert!(!out.windows(4).any(|w| w == [0, 0, 0, 7]), "{out:?}");
}

/// The protocol-29 keepalive record (index = list length, `ITEM_IS_NEW`) is skipped.
#[test]
fn protocol_29_keepalive_record() {
    let src = Fs::new().file("f", b"data", 9);
    let mut pair = Pair::new(29, Dir::Push, src.clone(), Fs::new());
    for _ in 0..3 {
        pair.step().expect("step");
    }
    // Two entries ("." and "f"): index 2 is the keepalive.
    pair.flush();
    let mut rec = vec![6, 0, 0, 7];
    rec.extend_from_slice(&2i32.to_le_bytes());
    rec.extend_from_slice(&iflags::IS_NEW.to_le_bytes());
    pair.sender.handle_input(&rec).expect("sender skips it");
    run(&mut pair, 0);
    assert_eq!(pair.dst.fs.snapshot(), src.snapshot());
}

/// Without `--numeric-ids`, the sender's names are mapped to local ids before anything is
/// compared or set.
#[test]
fn ids_are_mapped_by_name() {
    for p in [29, 31] {
        let src = Fs::new().file("f", b"x", 5).attrs("f", 0o644, 1000, 2000);
        let mut pair = Pair::with_options(p, Dir::Pull, src, Fs::new(), |o| {
            o.flist.numeric_ids = false;
        });
        pair.src.ids = (
            IdList::new(vec![(1000, b"alice".to_vec())]),
            IdList::new(vec![(2000, b"staff".to_vec())]),
        );
        pair.dst.id_map = (vec![(1000, 501)], vec![(2000, 20)]);
        run(&mut pair, 0);
        let (_, i) = pair.dst.fs.get(b"f").expect("file");
        assert_eq!((i.uid, i.gid), (501, 20), "p{p}");
        assert!(pair
            .dst
            .seen
            .iter()
            .any(|r| matches!(r, FsRequest::MapIds { .. })));
    }
}

/// Directories get their metadata at the end, after their content changed them.
#[test]
fn directory_times_are_set_last() {
    let src = Fs::new().dir("d").file("d/f", b"x", 5);
    let mut pair = Pair::new(31, Dir::Push, src.clone(), Fs::new());
    run(&mut pair, 0);
    let (_, d) = pair.dst.fs.get(b"d").expect("dir");
    assert_ne!(d.mtime, NOW);
    assert_eq!(pair.dst.fs.snapshot(), src.snapshot());
}

/// An I/O error of the sender's walk (at the end of the file list, or `MSG_IO_ERROR` at
/// protocol 30) stops `--delete` and ends the run with exit 23 on both sides.
#[test]
fn sender_io_error_skips_deletions() {
    for p in PROTOCOLS {
        for d in DIRS {
            let src = Fs::new().file("f", b"x", 1);
            let dst = Fs::new().file("extra", b"y", 1);
            let mut pair = Pair::with_options(p, d, src, dst, |o| {
                o.delete = Some(DeleteTiming::During);
            });
            pair.src.io_error = 1;
            run(&mut pair, 23);
            assert!(pair.dst.fs.get(b"extra").is_some(), "p{p} {d:?}");
            assert!(pair.dst.fs.get(b"f").is_some());
            let said = |events: &[Event]| {
                events.iter().any(|e| {
                    matches!(e, Event::Log { text, .. }
                        if text.starts_with(b"IO error encountered -- skipping file deletion"))
                })
            };
            // A client says it; a server sends it to the client as MSG_INFO.
            let heard = if d == Dir::Pull {
                said(&pair.receiver_events)
            } else {
                said(&pair.sender_events)
            };
            assert!(heard, "p{p} {d:?}");
            let (s, _) = Pair::done(&pair.sender_events).expect("done");
            assert_eq!(s, 23, "p{p} {d:?}");
        }
    }
}

/// `--files-from` forwarded by a client receiver: inside `MSG_DATA` from protocol 31, raw
/// between two frames at 30 (right after the filter list's frame, framing resumes after the
/// empty name), raw in the raw stream below; the server sender reads exactly the names, in
/// any delivery chunking.
#[test]
fn files_from_forwarding() {
    let names: Vec<Vec<u8>> = vec![b"a.txt".to_vec(), b"d/b\nc".to_vec(), b"x\xff".to_vec()];
    let raw: Vec<u8> = names
        .iter()
        .flat_map(|n| [&n[..], b"\0"].concat())
        .collect();
    let raw = [raw, vec![0]].concat();
    for p in PROTOCOLS {
        for chunks in [vec![usize::MAX], vec![1], vec![3, 7, 2]] {
            let src = Fs::new().file("a.txt", b"aaa", 9);
            let n = names.clone();
            let mut pair = Pair::with_sides(
                p,
                Dir::Pull,
                src,
                Fs::new(),
                |o| o.files_from = FilesFrom::Receive,
                move |o| o.files_from = FilesFrom::Send(n.clone()),
            );
            pair.chunks = chunks.clone();
            run(&mut pair, 0);
            let asked = pair.src.seen.iter().find_map(|r| match r {
                FsRequest::FileList { files_from, .. } => Some(files_from.clone()),
                _ => None,
            });
            assert_eq!(asked, Some(Some(names.clone())), "p{p} {chunks:?}");
            let log = &pair.r2s_log;
            let filter_end: &[u8] = if p >= 30 {
                &[4, 0, 0, 7, 0, 0, 0, 0]
            } else {
                &[0, 0, 0, 0]
            };
            let raw_at = |at: usize| log.get(at..at + raw.len()) == Some(&raw[..]);
            match p {
                31.. => {
                    // One frame: the filter list's end, then the names.
                    let len = (4 + raw.len()) as u8;
                    assert!(log.starts_with(&[len, 0, 0, 7, 0, 0, 0, 0]), "p{p}");
                    assert!(raw_at(8), "p{p}");
                }
                30 => {
                    assert!(log.starts_with(filter_end), "p30");
                    assert!(raw_at(8), "p30: raw names after the filter frame");
                    // Frames again after them (the generator's requests).
                    assert_eq!(log.get(8 + raw.len() + 3), Some(&7), "p30: framed again");
                }
                _ => {
                    assert!(log.starts_with(filter_end) && raw_at(4), "p{p}");
                }
            }
        }
    }
}

/// At protocol 30 the names must start where a frame ends: bytes of the filter list's frame
/// left after its end are a protocol error, as rsync's assertion makes them.
#[test]
fn files_from_at_30_must_follow_a_frame_end() {
    let mut so = super::pair::archive(30, true);
    so.files_from = FilesFrom::Receive;
    let mut s = crate::session::Sender::new(so).expect("sender");
    // The filter list's end and a name in the same frame.
    let r = s.handle_input(&[8, 0, 0, 7, 0, 0, 0, 0, b'a', 0, 0, 0]);
    assert!(
        matches!(r, Err(crate::session::SessionError::BadFilesFrom)),
        "{r:?}"
    );
}
