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

fn delta(c: &mut Criterion) {
    let basis = rsync_benches::pseudo_random(LEN, 7);
    let zeros = vec![0u8; LEN];
    let strong = StrongSum::new(ChecksumKind::Xxh128, 0x5eed);
    let (_, basis_sig) = sig(&basis, strong);
    let (_, zero_sig) = sig(&zeros, strong);
    let scenarios: [(&str, &Signature, Vec<u8>); 4] = [
        (
            "1% scattered edits",
            &basis_sig,
            rsync_benches::scattered_edits(&basis, 9),
        ),
        ("insertion", &basis_sig, rsync_benches::insertion(&basis, 9)),
        ("random", &basis_sig, rsync_benches::pseudo_random(LEN, 99)),
        ("all zeros", &zero_sig, zeros.clone()),
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
