//! An rdiff delta from a hostile source, patched against a small basis with an output limit:
//! never a panic, never more output than the limit. Differential: a delta we accept is
//! accepted by `fast_rsync` with the same output (we may reject more: trailing bytes after
//! END, zero lengths).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsync_core::librsync::apply;
use rsync_core::Limits;

fuzz_target!(|delta: &[u8]| {
    let basis: Vec<u8> = (0..4096u32).map(|i| (i * 31) as u8).collect();
    let limits = Limits {
        max_output: 1 << 20,
        ..Limits::default()
    };
    if let Ok(out) = apply(&basis, delta, &limits) {
        assert!(out.len() as u64 <= limits.max_output);
        let mut theirs = Vec::new();
        fast_rsync::apply_limited(&basis, delta, &mut theirs, 1 << 20)
            .expect("fast_rsync rejects a delta we accept");
        assert_eq!(theirs, out);
    }
});
