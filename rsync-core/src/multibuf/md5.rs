//! Multi-buffer MD5 compression: one 64-byte chunk of each of `LANES` messages at once.
//!
//! Spec: RFC 1321. Written like `super::md4`: a scalar MD5 body in a loop over lanes, which
//! the compiler vectorises. Equality with the `md-5` crate is tested in `super`.

use super::{LANES, V};

const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

#[inline(always)]
fn ff(b: u32, c: u32, d: u32) -> u32 {
    (b & c) | (!b & d)
}
#[inline(always)]
fn gg(b: u32, c: u32, d: u32) -> u32 {
    (b & d) | (c & !d)
}
#[inline(always)]
fn hh(b: u32, c: u32, d: u32) -> u32 {
    b ^ c ^ d
}
#[inline(always)]
fn ii(b: u32, c: u32, d: u32) -> u32 {
    c ^ (b | !d)
}

/// Fully unrolled (no inner loop), so that the loop over lanes is the innermost loop and the
/// compiler's loop vectoriser turns it into vector code.
#[inline(never)]
pub(super) fn compress(state: &mut [V; 4], m: &[V; 16]) {
    for j in 0..LANES {
        let x = |w: usize| m[w][j];
        let (mut a, mut b, mut c, mut d) = (state[0][j], state[1][j], state[2][j], state[3][j]);
        macro_rules! step {
            ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $g:expr, $k:expr, $s:expr) => {
                $a = $b.wrapping_add(
                    $a.wrapping_add($f($b, $c, $d))
                        .wrapping_add($k)
                        .wrapping_add(x($g))
                        .rotate_left($s),
                );
            };
        }
        step!(ff, a, b, c, d, 0, K[0], 7);
        step!(ff, d, a, b, c, 1, K[1], 12);
        step!(ff, c, d, a, b, 2, K[2], 17);
        step!(ff, b, c, d, a, 3, K[3], 22);
        step!(ff, a, b, c, d, 4, K[4], 7);
        step!(ff, d, a, b, c, 5, K[5], 12);
        step!(ff, c, d, a, b, 6, K[6], 17);
        step!(ff, b, c, d, a, 7, K[7], 22);
        step!(ff, a, b, c, d, 8, K[8], 7);
        step!(ff, d, a, b, c, 9, K[9], 12);
        step!(ff, c, d, a, b, 10, K[10], 17);
        step!(ff, b, c, d, a, 11, K[11], 22);
        step!(ff, a, b, c, d, 12, K[12], 7);
        step!(ff, d, a, b, c, 13, K[13], 12);
        step!(ff, c, d, a, b, 14, K[14], 17);
        step!(ff, b, c, d, a, 15, K[15], 22);
        step!(gg, a, b, c, d, 1, K[16], 5);
        step!(gg, d, a, b, c, 6, K[17], 9);
        step!(gg, c, d, a, b, 11, K[18], 14);
        step!(gg, b, c, d, a, 0, K[19], 20);
        step!(gg, a, b, c, d, 5, K[20], 5);
        step!(gg, d, a, b, c, 10, K[21], 9);
        step!(gg, c, d, a, b, 15, K[22], 14);
        step!(gg, b, c, d, a, 4, K[23], 20);
        step!(gg, a, b, c, d, 9, K[24], 5);
        step!(gg, d, a, b, c, 14, K[25], 9);
        step!(gg, c, d, a, b, 3, K[26], 14);
        step!(gg, b, c, d, a, 8, K[27], 20);
        step!(gg, a, b, c, d, 13, K[28], 5);
        step!(gg, d, a, b, c, 2, K[29], 9);
        step!(gg, c, d, a, b, 7, K[30], 14);
        step!(gg, b, c, d, a, 12, K[31], 20);
        step!(hh, a, b, c, d, 5, K[32], 4);
        step!(hh, d, a, b, c, 8, K[33], 11);
        step!(hh, c, d, a, b, 11, K[34], 16);
        step!(hh, b, c, d, a, 14, K[35], 23);
        step!(hh, a, b, c, d, 1, K[36], 4);
        step!(hh, d, a, b, c, 4, K[37], 11);
        step!(hh, c, d, a, b, 7, K[38], 16);
        step!(hh, b, c, d, a, 10, K[39], 23);
        step!(hh, a, b, c, d, 13, K[40], 4);
        step!(hh, d, a, b, c, 0, K[41], 11);
        step!(hh, c, d, a, b, 3, K[42], 16);
        step!(hh, b, c, d, a, 6, K[43], 23);
        step!(hh, a, b, c, d, 9, K[44], 4);
        step!(hh, d, a, b, c, 12, K[45], 11);
        step!(hh, c, d, a, b, 15, K[46], 16);
        step!(hh, b, c, d, a, 2, K[47], 23);
        step!(ii, a, b, c, d, 0, K[48], 6);
        step!(ii, d, a, b, c, 7, K[49], 10);
        step!(ii, c, d, a, b, 14, K[50], 15);
        step!(ii, b, c, d, a, 5, K[51], 21);
        step!(ii, a, b, c, d, 12, K[52], 6);
        step!(ii, d, a, b, c, 3, K[53], 10);
        step!(ii, c, d, a, b, 10, K[54], 15);
        step!(ii, b, c, d, a, 1, K[55], 21);
        step!(ii, a, b, c, d, 8, K[56], 6);
        step!(ii, d, a, b, c, 15, K[57], 10);
        step!(ii, c, d, a, b, 6, K[58], 15);
        step!(ii, b, c, d, a, 13, K[59], 21);
        step!(ii, a, b, c, d, 4, K[60], 6);
        step!(ii, d, a, b, c, 11, K[61], 10);
        step!(ii, c, d, a, b, 2, K[62], 15);
        step!(ii, b, c, d, a, 9, K[63], 21);
        state[0][j] = state[0][j].wrapping_add(a);
        state[1][j] = state[1][j].wrapping_add(b);
        state[2][j] = state[2][j].wrapping_add(c);
        state[3][j] = state[3][j].wrapping_add(d);
    }
}
