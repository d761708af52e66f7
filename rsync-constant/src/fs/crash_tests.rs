//! What a receiver killed between making an entry under its link name (`.NAME.~link~`) and
//! renaming it over `NAME` leaves behind, and how the next operation on `NAME` sweeps it.
//! The kill itself is not simulated: the leftover is made by hand, as the kill leaves it.

use std::fs;
use std::os::unix::fs::symlink;

use super::temp::{force_link_how, link_name, LinkHow};
use super::tests::{fixture, names, rp};
use super::*;

/// Leaves, by hand, what a kill in the rename window leaves: a complete file under the link
/// name of `name` in `dir`.
#[allow(clippy::unwrap_used)]
fn leave(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(format!(".{name}.~link~"));
    fs::write(&p, b"a complete version nobody renamed").unwrap();
    p
}

#[test]
fn the_link_name_is_fixed_truncated_and_never_a_random_one() {
    assert_eq!(link_name(b"f"), b".f.~link~");
    let long = vec![b'n'; 255];
    let l = link_name(&long);
    assert_eq!(l.len(), 255);
    assert!(l.ends_with(b".~link~") && l.starts_with(b".nnn"));
    // A random suffix is alphanumeric, so it never equals the link name.
    for _ in 0..100 {
        assert_ne!(super::temp::temp_name(b"f"), link_name(b"f"));
    }
}

#[test]
#[allow(clippy::unwrap_used)]
fn replacing_a_file_sweeps_a_leftover_under_its_link_name() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    for how in [LinkHow::EmptyPath, LinkHow::Proc] {
        force_link_how(how);
        fs::write(fx.dest.join("f"), b"old").unwrap();
        leave(&fx.dest, "f");
        let mut t = d.begin_file(&rp(b"f")).unwrap();
        assert!(t.is_unnamed(), "O_TMPFILE on this file system");
        t.write_all(b"new").unwrap();
        t.commit().unwrap();
        assert_eq!(fs::read(fx.dest.join("f")).unwrap(), b"new");
        assert_eq!(names(&fx.dest), vec![b"f".to_vec()], "the leftover is gone");
        fs::remove_file(fx.dest.join("f")).unwrap();
    }
    force_link_how(LinkHow::Auto);
}

#[test]
#[allow(clippy::unwrap_used)]
fn symlinks_hard_links_and_fifos_sweep_a_leftover_too() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    fs::write(fx.dest.join("s"), b"old").unwrap();
    leave(&fx.dest, "s");
    d.symlink(&rp(b"s"), b"target").unwrap();
    assert_eq!(
        fs::read_link(fx.dest.join("s")).unwrap().as_os_str(),
        "target"
    );
    assert_eq!(names(&fx.dest), vec![b"s".to_vec()]);

    fs::write(fx.dest.join("a"), b"a").unwrap();
    fs::write(fx.dest.join("h"), b"old").unwrap();
    leave(&fx.dest, "h");
    d.hard_link(&rp(b"a"), &rp(b"h")).unwrap();
    assert_eq!(fs::read(fx.dest.join("h")).unwrap(), b"a");
    assert_eq!(
        names(&fx.dest),
        vec![b"a".to_vec(), b"h".to_vec(), b"s".to_vec()]
    );

    leave(&fx.dest, "p");
    d.mknod(&rp(b"p"), Special::Fifo, 0o600).unwrap();
    assert_eq!(
        names(&fx.dest),
        vec![b"a".to_vec(), b"h".to_vec(), b"p".to_vec(), b"s".to_vec()]
    );
}

#[test]
#[allow(clippy::unwrap_used)]
fn removing_a_name_removes_its_leftover() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    fs::write(fx.dest.join("f"), b"f").unwrap();
    leave(&fx.dest, "f");
    d.remove(&rp(b"f")).unwrap();
    assert!(names(&fx.dest).is_empty(), "{:?}", names(&fx.dest));

    // Already gone at the mirror (the delete is resent after the crash): the leftover goes
    // all the same, and the error is the usual one.
    leave(&fx.dest, "g");
    assert!(d.remove(&rp(b"g")).is_err());
    assert!(names(&fx.dest).is_empty(), "{:?}", names(&fx.dest));

    fs::create_dir(fx.dest.join("dir")).unwrap();
    fs::write(fx.dest.join("dir/x"), b"x").unwrap();
    leave(&fx.dest, "dir");
    d.remove_all(&rp(b"dir")).unwrap();
    assert!(names(&fx.dest).is_empty(), "{:?}", names(&fx.dest));
}

#[test]
#[allow(clippy::unwrap_used)]
fn a_directory_or_symlink_under_the_link_name_is_never_followed_or_emptied() {
    let fx = fixture();
    let d = Destination::open(&fx.dest).unwrap();
    // Whoever made a directory there keeps it: the entry takes a random name instead.
    fs::create_dir(fx.dest.join(".f.~link~")).unwrap();
    fs::write(fx.dest.join(".f.~link~/keep"), b"keep").unwrap();
    fs::write(fx.dest.join("f"), b"old").unwrap();
    let mut t = d.begin_file(&rp(b"f")).unwrap();
    t.write_all(b"new").unwrap();
    t.commit().unwrap();
    assert_eq!(fs::read(fx.dest.join("f")).unwrap(), b"new");
    assert_eq!(fs::read(fx.dest.join(".f.~link~/keep")).unwrap(), b"keep");
    assert_eq!(names(&fx.dest), vec![b".f.~link~".to_vec(), b"f".to_vec()]);

    // A symlink there pointing outside is removed itself; its target is untouched.
    let outside = fx.dest.parent().unwrap().join("victim/y");
    symlink(&outside, fx.dest.join(".g.~link~")).unwrap();
    d.symlink(&rp(b"g"), b"t").unwrap();
    assert_eq!(fs::read(&outside).unwrap(), b"precious");
    assert!(!names(&fx.dest).contains(&b".g.~link~".to_vec()));
}
