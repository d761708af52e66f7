//! The FIFO name parser of constant mode (`rsync_constant::constant::names`) on a hostile
//! feed. Byte 0 picks the separator and the read size; the rest is the feed, where `0x01 k b`
//! expands to `b` repeated `32·k` times (so that entries beyond the 4095-byte limit are within
//! reach). Checked against a reference written here from the module's documented rules: the
//! same names and rejections, in order, whatever the read size; every accepted name keeps the
//! `Name` invariants and normalises to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsync_constant::constant::names::{
    normalize, preview, Name, NameParser, Parsed, RejectReason, Separator, MAX_NAME_LEN,
    MAX_PATH_LEN,
};

/// Longest feed: room for a few entries beyond [`MAX_PATH_LEN`] (longer feeds add nothing
/// but time: the parser's cost is linear in the feed).
const MAX_FEED: usize = 4 * MAX_PATH_LEN;

/// The feed: `input` with its `0x01 k b` runs expanded, at most [`MAX_FEED`] bytes.
fn expand(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < input.len() && out.len() < MAX_FEED {
        match input[i..] {
            [0x01, k, b, ..] => {
                out.extend(std::iter::repeat_n(b, 32 * usize::from(k)));
                i += 3;
            }
            _ => {
                out.push(input[i]);
                i += 1;
            }
        }
    }
    out
}

/// The reference normalisation (module docs, "Normalisation").
fn reference_normalize(raw: &[u8]) -> Result<Vec<u8>, RejectReason> {
    if raw.is_empty() {
        return Err(RejectReason::Empty);
    }
    if raw.len() > MAX_PATH_LEN {
        return Err(RejectReason::TooLong {
            len: raw.len() as u64,
            max: MAX_PATH_LEN,
        });
    }
    if raw.contains(&0) {
        return Err(RejectReason::Nul);
    }
    let mut comps: Vec<&[u8]> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        if c.is_empty() || c == b"." {
            continue;
        }
        if c == b".." {
            return Err(RejectReason::DotDot);
        }
        if c.len() > MAX_NAME_LEN {
            return Err(RejectReason::ComponentTooLong {
                len: c.len(),
                max: MAX_NAME_LEN,
            });
        }
        comps.push(c);
    }
    Ok(if comps.is_empty() {
        b".".to_vec()
    } else {
        comps.join(&b'/')
    })
}

/// The reference split (module docs, "How the entries are split" and "What is ignored"):
/// (name or (reason, length, preview)) per reported entry, and the count of skipped lines.
type Outcome = Result<Vec<u8>, (RejectReason, u64, String)>;
fn reference(feed: &[u8], sep: Separator) -> (Vec<Outcome>, u64) {
    let is_sep = |b: &u8| match sep {
        Separator::Nul => *b == 0,
        Separator::Newline => *b == b'\n' || *b == b'\r',
    };
    let mut entries: Vec<&[u8]> = feed.split(is_sep).collect();
    // The piece after the last separator is an entry only if it is not empty.
    if entries.last().is_some_and(|e| e.is_empty()) {
        entries.pop();
    }
    let (mut out, mut ignored) = (Vec::new(), 0);
    for e in entries {
        if sep == Separator::Newline && matches!(e.first(), None | Some(b'#') | Some(b';')) {
            ignored += 1;
            continue;
        }
        out.push(reference_normalize(e).map_err(|r| (r, e.len() as u64, preview(e))));
    }
    (out, ignored)
}

fn outcome(p: &Parsed) -> Outcome {
    match p {
        Ok(n) => Ok(n.as_bytes().to_vec()),
        Err(r) => Err((r.reason.clone(), r.len, r.preview.clone())),
    }
}

fn check_name(n: &Name) {
    let b = n.as_bytes();
    assert!(!b.is_empty() && b.len() <= MAX_PATH_LEN && !b.contains(&0));
    if n.is_root() {
        assert!(n.to_rel_path().is_none());
        return;
    }
    for c in b.split(|&x| x == b'/') {
        assert!(
            !c.is_empty() && c != b"." && c != b".." && c.len() <= MAX_NAME_LEN,
            "{n:?}"
        );
    }
    assert_eq!(normalize(b).as_ref(), Ok(n));
    assert_eq!(
        n.to_rel_path().map(|p| p.as_bytes().to_vec()),
        Some(b.to_vec())
    );
}

fuzz_target!(|input: &[u8]| {
    let Some((&sel, rest)) = input.split_first() else {
        return;
    };
    let sep = if sel & 1 == 0 {
        Separator::Nul
    } else {
        Separator::Newline
    };
    let step = usize::from(sel >> 1).max(1) * if sel & 0x80 != 0 { 61 } else { 1 };
    let feed = expand(rest);

    let mut p = NameParser::new(sep);
    let mut chunked = Vec::new();
    for c in feed.chunks(step) {
        p.push(c, &mut chunked);
    }
    p.finish(&mut chunked);
    assert!(!p.has_partial());

    let (want, ignored) = reference(&feed, sep);
    let got: Vec<Outcome> = chunked.iter().map(outcome).collect();
    assert_eq!(got, want);
    assert_eq!(p.ignored(), ignored);
    for n in chunked.iter().flatten() {
        check_name(n);
    }
});
