//! The large files of the matrix: the 64 MiB delta pair and the `--inplace` scenario's
//! files, built once per test process from deterministic pseudo-random bytes.

use std::io;
use std::path::Path;
use std::sync::OnceLock;

use rsync_tests::pseudo_random;
use rsync_tests::tree::TreeBuilder;

use crate::scenarios::{data, t};

/// Size of the delta scenario's file.
pub(crate) const BIG_LEN: usize = 64 << 20;

/// The delta scenario's file: (old version in the destination, new version in the source).
/// Built once per test process.
fn big_files() -> &'static (Vec<u8>, Vec<u8>) {
    static BIG: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    BIG.get_or_init(|| {
        let old = pseudo_random(BIG_LEN, 0x05ee_db16);
        let mut new = old.clone();
        // 64 overwrites of 10,000 bytes at unaligned offsets (about 1% of the file) ...
        for k in 0..64u64 {
            let at = usize::try_from(k * (1 << 20) + 12_345 + k * 777).unwrap_or(0);
            let patch = pseudo_random(10_000, 1000 + k);
            if let Some(dst) = new.get_mut(at..at + patch.len()) {
                dst.copy_from_slice(&patch);
            }
        }
        // ... an insertion (everything after it moves) and a deletion that restores the size.
        let ins = pseudo_random(5_000, 77);
        new.splice(24_000_000..24_000_000, ins);
        new.drain(48_000_000..48_005_000);
        (old, new)
    })
}

pub(crate) fn big_delta(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    b.file(b"big.bin", &big_files().1, 0o644, t(2))?;
    b.file(b"note.txt", b"a small file next to it\n", 0o644, t(3))?;
    b.finish()
}

pub(crate) fn big_delta_dest(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(90));
    b.file(b"big.bin", &big_files().0, 0o644, t(91))?;
    b.finish()
}

/// A file's name, old version and new version.
type Versions = (&'static [u8], Vec<u8>, Vec<u8>);

/// The `--inplace` scenario's files: (name, old version in the destination, new version in
/// the source). Built once per test process.
fn inplace_files() -> &'static [Versions; 3] {
    static FILES: OnceLock<[Versions; 3]> = OnceLock::new();
    FILES.get_or_init(|| {
        const MIB: usize = 1 << 20;
        let edit = |v: &mut Vec<u8>, at: usize, len: usize, seed: u64| {
            if let Some(dst) = v.get_mut(at..at + len) {
                dst.copy_from_slice(&pseudo_random(len, seed));
            }
        };
        let old = pseudo_random(16 * MIB, 0x1a_91ace);
        let mut big = old.clone();
        for k in 0..16 {
            edit(&mut big, k * MIB + 4_321 + k * 99, 5_000, 200 + k as u64);
        }
        // Moved back by 3,000 bytes between 3 and 6 MiB: still copyable in place.
        big.drain(3 * MIB..3 * MIB + 3_000);
        big.splice(6 * MIB..6 * MIB, pseudo_random(3_000, 7));
        // Moved forward by 4,000 bytes between 9 and 12 MiB: overwritten before it is read.
        big.splice(9 * MIB..9 * MIB, pseudo_random(4_000, 8));
        big.drain(12 * MIB..12 * MIB + 4_000);
        // 1 MiB blocks swapped: the one moved back is copied in place; the one moved
        // forward by 8 MiB was overwritten long before, and a sender that copied it anyway
        // would make every receiver fail its checksum.
        let (early, late) = (2 * MIB + 1_000, 10 * MIB + 1_000);
        let a = old[early..early + MIB].to_vec();
        let b = old[late..late + MIB].to_vec();
        big[early..early + MIB].copy_from_slice(&b);
        big[late..late + MIB].copy_from_slice(&a);
        let old_shrink = pseudo_random(3 * MIB, 9);
        let mut shrink = old_shrink[..2 * MIB + 777].to_vec();
        edit(&mut shrink, MIB, 1_000, 10);
        let old_grow = pseudo_random(2 * MIB, 11);
        let mut grow = old_grow.clone();
        edit(&mut grow, MIB / 2, 1_000, 12);
        grow.extend_from_slice(&pseudo_random(MIB + 5, 13));
        [
            (&b"big.bin"[..], old, big),
            (b"shrinks.bin", old_shrink, shrink),
            (b"grows.bin", old_grow, grow),
        ]
    })
}

pub(crate) fn inplace(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    for (i, (name, _, new)) in inplace_files().iter().enumerate() {
        b.file(name, new, 0o644, t(2 + i as u32))?;
    }
    b.file(b"fresh.bin", &data(70_000, 14), 0o600, t(9))?;
    b.finish()
}

pub(crate) fn inplace_dest(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(90));
    for (i, (name, old, _)) in inplace_files().iter().enumerate() {
        b.file(name, old, 0o640, t(91 + i as u32))?;
    }
    b.finish()
}
