//! Golden file-list tests: the sender streams of stock rsync 3.5.0 in
//! `tests/data/vectors/flist/` (see its README) decode to exactly the files that existed,
//! re-encode to the identical bytes, and decode the same in any chunking.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure is a test failure

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

use rsync_proto::flist::{
    compare_entries, decode_file_list, encode_file_list, sort_file_list, FileEntry, FileList,
    FlistDecoder, FlistOptions, HardLink,
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/vectors/flist")
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[derive(Debug)]
struct Expect {
    mode: u32,
    size: u64,
    mtime: i64,
    nsec: u32,
    uid: u32,
    gid: u32,
    rdev: (u32, u32),
    target: Option<Vec<u8>>,
    inode: Option<u64>,
}

struct Vector {
    name: String,
    protocol: u32,
    compat: u32,
    checksum: String,
    options: Vec<String>,
    entries: BTreeMap<Vec<u8>, Expect>,
    data: Vec<u8>,
}

fn vectors() -> Vec<Vector> {
    let mut out = Vec::new();
    let mut names: Vec<_> = fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    names.sort();
    for p in names {
        let text = fs::read_to_string(&p).unwrap();
        let mut v = Vector {
            name: String::new(),
            protocol: 0,
            compat: 0,
            checksum: String::new(),
            options: Vec::new(),
            entries: BTreeMap::new(),
            data: fs::read(p.with_extension("data")).unwrap(),
        };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (key, rest) = line.split_once(' ').unwrap();
            match key {
                "name" => v.name = rest.into(),
                "protocol" => v.protocol = rest.parse().unwrap(),
                "compat" => v.compat = u32::from_str_radix(&rest[2..], 16).unwrap(),
                "checksum" => v.checksum = rest.into(),
                "options" => v.options = rest.split(' ').map(String::from).collect(),
                "entry" => {
                    let f: Vec<&str> = rest.split(' ').collect();
                    let (ma, mi) = f[7].split_once(',').unwrap();
                    v.entries.insert(
                        unhex(f[0]),
                        Expect {
                            mode: u32::from_str_radix(f[1], 8).unwrap(),
                            size: f[2].parse().unwrap(),
                            mtime: f[3].parse().unwrap(),
                            nsec: f[4].parse().unwrap(),
                            uid: f[5].parse().unwrap(),
                            gid: f[6].parse().unwrap(),
                            rdev: (ma.parse().unwrap(), mi.parse().unwrap()),
                            target: (f[8] != "-").then(|| unhex(f[8])),
                            inode: (f[9] != "-").then(|| f[9].parse().unwrap()),
                        },
                    );
                }
                _ => {}
            }
        }
        out.push(v);
    }
    out
}

fn has(v: &Vector, opt: &str) -> bool {
    v.options.iter().any(|o| o == opt)
}

/// The options both peers derived from the command line and the compat flags.
fn options(v: &Vector) -> FlistOptions {
    let mut o = FlistOptions::new(v.protocol);
    if has(v, "-aH") || has(v, "-ac") || has(v, "-a") {
        o = o.archive();
    }
    o.preserve_hard_links = has(v, "-aH");
    o.numeric_ids = has(v, "--numeric-ids");
    if has(v, "-ac") {
        o.checksum_len = match v.checksum.as_str() {
            "xxh64" | "xxh3" => 8,
            _ => 16,
        };
    }
    o.varint_flags = v.compat & 0x80 != 0;
    o.id0_names = v.compat & 0x100 != 0;
    o.safe_flist = v.protocol >= 31 || v.compat & 0x08 != 0;
    o.inc_recurse = v.compat & 0x01 != 0;
    o
}

fn is_type(m: u32, t: u32) -> bool {
    m & 0o170000 == t
}

fn is_dev(m: u32) -> bool {
    is_type(m, 0o020000) || is_type(m, 0o060000)
}

/// Whether rsync sends this file with these options. Stock rsync sends symlinks, devices
/// and specials even without `-l`/`-D` (the receiver skips them), just without the target
/// or rdev.
fn sent(v: &Vector, name: &[u8]) -> bool {
    !(has(v, "-ac") && name == b"big")
}

fn check_entry(v: &Vector, o: &FlistOptions, e: &FileEntry, x: &Expect) {
    let what = format!("{}: {}", v.name, e.name);
    assert_eq!(e.mode, x.mode, "{what}: mode");
    assert_eq!(e.size(), x.size, "{what}: size");
    assert_eq!(e.mtime(), x.mtime, "{what}: mtime");
    let nsec = if v.protocol >= 31 { x.nsec } else { 0 };
    assert_eq!(e.mtime_nsec, nsec, "{what}: nsec");
    assert_eq!(e.uid, if o.preserve_uid { x.uid } else { 0 }, "{what}: uid");
    assert_eq!(e.gid, if o.preserve_gid { x.gid } else { 0 }, "{what}: gid");
    let rdev = if is_dev(x.mode) && o.preserve_devices {
        x.rdev
    } else {
        (0, 0)
    };
    assert_eq!((e.rdev_major(), e.rdev_minor()), rdev, "{what}: rdev");
    let target = x.target.clone().filter(|_| o.preserve_links);
    assert_eq!(e.symlink(), target.as_deref(), "{what}: symlink");
    assert_eq!(e.top_dir(), e.name.is_dot(), "{what}: top_dir");
    assert!(!e.no_content_dir(), "{what}: no_content_dir");
    assert_eq!((e.user_name(), e.group_name()), (None, None), "{what}");
    if o.checksum_len > 0 && e.is_regular() {
        let len = e.checksum().map(<[u8]>::len);
        assert_eq!(len, Some(o.checksum_len), "{what}: -c sum");
    } else {
        assert_eq!(e.checksum(), None, "{what}: -c sum");
    }
}

fn check_hard_links(v: &Vector, o: &FlistOptions, list: &FileList) {
    let mut groups: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, e) in list.entries.iter().enumerate() {
        let x = &v.entries[e.name.as_bytes()];
        let what = format!("{}: {}", v.name, e.name);
        match (o.preserve_hard_links, x.inode) {
            (false, _) => assert_eq!(e.hardlink(), None, "{what}"),
            (true, None) if v.protocol < 28 && e.is_regular() => {
                // Protocol 27 sends dev/ino for every regular file.
                assert!(
                    matches!(e.hardlink(), Some(HardLink::DevIno { .. })),
                    "{what}"
                );
            }
            (true, None) => assert_eq!(e.hardlink(), None, "{what}"),
            (true, Some(ino)) => groups.entry(ino).or_default().push(i),
        }
    }
    if o.preserve_hard_links {
        assert_eq!(groups.len(), 1, "{}: one hard-link pair", v.name);
    }
    for members in groups.values() {
        assert_eq!(members.len(), 2, "{}: a hard-link pair", v.name);
        let (a, b) = (&list.entries[members[0]], &list.entries[members[1]]);
        match (a.hardlink(), b.hardlink()) {
            (Some(HardLink::DevIno { dev, ino }), Some(HardLink::DevIno { dev: d, ino: i })) => {
                assert!(v.protocol < 30, "{}", v.name);
                assert_eq!((dev, ino), (d, i), "{}: same dev/ino", v.name);
            }
            (Some(HardLink::First), Some(HardLink::Follower { first })) => {
                assert!(v.protocol >= 30, "{}", v.name);
                assert_eq!(first as usize, members[0], "{}: follower → first", v.name);
            }
            other => panic!("{}: unexpected hard-link info {other:?}", v.name),
        }
    }
}

fn check_id_lists(v: &Vector, o: &FlistOptions, list: &FileList) {
    if !o.preserve_uid || o.numeric_ids {
        assert_eq!(list.uids, Default::default(), "{}", v.name);
        assert_eq!(list.gids, Default::default(), "{}", v.name);
        return;
    }
    // uids 1 (daemon) and 65534 (nobody) have names; 4242 has none and is left out.
    let mut uids = list.uids.names.clone();
    uids.sort();
    let want = [(1, b"daemon".to_vec()), (65534, b"nobody".to_vec())];
    assert_eq!(uids, want, "{}", v.name);
    let mut gids = list.gids.names.clone();
    gids.sort();
    let want = [(1, b"daemon".to_vec()), (65534, b"nogroup".to_vec())];
    assert_eq!(gids, want, "{}", v.name);
    let id0 = o.id0_names.then(|| b"root".to_vec());
    assert_eq!(list.uids.id0_name, id0, "{}", v.name);
    assert_eq!(list.gids.id0_name, id0, "{}", v.name);
}

#[test]
fn stock_rsync_file_lists_decode_exactly_and_reencode_identically() {
    let all = vectors();
    let protocols: BTreeSet<u32> = all.iter().map(|v| v.protocol).collect();
    assert_eq!(
        protocols.into_iter().collect::<Vec<_>>(),
        [27, 28, 29, 30, 31, 32]
    );
    assert!(all.len() >= 29, "only {} vectors", all.len());
    for v in &all {
        let o = options(v);
        let (list, used) =
            decode_file_list(&o, &v.data).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        // Exactly the files that existed (and that these options send), each once.
        let want: Vec<&[u8]> = v
            .entries
            .iter()
            .filter(|(n, _)| sent(v, n))
            .map(|(n, _)| &n[..])
            .collect();
        let mut got: Vec<&[u8]> = list.entries.iter().map(|e| e.name.as_bytes()).collect();
        got.sort();
        assert_eq!(got, want, "{}: names", v.name);
        for e in &list.entries {
            check_entry(v, &o, e, &v.entries[e.name.as_bytes()]);
        }
        check_hard_links(v, &o, &list);
        check_id_lists(v, &o, &list);
        assert_eq!(list.io_error, 0, "{}", v.name);
        // Re-encoding gives rsync's bytes.
        let again = encode_file_list(&o, &list).unwrap();
        assert_eq!(again, v.data[..used], "{}: re-encoding differs", v.name);
        // Any chunking decodes the same: byte by byte, and in 7-byte steps.
        for step in [1, 7] {
            let mut dec = FlistDecoder::new(o.clone()).unwrap();
            let mut pending = Vec::new();
            let mut consumed = 0;
            for chunk in v.data[..used].chunks(step) {
                pending.extend_from_slice(chunk);
                let n = dec.feed(&pending).unwrap();
                pending.drain(..n);
                consumed += n;
            }
            assert!(dec.is_done() && pending.is_empty(), "{}", v.name);
            assert_eq!(consumed, used);
            assert_eq!(dec.into_list(), list, "{}: chunked by {step}", v.name);
        }
        // No duplicates here, and the sorted list follows the protocol's order.
        let sorted = sort_file_list(list.entries.clone(), v.protocol);
        assert!(sorted.iter().all(Option::is_some), "{}", v.name);
        for w in sorted.windows(2) {
            let (a, b) = (w[0].as_ref().unwrap(), w[1].as_ref().unwrap());
            assert!(compare_entries(a, b, v.protocol).is_lt(), "{}", v.name);
        }
    }
}

#[test]
fn captured_tree_sort_orders_differ_at_protocol_29() {
    // "a-b" (a file) sorts before the directory "a" only from 29 on; at 27, '-' (0x2d) <
    // '/' puts it after "a".
    let all = vectors();
    let pos = |name: &str, file: &[u8]| {
        let v = all.iter().find(|v| v.name == name).unwrap();
        let (list, _) = decode_file_list(&options(v), &v.data).unwrap();
        let sorted = sort_file_list(list.entries, v.protocol);
        sorted
            .iter()
            .position(|e| e.as_ref().unwrap().name.as_bytes() == file)
            .unwrap()
    };
    assert_eq!(pos("p27-aH", b"."), 0);
    assert_eq!(pos("p29-aH", b"."), 0);
    assert!(pos("p27-aH", b"a") < pos("p27-aH", b"a-b"));
    assert!(pos("p29-aH", b"a-b") < pos("p29-aH", b"a"));
    // Files of the top directory come before every directory from protocol 29 on.
    assert!(pos("p29-aH", b"link") < pos("p29-aH", b"a"));
    assert!(pos("p27-aH", b"link") > pos("p27-aH", b"a"));
}
