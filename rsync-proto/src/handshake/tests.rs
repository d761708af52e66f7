//! Tests of the handshake: captured stock traffic, in-memory client↔server pairs, hostile
//! input.

use super::*;
use crate::mux::{unmux, MuxLimits};
use crate::testdata::{captures, Capture};
use proptest::prelude::*;

/// Moves bytes both ways, `chunk` bytes at a time, until both sides are done (bounded).
fn drive(client: &mut Handshake, server: &mut Handshake, chunk: usize) -> (Negotiated, Negotiated) {
    for _ in 0..16 {
        if let Some(b) = client.poll_transmit() {
            for c in b.chunks(chunk) {
                server.handle_input(c).expect("server");
            }
        }
        if let Some(b) = server.poll_transmit() {
            for c in b.chunks(chunk) {
                client.handle_input(c).expect("client");
            }
        }
        if let (Some(c), Some(s)) = (client.negotiated(), server.negotiated()) {
            return (c.clone(), s.clone());
        }
    }
    panic!("handshake did not finish");
}

fn client(protocol: u8, offered: u32) -> Handshake {
    Handshake::client(ClientConfig {
        protocol,
        offered: CompatFlags(offered),
        ..ClientConfig::default()
    })
    .expect("valid config")
}

fn server(protocol: u8, letters: &[u8], seed: i32) -> Handshake {
    let mut cfg = ServerConfig::new(ClientInfo::from_letters(letters), seed);
    cfg.protocol = protocol;
    Handshake::server(cfg).expect("valid config")
}

#[test]
fn pairs_for_every_protocol() {
    for proto in [27u8, 29, 30, 31, 32] {
        for (letters, offered) in [(&b".LsfxCIvu"[..], 0x1fe), (&b".LsfxCIu"[..], 0x17e)] {
            for chunk in [1, 3, 1000] {
                let mut c = client(proto, offered);
                let mut s = server(31, letters, -0x1234_5678);
                let (cn, sn) = drive(&mut c, &mut s, chunk);
                assert_eq!(cn, sn, "p{proto} {letters:?}");
                assert_eq!(cn.protocol, proto.min(31));
                assert_eq!(cn.seed, -0x1234_5678);
                let (kind, source, flags) = match (proto >= 30, offered & 0x80 != 0) {
                    (false, _) => (ChecksumKind::Md4, ChecksumSource::Implied, 0),
                    (true, false) => (ChecksumKind::Md5, ChecksumSource::Implied, 0x17e),
                    (true, true) => (ChecksumKind::Xxh128, ChecksumSource::Negotiated, 0x1fe),
                };
                assert_eq!((cn.checksum, cn.checksum_source), (kind, source));
                assert_eq!(cn.compat_flags, CompatFlags(flags));
                assert_eq!(cn.seed_fix, proto >= 30);
                assert_eq!(cn.client_to_server_multiplexed(), proto >= 30);
                assert_eq!(cn.varint_flist_flags(), flags & 0x80 != 0);
                assert_eq!(cn.compression, None);
            }
        }
    }
}

#[test]
fn server_does_not_require_the_e_option() {
    // openrsync-style separate flags at protocol 30: no letters, so only the server's own
    // capabilities are set, nothing is negotiated and MD5 is implied (without the seed fix).
    let info = ClientInfo::from_args(["rsync", "--server", "-g", "-l", "-r", "-t", ".", "d/"]);
    assert_eq!(info.letters(), None);
    let mut s = Handshake::server(ServerConfig::new(info, 11)).expect("config");
    let mut c = client(30, 0);
    let (cn, sn) = drive(&mut c, &mut s, 1);
    assert_eq!(cn, sn);
    assert_eq!(cn.compat_flags, CompatFlags(0x06));
    assert_eq!((cn.checksum, cn.seed_fix), (ChecksumKind::Md5, false));
}

#[test]
fn negotiation_follows_both_preference_lists() {
    // Our client accepts only xxh64 and md5: the server's first choice it also lists.
    let mut c = Handshake::client(ClientConfig {
        checksums: vec![ChecksumKind::Md5, ChecksumKind::Xxh64],
        ..ClientConfig::default()
    })
    .expect("config");
    let mut s = server(32, b".LsfxCIvu", 5);
    let (cn, sn) = drive(&mut c, &mut s, 2);
    assert_eq!(
        (cn.checksum, sn.checksum),
        (ChecksumKind::Xxh64, ChecksumKind::Xxh64)
    );
    // The client advertised canonical order even though its config listed md5 first.
    let mut c = Handshake::client(ClientConfig {
        checksums: vec![ChecksumKind::Md5, ChecksumKind::Xxh64],
        ..ClientConfig::default()
    })
    .expect("config");
    let _ = c.poll_transmit();
    c.handle_input(&[0x1f, 0, 0, 0, 0x81, 0xfe]).expect("flags");
    assert_eq!(c.poll_transmit(), Some(b"\x09xxh64 md5".to_vec()));
}

/// A client fed a server's bytes directly; returns the client's outcome or error.
fn client_sees(
    server_bytes: &[u8],
    cfg: ClientConfig,
) -> Result<Option<Negotiated>, HandshakeError> {
    let mut c = Handshake::client(cfg)?;
    let _ = c.poll_transmit();
    Ok(c.handle_input(server_bytes)?.cloned())
}

fn server_head(list: &[u8]) -> Vec<u8> {
    let mut b = vec![0x20, 0, 0, 0, 0x81, 0xfe];
    b.put_vstring(list);
    b.put_int(7);
    b
}

#[test]
fn rule_of_3_5_0_picks_our_own_preference() {
    // A non-canonical peer list: 3.5.0 picks its own most preferred common name (xxh64, via
    // the alias `xxhash`); 3.2.7 would have taken the client's first.
    let n = client_sees(&server_head(b"md5 xxhash"), ClientConfig::default())
        .expect("ok")
        .expect("done");
    assert_eq!(n.checksum, ChecksumKind::Xxh64);
    assert_eq!(n.checksum_source, ChecksumSource::Negotiated);
    // md4, sha1 and none are never accepted.
    assert_eq!(
        client_sees(&server_head(b"md4 sha1 none"), ClientConfig::default()),
        Err(HandshakeError::NoCommonChoice {
            field: "checksum-list",
            peer_list: "md4 sha1 none".into()
        })
    );
    // An empty list has no common name either.
    assert!(matches!(
        client_sees(&server_head(b""), ClientConfig::default()),
        Err(HandshakeError::NoCommonChoice { .. })
    ));
    // Without the seed fix, md5 is not negotiable (its seed order is build-dependent).
    let mut b = vec![0x20, 0, 0, 0, 0x81, 0xde];
    b.put_vstring(b"md5");
    let cfg = ClientConfig {
        offered: CompatFlags(0x1de),
        ..ClientConfig::default()
    };
    assert!(matches!(
        client_sees(&b, cfg),
        Err(HandshakeError::NoCommonChoice { .. })
    ));
}

#[test]
fn hostile_inputs_are_typed_errors() {
    let cfg = ClientConfig::default;
    assert_eq!(
        client_sees(&[0, 0, 0, 0], cfg()),
        Err(HandshakeError::VersionOutOfRange { remote: 0 })
    );
    assert_eq!(
        client_sees(&1000i32.to_le_bytes(), cfg()),
        Err(HandshakeError::VersionOutOfRange { remote: 1000 })
    );
    assert_eq!(
        client_sees(&(-1i32).to_le_bytes(), cfg()),
        Err(HandshakeError::VersionOutOfRange { remote: -1 })
    );
    assert_eq!(
        client_sees(&26i32.to_le_bytes(), cfg()),
        Err(HandshakeError::Unsupported { remote: 26 })
    );
    // Truncated anywhere: no outcome, no error.
    let full = server_head(b"xxh128 md5");
    for cut in 0..full.len() {
        assert_eq!(client_sees(&full[..cut], cfg()), Ok(None), "cut {cut}");
    }
    assert!(client_sees(&full, cfg()).expect("ok").is_some());
    // A list longer than rsync's 255 bytes is refused from its length alone.
    assert_eq!(
        client_sees(&[0x20, 0, 0, 0, 0x81, 0xfe, 0x81, 0x00], cfg()),
        Err(HandshakeError::ListTooLong {
            field: "checksum-list",
            len: 256,
            max: 255
        })
    );
    let mut max = vec![0x20, 0, 0, 0, 0x81, 0xfe];
    let mut list = b"md5 ".repeat(63);
    list.extend_from_slice(b"md5");
    assert_eq!(list.len(), 255);
    max.put_vstring(&list);
    max.put_int(1);
    assert!(client_sees(&max, cfg()).expect("ok").is_some());
    // Compat flags: an overflowing varint, and a flag the client did not offer.
    assert!(matches!(
        client_sees(&[0x20, 0, 0, 0, 0xfc, 0, 0, 0, 0, 0, 0], cfg()),
        Err(HandshakeError::Decode {
            field: "compat-flags",
            ..
        })
    ));
    assert_eq!(
        client_sees(&[0x20, 0, 0, 0, 0x81, 0xff], cfg()),
        Err(HandshakeError::UnexpectedCompatFlags {
            flags: 0x1ff,
            offered: 0x1fe
        })
    );
    // Errors stick.
    let mut c = Handshake::client(cfg()).expect("config");
    assert!(c.handle_input(&[0, 0, 0, 0]).is_err());
    assert!(c.handle_input(&[0x1f, 0, 0, 0]).is_err());
    assert_eq!(c.take_remaining(), Vec::<u8>::new());
    // The server refuses bad client versions too.
    let mut s = server(31, b".LsfxCIvu", 1);
    assert_eq!(
        s.handle_input(&41i32.to_le_bytes()),
        Err(HandshakeError::VersionOutOfRange { remote: 41 })
    );
}

#[test]
fn own_configuration_is_checked() {
    let bad = |cfg: ClientConfig| Handshake::client(cfg).err();
    assert!(bad(ClientConfig {
        protocol: 26,
        ..ClientConfig::default()
    })
    .is_some());
    assert!(bad(ClientConfig {
        protocol: 33,
        ..ClientConfig::default()
    })
    .is_some());
    assert!(bad(ClientConfig {
        checksum_choice: Some(ChecksumKind::Md4),
        ..ClientConfig::default()
    })
    .is_some());
    assert!(bad(ClientConfig {
        checksum_choice: Some(ChecksumKind::Md5),
        offered: CompatFlags(0x1de),
        ..ClientConfig::default()
    })
    .is_some());
    assert!(bad(ClientConfig {
        checksums: vec![],
        ..ClientConfig::default()
    })
    .is_some());
    // A server asked for md5 by name by a client without `C`.
    let mut cfg = ServerConfig::new(ClientInfo::from_letters(b".Lsfxvu"), 3);
    cfg.checksum_choice = Some(ChecksumKind::Md5);
    let mut s = Handshake::server(cfg).expect("config");
    assert_eq!(
        s.handle_input(&31i32.to_le_bytes()),
        Err(HandshakeError::Md5WithoutSeedFix)
    );
}

#[test]
fn compression_lists_follow_the_checksum_list() {
    let names = |n: &[&str]| n.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    let mut c = Handshake::client(ClientConfig {
        compression: Compression::Negotiate(names(&["zstd", "lz4", "zlib"])),
        ..ClientConfig::default()
    })
    .expect("config");
    let mut scfg = ServerConfig::new(ClientInfo::from_letters(b".LsfxCIvu"), 9);
    scfg.compression = Compression::Negotiate(names(&["zlibx", "zlib", "zstd"]));
    let mut s = Handshake::server(scfg).expect("config");
    let first = s.poll_transmit().expect("version");
    c.handle_input(&first).expect("version");
    let (cn, sn) = drive(&mut c, &mut s, 4);
    // Each side's own first choice that the other lists: rsync 3.5.0's rule.
    assert_eq!(cn.compression.as_deref(), Some(&b"zstd"[..]));
    assert_eq!(sn.compression.as_deref(), Some(&b"zlib"[..]));
    // Without negotiation, -z means zlib.
    let mut c = Handshake::client(ClientConfig {
        offered: CompatFlags(0x17e),
        compression: Compression::Negotiate(names(&["zstd"])),
        ..ClientConfig::default()
    })
    .expect("config");
    let mut s = server(31, b".LsfxCIu", 9);
    let (cn, _) = drive(&mut c, &mut s, 4);
    assert_eq!(cn.compression.as_deref(), Some(&b"zlib"[..]));
}

#[test]
fn legacy_v_gets_one_byte_of_flags() {
    let mut s = server(31, b".LsfxCIV", 0x0102_0304);
    let _ = s.poll_transmit();
    s.handle_input(&31i32.to_le_bytes()).expect("version");
    let out = s.poll_transmit().expect("flags");
    // 0xfe: VARINT_FLIST_FLAGS set by `V`, written as one byte, then the list.
    assert_eq!(out[0], 0xfe);
    assert_eq!(out[1] as usize, b"xxh128 xxh3 xxh64 md5".len());
}

#[test]
fn bytes_after_the_handshake_are_kept() {
    let mut b = server_head(b"xxh3");
    b.extend_from_slice(&[0x02, 0, 0, 0x07, 0xaa, 0xbb]);
    let mut c = Handshake::client(ClientConfig::default()).expect("config");
    let n = c.handle_input(&b).expect("ok").cloned().expect("done");
    assert_eq!(n.checksum, ChecksumKind::Xxh3);
    assert_eq!(c.take_remaining(), [0x02, 0, 0, 0x07, 0xaa, 0xbb]);
}

#[test]
fn client_info_from_captured_argv() {
    let info = ClientInfo::from_args([
        "rsync",
        "--server",
        "-Ie.LsfxCIvu",
        "--checksum-seed=7",
        ".",
        "d",
    ]);
    assert_eq!(info.letters(), Some(&b".LsfxCIvu"[..]));
    // `-e` after the placeholder is a file name, not an option.
    let info = ClientInfo::from_args(["--server", "-I", ".", "-e.iv"]);
    assert_eq!(info.letters(), None);
    assert_eq!(info.server_flags(CompatFlags(0x1ff)), CompatFlags(0x06));
    assert_eq!(CompatFlags(0x1fe).client_letters(), "LsfxCIvu");
    assert_eq!(CompatFlags(0x1ff).client_letters(), "iLsfxCIvu");
}

fn kind(name: &str) -> ChecksumKind {
    ChecksumKind::from_name(name.as_bytes()).expect("known checksum")
}

/// What our handshake must refuse in a capture, if anything.
fn refused(cap: &Capture) -> bool {
    let c_letters = ClientInfo::from_args(&cap.argv);
    let seed_fix = c_letters
        .server_flags(CompatFlags(0x1ff))
        .contains(CF_CHKSUM_SEED_FIX);
    matches!(cap.choice(), Some("md4")) || (cap.choice() == Some("md5") && !seed_fix)
}

#[test]
fn captured_handshakes_decode_on_both_sides() {
    let mut decoded = 0;
    for cap in captures() {
        let info = ClientInfo::from_args(&cap.argv);
        let client_version = i32::from_le_bytes(cap.c2s[..4].try_into().expect("4"));
        let choice = cap.choice().map(kind);
        let offered = info.server_flags(CompatFlags(0x1ff));
        let ccfg = ClientConfig {
            protocol: u8::try_from(client_version).expect("version"),
            offered,
            checksum_choice: choice,
            ..ClientConfig::default()
        };
        let mut scfg = ServerConfig::new(info, cap.seed());
        scfg.protocol = 32;
        scfg.allowed = CompatFlags(0x1ff);
        scfg.checksum_choice = choice;
        if refused(&cap) {
            // md4 by name, or md5 by name without the seed fix: RFC.md §3.3 MUST NOT.
            let c = Handshake::client(ccfg);
            let s = Handshake::server(scfg).and_then(|mut s| s.handle_input(&cap.c2s).map(|_| ()));
            assert!(
                c.is_err() && s.is_err(),
                "{}: {:?} {:?}",
                cap.name,
                c.err(),
                s
            );
            continue;
        }
        // Our client against the stock server's bytes, five at a time; what follows the
        // handshake is returned by `take_remaining` and is the multiplexed stream.
        let mut c = Handshake::client(ccfg).expect("config");
        let mut sent = c.poll_transmit().expect("version");
        let mut got = None;
        let mut pushed = 0;
        for chunk in cap.s2c.chunks(5) {
            pushed += chunk.len();
            got = c.handle_input(chunk).expect("client").cloned();
            sent.extend(c.poll_transmit().unwrap_or_default());
            if got.is_some() {
                break;
            }
        }
        let n = got.unwrap_or_else(|| panic!("{}: client did not finish", cap.name));
        let mut rest = c.take_remaining();
        rest.extend_from_slice(&cap.s2c[pushed..]);
        let expect_len = match (cap.protocol() >= 30, n.checksum_source) {
            (false, _) => 8,
            (true, ChecksumSource::Negotiated) => 46,
            (true, _) => 10,
        };
        assert_eq!(cap.s2c.len() - rest.len(), expect_len, "{}", cap.name);
        assert_eq!(rest[..], cap.s2c[expect_len..], "{}", cap.name);
        assert_eq!(rest[3], 0x07, "{}: MSG_DATA first", cap.name);
        assert!(unmux(&rest, MuxLimits::default()).is_ok(), "{}", cap.name);
        assert_eq!(
            i32::from(n.protocol),
            cap.protocol().min(32),
            "{}",
            cap.name
        );
        assert_eq!(n.compat_flags, CompatFlags(cap.compat()), "{}", cap.name);
        assert_eq!(n.checksum.name(), cap.key("checksum"), "{}", cap.name);
        assert_eq!(n.seed, cap.seed(), "{}", cap.name);
        assert_eq!(
            u8::from(n.seed_fix).to_string(),
            cap.key("seed_fix"),
            "{}",
            cap.name
        );
        let source = match cap.key("checksum_source") {
            "choice" => ChecksumSource::Choice,
            "negotiated" => ChecksumSource::Negotiated,
            _ => ChecksumSource::Implied,
        };
        assert_eq!(n.checksum_source, source, "{}", cap.name);
        // Our client's bytes: stock's exactly, except our list has no md4/sha1.
        if source == ChecksumSource::Negotiated {
            assert_eq!(sent[..4], cap.c2s[..4]);
            assert_eq!(&sent[4..], b"\x15xxh128 xxh3 xxh64 md5");
        } else {
            assert_eq!(sent[..], cap.c2s[..sent.len()], "{}", cap.name);
        }

        // Our server against the stock client's bytes, one at a time.
        let mut s = Handshake::server(scfg).expect("config");
        let mut out = s.poll_transmit().expect("version");
        let mut sn = None;
        for b in cap.c2s.iter().take(64) {
            if sn.is_none() {
                sn = s.handle_input(&[*b]).expect("server").cloned();
                out.extend(s.poll_transmit().unwrap_or_default());
            }
        }
        let sn = sn.unwrap_or_else(|| panic!("{}: server did not finish", cap.name));
        assert_eq!(sn, n, "{}", cap.name);
        if source == ChecksumSource::Negotiated {
            // Stock's list ends "md5 md4 sha1 none"; ours ends at md5.
            let mut want = vec![0x20, 0, 0, 0, 0x81, 0xfe];
            want.put_vstring(b"xxh128 xxh3 xxh64 md5");
            want.put_int(cap.seed());
            assert_eq!(out, want);
        } else {
            assert_eq!(out[..], cap.s2c[..out.len()], "{}", cap.name);
        }
        decoded += 1;
    }
    assert_eq!(decoded, 16, "two captures are refused, the rest decode");
}

proptest! {
    #[test]
    fn arbitrary_server_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64), cut in 0usize..64) {
        let mut c = Handshake::client(ClientConfig::default()).expect("config");
        let cut = cut.min(b.len());
        let _ = c.handle_input(&b[..cut]);
        let _ = c.handle_input(&b[cut..]);
        let mut s = server(31, b".LsfxCIvu", 1);
        let _ = s.handle_input(&b);
        prop_assert!(s.negotiated().is_none() || b.len() >= 4);
    }

    #[test]
    fn pair_split_invariance(chunk in 1usize..12, proto in 27u8..=32, v in any::<bool>()) {
        let offered = if v { 0x1fe } else { 0x17e };
        let mut c = client(proto, offered);
        let mut s = server(32, if v { b".LsfxCIvu" } else { b".LsfxCIu" }, 77);
        let (cn, sn) = drive(&mut c, &mut s, chunk);
        prop_assert_eq!(&cn, &sn);
        prop_assert_eq!(cn.protocol, proto);
    }
}
