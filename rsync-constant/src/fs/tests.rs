//! Integration-style tests of the file-system side in temporary directories:
//! atomic replacement, metadata, symlink escapes, walking hostile names.

use std::fs;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rustix::io::Errno;

use super::*;

/// A temporary tree: `root/dest` is the destination, `root/outside` must
/// stay empty, `root/victim` holds files that must survive.
pub(super) struct Fixture {
    _tmp: tempfile::TempDir,
    pub(super) dest: PathBuf,
    outside: PathBuf,
    victim: PathBuf,
}

#[allow(clippy::unwrap_used)]
pub(super) fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    let outside = tmp.path().join("outside");
    let victim = tmp.path().join("victim");
    for d in [&dest, &outside, &victim] {
        fs::create_dir(d).unwrap();
    }
    fs::write(victim.join("y"), b"precious").unwrap();
    fs::create_dir(victim.join("sub")).unwrap();
    fs::write(victim.join("sub/z"), b"precious too").unwrap();
    Fixture {
        _tmp: tmp,
        dest,
        outside,
        victim,
    }
}

/// The destination opened both ways: `openat2` (when available) and the
/// component-by-component fallback.
#[allow(clippy::unwrap_used)]
fn both(dest: &Path) -> [Destination; 2] {
    [
        Destination::open(dest).unwrap(),
        Destination::open(dest).unwrap().with_component_walk(),
    ]
}

#[allow(clippy::unwrap_used)]
pub(super) fn rp(s: &[u8]) -> RelPath {
    RelPath::new(s).unwrap()
}

#[allow(clippy::unwrap_used)]
pub(super) fn names(dir: &Path) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    v.sort();
    v
}

#[allow(clippy::unwrap_used)]
fn assert_victim_intact(fx: &Fixture) {
    assert!(names(&fx.outside).is_empty(), "{:?}", names(&fx.outside));
    assert_eq!(names(&fx.victim), vec![b"sub".to_vec(), b"y".to_vec()]);
    assert_eq!(fs::read(fx.victim.join("y")).unwrap(), b"precious");
    assert_eq!(fs::read(fx.victim.join("sub/z")).unwrap(), b"precious too");
    assert_eq!(names(&fx.victim.join("sub")), vec![b"z".to_vec()]);
}

/// A named temporary for `rel` in `dir` (what a file system without `O_TMPFILE` gets).
#[allow(clippy::unwrap_used)]
fn named_temp(dir: &Path, rel: &RelPath) -> TempFile {
    let flags = super::resolve::DIR_FLAGS;
    let parent = rustix::fs::open(dir, flags, rustix::fs::Mode::empty()).unwrap();
    TempFile::create(std::sync::Arc::new(parent), rel).unwrap()
}

#[test]
fn temp_file_replaces_atomically() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    let f = fx.dest.join("f");
    fs::write(&f, b"old contents").unwrap();

    let mut t = d.begin_file(&rp(b"f")).unwrap();
    assert!(t.is_unnamed(), "O_TMPFILE on this file system");
    t.write_all(b"new ").unwrap();
    assert_eq!(
        fs::read(&f).unwrap(),
        b"old contents",
        "final name still old"
    );
    t.write_all(b"contents, longer").unwrap();
    assert_eq!(names(&fx.dest), vec![b"f".to_vec()], "nothing else visible");
    assert_eq!(fs::read(&f).unwrap(), b"old contents");
    t.commit().unwrap();
    assert_eq!(fs::read(&f).unwrap(), b"new contents, longer");
    assert_eq!(names(&fx.dest), vec![b"f".to_vec()], "temp name is gone");

    // A new file: the final name does not exist before commit.
    let mut t = d.begin_file(&rp(b"g")).unwrap();
    t.write_all(b"g").unwrap();
    assert!(!fx.dest.join("g").exists());
    t.commit().unwrap();
    assert_eq!(fs::read(fx.dest.join("g")).unwrap(), b"g");
}

#[test]
fn a_named_temp_file_replaces_atomically() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    let f = fx.dest.join("f");
    fs::write(&f, b"old contents").unwrap();
    // Where unnamed files are not available.
    let mut t = named_temp(&fx.dest, &rp(b"f"));
    let tmp = t.temp_name().to_vec();
    assert!(
        tmp.starts_with(b".f.") && tmp.len() == b".f.".len() + 6,
        "{tmp:?}"
    );
    t.write_all(b"new contents").unwrap();
    let st = fs::symlink_metadata(fx.dest.join(std::ffi::OsStr::from_bytes(&tmp))).unwrap();
    assert_eq!(st.mode() & 0o7777, 0o600);
    assert_eq!(fs::read(&f).unwrap(), b"old contents");
    t.commit().unwrap();
    assert_eq!(fs::read(&f).unwrap(), b"new contents");
    assert_eq!(names(&fx.dest), vec![b"f".to_vec()], "temp name is gone");
    let _ = d;
}

#[test]
fn an_unnamed_new_file_appears_only_complete_and_leaves_nothing_when_dropped() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    // Both ways of naming it: `AT_EMPTY_PATH` (root) and `/proc/self/fd` (anyone).
    for how in [super::temp::LinkHow::EmptyPath, super::temp::LinkHow::Proc] {
        super::temp::force_link_how(how);
        let mut t = d.begin_new_file(&rp(b"n")).unwrap();
        assert!(t.is_unnamed(), "O_TMPFILE on this file system");
        t.write_all(b"new ").unwrap();
        assert!(names(&fx.dest).is_empty(), "no name before commit");
        t.write_all(b"file").unwrap();
        t.set_meta(&Attrs {
            mode: Some(0o640),
            ..Attrs::default()
        })
        .unwrap();
        t.commit().unwrap();
        assert_eq!(fs::read(fx.dest.join("n")).unwrap(), b"new file");
        assert_eq!(
            fs::symlink_metadata(fx.dest.join("n")).unwrap().mode() & 0o7777,
            0o640
        );
        assert_eq!(names(&fx.dest), vec![b"n".to_vec()]);

        // The name appeared meanwhile: replaced, and no temporary name is left.
        let mut t = d.begin_new_file(&rp(b"n")).unwrap();
        t.write_all(b"newer").unwrap();
        t.commit().unwrap();
        assert_eq!(fs::read(fx.dest.join("n")).unwrap(), b"newer");
        assert_eq!(names(&fx.dest), vec![b"n".to_vec()]);

        // Dropped before commit: nothing anywhere.
        let mut t = d.begin_new_file(&rp(b"gone")).unwrap();
        t.write_all(b"half").unwrap();
        drop(t);
        assert_eq!(names(&fx.dest), vec![b"n".to_vec()]);
        fs::remove_file(fx.dest.join("n")).unwrap();
    }
    super::temp::force_link_how(super::temp::LinkHow::Auto);
    assert_victim_intact(&fx);
}

#[test]
fn dropped_temp_file_is_removed() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    fs::write(fx.dest.join("f"), b"old").unwrap();
    let mut t = d.begin_file(&rp(b"f")).unwrap();
    t.write_all(b"half").unwrap();
    drop(t);
    assert_eq!(names(&fx.dest), vec![b"f".to_vec()]);
    assert_eq!(fs::read(fx.dest.join("f")).unwrap(), b"old");
    // A named temporary too.
    let mut t = named_temp(&fx.dest, &rp(b"f"));
    t.write_all(b"half").unwrap();
    assert_eq!(names(&fx.dest).len(), 2);
    drop(t);
    assert_eq!(names(&fx.dest), vec![b"f".to_vec()]);
}

#[test]
fn long_names_get_a_truncated_temp_name() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    let name = vec![b'n'; 255];
    fs::write(fx.dest.join(std::ffi::OsStr::from_bytes(&name)), b"old").unwrap();
    // Replacing an existing file goes through a temporary name, truncated to fit.
    let mut t = d.begin_file(&rp(&name)).unwrap();
    t.write_all(b"x").unwrap();
    t.commit().unwrap();
    assert_eq!(d.lstat(&rp(&name)).unwrap().size, 1);
    assert_eq!(names(&fx.dest), vec![name.clone()]);
    let t = named_temp(&fx.dest, &rp(&name));
    assert!(t.temp_name().len() <= 255);
}

#[test]
fn nanosecond_mtime_and_modes_are_preserved() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    let mtime = Mtime {
        sec: 1_600_000_000,
        nsec: 123_456_789,
    };
    for (name, mode) in [
        (&b"a"[..], 0o600),
        (b"b", 0o755),
        (b"c", 0o1777),
        (b"d", 0o4711),
    ] {
        let mut t = d.begin_file(&rp(name)).unwrap();
        t.write_all(b"data").unwrap();
        t.set_meta(&Attrs {
            mode: Some(mode),
            mtime: Some(mtime),
            ..Attrs::default()
        })
        .unwrap();
        t.commit().unwrap();
        let m = d.lstat(&rp(name)).unwrap();
        assert_eq!((m.kind, m.mode, m.mtime()), (FileKind::File, mode, mtime));
        let st = fs::symlink_metadata(fx.dest.join(std::ffi::OsStr::from_bytes(name))).unwrap();
        assert_eq!((st.mtime(), st.mtime_nsec()), (1_600_000_000, 123_456_789));
    }
    // Directories: exact modes regardless of umask, ns mtimes.
    d.mkdir(&rp(b"sticky"), 0o1777).unwrap();
    assert_eq!(d.lstat(&rp(b"sticky")).unwrap().mode, 0o1777);
    d.mkdir_all(&rp(b"x/y/z"), 0o750).unwrap();
    assert_eq!(d.lstat(&rp(b"x/y")).unwrap().mode, 0o750);
    let dir_mtime = Mtime {
        sec: 7,
        nsec: 999_999_999,
    };
    let attrs = Attrs {
        mode: Some(0o755),
        mtime: Some(dir_mtime),
        ..Attrs::default()
    };
    d.set_dir_meta(Some(&rp(b"x/y")), &attrs).unwrap();
    let m = d.lstat(&rp(b"x/y")).unwrap();
    assert_eq!(
        (m.kind, m.mode, m.mtime()),
        (FileKind::Dir, 0o755, dir_mtime)
    );
    d.set_dir_meta(None, &attrs).unwrap();
    assert_eq!(fs::metadata(&fx.dest).unwrap().mtime_nsec(), 999_999_999);
    // Attributes of an existing file.
    d.set_file_meta(&rp(b"a"), &attrs).unwrap();
    assert_eq!(d.lstat(&rp(b"a")).unwrap().mtime(), dir_mtime);
    // Out-of-range nanoseconds are a typed error, not a kernel surprise.
    let bad = Attrs {
        mtime: Some(Mtime {
            sec: 0,
            nsec: 1_000_000_000,
        }),
        ..Attrs::default()
    };
    assert!(matches!(
        d.set_file_meta(&rp(b"a"), &bad),
        Err(FsError::Invalid {
            op: Op::SetMeta,
            ..
        })
    ));
}

#[test]
fn invalid_paths_are_rejected_before_any_syscall() {
    for bad in [
        &b".."[..],
        b"../x",
        b"a/../../x",
        b"/tmp/x",
        b"",
        b"./",
        b"a//b",
        b"a\0b",
    ] {
        assert!(RelPath::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn symlinked_directory_component_never_escapes() {
    let fx = fixture();
    std::os::unix::fs::symlink(&fx.outside, fx.dest.join("a")).unwrap();
    std::os::unix::fs::symlink(&fx.victim, fx.dest.join("v")).unwrap();
    fs::write(fx.dest.join("f"), b"f").unwrap();
    for d in both(&fx.dest) {
        assert!(d.begin_file(&rp(b"a/x")).is_err());
        assert!(d.mkdir(&rp(b"a/b"), 0o755).is_err());
        assert!(d.mkdir_all(&rp(b"a/b/c"), 0o755).is_err());
        assert!(d.symlink(&rp(b"a/z"), b"/etc/passwd").is_err());
        assert!(d.hard_link(&rp(b"f"), &rp(b"a/h")).is_err());
        assert!(d.hard_link(&rp(b"v/y"), &rp(b"h")).is_err());
        assert!(d.mknod(&rp(b"a/p"), Special::Fifo, 0o644).is_err());
        assert!(d.remove(&rp(b"v/y")).is_err());
        assert!(d.remove(&rp(b"a/y")).is_err());
        assert!(d.remove_all(&rp(b"v/sub")).is_err());
        assert!(d.lstat(&rp(b"v/y")).is_err());
        assert!(d.open_basis(&rp(b"v/y")).is_err());
        assert!(d.read_link(&rp(b"v/y")).is_err());
        assert!(d.set_file_meta(&rp(b"v/y"), &Attrs::default()).is_err());
        assert!(d
            .set_dir_meta(Some(&rp(b"v/sub")), &Attrs::default())
            .is_err());
        assert!(d.set_dir_meta(Some(&rp(b"v")), &Attrs::default()).is_err());
        assert!(d.lchown(&rp(b"v/y"), Some(0), Some(0)).is_err());
        let mt = Mtime { sec: 1, nsec: 0 };
        assert!(d.set_mtime_nofollow(&rp(b"v/y"), mt).is_err());
        assert!(walk(d.dir_fd(), Some(&rp(b"v/sub")), true).all(|e| e.is_err()));
        // The final component being a symlink is not followed either.
        let e = d.open_basis(&rp(b"v")).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::LOOP.raw_os_error()), "{e}");
        assert!(d.set_file_meta(&rp(b"v"), &Attrs::default()).is_err());
        assert!(d.mkdir(&rp(b"v"), 0o755).is_err());
        assert!(d.mkdir_all(&rp(b"v"), 0o755).is_err());
        assert_victim_intact(&fx);
    }
    // Display names the operation and the parent that failed to resolve.
    let d = Destination::open(&fx.dest).unwrap();
    let e = d.mkdir(&rp(b"a/b"), 0o755).unwrap_err();
    assert!(
        e.to_string().starts_with("mkdir a (parent of a/b): "),
        "{e}"
    );
    assert_eq!(e.op(), Op::Mkdir);
    // Removing the symlinks removes the links only.
    d.remove_all(&rp(b"v")).unwrap();
    d.remove(&rp(b"a")).unwrap();
    assert_victim_intact(&fx);
}

#[test]
fn committing_after_a_parent_is_swapped_stays_inside() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    d.mkdir(&rp(b"d"), 0o755).unwrap();
    let mut t = d.begin_file(&rp(b"d/x")).unwrap();
    t.write_all(b"payload").unwrap();
    // An attacker swaps the directory for a symlink to the outside.
    fs::rename(fx.dest.join("d"), fx.dest.join("moved")).unwrap();
    std::os::unix::fs::symlink(&fx.outside, fx.dest.join("d")).unwrap();
    t.commit().unwrap();
    assert_eq!(fs::read(fx.dest.join("moved/x")).unwrap(), b"payload");
    assert_victim_intact(&fx);
}

#[test]
fn remove_all_does_not_follow_symlinks() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    d.mkdir_all(&rp(b"t/sub/deeper"), 0o755).unwrap();
    fs::write(fx.dest.join("t/file"), b"x").unwrap();
    fs::write(fx.dest.join("t/sub/deeper/file"), b"x").unwrap();
    std::os::unix::fs::symlink(&fx.victim, fx.dest.join("t/sub/link")).unwrap();
    std::os::unix::fs::symlink(fx.victim.join("y"), fx.dest.join("t/flink")).unwrap();
    d.remove_all(&rp(b"t")).unwrap();
    assert!(names(&fx.dest).is_empty());
    assert_victim_intact(&fx);
    // A symlink passed directly is removed itself.
    std::os::unix::fs::symlink(&fx.victim, fx.dest.join("l")).unwrap();
    d.remove_all(&rp(b"l")).unwrap();
    assert!(names(&fx.dest).is_empty());
    assert_victim_intact(&fx);
}

#[test]
fn remove_files_and_empty_dirs() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    d.mkdir(&rp(b"e"), 0o755).unwrap();
    d.mkdir(&rp(b"full"), 0o755).unwrap();
    fs::write(fx.dest.join("full/f"), b"").unwrap();
    let e = d.mkdir(&rp(b"e"), 0o755).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::EXIST.raw_os_error()));
    d.remove(&rp(b"e")).unwrap();
    let e = d.remove(&rp(b"full")).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::NOTEMPTY.raw_os_error()));
    d.remove(&rp(b"full/f")).unwrap();
    d.remove(&rp(b"full")).unwrap();
    assert!(d.try_lstat(&rp(b"full")).unwrap().is_none());
}

#[test]
fn walk_handles_hostile_names_in_byte_order() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    let weird: [&[u8]; 5] = [b"with space", b"new\nline", b"\xff\xfe", b"Z", b"-dash"];
    for n in weird {
        let mut t = d.begin_file(&rp(n)).unwrap();
        t.write_all(n).unwrap();
        t.commit().unwrap();
    }
    d.mkdir_all(&rp(b"dir/\x01sub"), 0o755).unwrap();
    d.begin_file(&rp(b"dir/\x01sub/f"))
        .unwrap()
        .commit()
        .unwrap();
    d.symlink(&rp(b"dir/ln"), b"/").unwrap();
    d.symlink(&rp(b"loop"), b"dir").unwrap();

    let got: Vec<Entry> = walk(d.dir_fd(), None, true).map(Result::unwrap).collect();
    let paths: Vec<&[u8]> = got.iter().map(|e| e.path.as_bytes()).collect();
    let want: Vec<&[u8]> = vec![
        b"-dash",
        b"Z",
        b"dir",
        b"dir/\x01sub",
        b"dir/\x01sub/f",
        b"dir/ln",
        b"loop",
        b"new\nline",
        b"with space",
        b"\xff\xfe",
    ];
    assert_eq!(paths, want);
    let by = |p: &[u8]| got.iter().find(|e| e.path.as_bytes() == p).unwrap().clone();
    assert_eq!(by(b"\xff\xfe").meta.size, 2);
    assert_eq!(by(b"dir").meta.kind, FileKind::Dir);
    assert_eq!(by(b"dir/ln").link_target.as_deref(), Some(&b"/"[..]));
    assert_eq!(by(b"loop").meta.kind, FileKind::Symlink);
    assert_eq!(by(b"loop").link_target.as_deref(), Some(&b"dir"[..]));

    // Not recursive: one level.
    let top: Vec<Vec<u8>> = walk(d.dir_fd(), None, false)
        .map(|e| e.unwrap().path.into_bytes())
        .collect();
    assert_eq!(top.len(), 7);
    // From a start path: the start itself, then its contents.
    let sub: Vec<Vec<u8>> = walk(d.dir_fd(), Some(&rp(b"dir")), false)
        .map(|e| e.unwrap().path.into_bytes())
        .collect();
    assert_eq!(
        sub,
        vec![b"dir".to_vec(), b"dir/\x01sub".to_vec(), b"dir/ln".to_vec()]
    );
    // Starting at a symlink reports it without following it.
    let l: Vec<Entry> = walk(d.dir_fd(), Some(&rp(b"loop")), true)
        .map(Result::unwrap)
        .collect();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].meta.kind, FileKind::Symlink);
    // A walk from an opened subdirectory handle.
    let h = open_dir_beneath(d.dir_fd(), &rp(b"dir")).unwrap();
    assert_eq!(walk(rustix::fd::AsFd::as_fd(&h), None, true).count(), 3);
}

#[test]
fn hard_links_share_an_inode() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    let mut t = d.begin_file(&rp(b"f")).unwrap();
    t.write_all(b"shared").unwrap();
    t.commit().unwrap();
    fs::write(fx.dest.join("g"), b"to be replaced").unwrap();
    d.mkdir(&rp(b"sub"), 0o755).unwrap();
    d.hard_link(&rp(b"f"), &rp(b"g")).unwrap();
    d.hard_link(&rp(b"f"), &rp(b"sub/h")).unwrap();
    d.hard_link(&rp(b"f"), &rp(b"g")).unwrap(); // already linked: a no-op
    let (f, g, h) = (
        d.lstat(&rp(b"f")).unwrap(),
        d.lstat(&rp(b"g")).unwrap(),
        d.lstat(&rp(b"sub/h")).unwrap(),
    );
    assert_eq!((f.ino, f.dev), (g.ino, g.dev));
    assert_eq!(f.ino, h.ino);
    assert_eq!(f.nlink, 3);
    assert_eq!(fs::read(fx.dest.join("g")).unwrap(), b"shared");
    assert_eq!(
        names(&fx.dest),
        vec![b"f".to_vec(), b"g".to_vec(), b"sub".to_vec()]
    );
    // Linking a symlink links the symlink itself.
    d.symlink(&rp(b"s"), b"dangling").unwrap();
    d.hard_link(&rp(b"s"), &rp(b"s2")).unwrap();
    assert_eq!(d.read_link(&rp(b"s2")).unwrap(), b"dangling");
}

#[test]
fn symlink_targets_are_preserved_byte_for_byte() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    let targets: [&[u8]; 5] = [
        b"nowhere/\xff\xfe dangling",
        b"/etc/passwd",
        b"../../../outside",
        b"new\nline",
        b"x",
    ];
    for (i, t) in targets.iter().enumerate() {
        let name = format!("l{i}");
        d.symlink(&rp(name.as_bytes()), t).unwrap();
        assert_eq!(d.read_link(&rp(name.as_bytes())).unwrap(), *t);
        let m = d.lstat(&rp(name.as_bytes())).unwrap();
        assert_eq!(m.kind, FileKind::Symlink);
        assert_eq!(
            fs::read_link(fx.dest.join(&name))
                .unwrap()
                .as_os_str()
                .as_bytes(),
            *t
        );
    }
    // Replacing an existing entry (file or symlink) is atomic and leaves no
    // temporary names behind.
    fs::write(fx.dest.join("file"), b"x").unwrap();
    d.symlink(&rp(b"file"), b"new-target").unwrap();
    d.symlink(&rp(b"l0"), b"other").unwrap();
    assert_eq!(d.read_link(&rp(b"file")).unwrap(), b"new-target");
    assert_eq!(d.read_link(&rp(b"l0")).unwrap(), b"other");
    assert_eq!(names(&fx.dest).len(), 6);
    // Symlink mtimes are set on the link itself.
    let mt = Mtime {
        sec: 1_234_567_890,
        nsec: 42,
    };
    d.set_mtime_nofollow(&rp(b"l1"), mt).unwrap();
    assert_eq!(d.lstat(&rp(b"l1")).unwrap().mtime(), mt);
    // Invalid targets are typed errors.
    assert!(matches!(
        d.symlink(&rp(b"bad"), b""),
        Err(FsError::Invalid { .. })
    ));
    assert!(matches!(
        d.symlink(&rp(b"bad"), b"a\0b"),
        Err(FsError::Invalid { .. })
    ));
    assert_victim_intact(&fx);
}

#[test]
fn basis_files_are_read_at_offsets_and_must_be_regular() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    fs::write(fx.dest.join("b"), b"0123456789").unwrap();
    let b = d.open_basis(&rp(b"b")).unwrap();
    assert_eq!(b.len(), 10);
    let mut buf = [0u8; 4];
    assert_eq!(b.read_at(&mut buf, 6).unwrap(), 4);
    assert_eq!(&buf, b"6789");
    assert_eq!(b.read_at(&mut buf, 10).unwrap(), 0);
    d.mknod(&rp(b"fifo"), Special::Fifo, 0o600).unwrap();
    assert!(matches!(
        d.open_basis(&rp(b"fifo")),
        Err(FsError::WrongKind {
            found: FileKind::Fifo,
            ..
        })
    ));
    d.mkdir(&rp(b"dir"), 0o755).unwrap();
    assert!(d.open_basis(&rp(b"dir")).is_err());
    let e = d.open_basis(&rp(b"missing")).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::NOENT.raw_os_error()));
}

#[test]
fn in_place_files_keep_their_inode_and_must_be_regular() {
    let fx = fixture();
    for d in both(&fx.dest) {
        fs::write(fx.dest.join("f"), b"0123456789").unwrap();
        fs::hard_link(fx.dest.join("f"), fx.victim.join("alias")).unwrap();
        let ino = fs::metadata(fx.dest.join("f")).unwrap().ino();
        let mut f = d.open_in_place(&rp(b"f"), false).unwrap();
        assert!(!f.created());
        assert_eq!(f.meta().ino, ino);
        // Opening truncates nothing; writes go at the position, skips keep the bytes.
        assert_eq!(fs::read(fx.dest.join("f")).unwrap(), b"0123456789");
        f.write_all_bufs(&[b"ab".to_vec(), b"c".to_vec()]).unwrap();
        f.skip(3);
        f.write_all_bufs(&[b"XY".to_vec()]).unwrap();
        assert_eq!(f.position(), 8);
        assert_eq!(fs::read(fx.dest.join("f")).unwrap(), b"abc345XY89");
        f.truncate().unwrap();
        let attrs = Attrs {
            mode: Some(0o640),
            mtime: Some(Mtime {
                sec: 1_600_000_000,
                nsec: 5,
            }),
            uid: None,
            gid: None,
        };
        f.set_meta(&attrs).unwrap();
        drop(f);
        // The same inode: the hard link outside sees the new contents and metadata.
        let md = fs::metadata(fx.victim.join("alias")).unwrap();
        assert_eq!(md.ino(), ino);
        assert_eq!(fs::read(fx.victim.join("alias")).unwrap(), b"abc345XY");
        assert_eq!((md.mode() & 0o7777, md.mtime_nsec()), (0o640, 5));
        fs::remove_file(fx.victim.join("alias")).unwrap();
        // Missing: an error, or created under its final name with `create`.
        let e = d.open_in_place(&rp(b"new"), false).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::NOENT.raw_os_error()));
        let f = d.open_in_place(&rp(b"new"), true).unwrap();
        assert!(f.created());
        drop(f);
        let md = fs::symlink_metadata(fx.dest.join("new")).unwrap();
        assert!(md.is_file() && md.len() == 0 && md.mode() & 0o7777 == 0o600);
        // Never a symlink (not even a dangling one with `create`), a FIFO (without
        // blocking), a directory.
        std::os::unix::fs::symlink(fx.victim.join("y"), fx.dest.join("l")).unwrap();
        std::os::unix::fs::symlink(fx.outside.join("z"), fx.dest.join("dl")).unwrap();
        for (name, errno) in [(&b"l"[..], Errno::LOOP), (b"dl", Errno::LOOP)] {
            let e = d.open_in_place(&rp(name), true).unwrap_err();
            assert_eq!(e.errno(), Some(errno.raw_os_error()), "{e}");
        }
        d.mknod(&rp(b"fifo"), Special::Fifo, 0o600).unwrap();
        assert!(d.open_in_place(&rp(b"fifo"), false).is_err());
        d.mkdir(&rp(b"dir"), 0o755).unwrap();
        assert!(d.open_in_place(&rp(b"dir"), true).is_err());
        for n in [&b"new"[..], b"l", b"dl", b"fifo"] {
            d.remove(&rp(n)).unwrap();
        }
        d.remove(&rp(b"dir")).unwrap();
        assert_victim_intact(&fx);
    }
}

#[test]
fn special_files() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    d.mknod(&rp(b"fifo"), Special::Fifo, 0o640).unwrap();
    let m = d.lstat(&rp(b"fifo")).unwrap();
    assert_eq!((m.kind, m.mode), (FileKind::Fifo, 0o640));
    d.mknod(&rp(b"sock"), Special::Socket, 0o600).unwrap();
    assert_eq!(d.lstat(&rp(b"sock")).unwrap().kind, FileKind::Socket);
    // Replacing a FIFO with a FIFO works (temp + rename).
    d.mknod(&rp(b"fifo"), Special::Fifo, 0o600).unwrap();
    assert_eq!(d.lstat(&rp(b"fifo")).unwrap().mode, 0o600);
    let null = rustix::fs::makedev(1, 3);
    let r = d.mknod(&rp(b"null"), Special::CharDevice(null), 0o666);
    if rustix::process::geteuid().is_root() {
        match r {
            Ok(()) => {
                let m = d.lstat(&rp(b"null")).unwrap();
                assert_eq!((m.kind, m.rdev), (FileKind::CharDevice, null));
            }
            // Containers may deny mknod even to root.
            Err(e) => assert_eq!(e.op(), Op::Mknod, "{e}"),
        }
    } else {
        assert!(matches!(r, Err(FsError::NeedsRoot { .. })));
    }
    // Symlink mtimes and ownership of special files, without following.
    d.set_mtime_nofollow(&rp(b"fifo"), Mtime { sec: 5, nsec: 6 })
        .unwrap();
    assert_eq!(
        d.lstat(&rp(b"fifo")).unwrap().mtime(),
        Mtime { sec: 5, nsec: 6 }
    );
    let own = d.lstat(&rp(b"fifo")).unwrap();
    d.lchown(&rp(b"fifo"), Some(own.uid), Some(own.gid))
        .unwrap();
    assert_eq!(
        names(&fx.dest).len(),
        2 + usize::from(d.try_lstat(&rp(b"null")).unwrap().is_some())
    );
}

#[test]
fn ownership_is_applied_when_root() {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    let mut t = d.begin_file(&rp(b"f")).unwrap();
    t.set_meta(&Attrs {
        mode: Some(0o4755),
        uid: Some(1234),
        gid: Some(4321),
        mtime: None,
    })
    .unwrap();
    t.commit().unwrap();
    let m = d.lstat(&rp(b"f")).unwrap();
    assert_eq!(
        (m.uid, m.gid, m.mode),
        (1234, 4321, 0o4755),
        "chown before chmod keeps set-uid"
    );
    d.symlink(&rp(b"l"), b"f").unwrap();
    d.lchown(&rp(b"l"), Some(77), Some(88)).unwrap();
    let l = d.lstat(&rp(b"l")).unwrap();
    assert_eq!((l.uid, l.gid), (77, 88));
    assert_eq!(d.lstat(&rp(b"f")).unwrap().uid, 1234, "target untouched");
    let p = fx.dest.join("f");
    assert_eq!(
        fs::metadata(p).unwrap().permissions().mode() & 0o7777,
        0o4755
    );
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn hostile_path() -> impl Strategy<Value = Vec<u8>> {
        let comp = prop_oneof![
            Just(&b"l"[..]),
            Just(&b"v"[..]),
            Just(&b"d"[..]),
            Just(&b"x"[..]),
            Just(&b".."[..]),
            Just(&b"."[..]),
            Just(&b""[..]),
        ];
        proptest::collection::vec(comp, 1..5).prop_map(|cs| cs.join(&b'/'))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever path a peer names, no operation touches anything outside
        /// the destination (`l` and `d/l` link to `outside`, `v` to `victim`).
        #[test]
        fn no_operation_escapes(path in hostile_path(), walk_mode in any::<bool>()) {
            let fx = fixture();
            std::os::unix::fs::symlink(&fx.outside, fx.dest.join("l")).unwrap();
            std::os::unix::fs::symlink(&fx.victim, fx.dest.join("v")).unwrap();
            fs::create_dir(fx.dest.join("d")).unwrap();
            std::os::unix::fs::symlink(&fx.outside, fx.dest.join("d/l")).unwrap();
            fs::write(fx.dest.join("f"), b"f").unwrap();
            let mut d = Destination::open(&fx.dest).unwrap();
            if walk_mode {
                d = d.with_component_walk();
            }
            if let Ok(p) = RelPath::new(&path) {
                let attrs = Attrs { mode: Some(0o777), mtime: Some(Mtime { sec: 0, nsec: 0 }), uid: None, gid: None };
                if let Ok(mut t) = d.begin_file(&p) {
                    let _ = t.write_all(b"evil");
                    let _ = t.commit();
                }
                let _ = d.mkdir_all(&p, 0o777);
                let _ = d.set_dir_meta(Some(&p), &attrs);
                let _ = d.set_file_meta(&p, &attrs);
                let _ = d.symlink(&p, b"/");
                let _ = d.hard_link(&rp(b"f"), &p);
                let _ = d.mknod(&p, Special::Fifo, 0o666);
                let _ = d.set_mtime_nofollow(&p, Mtime { sec: 0, nsec: 0 });
                let _ = d.open_basis(&p).map(|b| b.len());
                if let Ok(mut f) = d.open_in_place(&p, true) {
                    let _ = f.write_all_bufs(&[b"evil".to_vec()]);
                    let _ = f.truncate();
                    let _ = f.set_meta(&attrs);
                }
                let _ = walk(d.dir_fd(), Some(&p), true).count();
                let _ = d.remove(&p);
                let _ = d.remove_all(&p);
            }
            assert_victim_intact(&fx);
            let mt = fs::metadata(fx.victim.join("y")).unwrap();
            prop_assert!(mt.mtime() != 0 && mt.permissions().mode() & 0o777 != 0o777);
        }
    }
}

#[test]
fn a_new_file_gets_the_wanted_owner_whether_or_not_it_has_it_already() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIP: changing a file's owner needs root");
        return;
    }
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    for (name, uid, gid) in [("other", 1234, 5678), ("ours", 0, 0), ("mixed", 0, 5678)] {
        let mut t = d.begin_new_file(&rp(name.as_bytes())).unwrap();
        t.write_all(b"x").unwrap();
        t.set_meta(&Attrs {
            uid: Some(uid),
            gid: Some(gid),
            ..Attrs::default()
        })
        .unwrap();
        t.commit().unwrap();
        let m = fs::symlink_metadata(fx.dest.join(name)).unwrap();
        assert_eq!((m.uid(), m.gid()), (uid, gid), "{name}");
    }
}
