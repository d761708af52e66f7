//! Differential: our delta machinery against references written here and against
//! `fast_rsync`, on a random basis and a random edit script.
//!
//! Input: 3 selector bytes (checksum kind and applier path, block length, seed), a length
//! byte, the basis, then the script (`op & 0x80`: copy block `op & 0x7f`, else a literal of
//! the next `op` bytes, 0 being an empty literal).
//!
//! 1. **Applier vs reference**: the script applied by `rsync_core::Applier` (in memory, or
//!    through `copy`/`copied` as a sans-IO driver does) produces exactly the reference's
//!    concatenation of blocks and literals, fails exactly where the reference says the script
//!    is invalid (empty literal, block out of range), accepts the right whole-file sum and
//!    rejects a wrong one; the script round-trips through the token wire codec.
//! 2. **Matcher round trip**: the matcher's tokens for the reference output, against the
//!    basis's block signature (full-length strong sums), rebuild that output.
//! 3. **rdiff**: our librsync signature and delta of the reference output rebuild it with our
//!    patcher and with `fast_rsync::apply`; for MD4 signatures `fast_rsync` reads our
//!    signature and its delta rebuilds the output with our patcher.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsync_core::checksum::{ChecksumKind, StrongSum};
use rsync_core::librsync::{self, SignatureKind, SignatureParams};
use rsync_core::{Applier, ApplyError, Limits, Matcher, Signature, SumHead, Token};
use rsync_proto::token::{decode_token, encode_end, encode_token, TokenEvent};
use rsync_proto::WireReader;

const KINDS: [ChecksumKind; 5] = [
    ChecksumKind::Md4,
    ChecksumKind::Md5,
    ChecksumKind::Xxh64,
    ChecksumKind::Xxh3,
    ChecksumKind::Xxh128,
];

#[derive(Debug, Clone, Copy)]
enum Op<'a> {
    Copy(u32),
    Literal(&'a [u8]),
}

fn parse_script(mut s: &[u8]) -> Vec<Op<'_>> {
    let mut ops = Vec::new();
    while let Some((&op, rest)) = s.split_first() {
        s = rest;
        if op & 0x80 != 0 {
            ops.push(Op::Copy(u32::from(op & 0x7f)));
        } else {
            let n = usize::from(op).min(s.len());
            ops.push(Op::Literal(&s[..n]));
            s = &s[n..];
        }
    }
    ops
}

/// The reference: the output of a valid script, `None` for an invalid one.
fn reference(basis: &[u8], bl: usize, ops: &[Op<'_>]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for op in ops {
        match *op {
            Op::Literal([]) => return None,
            Op::Literal(b) => out.extend_from_slice(b),
            Op::Copy(i) => {
                let start = i as usize * bl;
                if start >= basis.len() {
                    return None;
                }
                out.extend_from_slice(&basis[start..(start + bl).min(basis.len())]);
            }
        }
    }
    Some(out)
}

fn head_for(len: usize, bl: u32, strong_len: u32) -> SumHead {
    let len = len as u32;
    SumHead {
        count: len.div_ceil(bl),
        block_len: if len == 0 { 0 } else { bl },
        strong_len: if len == 0 { 0 } else { strong_len },
        remainder: len % bl,
    }
}

fuzz_target!(|input: &[u8]| {
    let [sel, blb, seedb, lenb, rest @ ..] = input else {
        return;
    };
    let kind = KINDS[usize::from(sel % 5)];
    let strong = StrongSum::new(kind, i32::from(*seedb) - 128);
    let bl = u32::from(*blb % 64) + 1;
    let blen = (usize::from(*lenb) * 4).min(rest.len());
    let (basis, script) = rest.split_at(blen);
    let ops = parse_script(script);
    let want = reference(basis, bl as usize, &ops);
    let limits = Limits::default();

    // 1. Applier vs reference.
    let head = head_for(basis.len(), bl, strong.digest_len() as u32);
    let mut a = Applier::new(head, strong, limits).expect("a header made from a basis is valid");
    let mut out = Vec::new();
    let mut failed = false;
    for op in &ops {
        let r = match (*op, sel & 0x80 != 0) {
            (Op::Literal(b), _) => a.apply_in_memory(Token::Literal(b), basis, &mut out),
            (Op::Copy(i), false) => a.apply_in_memory(Token::Copy(i), basis, &mut out),
            (Op::Copy(i), true) => a.copy(u64::from(i)).and_then(|range| {
                let s = range.offset as usize;
                let bytes = &basis[s..s + range.len as usize]; // the range must be in the basis
                a.copied(bytes).map(|()| out.extend_from_slice(bytes))
            }),
        };
        if let Err(e) = r {
            assert!(
                matches!(
                    e,
                    ApplyError::EmptyLiteral | ApplyError::BlockOutOfRange { .. }
                ),
                "{e:?}"
            );
            failed = true;
            break;
        }
    }
    assert_eq!(
        failed,
        want.is_none(),
        "applier and reference disagree on {ops:?}"
    );
    let Some(want) = want else { return };
    assert_eq!(out, want);
    assert_eq!(a.written(), want.len() as u64);
    let mut h = strong.file_hasher();
    h.update(&want);
    let sum = h.finish().as_bytes().to_vec();
    let mut wrong = sum.clone();
    wrong[0] ^= 1;
    assert_eq!(a.finish(&sum), Ok(want.len() as u64));

    // The script on the wire and back.
    let mut wire = Vec::new();
    for op in &ops {
        match *op {
            Op::Literal(b) => encode_token(Token::Literal(b), &mut wire),
            Op::Copy(i) => encode_token(Token::Copy(i), &mut wire),
        }
    }
    encode_end(&sum, &mut wire);
    let mut r = WireReader::new(&wire);
    for op in &ops {
        let got = decode_token(&mut r, sum.len(), &limits).expect("own encoding decodes");
        match (*op, got) {
            (Op::Literal(b), TokenEvent::Token(Token::Literal(c))) => assert_eq!(b, c),
            (Op::Copy(i), TokenEvent::Token(Token::Copy(j))) => assert_eq!(i, j),
            other => panic!("token mismatch {other:?}"),
        }
    }
    assert_eq!(
        decode_token(&mut r, sum.len(), &limits),
        Ok(TokenEvent::End { file_sum: &sum })
    );
    assert!(r.is_empty());

    // 2. Matcher round trip.
    let sig = Signature::compute(basis, head, strong);
    let mut m = Matcher::with_limits(sig, strong, &limits);
    let mut a = Applier::new(head, strong, limits).expect("valid");
    let mut rebuilt = Vec::new();
    let mut sink = |t: Token<'_>| a.apply_in_memory(t, basis, &mut rebuilt);
    for c in want.chunks(usize::from(*seedb % 37) + 1) {
        m.push(c, &mut sink).expect("matcher tokens apply");
    }
    m.finish(&mut sink).expect("matcher tokens apply");
    assert_eq!(rebuilt, want);
    assert_eq!(a.finish(&wrong), Err(ApplyError::ChecksumMismatch));

    // 3. rdiff.
    let sk = [
        SignatureKind::Md4Rollsum,
        SignatureKind::Blake2Rollsum,
        SignatureKind::Md4RabinKarp,
        SignatureKind::Blake2RabinKarp,
    ][usize::from((sel >> 3) & 3)];
    let full = sk.strong().digest_len() as u32;
    let params = SignatureParams::new(sk, bl, full).expect("valid params");
    let rsig = librsync::Signature::compute(basis, params);
    let sig_bytes = rsig.to_bytes();
    let mut w = librsync::DeltaWriter::new(rsig, &limits);
    let mut delta = Vec::new();
    for c in want.chunks(usize::from(*blb % 29) + 1) {
        w.push(c, &mut delta);
    }
    w.finish(&mut delta);
    assert_eq!(librsync::apply(basis, &delta, &limits).as_ref(), Ok(&want));
    let mut theirs = Vec::new();
    fast_rsync::apply(basis, &delta, &mut theirs).expect("fast_rsync applies our delta");
    assert_eq!(theirs, want);
    if sk == SignatureKind::Md4Rollsum {
        let fsig =
            fast_rsync::Signature::deserialize(sig_bytes).expect("fast_rsync reads our signature");
        let mut fdelta = Vec::new();
        fast_rsync::diff(&fsig.index(), &want, &mut fdelta).expect("fast_rsync diff");
        assert_eq!(librsync::apply(basis, &fdelta, &limits).as_ref(), Ok(&want));
    }
});
