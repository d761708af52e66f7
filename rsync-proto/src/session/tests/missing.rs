//! `--delete-missing-args`: the sender's mode-0 entries make the receiver delete what they
//! name (rsync `recv_generator`'s `missing_args == 2` branch, `delete_item`), at every
//! protocol and in both directions; dry runs, `--force`, protection rules, and refusals.

use super::fakefs::{DstDriver, Fs, Kind};
use super::pair::{Dir, Pair};
use super::scenarios::{run, DIRS, PROTOCOLS};
use crate::filter::FilterList;
use crate::flist::{FileEntry, WirePath};
use crate::session::{Event, FsRequest, MissingArgs, SessionError, SessionOptions};

/// A destination with something at every missing name but `nowhere`.
fn dest() -> Fs {
    Fs::new()
        .file("keep", b"k", 1)
        .file("gone-file", b"g", 1)
        .dir("gone-dir")
        .file("gone-dir/f", b"f", 1)
        .dir("gone-dir/sub")
        .file("gone-dir/sub/g", b"g", 1)
        .dir("empty-gone")
        .dir("d")
        .symlink("d/gone-link", "../keep")
}

fn source() -> Fs {
    Fs::new().file("keep", b"k", 1).dir("d")
}

/// The names the sender did not find: a file, a non-empty and an empty directory, a symlink
/// inside a listed directory, a name that exists nowhere.
const MISSING: [&str; 5] = [
    "gone-file",
    "gone-dir",
    "empty-gone",
    "d/gone-link",
    "nowhere",
];

/// A pair whose sender lists [`MISSING`] as mode-0 entries, with `tweak` on both sides.
fn pair(p: u8, d: Dir, tweak: impl Fn(&mut SessionOptions)) -> Pair {
    let mut pair = Pair::with_options(p, d, source(), dest(), |o| {
        o.missing_args = MissingArgs::Delete;
        o.itemize = 1;
        tweak(o);
    });
    for name in MISSING {
        let path = WirePath::try_from(name).expect("name");
        pair.src.entries.push(FileEntry::new(path, 0));
    }
    pair
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

fn logs(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Log { text, .. } => Some(String::from_utf8_lossy(text).into_owned()),
            _ => None,
        })
        .collect()
}

fn position(v: &[(String, bool)], name: &str) -> usize {
    v.iter()
        .position(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name} not deleted: {v:?}"))
}

/// With `--force`, each missing name is deleted (a directory with its content, depth first),
/// reported on both sides and counted; `nowhere` is nothing to delete.
#[test]
fn missing_entries_delete_what_they_name() {
    for p in PROTOCOLS {
        for d in DIRS {
            let mut pair = pair(p, d, |o| o.force = true);
            run(&mut pair, 0);
            assert_eq!(
                pair.dst.fs.snapshot().0,
                source().snapshot().0,
                "p{p} {d:?}"
            );
            let ours = deleted(&pair.receiver_events);
            let mut sorted = ours.clone();
            sorted.sort();
            let want: Vec<(String, bool)> = [
                ("d/gone-link", false),
                ("empty-gone", true),
                ("gone-dir", true),
                ("gone-dir/f", false),
                ("gone-dir/sub", true),
                ("gone-dir/sub/g", false),
                ("gone-file", false),
            ]
            .into_iter()
            .map(|(n, b)| (n.to_owned(), b))
            .collect();
            assert_eq!(sorted, want, "p{p} {d:?}");
            // delete_dir_contents: the listing backwards, a directory's content before it.
            let at = |n| position(&ours, n);
            assert!(at("gone-dir/sub/g") < at("gone-dir/sub"), "{ours:?}");
            assert!(at("gone-dir/sub") < at("gone-dir/f"), "{ours:?}");
            assert!(at("gone-dir/f") < at("gone-dir"), "{ours:?}");
            if d == Dir::Push && p >= 29 {
                // MSG_DELETED tells the client sender.
                assert_eq!(deleted(&pair.sender_events), ours, "p{p}");
            }
            let (_, rs) = Pair::done(&pair.receiver_events).expect("done");
            let del = rs.expect("stats").deleted;
            assert_eq!(
                (del.regular, del.dirs, del.symlinks),
                (3, 3, 1),
                "p{p} {d:?}"
            );
            if p >= 31 {
                // --force: NDX_DEL_STATS reaches the sender.
                let (_, ss) = Pair::done(&pair.sender_events).expect("done");
                assert_eq!(ss.expect("stats").deleted, del, "p{p} {d:?}");
            }
            // Nothing is requested from the sender for a missing entry.
            assert!(!pair
                .src
                .seen
                .iter()
                .any(|r| matches!(r, FsRequest::ReadFile { .. })));
        }
    }
}

/// Without `--delete`/`--force` a non-empty directory stays (`delete_item` without
/// `DEL_RECURSE`), the rest goes, and the run succeeds, as rsync's.
#[test]
fn without_force_a_non_empty_directory_stays() {
    for p in PROTOCOLS {
        for d in DIRS {
            let mut pair = pair(p, d, |_| {});
            run(&mut pair, 0);
            let kept = |n: &[u8]| pair.dst.fs.get(n).map(|(_, i)| i.kind.clone());
            assert_eq!(kept(b"gone-dir/sub/g"), Some(Kind::File(b"g".to_vec())));
            assert_eq!(kept(b"gone-dir"), Some(Kind::Dir));
            assert_eq!(kept(b"gone-file"), None);
            assert_eq!(kept(b"empty-gone"), None);
            let mut ours = deleted(&pair.receiver_events);
            ours.sort();
            assert_eq!(
                ours,
                [
                    ("d/gone-link".to_owned(), false),
                    ("empty-gone".to_owned(), true),
                    ("gone-file".to_owned(), false)
                ],
                "p{p} {d:?}"
            );
            // A server receiver sends the line to the client as MSG_INFO.
            let mut said = logs(&pair.receiver_events);
            said.extend(logs(&pair.sender_events));
            assert!(
                said.contains(&"cannot delete non-empty directory: gone-dir\n".to_owned()),
                "p{p} {d:?}: {said:?}"
            );
        }
    }
}

/// `-n`: no write request at all, the destination unchanged, the same reports as the real
/// run.
#[test]
fn dry_run_deletes_nothing_and_reports_the_same() {
    for p in PROTOCOLS {
        for d in DIRS {
            let mut dry = pair(p, d, |o| {
                o.force = true;
                o.dry_run = true;
            });
            run(&mut dry, 0);
            assert_eq!(dry.dst.fs, dest(), "p{p} {d:?}: the destination changed");
            assert!(
                !dry.dst.seen.iter().any(DstDriver::is_write),
                "p{p} {d:?}: {:?}",
                dry.dst.seen
            );
            let mut real = pair(p, d, |o| o.force = true);
            run(&mut real, 0);
            assert!(real
                .dst
                .seen
                .iter()
                .any(|r| matches!(r, FsRequest::Delete { .. })));
            let reported = deleted(&dry.receiver_events);
            assert_eq!(reported.len(), 7, "p{p} {d:?}: {reported:?}");
            assert_eq!(reported, deleted(&real.receiver_events), "p{p} {d:?}");
        }
    }
}

/// A client receiver's rules protect a missing name (`check_filter` < 0) and, inside a
/// directory being deleted, a child (which keeps its directory).
#[test]
fn protected_names_stay() {
    for p in PROTOCOLS {
        let mut pair = pair(p, Dir::Pull, |o| {
            o.force = true;
            if !o.server {
                let mut f = FilterList::new();
                f.add_filter(b"P gone-file").expect("rule");
                f.add_filter(b"P g").expect("rule");
                o.filter = Some(f);
            }
        });
        run(&mut pair, 0);
        let kept = |n: &[u8]| pair.dst.fs.get(n).is_some();
        assert!(kept(b"gone-file") && kept(b"gone-dir/sub/g") && kept(b"gone-dir/sub"));
        assert!(!kept(b"gone-dir/f") && !kept(b"empty-gone") && !kept(b"d/gone-link"));
        let ours = deleted(&pair.receiver_events);
        assert!(!ours
            .iter()
            .any(|(n, _)| n == "gone-file" || n == "gone-dir"));
        assert!(
            ours.iter().any(|(n, _)| n == "gone-dir/f"),
            "p{p}: {ours:?}"
        );
    }
}

/// A missing entry whose parent is not in the list (the sender found neither): rsync warns
/// and deletes it all the same; a regular entry there is still an invalid path.
#[test]
fn an_absent_parent_is_only_a_warning_for_a_missing_entry() {
    let dst = Fs::new().dir("x").file("x/y", b"y", 1);
    let mut pair = Pair::with_options(31, Dir::Pull, Fs::new(), dst, |o| {
        o.missing_args = MissingArgs::Delete;
    });
    let path = WirePath::try_from("x/y").expect("name");
    pair.src.entries.push(FileEntry::new(path, 0));
    run(&mut pair, 0);
    assert!(pair.dst.fs.get(b"x/y").is_none());
    assert!(pair.dst.fs.get(b"x").is_some());
    assert!(logs(&pair.receiver_events)
        .contains(&"WARNING: parent dir is absent in the file list: x\n".to_owned()));

    let mut pair = Pair::with_options(31, Dir::Pull, Fs::new(), Fs::new(), |o| {
        o.missing_args = MissingArgs::Delete;
    });
    let path = WirePath::try_from("x/y").expect("name");
    let mut e = FileEntry::new(path, crate::flist::mode::S_IFREG | 0o644);
    e.set_size(0);
    pair.src.entries.push(e);
    let err = pair.drive_bounded(20_000).expect_err("invalid path");
    assert!(matches!(err, SessionError::BadPath { .. }), "{err:?}");
}

/// Only `--delete-missing-args` makes a mode-0 entry legal: a sender without it cannot send
/// one, and a receiver without it refuses the list.
#[test]
fn mode_0_needs_the_option_on_both_sides() {
    for p in PROTOCOLS {
        let mut pair = Pair::new(p, Dir::Push, source(), dest());
        pair.src
            .entries
            .push(FileEntry::new(WirePath::try_from("gone").expect("n"), 0));
        let err = pair.drive_bounded(20_000).expect_err("sender refuses");
        assert!(matches!(err, SessionError::Flist(_)), "p{p}: {err:?}");

        let mut pair = Pair::with_sides(
            p,
            Dir::Push,
            source(),
            dest(),
            |o| o.missing_args = MissingArgs::Delete,
            |_| {},
        );
        pair.src
            .entries
            .push(FileEntry::new(WirePath::try_from("gone").expect("n"), 0));
        let err = pair.drive_bounded(20_000).expect_err("receiver refuses");
        assert!(matches!(err, SessionError::Flist(_)), "p{p}: {err:?}");
        assert!(pair.dst.fs.get(b"gone-file").is_some());
    }
}
