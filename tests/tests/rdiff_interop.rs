//! Library-level interop with stock `rdiff` (librsync 2.3): our signatures are byte-identical
//! to rdiff's for the same options, rdiff patches our deltas, and we patch rdiff's deltas.
//!
//! Skips loudly without `rdiff` (fails under `RSYNC_INTEROP=require`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::path::Path;
use std::process::Command;

use rsync_core::librsync::{
    DeltaWriter, PatchError, PatchOp, Patcher, Signature, SignatureKind, SignatureParams,
    SignatureWriter,
};
use rsync_core::Limits;
use rsync_tests::{interop_tool, pseudo_random};

const KINDS: [(SignatureKind, &str, &str); 4] = [
    (SignatureKind::Md4Rollsum, "md4", "rollsum"),
    (SignatureKind::Blake2Rollsum, "blake2", "rollsum"),
    (SignatureKind::Md4RabinKarp, "md4", "rabinkarp"),
    (SignatureKind::Blake2RabinKarp, "blake2", "rabinkarp"),
];

fn rdiff(tool: &Path, args: &[&str], dir: &Path) {
    let st = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success(), "rdiff {args:?} failed: {st}");
}

/// `old` with a few edits: an overwrite, an insertion, a deletion and a new tail.
fn edited(old: &[u8], seed: u64) -> Vec<u8> {
    let mut new = old.to_vec();
    let n = new.len();
    if n > 10 {
        new[n / 3..n / 3 + 5].copy_from_slice(b"EDIT!");
        new.splice(n / 2..n / 2, pseudo_random(777, seed));
        new.drain(n * 3 / 4..n * 3 / 4 + 100.min(n / 8));
    }
    new.extend_from_slice(&pseudo_random(33, seed + 1));
    new
}

fn our_signature(old: &[u8], p: SignatureParams) -> Vec<u8> {
    let mut w = SignatureWriter::new(p);
    let mut out = Vec::new();
    for c in old.chunks(1 << 20) {
        w.push(c, &mut out);
    }
    w.finish(&mut out);
    out
}

fn our_delta(sig: &[u8], new: &[u8]) -> Vec<u8> {
    let sig = Signature::from_bytes(sig, &Limits::default()).unwrap();
    let mut w = DeltaWriter::new(sig, &Limits::default());
    let mut out = Vec::new();
    for c in new.chunks(1 << 20) {
        w.push(c, &mut out);
    }
    w.finish(&mut out);
    out
}

fn our_patch(old: &[u8], delta: &[u8]) -> Vec<u8> {
    let mut p = Patcher::with_basis_len(Limits::default(), old.len() as u64);
    let mut out = Vec::new();
    for c in delta.chunks(64 * 1024) {
        p.push(c, &mut |op| -> Result<(), PatchError> {
            match op {
                PatchOp::Literal(b) => out.extend_from_slice(b),
                PatchOp::Copy { offset, len } => {
                    out.extend_from_slice(&old[offset as usize..(offset + len) as usize])
                }
            }
            Ok(())
        })
        .unwrap();
    }
    assert_eq!(p.finish().unwrap(), out.len() as u64);
    out
}

/// One file size, one kind, one (-b, -S) choice: all three directions.
fn check(tool: &Path, dir: &Path, old: &[u8], new: &[u8], kind: usize, b: u32, s: i64) {
    let (k, hash, roll) = KINDS[kind];
    let (bs, ss) = (b.to_string(), s.to_string());
    let label = format!("size {} {hash}/{roll} -b {b} -S {s}", old.len());
    rdiff(
        tool,
        &[
            "-f",
            "-H",
            hash,
            "-R",
            roll,
            "-b",
            &bs,
            "-S",
            &ss,
            "signature",
            "old",
            "r.sig",
        ],
        dir,
    );
    let theirs = std::fs::read(dir.join("r.sig")).unwrap();
    let p = SignatureParams::choose(k, Some(old.len() as u64), b, s).unwrap();
    let ours = our_signature(old, p);
    assert!(ours == theirs, "signature differs from rdiff's: {label}");

    std::fs::write(dir.join("o.delta"), our_delta(&theirs, new)).unwrap();
    rdiff(tool, &["-f", "patch", "old", "o.delta", "o.new"], dir);
    let patched = std::fs::read(dir.join("o.new")).unwrap();
    assert!(patched == new, "rdiff mis-patched our delta: {label}");

    rdiff(tool, &["-f", "delta", "r.sig", "new", "r.delta"], dir);
    let rd = std::fs::read(dir.join("r.delta")).unwrap();
    assert!(
        our_patch(old, &rd) == new,
        "we mis-patched rdiff's delta: {label}"
    );
}

fn setup(len: usize, seed: u64) -> (tempfile::TempDir, Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let old = pseudo_random(len, seed);
    let new = edited(&old, seed);
    std::fs::write(dir.path().join("old"), &old).unwrap();
    std::fs::write(dir.path().join("new"), &new).unwrap();
    (dir, old, new)
}

#[test]
fn small_files_all_kinds_and_options() {
    let Some(tool) = interop_tool("rdiff") else {
        return;
    };
    for (len, seed) in [(0usize, 1u64), (1, 2), (1 << 20, 3)] {
        let (dir, old, new) = setup(len, seed);
        for kind in 0..4 {
            for (b, s) in [(0, 0), (0, -1), (1000, 7), (64, 3)] {
                check(&tool, dir.path(), &old, &new, kind, b, s);
            }
        }
    }
}

#[test]
fn hundred_mib_every_kind() {
    let Some(tool) = interop_tool("rdiff") else {
        return;
    };
    let (dir, old, new) = setup(100 << 20, 4);
    for kind in 0..KINDS.len() {
        check(&tool, dir.path(), &old, &new, kind, 0, 0);
    }
}
