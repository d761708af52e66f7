//! In-process throughput of rsync-format signature and delta on a file pair held in memory
//! (so that disk speed is out of the picture), plus the all-zero pathological case.
//!
//! Usage: `pair OLD NEW` (the 512 MiB pair made by `benches/rdiff-compare.sh`).

use rsync_core::block_size::SizeRule;
use rsync_core::checksum::{ChecksumKind, StrongSum};
use rsync_core::{Matcher, Signature, SignatureBuilder, SumHead, Token};
use std::time::Instant;

const CHUNK: usize = 1 << 20;

/// Signature computed by `threads` workers on block-aligned shards, concatenated in order.
fn signature(basis: &[u8], head: SumHead, strong: StrongSum, threads: usize) -> Signature {
    let bl = head.block_len as usize;
    let blocks = basis.len().div_ceil(bl.max(1));
    let per = blocks.div_ceil(threads.max(1)) * bl;
    let shards: Vec<Vec<(u32, Vec<u8>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = basis
            .chunks(per.max(1))
            .map(|shard| {
                s.spawn(move || {
                    let mut out = Vec::with_capacity(shard.len() / bl + 1);
                    let mut b = SignatureBuilder::new(head, strong);
                    for c in shard.chunks(CHUNK) {
                        b.update(c, &mut |w, st| out.push((w, st.to_vec())));
                    }
                    b.finish(&mut |w, st| out.push((w, st.to_vec())));
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut sig = Signature::with_head(head);
    for (w, st) in shards.iter().flatten() {
        sig.push(*w, st);
    }
    sig
}

fn delta(sig: Signature, strong: StrongSum, new: &[u8]) -> (usize, usize) {
    let mut m = Matcher::new(sig, strong);
    let (mut literal, mut copies) = (0usize, 0usize);
    let mut sink = |t: Token<'_>| -> Result<(), ()> {
        match t {
            Token::Literal(b) => literal += b.len(),
            Token::Copy(_) => copies += 1,
        }
        Ok(())
    };
    for c in new.chunks(CHUNK) {
        let _ = m.push(c, &mut sink);
    }
    let _ = m.finish(&mut sink);
    (literal, copies)
}

fn gbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e9
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(v);
    }
    match last {
        Some(v) => (v, best),
        None => (f(), best),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (old, new) = match &args[..] {
        [_, o, n] => (std::fs::read(o)?, std::fs::read(n)?),
        _ => return Err("usage: pair OLD NEW".into()),
    };
    let zeros = vec![0u8; old.len()];
    println!(
        "file pair: {} and {} bytes (best of 3 runs each)",
        old.len(),
        new.len()
    );
    println!(
        "{:<10} {:>8} {:>14} {:>14} {:>14} {:>14}",
        "checksum", "threads", "signature GB/s", "delta GB/s", "literal bytes", "zeros GB/s"
    );
    for kind in [
        ChecksumKind::Xxh128,
        ChecksumKind::Xxh3,
        ChecksumKind::Md5,
        ChecksumKind::Md4,
    ] {
        let strong = StrongSum::new(kind, 0x1234_5678);
        let protocol = if kind == ChecksumKind::Md4 { 29 } else { 31 };
        let rule = SizeRule::new(protocol, kind.digest_len() as u32);
        let head = rule.sum_head(old.len() as u64).ok_or("too many blocks")?;
        for threads in [1usize, 2] {
            let (sig, t_sig) = best_of(3, || signature(&old, head, strong, threads));
            if threads > 1 {
                // The matcher is sequential: only the signature uses the second core.
                println!(
                    "{:<10} {:>8} {:>14.2} {:>14} {:>14} {:>14}",
                    kind.name(),
                    threads,
                    gbps(old.len(), t_sig),
                    "-",
                    "-",
                    "-"
                );
                continue;
            }
            let ((literal, _), t_delta) = best_of(3, || delta(sig.clone(), strong, &new));
            let zsig = signature(&zeros, head, strong, 2);
            let (_, t_zero) = best_of(3, || delta(zsig.clone(), strong, &zeros));
            println!(
                "{:<10} {:>8} {:>14.2} {:>14.2} {:>14} {:>14.2}",
                kind.name(),
                threads,
                gbps(old.len(), t_sig),
                gbps(new.len(), t_delta),
                literal,
                gbps(zeros.len(), t_zero)
            );
        }
    }
    Ok(())
}
