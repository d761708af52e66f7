//! `--inplace` in the receiver's executor, on real temporary directories: the destination
//! file itself is updated (same inode, hard links see it), blocks already in place are not
//! rewritten, reads of the basis see earlier writes, the file is cut to its new length, and
//! an interrupted or failed file keeps what was written.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use rsync_core::checksum::{ChecksumKind, StrongSum};
use rsync_proto::driver::{Executor, ListSummary};
use rsync_proto::flist::{mode, FileEntry, WirePath};
use rsync_proto::session::{FsAnswer, FsRequest};

use super::*;

const STRONG: StrongSum = StrongSum::new(ChecksumKind::Md5, 0);

fn wp(s: &str) -> WirePath {
    WirePath::new(s.as_bytes().to_vec()).unwrap()
}

fn entry(name: &str) -> FileEntry {
    let mut e = FileEntry::new(wp(name), mode::S_IFREG | 0o640);
    e.set_mtime(1_500_000_000);
    e.mtime_nsec = 123_456_789;
    e
}

/// An in-place receiver (`-p -t`) writing into `dest`.
fn receiver(dest: &Path, tweak: impl FnOnce(&mut ReceiverOptions)) -> (ReceiverFs, Failures) {
    let mut o = ReceiverOptions::default();
    o.perms = true;
    o.times = true;
    o.inplace = true;
    tweak(&mut o);
    let f = Failures::new();
    let mut r = ReceiverFs::new(dest.to_path_buf(), STRONG, o, f.clone());
    r.file_list(ListSummary::of(&[None, None]));
    (r, f)
}

/// Executes `req` without waiting for the writing thread.
fn run(r: &mut ReceiverFs, req: FsRequest) -> Vec<FsAnswer> {
    let mut out = Vec::new();
    r.execute(req, &mut |a| out.push(a)).unwrap();
    out
}

fn copy(r: &mut ReceiverFs, offset: u64, len: u32) -> Vec<u8> {
    let got = run(
        r,
        FsRequest::CopyFromBasis {
            ndx: 1,
            offset,
            len,
        },
    );
    let [FsAnswer::Copied { data, .. }] = got.as_slice() else {
        panic!("{got:?}")
    };
    data.clone()
}

fn write(r: &mut ReceiverFs, data: &[u8]) {
    run(
        r,
        FsRequest::Write {
            ndx: 1,
            data: data.to_vec(),
        },
    );
}

fn begin(r: &mut ReceiverFs, name: &str) {
    run(
        r,
        FsRequest::Basis {
            ndx: 1,
            path: wp(name),
            checksum: None,
        },
    );
    run(
        r,
        FsRequest::BeginFile {
            ndx: 1,
            path: wp(name),
        },
    );
}

#[test]
fn updates_the_file_itself_and_skips_blocks_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dst");
    std::fs::create_dir(&dest).unwrap();
    let f = dest.join("f");
    std::fs::write(&f, b"AAAABBBBCCCCDDDDEEEE").unwrap();
    let link = tmp.path().join("link");
    std::fs::hard_link(&f, &link).unwrap();
    let ino = std::fs::metadata(&f).unwrap().ino();
    let (mut r, failures) = receiver(&dest, |_| {});
    begin(&mut r, "f");
    // Block 0 where it is: its bytes are not written again. The session always writes the
    // copied bytes; different bytes here show that the executor skipped them.
    assert_eq!(copy(&mut r, 0, 4), b"AAAA");
    write(&mut r, b"xxxx");
    // Block 3 (ahead of the write position) then a literal.
    assert_eq!(copy(&mut r, 12, 4), b"DDDD");
    write(&mut r, b"DDDD");
    write(&mut r, b"new!");
    r.settle();
    // Written where they go, in the same file, before the commit.
    assert_eq!(std::fs::read(&f).unwrap(), b"AAAADDDDnew!DDDDEEEE");
    run(
        &mut r,
        FsRequest::Commit {
            ndx: 1,
            entry: entry("f"),
        },
    );
    r.settle();
    // Cut at the new length, same inode, the hard link sees it, metadata applied.
    assert_eq!(std::fs::read(&f).unwrap(), b"AAAADDDDnew!");
    assert_eq!(std::fs::read(&link).unwrap(), b"AAAADDDDnew!");
    let md = std::fs::metadata(&f).unwrap();
    assert_eq!(md.ino(), ino);
    assert_eq!(md.mode() & 0o7777, 0o640);
    assert_eq!((md.mtime(), md.mtime_nsec()), (1_500_000_000, 123_456_789));
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 1, "no temporary");
    assert_eq!(failures.exit_code(0), 0);
}

#[test]
fn a_copy_from_behind_the_write_position_reads_what_was_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dst");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("f"), b"0123456789").unwrap();
    let (mut r, _) = receiver(&dest, |_| {});
    begin(&mut r, "f");
    // A read ahead fills the read-ahead window with the old bytes...
    assert_eq!(copy(&mut r, 4, 4), b"4567");
    write(&mut r, b"4567");
    write(&mut r, b"wxyz");
    // ... and a copy of bytes written since (a sender that does not update the basis
    // would ask for one) sees the new bytes, as a synchronous receiver would.
    assert_eq!(copy(&mut r, 4, 4), b"wxyz");
}

#[test]
fn a_missing_file_is_created_under_its_final_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dst");
    let (mut r, _) = receiver(&dest, |_| {});
    begin(&mut r, "new");
    write(&mut r, b"fresh");
    r.settle();
    assert_eq!(std::fs::read(dest.join("new")).unwrap(), b"fresh");
    assert_eq!(
        std::fs::metadata(dest.join("new")).unwrap().mode() & 0o7777,
        0o600,
        "private until its metadata is applied"
    );
    run(
        &mut r,
        FsRequest::Commit {
            ndx: 1,
            entry: entry("new"),
        },
    );
    r.settle();
    assert_eq!(
        std::fs::metadata(dest.join("new")).unwrap().mode() & 0o7777,
        0o640
    );
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 1);
}

#[test]
fn interrupted_and_failed_files_keep_what_was_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dst");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("f"), b"0123456789").unwrap();
    std::fs::write(dest.join("g"), b"0123456789").unwrap();
    // Interrupted (even without --partial): the new head, the old tail, no truncation.
    let (mut r, _) = receiver(&dest, |_| {});
    begin(&mut r, "f");
    write(&mut r, b"abc");
    drop(r);
    assert_eq!(std::fs::read(dest.join("f")).unwrap(), b"abc3456789");
    // Failed verification: kept, at the received length.
    let (mut r, _) = receiver(&dest, |_| {});
    begin(&mut r, "g");
    write(&mut r, b"abcd");
    run(&mut r, FsRequest::Discard { ndx: 1 });
    r.settle();
    assert_eq!(std::fs::read(dest.join("g")).unwrap(), b"abcd");
}

#[test]
fn a_symlink_or_a_read_only_file_is_handled_like_rsync() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dst");
    std::fs::create_dir(&dest).unwrap();
    let outside = tmp.path().join("outside");
    std::fs::write(&outside, b"precious").unwrap();
    std::os::unix::fs::symlink(&outside, dest.join("link")).unwrap();
    let (mut r, failures) = receiver(&dest, |_| {});
    run(
        &mut r,
        FsRequest::BeginFile {
            ndx: 1,
            path: wp("link"),
        },
    );
    write(&mut r, b"evil");
    run(
        &mut r,
        FsRequest::Commit {
            ndx: 1,
            entry: entry("link"),
        },
    );
    r.settle();
    assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
    assert_eq!(
        failures.exit_code(0),
        23,
        "the open is refused and reported"
    );
    // A file without write permission is updated (owner write added for the open only).
    let ro = dest.join("ro");
    std::fs::write(&ro, b"old!").unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
    let (mut r, failures) = receiver(&dest, |o| o.perms = false);
    begin(&mut r, "ro");
    write(&mut r, b"new");
    run(
        &mut r,
        FsRequest::Commit {
            ndx: 1,
            entry: entry("ro"),
        },
    );
    r.settle();
    assert_eq!(std::fs::read(&ro).unwrap(), b"new");
    assert_eq!(std::fs::metadata(&ro).unwrap().mode() & 0o7777, 0o444);
    assert_eq!(failures.exit_code(0), 0);
}
