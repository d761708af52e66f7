//! Sender ↔ receiver scenarios over the `Pair` harness, for every supported protocol, in
//! both directions: plain transfers, deltas, the quick check, redo, errors, chunking.

use proptest::prelude::*;

use super::fakefs::Fs;
use super::pair::{prng, Dir, Pair};
use crate::session::{iflags, Event, FileOutcome, FsRequest, Session};

pub(crate) const PROTOCOLS: [u8; 4] = [27, 29, 30, 31];
pub(crate) const DIRS: [Dir; 2] = [Dir::Pull, Dir::Push];

/// Runs a pair to completion and checks both sides ended with `code`.
pub(crate) fn run(p: &mut Pair, code: i32) {
    p.drive_bounded(20_000).expect("session");
    let (s, _) = Pair::done(&p.sender_events).expect("sender done");
    let (r, _) = Pair::done(&p.receiver_events).expect("receiver done");
    assert_eq!(r, code, "receiver exit code");
    if code == 0 {
        assert_eq!(s, 0, "sender exit code");
    }
    assert!(p.receiver.is_done() && p.sender.is_done());
}

fn literal_and_matched(p: &Pair) -> (u64, u64) {
    p.outcomes()
        .iter()
        .filter_map(|(_, o)| match o {
            FileOutcome::Updated { literal, matched } => Some((*literal, *matched)),
            _ => None,
        })
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
}

#[test]
fn empty_source_directory() {
    for p in PROTOCOLS {
        for d in DIRS {
            let mut pair = Pair::new(p, d, Fs::new(), Fs::new());
            run(&mut pair, 0);
            assert_eq!(pair.dst.fs.snapshot(), Fs::new().snapshot(), "p{p} {d:?}");
        }
    }
}

#[test]
fn one_new_file_whole() {
    for p in PROTOCOLS {
        for d in DIRS {
            let data = prng(100_000, u64::from(p));
            let src = Fs::new().file("a.bin", &data, 1_700_000_123);
            let mut pair = Pair::new(p, d, src.clone(), Fs::new());
            run(&mut pair, 0);
            assert_eq!(pair.dst.fs.snapshot(), src.snapshot(), "p{p} {d:?}");
            assert_eq!(literal_and_matched(&pair), (100_000, 0));
            let (_, stats) = Pair::done(&pair.receiver_events).expect("done");
            let stats = stats.expect("statistics");
            assert_eq!(stats.total_size, 100_000);
            assert_eq!(stats.xferred_files, 1);
            assert_eq!(stats.literal_data, 100_000);
            assert_eq!(stats.num_files.regular, 1);
            assert_eq!(stats.num_files.dirs, 1);
            if d == Dir::Pull {
                // Seen from the client: it read the file, the sender wrote it.
                assert!(stats.total_read > 100_000, "{stats:?}");
                assert!(stats.total_written < 200, "{stats:?}");
                let (_, sstats) = Pair::done(&pair.sender_events).expect("done");
                let sstats = sstats.expect("server sender stats");
                assert_eq!(sstats.total_size, stats.total_size);
                // The server wrote its statistics and the goodbye after counting.
                assert!(sstats.total_written > stats.total_read);
                assert!(sstats.total_written < stats.total_read + 40);
            }
        }
    }
}

#[test]
fn changed_file_is_sent_as_a_delta() {
    for p in PROTOCOLS {
        for d in DIRS {
            let old = prng(200_000, 7);
            let mut new = old.clone();
            new[100_000..100_100].copy_from_slice(&prng(100, 9));
            new.splice(150_000..150_000, prng(37, 3));
            let src = Fs::new().file("f", &new, 2);
            let dst = Fs::new().file("f", &old, 1);
            let mut pair = Pair::new(p, d, src.clone(), dst);
            run(&mut pair, 0);
            assert_eq!(pair.dst.fs.snapshot(), src.snapshot(), "p{p} {d:?}");
            let (lit, mat) = literal_and_matched(&pair);
            assert_eq!(lit + mat, new.len() as u64);
            assert!(lit * 10 < new.len() as u64, "p{p}: {lit} literal bytes");
            assert!(pair
                .dst
                .seen
                .iter()
                .any(|r| matches!(r, FsRequest::Signature { .. })));
        }
    }
}

#[test]
fn unchanged_file_is_skipped_by_the_quick_check() {
    for p in PROTOCOLS {
        for d in DIRS {
            let data = prng(5000, 1);
            let src = Fs::new().file("same", &data, 5).file("other", b"new", 5);
            let dst = Fs::new().file("same", &data, 5);
            let mut pair = Pair::new(p, d, src.clone(), dst);
            run(&mut pair, 0);
            assert_eq!(pair.dst.fs.snapshot(), src.snapshot());
            let outcomes = pair.outcomes();
            assert!(
                outcomes.contains(&(2, FileOutcome::UpToDate)),
                "{outcomes:?}"
            );
            let reads = pair
                .src
                .seen
                .iter()
                .filter(|r| matches!(r, FsRequest::ReadFile { .. }))
                .count();
            assert_eq!(reads, 1);
        }
    }
}

#[test]
fn ignore_times_transfers_unchanged_files() {
    let data = prng(5000, 1);
    let src = Fs::new().file("same", &data, 5);
    let mut pair = Pair::with_options(31, Dir::Pull, src.clone(), src.clone(), |o| {
        o.ignore_times = true;
    });
    run(&mut pair, 0);
    let (lit, mat) = literal_and_matched(&pair);
    assert_eq!((lit, mat), (0, 5000));
}

#[test]
fn whole_file_sends_no_block_sums() {
    for p in PROTOCOLS {
        let old = prng(50_000, 1);
        let mut new = old.clone();
        new[7] ^= 1;
        let src = Fs::new().file("f", &new, 9);
        let dst = Fs::new().file("f", &old, 1);
        let mut pair = Pair::with_options(p, Dir::Push, src.clone(), dst, |o| o.whole_file = true);
        run(&mut pair, 0);
        assert_eq!(pair.dst.fs.snapshot(), src.snapshot());
        assert_eq!(literal_and_matched(&pair), (50_000, 0));
        assert!(!pair
            .dst
            .seen
            .iter()
            .any(|r| matches!(r, FsRequest::Signature { .. })));
    }
}

#[test]
fn checksum_mismatch_is_redone_in_phase_one() {
    for p in PROTOCOLS {
        for d in DIRS {
            let old = prng(50_000, 4);
            let mut new = old.clone();
            new[10] ^= 1;
            let src = Fs::new().file("r", &new, 3);
            let dst = Fs::new().file("r", &old, 1);
            let mut pair = Pair::new(p, d, src.clone(), dst);
            pair.dst.corrupt_once.insert(b"r".to_vec());
            run(&mut pair, 0);
            assert_eq!(pair.dst.fs.snapshot(), src.snapshot(), "p{p} {d:?}");
            let outcomes: Vec<FileOutcome> = pair.outcomes().into_iter().map(|o| o.1).collect();
            assert_eq!(outcomes[0], FileOutcome::Redo);
            assert!(matches!(outcomes[1], FileOutcome::Updated { .. }));
            // The redo request carries full-length (16-byte) strong sums.
            let heads: Vec<u32> = pair
                .dst
                .seen
                .iter()
                .filter_map(|r| match r {
                    FsRequest::Signature { head, .. } => Some(head.strong_len),
                    _ => None,
                })
                .collect();
            assert_eq!(heads.len(), 2);
            assert_eq!(heads[1], 16);
            assert!(heads[0] < 16);
            // Both sides count one transfer plus the redo, and one created file at most.
            let (_, stats) = Pair::done(&pair.sender_events).expect("done");
            assert_eq!(stats.expect("stats").xferred_files, 2);
        }
    }
}

#[test]
fn unreadable_file_gives_exit_23() {
    for p in [30, 31] {
        for d in DIRS {
            let src = Fs::new().file("bad", b"x", 1).file("good", b"y", 1);
            let mut pair = Pair::new(p, d, src, Fs::new());
            pair.src.unreadable.insert(b"bad".to_vec());
            run(&mut pair, 23);
            assert!(pair.dst.fs.get(b"good").is_some());
            assert!(pair.dst.fs.get(b"bad").is_none());
            assert!(pair.outcomes().contains(&(1, FileOutcome::Failed)));
        }
    }
}

#[test]
fn many_files() {
    for p in PROTOCOLS {
        let mut src = Fs::new();
        for i in 0..300u64 {
            src = src.dir(&format!("d{}", i % 7)).file(
                &format!("d{}/f{i:03}", i % 7),
                &prng((i * 37) as usize, i),
                i as i64,
            );
        }
        let mut dst = Fs::new();
        for i in 0..100u64 {
            dst = dst.dir(&format!("d{}", i % 7)).file(
                &format!("d{}/f{i:03}", i % 7),
                &prng((i * 37) as usize, i),
                i as i64,
            );
        }
        let mut pair = Pair::new(p, Dir::Pull, src.clone(), dst);
        run(&mut pair, 0);
        assert_eq!(pair.dst.fs.snapshot(), src.snapshot(), "p{p}");
    }
}

/// From protocol 29 the generator itemizes new directories and symlinks and the sender
/// echoes them; every transfer is itemized by both sides.
#[test]
fn itemize_records_are_echoed() {
    for p in PROTOCOLS {
        for d in DIRS {
            let src = Fs::new()
                .dir("sub")
                .file("sub/b.bin", &prng(3000, 2), 9)
                .file("a.txt", b"hello", 9)
                .symlink("link", "a.txt")
                .dir("sub/deeper");
            let mut pair = Pair::new(p, d, src.clone(), Fs::new());
            run(&mut pair, 0);
            assert_eq!(pair.dst.fs.snapshot(), src.snapshot(), "p{p} {d:?}");
            let count = |events: &[Event], transfer: bool| {
                events
                    .iter()
                    .filter(|e| {
                        matches!(e, Event::Itemize { iflags: f, .. }
                            if (f & iflags::TRANSFER != 0) == transfer)
                    })
                    .count()
            };
            // ".", sub, sub/deeper, link; the root "." is new too (its time differs).
            let expect = if p >= 29 { 4 } else { 0 };
            assert_eq!(count(&pair.sender_events, false), expect, "p{p} {d:?}");
            assert_eq!(count(&pair.receiver_events, false), expect, "p{p} {d:?}");
            assert_eq!(count(&pair.sender_events, true), 2);
            assert_eq!(count(&pair.receiver_events, true), 2);
        }
    }
}

fn chunked(p: u8, d: Dir, chunks: Vec<usize>) -> (Fs, Vec<Event>, Vec<u8>) {
    let old = prng(20_000, 11);
    let mut new = old.clone();
    new[5000..5100].copy_from_slice(&prng(100, 12));
    let src = Fs::new()
        .file("x", &new, 8)
        .file("y", &prng(3000, 13), 8)
        .symlink("l", "x")
        .dir("d")
        .file("d/f", b"in d", 3);
    let dst = Fs::new().file("x", &old, 1).file("gone", b"old", 1);
    let mut pair = Pair::with_options(p, d, src.clone(), dst, |o| {
        o.delete = Some(crate::session::DeleteTiming::Auto);
        o.itemize = 1;
    });
    pair.chunks = chunks;
    pair.drive_bounded(200_000).expect("session");
    assert_eq!(pair.dst.fs.snapshot().0, src.snapshot().0);
    // The receiver's logical output does not depend on the chunking (its framing and the
    // sender's byte counts in the statistics do).
    let r2s = if p >= 30 || d == Dir::Push {
        crate::mux::unmux(&pair.r2s_log, crate::mux::MuxLimits::default())
            .expect("muxed")
            .data
    } else {
        pair.r2s_log.clone()
    };
    let events = pair
        .receiver_events
        .into_iter()
        .filter(|e| !matches!(e, Event::Done { .. }))
        .collect();
    (pair.dst.fs, events, r2s)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any chunking of the byte streams gives the same result and the same bytes.
    #[test]
    fn chunking_does_not_matter(
        p in prop::sample::select(PROTOCOLS.to_vec()),
        pull in any::<bool>(),
        chunks in prop::collection::vec(1usize..300, 1..8),
    ) {
        let d = if pull { Dir::Pull } else { Dir::Push };
        let reference = chunked(p, d, vec![usize::MAX]);
        let got = chunked(p, d, chunks);
        prop_assert_eq!(reference.0.snapshot(), got.0.snapshot());
        prop_assert_eq!(reference.1, got.1);
        prop_assert_eq!(reference.2, got.2);
    }
}
