//! librsync's "rollsum" weak checksum: rsync's two running sums over *unsigned* bytes, each
//! byte offset by `CHAR_OFFSET = 31`, packed as `(s2 << 16) | (s1 & 0xffff)`.
//!
//! Spec: RFC.md Appendix R `[rdiff-rollsum]`. Reference: librsync `rollsum.h`, `rollsum.c`.
//! Used by the signature kinds with magic `0x72730136` and `0x72730137`.

/// librsync's `ROLLSUM_CHAR_OFFSET`, added to every byte.
pub const CHAR_OFFSET: u32 = 31;

/// Raw sums over unsigned bytes without the offset, modulo 2¹⁶: `s1 = Σ xᵢ`,
/// `s2 = Σ (n − i)·xᵢ` (the vectorised formulation shared with `crate::rolling`).
#[inline]
fn raw_sums(data: &[u8]) -> (u32, u32) {
    let (s1, s2) = crate::rolling::lane_sums::<false>(data);
    (u32::from(s1), u32::from(s2))
}

/// A librsync rollsum over a window that can grow, shrink and slide.
///
/// All arithmetic wraps modulo 2³²; only the low 16 bits of each sum reach the digest, so
/// this equals librsync whatever the width of its `uint_fast16_t`.
///
/// ```
/// use rsync_core::librsync::Rollsum;
/// // The first 16-byte block of "hello world, this is a test of rdiff!\n", from an
/// // `rdiff -H md4 -R rollsum -b 16` signature.
/// assert_eq!(Rollsum::of(b"hello world, thi").digest(), 0x4435_07dd);
/// let data = b"abcdefgh";
/// let mut r = Rollsum::of(&data[..4]);
/// r.rotate(data[0], data[4]);
/// assert_eq!(r.digest(), Rollsum::of(&data[1..5]).digest());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Rollsum {
    count: u32,
    s1: u32,
    s2: u32,
}

/// Two sums are equal when their windows have the same length and digest: only the low 16
/// bits of each running sum are observable.
impl PartialEq for Rollsum {
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count && self.digest() == other.digest()
    }
}

impl Eq for Rollsum {}

impl Rollsum {
    /// An empty window.
    pub const fn new() -> Self {
        Self {
            count: 0,
            s1: 0,
            s2: 0,
        }
    }

    /// The sum of a whole window.
    #[inline]
    pub fn of(window: &[u8]) -> Self {
        let mut r = Self::new();
        r.update(window);
        r
    }

    /// Appends bytes to the window (librsync `RollsumUpdate`).
    #[inline]
    pub fn update(&mut self, data: &[u8]) {
        let (d1, d2) = raw_sums(data);
        let n = data.len() as u32;
        // Each appended byte carries CHAR_OFFSET; the k-th of n adds k·offset to s2's tail.
        let tri = if n.is_multiple_of(2) {
            (n / 2).wrapping_mul(n.wrapping_add(1))
        } else {
            n.wrapping_mul(n.wrapping_add(1) / 2)
        };
        let d1 = d1.wrapping_add(n.wrapping_mul(CHAR_OFFSET));
        let d2 = d2.wrapping_add(tri.wrapping_mul(CHAR_OFFSET));
        self.s2 = self
            .s2
            .wrapping_add(n.wrapping_mul(self.s1))
            .wrapping_add(d2);
        self.s1 = self.s1.wrapping_add(d1);
        self.count = self.count.wrapping_add(n);
    }

    /// Slides the window one byte: `out` leaves at the front, `incoming` enters at the back.
    #[inline(always)]
    pub fn rotate(&mut self, out: u8, incoming: u8) {
        let o = u32::from(out);
        self.s1 = self.s1.wrapping_add(u32::from(incoming)).wrapping_sub(o);
        self.s2 = self
            .s2
            .wrapping_add(self.s1)
            .wrapping_sub(self.count.wrapping_mul(o + CHAR_OFFSET));
    }

    /// Appends one byte (the window grows by one).
    #[inline]
    pub fn rollin(&mut self, incoming: u8) {
        self.s1 = self.s1.wrapping_add(u32::from(incoming) + CHAR_OFFSET);
        self.s2 = self.s2.wrapping_add(self.s1);
        self.count = self.count.wrapping_add(1);
    }

    /// Removes the first byte of the window (the window shrinks by one).
    #[inline]
    pub fn rollout(&mut self, out: u8) {
        let o = u32::from(out) + CHAR_OFFSET;
        self.s1 = self.s1.wrapping_sub(o);
        self.s2 = self.s2.wrapping_sub(self.count.wrapping_mul(o));
        self.count = self.count.wrapping_sub(1);
    }

    /// Bytes in the window (modulo 2³²).
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The 32-bit weak sum written in signatures.
    #[inline(always)]
    pub fn digest(&self) -> u32 {
        (self.s2 << 16) | (self.s1 & 0xffff)
    }
}

impl crate::engine::Rolling for Rollsum {
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

    /// The definition, byte by byte.
    fn reference(data: &[u8]) -> u32 {
        let (mut s1, mut s2) = (0u32, 0u32);
        for &b in data {
            s1 = s1.wrapping_add(u32::from(b) + 31);
            s2 = s2.wrapping_add(s1);
        }
        (s2 << 16) | (s1 & 0xffff)
    }

    #[test]
    fn known_answers() {
        // From `rdiff -H md4 -R rollsum -b 16 -S 8 signature` of
        // "hello world, this is a test of rdiff!\n": the weak sums of its three blocks.
        let text = b"hello world, this is a test of rdiff!\n";
        assert_eq!(Rollsum::of(&text[..16]).digest(), 0x4435_07dd);
        assert_eq!(Rollsum::of(&text[16..32]).digest(), 0x3d61_0747);
        assert_eq!(Rollsum::of(&text[32..]).digest(), 0x0a06_027e);
        assert_eq!(Rollsum::new().digest(), 0);
        // One byte 0x00: s1 = s2 = 31.
        assert_eq!(Rollsum::of(&[0]).digest(), (31 << 16) | 31);
    }

    proptest! {
        #[test]
        fn fast_equals_reference(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            prop_assert_eq!(Rollsum::of(&data).digest(), reference(&data));
        }

        #[test]
        fn rolling_equals_recompute_at_every_offset(
            data in proptest::collection::vec(any::<u8>(), 1..600),
            window in 1usize..80,
        ) {
            let r = crate::engine::testing::rolls_like::<Rollsum>(&data, window, reference);
            prop_assert!(r.is_ok(), "{:?}", r);
        }

        #[test]
        fn update_concatenates(a in proptest::collection::vec(any::<u8>(), 0..300),
                               b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut r = Rollsum::of(&a);
            r.update(&b);
            let whole: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
            prop_assert_eq!(r, Rollsum::of(&whole));
            prop_assert_eq!(r.count() as usize, whole.len());
        }

        #[test]
        fn rollin_rollout_match(data in proptest::collection::vec(any::<u8>(), 2..300)) {
            let mut r = Rollsum::new();
            for &b in &data { r.rollin(b); }
            prop_assert_eq!(r.digest(), reference(&data));
            for i in 0..data.len() {
                r.rollout(data[i]);
                prop_assert_eq!(r.digest(), reference(&data[i + 1..]));
            }
        }
    }
}
