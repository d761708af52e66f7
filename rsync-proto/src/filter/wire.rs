//! The filter list on the wire: what a client sends, and the server's decoder.
//!
//! Wire: `[filter-list]` (RFC.md §8): each rule as `int len` followed by `len` bytes of rule
//! text (no NUL), then `int 0`. Only the client sends it, and only when the peer needs it:
//! always to a server sender (pull), to a server receiver (push) only with `--delete`
//! (unless `--delete-excluded` below protocol 29) or `--prune-empty-dirs`
//! ([`list_is_sent`]). A push without those sends nothing, not even the `int 0`.
//!
//! The client leaves out rules that apply only to itself (a sender-only rule on a push, a
//! receiver-only rule on a pull) and writes each rule in a form the protocol accepts
//! (rsync `get_rule_prefix`): `H x` goes out as `-s x`, `P x` as `-r x`, a trailing `/` is
//! put back. Below protocol 29 only bare patterns, `- ` and `+ ` exist: an exclude is sent
//! bare (or as `- pat` when the pattern itself starts with `- ` or `+ `), an include as
//! `+ pat`, side modifiers are dropped, and any other modifier makes the list
//! [`FilterError::TooModern`]. `p` needs protocol 30 (a receiving client drops it). The `-C`
//! rule is expanded into the CVS excludes when the client sends or below protocol 29, and
//! sent as `-C ` otherwise.
//!
//! Reference: rsync `send_filter_list`, `send_rules`, `get_rule_prefix`,
//! `recv_filter_list` (exclude.c).
//!
//! ```
//! use rsync_proto::filter::{FilterList, wire::{WireContext, decode_filter_list, WireLimits}};
//! let mut rules = FilterList::new();
//! rules.add_filter(b"H *.tmp")?;
//! rules.add_filter(b"P /keep/")?;
//! let pull = WireContext { protocol: 31, client_is_sender: false, delete: true, prune_empty_dirs: false };
//! let bytes = rules.encode(&pull)?;
//! // The receiver-only rule stays home; the sender-only one is sent with its side.
//! assert_eq!(bytes, b"\x08\x00\x00\x00-s *.tmp\x00\x00\x00\x00");
//! let (texts, used) = decode_filter_list(&bytes, &WireLimits::default())?;
//! assert_eq!((texts, used), (vec![b"-s *.tmp".to_vec()], bytes.len()));
//! # Ok::<(), rsync_proto::filter::FilterError>(())
//! ```

use super::error::{FilterError, Quoted};
use super::rule::{flag, Rule, Xfer};
use super::{FilterList, MAX_RULE_LEN};
use crate::{WireReader, WireWrite};

/// The transfer settings the client's filter list depends on (`--delete-excluded` is the
/// [`FilterList`]'s own setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireContext {
    /// The negotiated protocol.
    pub protocol: u32,
    /// The client is the sender (a push); false for a pull.
    pub client_is_sender: bool,
    /// A `--delete` mode is on.
    pub delete: bool,
    /// `-m` / `--prune-empty-dirs`.
    pub prune_empty_dirs: bool,
}

/// Whether the client sends a filter list (and the server reads one): rsync
/// `send_filter_list` / `recv_filter_list`. Both sides evaluate it with the same options.
pub fn list_is_sent(ctx: &WireContext, delete_excluded: bool) -> bool {
    let receiver_wants_list =
        ctx.prune_empty_dirs || (ctx.delete && (!delete_excluded || ctx.protocol >= 29));
    !ctx.client_is_sender || receiver_wants_list
}

/// Which side a rule is left to (rsync's `elide` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Only {
    Local,
    Remote,
}

impl FilterList {
    /// The rule texts a client sends for `ctx`, in order, or `None` when it sends no list at
    /// all (not even the terminator).
    ///
    /// # Errors
    /// [`FilterError::TooModern`] when a rule cannot be expressed at `ctx.protocol`; rsync
    /// checks this even when it sends nothing.
    pub fn wire_rules(&self, ctx: &WireContext) -> Result<Option<Vec<Vec<u8>>>, FilterError> {
        let mut out = Vec::new();
        let xfer = Xfer {
            protocol: ctx.protocol,
            client_is_sender: ctx.client_is_sender,
            delete_excluded: self.delete_excluded(),
        };
        self.send_rules(self.rules(), &xfer, Some(&mut out))?;
        Ok(list_is_sent(ctx, self.delete_excluded()).then_some(out))
    }

    /// The bytes a client writes for `ctx`: `int len` + text per rule, then `int 0`; empty
    /// when no list is sent.
    ///
    /// # Errors
    /// As [`FilterList::wire_rules`].
    pub fn encode(&self, ctx: &WireContext) -> Result<Vec<u8>, FilterError> {
        Ok(self
            .wire_rules(ctx)?
            .map(|rules| encode_rules(&rules))
            .unwrap_or_default())
    }

    /// rsync `send_rules`: appends the texts of `rules` that the peer needs to `out` (when
    /// given), checking every rule that is not local-only.
    fn send_rules(
        &self,
        rules: &[Rule],
        x: &Xfer,
        mut out: Option<&mut Vec<Vec<u8>>>,
    ) -> Result<(), FilterError> {
        let mine = |sender_side: bool| {
            if sender_side == x.client_is_sender {
                Only::Local
            } else {
                Only::Remote
            }
        };
        for rule in rules {
            let mut elide = rule.has(flag::SENDER_SIDE).then(|| mine(true));
            if rule.has(flag::RECEIVER_SIDE) {
                elide = if elide.is_some() {
                    None
                } else {
                    Some(mine(false))
                };
            } else if x.delete_excluded
                && elide.is_none()
                && (!rule.has(flag::PERDIR_MERGE) || rule.has(flag::NO_PREFIXES))
            {
                elide = Some(mine(true));
            }
            if elide == Some(Only::Local) {
                continue;
            }
            if rule.has(flag::CVS_IGNORE) && !rule.has(flag::MERGE_FILE) {
                let expand = x.client_is_sender || x.protocol < 29;
                let sink = if expand { out.as_deref_mut() } else { None };
                self.send_rules(self.cvs_rules(), x, sink)?;
                if expand {
                    continue;
                }
            }
            let mut text = rule.prefix(Some(x)).ok_or_else(|| FilterError::TooModern {
                rule: Quoted::new(&rule.to_text()),
                protocol: x.protocol,
            })?;
            let Some(out) = out.as_deref_mut() else {
                continue;
            };
            text.extend_from_slice(rule.pattern());
            if rule.dir_only() {
                text.push(b'/');
            }
            if !text.is_empty() {
                out.push(text);
            }
        }
        Ok(())
    }
}

/// Wire: `[filter-list]`: `int len` + bytes for each rule text, then `int 0`.
pub fn encode_rules<R: AsRef<[u8]>>(rules: &[R]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rules {
        let r = r.as_ref();
        out.put_int(i32::try_from(r.len()).unwrap_or(i32::MAX));
        out.extend_from_slice(r);
    }
    out.put_int(0);
    out
}

/// Bounds on a filter list from the peer (rsync itself bounds only the rule length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireLimits {
    /// Longest rule (default [`MAX_RULE_LEN`], rsync's).
    pub max_rule_len: usize,
    /// Most rules (default 1 Mi).
    pub max_rules: usize,
    /// Most rule bytes in total (default 64 MiB).
    pub max_total_bytes: usize,
}

impl Default for WireLimits {
    fn default() -> Self {
        Self {
            max_rule_len: MAX_RULE_LEN,
            max_rules: 1 << 20,
            max_total_bytes: 64 << 20,
        }
    }
}

/// A streaming decoder for the filter list a server reads (rsync `recv_filter_list`): feed
/// bytes as they arrive; it consumes whole rules only and stops after the `int 0`.
#[derive(Debug, Clone, Default)]
pub struct FilterListDecoder {
    limits: WireLimits,
    rules: Vec<Vec<u8>>,
    total: usize,
    done: bool,
}

impl FilterListDecoder {
    /// A decoder with `limits`.
    pub fn new(limits: WireLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Consumes complete rules (and the terminator) from the start of `input`; returns how
    /// many bytes it used. Bytes after the terminator are left alone.
    ///
    /// # Errors
    /// [`FilterError::BadLength`], [`FilterError::TooManyRules`] or
    /// [`FilterError::ListTooLarge`], detected from the length alone, before its bytes.
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, FilterError> {
        let mut r = WireReader::new(input);
        let mut used = 0;
        while !self.done {
            let Ok(len) = r.int() else { break };
            let max = self.limits.max_rule_len;
            let n = usize::try_from(len)
                .ok()
                .filter(|&n| n <= max)
                .ok_or(FilterError::BadLength { len, max })?;
            if n == 0 {
                self.done = true;
                used = r.position();
                break;
            }
            if self.rules.len() >= self.limits.max_rules {
                return Err(FilterError::TooManyRules {
                    max: self.limits.max_rules,
                });
            }
            if self.total.saturating_add(n) > self.limits.max_total_bytes {
                return Err(FilterError::ListTooLarge {
                    max: self.limits.max_total_bytes,
                });
            }
            let Ok(text) = r.bytes(n) else { break };
            self.rules.push(text.to_vec());
            self.total += n;
            used = r.position();
        }
        Ok(used)
    }

    /// The `int 0` terminator has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The rule texts read so far.
    pub fn rules(&self) -> &[Vec<u8>] {
        &self.rules
    }

    /// The rule texts (for [`FilterList::from_wire`]).
    pub fn into_rules(self) -> Vec<Vec<u8>> {
        self.rules
    }
}

/// Decodes a whole filter list from the start of `input`: the rule texts and the bytes used.
///
/// # Errors
/// As [`FilterListDecoder::feed`], or [`FilterError::Incomplete`] without the terminator.
pub fn decode_filter_list(
    input: &[u8],
    limits: &WireLimits,
) -> Result<(Vec<Vec<u8>>, usize), FilterError> {
    let mut d = FilterListDecoder::new(*limits);
    let used = d.feed(input)?;
    if !d.is_done() {
        return Err(FilterError::Incomplete);
    }
    Ok((d.into_rules(), used))
}
