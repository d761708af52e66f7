//! Fatal errors and exit codes against stock rsync 3.5.0: the side that fails tells its peer
//! (`MSG_ERROR_EXIT` with the code from protocol 31, RFC.md §13.6 `[error-exit]`) and every
//! pairing of ours and stock rsync, client and server, push and pull, ends with the code
//! stock rsync ends with against itself.
//!
//! Stock rsync comes from [`rsync_tests::interop_tool`]: without it only our own pairing runs
//! (against the codes stock rsync 3.5.0 gives, written in the table), loudly; under
//! `RSYNC_INTEROP=require` its absence fails. Every command runs under [`DEADLINE`] in its
//! own process group.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure is a test failure

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rsync_tests::daemon::{all_entries, os, SmallFs};
use rsync_tests::interop_tool;
use rsync_tests::peers::{ours_binary, run, FakeShell, Run};

/// The wall-clock bound of one command.
const DEADLINE: Duration = Duration::from_secs(30);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn describe(r: &Run) -> String {
    format!(
        "command: {}\nexit: {:?}\nstderr:\n{}",
        r.command,
        r.exit(),
        text(&r.stderr)
    )
}

/// A work directory (no whitespace: `-e` is split at spaces) with `src/{a,sub/b}` and the
/// fake remote shell.
fn fixture() -> (tempfile::TempDir, PathBuf, FakeShell) {
    let dir = tempfile::Builder::new()
        .prefix("exit-codes")
        .tempdir()
        .expect("tempdir");
    let root = dir.path().to_path_buf();
    fs::create_dir_all(root.join("src/sub")).expect("mkdir");
    fs::write(root.join("src/a"), b"alpha\n").expect("write");
    fs::write(root.join("src/sub/b"), b"beta\n").expect("write");
    let shell = FakeShell::write(&root, None).expect("shell");
    (dir, root, shell)
}

/// One client/server pairing.
#[derive(Clone)]
struct Peer {
    name: &'static str,
    path: PathBuf,
}

/// Runs `client` against `server` (through the fake shell): a push of `src/` to `dest` or
/// a pull of `src/` into `dest`.
fn transfer(
    client: &Peer,
    server: &Peer,
    shell: &FakeShell,
    root: &Path,
    push: bool,
    protocol: Option<u32>,
    dest: &Path,
) -> Run {
    let mut args = vec![os("-a"), os("-e"), shell.rsh_option()];
    let mut rp = os("--rsync-path=");
    rp.push(&server.path);
    args.push(rp);
    if let Some(p) = protocol {
        args.push(os(format!("--protocol={p}")));
    }
    let src = format!("{}/", root.join("src").display());
    if push {
        args.push(os(&src));
        args.push(os(format!("localhost:{}", dest.display())));
    } else {
        args.push(os(format!("localhost:{src}")));
        args.push(os(dest));
    }
    run(&client.path, &args, DEADLINE)
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", client.path.display()))
}

/// The peers to pair: ours, and stock rsync when installed.
fn peers() -> Vec<Peer> {
    let mut v = vec![Peer {
        name: "ours",
        path: ours_binary().unwrap_or_else(|e| panic!("{e}")),
    }];
    if let Some(stock) = interop_tool("rsync") {
        v.push(Peer {
            name: "stock",
            path: stock,
        });
    }
    v
}

/// The receiver cannot make the destination (its parent is missing): rsync's receiver
/// stops at once with 11 (error in file IO). From protocol 31 it says so with
/// `MSG_ERROR_EXIT`, so the client ends with 11 whichever side received; below 31 nothing
/// is said, and a pushing client reports the closed stream (12). Every pairing must end as
/// stock rsync does against itself; before our driver sent `MSG_ERROR_EXIT`, a push to our
/// server ended with 12.
#[test]
fn a_receivers_fatal_error_ends_every_pairing_with_rsyncs_code() {
    let (_dir, root, shell) = fixture();
    let peers = peers();
    // (push, protocol, stock rsync 3.5.0's code against itself)
    let table = [
        (true, None, 11),
        (false, None, 11),
        (true, Some(30), 12),
        (false, Some(30), 11),
        (true, Some(29), 12),
    ];
    // Stock against itself first: the closing lines it prints are the reference.
    let mut pairs: Vec<(&Peer, &Peer)> = Vec::new();
    for client in peers.iter().rev() {
        for server in peers.iter().rev() {
            pairs.push((client, server));
        }
    }
    let mut n = 0;
    for (push, protocol, expected) in table {
        let mut closing: Option<usize> = None;
        for &(client, server) in &pairs {
            n += 1;
            let dest = root.join(format!("nodir{n}/sub/dst"));
            let r = transfer(client, server, &shell, &root, push, protocol, &dest);
            let what = format!(
                "{} client, {} server, {}, protocol {protocol:?}",
                client.name,
                server.name,
                if push { "push" } else { "pull" },
            );
            let code = r
                .exit()
                .unwrap_or_else(|e| panic!("{what}: {e}\n{}", describe(&r)));
            let err = text(&r.stderr);
            assert!(!err.contains("panicked"), "{what}\n{}", describe(&r));
            assert_eq!(code, expected, "{what}: exit code\n{}", describe(&r));
            assert!(
                err.contains("mkdir") && err.contains("No such file or directory"),
                "{what}: the receiver's error is shown\n{}",
                describe(&r)
            );
            if protocol.is_none() {
                // From 31 the peer was told: nobody reports a closed stream.
                assert!(
                    !err.contains("connection unexpectedly closed"),
                    "{what}: the peer was not told\n{}",
                    describe(&r)
                );
            }
            assert!(!dest.exists(), "{what}: nothing was created");
            // As many closing lines (`rsync error: ... (code N)`) as stock rsync prints
            // against itself: none from a server whose session ended normally, none from
            // a side that stops on the peer's MSG_ERROR_EXIT (RFC.md §13.7).
            let lines = closing_lines(&err);
            match closing {
                None if client.name == "stock" && server.name == "stock" => {
                    closing = Some(lines);
                }
                Some(want) => {
                    assert_eq!(lines, want, "{what}: closing lines\n{}", describe(&r));
                }
                None => {}
            }
        }
    }
}

/// How many of rsync's closing lines (`rsync error:`/`rsync warning:`, ours named
/// `rsync-constant error:`) `stderr` holds.
fn closing_lines(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|l| {
            [
                "rsync error:",
                "rsync warning:",
                "rsync-constant error:",
                "rsync-constant warning:",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .count()
}

/// The destination's disk fills up in a one-shot transfer: rsync's receiver stops at the
/// first failed write with `write failed on "PATH": No space left on device (28)` and 11
/// (receiver.c), and leaves no temporary file. Every pairing, push, pull and local, must
/// do the same; ours went on with the other files and exited 23 before.
#[test]
fn a_full_disk_stops_a_one_shot_transfer_with_11_in_every_pairing() {
    let (dir, root, shell) = fixture();
    let Some(small) = SmallFs::mount(&dir.path().join("small"), "4m") else {
        return;
    };
    // Three files of 3 MB: the second cannot fit.
    for i in 1..=3 {
        fs::write(
            root.join(format!("src/big{i}")),
            rsync_tests::pseudo_random(3_000_000, i),
        )
        .unwrap();
    }
    let peers = peers();
    let mut n = 0;
    let check = |r: &Run, what: &str, dest: &Path| {
        let code = r
            .exit()
            .unwrap_or_else(|e| panic!("{what}: {e}\n{}", describe(r)));
        let err = text(&r.stderr);
        assert!(!err.contains("panicked"), "{what}\n{}", describe(r));
        assert_eq!(code, 11, "{what}: rsync's code\n{}", describe(r));
        assert!(
            err.contains("write failed on") && err.contains("No space left on device (28)"),
            "{what}: rsync's message\n{}",
            describe(r)
        );
        let left = all_entries(dest);
        assert!(
            left.iter()
                .all(|e| !e.contains("big2") && !e.contains("big3")),
            "{what}: nothing after the failed file, no temporary: {left:?}"
        );
        fs::remove_dir_all(dest).unwrap();
    };
    for push in [true, false] {
        for client in &peers {
            for server in &peers {
                n += 1;
                let dest = small.0.join(format!("d{n}"));
                let r = transfer(client, server, &shell, &root, push, None, &dest);
                let what = format!(
                    "{} client, {} server, {}",
                    client.name,
                    server.name,
                    if push { "push" } else { "pull" }
                );
                check(&r, &what, &dest);
            }
        }
    }
    for peer in &peers {
        n += 1;
        let dest = small.0.join(format!("d{n}"));
        let src = format!("{}/", root.join("src").display());
        let r = run(&peer.path, &[os("-a"), os(&src), os(&dest)], DEADLINE).unwrap();
        check(&r, &format!("{} local copy", peer.name), &dest);
    }
}

/// A source that does not exist is a per-file error: 23 in every pairing, push and pull,
/// with one closing line, the client's (a server whose session ended normally prints none;
/// ours printed a second one before).
#[test]
fn a_missing_source_is_23_with_the_clients_closing_line_only() {
    let (_dir, root, shell) = fixture();
    let peers = peers();
    let mut n = 0;
    for push in [true, false] {
        for client in &peers {
            for server in &peers {
                n += 1;
                let dest = root.join(format!("d{n}"));
                let mut args = vec![os("-a"), os("-e"), shell.rsh_option()];
                let mut rp = os("--rsync-path=");
                rp.push(&server.path);
                args.push(rp);
                let (missing, src) = (root.join("src/missing"), root.join("src/sub"));
                if push {
                    args.extend([os(&missing), os(&src)]);
                    args.push(os(format!("localhost:{}", dest.display())));
                } else {
                    args.push(os(format!("localhost:{}", missing.display())));
                    args.push(os(format!("localhost:{}", src.display())));
                    args.push(os(&dest));
                }
                let r = run(&client.path, &args, DEADLINE).unwrap();
                let what = format!(
                    "{} client, {} server, {}",
                    client.name,
                    server.name,
                    if push { "push" } else { "pull" }
                );
                assert_eq!(r.exit(), Ok(23), "{what}\n{}", describe(&r));
                let err = text(&r.stderr);
                assert!(err.contains("link_stat"), "{what}\n{}", describe(&r));
                assert_eq!(closing_lines(&err), 1, "{what}\n{}", describe(&r));
                assert!(dest.join("sub/b").exists(), "{what}: the rest arrived");
            }
        }
    }
}

/// A local copy into a destination whose parent is missing: 11, the receiver's error and
/// one closing line, as stock rsync's local copy (our local server prints none, so the
/// client prints it even though the server said `MSG_ERROR_EXIT`).
#[test]
fn a_local_copy_into_a_missing_parent_is_11_with_one_closing_line() {
    let (_dir, root, _shell) = fixture();
    for (n, peer) in peers().iter().enumerate() {
        let dest = root.join(format!("nodir{n}/sub/dst"));
        let args = vec![os("-a"), os(root.join("src/sub")), os(&dest)];
        let r = run(&peer.path, &args, DEADLINE).unwrap();
        let what = format!("{} local copy", peer.name);
        assert_eq!(r.exit(), Ok(11), "{what}\n{}", describe(&r));
        let err = text(&r.stderr);
        assert!(err.contains("mkdir"), "{what}\n{}", describe(&r));
        assert_eq!(closing_lines(&err), 1, "{what}\n{}", describe(&r));
    }
}
