//! Parsing rsync's command lines (client and server) and building the server's.

use super::*;

#[test]
fn log_format_reaches_a_server_only() {
    let (o, _) = parse(
        &os(&[
            "--server",
            "-logDtpre.iLsfxCIvu",
            "--log-format=%i",
            ".",
            "d/",
        ]),
        true,
    )
    .expect("server argv");
    assert_eq!(o.itemize, 1);
    let (o, _) = parse(&os(&["--server", "--log-format=%i%I", ".", "d/"]), true).expect("argv");
    assert_eq!(o.itemize, 2);
    let (o, _) = parse(&os(&["--server", "--log-format=X", ".", "d/"]), true).expect("argv");
    assert_eq!(o.itemize, 0);
    assert!(matches!(
        parse(&os(&["--log-format=%i", "a", "b"]), false),
        Err(OptionsError::NotSupported(_))
    ));
    let (o, _) = parse(&os(&["-ai", "a", "b"]), false).expect("client argv");
    let push = o.server_args(true, 31, b"LsfxCIvu");
    assert!(
        push.contains(&OsString::from("--log-format=%i")),
        "{push:?}"
    );
    let pull = o.server_args(false, 31, b"LsfxCIvu");
    assert!(!pull
        .iter()
        .any(|a| a.as_bytes().starts_with(b"--log-format")));
}

fn os(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

#[test]
fn archive_and_clusters() {
    let (o, rest) = parse(&os(&["-avH", "--delete", "src/", "dst"]), false).unwrap();
    assert!(
        o.recursive
            && o.links
            && o.perms
            && o.times
            && o.group
            && o.owner
            && o.devices
            && o.specials
    );
    assert!(o.hard_links);
    assert_eq!(o.verbose, 1);
    assert_eq!(o.delete, Some(DeleteMode::Default));
    assert_eq!(rest, os(&["src/", "dst"]));
    let (o, _) = parse(&os(&["-a", "--no-o", "--no-g", "--no-D"]), false).unwrap();
    assert!(!o.owner && !o.group && !o.devices && !o.specials && o.perms);
}

#[test]
fn values_inline_or_separate() {
    let (o, _) = parse(
        &os(&[
            "-e",
            "ssh -p 2222",
            "--rsync-path=/opt/rsync",
            "-B1024",
            "--timeout",
            "30",
        ]),
        false,
    )
    .unwrap();
    assert_eq!(o.rsh, Some("ssh -p 2222".into()));
    assert_eq!(o.rsync_path, Some("/opt/rsync".into()));
    assert_eq!(o.block_size, Some(1024));
    assert_eq!(o.timeout, Some(30));
    let (o, _) = parse(
        &os(&["--exclude=*.o", "--include", "keep.o", "-f", "- tmp/"]),
        false,
    )
    .unwrap();
    assert_eq!(
        o.filters,
        vec![
            FilterArg::Exclude(b"*.o".to_vec()),
            FilterArg::Include(b"keep.o".to_vec()),
            FilterArg::Filter(b"- tmp/".to_vec())
        ]
    );
}

#[test]
fn refuses_what_it_does_not_do() {
    let e = parse(&os(&["-z"]), false).unwrap_err();
    assert_eq!(e, OptionsError::NotSupported("-z".into()));
    assert_eq!(e.exit_code().code(), 4);
    let e = parse(&os(&["--bogus"]), false).unwrap_err();
    assert_eq!(e.exit_code().code(), 1);
    assert_eq!(e.to_string(), "--bogus: unknown option");
    assert!(matches!(
        parse(&os(&["--timeout=x"]), false),
        Err(OptionsError::BadValue { .. })
    ));
    let e = parse(&os(&["-e"]), false).unwrap_err();
    assert_eq!(e, OptionsError::MissingValue("-e".into()));
    assert_eq!(e.to_string(), "-e: missing argument");
    assert_eq!(e.exit_code().code(), 1);
    let e = parse(&os(&["a", "--timeout"]), false).unwrap_err();
    assert_eq!(e.to_string(), "--timeout: missing argument");
}

#[test]
fn block_size_is_bounded_like_rsync() {
    assert_eq!(parse(&os(&["-B0"]), false).unwrap().0.block_size, Some(0));
    let (o, _) = parse(&os(&["--block-size=131072"]), false).unwrap();
    assert_eq!(o.block_size, Some(MAX_BLOCK_SIZE));
    let e = parse(&os(&["--block-size=131073"]), false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "--block-size=131073 is too large (max: 131072)"
    );
    assert_eq!(e.exit_code().code(), 1);
    // Below protocol 30 the old bound applies, as in rsync; a server always accepts it.
    let (o, _) = parse(&os(&["--protocol=29", "-B", "200000"]), false).unwrap();
    assert_eq!(o.block_size, Some(200_000));
    let (o, _) = parse(&os(&["-B200000"]), true).unwrap();
    assert_eq!(o.block_size, Some(200_000));
    assert!(matches!(
        parse(&os(&["-B", "200000", "--protocol=30"]), false),
        Err(OptionsError::BlockSizeTooLarge {
            size: 200_000,
            max: MAX_BLOCK_SIZE
        })
    ));
    let e = parse(&os(&["-B99999999999"]), false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "--block-size=99999999999 is too large (max: 131072)"
    );
    for bad in ["--block-size=-1", "--block-size=abc", "-B"] {
        assert!(
            matches!(
                parse(&os(&[bad]), false),
                Err(OptionsError::BadValue { .. } | OptionsError::MissingValue(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn server_args_match_stock_rsync() {
    // Stock rsync 3.5.0 client, `rsync -a src/ host:dst/` (push): `--server -logDtpre.iLsfxCIvu . dst/`.
    let (o, _) = parse(&os(&["-a"]), false).unwrap();
    assert_eq!(
        o.server_args(true, 32, b"iLsfxCIvu"),
        os(&["--server", "-logDtpre.iLsfxCIvu"])
    );
    // Pull: `--server --sender -logDtpre.iLsfxCIvu`.
    assert_eq!(
        o.server_args(false, 32, b"iLsfxCIvu"),
        os(&["--server", "--sender", "-logDtpre.iLsfxCIvu"])
    );
    // Protocol 29: no -e letters (observed: `-logDtpr`).
    assert_eq!(
        o.server_args(false, 29, b"LsfxCIvu"),
        os(&["--server", "--sender", "-logDtpr"])
    );
    // The captured pull in tests/data/vectors: `-Ie.LsfxCIvu --checksum-choice=xxh128 --checksum-seed=-99`.
    let (o, _) = parse(
        &os(&["-I", "--checksum-seed=-99", "--checksum-choice=xxh128"]),
        false,
    )
    .unwrap();
    assert_eq!(
        o.server_args(false, 31, b"LsfxCIvu"),
        os(&[
            "--server",
            "--sender",
            "-Ie.LsfxCIvu",
            "--checksum-choice=xxh128",
            "--checksum-seed=-99"
        ])
    );
    // argv-p31-filesfrom.vec: stock sends `-logDtpR … --files-from=- --from0`.
    let (o, _) = parse(&os(&["-a", "--files-from=list", "--from0"]), false).unwrap();
    assert_eq!(
        o.server_args(false, 31, b""),
        os(&[
            "--server",
            "--sender",
            "-logDtpRe.",
            "--files-from=-",
            "--from0"
        ])
    );
    let (o, _) = parse(
        &os(&["-a", "--no-relative", "--files-from=list", "--from0"]),
        false,
    )
    .unwrap();
    assert!(o.server_args(false, 31, b"").ends_with(&os(&[
        "--files-from=-",
        "--from0",
        "--no-relative"
    ])));
}

#[test]
fn server_side_parse() {
    let (o, rest) = parse(
        &os(&[
            "--server",
            "--sender",
            "-vlogDtprce.iLsfxCIvu",
            "--numeric-ids",
            ".",
            "src/",
        ]),
        true,
    )
    .unwrap();
    assert!(o.server && o.sender && o.checksum && o.numeric_ids && o.recursive);
    assert_eq!(o.verbose, 1);
    assert_eq!(o.client_info.as_deref(), Some(&b".iLsfxCIvu"[..]));
    assert_eq!(rest, os(&[".", "src/"]));
    // macOS openrsync sends separate flags and no -e at all.
    let (o, _) = parse(
        &os(&[
            "--server", "-g", "-l", "-o", "-p", "-D", "-r", "-t", "-v", "--dirs", ".", "d",
        ]),
        true,
    )
    .unwrap();
    assert!(o.group && o.dirs && o.client_info.is_none());
}

#[test]
fn missing_args_and_force_reach_the_server_as_stock_sends_them() {
    // Captured from stock rsync 3.5.0 clients (argv of the remote shell).
    let (o, _) = parse(
        &os(&[
            "-a",
            "--force",
            "--delete-missing-args",
            "--ignore-missing-args",
            "--files-from=list",
            "--from0",
        ]),
        false,
    )
    .unwrap();
    assert_eq!(o.missing_args, MissingArgs::Delete);
    assert!(o.force);
    // Push: `--server -logDtpRe.LsfxCIvu --force --delete-missing-args . dst/`.
    assert_eq!(
        o.server_args(true, 32, b"LsfxCIvu"),
        os(&[
            "--server",
            "-logDtpRe.LsfxCIvu",
            "--force",
            "--delete-missing-args"
        ])
    );
    // Pull: `--server --sender -logDtpRe.LsfxCIvu --delete-missing-args --files-from=-
    // --from0 . src/` (--force is the receiver's business).
    assert_eq!(
        o.server_args(false, 32, b"LsfxCIvu"),
        os(&[
            "--server",
            "--sender",
            "-logDtpRe.LsfxCIvu",
            "--delete-missing-args",
            "--files-from=-",
            "--from0"
        ])
    );
    // --ignore-missing-args goes to a server sender only: `--server -logDtpre.iLsfxCIvu
    // --force . dst/` for a push.
    let (o, _) = parse(&os(&["-a", "--ignore-missing-args", "--force"]), false).unwrap();
    assert_eq!(o.missing_args, MissingArgs::Ignore);
    assert_eq!(
        o.server_args(true, 32, b"iLsfxCIvu"),
        os(&["--server", "-logDtpre.iLsfxCIvu", "--force"])
    );
    let pull = o.server_args(false, 32, b"iLsfxCIvu");
    assert!(
        pull.contains(&OsString::from("--ignore-missing-args")),
        "{pull:?}"
    );
    assert!(!pull.contains(&OsString::from("--force")), "{pull:?}");
    // `--delete-missing-args --checksum-seed=5 --numeric-ids`: stock's order.
    let (o, _) = parse(
        &os(&[
            "-a",
            "--delete-missing-args",
            "--checksum-seed=5",
            "--numeric-ids",
        ]),
        false,
    )
    .unwrap();
    assert!(o.server_args(true, 32, b"").ends_with(&os(&[
        "--delete-missing-args",
        "--checksum-seed=5",
        "--numeric-ids"
    ])));
    // Delete wins in either order; --no-force undoes --force; none is the default.
    let (o, _) = parse(
        &os(&[
            "--delete-missing-args",
            "--ignore-missing-args",
            "--force",
            "--no-force",
        ]),
        false,
    )
    .unwrap();
    assert_eq!((o.missing_args, o.force), (MissingArgs::Delete, false));
    let (o, _) = parse(&os(&["-a"]), false).unwrap();
    assert_eq!((o.missing_args, o.force), (MissingArgs::Error, false));
    assert!(!o
        .server_args(true, 32, b"")
        .iter()
        .any(|a| a.as_bytes().ends_with(b"missing-args")));
}

#[test]
fn a_server_reads_missing_args_and_force() {
    let (o, _) = parse(
        &os(&[
            "--server",
            "-logDtpRe.LsfxCIvu",
            "--force",
            "--delete-missing-args",
            ".",
            "dst/",
        ]),
        true,
    )
    .unwrap();
    assert!(o.force);
    assert_eq!(o.missing_args, MissingArgs::Delete);
    let (o, _) = parse(
        &os(&[
            "--server",
            "--sender",
            "-logDtpR",
            "--ignore-missing-args",
            ".",
            "s/",
        ]),
        true,
    )
    .unwrap();
    assert_eq!(o.missing_args, MissingArgs::Ignore);
}

#[test]
fn trust_sender_is_a_client_option_the_server_never_sees() {
    let (o, _) = parse(&os(&["-a", "--trust-sender"]), false).unwrap();
    assert!(o.trust_sender);
    assert_eq!(
        o.server_args(false, 32, b"LsfxCIvu"),
        parse(&os(&["-a"]), false)
            .unwrap()
            .0
            .server_args(false, 32, b"LsfxCIvu")
    );
    assert!(!parse(&os(&["-a"]), false).unwrap().0.trust_sender);
    // rsync has no --no-trust-sender.
    let e = parse(&os(&["--no-trust-sender"]), false).unwrap_err();
    assert_eq!(e.exit_code().code(), 1);
}
