//! rsync's wildcard matcher on bytes.
//!
//! `?` matches one byte except `/`; `*` matches any run of bytes without `/`; `**` (two or
//! more stars) matches any run, slashes included; `[...]` is a class of one byte that is never
//! `/`, with ranges, `!` or `^` negation, `\` escapes, a leading `]` taken literally, and the
//! POSIX classes `[:alnum:]` … `[:xdigit:]` (ASCII, as in the C locale); `\x` matches `x`.
//!
//! The two abort results let a failing `*` stop its callers early, which keeps the search
//! polynomial. Reference: rsync `lib/wildmatch.c` (`dowild`, `wildmatch_array`,
//! `litmatch_array`, `trailing_N_elements`). rsync matches a list of strings as if they
//! were joined; callers here join them first.

/// The result of one match attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    NoMatch,
    Match,
    /// Nothing later in the text can match: give up entirely.
    AbortAll,
    /// A single `*` reached a `/`: only an enclosing `**` may keep trying.
    AbortToStarStar,
}

/// Where in the text a match may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// At the start only.
    Start,
    /// At the start or right after any `/`.
    AnySlash,
    /// At the start of the last `n` slash-separated elements (`n >= 1`).
    Trailing(usize),
}

/// The pattern byte at `i`, or 0 past the end (patterns hold no NUL byte).
fn at(p: &[u8], i: usize) -> u8 {
    p.get(i).copied().unwrap_or(0)
}

/// A POSIX class name's test, in the C locale.
fn class(name: &[u8]) -> Option<fn(u8) -> bool> {
    Some(match name {
        b"alnum" => |c: u8| c.is_ascii_alphanumeric(),
        b"alpha" => |c: u8| c.is_ascii_alphabetic(),
        b"blank" => |c: u8| c == b' ' || c == b'\t',
        b"cntrl" => |c: u8| c.is_ascii_control(),
        b"digit" => |c: u8| c.is_ascii_digit(),
        b"graph" => |c: u8| c.is_ascii_graphic(),
        b"lower" => |c: u8| c.is_ascii_lowercase(),
        b"print" => |c: u8| c == b' ' || c.is_ascii_graphic(),
        b"punct" => |c: u8| c.is_ascii_punctuation(),
        b"space" => |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
        b"upper" => |c: u8| c.is_ascii_uppercase(),
        b"xdigit" => |c: u8| c.is_ascii_hexdigit(),
        _ => return None,
    })
}

/// Matches the class starting after `[` at `p[*pi]` against `t`; leaves `*pi` on the
/// closing `]`. `Err` carries an abort.
fn match_class(p: &[u8], pi: &mut usize, t: u8) -> Result<bool, Outcome> {
    let mut p_ch = at(p, *pi);
    if p_ch == b'^' {
        p_ch = b'!';
    }
    let negated = p_ch == b'!';
    if negated {
        *pi += 1;
        p_ch = at(p, *pi);
    }
    let mut prev = 0u8;
    let mut matched = false;
    loop {
        if p_ch == 0 {
            return Err(Outcome::AbortAll);
        }
        if p_ch == b'\\' {
            *pi += 1;
            p_ch = at(p, *pi);
            if p_ch == 0 {
                return Err(Outcome::AbortAll);
            }
            matched |= t == p_ch;
        } else if p_ch == b'-' && prev != 0 && !matches!(at(p, *pi + 1), 0 | b']') {
            *pi += 1;
            p_ch = at(p, *pi);
            if p_ch == b'\\' {
                *pi += 1;
                p_ch = at(p, *pi);
                if p_ch == 0 {
                    return Err(Outcome::AbortAll);
                }
            }
            matched |= (prev..=p_ch).contains(&t);
            p_ch = 0;
        } else if p_ch == b'[' && at(p, *pi + 1) == b':' {
            let start = *pi + 2;
            *pi = start;
            while !matches!(at(p, *pi), 0 | b']') {
                *pi += 1;
            }
            if at(p, *pi) == 0 {
                return Err(Outcome::AbortAll);
            }
            if *pi == start || at(p, *pi - 1) != b':' {
                // No ":]": the `[` is an ordinary member and scanning resumes after it.
                *pi = start - 2;
                p_ch = b'[';
                matched |= t == b'[';
            } else {
                let test = p
                    .get(start..*pi - 1)
                    .and_then(class)
                    .ok_or(Outcome::AbortAll)?;
                matched |= test(t);
                p_ch = 0;
            }
        } else {
            matched |= t == p_ch;
        }
        prev = p_ch;
        *pi += 1;
        p_ch = at(p, *pi);
        if p_ch == b']' {
            break;
        }
    }
    Ok(matched != negated && t != b'/')
}

/// rsync `dowild`: matches all of `text` against all of `p`.
fn dowild(p: &[u8], text: &[u8]) -> Outcome {
    let mut pi = 0;
    let mut ti = 0;
    while pi < p.len() {
        let p_ch = at(p, pi);
        let t_ch = match text.get(ti) {
            Some(&c) => c,
            None if p_ch == b'*' => 0,
            None => return Outcome::AbortAll,
        };
        match p_ch {
            b'\\' => {
                pi += 1;
                if t_ch != at(p, pi) {
                    return Outcome::NoMatch;
                }
            }
            b'?' => {
                if t_ch == b'/' {
                    return Outcome::NoMatch;
                }
            }
            b'*' => return star(p, pi, text, ti),
            b'[' => {
                pi += 1;
                match match_class(p, &mut pi, t_ch) {
                    Ok(true) => {}
                    Ok(false) => return Outcome::NoMatch,
                    Err(abort) => return abort,
                }
            }
            _ => {
                if t_ch != p_ch {
                    return Outcome::NoMatch;
                }
            }
        }
        pi += 1;
        ti += 1;
    }
    if ti < text.len() {
        Outcome::NoMatch
    } else {
        Outcome::Match
    }
}

/// The `*` at `p[pi]` against `text[ti..]`.
fn star(p: &[u8], mut pi: usize, text: &[u8], mut ti: usize) -> Outcome {
    pi += 1;
    let double = at(p, pi) == b'*';
    while at(p, pi) == b'*' {
        pi += 1;
    }
    let rest_text = text.get(ti..).unwrap_or_default();
    let Some(rest) = p.get(pi..).filter(|r| !r.is_empty()) else {
        // A trailing "**" matches everything; a trailing "*" anything without a slash.
        return if double || !rest_text.contains(&b'/') {
            Outcome::Match
        } else {
            Outcome::NoMatch
        };
    };
    while let Some(&c) = text.get(ti) {
        let m = dowild(rest, text.get(ti..).unwrap_or_default());
        if m != Outcome::NoMatch {
            if !double || m != Outcome::AbortToStarStar {
                return m;
            }
        } else if !double && c == b'/' {
            return Outcome::AbortToStarStar;
        }
        ti += 1;
    }
    Outcome::AbortAll
}

/// The offset in `text` where its last `n` slash-separated elements start, if it has that
/// many (rsync `trailing_N_elements`).
fn trailing(text: &[u8], n: usize) -> Option<usize> {
    let mut count = n;
    for (i, &c) in text.iter().enumerate().rev() {
        if c == b'/' {
            count -= 1;
            if count == 0 {
                return Some(i + 1);
            }
        }
    }
    (count == 1).then_some(0)
}

/// rsync `wildmatch`: the whole `text` against `pattern`.
#[cfg(test)]
pub(crate) fn wildmatch(pattern: &[u8], text: &[u8]) -> bool {
    dowild(pattern, text) == Outcome::Match
}

/// rsync `wildmatch_array`: `pattern` against `text`, starting where `anchor` allows.
pub(crate) fn wildmatch_at(pattern: &[u8], text: &[u8], anchor: Anchor) -> bool {
    let mut t = match anchor {
        Anchor::Trailing(n) => match trailing(text, n) {
            Some(at) => text.get(at..).unwrap_or_default(),
            None => return false,
        },
        Anchor::Start | Anchor::AnySlash => text,
    };
    let mut m = dowild(pattern, t);
    if m != Outcome::Match && m != Outcome::AbortAll && anchor == Anchor::AnySlash {
        loop {
            let Some(slash) = t.iter().position(|&c| c == b'/') else {
                return false;
            };
            t = t.get(slash + 1..).unwrap_or_default();
            m = dowild(pattern, t);
            if m != Outcome::NoMatch && m != Outcome::AbortToStarStar {
                break;
            }
        }
    }
    m == Outcome::Match
}

/// rsync `litmatch_array`: `literal` equals `text` from where `anchor` allows (never
/// called with [`Anchor::AnySlash`], which needs `**`, a wildcard).
pub(crate) fn litmatch_at(literal: &[u8], text: &[u8], anchor: Anchor) -> bool {
    let from = match anchor {
        Anchor::Trailing(n) => trailing(text, n),
        Anchor::Start | Anchor::AnySlash => Some(0),
    };
    from.and_then(|at| text.get(at..)) == Some(literal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yes(p: &str, t: &[u8]) {
        assert!(wildmatch(p.as_bytes(), t), "{p:?} should match {t:?}");
    }
    fn no(p: &str, t: &[u8]) {
        assert!(!wildmatch(p.as_bytes(), t), "{p:?} should not match {t:?}");
    }

    #[test]
    fn literals_and_question_marks() {
        yes("foo", b"foo");
        no("foo", b"bar");
        no("foo", b"fooo");
        no("fooo", b"foo");
        yes("", b"");
        no("", b"a");
        yes("???", b"foo");
        no("??", b"foo");
        no("foo?bar", b"foo/bar");
        yes("a?c", b"a\xffc");
    }

    #[test]
    fn single_star_stays_in_one_component() {
        yes("*", b"foo");
        yes("*", b"");
        yes("f*", b"foo");
        no("*f", b"foo");
        yes("*foo*", b"foo");
        yes("*ob*a*r*", b"foobar");
        yes("*ab", b"aaaaaaabababab");
        no("foo*bar", b"foo/baz/bar");
        no("*", b"a/b");
        no("a*", b"a/b");
        yes("*/b", b"a/b");
        no("*/foo", b"bar/baz/foo");
    }

    #[test]
    fn double_star_crosses_slashes() {
        yes("foo**bar", b"foo/baz/bar");
        yes("**", b"a/b/c");
        no("**/foo", b"foo");
        yes("**/foo", b"/foo");
        yes("**/foo", b"bar/baz/foo");
        yes("**/bar/*", b"deep/foo/bar/baz");
        no("**/bar/*", b"deep/foo/bar/baz/");
        yes("**/bar/**", b"deep/foo/bar/baz/");
        no("**/bar/*", b"deep/foo/bar");
        yes("**/bar/**", b"deep/foo/bar/");
        yes("**/bar**", b"foo/bar/baz");
        yes("*/bar/**", b"foo/bar/baz/x");
        no("*/bar/**", b"deep/foo/bar/baz/x");
        yes("**/bar/*/*", b"deep/foo/bar/baz/x");
        yes("a/***", b"a/");
        yes("a/***", b"a/b/c");
        no("a/***", b"a");
    }

    #[test]
    fn escapes() {
        yes("foo\\*", b"foo*");
        no("foo\\*", b"foox");
        no("foo\\*bar", b"foobar");
        yes("f\\\\oo", b"f\\oo");
        yes("\\[ab]", b"[ab]");
        no("foo\\", b"foo");
        no("foo\\", b"foo\\");
    }

    #[test]
    fn classes() {
        yes("*[al]?", b"ball");
        no("[ten]", b"ten");
        yes("**[!te]", b"ten");
        no("**[!ten]", b"ten");
        yes("t[a-g]n", b"ten");
        no("t[!a-g]n", b"ten");
        yes("t[!a-g]n", b"ton");
        yes("t[^a-g]n", b"ton");
        yes("a[]]b", b"a]b");
        yes("a[]-]b", b"a-b");
        yes("a[]-]b", b"a]b");
        no("a[]-]b", b"aab");
        yes("a[]a-]b", b"aab");
        yes("]", b"]");
        no("foo[/]bar", b"foo/bar");
        no("a[!b]c", b"a/c");
        yes("[[:alpha:]][[:digit:]]", b"x7");
        no("[[:alpha:]]", b"\xe9");
        no("[[:alpha:]]", b"7");
        yes("[[:space:]]", b"\x0b");
        yes("[[:punct:]]", b"_");
        yes("[[:xdigit:][:upper:]]", b"G");
        yes("[[:lower:]-]", b"-");
        yes("[a-c[:digit:]x-z]", b"5");
        yes("[a-c[:digit:]x-z]", b"y");
        no("[a-c[:digit:]x-z]", b"m");
        // "[:" without ":]" makes "[" and ":" ordinary members.
        yes("[[:]", b"[");
        yes("[[:]", b":");
        // Malformed or unknown class names, unterminated classes: never match.
        no("[[:nope:]]", b"n");
        no("[[::]]", b":");
        no("[abc", b"a");
        no("a[", b"a[");
        // Ranges with an escaped end, and a range that ends at "]".
        yes("[a-\\z]", b"q");
        yes("[a-]", b"-");
        yes("[\\]]", b"]");
        yes("[\\\\]", b"\\");
        yes("[\u{1}-\u{7f}]", b"~");
        no("[\u{1}-\u{7f}]", b"\x80");
    }

    #[test]
    fn anchors() {
        assert!(wildmatch_at(b"b*", b"a/bc", Anchor::AnySlash));
        assert!(!wildmatch_at(b"b*", b"a/bc", Anchor::Start));
        assert!(wildmatch_at(b"b/c*", b"a/b/cd", Anchor::Trailing(2)));
        assert!(!wildmatch_at(b"b/c*", b"a/b/cd", Anchor::Trailing(3)));
        // Exactly n-1 slashes: the whole text is the last n elements.
        assert!(wildmatch_at(b"a/b*", b"a/bc", Anchor::Trailing(2)));
        assert!(!wildmatch_at(b"a/b*", b"abc", Anchor::Trailing(3)));
        assert!(litmatch_at(b"b/c", b"a/b/c", Anchor::Trailing(2)));
        assert!(!litmatch_at(b"b/c", b"ab/c", Anchor::Trailing(2)));
        assert!(litmatch_at(b"/", b"/", Anchor::Start));
        assert_eq!(trailing(b"x/y/z", 1), Some(4));
        assert_eq!(trailing(b"x/y/z", 3), Some(0));
        assert_eq!(trailing(b"x/y/z", 4), None);
    }

    #[test]
    fn pathological_patterns_finish() {
        // The abort results keep these from exploring every split of the text.
        let text = vec![b'a'; 4000];
        let mut pat = b"*a".repeat(500);
        pat.push(b'b');
        assert!(!wildmatch(&pat, &text));
        let mut pat = b"**a".repeat(200);
        pat.extend_from_slice(b"/x");
        assert!(!wildmatch_at(&pat, &text, Anchor::AnySlash));
    }
}
