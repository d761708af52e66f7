//! The constant mirror's executor ([`ReceiverFs::for_constant`]) driven directly, without
//! the roles: files of several indexes at once, a basis by another name, `Remove`, and
//! `Settle` (alone and in bursts) with the first failure of its own index only.

use std::os::unix::fs::MetadataExt as _;

use rsync_proto::driver::Executor;
use rsync_proto::flist::FileEntry;
use rsync_proto::session::{FsAnswer, FsRequest};

use super::constant_tests::{session_options, wp};
use super::{Failures, ReceiverFs, ReceiverOptions};

/// The mirror executor directly: files of several indexes at once, a basis by another name,
/// `Remove`, and `Settle` with the first failure of its index only.
#[test]
fn interleaved_files_remove_and_settle() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("m");
    let opts = session_options();
    let ropts = ReceiverOptions {
        perms: true,
        times: true,
        umask: 0o022,
        ..ReceiverOptions::default()
    };
    let mut r = ReceiverFs::for_constant(dest.clone(), opts.strong, ropts, Failures::new(), 2)
        .expect("mirror");
    std::fs::write(dest.join("old"), b"0123456789").unwrap();
    std::fs::create_dir_all(dest.join("tree/sub")).unwrap();
    std::fs::write(dest.join("tree/sub/f"), b"x").unwrap();
    let run = |r: &mut ReceiverFs, req: FsRequest| {
        let mut got = Vec::new();
        r.execute(req, &mut |a| got.push(a)).expect("execute");
        got
    };
    let entry = |name: &str, size: u64| {
        let mut e = FileEntry::new(wp(name), 0o100_644);
        e.set_size(size);
        e.set_mtime(1_000_000_000);
        e
    };
    run(
        &mut r,
        FsRequest::BeginFileFrom {
            ndx: 1,
            path: wp("renamed"),
            basis: wp("old"),
        },
    );
    run(
        &mut r,
        FsRequest::BeginFile {
            ndx: 2,
            path: wp("plain"),
        },
    );
    // A third file at once is one too many (the bound is 2): its Settle says so.
    run(
        &mut r,
        FsRequest::BeginFile {
            ndx: 3,
            path: wp("third"),
        },
    );
    run(
        &mut r,
        FsRequest::Write {
            ndx: 2,
            data: b"plain ".to_vec(),
        },
    );
    let copied = run(
        &mut r,
        FsRequest::CopyFromBasis {
            ndx: 1,
            offset: 2,
            len: 5,
        },
    );
    assert_eq!(
        copied,
        vec![FsAnswer::Copied {
            ndx: 1,
            data: b"23456".to_vec()
        }]
    );
    run(
        &mut r,
        FsRequest::Write {
            ndx: 1,
            data: b"23456".to_vec(),
        },
    );
    run(
        &mut r,
        FsRequest::Write {
            ndx: 2,
            data: b"data".to_vec(),
        },
    );
    run(
        &mut r,
        FsRequest::Commit {
            ndx: 2,
            entry: entry("plain", 10),
        },
    );
    run(
        &mut r,
        FsRequest::Commit {
            ndx: 1,
            entry: entry("renamed", 5),
        },
    );
    run(
        &mut r,
        FsRequest::Remove {
            ndx: 4,
            path: wp("tree"),
        },
    );
    run(
        &mut r,
        FsRequest::Remove {
            ndx: 4,
            path: wp("never/was"),
        },
    );
    for ndx in [1, 2, 4] {
        assert_eq!(
            run(&mut r, FsRequest::Settle { ndx }),
            vec![FsAnswer::Settled { ndx, error: None }],
            "ndx {ndx}"
        );
    }
    let third = run(&mut r, FsRequest::Settle { ndx: 3 });
    assert!(
        matches!(
            &third[..],
            [FsAnswer::Settled {
                ndx: 3,
                error: Some(_)
            }]
        ),
        "{third:?}"
    );
    // Reported once.
    assert_eq!(
        run(&mut r, FsRequest::Settle { ndx: 3 }),
        vec![FsAnswer::Settled {
            ndx: 3,
            error: None
        }]
    );
    assert_eq!(std::fs::read(dest.join("renamed")).unwrap(), b"23456");
    assert_eq!(std::fs::read(dest.join("plain")).unwrap(), b"plain data");
    let m = std::fs::metadata(dest.join("renamed")).unwrap();
    assert_eq!((m.mode() & 0o777, m.mtime()), (0o644, 1_000_000_000));
    assert!(!dest.join("tree").exists());
    assert_eq!(r.constant_state(), (0, 0));
}

/// The mirror executor directly: a burst of `Settle`s confirms every file of the burst on
/// disk, each with its own failure; a directory a third party replaced after a settle
/// point is resolved afresh (never written through the handle cached before it).
#[test]
fn a_burst_of_settles_and_a_directory_replaced_between_bursts() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("m");
    let ropts = ReceiverOptions {
        perms: true,
        times: true,
        umask: 0o022,
        ..ReceiverOptions::default()
    };
    let strong = session_options().strong;
    let mut r =
        ReceiverFs::for_constant(dest.clone(), strong, ropts, Failures::new(), 16).expect("mirror");
    std::fs::create_dir_all(dest.join("a")).unwrap();
    let run = |r: &mut ReceiverFs, req: FsRequest| {
        let mut got = Vec::new();
        r.execute(req, &mut |a| got.push(a)).expect("execute");
        got
    };
    let write = |r: &mut ReceiverFs, ndx: i32, name: &str| {
        let path = wp(name);
        run(r, FsRequest::BeginFile { ndx, path });
        let data = name.as_bytes().to_vec();
        run(r, FsRequest::Write { ndx, data });
        let mut entry = FileEntry::new(wp(name), 0o100_644);
        entry.set_size(name.len() as u64);
        entry.set_mtime(1_000_000_000);
        run(r, FsRequest::Commit { ndx, entry });
    };
    // A burst: three files written, the middle one's directory missing.
    write(&mut r, 1, "a/one");
    write(&mut r, 2, "missing/two");
    write(&mut r, 3, "a/three");
    let settled = |r: &mut ReceiverFs, ndx: i32| match run(r, FsRequest::Settle { ndx }) {
        a if a.len() == 1 => match &a[0] {
            FsAnswer::Settled { ndx: n, error } if *n == ndx => error.is_some(),
            other => panic!("{other:?}"),
        },
        a => panic!("{a:?}"),
    };
    let failed: Vec<bool> = (1..=3).map(|ndx| settled(&mut r, ndx)).collect();
    assert_eq!(
        failed,
        [false, true, false],
        "each index with its own failure"
    );
    // On disk once the first Settle of the burst answered (and so at each).
    assert_eq!(std::fs::read(dest.join("a/one")).unwrap(), b"a/one");
    assert_eq!(std::fs::read(dest.join("a/three")).unwrap(), b"a/three");
    // A third party moves `a` away and makes a new `a`: the next file lands in the new one.
    std::fs::rename(dest.join("a"), dest.join("moved")).unwrap();
    std::fs::create_dir(dest.join("a")).unwrap();
    write(&mut r, 4, "a/four");
    assert!(!settled(&mut r, 4));
    assert_eq!(std::fs::read(dest.join("a/four")).unwrap(), b"a/four");
    assert!(!dest.join("moved/four").exists());
    assert_eq!(r.constant_state(), (0, 0));
}
