//! Multi-buffer MD4: the MD4 of `LANES` equal-length messages at once, one message per lane
//! of `[u32; LANES]` words, written so that the compiler vectorises it (no `unsafe`, no
//! target-specific code). Signatures hash many equal-length blocks, which is exactly this
//! shape.
//!
//! Spec: RFC 1320. Equal to the `md4` crate for every input (property test below).

/// Messages hashed together.
pub(crate) const LANES: usize = 8;

type V = [u32; LANES];

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
fn compress(state: &mut [V; 4], m: &[V; 16]) {
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

/// Loads chunk `at..at + 64` of every lane, transposed.
#[inline(always)]
fn load(msgs: &[&[u8]; LANES], at: usize, m: &mut [V; 16]) {
    for (j, msg) in msgs.iter().enumerate() {
        if let Some(chunk) = msg.get(at..at + 64) {
            for (w, word) in chunk.chunks_exact(4).enumerate() {
                m[w][j] = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            }
        }
    }
}

/// The MD4 digests of `LANES` messages of the same length `len` (each `msgs[j]` must be at
/// least `len` bytes; only the first `len` are hashed).
pub(crate) fn md4_lanes(msgs: &[&[u8]; LANES], len: usize) -> [[u8; 16]; LANES] {
    let mut state: [V; 4] = [
        [0x6745_2301; LANES],
        [0xEFCD_AB89; LANES],
        [0x98BA_DCFE; LANES],
        [0x1032_5476; LANES],
    ];
    let mut m = [[0u32; LANES]; 16];
    let full = len / 64;
    for c in 0..full {
        load(msgs, c * 64, &mut m);
        compress(&mut state, &m);
    }
    // Padding: the rest, 0x80, zeros, and the bit length (LE) in the last 8 bytes.
    let rest = len - full * 64;
    let tail_chunks = if rest < 56 { 1 } else { 2 };
    let mut tails = [[0u8; 128]; LANES];
    for (t, msg) in tails.iter_mut().zip(msgs) {
        if let (Some(dst), Some(src)) = (t.get_mut(..rest), msg.get(full * 64..len)) {
            dst.copy_from_slice(src);
        }
        t[rest] = 0x80;
        let end = tail_chunks * 64;
        t[end - 8..end].copy_from_slice(&((len as u64) << 3).to_le_bytes());
    }
    let tail_refs: [&[u8]; LANES] = std::array::from_fn(|j| &tails[j][..]);
    for c in 0..tail_chunks {
        load(&tail_refs, c * 64, &mut m);
        compress(&mut state, &m);
    }
    let mut out = [[0u8; 16]; LANES];
    for (j, o) in out.iter_mut().enumerate() {
        for (w, s) in state.iter().enumerate() {
            o[4 * w..4 * w + 4].copy_from_slice(&s[j].to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use md4::Digest as _;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn equals_md4_crate(data in proptest::collection::vec(any::<u8>(), 0..2000), len in 0usize..250) {
            let len = len.min(data.len() / LANES);
            let msgs: [&[u8]; LANES] = std::array::from_fn(|j| &data[j * len..(j + 1) * len]);
            let got = md4_lanes(&msgs, len);
            for j in 0..LANES {
                let want = md4::Md4::digest(msgs[j]);
                prop_assert_eq!(&got[j][..], &want[..], "lane {} len {}", j, len);
            }
        }
    }

    #[test]
    fn padding_boundaries() {
        let data: Vec<u8> = (0..200u8).collect();
        for len in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128] {
            let msgs: [&[u8]; LANES] = std::array::from_fn(|j| &data[j..j + len]);
            let got = md4_lanes(&msgs, len);
            for j in 0..LANES {
                assert_eq!(got[j][..], md4::Md4::digest(msgs[j])[..], "len {len}");
            }
        }
    }
}
