//! Properties: the wire encoder and decoder round-trip; the server's list built from what a
//! client sends answers like the client's own list; hostile input never panics.

use proptest::prelude::*;

use super::wire::{decode_filter_list, encode_rules, FilterListDecoder, WireContext, WireLimits};
use super::*;

/// Bytes that make patterns interesting: wildcards, slashes, classes, escapes, spaces.
fn pattern_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => prop::sample::select(b"ab.c/".to_vec()),
        1 => prop::sample::select(b"*?[]!^-:\\ _".to_vec()),
        1 => prop::sample::select(b"xyz0\xe9\xff".to_vec()),
    ]
}

fn pattern() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(pattern_byte(), 1..8)
}

/// A path built from the same alphabet as the patterns, without empty components.
fn path() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::collection::vec(prop::sample::select(b"ab.cxz0*?[]!-\xe9".to_vec()), 1..4),
        1..4,
    )
    .prop_map(|parts| parts.join(&b'/'))
}

/// A rule in the full syntax: a prefix with some modifiers, then a pattern.
fn rule_text() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec!["-", "+", "H", "S", "P", "R", "exclude,", "include,"]),
        prop::sample::subsequence(vec!["/", "!", "p", "s", "r"], 0..3),
        pattern(),
        any::<bool>(),
    )
        .prop_map(|(prefix, mods, pat, dir)| {
            let sided = matches!(prefix, "H" | "S" | "P" | "R");
            let mut t = prefix.as_bytes().to_vec();
            for m in mods {
                if !(sided && matches!(m, "s" | "r")) {
                    t.extend_from_slice(m.as_bytes());
                }
            }
            t.push(b' ');
            t.extend_from_slice(&pat);
            if dir {
                t.push(b'/');
            }
            t
        })
}

fn filter_list(rules: &[Vec<u8>], delete_excluded: bool) -> FilterList {
    let mut l = FilterList::new();
    l.set_delete_excluded(delete_excluded);
    for r in rules {
        // Every generated rule is valid; a failure here is a parser bug.
        if let Err(e) = l.add_filter(r) {
            panic!("{}: {e}", String::from_utf8_lossy(r));
        }
    }
    l
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_decode_round_trip(rules in prop::collection::vec(prop::collection::vec(1u8..=255, 1..40), 0..20)) {
        let bytes = encode_rules(&rules);
        let (back, used) = decode_filter_list(&bytes, &WireLimits::default())
            .unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(back, rules);
        prop_assert_eq!(used, bytes.len());
    }

    #[test]
    fn decoder_is_split_invariant(rules in prop::collection::vec(prop::collection::vec(1u8..=255, 1..40), 0..10),
                                  cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let bytes = encode_rules(&rules);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.push(bytes.len());
        points.sort_unstable();
        let mut d = FilterListDecoder::default();
        let mut buf = Vec::new();
        let mut fed = 0;
        for p in points {
            buf.extend_from_slice(&bytes[fed..p]);
            fed = p;
            let used = d.feed(&buf).unwrap_or_else(|e| panic!("{e}"));
            buf.drain(..used);
        }
        prop_assert!(d.is_done());
        prop_assert!(buf.is_empty());
        prop_assert_eq!(d.into_rules(), rules);
    }

    #[test]
    fn decoder_never_panics_and_respects_limits(input in prop::collection::vec(any::<u8>(), 0..300)) {
        let lim = WireLimits { max_rule_len: 64, max_rules: 3, max_total_bytes: 100 };
        let mut d = FilterListDecoder::new(lim);
        if let Ok(used) = d.feed(&input) {
            prop_assert!(used <= input.len());
            prop_assert!(d.rules().len() <= 3);
            prop_assert!(d.rules().iter().all(|r| r.len() <= 64));
            if d.is_done() {
                let (again, n) = decode_filter_list(&input, &lim).unwrap_or_else(|e| panic!("{e}"));
                prop_assert_eq!(n, used);
                prop_assert_eq!(&again, d.rules());
            }
        }
    }

    #[test]
    fn hostile_rule_texts_never_panic(text in prop::collection::vec(any::<u8>(), 0..60),
                                      name in prop::collection::vec(any::<u8>(), 0..30),
                                      protocol in 27u32..=32) {
        let mut l = FilterList::new();
        if l.add_wire_rule(&text, protocol).is_ok() {
            for side in [Side::Sender, Side::Receiver] {
                let _ = l.check(&name, false, side);
                let _ = l.check(&name, true, side);
            }
        }
        let _ = FilterList::new().add_filter(&text);
        let _ = FilterList::new().add_exclude_from(&text);
    }

    #[test]
    fn canonical_text_round_trips(rule in rule_text()) {
        let l = filter_list(&[rule], false);
        let text = l.rules()[0].to_text();
        let again = filter_list(&[text], false);
        prop_assert_eq!(again.rules(), l.rules());
    }

    /// The server's list, built from the bytes a client sends, answers every name on the
    /// server's side exactly as the client's own list does.
    #[test]
    fn server_list_agrees_with_client_list(rules in prop::collection::vec(rule_text(), 0..6),
                                           paths in prop::collection::vec((path(), any::<bool>()), 1..12),
                                           push in any::<bool>(),
                                           delete_excluded in any::<bool>(),
                                           protocol in prop::sample::select(vec![29u32, 30, 31, 32])) {
        let client = filter_list(&rules, delete_excluded);
        let ctx = WireContext { protocol, client_is_sender: push, delete: true, prune_empty_dirs: false };
        let sent = match client.wire_rules(&ctx) {
            Ok(Some(sent)) => sent,
            // A perishable rule cannot be sent at 29 by a sending client.
            Ok(None) | Err(FilterError::TooModern { .. }) => return Ok(()),
            Err(e) => panic!("{e}"),
        };
        let bytes = encode_rules(&sent);
        let (texts, _) = decode_filter_list(&bytes, &WireLimits::default()).unwrap_or_else(|e| panic!("{e}"));
        let server = FilterList::from_wire(&texts, protocol, delete_excluded).unwrap_or_else(|e| panic!("{e}"));
        let side = if push { Side::Receiver } else { Side::Sender };
        for (p, dir) in &paths {
            let q = Query::new(p, *dir, side);
            prop_assert_eq!(
                client.matching_rule(&q).map(Rule::verdict),
                server.matching_rule(&q).map(Rule::verdict),
                "{} {:?}", String::from_utf8_lossy(p), sent
            );
        }
    }

    #[test]
    fn matching_is_total(pat in pattern(), name in path(), dir in any::<bool>()) {
        let mut text = b"- ".to_vec();
        text.extend_from_slice(&pat);
        let l = filter_list(&[text], false);
        let plain = l.check(&name, dir, Side::Sender).is_some();
        let mut neg = b"-! ".to_vec();
        neg.extend_from_slice(&pat);
        let n = filter_list(&[neg], false);
        // Negation flips the answer for every non-empty name.
        prop_assert_eq!(n.check(&name, dir, Side::Sender).is_some(), !plain);
    }
}
