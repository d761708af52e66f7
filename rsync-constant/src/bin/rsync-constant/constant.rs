//! `--constant`: the daemon's command line, and `--status`.
//!
//! ```text
//! rsync-constant -a --constant --files-from=FIFO [--from0] [--settle=D] [--hot-warn=D]
//!     [--queue=PATH] [--timeout=T] [-i] [-e RSH] SRC/ DEST...
//! rsync-constant --status --files-from=FIFO      (or --status=STATUSFILE)
//! ```
//!
//! The first operand is the source directory (always taken as `SRC/`: names in the FIFO are
//! relative to it), every other operand is a mirror, local or `[USER@]HOST:PATH`. The queue
//! defaults to `FIFO.queue`, the status file is `FIFO.status`. The daemon runs until SIGINT
//! or SIGTERM, then stops cleanly (every name read from the FIFO is in the queue; the queue's
//! cursors are made durable) and exits 0.
//!
//! Each mirror is fed through the **streaming link** (RFC.md §15): one long-lived
//! `--server --constant=1 . DEST` peer (our own binary over a socket pair for a local DEST,
//! else through the remote shell) and the master role, which sends each name's current state
//! and waits for the mirror's acknowledgements; bootstrap is the tree `.`. A peer that refuses
//! `--constant=1` before the handshake (a stock rsync) is fed through the **session loop**
//! instead, for good: one ordinary one-shot client session per batch (`-r --files-from` the
//! batch's names, `--delete-missing-args`: a listed directory is sent with its subtree), the
//! same code as a command-line run; bootstrap is one `-a --delete SRC/ DEST` session.
//! With `-v`, the data sent over a streaming link is logged (literal and matched bytes).

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{bail, Context as _};
use rsync_constant::constant::daemon::{
    Connector, Daemon, DaemonConfig, Fallback, Link, LinkError, MirrorSpec, Observed, Observer,
    Opened, Snapshot, StreamLink,
};
use rsync_constant::constant::feed::FeedConfig;
use rsync_constant::constant::names::Separator;
use rsync_constant::constant::queue::{Entry, Queue, QueueConfig, QueueError};
use rsync_constant::exit::ExitCode as RsyncExit;
use rsync_constant::options::{DeleteMode, MissingArgs, Options};
use rsync_constant::transfer::{build_filters, SourceEpoch, TransferFs};
use rsync_proto::handshake::Handshake;
use rsync_proto::mux::MsgCode;

use crate::exit_with;
use crate::remote::{self, Operand};
use crate::setup::LETTERS;

/// Options that only make sense with `--constant`; refused without it.
pub(crate) fn check_constant_only(opts: &Options) -> Result<(), String> {
    if opts.constant {
        return Ok(());
    }
    let given = [
        (opts.settle.is_some(), "--settle"),
        (opts.hot_warn.is_some(), "--hot-warn"),
        (opts.queue.is_some(), "--queue"),
    ];
    match given.iter().find(|(on, _)| *on) {
        Some((_, name)) => Err(format!("{name} needs --constant")),
        None => Ok(()),
    }
}

/// `--status`: prints the status file of a running daemon as a table.
pub(crate) fn status(opts: &Options) -> ExitCode {
    let path = match (&opts.status, &opts.files_from) {
        (Some(Some(file)), _) => PathBuf::from(file),
        (_, Some(fifo)) => PathBuf::from(suffixed(fifo, ".status")),
        _ => {
            eprintln!("rsync-constant: --status needs --files-from=FIFO or --status=FILE");
            return exit_with(1);
        }
    };
    let snap = match Snapshot::read(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rsync-constant: {e}");
            return exit_with(3);
        }
    };
    print!("{}", snap.table(SystemTime::now()));
    let alive = i32::try_from(snap.pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok());
    if snap.state == "running" && !alive {
        println!("(the daemon, pid {}, is no longer running)", snap.pid);
    }
    ExitCode::SUCCESS
}

fn suffixed(path: &OsStr, suffix: &str) -> OsString {
    let mut p = path.to_os_string();
    p.push(suffix);
    p
}

/// What the daemon was asked to do.
struct Setup {
    fifo: PathBuf,
    separator: Separator,
    queue: PathBuf,
    status: PathBuf,
    /// `SRC/`.
    src: OsString,
    /// Every DEST operand, with its mirror id.
    dests: Vec<(Vec<u8>, OsString)>,
}

fn setup(opts: &Options, operands: &[OsString]) -> anyhow::Result<Setup> {
    let Some(fifo) = &opts.files_from else {
        bail!("--constant needs --files-from=FIFO");
    };
    if fifo == "-" {
        bail!("--constant needs a FIFO path for --files-from, not stdin");
    }
    let Some((src, dests)) = operands.split_first().filter(|(_, d)| !d.is_empty()) else {
        bail!("--constant needs a source directory and at least one mirror: SRC/ DEST...");
    };
    if remote::parse_operand(src.as_bytes()) != Operand::Local(src.as_bytes().to_vec()) {
        bail!("--constant: the source must be a local directory");
    }
    if !std::path::Path::new(src).is_dir() {
        bail!("--constant: {} is not a directory", src.to_string_lossy());
    }
    check_fifo_path(fifo)?;
    let mut src = src.clone().into_vec();
    if !src.ends_with(b"/") {
        src.push(b'/');
    }
    let cwd = std::env::current_dir().context("current directory")?;
    let mut mirrors = Vec::with_capacity(dests.len());
    for d in dests {
        let id = match remote::parse_operand(d.as_bytes()) {
            Operand::Daemon => bail!("--constant: rsync daemon mirrors are not supported"),
            Operand::Shell { .. } => d.as_bytes().to_vec(),
            // A local mirror is named by its absolute path, so that a restart from another
            // directory finds its cursor (and without trailing slashes: `m/` is `m`).
            Operand::Local(p) => {
                let mut id = cwd.join(OsStr::from_bytes(&p)).into_os_string().into_vec();
                while id.len() > 1 && id.ends_with(b"/") {
                    id.pop();
                }
                id
            }
        };
        if mirrors.iter().any(|(i, _)| *i == id) {
            bail!("--constant: mirror {} given twice", d.to_string_lossy());
        }
        mirrors.push((id, d.clone()));
    }
    Ok(Setup {
        fifo: PathBuf::from(fifo),
        separator: if opts.from0 {
            Separator::Nul
        } else {
            Separator::Newline
        },
        queue: PathBuf::from(
            opts.queue
                .clone()
                .unwrap_or_else(|| suffixed(fifo, ".queue")),
        ),
        status: PathBuf::from(suffixed(fifo, ".status")),
        src: OsString::from_vec(src),
        dests: mirrors,
    })
}

/// Refuses a `--files-from` path the daemon cannot use as its FIFO before anything is
/// created next to it: an existing file that is not a FIFO (a regular file is a one-shot
/// list: run without `--constant`), or a missing one whose directory does not exist. The
/// feed checks again when it opens the FIFO (and creates a missing one, mode 0600).
fn check_fifo_path(fifo: &OsStr) -> anyhow::Result<()> {
    use std::os::unix::fs::FileTypeExt as _;
    let shown = fifo.to_string_lossy();
    match std::fs::metadata(fifo) {
        Ok(m) if m.file_type().is_fifo() => Ok(()),
        Ok(m) => {
            let t = m.file_type();
            let kind = if t.is_file() {
                "a regular file"
            } else if t.is_dir() {
                "a directory"
            } else if t.is_socket() {
                "a socket"
            } else if t.is_char_device() || t.is_block_device() {
                "a device"
            } else {
                "not a FIFO"
            };
            let hint = if t.is_file() {
                "; to transfer the names listed in a file once, run without --constant"
            } else {
                ""
            };
            bail!(
                "--files-from={shown} is {kind}: --constant reads the names to mirror from a \
                 FIFO (it creates a missing one, mode 0600){hint}"
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = std::path::Path::new(fifo)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            match std::fs::metadata(dir) {
                Ok(m) if m.is_dir() => Ok(()),
                Ok(_) => bail!(
                    "--files-from={shown}: cannot create the FIFO: {} is not a directory",
                    dir.display()
                ),
                Err(e) => bail!(
                    "--files-from={shown}: cannot create the FIFO in {}: {e}",
                    dir.display()
                ),
            }
        }
        Err(e) => bail!("--files-from={shown}: {e}"),
    }
}

/// The session loop: one ordinary client session per batch.
struct SessionLink {
    /// Options of a batch session (`--files-from` names, `--delete-missing-args`).
    live: Options,
    /// Options of a full sync (`-r --delete`).
    full: Options,
    /// `SRC/ DEST`.
    operands: Vec<OsString>,
}

impl SessionLink {
    fn new(opts: &Options, src: &OsStr, dest: &OsStr) -> Self {
        let mut base = opts.clone();
        base.constant = false;
        base.settle = None;
        base.hot_warn = None;
        base.queue = None;
        base.status = None;
        base.from0 = false;
        let mut live = base.clone();
        // A marker: the names are handed over directly (`client::run_session`).
        live.files_from = Some(OsString::from("-"));
        // A listed directory comes with its subtree (`-r --files-from`): a directory moved
        // into SRC, or created with its content, has names nobody listed.
        live.recursive = true;
        // A listed name missing at the source is a delete on the mirror, a directory with
        // its content (`--force`).
        live.missing_args = MissingArgs::Delete;
        live.force = true;
        let mut full = base;
        full.files_from = None;
        full.recursive = true;
        full.relative = opts.relative_explicit.unwrap_or(false);
        full.delete.get_or_insert(DeleteMode::Default);
        Self {
            live,
            full,
            operands: vec![src.to_os_string(), dest.to_os_string()],
        }
    }
}

/// Maps a session's exit code to the link's outcome.
fn outcome(result: anyhow::Result<i32>) -> Result<(), LinkError> {
    match result {
        Ok(0) => Ok(()),
        Ok(code) => {
            let what = RsyncExit::from_code(code).map_or("unexplained error", RsyncExit::message);
            let msg = format!("session ended with code {code} ({what})");
            if code == 23 || code == 24 {
                Err(LinkError::partial(msg))
            } else {
                Err(LinkError::down(msg))
            }
        }
        Err(e) => Err(LinkError::down(format!("{e:#}"))),
    }
}

impl Link for SessionLink {
    async fn connect(&mut self) -> Result<(), LinkError> {
        Ok(())
    }

    async fn full_sync(&mut self) -> Result<(), LinkError> {
        outcome(crate::client::run_session(&self.full, &self.operands, None).await)
    }

    async fn deliver(&mut self, entries: &[Entry]) -> Result<(), LinkError> {
        if entries.iter().any(|e| e.name.is_root()) {
            // `.`: the whole tree may have changed.
            return self.full_sync().await;
        }
        let names = entries.iter().map(|e| e.name.as_bytes().to_vec()).collect();
        outcome(crate::client::run_session(&self.live, &self.operands, Some(names)).await)
    }
}

/// The default `--timeout` of a streaming link (RFC.md §15.9): keepalives every 30 s, a
/// silent peer is dropped after 60 s.
const STREAM_TIMEOUT: u32 = 60;

/// Starts the peer of a streaming link (RFC.md §15.2): `--server -CLUSTER [LONG...]
/// --constant=1 . DEST`, our own binary over a socket pair for a local DEST, else through
/// the remote shell.
struct StreamConnector {
    /// The daemon's options (filters, attributes, `-e`, `--rsync-path`).
    opts: Options,
    /// Options of the master role (`--constant`-only options and deletions cleared).
    master: Options,
    /// The server's arguments, `--constant=1` last.
    server_args: Vec<OsString>,
    /// `(user, host)` of a remote DEST.
    remote: Option<(Option<Vec<u8>>, Vec<u8>)>,
    /// The path the server gets after `.`.
    path: Vec<u8>,
    /// `SRC`.
    src: PathBuf,
    /// The mirror's id, for log lines.
    id: String,
}

impl StreamConnector {
    fn new(opts: &Options, src: &OsStr, id: &[u8], dest: &OsStr) -> anyhow::Result<Self> {
        let mut master = opts.clone();
        master.constant = false;
        master.settle = None;
        master.hot_warn = None;
        master.queue = None;
        master.status = None;
        master.from0 = false;
        master.files_from = None;
        master.relative = opts.relative_explicit.unwrap_or(false);
        master.delete = None;
        master.delete_excluded = false;
        master.inplace = false;
        master.dry_run = false;
        master.checksum = false;
        master.missing_args = MissingArgs::default();
        master.force = false;
        master.stats = false;
        master.partial = false;
        // Deltas even towards a local mirror: a rename costs block copies only.
        master.whole_file = None;
        master.timeout = Some(opts.timeout.unwrap_or(STREAM_TIMEOUT));
        let protocol = crate::setup::protocol(&master)?;
        if protocol < 31 {
            bail!("the streaming link needs protocol 31 or later");
        }
        let mut server_args = master.server_args(true, u32::from(protocol), LETTERS);
        server_args.push(OsString::from("--constant=1"));
        let (remote, path) = match remote::parse_operand(dest.as_bytes()) {
            Operand::Shell { user, host, path } => (Some((user, host)), path),
            Operand::Local(p) => (None, p),
            Operand::Daemon => bail!("--constant: rsync daemon mirrors are not supported"),
        };
        Ok(Self {
            opts: opts.clone(),
            master,
            server_args,
            remote,
            path,
            src: PathBuf::from(src),
            id: String::from_utf8_lossy(id).into_owned(),
        })
    }

    /// Prints the mirror's `-i` lines on stdout, logs its warnings and the data sent.
    fn observer(&self) -> Observer {
        let id = self.id.clone();
        let verbose = self.opts.verbose > 0;
        Box::new(move |o: Observed<'_>| match o {
            Observed::Message(MsgCode::Info, text) => {
                use std::io::Write as _;
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text);
                let _ = out.flush();
            }
            Observed::Message(_, text) => {
                let text = String::from_utf8_lossy(text);
                tracing::warn!(mirror = %id, "{}", text.trim_end());
            }
            Observed::Sent {
                path,
                literal,
                matched,
            } if verbose => {
                tracing::info!(
                    mirror = %id,
                    "sent {}: {literal} literal bytes, {matched} matched",
                    String::from_utf8_lossy(path.as_bytes())
                );
            }
            Observed::Sent { .. } => {}
        })
    }
}

impl Connector for StreamConnector {
    type Executor = TransferFs;

    fn open(&mut self) -> Result<Opened<TransferFs>, LinkError> {
        let down = |e: anyhow::Error| LinkError::down(format!("{e:#}"));
        let cfg = crate::setup::client_config(&self.master).map_err(down)?;
        let handshake = Handshake::client(cfg).map_err(|e| LinkError::down(e.to_string()))?;
        let filter = build_filters(&self.master).map_err(|e| LinkError::down(e.to_string()))?;
        let peer = crate::client::spawn_server(
            &self.opts,
            self.remote.as_ref(),
            &self.server_args,
            std::slice::from_ref(&self.path),
        )
        .map_err(down)?;
        let epoch = SourceEpoch::new();
        Ok(Opened {
            reader: peer.reader,
            writer: peer.writer,
            handshake,
            start: crate::setup::start_master(
                self.master.clone(),
                self.src.clone(),
                filter,
                epoch.clone(),
            ),
            config: crate::setup::driver_config(self.master.timeout),
            child: Some(peer.child),
            observer: Some(self.observer()),
            epoch: Some(epoch),
        })
    }
}

/// Runs the daemon until SIGINT or SIGTERM.
pub(crate) fn run(opts: &Options, operands: &[OsString]) -> ExitCode {
    log::init(if opts.quiet {
        tracing::Level::WARN
    } else {
        tracing::Level::INFO
    });
    match daemon(opts, operands) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, e)) => {
            eprintln!("rsync-constant: {e:#}");
            // The daemon's own failure: a peer's report in an earlier session does not
            // stand for it.
            crate::PEER_REPORTED.store(false, std::sync::atomic::Ordering::Relaxed);
            exit_with(code)
        }
    }
}

fn daemon(opts: &Options, operands: &[OsString]) -> Result<(), (i32, anyhow::Error)> {
    let s = setup(opts, operands).map_err(|e| (1, e))?;
    let qconfig = QueueConfig {
        settle: opts.settle.unwrap_or_default(),
        hot_warn: opts.hot_warn,
        ..QueueConfig::default()
    };
    let queue = match Queue::open(&s.queue, qconfig) {
        Ok(q) => Arc::new(q),
        Err(e @ QueueError::Locked { .. }) => {
            return Err((
                3,
                anyhow::anyhow!("{e} (is another daemon running on this FIFO?)"),
            ))
        }
        // The error's own text names the problem; the path says which file.
        Err(e) => return Err((3, anyhow::anyhow!("{}: {e}", s.queue.display()))),
    };
    let mirrors = s
        .dests
        .iter()
        .map(|(id, dest)| {
            let stream = StreamConnector::new(opts, &s.src, id, dest).map_err(|e| (1, e))?;
            Ok(MirrorSpec {
                id: id.clone(),
                link: Fallback::new(
                    StreamLink::new(stream),
                    SessionLink::new(opts, &s.src, dest),
                ),
            })
        })
        .collect::<Result<Vec<_>, (i32, anyhow::Error)>>()?;
    let config = DaemonConfig::new(FeedConfig::new(&s.fifo, s.separator), Some(s.status));
    let daemon =
        Daemon::start(config, queue, mirrors, crate::setup::runtime).map_err(|e| (3, e.into()))?;
    let mut names = String::new();
    for (_, d) in &s.dests {
        let _ = write!(names, " {}", d.to_string_lossy());
    }
    tracing::info!(
        "constant mode: {} -> {} (FIFO {}, queue {})",
        s.src.to_string_lossy(),
        names.trim_start(),
        s.fifo.display(),
        s.queue.display()
    );
    let rt = crate::setup::runtime().map_err(|e| (14, e.into()))?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).ok();
        let mut int = signal(SignalKind::interrupt()).ok();
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
        loop {
            tokio::select! {
                Some(()) = async { term.as_mut()?.recv().await } => break,
                Some(()) = async { int.as_mut()?.recv().await } => break,
                _ = tick.tick() => {
                    if daemon.feed_failed() {
                        break;
                    }
                }
            }
        }
    });
    tracing::info!("stopping");
    daemon.stop().map_err(|e| (11, e.into()))
}

/// A minimal `tracing` subscriber: events at or above a level, one line each on stderr
/// (`rsync-constant: LEVEL: message key=value...`). The library logs rejected names, hot
/// paths, mirror errors and retries through `tracing`.
mod log {
    use std::fmt::{self, Write as _};
    use std::io::Write as _;

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata};

    struct Stderr {
        max: Level,
    }

    #[derive(Default)]
    struct Line {
        message: String,
        fields: String,
    }

    impl Visit for Line {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                let _ = write!(self.message, "{value:?}");
            } else {
                let _ = write!(self.fields, " {}={value:?}", field.name());
            }
        }

        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "message" {
                self.message.push_str(value);
            } else {
                let _ = write!(self.fields, " {}={value}", field.name());
            }
        }
    }

    impl tracing::Subscriber for Stderr {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            *metadata.level() <= self.max
        }

        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }

        fn record(&self, _: &Id, _: &Record<'_>) {}

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, event: &Event<'_>) {
            let mut line = Line::default();
            event.record(&mut line);
            let level = event.metadata().level().as_str().to_ascii_lowercase();
            let _ = writeln!(
                std::io::stderr().lock(),
                "rsync-constant: {level}: {}{}",
                line.message,
                line.fields
            );
        }

        fn enter(&self, _: &Id) {}

        fn exit(&self, _: &Id) {}
    }

    /// Installs the subscriber (once; later calls do nothing).
    pub(super) fn init(max: Level) {
        let _ = tracing::subscriber::set_global_default(Stderr { max });
    }
}
