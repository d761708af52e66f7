//! Signature, delta and apply throughput for rsync's format on named scenarios:
//! "1% scattered edits", "insertion", "random" (nothing matches) and "all zeros" (every
//! block has the same weak sum).

#![allow(missing_docs)] // criterion_group! generates undocumented items.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rsync_core::block_size::SizeRule;
use rsync_core::checksum::{ChecksumKind, StrongSum};
use rsync_core::{Applier, Limits, Matcher, Signature, SumHead, Token};
use std::hint::black_box;

const LEN: usize = 64 << 20;
const CHUNK: usize = 1 << 20;

fn sig(basis: &[u8], strong: StrongSum) -> (SumHead, Signature) {
    let head = SizeRule::new(31, strong.digest_len() as u32)
        .sum_head(basis.len() as u64)
        .unwrap_or_default();
    (head, Signature::compute(basis, head, strong))
}

fn run_delta(sig: &Signature, strong: StrongSum, new: &[u8]) -> usize {
    let mut m = Matcher::new(sig.clone(), strong);
    let mut literal = 0usize;
    let mut sink = |t: Token<'_>| -> Result<(), ()> {
        if let Token::Literal(b) = t {
            literal += b.len();
        }
        Ok(())
    };
    for c in new.chunks(CHUNK) {
        let _ = m.push(c, &mut sink);
    }
    let _ = m.finish(&mut sink);
    literal
}

fn signature(c: &mut Criterion) {
    let basis = rsync_benches::pseudo_random(LEN, 7);
    let mut g = c.benchmark_group("signature");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(LEN as u64));
    for kind in [
        ChecksumKind::Xxh128,
        ChecksumKind::Xxh3,
        ChecksumKind::Md5,
        ChecksumKind::Md4,
    ] {
        let strong = StrongSum::new(kind, 0x5eed);
        g.bench_with_input(BenchmarkId::from_parameter(kind.name()), &strong, |b, s| {
            b.iter(|| sig(black_box(&basis), *s).1.len())
        });
    }
    g.finish();
}

/// A basis whose every block has weak sum 0 (+1, −1, −1, +1 at offsets k, k+d, k+e, k+e+d
/// cancel in both sums) but a distinct strong sum. Against an all-zero new file, whose every
/// window also has weak sum 0, a matcher without a collision cap goes quadratic.
fn weak_collisions(len: usize, block: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for (i, b) in out.chunks_exact_mut(block).enumerate() {
        let (k, d, e) = (i % (block / 2), 1 + i / (block / 2), block / 4);
        if k + e + d < block {
            b[k] = 1;
            b[k + d] = 0xff;
            b[k + e] = 0xff;
            b[k + e + d] = 1;
        }
    }
    out
}

fn delta(c: &mut Criterion) {
    let basis = rsync_benches::pseudo_random(LEN, 7);
    let zeros = vec![0u8; LEN];
    let strong = StrongSum::new(ChecksumKind::Xxh128, 0x5eed);
    let (_, basis_sig) = sig(&basis, strong);
    let (_, zero_sig) = sig(&zeros, strong);
    let block = SizeRule::new(31, 16).block_len(LEN as u64) as usize;
    let (_, collide_sig) = sig(&weak_collisions(LEN, block), strong);
    let scenarios: [(&str, &Signature, Vec<u8>); 5] = [
        (
            "1% scattered edits",
            &basis_sig,
            rsync_benches::scattered_edits(&basis, 9),
        ),
        ("insertion", &basis_sig, rsync_benches::insertion(&basis, 9)),
        ("random", &basis_sig, rsync_benches::pseudo_random(LEN, 99)),
        ("all zeros", &zero_sig, zeros.clone()),
        ("weak collisions", &collide_sig, zeros.clone()),
    ];
    let mut g = c.benchmark_group("delta xxh128");
    g.sample_size(10);
    for (name, s, new) in &scenarios {
        g.throughput(Throughput::Bytes(new.len() as u64));
        g.bench_function(*name, |b| b.iter(|| run_delta(s, strong, black_box(new))));
    }
    g.finish();
}

fn apply(c: &mut Criterion) {
    let basis = rsync_benches::pseudo_random(LEN, 7);
    let new = rsync_benches::scattered_edits(&basis, 9);
    let strong = StrongSum::new(ChecksumKind::Xxh128, 0x5eed);
    let (head, s) = sig(&basis, strong);
    // Record the tokens once; the bench measures applying them.
    let mut toks: Vec<Result<Vec<u8>, u32>> = Vec::new();
    let mut m = Matcher::new(s, strong);
    let mut sink = |t: Token<'_>| -> Result<(), ()> {
        toks.push(match t {
            Token::Literal(b) => Ok(b.to_vec()),
            Token::Copy(i) => Err(i),
        });
        Ok(())
    };
    for ch in new.chunks(CHUNK) {
        let _ = m.push(ch, &mut sink);
    }
    let _ = m.finish(&mut sink);
    let mut fsum = strong.file_hasher();
    fsum.update(&new);
    let fsum = fsum.finish();
    let mut g = c.benchmark_group("apply xxh128");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(new.len() as u64));
    g.bench_function("1% scattered edits", |b| {
        b.iter(|| {
            let mut a =
                Applier::new(head, strong, Limits::default()).unwrap_or_else(|e| panic!("{e}"));
            let mut out = Vec::with_capacity(LEN);
            for t in &toks {
                let t = match t {
                    Ok(l) => Token::Literal(l),
                    Err(i) => Token::Copy(*i),
                };
                let _ = a.apply_in_memory(t, &basis, &mut out);
            }
            a.finish(fsum.as_bytes()).map(|n| n as usize).unwrap_or(0)
        })
    });
    g.finish();
}

criterion_group!(benches, signature, delta, apply);
criterion_main!(benches);
