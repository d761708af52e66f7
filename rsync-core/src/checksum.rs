//! rsync's strong checksums: per-block sums with the seed placed as each protocol and
//! algorithm requires, and streaming whole-file sums.
//!
//! Spec: RFC.md §3.3 `[strong-sum]`, `[seed-placement]` and `[file-sum]`. Reference: rsync
//! `get_checksum2`, `sum_init`/`sum_update`/`sum_end` (checksum.c).
//!
//! | kind | block sum | whole-file sum |
//! |---|---|---|
//! | [`ChecksumKind::Md4`] (protocol 27–29) | MD4(data ‖ seed), seed only if ≠ 0 | MD4(seed ‖ data) |
//! | [`ChecksumKind::Md5`], seed fix | MD5(seed ‖ data), seed only if ≠ 0 | MD5(data) |
//! | [`ChecksumKind::Md5`], no seed fix | MD5(data ‖ seed), seed only if ≠ 0 | MD5(data) |
//! | [`ChecksumKind::Xxh64`] | XXH64(data, seed) LE | XXH64(data, 0) LE |
//! | [`ChecksumKind::Xxh3`] | XXH3-64(data, seed) LE | XXH3-64(data) LE |
//! | [`ChecksumKind::Xxh128`] | XXH3-128(data, seed): low LE ‖ high LE | XXH3-128(data) |
//!
//! The seed is a C `int`; the xxHash functions take it sign-extended to 64 bits.

use md4::Digest as _;

use crate::multibuf::{digest_lanes, Algo, LANES};

/// The longest strong sum any rsync checksum produces (MD4, MD5, xxh128).
pub const MAX_DIGEST_LEN: usize = 16;

/// A strong-checksum algorithm rsync can use for block sums and whole-file sums.
///
/// `md4` as a *negotiated* name (protocol ≥ 30) is deliberately absent: stock builds disagree
/// on where it puts the seed (RFC.md §3.3), so this crate neither offers nor accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChecksumKind {
    /// MD4 as protocols 27–29 use it.
    Md4,
    /// MD5, the default from protocol 30 when nothing is negotiated.
    Md5,
    /// XXH64.
    Xxh64,
    /// XXH3, 64-bit.
    Xxh3,
    /// XXH3, 128-bit (rsync 3.2+'s first choice).
    Xxh128,
}

impl ChecksumKind {
    /// Bytes in this algorithm's digest (`xfer_sum_len` in rsync).
    pub const fn digest_len(self) -> usize {
        match self {
            Self::Md4 | Self::Md5 | Self::Xxh128 => 16,
            Self::Xxh64 | Self::Xxh3 => 8,
        }
    }

    /// The name rsync uses in checksum negotiation (`--checksum-choice`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Md4 => "md4",
            Self::Md5 => "md5",
            Self::Xxh64 => "xxh64",
            Self::Xxh3 => "xxh3",
            Self::Xxh128 => "xxh128",
        }
    }

    /// Parses a negotiation name (`xxh128`, `xxh3`, `xxh64`/`xxhash`, `md5`, `md4`).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Some(match name {
            b"md4" => Self::Md4,
            b"md5" => Self::Md5,
            b"xxh64" | b"xxhash" => Self::Xxh64,
            b"xxh3" => Self::Xxh3,
            b"xxh128" => Self::Xxh128,
            _ => return None,
        })
    }
}

/// The strong-checksum settings of one transfer: algorithm, seed and seed order.
///
/// ```
/// use rsync_core::checksum::{ChecksumKind, StrongSum};
/// let s = StrongSum::new(ChecksumKind::Md5, 0x1234_5678).with_seed_fix(true);
/// let mut out = [0u8; 16];
/// s.block_sum(b"block", &mut out);
/// let mut f = s.file_hasher();
/// f.update(b"whole ");
/// f.update(b"file");
/// assert_eq!(f.finish().as_bytes().len(), 16);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrongSum {
    kind: ChecksumKind,
    seed: i32,
    seed_fix: bool,
    /// Whether [`file_hasher`](Self::file_hasher) starts MD4 with the seed (the transfer
    /// sum) or not (rsync's `-c` sum, `file_checksum`).
    file_seed: bool,
}

impl StrongSum {
    /// Settings for `kind` with `seed` (the handshake's `checksum_seed`). The MD5 seed order
    /// defaults to the fixed one (`CF_CHKSUM_SEED_FIX`, sent by every rsync ≥ 3.1.2).
    pub const fn new(kind: ChecksumKind, seed: i32) -> Self {
        Self {
            kind,
            seed,
            seed_fix: true,
            file_seed: true,
        }
    }

    /// The settings of rsync's `-c` checksum (`file_checksum`, sent in the file list):
    /// [`file_hasher`](Self::file_hasher) hashes the content alone for every kind, MD4
    /// included (whose transfer sum starts with the seed).
    pub const fn file_checksum(kind: ChecksumKind) -> Self {
        Self {
            kind,
            seed: 0,
            seed_fix: true,
            file_seed: false,
        }
    }

    /// Chooses MD5's seed order: `true` puts the seed first (compat flag `C`).
    pub const fn with_seed_fix(mut self, seed_fix: bool) -> Self {
        self.seed_fix = seed_fix;
        self
    }

    /// The algorithm.
    pub const fn kind(&self) -> ChecksumKind {
        self.kind
    }

    /// The seed.
    pub const fn seed(&self) -> i32 {
        self.seed
    }

    /// Whether MD5 puts the seed first.
    pub const fn seed_fix(&self) -> bool {
        self.seed_fix
    }

    /// Bytes in a full digest.
    pub const fn digest_len(&self) -> usize {
        self.kind.digest_len()
    }

    /// Computes the full block sum of `data` into `out[..digest_len()]`; the wire carries
    /// its first `s2length` bytes. Returns the digest length.
    pub fn block_sum(&self, data: &[u8], out: &mut [u8; MAX_DIGEST_LEN]) -> usize {
        let seed = self.seed.to_le_bytes();
        let xseed = self.seed as i64 as u64;
        match self.kind {
            ChecksumKind::Md4 => {
                let mut h = md4::Md4::new();
                h.update(data);
                if self.seed != 0 {
                    h.update(seed);
                }
                out.copy_from_slice(&h.finalize());
                16
            }
            ChecksumKind::Md5 => {
                let mut h = md5::Md5::new();
                if self.seed_fix {
                    if self.seed != 0 {
                        h.update(seed);
                    }
                    h.update(data);
                } else {
                    h.update(data);
                    if self.seed != 0 {
                        h.update(seed);
                    }
                }
                out.copy_from_slice(&h.finalize());
                16
            }
            ChecksumKind::Xxh64 => {
                out[..8].copy_from_slice(&xxhash_rust::xxh64::xxh64(data, xseed).to_le_bytes());
                8
            }
            ChecksumKind::Xxh3 => {
                let v = xxhash_rust::xxh3::xxh3_64_with_seed(data, xseed);
                out[..8].copy_from_slice(&v.to_le_bytes());
                8
            }
            ChecksumKind::Xxh128 => {
                let v = xxhash_rust::xxh3::xxh3_128_with_seed(data, xseed);
                out[..8].copy_from_slice(&(v as u64).to_le_bytes());
                out[8..].copy_from_slice(&((v >> 64) as u64).to_le_bytes());
                16
            }
        }
    }

    /// A streaming hasher for the whole-file sum that ends each file's token stream.
    pub fn file_hasher(&self) -> FileHasher {
        let inner = match self.kind {
            ChecksumKind::Md4 => {
                let mut h = md4::Md4::new();
                if self.file_seed {
                    h.update(self.seed.to_le_bytes());
                }
                FileInner::Md4(h)
            }
            ChecksumKind::Md5 => FileInner::Md5(md5::Md5::new()),
            ChecksumKind::Xxh64 => FileInner::Xxh64(xxhash_rust::xxh64::Xxh64::new(0)),
            ChecksumKind::Xxh3 => FileInner::Xxh3(Box::default(), false),
            ChecksumKind::Xxh128 => FileInner::Xxh3(Box::default(), true),
        };
        FileHasher { inner }
    }
}

impl StrongSum {
    /// The same block sums as [`block_sum`](Self::block_sum) for `LANES` blocks of equal
    /// length at once, when this algorithm has a multi-buffer implementation (MD4, MD5).
    pub(crate) fn block_sums_lanes(
        &self,
        blocks: &[&[u8]; LANES],
        len: usize,
    ) -> Option<[[u8; 16]; LANES]> {
        let seed = self.seed.to_le_bytes();
        let seeded: &[u8] = if self.seed != 0 { &seed } else { &[] };
        let (algo, prefix, suffix) = match self.kind {
            ChecksumKind::Md4 => (Algo::Md4, &[][..], seeded),
            ChecksumKind::Md5 if self.seed_fix => (Algo::Md5, seeded, &[][..]),
            ChecksumKind::Md5 => (Algo::Md5, &[][..], seeded),
            _ => return None,
        };
        Some(digest_lanes(algo, blocks, len, prefix, suffix))
    }

    /// Whether [`block_sums_lanes`](Self::block_sums_lanes) applies.
    pub(crate) fn has_lanes(&self) -> bool {
        matches!(self.kind, ChecksumKind::Md4 | ChecksumKind::Md5)
    }
}

impl crate::engine::StrongHasher for StrongSum {
    #[inline]
    fn strong(&self, data: &[u8], out: &mut [u8; crate::engine::MAX_STRONG]) {
        let mut d = [0u8; MAX_DIGEST_LEN];
        let n = self.block_sum(data, &mut d);
        out[..n].copy_from_slice(&d[..n]);
    }

    fn strong_batch(
        &self,
        windows: &[&[u8]],
        out: &mut [[u8; crate::engine::MAX_STRONG]; crate::engine::BATCH],
    ) {
        if let Some(first) = windows.first() {
            let len = first.len();
            if windows.len() <= LANES && windows.iter().all(|w| w.len() == len) {
                let lanes: [&[u8]; LANES] =
                    std::array::from_fn(|j| windows.get(j).copied().unwrap_or(first));
                if let Some(d) = self.block_sums_lanes(&lanes, len) {
                    for (o, d) in out.iter_mut().zip(d.iter()).take(windows.len()) {
                        o[..16].copy_from_slice(d);
                    }
                    return;
                }
            }
        }
        for (w, o) in windows.iter().zip(out.iter_mut()) {
            self.strong(w, o);
        }
    }

    fn batches(&self) -> bool {
        self.has_lanes()
    }
}

/// A finished whole-file checksum.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FileSum {
    bytes: [u8; MAX_DIGEST_LEN],
    len: u8,
}

impl FileSum {
    /// The digest bytes as rsync sends them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl std::fmt::Debug for FileSum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

enum FileInner {
    Md4(md4::Md4),
    Md5(md5::Md5),
    Xxh64(xxhash_rust::xxh64::Xxh64),
    Xxh3(Box<xxhash_rust::xxh3::Xxh3>, bool),
}

/// Streaming whole-file checksum (rsync `sum_init`/`sum_update`/`sum_end`).
pub struct FileHasher {
    inner: FileInner,
}

impl std::fmt::Debug for FileHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileHasher").finish_non_exhaustive()
    }
}

impl FileHasher {
    /// Feeds bytes of the file, in order.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.inner {
            FileInner::Md4(h) => h.update(data),
            FileInner::Md5(h) => h.update(data),
            FileInner::Xxh64(h) => h.update(data),
            FileInner::Xxh3(h, _) => h.update(data),
        }
    }

    /// The finished sum.
    pub fn finish(self) -> FileSum {
        let mut bytes = [0u8; MAX_DIGEST_LEN];
        let len = match self.inner {
            FileInner::Md4(h) => {
                bytes.copy_from_slice(&h.finalize());
                16
            }
            FileInner::Md5(h) => {
                bytes.copy_from_slice(&h.finalize());
                16
            }
            FileInner::Xxh64(h) => {
                bytes[..8].copy_from_slice(&h.digest().to_le_bytes());
                8
            }
            FileInner::Xxh3(h, false) => {
                bytes[..8].copy_from_slice(&h.digest().to_le_bytes());
                8
            }
            FileInner::Xxh3(h, true) => {
                let v = h.digest128();
                bytes[..8].copy_from_slice(&(v as u64).to_le_bytes());
                bytes[8..].copy_from_slice(&((v >> 64) as u64).to_le_bytes());
                16
            }
        };
        FileSum { bytes, len }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn block(kind: ChecksumKind, seed: i32, fix: bool, data: &[u8]) -> String {
        let mut out = [0u8; 16];
        let n = StrongSum::new(kind, seed)
            .with_seed_fix(fix)
            .block_sum(data, &mut out);
        hex(&out[..n])
    }

    fn file(kind: ChecksumKind, seed: i32, data: &[u8]) -> String {
        let mut h = StrongSum::new(kind, seed).file_hasher();
        // Split feeding must not matter.
        let (a, b) = data.split_at(data.len() / 3);
        h.update(a);
        h.update(b);
        hex(h.finish().as_bytes())
    }

    #[test]
    fn published_vectors_with_zero_seed() {
        // RFC 1320 / RFC 1321 test suites.
        assert_eq!(
            block(ChecksumKind::Md4, 0, true, b"abc"),
            "a448017aaf21d8525fc10ae87aa6729d"
        );
        assert_eq!(
            block(ChecksumKind::Md5, 0, true, b"abc"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        // xxHash's reference values for the empty input, seed 0.
        assert_eq!(block(ChecksumKind::Xxh64, 0, true, b""), "99e9d85137db46ef"); // 0xEF46DB3751D8E999 LE
        assert_eq!(block(ChecksumKind::Xxh3, 0, true, b""), "c294d3380580062d");
        // 0x2D06800538D394C2 LE
    }

    #[test]
    fn seed_placement() {
        let seed: i32 = 0x0403_0201;
        let data = b"rsync block";
        let with = |prefix: bool| {
            let mut v = Vec::new();
            if prefix {
                v.extend_from_slice(&seed.to_le_bytes());
                v.extend_from_slice(data);
            } else {
                v.extend_from_slice(data);
                v.extend_from_slice(&seed.to_le_bytes());
            }
            v
        };
        // MD4 (protocol 27-29): seed after the data for blocks, before it for the file.
        assert_eq!(
            block(ChecksumKind::Md4, seed, true, data),
            block(ChecksumKind::Md4, 0, true, &with(false))
        );
        assert_eq!(
            file(ChecksumKind::Md4, seed, data),
            block(ChecksumKind::Md4, 0, true, &with(true))
        );
        // MD4 file sum includes the seed even when it is zero.
        assert_eq!(
            file(ChecksumKind::Md4, 0, data),
            block(ChecksumKind::Md4, 0, true, &[&[0u8; 4][..], data].concat())
        );
        // MD5: seed first with the fix, last without; never in the file sum.
        assert_eq!(
            block(ChecksumKind::Md5, seed, true, data),
            block(ChecksumKind::Md5, 0, true, &with(true))
        );
        assert_eq!(
            block(ChecksumKind::Md5, seed, false, data),
            block(ChecksumKind::Md5, 0, true, &with(false))
        );
        assert_eq!(
            file(ChecksumKind::Md5, seed, data),
            block(ChecksumKind::Md5, 0, true, data)
        );
        // xxHash: the seed is an argument; the file sum is unseeded.
        assert_ne!(
            block(ChecksumKind::Xxh128, seed, true, data),
            block(ChecksumKind::Xxh128, 0, true, data)
        );
        assert_eq!(
            file(ChecksumKind::Xxh128, seed, data),
            block(ChecksumKind::Xxh128, 0, true, data)
        );
        assert_eq!(
            file(ChecksumKind::Xxh64, seed, data),
            block(ChecksumKind::Xxh64, 0, true, data)
        );
        assert_eq!(
            file(ChecksumKind::Xxh3, seed, data),
            block(ChecksumKind::Xxh3, 0, true, data)
        );
    }

    #[test]
    fn negative_seed_is_sign_extended_for_xxhash() {
        let seed: i32 = -2;
        let mut out = [0u8; 16];
        StrongSum::new(ChecksumKind::Xxh64, seed).block_sum(b"x", &mut out);
        let expect = xxhash_rust::xxh64::xxh64(b"x", 0xffff_ffff_ffff_fffe);
        assert_eq!(&out[..8], &expect.to_le_bytes());
    }
}
