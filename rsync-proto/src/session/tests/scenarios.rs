//! Sender ↔ receiver scenarios over the `Pair` harness, for every supported protocol, in
//! both directions.

use proptest::prelude::*;

use super::pair::{file, prng, Dir, Node, Pair, Tree};
use crate::session::{Event, FileOutcome, FsRequest, Session};

const PROTOCOLS: [u8; 4] = [27, 29, 30, 31];
const DIRS: [Dir; 2] = [Dir::Pull, Dir::Push];

fn tree(items: &[(&str, Node)]) -> Tree {
    items
        .iter()
        .map(|(n, node)| (n.as_bytes().to_vec(), node.clone()))
        .collect()
}

/// Runs a pair to completion and checks both sides ended with `code`.
fn run(p: &mut Pair, code: i32) {
    p.drive_bounded(10_000).expect("session");
    let (s, _) = Pair::done(&p.sender_events).expect("sender done");
    let (r, stats) = Pair::done(&p.receiver_events).expect("receiver done");
    assert_eq!(r, code, "receiver exit code");
    if code == 0 {
        assert_eq!(s, 0, "sender exit code");
    }
    assert!(p.receiver.is_done() && p.sender.is_done());
    let _ = stats;
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
fn empty_list() {
    for p in PROTOCOLS {
        for d in DIRS {
            let mut pair = Pair::new(p, d, Tree::new(), Tree::new());
            run(&mut pair, 0);
            assert!(pair.dst.tree.is_empty());
        }
    }
}

#[test]
fn one_new_file_whole() {
    for p in PROTOCOLS {
        for d in DIRS {
            let data = prng(100_000, u64::from(p));
            let src = tree(&[("a.bin", file(&data, 1_700_000_123))]);
            let mut pair = Pair::new(p, d, src.clone(), Tree::new());
            run(&mut pair, 0);
            assert_eq!(pair.dst.tree, src, "p{p} {d:?}");
            assert_eq!(literal_and_matched(&pair), (100_000, 0));
            // Protocol-specific NDX_DONE bookkeeping and statistics were exchanged.
            if d == Dir::Pull {
                let (_, stats) = Pair::done(&pair.receiver_events).expect("done");
                let stats = stats.expect("client receiver reads the statistics");
                assert_eq!(stats.total_size, 100_000);
                // Seen from the client: it read the file, the sender wrote it.
                assert!(stats.total_read > 100_000, "{stats:?}");
                assert!(stats.total_written < 100, "{stats:?}");
                let (_, sstats) = Pair::done(&pair.sender_events).expect("done");
                let sstats = sstats.expect("server sender stats");
                assert_eq!(sstats.total_size, stats.total_size);
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
            let src = tree(&[("f", file(&new, 2))]);
            let dst = tree(&[("f", file(&old, 1))]);
            let mut pair = Pair::new(p, d, src.clone(), dst);
            run(&mut pair, 0);
            assert_eq!(pair.dst.tree, src, "p{p} {d:?}");
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
            let src = tree(&[("same", file(&data, 5)), ("other", file(b"new", 5))]);
            let dst = tree(&[("same", file(&data, 5))]);
            let mut pair = Pair::new(p, d, src.clone(), dst);
            run(&mut pair, 0);
            assert_eq!(pair.dst.tree, src);
            let outcomes = pair.outcomes();
            assert!(
                outcomes.contains(&(1, FileOutcome::UpToDate)),
                "{outcomes:?}"
            );
            // Only one file was read by the sender.
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
    let src = tree(&[("same", file(&data, 5))]);
    let mut pair = Pair::with_options(31, Dir::Pull, src.clone(), src.clone(), |o| {
        o.ignore_times = true;
    });
    run(&mut pair, 0);
    let (lit, mat) = literal_and_matched(&pair);
    assert_eq!((lit, mat), (0, 5000));
}

#[test]
fn directories_and_symlinks() {
    for p in PROTOCOLS {
        for d in DIRS {
            let src = tree(&[
                (".", Node::Dir),
                ("sub", Node::Dir),
                ("sub/b.bin", file(&prng(3000, 2), 9)),
                ("a.txt", file(b"hello", 9)),
                ("link", Node::Symlink(b"a.txt".to_vec())),
                ("sub/deeper", Node::Dir),
            ]);
            let mut pair = Pair::new(p, d, src.clone(), Tree::new());
            run(&mut pair, 0);
            assert_eq!(pair.dst.tree, src, "p{p} {d:?}");
            let not_transfer = |e: &&Event| matches!(e, Event::Itemize { iflags, .. } if iflags & crate::session::iflags::TRANSFER == 0);
            let itemized = pair.sender_events.iter().filter(not_transfer).count();
            // From protocol 29 the generator itemizes directories and symlinks, and the
            // sender echoes them back.
            assert_eq!(itemized, if p >= 29 { 4 } else { 0 }, "p{p}");
            let echoes = pair.receiver_events.iter().filter(not_transfer).count();
            assert_eq!(echoes, itemized);
            let setmeta = pair
                .dst
                .seen
                .iter()
                .filter(|r| matches!(r, FsRequest::SetMeta { .. }))
                .count();
            // Three directories at the end, the new symlink after its creation.
            assert_eq!(setmeta, 4);
        }
    }
}

#[test]
fn checksum_mismatch_is_redone_in_phase_one() {
    for p in PROTOCOLS {
        for d in DIRS {
            let old = prng(50_000, 4);
            let mut new = old.clone();
            new[10] ^= 1;
            let src = tree(&[("r", file(&new, 3))]);
            let dst = tree(&[("r", file(&old, 1))]);
            let mut pair = Pair::new(p, d, src.clone(), dst);
            pair.dst.corrupt_once.insert(b"r".to_vec());
            run(&mut pair, 0);
            assert_eq!(pair.dst.tree, src, "p{p} {d:?}");
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
        }
    }
}

#[test]
fn unreadable_file_gives_exit_23() {
    for p in [30, 31] {
        for d in DIRS {
            let src = tree(&[("bad", file(b"x", 1)), ("good", file(b"y", 1))]);
            let mut pair = Pair::new(p, d, src, Tree::new());
            pair.src.unreadable.insert(b"bad".to_vec());
            run(&mut pair, 23);
            assert!(pair.dst.tree.contains_key(&b"good"[..]));
            assert!(!pair.dst.tree.contains_key(&b"bad"[..]));
            assert!(pair.outcomes().contains(&(0, FileOutcome::Failed)));
        }
    }
}

#[test]
fn many_files() {
    for p in PROTOCOLS {
        let mut src = Tree::new();
        src.insert(b".".to_vec(), Node::Dir);
        for i in 0..300u64 {
            let name = format!("d{}/f{i:03}", i % 7);
            src.insert(format!("d{}", i % 7).into_bytes(), Node::Dir);
            src.insert(
                name.into_bytes(),
                file(&prng((i * 37) as usize, i), i as i64),
            );
        }
        let mut dst = Tree::new();
        for (k, v) in src.iter().take(100) {
            dst.insert(k.clone(), v.clone());
        }
        let mut pair = Pair::new(p, Dir::Pull, src.clone(), dst);
        run(&mut pair, 0);
        assert_eq!(pair.dst.tree, src, "p{p}");
    }
}

fn chunked(p: u8, d: Dir, chunks: Vec<usize>) -> (Tree, Vec<Event>, Vec<u8>) {
    let old = prng(20_000, 11);
    let mut new = old.clone();
    new[5000..5100].copy_from_slice(&prng(100, 12));
    let src = tree(&[
        (".", Node::Dir),
        ("x", file(&new, 8)),
        ("y", file(&prng(3000, 13), 8)),
        ("l", Node::Symlink(b"x".to_vec())),
    ]);
    let dst = tree(&[("x", file(&old, 1))]);
    let mut pair = Pair::new(p, d, src.clone(), dst);
    pair.chunks = chunks;
    pair.drive_bounded(200_000).expect("session");
    assert_eq!(pair.dst.tree, src);
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
    (pair.dst.tree, events, r2s)
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
        prop_assert_eq!(reference.0, got.0);
        prop_assert_eq!(reference.1, got.1);
        prop_assert_eq!(reference.2, got.2);
    }
}
