//! Shared data generators for the benches: the same inputs in criterion and in the
//! side-by-side scripts.

pub use rsync_tests::pseudo_random;

/// The "1% scattered edits" transformation: 4 KiB overwritten with fresh random bytes at
/// evenly spread offsets until 1% of the file has changed.
pub fn scattered_edits(basis: &[u8], seed: u64) -> Vec<u8> {
    let mut new = basis.to_vec();
    let edit = 4096;
    let edits = (basis.len() / 100 / edit).max(1);
    let stride = basis.len() / edits;
    let fresh = pseudo_random(edit * edits, seed);
    for (k, chunk) in fresh.chunks(edit).enumerate() {
        let at = k * stride + (stride / 3);
        if at + edit <= new.len() {
            new[at..at + edit].copy_from_slice(chunk);
        }
    }
    new
}

/// The "insertion" transformation: 1,000 bytes inserted at offset 10,000.
pub fn insertion(basis: &[u8], seed: u64) -> Vec<u8> {
    let at = 10_000.min(basis.len());
    let mut new = Vec::with_capacity(basis.len() + 1000);
    new.extend_from_slice(&basis[..at]);
    new.extend_from_slice(&pseudo_random(1000, seed));
    new.extend_from_slice(&basis[at..]);
    new
}
