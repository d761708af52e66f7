//! `rsync-constant [OPTIONS] SRC... DEST`: an rsync-compatible client (local copies through
//! a spawned `--server`, push and pull through a remote shell) and, with `--server`, the
//! remote end a stock rsync client can start with `--rsync-path=rsync-constant`.

mod client;
mod constant;
mod output;
mod remote;
mod server;
mod setup;
mod stdio;
mod version;

use std::ffi::OsString;
use std::process::ExitCode;

use rsync_constant::exit::ExitCode as RsyncExit;
use rsync_constant::options;

/// Set when the session ended because the peer reported its own fatal error
/// (`MSG_ERROR_EXIT`): rsync then prints no closing line of its own (io.c calls
/// `_exit_cleanup` with a negative line, which skips `log_exit`); the peer printed its.
pub(crate) static PEER_REPORTED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Prints rsync's closing error line (unless [`PEER_REPORTED`]) and returns the code.
pub(crate) fn exit_with(code: i32) -> ExitCode {
    if code != 0 && !PEER_REPORTED.load(std::sync::atomic::Ordering::Relaxed) {
        let msg = RsyncExit::from_code(code).map_or("unexplained error", RsyncExit::message);
        eprintln!("rsync-constant error: {msg} (code {code})");
    }
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Set in the environment of the server a local copy starts (its stderr is the client's):
/// the client prints the closing error line, so the server does not print a second one.
pub(crate) const LOCAL_SERVER_ENV: &str = "RSYNC_CONSTANT_LOCAL_SERVER";

/// What a server returns at the end of a transfer: [`exit_with`], without the closing line
/// when it is the server of a local copy, or when the session itself ended well (`ended`)
/// and the code only tells of files that failed or vanished: the client prints that line
/// (rsync's cleanup.c sets `am_server = 2` on a normal exit, and log_exit is then silent).
pub(crate) fn server_exit(code: i32, ended: bool) -> ExitCode {
    if ended || std::env::var_os(LOCAL_SERVER_ENV).is_some() {
        ExitCode::from(u8::try_from(code).unwrap_or(1))
    } else {
        exit_with(code)
    }
}

fn usage() -> &'static str {
    "usage: rsync-constant [OPTIONS] SRC... DEST\n\
     \x20      rsync-constant [OPTIONS] SRC... [USER@]HOST:DEST\n\
     \x20      rsync-constant [OPTIONS] [USER@]HOST:SRC... DEST\n\
     \x20      rsync-constant -a --constant --files-from=FIFO [--from0] [--settle=D]\n\
     \x20          [--hot-warn=D] [--queue=PATH] [-i] [-e RSH] SRC/ DEST...\n\
     \x20      rsync-constant --status --files-from=FIFO (or --status=STATUSFILE)\n\
     Options have rsync's meaning (-a -r -l -p -t -g -o -D -H -v -i -n -c -W --delete\n\
     --stats --progress --files-from --from0 -e --rsync-path --protocol --timeout ...);\n\
     --constant mirrors SRC to every DEST continuously, fed by the names written to FIFO;\n\
     --version (-V) shows what this build supports."
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let server = args.iter().any(|a| a == "--server");
    let (opts, operands) = match options::parse(&args, server) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("rsync-constant: {e}");
            if !server {
                eprintln!("{}", usage());
            }
            return exit_with(i32::from(e.exit_code().code()));
        }
    };
    if opts.version {
        let _ = std::io::Write::write_all(&mut std::io::stdout(), version::banner().as_bytes());
        return ExitCode::SUCCESS;
    }
    if server {
        server::run(&opts, &args, operands)
    } else if let Err(msg) = constant::check_constant_only(&opts) {
        eprintln!("rsync-constant: {msg}");
        exit_with(1)
    } else if opts.status.is_some() {
        constant::status(&opts)
    } else if opts.constant {
        constant::run(&opts, &operands)
    } else {
        client::run(&opts, operands)
    }
}
