//! Multi-buffer MD4 compression: one 64-byte chunk of each of `LANES` messages at once.
//!
//! Spec: RFC 1320. The loop runs over lanes with a scalar MD4 body; the compiler's loop
//! vectoriser turns it into vector code (each lane is independent and the data is
//! lane-contiguous). Equality with the `md4` crate is tested in `super`.

use super::{LANES, V};

#[inline(always)]
fn ff(x: u32, y: u32, z: u32) -> u32 {
    (x & y) | (!x & z)
}
#[inline(always)]
fn gg(x: u32, y: u32, z: u32) -> u32 {
    (x & y) | (x & z) | (y & z)
}
#[inline(always)]
fn hh(x: u32, y: u32, z: u32) -> u32 {
    x ^ y ^ z
}

/// One 64-byte chunk per lane; `m[w][j]` is word `w` of lane `j`'s chunk.
///
/// The loop runs over lanes with a scalar MD4 body; the compiler's loop vectoriser turns it
/// into vector code (each lane is independent and the data is lane-contiguous).
#[inline(never)]
pub(super) fn compress(state: &mut [V; 4], m: &[V; 16]) {
    for j in 0..LANES {
        let x = |w: usize| m[w][j];
        let (mut a, mut b, mut c, mut d) = (state[0][j], state[1][j], state[2][j], state[3][j]);
        macro_rules! step {
            ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $k:expr, $add:expr, $s:expr) => {
                $a = $a
                    .wrapping_add($f($b, $c, $d))
                    .wrapping_add(x($k))
                    .wrapping_add($add)
                    .rotate_left($s);
            };
        }
        for i in 0..4 {
            step!(ff, a, b, c, d, 4 * i, 0, 3);
            step!(ff, d, a, b, c, 4 * i + 1, 0, 7);
            step!(ff, c, d, a, b, 4 * i + 2, 0, 11);
            step!(ff, b, c, d, a, 4 * i + 3, 0, 19);
        }
        for i in 0..4 {
            step!(gg, a, b, c, d, i, 0x5A82_7999u32, 3);
            step!(gg, d, a, b, c, i + 4, 0x5A82_7999u32, 5);
            step!(gg, c, d, a, b, i + 8, 0x5A82_7999u32, 9);
            step!(gg, b, c, d, a, i + 12, 0x5A82_7999u32, 13);
        }
        for i in [0, 2, 1, 3] {
            step!(hh, a, b, c, d, i, 0x6ED9_EBA1u32, 3);
            step!(hh, d, a, b, c, i + 8, 0x6ED9_EBA1u32, 9);
            step!(hh, c, d, a, b, i + 4, 0x6ED9_EBA1u32, 11);
            step!(hh, b, c, d, a, i + 12, 0x6ED9_EBA1u32, 15);
        }
        state[0][j] = state[0][j].wrapping_add(a);
        state[1][j] = state[1][j].wrapping_add(b);
        state[2][j] = state[2][j].wrapping_add(c);
        state[3][j] = state[3][j].wrapping_add(d);
    }
}
