//! The client: classifies the operands, starts the peer (our own `--server` over a socket
//! pair for a local copy, or the remote shell), runs the driver and prints like rsync.

use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};

use anyhow::{anyhow, bail, Context as _};
use rsync_constant::options::Options;
use rsync_constant::transfer::{build_filters, Failures, Source};
use rsync_proto::driver::{self, DriverError, Outcome};
use rsync_proto::filter::FilterList;
use rsync_proto::handshake::Handshake;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::exit_with;
use crate::output::Console;
use crate::remote::{self, Operand};
use crate::setup::{self, Work, LETTERS};

/// What the client was asked to do.
struct Plan {
    /// We send (local copy or push) or receive (pull).
    sending: bool,
    /// The peer: `None` for a local copy (our own server).
    remote: Option<(Option<Vec<u8>>, Vec<u8>)>,
    /// Paths the server gets after `.`.
    server_paths: Vec<Vec<u8>>,
    /// Our side's work.
    work: Work,
}

/// Classifies the operands; `files_from` are the names of `--files-from` (read by the
/// caller, or a `--constant` batch).
fn plan(operands: &[OsString], files_from: Option<Vec<Vec<u8>>>) -> Result<Plan, (i32, String)> {
    let usage = |m: &str| (1, m.to_string());
    let Some((dest, sources)) = operands.split_last() else {
        return Err(usage("a source and a destination are required"));
    };
    if sources.is_empty() {
        return Err((
            4,
            "listing files (a single operand) is not supported by rsync-constant yet".into(),
        ));
    }
    let parsed: Vec<Operand> = sources
        .iter()
        .map(|s| remote::parse_operand(s.as_bytes()))
        .collect();
    let dest_op = remote::parse_operand(dest.as_bytes());
    if parsed.contains(&Operand::Daemon) || dest_op == Operand::Daemon {
        return Err((
            4,
            "rsync daemon transfers (HOST::MODULE, rsync://) are not supported by rsync-constant yet"
                .into(),
        ));
    }
    let any_remote_src = parsed.iter().any(|o| matches!(o, Operand::Shell { .. }));
    match (dest_op, any_remote_src) {
        (Operand::Shell { .. }, true) => {
            Err(usage("The source and destination cannot both be remote."))
        }
        (Operand::Shell { user, host, path }, false) => {
            let sources = parsed
                .into_iter()
                .filter_map(|o| match o {
                    Operand::Local(p) => Some(Source(p)),
                    _ => None,
                })
                .collect();
            Ok(Plan {
                sending: true,
                remote: Some((user, host)),
                server_paths: vec![path],
                work: Work::Send {
                    sources,
                    files_from,
                },
            })
        }
        (Operand::Local(d), true) => {
            let mut peer: Option<(Option<Vec<u8>>, Vec<u8>)> = None;
            let mut paths = Vec::new();
            for o in parsed {
                match o {
                    Operand::Shell { user, host, path } => {
                        let this = (user, host);
                        if peer.as_ref().is_some_and(|p| *p != this) {
                            return Err(usage("all remote sources must be on the same host"));
                        }
                        peer = Some(this);
                        paths.push(path);
                    }
                    Operand::Local(p) if p.is_empty() => {}
                    // `host:a :b` is rsync's shorthand for more paths on the same host.
                    Operand::Local(p) => paths.push(p.strip_prefix(b":").unwrap_or(&p).to_vec()),
                    Operand::Daemon => {}
                }
            }
            Ok(Plan {
                sending: false,
                remote: peer,
                server_paths: paths,
                work: Work::Receive {
                    dest: PathBuf::from(OsStr::from_bytes(&d)),
                    files_from,
                },
            })
        }
        (Operand::Local(d), false) => Ok(Plan {
            sending: true,
            remote: None,
            server_paths: vec![d],
            work: Work::Send {
                sources: parsed
                    .into_iter()
                    .filter_map(|o| match o {
                        Operand::Local(p) => Some(Source(p)),
                        _ => None,
                    })
                    .collect(),
                files_from,
            },
        }),
        (Operand::Daemon, _) => Err((4, "daemon".into())),
    }
}

/// Runs the client.
pub(crate) fn run(opts: &Options, operands: Vec<OsString>) -> ExitCode {
    let filter = match build_filters(opts) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rsync-constant: {e}");
            return exit_with(e.exit_code());
        }
    };
    let files_from = match &opts.files_from {
        Some(f) => match setup::read_files_from(f, opts.from0) {
            Ok(names) => Some(names),
            Err(e) => {
                eprintln!("rsync-constant: {e:#}");
                return exit_with(3);
            }
        },
        None => None,
    };
    let plan = match plan(&operands, files_from) {
        Ok(p) => p,
        Err((code, msg)) => {
            eprintln!("rsync-constant: {msg}");
            return exit_with(code);
        }
    };
    let rt = match setup::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rsync-constant: cannot start the runtime: {e}");
            return exit_with(14);
        }
    };
    let code = match rt.block_on(transfer(opts, plan, filter)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rsync-constant: {e:#}");
            5
        }
    };
    rt.shutdown_background();
    exit_with(code)
}

/// Runs one ordinary client session as [`run`] does, on the caller's runtime, with the
/// `--files-from` names given (`None`: the operands only) instead of read from a file: what
/// the `--constant` session loop runs per batch. Returns rsync's exit code; messages go to
/// stderr and itemized lines to stdout as for a command-line run.
pub(crate) async fn run_session(
    opts: &Options,
    operands: &[OsString],
    files_from: Option<Vec<Vec<u8>>>,
) -> anyhow::Result<i32> {
    let filter = build_filters(opts).map_err(|e| anyhow!("{e}"))?;
    let plan = plan(operands, files_from).map_err(|(_, msg)| anyhow!(msg))?;
    transfer(opts, plan, filter).await
}

/// The peer process and our ends of its stdio.
pub(crate) struct Peer {
    /// The server, or the remote shell that runs it.
    pub(crate) child: tokio::process::Child,
    /// What the peer writes.
    pub(crate) reader: Box<dyn AsyncRead + Unpin + Send>,
    /// What the peer reads.
    pub(crate) writer: Box<dyn AsyncWrite + Unpin + Send>,
}

fn spawn_peer(opts: &Options, plan: &Plan) -> anyhow::Result<Peer> {
    let protocol = setup::protocol(opts)?;
    let mut server_opts = opts.clone();
    if plan.remote.is_none() && server_opts.whole_file.is_none() {
        // rsync's local copies default to whole files; our server must know it is local.
        server_opts.whole_file = Some(true);
    }
    let server_args = server_opts.server_args(plan.sending, u32::from(protocol), LETTERS);
    spawn_server(opts, plan.remote.as_ref(), &server_args, &plan.server_paths)
}

/// Starts the server with `server_args` (then `.` and `paths`): our own binary over a socket
/// pair when `remote` is `None`, else through the remote shell (`-e`, `RSYNC_RSH`, `ssh`) on
/// `(user, host)` with `--rsync-path`.
pub(crate) fn spawn_server(
    opts: &Options,
    remote: Option<&(Option<Vec<u8>>, Vec<u8>)>,
    server_args: &[OsString],
    paths: &[Vec<u8>],
) -> anyhow::Result<Peer> {
    match remote {
        None => {
            // A local copy: our own server over a socket pair, as rsync forks its server.
            let exe = std::env::current_exe().context("locating rsync-constant")?;
            let (ours, theirs) =
                std::os::unix::net::UnixStream::pair().context("creating a socket pair")?;
            let theirs = OwnedFd::from(theirs);
            let child = tokio::process::Command::new(exe)
                .args(server_args)
                .arg(".")
                .args(paths.iter().map(|p| OsStr::from_bytes(p)))
                .stdin(Stdio::from(theirs.try_clone()?))
                .stdout(Stdio::from(theirs))
                .kill_on_drop(true)
                .spawn()
                .context("starting the local server")?;
            ours.set_nonblocking(true)?;
            let stream = tokio::net::UnixStream::from_std(ours)?;
            let (r, w) = stream.into_split();
            Ok(Peer {
                child,
                reader: Box::new(r),
                writer: Box::new(w),
            })
        }
        Some((user, host)) => {
            let rsh = opts
                .rsh
                .clone()
                .or_else(|| std::env::var_os("RSYNC_RSH"))
                .unwrap_or_else(|| OsString::from("ssh"));
            let rsync_path = opts
                .rsync_path
                .clone()
                .unwrap_or_else(|| OsString::from("rsync-constant"));
            let cmd = remote::remote_command(
                rsh.as_bytes(),
                user.as_deref(),
                host,
                rsync_path.as_bytes(),
                server_args,
                paths,
            )
            .map_err(|e| anyhow!(e))?;
            let Some((prog, rest)) = cmd.split_first() else {
                bail!("empty remote shell command");
            };
            let mut child = tokio::process::Command::new(prog)
                .args(rest)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting the remote shell {prog:?}"))?;
            let w = child.stdin.take().context("remote shell stdin")?;
            let r = child.stdout.take().context("remote shell stdout")?;
            remote::enlarge_pipe(&w);
            remote::enlarge_pipe(&r);
            Ok(Peer {
                child,
                reader: Box::new(r),
                writer: Box::new(w),
            })
        }
    }
}

async fn transfer(opts: &Options, plan: Plan, filter: FilterList) -> anyhow::Result<i32> {
    let cfg = setup::client_config(opts)?;
    let hs = Handshake::client(cfg)?;
    let mut peer = spawn_peer(opts, &plan)?;
    let local = plan.remote.is_none();
    let failures = Failures::new();
    let mut console = Console::new(opts, plan.sending, !local);
    let config = setup::driver_config(opts.timeout);
    let start = setup::start(opts, false, local, plan.work, failures.clone(), filter);
    let result: Result<Outcome, DriverError> = driver::run(
        peer.reader,
        peer.writer,
        hs,
        start,
        |e, p| console.event(e, p),
        config,
    )
    .await;
    // Our ends are closed (the driver owned them); the peer ends on its own.
    let status = peer.child.wait().await.ok().and_then(|s| s.code());
    let code = match result {
        Ok(o) => {
            if let Some(e) = &o.error {
                eprintln!("rsync-constant: {e}");
            }
            console.finish(&o);
            failures.exit_code(o.exit_code)
        }
        Err(e) => {
            eprintln!("rsync-constant: {e}");
            e.exit_code()
        }
    };
    Ok(match status {
        Some(s) if code == 0 && s != 0 => s,
        _ => code,
    })
}
