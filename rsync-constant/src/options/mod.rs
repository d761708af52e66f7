//! rsync's command-line options: parsing with rsync's syntax (short clusters, `-a`
//! expansion, `--no-` negations, values inline or separate), building the argument list a
//! client sends to its remote `--server` (rsync `server_options`), and parsing that list on
//! the server side, where `-e.LsfxCIvu` carries capability letters instead of a shell.
//!
//! Options we do not implement are refused with rsync's exit code, never ignored.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};

use crate::exit::ExitCode;
pub use rsync_proto::session::MissingArgs;

/// When `--delete` removes extraneous files on the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// `--delete`: rsync's default timing for the protocol (during, from protocol 30).
    Default,
    /// `--delete-during`.
    During,
    /// `--delete-after`.
    After,
    /// `--delete-before`.
    Before,
}

/// One filter option, kept in command-line order (rsync applies them in that order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterArg {
    /// `--filter=RULE` / `-f RULE`.
    Filter(Vec<u8>),
    /// `--include=PATTERN`.
    Include(Vec<u8>),
    /// `--exclude=PATTERN`.
    Exclude(Vec<u8>),
    /// `--include-from=FILE` (`-` for stdin).
    IncludeFrom(OsString),
    /// `--exclude-from=FILE` (`-` for stdin).
    ExcludeFrom(OsString),
    /// `--delete-excluded`, at its place among the rules (it changes the rules after it).
    DeleteExcluded,
}

/// The options of one transfer, with rsync's meaning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `-v` count.
    pub verbose: u8,
    /// `-q`.
    pub quiet: bool,
    /// `-n`.
    pub dry_run: bool,
    /// `-r`.
    pub recursive: bool,
    /// `-d`.
    pub dirs: bool,
    /// `-l`.
    pub links: bool,
    /// `-p`.
    pub perms: bool,
    /// `-t`.
    pub times: bool,
    /// `-g`.
    pub group: bool,
    /// `-o`.
    pub owner: bool,
    /// `--devices` (part of `-D`).
    pub devices: bool,
    /// `--specials` (part of `-D`).
    pub specials: bool,
    /// `-H`.
    pub hard_links: bool,
    /// `--numeric-ids`.
    pub numeric_ids: bool,
    /// `-c`.
    pub checksum: bool,
    /// `-I`.
    pub ignore_times: bool,
    /// `-W` (`Some(true)`) or `--no-W` (`Some(false)`).
    pub whole_file: Option<bool>,
    /// `--inplace`.
    pub inplace: bool,
    /// `--partial`.
    pub partial: bool,
    /// `-R`.
    pub relative: bool,
    /// `--delete` and its timings.
    pub delete: Option<DeleteMode>,
    /// `-i` count.
    pub itemize: u8,
    /// `--stats`.
    pub stats: bool,
    /// `--progress` / `--info=progress2`.
    pub progress: bool,
    /// `--files-from=FILE` (`-` for stdin).
    pub files_from: Option<OsString>,
    /// `--from0`.
    pub from0: bool,
    /// `--include`, `--exclude` and `--filter` rules in order, as rsync's filter syntax
    /// (`+ PATTERN`, `- PATTERN`, or a `--filter` rule as given).
    pub filters: Vec<FilterArg>,
    /// `--delete-excluded` (implies `--delete`).
    pub delete_excluded: bool,
    /// `--force`: delete a directory with its content where another type takes its place
    /// or a `--delete-missing-args` entry names it (rsync's `force_delete`).
    pub force: bool,
    /// `--ignore-missing-args` / `--delete-missing-args` (the latter wins when both are
    /// given, as in rsync).
    pub missing_args: MissingArgs,
    /// `--trust-sender`: a pulling client accepts whatever names the sender lists, without
    /// checking them against its operands and its filter rules (rsync ≥ 3.2.5 checks).
    pub trust_sender: bool,
    /// `--protocol=N`.
    pub protocol: Option<u32>,
    /// `--timeout=SECONDS`.
    pub timeout: Option<u32>,
    /// `--block-size=N` (`-B`).
    pub block_size: Option<u32>,
    /// `--checksum-choice=NAME`.
    pub checksum_choice: Option<String>,
    /// `--checksum-seed=N`.
    pub checksum_seed: Option<i32>,
    /// `-e`/`--rsh=COMMAND` (client side).
    pub rsh: Option<OsString>,
    /// `--rsync-path=PROGRAM` (client side).
    pub rsync_path: Option<OsString>,
    /// `--server`.
    pub server: bool,
    /// `--sender` (with `--server`).
    pub sender: bool,
    /// The capability letters after `-e.` on a server command line.
    pub client_info: Option<Vec<u8>>,
    /// `--version` / `-V`: print the version banner and exit.
    pub version: bool,
    /// `-r`/`--recursive` was given explicitly (not only implied by `-a`): it survives
    /// `--files-from`, which drops the recursion `-a` implies (rsync options.c).
    pub recursive_explicit: bool,
    /// `-R` (`Some(true)`) or `--no-relative` (`Some(false)`) given explicitly; without
    /// either, `--files-from` implies `-R`.
    pub relative_explicit: Option<bool>,
    /// `--constant`: run as the `--constant` daemon (client side).
    pub constant: bool,
    /// `--constant=N` on a server command line: the version of the constant extension
    /// (RFC.md §15) the client asks for.
    pub constant_version: Option<u32>,
    /// `--settle=DURATION` (`--constant`): send a path only after it has been quiet that long.
    pub settle: Option<std::time::Duration>,
    /// `--hot-warn=DURATION` (`--constant`): log a path still changing after that long.
    pub hot_warn: Option<std::time::Duration>,
    /// `--status` (`Some(None)`) or `--status=FILE` (`Some(Some(FILE))`): print the status
    /// of a running `--constant` daemon.
    pub status: Option<Option<OsString>>,
    /// `--queue=PATH` (`--constant`): the durable queue file.
    pub queue: Option<OsString>,
}

/// Why a command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// rsync has no such option.
    #[error("{0}: unknown option")]
    Unknown(String),
    /// An rsync option this implementation does not support yet.
    #[error("{0}: option not supported by rsync-constant yet")]
    NotSupported(String),
    /// An option that takes a value is the last argument.
    #[error("{0}: missing argument")]
    MissingValue(String),
    /// A value is malformed.
    #[error("{option}: invalid value {value:?}")]
    BadValue {
        /// The option.
        option: String,
        /// What was given.
        value: String,
    },
    /// `--block-size` above what the protocol allows.
    #[error("--block-size={size} is too large (max: {max})")]
    BlockSizeTooLarge {
        /// What was given.
        size: u64,
        /// The largest allowed at the protocol asked for.
        max: u32,
    },
}

impl OptionsError {
    /// rsync's exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Unknown(_)
            | Self::MissingValue(_)
            | Self::BadValue { .. }
            | Self::BlockSizeTooLarge { .. } => ExitCode::Syntax,
            Self::NotSupported(_) => ExitCode::Unsupported,
        }
    }
}

/// Options rsync has that we recognise and refuse (instead of calling them unknown).
const NOT_SUPPORTED: &[&str] = &[
    "compress",
    "z",
    "acls",
    "A",
    "xattrs",
    "X",
    "sparse",
    "S",
    "backup",
    "b",
    "update",
    "u",
    "link-dest",
    "copy-dest",
    "compare-dest",
    "fuzzy",
    "y",
    "append",
    "append-verify",
    "delay-updates",
    "partial-dir",
    "temp-dir",
    "T",
    "max-delete",
    "min-size",
    "max-size",
    "bwlimit",
    "copy-links",
    "L",
    "copy-dirlinks",
    "k",
    "keep-dirlinks",
    "K",
    "one-file-system",
    "x",
    "cvs-exclude",
    "C",
    "F",
    "prune-empty-dirs",
    "m",
    "omit-dir-times",
    "O",
    "atimes",
    "U",
    "crtimes",
    "N",
    "iconv",
    "secluded-args",
    "s",
    "protect-args",
    "write-batch",
    "read-batch",
    "only-write-batch",
    "remove-source-files",
    "chmod",
    "chown",
    "usermap",
    "groupmap",
    "fake-super",
    "super",
    "copy-unsafe-links",
    "safe-links",
    "munge-links",
    "existing",
    "ignore-existing",
    "size-only",
    "modify-window",
    "@",
    "log-file",
    "out-format",
    "log-format",
    "password-file",
    "daemon",
    "address",
    "port",
    "sockopts",
    "list-only",
    "delete-delay",
    "max-alloc",
    "executability",
    "E",
    "hard-links-2",
    "compress-choice",
    "compress-level",
    "skip-compress",
    "filter-from",
    "mkpath",
    "contimeout",
    "outbuf",
    "8-bit-output",
    "human-readable",
    "h",
    "no-implied-dirs",
    "preallocate",
    "write-devices",
    "copy-devices",
    "open-noatime",
    "stop-after",
    "stop-at",
    "fsync",
];

/// Parses rsync-style arguments (without the program name): returns the options and the
/// remaining operands. `server` selects the server-side meaning of `-e` (capability
/// letters) instead of the client's `--rsh`.
pub fn parse(args: &[OsString], server: bool) -> Result<(Options, Vec<OsString>), OptionsError> {
    let mut o = Options::default();
    let mut operands = Vec::new();
    let mut i = 0;
    let value =
        |i: &mut usize, name: &str, inline: Option<&[u8]>| -> Result<Vec<u8>, OptionsError> {
            if let Some(v) = inline {
                return Ok(v.to_vec());
            }
            *i += 1;
            args.get(*i)
                .map(|a| a.as_bytes().to_vec())
                .ok_or_else(|| OptionsError::MissingValue(name.to_string()))
        };
    while i < args.len() {
        let arg = args[i].as_bytes();
        if arg == b"--" {
            operands.extend(args[i + 1..].iter().cloned());
            break;
        } else if let Some(long) = arg.strip_prefix(b"--") {
            let (name, inline) = match long.iter().position(|&b| b == b'=') {
                Some(eq) => (&long[..eq], Some(&long[eq + 1..])),
                None => (long, None),
            };
            let name = String::from_utf8_lossy(name).into_owned();
            long_option(&mut o, &name, inline, &mut i, &value)?;
        } else if arg.len() > 1 && arg[0] == b'-' {
            let mut k = 1;
            while k < arg.len() {
                let c = arg[k];
                let rest = &arg[k + 1..];
                let inline = (!rest.is_empty()).then_some(rest);
                match c {
                    b'e' if server => {
                        o.client_info = Some(rest.to_vec());
                        break;
                    }
                    b'e' => {
                        o.rsh = Some(OsString::from_vec(value(&mut i, "-e", inline)?));
                        break;
                    }
                    b'B' => {
                        o.block_size = Some(block_size("-B", &value(&mut i, "-B", inline)?)?);
                        break;
                    }
                    b'f' => {
                        o.filters
                            .push(FilterArg::Filter(value(&mut i, "-f", inline)?));
                        break;
                    }
                    _ => short_flag(&mut o, c)?,
                }
                k += 1;
            }
        } else {
            operands.push(args[i].clone());
        }
        i += 1;
    }
    if o.files_from.is_some() {
        // rsync: --files-from drops the recursion -a implies (an explicit -r stays) and
        // implies -R; it also transfers the listed directories themselves (an implied -d
        // the sender applies, see `transfers_dirs`).
        if !o.recursive_explicit {
            o.recursive = false;
        }
        o.relative = o.relative_explicit.unwrap_or(true);
    }
    if let Some(size) = o.block_size {
        // rsync refuses a block size the protocol cannot carry; a client's own --protocol
        // tells which (a server learns the protocol later and accepts the older bound).
        let max = if server || o.protocol.is_some_and(|p| p < 30) {
            OLD_MAX_BLOCK_SIZE
        } else {
            MAX_BLOCK_SIZE
        };
        if size > max {
            return Err(OptionsError::BlockSizeTooLarge {
                size: size.into(),
                max,
            });
        }
    }
    Ok((o, operands))
}

fn number<T: std::str::FromStr>(option: &str, v: &[u8]) -> Result<T, OptionsError> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| OptionsError::BadValue {
            option: option.to_string(),
            value: String::from_utf8_lossy(v).into_owned(),
        })
}

/// The largest `--block-size` from protocol 30 on (rsync's `MAX_BLOCK_SIZE`, 128 KiB).
pub const MAX_BLOCK_SIZE: u32 = 1 << 17;
/// The largest `--block-size` below protocol 30 (rsync's `OLD_MAX_BLOCK_SIZE`, 512 MiB).
pub const OLD_MAX_BLOCK_SIZE: u32 = 1 << 29;

/// A `--block-size` value: a decimal number (the bound for the protocol is checked once all
/// options are known); one beyond 32 bits is too large whatever the protocol.
fn block_size(option: &str, v: &[u8]) -> Result<u32, OptionsError> {
    let n: u64 = number(option, v)?;
    u32::try_from(n).map_err(|_| OptionsError::BlockSizeTooLarge {
        size: n,
        max: MAX_BLOCK_SIZE,
    })
}

/// A duration: a decimal number of seconds, or a number with a unit `ms`, `s`, `m` or `h`
/// (`250ms`, `1.5s`, `2m`).
pub fn duration(option: &str, v: &[u8]) -> Result<std::time::Duration, OptionsError> {
    let bad = || OptionsError::BadValue {
        option: option.to_string(),
        value: String::from_utf8_lossy(v).into_owned(),
    };
    let s = std::str::from_utf8(v).map_err(|_| bad())?;
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    std::time::Duration::try_from_secs_f64(n * scale).map_err(|_| bad())
}

fn short_flag(o: &mut Options, c: u8) -> Result<(), OptionsError> {
    match c {
        b'v' => o.verbose = o.verbose.saturating_add(1),
        b'q' => o.quiet = true,
        b'n' => o.dry_run = true,
        b'a' => {
            // -a = -rlptgoD
            o.recursive = true;
            o.links = true;
            o.perms = true;
            o.times = true;
            o.group = true;
            o.owner = true;
            o.devices = true;
            o.specials = true;
        }
        b'r' => {
            o.recursive = true;
            o.recursive_explicit = true;
        }
        b'd' => o.dirs = true,
        b'l' => o.links = true,
        b'p' => o.perms = true,
        b't' => o.times = true,
        b'g' => o.group = true,
        b'o' => o.owner = true,
        b'D' => {
            o.devices = true;
            o.specials = true;
        }
        b'H' => o.hard_links = true,
        b'c' => o.checksum = true,
        b'I' => o.ignore_times = true,
        b'W' => o.whole_file = Some(true),
        b'R' => o.relative = true,
        b'i' => o.itemize = o.itemize.saturating_add(1),
        b'V' => o.version = true,
        b'P' => {
            o.partial = true;
            o.progress = true;
        }
        c if NOT_SUPPORTED.contains(&std::str::from_utf8(&[c]).unwrap_or("")) => {
            return Err(OptionsError::NotSupported(format!("-{}", c as char)))
        }
        c => return Err(OptionsError::Unknown(format!("-{}", c as char))),
    }
    Ok(())
}

type ValueFn<'a> = dyn Fn(&mut usize, &str, Option<&[u8]>) -> Result<Vec<u8>, OptionsError> + 'a;

fn long_option(
    o: &mut Options,
    name: &str,
    inline: Option<&[u8]>,
    i: &mut usize,
    value: &ValueFn<'_>,
) -> Result<(), OptionsError> {
    let flag = |field: &mut bool, on: bool| *field = on;
    let (base, on) = match name.strip_prefix("no-") {
        Some(b) => (b, false),
        None => (name, true),
    };
    let opt = format!("--{name}");
    match base {
        "verbose" => o.verbose = if on { o.verbose.saturating_add(1) } else { 0 },
        "quiet" => flag(&mut o.quiet, on),
        "dry-run" => flag(&mut o.dry_run, on),
        "archive" if on => short_flag(o, b'a')?,
        "recursive" | "r" => {
            o.recursive = on;
            o.recursive_explicit = on;
        }
        "dirs" | "d" => flag(&mut o.dirs, on),
        "links" | "l" => flag(&mut o.links, on),
        "perms" | "p" => flag(&mut o.perms, on),
        "times" | "t" => flag(&mut o.times, on),
        "group" | "g" => flag(&mut o.group, on),
        "owner" | "o" => flag(&mut o.owner, on),
        "devices" => flag(&mut o.devices, on),
        "specials" => flag(&mut o.specials, on),
        "D" => {
            o.devices = on;
            o.specials = on;
        }
        "hard-links" | "H" => flag(&mut o.hard_links, on),
        "numeric-ids" => flag(&mut o.numeric_ids, on),
        "checksum" | "c" => flag(&mut o.checksum, on),
        "ignore-times" | "I" => flag(&mut o.ignore_times, on),
        "whole-file" | "W" => o.whole_file = Some(on),
        "inplace" => flag(&mut o.inplace, on),
        "partial" => flag(&mut o.partial, on),
        "relative" | "R" => {
            o.relative = on;
            o.relative_explicit = Some(on);
        }
        "implied-dirs" if on => {}
        "delete" | "del" => o.delete = on.then_some(DeleteMode::Default),
        "delete-during" if on => o.delete = Some(DeleteMode::During),
        "delete-after" if on => o.delete = Some(DeleteMode::After),
        "delete-before" if on => o.delete = Some(DeleteMode::Before),
        "itemize-changes" => o.itemize = if on { o.itemize.saturating_add(1) } else { 0 },
        "stats" => flag(&mut o.stats, on),
        "progress" => flag(&mut o.progress, on),
        "info" if on => {
            let v = value(i, &opt, inline)?;
            if v == b"progress2" {
                o.progress = true;
            } else {
                return Err(OptionsError::NotSupported(format!(
                    "--info={}",
                    String::from_utf8_lossy(&v)
                )));
            }
        }
        "from0" | "0" => flag(&mut o.from0, on),
        "files-from" if on => o.files_from = Some(OsString::from_vec(value(i, &opt, inline)?)),
        "include" if on => o.filters.push(FilterArg::Include(value(i, &opt, inline)?)),
        "exclude" if on => o.filters.push(FilterArg::Exclude(value(i, &opt, inline)?)),
        "filter" if on => o.filters.push(FilterArg::Filter(value(i, &opt, inline)?)),
        "include-from" if on => o
            .filters
            .push(FilterArg::IncludeFrom(OsString::from_vec(value(
                i, &opt, inline,
            )?))),
        "exclude-from" if on => o
            .filters
            .push(FilterArg::ExcludeFrom(OsString::from_vec(value(
                i, &opt, inline,
            )?))),
        "delete-excluded" if on => {
            o.delete_excluded = true;
            o.delete.get_or_insert(DeleteMode::Default);
            o.filters.push(FilterArg::DeleteExcluded);
        }
        "force" => flag(&mut o.force, on),
        "trust-sender" if on => o.trust_sender = true,
        // rsync sets bits (1 ignore, 2 delete) and reads 3 as 2: delete wins in any order.
        "delete-missing-args" if on => o.missing_args = MissingArgs::Delete,
        "ignore-missing-args" if on => {
            if o.missing_args != MissingArgs::Delete {
                o.missing_args = MissingArgs::Ignore;
            }
        }
        "protocol" if on => o.protocol = Some(number(&opt, &value(i, &opt, inline)?)?),
        "timeout" if on => o.timeout = Some(number(&opt, &value(i, &opt, inline)?)?),
        "block-size" | "B" if on => {
            o.block_size = Some(block_size(&opt, &value(i, &opt, inline)?)?)
        }
        "checksum-choice" | "cc" if on => {
            o.checksum_choice = Some(String::from_utf8_lossy(&value(i, &opt, inline)?).into_owned())
        }
        "checksum-seed" if on => o.checksum_seed = Some(number(&opt, &value(i, &opt, inline)?)?),
        "rsh" if on => o.rsh = Some(OsString::from_vec(value(i, &opt, inline)?)),
        "rsync-path" if on => o.rsync_path = Some(OsString::from_vec(value(i, &opt, inline)?)),
        "log-format" if on && o.server => {
            // rsync (options.c): the server only learns whether the client's output shows
            // item flags, for which items (`%I`: all), or names (`%o`); it sets the itemize
            // level and is refused on a client command line.
            let v = value(i, &opt, inline)?;
            if v.windows(2).any(|w| w == b"%I") {
                o.itemize = 2;
            } else if v.windows(2).any(|w| w == b"%i") {
                o.itemize = o.itemize.max(1);
            }
        }
        "constant" if on => match inline {
            None => o.constant = true,
            Some(v) => o.constant_version = Some(number(&opt, v)?),
        },
        "settle" if on => o.settle = Some(duration(&opt, &value(i, &opt, inline)?)?),
        "hot-warn" if on => o.hot_warn = Some(duration(&opt, &value(i, &opt, inline)?)?),
        "status" if on => o.status = Some(inline.map(|v| OsString::from_vec(v.to_vec()))),
        "queue" if on => o.queue = Some(OsString::from_vec(value(i, &opt, inline)?)),
        "version" if on => o.version = true,
        "server" if on => o.server = true,
        "sender" if on => o.sender = true,
        b if NOT_SUPPORTED.contains(&b) => return Err(OptionsError::NotSupported(opt)),
        _ => return Err(OptionsError::Unknown(opt)),
    }
    Ok(())
}

impl Options {
    /// Whether the sender transfers directories named on the command line or in
    /// `--files-from` themselves (`-d`, implied by `--files-from`).
    pub fn transfers_dirs(&self) -> bool {
        self.dirs || self.files_from.is_some()
    }

    /// The arguments a client passes to its remote end after the program name, as rsync's
    /// `server_options` builds them for the options we support. `client_is_sender` is true
    /// for a push. `letters` are the capability letters we offer (e.g. `b"LsfxCIvu"`);
    /// they are sent (as `-e.LETTERS`) only when `protocol ≥ 30`.
    pub fn server_args(
        &self,
        client_is_sender: bool,
        protocol: u32,
        letters: &[u8],
    ) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["--server".into()];
        if !client_is_sender {
            args.push("--sender".into());
        }
        let mut s = vec![b'-'];
        s.extend(std::iter::repeat_n(b'v', usize::from(self.verbose.min(9))));
        let mut put = |on: bool, c: u8| {
            if on {
                s.push(c);
            }
        };
        put(self.dry_run, b'n');
        put(self.links, b'l');
        // rsync sends an implied -d (from --files-from) only for a push with --delete.
        put(
            self.dirs && !self.recursive
                || (self.files_from.is_some()
                    && !self.recursive
                    && self.delete.is_some()
                    && client_is_sender),
            b'd',
        );
        put(self.whole_file == Some(true), b'W');
        put(self.hard_links, b'H');
        put(self.owner, b'o');
        put(self.group, b'g');
        put(self.devices, b'D');
        put(self.times, b't');
        put(self.perms, b'p');
        put(self.recursive, b'r');
        put(self.checksum, b'c');
        put(self.ignore_times, b'I');
        put(self.relative, b'R');
        if protocol >= 30 {
            s.push(b'e');
            s.push(b'.');
            s.extend_from_slice(letters);
        }
        if s.len() > 1 {
            args.push(OsString::from_vec(s));
        }
        if self.devices && !self.specials {
            args.push("--no-specials".into());
        } else if !self.devices && self.specials {
            args.push("--specials".into());
        }
        if let Some(b) = self.block_size {
            args.push(format!("-B{b}").into());
        }
        if let Some(t) = self.timeout {
            args.push(format!("--timeout={t}").into());
        }
        if let Some(c) = &self.checksum_choice {
            args.push(format!("--checksum-choice={c}").into());
        }
        if client_is_sender {
            match self.delete {
                Some(DeleteMode::Before) => args.push("--delete-before".into()),
                Some(DeleteMode::During) => args.push("--delete-during".into()),
                Some(DeleteMode::After) => args.push("--delete-after".into()),
                Some(DeleteMode::Default) if !self.delete_excluded => {
                    args.push("--delete".into());
                }
                Some(DeleteMode::Default) | None => {}
            }
            if self.delete_excluded {
                args.push("--delete-excluded".into());
            }
            if self.force {
                args.push("--force".into());
            }
            if self.stats {
                args.push("--stats".into());
            }
            // rsync `server_options`: a client sender tells the server whether its output
            // shows item flags (the server generator then reports unchanged items too).
            if self.itemize > 1 {
                args.push("--log-format=%i%I".into());
            } else if self.itemize == 1 {
                args.push("--log-format=%i".into());
            }
        }
        // rsync `server_options`: --delete-missing-args needs both sides (a receiver must
        // accept mode-0 entries); a sender handles --ignore-missing-args alone.
        match self.missing_args {
            MissingArgs::Delete => args.push("--delete-missing-args".into()),
            MissingArgs::Ignore if !client_is_sender => {
                args.push("--ignore-missing-args".into());
            }
            _ => {}
        }
        if let Some(seed) = self.checksum_seed {
            args.push(format!("--checksum-seed={seed}").into());
        }
        if self.partial && client_is_sender {
            args.push("--partial".into());
        }
        if self.numeric_ids {
            args.push("--numeric-ids".into());
        }
        if self.inplace {
            args.push("--inplace".into());
        }
        if self.files_from.is_some() && !client_is_sender {
            args.push("--files-from=-".into());
            args.push("--from0".into());
            if !self.relative {
                args.push("--no-relative".into());
            }
        }
        args
    }
}

/// Shows an argument list as a shell would need it, for error messages.
pub fn show_args(args: &[OsString]) -> String {
    args.iter()
        .map(|a| OsStr::new(a).to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests;
