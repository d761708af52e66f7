//! Tests of the multiplexed framing: hex vectors, properties and the captured streams.

use super::*;
use crate::testdata::captures;
use crate::WireReader;
use proptest::prelude::*;

fn decode_all(dec: &mut MuxDecoder) -> Result<Vec<Frame>, MuxError> {
    let mut v = Vec::new();
    while let Some(f) = dec.poll_frame()? {
        v.push(f);
    }
    Ok(v)
}

#[test]
fn header_vectors() {
    // RFC.md §5 [mux-header]: observed `6e 00 00 07` is MSG_DATA with 110 bytes.
    let h = FrameHeader::parse([0x6e, 0x00, 0x00, 0x07], &MuxLimits::default());
    assert_eq!(
        h,
        Ok(FrameHeader {
            code: MsgCode::Data,
            len: 110
        })
    );
    let h = FrameHeader {
        code: MsgCode::ErrorExit,
        len: 4,
    };
    assert_eq!(h.to_bytes(), [0x04, 0x00, 0x00, 0x5d]);
    let h = FrameHeader {
        code: MsgCode::NoSend,
        len: 0x012345,
    };
    assert_eq!(h.to_bytes(), [0x45, 0x23, 0x01, 0x6d]);
    for code in MsgCode::ALL {
        assert_eq!(MsgCode::from_code(code.code()), Some(code));
    }
    assert_eq!(MsgCode::IoError.code(), 22);
    assert_eq!(MsgCode::IoTimeout.code(), 33);
    assert_eq!(MsgCode::Noop.code(), 42);
    assert_eq!(MsgCode::ErrorExit.code(), 86);
    assert_eq!(MsgCode::Success.code(), 100);
    assert_eq!(MsgCode::Deleted.code(), 101);
}

#[test]
fn hostile_headers_are_typed_errors() {
    let lim = MuxLimits::default();
    assert_eq!(
        FrameHeader::parse([0, 0, 0, 0x06], &lim),
        Err(MuxError::BadTag {
            header: 0x0600_0000,
            tag: 6
        })
    );
    for code in 5u8..=10 {
        assert_eq!(
            FrameHeader::parse([0, 0, 0, 7 + code], &lim),
            Err(MuxError::InternalCode { code })
        );
    }
    assert_eq!(
        FrameHeader::parse([0, 0, 0, 7 + 11], &lim),
        Err(MuxError::UnknownCode { code: 11 })
    );
    assert_eq!(
        FrameHeader::parse([0, 0, 0, 0xff], &lim),
        Err(MuxError::UnknownCode { code: 0xf8 })
    );
    // A log message of 64 KiB + 1 is refused before any payload arrives.
    let mut dec = MuxDecoder::default();
    dec.push(&[0x01, 0x00, 0x01, 0x09]);
    assert_eq!(
        dec.poll_frame(),
        Err(MuxError::TooLong {
            code: MsgCode::Info,
            len: 0x10001,
            max: MAX_TEXT_MESSAGE
        })
    );
    // The decoder stays failed.
    dec.push(&[0, 0, 0, 7]);
    assert!(dec.poll_frame().is_err());
    // A configured data bound.
    let mut dec = MuxDecoder::with_limits(MuxLimits {
        max_data: 0x8000,
        max_message: 16,
    });
    dec.push(&[0x01, 0x80, 0x00, 0x07]);
    assert_eq!(
        dec.poll_frame(),
        Err(MuxError::TooLong {
            code: MsgCode::Data,
            len: 0x8001,
            max: 0x8000
        })
    );
    // Default bounds accept the largest header-encodable DATA frame (waits for it).
    let mut dec = MuxDecoder::default();
    dec.push(&[0xff, 0xff, 0xff, 0x07]);
    assert_eq!(dec.poll_frame(), Ok(None));
}

#[test]
fn encoder_splits_and_keepalive() {
    let enc = MuxEncoder::with_max_data_frame(4);
    let mut out = Vec::new();
    enc.encode_data(b"abcdefghij", &mut out);
    assert_eq!(
        out,
        b"\x04\x00\x00\x07abcd\x04\x00\x00\x07efgh\x02\x00\x00\x07ij".to_vec()
    );
    let mut out = Vec::new();
    enc.encode_data(b"", &mut out);
    assert!(out.is_empty(), "empty data writes no frame");
    enc.encode_keepalive(&mut out);
    assert_eq!(out, [0, 0, 0, 7]);
    let mut dec = MuxDecoder::default();
    dec.push(&out);
    assert_eq!(dec.poll_frame(), Ok(Some(Frame::Data(Vec::new()))));
    assert_eq!(MuxEncoder::default().max_data_frame(), 32 * 1024);
    assert_eq!(MuxEncoder::with_max_data_frame(0).max_data_frame(), 1);
    let big = vec![0u8; MAX_FRAME_LEN as usize + 1];
    assert!(matches!(
        enc.encode_message(MsgCode::Data, &big, &mut Vec::new()),
        Err(MuxError::TooLong { .. })
    ));
}

#[test]
fn unmux_reports_truncation() {
    assert_eq!(
        unmux(&[0x05, 0, 0], MuxLimits::default()),
        Err(MuxError::Truncated { needed: 1 })
    );
    assert_eq!(
        unmux(&[0x05, 0, 0, 7, b'a'], MuxLimits::default()),
        Err(MuxError::Truncated { needed: 4 })
    );
    let u = unmux(
        b"\x01\x00\x00\x07a\x00\x00\x00\x07\x01\x00\x00\x07b",
        MuxLimits::default(),
    );
    assert_eq!(
        u,
        Ok(Unmuxed {
            data: b"ab".to_vec(),
            messages: vec![],
            data_frames: 3
        })
    );
}

/// Bytes of the s2c handshake, skipped with the primitive codecs and the capture's metadata.
fn s2c_handshake_len(cap: &crate::testdata::Capture) -> usize {
    let mut r = WireReader::new(&cap.s2c);
    r.int().expect("version");
    if cap.protocol() >= 30 {
        let compat = r.varint().expect("compat");
        if compat & 0x80 != 0 && cap.choice().is_none() {
            r.vstring().expect("list");
        }
    }
    r.int().expect("seed");
    r.position()
}

#[test]
fn captured_server_streams_demultiplex() {
    for cap in captures() {
        let skip = s2c_handshake_len(&cap);
        let u = unmux(&cap.s2c[skip..], MuxLimits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", cap.name));
        assert!(u.data_frames > 0, "{}", cap.name);
        // Only MSG_DATA is used by these sessions (no log lines, no errors).
        assert_eq!(u.messages, vec![], "{}", cap.name);
        // A stock server writes at most 32 KiB per frame (IO_BUFFER_SIZE)...
        let mut dec = MuxDecoder::with_limits(MuxLimits {
            max_data: RSYNC_DATA_FRAME as u32,
            max_message: 0,
        });
        dec.push(&cap.s2c[skip..]);
        let frames = decode_all(&mut dec).unwrap_or_else(|e| panic!("{}: {e}", cap.name));
        assert_eq!(frames.len(), u.data_frames);
        // ... and any split gives the same frames.
        let mut dec = MuxDecoder::default();
        let mut split = Vec::new();
        for chunk in cap.s2c[skip..].chunks(7) {
            dec.push(chunk);
            split.extend(decode_all(&mut dec).expect("split"));
        }
        assert_eq!(split, frames, "{}", cap.name);
        if cap.is_pull() {
            // The server is the sender: the stream starts with the file list, whose first
            // entry is the file `file` (flags, name length, name).
            assert!(
                u.data.windows(4).any(|w| w == b"file"),
                "{}: no file list",
                cap.name
            );
        }
    }
}

#[test]
fn captured_client_streams_multiplexed_from_protocol_30() {
    for cap in captures() {
        // The client's handshake is its version, then the negotiation list if any.
        let mut r = WireReader::new(&cap.c2s);
        r.int().expect("version");
        let s2c_compat = if cap.protocol() >= 30 {
            cap.compat()
        } else {
            0
        };
        if s2c_compat & 0x80 != 0 && cap.choice().is_none() {
            r.vstring().expect("list");
        }
        let rest = &cap.c2s[r.position()..];
        let u = unmux(rest, MuxLimits::default());
        if cap.protocol() >= 30 {
            let u = u.unwrap_or_else(|e| panic!("{}: {e}", cap.name));
            assert!(u.data_frames > 0 && u.messages.is_empty(), "{}", cap.name);
        } else if cap.is_pull() {
            // Below 30 the client writes raw bytes: the filter list's final int 0 first.
            assert_eq!(&rest[..4], [0, 0, 0, 0]);
            assert!(
                matches!(u, Err(MuxError::BadTag { tag: 0, .. })),
                "{}",
                cap.name
            );
        }
    }
}

/// Frames of every code, each with a length its code allows.
fn arb_frames() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    proptest::collection::vec(
        (
            proptest::sample::select(MsgCode::ALL.map(MsgCode::code).to_vec()),
            proptest::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(code, mut p)| {
                let fixed = MsgCode::from_code(code).and_then(MsgCode::fixed_lengths);
                if let Some(lengths) = fixed {
                    let len = lengths[p.len() % lengths.len()] as usize;
                    p.resize(len, 0);
                }
                (code, p)
            }),
        0..12,
    )
}

proptest! {
    #[test]
    fn split_invariance(frames in arb_frames(), cuts in proptest::collection::vec(0usize..4000, 0..10)) {
        let enc = MuxEncoder::default();
        let mut wire = Vec::new();
        for (code, p) in &frames {
            let code = MsgCode::from_code(*code).expect("valid");
            enc.encode_message(code, p, &mut wire).expect("small");
        }
        let mut whole = MuxDecoder::default();
        whole.push(&wire);
        let expect = decode_all(&mut whole).expect("valid stream");
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        let mut dec = MuxDecoder::default();
        let mut got = Vec::new();
        let mut at = 0;
        for c in cuts.into_iter().chain([wire.len()]) {
            dec.push(&wire[at..c]);
            at = c;
            got.extend(decode_all(&mut dec).expect("valid stream"));
        }
        prop_assert_eq!(got, expect);
        prop_assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn encode_decode_round_trip(frames in arb_frames(), data in proptest::collection::vec(any::<u8>(), 0..3000), max in 1usize..700) {
        let enc = MuxEncoder::with_max_data_frame(max);
        let mut wire = Vec::new();
        enc.encode_data(&data, &mut wire);
        for (code, p) in &frames {
            enc.encode_message(MsgCode::from_code(*code).expect("valid"), p, &mut wire).expect("small");
        }
        let mut dec = MuxDecoder::default();
        dec.push(&wire);
        let got = decode_all(&mut dec).expect("valid");
        let n_data = data.len().div_ceil(max);
        let (first, rest) = got.split_at(n_data);
        let mut joined = Vec::new();
        for f in first {
            match f {
                Frame::Data(d) => { prop_assert!(!d.is_empty() && d.len() <= max); joined.extend_from_slice(d) }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert_eq!(joined, data);
        prop_assert_eq!(rest.len(), frames.len());
        for (f, (code, p)) in rest.iter().zip(&frames) {
            let want = match MsgCode::from_code(*code).expect("valid") {
                MsgCode::Data => Frame::Data(p.clone()),
                c => Frame::Message { code: c, payload: p.clone() },
            };
            prop_assert_eq!(f, &want);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)) {
        let mut dec = MuxDecoder::with_limits(MuxLimits { max_data: 100, max_message: 10 });
        let mut all = Vec::new();
        for c in &chunks {
            dec.push(c);
            all.extend_from_slice(c);
            loop {
                match dec.poll_frame() {
                    Ok(Some(Frame::Data(d))) => prop_assert!(d.len() <= 100),
                    Ok(Some(Frame::Message { payload, .. })) => prop_assert!(payload.len() <= 10),
                    Ok(None) | Err(_) => break,
                }
            }
        }
        let _ = unmux(&all, MuxLimits::default());
    }
}

/// rsync 3.5.0's io.c `read_a_msg`: a text message of `BIGPATHBUFLEN` (5,120) bytes or more
/// is "multiplexing overflow", a message of fixed size with another length "invalid
/// multi-message" (both exit 12, the session's code for any [`MuxError`]).
#[test]
fn per_code_limits_are_rsyncs() {
    let lim = MuxLimits::default();
    let header = |code: MsgCode, len: u32| FrameHeader { code, len }.to_bytes();
    for code in [
        MsgCode::Info,
        MsgCode::Error,
        MsgCode::ErrorXfer,
        MsgCode::Warning,
        MsgCode::Deleted,
    ] {
        assert!(code.is_text());
        assert_eq!(
            FrameHeader::parse(header(code, 5119), &lim),
            Ok(FrameHeader { code, len: 5119 }),
            "{code:?}: the longest rsync accepts"
        );
        assert_eq!(
            FrameHeader::parse(header(code, 5120), &lim),
            Err(MuxError::TooLong {
                code,
                len: 5120,
                max: 5119
            }),
            "{code:?}: BIGPATHBUFLEN is refused"
        );
    }
    let fixed: [(MsgCode, &[u32]); 6] = [
        (MsgCode::IoError, &[4]),
        (MsgCode::IoTimeout, &[4]),
        (MsgCode::Success, &[4]),
        (MsgCode::NoSend, &[4]),
        (MsgCode::Noop, &[0]),
        (MsgCode::ErrorExit, &[0, 4]),
    ];
    for (code, ok) in fixed {
        assert!(!code.is_text());
        for len in [0u32, 1, 2, 3, 4, 5, 8, 20, 5119, 0xFF_FFFF] {
            let got = FrameHeader::parse(header(code, len), &lim);
            if ok.contains(&len) {
                assert_eq!(got, Ok(FrameHeader { code, len }), "{code:?} {len}");
            } else {
                assert_eq!(
                    got,
                    Err(MuxError::BadLength { code, len }),
                    "{code:?} {len}"
                );
            }
        }
    }
    // MSG_DATA keeps its own bound, far above the text limit.
    assert!(FrameHeader::parse(header(MsgCode::Data, 0x8000), &lim).is_ok());
    // The decoder refuses on the header, before any payload is buffered.
    let mut dec = MuxDecoder::default();
    dec.push(&header(MsgCode::Error, 5120));
    assert!(matches!(dec.poll_frame(), Err(MuxError::TooLong { .. })));
    let mut dec = MuxDecoder::default();
    dec.push(&header(MsgCode::ErrorExit, 2));
    dec.push(&[1, 0]);
    assert_eq!(
        dec.poll_frame(),
        Err(MuxError::BadLength {
            code: MsgCode::ErrorExit,
            len: 2
        })
    );
}

#[test]
fn the_encoder_keeps_to_the_limits() {
    let enc = MuxEncoder::default();
    // A text longer than rsync accepts is cut to the longest it accepts, newline kept.
    let mut long = vec![b'x'; 9000];
    long.push(b'\n');
    let mut wire = Vec::new();
    enc.encode_message(MsgCode::Error, &long, &mut wire)
        .expect("a long text is cut, not refused");
    let u = unmux(&wire, MuxLimits::default()).expect("our own frame decodes");
    let [(code, text)] = u.messages.as_slice() else {
        panic!("one message: {:?}", u.messages);
    };
    assert_eq!(*code, MsgCode::Error);
    assert_eq!(text.len(), MAX_TEXT_MESSAGE as usize);
    assert_eq!(text.last(), Some(&b'\n'));
    assert!(text[..text.len() - 1].iter().all(|&b| b == b'x'));
    // At the limit, nothing changes.
    let exact = vec![b'y'; MAX_TEXT_MESSAGE as usize];
    let mut wire = Vec::new();
    enc.encode_message(MsgCode::Info, &exact, &mut wire)
        .expect("fits");
    assert_eq!(&wire[4..], exact.as_slice());
    // A message of fixed size is never written with another length.
    for (code, bad) in [
        (MsgCode::NoSend, 3usize),
        (MsgCode::ErrorExit, 2),
        (MsgCode::Noop, 1),
    ] {
        let mut wire = Vec::new();
        assert_eq!(
            enc.encode_message(code, &vec![0; bad], &mut wire),
            Err(MuxError::BadLength {
                code,
                len: bad as u32
            })
        );
        assert!(wire.is_empty(), "{code:?}: nothing written");
    }
}
