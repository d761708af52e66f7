//! `rsync-tests-wire-relay LOG COMMAND [ARGS...]`: runs COMMAND with its stdin and stdout
//! relayed through this process, counting the bytes in each direction, and writes
//! `UP DOWN\n` (bytes into COMMAND, bytes out of it) to LOG when both directions have ended.
//! Exits with COMMAND's exit code.
//!
//! The interop matrix puts it inside its fake remote shell to measure what a transfer puts on
//! the wire. rsync hands a remote shell a non-blocking stdout (see the protocol notes, §6);
//! the relay makes its stdin and stdout blocking before copying.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn make_blocking<F: std::os::fd::AsFd>(fd: F) {
    if let Ok(flags) = rustix::fs::fcntl_getfl(&fd) {
        let _ = rustix::fs::fcntl_setfl(&fd, flags - rustix::fs::OFlags::NONBLOCK);
    }
}

/// Copies `from` to `to` until end of input or a write error, adding to `count` as it goes.
fn pump(mut from: impl Read, mut to: impl Write, count: &AtomicU64) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let Some(chunk) = buf.get(..n) else { break };
        if to.write_all(chunk).and_then(|()| to.flush()).is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(log), Some(program)) = (args.next(), args.next()) else {
        eprintln!("usage: rsync-tests-wire-relay LOG COMMAND [ARGS...]");
        return ExitCode::from(2);
    };
    let rest: Vec<OsString> = args.collect();
    make_blocking(io::stdin());
    make_blocking(io::stdout());
    let mut child = match Command::new(&program)
        .args(&rest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rsync-tests-wire-relay: {}: {e}", program.to_string_lossy());
            return ExitCode::from(127);
        }
    };
    let (Some(child_in), Some(child_out)) = (child.stdin.take(), child.stdout.take()) else {
        return ExitCode::from(1);
    };
    // Up: our stdin into the command (its stdin closes at our end of input). The client may
    // keep its end open until we exit, so the count is read without waiting for that thread.
    let up = Arc::new(AtomicU64::new(0));
    let up2 = Arc::clone(&up);
    std::thread::spawn(move || pump(io::stdin().lock(), child_in, &up2));
    let down = AtomicU64::new(0);
    pump(child_out, io::stdout().lock(), &down);
    let status = child.wait();
    let (up, down) = (up.load(Ordering::Relaxed), down.load(Ordering::Relaxed));
    let _ = std::fs::write(&log, format!("{up} {down}\n"));
    match status.ok().and_then(|s| s.code()) {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(1),
    }
}
