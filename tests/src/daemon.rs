//! Driving a `rsync-constant --constant` daemon from a test: a hard [`Deadline`], the
//! [`Daemon`] process (its own process group, killed on drop), a [`RelayShell`] that puts a
//! relay process between the daemon and each remote mirror (so that a test can cut or stall
//! the transport), a small tmpfs ([`SmallFs`]), and the process and tree helpers the
//! end-to-end and fault tests share.
//!
//! Everything here panics on failure: it is test code, and a panic is a test failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::peers::ours_binary;

/// A test's hard deadline: every wait gives up (and fails) when it passes.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Instant);

impl Deadline {
    /// A deadline `bound` from now.
    pub fn after(bound: Duration) -> Self {
        Self(Instant::now() + bound)
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.0
    }

    /// Polls `cond` every millisecond until it holds; panics at the deadline with `what` and
    /// `logs()`.
    pub fn wait(&self, what: &str, logs: impl Fn() -> String, mut cond: impl FnMut() -> bool) {
        while !cond() {
            assert!(!self.passed(), "timed out waiting for {what}\n{}", logs());
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A running daemon (its own process group, killed on drop).
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    /// Its process group (its pid), killed on drop even once the daemon has exited.
    group: Option<rustix::process::Pid>,
    out: PathBuf,
    err: PathBuf,
}

impl Daemon {
    /// Starts our binary with `args`; its stdout and stderr go to `dir/daemon-TAG.{out,err}`.
    pub fn start(dir: &Path, tag: &str, args: &[OsString]) -> Self {
        Self::start_with(dir, tag, args, |_| {})
    }

    /// [`Daemon::start`], with `configure` applied to the command first (e.g. a uid).
    pub fn start_with(
        dir: &Path,
        tag: &str,
        args: &[OsString],
        configure: impl FnOnce(&mut Command),
    ) -> Self {
        let out = dir.join(format!("daemon-{tag}.out"));
        let err = dir.join(format!("daemon-{tag}.err"));
        let mut cmd = Command::new(ours_binary().unwrap_or_else(|e| panic!("{e}")));
        configure(&mut cmd);
        let child = cmd
            .args(args)
            .env("LC_ALL", "C")
            .env_remove("RSYNC_RSH")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap())
            .process_group(0)
            .spawn()
            .unwrap();
        Self {
            group: rustix::process::Pid::from_raw(child.id() as i32),
            child: Some(child),
            out,
            err,
        }
    }

    /// Its stdout and stderr so far.
    pub fn logs(&self) -> String {
        format!(
            "--- daemon stdout ({}) ---\n{}\n--- daemon stderr ---\n{}",
            self.out.display(),
            String::from_utf8_lossy(&fs::read(&self.out).unwrap_or_default()),
            tail(&String::from_utf8_lossy(
                &fs::read(&self.err).unwrap_or_default()
            ))
        )
    }

    /// Its stdout so far (`-i` lines).
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.out).unwrap_or_default()).into_owned()
    }

    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.err).unwrap_or_default()).into_owned()
    }

    /// Its pid (0 once killed).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    /// `kill -9` of the daemon alone (its children see their peer vanish, as after a crash);
    /// they are killed with the process group on drop.
    pub fn kill9_alone(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `kill -9` of the daemon and everything it started.
    pub fn kill9(&mut self) {
        if let Some(group) = self.group.take() {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits (bounded) for the daemon's exit, leaving the rest of its process
    /// group alone (killed on drop); returns its exit code.
    pub fn sigterm(&mut self, deadline: &Deadline) -> Option<i32> {
        let mut c = self.child.take()?;
        let pid = rustix::process::Pid::from_raw(c.id() as i32)?;
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            if deadline.passed() {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGTERM, then waits (bounded) for a clean exit and kills what is left of its process
    /// group; returns its exit code.
    pub fn terminate(&mut self, deadline: &Deadline) -> Option<i32> {
        let mut c = self.child.take()?;
        let pid = rustix::process::Pid::from_raw(c.id() as i32)?;
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                return st.code();
            }
            if deadline.passed() {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The last 200 lines of `text` (daemon logs of a long run are long).
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(200);
    lines[from..].join("\n")
}

/// `s` as an `OsString`.
pub fn os(s: impl AsRef<OsStr>) -> OsString {
    s.as_ref().to_os_string()
}

/// A fake remote shell that puts a relay process (`rsync-tests-wire-relay`) between the
/// daemon and each streaming mirror, so that a test can cut or stall the transport without
/// touching either end. The relay is the daemon's child (the script `exec`s it); the relay's
/// child is a wrapper `sh` that logs `start RELAY WRAPPER` to the sessions file, runs the
/// server (after `prelude`, e.g. a `ulimit`), then logs `exit RELAY WRAPPER CODE` with the
/// server's exit code.
#[derive(Debug)]
pub struct RelayShell {
    script: PathBuf,
    sessions: PathBuf,
}

/// One mirror session seen through a [`RelayShell`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The relay's pid.
    pub relay: i32,
    /// The wrapper shell's pid (the server is its child).
    pub wrapper: i32,
    /// The server's exit code once it ended.
    pub exit: Option<i32>,
}

impl RelayShell {
    /// Writes the script into `dir` (as `relay-rsh-TAG`); `relay` is the
    /// `rsync-tests-wire-relay` binary (`env!("CARGO_BIN_EXE_rsync-tests-wire-relay")` in an
    /// integration test); `prelude` is shell text run before the server (empty for none).
    pub fn write(dir: &Path, tag: &str, relay: &Path, prelude: &str) -> Self {
        let relay = relay.display();
        let script = dir.join(format!("relay-rsh-{tag}"));
        let sessions = dir.join(format!("sessions-{tag}"));
        let wire = dir.join(format!("wire-{tag}"));
        let text = format!(
            "#!/bin/sh\nshift\nexec '{relay}' '{wire}' sh -c \"echo \\\"start \\$PPID \\$\\$\\\" \
             >> '{log}'; {prelude} $*; echo \\\"exit \\$PPID \\$\\$ \\$?\\\" >> '{log}'\"\n",
            wire = wire.display(),
            log = sessions.display(),
        );
        fs::write(&script, text).unwrap();
        Self { script, sessions }
    }

    /// The `-e` value.
    pub fn rsh(&self) -> OsString {
        let mut o = os("sh ");
        o.push(&self.script);
        o
    }

    /// Every session started so far, in order.
    pub fn sessions(&self) -> Vec<Session> {
        let text = fs::read_to_string(&self.sessions).unwrap_or_default();
        let mut out: Vec<Session> = Vec::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let num = |i: usize| f.get(i).and_then(|s| s.parse::<i32>().ok());
            match (f.first().copied(), num(1), num(2)) {
                (Some("start"), Some(relay), Some(wrapper)) => out.push(Session {
                    relay,
                    wrapper,
                    exit: None,
                }),
                (Some("exit"), Some(relay), Some(wrapper)) => {
                    if let Some(s) = out
                        .iter_mut()
                        .find(|s| s.relay == relay && s.wrapper == wrapper)
                    {
                        s.exit = num(3);
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// Sends `sig` to `pid`; whether it was delivered (false: the process is gone).
pub fn signal(pid: i32, sig: rustix::process::Signal) -> bool {
    rustix::process::Pid::from_raw(pid)
        .is_some_and(|p| rustix::process::kill_process(p, sig).is_ok())
}

/// Whether `pid` is gone (or a zombie nobody reaped yet).
pub fn gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// The live processes (not zombies, not this one) whose command line (arguments joined by
/// spaces) satisfies `keep`.
pub fn processes(mut keep: impl FnMut(&str) -> bool) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid as u32 == std::process::id() || gone(pid) {
            continue;
        }
        let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline: Vec<u8> = cmdline
            .iter()
            .map(|&b| if b == 0 { b' ' } else { b })
            .collect();
        if keep(&String::from_utf8_lossy(&cmdline)) {
            out.push(pid);
        }
    }
    out
}

/// The streaming mirror servers (`rsync-constant --server ... --constant=1 ...`) writing into
/// `dest`.
pub fn mirror_servers(dest: &Path) -> Vec<i32> {
    let dest = dest.to_string_lossy().into_owned();
    processes(|c| {
        c.split(' ')
            .next()
            .is_some_and(|a0| a0.ends_with("rsync-constant"))
            && c.contains("--server")
            && c.contains("--constant=1")
            && c.trim_end().ends_with(&dest)
    })
}

/// One field (`KEY=VALUE`) of the status file's line that starts with `prefix` (`queue `, or
/// `mirror ID`).
pub fn status_field(status: &Path, prefix: &str, key: &str) -> Option<String> {
    let text = fs::read_to_string(status).ok()?;
    let line = text.lines().find(|l| l.starts_with(prefix))?;
    line[prefix.len()..]
        .split('\t')
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_owned)
}

/// The first difference between the trees (files: bytes, mode, mtime with nanoseconds;
/// directories: mode; symlinks: target), or `None` when they are identical. Temporary files
/// of the mirror (`.NAME.XXXXXX`) count as differences.
pub fn tree_diff(src: &Path, dest: &Path) -> Option<String> {
    tree_diff_with(src, dest, false)
}

/// [`tree_diff`]; with `ignore_temps`, temporary files on the mirror are not differences.
pub fn tree_diff_with(src: &Path, dest: &Path, ignore_temps: bool) -> Option<String> {
    let a = all_entries(src);
    let mut b = all_entries(dest);
    if ignore_temps {
        b.retain(|n| !is_temp_name(n));
    }
    if a != b {
        let only_src: Vec<_> = a.iter().filter(|n| !b.contains(n)).take(5).collect();
        let only_dest: Vec<_> = b.iter().filter(|n| !a.contains(n)).take(5).collect();
        return Some(format!(
            "names differ: only at the source {only_src:?}, only on the mirror {only_dest:?}"
        ));
    }
    for n in &a {
        let (pa, pb) = (src.join(n), dest.join(n));
        let (Ok(ma), Ok(mb)) = (fs::symlink_metadata(&pa), fs::symlink_metadata(&pb)) else {
            return Some(format!("{n}: vanished"));
        };
        if ma.mode() != mb.mode() {
            return Some(format!("{n}: mode {:o} != {:o}", ma.mode(), mb.mode()));
        }
        if ma.is_file() {
            if (ma.mtime(), ma.mtime_nsec()) != (mb.mtime(), mb.mtime_nsec()) {
                return Some(format!(
                    "{n}: mtime {}.{:09} != {}.{:09}",
                    ma.mtime(),
                    ma.mtime_nsec(),
                    mb.mtime(),
                    mb.mtime_nsec()
                ));
            }
            if ma.len() != mb.len() || fs::read(&pa).ok() != fs::read(&pb).ok() {
                return Some(format!("{n}: content differs"));
            }
        } else if ma.file_type().is_symlink() && fs::read_link(&pa).ok() != fs::read_link(&pb).ok()
        {
            return Some(format!("{n}: symlink target differs"));
        }
    }
    None
}

/// Every entry (files, directories, symlinks, specials) under `root`, relative, sorted.
pub fn all_entries(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Whether the last component of `rel` looks like a temporary file: `.NAME.XXXXXX` (a
/// random suffix) or `.NAME.~link~` (the receiver's link name, where a complete entry
/// waits for its rename).
pub fn is_temp_name(rel: &str) -> bool {
    let base = rel.rsplit('/').next().unwrap_or(rel).as_bytes();
    base.len() > 8
        && base[0] == b'.'
        && base[base.len() - 7] == b'.'
        && (base[base.len() - 6..] == *b"~link~"
            || base[base.len() - 6..]
                .iter()
                .all(|b| b.is_ascii_alphanumeric()))
}

/// The temporary files (`.NAME.XXXXXX`, `.NAME.~link~`) under `root`.
pub fn temp_files(root: &Path) -> Vec<String> {
    all_entries(root)
        .into_iter()
        .filter(|n| is_temp_name(n))
        .collect()
}

/// Whether a process is writing a file that has no name yet in `dest` (the receiver's
/// unnamed temporary, `O_TMPFILE`: `/proc/PID/fd` shows it as `DIR/#INODE (deleted)`).
pub fn writing_unnamed_in(dest: &Path) -> bool {
    let Ok(dest) = fs::canonicalize(dest) else {
        return false;
    };
    let Ok(procs) = fs::read_dir("/proc") else {
        return false;
    };
    for p in procs.flatten() {
        let Ok(fds) = fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            let t = target.as_os_str().as_bytes();
            if t.starts_with(dest.as_os_str().as_bytes()) && t.ends_with(b" (deleted)") {
                return true;
            }
        }
    }
    false
}

/// A small tmpfs mounted for one test, unmounted (lazily) on drop.
pub struct SmallFs(
    /// Where it is mounted.
    pub PathBuf,
);

impl SmallFs {
    /// Mounts a tmpfs of `size` at `at`; `None` (after a loud notice) when that is not
    /// possible (not root, or no permission to mount).
    pub fn mount(at: &Path, size: &str) -> Option<Self> {
        fs::create_dir_all(at).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0755"))
            .arg("tmpfs")
            .arg(at)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self(at.to_owned())),
            other => {
                eprintln!(
                    "\n!!!!!!!! SKIPPING the ENOSPC case: cannot mount a small tmpfs (needs root): \
                     {other:?} !!!!!!!!\n"
                );
                None
            }
        }
    }

    /// Fills the file system with `filler` until `ENOSPC`.
    pub fn fill(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let mut f = fs::File::create(&filler).unwrap();
        let chunk = vec![0x5au8; 64 << 10];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(28), "filling: {e}");
                    break;
                }
            }
        }
        // Smaller writes take the last bytes.
        while f.write(&[0u8; 512]).is_ok_and(|n| n > 0) {}
        filler
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}
