//! `rsync-delta` as a command: round trips, stdin/stdout, overwrite protection, error exits
//! with one-line messages, and byte-identical signatures / mutual patching with stock
//! `rdiff` (skipped loudly without it; fails under `RSYNC_INTEROP=require`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use rsync_tests::{interop_tool, pseudo_random};

const BIN: &str = env!("CARGO_BIN_EXE_rsync-delta");

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) {
    let o = run(dir, args);
    assert!(
        o.status.success(),
        "rsync-delta {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs a command expected to fail; returns its stderr, which must be one line starting with
/// `rsync-delta: ` and containing `needle`.
fn fails(dir: &Path, args: &[&str], needle: &str) -> String {
    let o = run(dir, args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "rsync-delta {args:?} succeeded");
    assert!(
        err.starts_with("rsync-delta: ") && err.trim_end().lines().count() == 1,
        "not a one-line message: {err:?}"
    );
    assert!(err.contains(needle), "{err:?} does not mention {needle:?}");
    err
}

fn files(len: usize) -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let old = pseudo_random(len, 7);
    let mut new = old.clone();
    new.splice(len / 2..len / 2, b"inserted text".iter().copied());
    new.extend_from_slice(b"tail");
    std::fs::write(dir.path().join("old"), &old).unwrap();
    std::fs::write(dir.path().join("new"), &new).unwrap();
    (dir, new)
}

#[test]
fn round_trip_through_files() {
    let (dir, new) = files(300_000);
    let d = dir.path();
    ok(d, &["signature", "old", "sig"]);
    ok(d, &["delta", "sig", "new", "delta"]);
    ok(d, &["patch", "old", "delta", "out"]);
    assert_eq!(std::fs::read(d.join("out")).unwrap(), new);
    // The delta is small: the edit and the command overhead.
    assert!(std::fs::metadata(d.join("delta")).unwrap().len() < 2_000);
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 5, "{names:?}");
}

#[test]
fn stdin_and_stdout() {
    let (dir, new) = files(50_000);
    let d = dir.path();
    // Options before the action, as rdiff takes them; output to stdout by omission.
    let old = std::fs::read(d.join("old")).unwrap();
    let mut child = Command::new(BIN)
        .args(["-H", "md4", "-R", "rollsum", "-b", "512", "signature"])
        .current_dir(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&old).unwrap();
    let sig = child.wait_with_output().unwrap();
    assert!(sig.status.success());
    assert_eq!(
        sig.stdout[..12],
        [0x72, 0x73, 0x01, 0x36, 0, 0, 2, 0, 0, 0, 0, 16]
    );
    std::fs::write(d.join("sig"), &sig.stdout).unwrap();
    ok(d, &["delta", "sig", "new", "-"]);
    let delta = run(d, &["delta", "sig", "new"]).stdout;
    std::fs::write(d.join("delta"), &delta).unwrap();
    let out = Command::new(BIN)
        .args(["patch", "old"])
        .current_dir(d)
        .stdin(std::fs::File::open(d.join("delta")).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, new);
}

#[test]
fn refuses_to_overwrite_without_force() {
    let (dir, _) = files(1000);
    let d = dir.path();
    std::fs::write(d.join("sig"), b"keep me").unwrap();
    fails(d, &["signature", "old", "sig"], "exists");
    assert_eq!(std::fs::read(d.join("sig")).unwrap(), b"keep me");
    ok(d, &["signature", "--force", "old", "sig"]);
    assert_eq!(
        std::fs::read(d.join("sig")).unwrap()[..4],
        [0x72, 0x73, 0x01, 0x47]
    );
}

#[test]
fn bad_input_gives_clear_errors() {
    let (dir, _) = files(100_000);
    let d = dir.path();
    ok(d, &["signature", "old", "sig"]);
    ok(d, &["delta", "sig", "new", "delta"]);
    let delta = std::fs::read(d.join("delta")).unwrap();
    // Truncated delta.
    std::fs::write(d.join("short"), &delta[..delta.len() - 1]).unwrap();
    fails(d, &["patch", "old", "short", "out1"], "truncated");
    assert!(!d.join("out1").exists(), "partial output left behind");
    // A signature where a delta belongs, and the other way round.
    fails(
        d,
        &["patch", "old", "sig", "out2"],
        "bad delta magic 0x72730147",
    );
    fails(
        d,
        &["delta", "delta", "new", "out3"],
        "bad signature magic 0x72730236",
    );
    // A truncated signature.
    let sig = std::fs::read(d.join("sig")).unwrap();
    std::fs::write(d.join("shortsig"), &sig[..sig.len() - 3]).unwrap();
    fails(
        d,
        &["delta", "shortsig", "new", "out4"],
        "signature truncated",
    );
    // Output limit.
    fails(
        d,
        &["--max-output", "1000", "patch", "old", "delta", "out5"],
        "exceeds the limit of 1000 bytes",
    );
    // Unreadable or missing paths.
    fails(
        d,
        &["signature", "missing", "sig2"],
        "cannot open \"missing\"",
    );
    fails(
        d,
        &["patch", "old", "delta", "no/such/dir/out"],
        "cannot create",
    );
    // A COPY beyond the basis: patch against a shorter basis.
    std::fs::write(d.join("tiny"), b"x").unwrap();
    fails(d, &["patch", "tiny", "delta", "out6"], "beyond the basis");
    // Parameter errors.
    fails(
        d,
        &["-H", "md4", "-S", "17", "signature", "old", "sig3"],
        "strong sum length 17",
    );
}

/// Signature identity and two-way patching against rdiff for one file and option set.
fn versus_rdiff(rdiff: &Path, d: &Path, opts: &[&str]) {
    let cmd = |tool: &Path, args: &[&str]| {
        let st = Command::new(tool)
            .args(opts)
            .args(args)
            .current_dir(d)
            .status()
            .unwrap();
        assert!(st.success(), "{} {opts:?} {args:?}: {st}", tool.display());
    };
    let me = Path::new(BIN);
    cmd(rdiff, &["-f", "signature", "old", "r.sig"]);
    cmd(me, &["-f", "signature", "old", "o.sig"]);
    let (r, o) = (
        std::fs::read(d.join("r.sig")).unwrap(),
        std::fs::read(d.join("o.sig")).unwrap(),
    );
    assert!(r == o, "signature differs from rdiff's with {opts:?}");
    cmd(me, &["-f", "delta", "r.sig", "new", "o.delta"]);
    cmd(rdiff, &["-f", "patch", "old", "o.delta", "o.new"]);
    cmd(rdiff, &["-f", "delta", "o.sig", "new", "r.delta"]);
    cmd(me, &["-f", "patch", "old", "r.delta", "r.new"]);
    let new = std::fs::read(d.join("new")).unwrap();
    assert!(
        std::fs::read(d.join("o.new")).unwrap() == new,
        "rdiff mis-patched ours {opts:?}"
    );
    assert!(
        std::fs::read(d.join("r.new")).unwrap() == new,
        "we mis-patched rdiff's {opts:?}"
    );
}

#[test]
fn matches_rdiff_small_files() {
    let Some(rdiff) = interop_tool("rdiff") else {
        return;
    };
    for len in [0, 1, 1 << 20] {
        let (dir, _) = files(len);
        for h in ["md4", "blake2"] {
            for r in ["rollsum", "rabinkarp"] {
                for extra in [&[][..], &["-b", "700", "-S", "9"], &["-S", "-1"]] {
                    let mut opts = vec!["-H", h, "-R", r];
                    opts.extend_from_slice(extra);
                    versus_rdiff(&rdiff, dir.path(), &opts);
                }
            }
        }
        versus_rdiff(&rdiff, dir.path(), &[]);
    }
}

#[test]
fn matches_rdiff_from_a_pipe() {
    // From a pipe the size is unknown: block 2048 and, with -S -1, strong length 12.
    let Some(rdiff) = interop_tool("rdiff") else {
        return;
    };
    let (dir, _) = files(100_000);
    let d = dir.path();
    let sig = |tool: &Path| {
        let mut c = Command::new(tool)
            .args(["-S", "-1", "signature"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let old = std::fs::read(d.join("old")).unwrap();
        let mut stdin = c.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || stdin.write_all(&old));
        let out = c.wait_with_output().unwrap();
        feeder.join().unwrap().unwrap();
        assert!(out.status.success());
        out.stdout
    };
    let ours = sig(Path::new(BIN));
    assert_eq!(ours[4..12], [0, 0, 8, 0, 0, 0, 0, 12]);
    assert!(ours == sig(&rdiff));
}

#[test]
fn matches_rdiff_100_mib() {
    let Some(rdiff) = interop_tool("rdiff") else {
        return;
    };
    let (dir, _) = files(100 << 20);
    versus_rdiff(&rdiff, dir.path(), &[]);
    versus_rdiff(&rdiff, dir.path(), &["-H", "md4", "-R", "rollsum"]);
}
