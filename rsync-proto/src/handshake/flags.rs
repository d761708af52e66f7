//! Compat flags and the client's `-e.` capability letters.
//!
//! Spec: RFC.md §6 `[compat-flags]`, `[client-info]`. Reference: rsync `compat.c`
//! (`setup_protocol`, `set_allow_inc_recurse`), `options.c` (`maybe_add_e_option`).

use std::fmt;
use std::ops::BitOr;

/// The compat-flags word the server sends from protocol 30.
///
/// Wire: `[compat-flags]`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CompatFlags(pub u32);

impl CompatFlags {
    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The capability letters a client sends for these flags, in rsync's order
    /// (`iLsfxCIvu`). [`CF_SYMLINK_TIMES`] and [`CF_SYMLINK_ICONV`] map to `L` and `s`.
    pub fn client_letters(self) -> String {
        LETTERS
            .iter()
            .filter(|(_, f)| self.contains(*f))
            .map(|(c, _)| char::from(*c))
            .collect()
    }
}

impl fmt::Debug for CompatFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompatFlags({:#x})", self.0)
    }
}

impl BitOr for CompatFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// Incremental recursion (letter `i`).
pub const CF_INC_RECURSE: CompatFlags = CompatFlags(0x01);
/// The server can set symlink times (letter `L`).
pub const CF_SYMLINK_TIMES: CompatFlags = CompatFlags(0x02);
/// Symlink targets are converted with `--iconv` (letter `s`).
pub const CF_SYMLINK_ICONV: CompatFlags = CompatFlags(0x04);
/// An I/O error can be reported at the end of the file list (letter `f`).
pub const CF_SAFE_FLIST: CompatFlags = CompatFlags(0x08);
/// No xattr optimisation (letter `x`).
pub const CF_AVOID_XATTR_OPTIM: CompatFlags = CompatFlags(0x10);
/// MD5 block sums put the seed first (letter `C`).
pub const CF_CHKSUM_SEED_FIX: CompatFlags = CompatFlags(0x20);
/// `--inplace` with `--partial-dir` (letter `I`).
pub const CF_INPLACE_PARTIAL_DIR: CompatFlags = CompatFlags(0x40);
/// Varint file-list flags and the negotiation lists (letter `v`).
pub const CF_VARINT_FLIST_FLAGS: CompatFlags = CompatFlags(0x80);
/// The uid/gid lists carry the names of id 0 (letter `u`).
pub const CF_ID0_NAMES: CompatFlags = CompatFlags(0x100);

/// Capability letters and the flag each lets the server set, in rsync's order.
const LETTERS: [(u8, CompatFlags); 9] = [
    (b'i', CF_INC_RECURSE),
    (b'L', CF_SYMLINK_TIMES),
    (b's', CF_SYMLINK_ICONV),
    (b'f', CF_SAFE_FLIST),
    (b'x', CF_AVOID_XATTR_OPTIM),
    (b'C', CF_CHKSUM_SEED_FIX),
    (b'I', CF_INPLACE_PARTIAL_DIR),
    (b'v', CF_VARINT_FLIST_FLAGS),
    (b'u', CF_ID0_NAMES),
];

/// The client's capability string: what follows `e` in a short-option cluster of the
/// server's command line (`-logDtpre.iLsfxCIvu` gives `.iLsfxCIvu`).
///
/// Wire: `[client-info]`. A server MUST NOT require it: clients below protocol 30 and
/// openrsync send none, and then no letter-gated flag is set.
///
/// ```
/// use rsync_proto::handshake::{ClientInfo, CompatFlags, CF_INC_RECURSE};
/// let info = ClientInfo::from_args(["--server", "-logDtpre.iLsfxCIvu", ".", "dst/"]);
/// assert_eq!(info.letters(), Some(&b".iLsfxCIvu"[..]));
/// assert_eq!(info.server_flags(CompatFlags(0x1ff)), CompatFlags(0x1ff));
/// assert_eq!(info.server_flags(CompatFlags(0x1fe)), CompatFlags(0x1fe));
/// let old = ClientInfo::from_args(["--server", "-g", "-l", "-r", ".", "dst/"]);
/// assert_eq!(old.letters(), None);
/// assert!(!old.server_flags(CompatFlags(0x1ff)).contains(CF_INC_RECURSE));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientInfo {
    letters: Option<Vec<u8>>,
}

impl ClientInfo {
    /// Finds the `-e` capability string in a server command line. Scanning stops at the
    /// first argument that is not an option (rsync's `.` placeholder) or at `--`; long
    /// options are skipped. A later `-e` replaces an earlier one, as with popt.
    pub fn from_args<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let mut letters = None;
        for (i, arg) in args.into_iter().enumerate() {
            let a = arg.as_ref();
            if a == b"--" {
                break;
            }
            if a.starts_with(b"--") {
                continue;
            }
            if a.len() < 2 || a[0] != b'-' {
                // `rsync` itself (argv[0]) may precede the options; any other non-option
                // argument ends them.
                if i == 0 {
                    continue;
                }
                break;
            }
            if let Some(pos) = a[1..].iter().position(|&c| c == b'e') {
                letters = Some(a[pos + 2..].to_vec());
            }
        }
        Self { letters }
    }

    /// A capability string given directly (the part after `e`).
    pub fn from_letters(letters: &[u8]) -> Self {
        Self {
            letters: Some(letters.to_vec()),
        }
    }

    /// The capability string, if the client sent one.
    pub fn letters(&self) -> Option<&[u8]> {
        self.letters.as_deref()
    }

    fn has(&self, letter: u8) -> bool {
        self.letters.as_ref().is_some_and(|l| l.contains(&letter))
    }

    /// A pre-release client that wants the compat flags as one byte (`V`).
    pub fn legacy_v(&self) -> bool {
        self.has(b'V')
    }

    /// The flags a server sets for this client: each bit of `allowed` whose letter the client
    /// sent, plus the server's own capabilities [`CF_SYMLINK_TIMES`] and [`CF_SYMLINK_ICONV`]
    /// when `allowed` has them (rsync sets those whatever the letters say).
    pub fn server_flags(&self, allowed: CompatFlags) -> CompatFlags {
        let mut flags = allowed.0 & (CF_SYMLINK_TIMES.0 | CF_SYMLINK_ICONV.0);
        for (c, f) in LETTERS {
            if self.has(c) && allowed.contains(f) {
                flags |= f.0;
            }
        }
        if self.legacy_v() && allowed.contains(CF_VARINT_FLIST_FLAGS) {
            flags |= CF_VARINT_FLIST_FLAGS.0;
        }
        CompatFlags(flags)
    }
}
