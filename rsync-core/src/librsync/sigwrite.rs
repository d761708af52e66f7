//! Streaming signature generation: the basis goes in as chunks of any size, the signature
//! bytes come out. Memory use is one partial block.
//!
//! Spec: RFC.md Appendix R `[rdiff-sig-header]` and `[rdiff-sig-block]`. Reference:
//! librsync `mksum.c` (`rs_sig_s_header`, `rs_sig_do_block`).
//!
//! The per-block work is the pure function [`block_sums`], which computes the records of a
//! slice of whole blocks into a caller-provided buffer, so a driver can hash disjoint block
//! ranges of one large chunk on several threads and concatenate the results.

use super::params::{SignatureParams, WeakKind};
use super::rabinkarp::RabinKarp;
use super::rollsum::Rollsum;
use super::strong::StrongKind;
use crate::engine::{Rolling, StrongHasher, MAX_STRONG};
use crate::multibuf::{digest_lanes, Algo, LANES};

/// Computes the block records of `data` into `out`: `data` is split into blocks of
/// `params.block_len` bytes (the last one may be shorter, so pass a short block only at the
/// end of the basis), and each block's record is its big-endian weak sum followed by the
/// first `params.strong_len` bytes of its strong sum.
///
/// Writes `min(blocks, out.len() / record_len)` records and returns how many; size `out` as
/// `params.block_count(data.len()) × params.record_len()` bytes to get them all.
///
/// Wire: RFC.md Appendix R `[rdiff-sig-block]`.
///
/// ```
/// use rsync_core::librsync::{block_sums, SignatureKind, SignatureParams};
/// let p = SignatureParams::new(SignatureKind::Md4Rollsum, 16, 8)?;
/// let data = b"hello world, this is a test of rdiff!\n";
/// let mut out = vec![0u8; p.block_count(data.len() as u64) as usize * p.record_len()];
/// assert_eq!(block_sums(&p, data, &mut out), 3);
/// assert_eq!(out[..4], [0x44, 0x35, 0x07, 0xdd]);
/// # Ok::<(), rsync_core::librsync::ParamsError>(())
/// ```
pub fn block_sums(params: &SignatureParams, data: &[u8], out: &mut [u8]) -> usize {
    match params.kind.weak() {
        WeakKind::Rollsum => sums_with::<Rollsum>(params, data, out),
        WeakKind::RabinKarp => sums_with::<RabinKarp>(params, data, out),
    }
}

fn sums_with<R: Rolling>(params: &SignatureParams, data: &[u8], out: &mut [u8]) -> usize {
    let bl = (params.block_len as usize).max(1);
    let rec = params.record_len();
    let strong = params.kind.strong();
    let n = rec - 4;
    let whole = (data.len() / bl).min(out.len() / rec);
    let mut count = 0;
    if strong == StrongKind::Md4 {
        // Groups of whole blocks through the multi-buffer MD4.
        while count + LANES <= whole {
            let (Some(group), Some(slots)) = (
                data.get(count * bl..(count + LANES) * bl),
                out.get_mut(count * rec..(count + LANES) * rec),
            ) else {
                break;
            };
            let msgs: [&[u8]; LANES] =
                std::array::from_fn(|j| group.get(j * bl..(j + 1) * bl).unwrap_or_default());
            let digests = digest_lanes(Algo::Md4, &msgs, bl, &[], &[]);
            for ((block, slot), d) in group
                .chunks_exact(bl)
                .zip(slots.chunks_exact_mut(rec))
                .zip(digests)
            {
                record::<R>(block, &d, n, slot);
            }
            count += LANES;
        }
    }
    let rest = data.get(count * bl..).unwrap_or_default();
    let rest_out = out.get_mut(count * rec..).unwrap_or_default();
    for (block, slot) in rest.chunks(bl).zip(rest_out.chunks_exact_mut(rec)) {
        let mut d = [0u8; MAX_STRONG];
        match strong {
            StrongKind::Md4 => super::strong::Md4.strong(block, &mut d),
            StrongKind::Blake2 => super::strong::Blake2.strong(block, &mut d),
        }
        record::<R>(block, &d, n, slot);
        count += 1;
    }
    count
}

/// Writes one block record: the big-endian weak sum and `n` bytes of `digest`.
#[inline]
fn record<R: Rolling>(block: &[u8], digest: &[u8], n: usize, slot: &mut [u8]) {
    let (weak_out, strong_out) = slot.split_at_mut(4);
    weak_out.copy_from_slice(&R::of_window(block).digest().to_be_bytes());
    if let (Some(dst), Some(src)) = (strong_out.get_mut(..n), digest.get(..n)) {
        dst.copy_from_slice(src);
    }
}

/// Streaming signature writer; see the module docs.
///
/// ```
/// use rsync_core::librsync::{SignatureKind, SignatureParams, SignatureWriter};
/// let p = SignatureParams::new(SignatureKind::Md4Rollsum, 16, 8)?;
/// let mut w = SignatureWriter::new(p);
/// let mut sig = Vec::new();
/// w.push(b"hello world, this is ", &mut sig);
/// w.push(b"a test of rdiff!\n", &mut sig);
/// w.finish(&mut sig);
/// assert_eq!(sig.len(), 12 + 3 * 12);
/// assert_eq!(sig[..4], [0x72, 0x73, 0x01, 0x36]);
/// # Ok::<(), rsync_core::librsync::ParamsError>(())
/// ```
#[derive(Debug)]
pub struct SignatureWriter {
    params: SignatureParams,
    header_done: bool,
    /// Start of a block whose end has not arrived yet (always shorter than a block).
    carry: Vec<u8>,
    blocks: u64,
}

impl SignatureWriter {
    /// A writer with these (already [validated](SignatureParams::validate)) parameters.
    pub fn new(params: SignatureParams) -> Self {
        Self {
            params,
            header_done: false,
            carry: Vec::new(),
            blocks: 0,
        }
    }

    /// The parameters.
    pub fn params(&self) -> SignatureParams {
        self.params
    }

    /// A good size for the chunks passed to [`push`](Self::push), near `about` bytes: a
    /// multiple of the block length, and of a whole group of blocks hashed together when
    /// that is not much larger, so that no block straddles two chunks.
    pub fn chunk_len_hint(&self, about: usize) -> usize {
        let bl = (self.params.block_len as usize).max(1);
        let group = bl.saturating_mul(LANES);
        let unit = if group <= about.saturating_mul(2) {
            group
        } else {
            bl
        };
        about.div_ceil(unit).max(1).saturating_mul(unit)
    }

    /// Blocks written so far.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    fn header(&mut self, out: &mut Vec<u8>) {
        if !self.header_done {
            out.extend_from_slice(&self.params.header());
            self.header_done = true;
        }
    }

    fn emit(&mut self, blocks: &[u8], out: &mut Vec<u8>) {
        if blocks.is_empty() {
            return;
        }
        let n = self.params.block_count(blocks.len() as u64) as usize;
        let start = out.len();
        out.resize(start + n * self.params.record_len(), 0);
        let written = out
            .get_mut(start..)
            .map_or(0, |dst| block_sums(&self.params, blocks, dst));
        self.blocks += written as u64;
    }

    /// Feeds the next bytes of the basis; finished records are appended to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        self.header(out);
        let bl = (self.params.block_len as usize).max(1);
        if !self.carry.is_empty() {
            let take = (bl - self.carry.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.carry.extend_from_slice(head);
            data = rest;
            if self.carry.len() < bl {
                return;
            }
            let carry = std::mem::take(&mut self.carry);
            self.emit(&carry, out);
            self.carry = carry;
            self.carry.clear();
        }
        let whole = data.len() - data.len() % bl;
        let (blocks, rest) = data.split_at(whole);
        self.emit(blocks, out);
        self.carry.extend_from_slice(rest);
    }

    /// Ends the basis: the short last block (if any) is appended to `out`, and the header
    /// too if nothing was pushed.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        self.header(out);
        let carry = std::mem::take(&mut self.carry);
        self.emit(&carry, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::librsync::SignatureKind;

    #[test]
    fn matches_rdiff_md4_rollsum() {
        // `rdiff -H md4 -R rollsum -b 16 -S 8 signature` of this text, as hex.
        let text = b"hello world, this is a test of rdiff!\n";
        let want = "727301360000001000000008443507dd2c7994584a0162783d610747f2cdac3c\
                    cac8db7f0a06027e1f2551b7528fb0fe";
        let p = SignatureParams::new(SignatureKind::Md4Rollsum, 16, 8).unwrap();
        for split in 0..=text.len() {
            let mut w = SignatureWriter::new(p);
            let mut out = Vec::new();
            w.push(&text[..split], &mut out);
            w.push(&text[split..], &mut out);
            w.finish(&mut out);
            let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, want, "split at {split}");
        }
    }

    #[test]
    fn chunk_hint_is_whole_groups() {
        let p = SignatureParams::new(SignatureKind::Md4Rollsum, 23168, 16).unwrap();
        let h = SignatureWriter::new(p).chunk_len_hint(1 << 20);
        assert_eq!(h % (23168 * 8), 0);
        assert!((1 << 20..(1 << 20) + 23168 * 8).contains(&h));
        let huge = SignatureParams::new(SignatureKind::Md4Rollsum, 1 << 28, 16).unwrap();
        assert_eq!(SignatureWriter::new(huge).chunk_len_hint(1 << 20), 1 << 28);
    }

    #[test]
    fn empty_basis_is_header_only() {
        let p = SignatureParams::new(SignatureKind::Blake2RabinKarp, 256, 32).unwrap();
        let mut out = Vec::new();
        SignatureWriter::new(p).finish(&mut out);
        assert_eq!(out, p.header());
    }

    #[test]
    fn short_output_buffer_is_not_a_panic() {
        let p = SignatureParams::new(SignatureKind::Md4Rollsum, 4, 4).unwrap();
        let mut out = [0u8; 10];
        assert_eq!(block_sums(&p, b"abcdefghij", &mut out), 1);
    }
}
