//! Tests of the implied filter: the rules stock rsync 3.5.0 prints for the same operands
//! (`rsync ARGS --debug=FILTER3 -e false h:... dest`), and what they allow.

use proptest::prelude::*;

use super::{ImpliedFilter, ImpliedOptions, RejectedName};

const PLAIN: ImpliedOptions = ImpliedOptions {
    relative: false,
    recursive: false,
    dirs: false,
};
const R: ImpliedOptions = ImpliedOptions {
    recursive: true,
    dirs: true,
    ..PLAIN
};
const D: ImpliedOptions = ImpliedOptions {
    dirs: true,
    ..PLAIN
};
const REL: ImpliedOptions = ImpliedOptions {
    relative: true,
    ..PLAIN
};
const RR: ImpliedOptions = ImpliedOptions {
    relative: true,
    ..R
};

fn filter(args: &[&str], opts: ImpliedOptions) -> ImpliedFilter {
    ImpliedFilter::from_args(args.iter().map(|a| a.as_bytes()), opts)
}

fn patterns(args: &[&str], opts: ImpliedOptions) -> Vec<String> {
    filter(args, opts)
        .patterns()
        .map(|p| String::from_utf8(p).unwrap())
        .collect()
}

/// The `add_implied_include(...)` lines of stock rsync 3.5.0, in order.
#[test]
fn rules_are_rsyncs() {
    let cases: &[(&[&str], ImpliedOptions, &[&str])] = &[
        (&["src/a"], R, &["/a", "/a/**"]),
        (&["src/a"], PLAIN, &["/a"]),
        (&["src/a/"], D, &["/*"]),
        (&["src/"], R, &["/**"]),
        (&["src/"], PLAIN, &[]),
        (&["src/a"], RR, &["/src/a", "/src/", "/src/a/**"]),
        (
            &["base/./src/a", "base/src"],
            RR,
            &[
                "/src/a",
                "/src/",
                "/src/a/**",
                "/base/src",
                "/base/",
                "/base/src/**",
            ],
        ),
        (&["src/*.txt"], R, &["/*.txt", "/*.txt/**"]),
        (
            &["src/[ab]"],
            R,
            &["/[ab]", "/\\[ab]", "/[ab]/**", "/\\[ab]/**"],
        ),
        (&["./src//a/."], REL, &["/src/a", "/src/"]),
        (&["a\\b"], R, &["/a\\b", "/a\\\\b/**"]),
        (&["a\\]b"], REL, &["/a]b"]),
        (
            &["d*/x[y]/z"],
            RR,
            &[
                "/d*/x[y]/z",
                "/d*/x\\[y]/z",
                "/d*/x[y]/",
                "/d*/x\\[y]/",
                "/d*/",
                "/d*/x[y]/z/**",
                "/d*/x\\[y]/z/**",
            ],
        ),
        (&["."], R, &["/**"]),
        (&["/"], REL, &[]),
        (&["//x//y/"], RR, &["/x/y", "/x/", "/x/y/**"]),
    ];
    for (args, opts, want) in cases {
        assert_eq!(patterns(args, *opts), *want, "{args:?} {opts:?}");
    }
}

#[test]
fn a_file_pull_allows_the_file_only() {
    let f = filter(&["src/a"], PLAIN);
    assert!(f.allows(b"a", false));
    assert!(f.allows(b"a", true));
    assert!(f.allows(b".", true), "the transfer root is never checked");
    for bad in [&b"b"[..], b"ab", b"a/x", b"src/a", b"src", b"x/a"] {
        assert!(!f.allows(bad, false), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn recursion_allows_the_subtree_dirs_one_level() {
    let r = filter(&["src/a"], R);
    assert!(r.allows(b"a/x/y/z", false));
    assert!(!r.allows(b"ab/x", false));
    assert!(!r.allows(b"b/a", false));
    let d = filter(&["src/a"], D);
    assert!(d.allows(b"a/x", false));
    assert!(!d.allows(b"a/x/y", false));
}

#[test]
fn contents_of_a_directory_with_a_trailing_slash() {
    let f = filter(&["src/"], R);
    assert!(f.allows(b"anything/below", false));
    assert!(!f.parent_only(b"."));
    // Without -r or -d rsync adds no rule, so it checks nothing.
    let none = filter(&["src/"], PLAIN);
    assert!(none.is_empty());
    assert!(none.allows(b"whatever", false));
}

#[test]
fn relative_allows_parents_as_directories_only() {
    let f = filter(&["src/a"], RR);
    assert!(f.allows(b"src", true));
    assert!(!f.allows(b"src", false), "a parent is a directory");
    assert!(f.allows(b"src/a", false));
    assert!(f.allows(b"src/a/deep/x", false));
    assert!(!f.allows(b"src/b", false));
    assert!(!f.allows(b"src/ab", false));
    assert!(!f.allows(b"a", false));
    assert!(f.parent_only(b"src"));
    assert!(!f.parent_only(b"src/a"));
    assert!(
        f.parent_only(b"."),
        "no operand asked for the root's contents"
    );
    // A parent that is also an operand is content.
    let both = filter(&["src/a", "src"], RR);
    assert!(!both.parent_only(b"src"));
    assert!(both.allows(b"src/b", false));
}

#[test]
fn a_dot_marker_starts_the_relative_path() {
    let f = filter(&["/abs/base/./sub/f"], REL);
    assert!(f.allows(b"sub/f", false));
    assert!(f.allows(b"sub", true));
    assert!(!f.allows(b"abs", true));
    assert!(!f.allows(b"abs/base/sub/f", false));
}

#[test]
fn wildcards_match_as_a_shell_expands_them() {
    let f = filter(&["src/*.txt"], R);
    assert!(f.allows(b"x.txt", false));
    assert!(f.allows(b"x.txt/in", false));
    assert!(!f.allows(b"x.c", false));
    assert!(!f.allows(b"d/x.txt", false), "* does not cross a slash");
    let b = filter(&["src/[ab]"], PLAIN);
    assert!(b.allows(b"a", false));
    assert!(
        b.allows(b"[ab]", false),
        "a failed glob leaves the literal name"
    );
    assert!(!b.allows(b"c", false));
}

#[test]
fn several_sources_each_add_rules() {
    let f = filter(&["src/a", "other/b"], PLAIN);
    assert!(f.allows(b"a", false));
    assert!(f.allows(b"b", false));
    assert!(!f.allows(b"c", false));
}

#[test]
fn rejections_name_the_file() {
    let e = RejectedName::Unrequested {
        name: b"evil\n\xff".to_vec(),
    };
    assert_eq!(
        e.to_string(),
        "rejecting unrequested file-list name: evil\\#012\\#377"
    );
    let e = RejectedName::Excluded {
        name: b"x.o".to_vec(),
    };
    assert_eq!(e.to_string(), "rejecting excluded file-list name: x.o");
    assert_eq!(e.exit_code(), 4);
    let e = RejectedName::RootNotDirectory {
        name: b".".to_vec(),
    };
    assert_eq!(
        e.to_string(),
        "rejecting non-directory transfer-root entry: ."
    );
    assert_eq!(e.exit_code(), 2);
}

fn component() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![b'a'..=b'z', Just(b'.'), Just(b'-'), Just(b'_')],
        1..6,
    )
    .prop_filter("not . or ..", |c| c != b"." && c != b"..")
}

fn path() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(component(), 1..5)
}

proptest! {
    /// Whatever the operand's path, a sender listing exactly what rsync sends is accepted,
    /// and a sibling of the operand never is.
    #[test]
    fn a_requested_path_and_its_subtree_are_allowed(
        p in path(),
        below in path(),
        sibling in component(),
        relative in any::<bool>(),
    ) {
        let arg = p.join(&b'/');
        let opts = if relative { RR } else { R };
        let f = ImpliedFilter::from_args([arg.as_slice()], opts);
        let listed = if relative { arg.clone() } else { p.last().cloned().unwrap_or_default() };
        prop_assert!(f.allows(&listed, true));
        let mut deep = listed.clone();
        deep.push(b'/');
        deep.extend_from_slice(&below.join(&b'/'));
        prop_assert!(f.allows(&deep, false));
        if relative {
            for k in 1..p.len() {
                let parent = p[..k].join(&b'/');
                prop_assert!(f.allows(&parent, true));
                prop_assert!(f.parent_only(&parent));
            }
        }
        let mut other = listed[..listed.len() - p.last().map_or(0, Vec::len)].to_vec();
        other.extend_from_slice(&sibling);
        if other != listed {
            prop_assert!(!f.allows(&other, false));
            let mut prefixed = listed.clone();
            prefixed.extend_from_slice(&sibling);
            prop_assert!(!f.allows(&prefixed, false));
        }
    }

    /// Arbitrary bytes neither panic nor loop.
    #[test]
    fn arbitrary_operands_and_names_are_safe(
        args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..4),
        name in proptest::collection::vec(any::<u8>(), 0..40),
        relative in any::<bool>(),
        recursive in any::<bool>(),
        dirs in any::<bool>(),
    ) {
        let f = ImpliedFilter::from_args(
            args.iter().map(Vec::as_slice),
            ImpliedOptions { relative, recursive, dirs },
        );
        let _ = f.allows(&name, false);
        let _ = f.allows(&name, true);
        let _ = f.parent_only(&name);
    }
}
