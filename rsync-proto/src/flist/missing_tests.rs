//! Mode-0 entries (`--delete-missing-args`): they round-trip only when
//! [`FlistOptions::delete_missing_args`] is set, and are refused both ways without it, at
//! every protocol and with the options that add per-type fields.

use super::*;

fn name(n: &str) -> WirePath {
    WirePath::try_from(n).expect("name")
}

/// Every protocol, plain and with `-a -H -c` (which add fields by type: ids, links,
/// devices, hard-link data, checksums, the latter for every entry below protocol 28).
fn option_sets() -> Vec<FlistOptions> {
    let mut v = Vec::new();
    for p in [27, 28, 29, 30, 31, 32] {
        v.push(FlistOptions::new(p));
        let mut o = FlistOptions::new(p).archive();
        o.preserve_hard_links = true;
        o.checksum_len = 16;
        o.varint_flags = p >= 30;
        v.push(o);
    }
    v
}

/// A list mixing missing entries with others: first (so the mode is "the same as" the
/// coder's initial 0), between two files, last, and below a directory.
fn list(o: &FlistOptions) -> FileList {
    let file = |n: &str, size: u64| {
        let mut e = FileEntry::new(name(n), mode::S_IFREG | 0o644);
        e.set_size(size);
        e.set_mtime(1_700_000_000);
        if o.preserve_uid {
            e.uid = 1000;
        }
        if o.preserve_gid {
            e.gid = 100;
        }
        if o.checksum_len > 0 {
            e.set_checksum(Some(vec![7; o.checksum_len]));
        }
        if o.preserve_hard_links && o.protocol < 28 {
            // Below 28 every regular file carries its device and inode.
            let ino = size as i64 + 1;
            e.set_hardlink(Some(HardLink::DevIno { dev: 1, ino }));
        }
        e
    };
    let mut dir = FileEntry::new(name("d"), mode::S_IFDIR | 0o755);
    dir.set_mtime(1_700_000_001);
    let entries = vec![
        FileEntry::new(name("gone-first"), 0),
        file("a", 10),
        FileEntry::new(name("gone-between"), 0),
        file("b", 0),
        dir,
        FileEntry::new(name("d/gone-below"), 0),
        FileEntry::new(name("gone-last"), 0),
    ];
    FileList {
        entries,
        ..FileList::default()
    }
}

#[test]
fn mode_0_round_trips_with_the_option() {
    for mut o in option_sets() {
        o.delete_missing_args = true;
        let list = list(&o);
        let wire = encode_file_list(&o, &list).expect("encodes");
        let (back, used) = decode_file_list(&o, &wire).expect("decodes");
        assert_eq!(used, wire.len(), "{o:?}");
        assert_eq!(back.entries, list.entries, "{o:?}");
        let missing: Vec<_> = back
            .entries
            .iter()
            .filter(|e| e.is_missing())
            .map(|e| e.name.as_bytes().to_vec())
            .collect();
        assert_eq!(
            missing,
            [
                &b"gone-first"[..],
                b"gone-between",
                b"d/gone-below",
                b"gone-last"
            ],
            "{o:?}"
        );
        // The first entry's mode equals the coders' initial 0: XMIT_SAME_MODE, no mode field
        // (the flags are the first byte unless they are a varint).
        if !o.varint_flags {
            assert_ne!(wire.first().copied().unwrap_or(0) & 0x02, 0, "{o:?}");
        }
    }
}

#[test]
fn mode_0_is_refused_without_the_option() {
    for o in option_sets() {
        let list = list(&o);
        // The encoder refuses it and writes nothing.
        let mut enc = FlistEncoder::new(o.clone()).expect("encoder");
        let mut out = Vec::new();
        let err = enc
            .encode_entry(&list.entries[0], &mut out)
            .expect_err("refused");
        assert!(
            matches!(err, FlistError::Unencodable { index: 0, .. }),
            "{o:?}: {err:?}"
        );
        assert!(out.is_empty());
        assert!(encode_file_list(&o, &list).is_err(), "{o:?}");
        // The bytes of a list encoded with the option are refused by a decoder without it,
        // at the first mode-0 entry (rsync: "invalid file mode 00").
        let mut with = o.clone();
        with.delete_missing_args = true;
        let wire = encode_file_list(&with, &list).expect("encodes");
        let err = decode_file_list(&o, &wire).expect_err("refused");
        assert!(
            matches!(err, FlistError::BadMode { index: 0, mode: 0 }),
            "{o:?}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            "file-list entry 0: invalid file mode 00",
            "{o:?}"
        );
        // Other invalid types stay invalid with the option.
        let bogus = FileList {
            entries: vec![FileEntry::new(name("x"), 0o644)],
            ..FileList::default()
        };
        assert!(encode_file_list(&with, &bogus).is_err());
    }
}
