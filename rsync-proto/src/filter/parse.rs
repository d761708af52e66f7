//! The rule syntax: one rule's prefix and modifiers, rule strings, rule files, merge files and
//! the CVS excludes.
//!
//! Reference: rsync `parse_rule_tok`, `parse_filter_str`, `parse_filter_file` and
//! `get_cvs_excludes` (exclude.c), `DEFAULT_CVSIGNORE` (the `--cvs-exclude` list of
//! rsync.1.md). Where rsync prints "discarding over-long filter" and goes on, we refuse.

use super::error::{FilterError, Quoted};
use super::rule::{flag, Rule};
use super::FilterSource;

/// Longest pattern rsync keeps (`MAXPATHLEN`, 4096, exclusive).
pub(crate) const MAX_PATTERN_LEN: usize = 4095;
/// Longest line of a rule file and longest rule on the wire (`BIGPATHBUFLEN - 1`).
pub const MAX_RULE_LEN: usize = 4096 + 1024 - 1;
/// Deepest nesting of merge files (rsync `MAX_MERGE_DEPTH`).
pub(crate) const MAX_MERGE_DEPTH: usize = 32;

/// rsync's built-in CVS excludes (the `--cvs-exclude` list in rsync.1.md).
pub(crate) const DEFAULT_CVSIGNORE: &[u8] = b"RCS SCCS CVS CVS.adm RCSLOG cvslog.* tags TAGS \
.make.state .nse_depinfo *~ #* .#* ,* _$* *$ *.old *.bak *.BAK *.orig *.rej .del-* *.a *.olb \
*.o *.obj *.so *.exe *.Z *.elc *.ln core .svn/ .git/ .hg/ .bzr/";

/// C `isspace` in the C locale.
pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// How the text being parsed is to be read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Template {
    /// Flags of the enclosing merge rule (or 0 / INCLUDE for plain options).
    pub(crate) flags: u32,
    /// rsync `XFLG_OLD_PREFIXES`: only `- `, `+ ` and `!` are recognised (`--include`,
    /// `--exclude`, their `-from` files, and rules from a peer below protocol 29).
    pub(crate) old: bool,
}

/// One rule token: its flags, its pattern and the text after it.
#[derive(Debug)]
pub(crate) struct Token<'t> {
    pub(crate) flags: u32,
    pub(crate) pattern: &'t [u8],
    pub(crate) rest: &'t [u8],
}

/// rsync `rule_strcmp`: `s` starts with the long rule name `word`, followed by the end, a
/// space, `_` or `,`. Returns the offset of the byte before the modifiers.
fn long_name(s: &[u8], word: &[u8]) -> Option<usize> {
    let after = s.strip_prefix(word)?;
    match after.first() {
        None | Some(b'_') => Some(word.len() - 1),
        Some(&c) if is_space(c) => Some(word.len() - 1),
        Some(b',') => Some(word.len()),
        Some(_) => None,
    }
}

/// rsync `parse_rule_tok`: the next rule of `s`, or `None` at the end.
pub(crate) fn next_token(s: &[u8], t: Template) -> Result<Option<Token<'_>>, FilterError> {
    let word_split = t.flags & flag::WORD_SPLIT != 0;
    let s = if word_split {
        let skip = s.iter().take_while(|&&b| is_space(b)).count();
        s.get(skip..).unwrap_or_default()
    } else {
        s
    };
    let Some(&first) = s.first() else {
        return Ok(None);
    };
    let mut flags = t.flags & flag::FROM_CONTAINER;
    let mut i = 0;
    if t.flags & flag::NO_PREFIXES != 0 {
        if first == b'!' && t.flags & flag::CVS_IGNORE != 0 {
            flags |= flag::CLEAR_LIST;
        }
    } else if t.old {
        match (first, s.get(1)) {
            (b'-', Some(b' ')) => {
                flags &= !flag::INCLUDE;
                i = 2;
            }
            (b'+', Some(b' ')) => {
                flags |= flag::INCLUDE;
                i = 2;
            }
            (b'!', _) => flags |= flag::CLEAR_LIST,
            _ => {}
        }
    } else {
        i = prefix(s, &mut flags, word_split)?;
    }
    if t.flags & flag::SIDES != 0 {
        if flags & flag::SIDES != 0 {
            return Err(FilterError::SideConflict {
                rule: Quoted::new(s),
            });
        }
        flags |= t.flags & flag::SIDES;
    }
    let tail = s.get(i..).unwrap_or_default();
    let len = if word_split {
        tail.iter().take_while(|&&b| !is_space(b)).count()
    } else {
        tail.len()
    };
    let (pattern, rest) = tail.split_at(len.min(tail.len()));
    if flags & flag::CLEAR_LIST != 0 {
        if t.flags & flag::NO_PREFIXES == 0 && !t.old && len > 0 {
            return Err(FilterError::ClearWithText {
                rule: Quoted::new(s),
            });
        }
        if len > 1 {
            flags &= !flag::CLEAR_LIST;
        }
    } else if len == 0 && flags & flag::CVS_IGNORE == 0 {
        return Err(FilterError::MissingPattern {
            rule: Quoted::new(s),
        });
    }
    Ok(Some(Token {
        flags,
        pattern,
        rest,
    }))
}

/// Parses the rule name or prefix character and the modifiers of a full-syntax rule.
/// Returns the offset of the pattern.
fn prefix(s: &[u8], flags: &mut u32, word_split: bool) -> Result<usize, FilterError> {
    let unknown = || FilterError::UnknownRule {
        rule: Quoted::new(s),
    };
    let long = |word: &[u8], ch: u8| long_name(s, word).map(|i| (ch, i)).ok_or_else(unknown);
    let (ch, mut i) = match s.first().copied().unwrap_or(0) {
        b'c' => long(b"clear", b'!')?,
        b'd' => long(b"dir-merge", b':')?,
        b'e' => long(b"exclude", b'-')?,
        b'h' => long(b"hide", b'H')?,
        b'i' => long(b"include", b'+')?,
        b'm' => long(b"merge", b'.')?,
        b'p' => long(b"protect", b'P')?,
        b'r' => long(b"risk", b'R')?,
        b's' => long(b"show", b'S')?,
        c => (c, usize::from(s.get(1) == Some(&b','))),
    };
    let mut side_prefix = false;
    match ch {
        b':' => *flags |= flag::PERDIR_MERGE | flag::MERGE_FILE,
        b'.' => *flags |= flag::MERGE_FILE,
        b'+' => *flags |= flag::INCLUDE,
        b'-' => {}
        b'S' | b'H' | b'R' | b'P' => {
            side_prefix = true;
            if matches!(ch, b'S' | b'R') {
                *flags |= flag::INCLUDE;
            }
            *flags |= if matches!(ch, b'S' | b'H') {
                flag::SENDER_SIDE
            } else {
                flag::RECEIVER_SIDE
            };
        }
        b'!' => *flags |= flag::CLEAR_LIST,
        _ => return Err(unknown()),
    }
    if ch != b'!' {
        loop {
            i += 1;
            let Some(&m) = s.get(i) else { break };
            if m == b' ' || m == b'_' {
                break;
            }
            if word_split && is_space(m) {
                i -= 1;
                break;
            }
            modifier(s, i, m, side_prefix, flags)?;
        }
    }
    if i < s.len() {
        i += 1;
    }
    Ok(i)
}

/// Applies modifier `m` (at offset `i` of `s`) to `flags`.
fn modifier(
    s: &[u8],
    i: usize,
    m: u8,
    side_prefix: bool,
    flags: &mut u32,
) -> Result<(), FilterError> {
    let is_merge = *flags & flag::MERGE_FILE != 0;
    let ok = match m {
        b'-' | b'+' if is_merge && *flags & flag::NO_PREFIXES == 0 => {
            *flags |= flag::NO_PREFIXES | if m == b'+' { flag::INCLUDE } else { 0 };
            true
        }
        b'/' => {
            *flags |= flag::ABS_PATH;
            true
        }
        b'!' if !is_merge => {
            *flags |= flag::NEGATE;
            true
        }
        b'C' if *flags & flag::NO_PREFIXES == 0 && !side_prefix => {
            *flags |= flag::NO_PREFIXES | flag::WORD_SPLIT | flag::NO_INHERIT | flag::CVS_IGNORE;
            true
        }
        b'e' if is_merge => {
            *flags |= flag::EXCLUDE_SELF;
            true
        }
        b'n' if is_merge => {
            *flags |= flag::NO_INHERIT;
            true
        }
        b'w' if is_merge => {
            *flags |= flag::WORD_SPLIT;
            true
        }
        b'p' => {
            *flags |= flag::PERISHABLE;
            true
        }
        b'r' if !side_prefix => {
            *flags |= flag::RECEIVER_SIDE;
            true
        }
        b's' if !side_prefix => {
            *flags |= flag::SENDER_SIDE;
            true
        }
        b'x' => {
            *flags |= flag::XATTR;
            true
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(FilterError::InvalidModifier {
            modifier: m,
            position: i,
            rule: Quoted::new(s),
        })
    }
}

/// Splits rule-file contents into rules (rsync `parse_filter_file`): lines end at LF, CR or
/// CRLF (at NUL with `--from0`); with word splitting, whitespace ends a rule too. Empty
/// rules are skipped, and so are lines starting with `;` or `#` unless word splitting.
pub(crate) fn file_rules(
    contents: &[u8],
    word_split: bool,
    from0: bool,
) -> impl Iterator<Item = Result<&[u8], FilterError>> {
    let mut rest = contents;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .iter()
            .position(|&b| {
                (word_split && is_space(b))
                    || if from0 {
                        b == 0
                    } else {
                        b == b'\n' || b == b'\r'
                    }
            })
            .unwrap_or(rest.len());
        let (line, after) = rest.split_at(end);
        // A CRLF ends one line (without word splitting, where the CR alone is a separator).
        let crlf = !from0 && !word_split && after.starts_with(b"\r\n");
        let skip = if crlf {
            2
        } else {
            usize::from(!after.is_empty())
        };
        rest = after.get(skip..).unwrap_or_default();
        if line.len() > MAX_RULE_LEN {
            return Some(Err(FilterError::RuleTooLong {
                len: line.len(),
                max: MAX_RULE_LEN,
                rule: Quoted::new(line),
            }));
        }
        if !line.is_empty() && (word_split || !matches!(line.first(), Some(b';' | b'#'))) {
            return Some(Ok(line));
        }
    })
}

/// Parsing state shared by nested merge files.
pub(crate) struct Parser<'a, 's> {
    pub(crate) source: Option<&'a mut (dyn FilterSource + 's)>,
    /// The CVS excludes, read once at the first `-C` rule.
    pub(crate) cvs: &'a mut Option<Vec<Rule>>,
    pub(crate) from0: bool,
    pub(crate) protocol: u32,
    pub(crate) delete_excluded: bool,
    /// Rules from the peer: merge rules are refused.
    pub(crate) from_wire: bool,
    pub(crate) depth: usize,
    /// A `!` cleared the list being added to (and so the rules it was added to).
    pub(crate) cleared: bool,
    /// Parsing the CVS excludes, whose `!` clears only them.
    pub(crate) in_cvs: bool,
}

impl Parser<'_, '_> {
    /// rsync `parse_filter_str`: every rule of `text` into `list`.
    pub(crate) fn parse_str(
        &mut self,
        list: &mut Vec<Rule>,
        text: &[u8],
        t: Template,
    ) -> Result<(), FilterError> {
        let mut s = text;
        while let Some(tok) = next_token(s, t)? {
            s = tok.rest;
            let mut flags = tok.flags;
            if tok.pattern.len() > MAX_PATTERN_LEN {
                return Err(FilterError::RuleTooLong {
                    len: tok.pattern.len(),
                    max: MAX_PATTERN_LEN,
                    rule: Quoted::new(tok.pattern),
                });
            }
            if self.delete_excluded
                && flags & (flag::SIDES | flag::MERGE_FILE | flag::PERDIR_MERGE) == 0
            {
                flags |= flag::SENDER_SIDE;
            }
            if flags & flag::CLEAR_LIST != 0 {
                list.clear();
                self.cleared |= !self.in_cvs;
                continue;
            }
            if flags & flag::MERGE_FILE != 0 {
                let name = if tok.pattern.is_empty() {
                    b".cvsignore".as_slice()
                } else {
                    tok.pattern
                };
                if flags & flag::PERDIR_MERGE != 0 {
                    return Err(FilterError::DirMergeUnsupported {
                        rule: Quoted::new(text),
                    });
                }
                if flags & flag::EXCLUDE_SELF != 0 {
                    // rsync adds an empty rule for a name ending in "/": it never matches,
                    // and its text ("- ") would not parse on the peer, so we skip it.
                    let base = name.rsplit(|&b| b == b'/').next().unwrap_or(name);
                    if !base.is_empty() {
                        list.push(Rule::new(0, base));
                    }
                    flags &= !flag::EXCLUDE_SELF;
                }
                self.merge(list, name, flags)?;
                continue;
            }
            list.push(Rule::new(flags, tok.pattern));
            if flags & flag::CVS_IGNORE != 0 {
                self.cvs_excludes(flags)?;
            }
        }
        Ok(())
    }

    /// rsync `parse_filter_file` on contents the caller has read.
    pub(crate) fn parse_file(
        &mut self,
        list: &mut Vec<Rule>,
        contents: &[u8],
        t: Template,
        name: &[u8],
    ) -> Result<(), FilterError> {
        if self.depth >= MAX_MERGE_DEPTH {
            return Err(FilterError::MergeDepth {
                name: Quoted::new(name),
                max: MAX_MERGE_DEPTH,
            });
        }
        self.depth += 1;
        let word_split = t.flags & flag::WORD_SPLIT != 0;
        let result = file_rules(contents, word_split, self.from0)
            .try_for_each(|line| self.parse_str(list, line?, t));
        self.depth -= 1;
        result
    }

    /// A `merge` rule: reads the file through the source and parses it with the merge
    /// rule's flags as defaults.
    fn merge(&mut self, list: &mut Vec<Rule>, name: &[u8], flags: u32) -> Result<(), FilterError> {
        let unavailable = || FilterError::MergeUnavailable {
            name: Quoted::new(name),
        };
        if self.from_wire {
            return Err(unavailable());
        }
        let source = self.source.as_deref_mut().ok_or_else(unavailable)?;
        let contents = source
            .merge_file(name)
            .map_err(|source| FilterError::MergeRead {
                name: Quoted::new(name),
                source,
            })?;
        self.parse_file(list, &contents, Template { flags, old: false }, name)
    }

    /// rsync `get_cvs_excludes`: the built-in list (perishable from protocol 30), then
    /// `$HOME/.cvsignore`, then `$CVSIGNORE`, once.
    fn cvs_excludes(&mut self, flags: u32) -> Result<(), FilterError> {
        if self.cvs.is_some() {
            return Ok(());
        }
        let mut cvs = Vec::new();
        let perishable = if self.protocol >= 30 {
            flag::PERISHABLE
        } else {
            0
        };
        let t = Template { flags, old: false };
        let builtin = Template {
            flags: flags | perishable,
            old: false,
        };
        let (home, env) = match self.source.as_deref_mut() {
            Some(s) => (s.home_cvsignore(), s.cvsignore_env()),
            None => (None, None),
        };
        self.in_cvs = true;
        let result = self
            .parse_str(&mut cvs, DEFAULT_CVSIGNORE, builtin)
            .and_then(|()| match home {
                Some(home) => self.parse_file(&mut cvs, &home, t, b"~/.cvsignore"),
                None => Ok(()),
            })
            .and_then(|()| match env {
                Some(env) => self.parse_str(&mut cvs, &env, t),
                None => Ok(()),
            });
        self.in_cvs = false;
        result?;
        *self.cvs = Some(cvs);
        Ok(())
    }
}
