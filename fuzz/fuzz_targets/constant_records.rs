//! Records of the constant extension from a hostile peer (RFC.md §15.3): the stream is split
//! into frames and each decoded as a master and as a mirror record. Nothing panics, no body
//! exceeds the record limit, and every record accepted
//! re-encodes to a frame that decodes to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsync_proto::constant::{
    decode_master, decode_mirror, RecordContext, RecordReader, MAX_RECORD_LEN,
};
use rsync_proto::flist::FlistOptions;

fuzz_target!(|data: &[u8]| {
    let mut flist = FlistOptions::new(31).archive();
    flist.inc_recurse = true; // names inline, as RFC.md §15.3 uses entries
    let ctx = RecordContext {
        flist,
        digest_len: 16,
        file_sum_len: 16,
        limits: Default::default(),
    };
    let mut reader = RecordReader::new();
    for chunk in data.chunks(97) {
        reader.push(chunk);
        while let Ok(Some((kind, body))) = reader.next_frame() {
            assert!(body.len() <= MAX_RECORD_LEN);
            if let Ok(Some(rec)) = decode_master(&ctx, kind, &body) {
                let mut again = Vec::new();
                if rec.encode(&ctx, &mut again).is_ok() {
                    let (k, b) = reframe(&again);
                    assert_eq!(k, kind);
                    assert_eq!(decode_master(&ctx, k, &b), Ok(Some(rec)));
                }
            }
            if let Ok(Some(rec)) = decode_mirror(&ctx, kind, &body) {
                let mut again = Vec::new();
                assert!(rec.encode(&mut again).is_ok());
                let (k, b) = reframe(&again);
                assert_eq!(k, kind);
                assert_eq!(decode_mirror(&ctx, k, &b), Ok(Some(rec)));
            }
        }
    }
});

/// The one frame of an encoded record.
fn reframe(wire: &[u8]) -> (u8, Vec<u8>) {
    let mut r = RecordReader::new();
    r.push(wire);
    match r.next_frame() {
        Ok(Some(frame)) if r.pending() == 0 => frame,
        other => panic!("re-encoded record does not frame: {other:?}"),
    }
}
