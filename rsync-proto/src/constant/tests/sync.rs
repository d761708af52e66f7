//! Master ↔ mirror over the in-memory pair: names, subtrees and deletions make the mirror
//! identical to the source (modes, owners, nanosecond times, links), renames cost block
//! copies only, failures are retried or reported per change.

use proptest::prelude::*;

use super::fake::{assert_same, file_data};
use super::fakefs::{Fs, Kind};
use super::pair::{archive, prng, Pair};
use crate::constant::{
    decode_master, decode_mirror, record_context, ConstantConfig, MasterEvent, MasterRecord,
    MirrorEvent, MirrorRecord, RecordReader,
};
use crate::filter::FilterList;
use crate::flist::WirePath;
use crate::mux::MsgCode;
use crate::session::FsRequest;

fn wp(s: &str) -> WirePath {
    WirePath::new(s.as_bytes().to_vec()).expect("path")
}

fn nsec(mut fs: Fs, path: &str, n: u32) -> Fs {
    if let Some(i) = fs
        .paths
        .get(path.as_bytes())
        .and_then(|i| fs.inodes.get_mut(i))
    {
        i.nsec = n;
    }
    fs
}

/// A source with every kind of entry, odd modes, owners and nanosecond times.
fn tree() -> Fs {
    let fs = Fs::new()
        .dir("d")
        .dir("d/e")
        .file("a.txt", b"hello", 1_700_000_001)
        .file("d/b.bin", &prng(300_000, 1), 1_700_000_002)
        .file("d/e/c", &prng(5000, 2), 1_700_000_003)
        .file("d/e/empty", b"", 1_700_000_005)
        .symlink("d/link", "../a.txt")
        .fifo("d/fifo")
        .chardev("d/dev", 4, 5)
        .file("h1", b"linked", 1_700_000_004)
        .hardlink("d/h2", "h1")
        .attrs("d/e/c", 0o600, 1000, 100)
        .attrs("d/e", 0o750, 7, 8);
    let fs = nsec(fs, "a.txt", 123_456_789);
    nsec(fs, "d/b.bin", 999_999_999)
}

/// Every name of `fs` but `.`, parents first.
fn names(fs: &Fs) -> Vec<String> {
    let mut v: Vec<String> = fs
        .paths
        .keys()
        .filter(|p| p.as_slice() != b".")
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    v.sort();
    v
}

fn submit_all(p: &mut Pair, list: &[String]) -> usize {
    for n in list {
        p.master.submit(wp(n)).expect("submit");
    }
    p.master.end_batch().expect("batch");
    list.len() + 1
}

/// Every change was acknowledged once, with status 0.
fn all_ok(p: &Pair, changes: usize) {
    let acked = p.acked();
    assert_eq!(acked.len(), changes, "acks: {acked:?}");
    assert!(acked.iter().all(|&(_, s)| s == 0), "{acked:?}");
    let mut ids: Vec<u64> = acked.iter().map(|a| a.0).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), changes, "an id acknowledged twice");
}

#[test]
fn names_make_the_mirror_identical() {
    let src = tree();
    let mut p = Pair::new(src.clone(), Fs::new());
    let n = submit_all(&mut p, &names(&src));
    p.finish();
    all_ok(&p, n);
    assert_same(&p.dst.fs, &src);
    assert_eq!(p.dst.fs.link_groups().len(), 1, "h1 and d/h2 are one inode");
    // The new directory was asked for as a subtree (WANT_TREE), before its ACK.
    assert!(p
        .dst
        .seen
        .iter()
        .any(|r| matches!(r, FsRequest::ListDir { path, .. } if path.as_bytes() == b"d")));
}

#[test]
fn a_directory_name_alone_brings_its_subtree() {
    let src = tree();
    let mut p = Pair::new(src.clone(), Fs::new());
    let n = submit_all(&mut p, &["d".to_string(), "a.txt".into(), "h1".into()]);
    p.finish();
    all_ok(&p, n);
    // Hard links are detected within a batch; `d/h2` came with the subtree, after the
    // batch that carried `h1`, so it is a copy (everything else is identical).
    let mut want = src.clone();
    want.remove(b"d/h2");
    let want = want.file("d/h2", b"linked", 1_700_000_004);
    assert_same(&p.dst.fs, &want);
}

/// A directory the mirror already has, named alone (a watcher that saw it swapped by a
/// rename, or reports directories only): its subtree is walked, so what was added inside it
/// arrives and what the source lost inside it goes; with `walk_named_dirs` off, only the
/// directory's own entry is sent.
#[test]
fn a_named_directory_the_mirror_has_brings_its_new_content() {
    let src = tree();
    let mut old = tree();
    old.remove(b"d/e/c");
    let old = old
        .file("d/extra", b"gone at the source", 1)
        .file("outside", b"kept", 1);
    for walk in [true, false] {
        let cfg = ConstantConfig {
            walk_named_dirs: walk,
            ..ConstantConfig::default()
        };
        let mut p = Pair::with(src.clone(), old.clone(), archive(), cfg);
        let n = submit_all(&mut p, &["d".to_string()]);
        p.finish();
        all_ok(&p, n);
        let has = |path: &[u8]| file_data(&p.dst.fs, path).is_some();
        assert_eq!(has(b"d/e/c"), walk, "walk {walk}: the new file");
        assert_eq!(
            has(b"d/extra"),
            !walk,
            "walk {walk}: the file the source lost"
        );
        assert!(
            has(b"outside"),
            "outside the named directory nothing is deleted"
        );
        if walk {
            // `h1` and `d/h2` were one inode on the mirror already and stay so.
            assert_same(&p.dst.fs, &src.clone().file("outside", b"kept", 1));
        }
    }
}

/// A named directory the mirror lacks: the master's walk of it answers the mirror's
/// `WANT_TREE` too, even when that request comes after the walk is over (the directory is
/// listed once, not twice).
#[test]
fn a_named_directory_the_mirror_creates_is_walked_once() {
    let src = tree();
    let mut p = Pair::new(src.clone(), Fs::new());
    let n = submit_all(&mut p, &["d".to_string()]);
    p.finish();
    all_ok(&p, n);
    let listed = |dir: &[u8]| {
        p.src
            .seen
            .iter()
            .filter(|r| matches!(r, FsRequest::ListDir { path, .. } if path.as_bytes() == dir))
            .count()
    };
    assert_eq!((listed(b"d"), listed(b"d/e")), (1, 1));
    assert!(
        p.dst
            .seen
            .iter()
            .any(|r| matches!(r, FsRequest::ListDir { path, .. } if path.as_bytes() == b"d")),
        "the mirror made d and listed it"
    );
}

/// A mirror holding stale, extraneous and mistyped entries.
fn stale_mirror() -> Fs {
    let mut big = prng(300_000, 1);
    big[1000..1100].fill(0);
    Fs::new()
        .dir("d")
        .file("d/b.bin", &big, 1_600_000_000)
        .file("d/extra", b"x", 1)
        .dir("d/old")
        .file("d/old/deep", b"y", 1)
        .dir("a.txt")
        .file("a.txt/inside", b"z", 1)
        .file("d/e", b"a file where a directory belongs", 1)
        .symlink("d/link", "elsewhere")
        .file("gone", b"extraneous", 1)
}

#[test]
fn bootstrap_deletes_extraneous_and_sends_deltas() {
    let src = tree();
    let mut p = Pair::new(src.clone(), stale_mirror());
    p.master.submit_tree(wp(".")).expect("tree");
    p.master.end_batch().expect("batch");
    p.finish();
    all_ok(&p, 2);
    assert_same(&p.dst.fs, &src);
    let (literal, matched) = p.sent();
    // d/b.bin differed in 100 bytes: a delta, not the 300 KB file.
    assert!(matched >= 250_000, "matched {matched}");
    assert!(literal < 60_000, "literal {literal}");
    let deleted: Vec<&[u8]> = p
        .mirror_events
        .iter()
        .filter_map(|e| match e {
            MirrorEvent::Deleted { path, .. } => Some(path.as_bytes()),
            _ => None,
        })
        .collect();
    for gone in [&b"gone"[..], b"d/extra", b"d/old"] {
        assert!(deleted.contains(&gone), "{deleted:?}");
    }
}

#[test]
fn protected_names_survive_and_hidden_names_stay_home() {
    let mut src = tree().file("secret.keep", b"s", 5);
    src.remove(b"d/e");
    let dst = Fs::new()
        .file("x.keep", b"mine", 1)
        .dir("d")
        .file("d/y.keep", b"mine", 1)
        .dir("gone")
        .file("gone/z.keep", b"mine", 1)
        .file("gone/plain", b"p", 1);
    let mut opts = archive();
    let mut rules = FilterList::new();
    rules.add_filter(b"- *.keep").expect("rule");
    opts.filter = Some(rules);
    let mut p = Pair::with(src.clone(), dst, opts, ConstantConfig::default());
    p.master.submit_tree(wp(".")).expect("tree");
    p.master.submit(wp("secret.keep")).expect("hidden");
    p.master.end_batch().expect("batch");
    p.finish();
    all_ok(&p, 3);
    let fs = &p.dst.fs;
    for kept in ["x.keep", "d/y.keep", "gone/z.keep", "gone"] {
        assert!(fs.get(kept.as_bytes()).is_some(), "{kept} deleted");
    }
    assert!(fs.get(b"gone/plain").is_none());
    assert!(fs.get(b"secret.keep").is_none(), "a hidden name was sent");
    let logged = p.mirror_events.iter().any(|e| {
        matches!(e, MirrorEvent::Log { code: MsgCode::Info, text }
            if text.starts_with(b"cannot delete non-empty directory: gone"))
    });
    assert!(logged);
}

#[test]
fn deletions_files_deferred_to_the_batch_end() {
    let src = Fs::new().file("keep", b"k", 1);
    let dst = Fs::new()
        .file("keep", b"k", 1)
        .file("f", b"file", 1)
        .symlink("l", "t")
        .dir("dir")
        .dir("dir/sub")
        .file("dir/sub/x", b"x", 1);
    let mut p = Pair::new(src.clone(), dst);
    for n in ["f", "l", "dir", "never-existed"] {
        p.master.submit(wp(n)).expect("submit");
    }
    p.settle(10_000).expect("run");
    // The file's deletion waits for BATCH_END; the others are done.
    assert!(p.dst.fs.get(b"f").is_some());
    assert!(p.dst.fs.get(b"l").is_none() && p.dst.fs.get(b"dir").is_none());
    assert_eq!(p.acked().len(), 3, "{:?}", p.acked());
    p.master.end_batch().expect("batch");
    p.finish();
    all_ok(&p, 5);
    assert_same(&p.dst.fs, &src);
}

/// The size of the renamed file (64 MiB in release builds).
fn big_len() -> usize {
    if cfg!(debug_assertions) {
        8 << 20
    } else {
        64 << 20
    }
}

#[test]
fn a_rename_costs_block_copies_only() {
    let data = prng(big_len(), 42);
    let before = Fs::new()
        .dir("old")
        .dir("new")
        .file("old/big", &data, 1_700_000_000);
    let mut after = before.clone();
    after.remove(b"old/big");
    let after = after.file("new/moved", &data, 1_700_000_000);
    let mut p = Pair::new(after.clone(), before);
    let n = submit_all(&mut p, &["old/big".into(), "new/moved".into()]);
    p.finish();
    all_ok(&p, n);
    assert_same(&p.dst.fs, &after);
    let (literal, matched) = p.sent();
    let size = data.len() as u64;
    assert_eq!(matched, size);
    assert!(literal < size / 100, "literal {literal}");
    assert!(
        p.m2r_total < size / 100,
        "master sent {} bytes",
        p.m2r_total
    );
    assert!(
        p.r2m_total < size / 100,
        "mirror sent {} bytes",
        p.r2m_total
    );
    assert!(p.dst.seen.iter().any(
        |r| matches!(r, FsRequest::BeginFileFrom { basis, .. } if basis.as_bytes() == b"old/big")
    ));
}

#[test]
fn nanoseconds_decide_the_quick_check() {
    let src = nsec(Fs::new().file("f", b"new!", 100), "f", 5);
    let dst = Fs::new().file("f", b"old!", 100);
    let mut p = Pair::new(src.clone(), dst);
    let n = submit_all(&mut p, &["f".into()]);
    p.finish();
    all_ok(&p, n);
    assert_same(&p.dst.fs, &src);
    assert_eq!(p.sent().0, 4);
}

/// Same size, same mtime to the nanosecond, other bytes: a rewrite within one clock tick.
fn same_tick_rewrite(ctime: i64) -> Pair {
    let src = Fs::new().file("f", b"new!", 100);
    let mut p = Pair::new(src, Fs::new().file("f", b"old!", 100));
    p.dst.ctime.insert(b"f".to_vec(), ctime);
    let n = submit_all(&mut p, &["f".into()]);
    p.finish();
    all_ok(&p, n);
    p
}

#[test]
fn a_racy_copy_is_not_trusted_by_the_quick_check() {
    // The mirror's copy changed status 1 s after its mtime: it may predate a same-tick
    // rewrite, so the file goes through the delta (and the new bytes arrive).
    let p = same_tick_rewrite(101);
    assert_eq!(file_data(&p.dst.fs, b"f").as_deref(), Some(&b"new!"[..]));
    // A copy made long after its mtime is trusted: nothing is sent.
    let p = same_tick_rewrite(1_000);
    assert_eq!(file_data(&p.dst.fs, b"f").as_deref(), Some(&b"old!"[..]));
    assert_eq!(p.sent().0, 0);
}

#[test]
fn a_checksum_mismatch_is_retried_with_the_whole_file() {
    let old = prng(200_000, 7);
    let mut new = old.clone();
    new[50_000] ^= 1;
    let src = Fs::new().file("f", &new, 2);
    let mut p = Pair::new(src.clone(), Fs::new().file("f", &old, 1));
    p.dst.corrupt_once.insert(b"f".to_vec());
    let n = submit_all(&mut p, &["f".into()]);
    p.finish();
    all_ok(&p, n);
    assert_same(&p.dst.fs, &src);
    let warned = p.mirror_events.iter().any(|e| {
        matches!(e, MirrorEvent::Log { code: MsgCode::Warning, text }
            if text.ends_with(b"failed verification -- update discarded (will try again).\n"))
    });
    assert!(warned);
    // The retry carried the whole file.
    assert!(p.sent().0 >= 200_000);
}

#[test]
fn a_basis_that_shrank_is_redone_whole() {
    let old = prng(100_000, 3);
    let mut new = old.clone();
    new[10] ^= 1;
    let src = Fs::new().file("f", &new, 2);
    let mut p = Pair::new(src.clone(), Fs::new().file("f", &old, 1));
    p.dst.short_basis.insert(b"f".to_vec());
    let n = submit_all(&mut p, &["f".into()]);
    p.finish();
    all_ok(&p, n);
    assert_same(&p.dst.fs, &src);
}

#[test]
fn an_unreadable_file_is_aborted_and_reported() {
    let src = Fs::new().file("f", &prng(10_000, 1), 2).file("g", b"ok", 2);
    let dst = Fs::new().file("f", b"old", 1);
    let mut p = Pair::new(src, dst);
    p.src.unreadable.insert(b"f".to_vec());
    let f = p.master.submit(wp("f")).expect("f");
    p.master.submit(wp("g")).expect("g");
    p.master.end_batch().expect("batch");
    p.finish();
    let acked = p.acked();
    assert!(acked.contains(&(f.0, 24)), "{acked:?}");
    assert_eq!(acked.iter().filter(|a| a.1 == 0).count(), 2);
    let fs = &p.dst.fs;
    assert!(matches!(fs.get(b"f"), Some((_, i)) if i.kind == Kind::File(b"old".to_vec())));
    assert!(fs.get(b"g").is_some());
}

#[test]
fn a_failed_commit_is_acknowledged_with_23() {
    let src = Fs::new().file("f", b"content", 2);
    let mut p = Pair::new(src, Fs::new());
    p.dst.fail_commit.insert(b"f".to_vec());
    let f = p.master.submit(wp("f")).expect("f");
    p.finish();
    let msg = p.master_events.iter().find_map(|e| match e {
        MasterEvent::Acked {
            id,
            status: 23,
            message,
        } if *id == f => Some(message.clone()),
        _ => None,
    });
    assert_eq!(msg.as_deref(), Some(&b"rename failed: injected"[..]));
}

#[test]
fn many_changes_are_pipelined_within_the_window() {
    let mut src = Fs::new();
    for i in 0..500 {
        src = src.file(
            &format!("f{i:03}"),
            &prng(100 + i, i as u64),
            1_000 + i as i64,
        );
    }
    let cfg = ConstantConfig::default().with_window(64);
    let mut p = Pair::with(src.clone(), Fs::new(), archive(), cfg);
    let n = submit_all(&mut p, &names(&src));
    p.settle(100_000).expect("run");
    all_ok(&p, n);
    assert!(p.max_in_flight <= 64, "{}", p.max_in_flight);
    assert!(p.max_in_flight >= 32, "not pipelined: {}", p.max_in_flight);
    p.finish();
    assert_same(&p.dst.fs, &src);
}

#[test]
fn owner_names_travel_once_per_id() {
    let mut opts = archive();
    opts.flist.numeric_ids = false;
    let mut src = Fs::new();
    for i in 0..5 {
        src = src
            .file(&format!("f{i}"), b"x", 1)
            .attrs(&format!("f{i}"), 0o644, 1000, 1000);
    }
    let mut p = Pair::with(src.clone(), Fs::new(), opts, ConstantConfig::default());
    let n = submit_all(&mut p, &names(&src));
    p.finish();
    all_ok(&p, n);
    assert_same(&p.dst.fs, &src);
    let count = p.m2r_log.windows(8).filter(|w| w == b"user1000").count();
    assert_eq!(count, 1);
    // The mirror filled the name into every later entry.
    let named = p.mirror_events.iter().filter(|e| {
        matches!(e, MirrorEvent::Itemize { entry, .. }
            if entry.user_name() == Some(&b"user1000"[..]))
    });
    assert_eq!(named.count(), 5);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Any chunking of both byte streams and of the file reads gives the same mirror.
    #[test]
    fn chunking_does_not_matter(
        chunks in proptest::collection::vec(1usize..5000, 1..6),
        read in 1usize..70_000,
    ) {
        let src = tree();
        let mut p = Pair::new(src.clone(), stale_mirror());
        p.chunks = chunks;
        p.src.chunk = read;
        p.master.submit_tree(wp(".")).expect("tree");
        let n = submit_all(&mut p, &names(&src));
        p.finish();
        all_ok(&p, n + 1);
        assert_same(&p.dst.fs, &src);
    }
}

#[test]
fn close_ends_the_open_batch_so_deletions_complete() {
    let src = Fs::new().file("keep", b"k", 1);
    let dst = Fs::new().file("keep", b"k", 1).file("f", b"file", 1);
    let mut p = Pair::new(src.clone(), dst);
    let f = p.master.submit(wp("f")).expect("submit");
    p.finish();
    assert_eq!(
        p.acked(),
        vec![(f.0, 0)],
        "only the daemon's change is reported"
    );
    assert!(p.dst.fs.get(b"f").is_none());
    assert_eq!(p.master.pending(), 0);
}

#[test]
fn data_records_stay_bounded() {
    let src = Fs::new().file("big", &prng(3 << 20, 9), 5);
    let mut p = Pair::new(src.clone(), Fs::new());
    p.src.chunk = 1 << 20;
    p.master.submit(wp("big")).expect("submit");
    p.finish();
    assert_same(&p.dst.fs, &src);
    let ctx = record_context(&archive());
    let mut r = RecordReader::new();
    r.push(&p.m2r_log);
    let (mut n, mut max) = (0, 0);
    while let Some((k, body)) = r.next_frame().expect("frame") {
        if let Some(MasterRecord::Data { tokens, .. }) = decode_master(&ctx, k, &body).expect("rec")
        {
            n += 1;
            max = max.max(tokens.len());
        }
    }
    let lim = ConstantConfig::default().data_record;
    assert!(n >= (3 << 20) / (lim + (32 << 10)), "{n} DATA records");
    assert!(max < lim + (32 << 10) + 8, "a DATA record of {max} bytes");
}

#[test]
fn block_sums_beyond_one_record_continue_in_sums_more() {
    // 8-byte blocks: 2 MiB of basis gives 262,144 block sums, several records' worth.
    let old = prng(2 << 20, 11);
    let mut new = old.clone();
    new[1_000_000] ^= 0x55;
    let src = Fs::new().file("f", &new, 2);
    let mut opts = archive();
    opts.block_size = 8;
    let mut p = Pair::with(
        src.clone(),
        Fs::new().file("f", &old, 1),
        opts.clone(),
        ConstantConfig::default(),
    );
    p.master.submit(wp("f")).expect("submit");
    p.finish();
    assert_same(&p.dst.fs, &src);
    let ctx = record_context(&opts);
    let mut r = RecordReader::new();
    r.push(&p.r2m_log);
    let (mut sums, mut more) = (0, 0);
    while let Some((k, body)) = r.next_frame().expect("frame") {
        match decode_mirror(&ctx, k, &body).expect("record") {
            Some(MirrorRecord::Sums { .. }) => sums += 1,
            Some(MirrorRecord::SumsMore { .. }) => more += 1,
            _ => {}
        }
    }
    assert_eq!(sums, 1);
    assert!(more >= 1, "no SUMS_MORE");
    let (literal, matched) = p.sent();
    assert!(literal <= 16, "literal {literal}");
    assert_eq!(matched + literal, new.len() as u64);
}
