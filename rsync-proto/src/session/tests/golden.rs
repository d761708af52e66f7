//! Golden tests against stock rsync 3.5.0 captures (`tests/data/vectors/captured/raw`).

use super::fakefs::{DstDriver, Fs, Inode, Kind};
use crate::flist::FlistDecoder;
use crate::handshake::{ClientConfig, ClientInfo, CompatFlags, Handshake, Negotiated};
use crate::mux::{unmux, MuxLimits};
use crate::session::{Event, FsAnswer, FsRequest, Receiver, Sender, Session, SessionOptions};
use crate::testdata::{captures, Capture};
use rsync_core::checksum::ChecksumKind;

/// `prng:LEN:SEED` of tests/capture/filespec.py.
use rsync_tests::pseudo_random;

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len() / 2)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn spec(s: &str) -> Vec<u8> {
    let mut parts = s.split(',');
    let base: Vec<&str> = parts.next().expect("base").split(':').collect();
    let mut buf = match base.as_slice() {
        ["prng", len, seed] => {
            pseudo_random(len.parse().expect("len"), seed.parse().expect("seed"))
        }
        _ => panic!("unsupported spec {s}"),
    };
    for edit in parts {
        let f: Vec<&str> = edit.split(':').collect();
        let ["splice", off, del, h] = f.as_slice() else {
            panic!("bad edit {edit}")
        };
        let (off, del): (usize, usize) = (off.parse().expect("off"), del.parse().expect("del"));
        buf.splice(off..off + del, unhex(h));
    }
    buf
}

/// Runs our client handshake over the capture; returns the outcome, the bytes of the
/// client's side of the handshake and the server's bytes after its handshake.
fn client_handshake(cap: &Capture) -> Option<(Negotiated, usize, Vec<u8>)> {
    let info = ClientInfo::from_args(&cap.argv);
    let choice = cap
        .choice()
        .map(|c| ChecksumKind::from_name(c.as_bytes()).expect("kind"));
    let client_version = i32::from_le_bytes(cap.c2s[..4].try_into().expect("4"));
    let cfg = ClientConfig {
        protocol: u8::try_from(client_version).expect("version"),
        offered: info.server_flags(CompatFlags(0x1ff)),
        checksum_choice: choice,
        ..ClientConfig::default()
    };
    let mut c = Handshake::client(cfg).ok()?;
    let mut sent = c.poll_transmit().expect("version");
    for (i, b) in cap.s2c.iter().enumerate() {
        if let Some(n) = c.handle_input(&[*b]).ok()?.cloned() {
            sent.extend(c.poll_transmit().unwrap_or_default());
            let mut rest = c.take_remaining();
            rest.extend_from_slice(&cap.s2c[i + 1..]);
            return Some((n, sent.len(), rest));
        }
        sent.extend(c.poll_transmit().unwrap_or_default());
    }
    None
}

fn logical(bytes: &[u8], muxed: bool) -> Vec<u8> {
    if muxed {
        unmux(bytes, MuxLimits::default()).expect("mux").data
    } else {
        bytes.to_vec()
    }
}

fn pulls() -> Vec<(Capture, Negotiated, usize, Vec<u8>)> {
    captures()
        .into_iter()
        .filter(Capture::is_pull)
        .filter_map(|cap| {
            let (n, hs, rest) = client_handshake(&cap)?;
            Some((cap, n, hs, rest))
        })
        .collect()
}

/// Our client receiver fed the stock server sender's stream writes exactly what the stock
/// client wrote (filter list, requests with identical block sums, NDX_DONEs, goodbye),
/// rebuilds the file and reads the statistics.
#[test]
fn receiver_replays_captured_pulls() {
    let mut checked = 0;
    for (cap, n, hs_len, rest) in pulls() {
        let mut opts = SessionOptions::new(&n, false);
        opts.ignore_times = true;
        let mut r = Receiver::new(opts.clone()).expect("receiver");
        let basis = spec(cap.key("basis"));
        let new = spec(cap.key("new"));
        let mut fs = DstDriver::new(Fs::new().file("file", &basis, 1), opts);
        let mut out = Vec::new();
        for chunk in rest.chunks(7) {
            r.handle_input(chunk)
                .unwrap_or_else(|e| panic!("{}: {e}", cap.name));
            while fs.serve(&mut r).expect("fs") {}
            let _ = r.poll_transmit(&mut out);
        }
        let _ = r.poll_transmit(&mut out);
        let events: Vec<Event> = std::iter::from_fn(|| r.poll_event()).collect();
        let Some(Event::Done { exit_code, stats }) = events.last() else {
            panic!("{}: not done: {events:?}", cap.name);
        };
        assert_eq!(*exit_code, 0, "{}", cap.name);
        let stats = stats.expect("statistics");
        assert_eq!(stats.total_size, new.len() as i64, "{}", cap.name);
        assert!(
            matches!(fs.fs.get(b"file"), Some((_, Inode { kind: Kind::File(d), .. })) if *d == new),
            "{}",
            cap.name
        );
        let muxed = n.protocol >= 30;
        let theirs = logical(&cap.c2s[hs_len..], muxed);
        let ours = logical(&out, muxed);
        assert_eq!(ours, theirs, "{}: client bytes differ", cap.name);
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} pull captures replayed");
}

/// Our server sender fed the stock client's stream (filter list, requests, NDX_DONEs,
/// goodbye) produces the stock server's bytes up to the whole-file checksum, and a stream
/// our own receiver accepts to the end.
#[test]
fn sender_replays_captured_pulls() {
    let mut checked = 0;
    for (cap, n, hs_len, rest) in pulls() {
        // The entries the stock server sent, to give our sender the same list.
        let theirs = logical(&rest, true);
        let mut dec = FlistDecoder::new(SessionOptions::new(&n, true).flist).expect("dec");
        dec.feed(&theirs).expect("flist");
        let entries = dec.into_list().entries;
        let new = spec(cap.key("new"));
        let mut s = Sender::new(SessionOptions::new(&n, true)).expect("sender");
        let mut out = Vec::new();
        for chunk in cap.c2s[hs_len..].chunks(5) {
            s.handle_input(chunk)
                .unwrap_or_else(|e| panic!("{}: {e}", cap.name));
            while let Some(req) = s.poll_fs() {
                match req {
                    FsRequest::FileList { filter_rules, .. } => {
                        assert!(filter_rules.is_empty());
                        s.handle_fs(FsAnswer::FileList {
                            entries: entries.clone(),
                            io_error: 0,
                            uids: Default::default(),
                            gids: Default::default(),
                        })
                        .expect("list");
                    }
                    FsRequest::ReadFile { ndx, .. } => {
                        s.handle_fs(FsAnswer::FileData {
                            ndx,
                            data: new.clone(),
                        })
                        .expect("data");
                        s.handle_fs(FsAnswer::FileEnd { ndx }).expect("end");
                    }
                    other => panic!("{other:?}"),
                }
            }
            let _ = s.poll_transmit(&mut out);
        }
        assert!(s.is_done(), "{}", cap.name);
        let ours = logical(&out, true);
        let sum = unhex(cap.key("file_sum"));
        let end = theirs
            .windows(sum.len())
            .position(|w| w == sum)
            .expect("file sum in capture")
            + sum.len();
        assert_eq!(
            ours[..end],
            theirs[..end],
            "{}: server bytes differ",
            cap.name
        );

        // Our own receiver accepts our sender's complete stream.
        let mut opts = SessionOptions::new(&n, false);
        opts.ignore_times = true;
        let mut r = Receiver::new(opts.clone()).expect("receiver");
        let mut fs = DstDriver::new(Fs::new().file("file", &spec(cap.key("basis")), 1), opts);
        for b in &out {
            r.handle_input(&[*b]).expect("our stream");
            while fs.serve(&mut r).expect("fs") {}
        }
        assert!(r.is_done(), "{}", cap.name);
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} pull captures replayed");
}
