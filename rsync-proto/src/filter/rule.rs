//! One filter rule: what it does, its modifiers, its pattern, and its canonical text.
//!
//! Reference: rsync `filter_rule`, the `FILTRULE_*` flags (rsync.h), `add_rule` and
//! `get_rule_prefix` (exclude.c). The bit values here are our own.

use std::fmt;

/// Rule flag bits (private; the public view is [`Rule`]'s accessors).
pub(crate) mod flag {
    /// The pattern has `*`, `?` or `[`.
    pub(crate) const WILD: u32 = 1 << 0;
    /// The pattern has `**`.
    pub(crate) const WILD2: u32 = 1 << 1;
    /// The pattern starts with `**`.
    pub(crate) const WILD2_PREFIX: u32 = 1 << 2;
    /// The pattern ends with `***`.
    pub(crate) const WILD3_SUFFIX: u32 = 1 << 3;
    /// Modifier `/`: match against the absolute path.
    pub(crate) const ABS_PATH: u32 = 1 << 4;
    /// An include (`+`, `S`, `R`), not an exclude.
    pub(crate) const INCLUDE: u32 = 1 << 5;
    /// The pattern had a trailing `/`: directories only.
    pub(crate) const DIRECTORY: u32 = 1 << 6;
    /// Merge modifier `w`: split the file on whitespace.
    pub(crate) const WORD_SPLIT: u32 = 1 << 7;
    /// Merge modifier `n`: rules not inherited by subdirectories.
    pub(crate) const NO_INHERIT: u32 = 1 << 8;
    /// Merge modifier `-`/`+`: the file holds bare patterns.
    pub(crate) const NO_PREFIXES: u32 = 1 << 9;
    /// `merge` / `.` (also set for `dir-merge`).
    pub(crate) const MERGE_FILE: u32 = 1 << 10;
    /// `dir-merge` / `:`.
    pub(crate) const PERDIR_MERGE: u32 = 1 << 11;
    /// Merge modifier `e`: exclude the merge file itself.
    pub(crate) const EXCLUDE_SELF: u32 = 1 << 12;
    /// Modifier `!`: the rule takes effect when the pattern does not match.
    pub(crate) const NEGATE: u32 = 1 << 14;
    /// Modifier `C`: the CVS excludes (`-C`) or a CVS-style merge file (`:C`).
    pub(crate) const CVS_IGNORE: u32 = 1 << 15;
    /// Modifier `s` (and `H`/`S`): applies to the sending side.
    pub(crate) const SENDER_SIDE: u32 = 1 << 16;
    /// Modifier `r` (and `P`/`R`): applies to the receiving side.
    pub(crate) const RECEIVER_SIDE: u32 = 1 << 17;
    /// `!` / `clear`: clears the list.
    pub(crate) const CLEAR_LIST: u32 = 1 << 18;
    /// Modifier `p`: ignored inside directories that are being deleted.
    pub(crate) const PERISHABLE: u32 = 1 << 19;
    /// Modifier `x`: matches xattr names, never file names.
    pub(crate) const XATTR: u32 = 1 << 20;

    /// Both side bits.
    pub(crate) const SIDES: u32 = SENDER_SIDE | RECEIVER_SIDE;
    /// What a rule read from a merge file inherits from the merge rule
    /// (rsync `FILTRULES_FROM_CONTAINER`).
    pub(crate) const FROM_CONTAINER: u32 = ABS_PATH | INCLUDE | DIRECTORY | NEGATE | PERISHABLE;
}

/// Which side of a transfer asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The sender, building its file list: an excluded name is *hidden* (not sent).
    Sender,
    /// The receiver, deciding what `--delete` removes: an excluded name is *protected*.
    Receiver,
}

/// What the first matching rule says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// An include (`+`, `S`, `R`): sent by the sender, at risk of deletion on the receiver.
    Include,
    /// An exclude (`-`, `H`, `P`): hidden by the sender, protected on the receiver.
    Exclude,
}

/// A parsed include/exclude rule (or the `-C` reference to the CVS excludes), as rsync
/// stores it: a trailing `/` is removed from the pattern and remembered as "directories
/// only".
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    pub(crate) flags: u32,
    pub(crate) pattern: Vec<u8>,
    /// Slashes in the pattern, counting a leading one (rsync `u.slash_cnt`).
    pub(crate) slash_cnt: usize,
}

impl Rule {
    /// Builds a rule from its flags and the pattern as written (rsync `add_rule`): a
    /// trailing `/` (in a pattern longer than one byte) becomes the directory-only flag, and
    /// the wildcard flags are computed.
    pub(crate) fn new(mut flags: u32, pattern: &[u8]) -> Self {
        let mut pattern = pattern.to_vec();
        if pattern.len() > 1 && pattern.last() == Some(&b'/') {
            pattern.pop();
            flags |= flag::DIRECTORY;
        }
        let slash_cnt = pattern.iter().filter(|&&b| b == b'/').count();
        flags &= !(flag::WILD | flag::WILD2 | flag::WILD2_PREFIX | flag::WILD3_SUFFIX);
        if pattern.iter().any(|b| b"*[?".contains(b)) {
            flags |= flag::WILD;
            if let Some(at) = pattern.windows(2).position(|w| w == b"**") {
                flags |= flag::WILD2;
                if at == 0 {
                    flags |= flag::WILD2_PREFIX;
                }
                if pattern.ends_with(b"***") {
                    flags |= flag::WILD3_SUFFIX;
                }
            }
        }
        Self {
            flags,
            pattern,
            slash_cnt,
        }
    }

    pub(crate) fn has(&self, bits: u32) -> bool {
        self.flags & bits != 0
    }

    /// Include or exclude.
    pub fn verdict(&self) -> Verdict {
        if self.has(flag::INCLUDE) {
            Verdict::Include
        } else {
            Verdict::Exclude
        }
    }

    /// The pattern, without the trailing `/` of a directory-only rule.
    pub fn pattern(&self) -> &[u8] {
        &self.pattern
    }

    /// The pattern ended with `/`: the rule matches directories only.
    pub fn dir_only(&self) -> bool {
        self.has(flag::DIRECTORY)
    }

    /// Modifier `!`: the rule takes effect for names the pattern does *not* match.
    pub fn negated(&self) -> bool {
        self.has(flag::NEGATE)
    }

    /// Modifier `/`: the pattern is matched against the absolute path.
    pub fn absolute(&self) -> bool {
        self.has(flag::ABS_PATH)
    }

    /// Modifier `p`: ignored inside directories that `--delete` is removing.
    pub fn perishable(&self) -> bool {
        self.has(flag::PERISHABLE)
    }

    /// Modifier `x`: the rule matches xattr names, never file names.
    pub fn xattr(&self) -> bool {
        self.has(flag::XATTR)
    }

    /// This is the `-C` rule: the CVS excludes are consulted where it stands.
    pub fn cvs_excludes(&self) -> bool {
        self.has(flag::CVS_IGNORE)
    }

    /// Whether the rule applies to `side`: a rule that names no side (`-`, `+`) applies to
    /// both; `s`/`H`/`S` only to the sender, `r`/`P`/`R` only to the receiver.
    pub fn applies_to(&self, side: Side) -> bool {
        match (
            self.has(flag::SENDER_SIDE),
            self.has(flag::RECEIVER_SIDE),
            side,
        ) {
            (false, false, _) | (true, true, _) => true,
            (true, false, s) => s == Side::Sender,
            (false, true, s) => s == Side::Receiver,
        }
    }

    /// The rule as rsync writes it (`get_rule_prefix` for display, then the pattern and the
    /// `/` of a directory-only rule), e.g. `-/! foo/`, `+s *.c`, `-C `.
    pub fn to_text(&self) -> Vec<u8> {
        let mut out = self.prefix(None).unwrap_or_default();
        out.extend_from_slice(&self.pattern);
        if self.dir_only() {
            out.push(b'/');
        }
        out
    }

    /// rsync `get_rule_prefix`: the rule letter, its modifiers and a space. With `xfer`, the
    /// prefix is made acceptable to the peer's protocol, or `None` when it cannot be.
    pub(crate) fn prefix(&self, xfer: Option<&Xfer>) -> Option<Vec<u8>> {
        let old = xfer.is_some_and(|x| x.protocol < 29);
        let mut legal_len = if old { 1 } else { 15 };
        let mut op = Vec::with_capacity(16);
        if self.has(flag::PERDIR_MERGE) {
            if old {
                return None;
            }
            op.push(b':');
        } else if self.has(flag::INCLUDE) {
            op.push(b'+');
        } else if !old || self.pattern.starts_with(b"- ") || self.pattern.starts_with(b"+ ") {
            op.push(b'-');
        } else {
            legal_len = 0;
        }
        if self.has(flag::ABS_PATH) {
            op.push(b'/');
        }
        if self.has(flag::NEGATE) {
            op.push(b'!');
        }
        if self.has(flag::CVS_IGNORE) {
            op.push(b'C');
        } else {
            if self.has(flag::NO_INHERIT) {
                op.push(b'n');
            }
            if self.has(flag::WORD_SPLIT) {
                op.push(b'w');
            }
            if self.has(flag::NO_PREFIXES) {
                op.push(if self.has(flag::INCLUDE) { b'+' } else { b'-' });
            }
        }
        if self.has(flag::EXCLUDE_SELF) {
            op.push(b'e');
        }
        if self.has(flag::XATTR) {
            op.push(b'x');
        }
        let modern = xfer.is_none_or(|x| x.protocol >= 29);
        if self.has(flag::SENDER_SIDE) && modern {
            op.push(b's');
        }
        if self.has(flag::RECEIVER_SIDE)
            && (modern || xfer.is_some_and(|x| x.delete_excluded && x.client_is_sender))
        {
            op.push(b'r');
        }
        if self.has(flag::PERISHABLE) {
            if xfer.is_none_or(|x| x.protocol >= 30) {
                op.push(b'p');
            } else if xfer.is_some_and(|x| x.client_is_sender) {
                return None;
            }
        }
        if op.len() > legal_len {
            return None;
        }
        if legal_len > 0 {
            op.push(b' ');
        }
        Some(op)
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rule({})", super::error::Quoted::new(&self.to_text()))
    }
}

/// What the prefix of a rule sent to the peer depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Xfer {
    pub(crate) protocol: u32,
    pub(crate) client_is_sender: bool,
    pub(crate) delete_excluded: bool,
}
