//! A filter list from a hostile client: byte 0 picks the protocol (27..=32) and the side;
//! the rest is the wire bytes, then names to check (one per line). The decoder never panics
//! and respects its limits; every rule the server accepts re-parses from its canonical text
//! to the same rule (from protocol 29); matching never panics; and the accepted rules,
//! re-encoded, decode to the same texts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsync_proto::filter::wire::{decode_filter_list, encode_rules, FilterListDecoder, WireLimits};
use rsync_proto::filter::{FilterList, Query, Side};

fuzz_target!(|input: &[u8]| {
    let Some((&sel, data)) = input.split_first() else {
        return;
    };
    let protocol = 27 + u32::from(sel % 6);
    let side = if sel & 0x08 != 0 {
        Side::Sender
    } else {
        Side::Receiver
    };
    let limits = WireLimits {
        max_rule_len: 512,
        max_rules: 64,
        max_total_bytes: 4096,
    };
    let mut d = FilterListDecoder::new(limits);
    let Ok(used) = d.feed(data) else { return };
    assert!(used <= data.len());
    assert!(d.rules().len() <= 64);
    assert!(d.rules().iter().all(|r| r.len() <= 512));
    assert!(d.rules().iter().map(Vec::len).sum::<usize>() <= 4096);
    let names = &data[used..];
    let texts = d.into_rules();

    let mut list = FilterList::new();
    list.set_protocol(protocol);
    let mut accepted = Vec::new();
    for t in &texts {
        if list.add_wire_rule(t, protocol).is_ok() {
            accepted.push(t.clone());
        }
    }
    if protocol >= 29 {
        for rule in list.rules() {
            let mut again = FilterList::new();
            again.set_protocol(protocol);
            if again.add_filter(&rule.to_text()).is_ok() {
                assert_eq!(again.rules().first(), Some(rule));
            } else {
                panic!("canonical text of {rule:?} does not parse");
            }
        }
    }
    for line in names.split(|&b| b == b'\n').take(32) {
        for is_dir in [false, true] {
            let q = Query {
                ignore_perishable: sel & 0x10 != 0,
                base_dir: Some(b"/base/dir"),
                ..Query::new(line, is_dir, side)
            };
            let _ = list.matching_rule(&q);
        }
    }
    let bytes = encode_rules(&accepted);
    let (back, n) = decode_filter_list(&bytes, &WireLimits::default()).unwrap_or_default();
    assert_eq!((back, n), (accepted, bytes.len()));
});
