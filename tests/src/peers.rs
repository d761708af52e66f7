//! The peers of an interop test: stock `rsync` or our `rsync-constant` binary, the fake remote
//! shell that connects a client to a local server, and running a client under a deadline.
//!
//! The fake remote shell is a two-line `sh` script written at test time: rsync runs it as
//! `SHELL HOST COMMAND ARGS...`; it drops `HOST` and runs the rest with `sh -c`, exactly what
//! `ssh` does on the far side (rsync quotes its remote arguments for that shell). It logs each
//! remote command line for failure messages. A counting variant runs the command through
//! `rsync-tests-wire-relay` (a binary of this crate) to count the bytes in each direction.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Environment variable naming the `rsync-constant` binary to test.
pub const OURS_ENV: &str = "RSYNC_CONSTANT_BIN";

/// The name of our binary.
pub const OURS_NAME: &str = "rsync-constant";

/// One rsync implementation, with the path of its executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// The system's stock `rsync`.
    Stock(PathBuf),
    /// Our `rsync-constant`.
    Ours(PathBuf),
}

impl Peer {
    /// The executable.
    pub fn path(&self) -> &Path {
        match self {
            Self::Stock(p) | Self::Ours(p) => p,
        }
    }

    /// `stock` or `ours`, for messages.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Stock(_) => "stock",
            Self::Ours(_) => "ours",
        }
    }
}

/// Finds the `rsync-constant` binary: `$RSYNC_CONSTANT_BIN` if set, else next to the running
/// test executable (`target/<profile>/deps/<test>` → `target/<profile>/rsync-constant`, where
/// `cargo test --workspace` and `cargo build` put workspace binaries). The error says how to
/// build it.
pub fn ours_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(OURS_ENV) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "{OURS_ENV}={} does not name a file (binary not found)",
                p.display()
            ))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == "deps"))
        .and_then(Path::parent)
        .or_else(|| exe.parent());
    let candidate = profile_dir.map(|d| d.join(OURS_NAME));
    match candidate {
        Some(p) if p.is_file() => Ok(p),
        other => Err(format!(
            "{OURS_NAME} binary not found (looked for {}). Build it first with \
             `cargo build --release -p rsync-constant --bin rsync-constant` (or without \
             --release for a debug test run), or point {OURS_ENV} at it; set \
             RSYNC_MATRIX=stock-only to run only the stock client + stock server cells",
            other.map_or_else(|| "?".to_owned(), |p| p.display().to_string())
        )),
    }
}

/// A fake remote shell written into a directory.
#[derive(Debug)]
pub struct FakeShell {
    /// The script. Pass [`FakeShell::rsh_option`] to `-e`, not this path: executing a file
    /// that was just written fails with "Text file busy" when another thread of the test
    /// process forks meanwhile (the child holds the write descriptor until it execs).
    pub path: PathBuf,
    /// Where the script appends each remote command line.
    pub log: PathBuf,
    /// Where the relay writes `UP DOWN` byte counts, for a counting shell.
    pub wire: Option<PathBuf>,
}

/// Quotes `s` for `sh` with single quotes.
pub fn sh_quote(s: &[u8]) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in s {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

impl FakeShell {
    /// Writes `rsh` (and its log) into `dir`. With `relay` (the path of the
    /// `rsync-tests-wire-relay` binary), the remote command runs through it and the byte counts
    /// land in `dir/wire`.
    pub fn write(dir: &Path, relay: Option<&Path>) -> io::Result<Self> {
        if dir
            .as_os_str()
            .as_bytes()
            .iter()
            .any(u8::is_ascii_whitespace)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: the fake shell's directory must have no whitespace (rsync splits -e \
                     at spaces); set TMPDIR to another directory",
                    dir.display()
                ),
            ));
        }
        let path = dir.join("rsh");
        let log = dir.join("rsh.log");
        let wire = relay.map(|_| dir.join("wire"));
        let mut script =
            b"#!/bin/sh\n# Fake remote shell: drop the host, run the command here.\nshift\n"
                .to_vec();
        script.extend_from_slice(b"printf '%s\\n' \"$*\" >> ");
        script.extend_from_slice(&sh_quote(log.as_os_str().as_bytes()));
        script.push(b'\n');
        script.extend_from_slice(b"exec ");
        if let (Some(relay), Some(wire)) = (relay, &wire) {
            script.extend_from_slice(&sh_quote(relay.as_os_str().as_bytes()));
            script.push(b' ');
            script.extend_from_slice(&sh_quote(wire.as_os_str().as_bytes()));
            script.push(b' ');
        }
        script.extend_from_slice(b"sh -c \"$*\"\n");
        fs::write(&path, script)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        Ok(Self { path, log, wire })
    }

    /// The value for `-e`: `sh SCRIPT` (rsync splits it at spaces; the script's path has
    /// none, as long as the directory given to [`FakeShell::write`] has none).
    pub fn rsh_option(&self) -> OsString {
        let mut o = OsString::from("sh ");
        o.push(&self.path);
        o
    }

    /// The remote command lines run so far (empty if none).
    pub fn remote_commands(&self) -> String {
        fs::read(&self.log)
            .map(|b| crate::tree::printable(&b).replace("\\n", "\n"))
            .unwrap_or_default()
    }

    /// Bytes client→server and server→client, once a counting shell's command has ended.
    pub fn wire_bytes(&self) -> Option<(u64, u64)> {
        let text = fs::read_to_string(self.wire.as_ref()?).ok()?;
        let mut it = text.split_whitespace().map(str::parse::<u64>);
        match (it.next(), it.next()) {
            (Some(Ok(up)), Some(Ok(down))) => Some((up, down)),
            _ => None,
        }
    }
}

/// The outcome of one command.
#[derive(Debug)]
pub struct Run {
    /// The command line, shell-quoted where needed.
    pub command: String,
    /// Exit status; `None` if it was killed at the deadline.
    pub status: Option<ExitStatus>,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// Wall time.
    pub elapsed: Duration,
}

impl Run {
    /// The exit code, or a description of how the process ended otherwise.
    pub fn exit(&self) -> Result<i32, String> {
        match self.status {
            None => Err(format!("killed after {:.1?} (deadline)", self.elapsed)),
            Some(s) => s
                .code()
                .ok_or_else(|| format!("killed by signal {}", s.signal().unwrap_or(0))),
        }
    }
}

/// Renders a command line for messages: words with only safe bytes as is, others quoted.
pub fn render_command(program: &Path, args: &[OsString]) -> String {
    std::iter::once(program.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(|w| {
            let b = w.as_bytes();
            let safe = !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_=./:,+@%".contains(c));
            if safe {
                String::from_utf8_lossy(b).into_owned()
            } else {
                crate::tree::printable(&sh_quote(b))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Variables that would change how either rsync behaves; removed from every run.
const SCRUBBED_ENV: &[&str] = &[
    "RSYNC_RSH",
    "RSYNC_PROTECT_ARGS",
    "RSYNC_OLD_ARGS",
    "RSYNC_CHECKSUM_LIST",
    "RSYNC_COMPRESS_LIST",
    "RSYNC_PARTIAL_DIR",
    "RSYNC_ICONV",
    "RSYNC_MAX_ALLOC",
];

/// Runs `program args` in its own process group with stdin closed, `LC_ALL=C` (so that
/// rsync escapes non-ASCII names the same way whatever the caller's locale), and no `RSYNC_*`
/// variable that changes behaviour. After `timeout` the whole group (client, fake shell,
/// server) is killed. Stragglers of the group are killed once the client has exited.
pub fn run(program: &Path, args: &[OsString], timeout: Duration) -> io::Result<Run> {
    let command = render_command(program, args);
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for v in SCRUBBED_ENV {
        cmd.env_remove(v);
    }
    let start = Instant::now();
    // A script written just before may still be open for writing in a child another test
    // thread forked before its exec closed the descriptor: exec then fails with ETXTBSY for a
    // moment. Retry briefly.
    let mut attempt = 0;
    let mut child = loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(26) && attempt < 50 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            r => break r,
        }
    }
    .map_err(|e| io::Error::new(e.kind(), format!("spawn {command}: {e}")))?;
    let pgid = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    let (tx, rx) = mpsc::channel();
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .map(|r| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            let _ = tx.send(());
            buf
        })
    })
    .collect();
    drop(tx);
    let kill_group = || {
        if let Some(pid) = pgid {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    };
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if start.elapsed() > timeout {
            kill_group();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    // The pipes close when every process of the group is gone; give a server a moment to
    // finish, then end the group so that nothing outlives the cell.
    let grace = Instant::now() + Duration::from_secs(5);
    for _ in 0..2 {
        let left = grace.saturating_duration_since(Instant::now());
        if rx.recv_timeout(left).is_err() {
            break;
        }
    }
    kill_group();
    let mut out = readers.into_iter().map(|h| h.join().unwrap_or_default());
    let stdout = out.next().unwrap_or_default();
    let stderr = out.next().unwrap_or_default();
    Ok(Run {
        command,
        status,
        stdout,
        stderr,
        elapsed,
    })
}

/// `OsString` from bytes.
pub fn os(b: &[u8]) -> OsString {
    OsStr::from_bytes(b).to_os_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips_through_sh() {
        let word: &[u8] = b"it's a \"name\"\n with $HOME and \\ \xff";
        let script = [b"printf %s ".as_slice(), &sh_quote(word)].concat();
        let out = Command::new("sh")
            .arg("-c")
            .arg(OsStr::from_bytes(&script))
            .output()
            .unwrap();
        assert_eq!(out.stdout, word);
    }

    #[test]
    fn run_captures_output_and_exit_code_and_enforces_the_deadline() {
        let r = run(
            Path::new("sh"),
            &[os(b"-c"), os(b"echo out; echo err >&2; exit 3")],
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(
            (r.exit(), &r.stdout[..], &r.stderr[..]),
            (Ok(3), &b"out\n"[..], &b"err\n"[..])
        );
        assert_eq!(r.command, "sh -c 'echo out; echo err >&2; exit 3'");
        // The grandchild `sleep` holds the pipes open: killing the group must end it too.
        let r = run(
            Path::new("sh"),
            &[os(b"-c"), os(b"sleep 30 & sleep 30")],
            Duration::from_millis(200),
        )
        .unwrap();
        assert!(r.status.is_none(), "{r:?}");
        assert!(r.elapsed < Duration::from_secs(10), "{r:?}");
        assert!(r.exit().unwrap_err().contains("deadline"));
    }

    #[test]
    fn fake_shell_runs_the_command_without_the_host_and_logs_it() {
        let dir = tempfile::tempdir().unwrap();
        let sh = FakeShell::write(dir.path(), None).unwrap();
        let r = run(
            &sh.path,
            &[
                os(b"somehost"),
                os(b"printf"),
                os(b"%s-%s"),
                os(b"a"),
                os(b"b"),
            ],
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!((r.exit(), &r.stdout[..]), (Ok(0), &b"a-b"[..]));
        assert_eq!(sh.remote_commands(), "printf %s-%s a b\n");
        assert_eq!(sh.wire_bytes(), None);
    }
}
