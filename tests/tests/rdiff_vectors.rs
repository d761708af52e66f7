//! Checks the librsync codec against signatures and deltas made by stock `rdiff` 2.3.2
//! (`tests/data/vectors/rdiff/`, see its README): our signatures are byte-identical and
//! rdiff's deltas patch to the expected files. Needs no tools at test time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure is a test failure

use std::path::PathBuf;

use rsync_core::librsync::{apply, DeltaWriter, Signature, SignatureKind, SignatureParams};
use rsync_core::librsync::{SignatureReader, SignatureWriter};
use rsync_core::Limits;

fn read(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/vectors/rdiff")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Our signature of `basis` with rdiff's parameter rules for a file of that size.
fn sign(basis: &[u8], kind: SignatureKind, block: u32, strong: i64) -> Vec<u8> {
    let p = SignatureParams::choose(kind, Some(basis.len() as u64), block, strong).unwrap();
    let mut w = SignatureWriter::new(p);
    let mut out = Vec::new();
    // Odd chunking on purpose.
    for c in basis.chunks(7) {
        w.push(c, &mut out);
    }
    w.finish(&mut out);
    out
}

#[test]
fn signatures_are_byte_identical() {
    let hello = read("hello.txt");
    for (kind, name) in [
        (SignatureKind::Md4Rollsum, "md4-rollsum"),
        (SignatureKind::Md4RabinKarp, "md4-rabinkarp"),
        (SignatureKind::Blake2Rollsum, "blake2-rollsum"),
        (SignatureKind::Blake2RabinKarp, "blake2-rabinkarp"),
    ] {
        let want = read(&format!("hello.{name}.b16s8.sig"));
        assert_eq!(sign(&hello, kind, 16, 8), want, "{name}");
        // And it parses back to the same bytes.
        let parsed = Signature::from_bytes(&want, &Limits::default()).unwrap();
        assert_eq!(parsed.to_bytes(), want);
        assert_eq!(parsed.block_count(), 3);
    }
    let basis = read("basis.bin");
    assert_eq!(
        sign(&basis, SignatureKind::default(), 0, 0),
        read("basis.default.sig")
    );
    assert_eq!(
        sign(&basis, SignatureKind::Md4Rollsum, 0, -1),
        read("basis.md4-rollsum.min.sig")
    );
}

#[test]
fn rdiff_deltas_patch_to_the_new_files() {
    let out = apply(
        &read("hello.txt"),
        &read("hello.md4-rollsum.b16s8.delta"),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(out, read("hello-new.txt"));
    let out = apply(
        &read("basis.bin"),
        &read("basis.default.delta"),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(out, read("new.bin"));
}

#[test]
fn our_deltas_against_rdiff_signatures_patch_back() {
    for (sig, basis, new) in [
        ("hello.md4-rollsum.b16s8.sig", "hello.txt", "hello-new.txt"),
        (
            "hello.blake2-rabinkarp.b16s8.sig",
            "hello.txt",
            "hello-new.txt",
        ),
        ("basis.default.sig", "basis.bin", "new.bin"),
        ("basis.md4-rollsum.min.sig", "basis.bin", "new.bin"),
    ] {
        let mut r = SignatureReader::new(Limits::default());
        for c in read(sig).chunks(5) {
            r.push(c).unwrap();
        }
        let mut w = DeltaWriter::new(r.finish().unwrap(), &Limits::default());
        let mut delta = Vec::new();
        let new = read(new);
        w.push(&new, &mut delta);
        w.finish(&mut delta);
        // Fewer bytes than the new file: blocks were matched.
        assert!(delta.len() < new.len(), "{sig}: {} bytes", delta.len());
        assert_eq!(
            apply(&read(basis), &delta, &Limits::default()).unwrap(),
            new,
            "{sig}"
        );
    }
}
