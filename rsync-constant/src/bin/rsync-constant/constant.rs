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
//! Each mirror is fed through the **session loop**: one ordinary one-shot client session per
//! batch (`-r --files-from` the batch's names, `--delete-missing-args`: a listed directory
//! is sent with its subtree), the same code as a
//! command-line run, towards our own server for a local DEST or through the remote shell;
//! bootstrap is one `-a --delete SRC/ DEST` session.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{bail, Context as _};
use rsync_constant::constant::daemon::{
    Daemon, DaemonConfig, Link, LinkError, MirrorSpec, Snapshot,
};
use rsync_constant::constant::feed::FeedConfig;
use rsync_constant::constant::names::Separator;
use rsync_constant::constant::queue::{Entry, Queue, QueueConfig, QueueError};
use rsync_constant::exit::ExitCode as RsyncExit;
use rsync_constant::options::{DeleteMode, MissingArgs, Options};

use crate::exit_with;
use crate::remote::{self, Operand};

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

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
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
        Err(e) => return Err((3, e.into())),
    };
    let mirrors = s
        .dests
        .iter()
        .map(|(id, dest)| MirrorSpec {
            id: id.clone(),
            link: SessionLink::new(opts, &s.src, dest),
        })
        .collect();
    let config = DaemonConfig::new(FeedConfig::new(&s.fifo, s.separator), Some(s.status));
    let daemon = Daemon::start(config, queue, mirrors, runtime).map_err(|e| (3, e.into()))?;
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
    let rt = runtime().map_err(|e| (14, e.into()))?;
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
