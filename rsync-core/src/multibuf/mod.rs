//! Multi-buffer MD4 and MD5: the digests of `LANES` equal-length messages at once, one message
//! per lane of `[u32; LANES]` words, in safe code the compiler vectorises. Signatures hash many
//! equal-length blocks, and the matcher checks runs of consecutive blocks, which is exactly
//! this shape.
//!
//! Each message is `prefix ‖ data ‖ suffix`, so that rsync's seed can go before or after the
//! block without copying it (RFC.md §3.3 `[seed-placement]`).

mod md4;
mod md5;

/// Messages hashed together.
pub(crate) const LANES: usize = 8;

type V = [u32; LANES];

const IV: [u32; 4] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476];

/// The algorithm of a multi-buffer digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algo {
    Md4,
    Md5,
}

/// The virtual message `prefix ‖ data[..len] ‖ suffix` of one lane.
struct Msg<'a> {
    prefix: &'a [u8],
    data: &'a [u8],
    suffix: &'a [u8],
}

impl Msg<'_> {
    fn byte(&self, i: usize, total: usize, chunks: usize) -> u8 {
        let (p, n) = (self.prefix.len(), self.data.len());
        if i < p {
            self.prefix[i]
        } else if i < p + n {
            self.data[i - p]
        } else if i < total {
            self.suffix[i - p - n]
        } else if i == total {
            0x80
        } else if i >= chunks * 64 - 8 {
            ((total as u64) << 3).to_le_bytes()[i + 8 - chunks * 64]
        } else {
            0
        }
    }
}

/// The digests of `LANES` messages `prefix ‖ msgs[j][..len] ‖ suffix` (every `msgs[j]` must
/// hold at least `len` bytes; a shorter one is hashed as if zero-padded, never read past).
pub(crate) fn digest_lanes(
    algo: Algo,
    msgs: &[&[u8]; LANES],
    len: usize,
    prefix: &[u8],
    suffix: &[u8],
) -> [[u8; 16]; LANES] {
    let compress = match algo {
        Algo::Md4 => md4::compress,
        Algo::Md5 => md5::compress,
    };
    let mut state: [V; 4] = IV.map(|w| [w; LANES]);
    let mut m = [[0u32; LANES]; 16];
    let p = prefix.len();
    let total = p + len + suffix.len();
    let chunks = (total + 8) / 64 + 1;
    for c in 0..chunks {
        let start = c * 64;
        if start >= p && start + 64 <= p + len {
            // The chunk lies inside the data: read it in place.
            let at = start - p;
            for (j, msg) in msgs.iter().enumerate() {
                if let Some(chunk) = msg.get(at..at + 64) {
                    for (w, word) in chunk.chunks_exact(4).enumerate() {
                        m[w][j] = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
                    }
                }
            }
        } else {
            for (j, msg) in msgs.iter().enumerate() {
                let data = msg.get(..len).unwrap_or(msg);
                let v = Msg {
                    prefix,
                    data,
                    suffix,
                };
                for (w, lane) in m.iter_mut().enumerate() {
                    let b = |k: usize| v.byte(start + 4 * w + k, total, chunks);
                    lane[j] = u32::from_le_bytes([b(0), b(1), b(2), b(3)]);
                }
            }
        }
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
    use ::md4::Digest as _;
    use proptest::prelude::*;

    fn reference(algo: Algo, prefix: &[u8], data: &[u8], suffix: &[u8]) -> Vec<u8> {
        match algo {
            Algo::Md4 => ::md4::Md4::new()
                .chain_update(prefix)
                .chain_update(data)
                .chain_update(suffix)
                .finalize()
                .to_vec(),
            Algo::Md5 => ::md5::Md5::new()
                .chain_update(prefix)
                .chain_update(data)
                .chain_update(suffix)
                .finalize()
                .to_vec(),
        }
    }

    proptest! {
        #[test]
        fn equals_reference_crates(
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            len in 0usize..250,
            prefix in proptest::collection::vec(any::<u8>(), 0..=4),
            suffix in proptest::collection::vec(any::<u8>(), 0..=4),
            md5 in any::<bool>(),
        ) {
            let algo = if md5 { Algo::Md5 } else { Algo::Md4 };
            let len = len.min(data.len() / LANES);
            let msgs: [&[u8]; LANES] = std::array::from_fn(|j| &data[j * len..(j + 1) * len]);
            let got = digest_lanes(algo, &msgs, len, &prefix, &suffix);
            for j in 0..LANES {
                prop_assert_eq!(&got[j][..], &reference(algo, &prefix, msgs[j], &suffix)[..], "lane {} len {}", j, len);
            }
        }
    }

    #[test]
    fn padding_boundaries() {
        let data: Vec<u8> = (0..=255u8).cycle().take(400).collect();
        for algo in [Algo::Md4, Algo::Md5] {
            for len in [0, 1, 51, 52, 55, 56, 59, 60, 63, 64, 65, 119, 120, 128, 200] {
                for (prefix, suffix) in [
                    (&[][..], &[][..]),
                    (&[1, 2, 3, 4][..], &[][..]),
                    (&[][..], &[9, 8, 7, 6][..]),
                ] {
                    let msgs: [&[u8]; LANES] = std::array::from_fn(|j| &data[j..j + len]);
                    let got = digest_lanes(algo, &msgs, len, prefix, suffix);
                    for j in 0..LANES {
                        assert_eq!(
                            got[j][..],
                            reference(algo, prefix, msgs[j], suffix)[..],
                            "{algo:?} len {len}"
                        );
                    }
                }
            }
        }
    }
}
