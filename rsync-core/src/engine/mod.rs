//! The block-matching engine shared by the rsync and librsync formats: an index of a
//! signature's blocks and a streaming scanner that turns a new file into literal runs and
//! block copies.
//!
//! Spec: RFC.md §3.5 `[matching]` (informative: any correct matcher interoperates). Reference:
//! rsync `hash_search` (match.c); the collision cap follows rsync 3.5.0 (chain walk ≤ 1024)
//! and fast_rsync (a weak sum with 1024 false positives is ignored from then on).
//!
//! Crate-private: the public faces are [`crate::Matcher`] and [`crate::librsync`].

mod index;
mod scan;

pub(crate) use index::Index;
pub(crate) use scan::{Engine, Op};

/// Longest strong sum of any format (BLAKE2 in librsync signatures).
pub(crate) const MAX_STRONG: usize = 32;

/// Most candidates compared for one weak-sum hit (rsync 3.5.0 caps its chain walk likewise).
pub(crate) const CHAIN_CAP: usize = 1024;

/// False positives (weak hit, strong miss) after which a weak sum is ignored.
pub(crate) const FAIL_CAP: u32 = 1024;

/// A rolling weak checksum over a fixed-length window.
pub(crate) trait Rolling: Clone {
    /// The checksum of a whole window.
    fn of_window(window: &[u8]) -> Self;
    /// Slides the window by one byte.
    fn rotate(&mut self, out: u8, incoming: u8);
    /// The 32-bit value stored in signatures.
    fn digest(&self) -> u32;
}

/// Windows hashed together by [`StrongHasher::strong_batch`].
pub(crate) const BATCH: usize = 8;

/// A strong hash of a block. Writes the full digest into the first bytes of `out`.
pub(crate) trait StrongHasher {
    fn strong(&self, data: &[u8], out: &mut [u8; MAX_STRONG]);

    /// Strong sums of up to [`BATCH`] windows of equal length, into `out[..windows.len()]`.
    fn strong_batch(&self, windows: &[&[u8]], out: &mut [[u8; MAX_STRONG]; BATCH]) {
        for (w, o) in windows.iter().zip(out.iter_mut()) {
            self.strong(w, o);
        }
    }

    /// Whether [`strong_batch`](Self::strong_batch) is cheaper per window than
    /// [`strong`](Self::strong), so that the scanner should look ahead along a run of matches.
    fn batches(&self) -> bool {
        false
    }
}

/// Shared property checks for [`Rolling`] implementations.
#[cfg(test)]
pub(crate) mod testing {
    use super::Rolling;

    /// Slides a `window`-byte window over `data` and checks the rolled digest against
    /// `reference` (a from-scratch computation) at every offset.
    pub(crate) fn rolls_like<R: Rolling>(
        data: &[u8],
        window: usize,
        reference: impl Fn(&[u8]) -> u32,
    ) -> Result<(), String> {
        let window = window.clamp(1, data.len().max(1)).min(data.len());
        let mut r = R::of_window(&data[..window]);
        for start in 0..=data.len() - window {
            let want = reference(&data[start..start + window]);
            if r.digest() != want {
                return Err(format!(
                    "offset {start}: rolled {:#010x}, recomputed {want:#010x}",
                    r.digest()
                ));
            }
            if start + window < data.len() {
                r.rotate(data[start], data[start + window]);
            }
        }
        Ok(())
    }
}
