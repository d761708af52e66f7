//! `--server [--sender]`: the remote end, speaking the protocol on stdin/stdout. Nothing is
//! ever written to stdout but the protocol; messages go to stderr.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use rsync_constant::options::Options;
use rsync_constant::transfer::{check_filters, Failures, Source};
use rsync_proto::driver::{self, DriverConfig};
use rsync_proto::handshake::Handshake;

use crate::exit_with;
use crate::setup::{self, Work};

/// Runs the server; `operands` are `.` then the paths.
pub(crate) fn run(opts: &Options, args: &[OsString], operands: Vec<OsString>) -> ExitCode {
    if let Err(e) = check_filters(&opts.filters) {
        eprintln!("rsync-constant: {e}");
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
    let start = crate::client::forwarding(setup::start(opts, true, false, work, failures.clone()));
    let result = rt.block_on(async {
        let (reader, writer, saved) = crate::stdio::stdio();
        let r = driver::run(reader, writer, hs, start, |_, _| {}, config).await;
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
