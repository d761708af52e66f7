//! Round trips and hostile input for the constant extension's records.

use crate::constant::*;
use crate::flist::{mode, FileEntry, FlistOptions, WirePath};
use crate::wire::WireWrite;
use proptest::prelude::*;
use rsync_core::{Limits, SumHead};

fn ctx() -> RecordContext {
    let mut flist = FlistOptions::new(31).archive();
    flist.inc_recurse = true;
    RecordContext {
        flist,
        digest_len: 16,
        file_sum_len: 16,
        limits: Limits::default(),
    }
}

fn path(p: &[u8]) -> WirePath {
    WirePath::new(p.to_vec()).unwrap()
}

fn file(name: &[u8]) -> FileEntry {
    let mut e = FileEntry::new(path(name), mode::S_IFREG | 0o644);
    e.set_size(123_456_789);
    e.set_mtime(1_700_000_000);
    e.mtime_nsec = 987_654_321;
    e.uid = 1000;
    e.gid = 100;
    e
}

fn masters() -> Vec<MasterRecord> {
    let mut link = FileEntry::new(path(b"a/link"), mode::S_IFLNK | 0o777);
    link.set_symlink(Some(b"../target \xff".to_vec()));
    let mut tokens = Vec::new();
    crate::token::encode_token(rsync_core::Token::Literal(b"hello"), &mut tokens);
    crate::token::encode_token(rsync_core::Token::Copy(3), &mut tokens);
    vec![
        MasterRecord::Hello(Hello {
            version: 1,
            features: 0,
            window: 1024,
        }),
        MasterRecord::Filters(vec![0, 0, 0, 0]),
        MasterRecord::Entry {
            id: 1,
            entry: file(b"dir/file\n name"),
        },
        MasterRecord::Entry { id: 2, entry: link },
        MasterRecord::Delete {
            id: 3,
            path: path(b"gone"),
        },
        MasterRecord::Data {
            id: 1,
            tokens: tokens.clone(),
        },
        MasterRecord::DataEnd {
            id: 1,
            checksum: vec![0xab; 16],
        },
        MasterRecord::Abort { id: 1 << 40 },
        MasterRecord::HardLink {
            id: 4,
            path: path(b"b"),
            target: path(b"a"),
        },
        MasterRecord::DirBegin {
            id: 5,
            path: path(b"."),
        },
        MasterRecord::DirEnd {
            id: 6,
            path: path(b"."),
        },
        MasterRecord::BatchEnd { id: 7 },
        MasterRecord::Bye,
    ]
}

fn mirrors() -> Vec<MirrorRecord> {
    let head = SumHead {
        count: 2,
        block_len: 700,
        strong_len: 2,
        remainder: 10,
    };
    vec![
        MirrorRecord::Hello(Hello {
            version: 1,
            features: 0,
            window: 64,
        }),
        MirrorRecord::Sums {
            id: 9,
            head,
            sums: vec![1, 2, 3, 4, 5, 6],
        },
        MirrorRecord::SumsMore {
            id: 9,
            sums: vec![7, 8, 9, 10, 11, 12],
        },
        MirrorRecord::Ack {
            id: 9,
            status: 23,
            message: b"open \"x\" failed: Permission denied (13)".to_vec(),
        },
        MirrorRecord::WantTree {
            id: 10,
            path: path(b"new dir"),
        },
        MirrorRecord::Bye,
    ]
}

/// Every record through one stream cut at `cuts`, decoded back.
fn master_stream(cut: usize) {
    let c = ctx();
    let mut wire = Vec::new();
    for r in masters() {
        r.encode(&c, &mut wire).unwrap();
    }
    let mut reader = RecordReader::new();
    let mut got = Vec::new();
    for chunk in wire.chunks(cut.max(1)) {
        reader.push(chunk);
        while let Some((k, body)) = reader.next_frame().unwrap() {
            got.push(decode_master(&c, k, &body).unwrap().unwrap());
        }
    }
    assert_eq!(reader.pending(), 0);
    assert_eq!(got, masters());
}

#[test]
fn master_records_round_trip_in_any_chunking() {
    for cut in [1, 2, 3, 7, 64, 100_000] {
        master_stream(cut);
    }
}

#[test]
fn mirror_records_round_trip() {
    let c = ctx();
    let mut wire = Vec::new();
    for r in mirrors() {
        r.encode(&mut wire).unwrap();
    }
    let mut reader = RecordReader::new();
    reader.push(&wire);
    let mut got = Vec::new();
    while let Some((k, body)) = reader.next_frame().unwrap() {
        got.push(decode_mirror(&c, k, &body).unwrap().unwrap());
    }
    assert_eq!(got, mirrors());
}

#[test]
fn layout_matches_the_rfc() {
    // ACK id 7 status 0, empty message: type 0x31, length 5, id as varlong(3) = 00 07 00,
    // status varint 00, vstring length 00.
    let mut wire = Vec::new();
    MirrorRecord::Ack {
        id: 7,
        status: 0,
        message: Vec::new(),
    }
    .encode(&mut wire)
    .unwrap();
    assert_eq!(wire, [0x31, 0x05, 0x00, 0x07, 0x00, 0x00, 0x00]);
    let mut wire = Vec::new();
    MasterRecord::Hello(Hello {
        version: 1,
        features: 0,
        window: 64,
    })
    .encode(&ctx(), &mut wire)
    .unwrap();
    assert_eq!(wire, b"\x01\x0brsconst\0\x01\x00\x40");
}

fn reject(kind: u8, body: &[u8]) -> RecordError {
    let c = ctx();
    // Types 0x30 to 0x3f travel from the mirror, the others from the master.
    let got = if (0x30..0x40).contains(&kind) {
        decode_mirror(&c, kind, body).map(|r| format!("{r:?}"))
    } else {
        decode_master(&c, kind, body).map(|r| format!("{r:?}"))
    };
    match got {
        Err(e) => e,
        Ok(r) => panic!("accepted {kind:#x} {body:?}: {r}"),
    }
}

#[test]
fn hostile_records_are_refused() {
    // Over-long length, from the header alone.
    let mut r = RecordReader::new();
    let mut head = vec![kind::DATA];
    head.put_varint((MAX_RECORD_LEN + 1) as i32);
    r.push(&head);
    assert!(matches!(r.next_frame(), Err(RecordError::TooLong { .. })));
    assert!(r.next_frame().is_err(), "errors are final");
    // Negative length.
    let mut r = RecordReader::new();
    let mut head = vec![kind::DATA];
    head.put_varint(-1);
    r.push(&head);
    assert!(matches!(r.next_frame(), Err(RecordError::TooLong { .. })));

    let c = ctx();
    // Unknown mandatory type; unknown optional type is skipped.
    assert_eq!(
        decode_master(&c, 0x7f, &[]),
        Err(RecordError::UnknownType(0x7f))
    );
    assert_eq!(decode_master(&c, 0x80, &[1, 2, 3]), Ok(None));
    assert_eq!(decode_mirror(&c, 0xff, &[]), Ok(None));
    // A mirror type is not a master record and the reverse.
    assert!(decode_master(&c, kind::SUMS, &[0, 7, 0]).is_err());
    assert!(decode_mirror(&c, kind::ENTRY, &[0, 7, 0]).is_err());
    // Bad magic.
    assert_eq!(
        decode_master(&c, kind::HELLO, b"rsync\0\0\0\x01\x00\x40"),
        Err(RecordError::BadMagic)
    );
    // Trailing bytes, zero id, truncated id.
    assert!(matches!(
        reject(kind::BATCH_END, &[0, 7, 0, 1]),
        RecordError::Malformed { .. }
    ));
    assert!(matches!(
        reject(kind::BATCH_END, &[0, 0, 0]),
        RecordError::Malformed { .. }
    ));
    assert!(matches!(
        reject(kind::ABORT, &[7]),
        RecordError::Malformed { .. }
    ));
    // Names: `..`, absolute, empty, NUL.
    for bad in [&b".."[..], b"/etc/passwd", b"", b"a\0b", b"a/../b"] {
        let mut body = vec![0, 7, 0];
        body.put_vstring(bad);
        assert!(
            matches!(reject(kind::DELETE, &body), RecordError::Malformed { .. }),
            "{bad:?}"
        );
    }
    // DATA with an end token, a literal over the limit, a truncated literal.
    let mut body = vec![0, 7, 0];
    body.put_int(0);
    body.extend_from_slice(&[0; 16]);
    assert!(matches!(
        reject(kind::DATA, &body),
        RecordError::Malformed { .. }
    ));
    let mut body = vec![0, 7, 0];
    body.put_int(40_000);
    assert!(matches!(reject(kind::DATA, &body), RecordError::Token(_)));
    let mut body = vec![0, 7, 0];
    body.put_int(10);
    body.extend_from_slice(b"short");
    assert!(matches!(reject(kind::DATA, &body), RecordError::Token(_)));
    // DATA_END with a checksum of the wrong length.
    assert!(matches!(
        reject(kind::DATA_END, &[0, 7, 0, 1, 2]),
        RecordError::Malformed { .. }
    ));
    // SUMS: strong_len above the digest, partial block sum, more sums than the count.
    let sums = |count: i32, strong: i32, extra: &[u8]| {
        let mut b = vec![0, 7, 0];
        for v in [count, 700, strong, 0] {
            b.put_int(v);
        }
        b.extend_from_slice(extra);
        b
    };
    assert!(matches!(
        reject(kind::SUMS, &sums(1, 17, &[])),
        RecordError::Sums(_)
    ));
    assert!(matches!(
        reject(kind::SUMS, &sums(1, 2, &[1, 2, 3])),
        RecordError::Malformed { .. }
    ));
    assert!(matches!(
        reject(kind::SUMS, &sums(1, 2, &[0; 12])),
        RecordError::Malformed { .. }
    ));
    assert!(matches!(
        reject(kind::SUMS, &sums(-1, 2, &[])),
        RecordError::Sums(_)
    ));
    // ACK with an out-of-range status.
    let mut body = vec![0, 7, 0];
    body.put_varint(256);
    body.push(0);
    assert!(matches!(
        reject(kind::ACK, &body),
        RecordError::Malformed { .. }
    ));
    // ENTRY: the end-of-list marker, two entries, garbage.
    assert!(reject(kind::ENTRY, &[0, 7, 0, 0])
        .to_string()
        .contains("entry"));
    let mut two = vec![0, 7, 0];
    let mut enc = crate::flist::FlistEncoder::new(c.flist.clone()).unwrap();
    enc.encode_entry(&file(b"x"), &mut two).unwrap();
    enc.encode_entry(&file(b"y"), &mut two).unwrap();
    assert!(matches!(
        reject(kind::ENTRY, &two),
        RecordError::Malformed { .. }
    ));
}

#[test]
fn an_entry_record_is_self_contained() {
    // The same entry twice: both records identical (no previous-entry compression).
    let c = ctx();
    let mut a = Vec::new();
    let mut b = Vec::new();
    MasterRecord::Entry {
        id: 1,
        entry: file(b"x/y"),
    }
    .encode(&c, &mut a)
    .unwrap();
    MasterRecord::Entry {
        id: 1,
        entry: file(b"x/y"),
    }
    .encode(&c, &mut b)
    .unwrap();
    assert_eq!(a, b);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let c = ctx();
        let mut reader = RecordReader::new();
        reader.push(&bytes);
        while let Ok(Some((k, body))) = reader.next_frame() {
            let _ = decode_master(&c, k, &body);
            let _ = decode_mirror(&c, k, &body);
        }
    }

    #[test]
    fn ids_and_names_round_trip(id in 1u64..u64::MAX >> 1, name in "[a-z ]{1,40}(/[a-z]{1,10}){0,3}") {
        let c = ctx();
        let rec = MasterRecord::Delete { id, path: path(name.as_bytes()) };
        let mut wire = Vec::new();
        rec.encode(&c, &mut wire).unwrap();
        let mut reader = RecordReader::new();
        reader.push(&wire);
        let (k, body) = reader.next_frame().unwrap().unwrap();
        prop_assert_eq!(decode_master(&c, k, &body).unwrap(), Some(rec));
    }
}
