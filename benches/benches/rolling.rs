//! Rolling checksum throughput: the fast block sum against the scalar reference, and the
//! byte-at-a-time rotate loop the matcher runs through unmatched data.

#![allow(missing_docs)] // criterion_group! generates undocumented items.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rsync_core::rolling::{weak_sum, weak_sum_scalar, RollingSum};
use std::hint::black_box;

fn rolling(c: &mut Criterion) {
    let data = rsync_benches::pseudo_random(1 << 20, 1);
    let mut g = c.benchmark_group("rolling");
    g.throughput(Throughput::Bytes(data.len() as u64));
    for block in [700usize, 23168] {
        g.bench_with_input(
            BenchmarkId::new("block sums (fast)", block),
            &block,
            |b, &bl| {
                b.iter(|| {
                    data.chunks(bl)
                        .fold(0u32, |a, c| a ^ weak_sum(black_box(c)))
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("block sums (scalar)", block),
            &block,
            |b, &bl| {
                b.iter(|| {
                    data.chunks(bl)
                        .fold(0u32, |a, c| a ^ weak_sum_scalar(black_box(c)))
                })
            },
        );
    }
    g.bench_function("rotate every byte (window 2048)", |b| {
        b.iter(|| {
            let w = 2048;
            let mut r = RollingSum::of(&data[..w]);
            let mut acc = 0u32;
            for i in 0..data.len() - w {
                r.rotate(data[i], data[i + w]);
                acc ^= r.digest();
            }
            acc
        })
    });
    g.finish();
}

criterion_group!(benches, rolling);
criterion_main!(benches);
