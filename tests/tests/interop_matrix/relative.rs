//! `-R` source operands on our sender (issue D): `DIR/./NAME`, an absolute operand, several
//! operands sharing parents, the contents of `DIR/./`, and `--delete`, whose reach stops at
//! the implied parents (sent as `XMIT_TOP_DIR | XMIT_NO_CONTENT_DIR`). Each shape runs
//! three ways against stock rsync doing the same: a local copy (our sender and receiver), a
//! push from our client to a stock server, and a pull by a stock client from our server.
//! The destinations must match stock rsync's.

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::time::Duration;

use rsync_tests::interop_tool;
use rsync_tests::peers::{ours_binary, run, FakeShell};
use rsync_tests::tree::{Compare, Snapshot};

/// `src/{a/deep,b}` with a few files.
fn source(root: &Path) {
    let src = root.join("src");
    fs::create_dir_all(src.join("a/deep")).unwrap();
    fs::create_dir_all(src.join("b")).unwrap();
    for (f, body) in [
        ("a/one.txt", "1"),
        ("a/deep/two.txt", "22"),
        ("b/four.txt", "4444"),
        ("top.txt", "t"),
    ] {
        fs::write(src.join(f), body).unwrap();
    }
}

#[derive(Clone, Copy, Debug)]
enum Way {
    /// `CLIENT ARGS DEST`.
    Local,
    /// `CLIENT -e SHELL --rsync-path=SERVER ARGS h:DEST`.
    Push,
    /// `CLIENT -e SHELL --rsync-path=SERVER h:ARG… DEST`.
    Pull,
}

/// Runs `client` (talking to `server` unless local) with `args` (`{SRC}`: the source's
/// absolute path) into a fresh destination prepared by `setup`; asserts exit 0.
#[allow(clippy::too_many_arguments)]
fn one(
    client: &Path,
    server: &Path,
    way: Way,
    root: &Path,
    label: &str,
    args: &[&str],
    setup: &dyn Fn(&Path),
) -> Snapshot {
    let dest = root.join(format!("dest-{label}"));
    fs::create_dir_all(&dest).unwrap();
    setup(&dest);
    let src = root.join("src");
    let src = src.to_str().unwrap();
    let shell_dir = root.join(format!("shell-{label}"));
    fs::create_dir_all(&shell_dir).unwrap();
    let shell = FakeShell::write(&shell_dir, None).unwrap();
    let mut all: Vec<OsString> = Vec::new();
    if !matches!(way, Way::Local) {
        all.push("-e".into());
        all.push(shell.rsh_option());
        let mut p = OsString::from("--rsync-path=");
        p.push(server);
        all.push(p);
    }
    for a in args {
        let a = a.replace("{SRC}", src);
        let remote = matches!(way, Way::Pull) && !a.starts_with('-');
        all.push(OsString::from(if remote { format!("h:{a}") } else { a }));
    }
    all.push(OsString::from(match way {
        Way::Push => format!("h:{}/", dest.display()),
        _ => format!("{}/", dest.display()),
    }));
    let r = run(client, &all, Duration::from_secs(60)).unwrap();
    assert_eq!(
        r.exit(),
        Ok(0),
        "{}\nstderr: {}",
        r.command,
        String::from_utf8_lossy(&r.stderr)
    );
    Snapshot::take(&dest).unwrap()
}

/// Each way with our side against the same with stock rsync only.
fn same_as_stock(args: &[&str], setup: &dyn Fn(&Path)) {
    let Some(stock) = interop_tool("rsync") else {
        return;
    };
    let ours = ours_binary().unwrap_or_else(|e| panic!("{e}"));
    let tmp = tempfile::Builder::new().prefix("rel-").tempdir().unwrap();
    source(tmp.path());
    let want = one(&stock, &stock, Way::Local, tmp.path(), "stock", args, setup);
    assert!(
        want.entries().len() > 1,
        "{args:?}: the case transfers something"
    );
    // Directory mtimes are left out: stock rsync leaves an implied parent's at the time of
    // the run when it already existed (observed with stock alone).
    let how = Compare {
        root_attrs: false,
        mtimes: false,
        ..Compare::EXACT
    };
    for (way, client, server) in [
        (Way::Local, &ours, &ours),
        (Way::Push, &ours, &stock),
        (Way::Pull, &stock, &ours),
    ] {
        let label = format!("{way:?}");
        let got = one(client, server, way, tmp.path(), &label, args, setup);
        let diff = want.diff(&got, how);
        assert!(
            diff.is_empty(),
            "{args:?} {way:?}: ours differs from stock:\n{}\nstock:\n{}\nours:\n{}",
            diff.join("\n"),
            want.listing(50),
            got.listing(50)
        );
    }
}

#[test]
fn a_dot_marker_keeps_what_follows_it() {
    same_as_stock(&["-aR", "{SRC}/./a/deep", "{SRC}/./b/four.txt"], &|_| {});
    same_as_stock(&["-aR", "{SRC}/./a", "{SRC}/./a/deep"], &|_| {});
}

#[test]
fn an_absolute_operand_keeps_its_whole_path() {
    same_as_stock(&["-aR", "{SRC}/b"], &|_| {});
}

#[test]
fn the_contents_of_a_dot_marked_directory() {
    same_as_stock(&["-aR", "{SRC}/./"], &|_| {});
}

#[test]
fn delete_stops_at_the_implied_parents() {
    same_as_stock(&["-aR", "--delete", "{SRC}/./a/deep"], &|d: &Path| {
        fs::create_dir_all(d.join("a/deep")).unwrap();
        fs::write(d.join("a/keep"), "k").unwrap();
        fs::write(d.join("a/deep/gone"), "g").unwrap();
    });
}
