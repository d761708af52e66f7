//! Hostile peers (issue D): the test plays one end of an rsync session with hand-made wire
//! bytes (rsync_tests::hostile) against our binary, as a server (`rsync-constant --server`
//! spawned with pipes, the test is the client) and as a client (the test is the server,
//! behind a fake remote shell of two FIFOs).
//!
//! Every case checks the four things issue D asks for: a typed error message on stderr (no
//! panic), rsync's exit code for the class of error (stock rsync 3.5.0's, RFC.md §13.7 and
//! §14), a bounded peak RSS under an address-space limit (`prlimit --as`, so a count trusted
//! from the wire fails instead of swapping), and nothing written beside the destination (a
//! sentinel tree must stay identical, inodes included). Each case has a hard deadline.
//!
//! Needs the binary: `cargo build --release -p rsync-constant --bin rsync-constant` (found
//! next to the test executable, or through `RSYNC_CONSTANT_BIN`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure is a test failure

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rsync_tests::hostile::{FifoShell, Outcome, Proc, Sentinel, Stream, Wire, RSS_LIMIT_KIB};
use rsync_tests::peers::ours_binary;

/// The hard bound of one case.
const BOUND: Duration = Duration::from_secs(30);

/// `MSG_ERROR` (RFC.md §5.2).
const MSG_ERROR: u8 = 3;

/// Our server's capability letters without `v`: no checksum negotiation, implied MD5
/// (16-byte digest), flags as single bytes (RFC.md §6.3).
const CLUSTER: &str = "-logDtpre.LsfxCIu";

/// The transfer-request item flag (RFC.md §10.1).
const ITEM_TRANSFER: u16 = 0x8000;

/// A scratch tree: `src/` (a file `a`), `dest/`, and the sentinel `outside/` beside them.
struct Scene {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: Sentinel,
    deadline: Instant,
}

impl Scene {
    fn new() -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("hostile")
            .tempdir()
            .unwrap();
        let root = tmp.path().to_path_buf();
        fs::create_dir(root.join("src")).unwrap();
        fs::write(root.join("src/a"), b"hello hostile world\n".repeat(100)).unwrap();
        fs::create_dir(root.join("dest")).unwrap();
        let outside = Sentinel::new(&root.join("outside")).unwrap();
        Self {
            _tmp: tmp,
            root,
            outside,
            deadline: Instant::now() + BOUND,
        }
    }

    /// Our server, the test being the client; `args` after `--server`.
    fn server(&self, args: &[&str]) -> Proc {
        let ours = ours_binary().unwrap();
        let mut all: Vec<OsString> = vec!["--server".into()];
        all.extend(args.iter().map(OsString::from));
        Proc::spawn(&ours, &all, &self.root, true, self.deadline).unwrap()
    }

    /// Checks the four outcomes of a case.
    fn check(&self, o: &Outcome, code: i32, message: &str) {
        assert!(
            !o.stderr.contains("panicked"),
            "our process panicked: {o:#?}"
        );
        assert_eq!(o.code, Ok(code), "exit code; {o:#?}");
        assert!(
            o.stderr.contains(message),
            "stderr lacks {message:?}: {o:#?}"
        );
        assert!(
            o.peak_rss_kib < RSS_LIMIT_KIB,
            "peak RSS {} KiB: {o:#?}",
            o.peak_rss_kib
        );
        let changed = self.outside.changes();
        assert!(changed.is_empty(), "written outside: {changed:?}; {o:#?}");
        // Nothing new beside dest/, src/ and outside/ either.
        let mut names: Vec<_> = fs::read_dir(&self.root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["dest", "outside", "src"], "{o:#?}");
    }
}

/// The client's side of the handshake against our server (protocol 31, no negotiation).
fn client_handshake(p: &mut Proc) {
    p.send(Wire::new().int(31).bytes()).unwrap();
    let out = p.out();
    let version = out.int().unwrap();
    assert!((31..=32).contains(&version), "server version {version}");
    let flags = out.varint().unwrap();
    assert_eq!(
        flags & 0x80,
        0,
        "no CF_VARINT_FLIST_FLAGS without the letter v"
    );
    let _seed = out.int().unwrap();
}

/// A generator's transfer request for `ndx_bytes` (already encoded) with a sum head.
fn request(ndx_bytes: &[u8], head: [i32; 4]) -> Vec<u8> {
    let mut w = Wire::new().raw(ndx_bytes).raw(&ITEM_TRANSFER.to_le_bytes());
    for v in head {
        w = w.int(v);
    }
    w.0
}

/// Sends `bytes` (a write error means our process already gave up: its exit code tells),
/// then either closes its stdin at once (`hang_up`: a truncated stream) or keeps it open
/// until our process has closed its output, as a peer that stays connected would.
fn deliver(mut p: Proc, bytes: &[u8], hang_up: bool) -> Outcome {
    let _ = p.send(bytes);
    if hang_up {
        p.close_stdin();
    } else {
        let _ = p.out().wait_eof();
    }
    p.finish()
}

/// Our server sending `src/` (a pull): handshake, an empty filter list, then `hostile` in
/// `MSG_DATA` frames. Returns the outcome.
fn against_server_sender(scene: &Scene, hostile: &[u8], hang_up: bool) -> Outcome {
    let mut p = scene.server(&["--sender", CLUSTER, ".", "src/"]);
    client_handshake(&mut p);
    let mut w = Wire::new().data(&Wire::new().int(0).0);
    if !hostile.is_empty() {
        w = w.data(hostile);
    }
    deliver(p, w.bytes(), hang_up)
}

// ---- Our server as the sender; the test is a hostile generator (RFC.md §10, §14.2) ----

/// CVE-2024-12084: `s2length` above the digest length (MD5: 16).
#[test]
fn server_sender_rejects_s2length_above_the_digest() {
    let s = Scene::new();
    let o = against_server_sender(&s, &request(&[0x02], [1, 700, 17, 0]), false);
    s.check(&o, 2, "strong length 17 exceeds the digest length 16");
}

#[test]
fn server_sender_rejects_negative_counts_and_lengths() {
    for head in [
        [-1, 700, 2, 0],
        [1, -700, 2, 0],
        [1, 700, -2, 0],
        [1, 700, 2, -5],
    ] {
        let s = Scene::new();
        let o = against_server_sender(&s, &request(&[0x02], head), false);
        s.check(&o, 2, "is negative");
    }
}

/// A count and block length within i32 whose product is far beyond any memory: rejected
/// from the head, before any allocation.
#[test]
fn server_sender_rejects_huge_counts_and_block_lengths() {
    for (head, msg) in [
        ([i32::MAX, 700, 16, 0], "exceeds the limit"),
        ([1, 1 << 20, 16, 0], "sum header"),
        ([1, 700, 2, 701], "sum header"),
        ([5, 0, 2, 0], "sum header"),
    ] {
        let s = Scene::new();
        let o = against_server_sender(&s, &request(&[0x02], head), false);
        s.check(&o, 2, msg);
    }
}

/// A count the limits accept (50 million blocks, ~1 GB of sums) followed by a truncated
/// stream: the sums must be read as they come, not preallocated.
#[test]
fn server_sender_does_not_preallocate_a_large_count() {
    let s = Scene::new();
    let o = against_server_sender(&s, &request(&[0x02], [50_000_000, 700, 16, 0]), true);
    s.check(&o, 12, "connection unexpectedly closed");
}

/// CVE-2025-10158: indices out of range, positive and negative.
#[test]
fn server_sender_rejects_indices_out_of_range() {
    // 5 (list of 2: ".", "a"), 100000, −100 (`ff 63`), 2³¹−1.
    for ndx in [
        &[0x06][..],
        &[0xfe, 0x80, 0xa0, 0x86, 0x01],
        &[0xff, 0x63],
        &[0xfe, 0xff, 0xff, 0xff, 0xff],
    ] {
        let s = Scene::new();
        let o = against_server_sender(&s, &request(ndx, [0, 0, 0, 0]), false);
        s.check(&o, 2, "Invalid file index");
    }
}

/// A transfer request for the directory `.` (index 0).
#[test]
fn server_sender_rejects_a_request_for_a_directory() {
    let s = Scene::new();
    let o = against_server_sender(&s, &request(&[0x01], [0, 0, 0, 0]), false);
    s.check(&o, 2, "non-regular");
}

/// The stream ends in the middle of a sum head.
#[test]
fn server_sender_reports_a_truncated_stream() {
    let s = Scene::new();
    let mut req = request(&[0x02], [0, 0, 0, 0]);
    req.truncate(6);
    let o = against_server_sender(&s, &req, true);
    s.check(&o, 12, "connection unexpectedly closed");
}

/// Bytes that are not frames after the handshake (a tag below 7), an unknown message code,
/// a text message longer than our 64 KiB bound (stock rsync's is 5120: ours accepts and
/// prints a text of 5120 to 65536 bytes), an internal code (MSG_REDO).
#[test]
fn server_rejects_garbage_after_the_handshake() {
    let cases: Vec<Vec<u8>> = vec![
        b"HELLO, this is not a frame\n".to_vec(),
        Wire::new().frame(0x77, b"abcd").0,
        Wire::new().frame(MSG_ERROR, &[b'x'; 70000]).0,
        Wire::new().frame(9, &[1, 0, 0, 0]).0,
    ];
    for garbage in cases {
        let s = Scene::new();
        let mut p = s.server(&["--sender", CLUSTER, ".", "src/"]);
        client_handshake(&mut p);
        let o = deliver(p, &garbage, false);
        s.check(&o, 12, "");
    }
}

/// The client disappears right after its version.
#[test]
fn server_reports_eof_in_the_handshake() {
    let s = Scene::new();
    let mut p = s.server(&["--sender", CLUSTER, ".", "src/"]);
    p.send(Wire::new().int(31).bytes()).unwrap();
    p.close_stdin();
    let o = p.finish();
    s.check(&o, 12, "");
}

/// Text instead of a version (a chatty login shell): rsync's "is your shell clean?".
#[test]
fn server_rejects_a_version_that_is_text() {
    let s = Scene::new();
    let mut p = s.server(&["--sender", CLUSTER, ".", "src/"]);
    let _ = p.send(b"Welcome to the machine\n");
    p.close_stdin();
    let o = p.finish();
    s.check(&o, 2, "protocol version mismatch");
}

// ---- Our server as the receiver; the test is a hostile sender (RFC.md §9, §11, §14.7) ----

/// A file-list entry as a protocol-31 sender without varint flags writes it (RFC.md §9.2,
/// §9.3), with a fresh previous-entry state: flags, name, size, mtime, mode and, for a
/// symlink, its target. No uid or gid: the cases pass `-lptr` only.
fn entry(name: &[u8], size: i64, mode: u32, symlink: Option<&[u8]>) -> Vec<u8> {
    // TOP_DIR is a filler bit for non-directories; LONG_NAME when needed.
    let long = name.len() > 255;
    let mut flags: u16 = if mode & 0o170000 == 0o040000 { 0 } else { 0x01 };
    if long {
        flags |= 0x40;
    }
    let mut w = if flags == 0 {
        Wire::new().raw(&0x0004u16.to_le_bytes())
    } else {
        Wire::new().byte(flags as u8)
    };
    w = if long {
        w.varint(name.len() as i32)
    } else {
        w.byte(name.len() as u8)
    };
    w = w
        .raw(name)
        .varlong(size, 3)
        .varlong(1_700_000_000, 4)
        .int(mode as i32);
    if let Some(t) = symlink {
        w = w.varint(t.len() as i32).raw(t);
    }
    w.0
}

/// The options of a push the cases use: recursion, links, perms, times; no ids.
const RECV_CLUSTER: &str = "-lptre.LsfxCIu";

/// Our server receiving into `dest/` (a push): handshake, `flist` (entries
/// and end marker, the test's responsibility) in `MSG_DATA`, then `after` and EOF.
fn against_server_receiver(scene: &Scene, flist: &[u8], after: &[u8], hang_up: bool) -> Outcome {
    let mut p = scene.server(&[RECV_CLUSTER, ".", "dest/"]);
    client_handshake(&mut p);
    // No filter list: a push without --delete sends none (rsync `send_filter_list`).
    let w = Wire::new().data(flist).raw(after);
    deliver(p, w.bytes(), hang_up)
}

fn list(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut l: Vec<u8> = entries.concat();
    l.push(0);
    l
}

const DIR: u32 = 0o040755;
const FILE: u32 = 0o100644;
const LINK: u32 = 0o120777;

#[test]
fn server_receiver_rejects_dotdot_and_absolute_names() {
    let outside_file = format!("{}/keep.txt", "../outside");
    for name in [
        outside_file.as_bytes(),
        b"../outside/new",
        b"a/../../outside/new",
        b"/tmp/hostile-absolute",
    ] {
        let s = Scene::new();
        let fl = list(&[entry(b".", 4096, DIR, None), entry(name, 5, FILE, None)]);
        let o = against_server_receiver(&s, &fl, &[], false);
        s.check(&o, 4, "file-list entry 1: ");
        assert!(!Path::new("/tmp/hostile-absolute").exists());
    }
}

/// Name lengths beyond 4095 bytes and a symlink target beyond 4095: refused from the
/// length prefix.
#[test]
fn server_receiver_rejects_overlong_names_and_targets() {
    let s = Scene::new();
    let long = Wire::new().byte(0x41).varint(0x3fff_ffff).raw(b"xxxx").0;
    let o = against_server_receiver(
        &s,
        &[entry(b".", 4096, DIR, None), long].concat(),
        &[],
        false,
    );
    s.check(&o, 22, "");
    let s = Scene::new();
    let mut link = entry(b"l", 10, LINK, Some(b"t"));
    // Replace the target length (1, one byte) with a huge varint.
    let cut = link.len() - 2;
    link.truncate(cut);
    link.extend(Wire::new().varint(0x3fff_ffff).raw(b"tttt").0);
    let o = against_server_receiver(
        &s,
        &[entry(b".", 4096, DIR, None), link].concat(),
        &[],
        false,
    );
    s.check(&o, 22, "symlink length 1073741823");
}

/// CVE-2024-12087: a symlink to a directory outside, then a file beneath it.
#[test]
fn server_receiver_does_not_follow_a_listed_symlinked_directory() {
    let s = Scene::new();
    let target = s.outside.path.as_os_str().as_encoded_bytes().to_vec();
    let fl = list(&[
        entry(b".", 4096, DIR, None),
        entry(b"d", target.len() as i64, LINK, Some(&target)),
        entry(b"d/keep.txt", 5, FILE, None),
        entry(b"d/new", 5, FILE, None),
    ]);
    // Answer the generator's requests with data (wrong checksums) through the redo pass,
    // then hang up: nothing may land beside dest/ meanwhile.
    let mut p = s.server(&[RECV_CLUSTER, ".", "dest/"]);
    client_handshake(&mut p);
    let _ = p.send(Wire::new().data(&fl).bytes());
    let mut from = p.stdout.take().unwrap();
    let mut stdin = p.stdin.take().unwrap();
    answer_requests(
        &mut from,
        &mut |b| {
            use std::io::Write as _;
            let _ = stdin.write_all(b);
        },
        2,
    );
    drop(stdin);
    let o = p.finish();
    assert!(o.code.is_ok(), "{o:#?}");
    s.check(&o, o.code.clone().unwrap_or(-1), "");
    assert_ne!(o.code, Ok(0), "{o:#?}");
}

/// Truncated file list (EOF in the middle of an entry).
#[test]
fn server_receiver_reports_a_truncated_file_list() {
    let s = Scene::new();
    let mut e = entry(b"a-longer-name", 5, FILE, None);
    e.truncate(6);
    let o = against_server_receiver(&s, &[entry(b".", 4096, DIR, None), e].concat(), &[], true);
    s.check(&o, 12, "connection unexpectedly closed");
}

/// Plays a sender that answers every transfer request with a literal and a wrong checksum
/// (so nothing verifies), echoes `NDX_DONE` until `dones` have passed, then returns.
fn answer_requests(from: &mut Stream, send: &mut dyn FnMut(&[u8]), dones: usize) {
    let (mut prev_in, mut prev_out) = (-1i32, -1i32);
    let mut seen = 0;
    while seen < dones {
        let Ok(b) = from.data(1) else { return };
        let ndx = match b[0] {
            0 => -1,
            0xff => return, // no incremental recursion here: nothing negative expected
            0xfe => {
                let Ok(x) = from.data(2) else { return };
                if x[0] & 0x80 != 0 {
                    let Ok(y) = from.data(2) else { return };
                    i32::from(x[0] & 0x7f) << 24
                        | i32::from(x[1])
                        | i32::from(y[0]) << 8
                        | i32::from(y[1]) << 16
                } else {
                    prev_in + (i32::from(x[0]) << 8 | i32::from(x[1]))
                }
            }
            d => prev_in + i32::from(d),
        };
        if ndx == -1 {
            seen += 1;
            send(&Wire::new().data(&[0]).0);
            continue;
        }
        prev_in = ndx;
        let Ok(f) = from.data(2) else { return };
        let iflags = u16::from_le_bytes([f[0], f[1]]);
        let mut echo = Wire::new();
        let diff = ndx - prev_out;
        echo = if (1..=253).contains(&diff) {
            echo.byte(diff as u8)
        } else {
            echo.byte(0xfe)
                .byte(0x80 | (ndx >> 24) as u8)
                .byte(ndx as u8)
                .byte((ndx >> 8) as u8)
                .byte((ndx >> 16) as u8)
        };
        prev_out = ndx;
        echo = echo.raw(&f);
        if iflags & 0x0800 != 0 {
            let Ok(t) = from.data(1) else { return };
            echo = echo.raw(&t);
        }
        if iflags & 0x1000 != 0 {
            let Ok(l) = from.data(1) else { return };
            let mut len = usize::from(l[0]);
            echo = echo.raw(&l);
            if len & 0x80 != 0 {
                let Ok(l2) = from.data(1) else { return };
                len = (len & 0x7f) << 8 | usize::from(l2[0]);
                echo = echo.raw(&l2);
            }
            let Ok(x) = from.data(len) else { return };
            echo = echo.raw(&x);
        }
        if iflags & ITEM_TRANSFER != 0 {
            let Ok(h) = from.data(16) else { return };
            let int = |i: usize| i32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
            let (count, s2) = (int(0).max(0) as usize, int(8).max(0) as usize);
            if from.data(count * (4 + s2)).is_err() {
                return;
            }
            echo = echo.raw(&h).int(5).raw(b"EVIL\n").int(0).raw(&[0u8; 16]);
        }
        send(&Wire::new().data(&echo.0).0);
    }
}

// ---- Our client against a hostile server (the test plays the server) ----

/// Our client with `args`, whose remote shell connects to the test through FIFOs. Runs the
/// server side `script` (given the client's output stream and a writer to the client) on
/// this thread.
fn against_client(
    scene: &Scene,
    args: &[&str],
    script: impl FnOnce(&mut Stream, &mut fs::File),
) -> Outcome {
    let ours = ours_binary().unwrap();
    let shell_dir = scene.root.join("dest").parent().unwrap().join("shell");
    fs::create_dir(&shell_dir).unwrap();
    let shell = FifoShell::write(&shell_dir).unwrap();
    let mut all: Vec<OsString> = vec!["-e".into(), shell.rsh_option()];
    all.extend(args.iter().map(OsString::from));
    let p = Proc::spawn(&ours, &all, &scene.root, false, scene.deadline).unwrap();
    match shell.open(scene.deadline) {
        Ok((mut from_client, mut to_client)) => script(&mut from_client, &mut to_client),
        Err(e) => eprintln!("(client never connected: {e})"),
    }
    let o = p.finish();
    shell.unblock();
    fs::remove_dir_all(&shell_dir).unwrap();
    o
}

/// The server's side of the handshake: protocol 31, compat flags without varint flags (no
/// negotiation), a seed. Reads the client's version.
fn server_handshake(from: &mut Stream, to: &mut fs::File) {
    use std::io::Write as _;
    to.write_all(Wire::new().int(31).varint(0x28).int(0x1234).bytes())
        .unwrap();
    let v = from.int().unwrap();
    assert!((27..=40).contains(&v), "client version {v}");
}

fn send(to: &mut fs::File, b: &[u8]) {
    use std::io::Write as _;
    // The client may have gone: its exit code tells.
    let _ = to.write_all(b);
}

/// A pull of `src/` whose server (the test) sends `flist` then hangs up.
fn pull_with_list(scene: &Scene, flist: Vec<u8>, operand: &'static str) -> Outcome {
    against_client(scene, &["-rlpt", operand, "dest/"], move |from, to| {
        server_handshake(from, to);
        send(to, Wire::new().data(&flist).bytes());
    })
}

#[test]
fn client_rejects_dotdot_and_absolute_names() {
    for name in [
        &b"../outside/new"[..],
        b"x/../../outside/new",
        b"/tmp/hostile-abs2",
    ] {
        let s = Scene::new();
        let fl = list(&[entry(b".", 4096, DIR, None), entry(name, 5, FILE, None)]);
        let o = pull_with_list(&s, fl, "h:src/");
        s.check(&o, 4, "file-list entry 1: ");
    }
}

/// CVE-2022-29154: a pull of one file; the server lists another name. Stock rsync: "ERROR:
/// rejecting unrequested file-list name: b", exit 4.
#[test]
fn client_rejects_unrequested_names() {
    let s = Scene::new();
    let fl = list(&[entry(b"b", 5, FILE, None)]);
    let o = pull_with_list(&s, fl, "h:src/a");
    s.check(&o, 4, "unrequested");
}

/// A pull with `args` (before `dest/`) whose server (the test) sends `flist` then hangs up.
fn pull_list_args(scene: &Scene, flist: Vec<u8>, args: &[&str]) -> Outcome {
    let mut all = args.to_vec();
    all.push("dest/");
    against_client(scene, &all, move |from, to| {
        server_handshake(from, to);
        send(to, Wire::new().data(&flist).bytes());
    })
}

/// A pull of the directory `src/a` (-r): a name under its sibling `b` is unrequested.
#[test]
fn client_rejects_a_name_under_a_sibling_directory() {
    let s = Scene::new();
    let fl = list(&[
        entry(b"a", 4096, DIR, None),
        entry(b"a/ok", 5, FILE, None),
        entry(b"b/evil", 5, FILE, None),
    ]);
    let o = pull_with_list(&s, fl, "h:src/a");
    s.check(&o, 4, "rejecting unrequested file-list name: b/evil");
    assert!(!s.root.join("dest/a").exists(), "nothing is created");
}

/// A pull of `src/a` listing `ab`: a name that matches the operand only as a prefix.
#[test]
fn client_rejects_a_name_matching_only_by_prefix() {
    let s = Scene::new();
    let fl = list(&[entry(b"ab", 5, FILE, None)]);
    let o = pull_with_list(&s, fl, "h:src/a");
    s.check(&o, 4, "rejecting unrequested file-list name: ab");
}

/// A -R pull of `src/a` allows the directory `src` as its parent, not another top
/// directory, nor `src` as a file.
#[test]
fn client_rejects_a_parent_a_relative_pull_did_not_imply() {
    let s = Scene::new();
    let fl = list(&[
        entry(b"src", 4096, DIR, None),
        entry(b"src/a", 5, FILE, None),
        entry(b"etc", 4096, DIR, None),
    ]);
    let o = pull_list_args(&s, fl, &["-rlptR", "h:src/a"]);
    s.check(&o, 4, "rejecting unrequested file-list name: etc");
    let s = Scene::new();
    let fl = list(&[entry(b"src", 5, FILE, None)]);
    let o = pull_list_args(&s, fl, &["-rlptR", "h:src/a"]);
    s.check(&o, 4, "rejecting unrequested file-list name: src");
}

/// The client's own rules exclude `*.o`; a sender listing `x.o` ignored them (stock: "ERROR:
/// rejecting excluded file-list name: x.o", exit 4).
#[test]
fn client_rejects_a_name_its_rules_exclude() {
    let s = Scene::new();
    let fl = list(&[
        entry(b".", 4096, DIR, None),
        entry(b"x.c", 5, FILE, None),
        entry(b"x.o", 5, FILE, None),
    ]);
    let o = pull_list_args(&s, fl, &["-rlpt", "--exclude=*.o", "h:src/"]);
    s.check(&o, 4, "rejecting excluded file-list name: x.o");
}

/// `--trust-sender` turns both checks off: the unrequested `b` is accepted, and the session
/// only fails when the server hangs up (exit 12).
#[test]
fn trust_sender_accepts_unrequested_names() {
    let s = Scene::new();
    let fl = list(&[entry(b"b", 5, FILE, None)]);
    let o = pull_list_args(&s, fl, &["-rlpt", "--trust-sender", "h:src/a"]);
    s.check(&o, 12, "connection unexpectedly closed");
    assert!(!o.stderr.contains("unrequested"), "{o:#?}");
}

/// A pull of the file `src/a` (5 bytes, absent from the destination) whose server (the
/// test) reads the client's one transfer request, echoes it, and follows it with `tokens`
/// (raw bytes inside `MSG_DATA`), then hangs up.
fn pull_answering(scene: &Scene, tokens: Vec<u8>) -> Outcome {
    let fl = list(&[entry(b"a", 5, FILE, None)]);
    against_client(scene, &["-rlpt", "h:src/a", "dest/"], move |from, to| {
        server_handshake(from, to);
        send(to, Wire::new().data(&fl).bytes());
        let _ = from.data(4); // the client's (empty) filter list
        let Ok(ndx) = from.data(1) else { return };
        assert_eq!(ndx, [1], "the request for index 0");
        let Ok(f) = from.data(2) else { return };
        let iflags = u16::from_le_bytes([f[0], f[1]]);
        assert_ne!(iflags & ITEM_TRANSFER, 0, "a transfer request: {iflags:#x}");
        let Ok(head) = from.data(16) else { return };
        assert_eq!(&head[..4], &[0; 4], "no basis: no block sums");
        let echo = Wire::new().byte(1).raw(&f).raw(&head).raw(&tokens);
        send(to, Wire::new().data(&echo.0).bytes());
    })
}

/// A copy token for block 0 when the request had no block at all: stock rsync's "Invalid
/// block index 0 (count=0)", exit 2 (RERR_PROTOCOL). Nothing is written.
#[test]
fn client_rejects_a_block_index_out_of_range() {
    let s = Scene::new();
    let o = pull_answering(&s, Wire::new().int(-1).0);
    s.check(&o, 2, "copy of block 0");
    assert_eq!(
        fs::read_dir(s.root.join("dest")).unwrap().count(),
        0,
        "{o:#?}"
    );
}

/// A literal token of 2 GiB - 1: refused from its length before any byte is read (stock
/// rsync would read it in 32 KiB chunks until the server hangs up, exit 12; ours ends at
/// once with RERR_PROTOCOL), within the address-space limit.
#[test]
fn client_rejects_a_literal_over_the_limit() {
    let s = Scene::new();
    let o = pull_answering(&s, Wire::new().int(i32::MAX).raw(b"xx").0);
    s.check(&o, 2, "literal");
    assert_eq!(
        fs::read_dir(s.root.join("dest")).unwrap().count(),
        0,
        "{o:#?}"
    );
}

/// A file's data ends (literal, end token, a wrong whole-file checksum), then the server
/// sends bytes that are no index in the list: stock rsync's "Invalid file index", exit 2.
/// The unverified file is not committed.
#[test]
fn client_rejects_data_after_the_end_of_a_file() {
    let s = Scene::new();
    let tokens = Wire::new()
        .int(5)
        .raw(b"EVIL\n")
        .int(0)
        .raw(&[0u8; 16])
        .raw(b"\x40garbage")
        .0;
    let o = pull_answering(&s, tokens);
    s.check(&o, 2, "Invalid file index");
    assert!(!s.root.join("dest/a").exists(), "{o:#?}");
}

/// Every transfer answered with a literal whose whole-file checksum is wrong, in both
/// passes, then a proper end (statistics, goodbye): stock rsync discards the file ("failed
/// verification -- update discarded") and exits 23 (RERR_PARTIAL).
#[test]
fn client_discards_a_file_failing_its_checksum_twice() {
    let s = Scene::new();
    let fl = list(&[entry(b"a", 5, FILE, None)]);
    let o = against_client(&s, &["-rlpt", "h:src/a", "dest/"], move |from, to| {
        server_handshake(from, to);
        send(to, Wire::new().data(&fl).bytes());
        let _ = from.data(4);
        answer_requests(from, &mut |b| send(to, b), 3);
        // The sender's statistics, then the goodbye: the client's NDX_DONE, echoed.
        let mut stats = Wire::new();
        for _ in 0..5 {
            stats = stats.varlong(0, 3);
        }
        send(to, Wire::new().data(&stats.0).bytes());
        if from.data(1).is_ok() {
            send(to, Wire::new().data(&[0]).bytes());
        }
    });
    s.check(&o, 23, "verification");
    assert!(!s.root.join("dest/a").exists(), "{o:#?}");
}

/// A -R --delete pull of `src/a` allows the directory `src` only as a parent; a sender that
/// flags it as a content directory (no XMIT_NO_CONTENT_DIR) must not make the client delete
/// what else `dest/src` holds (rsync 3.5.0's implied-parent downgrade).
#[test]
fn client_does_not_delete_in_a_parent_flagged_as_content() {
    let s = Scene::new();
    fs::create_dir(s.root.join("dest/src")).unwrap();
    fs::write(s.root.join("dest/src/keep"), b"mine").unwrap();
    let fl = list(&[
        entry(b"src", 4096, DIR, None),
        entry(b"src/a", 5, FILE, None),
    ]);
    let o = against_client(
        &s,
        &["-rlptR", "--delete", "h:src/a", "dest/"],
        move |from, to| {
            server_handshake(from, to);
            send(to, Wire::new().data(&fl).bytes());
            let _ = from.data(4);
            answer_requests(from, &mut |b| send(to, b), 3);
            let mut stats = Wire::new();
            for _ in 0..5 {
                stats = stats.varlong(0, 3);
            }
            send(to, Wire::new().data(&stats.0).bytes());
            if from.data(1).is_ok() {
                send(to, Wire::new().data(&[0]).bytes());
            }
        },
    );
    s.check(&o, 23, "verification");
    assert_eq!(
        fs::read(s.root.join("dest/src/keep")).ok().as_deref(),
        Some(&b"mine"[..]),
        "{o:#?}"
    );
}

/// The transfer root `.` listed as a regular file (which `--force` would let replace the
/// destination directory): stock rsync 3.5.0's "rejecting non-directory transfer-root
/// entry", exit 2, for a client (even with --trust-sender) and a server receiver.
#[test]
fn receivers_reject_a_transfer_root_that_is_no_directory() {
    let s = Scene::new();
    let fl = list(&[entry(b".", 5, FILE, None)]);
    let o = pull_list_args(&s, fl, &["-rlpt", "--force", "--trust-sender", "h:src/"]);
    s.check(&o, 2, "rejecting non-directory transfer-root entry: .");
    assert!(s.root.join("dest").is_dir());
    let s = Scene::new();
    let fl = list(&[entry(b".", 5, FILE, None)]);
    let o = against_server_receiver(&s, &fl, &[], false);
    s.check(&o, 2, "rejecting non-directory transfer-root entry: .");
    assert!(s.root.join("dest").is_dir());
}

/// CVE-2024-12087: a symlink `d` to the sentinel directory, then `d/new` and `d/keep.txt`;
/// the test then answers the generator's requests with data (wrong checksums) and hangs up.
#[test]
fn client_does_not_follow_a_listed_symlinked_directory() {
    let s = Scene::new();
    let target = s.outside.path.as_os_str().as_encoded_bytes().to_vec();
    let fl = list(&[
        entry(b".", 4096, DIR, None),
        entry(b"d", target.len() as i64, LINK, Some(&target)),
        entry(b"d/keep.txt", 5, FILE, None),
        entry(b"d/new", 5, FILE, None),
    ]);
    let o = against_client(&s, &["-rlpt", "h:src/", "dest/"], move |from, to| {
        server_handshake(from, to);
        send(to, Wire::new().data(&fl).bytes());
        // The client's filter list (an empty one: int 0), then its requests.
        let _ = from.data(4);
        answer_requests(from, &mut |b| send(to, b), 2);
    });
    assert!(o.code.is_ok(), "{o:#?}");
    s.check(&o, o.code.clone().unwrap_or(-1), "");
    assert_ne!(o.code, Ok(0), "{o:#?}");
}

#[test]
fn client_rejects_garbage_after_the_handshake() {
    let s = Scene::new();
    let o = against_client(&s, &["-rlpt", "h:src/", "dest/"], |from, to| {
        server_handshake(from, to);
        send(to, b"\x01\x02\x03\x04garbage");
    });
    s.check(&o, 12, "");
}

#[test]
fn client_reports_a_truncated_handshake_and_list() {
    let s = Scene::new();
    let o = against_client(&s, &["-rlpt", "h:src/", "dest/"], |_, to| {
        send(to, Wire::new().int(31).bytes());
    });
    s.check(&o, 12, "");
    let s = Scene::new();
    let mut e = entry(b"a-longer-name", 5, FILE, None);
    e.truncate(5);
    let fl = [entry(b".", 4096, DIR, None), e].concat();
    let o = pull_with_list(&s, fl, "h:src/");
    s.check(&o, 12, "");
}

#[test]
fn client_rejects_a_version_that_is_text() {
    let s = Scene::new();
    let o = against_client(&s, &["-rlpt", "h:src/", "dest/"], |_, to| {
        send(to, b"Welcome to the machine\n");
    });
    s.check(&o, 2, "protocol version mismatch");
}

/// A push: the test is the server's generator and sends hostile sum heads and indices to
/// our client sender.
fn push_with_requests(scene: &Scene, requests: Vec<u8>) -> Outcome {
    against_client(scene, &["-rlpt", "src/", "h:dest/"], move |from, to| {
        server_handshake(from, to);
        // The client sends its filter list and file list; the requests can go at once.
        send(to, Wire::new().data(&requests).bytes());
        let _ = from.wait_eof();
    })
}

#[test]
fn client_sender_rejects_hostile_sum_heads_and_indices() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            request(&[0x02], [1, 700, 17, 0]),
            "strong length 17 exceeds the digest length 16",
        ),
        (request(&[0x02], [-1, 700, 2, 0]), "count is negative"),
        (
            request(&[0x02], [i32::MAX, 700, 16, 0]),
            "exceeds the limit",
        ),
        (request(&[0x06], [0, 0, 0, 0]), "Invalid file index"),
        (request(&[0xff, 0x63], [0, 0, 0, 0]), "Invalid file index"),
    ];
    for (req, msg) in cases {
        let s = Scene::new();
        let o = push_with_requests(&s, req);
        s.check(&o, 2, msg);
    }
}

// ---- The constant extension: a hostile master against `--server --constant=1` (RFC §15) ----

/// One record of RFC.md §15.3: type, varint length, body.
fn record(kind: u8, body: &[u8]) -> Vec<u8> {
    Wire::new().byte(kind).varint(body.len() as i32).raw(body).0
}

/// `HELLO` (version 1, no features, window 64) and an empty `FILTERS`.
fn constant_opening() -> Vec<u8> {
    let hello = Wire::new()
        .raw(b"rsconst\0")
        .varint(1)
        .varint(0)
        .varint(64)
        .0;
    [record(0x01, &hello), record(0x02, &Wire::new().int(0).0)].concat()
}

/// Our mirror (`--server --constant=1`): handshake, then `records` in `MSG_DATA`; the test
/// stays connected until the mirror closes its output.
fn against_mirror(scene: &Scene, records: &[u8]) -> Outcome {
    let mut p = scene.server(&["-rlpte.LsfxCIu", "--constant=1", ".", "dest/"]);
    client_handshake(&mut p);
    deliver(p, Wire::new().data(records).bytes(), false)
}

#[test]
fn mirror_rejects_malformed_records() {
    let id = |n: i64| Wire::new().varlong(n, 3).0;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // A record length above 1 MiB (only the header is sent).
        (
            Wire::new().byte(0x10).varint(2_000_000).0,
            "exceeds 1048576",
        ),
        // An unknown mandatory type.
        (record(0x05, b""), "unknown constant record type 0x05"),
        // A change before HELLO.
        (
            record(0x11, &[id(1), Wire::new().vstring(b"x").0].concat()),
            "before HELLO",
        ),
        // Id 0, then a repeated id.
        (
            [constant_opening(), record(0x18, &id(0))].concat(),
            "bad id",
        ),
        (
            [
                constant_opening(),
                record(0x18, &id(1)),
                record(0x18, &id(1)),
            ]
            .concat(),
            "ids must grow",
        ),
        // DATA for an id with no file in flight.
        (
            [constant_opening(), record(0x12, &id(7))].concat(),
            "does not expect it",
        ),
        // A body longer than its fields.
        (
            [
                constant_opening(),
                record(0x18, &[id(1), vec![0xaa]].concat()),
            ]
            .concat(),
            "trailing bytes",
        ),
    ];
    for (records, msg) in cases {
        let s = Scene::new();
        let o = against_mirror(&s, &records);
        s.check(&o, 12, msg);
    }
}

/// `..` and absolute paths in `DELETE`, and a `DELETE` beneath a symlink the master just
/// created (`ENTRY d -> outside`, then `DELETE d/keep.txt`, `DELETE d/sub`): nothing
/// outside may go.
#[test]
fn mirror_never_deletes_outside() {
    let id = |n: i64| Wire::new().varlong(n, 3).0;
    let del = |n: i64, p: &[u8]| record(0x11, &[id(n), Wire::new().vstring(p).0].concat());
    for bad in [&b"../outside/keep.txt"[..], b"/etc/hostname"] {
        let s = Scene::new();
        let o = against_mirror(&s, &[constant_opening(), del(1, bad)].concat());
        s.check(&o, 12, "");
    }
    let s = Scene::new();
    let target = s.outside.path.as_os_str().as_encoded_bytes().to_vec();
    let link = entry(b"d", target.len() as i64, LINK, Some(&target));
    let records = [
        constant_opening(),
        record(0x10, &[id(1), link].concat()),
        del(2, b"d/keep.txt"),
        del(3, b"d/sub"),
        record(0x18, &id(4)),
        record(0x1f, b""),
    ]
    .concat();
    let o = against_mirror(&s, &records);
    assert!(o.code.is_ok(), "{o:#?}");
    s.check(&o, o.code.clone().unwrap_or(-1), "");
    assert!(
        fs::symlink_metadata(s.root.join("dest/d")).is_ok_and(|m| m.file_type().is_symlink()),
        "the symlink itself was created: {o:#?}"
    );
}
