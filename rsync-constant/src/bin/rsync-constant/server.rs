//! `--server [--sender]`: the remote end, speaking the protocol on stdin/stdout. Nothing is
//! ever written to stdout but the protocol; messages go to stderr.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use rsync_constant::options::{FilterArg, Options};
use rsync_constant::transfer::{Failures, Source};
use rsync_proto::driver::{self, DriverConfig};
use rsync_proto::handshake::Handshake;

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
    if opts.constant_version.is_some() || opts.constant {
        // The streaming extension's server side (RFC.md §15) is not wired yet: refuse before
        // the handshake, as a stock rsync does, so the client falls back to its session loop.
        eprintln!("rsync-constant: --constant on a server is not supported by this build yet");
        return exit_with(4);
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
    let cfg = match setup::server_config(opts, args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rsync-constant: {e:#}");
            return exit_with(1);
        }
    };
    let hs = match Handshake::server(cfg) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("rsync-constant: {e}");
            return exit_with(2);
        }
    };
    let failures = Failures::new();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rsync-constant: cannot start the runtime: {e}");
            return exit_with(14);
        }
    };
    let config = DriverConfig::default().with_timeout(
        opts.timeout
            .filter(|&t| t > 0)
            .map(|t| Duration::from_secs(t.into())),
    );
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
    let code = match result {
        Ok(o) => {
            if let Some(e) = &o.error {
                eprintln!("rsync-constant: {e}");
            }
            failures.exit_code(o.exit_code)
        }
        Err(e) => {
            eprintln!("rsync-constant: {e}");
            e.exit_code()
        }
    };
    // The runtime's blocking stdin reader may still wait on the peer: do not join it.
    rt.shutdown_background();
    exit_with(code)
}
