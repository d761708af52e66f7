//! Protocol setup over a remote shell: version exchange, compat flags, checksum and
//! compression negotiation, and the checksum seed, as one sans-IO state machine per side.
//!
//! Spec: RFC.md §6 `[version]`, `[compat-flags]`, `[client-info]`, `[checksum-list]`,
//! `[compress-list]`, `[negotiation-rule]`, `[checksum-seed]`. Reference: rsync `compat.c`
//! (`setup_protocol`, `negotiate_the_strings`, `parse_negotiate_str`, `set_allow_inc_recurse`).
//!
//! Both sides write their first bytes before reading anything, so a [`Handshake`] has output
//! ready as soon as it is built. Feed received bytes to [`Handshake::handle_input`], send what
//! [`Handshake::poll_transmit`] returns, and stop when [`Handshake::negotiated`] is `Some`;
//! bytes received after the handshake are returned by [`Handshake::take_remaining`] and belong
//! to the multiplexed stream (RFC.md §5).
//!
//! ```
//! use rsync_proto::handshake::{ClientConfig, Handshake, ServerConfig, ClientInfo};
//! use rsync_core::checksum::ChecksumKind;
//!
//! let client_cfg = ClientConfig::default();
//! let info = ClientInfo::from_args(["-logDtpre.LsfxCIvu", ".", "dst/"]);
//! let mut client = Handshake::client(client_cfg)?;
//! let mut server = Handshake::server(ServerConfig::new(info, 0x1234_5678))?;
//! for _ in 0..4 {
//!     if let Some(b) = client.poll_transmit() { server.handle_input(&b)?; }
//!     if let Some(b) = server.poll_transmit() { client.handle_input(&b)?; }
//! }
//! let (c, s) = (client.negotiated().unwrap(), server.negotiated().unwrap());
//! assert_eq!(c, s);
//! assert_eq!(c.protocol, 31);
//! assert_eq!(c.checksum, ChecksumKind::Xxh128);
//! assert_eq!(c.seed, 0x1234_5678);
//! # Ok::<(), rsync_proto::handshake::HandshakeError>(())
//! ```

use rsync_core::checksum::ChecksumKind;

use crate::wire::{DecodeError, WireReader, WireWrite};

mod flags;
#[cfg(test)]
mod tests;

pub use flags::{
    ClientInfo, CompatFlags, CF_AVOID_XATTR_OPTIM, CF_CHKSUM_SEED_FIX, CF_ID0_NAMES,
    CF_INC_RECURSE, CF_INPLACE_PARTIAL_DIR, CF_SAFE_FLIST, CF_SYMLINK_ICONV, CF_SYMLINK_TIMES,
    CF_VARINT_FLIST_FLAGS,
};

/// Lowest remote version stock rsync accepts (`MIN_PROTOCOL_VERSION`).
pub const MIN_REMOTE_PROTOCOL: i32 = 20;
/// Highest remote version stock rsync accepts (`MAX_PROTOCOL_VERSION`).
pub const MAX_REMOTE_PROTOCOL: i32 = 40;
/// Oldest protocol this crate speaks.
pub const OLDEST_PROTOCOL: u8 = 27;
/// Newest protocol this crate speaks (rsync 3.4/3.5; wire-identical to 31).
pub const NEWEST_PROTOCOL: u8 = 32;
/// Longest negotiation list accepted (rsync reads it into a 256-byte buffer with a NUL).
pub const MAX_LIST_LEN: usize = 255;

/// The checksums this crate can negotiate, in rsync's canonical strongest-first order.
///
/// `md4` (build-dependent seed order), `sha1` and `none` are never offered (RFC.md §3.3).
pub const CANONICAL_CHECKSUMS: [ChecksumKind; 4] = [
    ChecksumKind::Xxh128,
    ChecksumKind::Xxh3,
    ChecksumKind::Xxh64,
    ChecksumKind::Md5,
];

/// How the transfer checksum was selected; it decides the MD5 seed order (RFC.md §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChecksumSource {
    /// The protocol's default: MD4 below 30, MD5 from 30.
    Implied,
    /// `--checksum-choice` on both command lines; no list was exchanged.
    Choice,
    /// Negotiated from the exchanged lists.
    Negotiated,
}

/// Compression setup, which both sides derive from the same command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// No `-z`: nothing is exchanged.
    #[default]
    Off,
    /// `-z --compress-choice=NAME`: nothing is exchanged; `NAME` is used.
    Choice(Vec<u8>),
    /// `-z`: a list of these names (preference order) is exchanged when negotiation is on;
    /// without negotiation `zlib` is used.
    Negotiate(Vec<Vec<u8>>),
}

/// What the client side offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The version we write (27..=32).
    pub protocol: u8,
    /// The compat flags we advertise with the `-e.` letters; the server may set no others
    /// (except its own [`CF_SYMLINK_TIMES`] and [`CF_SYMLINK_ICONV`]).
    pub offered: CompatFlags,
    /// `--checksum-choice`, if given (it is also passed to the server).
    pub checksum_choice: Option<ChecksumKind>,
    /// Checksums we accept in negotiation; sent in canonical order.
    pub checksums: Vec<ChecksumKind>,
    /// Compression setup.
    pub compression: Compression,
}

impl Default for ClientConfig {
    /// Protocol 31, letters `LsfxCIvu` (no incremental recursion), every checksum.
    fn default() -> Self {
        Self {
            protocol: 31,
            offered: CompatFlags(0x1fe),
            checksum_choice: None,
            checksums: CANONICAL_CHECKSUMS.to_vec(),
            compression: Compression::Off,
        }
    }
}

/// What the server side allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The version we write (27..=32).
    pub protocol: u8,
    /// The client's capabilities, from its `--server` command line.
    pub client_info: ClientInfo,
    /// Flags we are willing to set when the client allows them (our own capabilities
    /// [`CF_SYMLINK_TIMES`] and [`CF_SYMLINK_ICONV`] need no letter).
    pub allowed: CompatFlags,
    /// `--checksum-choice`, if the client passed one.
    pub checksum_choice: Option<ChecksumKind>,
    /// Checksums we accept in negotiation; sent in canonical order.
    pub checksums: Vec<ChecksumKind>,
    /// Compression setup.
    pub compression: Compression,
    /// The checksum seed to send. The caller chooses it (rsync: `time ^ pid << 6`); 0 is
    /// legal but weakens the block sums (RFC.md Appendix D.4).
    pub seed: i32,
}

impl ServerConfig {
    /// Protocol 31, everything but incremental recursion allowed, every checksum.
    pub fn new(client_info: ClientInfo, seed: i32) -> Self {
        Self {
            protocol: 31,
            client_info,
            allowed: CompatFlags(0x1fe),
            checksum_choice: None,
            checksums: CANONICAL_CHECKSUMS.to_vec(),
            compression: Compression::Off,
            seed,
        }
    }
}

/// The outcome of the handshake, identical on both sides of a correct session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// The protocol in use: the lower of the two versions.
    pub protocol: u8,
    /// The compat flags (empty below protocol 30).
    pub compat_flags: CompatFlags,
    /// The transfer checksum.
    pub checksum: ChecksumKind,
    /// How it was selected.
    pub checksum_source: ChecksumSource,
    /// [`CF_CHKSUM_SEED_FIX`] is set: MD5 block sums put the seed first.
    pub seed_fix: bool,
    /// The checksum seed.
    pub seed: i32,
    /// The compression algorithm name, if compression is on.
    pub compression: Option<Vec<u8>>,
}

impl Negotiated {
    /// Whether the client→server direction is multiplexed (protocol ≥ 30); server→client
    /// always is from here on.
    pub fn client_to_server_multiplexed(&self) -> bool {
        self.protocol >= 30
    }

    /// Whether file-list flags are varints ([`CF_VARINT_FLIST_FLAGS`]).
    pub fn varint_flist_flags(&self) -> bool {
        self.compat_flags.contains(CF_VARINT_FLIST_FLAGS)
    }
}

/// Why the handshake failed. All are fatal; rsync exits with code 2 (protocol) or 4.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The peer's version is outside 20..=40: usually stray output from a shell startup file.
    #[error("protocol version mismatch -- is your shell clean? (remote version {remote})")]
    VersionOutOfRange {
        /// The int32 received.
        remote: i32,
    },
    /// The peer is valid for rsync but older than this crate supports.
    #[error("remote protocol {remote} is older than the oldest supported ({OLDEST_PROTOCOL})")]
    Unsupported {
        /// The peer's version.
        remote: i32,
    },
    /// Our own configuration is not allowed (a local bug, nothing was sent).
    #[error("invalid handshake configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: &'static str,
    },
    /// The server set compat flags the client did not offer.
    #[error("server set compat flags {flags:#x}, outside those offered ({offered:#x})")]
    UnexpectedCompatFlags {
        /// The flags received.
        flags: u32,
        /// The flags the client could accept.
        offered: u32,
    },
    /// The server needs the checksum seed fix for MD5 by name, and the client lacks `C`.
    #[error("md5 selected by name requires the client's C capability (seed fix)")]
    Md5WithoutSeedFix,
    /// A negotiation list is longer than rsync accepts.
    #[error("{field} of {len} bytes exceeds {max}")]
    ListTooLong {
        /// `checksum-list` or `compress-list`.
        field: &'static str,
        /// The announced length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// No name of the peer's list is acceptable.
    #[error("failed to negotiate a {field} choice; peer list: {peer_list:?}")]
    NoCommonChoice {
        /// `checksum-list` or `compress-list`.
        field: &'static str,
        /// The peer's list, lossily decoded.
        peer_list: String,
    },
    /// A primitive could not be decoded (an overflowing varint).
    #[error("bad {field}: {source}")]
    Decode {
        /// The handshake field.
        field: &'static str,
        /// The decoding error.
        source: DecodeError,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Client,
    Server,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Version,
    Compat,
    Lists,
    Seed,
    Done,
}

/// One side's handshake state machine (see the module documentation).
#[derive(Debug, Clone)]
pub struct Handshake {
    role: Role,
    ours: u8,
    offered: CompatFlags,
    legacy_v: bool,
    choice: Option<ChecksumKind>,
    checksums: Vec<ChecksumKind>,
    compression: Compression,
    seed: i32,
    state: State,
    input: Vec<u8>,
    output: Vec<u8>,
    protocol: u8,
    flags: CompatFlags,
    checksum: Option<(ChecksumKind, ChecksumSource)>,
    compress: Option<Vec<u8>>,
    done: Option<Negotiated>,
    failed: Option<HandshakeError>,
}

impl Handshake {
    /// The client side; its version is queued for sending.
    ///
    /// # Errors
    /// [`HandshakeError::Config`] for a protocol outside 27..=32, `md4` by name, `md5` by
    /// name without [`CF_CHKSUM_SEED_FIX`] offered, or no acceptable checksum.
    pub fn client(cfg: ClientConfig) -> Result<Self, HandshakeError> {
        if cfg.checksum_choice == Some(ChecksumKind::Md5)
            && !cfg.offered.contains(CF_CHKSUM_SEED_FIX)
        {
            return Err(config(
                "md5 by name requires offering CF_CHKSUM_SEED_FIX (C)",
            ));
        }
        let mut offered = cfg.offered;
        offered.0 |= CF_SYMLINK_TIMES.0 | CF_SYMLINK_ICONV.0;
        Self::new(
            Role::Client,
            cfg.protocol,
            offered,
            false,
            cfg.checksum_choice,
            cfg.checksums,
            cfg.compression,
            0,
        )
    }

    /// The server side; its version is queued for sending.
    ///
    /// # Errors
    /// As [`Handshake::client`], except that MD5 by name is checked once the flags are known.
    pub fn server(cfg: ServerConfig) -> Result<Self, HandshakeError> {
        let flags = cfg.client_info.server_flags(cfg.allowed);
        let legacy_v = cfg.client_info.legacy_v();
        Self::new(
            Role::Server,
            cfg.protocol,
            flags,
            legacy_v,
            cfg.checksum_choice,
            cfg.checksums,
            cfg.compression,
            cfg.seed,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        role: Role,
        ours: u8,
        offered: CompatFlags,
        legacy_v: bool,
        choice: Option<ChecksumKind>,
        checksums: Vec<ChecksumKind>,
        compression: Compression,
        seed: i32,
    ) -> Result<Self, HandshakeError> {
        if !(OLDEST_PROTOCOL..=NEWEST_PROTOCOL).contains(&ours) {
            return Err(config("own protocol must be within 27..=32"));
        }
        if choice == Some(ChecksumKind::Md4) {
            return Err(config("md4 must not be selected by name"));
        }
        let checksums: Vec<ChecksumKind> = CANONICAL_CHECKSUMS
            .into_iter()
            .filter(|k| checksums.contains(k))
            .collect();
        if checksums.is_empty() && choice.is_none() {
            return Err(config("no checksum to negotiate"));
        }
        let mut output = Vec::new();
        output.put_int(i32::from(ours));
        Ok(Self {
            role,
            ours,
            offered,
            legacy_v,
            choice,
            checksums,
            compression,
            seed,
            state: State::Version,
            input: Vec::new(),
            output,
            protocol: 0,
            flags: CompatFlags(0),
            checksum: None,
            compress: None,
            done: None,
            failed: None,
        })
    }

    /// Consumes received bytes and advances; returns the outcome once complete. Bytes beyond
    /// the handshake are kept for [`Handshake::take_remaining`].
    ///
    /// # Errors
    /// Any [`HandshakeError`]; after one, every call returns it again.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<Option<&Negotiated>, HandshakeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.input.extend_from_slice(bytes);
        if let Err(e) = self.advance() {
            self.failed = Some(e.clone());
            return Err(e);
        }
        Ok(self.done.as_ref())
    }

    /// Bytes to send to the peer, if any are queued.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.output.is_empty()).then(|| std::mem::take(&mut self.output))
    }

    /// The outcome, once the handshake is complete.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.done.as_ref()
    }

    /// Received bytes not consumed by the handshake (the start of the multiplexed stream once
    /// the handshake is complete). Drains them.
    pub fn take_remaining(&mut self) -> Vec<u8> {
        if self.done.is_some() {
            std::mem::take(&mut self.input)
        } else {
            Vec::new()
        }
    }

    fn advance(&mut self) -> Result<(), HandshakeError> {
        loop {
            let input = std::mem::take(&mut self.input);
            let mut r = WireReader::new(&input);
            let progressed = match self.state {
                State::Done => Ok(false),
                State::Version => self.read_version(&mut r),
                State::Compat => self.read_compat(&mut r),
                State::Lists => self.read_lists(&mut r),
                State::Seed => self.read_seed(&mut r),
            };
            let used = r.position();
            self.input = input;
            if !progressed? {
                return Ok(());
            }
            self.input.drain(..used);
        }
    }

    fn read_version(&mut self, r: &mut WireReader<'_>) -> Result<bool, HandshakeError> {
        let Some(remote) = field(r.int(), "version")? else {
            return Ok(false);
        };
        if !(MIN_REMOTE_PROTOCOL..=MAX_REMOTE_PROTOCOL).contains(&remote) {
            return Err(HandshakeError::VersionOutOfRange { remote });
        }
        if remote < i32::from(OLDEST_PROTOCOL) {
            return Err(HandshakeError::Unsupported { remote });
        }
        self.protocol = u8::try_from(remote).map_or(self.ours, |v| v.min(self.ours));
        if self.protocol < 30 {
            self.after_flags()?;
        } else if self.role == Role::Client {
            self.state = State::Compat;
        } else {
            self.flags = self.offered;
            if self.legacy_v {
                // Wire: [compat-flags] as one byte after a pre-release `V` (higher bits are
                // lost, as in rsync).
                self.flags.0 &= 0xff;
                self.output.push(self.flags.0 as u8);
            } else {
                self.output.put_varint(self.flags.0 as i32);
            }
            self.after_flags()?;
        }
        Ok(true)
    }

    fn read_compat(&mut self, r: &mut WireReader<'_>) -> Result<bool, HandshakeError> {
        let Some(raw) = field(r.varint(), "compat-flags")? else {
            return Ok(false);
        };
        let flags = raw as u32;
        if flags & !self.offered.0 != 0 {
            return Err(HandshakeError::UnexpectedCompatFlags {
                flags,
                offered: self.offered.0,
            });
        }
        self.flags = CompatFlags(flags);
        self.after_flags()?;
        Ok(true)
    }

    /// Flags known: write our lists (if any) and choose what needs no list.
    fn after_flags(&mut self) -> Result<(), HandshakeError> {
        let negotiate = self.protocol >= 30 && self.flags.contains(CF_VARINT_FLIST_FLAGS);
        let seed_fix = self.flags.contains(CF_CHKSUM_SEED_FIX);
        if let Some(k) = self.choice {
            if k == ChecksumKind::Md5 && !seed_fix {
                return Err(HandshakeError::Md5WithoutSeedFix);
            }
            self.checksum = Some((k, ChecksumSource::Choice));
        } else if !negotiate {
            let k = if self.protocol >= 30 {
                ChecksumKind::Md5
            } else {
                ChecksumKind::Md4
            };
            self.checksum = Some((k, ChecksumSource::Implied));
        }
        match &self.compression {
            Compression::Off => {}
            Compression::Choice(name) => self.compress = Some(name.clone()),
            Compression::Negotiate(_) if !negotiate => self.compress = Some(b"zlib".to_vec()),
            Compression::Negotiate(_) => {}
        }
        if !negotiate {
            self.state = State::Seed;
            return self.maybe_send_seed();
        }
        // Wire: [checksum-list] then [compress-list]; both sides write before reading.
        if self.checksum.is_none() {
            let list = self.checksum_list(seed_fix);
            if list.is_empty() {
                return Err(config("md5 is the only checksum, and the seed fix is off"));
            }
            self.output.put_vstring(&list);
        }
        if let (None, Compression::Negotiate(names)) = (&self.compress, &self.compression) {
            self.output.put_vstring(&names.join(&b' '));
        }
        self.state = State::Lists;
        Ok(())
    }

    /// Our checksum names in canonical order. MD5 is left out when the seed fix is off, since
    /// stock builds disagree on its seed order when it is selected by name (RFC.md §3.3).
    fn checksum_list(&self, seed_fix: bool) -> Vec<u8> {
        let names: Vec<&[u8]> = self
            .acceptable_checksums(seed_fix)
            .map(|k| k.name().as_bytes())
            .collect();
        names.join(&b' ')
    }

    fn acceptable_checksums(&self, seed_fix: bool) -> impl Iterator<Item = ChecksumKind> + '_ {
        self.checksums
            .iter()
            .copied()
            .filter(move |&k| seed_fix || k != ChecksumKind::Md5)
    }

    fn read_lists(&mut self, r: &mut WireReader<'_>) -> Result<bool, HandshakeError> {
        let want_checksum = self.checksum.is_none();
        let want_compress = self.compress.is_none() && self.compression != Compression::Off;
        let mut probe = r.clone();
        let ck = if want_checksum {
            match read_list(&mut probe, "checksum-list")? {
                Some(l) => Some(l),
                None => return Ok(false),
            }
        } else {
            None
        };
        let cz = if want_compress {
            match read_list(&mut probe, "compress-list")? {
                Some(l) => Some(l),
                None => return Ok(false),
            }
        } else {
            None
        };
        *r = probe;
        let seed_fix = self.flags.contains(CF_CHKSUM_SEED_FIX);
        if let Some(list) = ck {
            let peer: Vec<&[u8]> = names(list).collect();
            // Wire: [negotiation-rule] of rsync 3.5.0: our own most preferred name that the
            // peer also lists (`xxhash` is an alias of xxh64).
            let pick = self
                .acceptable_checksums(seed_fix)
                .find(|k| peer.iter().any(|n| ChecksumKind::from_name(n) == Some(*k)))
                .ok_or_else(|| no_common("checksum-list", list))?;
            self.checksum = Some((pick, ChecksumSource::Negotiated));
        }
        if let (Some(list), Compression::Negotiate(ours)) = (cz, &self.compression) {
            let pick = ours
                .iter()
                .find(|o| names(list).any(|n| n == o.as_slice()))
                .ok_or_else(|| no_common("compress-list", list))?;
            self.compress = Some(pick.clone());
        }
        self.state = State::Seed;
        self.maybe_send_seed()?;
        Ok(true)
    }

    /// The server writes the seed once it has read the client's lists.
    fn maybe_send_seed(&mut self) -> Result<(), HandshakeError> {
        if self.role == Role::Server {
            // Wire: [checksum-seed].
            self.output.put_int(self.seed);
            self.finish()?;
        }
        Ok(())
    }

    fn read_seed(&mut self, r: &mut WireReader<'_>) -> Result<bool, HandshakeError> {
        // The server never reads here: it finishes when it writes the seed.
        if self.role == Role::Server {
            return Ok(false);
        }
        let Some(seed) = field(r.int(), "checksum-seed")? else {
            return Ok(false);
        };
        self.seed = seed;
        self.finish()?;
        Ok(true)
    }

    fn finish(&mut self) -> Result<(), HandshakeError> {
        let Some((checksum, checksum_source)) = self.checksum else {
            return Err(config("internal: checksum not chosen"));
        };
        self.state = State::Done;
        self.done = Some(Negotiated {
            protocol: self.protocol,
            compat_flags: self.flags,
            checksum,
            checksum_source,
            seed_fix: self.flags.contains(CF_CHKSUM_SEED_FIX),
            seed: self.seed,
            compression: self.compress.clone(),
        });
        Ok(())
    }
}

fn config(reason: &'static str) -> HandshakeError {
    HandshakeError::Config { reason }
}

fn no_common(field: &'static str, list: &[u8]) -> HandshakeError {
    HandshakeError::NoCommonChoice {
        field,
        peer_list: String::from_utf8_lossy(list).into_owned(),
    }
}

/// `Ok(None)` while incomplete; other decoding errors are named after `what`.
fn field<T>(r: Result<T, DecodeError>, what: &'static str) -> Result<Option<T>, HandshakeError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(DecodeError::Incomplete { .. }) => Ok(None),
        Err(source) => Err(HandshakeError::Decode {
            field: what,
            source,
        }),
    }
}

/// A vstring bounded by [`MAX_LIST_LEN`] as soon as its length is known.
fn read_list<'a>(
    r: &mut WireReader<'a>,
    what: &'static str,
) -> Result<Option<&'a [u8]>, HandshakeError> {
    let rest = r.remaining();
    let len = match rest.first() {
        None => return Ok(None),
        Some(&b) if b & 0x80 == 0 => usize::from(b),
        Some(&b) => match rest.get(1) {
            None => return Ok(None),
            Some(&lo) => usize::from(b & 0x7f) << 8 | usize::from(lo),
        },
    };
    if len > MAX_LIST_LEN {
        return Err(HandshakeError::ListTooLong {
            field: what,
            len,
            max: MAX_LIST_LEN,
        });
    }
    field(r.vstring(), what)
}

/// The space-separated names of a list.
fn names(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&b| b == b' ').filter(|n| !n.is_empty())
}
