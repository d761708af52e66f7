//! A file list from a hostile sender: byte 0 picks the protocol (27..=31) and the options
//! (bit 7: `-R`, where names may start with `/`); the decoder never panics, respects its
//! entry limit and accepts only safe names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsync_proto::flist::{FlistDecoder, FlistOptions};

fuzz_target!(|input: &[u8]| {
    let Some((&sel, data)) = input.split_first() else {
        return;
    };
    let protocol = 27 + u32::from(sel % 5);
    let mut opts = FlistOptions::new(protocol);
    if sel & 0x08 != 0 {
        opts = opts.archive();
    }
    opts.varint_flags = protocol >= 30 && sel & 0x10 != 0;
    opts.preserve_hard_links = sel & 0x20 != 0;
    opts.checksum_len = if sel & 0x40 != 0 { 16 } else { 0 };
    opts.relative = sel & 0x80 != 0;
    opts.max_entries = 1000;
    let Ok(mut d) = FlistDecoder::new(opts) else {
        return;
    };
    let mut at = 0;
    while at < data.len() {
        match d.feed(&data[at..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => at += n,
        }
    }
    assert!(d.entries().len() <= 1000);
    for e in d.entries() {
        let name = e.name.as_bytes();
        assert!(!name.starts_with(b"/") && !name.split(|&b| b == b'/').any(|c| c == b".."));
    }
});
