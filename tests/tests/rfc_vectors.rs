//! The message examples of RFC.md, checked against stock rsync's own bytes.
//!
//! Every `tests/data/vectors/rfc/*.vec` file names a place in a raw session recorded between
//! two stock rsync 3.5.0 processes (`tests/data/vectors/rfc/raw/`, made by `capture.py` next
//! to the vectors), the bytes found there, and the field values RFC.md states for them. This
//! test checks, for each vector:
//!
//! 1. that the bytes really are at that place of the capture (so they are rsync's bytes);
//! 2. that rsync-proto's public codecs decode them to exactly the stated values (where
//!    rsync-proto has no codec for a message, the message is decoded here with the primitive
//!    codecs, `WireReader` and `NdxDecoder`, following the RFC's field table);
//! 3. that every vector is cited by RFC.md and every label it claims is defined there, and
//!    that every label RFC.md defines in §4–§13 has at least one vector.
//!
//! The vector format is specified in RFC.md Appendix B.6.
//!
//! covers: [basis-type] [block-sums] [checksum-list] [checksum-seed] [client-info] [compat-flags]
//! [compress-list] [del-stats] [dry-run] [error-exit] [exit-codes] [file-sum] [files-from]
//! [filter-list] [filter-rule] [flist-checksum] [flist-end] [flist-flags] [flist-hlink]
//! [flist-ids] [flist-mode] [flist-mtime] [flist-name] [flist-rdev] [flist-size] [flist-sort]
//! [flist-symlink] [gen-request] [goodbye] [id-lists] [iflags] [int] [io-error] [itemize]
//! [keepalive] [log-message] [longint] [msg-code] [msg-deleted] [msg-io-error] [msg-no-send]
//! [mux-header] [mux-limits] [mux-start] [ndx-done-counts] [ndx] [negotiation-rule] [phases]
//! [secluded-args] [sender-echo] [server-argv] [shortint] [stats] [sum-head] [token] [varint]
//! [varlong] [version] [vstring] [xname]

// Test code: a panic is how a test reports failure.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rsync_core::checksum::{ChecksumKind, StrongSum};
use rsync_core::{Limits, Signature, Token};
use rsync_proto::flist::{decode_file_list, encode_file_list, sort_file_list, FlistOptions};
use rsync_proto::handshake::{
    ClientConfig, ClientInfo, CompatFlags, Compression, Handshake, ServerConfig,
    CF_VARINT_FLIST_FLAGS,
};
use rsync_proto::mux::{unmux, FrameHeader, MsgCode, MuxLimits};
use rsync_proto::sums::{decode_block_sums, decode_sum_head};
use rsync_proto::token::{decode_token, TokenEvent};
use rsync_proto::{NdxDecoder, WireReader};
use rsync_tests::vectors::{cut, load_dir, num, parse_hex, rfc_md, Source, Vector};

fn rfc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/vectors/rfc")
}

fn all_vectors() -> Vec<Vector> {
    load_dir(&rfc_dir())
}

/// The bytes at the vector's source, read from the raw capture.
fn source_bytes(src: &Source) -> Result<Vec<u8>, String> {
    let read =
        |f: &str| std::fs::read(rfc_dir().join("raw").join(f)).map_err(|e| format!("raw/{f}: {e}"));
    match src {
        Source::Raw { file, off, len } => cut(&read(file)?, *off, *len),
        Source::Data {
            file,
            mux_start,
            off,
            len,
        } => {
            let raw = read(file)?;
            let tail = raw.get(*mux_start..).ok_or("mux start past the end")?;
            let un = unmux(tail, MuxLimits::default()).map_err(|e| format!("unmux: {e}"))?;
            cut(&un.data, *off, *len)
        }
    }
}

/// Any error as the test's `String` error.
fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Decoded fields, by the keys the `expect` lines use.
type Fields = BTreeMap<String, String>;

fn put(f: &mut Fields, k: impl Into<String>, v: impl ToString) {
    f.insert(k.into(), v.to_string());
}

fn param<'a>(v: &'a Vector, k: &str) -> &'a str {
    v.params
        .get(k)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("{}: param {k} missing", v.name))
}

fn param_or<'a>(v: &'a Vector, k: &str, default: &'a str) -> &'a str {
    v.params.get(k).map_or(default, String::as_str)
}

fn checksum(name: &str) -> ChecksumKind {
    ChecksumKind::from_name(name.as_bytes()).unwrap_or_else(|| panic!("checksum {name}"))
}

/// Bytes as text: printable ASCII as is, anything else as `\xNN`.
fn text(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, &c| {
        if (0x20..0x7f).contains(&c) && c != b'\\' {
            s.push(char::from(c));
        } else {
            let _ = write!(s, "\\x{c:02x}");
        }
        s
    })
}

fn hexs(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, c| {
        let _ = write!(s, "{c:02x}");
        s
    })
}

/// rsync's name of a message code: `ErrorExit` is `MSG_ERROR_EXIT`.
fn msg_name(c: MsgCode) -> String {
    format!("{c:?}")
        .chars()
        .fold("MSG".to_owned(), |mut s, ch| {
            if ch.is_uppercase() {
                s.push('_');
            }
            s.push(ch.to_ascii_uppercase());
            s
        })
}

/// `decode prims`: a sequence of primitive values; `param types` lists them
/// (`int shortint longint varint varlong3 varlong4 vstring byte`).
fn decode_prims(v: &Vector, r: &mut WireReader<'_>, f: &mut Fields) -> Result<(), String> {
    for (i, t) in param(v, "types").split_whitespace().enumerate() {
        let k = format!("v.{i}");
        let e = |e: rsync_proto::DecodeError| format!("v.{i} ({t}): {e}");
        match t {
            "int" => put(f, k, r.int().map_err(e)?),
            "shortint" => put(f, k, format!("{:#06x}", r.shortint().map_err(e)?)),
            "longint" => put(f, k, r.longint().map_err(e)?),
            "varint" => put(f, k, r.varint().map_err(e)?),
            "varlong3" => put(f, k, r.varlong(3).map_err(e)?),
            "varlong4" => put(f, k, r.varlong(4).map_err(e)?),
            "vstring" => put(f, k, text(r.vstring().map_err(e)?)),
            "byte" => put(f, k, r.byte().map_err(e)?),
            other => return Err(format!("unknown type {other}")),
        }
    }
    Ok(())
}

/// `decode frames`: multiplexed frames ([mux-header]); the payload of a 4-byte integer
/// message is shown as `int`, that of a log or MSG_DELETED message as `text`.
fn decode_frames(bytes: &[u8], f: &mut Fields) -> Result<usize, String> {
    let mut p = 0;
    let mut n = 0;
    while p < bytes.len() {
        let hdr: [u8; 4] = bytes
            .get(p..p + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or("truncated frame header")?;
        let h = FrameHeader::parse(hdr, &MuxLimits::default()).map_err(err)?;
        let payload = bytes
            .get(p + 4..p + 4 + h.len as usize)
            .ok_or("truncated frame payload")?;
        put(f, format!("frame.{n}.code"), msg_name(h.code));
        put(f, format!("frame.{n}.len"), h.len);
        match h.code {
            MsgCode::IoError
            | MsgCode::NoSend
            | MsgCode::Success
            | MsgCode::IoTimeout
            | MsgCode::ErrorExit
                if h.len == 4 =>
            {
                put(
                    f,
                    format!("frame.{n}.int"),
                    WireReader::new(payload).int().unwrap(),
                );
            }
            MsgCode::Data => put(f, format!("frame.{n}.hex"), hexs(payload)),
            _ => put(f, format!("frame.{n}.text"), text(payload)),
        }
        p += 4 + h.len as usize;
        n += 1;
    }
    put(f, "frames", n);
    Ok(p)
}

/// `decode handshake-s2c` / `handshake-c2s`: one side's handshake bytes, fed to the peer's
/// state machine of `rsync_proto::handshake`.
fn decode_handshake(v: &Vector, bytes: &[u8], f: &mut Fields) -> Result<usize, String> {
    let info = ClientInfo::from_args(param(v, "server_argv").split_whitespace());
    let choice = param_or(v, "checksum_choice", "");
    let choice = (!choice.is_empty()).then(|| checksum(choice));
    let compression = v.params.get("compress").map_or(Compression::Off, |l| {
        Compression::Negotiate(
            l.split_whitespace()
                .map(|n| n.as_bytes().to_vec())
                .collect(),
        )
    });
    let mut hs = if v.decode == "handshake-s2c" {
        // The client that received these bytes: its version and its letters.
        let offered = info.server_flags(CompatFlags(0x1ff));
        Handshake::client(ClientConfig {
            protocol: num(param(v, "client_version")) as u8,
            offered,
            checksum_choice: choice,
            compression,
            ..ClientConfig::default()
        })
    } else {
        let mut cfg = ServerConfig::new(info, num(param(v, "seed")) as i32);
        cfg.protocol = num(param(v, "server_version")) as u8;
        cfg.checksum_choice = choice;
        cfg.compression = compression;
        Handshake::server(cfg)
    }
    .map_err(err)?;
    while hs.poll_transmit().is_some() {}
    // Feed byte by byte: the state machine must never need more than it was given.
    for (i, b) in bytes.iter().enumerate() {
        let done = hs
            .handle_input(std::slice::from_ref(b))
            .map_err(err)?
            .is_some();
        while hs.poll_transmit().is_some() {}
        if done && i + 1 != bytes.len() {
            return Err(format!(
                "handshake complete after {} of {} bytes",
                i + 1,
                bytes.len()
            ));
        }
    }
    let n = hs.negotiated().ok_or("handshake incomplete")?.clone();
    put(f, "protocol", n.protocol);
    put(f, "compat", format!("{:#x}", n.compat_flags.0));
    put(f, "letters", n.compat_flags.client_letters());
    let varint = n.compat_flags.contains(CF_VARINT_FLIST_FLAGS);
    put(f, "varint_flags", varint);
    put(f, "checksum", n.checksum.name());
    put(f, "checksum_source", format!("{:?}", n.checksum_source));
    put(f, "seed_fix", n.seed_fix);
    if let Some(c) = &n.compression {
        put(f, "compression", text(c));
    }
    if v.decode == "handshake-s2c" {
        put(f, "seed", n.seed);
    }
    Ok(bytes.len())
}

/// `decode server-argv`: the server's command line ([server-argv]), split at spaces.
fn decode_argv(bytes: &[u8], f: &mut Fields) -> Result<usize, String> {
    let line = std::str::from_utf8(bytes).map_err(err)?;
    let args: Vec<&str> = line.split_whitespace().collect();
    let info = ClientInfo::from_args(&args);
    put(f, "letters", info.letters().map_or("-".to_owned(), text));
    put(f, "sender", args.contains(&"--sender"));
    let opts_end = args
        .iter()
        .position(|a| *a == ".")
        .ok_or("no `.` argument")?;
    let (long, short): (Vec<&str>, Vec<&str>) = args[1..opts_end]
        .iter()
        .filter(|a| **a != "--server" && **a != "--sender")
        .partition(|a| a.starts_with("--"));
    put(f, "cluster", short.first().unwrap_or(&"-"));
    put(f, "long_options", long.join(" "));
    put(f, "paths", args[opts_end + 1..].join(" "));
    Ok(bytes.len())
}

/// `decode lines`: text lines (a recorded client's `NAME.out`: exit code and output).
fn decode_lines(bytes: &[u8], f: &mut Fields) -> Result<usize, String> {
    let t = std::str::from_utf8(bytes).map_err(err)?;
    for (i, l) in t.lines().enumerate() {
        put(f, format!("line.{i}"), l);
    }
    put(f, "lines", t.lines().count());
    Ok(bytes.len())
}

/// `decode filter-list`: `int32 len` + rule text, until a 0 length ([filter-list]).
fn decode_filter_list(r: &mut WireReader<'_>, f: &mut Fields) -> Result<(), String> {
    let mut n = 0;
    loop {
        let len = r.int().map_err(err)?;
        if len == 0 {
            break;
        }
        let len = usize::try_from(len).map_err(|_| format!("negative rule length {len}"))?;
        put(f, format!("rule.{n}"), text(r.bytes(len).map_err(err)?));
        n += 1;
    }
    put(f, "rules", n);
    Ok(())
}

/// `decode nul-list`: NUL-terminated strings until an empty one ([files-from],
/// [secluded-args]).
fn decode_nul_list(bytes: &[u8], f: &mut Fields) -> Result<usize, String> {
    let mut n = 0;
    let mut p = 0;
    loop {
        let end = bytes[p..]
            .iter()
            .position(|&b| b == 0)
            .ok_or("unterminated name")?;
        if end == 0 {
            put(f, "names", n);
            return Ok(p + 1);
        }
        put(f, format!("name.{n}"), text(&bytes[p..p + end]));
        n += 1;
        p += end + 1;
    }
}

/// `decode flist`: a whole file list with its end marker and id lists (§9), through
/// `rsync_proto::flist`; then re-encoded, which must give back rsync's bytes, and sorted.
fn decode_flist(v: &Vector, bytes: &[u8], f: &mut Fields) -> Result<usize, String> {
    let mut o = FlistOptions::new(num(param(v, "protocol")) as u32);
    let flag = |k: &str| param_or(v, k, "0") == "1";
    o.varint_flags = flag("varint_flags");
    o.preserve_uid = flag("uid");
    o.preserve_gid = flag("gid");
    o.preserve_links = flag("links");
    o.preserve_devices = flag("devices");
    o.preserve_specials = flag("specials");
    o.preserve_hard_links = flag("hard_links");
    o.id0_names = flag("id0_names");
    o.checksum_len = num(param_or(v, "checksum_len", "0"));
    let (list, used) = decode_file_list(&o, bytes).map_err(err)?;
    for (i, e) in list.entries.iter().enumerate() {
        let k = |s: &str| format!("entry.{i}.{s}");
        put(f, k("name"), text(e.name.as_bytes()));
        put(f, k("mode"), format!("{:o}", e.mode));
        put(f, k("size"), e.size());
        put(f, k("mtime"), e.mtime());
        put(f, k("nsec"), e.mtime_nsec);
        put(f, k("uid"), e.uid);
        put(f, k("gid"), e.gid);
        if e.is_device() || (e.is_special() && o.protocol < 31) {
            put(
                f,
                k("rdev"),
                format!("{},{}", e.rdev_major(), e.rdev_minor()),
            );
        }
        if let Some(t) = e.symlink() {
            put(f, k("symlink"), text(t));
        }
        if let Some(h) = e.hardlink() {
            put(f, k("hardlink"), format!("{h:?}"));
        }
        if let Some(c) = e.checksum() {
            put(f, k("checksum"), hexs(c));
        }
        if e.is_dir() {
            put(
                f,
                k("dir"),
                format!("top_dir={} no_content={}", e.top_dir(), e.no_content_dir()),
            );
        }
    }
    put(f, "entries", list.entries.len());
    put(f, "io_error", list.io_error);
    let ids = |l: &rsync_proto::flist::IdList| {
        let mut s: Vec<String> = l
            .names
            .iter()
            .map(|(id, n)| format!("{id}={}", text(n)))
            .collect();
        if let Some(n) = &l.id0_name {
            s.push(format!("0={}", text(n)));
        }
        s.join(" ")
    };
    put(f, "uids", ids(&list.uids));
    put(f, "gids", ids(&list.gids));
    let sorted = sort_file_list(list.entries.clone(), o.protocol);
    let names: Vec<String> = sorted
        .iter()
        .map(|e| {
            e.as_ref()
                .map_or("-".to_owned(), |e| text(e.name.as_bytes()))
        })
        .collect();
    put(f, "sorted", names.join(" "));
    let again = encode_file_list(&o, &list).map_err(|e| format!("re-encoding: {e}"))?;
    put(f, "reencodes", again == bytes[..used]);
    Ok(used)
}

/// The stream of generator requests or of the sender's replies (§10–§12), decoded with the
/// primitive codecs following [gen-request], plus `sums` and `token` for sum heads, block
/// sums and tokens.
fn decode_records(v: &Vector, bytes: &[u8], f: &mut Fields) -> Result<usize, String> {
    let proto = num(param(v, "protocol"));
    let sender = v.decode == "sender-records";
    let dry_run = param_or(v, "dry_run", "0") == "1";
    let kind = checksum(param(v, "checksum"));
    let seed: i32 = param_or(v, "seed", "0").parse().unwrap();
    let seed_fix = param_or(v, "seed_fix", "1") == "1";
    let limits = Limits::default();
    let mut r = WireReader::new(bytes);
    let mut nd = NdxDecoder::default();
    let mut i = 0;
    while !r.is_empty() {
        let k = |s: &str| format!("rec.{i}.{s}");
        let ndx = if proto >= 30 {
            nd.decode(&mut r).map_err(err)?
        } else {
            r.int().map_err(err)?
        };
        put(f, k("ndx"), ndx);
        if ndx == -3 {
            // [del-stats]: five varints follow NDX_DEL_STATS.
            let c: Vec<String> = (0..5)
                .map(|_| r.varint().map(|x| x.to_string()))
                .collect::<Result<_, _>>()
                .map_err(err)?;
            put(f, k("del_stats"), c.join(" "));
        }
        if ndx < 0 {
            i += 1;
            continue;
        }
        let iflags = if proto >= 29 {
            r.shortint().map_err(err)?
        } else {
            0x8000
        };
        if proto >= 29 {
            put(f, k("iflags"), format!("{iflags:#06x}"));
        }
        if iflags & 0x0800 != 0 {
            put(
                f,
                k("basis_type"),
                format!("{:#04x}", r.byte().map_err(err)?),
            );
        }
        if iflags & 0x1000 != 0 {
            put(f, k("xname"), text(r.vstring().map_err(err)?));
        }
        if iflags & 0x8000 != 0 && !dry_run {
            let head = decode_sum_head(&mut r, kind.digest_len(), &limits).map_err(err)?;
            let h = [head.count, head.block_len, head.strong_len, head.remainder];
            put(f, k("sum_head"), h.map(|x| x.to_string()).join(" "));
            if sender {
                let mut toks = Vec::new();
                let mut data = Vec::new();
                loop {
                    match decode_token(&mut r, kind.digest_len(), &limits).map_err(err)? {
                        TokenEvent::Token(Token::Literal(b)) => {
                            toks.push(format!("L{}", b.len()));
                            data.extend_from_slice(b);
                        }
                        TokenEvent::Token(Token::Copy(b)) => toks.push(format!("C{b}")),
                        TokenEvent::End { file_sum } => {
                            put(f, k("file_sum"), hexs(file_sum));
                            if toks.iter().all(|t| t.starts_with('L')) {
                                put(f, k("data"), text(&data));
                                let mut h = StrongSum::new(kind, seed)
                                    .with_seed_fix(seed_fix)
                                    .file_hasher();
                                h.update(&data);
                                put(f, k("file_sum_ok"), h.finish().as_bytes() == file_sum);
                            }
                            break;
                        }
                    }
                }
                put(f, k("tokens"), toks.join(" "));
            } else {
                let sig = decode_block_sums(&mut r, head).map_err(err)?;
                let n = head.strong_len as usize;
                let strong = sig.strong_sums().chunks(n.max(1));
                for (b, (w, st)) in sig.weak_sums().iter().zip(strong).enumerate() {
                    put(f, k(&format!("block.{b}")), format!("{w:08x} {}", hexs(st)));
                }
                if let Some(basis) = v.params.get(&format!("basis.{ndx}")) {
                    let basis = parse_hex(basis)?;
                    let strong = StrongSum::new(kind, seed).with_seed_fix(seed_fix);
                    let want = Signature::compute(&basis, head, strong);
                    put(f, k("blocks_ok"), want == sig);
                }
            }
        }
        i += 1;
    }
    put(f, "records", i);
    Ok(r.position())
}

/// `decode stats`: total_read, total_written, total_size, and from protocol 29 the two
/// file-list times, as `varlong30(3)` ([stats]).
fn decode_stats(v: &Vector, r: &mut WireReader<'_>, f: &mut Fields) -> Result<(), String> {
    let proto = num(param(v, "protocol"));
    let names = [
        "total_read",
        "total_written",
        "total_size",
        "flist_buildtime",
        "flist_xfertime",
    ];
    for n in &names[..if proto >= 29 { 5 } else { 3 }] {
        let x = if proto >= 30 {
            r.varlong(3)
        } else {
            r.longint()
        };
        put(f, *n, x.map_err(err)?);
    }
    Ok(())
}

/// `decode digest`: the bytes are a digest of `param content` (hex) with `param checksum`,
/// unseeded ([flist-checksum]).
fn decode_digest(v: &Vector, bytes: &[u8], f: &mut Fields) -> Result<usize, String> {
    let kind = checksum(param(v, "checksum"));
    let content = parse_hex(param(v, "content"))?;
    let mut out = [0u8; 16];
    let n = StrongSum::new(kind, 0).block_sum(&content, &mut out);
    put(f, "matches", out[..n] == *bytes);
    Ok(n.min(bytes.len()))
}

fn decode(v: &Vector) -> Result<Fields, String> {
    let mut f = Fields::new();
    let b = &v.hex;
    let mut r = WireReader::new(b);
    let used = match v.decode.as_str() {
        "prims" => decode_prims(v, &mut r, &mut f).map(|()| r.position()),
        "frames" => decode_frames(b, &mut f),
        "handshake-s2c" | "handshake-c2s" => decode_handshake(v, b, &mut f),
        "server-argv" => decode_argv(b, &mut f),
        "lines" => decode_lines(b, &mut f),
        "filter-list" => decode_filter_list(&mut r, &mut f).map(|()| r.position()),
        "nul-list" => decode_nul_list(b, &mut f),
        "flist" => decode_flist(v, b, &mut f),
        "gen-records" | "sender-records" => decode_records(v, b, &mut f),
        "stats" => decode_stats(v, &mut r, &mut f).map(|()| r.position()),
        "digest" => decode_digest(v, b, &mut f),
        other => Err(format!("unknown decoder {other}")),
    }?;
    if used != b.len() {
        return Err(format!("decoded {used} of {} bytes", b.len()));
    }
    Ok(f)
}

#[test]
fn vectors_are_rsyncs_bytes_and_decode_as_stated() {
    let vectors = all_vectors();
    assert!(vectors.len() >= 30, "only {} vectors", vectors.len());
    let mut failures = Vec::new();
    let mut checks = 0;
    for v in &vectors {
        match source_bytes(&v.source) {
            Ok(b) if b == v.hex => {}
            Ok(b) => failures.push(format!(
                "{}: hex differs from the capture, which has {}",
                v.name,
                hexs(&b)
            )),
            Err(e) => failures.push(format!("{}: source: {e}", v.name)),
        }
        if v.expects.len() < 2 {
            failures.push(format!("{}: fewer than 2 expect lines", v.name));
        }
        match decode(v) {
            Err(e) => failures.push(format!("{}: decode {}: {e}", v.name, v.decode)),
            Ok(fields) => {
                for (line, k, want) in &v.expects {
                    checks += 1;
                    match fields.get(k) {
                        Some(got) if got == want => {}
                        Some(got) => failures.push(format!(
                            "{}:{line}: {k} is {got:?}, expected {want:?}",
                            v.name
                        )),
                        None => failures.push(format!(
                            "{}:{line}: no field {k}; decoded: {}",
                            v.name,
                            fields
                                .iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{} vectors, {checks} fields checked", vectors.len());
}

/// Labels RFC.md defines in the sections whose messages need a vector here: written in bold
/// (`**[label]**`) or in a `###` heading (`### 5.1 Frame header [mux-header]`).
fn defined_labels(rfc: &str) -> Vec<String> {
    let start = rfc.find("\n## 4. ").expect("§4");
    let end = rfc.find("\n## 14. ").expect("§14");
    let mut out = Vec::new();
    let mut rest = &rfc[start..end];
    while let Some(p) = rest.find("**[") {
        rest = &rest[p + 3..];
        if let Some(q) = rest.find("]**") {
            out.push(rest[..q].to_owned());
            rest = &rest[q..];
        }
    }
    for line in rfc[start..end].lines().filter(|l| l.starts_with("### ")) {
        let mut rest = line;
        while let Some(p) = rest.find('[') {
            rest = &rest[p + 1..];
            if let Some(q) = rest.find(']') {
                out.push(rest[..q].to_owned());
                rest = &rest[q..];
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn rfc_cites_every_vector_and_every_message_label_has_one() {
    let rfc = rfc_md();
    let vectors = all_vectors();
    let mut failures = Vec::new();
    for v in &vectors {
        if !rfc.contains(&v.name) {
            failures.push(format!("{}: not cited by RFC.md", v.name));
        }
        if v.labels.is_empty() {
            failures.push(format!("{}: no labels", v.name));
        }
        for l in &v.labels {
            let defined = rfc.contains(&format!("**{l}**"))
                || rfc
                    .lines()
                    .any(|x| x.starts_with("### ") && x.contains(l.as_str()));
            if !defined {
                failures.push(format!("{}: label {l} is not defined in RFC.md", v.name));
            }
        }
    }
    // The `covers:` list of this file's documentation (read by tests/tests/vectors.rs) must be
    // exactly the labels the vectors claim.
    let me =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rfc_vectors.rs"))
            .unwrap();
    let start = me.find("//! covers:").unwrap();
    let end = start + me[start..].find("\n\n").unwrap();
    let mut covers: Vec<&str> = me[start..end]
        .split_whitespace()
        .filter(|w| w.starts_with('['))
        .collect();
    covers.sort_unstable();
    let mut claimed: Vec<&str> = vectors
        .iter()
        .flat_map(|v| v.labels.iter().map(String::as_str))
        .collect();
    claimed.sort_unstable();
    claimed.dedup();
    if covers != claimed {
        failures.push(format!(
            "the covers: list of rfc_vectors.rs is {covers:?}, the vectors claim {claimed:?}"
        ));
    }
    let labels = defined_labels(&rfc);
    assert!(
        labels.len() >= 30,
        "only {} labels found in RFC.md §4-§13",
        labels.len()
    );
    for l in labels {
        let tag = format!("[{l}]");
        if !vectors.iter().any(|v| v.labels.contains(&tag)) {
            failures.push(format!(
                "RFC.md defines {tag} but no vector in tests/data/vectors/rfc/ covers it"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
