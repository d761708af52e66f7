//! Reading a basis: its block sums ([`signature_of`], in parallel for a large basis), block
//! copies through a read-ahead [`Window`], and the whole-file checksum of `-c`
//! ([`hash_file`]).

use rsync_core::checksum::StrongSum;
use rsync_core::{Signature, SignatureBuilder, SumHead};

use crate::fs::{Basis, FsError};

/// Chunk size for reading a basis.
const READ_CHUNK: usize = 256 * 1024;
/// Most threads summing one basis.
const SIG_THREADS: usize = 4;
/// Smallest basis summed by several threads.
const SIG_PARALLEL_MIN: u64 = 16 << 20;
/// Basis bytes read at once for block copies (matched blocks mostly come in order).
const READ_AHEAD: usize = 1024 * 1024;

/// The block sums of `basis` for `head`, and the read error that cut them short, if any. A
/// large basis is split at block boundaries into one part per core (at most
/// [`SIG_THREADS`]), summed by scoped threads, and the parts' sums are joined in order: the
/// builder keeps no state across blocks, so the result is the sequential one.
pub(super) fn signature_of(
    basis: &Basis,
    head: SumHead,
    strong: StrongSum,
) -> (Signature, Option<FsError>) {
    let mut sig = Signature::with_head(head);
    let want = head.basis_len();
    let bl = u64::from(head.block_len.max(1));
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = if want >= SIG_PARALLEL_MIN {
        cores.clamp(1, SIG_THREADS)
    } else {
        1
    };
    // Whole blocks per part; the last part also takes the short final block.
    let per_part = (want / bl).div_ceil(threads as u64).max(1) * bl;
    let bounds: Vec<u64> = (0..=threads as u64)
        .map(|i| (i * per_part).min(want))
        .map(|b| if want - b < bl { want } else { b })
        .collect();
    let parts: Vec<(u64, u64)> = bounds
        .windows(2)
        .filter_map(|w| match *w {
            [a, e] if a < e => Some((a, e)),
            _ => None,
        })
        .collect();
    let results: Vec<PartSums> = if parts.len() <= 1 {
        vec![part_sums(basis, head, strong, 0, want)]
    } else {
        std::thread::scope(|sc| {
            let handles: Vec<_> = parts
                .iter()
                .map(|&(a, e)| sc.spawn(move || part_sums(basis, head, strong, a, e)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Err(None)))
                .collect()
        })
    };
    let sl = head.strong_len as usize;
    for part in results {
        match part {
            Ok((weak, sums)) => {
                for (i, w) in weak.iter().enumerate() {
                    sig.push(*w, sums.get(i * sl..(i + 1) * sl).unwrap_or_default());
                }
            }
            Err(e) => return (sig, e),
        }
    }
    (sig, None)
}

/// One part's weak sums and concatenated strong sums, or why it could not be read (`None`:
/// its thread died).
type PartSums = Result<(Vec<u32>, Vec<u8>), Option<FsError>>;

/// The sums of the basis bytes `start..end` (`start` on a block boundary).
fn part_sums(basis: &Basis, head: SumHead, strong: StrongSum, start: u64, end: u64) -> PartSums {
    let mut b = SignatureBuilder::new(head, strong);
    let blocks = (end - start) / u64::from(head.block_len.max(1)) + 1;
    let blocks = usize::try_from(blocks).unwrap_or(0).min(1 << 20);
    let mut weak = Vec::with_capacity(blocks);
    let mut sums = Vec::with_capacity(blocks * head.strong_len as usize);
    let mut push = |w: u32, s: &[u8]| {
        weak.push(w);
        sums.extend_from_slice(s);
    };
    let mut buf = vec![0u8; READ_CHUNK];
    let mut off = start;
    while off < end {
        let room = usize::try_from(end - off).map_or(READ_CHUNK, |n| n.min(READ_CHUNK));
        let n = match basis.read_at(&mut buf[..room], off) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(Some(e)),
        };
        b.update(&buf[..n], &mut push);
        off += n as u64;
    }
    b.finish(&mut push);
    Ok((weak, sums))
}

/// Basis bytes read ahead for block copies: `buf[..len]` holds the basis from `off` on.
#[derive(Debug, Default)]
pub(super) struct Window {
    buf: Vec<u8>,
    off: u64,
    len: usize,
}

impl Window {
    /// Forgets what was read (a new basis).
    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// The basis bytes `offset..offset + len` (fewer at the end of the file: the session
    /// sees a short copy), read ahead [`READ_AHEAD`] bytes at a time.
    pub(super) fn copy(&mut self, basis: &Basis, offset: u64, len: usize) -> Vec<u8> {
        let end = offset.saturating_add(len as u64);
        let window_end = self.off + self.len as u64;
        if len <= READ_AHEAD && (offset < self.off || end > window_end) {
            // Read ahead from `offset`: the next matched blocks usually follow.
            if self.buf.len() < READ_AHEAD {
                self.buf.resize(READ_AHEAD, 0);
            }
            self.off = offset;
            self.len = read_full(basis, &mut self.buf, offset);
        }
        let start = offset
            .checked_sub(self.off)
            .and_then(|d| usize::try_from(d).ok());
        if let Some(a) = start.filter(|&a| within(a, len, self.len)) {
            if let Some(data) = self.buf.get(a..a + len) {
                return data.to_vec();
            }
        }
        // Longer than the read-ahead, or past the end of the basis.
        let mut data = vec![0u8; len];
        let got = read_full(basis, &mut data, offset);
        data.truncate(got);
        data
    }
}

/// Whether `start..start + len` lies within the first `valid` bytes.
fn within(start: usize, len: usize, valid: usize) -> bool {
    start.checked_add(len).is_some_and(|e| e <= valid)
}

/// Reads into `buf` from `offset` until it is full or the file ends; returns the bytes read
/// (an I/O error ends the read early, which the session sees as a short copy).
fn read_full(basis: &Basis, buf: &mut [u8], offset: u64) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match basis.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    got
}

/// The whole-file checksum of `-c`.
pub(super) fn hash_file(f: &Basis, sum: StrongSum) -> Result<Vec<u8>, FsError> {
    let mut h = sum.file_hasher();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut off = 0u64;
    loop {
        let n = f.read_at(&mut buf, off)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        off += n as u64;
    }
    Ok(h.finish().as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{Destination, RelPath};
    use rsync_core::checksum::ChecksumKind;

    #[test]
    fn parallel_signature_equals_the_sequential_one_and_copies_read_ahead() {
        let tmp = tempfile::tempdir().unwrap();
        // Over the parallel threshold, with a short last block.
        let len = (SIG_PARALLEL_MIN as usize) + 12_345;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        std::fs::write(tmp.path().join("b"), &data).unwrap();
        let dest = Destination::open(tmp.path()).unwrap();
        let basis = dest.open_basis(&RelPath::new(b"b").unwrap()).unwrap();
        let bl = 7000u32;
        let head = SumHead {
            count: u32::try_from(len.div_ceil(bl as usize)).unwrap(),
            block_len: bl,
            strong_len: 16,
            remainder: u32::try_from(len % bl as usize).unwrap(),
        };
        let strong = StrongSum::new(ChecksumKind::Xxh128, 0);
        let (sig, err) = signature_of(&basis, head, strong);
        assert!(err.is_none());
        let want = Signature::compute(&data, head, strong);
        assert_eq!(sig.len(), head.count as usize);
        assert_eq!(sig.weak_sums(), want.weak_sums());
        assert_eq!(sig.strong_sums(), want.strong_sums());
        // Block copies: in order, backwards, across the window's end, past the file's end.
        let mut w = Window::default();
        for (off, n) in [
            (0u64, 7000usize),
            (7000, 7000),
            (3, 10),
            (1_048_570, 20),
            (0, 2 << 20),
        ] {
            assert_eq!(w.copy(&basis, off, n), data[off as usize..off as usize + n]);
        }
        assert_eq!(w.copy(&basis, len as u64 - 5, 10), data[len - 5..]);
    }
}
