//! librsync's RabinKarp weak checksum: a polynomial hash modulo 2³² with seed 1 and
//! multiplier `0x08104225`, so that `H(x₀…xₙ₋₁) = Mⁿ + Σ xᵢ·Mⁿ⁻¹⁻ⁱ`.
//!
//! Spec: RFC.md Appendix R `[rdiff-rabinkarp]`. Reference: librsync `rabinkarp.h`,
//! `rabinkarp.c`. Used by the signature kinds with magic `0x72730146` and `0x72730147`
//! (rdiff's default).

/// librsync's `RABINKARP_SEED`: the hash of the empty window.
pub const SEED: u32 = 1;
/// librsync's `RABINKARP_MULT`.
pub const MULT: u32 = 0x0810_4225;
/// `MULT`'s inverse modulo 2³² (librsync `RABINKARP_INVM`).
pub const INV_MULT: u32 = inverse(MULT);
/// `MULT − SEED` (librsync `RABINKARP_ADJ`): removing a byte also removes the seed's extra
/// factor.
pub const ADJ: u32 = MULT.wrapping_sub(SEED);

/// Inverse of an odd number modulo 2³² by Newton's iteration.
const fn inverse(a: u32) -> u32 {
    let mut x = a; // correct to 3 bits for odd a
    let mut i = 0;
    while i < 5 {
        x = x.wrapping_mul(2u32.wrapping_sub(a.wrapping_mul(x)));
        i += 1;
    }
    x
}

/// `MULT^n` modulo 2³².
#[inline]
pub const fn mult_pow(mut n: u32) -> u32 {
    let mut base = MULT;
    let mut acc = 1u32;
    while n != 0 {
        if n & 1 != 0 {
            acc = acc.wrapping_mul(base);
        }
        base = base.wrapping_mul(base);
        n >>= 1;
    }
    acc
}

/// Bytes folded per step of the fast path.
const STEP: usize = 8;
/// `MULT^(STEP−1−j)` for each byte `j` of a step, and `MULT^STEP`.
const POWS: [u32; STEP] = {
    let mut p = [0u32; STEP];
    let mut j = 0;
    while j < STEP {
        p[j] = mult_pow((STEP - 1 - j) as u32);
        j += 1;
    }
    p
};
const MULT_STEP: u32 = mult_pow(STEP as u32);

/// A RabinKarp hash over a window that can grow, shrink and slide.
///
/// ```
/// use rsync_core::librsync::RabinKarp;
/// // From an `rdiff -R rabinkarp -b 16` signature of "hello world, this is a test…".
/// assert_eq!(RabinKarp::of(b"hello world, thi").digest(), 0xba49_c5ce);
/// assert_eq!(RabinKarp::new().digest(), 1);
/// let data = b"abcdefgh";
/// let mut r = RabinKarp::of(&data[..4]);
/// r.rotate(data[0], data[4]);
/// assert_eq!(r.digest(), RabinKarp::of(&data[1..5]).digest());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RabinKarp {
    count: u32,
    hash: u32,
    /// `MULT^count`.
    mult: u32,
}

impl Default for RabinKarp {
    fn default() -> Self {
        Self::new()
    }
}

impl RabinKarp {
    /// An empty window (hash = seed).
    pub const fn new() -> Self {
        Self {
            count: 0,
            hash: SEED,
            mult: 1,
        }
    }

    /// The hash of a whole window.
    #[inline]
    pub fn of(window: &[u8]) -> Self {
        let mut r = Self::new();
        r.update(window);
        r
    }

    /// Appends bytes to the window.
    #[inline]
    pub fn update(&mut self, data: &[u8]) {
        let mut h = self.hash;
        let chunks = data.chunks_exact(STEP);
        let tail = chunks.remainder();
        for c in chunks {
            let mut s = h.wrapping_mul(MULT_STEP);
            for j in 0..STEP {
                s = s.wrapping_add(u32::from(c[j]).wrapping_mul(POWS[j]));
            }
            h = s;
        }
        for &b in tail {
            h = h.wrapping_mul(MULT).wrapping_add(u32::from(b));
        }
        let n = data.len() as u32;
        self.hash = h;
        self.count = self.count.wrapping_add(n);
        self.mult = self.mult.wrapping_mul(mult_pow(n));
    }

    /// Slides the window one byte: `out` leaves at the front, `incoming` enters at the back.
    #[inline(always)]
    pub fn rotate(&mut self, out: u8, incoming: u8) {
        self.hash = self
            .hash
            .wrapping_mul(MULT)
            .wrapping_add(u32::from(incoming))
            .wrapping_sub(self.mult.wrapping_mul(u32::from(out).wrapping_add(ADJ)));
    }

    /// Appends one byte (the window grows by one).
    #[inline]
    pub fn rollin(&mut self, incoming: u8) {
        self.hash = self
            .hash
            .wrapping_mul(MULT)
            .wrapping_add(u32::from(incoming));
        self.count = self.count.wrapping_add(1);
        self.mult = self.mult.wrapping_mul(MULT);
    }

    /// Removes the first byte of the window (the window shrinks by one).
    #[inline]
    pub fn rollout(&mut self, out: u8) {
        self.count = self.count.wrapping_sub(1);
        self.mult = self.mult.wrapping_mul(INV_MULT);
        self.hash = self
            .hash
            .wrapping_sub(self.mult.wrapping_mul(u32::from(out).wrapping_add(ADJ)));
    }

    /// Bytes in the window (modulo 2³²).
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The 32-bit weak sum written in signatures.
    #[inline(always)]
    pub fn digest(&self) -> u32 {
        self.hash
    }
}

impl crate::engine::Rolling for RabinKarp {
    #[inline]
    fn of_window(window: &[u8]) -> Self {
        Self::of(window)
    }
    #[inline(always)]
    fn rotate(&mut self, out: u8, incoming: u8) {
        Self::rotate(self, out, incoming)
    }
    #[inline(always)]
    fn digest(&self) -> u32 {
        Self::digest(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition: Horner's rule from the seed.
    fn reference(data: &[u8]) -> u32 {
        data.iter().fold(SEED, |h, &b| {
            h.wrapping_mul(MULT).wrapping_add(u32::from(b))
        })
    }

    #[test]
    fn constants_match_librsync() {
        assert_eq!(INV_MULT, 0x98f0_09ad);
        assert_eq!(ADJ, 0x0810_4224);
        assert_eq!(mult_pow(2), 0xa5b7_1959);
        assert_eq!(mult_pow(1 << 30), 1);
    }

    #[test]
    fn known_answers() {
        // From `rdiff -H md4 -R rabinkarp -b 16 -S 8 signature` of
        // "hello world, this is a test of rdiff!\n".
        let text = b"hello world, this is a test of rdiff!\n";
        assert_eq!(RabinKarp::of(&text[..16]).digest(), 0xba49_c5ce);
        assert_eq!(RabinKarp::of(&text[16..32]).digest(), 0x9149_94b0);
        assert_eq!(RabinKarp::of(&text[32..]).digest(), 0x8ad1_dd29);
        // One byte 0x00: M·1 + 0.
        assert_eq!(RabinKarp::of(&[0]).digest(), MULT);
    }

    proptest! {
        #[test]
        fn fast_equals_reference(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let r = RabinKarp::of(&data);
            prop_assert_eq!(r.digest(), reference(&data));
            prop_assert_eq!(r.mult, mult_pow(data.len() as u32));
        }

        #[test]
        fn rolling_equals_recompute_at_every_offset(
            data in proptest::collection::vec(any::<u8>(), 1..600),
            window in 1usize..80,
        ) {
            let r = crate::engine::testing::rolls_like::<RabinKarp>(&data, window, reference);
            prop_assert!(r.is_ok(), "{:?}", r);
        }

        #[test]
        fn update_concatenates(a in proptest::collection::vec(any::<u8>(), 0..300),
                               b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut r = RabinKarp::of(&a);
            r.update(&b);
            let whole: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
            prop_assert_eq!(r, RabinKarp::of(&whole));
            prop_assert_eq!(r.count() as usize, whole.len());
        }

        #[test]
        fn rollin_rollout_match(data in proptest::collection::vec(any::<u8>(), 2..300)) {
            let mut r = RabinKarp::new();
            for &b in &data { r.rollin(b); }
            prop_assert_eq!(r.digest(), reference(&data));
            for i in 0..data.len() {
                r.rollout(data[i]);
                prop_assert_eq!(r.digest(), reference(&data[i + 1..]));
            }
        }
    }
}
