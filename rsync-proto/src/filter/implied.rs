//! The implied filter: which file-list names a pulling client asked for.
//!
//! A client that receives from a remote sender names what it wants (the source operands of
//! a pull, or the names of a local `--files-from` list), and a sender that lists anything
//! else is hostile (CVE-2022-29154: a malicious server could write outside what the user
//! requested). Like rsync since 3.2.5, each requested name becomes an include rule; a name
//! in the received file list that no rule matches is rejected ([`RejectedName`], rsync's
//! exit code 4). `--trust-sender` turns the check off.
//!
//! From one operand (the part after `HOST:`), as rsync's `add_implied_include`:
//!
//! - without `-R` only its last component counts (`src/a` asks for `a`; `src/` for the
//!   transfer root's contents); with `-R` the whole path, or what follows a `/./` marker,
//!   and each parent directory is allowed as a directory (`src/a` allows the directory
//!   `src`, not a file `src`);
//! - `-r` allows everything below it (`a/**`), `-d` (or `--files-from`) one level (`a/*`);
//! - the operand's wildcards stay wildcards (a remote shell expands them), and a `[`
//!   also matches literally in case the expansion failed; a backslash escapes as in a
//!   pattern;
//! - `.`, `./` and repeated slashes are dropped (`./a/` is `a`).
//!
//! A directory the client asked for only as a parent ([`ImpliedFilter::parent_only`]) is
//! also never a content directory, whatever flags the sender set, so `--delete` cannot be
//! steered into its other entries.
//!
//! Reference: rsync exclude.c `add_implied_include`, `maybe_add_literal_brackets_rule`,
//! `is_implied_parent_dir`; flist.c `recv_file_entry`; main.c `client_run`.

use std::fmt;

use super::matcher::{rule_matches, Name};
use super::rule::{flag, Rule};

/// Longest pattern an implied rule is built from (rsync's `MAXPATHLEN`); a longer operand
/// cannot name anything a file list may hold and adds no rule.
const MAX_ARG_LEN: usize = 4096;

/// The transfer options that shape the implied rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImpliedOptions {
    /// `-R`/`--relative` (implied by `--files-from`): the whole path is requested.
    pub relative: bool,
    /// `-r`/`--recursive` (or `-a`): everything below a requested directory.
    pub recursive: bool,
    /// `-d`/`--dirs` (implied by `-r` and `--files-from`): a requested directory's entries.
    pub dirs: bool,
}

/// The implied include rules of a pull (rsync's `implied_filter_list`).
///
/// ```
/// use rsync_proto::filter::{ImpliedFilter, ImpliedOptions};
/// let opts = ImpliedOptions { recursive: true, dirs: true, ..Default::default() };
/// let f = ImpliedFilter::from_args([&b"src/a"[..]], opts);
/// assert!(f.allows(b"a", true));
/// assert!(f.allows(b"a/deep/file", false));
/// assert!(!f.allows(b"b", false));
/// assert!(!f.allows(b"ab", false));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImpliedFilter {
    opts: ImpliedOptions,
    /// Include rules; their order does not matter (every rule includes).
    rules: Vec<Rule>,
}

impl ImpliedFilter {
    /// An empty filter (no check) for operands read with `opts`.
    pub fn new(opts: ImpliedOptions) -> Self {
        Self {
            opts,
            rules: Vec::new(),
        }
    }

    /// The filter of several operands.
    pub fn from_args<'a>(args: impl IntoIterator<Item = &'a [u8]>, opts: ImpliedOptions) -> Self {
        let mut f = Self::new(opts);
        for a in args {
            f.add_arg(a);
        }
        f
    }

    /// No rule at all: rsync then checks nothing (e.g. a pull of `src/` without `-r`/`-d`).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules in the order rsync adds them, as its `--debug=filter3` prints them
    /// (`add_implied_include(...)`): a directory-only rule ends with `/`.
    pub fn patterns(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.rules.iter().map(|r| {
            let mut p = r.pattern.clone();
            if r.dir_only() {
                p.push(b'/');
            }
            p
        })
    }

    /// Adds the rules of one requested name: a source operand of a pull (without its
    /// `HOST:`) or a name of the client's `--files-from` list.
    pub fn add_arg(&mut self, arg: &[u8]) {
        if arg.len() >= MAX_ARG_LEN {
            return;
        }
        let mut arg = arg;
        if self.opts.relative {
            if let Some(at) = find(arg, b"/./") {
                arg = arg.get(at + 3..).unwrap_or_default();
            }
        } else if let Some(at) = arg.iter().rposition(|&b| b == b'/') {
            arg = arg.get(at + 1..).unwrap_or_default();
        }
        if arg == b"." {
            arg = b"";
        }
        let wild = arg.iter().any(|b| b"*[?".contains(b));
        let leaf = (!arg.is_empty()).then(|| leaf_pattern(arg, wild));
        let (base, slash_cnt, backslashes, live_bracket) = match &leaf {
            Some(l) => (
                l.pattern.clone(),
                l.slash_cnt,
                l.backslashes,
                l.live_bracket,
            ),
            None => (Vec::new(), 0, 0, false),
        };
        if let Some(l) = leaf.filter(|l| !l.pattern.is_empty()) {
            let rule = Rule {
                flags: flag::INCLUDE | if wild { flag::WILD } else { 0 },
                pattern: l.pattern,
                slash_cnt: l.slash_cnt,
            };
            self.push(rule.clone(), l.live_bracket);
            if self.opts.relative && rule.slash_cnt > 0 {
                self.add_parents(&rule, wild, l.live_bracket);
            }
        }
        if self.opts.recursive || self.opts.dirs {
            // The operand's contents: `/**` below it with -r, `/*` with -d.
            let mut pattern = if !wild && backslashes > 0 {
                // The pattern becomes a wildcard: its literal backslashes need escaping.
                base.iter().fold(Vec::new(), |mut v, &b| {
                    if b == b'\\' {
                        v.push(b'\\');
                    }
                    v.push(b);
                    v
                })
            } else {
                base
            };
            pattern.extend_from_slice(if self.opts.recursive { b"/**" } else { b"/*" });
            let rule = Rule {
                flags: flag::INCLUDE
                    | flag::WILD
                    | if self.opts.recursive { flag::WILD2 } else { 0 },
                pattern,
                slash_cnt: slash_cnt + 1,
            };
            self.push(rule, live_bracket);
        }
    }

    /// With `-R`: each parent directory of `rule` as a directory-only rule, until one that
    /// is already there.
    fn add_parents(&mut self, rule: &Rule, wild: bool, live_bracket: bool) {
        let mut cut = rule.pattern.as_slice();
        let mut slash_cnt = rule.slash_cnt;
        while let Some(at) = cut.iter().rposition(|&b| b == b'/').filter(|&at| at > 0) {
            cut = cut.get(..at).unwrap_or_default();
            if self.rules.iter().any(|r| r.pattern == cut) {
                break;
            }
            slash_cnt = slash_cnt.saturating_sub(1);
            let sub_wild = wild && cut.iter().any(|b| b"*[?\\".contains(b));
            let parent = Rule {
                flags: flag::INCLUDE | flag::DIRECTORY | if sub_wild { flag::WILD } else { 0 },
                pattern: cut.to_vec(),
                slash_cnt,
            };
            self.push(parent, live_bracket);
        }
    }

    /// Adds `rule`, and with a `[` in it the same rule matching the brackets literally.
    fn push(&mut self, rule: Rule, live_bracket: bool) {
        let literal = live_bracket.then(|| literal_brackets(&rule)).flatten();
        self.rules.push(rule);
        self.rules.extend(literal);
    }

    /// Whether `name` (relative to the transfer root, as in the file list) was requested.
    /// An empty filter allows everything, as does the transfer root `.` (which rsync does
    /// not check).
    pub fn allows(&self, name: &[u8], is_dir: bool) -> bool {
        if self.rules.is_empty() || is_root(name) {
            return true;
        }
        let n = Name {
            path: name,
            is_dir,
            base_dir: None,
        };
        self.rules.iter().any(|r| rule_matches(r, &n))
    }

    /// Whether directory `name` was requested only as the parent of a requested name (a
    /// `-R` implied directory), never as content: rsync then treats it as an implied
    /// directory whatever the sender flagged. The transfer root is parent-only unless an
    /// operand asked for the root's contents.
    pub fn parent_only(&self, name: &[u8]) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        if is_root(name) {
            return !self
                .rules
                .iter()
                .any(|r| r.pattern == b"/**" || r.pattern == b"/*");
        }
        let n = Name {
            path: name,
            is_dir: true,
            base_dir: None,
        };
        let mut parent = false;
        for r in self.rules.iter().filter(|r| rule_matches(r, &n)) {
            if !r.has(flag::DIRECTORY) {
                return false;
            }
            parent = true;
        }
        parent
    }
}

/// The transfer root as a file list names it.
fn is_root(name: &[u8]) -> bool {
    name == b"." || name == b"/."
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The anchored pattern of one operand and what building it found.
struct Leaf {
    pattern: Vec<u8>,
    slash_cnt: usize,
    /// Backslashes kept literally (not escaping a wildcard).
    backslashes: usize,
    /// A `[` was kept (rsync's `saw_live_open_brkt`).
    live_bracket: bool,
}

/// rsync's rewriting of an operand into an anchored pattern: a leading `/`, repeated
/// slashes, trailing slashes, `./` and a final `/.` removed; in a wildcard pattern a
/// backslash that escapes no wildcard is doubled; `\]` outside one drops its backslash.
fn leaf_pattern(arg: &[u8], wild: bool) -> Leaf {
    let mut p: Vec<u8> = Vec::with_capacity(arg.len() + 8);
    p.push(b'/');
    let mut slash_cnt: usize = 1;
    let mut backslashes = 0;
    let mut live_bracket = false;
    let at = |i: usize| arg.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while i < arg.len() {
        let c = at(i);
        let last = p.last().copied().unwrap_or(0);
        match c {
            b'\\' => {
                let next = at(i + 1);
                if next == b']' {
                    if !wild {
                        i += 1;
                    }
                } else if next == 0 || !b"*[?".contains(&next) {
                    backslashes += 1;
                    if wild {
                        p.push(b'\\');
                    }
                }
                p.push(at(i));
                i += 1;
            }
            b'/' => {
                if last == b'/' {
                    i += 1;
                    if i >= arg.len() {
                        slash_cnt = slash_cnt.saturating_sub(1);
                        p.pop();
                    }
                } else if i + 1 >= arg.len() {
                    i += 1;
                } else {
                    slash_cnt += 1;
                    p.push(c);
                    i += 1;
                }
            }
            b'.' if last == b'/' && at(i + 1) == b'/' => {
                i += 2;
                if i >= arg.len() {
                    slash_cnt = slash_cnt.saturating_sub(1);
                    p.pop();
                }
            }
            b'.' if last == b'/' && i + 1 >= arg.len() => {
                i += 1;
                slash_cnt = slash_cnt.saturating_sub(1);
                p.pop();
            }
            _ => {
                if c == b'[' {
                    live_bracket = true;
                }
                p.push(c);
                i += 1;
            }
        }
    }
    Leaf {
        pattern: p,
        slash_cnt,
        backslashes,
        live_bracket,
    }
}

/// rsync's `maybe_add_literal_brackets_rule`: the same rule with each unescaped `[`
/// escaped, so that a name with literal brackets (a failed remote glob) still matches.
fn literal_brackets(rule: &Rule) -> Option<Rule> {
    let pat = &rule.pattern;
    let mut out = Vec::with_capacity(pat.len() + 4);
    let mut escaped_any = false;
    let mut i = 0;
    while let Some(&c) = pat.get(i) {
        if c == b'\\' {
            if let Some(&n) = pat.get(i + 1) {
                out.extend_from_slice(&[c, n]);
                i += 2;
                continue;
            }
        } else if c == b'[' {
            out.push(b'\\');
            escaped_any = true;
        }
        out.push(c);
        i += 1;
    }
    escaped_any.then_some(Rule {
        flags: rule.flags,
        pattern: out,
        slash_cnt: rule.slash_cnt,
    })
}

/// Why the client refused a name of the sender's file list (rsync flist.c
/// `recv_file_entry`; exit code 4, `RERR_UNSUPPORTED`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectedName {
    /// No source operand (or `--files-from` name) asked for it.
    #[error("rejecting unrequested file-list name: {}", Lossy(.name))]
    Unrequested {
        /// The name as listed.
        name: Vec<u8>,
    },
    /// The client's own filter rules exclude it (the sender should have left it out).
    #[error("rejecting excluded file-list name: {}", Lossy(.name))]
    Excluded {
        /// The name as listed.
        name: Vec<u8>,
    },
    /// The transfer root `.` listed as something other than a directory (which `--force`
    /// would let replace the destination directory). Any receiver refuses it; exit code 2
    /// (`RERR_PROTOCOL`), not 4.
    #[error("rejecting non-directory transfer-root entry: {}", Lossy(.name))]
    RootNotDirectory {
        /// The name as listed (`.` or `/.`).
        name: Vec<u8>,
    },
}

impl RejectedName {
    /// rsync's exit code: 2 (`RERR_PROTOCOL`) for a non-directory transfer root, else 4
    /// (`RERR_UNSUPPORTED`).
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::RootNotDirectory { .. } => 2,
            Self::Unrequested { .. } | Self::Excluded { .. } => 4,
        }
    }
}

/// Whether `name` is the transfer root as a file list names it (`.`, or `/.` under `-R`).
pub fn is_transfer_root(name: &[u8]) -> bool {
    is_root(name)
}

/// A name shown with `\#ooo` escapes for control bytes, as rsync shows unsafe names.
struct Lossy<'a>(&'a [u8]);

impl fmt::Display for Lossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for ch in chunk.valid().chars() {
                if ch.is_control() {
                    write!(f, "\\#{:03o}", u32::from(ch))?;
                } else {
                    write!(f, "{ch}")?;
                }
            }
            for &b in chunk.invalid() {
                write!(f, "\\#{b:03o}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "implied_tests.rs"]
mod tests;
