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
use rsync_proto::session::SessionError;
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

/// Classifies the operands as rsync's `start_client` does: the first source decides the
/// direction (remote: a pull, whose other sources must be on the same host or start with
/// `:`; local: a local copy or a push, whose other sources must be local). `files_from` are
/// the names of `--files-from` (read by the caller, or a `--constant` batch). An error is
/// rsync's exit code and the message.
fn plan(operands: &[OsString], files_from: Option<Vec<Vec<u8>>>) -> Result<Plan, (i32, String)> {
    let usage = |m: String| (1, m);
    let Some((dest, sources)) = operands.split_last() else {
        return Err(usage("a source and a destination are required".into()));
    };
    let Some(first) = sources.first() else {
        return Err((
            4,
            "listing files (a single operand) is not supported by rsync-constant yet".into(),
        ));
    };
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
    let empty_host = |arg: &OsString| {
        usage(format!(
            "{}: the host name before ':' is empty (write ./{} for a local file)",
            arg.to_string_lossy(),
            arg.to_string_lossy()
        ))
    };
    match parsed.first() {
        Some(Operand::Shell { user, host, .. }) => {
            if host.is_empty() {
                return Err(empty_host(first));
            }
            if matches!(dest_op, Operand::Shell { .. }) {
                return Err(usage(
                    "The source and destination cannot both be remote.".into(),
                ));
            }
            if dest.is_empty() {
                return Err(usage(EMPTY_DEST.into()));
            }
            let peer = (user.clone(), host.clone());
            let mut paths = Vec::with_capacity(parsed.len());
            for (arg, o) in sources.iter().zip(&parsed) {
                match o {
                    Operand::Shell { host, path, .. } => {
                        if !host.is_empty() && *host != peer.1 {
                            return Err(usage(
                                "All source args must come from the same machine.".into(),
                            ));
                        }
                        paths.push(path.clone());
                    }
                    _ => {
                        return Err(usage(format!(
                            "Unexpected local arg: {}\nIf arg is a remote file/dir, prefix it \
                             with a colon (:).",
                            arg.to_string_lossy()
                        )))
                    }
                }
            }
            Ok(Plan {
                sending: false,
                remote: Some(peer),
                server_paths: paths,
                work: Work::Receive {
                    dest: PathBuf::from(OsStr::from_bytes(dest.as_bytes())),
                    files_from,
                },
            })
        }
        _ => {
            let mut local = Vec::with_capacity(parsed.len());
            for (arg, o) in sources.iter().zip(parsed) {
                match o {
                    Operand::Local(p) if p.is_empty() => {
                        return Err(usage("Empty source arg specified.".into()))
                    }
                    Operand::Local(p) => local.push(Source(p)),
                    _ => {
                        return Err(usage(format!(
                            "Unexpected remote arg: {}",
                            arg.to_string_lossy()
                        )))
                    }
                }
            }
            let (remote, path) = match dest_op {
                Operand::Shell { host, .. } if host.is_empty() => return Err(empty_host(dest)),
                Operand::Shell { user, host, path } => (Some((user, host)), path),
                Operand::Local(p) if p.is_empty() => return Err(usage(EMPTY_DEST.into())),
                Operand::Local(p) => (None, p),
                Operand::Daemon => return Err((4, "daemon".into())),
            };
            Ok(Plan {
                sending: true,
                remote,
                server_paths: vec![path],
                work: Work::Send {
                    sources: local,
                    files_from,
                },
            })
        }
    }
}

/// rsync's refusal of an empty destination operand.
const EMPTY_DEST: &str = "Empty destination arg specified (use \".\" or see --old-args).";

/// Runs the client.
pub(crate) fn run(opts: &Options, operands: Vec<OsString>) -> ExitCode {
    let fail = |code: i32, msg: &dyn std::fmt::Display| {
        eprintln!("rsync-constant: {msg}");
        exit_with(code)
    };
    // What rsync refuses before it starts a peer: an unusable --protocol (exit 2, as its
    // handshake does) or checksum name (exit 4, as its checksum.c does).
    if let Err(e) = setup::protocol(opts) {
        return fail(2, &e);
    }
    if let Err(e) = setup::checksum_choice(opts) {
        return fail(4, &e);
    }
    let filter = match build_filters(opts) {
        Ok(f) => f,
        Err(e) => return fail(e.exit_code(), &e),
    };
    let mut plan = match plan(&operands, None) {
        Ok(p) => p,
        Err((code, msg)) => return fail(code, &msg),
    };
    if let Some((user, host)) = &plan.remote {
        // A malformed -e command or host is a usage error, found before anything starts.
        let rsh = rsh_command(opts);
        if let Err(e) = remote::remote_command(rsh.as_bytes(), user.as_deref(), host, b"", &[], &[])
        {
            return fail(1, &e);
        }
    }
    if let Some(f) = &opts.files_from {
        if f != "-" && remote::parse_operand(f.as_bytes()) != Operand::Local(f.as_bytes().to_vec())
        {
            return if plan.remote.is_none() {
                fail(
                    1,
                    &"--files-from cannot be remote when the transfer is local",
                )
            } else {
                fail(
                    4,
                    &format_args!(
                        "--files-from={}: a remote list (HOST:PATH) is not supported by \
                         rsync-constant yet",
                        f.to_string_lossy()
                    ),
                )
            };
        }
        match setup::read_files_from(f, opts.from0) {
            Ok(names) => plan.work.set_files_from(names),
            // rsync exits with a usage error when it cannot open the list.
            Err(e) => return fail(1, &format_args!("{e:#}")),
        }
    }
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

/// The remote shell: `-e`, else `RSYNC_RSH`, else `ssh`.
fn rsh_command(opts: &Options) -> OsString {
    opts.rsh
        .clone()
        .or_else(|| std::env::var_os("RSYNC_RSH"))
        .unwrap_or_else(|| OsString::from("ssh"))
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
                .env(crate::LOCAL_SERVER_ENV, "1")
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
            let rsh = rsh_command(opts);
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
                .with_context(|| format!("Failed to exec {}", prog.to_string_lossy()))?;
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
    let mut peer = match spawn_peer(opts, &plan) {
        Ok(p) => p,
        Err(e) => {
            // rsync: a remote shell (or local server) that cannot be started is an error
            // in its IPC code.
            eprintln!("rsync-constant: {e:#}");
            return Ok(14);
        }
    };
    let local = plan.remote.is_none();
    let failures = Failures::new();
    let mut console = Console::new(opts, plan.sending, !local);
    let config = setup::driver_config(opts.timeout);
    let start = setup::start_with_sources(
        opts,
        false,
        local,
        plan.work,
        failures.clone(),
        filter,
        if plan.sending {
            Vec::new()
        } else {
            plan.server_paths
        },
    );
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
    // The peer stopped with MSG_ERROR_EXIT (io.c): a remote peer has printed its error and
    // closing line; a local copy's server prints none, so ours stands.
    let peer_exited = || crate::PEER_REPORTED.store(!local, std::sync::atomic::Ordering::Relaxed);
    let code = match result {
        Ok(o) => {
            match &o.error {
                Some(SessionError::PeerExit { .. }) => peer_exited(),
                Some(e) => eprintln!("rsync-constant: {e}"),
                None => {}
            }
            console.finish(&o);
            failures.exit_code(o.exit_code)
        }
        Err(DriverError::Session(e @ SessionError::PeerExit { .. })) => {
            peer_exited();
            e.exit_code()
        }
        Err(e) => {
            // The receiver printed its fatal error when it happened.
            if !e.shown() {
                eprintln!("rsync-constant: {e}");
            }
            e.exit_code()
        }
    };
    Ok(match status {
        Some(s) if code == 0 && s != 0 => s,
        _ => code,
    })
}
