//! Out-of-band messages from a hostile client against our server, with rsync 3.5.0's
//! limits (io.c `read_a_msg`, RFC.md §5 `[mux-limits]`): a text message (`MSG_INFO`,
//! `MSG_ERROR`, `MSG_ERROR_XFER`, `MSG_WARNING`, `MSG_DELETED`) of `BIGPATHBUFLEN` (5,120)
//! bytes or more is "multiplexing overflow", and a message of fixed size with another length
//! is "invalid multi-message": both end the run with 12 (error in the data stream) before
//! the payload is read. A text of 5,119 bytes is accepted (and shown).
//!
//! The test plays the client with hand-made bytes (`rsync_tests::hostile`) against
//! `rsync-constant --server --sender` spawned with pipes; each case has a hard deadline.
//! Needs the binary (found next to the test executable, or through `RSYNC_CONSTANT_BIN`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure is a test failure

use std::ffi::OsString;
use std::fs;
use std::time::{Duration, Instant};

use rsync_tests::hostile::{Outcome, Proc, Wire};
use rsync_tests::peers::ours_binary;

/// The hard bound of one case.
const BOUND: Duration = Duration::from_secs(30);

/// Our server's capability letters without `v` (RFC.md §6.3).
const CLUSTER: &str = "-logDtpre.LsfxCIu";

/// Message codes (RFC.md §5.2 `[msg-code]`).
const MSG_ERROR_XFER: u8 = 1;
const MSG_INFO: u8 = 2;
const MSG_ERROR: u8 = 3;
const MSG_WARNING: u8 = 4;
const MSG_IO_ERROR: u8 = 22;
const MSG_IO_TIMEOUT: u8 = 33;
const MSG_NOOP: u8 = 42;
const MSG_ERROR_EXIT: u8 = 86;
const MSG_SUCCESS: u8 = 100;
const MSG_DELETED: u8 = 101;
const MSG_NO_SEND: u8 = 102;

/// Our server sending `src/` to the test, which completes the protocol-31 handshake and
/// sends an empty filter list, then `frames`, then stays connected until the server has
/// closed its output (or hangs up at once when `hang_up`).
fn against_server(frames: &[u8], hang_up: bool) -> Outcome {
    let tmp = tempfile::Builder::new()
        .prefix("hostile-msg")
        .tempdir()
        .unwrap();
    fs::create_dir(tmp.path().join("src")).unwrap();
    fs::write(tmp.path().join("src/a"), b"a file\n").unwrap();
    let ours = ours_binary().unwrap();
    let args: Vec<OsString> = ["--server", "--sender", CLUSTER, ".", "src/"]
        .iter()
        .map(OsString::from)
        .collect();
    let mut p = Proc::spawn(&ours, &args, tmp.path(), true, Instant::now() + BOUND).unwrap();
    p.send(Wire::new().int(31).bytes()).unwrap();
    let out = p.out();
    let version = out.int().unwrap();
    assert!((31..=32).contains(&version), "server version {version}");
    let _flags = out.varint().unwrap();
    let _seed = out.int().unwrap();
    let w = Wire::new().data(&Wire::new().int(0).0).raw(frames);
    let _ = p.send(w.bytes());
    if hang_up {
        p.close_stdin();
    } else {
        let _ = p.out().wait_eof();
    }
    p.finish()
}

fn check_refused(o: &Outcome, what: &str, says: &str) {
    assert!(!o.stderr.contains("panicked"), "{what}: {o:#?}");
    assert_eq!(o.code, Ok(12), "{what}: rsync's code; {o:#?}");
    assert!(
        o.stderr.contains(says),
        "{what}: stderr lacks {says:?}; {o:#?}"
    );
}

/// A text message one byte over rsync's limit is refused from its header, for every text
/// code; one of exactly 5,119 bytes is accepted and shown (the run then ends on the hang-up).
#[test]
fn text_messages_are_limited_as_rsync_limits_them() {
    for code in [
        MSG_ERROR_XFER,
        MSG_INFO,
        MSG_ERROR,
        MSG_WARNING,
        MSG_DELETED,
    ] {
        // Only the header: the server must refuse before waiting for the payload.
        let header = ((u32::from(code) + 7) << 24) | 5120;
        let o = against_server(&header.to_le_bytes(), false);
        check_refused(
            &o,
            &format!("code {code}, 5120 bytes"),
            "exceeds the limit of 5119",
        );
    }
    // The longest accepted: an error line the server shows on its stderr.
    let mut text = b"hostile-marker ".to_vec();
    text.resize(5118, b'x');
    text.push(b'\n');
    assert_eq!(text.len(), 5119);
    let o = against_server(Wire::new().frame(MSG_ERROR, &text).bytes(), true);
    assert!(!o.stderr.contains("panicked"), "{o:#?}");
    assert!(
        o.stderr.contains("hostile-marker xxxx"),
        "a 5119-byte MSG_ERROR is accepted and shown; {o:#?}"
    );
    assert!(!o.stderr.contains("exceeds the limit"), "{o:#?}");
    assert_eq!(o.code, Ok(12), "the hang-up: {o:#?}");
}

/// Messages of fixed size with another length: rsync's "invalid multi-message", 12.
#[test]
fn fixed_size_messages_of_another_length_are_refused() {
    for (code, len) in [
        (MSG_NOOP, 1usize),
        (MSG_IO_ERROR, 3),
        (MSG_IO_ERROR, 8),
        (MSG_IO_TIMEOUT, 2),
        (MSG_ERROR_EXIT, 2),
        (MSG_ERROR_EXIT, 8),
        (MSG_SUCCESS, 20),
        (MSG_NO_SEND, 5),
    ] {
        let o = against_server(Wire::new().frame(code, &vec![0u8; len]).bytes(), false);
        check_refused(
            &o,
            &format!("code {code}, {len} bytes"),
            "invalid multi-message",
        );
    }
}
