//! `--server [--sender]`: the remote end, speaking the protocol on stdin/stdout. Nothing is
//! ever written to stdout but the protocol; messages go to stderr. With `--constant=1`, a
//! long-lived mirror of the streaming link (RFC.md §15).

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;
use std::process::ExitCode;

use rsync_constant::itemize::{self, ItemizeContext};
use rsync_constant::options::{FilterArg, Options};
use rsync_constant::transfer::{Failures, Source};
use rsync_proto::constant::{ConstantError, Mirror, MirrorEvent};
use rsync_proto::driver::{self, ConstantApp};
use rsync_proto::handshake::Handshake;
use rsync_proto::mux::MsgCode;
use rsync_proto::session::SessionError;

use crate::exit_with;
use crate::setup::{self, Work};

/// Runs the server; `operands` are `.` then the paths.
pub(crate) fn run(opts: &Options, args: &[OsString], operands: Vec<OsString>) -> ExitCode {
    // A server's rules come from the client over the wire; rules on its own command
    // line (rsync clients never send them there) are refused rather than ignored.
    if !opts
        .filters
        .iter()
        .all(|f| matches!(f, FilterArg::DeleteExcluded))
    {
        eprintln!("rsync-constant: filter options on a server command line are not supported");
        return exit_with(4);
    }
    if opts.constant {
        eprintln!("rsync-constant: a server takes --constant=N, not --constant");
        return exit_with(1);
    }
    if let Some(version) = opts.constant_version {
        return mirror(opts, args, &operands, version);
    }
    let paths: Vec<Vec<u8>> = operands
        .iter()
        .skip(1)
        .map(|p| p.as_bytes().to_vec())
        .map(|p| if p.is_empty() { b".".to_vec() } else { p })
        .collect();
    let work = if opts.sender {
        if paths.is_empty() {
            eprintln!("rsync-constant: --server --sender needs a source path");
            return exit_with(1);
        }
        Work::Send {
            sources: paths.into_iter().map(Source).collect(),
            files_from: None,
        }
    } else {
        let dest = paths.first().cloned().unwrap_or_else(|| b".".to_vec());
        Work::Receive {
            dest: PathBuf::from(std::ffi::OsStr::from_bytes(&dest)),
            files_from: None,
        }
    };
    let (hs, rt) = match prepare(opts, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let failures = Failures::new();
    let config = setup::driver_config(opts.timeout);
    let start = setup::start(
        opts,
        true,
        false,
        work,
        failures.clone(),
        rsync_proto::filter::FilterList::new(),
    );
    let result = rt.block_on(async {
        let (reader, writer, saved) = crate::stdio::stdio();
        // A server's own errors and warnings go to its stderr (rsync 3.5.0's
        // `--stderr=errors`), which the remote shell carries to the client; its info
        // lines travel as MSG_INFO inside the session.
        let observe = |event: &rsync_proto::session::Event, _: driver::Progress<'_>| {
            if let rsync_proto::session::Event::Log { code, text } = event {
                if *code != rsync_proto::mux::MsgCode::Info {
                    use std::io::Write as _;
                    let mut e = std::io::stderr().lock();
                    let _ = e.write_all(text.strip_suffix(b"\n").unwrap_or(text));
                    let _ = e.write_all(b"\n");
                }
            }
        };
        let r = driver::run(reader, writer, hs, start, observe, config).await;
        crate::stdio::restore(&saved);
        r
    });
    let (code, ended) = match result {
        Ok(o) => match &o.error {
            // The client printed its error; rsync's server then exits without a word.
            Some(SessionError::PeerExit { .. }) => (failures.exit_code(o.exit_code), true),
            Some(e) => {
                eprintln!("rsync-constant: {e}");
                (failures.exit_code(o.exit_code), false)
            }
            None => (failures.exit_code(o.exit_code), true),
        },
        Err(e) => {
            if !e.shown() {
                eprintln!("rsync-constant: {e}");
            }
            (e.exit_code(), false)
        }
    };
    // The runtime's blocking stdin reader may still wait on the peer: do not join it.
    rt.shutdown_background();
    crate::server_exit(code, ended)
}

/// Why `--constant=N` cannot be served with these options (RFC.md §15.2 `[const-argv]`).
fn constant_refusal(opts: &Options, version: u32) -> Option<String> {
    if version != 1 {
        return Some(format!(
            "--constant={version}: only version 1 of the extension is supported"
        ));
    }
    let refused = [
        (opts.sender, "--sender"),
        (opts.files_from.is_some(), "--files-from"),
        (opts.delete.is_some() || opts.delete_excluded, "--delete"),
        (opts.inplace, "--inplace"),
        (opts.dry_run, "--dry-run"),
        (opts.checksum, "--checksum"),
    ];
    refused
        .iter()
        .find(|(on, _)| *on)
        .map(|(_, name)| format!("{name} cannot be used with --constant"))
}

/// The mirror's application: its itemized changes (with `-i`) and log lines go to the
/// master as `MSG_INFO` (errors as `MSG_ERROR`), which prints them.
struct MirrorApp {
    itemize: bool,
    ctx: ItemizeContext,
    messages: std::collections::VecDeque<(MsgCode, Vec<u8>)>,
}

impl ConstantApp<Mirror> for MirrorApp {
    fn feed(&mut self, _: &mut Mirror) -> Result<(), ConstantError> {
        Ok(())
    }

    fn event(&mut self, event: MirrorEvent) {
        match event {
            MirrorEvent::Itemize {
                entry,
                iflags,
                xname,
                ..
            } if self.itemize => {
                let mut line = itemize::item_string(iflags, &entry, self.ctx).into_bytes();
                line.push(b' ');
                line.extend_from_slice(&itemize::name_and_link(&entry, xname.as_deref()));
                line.push(b'\n');
                self.messages.push_back((MsgCode::Info, line));
            }
            MirrorEvent::Deleted { path, is_dir, .. } if self.itemize => {
                let mut line = itemize::DELETING.as_bytes().to_vec();
                line.extend_from_slice(path.as_bytes());
                if is_dir {
                    line.push(b'/');
                }
                line.push(b'\n');
                self.messages.push_back((MsgCode::Info, line));
            }
            MirrorEvent::Log { code, text } => self.messages.push_back((code, text)),
            _ => {}
        }
    }

    fn poll_message(&mut self) -> Option<(MsgCode, Vec<u8>)> {
        self.messages.pop_front()
    }
}

/// What both kinds of server start with: the server handshake of the command line and a
/// runtime; on failure, the message is printed and the exit code returned.
fn prepare(
    opts: &Options,
    args: &[OsString],
) -> Result<(Handshake, tokio::runtime::Runtime), ExitCode> {
    let cfg = setup::server_config(opts, args).map_err(|e| {
        eprintln!("rsync-constant: {e:#}");
        exit_with(1)
    })?;
    let hs = Handshake::server(cfg).map_err(|e| {
        eprintln!("rsync-constant: {e}");
        exit_with(2)
    })?;
    let rt = setup::runtime().map_err(|e| {
        eprintln!("rsync-constant: cannot start the runtime: {e}");
        exit_with(14)
    })?;
    Ok((hs, rt))
}

/// `--server --constant=N . DEST`: a long-lived mirror (RFC.md §15) until the master's
/// `BYE` or the end of the connection.
fn mirror(opts: &Options, args: &[OsString], operands: &[OsString], version: u32) -> ExitCode {
    if let Some(why) = constant_refusal(opts, version) {
        eprintln!("rsync-constant: {why}");
        return exit_with(1);
    }
    let dest = operands
        .get(1)
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let (hs, rt) = match prepare(opts, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let config = setup::driver_config(opts.timeout);
    let failures = Failures::new();
    let mut app = MirrorApp {
        itemize: opts.itemize > 0 || opts.verbose > 0,
        ctx: ItemizeContext {
            sending_remote: false,
            preserve_times: opts.times,
            symlink_times: true,
            transfer_flags_unknown: false,
        },
        messages: std::collections::VecDeque::new(),
    };
    let start = setup::start_mirror(opts, dest, failures);
    let wake = tokio::sync::Notify::new();
    let result = rt.block_on(async {
        let (reader, writer, saved) = crate::stdio::stdio();
        let r = driver::run_constant(reader, writer, hs, start, &mut app, &wake, config).await;
        crate::stdio::restore(&saved);
        r
    });
    let code = match result {
        Ok(o) => {
            if let Some(e) = &o.error {
                eprintln!("rsync-constant: {e}");
            }
            o.exit_code
        }
        Err(e) => {
            eprintln!("rsync-constant: {e}");
            e.exit_code()
        }
    };
    rt.shutdown_background();
    crate::server_exit(code, false)
}
