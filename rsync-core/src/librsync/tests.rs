//! Properties of the librsync codec as a whole: signature → delta → patch round trips in all
//! four kinds under arbitrary chunking, a patcher that never panics and respects its output
//! limit, and fast_rsync as a differential reference for MD4 + rollsum.

use super::*;
use crate::limits::Limits;
use proptest::prelude::*;

const KINDS: [SignatureKind; 4] = [
    SignatureKind::Md4Rollsum,
    SignatureKind::Blake2Rollsum,
    SignatureKind::Md4RabinKarp,
    SignatureKind::Blake2RabinKarp,
];

/// Splits `data` at the given (sorted, clamped) cut points.
fn chunks<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut prev = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts {
        out.push(&data[prev..c]);
        prev = c;
    }
    out.push(&data[prev..]);
    out
}

fn signature(basis: &[u8], p: SignatureParams, cuts: &[usize]) -> Vec<u8> {
    let mut w = SignatureWriter::new(p);
    let mut out = Vec::new();
    for c in chunks(basis, cuts) {
        w.push(c, &mut out);
    }
    w.finish(&mut out);
    out
}

fn delta(sig: &[u8], new: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut r = SignatureReader::new(Limits::default());
    for c in chunks(sig, cuts) {
        r.push(c).unwrap();
    }
    let mut w = DeltaWriter::new(r.finish().unwrap(), &Limits::default());
    let mut out = Vec::new();
    for c in chunks(new, cuts) {
        w.push(c, &mut out);
    }
    w.finish(&mut out);
    out
}

fn patch(
    basis: &[u8],
    delta: &[u8],
    cuts: &[usize],
    limits: Limits,
) -> Result<Vec<u8>, PatchError> {
    let mut p = Patcher::with_basis_len(limits, basis.len() as u64);
    let mut out = Vec::new();
    for c in chunks(delta, cuts) {
        p.push(c, &mut |op| -> Result<(), PatchError> {
            match op {
                PatchOp::Literal(b) => out.extend_from_slice(b),
                PatchOp::Copy { offset, len } => {
                    out.extend_from_slice(&basis[offset as usize..(offset + len) as usize])
                }
            }
            Ok(())
        })?;
    }
    let n = p.finish()?;
    assert_eq!(n, out.len() as u64);
    Ok(out)
}

/// A new file made from pieces of the basis and fresh bytes, so that matches happen.
fn arb_pair() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (
        proptest::collection::vec(any::<u8>(), 0..3000),
        proptest::collection::vec((any::<bool>(), any::<usize>(), 0usize..400), 0..8),
    )
        .prop_map(|(basis, edits)| {
            let mut new = Vec::new();
            for (from_basis, at, len) in edits {
                if from_basis && !basis.is_empty() {
                    let s = at % basis.len();
                    new.extend_from_slice(&basis[s..(s + len).min(basis.len())]);
                } else {
                    new.extend((0..len).map(|i| (at.wrapping_add(i * 13)) as u8));
                }
            }
            (basis, new)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_all_kinds(
        (basis, new) in arb_pair(),
        kind in 0usize..4,
        block_len in 1u32..300,
        strong_len in 1u32..=32,
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let kind = KINDS[kind];
        let strong_len = strong_len.min(kind.strong().digest_len() as u32);
        let p = SignatureParams::new(kind, block_len, strong_len).unwrap();
        let sig = signature(&basis, p, &cuts);
        // Chunking does not change the signature.
        prop_assert_eq!(&sig, &Signature::compute(&basis, p).to_bytes());
        let d = delta(&sig, &new, &cuts);
        // Chunking does not change the delta.
        prop_assert_eq!(&d, &delta(&sig, &new, &[]));
        let out = patch(&basis, &d, &cuts, Limits::default()).unwrap();
        prop_assert_eq!(out, new);
    }

    #[test]
    fn unchanged_file_is_all_copies(
        basis in proptest::collection::vec(any::<u8>(), 1..3000),
        block_len in 1u32..300,
        kind in 0usize..4,
    ) {
        let p = SignatureParams::new(KINDS[kind], block_len, 16).unwrap();
        let d = delta(&signature(&basis, p, &[]), &basis, &[]);
        // magic + one COPY(0, len) + END: at most 4 + 1 + 1 + 2 + 1 bytes.
        prop_assert!(d.len() <= 9, "delta of {} bytes", d.len());
    }

    #[test]
    fn patcher_never_panics_and_respects_limit(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        basis in proptest::collection::vec(any::<u8>(), 0..300),
        max_output in 0u64..500,
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        with_magic in any::<bool>(),
    ) {
        let mut d = if with_magic { DELTA_MAGIC.to_be_bytes().to_vec() } else { Vec::new() };
        d.extend_from_slice(&body);
        let limits = Limits { max_output, ..Limits::default() };
        let mut p = Patcher::new(limits);
        let mut produced = 0u64;
        let mut failed = false;
        for c in chunks(&d, &cuts) {
            let r = p.push(c, &mut |op| -> Result<(), PatchError> {
                produced += match op {
                    PatchOp::Literal(b) => b.len() as u64,
                    PatchOp::Copy { len, .. } => len,
                };
                Ok(())
            });
            if r.is_err() {
                failed = true;
                break;
            }
        }
        prop_assert!(produced <= max_output);
        if !failed {
            let _ = p.finish();
        }
        // The in-memory path agrees with itself under any chunking.
        let whole = apply(&basis, &d, &limits);
        prop_assert_eq!(whole.clone(), patch(&basis, &d, &cuts, limits));
        if let Ok(out) = whole {
            prop_assert!(out.len() as u64 <= max_output);
        }
    }

    #[test]
    fn signature_reader_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        header in 0usize..4,
        cuts in proptest::collection::vec(any::<usize>(), 0..4),
    ) {
        let mut d = KINDS[header].magic().to_be_bytes().to_vec();
        d.extend_from_slice(&bytes);
        let whole = Signature::from_bytes(&d, &Limits::default());
        let mut r = SignatureReader::new(Limits::default());
        let streamed = chunks(&d, &cuts).into_iter().try_for_each(|c| r.push(c)).and_then(|()| r.finish());
        prop_assert_eq!(whole.is_ok(), streamed.is_ok());
        if let (Ok(a), Ok(b)) = (whole, streamed) {
            prop_assert_eq!(&a.to_bytes(), &d);
            prop_assert_eq!(&b.to_bytes(), &d);
        }
    }

    #[test]
    fn fast_rsync_differential(
        (basis, new) in arb_pair(),
        block_len in 1u32..300,
        strong_len in 1u32..=16,
    ) {
        let p = SignatureParams::new(SignatureKind::Md4Rollsum, block_len, strong_len).unwrap();
        let ours = signature(&basis, p, &[]);
        let theirs = fast_rsync::Signature::calculate(
            &basis,
            fast_rsync::SignatureOptions { block_size: block_len, crypto_hash_size: strong_len },
        );
        prop_assert_eq!(&ours, theirs.serialized());
        // fast_rsync applies our delta.
        let d = delta(&ours, &new, &[]);
        let mut out = Vec::new();
        fast_rsync::apply(&basis, &d, &mut out).unwrap();
        prop_assert_eq!(&out, &new);
        // We apply fast_rsync's delta.
        let mut fd = Vec::new();
        fast_rsync::diff(&theirs.index(), &new, &mut fd).unwrap();
        prop_assert_eq!(apply(&basis, &fd, &Limits::default()).unwrap(), new);
    }
}

#[test]
fn edited_first_block_gives_literal_then_one_copy() {
    // The first block changes, the second matches, the short third block matches at the
    // end and extends the second's COPY.
    let old = b"hello world, this is a test of rdiff!\n";
    let p = SignatureParams::new(SignatureKind::Md4Rollsum, 16, 8).unwrap();
    let new = b"HELLO world, this is a test of rdiff!\n";
    let d = delta(&signature(old, p, &[]), new, &[]);
    // LITERAL 16, COPY(16, 22), END
    assert_eq!(&d[4..6], &[0x10, b'H']);
    assert_eq!(&d[d.len() - 4..], &[0x45, 16, 22, 0]);
    assert_eq!(apply(old, &d, &Limits::default()).unwrap(), new);
}
