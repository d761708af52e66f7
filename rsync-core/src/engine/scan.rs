//! The streaming scanner: consumes the new file in chunks of any size and emits literal runs
//! and block copies. Memory use is one block of carried-over bytes; chunks are scanned in
//! place.

use super::{Index, Rolling, StrongHasher, BATCH, MAX_STRONG};

/// One step of a delta, borrowed from the scanner's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op<'a> {
    /// Bytes to send as they are.
    Literal(&'a [u8]),
    /// Copy block `n` of the basis.
    Copy(u32),
}

/// Emits `data` as literal runs of at most `max` bytes.
fn literal<E>(
    max: usize,
    mut data: &[u8],
    sink: &mut impl FnMut(Op<'_>) -> Result<(), E>,
) -> Result<(), E> {
    while !data.is_empty() {
        let n = data.len().min(max);
        sink(Op::Literal(&data[..n]))?;
        data = &data[n..];
    }
    Ok(())
}

/// Along a run of matches, checks the windows at `p`, `p + bl`, … against blocks `want`,
/// `want + 1`, … : weak sums one by one, then the strong sums of all the candidates in one
/// batch. Returns how many consecutive blocks matched (0 if fewer than 3 were candidates;
/// the single-window path handles those), and the rolling sum of the window at `p` when it
/// was computed and did not match, for reuse.
fn run_ahead<R: Rolling, S: StrongHasher>(
    index: &Index,
    hasher: &S,
    buf: &[u8],
    p: usize,
    end: usize,
    bl: usize,
    want: u32,
) -> (u32, Option<R>) {
    let mut windows: [&[u8]; BATCH] = [&[]; BATCH];
    let mut m = 0;
    let mut first = None;
    while m < BATCH {
        let q = p + m * bl;
        let block = want.wrapping_add(m as u32);
        if q >= end || block >= index.full_count() {
            break;
        }
        let Some(w) = buf.get(q..q + bl) else { break };
        let r = R::of_window(w);
        let hit = r.digest() == index.weak_of(block);
        if m == 0 {
            first = Some(r);
        }
        if !hit {
            break;
        }
        windows[m] = w;
        m += 1;
    }
    if m < 3 {
        return (0, first);
    }
    let mut sums = [[0u8; MAX_STRONG]; BATCH];
    hasher.strong_batch(&windows[..m], &mut sums);
    let n = index.strong_len();
    let mut k = 0;
    while k < m && index.strong_of(want.wrapping_add(k as u32)) == &sums[k][..n] {
        k += 1;
    }
    (k as u32, if k == 0 { first } else { None })
}

/// Matcher state for one new file against one signature.
#[derive(Debug)]
pub(crate) struct Engine<R, S> {
    index: Index,
    hasher: S,
    block_len: usize,
    /// Length of the short last block (0 if every block is full).
    tail_len: usize,
    max_literal: usize,
    /// Bytes whose window start has not been scanned yet (always fewer than `block_len`).
    carry: Vec<u8>,
    /// Rolling sum of the window at the current position, when known.
    roll: Option<R>,
    /// The block after the last match, preferred when it matches (runs stay in order).
    want: u32,
}

impl<R: Rolling, S: StrongHasher> Engine<R, S> {
    /// `block_len` must be > 0 when `index` has blocks; `tail_len` is the short last block's
    /// length (0 if none); `max_literal` > 0 caps literal runs.
    pub(crate) fn new(
        index: Index,
        hasher: S,
        block_len: usize,
        tail_len: usize,
        max_literal: usize,
    ) -> Self {
        Self {
            index,
            hasher,
            block_len: block_len.max(1),
            tail_len,
            max_literal: max_literal.max(1),
            carry: Vec::new(),
            roll: None,
            want: 0,
        }
    }

    fn literal<E>(
        &self,
        data: &[u8],
        sink: &mut impl FnMut(Op<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        literal(self.max_literal, data, sink)
    }

    /// Scans window starts `p` in `[p, end)` of `buf`; every such window must lie inside
    /// `buf`. Literal bytes before the returned position have been emitted.
    fn scan<E>(
        &mut self,
        buf: &[u8],
        mut p: usize,
        end: usize,
        sink: &mut impl FnMut(Op<'_>) -> Result<(), E>,
    ) -> Result<usize, E> {
        let bl = self.block_len;
        let mut lit = p;
        if self.index.full_count() == 0 {
            // Nothing can match: everything before `end` is literal.
            let stop = end.max(p);
            self.literal(&buf[lit..stop], sink)?;
            self.roll = None;
            return Ok(stop);
        }
        // The rolling state lives in a local so the hot loop keeps it in registers.
        let mut roll = self.roll.take();
        let max_literal = self.max_literal;
        let index = &self.index;
        let hasher = &self.hasher;
        let mut want = self.want;
        let batching = hasher.batches();
        let result = loop {
            if p >= end {
                break Ok(());
            }
            if batching && roll.is_none() && lit == p {
                let (n, first) = run_ahead::<R, S>(index, hasher, buf, p, end, bl, want);
                if n > 0 {
                    let mut sent = Ok(());
                    for k in 0..n {
                        sent = sink(Op::Copy(want.wrapping_add(k)));
                        if sent.is_err() {
                            break;
                        }
                    }
                    if let Err(e) = sent {
                        break Err(e);
                    }
                    want = want.wrapping_add(n);
                    p += n as usize * bl;
                    lit = p;
                    continue;
                }
                roll = first;
            }
            let r = match &mut roll {
                Some(r) => r,
                None => roll.insert(R::of_window(&buf[p..p + bl])),
            };
            // Fast path through unmatched data: slide while the prefilter rejects, up to the
            // next literal flush or the last position whose successor is in `buf`.
            let stop = end.min(lit + max_literal).min(buf.len() - bl);
            if p < stop {
                let mut q = p;
                for (&out, &inc) in buf[p..stop].iter().zip(&buf[p + bl..stop + bl]) {
                    if index.maybe(r.digest()) {
                        break;
                    }
                    r.rotate(out, inc);
                    q += 1;
                }
                p = q;
                if p == stop {
                    if p - lit >= max_literal {
                        if let Err(e) = sink(Op::Literal(&buf[lit..lit + max_literal])) {
                            roll = None;
                            break Err(e);
                        }
                        lit += max_literal;
                    }
                    continue;
                }
            }
            let weak = r.digest();
            if index.maybe(weak) {
                let window = &buf[p..p + bl];
                let found = index.find(weak, want, &mut || {
                    let mut d = [0u8; MAX_STRONG];
                    hasher.strong(window, &mut d);
                    d
                });
                if let Some(block) = found {
                    if let Err(e) = literal(max_literal, &buf[lit..p], sink)
                        .and_then(|()| sink(Op::Copy(block)))
                    {
                        roll = None;
                        break Err(e);
                    }
                    want = block.wrapping_add(1);
                    p += bl;
                    lit = p;
                    roll = None;
                    continue;
                }
            }
            match (buf.get(p), buf.get(p + bl), &mut roll) {
                (Some(&out), Some(&inc), Some(r)) => r.rotate(out, inc),
                _ => roll = None,
            }
            p += 1;
            if p - lit >= max_literal {
                if let Err(e) = sink(Op::Literal(&buf[lit..lit + max_literal])) {
                    roll = None;
                    break Err(e);
                }
                lit += max_literal;
            }
        };
        self.roll = roll;
        self.want = want;
        result?;
        self.literal(&buf[lit..p], sink)?;
        Ok(p)
    }

    /// Feeds the next bytes of the new file.
    pub(crate) fn push<E>(
        &mut self,
        mut data: &[u8],
        sink: &mut impl FnMut(Op<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let bl = self.block_len;
        if !self.carry.is_empty() {
            let base = self.carry.len();
            let take = data.len().min(bl);
            self.carry.extend_from_slice(&data[..take]);
            if self.carry.len() < bl {
                return Ok(());
            }
            let end = base.min(self.carry.len() - bl + 1);
            let carry = std::mem::take(&mut self.carry);
            let p = self.scan(&carry, 0, end, sink);
            self.carry = carry;
            let p = p?;
            if p < base {
                // `data` was shorter than a block and is all in the carry now.
                self.carry.drain(..p);
                return Ok(());
            }
            self.carry.clear();
            data = &data[p - base..];
        }
        let end = (data.len() + 1).saturating_sub(bl);
        let p = self.scan(data, 0, end, sink)?;
        self.carry.extend_from_slice(&data[p.min(data.len())..]);
        Ok(())
    }

    /// Ends the new file: the remaining bytes may still match the short last block.
    pub(crate) fn finish<E>(
        mut self,
        sink: &mut impl FnMut(Op<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let carry = std::mem::take(&mut self.carry);
        let tl = self.tail_len;
        let count = self.index.count();
        if tl > 0 && carry.len() >= tl && count > self.index.full_count() {
            let last = count - 1;
            let q = carry.len() - tl;
            let window = &carry[q..];
            if R::of_window(window).digest() == self.index.weak_of(last) {
                let mut d = [0u8; MAX_STRONG];
                self.hasher.strong(window, &mut d);
                let n = self.index.strong_len();
                if self.index.strong_of(last) == &d[..n] {
                    self.literal(&carry[..q], sink)?;
                    return sink(Op::Copy(last));
                }
            }
        }
        self.literal(&carry, sink)
    }
}
