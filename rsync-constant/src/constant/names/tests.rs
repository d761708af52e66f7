//! Tests of the FIFO name parser: rsync's line rules, normalisation, rejections, bounded
//! memory, and split invariance as properties.

use proptest::prelude::*;

use super::*;

/// Parses `input` in one push plus `finish`.
fn parse(sep: Separator, input: &[u8]) -> (Vec<Parsed>, u64) {
    let mut p = NameParser::new(sep);
    let mut out = Vec::new();
    p.push(input, &mut out);
    p.finish(&mut out);
    (out, p.ignored())
}

/// The accepted names of `parsed` as strings; panics on a rejection.
fn names(parsed: &[Parsed]) -> Vec<String> {
    parsed
        .iter()
        .map(|p| match p {
            Ok(n) => String::from_utf8(n.as_bytes().to_vec()).unwrap(),
            Err(r) => panic!("unexpected rejection {r}"),
        })
        .collect()
}

fn reason(p: &Parsed) -> RejectReason {
    p.clone().expect_err("expected a rejection").reason
}

#[test]
fn nul_separated_names() {
    let (out, ignored) = parse(Separator::Nul, b"a\0b/c\0d e \0");
    assert_eq!(names(&out), ["a", "b/c", "d e "]);
    assert_eq!(ignored, 0);
}

#[test]
fn newline_accepts_lf_cr_and_crlf() {
    let (out, ignored) = parse(Separator::Newline, b"a\nb\r\nc\rd");
    assert_eq!(names(&out), ["a", "b", "c", "d"]);
    // The empty entry between CR and LF is a blank line, skipped.
    assert_eq!(ignored, 1);
}

#[test]
fn newline_skips_blank_and_comment_lines_like_rsync() {
    let (out, ignored) = parse(Separator::Newline, b"\n#x\n;y\n\n./#x\n/;y\n #z\n");
    // `./#x` and `/;y` are not comments (the first byte is not `#`/`;`); ` #z` keeps its space.
    assert_eq!(names(&out), ["#x", ";y", " #z"]);
    assert_eq!(ignored, 4);
}

#[test]
fn from0_has_no_comments_and_rejects_empty_entries() {
    let (out, ignored) = parse(Separator::Nul, b"#x#\0;y\0\0a\nb\rc\0");
    assert_eq!(out.len(), 4);
    assert_eq!(names(&out[..2]), ["#x#", ";y"]);
    assert_eq!(reason(&out[2]), RejectReason::Empty);
    assert_eq!(names(&out[3..]), ["a\nb\rc"]);
    assert_eq!(ignored, 0);
}

#[test]
fn normalisation_rules() {
    let ok = |raw: &str, want: &str| {
        let n = normalize(raw.as_bytes()).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
        assert_eq!(n.as_bytes(), want.as_bytes(), "{raw:?}");
    };
    ok("a", "a");
    ok("/a//b/./c/", "a/b/c");
    ok("///a", "a");
    ok("./a/.", "a");
    ok("...", "...");
    ok(".a/b.", ".a/b.");
    ok("a/..b/c..", "a/..b/c..");
    for root in [".", "/", "./", "//", "/./.", "./././"] {
        let n = normalize(root.as_bytes()).unwrap();
        assert!(n.is_root(), "{root:?}");
        assert_eq!(n, Name::root());
        assert!(n.to_rel_path().is_none());
    }
    for bad in [
        "..",
        "../a",
        "a/..",
        "a/../b",
        "/..",
        "./../a",
        "a/./../../b",
    ] {
        assert_eq!(
            normalize(bad.as_bytes()),
            Err(RejectReason::DotDot),
            "{bad:?}"
        );
    }
    assert_eq!(normalize(b""), Err(RejectReason::Empty));
    assert_eq!(normalize(b"a\0b"), Err(RejectReason::Nul));
}

#[test]
fn rel_path_matches_name() {
    let n = normalize(b"/x//y/./z").unwrap();
    assert_eq!(n.to_rel_path().unwrap().as_bytes(), b"x/y/z");
}

#[test]
fn nul_inside_a_line_is_rejected() {
    let (out, _) = parse(Separator::Newline, b"a\0b\nc\n");
    assert_eq!(reason(&out[0]), RejectReason::Nul);
    assert_eq!(names(&out[1..]), ["c"]);
}

#[test]
fn length_limits() {
    let max = vec![b'a'; 255];
    let path_at_limit: Vec<u8> = std::iter::repeat_n(&max[..], 16)
        .collect::<Vec<_>>()
        .join(&b'/')
        .into_iter()
        .take(MAX_PATH_LEN)
        .collect();
    assert_eq!(path_at_limit.len(), MAX_PATH_LEN);
    assert!(normalize(&path_at_limit).is_ok());

    let mut over = path_at_limit.clone();
    over.push(b'b');
    assert_eq!(
        normalize(&over),
        Err(RejectReason::TooLong {
            len: 4096,
            max: MAX_PATH_LEN
        })
    );

    let mut long_comp = max.clone();
    long_comp.push(b'a');
    assert_eq!(
        normalize(&long_comp),
        Err(RejectReason::ComponentTooLong { len: 256, max: 255 })
    );
    // The limit is on the name as written: `./` prefixes count.
    let mut padded = b"./".repeat(2048);
    padded.push(b'a');
    assert!(matches!(
        normalize(&padded),
        Err(RejectReason::TooLong { len: 4097, .. })
    ));
}

#[test]
fn names_split_across_pushes_are_joined() {
    let mut p = NameParser::new(Separator::Nul);
    let mut out = Vec::new();
    p.push(b"ab", &mut out);
    assert!(out.is_empty());
    assert!(p.has_partial());
    p.push(b"c\0d", &mut out);
    p.push(b"e", &mut out);
    p.finish(&mut out);
    assert_eq!(names(&out), ["abc", "de"]);
    assert!(!p.has_partial());
    // finish() left the parser ready for a new stream.
    out.clear();
    p.finish(&mut out);
    assert!(out.is_empty());
    p.push(b"f\0", &mut out);
    assert_eq!(names(&out), ["f"]);
}

#[test]
fn crlf_split_between_pushes() {
    let mut p = NameParser::new(Separator::Newline);
    let mut out = Vec::new();
    p.push(b"a\r", &mut out);
    p.push(b"\nb\n", &mut out);
    assert_eq!(names(&out), ["a", "b"]);
    assert_eq!(p.ignored(), 1);
}

#[test]
fn over_long_entry_split_across_pushes_is_rejected_with_its_length() {
    let mut p = NameParser::new(Separator::Nul);
    let mut out = Vec::new();
    p.push(b"ok\0", &mut out);
    p.push(&[b'x'; 3000], &mut out);
    p.push(&[b'y'; 3000], &mut out);
    p.push(b"zz\0next", &mut out);
    p.finish(&mut out);
    assert_eq!(out.len(), 3);
    let r = out[1].clone().unwrap_err();
    assert_eq!(
        r.reason,
        RejectReason::TooLong {
            len: 6002,
            max: MAX_PATH_LEN
        }
    );
    assert_eq!(r.len, 6002);
    assert_eq!(r.preview, format!("{}…", "x".repeat(PREVIEW_LEN)));
    assert_eq!(names(&[out[0].clone(), out[2].clone()]), ["ok", "next"]);
}

#[test]
fn pending_entry_that_overflows_when_terminated() {
    // 4000 buffered bytes, then 100 more and the separator in one chunk.
    let mut p = NameParser::new(Separator::Nul);
    let mut out = Vec::new();
    p.push(&[b'q'; 4000], &mut out);
    let mut tail = vec![b'r'; 100];
    tail.push(0);
    p.push(&tail, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].clone().unwrap_err().len, 4100);
    assert!(!p.has_partial());
}

#[test]
fn unterminated_over_long_entry_at_finish() {
    let mut p = NameParser::new(Separator::Newline);
    let mut out = Vec::new();
    p.push(&[b'w'; 5000], &mut out);
    p.finish(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].clone().unwrap_err().len, 5000);
}

#[test]
fn one_gib_name_is_dropped_in_bounded_memory() {
    let chunk = vec![b'g'; 1 << 20];
    let mut p = NameParser::new(Separator::Nul);
    let mut out = Vec::new();
    for _ in 0..1024 {
        p.push(&chunk, &mut out);
        assert!(out.is_empty());
        assert!(p.pending.capacity() <= MAX_PATH_LEN + PREVIEW_LEN + 1);
        assert!(p
            .overflow
            .as_ref()
            .is_some_and(|o| o.head.len() <= PREVIEW_LEN + 1));
    }
    p.push(b"\0after\0", &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[0].clone().unwrap_err().reason,
        RejectReason::TooLong {
            len: 1 << 30,
            max: MAX_PATH_LEN
        }
    );
    assert_eq!(names(&out[1..]), ["after"]);
}

#[test]
fn preview_escapes_control_characters_and_quotes() {
    let (out, _) = parse(Separator::Nul, b"x\n/../\"evil\"\0");
    let r = out[0].clone().unwrap_err();
    assert_eq!(r.reason, RejectReason::DotDot);
    assert_eq!(r.preview, "x\\n/../\\\"evil\\\"");
    assert!(!r.to_string().contains('\n'));
    assert_eq!(
        r.to_string(),
        "rejected name \"x\\n/../\\\"evil\\\"\" (12 bytes): name has a `..` component"
    );
}

#[test]
fn non_utf8_names_are_kept_as_bytes() {
    let (out, _) = parse(Separator::Nul, b"caf\xe9/\xff\0");
    assert_eq!(out[0].as_ref().unwrap().as_bytes(), b"caf\xe9/\xff");
}

/// Entries built from a small alphabet that hits every rule, with occasional long runs.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        8 => prop::sample::select(vec![
            &b"a"[..], b"b", b"/", b".", b"..", b"\0", b"\n", b"\r", b"#", b";", b" ", b"\xff",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => (1usize..5000).prop_map(|n| vec![b'l'; n]),
    ];
    prop::collection::vec(token, 0..60).prop_map(|t| t.concat())
}

fn check_name_invariants(n: &Name) {
    let b = n.as_bytes();
    assert!(!b.is_empty());
    assert!(b.len() <= MAX_PATH_LEN);
    assert!(!b.contains(&0));
    if n.is_root() {
        return;
    }
    assert_ne!(b[0], b'/');
    for c in b.split(|&x| x == b'/') {
        assert!(!c.is_empty(), "empty component in {n:?}");
        assert_ne!(c, b".", "`.` in {n:?}");
        assert_ne!(c, b"..", "`..` in {n:?}");
        assert!(c.len() <= MAX_NAME_LEN);
    }
    assert!(n.to_rel_path().is_some());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_chunking_gives_the_same_entries(
        input in stream(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        nul in any::<bool>(),
    ) {
        let sep = if nul { Separator::Nul } else { Separator::Newline };
        let whole = parse(sep, &input);
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
        at.sort_unstable();
        let mut p = NameParser::new(sep);
        let mut out = Vec::new();
        let mut start = 0;
        for cut in at {
            p.push(&input[start..cut], &mut out);
            start = cut;
        }
        p.push(&input[start..], &mut out);
        p.finish(&mut out);
        prop_assert_eq!(&out, &whole.0);
        prop_assert_eq!(p.ignored(), whole.1);
    }

    #[test]
    fn accepted_names_keep_the_invariants(input in stream(), nul in any::<bool>()) {
        let sep = if nul { Separator::Nul } else { Separator::Newline };
        for n in parse(sep, &input).0.iter().flatten() {
            check_name_invariants(n);
        }
    }

    #[test]
    fn normalisation_is_idempotent(raw in stream()) {
        if let Ok(n) = normalize(&raw) {
            check_name_invariants(&n);
            prop_assert_eq!(normalize(n.as_bytes()), Ok(n.clone()));
        }
    }

    #[test]
    fn nul_stream_equals_normalizing_each_entry(
        entries in prop::collection::vec(
            prop::collection::vec(prop::sample::select(b"ab/.\n#".to_vec()), 0..12), 0..20),
    ) {
        let mut input = Vec::new();
        for e in &entries {
            input.extend_from_slice(e);
            input.push(0);
        }
        let (out, _) = parse(Separator::Nul, &input);
        prop_assert_eq!(out.len(), entries.len());
        for (got, e) in out.iter().zip(&entries) {
            match got {
                Ok(n) => prop_assert_eq!(Ok(n.clone()), normalize(e)),
                Err(r) => {
                    prop_assert_eq!(Err(r.reason.clone()), normalize(e));
                    prop_assert_eq!(r.len, e.len() as u64);
                }
            }
        }
    }
}

#[test]
fn an_over_long_comment_line_is_still_a_comment() {
    let mut input = b"#".to_vec();
    input.extend(std::iter::repeat_n(b'c', 5000));
    input.extend_from_slice(b"\nafter\n");
    let (out, ignored) = parse(Separator::Newline, &input);
    assert_eq!(names(&out), ["after"]);
    assert_eq!(ignored, 1);
    // Split in the middle: same result.
    let mut p = NameParser::new(Separator::Newline);
    let mut out = Vec::new();
    p.push(&input[..4000], &mut out);
    p.push(&input[4000..4500], &mut out);
    p.push(&input[4500..], &mut out);
    assert_eq!(names(&out), ["after"]);
    assert_eq!(p.ignored(), 1);
}
