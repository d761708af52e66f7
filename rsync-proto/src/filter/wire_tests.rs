//! Unit tests of the wire form: which rules a client sends, how they are written per
//! protocol, and the server's decoder.

use super::wire::*;
use super::*;

fn list(rules: &[&str]) -> FilterList {
    let mut l = FilterList::new();
    for r in rules {
        l.add_filter(r.as_bytes())
            .unwrap_or_else(|e| panic!("{r:?}: {e}"));
    }
    l
}

fn ctx(protocol: u32, push: bool, delete: bool) -> WireContext {
    WireContext {
        protocol,
        client_is_sender: push,
        delete,
        prune_empty_dirs: false,
    }
}

fn sent(l: &FilterList, c: WireContext) -> Option<Vec<String>> {
    l.wire_rules(&c).unwrap_or_else(|e| panic!("{e}")).map(|v| {
        v.iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    })
}

#[test]
fn when_a_list_is_sent() {
    let l = list(&["- a"]);
    assert_eq!(sent(&l, ctx(31, false, false)), Some(vec!["- a".into()]));
    assert_eq!(sent(&l, ctx(31, true, false)), None);
    assert_eq!(sent(&l, ctx(31, true, true)), Some(vec!["- a".into()]));
    let prune = WireContext {
        prune_empty_dirs: true,
        ..ctx(27, true, false)
    };
    assert_eq!(sent(&l, prune), Some(vec!["a".into()]));
    // A push with --delete --delete-excluded: from 29 the list goes (its plain rules are
    // sender-only, so they stay home).
    let mut l = list(&["- a", "P b"]);
    l.set_delete_excluded(true);
    assert_eq!(sent(&l, ctx(29, true, true)), Some(vec!["-r b".into()]));
    // Before 29 nothing goes, but rsync still checks the rules: "-r" cannot be written.
    assert!(matches!(
        l.wire_rules(&ctx(28, true, true)),
        Err(FilterError::TooModern { .. })
    ));
    let mut l = list(&["- a"]);
    l.set_delete_excluded(true);
    assert_eq!(sent(&l, ctx(28, true, true)), None);
    assert!(list_is_sent(&ctx(28, false, false), true));
    assert_eq!(
        FilterList::new().encode(&ctx(31, true, false)).ok(),
        Some(vec![])
    );
    assert_eq!(
        FilterList::new().encode(&ctx(31, false, false)).ok(),
        Some(vec![0, 0, 0, 0])
    );
}

#[test]
fn sides_decide_which_rules_travel() {
    let l = list(&["H h", "S s", "P p", "R r", "- both", "-sr two"]);
    // Pull: the server sends, so it gets the sender rules; receiver rules stay home.
    assert_eq!(
        sent(&l, ctx(31, false, true)),
        Some(
            ["-s h", "+s s", "- both", "-sr two"]
                .map(String::from)
                .to_vec()
        )
    );
    // Push with --delete: the server receives, so it gets the receiver rules.
    assert_eq!(
        sent(&l, ctx(31, true, true)),
        Some(
            ["-r p", "+r r", "- both", "-sr two"]
                .map(String::from)
                .to_vec()
        )
    );
    // Before 29 the side letters are dropped (the peer knows its role).
    assert_eq!(
        sent(&l, ctx(28, false, true)),
        Some(["h", "+ s", "both", "two"].map(String::from).to_vec())
    );
}

#[test]
fn protocol_specific_prefixes() {
    let l = list(&["- a/", "+ b", "exclude - c", "-! d", "-p e"]);
    assert_eq!(
        sent(&l, ctx(31, false, false)),
        Some(
            ["- a/", "+ b", "- - c", "-! d", "-p e"]
                .map(String::from)
                .to_vec()
        )
    );
    // Protocol 29 has no "p": a receiving client drops it, a sending client cannot.
    let p = list(&["-p e"]);
    assert_eq!(sent(&p, ctx(29, false, false)), Some(vec!["- e".into()]));
    let e = p.wire_rules(&ctx(29, true, true)).err();
    assert!(
        matches!(e, Some(FilterError::TooModern { protocol: 29, .. })),
        "{e:?}"
    );
    // Before 29: "a" bare, "+ b", "- - c" keeps its prefix, "!" cannot be sent.
    let e = l.wire_rules(&ctx(28, false, false)).err();
    assert!(matches!(
        e,
        Some(FilterError::TooModern { protocol: 28, .. })
    ));
    assert_eq!(
        e.map(|e| e.to_string()).unwrap_or_default(),
        "filter rules are too modern for remote rsync (protocol 28): -! d"
    );
    let l = list(&["- a/", "+ b", "exclude - c", "- + d"]);
    assert_eq!(
        sent(&l, ctx(27, false, false)),
        Some(["a/", "+ b", "- - c", "- + d"].map(String::from).to_vec())
    );
    // rsync checks the rules even when it sends nothing.
    assert!(list(&["-/ x"]).wire_rules(&ctx(28, true, false)).is_err());
}

#[test]
fn cvs_rule_on_the_wire() {
    let l = list(&["-C", "- tail"]);
    // A receiving client sends "-C " from 29 and lets the server expand it.
    let pull = sent(&l, ctx(31, false, false)).unwrap_or_default();
    assert_eq!(pull, ["-C ", "- tail"]);
    // A sending client (or below 29) sends the expanded list.
    let push = sent(&l, ctx(31, true, true)).unwrap_or_default();
    assert_eq!(push.len(), 37);
    assert_eq!(
        (push[0].as_str(), push[35].as_str(), push[36].as_str()),
        ("-p RCS", "-p .bzr/", "- tail")
    );
    let old = sent(&l, ctx(28, false, false)).unwrap_or_default();
    assert_eq!(
        (old[0].as_str(), old[35].as_str(), old[36].as_str()),
        ("RCS", ".bzr/", "tail")
    );
}

#[test]
fn encoding_bytes() {
    let l = list(&["- a", "+ */"]);
    assert_eq!(
        l.encode(&ctx(31, false, false)).unwrap_or_default(),
        b"\x03\0\0\0- a\x04\0\0\0+ */\0\0\0\0"
    );
    assert_eq!(encode_rules::<&[u8]>(&[]), [0, 0, 0, 0]);
}

#[test]
fn decoder_streams_and_bounds() {
    let bytes = encode_rules(&[&b"- a"[..], b"+ bb"]);
    let mut tail = bytes.clone();
    tail.extend_from_slice(b"after");
    let mut d = FilterListDecoder::default();
    assert_eq!(d.feed(&tail[..5]).ok(), Some(0));
    assert_eq!(d.feed(&tail[..7]).ok(), Some(7));
    assert!(!d.is_done());
    assert_eq!(d.feed(&tail[7..]).ok(), Some(bytes.len() - 7));
    assert!(d.is_done());
    assert_eq!(d.rules(), [b"- a".to_vec(), b"+ bb".to_vec()]);
    assert_eq!(d.feed(b"\0\0\0\0").ok(), Some(0));

    let lim = WireLimits::default();
    assert!(matches!(
        decode_filter_list(&bytes[..bytes.len() - 1], &lim),
        Err(FilterError::Incomplete)
    ));
    // A negative or huge length is refused before any byte of the rule arrives.
    let neg = (-1i32).to_le_bytes();
    assert!(matches!(
        decode_filter_list(&neg, &lim),
        Err(FilterError::BadLength { len: -1, .. })
    ));
    let big = 5120i32.to_le_bytes();
    assert!(matches!(
        decode_filter_list(&big, &lim),
        Err(FilterError::BadLength {
            len: 5120,
            max: 5119
        })
    ));
    assert!(decode_filter_list(&5119i32.to_le_bytes(), &lim)
        .is_err_and(|e| matches!(e, FilterError::Incomplete)));
    let few = WireLimits {
        max_rules: 1,
        ..lim
    };
    assert!(matches!(
        decode_filter_list(&bytes, &few),
        Err(FilterError::TooManyRules { max: 1 })
    ));
    let small = WireLimits {
        max_total_bytes: 6,
        ..lim
    };
    assert!(matches!(
        decode_filter_list(&bytes, &small),
        Err(FilterError::ListTooLarge { max: 6 })
    ));
    let exact = WireLimits {
        max_total_bytes: 7,
        ..lim
    };
    assert!(decode_filter_list(&bytes, &exact).is_ok());
}
