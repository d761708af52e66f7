//! `--version` / `-V`: the banner, in the shape of rsync's `print_rsync_version` (usage.c):
//! the version and protocol line, then what this build can do, worded as rsync words it
//! (`no X` for what it cannot).

/// The protocol whose wire format we speak (the handshake announces 32, which is 31 on
/// the wire).
const WIRE_PROTOCOL: u32 = 31;

/// One `Capabilities:` item: its name and whether we have it.
const CAPABILITIES: &[(&str, bool)] = &[
    ("64-bit files", true),
    ("64-bit inums", true),
    ("64-bit timestamps", true),
    ("64-bit long ints", true),
    ("socketpairs", true),
    ("symlinks", true),
    ("symtimes", true),
    ("hardlinks", true),
    ("hardlink-specials", true),
    ("hardlink-symlinks", true),
    ("IPv6", false),
    ("atimes", false),
    ("batchfiles", false),
    ("inplace", true),
    ("append", false),
    ("ACLs", false),
    ("xattrs", false),
    ("secluded-args", false),
    ("iconv", false),
    ("prealloc", false),
    ("stop-at", false),
    ("crtimes", false),
];

/// rsync's `Optimizations:` items: none of them is built in.
const OPTIMIZATIONS: &[(&str, bool)] = &[
    ("SIMD-roll", false),
    ("asm-roll", false),
    ("openssl-crypto", false),
    ("asm-MD5", false),
];

/// Items as rsync lists them: `name` or `no name`, comma-separated, wrapped to lines of at
/// most 80 columns indented by four spaces.
fn wrap(items: &[(&str, bool)]) -> String {
    let mut out = String::new();
    let mut line = String::from("   ");
    for (i, (name, have)) in items.iter().enumerate() {
        let word = if *have {
            (*name).to_owned()
        } else {
            format!("no {name}")
        };
        let sep = if i + 1 < items.len() { "," } else { "" };
        if line.len() + 1 + word.len() + sep.len() > 80 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("   ");
        }
        line.push(' ');
        line.push_str(&word);
        line.push_str(sep);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// The whole banner.
pub(crate) fn banner() -> String {
    let mut s = format!(
        "rsync-constant  version {}  protocol version {WIRE_PROTOCOL}\n",
        env!("CARGO_PKG_VERSION")
    );
    s.push_str(&format!(
        "Licensed under {}.\n",
        env!("CARGO_PKG_LICENSE").replace(" OR ", " or ")
    ));
    s.push_str("Capabilities:\n");
    s.push_str(&wrap(CAPABILITIES));
    s.push_str("Optimizations:\n");
    s.push_str(&wrap(OPTIMIZATIONS));
    // handshake: the negotiation list we offer; MD4 is the only checksum below protocol 30.
    s.push_str("Checksum list:\n    xxh128 xxh3 xxh64 md5 (md4 below protocol 30)\n");
    s.push_str("Compress list:\n    none\n");
    s.push_str("Daemon auth list:\n    none (no daemon mode)\n");
    s.push_str(
        "\nrsync-constant comes with ABSOLUTELY NO WARRANTY.  It is free software; see\n\
         its licenses for the conditions of redistribution.\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_has_rsyncs_shape() {
        let b = banner();
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(
            lines[0],
            format!(
                "rsync-constant  version {}  protocol version 31",
                env!("CARGO_PKG_VERSION")
            )
        );
        let caps = b
            .split("Capabilities:\n")
            .nth(1)
            .and_then(|r| r.split("Optimizations:").next())
            .unwrap_or_default();
        let items: Vec<&str> = caps.split(',').map(str::trim).collect();
        assert_eq!(items.len(), CAPABILITIES.len());
        for want in [
            "inplace",
            "hardlinks",
            "symtimes",
            "no ACLs",
            "no xattrs",
            "no iconv",
        ] {
            assert!(items.contains(&want), "{want} in {items:?}");
        }
        assert!(caps.lines().all(|l| l.len() <= 80 && l.starts_with("    ")));
        for section in ["Optimizations:", "Checksum list:", "Compress list:"] {
            assert!(lines.contains(&section), "{section}");
        }
    }
}
