//! Unit tests: rule syntax, matching semantics, rule files and merge files.

use super::*;
use std::collections::HashMap;

fn list(rules: &[&str]) -> FilterList {
    let mut l = FilterList::new();
    for r in rules {
        l.add_filter(r.as_bytes())
            .unwrap_or_else(|e| panic!("{r:?}: {e}"));
    }
    l
}

fn texts(l: &FilterList) -> Vec<String> {
    l.rules()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.to_text()).into_owned())
        .collect()
}

fn err(rule: &str) -> FilterError {
    match FilterList::new().add_filter(rule.as_bytes()) {
        Ok(()) => panic!("{rule:?} should be refused"),
        Err(e) => e,
    }
}

/// Verdict letters for `names` on `side` (`+` include, `-` exclude, `.` no match); a
/// trailing `/` marks a directory.
fn verdicts(l: &FilterList, side: Side, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            let (path, dir) = match n.strip_suffix('/') {
                Some(p) => (p, true),
                None => (*n, false),
            };
            match l.check(path.as_bytes(), dir, side) {
                Some(Verdict::Include) => '+',
                Some(Verdict::Exclude) => '-',
                None => '.',
            }
        })
        .collect()
}

fn sender(l: &FilterList, names: &[&str]) -> String {
    verdicts(l, Side::Sender, names)
}

#[test]
fn short_and_long_rule_names() {
    let l = list(&[
        "- a",
        "exclude a",
        "+ b/",
        "include b/",
        "H c",
        "hide c",
        "S d",
        "show d",
        "P e",
        "protect e",
        "R f",
        "risk f",
        "-_g",
        "include_h",
        "+,s i",
        "exclude,/ j",
    ]);
    assert_eq!(
        texts(&l),
        [
            "- a", "- a", "+ b/", "+ b/", "-s c", "-s c", "+s d", "+s d", "-r e", "-r e", "+r f",
            "+r f", "- g", "+ h", "+s i", "-/ j"
        ]
    );
    let r = &l.rules()[2];
    assert_eq!((r.pattern(), r.dir_only()), (b"b".as_slice(), true));
    assert!(l.rules()[4].applies_to(Side::Sender) && !l.rules()[4].applies_to(Side::Receiver));
    assert!(!l.rules()[8].applies_to(Side::Sender) && l.rules()[8].applies_to(Side::Receiver));
}

#[test]
fn modifiers_and_their_canonical_order() {
    let l = list(&["-p! foo", "+x /bar", "-rs baz", "-!/ q/", "-,p r"]);
    assert_eq!(
        texts(&l),
        ["-!p foo", "+x /bar", "-sr baz", "-/! q/", "-p r"]
    );
    assert!(l.rules()[0].negated() && l.rules()[0].perishable());
    assert!(l.rules()[1].xattr());
    assert!(l.rules()[3].absolute() && l.rules()[3].dir_only());
}

#[test]
fn pattern_is_everything_after_one_separator() {
    let l = list(&["- foo bar", "-  lead", "- trail ", "-__x", "- a/"]);
    let pats: Vec<&[u8]> = l.rules().iter().map(Rule::pattern).collect();
    assert_eq!(pats, [&b"foo bar"[..], b" lead", b"trail ", b"_x", b"a"]);
    // A lone "/" stays a pattern (and matches nothing, see below).
    assert_eq!(list(&["- /"]).rules()[0].pattern(), b"/");
}

#[test]
fn syntax_errors_are_typed_with_rsync_wording() {
    assert!(matches!(err("x foo"), FilterError::UnknownRule { .. }));
    assert!(matches!(
        err("excludes foo"),
        FilterError::UnknownRule { .. }
    ));
    assert!(matches!(err("p foo"), FilterError::UnknownRule { .. }));
    assert!(matches!(
        err("-foo"),
        FilterError::InvalidModifier {
            modifier: b'f',
            position: 1,
            ..
        }
    ));
    let e = err("exclude\tfoo");
    assert!(matches!(
        e,
        FilterError::InvalidModifier {
            modifier: b'\t',
            position: 7,
            ..
        }
    ));
    assert_eq!(
        e.to_string(),
        "invalid modifier '\\x09' at position 7 in filter rule: exclude\\x09foo"
    );
    for bad in [
        "Hs foo",
        "Pr foo",
        "-e foo",
        "-n foo",
        "-w foo",
        "merge,! f",
        "+- x",
        "PC",
    ] {
        assert!(
            matches!(err(bad), FilterError::InvalidModifier { .. }),
            "{bad}"
        );
    }
    assert!(matches!(err("-"), FilterError::MissingPattern { .. }));
    assert!(matches!(err("+ "), FilterError::MissingPattern { .. }));
    assert!(matches!(err("exclude"), FilterError::MissingPattern { .. }));
    assert!(matches!(err("! x"), FilterError::ClearWithText { .. }));
    assert!(matches!(err("clear "), FilterError::ClearWithText { .. }));
    assert_eq!(err("x foo").to_string(), "Unknown filter rule: x foo");
    let long = format!("- {}", "a".repeat(4096));
    assert!(matches!(
        err(&long),
        FilterError::RuleTooLong {
            len: 4096,
            max: 4095,
            ..
        }
    ));
    assert!(FilterList::new()
        .add_filter(format!("- {}", "a".repeat(4095)).as_bytes())
        .is_ok());
}

#[test]
fn dir_merge_is_refused_not_ignored() {
    for r in [
        ": .rules",
        "dir-merge .rules",
        ":n- .x",
        "dir-merge,e .x",
        ":C",
        ": /.rsync-filter",
    ] {
        assert!(
            matches!(err(r), FilterError::DirMergeUnsupported { .. }),
            "{r}"
        );
    }
    assert!(err(":C").to_string().contains("not supported yet"));
}

#[test]
fn clear_empties_the_list() {
    let l = list(&["- a", "+ b", "!", "- c", "clear", "- d", "!,"]);
    assert!(l.is_empty());
    let l = list(&["- a", "clear,", "- b"]);
    assert_eq!(texts(&l), ["- b"]);
}

#[test]
fn exclude_and_include_options_take_old_prefixes_only() {
    let mut l = FilterList::new();
    for p in ["foo", "-foo", "+ inc", "- exc", "*.o", "foo bar"] {
        l.add_exclude(p.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    l.add_include(b"H x").unwrap_or_else(|e| panic!("{e}"));
    l.add_include(b"!x").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        texts(&l),
        [
            "- foo",
            "- -foo",
            "+ inc",
            "- exc",
            "- *.o",
            "- foo bar",
            "+ H x",
            "+ !x"
        ]
    );
    l.add_exclude(b"!").unwrap_or_else(|e| panic!("{e}"));
    assert!(l.is_empty());
    assert!(matches!(
        FilterList::new().add_exclude(b"- "),
        Err(FilterError::MissingPattern { .. })
    ));
}

#[test]
fn rule_files_lines_comments_and_crlf() {
    let mut l = FilterList::new();
    let file = b"a\r\nb\rc\n\n# comment\n; comment\n d\n+ inc\n- exc\n#\nlast";
    l.add_exclude_from(file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        texts(&l),
        ["- a", "- b", "- c", "-  d", "+ inc", "- exc", "- last"]
    );

    let mut l = FilterList::new();
    l.add_include_from(b"x\n- y\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&l), ["+ x", "- y"]);

    let mut l = FilterList::new();
    l.set_from0(true);
    l.add_exclude_from(b"a\nb\0#c\0\0c\rd\0")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&l), ["- a\nb", "- c\rd"]);

    let mut line = vec![b'x'; MAX_RULE_LEN + 1];
    line.push(b'\n');
    assert!(matches!(
        FilterList::new().add_exclude_from(&line),
        Err(FilterError::RuleTooLong {
            max: MAX_RULE_LEN,
            ..
        })
    ));
}

/// A merge-file source backed by a map.
struct Files(HashMap<&'static [u8], &'static [u8]>);

impl FilterSource for Files {
    fn merge_file(&mut self, name: &[u8]) -> std::io::Result<Vec<u8>> {
        self.0
            .get(name)
            .map(|c| c.to_vec())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }
    fn home_cvsignore(&mut self) -> Option<Vec<u8>> {
        Some(b"*.home\n".to_vec())
    }
    fn cvsignore_env(&mut self) -> Option<Vec<u8>> {
        Some(b" *.env  *.env2 ".to_vec())
    }
}

fn files() -> Files {
    Files(HashMap::from([
        (&b"plain"[..], &b"# rules\n+ *.c\n- *.o\nH secret\n"[..]),
        (b"bare", b"+ a\nb\n"),
        (b"sub/dir/words", b"- x + y\n"),
        (b"bare-words", b"one two\tthree\n"),
        (b"sided", b"- a\n+ b\n"),
        (b"sided-bad", b"H a\n"),
        (b"nested", b". plain\n- after\n"),
        (b"loop", b". loop\n"),
        (b".cvsignore", b"c1 c2 ! c3\n"),
        (b"clears", b"- gone\n!\n- kept\n"),
    ]))
}

fn merged(rule: &str) -> Result<FilterList, FilterError> {
    let mut l = FilterList::new();
    l.add_filter(b"- first")?;
    l.add_filter_with(rule.as_bytes(), &mut files())?;
    Ok(l)
}

#[test]
fn merge_files_through_the_source() {
    let ok = |r: &str| merged(r).unwrap_or_else(|e| panic!("{r}: {e}"));
    assert_eq!(
        texts(&ok(". plain")),
        ["- first", "+ *.c", "- *.o", "-s secret"]
    );
    assert_eq!(texts(&ok("merge plain")), texts(&ok(". plain")));
    // "-"/"+": bare patterns; a "+ " prefix is part of the pattern.
    assert_eq!(texts(&ok("merge,- bare")), ["- first", "- + a", "- b"]);
    assert_eq!(texts(&ok(".+ bare")), ["- first", "+ + a", "+ b"]);
    // "e" also excludes the merge file's own name (its last component).
    assert_eq!(
        texts(&ok(".e-w sub/dir/words")),
        ["- first", "- words", "- -", "- x", "- +", "- y"]
    );
    assert_eq!(
        texts(&ok(".-w bare-words")),
        ["- first", "- one", "- two", "- three"]
    );
    // Modifiers of the merge rule are defaults for its rules; sides may not be given twice.
    assert_eq!(
        texts(&ok("merge,s/p sided")),
        ["- first", "-/sp a", "+/sp b"]
    );
    assert!(matches!(
        merged(".r sided-bad"),
        Err(FilterError::SideConflict { .. })
    ));
    assert_eq!(
        texts(&ok(". nested")),
        ["- first", "+ *.c", "- *.o", "-s secret", "- after"]
    );
    // "!" in a merge file clears the whole list it merges into.
    assert_eq!(texts(&ok(". clears")), ["- kept"]);
    // CVS mode: word split, bare excludes, "!" clears (what came before in the list).
    assert_eq!(texts(&ok(".C")), ["- c3"]);
    assert!(matches!(
        merged(". loop"),
        Err(FilterError::MergeDepth { max: 32, .. })
    ));
    let e = merged(". missing").err();
    assert!(
        matches!(e, Some(FilterError::MergeRead { ref source, .. }) if source.kind() == std::io::ErrorKind::NotFound)
    );
    // A word-split file with prefixes: each word is a rule, so "-" alone is an error (3.5.0).
    assert!(matches!(
        merged(".w sub/dir/words"),
        Err(FilterError::MissingPattern { .. })
    ));
    // Without a source, or from the peer, merge rules are refused.
    assert!(matches!(
        err(". plain"),
        FilterError::MergeUnavailable { .. }
    ));
    let mut closure = |name: &[u8]| -> std::io::Result<Vec<u8>> { Ok([b"- ", name].concat()) };
    let mut l = FilterList::new();
    l.add_filter_with(b"merge x", &mut closure)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&l), ["- x"]);
}

#[test]
fn cvs_excludes() {
    let mut l = FilterList::new();
    l.add_filter_with(b"-C", &mut files())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&l), ["-C "]);
    let cvs = l.cvs_rules();
    assert_eq!(cvs.len(), 36 + 3);
    assert!(cvs[..36]
        .iter()
        .all(|r| r.perishable() && r.verdict() == Verdict::Exclude));
    assert!(cvs[36..].iter().all(|r| !r.perishable()));
    assert_eq!(cvs[36].to_text(), b"- *.home");
    assert_eq!(cvs[38].to_text(), b"- *.env2");
    assert_eq!(
        sender(
            &l,
            &["core", "a/b.o", "x.c", ".git/", ".git", "q.env2", "CVS/", "foo~"]
        ),
        "--.-.---"
    );
    // Before protocol 30 the built-in list is not perishable.
    let mut l = FilterList::new();
    l.set_protocol(29);
    l.add_filter(b"-C").unwrap_or_else(|e| panic!("{e}"));
    assert!(l.cvs_rules().iter().all(|r| !r.perishable()));
    assert_eq!(l.cvs_rules().len(), 36);
}

#[test]
fn basename_versus_full_path() {
    let l = list(&["- foo"]);
    assert_eq!(
        sender(&l, &["foo", "a/foo", "a/foo/b", "foox", "a/xfoo", "foo/"]),
        "--...-"
    );
    let l = list(&["- a/b"]);
    assert_eq!(sender(&l, &["a/b", "x/a/b", "xa/b", "a/b/c", "b"]), "--...");
    let l = list(&["- a/*/c"]);
    assert_eq!(sender(&l, &["a/x/c", "q/a/x/c", "a/x/y/c", "a/c"]), "--..");
    let l = list(&["- *.c"]);
    assert_eq!(sender(&l, &["x.c", "d/y.c", "d.c/z", "d.c/"]), "--.-");
}

#[test]
fn anchoring_and_directories() {
    let l = list(&["- /foo"]);
    assert_eq!(sender(&l, &["foo", "a/foo", "foo/"]), "-.-");
    let l = list(&["- foo/"]);
    assert_eq!(sender(&l, &["foo", "foo/", "a/foo/"]), ".--");
    let l = list(&["- /a/b/"]);
    assert_eq!(sender(&l, &["a/b/", "a/b", "x/a/b/"]), "-..");
    // "/" alone and empty names never match, even negated.
    let l = list(&["- /", "-! x"]);
    assert_eq!(l.check(b"", false, Side::Sender), None);
    assert_eq!(l.check(b"/", true, Side::Sender), None);
    assert_eq!(sender(&l, &["y"]), "-");
    // A leading "/" in the checked name is ignored for plain patterns.
    assert!(list(&["- /foo"]).excluded(b"/foo", false, Side::Sender));
}

#[test]
fn double_and_triple_stars() {
    let l = list(&["- **/foo"]);
    assert_eq!(sender(&l, &["foo", "a/foo", "a/b/foo", "foo/x"]), "---.");
    let l = list(&["- a/**/z"]);
    assert_eq!(
        sender(&l, &["a/z", "a/b/z", "a/b/c/z", "q/a/b/z", "a/b/zz"]),
        ".---."
    );
    let l = list(&["- /a/**/z"]);
    assert_eq!(sender(&l, &["a/b/z", "q/a/b/z"]), "-.");
    let l = list(&["- dir/***"]);
    assert_eq!(
        sender(
            &l,
            &["dir/", "dir", "dir/x", "dir/x/y/", "p/dir/x", "dirx/"]
        ),
        "-.---."
    );
    let l = list(&["- /dir/***"]);
    assert_eq!(sender(&l, &["dir/", "p/dir/x", "dir/x"]), "-.-");
    let l = list(&["- foo**"]);
    assert_eq!(sender(&l, &["foo/x/y", "a/foobar", "a/foo/b"]), "---");
}

#[test]
fn classes_escapes_and_literals() {
    let l = list(&["- [[:digit:]]*", "- x[!a-c]y", "- b\\*", "- lit\\eral"]);
    assert_eq!(
        sender(
            &l,
            &[
                "7up",
                "up7",
                "xdy",
                "xay",
                "b*",
                "bb",
                "lit\\eral",
                "literal"
            ]
        ),
        "-.-.-.-."
    );
    // A backslash escapes only when the pattern has a wildcard.
    let l = list(&["- foo\\bar*"]);
    assert_eq!(sender(&l, &["foobar.x", "foo\\bar.x"]), "-.");
    let l = list(&["- a[b"]);
    assert_eq!(sender(&l, &["a[b", "ab"]), "..");
}

#[test]
fn first_match_wins_and_negation() {
    let l = list(&["+ */", "+ *.c", "- *"]);
    assert_eq!(
        sender(&l, &["d/", "d/x.c", "d/x.h", "x.c/", "top"]),
        "++-+-"
    );
    let l = list(&["-! */"]);
    assert_eq!(sender(&l, &["f", "d/", "d/f"]), "-.-");
    let l = list(&["+! *.c", "- *"]);
    assert_eq!(sender(&l, &["a.h", "a.c"]), "+-");
    // A negated directory-only rule matches every non-directory.
    let l = list(&["-! foo/"]);
    assert_eq!(sender(&l, &["foo", "foo/", "bar/"]), "-.-");
}

#[test]
fn sides_protect_and_delete_excluded() {
    let mut l = list(&["H hidden", "P kept", "- both", "S shown", "R risky", "- *"]);
    let names = ["hidden", "kept", "both", "shown", "risky", "other"];
    assert_eq!(verdicts(&l, Side::Sender, &names), "---+--");
    assert_eq!(verdicts(&l, Side::Receiver, &names), "----+-");
    assert!(l.protected(b"kept", false, false));
    assert!(!l.protected(b"risky", false, false));
    // --delete-excluded: plain rules become sender-only, so "both" and "*" no longer protect.
    l.set_delete_excluded(true);
    assert_eq!(verdicts(&l, Side::Sender, &names), "---+--");
    assert_eq!(verdicts(&l, Side::Receiver, &names), ".-..+.");
    assert!(!l.protected(b"both", false, false));
}

#[test]
fn perishable_rules_are_skipped_inside_deleted_dirs() {
    let l = list(&["-p *.o", "- keep"]);
    assert!(l.protected(b"d/x.o", false, false));
    assert!(!l.protected(b"d/x.o", false, true));
    assert!(l.protected(b"d/keep", false, true));
}

#[test]
fn absolute_path_modifier_uses_the_base_dir() {
    let l = list(&["-/ /etc/passwd", "-/ subdir/foo"]);
    let q = |path: &'static [u8], dir: Option<&'static [u8]>| Query {
        base_dir: dir,
        ..Query::new(path, false, Side::Sender)
    };
    let hit = |path, dir| l.matching_rule(&q(path, dir)).is_some();
    assert!(hit(b"passwd", Some(b"/etc")));
    assert!(hit(b"passwd", Some(b"/etc/")));
    assert!(!hit(b"passwd", Some(b"/usr/etc")));
    assert!(hit(b"etc/passwd", Some(b"/")));
    assert!(hit(b"foo", Some(b"/x/subdir")));
    assert!(!hit(b"foo", Some(b"/x/subdirs")));
    // Without a base directory the rules match like plain ones.
    assert!(hit(b"etc/passwd", None));
    assert!(!hit(b"passwd", None));
}

#[test]
fn wire_rules_parse_by_protocol() {
    let l = FilterList::from_wire(&[&b"- a"[..], b"-s b/", b"+ c", b"!x"], 31, false);
    assert!(matches!(l, Err(FilterError::ClearWithText { .. })));
    let l = FilterList::from_wire(&[&b"- a"[..], b"+r b/", b"-p c"], 31, false).unwrap_or_default();
    assert_eq!(texts(&l), ["- a", "+r b/", "-p c"]);
    // Before 29: bare patterns, "- " / "+ " prefixes, "!" clears, "!x" is a pattern.
    let old = FilterList::from_wire(
        &[&b"a"[..], b"- b", b"!", b"+ c", b"-s d", b"!e"],
        28,
        false,
    )
    .unwrap_or_default();
    assert_eq!(texts(&old), ["+ c", "- -s d", "- !e"]);
    for bad in [&b". /etc/shadow"[..], b"merge x", b": .rules", b"- a\0b"] {
        let e = FilterList::from_wire(&[bad], 31, false).err();
        assert!(
            matches!(
                e,
                Some(
                    FilterError::MergeUnavailable { .. }
                        | FilterError::DirMergeUnsupported { .. }
                        | FilterError::NulInRule { .. }
                )
            ),
            "{bad:?}: {e:?}"
        );
    }
    let long = vec![b'a'; MAX_RULE_LEN + 1];
    assert!(matches!(
        FilterList::from_wire(&[long], 28, false),
        Err(FilterError::RuleTooLong { .. })
    ));
    // The "-C" rule from a receiving client expands on the server.
    let l = FilterList::from_wire(&[&b"-C "[..]], 31, false).unwrap_or_default();
    assert!(l.excluded(b"x/core", false, Side::Sender));
    assert!(l.cvs_rules().iter().all(Rule::perishable));
}

#[test]
fn failed_adds_leave_the_list_unchanged() {
    let mut l = list(&["- a", "+ b"]);
    let before = l.clone();
    // The "e" rule would be added before the merge fails; nothing of it may stay.
    assert!(l.add_wire_rule(b".nse_x/y", 31).is_err());
    assert!(l.add_filter_with(b".e missing", &mut files()).is_err());
    assert!(l.add_exclude_from(b"x\n!\n+ \n").is_err());
    assert!(l.add_filter_with(b"-C", &mut BadCvs).is_err());
    assert_eq!(l, before);
    // A clear inside a file clears what was there before, once the file parsed.
    l.add_exclude_from(b"x\n!\ny\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&l), ["- y"]);
    // An "e" merge of a name ending in "/" adds no empty rule.
    let mut l = FilterList::new();
    let mut empty = |_: &[u8]| -> std::io::Result<Vec<u8>> { Ok(Vec::new()) };
    l.add_filter_with(b".e dir/", &mut empty)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(l.is_empty());
}

/// A source whose CVS patterns hold an over-long line.
struct BadCvs;

impl FilterSource for BadCvs {
    fn merge_file(&mut self, _: &[u8]) -> std::io::Result<Vec<u8>> {
        Ok(Vec::new())
    }
    fn home_cvsignore(&mut self) -> Option<Vec<u8>> {
        Some(vec![b'x'; MAX_RULE_LEN + 1])
    }
}
