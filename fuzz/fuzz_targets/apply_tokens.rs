//! An rsync token stream from a hostile sender: a sum header (4 × int32), then tokens
//! (int32 n > 0: n literal bytes; n < 0: copy block −(n+1); 0: end), then the whole-file sum.
//! The applier must reject bad headers and tokens with typed errors, never panic, and never
//! produce more than `max_output`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsync_core::checksum::{ChecksumKind, StrongSum};
use rsync_core::{Applier, Limits, SumHead};

fn int(data: &mut &[u8]) -> Option<i32> {
    let (head, rest) = data.split_first_chunk::<4>()?;
    *data = rest;
    Some(i32::from_le_bytes(*head))
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let limits = Limits {
        max_output: 1 << 20,
        max_signature_bytes: 1 << 20,
        ..Limits::default()
    };
    let strong = StrongSum::new(ChecksumKind::Md5, 7);
    let (Some(c), Some(b), Some(s), Some(r)) = (
        int(&mut data),
        int(&mut data),
        int(&mut data),
        int(&mut data),
    ) else {
        return;
    };
    let Ok(head) = SumHead::from_wire(c, b, s, r, 16, &limits) else {
        return;
    };
    let basis: Vec<u8> = (0..head.basis_len().min(1 << 16))
        .map(|i| i as u8)
        .collect();
    let Ok(mut a) = Applier::new(head, strong, limits) else {
        return;
    };
    let mut out = Vec::new();
    while let Some(n) = int(&mut data) {
        let step = if n > 0 {
            let n = n as usize;
            let lit = &data[..n.min(data.len())];
            data = &data[lit.len()..];
            a.literal(lit).map(|()| out.extend_from_slice(lit))
        } else if n < 0 {
            let index = u64::from((-(i64::from(n) + 1)) as u32);
            a.copy(index).and_then(|range| {
                let start = (range.offset as usize).min(basis.len());
                let end = (start + range.len as usize).min(basis.len());
                a.copied(&basis[start..end])
                    .map(|()| out.extend_from_slice(&basis[start..end]))
            })
        } else {
            break;
        };
        if step.is_err() {
            return;
        }
        assert!(a.written() <= limits.max_output);
    }
    let _ = a.finish(&data[..data.len().min(16)]);
});
