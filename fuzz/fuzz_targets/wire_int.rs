//! rsync's primitive wire types from a hostile peer: every decoder on arbitrary bytes, with
//! byte 0 choosing the varlong width. Decoders never panic and never consume past the input;
//! whatever decodes re-encodes to a value that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsync_proto::{NdxDecoder, WireReader, WireWrite};

fuzz_target!(|data: &[u8]| {
    let Some((&min, rest)) = data.split_first() else {
        return;
    };
    let mut r = WireReader::new(rest);
    let mut ndx = NdxDecoder::default();
    loop {
        let before = r.position();
        let ok = match before % 5 {
            0 => r.varint().map(|v| {
                let mut b = Vec::new();
                b.put_varint(v);
                assert_eq!(WireReader::new(&b).varint(), Ok(v));
            }),
            1 => r.varlong(min % 10).map(|_| ()),
            2 => r.longint().map(|_| ()),
            3 => r.vstring().map(|_| ()),
            _ => ndx.decode(&mut r).map(|_| ()),
        };
        assert!(r.position() <= rest.len());
        if ok.is_err() || r.position() == before {
            break;
        }
    }
});
