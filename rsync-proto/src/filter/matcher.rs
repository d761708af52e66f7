//! Whether one rule matches one name (rsync `rule_matches`, exclude.c).
//!
//! - A pattern with no `/` (a trailing one does not count) and no `**` is matched against the
//!   last component of the name only.
//! - Otherwise it is matched against the whole name: from the start when it begins with `/`
//!   (anchored) or with `**`; at any `/` when it holds `**` elsewhere; and against the last
//!   *k + 1* components when it holds *k* slashes and no `**`.
//! - A leading `**/` also matches at the top level (`**/foo` matches `foo`).
//! - A pattern ending in `/***` also matches the directory itself (`dir/***` matches `dir`).
//! - A directory-only rule never matches a non-directory.
//! - With the `/` modifier the name is prefixed with the absolute directory it lives in.
//! - `!` inverts all of the above, except that an empty name never matches.

use std::borrow::Cow;

use super::rule::{flag, Rule};
use super::wildmatch::{litmatch_at, wildmatch_at, Anchor};

/// The name being checked and its context.
pub(crate) struct Name<'a> {
    /// The name relative to the transfer root, e.g. `dir/file` (may start with `/`).
    pub(crate) path: &'a [u8],
    pub(crate) is_dir: bool,
    /// The absolute directory `path` is relative to, for `/`-modifier rules.
    pub(crate) base_dir: Option<&'a [u8]>,
}

/// rsync `rule_matches`.
pub(crate) fn rule_matches(rule: &Rule, n: &Name<'_>) -> bool {
    let hit = !rule.has(flag::NEGATE);
    let rooted = n.path.first() == Some(&b'/');
    let mut name = if rooted {
        n.path.get(1..).unwrap_or_default()
    } else {
        n.path
    };
    if name.is_empty() {
        return false;
    }
    let wild2 = rule.has(flag::WILD2);
    let abs_dir = n
        .base_dir
        .filter(|_| rule.has(flag::ABS_PATH) && !rooted)
        .map(base_dir_text)
        .filter(|d| !d.is_empty());
    let mut prefix: Vec<u8> = Vec::new();
    if rule.slash_cnt == 0 && !wild2 {
        if let Some(slash) = name.iter().rposition(|&b| b == b'/') {
            name = name.get(slash + 1..).unwrap_or_default();
        }
    } else if let Some(dir) = abs_dir {
        prefix.extend_from_slice(dir);
        prefix.push(b'/');
    } else if rule.has(flag::WILD2_PREFIX) && !rooted {
        prefix.push(b'/');
    }
    let mut suffix = false;
    if n.is_dir {
        suffix = rule.has(flag::WILD3_SUFFIX);
    } else if rule.has(flag::DIRECTORY) {
        return !hit;
    }
    let joined = !prefix.is_empty() || suffix;
    let text: Cow<'_, [u8]> = if joined {
        prefix.extend_from_slice(name);
        if suffix {
            prefix.push(b'/');
        }
        Cow::Owned(prefix)
    } else {
        Cow::Borrowed(name)
    };

    let (anchored, pattern) = match rule.pattern.split_first() {
        Some((b'/', rest)) => (true, rest),
        _ => (false, rule.pattern.as_slice()),
    };
    let anchor = if !anchored && rule.slash_cnt > 0 && !wild2 {
        Anchor::Trailing(rule.slash_cnt + 1)
    } else if !anchored && wild2 && !rule.has(flag::WILD2_PREFIX) {
        Anchor::AnySlash
    } else {
        Anchor::Start
    };

    let matched = if rule.has(flag::WILD) {
        wildmatch_at(pattern, &text, anchor)
    } else if joined {
        litmatch_at(pattern, &text, anchor)
    } else if anchored {
        name == pattern
    } else {
        // The pattern equals the name's tail, starting at a component boundary.
        name.len() >= pattern.len()
            && name.ends_with(pattern)
            && (name.len() == pattern.len()
                || name.get(name.len() - pattern.len() - 1) == Some(&b'/'))
    };
    if matched {
        hit
    } else {
        !hit
    }
}

/// rsync uses `curr_dir` past its leading `/` and only when it is more than `/`.
fn base_dir_text(dir: &[u8]) -> &[u8] {
    let mut d = dir;
    while let Some(rest) = d.strip_prefix(b"/") {
        d = rest;
    }
    while let Some(rest) = d.strip_suffix(b"/") {
        d = rest;
    }
    d
}
