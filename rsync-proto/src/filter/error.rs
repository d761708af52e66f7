//! Why a filter rule, a rule file or a filter list on the wire was refused.

use std::fmt;

/// Longest piece of rule text quoted in an error message.
const QUOTE_MAX: usize = 120;

/// Rule text quoted in an error message: bytes shown with `\xNN` escapes for anything that
/// is not printable ASCII, cut after 120 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Quoted(Vec<u8>);

impl Quoted {
    pub(crate) fn new(text: &[u8]) -> Self {
        Self(text.iter().take(QUOTE_MAX + 1).copied().collect())
    }

    /// The quoted bytes (at most the first 121 bytes of the text).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0.iter().take(QUOTE_MAX) {
            if b == b' ' || b.is_ascii_graphic() {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        if self.0.len() > QUOTE_MAX {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Why rules could not be parsed, encoded or decoded.
///
/// The messages follow rsync's wording where rsync has one (`Unknown filter rule`,
/// `invalid modifier`, `unexpected end of filter rule`, …), so that a user sees the same
/// complaint from either program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// The rule starts with no known rule name or prefix character.
    #[error("Unknown filter rule: {rule}")]
    UnknownRule {
        /// The rule text.
        rule: Quoted,
    },
    /// A modifier character that this rule kind does not accept.
    #[error("invalid modifier '{}' at position {position} in filter rule: {rule}", Quoted::new(&[*.modifier]))]
    InvalidModifier {
        /// The modifier byte.
        modifier: u8,
        /// Its offset in the rule text.
        position: usize,
        /// The rule text.
        rule: Quoted,
    },
    /// A rule that needs a pattern (or file name) has none.
    #[error("unexpected end of filter rule: {rule}")]
    MissingPattern {
        /// The rule text.
        rule: Quoted,
    },
    /// `!` (clear) followed by more text.
    #[error("'!' rule has trailing characters: {rule}")]
    ClearWithText {
        /// The rule text.
        rule: Quoted,
    },
    /// A merge file that sets sides (`merge,s`, `merge,r`) holds a rule that sets sides too.
    #[error("specified-side merge file contains specified-side filter: {rule}")]
    SideConflict {
        /// The rule text.
        rule: Quoted,
    },
    /// A pattern, a rule-file line or a rule on the wire longer than rsync accepts.
    #[error("over-long filter rule ({len} bytes, at most {max}): {rule}")]
    RuleTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
        /// The start of the rule text.
        rule: Quoted,
    },
    /// A NUL byte inside a rule received from the peer (rsync's rules are C strings).
    #[error("filter rule contains a NUL byte: {rule}")]
    NulInRule {
        /// The rule text.
        rule: Quoted,
    },
    /// A per-directory merge rule (`dir-merge`, `:`, `-F`, `:C`): not supported yet.
    #[error("per-directory merge rules (dir-merge, ':', -F) are not supported yet: {rule}")]
    DirMergeUnsupported {
        /// The rule text.
        rule: Quoted,
    },
    /// A `merge` rule where no merge file may be read: no [`FilterSource`](super::FilterSource)
    /// was given, or the rule came from the peer (stock rsync expands merge files on the
    /// client and never sends them).
    #[error("merge rule not allowed here (no merge files can be read): {name}")]
    MergeUnavailable {
        /// The merge file name.
        name: Quoted,
    },
    /// The [`FilterSource`](super::FilterSource) could not read a merge file.
    #[error("failed to open merge file {name}: {source}")]
    MergeRead {
        /// The merge file name.
        name: Quoted,
        /// What the source reported.
        #[source]
        source: std::io::Error,
    },
    /// Merge files nested deeper than rsync allows (32).
    #[error("merge-file include depth limit ({max}) exceeded at {name}")]
    MergeDepth {
        /// The merge file name.
        name: Quoted,
        /// The limit.
        max: usize,
    },
    /// A rule that the negotiated protocol cannot express (rsync: "filter rules are too
    /// modern for remote rsync").
    #[error("filter rules are too modern for remote rsync (protocol {protocol}): {rule}")]
    TooModern {
        /// The rule, as rsync would print it.
        rule: Quoted,
        /// The negotiated protocol.
        protocol: u32,
    },
    /// Wire: a rule length outside `0..=max`.
    #[error("filter rule length {len} on the wire is outside 0..={max}")]
    BadLength {
        /// The length read (as a signed `int`).
        len: i32,
        /// The limit.
        max: usize,
    },
    /// Wire: more rules than the limit.
    #[error("more than {max} filter rules on the wire")]
    TooManyRules {
        /// The limit.
        max: usize,
    },
    /// Wire: more rule bytes in total than the limit.
    #[error("more than {max} bytes of filter rules on the wire")]
    ListTooLarge {
        /// The limit.
        max: usize,
    },
    /// Wire: the input ended before the `int 0` terminator.
    #[error("filter list incomplete: the int 0 terminator is missing")]
    Incomplete,
}
