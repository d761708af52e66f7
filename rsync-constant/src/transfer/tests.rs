//! The executors' handling of each request, on real temporary directories.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use rsync_core::checksum::{ChecksumKind, StrongSum};
use rsync_core::SumHead;
use rsync_proto::driver::{Executor, ListSummary};
use rsync_proto::flist::{mode, FileEntry, HardLink, WirePath};
use rsync_proto::session::{FsAnswer, FsRequest};

use super::*;
use rsync_proto::filter::FilterList;

const STRONG: StrongSum = StrongSum::new(ChecksumKind::Md5, 0);

fn wp(s: &str) -> WirePath {
    WirePath::new(s.as_bytes().to_vec()).unwrap()
}

fn entry(name: &str, m: u32) -> FileEntry {
    let mut e = FileEntry::new(wp(name), m);
    e.set_mtime(1_500_000_000);
    e.mtime_nsec = 123_456_789;
    e
}

fn receiver(dest: &Path, tweak: impl FnOnce(&mut ReceiverOptions)) -> (ReceiverFs, Failures) {
    let mut o = ReceiverOptions::default();
    o.perms = true;
    o.times = true;
    tweak(&mut o);
    let f = Failures::new();
    let mut r = ReceiverFs::new(dest.to_path_buf(), STRONG, o, f.clone());
    r.file_list(ListSummary::of(&[None, None]));
    (r, f)
}

/// Executors whose effects may lag behind `execute` (the receiver's writing thread).
trait Settle {
    fn settle(&mut self) {}
}

impl Settle for ReceiverFs {
    fn settle(&mut self) {
        Self::settle(self);
    }
}

impl Settle for SenderFs {}

/// Executes `req` and waits for its effects, as a later request would see them.
fn exec(x: &mut (impl Executor + Settle), req: FsRequest) -> Vec<FsAnswer> {
    let mut out = Vec::new();
    x.execute(req, &mut |a| out.push(a)).unwrap();
    x.settle();
    out
}

#[test]
fn receiver_writes_files_through_temp_and_rename() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dst");
    let (mut r, failures) = receiver(&dest, |_| {});
    assert!(dest.is_dir(), "the destination directory is created");
    exec(
        &mut r,
        FsRequest::Mkdir {
            ndx: 0,
            entry: entry("d", mode::S_IFDIR | 0o750),
        },
    );
    std::fs::write(dest.join("d/f"), b"0123456789abcdef").unwrap();
    // Basis of an existing file, with -c.
    let got = exec(
        &mut r,
        FsRequest::Basis {
            ndx: 1,
            path: wp("d/f"),
            checksum: Some(STRONG),
        },
    );
    let [FsAnswer::Basis { meta: Some(m), .. }] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(m.size, 16);
    assert!(m.is_regular());
    let mut h = STRONG.file_hasher();
    h.update(b"0123456789abcdef");
    assert_eq!(m.checksum.as_deref(), Some(h.finish().as_bytes()));
    // Signature over the basis: 2 blocks of 8.
    let head = SumHead::from_wire(2, 8, 16, 0, 16, &rsync_core::Limits::default()).unwrap();
    let got = exec(
        &mut r,
        FsRequest::Signature {
            ndx: 1,
            path: wp("d/f"),
            head,
        },
    );
    let [FsAnswer::Signature { signature, .. }] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(signature.len(), 2);
    assert_eq!(
        signature.strong(1).unwrap(),
        rsync_core::Signature::compute(b"0123456789abcdef", head, STRONG)
            .strong(1)
            .unwrap()
    );
    // Receive "89abcdef" + "XY" + block 0: copy from the basis and literal writes.
    exec(
        &mut r,
        FsRequest::BeginFile {
            ndx: 1,
            path: wp("d/f"),
        },
    );
    let got = exec(
        &mut r,
        FsRequest::CopyFromBasis {
            ndx: 1,
            offset: 8,
            len: 8,
        },
    );
    let [FsAnswer::Copied { data, .. }] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(data, b"89abcdef");
    exec(
        &mut r,
        FsRequest::Write {
            ndx: 1,
            data: data.clone(),
        },
    );
    exec(
        &mut r,
        FsRequest::Write {
            ndx: 1,
            data: b"XY".to_vec(),
        },
    );
    // Until the commit, the old content is in place.
    assert_eq!(
        std::fs::read(dest.join("d/f")).unwrap(),
        b"0123456789abcdef"
    );
    let f = entry("d/f", mode::S_IFREG | 0o640);
    exec(&mut r, FsRequest::Commit { ndx: 1, entry: f });
    assert_eq!(std::fs::read(dest.join("d/f")).unwrap(), b"89abcdefXY");
    let md = std::fs::metadata(dest.join("d/f")).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o640);
    assert_eq!((md.mtime(), md.mtime_nsec()), (1_500_000_000, 123_456_789));
    // A discarded file leaves nothing behind.
    exec(
        &mut r,
        FsRequest::BeginFile {
            ndx: 2,
            path: wp("d/g"),
        },
    );
    exec(
        &mut r,
        FsRequest::Write {
            ndx: 2,
            data: b"junk".to_vec(),
        },
    );
    exec(&mut r, FsRequest::Discard { ndx: 2 });
    let names: Vec<_> = std::fs::read_dir(dest.join("d")).unwrap().collect();
    assert_eq!(names.len(), 1, "no temporary file left");
    // Directory metadata at the end of the run.
    exec(
        &mut r,
        FsRequest::SetMeta {
            ndx: 0,
            entry: entry("d", mode::S_IFDIR | 0o750),
        },
    );
    let md = std::fs::metadata(dest.join("d")).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o750);
    assert_eq!(md.mtime_nsec(), 123_456_789);
    assert_eq!(failures.exit_code(0), 0);
}

#[test]
fn receiver_links_specials_lists_and_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dst");
    let (mut r, failures) = receiver(&dest, |_| {});
    std::fs::write(dest.join("a"), b"x").unwrap();
    let mut l = entry("l", mode::S_IFLNK | 0o777);
    l.set_symlink(Some(b"../outside".to_vec()));
    exec(&mut r, FsRequest::Symlink { ndx: 1, entry: l });
    assert_eq!(
        std::fs::read_link(dest.join("l")).unwrap().as_os_str(),
        "../outside"
    );
    let lm = std::fs::symlink_metadata(dest.join("l")).unwrap();
    assert_eq!(
        lm.mtime(),
        1_500_000_000,
        "symlink time set without following it"
    );
    exec(
        &mut r,
        FsRequest::HardLink {
            ndx: 2,
            entry: entry("h", mode::S_IFREG | 0o644),
            target: wp("a"),
        },
    );
    assert_eq!(
        std::fs::metadata(dest.join("h")).unwrap().ino(),
        std::fs::metadata(dest.join("a")).unwrap().ino()
    );
    exec(
        &mut r,
        FsRequest::Mknod {
            ndx: 3,
            entry: entry("fifo", mode::S_IFIFO | 0o640),
        },
    );
    use std::os::unix::fs::FileTypeExt as _;
    assert!(std::fs::symlink_metadata(dest.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    std::fs::create_dir_all(dest.join("old/deep")).unwrap();
    std::fs::write(dest.join("old/deep/x"), b"x").unwrap();
    let got = exec(
        &mut r,
        FsRequest::ListDir {
            ndx: 0,
            path: wp("."),
        },
    );
    let [FsAnswer::DirList { names, .. }] = got.as_slice() else {
        panic!("{got:?}")
    };
    let mut listed: Vec<_> = names
        .iter()
        .map(|n| (n.name.clone(), n.mode & mode::S_IFMT))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            (b"a".to_vec(), mode::S_IFREG),
            (b"fifo".to_vec(), mode::S_IFIFO),
            (b"h".to_vec(), mode::S_IFREG),
            (b"l".to_vec(), mode::S_IFLNK),
            (b"old".to_vec(), mode::S_IFDIR),
        ]
    );
    exec(
        &mut r,
        FsRequest::Delete {
            path: wp("old"),
            is_dir: true,
        },
    );
    exec(
        &mut r,
        FsRequest::Delete {
            path: wp("l"),
            is_dir: false,
        },
    );
    assert!(!dest.join("old").exists());
    assert!(std::fs::symlink_metadata(dest.join("l")).is_err());
    assert_eq!(failures.exit_code(0), 0);
    // A name that resolves through a symlink is refused, and counted as a failure.
    std::os::unix::fs::symlink(tmp.path(), dest.join("esc")).unwrap();
    exec(
        &mut r,
        FsRequest::BeginFile {
            ndx: 9,
            path: wp("esc/pwned"),
        },
    );
    exec(
        &mut r,
        FsRequest::Write {
            ndx: 9,
            data: b"x".to_vec(),
        },
    );
    exec(
        &mut r,
        FsRequest::Commit {
            ndx: 9,
            entry: entry("esc/pwned", mode::S_IFREG | 0o644),
        },
    );
    assert!(!tmp.path().join("pwned").exists());
    assert_eq!(failures.exit_code(0), 23);
}

#[test]
fn dry_run_and_partial() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dst");
    let (mut r, _) = receiver(&dest, |o| o.dry_run = true);
    assert!(!dest.exists(), "-n creates no destination");
    exec(
        &mut r,
        FsRequest::Mkdir {
            ndx: 0,
            entry: entry("d", mode::S_IFDIR | 0o755),
        },
    );
    exec(
        &mut r,
        FsRequest::BeginFile {
            ndx: 1,
            path: wp("f"),
        },
    );
    exec(
        &mut r,
        FsRequest::Commit {
            ndx: 1,
            entry: entry("f", mode::S_IFREG | 0o644),
        },
    );
    let got = exec(
        &mut r,
        FsRequest::Basis {
            ndx: 1,
            path: wp("f"),
            checksum: None,
        },
    );
    assert_eq!(got, vec![FsAnswer::Basis { ndx: 1, meta: None }]);
    assert!(!dest.exists());

    // --partial keeps what was received when the run stops mid-file.
    let (mut r, _) = receiver(&dest, |o| o.partial = true);
    exec(
        &mut r,
        FsRequest::BeginFile {
            ndx: 1,
            path: wp("f"),
        },
    );
    exec(
        &mut r,
        FsRequest::Write {
            ndx: 1,
            data: b"half".to_vec(),
        },
    );
    drop(r);
    assert_eq!(std::fs::read(dest.join("f")).unwrap(), b"half");
    // Without it, nothing is left.
    let (mut r, _) = receiver(&dest, |_| {});
    exec(
        &mut r,
        FsRequest::BeginFile {
            ndx: 1,
            path: wp("g"),
        },
    );
    exec(
        &mut r,
        FsRequest::Write {
            ndx: 1,
            data: b"half".to_vec(),
        },
    );
    drop(r);
    assert!(!dest.join("g").exists());
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 1);
}

#[test]
fn single_file_destination_is_renamed() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("copy.txt");
    let mut r = ReceiverFs::new(
        dest.clone(),
        STRONG,
        ReceiverOptions::default(),
        Failures::new(),
    );
    let e = entry("orig.txt", mode::S_IFREG | 0o644);
    r.file_list(ListSummary::of(&[Some(e.clone())]));
    exec(
        &mut r,
        FsRequest::BeginFile {
            ndx: 0,
            path: wp("orig.txt"),
        },
    );
    exec(
        &mut r,
        FsRequest::Write {
            ndx: 0,
            data: b"one".to_vec(),
        },
    );
    exec(&mut r, FsRequest::Commit { ndx: 0, entry: e });
    assert_eq!(std::fs::read(&dest).unwrap(), b"one");
    assert!(!tmp.path().join("orig.txt").exists());
}

fn sender(sources: &[&Path], tweak: impl FnOnce(&mut SenderOptions)) -> (SenderFs, Failures) {
    let mut o = SenderOptions::default();
    o.recursive = true;
    o.links = true;
    tweak(&mut o);
    let f = Failures::new();
    let src = sources
        .iter()
        .map(|p| Source(p.as_os_str().as_encoded_bytes().to_vec()))
        .collect();
    (SenderFs::new(src, o, f.clone()), f)
}

fn list(s: &mut SenderFs, checksum: Option<StrongSum>) -> (Vec<FileEntry>, i32) {
    let got = exec(
        s,
        FsRequest::FileList {
            filter_rules: Vec::new(),
            files_from: None,
            checksum,
        },
    );
    match got.into_iter().next() {
        Some(FsAnswer::FileList {
            entries, io_error, ..
        }) => (entries, io_error),
        other => panic!("{other:?}"),
    }
}

fn names(entries: &[FileEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| String::from_utf8_lossy(e.name.as_bytes()).into_owned())
        .collect()
}

#[test]
fn sender_follows_rsync_operand_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a"), b"aaa").unwrap();
    std::fs::write(src.join("sub/b"), b"b").unwrap();
    std::fs::hard_link(src.join("a"), src.join("a2")).unwrap();
    std::os::unix::fs::symlink("a", src.join("l")).unwrap();
    std::fs::set_permissions(src.join("a"), std::fs::Permissions::from_mode(0o604)).unwrap();
    // `src/`: the contents, with `.` for src itself.
    let mut opts = SenderOptions::default();
    opts.recursive = true;
    opts.links = true;
    opts.hard_links = true;
    let with_slash = Source(format!("{}/", src.display()).into_bytes());
    let mut s = SenderFs::new(vec![with_slash], opts, Failures::new());
    let (entries, io) = list(&mut s, Some(STRONG));
    assert_eq!(io, 0);
    assert_eq!(names(&entries), [".", "a", "a2", "l", "sub", "sub/b"]);
    assert!(entries[0].top_dir());
    let a = &entries[1];
    assert_eq!(a.mode, mode::S_IFREG | 0o604);
    assert_eq!(a.size(), 3);
    assert!(matches!(a.hardlink(), Some(HardLink::DevIno { .. })));
    assert_eq!(
        a.hardlink(),
        entries[2].hardlink(),
        "same dev/ino for both links"
    );
    assert_eq!(entries[3].symlink(), Some(&b"a"[..]));
    let mut h = STRONG.file_hasher();
    h.update(b"aaa");
    assert_eq!(a.checksum(), Some(h.finish().as_bytes()));
    // Reading a file gives its bytes then the end.
    let got = exec(
        &mut s,
        FsRequest::ReadFile {
            ndx: 1,
            path: wp("sub/b"),
        },
    );
    assert_eq!(
        got,
        vec![
            FsAnswer::FileData {
                ndx: 1,
                data: b"b".to_vec()
            },
            FsAnswer::FileEnd { ndx: 1 }
        ]
    );
    // A file that vanished since the list.
    std::fs::remove_file(src.join("sub/b")).unwrap();
    let got = exec(
        &mut s,
        FsRequest::ReadFile {
            ndx: 1,
            path: wp("sub/b"),
        },
    );
    assert_eq!(
        got,
        vec![FsAnswer::FileError {
            ndx: 1,
            vanished: true
        }]
    );

    // `src` without a slash: the directory itself; -l off skips the symlink.
    let (mut s, _) = sender(&[&src], |o| o.links = false);
    let (entries, _) = list(&mut s, None);
    assert_eq!(names(&entries), ["src", "src/a", "src/a2", "src/sub"]);
    // -d without -r: the directory alone.
    let (mut s, _) = sender(&[&src], |o| {
        o.recursive = false;
        o.dirs = true;
    });
    assert_eq!(names(&list(&mut s, None).0), ["src"]);
    // A missing operand is an I/O error (exit 23), the rest is still sent.
    let (mut s, f) = sender(&[&tmp.path().join("nope"), &src.join("a")], |_| {});
    let (entries, io) = list(&mut s, None);
    assert_eq!(names(&entries), ["a"]);
    assert_eq!(io & 1, 1);
    assert_eq!(f.exit_code(0), 23);
}

#[test]
fn sender_files_from_brings_parents() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("x/y")).unwrap();
    std::fs::write(src.join("x/y/f"), b"f").unwrap();
    std::fs::write(src.join("top"), b"t").unwrap();
    let (s, _) = sender(&[&src], |o| {
        o.recursive = false;
        o.relative = true;
    });
    let mut s = s.with_files_from(vec![b"x/y/f".to_vec(), b"/top".to_vec(), b"".to_vec()]);
    let (entries, io) = list(&mut s, None);
    assert_eq!(io, 0);
    assert_eq!(names(&entries), ["x", "x/y", "x/y/f", "top"]);
}

#[test]
fn sender_applies_filter_rules_and_prunes_excluded_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("build/deep")).unwrap();
    std::fs::create_dir_all(src.join("lib")).unwrap();
    std::fs::write(src.join("a.c"), b"c").unwrap();
    std::fs::write(src.join("a.o"), b"o").unwrap();
    std::fs::write(src.join("lib/b.c"), b"c").unwrap();
    std::fs::write(src.join("lib/b.o"), b"o").unwrap();
    std::fs::write(src.join("build/x"), b"x").unwrap();
    std::fs::write(src.join("build/deep/y"), b"y").unwrap();
    let with_slash = || Source(format!("{}/", src.display()).into_bytes());
    // A client's own rules.
    let mut rules = FilterList::new();
    rules.add_exclude(b"*.o").unwrap();
    rules.add_exclude(b"/build/").unwrap();
    let mut o = SenderOptions::default();
    o.recursive = true;
    let mut s = SenderFs::new(vec![with_slash()], o.clone(), Failures::new()).with_filter(rules);
    let (entries, io) = list(&mut s, None);
    assert_eq!(io, 0);
    assert_eq!(names(&entries), [".", "a.c", "lib", "lib/b.c"]);
    // A server: the same rules as the client's list carries them.
    o.protocol = 31;
    let mut s = SenderFs::new(vec![with_slash()], o, Failures::new());
    let got = exec(
        &mut s,
        FsRequest::FileList {
            filter_rules: vec![b"- *.o".to_vec(), b"- /build/".to_vec()],
            files_from: None,
            checksum: None,
        },
    );
    let Some(FsAnswer::FileList { entries, .. }) = got.into_iter().next() else {
        panic!("no list")
    };
    assert_eq!(names(&entries), [".", "a.c", "lib", "lib/b.c"]);
    // A rule rsync would refuse ends the run with a protocol error.
    let (mut s, _) = sender(&[&src], |o| o.protocol = 31);
    let err = s
        .execute(
            FsRequest::FileList {
                filter_rules: vec![b"dir-merge .rules".to_vec()],
                files_from: None,
                checksum: None,
            },
            &mut |_| {},
        )
        .unwrap_err();
    assert_eq!(err.exit_code, 2);
}

#[test]
fn a_made_destination_is_announced_like_rsync() {
    let tmp = tempfile::tempdir().unwrap();
    // `-v`/`-i`: "created directory DEST" (the operand without its final slash), taken once.
    let dest = tmp.path().join("made");
    let mut with_slash = dest.as_os_str().to_owned();
    with_slash.push("/");
    let (mut r, _) = receiver(Path::new(&with_slash), |o| o.names = true);
    assert!(dest.is_dir());
    let want = format!("created directory {}\n", dest.display()).into_bytes();
    assert_eq!(r.take_info(), vec![want]);
    assert!(r.take_info().is_empty());
    // Not without -v/-i, not for an existing directory, and a dry run announces it too.
    let (mut r, _) = receiver(&tmp.path().join("quiet"), |_| {});
    assert!(r.take_info().is_empty());
    let (mut r, _) = receiver(&dest, |o| o.names = true);
    assert!(r.take_info().is_empty());
    let (mut r, _) = receiver(&tmp.path().join("dry"), |o| {
        o.names = true;
        o.dry_run = true;
    });
    assert_eq!(r.take_info().len(), 1);
    assert!(!tmp.path().join("dry").exists());
}
