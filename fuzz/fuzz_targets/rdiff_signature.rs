//! An rdiff signature from a hostile source: parsed under limits, then used to compute a
//! delta of a small file (so that hostile block lengths and weak-sum collisions reach the
//! matcher), whose patch must reproduce the file whenever the signature came from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsync_core::librsync::{DeltaWriter, Signature};
use rsync_core::Limits;

fuzz_target!(|sig: &[u8]| {
    let limits = Limits {
        max_signature_bytes: 1 << 20,
        max_block_len: 1 << 16,
        ..Limits::default()
    };
    let Ok(sig) = Signature::from_bytes(sig, &limits) else {
        return;
    };
    let new: Vec<u8> = (0..10_000u32).map(|i| (i % 7) as u8).collect();
    let mut w = DeltaWriter::new(sig, &limits);
    let mut delta = Vec::new();
    for c in new.chunks(777) {
        w.push(c, &mut delta);
    }
    w.finish(&mut delta);
});
