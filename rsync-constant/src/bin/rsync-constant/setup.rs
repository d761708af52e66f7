//! From command-line [`Options`] to handshake configurations, session options and
//! executors, the same way on the client and the server.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use rsync_constant::options::{DeleteMode, Options};
use rsync_constant::transfer::{
    Failures, ReceiverFs, ReceiverOptions, SenderFs, SenderOptions, Source, SourceEpoch, TransferFs,
};
use rsync_core::checksum::ChecksumKind;
use rsync_proto::constant::{ConstantConfig, ConstantError, Master, Mirror};
use rsync_proto::driver::{DriverConfig, StartConstant, StartSession};
use rsync_proto::filter::wire::WireContext;
use rsync_proto::filter::{FilterError, FilterList, ImpliedFilter, ImpliedOptions};
use rsync_proto::handshake::{
    ClientConfig, ClientInfo, CompatFlags, Negotiated, ServerConfig, CF_ID0_NAMES, CF_SAFE_FLIST,
};
use rsync_proto::session::{
    DeleteTiming, FilesFrom, Receiver, Sender, Session, SessionError, SessionOptions,
};

/// The single-threaded runtime every run of the binary drives its connections on.
///
/// It also takes over `SIGXFSZ` (a file over `RLIMIT_FSIZE`), whose default action would
/// kill the process: as with stock rsync, which ignores it, the write fails with `EFBIG`
/// instead and is reported for that file. (Tokio's handler stays installed for the life of
/// the process once registered.)
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        drop(signal(SignalKind::from_raw(
            rustix::process::Signal::XFSZ.as_raw(),
        )));
    });
    Ok(rt)
}

/// The driver configuration of `--timeout=SECS` (0 or absent: none).
pub(crate) fn driver_config(timeout: Option<u32>) -> DriverConfig {
    DriverConfig::default().with_timeout(
        timeout
            .filter(|&t| t > 0)
            .map(|t| std::time::Duration::from_secs(t.into())),
    )
}

/// The capability letters we offer as a client (rsync's, without incremental recursion).
pub(crate) const LETTERS: &[u8] = b"LsfxCIvu";
/// The compat flags those letters allow.
pub(crate) const FLAGS: CompatFlags = CompatFlags(0x1fe);
/// The protocol we announce.
pub(crate) const PROTOCOL: u8 = 32;

/// What a side does in the transfer.
pub(crate) enum Work {
    /// Send these operands.
    Send {
        /// Source operands.
        sources: Vec<Source>,
        /// Names of a local `--files-from`.
        files_from: Option<Vec<Vec<u8>>>,
    },
    /// Receive into this destination operand.
    Receive {
        /// Destination operand.
        dest: PathBuf,
        /// Names of a local `--files-from` to forward to the server sender (a pull).
        files_from: Option<Vec<Vec<u8>>>,
    },
}

impl Work {
    /// Sets the `--files-from` names the client read.
    pub(crate) fn set_files_from(&mut self, names: Vec<Vec<u8>>) {
        match self {
            Self::Send { files_from, .. } | Self::Receive { files_from, .. } => {
                *files_from = Some(names);
            }
        }
    }
}

/// The checksum named by `--checksum-choice`.
pub(crate) fn checksum_choice(opts: &Options) -> anyhow::Result<Option<ChecksumKind>> {
    let Some(name) = &opts.checksum_choice else {
        return Ok(None);
    };
    let first = name.split(',').next().unwrap_or_default();
    if first == "auto" {
        return Ok(None);
    }
    match ChecksumKind::from_name(first.as_bytes()) {
        Some(ChecksumKind::Md4) => {
            bail!("--checksum-choice=md4 is not supported (its seed order depends on the build)")
        }
        Some(k) => Ok(Some(k)),
        None => bail!("unknown checksum name: {first}"),
    }
}

/// The protocol to announce: ours, or `--protocol=N`.
pub(crate) fn protocol(opts: &Options) -> anyhow::Result<u8> {
    match opts.protocol {
        None => Ok(PROTOCOL),
        Some(p @ 27..=32) => Ok(p as u8),
        Some(p) => bail!("--protocol={p} is not supported (27 to 32 are)"),
    }
}

/// The client's handshake configuration.
pub(crate) fn client_config(opts: &Options) -> anyhow::Result<ClientConfig> {
    Ok(ClientConfig {
        protocol: protocol(opts)?,
        offered: FLAGS,
        checksum_choice: checksum_choice(opts)?,
        ..ClientConfig::default()
    })
}

/// The server's handshake configuration for the argv it was started with.
pub(crate) fn server_config(opts: &Options, args: &[OsString]) -> anyhow::Result<ServerConfig> {
    let info = ClientInfo::from_args(args.iter().map(|a| a.as_bytes()));
    let seed = opts.checksum_seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i32);
        t ^ ((std::process::id() as i32) << 6)
    });
    let mut c = ServerConfig::new(info, seed);
    c.protocol = protocol(opts)?;
    c.allowed = FLAGS;
    c.checksum_choice = checksum_choice(opts)?;
    Ok(c)
}

/// Session options for the negotiated protocol.
pub(crate) fn session_options(
    n: &Negotiated,
    opts: &Options,
    server: bool,
    local: bool,
    files_from: FilesFrom,
) -> SessionOptions {
    let mut o = SessionOptions::new(n, server);
    o.flist.preserve_uid = opts.owner;
    o.flist.preserve_gid = opts.group;
    o.flist.preserve_links = opts.links;
    o.flist.preserve_devices = opts.devices;
    o.flist.preserve_specials = opts.specials;
    o.flist.preserve_hard_links = opts.hard_links;
    o.flist.numeric_ids = opts.numeric_ids;
    o.flist.relative = opts.relative;
    o.flist.id0_names = n.compat_flags.contains(CF_ID0_NAMES);
    o.flist.safe_flist = n.protocol >= 31 || n.compat_flags.contains(CF_SAFE_FLIST);
    o.checksum = opts.checksum;
    o.files_from = files_from;
    o.ignore_times = opts.ignore_times;
    o.whole_file = opts.whole_file.unwrap_or(local);
    o.block_size = opts.block_size.unwrap_or(0);
    o.preserve_perms = opts.perms;
    o.preserve_times = opts.times;
    o.dry_run = opts.dry_run;
    o.delete = opts.delete.map(|d| match d {
        DeleteMode::After => DeleteTiming::After,
        DeleteMode::Before => DeleteTiming::Before,
        DeleteMode::During => DeleteTiming::During,
        // rsync: before the transfer below protocol 30, during it from 30.
        DeleteMode::Default => DeleteTiming::Auto,
    });
    o.force = opts.force;
    o.missing_args = opts.missing_args;
    o.recursive = opts.recursive;
    o.itemize = opts.itemize;
    o.verbose = opts.verbose;
    o.inplace = opts.inplace;
    o.am_root = rustix::process::geteuid().is_root();
    if !o.am_root {
        let mut groups: Vec<u32> = nix::unistd::getgroups()
            .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
            .unwrap_or_default();
        groups.push(rustix::process::getegid().as_raw());
        o.our_groups = Some(groups);
    }
    o
}

/// The process umask (read by setting and restoring it).
pub(crate) fn umask() -> u32 {
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    rustix::process::umask(old);
    old.as_raw_mode()
}

/// Builds the session and the executor once the handshake is done.
pub(crate) fn start<'a>(
    opts: &'a Options,
    server: bool,
    local: bool,
    work: Work,
    failures: Failures,
    filter: FilterList,
) -> StartSession<'a, TransferFs> {
    start_with_sources(opts, server, local, work, failures, filter, Vec::new())
}

/// [`start`] for a client that knows its source operands: a pull over a remote shell
/// (`sources` are the operands without their `HOST:`) checks that the sender lists only
/// names they request (see [`implied_filter`]) unless `--trust-sender`.
pub(crate) fn start_with_sources<'a>(
    opts: &'a Options,
    server: bool,
    local: bool,
    work: Work,
    failures: Failures,
    filter: FilterList,
    sources: Vec<Vec<u8>>,
) -> StartSession<'a, TransferFs> {
    Box::new(move |n: &Negotiated| {
        let (ff, sending) = match &work {
            Work::Send { .. } if server && opts.files_from.is_some() => (FilesFrom::Receive, true),
            Work::Send { .. } => (FilesFrom::None, true),
            Work::Receive {
                files_from: Some(names),
                ..
            } if !server => (FilesFrom::Send(names.clone()), false),
            Work::Receive { .. } => (FilesFrom::None, false),
        };
        let mut so = session_options(n, opts, server, local, ff);
        so.delete_excluded = opts.delete_excluded;
        if !server {
            so.filter_rules = wire_rules(&filter, n.protocol, sending, opts.delete.is_some())
                .map_err(|e| SessionError::BadFilter {
                    reason: e.to_string(),
                })?;
            so.filter = Some(filter.clone());
        }
        let strong = so.strong;
        let am_root = so.am_root;
        let id0 = so.flist.id0_names;
        let session: Box<dyn Session + Send> = match &work {
            _ if sending => Box::new(Sender::new(so)?),
            // A client pull checks the sender's names (rsync ≥ 3.2.5); a local copy and a
            // server trust their peer, as rsync's do.
            Work::Receive { files_from, .. } if !server && !local => {
                let r = Receiver::new(so)?;
                Box::new(if opts.trust_sender {
                    r.trust_sender()
                } else {
                    r.with_requested(implied_filter(opts, &sources, files_from.as_deref()))
                })
            }
            _ => Box::new(Receiver::new(so)?.trust_sender()),
        };
        let fs = match work {
            Work::Send {
                sources,
                files_from,
            } => {
                let s = sender_options(opts, n.protocol, id0);
                let fs = SenderFs::new(sources, s, failures).with_filter(filter);
                TransferFs::Send(Box::new(match files_from {
                    Some(names) => fs.with_files_from(names),
                    None => fs,
                }))
            }
            Work::Receive { dest, .. } => {
                let r = receiver_options(opts, am_root);
                TransferFs::Receive(Box::new(ReceiverFs::new(dest, strong, r, failures)))
            }
        };
        Ok((session, fs))
    })
}

/// The names a pulling client requested (rsync main.c `client_run`, io.c
/// `forward_filesfrom_data`): each source operand, except that with a local `--files-from`
/// the first operand (the base directory) gives way to the list's names.
pub(crate) fn implied_filter(
    opts: &Options,
    sources: &[Vec<u8>],
    files_from: Option<&[Vec<u8>]>,
) -> ImpliedFilter {
    let io = ImpliedOptions {
        relative: opts.relative,
        recursive: opts.recursive,
        dirs: opts.recursive || opts.transfers_dirs(),
    };
    let mut f = ImpliedFilter::new(io);
    match files_from {
        Some(names) => {
            for n in names {
                f.add_arg(n);
            }
            for s in sources.iter().skip(1) {
                f.add_arg(s);
            }
        }
        None => {
            for s in sources {
                f.add_arg(s);
            }
        }
    }
    f
}

/// What a client's rules put on the wire (rsync's `send_filter_list`) at `protocol`.
fn wire_rules(
    filter: &FilterList,
    protocol: u8,
    client_is_sender: bool,
    delete: bool,
) -> Result<Vec<Vec<u8>>, FilterError> {
    let ctx = WireContext {
        protocol: u32::from(protocol.min(32)),
        client_is_sender,
        delete,
        prune_empty_dirs: false,
    };
    Ok(filter.wire_rules(&ctx)?.unwrap_or_default())
}

/// The sender executor's options for `opts` at protocol `protocol`.
pub(crate) fn sender_options(opts: &Options, protocol: u8, id0_names: bool) -> SenderOptions {
    let mut s = SenderOptions::default();
    s.recursive = opts.recursive;
    s.dirs = opts.transfers_dirs();
    s.links = opts.links;
    s.devices = opts.devices;
    s.specials = opts.specials;
    s.hard_links = opts.hard_links;
    s.hlink_every_file = opts.hard_links && protocol < 28;
    s.user_names = opts.owner && !opts.numeric_ids;
    s.group_names = opts.group && !opts.numeric_ids;
    s.id0_names = id0_names;
    s.relative = opts.relative;
    s.protocol = u32::from(protocol.min(32));
    s.delete_excluded = opts.delete_excluded;
    s.missing_args = opts.missing_args;
    s
}

/// The receiver executor's options for `opts`.
pub(crate) fn receiver_options(opts: &Options, am_root: bool) -> ReceiverOptions {
    let mut r = ReceiverOptions::default();
    r.perms = opts.perms;
    r.times = opts.times;
    r.owner = opts.owner;
    r.group = opts.group;
    r.numeric_ids = opts.numeric_ids;
    r.dry_run = opts.dry_run;
    r.partial = opts.partial;
    r.checksum = opts.checksum;
    r.inplace = opts.inplace;
    r.names = opts.verbose > 0 || opts.itemize > 0;
    r.umask = umask();
    r.am_root = am_root;
    r
}

/// Builds a constant master (the daemon's streaming link, RFC.md §15) and its source
/// executor beneath `src` once the handshake is done.
pub(crate) fn start_master(
    opts: Options,
    src: PathBuf,
    filter: FilterList,
    epoch: SourceEpoch,
) -> StartConstant<'static, Master, TransferFs> {
    Box::new(move |n: &Negotiated| {
        let mut so = session_options(n, &opts, false, false, FilesFrom::None);
        so.filter_rules =
            wire_rules(&filter, n.protocol, true, true).map_err(|e| ConstantError::Filter {
                reason: e.to_string(),
            })?;
        so.filter = Some(filter.clone());
        let id0 = so.flist.id0_names;
        let master = Master::new(so, ConstantConfig::default())?;
        let s = sender_options(&opts, n.protocol, id0);
        let fs = SenderFs::for_constant(src, s, Failures::new())
            .map_err(|e| {
                tracing::error!("--constant: {e}");
                ConstantError::Unsupported {
                    what: "the source cannot be opened",
                }
            })?
            .with_filter(filter)
            .with_source_epoch(epoch);
        Ok((master, TransferFs::Send(Box::new(fs))))
    })
}

/// Builds a constant mirror (`--server --constant=1`, RFC.md §15) and its executor
/// writing beneath `dest` once the handshake is done.
pub(crate) fn start_mirror(
    opts: &Options,
    dest: PathBuf,
    failures: Failures,
) -> StartConstant<'_, Mirror, TransferFs> {
    Box::new(move |n: &Negotiated| {
        let so = session_options(n, opts, true, false, FilesFrom::None);
        let strong = so.strong;
        let am_root = so.am_root;
        let cfg = ConstantConfig::default();
        let mirror = Mirror::new(so, cfg)?;
        let r = receiver_options(opts, am_root);
        let fs = ReceiverFs::for_constant(dest, strong, r, failures, cfg.max_open_files).map_err(
            |e| {
                eprintln!("rsync-constant: {e}");
                ConstantError::Unsupported {
                    what: "the destination cannot be opened",
                }
            },
        )?;
        Ok((mirror, TransferFs::Receive(Box::new(fs))))
    })
}

/// Reads `--files-from` names (NUL-separated with `--from0`, else lines; blank lines and
/// lines starting with `#` or `;` are skipped, as rsync does).
pub(crate) fn read_files_from(path: &OsString, from0: bool) -> anyhow::Result<Vec<Vec<u8>>> {
    let data = if path == "-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v).context("reading stdin")?;
        v
    } else {
        // rsync's wording (options.c), naming the file and the system's reason.
        let shown = path.to_string_lossy();
        let mut file = std::fs::File::open(path)
            .with_context(|| format!("failed to open files-from file {shown}"))?;
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut v)
            .with_context(|| format!("failed to read files-from file {shown}"))?;
        v
    };
    let names = if from0 {
        data.split(|&b| b == 0)
            .filter(|n| !n.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    } else {
        data.split(|&b| b == b'\n' || b == b'\r')
            .filter(|n| !n.is_empty() && !n.starts_with(b"#") && !n.starts_with(b";"))
            .map(<[u8]>::to_vec)
            .collect()
    };
    Ok(names)
}
