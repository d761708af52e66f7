//! The FIFO name parser: splits the byte stream written to a `--files-from` FIFO into names,
//! normalises each name relative to SRC and rejects the names constant mode cannot use.
//!
//! Pure and sans-IO: bytes go in with [`NameParser::push`] in whatever chunks the reads
//! produced (a name split across reads is joined), [`NameParser::finish`] marks the end of the
//! input (the last writer closed the FIFO), and every completed entry comes out as a [`Parsed`]:
//! a normalised [`Name`] or a [`Rejection`] to log. Memory is bounded whatever the input: an
//! entry longer than [`MAX_PATH_LEN`] is dropped while the parser scans for the next separator,
//! keeping only its length and a short preview.
//!
//! # How the entries are split (rsync's `read_line`, io.c)
//! - With `--from0` ([`Separator::Nul`]) an entry ends at a NUL byte; every other byte,
//!   including CR, LF, `#` and `;`, is part of the name.
//! - Otherwise ([`Separator::Newline`]) an entry ends at LF **or** CR, so LF, CR and CR LF line
//!   ends all work (a CR LF pair ends the line and leaves an empty entry, which is skipped).
//! - An unterminated entry at the end of the input counts, as in rsync.
//!
//! # What is ignored, what is rejected
//! In newline mode this follows rsync reading a local `--files-from` file: blank lines are
//! skipped, and so is a line whose first byte is `#` or `;` (a comment; a top-level file named
//! `#x` must be written `./#x` or `/#x`). Whitespace is never trimmed. Skipped lines are counted
//! ([`NameParser::ignored`]), not reported. (rsync only does this for a list it reads
//! locally, `RL_DUMP_COMMENTS` in flist.c; a list forwarded between the two rsync processes is
//! always NUL-separated and taken verbatim.)
//!
//! With `--from0` we deviate from rsync on purpose: rsync skips empty and `#`/`;` entries there
//! too, but a NUL-separated feed is written by a program (a change logger), for which a name
//! such as `#draft#` (an editor's autosave file) is an ordinary file whose change must not be
//! lost silently, and an empty entry is a bug in the logger worth a log line. So no entry is a
//! comment, and an empty entry is rejected ([`RejectReason::Empty`]).
//!
//! # Normalisation (rsync's `sanitize_path`, util1.c, and the `--files-from` man page)
//! Names are relative to SRC. Leading `/`s are stripped (rsync does the same for files-from
//! entries), empty components (`a//b`, a trailing `/`) and `.` components are removed. The
//! result is a path with single `/` separators and no `.`, `..` or empty component.
//!
//! Deviations from rsync, each deliberate:
//! - **`..`**: rsync resolves `a/../b` lexically to `b` and drops a leading `..` ("`../foo` is
//!   taken as `foo`"). We reject every name with a `..` component ([`RejectReason::DotDot`]):
//!   a change logger reports real paths and never needs one, the lexical result differs from
//!   what the kernel resolves when `a` is a symlink, and a name that tries to climb out of SRC
//!   is exactly what the issue asks us to refuse and log.
//! - **`.` and `/./`**: rsync keeps `.` components in files-from entries (with `--relative`,
//!   `dir/./sub` marks where the transferred path starts). A constant-mode name is always the
//!   full path under SRC, so `.` components are plain noise and are removed.
//! - **The top directory**: a name that is nothing but `/`s and `.`s (`.`, `/`, `./`) is SRC
//!   itself, as in rsync (where `sanitize_path` turns it into `.`). It is accepted as
//!   [`Name::root`] (bytes `.`), meaning "the whole tree may have changed": the daemon decides
//!   what to do with it (typically a full resync of SRC).
//! - **Length**: rsync silently truncates an entry to `MAXPATHLEN - 1` bytes and sends the
//!   truncated name. We reject an entry longer than [`MAX_PATH_LEN`] (4095) bytes *as written*
//!   and one with a component longer than [`MAX_NAME_LEN`] (255) bytes
//!   ([`RejectReason::TooLong`], [`RejectReason::ComponentTooLong`]).
//! - **NUL**: in newline mode a NUL byte inside a line is rejected ([`RejectReason::Nul`]);
//!   rsync's C string would silently cut the name there.
//! - **A trailing `/`** carries no meaning here (rsync uses `dir/` to mean "and its contents"
//!   without `-r`): `dir/` and `dir` are the same name.

use std::fmt;

pub use crate::fs::path::{MAX_NAME_LEN, MAX_PATH_LEN};
use crate::fs::RelPath;

/// How many bytes of a rejected entry are kept for the log line.
pub const PREVIEW_LEN: usize = 64;

/// What ends an entry in the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separator {
    /// A NUL byte (`--from0`).
    Nul,
    /// A LF or a CR (rsync's default for `--files-from`).
    Newline,
}

/// A normalised name relative to SRC: either [`Name::root`] (`.`, SRC itself) or a path of
/// non-empty components separated by single `/`, none of them `.` or `..`, none longer than
/// [`MAX_NAME_LEN`], no NUL, at most [`MAX_PATH_LEN`] bytes in all. Bytes, not UTF-8.
///
/// Built only by [`normalize`] (and [`Name::root`]), so holding one proves the invariants.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Vec<u8>);

impl Name {
    /// The bytes of [`Name::root`].
    pub const ROOT: &'static [u8] = b".";

    /// SRC itself (bytes `.`): "the whole tree may have changed".
    pub fn root() -> Self {
        Self(Self::ROOT.to_vec())
    }

    /// Whether this is [`Name::root`].
    pub fn is_root(&self) -> bool {
        self.0 == Self::ROOT
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Consumes the name, returning its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The name as a [`RelPath`] for the file-system layer; `None` for [`Name::root`].
    pub fn to_rel_path(&self) -> Option<RelPath> {
        if self.is_root() {
            return None;
        }
        // The invariants of `Name` are those of `RelPath`, so this never fails.
        RelPath::new(&self.0).ok()
    }
}

impl AsRef<[u8]> for Name {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({:?})", String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(&self.0))
    }
}

/// Why an entry of the feed was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// An empty entry (two NULs in a row with `--from0`).
    #[error("empty name")]
    Empty,
    /// A NUL byte inside a newline-separated entry.
    #[error("name contains a NUL byte")]
    Nul,
    /// A `..` component.
    #[error("name has a `..` component")]
    DotDot,
    /// The entry as written is longer than [`MAX_PATH_LEN`].
    #[error("name is {len} bytes long, more than {max}")]
    TooLong {
        /// Length of the entry as written (it may be far larger than memory: it was counted,
        /// not stored).
        len: u64,
        /// The limit, [`MAX_PATH_LEN`].
        max: usize,
    },
    /// A component is longer than [`MAX_NAME_LEN`].
    #[error("name component is {len} bytes long, more than {max}")]
    ComponentTooLong {
        /// Length of the offending component.
        len: usize,
        /// The limit, [`MAX_NAME_LEN`].
        max: usize,
    },
}

/// A rejected entry: the reason, its length and a printable preview for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rejected name \"{preview}\" ({len} bytes): {reason}")]
pub struct Rejection {
    /// Why.
    pub reason: RejectReason,
    /// Length of the entry as written, separator excluded.
    pub len: u64,
    /// The first [`PREVIEW_LEN`] bytes, lossily decoded, control characters escaped, with
    /// `…` appended when the entry was longer.
    pub preview: String,
}

/// One entry of the feed: a name to queue or a rejection to log.
pub type Parsed = Result<Name, Rejection>;

/// Normalises one entry (see the [module docs](self) for the rules).
///
/// # Errors
/// The [`RejectReason`] of the first rule the entry breaks, in this order: empty, too long,
/// NUL byte, then per component (first to last) `..` or too long.
pub fn normalize(raw: &[u8]) -> Result<Name, RejectReason> {
    if raw.is_empty() {
        return Err(RejectReason::Empty);
    }
    if raw.len() > MAX_PATH_LEN {
        return Err(RejectReason::TooLong {
            len: raw.len() as u64,
            max: MAX_PATH_LEN,
        });
    }
    if memchr::memchr(0, raw).is_some() {
        return Err(RejectReason::Nul);
    }
    let mut out = Vec::with_capacity(raw.len());
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => continue,
            b".." => return Err(RejectReason::DotDot),
            c if c.len() > MAX_NAME_LEN => {
                return Err(RejectReason::ComponentTooLong {
                    len: c.len(),
                    max: MAX_NAME_LEN,
                })
            }
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    if out.is_empty() {
        Ok(Name::root())
    } else {
        Ok(Name(out))
    }
}

/// The streaming parser of a FIFO feed. See the [module docs](self).
///
/// Holds at most [`MAX_PATH_LEN`] bytes of an unterminated entry (plus a
/// [`PREVIEW_LEN`]-byte preview while it discards an over-long one), whatever the input.
#[derive(Debug)]
pub struct NameParser {
    sep: Separator,
    /// The bytes of the current unterminated entry; never more than [`MAX_PATH_LEN`].
    pending: Vec<u8>,
    /// Set while the current entry is over-long and being discarded.
    overflow: Option<Overflow>,
    /// Blank and comment lines skipped (newline mode).
    ignored: u64,
}

/// The state kept for an over-long entry being discarded.
#[derive(Debug)]
struct Overflow {
    /// Bytes seen so far.
    len: u64,
    /// Its first bytes (at most [`PREVIEW_LEN`] + 1, to know whether to add `…`).
    head: Vec<u8>,
}

impl NameParser {
    /// A parser for a feed separated by `sep`.
    pub fn new(sep: Separator) -> Self {
        Self {
            sep,
            pending: Vec::new(),
            overflow: None,
            ignored: 0,
        }
    }

    /// The separator this parser splits on.
    pub fn separator(&self) -> Separator {
        self.sep
    }

    /// How many blank or comment lines were skipped so far (newline mode only).
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// Whether an unterminated entry is buffered (or being discarded).
    pub fn has_partial(&self) -> bool {
        !self.pending.is_empty() || self.overflow.is_some()
    }

    /// Feeds the next chunk of the stream; every entry it completes is appended to `out`, in
    /// order. The chunk may end anywhere, even inside a name or between CR and LF.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Parsed>) {
        let mut rest = chunk;
        while let Some(i) = self.find_separator(rest) {
            let (part, after) = rest.split_at(i);
            self.end_entry(part, out);
            // `after` starts with the separator itself (one byte).
            rest = after.get(1..).unwrap_or_default();
        }
        self.extend(rest);
    }

    /// Ends the input (the last writer closed the FIFO): an unterminated entry counts as a
    /// whole entry, as in rsync. The parser is then ready for a new stream.
    pub fn finish(&mut self, out: &mut Vec<Parsed>) {
        if self.has_partial() {
            self.end_entry(&[], out);
        }
    }

    fn find_separator(&self, bytes: &[u8]) -> Option<usize> {
        match self.sep {
            Separator::Nul => memchr::memchr(0, bytes),
            Separator::Newline => memchr::memchr2(b'\n', b'\r', bytes),
        }
    }

    /// Appends bytes of an entry that does not end in this chunk.
    fn extend(&mut self, part: &[u8]) {
        if part.is_empty() {
            return;
        }
        if let Some(ov) = &mut self.overflow {
            ov.len = ov.len.saturating_add(part.len() as u64);
            return;
        }
        if self.pending.len() + part.len() > MAX_PATH_LEN {
            let len = (self.pending.len() + part.len()) as u64;
            let head = head_of(&self.pending, part);
            self.pending.clear();
            self.overflow = Some(Overflow { len, head });
            return;
        }
        self.pending.extend_from_slice(part);
    }

    /// Ends the current entry with its last bytes `part`.
    fn end_entry(&mut self, part: &[u8], out: &mut Vec<Parsed>) {
        if let Some(ov) = self.overflow.take() {
            if self.skipped(&ov.head) {
                // An over-long comment line is still a comment, as in rsync.
                return;
            }
            let len = ov.len.saturating_add(part.len() as u64);
            out.push(Err(too_long(len, &ov.head)));
            return;
        }
        if self.pending.is_empty() {
            self.entry(part, out);
            return;
        }
        let mut buf = std::mem::take(&mut self.pending);
        if buf.len() + part.len() > MAX_PATH_LEN {
            let len = (buf.len() + part.len()) as u64;
            let head = head_of(&buf, part);
            if !self.skipped(&head) {
                out.push(Err(too_long(len, &head)));
            }
        } else {
            buf.extend_from_slice(part);
            self.entry(&buf, out);
        }
        buf.clear();
        self.pending = buf; // keep the allocation for the next split entry
    }

    /// In newline mode, whether an entry starting with `head` is a blank or comment line
    /// (counted as ignored).
    fn skipped(&mut self, head: &[u8]) -> bool {
        let skip = self.sep == Separator::Newline
            && matches!(head.first(), None | Some(b'#') | Some(b';'));
        if skip {
            self.ignored += 1;
        }
        skip
    }

    /// Handles one complete entry (separator excluded).
    fn entry(&mut self, raw: &[u8], out: &mut Vec<Parsed>) {
        if self.skipped(raw) {
            return;
        }
        out.push(normalize(raw).map_err(|reason| Rejection {
            reason,
            len: raw.len() as u64,
            preview: preview(raw),
        }));
    }
}

/// The first `PREVIEW_LEN + 1` bytes of `a` followed by `b` (one more than the preview shows,
/// so that [`preview`] knows to append `…`).
fn head_of(a: &[u8], b: &[u8]) -> Vec<u8> {
    let keep = PREVIEW_LEN + 1;
    let mut head = Vec::with_capacity(keep);
    head.extend_from_slice(a.get(..keep).unwrap_or(a));
    let room = keep - head.len();
    head.extend_from_slice(b.get(..room).unwrap_or(b));
    head
}

fn too_long(len: u64, head: &[u8]) -> Rejection {
    Rejection {
        reason: RejectReason::TooLong {
            len,
            max: MAX_PATH_LEN,
        },
        len,
        preview: preview(head),
    }
}

/// A printable preview of an entry for a log line: its first [`PREVIEW_LEN`] bytes, lossily
/// decoded, control characters and `"`/`\` escaped (a name must not be able to forge a log
/// line), `…` appended when the entry is longer.
pub fn preview(raw: &[u8]) -> String {
    let head = raw.get(..PREVIEW_LEN).unwrap_or(raw);
    let mut s = escape(head);
    if raw.len() > PREVIEW_LEN {
        s.push('…');
    }
    s
}

/// Lossy decoding with control characters, `"` and `\` escaped.
fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for c in String::from_utf8_lossy(bytes).chars() {
        if c.is_control() || c == '"' || c == '\\' {
            s.extend(c.escape_default());
        } else {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests;
