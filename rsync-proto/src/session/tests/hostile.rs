//! Hostile and truncated inputs: typed errors, never a panic.

use proptest::prelude::*;

use super::fakefs::Fs;
use super::pair::{prng, Dir, Pair};
use crate::flist::{mode, FileEntry, IdList, WirePath};
use crate::session::SessionOptions;
use crate::session::{Event, FsAnswer, FsRequest, Receiver, Sender, Session, SessionError};
use crate::wire::{NdxEncoder, WireWrite};

/// A protocol-31 server sender that has sent a list of a regular file (index 0) and a
/// directory (index 1), ready for requests.
fn sender31() -> Sender {
    let mut o = SessionOptions::plain(31, 1, true);
    o.flist = o.flist.archive();
    let mut s = Sender::new(o).expect("sender");
    s.handle_input(&frame(&[0, 0, 0, 0])).expect("filter list");
    assert!(matches!(s.poll_fs(), Some(FsRequest::FileList { .. })));
    let d = FileEntry::new(WirePath::try_from("d").expect("p"), mode::S_IFDIR | 0o755);
    let mut f = FileEntry::new(WirePath::try_from("f").expect("p"), mode::S_IFREG | 0o644);
    f.set_size(3);
    s.handle_fs(FsAnswer::FileList {
        entries: vec![f, d],
        io_error: 0,
        uids: IdList::default(),
        gids: IdList::default(),
    })
    .expect("list");
    let _ = s.poll_transmit(&mut Vec::new());
    s
}

fn frame(data: &[u8]) -> Vec<u8> {
    let mut v = vec![data.len() as u8, 0, 0, 7];
    v.extend_from_slice(data);
    v
}

fn request(ndx: i32, iflags: u16) -> Vec<u8> {
    let mut v = Vec::new();
    NdxEncoder::default().encode(ndx, &mut v);
    v.put_shortint(iflags);
    v
}

fn fails_with(bytes: &[u8]) -> SessionError {
    let mut s = sender31();
    let e = s.handle_input(&frame(bytes)).expect_err("must fail");
    assert!(s.is_done());
    let mut out = Vec::new();
    assert!(s.poll_transmit(&mut out), "MSG_ERROR_EXIT is sent");
    assert_eq!(out[out.len() - 8..], [4, 0, 0, 7 + 86, 2, 0, 0, 0]);
    let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(matches!(
        events.last(),
        Some(Event::Done { exit_code: 2, .. })
    ));
    e
}

#[test]
fn out_of_range_index() {
    assert!(matches!(
        fails_with(&request(7, 0x8000)),
        SessionError::InvalidIndex { ndx: 7, count: 2 }
    ));
}

#[test]
fn transfer_of_a_directory() {
    assert!(matches!(
        fails_with(&request(1, 0x8000)),
        SessionError::NotRegular { ndx: 1 }
    ));
}

#[test]
fn unknown_iflags_and_basis_type() {
    assert!(matches!(
        fails_with(&request(0, 0x8200)),
        SessionError::UnknownIflags { iflags: 0x8200 }
    ));
    let mut b = request(0, 0x8800);
    b.push(0x83);
    assert!(matches!(
        fails_with(&b),
        SessionError::UnsupportedBasisType { kind: 0x83 }
    ));
}

#[test]
fn transfer_request_in_phase_2() {
    let mut b = vec![0, 0];
    b.extend(request(0, 0x8000));
    b.extend([0u8; 16]);
    let e = fails_with(&b);
    assert!(
        matches!(e, SessionError::TransferInPhase2 { ndx: 0 }),
        "{e}"
    );
}

#[test]
fn hostile_sum_head() {
    let mut b = request(0, 0x8000);
    for v in [1, 0, 2, 0] {
        b.put_int(v);
    }
    assert!(matches!(fails_with(&b), SessionError::Sums(_)));
}

#[test]
fn peer_error_exit_is_echoed() {
    let mut s = sender31();
    // The session ends, and says why.
    assert!(matches!(
        s.handle_input(&[4, 0, 0, 7 + 86, 23, 0, 0, 0]),
        Err(SessionError::PeerExit { code: 23 })
    ));
    let mut out = Vec::new();
    assert!(s.poll_transmit(&mut out));
    assert_eq!(
        out,
        [0, 0, 0, 7 + 86],
        "the sender echoes an empty MSG_ERROR_EXIT"
    );
    let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(matches!(
        events.last(),
        Some(Event::Done { exit_code: 23, .. })
    ));
}

#[test]
fn truncated_streams_end_in_eof_errors() {
    for p in [27, 29, 30, 31] {
        let src = Fs::new().file("f", &prng(3000, 1), 1);
        let mut pair = Pair::new(p, Dir::Pull, src, Fs::new());
        pair.drive_bounded(1000).expect("session");
        let full = pair.s2r_log.clone();
        for cut in [0, 1, full.len() / 3, full.len() / 2, full.len() - 1] {
            let o = SessionOptions::plain(p, 0x1234_5678, false);
            let mut r = Receiver::new(o).expect("receiver");
            let _ = r.handle_input(&full[..cut]);
            let e = r.handle_eof();
            assert!(
                matches!(e, Err(SessionError::UnexpectedEof { .. })) || r.is_done(),
                "p{p} cut {cut}: {e:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary bytes never panic either role.
    #[test]
    fn arbitrary_bytes_never_panic(
        p in prop::sample::select(vec![27u8, 29, 30, 31]),
        server in any::<bool>(),
        bytes in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut s = Sender::new(SessionOptions::plain(p, 1, server)).expect("sender");
        let _ = s.handle_input(&bytes);
        let _ = s.handle_eof();
        let mut r = Receiver::new(SessionOptions::plain(p, 1, server)).expect("receiver");
        let _ = r.handle_input(&bytes);
        let _ = r.handle_eof();
        // A sender fed after its list was sent.
        let mut s = sender31();
        let _ = s.handle_input(&frame(&bytes[..bytes.len().min(200)]));
    }
}

#[test]
fn deletion_statistics_are_bounded() {
    let mut b = Vec::new();
    let mut enc = NdxEncoder::default();
    enc.encode(-3, &mut b);
    for v in [1, 2, 3, 4] {
        b.put_varint(v);
    }
    b.put_varint(1 << 29);
    assert!(matches!(
        fails_with(&b),
        SessionError::OutOfRange {
            value: 536_870_912,
            ..
        }
    ));
}

#[test]
fn deletion_statistics_are_echoed_by_a_server_sender() {
    let mut s = sender31();
    let mut b = Vec::new();
    NdxEncoder::default().encode(-3, &mut b);
    for v in [5, 2, 1, 0, 0] {
        b.put_varint(v);
    }
    s.handle_input(&frame(&b)).expect("del stats");
    let mut out = Vec::new();
    assert!(s.poll_transmit(&mut out));
    assert_eq!(out, frame(&b), "passed on unchanged");
}

#[test]
fn deleted_messages_from_the_peer() {
    let mut s = sender31();
    let msg = |payload: &[u8]| {
        let mut v = vec![payload.len() as u8, 0, 0, 7 + 101];
        v.extend_from_slice(payload);
        v
    };
    for bad in [&b"/etc/passwd"[..], b"../up", b"a/../../b", b""] {
        s.handle_input(&msg(bad)).expect("ignored");
    }
    s.handle_input(&msg(b"dir\0")).expect("a directory");
    s.handle_input(&msg(b"sub/f")).expect("a file");
    let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    let names: Vec<(Vec<u8>, bool)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Deleted { name, is_dir } => Some((name.as_bytes().to_vec(), *is_dir)),
            _ => None,
        })
        .collect();
    assert_eq!(names, [(b"dir".to_vec(), true), (b"sub/f".to_vec(), false)]);
}

#[test]
fn malformed_error_exit() {
    let mut s = sender31();
    let e = s
        .handle_input(&[2, 0, 0, 7 + 86, 1, 0])
        .expect_err("2-byte MSG_ERROR_EXIT");
    // rsync: "invalid multi-message", exit 12.
    assert_eq!(
        e,
        SessionError::Mux(crate::mux::MuxError::BadLength {
            code: crate::mux::MsgCode::ErrorExit,
            len: 2
        })
    );
    assert_eq!(e.exit_code(), 12);
}

/// A protocol-31 server receiver with `--delete` fed `bytes` after a valid filter list.
fn server_receiver31() -> Receiver {
    let mut o = SessionOptions::plain(31, 1, true);
    o.delete = Some(crate::session::DeleteTiming::Auto);
    Receiver::new(o).expect("receiver")
}

#[test]
fn server_receiver_filter_list_bounds() {
    let mut r = server_receiver31();
    let mut b = Vec::new();
    b.put_int(9000);
    let e = r.handle_input(&frame(&b)).expect_err("too long");
    assert!(matches!(e, SessionError::FilterTooLong { len: 9000 }));
    let mut r = server_receiver31();
    let mut b = Vec::new();
    b.put_int(-1);
    assert!(r.handle_input(&frame(&b)).is_err());
}

#[test]
fn entry_without_its_parent_directory_is_refused() {
    // A list of "a/b" alone: its parent is not in the list.
    let mut o = SessionOptions::plain(31, 1, false);
    o.flist = o.flist.archive();
    let mut r = Receiver::new(o.clone()).expect("receiver");
    let mut e = FileEntry::new(WirePath::try_from("a/b").expect("p"), mode::S_IFREG | 0o644);
    e.set_size(1);
    let list = crate::flist::FileList {
        entries: vec![e],
        ..Default::default()
    };
    let bytes = crate::flist::encode_file_list(&o.flist, &list).expect("encode");
    let err = r.handle_input(&frame(&bytes)).expect_err("refused");
    assert!(matches!(err, SessionError::BadPath { .. }), "{err:?}");
    assert!(r.is_done());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary records after a valid file list never panic a receiver, whatever it
    /// preserves.
    #[test]
    fn arbitrary_records_never_panic_a_receiver(
        p in prop::sample::select(vec![27u8, 29, 30, 31]),
        dry in any::<bool>(),
        bytes in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let src = Fs::new().file("f", b"data", 1).dir("d").symlink("d/l", "f");
        let mut pair = Pair::with_options(p, Dir::Pull, src, Fs::new(), |o| {
            o.dry_run = dry;
            o.flist.preserve_hard_links = true;
            o.delete = Some(crate::session::DeleteTiming::Auto);
        });
        for _ in 0..4 {
            if pair.step().is_err() {
                break;
            }
        }
        let chunk = if p >= 30 { frame(&bytes[..bytes.len().min(250)]) } else { bytes.clone() };
        let _ = pair.receiver.handle_input(&chunk);
        let _ = pair.dst.serve(&mut pair.receiver);
        let _ = pair.receiver.handle_eof();
    }
}
