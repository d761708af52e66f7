//! rsync's filter rules: `--include`, `--exclude`, `--filter`, `--include-from`,
//! `--exclude-from`, their rule syntax, the matcher, and the filter list on the wire.
//!
//! A [`FilterList`] is an ordered list of rules; the **first** rule whose pattern matches a
//! name decides, and a name that no rule matches is included. The same list answers two
//! questions:
//!
//! - the sender asks with [`Side::Sender`] whether a name is *hidden* (left out of the file
//!   list; an excluded directory is not descended into);
//! - the receiver asks with [`Side::Receiver`] whether a name is *protected* from `--delete`.
//!
//! Rules without a side (`-`, `+`) answer both; `H`/`S` (or modifier `s`) only the sender,
//! `P`/`R` (or `r`) only the receiver. With `--delete-excluded`
//! ([`FilterList::set_delete_excluded`]) rules without a side become sender-only, so excluded
//! names are no longer protected.
//!
//! ```
//! use rsync_proto::filter::{FilterList, Side, Verdict};
//! let mut rules = FilterList::new();
//! rules.add_filter(b"P /keep")?;      // receiver: never delete /keep
//! rules.add_filter(b"+ */")?;         // every directory
//! rules.add_include(b"*.c")?;         // --include='*.c'
//! rules.add_exclude(b"*")?;           // --exclude='*': nothing else
//! assert!(!rules.excluded(b"src/main.c", false, Side::Sender));
//! assert!(rules.excluded(b"src/main.o", false, Side::Sender));
//! assert_eq!(rules.check(b"src", true, Side::Sender), Some(Verdict::Include));
//! // On the receiver "- *" protects everything from --delete, except what "+" risks:
//! assert!(rules.protected(b"keep", false, false));
//! assert!(rules.protected(b"notes.txt", false, false));
//! assert!(!rules.protected(b"old.c", false, false));
//! # Ok::<(), rsync_proto::filter::FilterError>(())
//! ```
//!
//! Names are bytes, relative to the transfer root (`dir/file`, no leading `./`), as rsync
//! puts them in its file list.
//!
//! Supported: every rule of rsync's "FILTER RULES" except per-directory merge files —
//! short and long rule names (`-` `+` `.` `H` `S` `P` `R` `!`, `exclude` … `clear`), the
//! modifiers `/ ! C s r p x` (and `- + e n w C` on merge rules), `merge` files through a
//! caller-supplied [`FilterSource`], the `-C` CVS excludes, rule files with rsync's comment,
//! blank-line, CR/LF and `--from0` rules, and the wire form of [`wire`]. Refused with a typed
//! error: `dir-merge` / `:` (and so `-F` and `:C`) as [`FilterError::DirMergeUnsupported`].
//! Rules with the `x` modifier are kept and sent but match xattr names only, which nothing
//! here asks about.
//!
//! [`ImpliedFilter`] is the client's check of a sender's file list against what it asked
//! for (rsync's implied filter, CVE-2022-29154).
//!
//! Spec: RFC.md §8 `[filter-list]`. Reference: rsync exclude.c, lib/wildmatch.c, options.c
//! (`--include`/`--exclude`/`--filter`/`--*-from`), rsync.1.md "FILTER RULES".

mod error;
mod implied;
mod matcher;
mod parse;
mod rule;
mod wildmatch;
pub mod wire;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wire_tests;

pub use error::{FilterError, Quoted};
pub use implied::{is_transfer_root, ImpliedFilter, ImpliedOptions, RejectedName};
pub use parse::MAX_RULE_LEN;
pub use rule::{Rule, Side, Verdict};

use matcher::{rule_matches, Name};
use parse::{Parser, Template};
use rule::flag;

/// `--filter` syntax.
const FILTER: Template = Template {
    flags: 0,
    old: false,
};
/// `--exclude` syntax: old prefixes, exclude by default.
const EXCLUDE: Template = Template {
    flags: 0,
    old: true,
};
/// `--include` syntax: old prefixes, include by default.
const INCLUDE: Template = Template {
    flags: flag::INCLUDE,
    old: true,
};

/// Where merge files and the user's CVS ignore patterns come from: the library reads no
/// file itself.
pub trait FilterSource {
    /// The contents of merge file `name`, exactly as the rule names it (`-` is standard input
    /// in rsync). rsync opens relative names from its current directory.
    ///
    /// # Errors
    /// Whatever prevented reading; the parse fails with [`FilterError::MergeRead`].
    fn merge_file(&mut self, name: &[u8]) -> std::io::Result<Vec<u8>>;

    /// The contents of `$HOME/.cvsignore`, if any, for the `-C` rule.
    fn home_cvsignore(&mut self) -> Option<Vec<u8>> {
        None
    }

    /// The value of `$CVSIGNORE`, if set, for the `-C` rule.
    fn cvsignore_env(&mut self) -> Option<Vec<u8>> {
        None
    }
}

impl<F: FnMut(&[u8]) -> std::io::Result<Vec<u8>>> FilterSource for F {
    fn merge_file(&mut self, name: &[u8]) -> std::io::Result<Vec<u8>> {
        self(name)
    }
}

/// A question to a [`FilterList`]: a name, its type, the side asking, and context.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// The name relative to the transfer root, e.g. `dir/file`.
    pub path: &'a [u8],
    /// Whether the name is a directory (directory-only rules match nothing else).
    pub is_dir: bool,
    /// The side asking.
    pub side: Side,
    /// The absolute directory `path` is relative to (rsync's current directory), needed only
    /// by rules with the `/` modifier; without it they match like plain rules.
    pub base_dir: Option<&'a [u8]>,
    /// Skip perishable (`p`) rules, as rsync does inside a directory that `--delete` removes.
    pub ignore_perishable: bool,
}

impl<'a> Query<'a> {
    /// A query for `path` on `side`, without base directory, perishable rules honoured.
    pub fn new(path: &'a [u8], is_dir: bool, side: Side) -> Self {
        Self {
            path,
            is_dir,
            side,
            base_dir: None,
            ignore_perishable: false,
        }
    }
}

/// An ordered list of filter rules (rsync's `filter_list`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterList {
    rules: Vec<Rule>,
    /// The CVS excludes, consulted where a `-C` rule stands.
    cvs: Option<Vec<Rule>>,
    delete_excluded: bool,
    from0: bool,
    protocol: Option<u32>,
}

impl FilterList {
    /// An empty list (everything included).
    pub fn new() -> Self {
        Self::default()
    }

    /// `--delete-excluded`: rules that name no side apply to the sender only, so the
    /// receiver deletes what they exclude. Affects rules added before and after the call.
    pub fn set_delete_excluded(&mut self, on: bool) {
        self.delete_excluded = on;
    }

    /// `--from0`: rule files (`--*-from`, merge files) are NUL-separated.
    pub fn set_from0(&mut self, on: bool) {
        self.from0 = on;
    }

    /// The protocol in use (default 32), which only decides whether the built-in CVS
    /// excludes of a later `-C` rule are perishable (from 30).
    pub fn set_protocol(&mut self, protocol: u32) {
        self.protocol = Some(protocol);
    }

    /// The rules in order (a `-C` rule stands for the [`FilterList::cvs_rules`]).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The CVS excludes read at the first `-C` rule, if any.
    pub fn cvs_rules(&self) -> &[Rule] {
        self.cvs.as_deref().unwrap_or_default()
    }

    /// No rules at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// `--delete-excluded` is on.
    pub fn delete_excluded(&self) -> bool {
        self.delete_excluded
    }

    /// Parses with `f` into a fresh list, then commits: the list is unchanged on error. A
    /// `!` met while parsing drops the rules that were already here.
    fn run(
        &mut self,
        source: Option<&mut dyn FilterSource>,
        from_wire: bool,
        f: impl FnOnce(&mut Parser<'_, '_>, &mut Vec<Rule>) -> Result<(), FilterError>,
    ) -> Result<(), FilterError> {
        let mut cvs = self.cvs.clone();
        let mut added = Vec::new();
        let mut p = Parser {
            source,
            cvs: &mut cvs,
            from0: self.from0,
            protocol: self.protocol.unwrap_or(32),
            delete_excluded: self.delete_excluded,
            from_wire,
            depth: 0,
            cleared: false,
            in_cvs: false,
        };
        f(&mut p, &mut added)?;
        if p.cleared {
            self.rules.clear();
        }
        self.rules.extend(added);
        self.cvs = cvs;
        Ok(())
    }

    /// `--filter=RULE` / `-f RULE`: one rule in the full syntax. A `merge` rule fails with
    /// [`FilterError::MergeUnavailable`]; use [`FilterList::add_filter_with`] to read it.
    ///
    /// # Errors
    /// A syntax error, a pattern over 4095 bytes, or an unsupported rule (see
    /// [`FilterError`]). On error the list is unchanged (rsync exits).
    pub fn add_filter(&mut self, rule: &[u8]) -> Result<(), FilterError> {
        self.run(None, false, |p, list| p.parse_str(list, rule, FILTER))
    }

    /// `--filter=RULE`, reading `merge` files (and the user's CVS patterns) from `source`.
    ///
    /// # Errors
    /// As [`FilterList::add_filter`], plus [`FilterError::MergeRead`] and
    /// [`FilterError::MergeDepth`].
    pub fn add_filter_with(
        &mut self,
        rule: &[u8],
        source: &mut dyn FilterSource,
    ) -> Result<(), FilterError> {
        self.run(Some(source), false, |p, list| {
            p.parse_str(list, rule, FILTER)
        })
    }

    /// `--exclude=PATTERN`: an exclude of the pattern as written, except that rsync also
    /// honours a leading `+ ` or `- ` and takes a lone `!` as "clear".
    ///
    /// # Errors
    /// An empty pattern or a pattern over 4095 bytes; the list is then unchanged.
    pub fn add_exclude(&mut self, pattern: &[u8]) -> Result<(), FilterError> {
        self.run(None, false, |p, list| p.parse_str(list, pattern, EXCLUDE))
    }

    /// `--include=PATTERN` (the same prefixes as [`FilterList::add_exclude`]).
    ///
    /// # Errors
    /// An empty pattern or a pattern over 4095 bytes; the list is then unchanged.
    pub fn add_include(&mut self, pattern: &[u8]) -> Result<(), FilterError> {
        self.run(None, false, |p, list| p.parse_str(list, pattern, INCLUDE))
    }

    /// `--exclude-from=FILE`, given the file's contents: one pattern per line (per NUL with
    /// `--from0`), blank lines and lines starting with `;` or `#` skipped.
    ///
    /// # Errors
    /// A line over [`MAX_RULE_LEN`] bytes, or as [`FilterList::add_exclude`].
    pub fn add_exclude_from(&mut self, contents: &[u8]) -> Result<(), FilterError> {
        self.run(None, false, |p, list| {
            p.parse_file(list, contents, EXCLUDE, b"--exclude-from")
        })
    }

    /// `--include-from=FILE`, given the file's contents.
    ///
    /// # Errors
    /// As [`FilterList::add_exclude_from`].
    pub fn add_include_from(&mut self, contents: &[u8]) -> Result<(), FilterError> {
        self.run(None, false, |p, list| {
            p.parse_file(list, contents, INCLUDE, b"--include-from")
        })
    }

    /// A rule received from the peer (rsync `recv_filter_list`): the full syntax from
    /// protocol 29, only `- `/`+ `/`!` before. Merge rules are refused
    /// ([`FilterError::MergeUnavailable`]), as are NUL bytes.
    ///
    /// # Errors
    /// As [`FilterList::add_filter`], plus [`FilterError::NulInRule`] and
    /// [`FilterError::RuleTooLong`] over [`MAX_RULE_LEN`] bytes.
    pub fn add_wire_rule(&mut self, rule: &[u8], protocol: u32) -> Result<(), FilterError> {
        if rule.len() > MAX_RULE_LEN {
            return Err(FilterError::RuleTooLong {
                len: rule.len(),
                max: MAX_RULE_LEN,
                rule: Quoted::new(rule),
            });
        }
        if rule.contains(&0) {
            return Err(FilterError::NulInRule {
                rule: Quoted::new(rule),
            });
        }
        let t = if protocol < 29 { EXCLUDE } else { FILTER };
        self.run(None, true, |p, list| {
            p.protocol = p.protocol.min(protocol);
            p.parse_str(list, rule, t)
        })
    }

    /// The list a server builds from the rules it received (see [`wire`]).
    ///
    /// # Errors
    /// As [`FilterList::add_wire_rule`], for the first bad rule.
    pub fn from_wire<R: AsRef<[u8]>>(
        rules: &[R],
        protocol: u32,
        delete_excluded: bool,
    ) -> Result<Self, FilterError> {
        let mut list = Self::new();
        list.set_delete_excluded(delete_excluded);
        list.set_protocol(protocol);
        for r in rules {
            list.add_wire_rule(r.as_ref(), protocol)?;
        }
        Ok(list)
    }

    /// Whether `rule` applies to `side`, `--delete-excluded` included (rsync elides rules
    /// for the other side in `send_rules`).
    fn applies(&self, rule: &Rule, side: Side) -> bool {
        if self.delete_excluded && !rule.has(flag::SIDES | flag::MERGE_FILE) {
            side == Side::Sender
        } else {
            rule.applies_to(side)
        }
    }

    /// The first rule that matches `q` (rsync `check_filter`).
    pub fn matching_rule(&self, q: &Query<'_>) -> Option<&Rule> {
        let name = Name {
            path: q.path,
            is_dir: q.is_dir,
            base_dir: q.base_dir,
        };
        self.first_match(&self.rules, q, &name)
    }

    fn first_match<'r>(
        &'r self,
        rules: &'r [Rule],
        q: &Query<'_>,
        name: &Name<'_>,
    ) -> Option<&'r Rule> {
        for rule in rules {
            if q.ignore_perishable && rule.perishable() {
                continue;
            }
            if rule.cvs_excludes() {
                if let Some(hit) = self.first_match(self.cvs_rules(), q, name) {
                    return Some(hit);
                }
                continue;
            }
            if rule.xattr() || !self.applies(rule, q.side) {
                continue;
            }
            if rule_matches(rule, name) {
                return Some(rule);
            }
        }
        None
    }

    /// What the first matching rule says about `path` for `side`; `None` when no rule
    /// matches (the name is then included).
    pub fn check(&self, path: &[u8], is_dir: bool, side: Side) -> Option<Verdict> {
        self.matching_rule(&Query::new(path, is_dir, side))
            .map(Rule::verdict)
    }

    /// Whether `path` is excluded for `side`: hidden from the file list ([`Side::Sender`])
    /// or protected from deletion ([`Side::Receiver`]).
    pub fn excluded(&self, path: &[u8], is_dir: bool, side: Side) -> bool {
        self.check(path, is_dir, side) == Some(Verdict::Exclude)
    }

    /// Receiver: `path` is protected from `--delete` (inside a directory being deleted, pass
    /// `ignore_perishable`).
    pub fn protected(&self, path: &[u8], is_dir: bool, ignore_perishable: bool) -> bool {
        let q = Query {
            ignore_perishable,
            ..Query::new(path, is_dir, Side::Receiver)
        };
        self.matching_rule(&q).map(Rule::verdict) == Some(Verdict::Exclude)
    }
}
