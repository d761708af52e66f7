//! Lookup structure over a signature's block sums: a bitmap that rejects most weak sums with
//! one memory access, then an open-addressed table from weak sum to the run of blocks that
//! share it (sorted by block index).

use super::{CHAIN_CAP, FAIL_CAP};
use std::cell::Cell;

#[derive(Debug, Clone, Default)]
struct Slot {
    weak: u32,
    start: u32,
    len: u32,
    /// False positives so far; a `Cell` so that lookups take `&self` and the scan loop can
    /// hold the index borrowed.
    fails: Cell<u32>,
}

/// Blocks of one signature, indexed by weak sum.
#[derive(Debug)]
pub(crate) struct Index {
    weak: Vec<u32>,
    strong: Vec<u8>,
    strong_len: usize,
    /// Blocks that take part in rolling lookups (all full-length blocks).
    full_count: u32,
    order: Vec<u32>,
    slots: Vec<Slot>,
    slot_shift: u32,
    bitmap: Vec<u64>,
    bit_shift: u32,
}

#[inline(always)]
fn mix(weak: u32) -> u32 {
    weak.wrapping_mul(0x9E37_79B1) ^ (weak >> 16).wrapping_mul(0x85EB_CA6B)
}

/// Fibonacci hashing for the prefilter: one multiply, whose top bits depend on every bit of
/// the weak sum. It runs once per byte of unmatched data.
#[inline(always)]
fn bit_hash(weak: u32) -> u32 {
    weak.wrapping_mul(0x9E37_79B1)
}

impl Index {
    /// Indexes `full_count` full-length blocks out of `weak.len()`; the rest (a short last
    /// block) are kept for direct comparison only.
    pub(crate) fn new(weak: Vec<u32>, strong: Vec<u8>, strong_len: usize, full_count: u32) -> Self {
        let n = full_count as usize;
        let mut order: Vec<u32> = (0..full_count).collect();
        order.sort_unstable_by_key(|&i| (weak[i as usize], i));
        let slot_bits = (2 * n.max(8)).next_power_of_two().trailing_zeros().min(31);
        let mut slots = vec![Slot::default(); 1usize << slot_bits];
        let slot_shift = 32 - slot_bits;
        // 64 bits per block: a false positive (about one byte position in 64 of unmatched
        // data) costs a probe of the slot table, which misses the cache on a large basis; at
        // 8 bits per block those probes made rolling through edits 1.5x slower. The bitmap
        // is 8 bytes per block, capped at 32 MiB.
        let bit_bits = (64 * n.max(8))
            .next_power_of_two()
            .trailing_zeros()
            .clamp(6, 28);
        let mut bitmap = vec![0u64; 1usize << (bit_bits - 6)];
        let bit_shift = 32 - bit_bits;
        let mask = slots.len() - 1;
        let mut i = 0;
        while i < n {
            let w = weak[order[i] as usize];
            let mut j = i + 1;
            while j < n && weak[order[j] as usize] == w {
                j += 1;
            }
            let h = mix(w);
            let bit = (bit_hash(w) >> bit_shift) as usize;
            bitmap[bit >> 6] |= 1 << (bit & 63);
            let mut s = (h.rotate_left(16) >> slot_shift) as usize;
            while slots[s].len != 0 {
                s = (s + 1) & mask;
            }
            slots[s] = Slot {
                weak: w,
                start: i as u32,
                len: (j - i) as u32,
                fails: Cell::new(0),
            };
            i = j;
        }
        Self {
            weak,
            strong,
            strong_len,
            full_count,
            order,
            slots,
            slot_shift,
            bitmap,
            bit_shift,
        }
    }

    /// Number of blocks, short last block included.
    pub(crate) fn count(&self) -> u32 {
        self.weak.len() as u32
    }

    pub(crate) fn full_count(&self) -> u32 {
        self.full_count
    }

    pub(crate) fn weak_of(&self, block: u32) -> u32 {
        self.weak[block as usize]
    }

    pub(crate) fn strong_of(&self, block: u32) -> &[u8] {
        let n = self.strong_len;
        let b = block as usize;
        &self.strong[b * n..(b + 1) * n]
    }

    pub(crate) fn strong_len(&self) -> usize {
        self.strong_len
    }

    /// Cheap pre-check: `false` means no full block has this weak sum.
    #[inline(always)]
    pub(crate) fn maybe(&self, weak: u32) -> bool {
        let bit = (bit_hash(weak) >> self.bit_shift) as usize;
        self.bitmap[bit >> 6] & (1 << (bit & 63)) != 0
    }

    fn slot(&self, weak: u32) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut s = (mix(weak).rotate_left(16) >> self.slot_shift) as usize;
        loop {
            let slot = &self.slots[s];
            if slot.len == 0 {
                return None;
            }
            if slot.weak == weak {
                return Some(s);
            }
            s = (s + 1) & mask;
        }
    }

    /// Finds a full block with this weak sum whose strong sum equals the window's. `strong`
    /// computes the window's strong sum; it is called at most once. `want` is preferred.
    #[inline]
    pub(crate) fn find(
        &self,
        weak: u32,
        want: u32,
        strong: &mut impl FnMut() -> [u8; super::MAX_STRONG],
    ) -> Option<u32> {
        let slot = &self.slots[self.slot(weak)?];
        if slot.fails.get() >= FAIL_CAP {
            return None;
        }
        let digest = strong();
        let n = self.strong_len;
        if want < self.full_count
            && self.weak[want as usize] == weak
            && self.strong_of(want) == &digest[..n]
        {
            return Some(want);
        }
        let start = slot.start as usize;
        let end = start + (slot.len as usize).min(CHAIN_CAP);
        for &b in &self.order[start..end] {
            if self.strong_of(b) == &digest[..n] {
                return Some(b);
            }
        }
        slot.fails.set(slot.fails.get() + 1);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_prefers_want() {
        // Three blocks with the same weak sum and strong sums A, B, A.
        let weak = vec![5, 5, 5, 9];
        let strong = b"AABBAACC".to_vec();
        let idx = Index::new(weak, strong, 2, 4);
        let mut a = || {
            let mut d = [0u8; 32];
            d[..2].copy_from_slice(b"AA");
            d
        };
        assert_eq!(idx.find(5, 99, &mut a), Some(0));
        assert_eq!(idx.find(5, 2, &mut a), Some(2));
        assert!(idx.maybe(9));
        assert_eq!(idx.find(7, 0, &mut a), None);
    }

    #[test]
    fn blacklists_after_fail_cap() {
        let idx = Index::new(vec![1], b"XY".to_vec(), 2, 1);
        let mut calls = 0;
        for _ in 0..FAIL_CAP + 10 {
            let r = idx.find(1, 0, &mut || {
                calls += 1;
                [0u8; 32]
            });
            assert_eq!(r, None);
        }
        assert_eq!(calls, FAIL_CAP);
    }
}
