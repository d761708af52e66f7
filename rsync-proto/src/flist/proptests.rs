//! Properties of the file-list codec: encode → decode round trips for arbitrary lists at
//! every protocol and option set, chunking does not matter, arbitrary bytes never panic,
//! and the limits hold. Also the decoder's rejections, with their messages pinned.

use proptest::prelude::*;

use super::*;
use crate::wire::{DecodeError, WireWrite};

fn arb_opts() -> impl Strategy<Value = FlistOptions> {
    (
        27u32..=32,
        any::<[bool; 12]>(),
        prop::sample::select(vec![0usize, 8, 16]),
    )
        .prop_map(|(p, b, sum)| {
            let mut o = FlistOptions::new(p);
            o.varint_flags = p >= 30 && b[0];
            o.preserve_uid = b[1];
            o.preserve_gid = b[2];
            o.preserve_links = b[3];
            o.preserve_devices = b[4];
            o.preserve_specials = b[5];
            o.preserve_hard_links = b[6];
            o.checksum_len = sum;
            o.numeric_ids = b[7];
            o.inc_recurse = p >= 30 && b[8];
            o.id0_names = b[9];
            o.safe_flist = p >= 31 || b[10];
            o
        })
}

fn arb_name() -> impl Strategy<Value = WirePath> {
    let comp = prop::collection::vec(prop::sample::select(&b"ab.-_\xe9"[..]), 1..6)
        .prop_filter("component", |c| c != b"." && c != b"..");
    prop_oneof![
        9 => prop::collection::vec(comp, 1..4).prop_map(|cs| cs.join(&b'/')),
        1 => Just(b".".to_vec()),
        1 => (1usize..400).prop_map(|n| vec![b'L'; n]),
    ]
    .prop_map(|n| {
        WirePath::new(n)
            .unwrap_or_else(|_| WirePath::try_from("x").unwrap_or_else(|_| unreachable!()))
    })
}

/// Raw material for one entry; [`build`] makes it consistent with the options.
#[derive(Debug, Clone)]
struct Raw {
    name: WirePath,
    kind: u8,
    perm: u32,
    size: u64,
    mtime: i64,
    nsec: u32,
    uid: u32,
    gid: u32,
    rdev: (u32, u32),
    target: Vec<u8>,
    dev_ino: (i64, i64),
    link: u8,
    sum: [u8; 16],
    dir_flags: (bool, bool),
}

fn arb_raw() -> impl Strategy<Value = Raw> {
    (
        (
            arb_name(),
            0u8..7,
            0u32..0o7777,
            any::<u64>(),
            any::<i64>(),
            0..=MAX_NSEC,
        ),
        (
            prop_oneof![Just(0u32), Just(1000), any::<u32>()],
            prop_oneof![Just(0u32), any::<u32>()],
            (
                prop_oneof![Just(0u32), 0..0x1000u32, any::<u32>()],
                prop_oneof![0..0x100u32, 0..0x10_0000u32, any::<u32>()],
            ),
        ),
        (
            prop::collection::vec(any::<u8>(), 0..12),
            (1i64..5, any::<i64>()),
            0u8..4,
            any::<[u8; 16]>(),
            any::<(bool, bool)>(),
        ),
    )
        .prop_map(
            |(
                (name, kind, perm, size, mtime, nsec),
                (uid, gid, rdev),
                (target, dev_ino, link, sum, dir_flags),
            )| Raw {
                name,
                kind,
                perm,
                size,
                mtime,
                nsec,
                uid,
                gid,
                rdev,
                target,
                dev_ino,
                link,
                sum,
                dir_flags,
            },
        )
}

/// An entry as a sender would describe it, and as the receiver must see it.
fn build(o: &FlistOptions, raws: Vec<Raw>) -> Vec<FileEntry> {
    let p = o.protocol;
    let types = [
        mode::S_IFREG,
        mode::S_IFDIR,
        mode::S_IFLNK,
        mode::S_IFCHR,
        mode::S_IFBLK,
        mode::S_IFIFO,
        mode::S_IFSOCK,
    ];
    let mut out: Vec<FileEntry> = Vec::new();
    let mut firsts: Vec<usize> = Vec::new();
    for r in raws {
        let mut e = FileEntry::new(r.name, types[usize::from(r.kind)] | r.perm);
        let special = e.is_special();
        e.set_size(if e.is_device() || special {
            0
        } else {
            r.size >> 1
        });
        e.set_mtime(if p < 30 {
            r.mtime & 0xffff_ffff
        } else {
            r.mtime
        });
        e.mtime_nsec = if p >= 31 { r.nsec } else { 0 };
        e.uid = if o.preserve_uid { r.uid } else { 0 };
        e.gid = if o.preserve_gid { r.gid } else { 0 };
        if o.preserve_devices && e.is_device() {
            e.set_rdev(
                if p < 28 { r.rdev.0 & 0xfff } else { r.rdev.0 },
                if p < 28 {
                    r.rdev.1 & 0xf_ffff
                } else {
                    r.rdev.1
                },
            );
        }
        if o.preserve_links && e.is_symlink() {
            e.set_symlink(Some(r.target));
        }
        if o.checksum_len > 0 && e.is_regular() {
            e.set_checksum(Some(r.sum[..o.checksum_len].to_vec()));
        }
        if e.is_dir() {
            e.set_top_dir(r.dir_flags.0);
            e.set_no_content_dir(p >= 30 && r.dir_flags.1);
        }
        if o.preserve_hard_links {
            let (dev, ino) = r.dev_ino;
            if p < 28 {
                if e.is_regular() {
                    e.set_hardlink(Some(HardLink::DevIno { dev, ino }));
                }
            } else if p < 30 {
                if !e.is_dir() && r.link > 1 {
                    e.set_hardlink(Some(HardLink::DevIno { dev, ino }));
                }
            } else if !e.is_dir() && r.link == 1 {
                e.set_hardlink(Some(HardLink::First));
                firsts.push(out.len());
            } else if !e.is_dir() && r.link > 1 && !firsts.is_empty() {
                // A later member: the receiver copies everything from the first.
                let first = firsts[usize::from(r.link) % firsts.len()];
                let mut f = out[first].clone();
                f.name = e.name;
                f.set_hardlink(Some(HardLink::Follower {
                    first: first as i32,
                }));
                e = f;
            }
        }
        out.push(e);
    }
    out
}

fn arb_list() -> impl Strategy<Value = (FlistOptions, FileList)> {
    (
        arb_opts(),
        prop::collection::vec(arb_raw(), 0..20),
        any::<i32>(),
        prop::collection::vec((1u32.., prop::collection::vec(any::<u8>(), 0..8)), 0..3),
        prop::collection::vec(any::<u8>(), 0..6),
    )
        .prop_map(|(o, raws, io_error, names, id0)| {
            let mut list = FileList {
                entries: build(&o, raws),
                ..FileList::default()
            };
            list.io_error = if o.protocol >= 30 && !o.varint_flags && !o.safe_flist {
                0
            } else {
                io_error
            };
            let ids = IdList {
                names,
                id0_name: o.id0_names.then_some(id0),
            };
            if o.sends_uid_list() {
                list.uids = ids.clone();
            }
            if o.sends_gid_list() {
                list.gids = ids;
            }
            (o, list)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_decode_round_trips((o, list) in arb_list()) {
        let wire = encode_file_list(&o, &list).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (back, used) = decode_file_list(&o, &wire).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(&back, &list);
        prop_assert_eq!(encode_file_list(&o, &back).ok(), Some(wire));
    }

    #[test]
    fn any_chunking_decodes_the_same((o, list) in arb_list(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let wire = encode_file_list(&o, &list).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        cuts.push(wire.len());
        cuts.sort_unstable();
        let mut dec = FlistDecoder::new(o.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut start = 0;
        for cut in cuts {
            let n = dec.feed(&wire[start..cut]).map_err(|e| TestCaseError::fail(e.to_string()))?;
            start += n;
            prop_assert!(start <= cut);
        }
        prop_assert_eq!(start, wire.len());
        prop_assert!(dec.is_done());
        prop_assert_eq!(dec.into_list(), list);
    }

    #[test]
    fn truncation_is_incomplete_not_an_error((o, list) in arb_list(), at in any::<prop::sample::Index>()) {
        let wire = encode_file_list(&o, &list).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let cut = at.index(wire.len());
        let r = decode_file_list(&o, &wire[..cut]);
        let incomplete = matches!(r, Err(FlistError::Wire(DecodeError::Incomplete { .. })));
        prop_assert!(incomplete, "{:?}", r);
    }

    #[test]
    fn arbitrary_bytes_never_panic(o in arb_opts(), bytes in prop::collection::vec(any::<u8>(), 0..300), max in 0usize..4) {
        let mut o = o;
        o.max_entries = max;
        let mut dec = FlistDecoder::new(o).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match dec.feed(&bytes) {
            Ok(n) => prop_assert!(n <= bytes.len()),
            Err(e) => {
                let incomplete = matches!(e, FlistError::Wire(DecodeError::Incomplete { .. }));
                prop_assert!(!incomplete);
                prop_assert_eq!(dec.feed(&bytes).err(), Some(e), "errors are final");
            }
        }
        prop_assert!(dec.entries().len() <= max);
        for e in dec.entries() {
            prop_assert!(WirePath::check(e.name.as_bytes()).is_ok());
        }
    }
}

fn decode_err(o: &FlistOptions, wire: &[u8]) -> FlistError {
    match decode_file_list(o, wire) {
        Err(e) => e,
        Ok(l) => panic!("decoded {l:?}"),
    }
}

#[test]
fn unsafe_names_and_bad_lengths_are_rejected_with_their_message() {
    let o = FlistOptions::new(31);
    // flags 0x18, name len 9 "../escape", size, mtime, mode.
    let mut w = b"\x18\x09../escape\x00\x00\x00\x00\x00\x00\x00\xa4\x81\x00\x00\x00".to_vec();
    assert_eq!(
        decode_err(&o, &w).to_string(),
        "file-list entry 0: \"..\" component in file name"
    );
    w[2] = b'/';
    assert_eq!(
        decode_err(&o, &w).to_string(),
        "file-list entry 0: absolute file name"
    );
    w[2] = 0;
    assert_eq!(
        decode_err(&o, &w).to_string(),
        "file-list entry 0: NUL byte in file name at offset 0"
    );
    // Empty name.
    assert!(matches!(
        decode_err(&o, b"\x18\x00\x00\x00\x00"),
        FlistError::BadName {
            index: 0,
            source: PathError::Empty
        }
    ));
    // SAME_NAME with a prefix longer than the previous (empty) name.
    assert_eq!(
        decode_err(&o, b"\x38\x05\x01x").to_string(),
        "file-list entry 0: prefix length 5 exceeds previous name (0 bytes)"
    );
    // LONG_NAME with a 4096-byte suffix: rejected before anything is read or allocated.
    let mut long = FlistOptions::new(31);
    long.varint_flags = true;
    assert_eq!(
        decode_err(&long, b"\x58\x90\x00").to_string(),
        "file-list entry 0: name length 4096 exceeds 4095"
    );
    // Protocol 29: a negative int length.
    assert!(matches!(
        decode_err(&FlistOptions::new(29), b"\x58\xff\xff\xff\xff"),
        FlistError::NameTooLong { len: -1, .. }
    ));
}

#[test]
fn other_rejections() {
    let o = FlistOptions::new(31);
    // Mode with no valid file type.
    assert_eq!(
        decode_err(&o, b"\x18\x01a\x00\x00\x00\x01\x00\x00\x00\xa4\x01\x00\x00").to_string(),
        "file-list entry 0: invalid file mode 0644"
    );
    // Nanoseconds above 999999999 (MOD_NSEC needs the extended flags word).
    let mut v = FlistOptions::new(31);
    v.varint_flags = true;
    let mut w = Vec::new();
    w.put_varint((xmit::MOD_NSEC | xmit::SAME_UID | xmit::SAME_GID) as i32);
    w.extend_from_slice(&[0x01, b'a', 0, 0, 0, 1, 0, 0, 0]);
    w.put_varint(1_000_000_000);
    assert!(matches!(
        decode_err(&v, &w),
        FlistError::OutOfRange {
            field: "mtime nanoseconds",
            ..
        }
    ));
    // A symlink target of 4096 bytes.
    let mut l = FlistOptions::new(30);
    l.preserve_links = true;
    assert_eq!(
        decode_err(
            &l,
            b"\x18\x01l\x00\x00\x00\x01\x00\x00\x00\xff\xa1\x00\x00\x90\x00"
        )
        .to_string(),
        "file-list entry 0: symlink length 4096 outside 0..=4095"
    );
    // A hard-link follower pointing at itself.
    let mut h = FlistOptions::new(30);
    h.preserve_hard_links = true;
    assert_eq!(
        decode_err(&h, b"\x1c\x02\x01a\x00").to_string(),
        "file-list entry 0: hard-link reference 0 out of range (0..0)"
    );
    // The io-error end marker without a safe file list.
    assert_eq!(
        decode_err(&FlistOptions::new(30), b"\x04\x10\x05"),
        FlistError::UnexpectedIoErrorEnd
    );
    // The entry limit.
    let mut m = FlistOptions::new(31);
    m.max_entries = 1;
    let two = b"\x18\x01a\x00\x00\x00\x01\x00\x00\x00\xa4\x81\x00\x00\x38\x01\x01b\x00\x00\x00";
    assert_eq!(decode_err(&m, two), FlistError::TooManyEntries { max: 1 });
    // What follows the list is not consumed.
    let (list, used) = decode_file_list(&o, b"\x00\xff\xff").unwrap();
    assert_eq!((list.entries.len(), used), (0, 1));
}

#[test]
fn inline_user_and_group_names_with_incremental_recursion() {
    let mut o = FlistOptions::new(31).archive();
    o.inc_recurse = true;
    o.varint_flags = true;
    let mut e = FileEntry::new(WirePath::try_from("f").unwrap(), mode::S_IFREG | 0o600);
    e.uid = 1000;
    e.gid = 100;
    e.set_user_name(Some(b"alice".to_vec()));
    e.set_group_name(Some(b"users".to_vec()));
    let list = FileList {
        entries: vec![e],
        ..FileList::default()
    };
    let wire = encode_file_list(&o, &list).unwrap();
    // flags USER_NAME_FOLLOWS | GROUP_NAME_FOLLOWS | SAME_TIME = 0x0c80: varint `8c 80`.
    assert_eq!(&wire[..2], [0x8c, 0x80]);
    assert!(wire.windows(6).any(|w| w == b"\x05alice"));
    assert_eq!(decode_file_list(&o, &wire).unwrap().0, list);
    // Without incremental recursion the names go in the id lists instead.
    o.inc_recurse = false;
    let wire = encode_file_list(&o, &list).unwrap();
    assert_eq!(wire[0], 0x80, "SAME_TIME only");
    assert!(!wire.windows(5).any(|w| w == b"alice"));
}

#[test]
fn end_markers_per_protocol() {
    let empty = FileList {
        io_error: 5,
        ..FileList::default()
    };
    let enc = |o: FlistOptions| encode_file_list(&o, &empty).unwrap();
    let mut v = FlistOptions::new(31);
    v.varint_flags = true;
    assert_eq!(enc(v), [0x00, 0x05]);
    assert_eq!(enc(FlistOptions::new(31)), [0x04, 0x10, 0x05]);
    assert_eq!(
        enc(FlistOptions::new(30)),
        [0x00],
        "io_error goes by MSG_IO_ERROR"
    );
    assert_eq!(enc(FlistOptions::new(29)), [0x00, 0x05, 0x00, 0x00, 0x00]);
    let mut ids = FlistOptions::new(29);
    ids.preserve_uid = true;
    assert_eq!(
        enc(ids),
        [0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00]
    );
}
