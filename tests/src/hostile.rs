//! A scripted hostile peer: the test plays one end of an rsync session byte by byte against
//! our binary, which runs as a real process under a deadline and an address-space limit.
//!
//! - [`Wire`] builds raw wire bytes (RFC.md §4 integers, §5 frames) without going through
//!   rsync-proto's encoders, so that a hostile value is written exactly as the test wants it;
//! - [`Stream`] reads what our process writes, with a deadline on every read, and splits
//!   multiplexed frames ([`Stream::data`], [`Stream::messages`]);
//! - [`Proc`] spawns our binary in its own process group under `prlimit --as` (an allocation
//!   beyond the limit fails instead of swapping the machine), samples its peak RSS
//!   (`VmHWM`), and kills the whole group at the deadline;
//! - [`FifoShell`] is a fake remote shell that connects the remote command's stdin and
//!   stdout to two FIFOs the test opens, so the test can play the *server* of our client.
//!
//! [`Sentinel`] is the tree beside the destination that must stay untouched.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::peers::sh_quote;
use crate::tree::{Compare, Snapshot};

/// The address-space limit our process runs under (`prlimit --as`): a normal session needs a
/// fraction of it, a count or length trusted from the wire (2³¹ blocks, a 4 GiB name) needs
/// more and fails to allocate.
pub const AS_LIMIT: u64 = 1 << 30;

/// The peak resident set size a hostile session may reach (KiB), asserted by the tests.
pub const RSS_LIMIT_KIB: u64 = 128 * 1024;

/// Raw wire bytes (little-endian, RFC.md §4), built by hand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wire(pub Vec<u8>);

impl Wire {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raw bytes.
    pub fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }

    /// One byte.
    pub fn byte(self, b: u8) -> Self {
        self.raw(&[b])
    }

    /// `[int]`: a little-endian 32-bit integer.
    pub fn int(self, v: i32) -> Self {
        self.raw(&v.to_le_bytes())
    }

    /// `[varint]` (RFC.md §4.3).
    pub fn varint(self, v: i32) -> Self {
        let b = v.to_le_bytes();
        self.var_bytes(&b, 1)
    }

    /// `[varlong]` with `min` bytes (RFC.md §4.4).
    pub fn varlong(self, v: i64, min: usize) -> Self {
        let b = v.to_le_bytes();
        self.var_bytes(&b, min)
    }

    /// rsync's `write_var_number`: the count of extra bytes in the high bits of the first.
    fn var_bytes(mut self, b: &[u8], min: usize) -> Self {
        let mut cnt = b.len();
        while cnt > min && b[cnt - 1] == 0 {
            cnt -= 1;
        }
        let bit = 1u16 << (7 + min - cnt);
        let top = u16::from(b[cnt - 1]);
        if top >= bit {
            cnt += 1;
            let lead = !(bit - 1) as u8;
            self.0.push(lead);
            self.0.extend_from_slice(&b[..cnt - 1]);
        } else if cnt > min {
            let lead = (!(bit * 2 - 1) as u8) | top as u8;
            self.0.push(lead);
            self.0.extend_from_slice(&b[..cnt - 1]);
        } else {
            self.0.push(top as u8);
            self.0.extend_from_slice(&b[..cnt - 1]);
        }
        self
    }

    /// `[vstring]`: a varint-ish length (1 or 2 bytes) and the bytes.
    pub fn vstring(self, s: &[u8]) -> Self {
        let len = s.len();
        let w = if len > 0x7f {
            self.byte(((len >> 8) as u8) | 0x80).byte(len as u8)
        } else {
            self.byte(len as u8)
        };
        w.raw(s)
    }

    /// One multiplexed frame (RFC.md §5.1) with message `code` and `payload`.
    pub fn frame(self, code: u8, payload: &[u8]) -> Self {
        let len = payload.len() as u32;
        let head = ((u32::from(code) + 7) << 24) | (len & 0x00ff_ffff);
        self.raw(&head.to_le_bytes()).raw(payload)
    }

    /// `payload` as `MSG_DATA` frames of at most 32 KiB.
    pub fn data(mut self, payload: &[u8]) -> Self {
        for chunk in payload.chunks(32 * 1024) {
            self = self.frame(0, chunk);
        }
        self
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

#[derive(Default)]
struct Buffered {
    bytes: Vec<u8>,
    eof: bool,
    error: Option<String>,
}

/// Bytes our process writes, read by a thread, consumed with a deadline.
pub struct Stream {
    shared: Arc<(Mutex<Buffered>, Condvar)>,
    /// Consumed raw bytes (an offset into the buffer).
    pos: usize,
    /// The logical `MSG_DATA` stream demultiplexed so far, and how much of it was consumed.
    data: Vec<u8>,
    data_pos: usize,
    /// Messages other than `MSG_DATA` seen while demultiplexing: (code, payload).
    messages: Vec<(u8, Vec<u8>)>,
    deadline: Instant,
}

impl Stream {
    /// Reads `r` on a thread until EOF or an error.
    pub fn spawn(mut r: impl Read + Send + 'static, deadline: Instant) -> Self {
        let shared = Arc::new((Mutex::new(Buffered::default()), Condvar::new()));
        let s2 = Arc::clone(&shared);
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            loop {
                let r = r.read(&mut buf);
                let (lock, cv) = &*s2;
                let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
                match r {
                    Ok(0) => st.eof = true,
                    Ok(n) => st.bytes.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        st.eof = true;
                        st.error = Some(e.to_string());
                    }
                }
                let done = st.eof;
                drop(st);
                cv.notify_all();
                if done {
                    break;
                }
            }
        });
        Self {
            shared,
            pos: 0,
            data: Vec::new(),
            data_pos: 0,
            messages: Vec::new(),
            deadline,
        }
    }

    /// Exactly `n` raw bytes, or why not (EOF, deadline).
    pub fn raw(&mut self, n: usize) -> Result<Vec<u8>, String> {
        let (lock, cv) = &*self.shared;
        let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if st.bytes.len() >= self.pos + n {
                let out = st.bytes[self.pos..self.pos + n].to_vec();
                self.pos += n;
                return Ok(out);
            }
            if st.eof {
                return Err(format!(
                    "EOF after {} bytes while waiting for {n} more ({:?})",
                    st.bytes.len(),
                    st.error
                ));
            }
            let now = Instant::now();
            if now >= self.deadline {
                return Err(format!("deadline waiting for {n} bytes"));
            }
            st = cv
                .wait_timeout(st, self.deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// A raw `[int]`.
    pub fn int(&mut self) -> Result<i32, String> {
        let b = self.raw(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A raw `[varint]`.
    pub fn varint(&mut self) -> Result<i32, String> {
        let first = self.raw(1)?[0];
        let extra = first.leading_ones() as usize;
        if extra > 4 {
            return Err(format!("bad varint lead byte {first:#04x}"));
        }
        let mut b = [0u8; 5];
        let rest = self.raw(extra)?;
        b[..extra].copy_from_slice(&rest);
        if extra < 4 {
            b[extra] = first & ((1u8 << (7 - extra)) - 1);
        }
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads one frame; `MSG_DATA` goes to the logical stream, the rest to the messages.
    fn frame(&mut self) -> Result<(), String> {
        let h = self.raw(4)?;
        let head = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let len = (head & 0x00ff_ffff) as usize;
        let tag = (head >> 24) as u8;
        if tag < 7 {
            return Err(format!("not a frame: header {h:02x?}"));
        }
        let payload = self.raw(len)?;
        if tag == 7 {
            self.data.extend_from_slice(&payload);
        } else {
            self.messages.push((tag - 7, payload));
        }
        Ok(())
    }

    /// Exactly `n` bytes of the demultiplexed `MSG_DATA` stream.
    pub fn data(&mut self, n: usize) -> Result<Vec<u8>, String> {
        while self.data.len() < self.data_pos + n {
            self.frame()?;
        }
        let out = self.data[self.data_pos..self.data_pos + n].to_vec();
        self.data_pos += n;
        Ok(out)
    }

    /// A `[varint]` of the demultiplexed stream.
    pub fn data_varint(&mut self) -> Result<i32, String> {
        let first = self.data(1)?[0];
        let extra = first.leading_ones() as usize;
        if extra > 4 {
            return Err(format!("bad varint lead byte {first:#04x}"));
        }
        let mut b = [0u8; 5];
        let rest = self.data(extra)?;
        b[..extra].copy_from_slice(&rest);
        if extra < 4 {
            b[extra] = first & ((1u8 << (7 - extra)) - 1);
        }
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Demultiplexes until EOF or the deadline; returns whether EOF came.
    pub fn drain_frames(&mut self) -> bool {
        loop {
            match self.frame() {
                Ok(()) => {}
                Err(e) => return e.starts_with("EOF"),
            }
        }
    }

    /// Messages (code, payload) other than `MSG_DATA` seen so far.
    pub fn messages(&self) -> &[(u8, Vec<u8>)] {
        &self.messages
    }

    /// Waits for EOF (or the deadline); returns whether it came.
    pub fn wait_eof(&self) -> bool {
        let (lock, cv) = &*self.shared;
        let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
        while !st.eof {
            let now = Instant::now();
            if now >= self.deadline {
                return false;
            }
            st = cv
                .wait_timeout(st, self.deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Everything read so far (raw).
    pub fn all(&self) -> Vec<u8> {
        let (lock, _) = &*self.shared;
        lock.lock().unwrap_or_else(|p| p.into_inner()).bytes.clone()
    }
}

/// How one of our processes ended.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code, or how it ended otherwise (signal, deadline).
    pub code: Result<i32, String>,
    /// Its stderr, lossily decoded.
    pub stderr: String,
    /// Peak resident set size seen (KiB, `VmHWM`).
    pub peak_rss_kib: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// One of our processes, in its own process group, under [`AS_LIMIT`].
pub struct Proc {
    child: Child,
    /// Its stdin, when piped.
    pub stdin: Option<ChildStdin>,
    /// Its stdout, when piped.
    pub stdout: Option<Stream>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
    hwm: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    start: Instant,
    deadline: Instant,
}

impl Proc {
    /// Spawns `program args` in `cwd` through `prlimit --as=`[`AS_LIMIT`], with stdin and
    /// stdout piped when `pipes`, else closed (stdin) and captured (stdout, to stderr).
    /// The group is killed at `deadline`.
    pub fn spawn(
        program: &Path,
        args: &[std::ffi::OsString],
        cwd: &Path,
        pipes: bool,
        deadline: Instant,
    ) -> io::Result<Self> {
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--as={AS_LIMIT}"))
            .arg("--")
            .arg(program)
            .args(args)
            .current_dir(cwd)
            .env("LC_ALL", "C")
            .env_remove("RSYNC_RSH")
            .stderr(Stdio::piped())
            .process_group(0);
        if pipes {
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        } else {
            cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        }
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().map(|o| Stream::spawn(o, deadline));
        let stderr = child.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                let mut b = Vec::new();
                let _ = e.read_to_end(&mut b);
                b
            })
        });
        let hwm = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let pid = child.id();
        {
            let (hwm, done) = (Arc::clone(&hwm), Arc::clone(&done));
            std::thread::spawn(move || watchdog(pid, deadline, &hwm, &done));
        }
        Ok(Self {
            child,
            stdin,
            stdout,
            stderr,
            hwm,
            done,
            start: Instant::now(),
            deadline,
        })
    }

    /// Writes `bytes` to its stdin; an error (it exited: EPIPE) is returned, not fatal.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.stdin.as_mut() {
            Some(w) => w.write_all(bytes).and_then(|()| w.flush()),
            None => Err(io::Error::other("stdin closed")),
        }
    }

    /// Its process id (also its process group's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes its stdin (EOF for it).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The stdout stream (piped processes only).
    pub fn out(&mut self) -> &mut Stream {
        #[allow(clippy::expect_used)] // a harness misuse, not a peer input
        self.stdout.as_mut().expect("stdout is piped")
    }

    /// Waits for the exit (killing the group at the deadline) and collects the outcome.
    pub fn finish(mut self) -> Outcome {
        self.stdin = None;
        let status: Option<ExitStatus> = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) if Instant::now() < self.deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                _ => {
                    kill_group(self.child.id());
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        let elapsed = self.start.elapsed();
        self.done.store(true, Ordering::SeqCst);
        kill_group(self.child.id());
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let code = match status {
            None => Err(format!("killed at the deadline after {elapsed:.1?}")),
            Some(s) => s
                .code()
                .ok_or_else(|| format!("killed by signal {}", s.signal().unwrap_or(0))),
        };
        Outcome {
            code,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            peak_rss_kib: self.hwm.load(Ordering::SeqCst),
            elapsed,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        kill_group(self.child.id());
        let _ = self.child.wait();
    }
}

fn kill_group(pid: u32) {
    if let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
    }
}

/// Samples `VmHWM` every few milliseconds; kills the group at the deadline.
fn watchdog(pid: u32, deadline: Instant, hwm: &AtomicU64, done: &AtomicBool) {
    let status = format!("/proc/{pid}/status");
    while !done.load(Ordering::SeqCst) {
        if let Some(kib) = fs::read_to_string(&status).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        }) {
            hwm.fetch_max(kib, Ordering::SeqCst);
        }
        if Instant::now() >= deadline {
            kill_group(pid);
            return;
        }
        std::thread::sleep(Duration::from_millis(3));
    }
}

/// A fake remote shell whose remote command talks to the test through two FIFOs: the test
/// is the server. Pass [`FifoShell::rsh_option`] to `-e`.
pub struct FifoShell {
    /// The script.
    pub path: PathBuf,
    c2s: PathBuf,
    s2c: PathBuf,
    /// Where the script logs the remote command line.
    pub log: PathBuf,
}

impl FifoShell {
    /// Writes the script and the FIFOs into `dir` (no whitespace in it).
    pub fn write(dir: &Path) -> io::Result<Self> {
        let c2s = dir.join("c2s");
        let s2c = dir.join("s2c");
        let log = dir.join("rsh.log");
        for f in [&c2s, &s2c] {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                f,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o600),
                0,
            )?;
        }
        let q =
            |p: &Path| String::from_utf8_lossy(&sh_quote(p.as_os_str().as_bytes())).into_owned();
        // The remote command's stdin goes to c2s, s2c to its stdout. An asynchronous command
        // gets /dev/null as stdin unless redirected explicitly: hence fd 3.
        let script = format!(
            "#!/bin/sh\nshift\nprintf '%s\\n' \"$*\" >> {log}\nexec 3<&0\ncat <&3 > {c2s} &\nexec cat < {s2c}\n",
            log = q(&log),
            c2s = q(&c2s),
            s2c = q(&s2c),
        );
        let path = dir.join("rsh");
        fs::write(&path, script)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        Ok(Self {
            path,
            c2s,
            s2c,
            log,
        })
    }

    /// The value for `-e`.
    pub fn rsh_option(&self) -> std::ffi::OsString {
        let mut o = std::ffi::OsString::from("sh ");
        o.push(&self.path);
        o
    }

    /// Opens both FIFOs, waiting until the remote shell opens its ends or `deadline` passes:
    /// (what the client writes, what the test writes to the client).
    pub fn open(&self, deadline: Instant) -> Result<(Stream, fs::File), String> {
        let (c2s, s2c) = (self.c2s.clone(), self.s2c.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = fs::File::open(&c2s)
                .and_then(|r| Ok((r, fs::OpenOptions::new().write(true).open(&s2c)?)));
            let _ = tx.send(r);
        });
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok((r, w))) => Ok((Stream::spawn(r, deadline), w)),
            Ok(Err(e)) => Err(format!("open FIFOs: {e}")),
            Err(_) => {
                self.unblock();
                Err("the remote shell never opened its FIFOs".to_owned())
            }
        }
    }

    /// Opens the far ends without blocking, so that a blocked [`FifoShell::open`] returns.
    pub fn unblock(&self) {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&self.c2s);
        let _ = fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&self.s2c);
    }
}

/// A directory beside the destination, with content, that nothing may change.
pub struct Sentinel {
    /// Its path.
    pub path: PathBuf,
    before: Snapshot,
}

impl Sentinel {
    /// Creates `dir` with a file and a subdirectory and records it.
    pub fn new(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir.join("sub"))?;
        fs::write(dir.join("keep.txt"), b"sentinel\n")?;
        fs::write(dir.join("sub/x"), b"sentinel x\n")?;
        Ok(Self {
            path: dir.to_path_buf(),
            before: Snapshot::take(dir)?,
        })
    }

    /// What changed (empty when untouched).
    pub fn changes(&self) -> Vec<String> {
        match Snapshot::take(&self.path) {
            Ok(after) => self.before.diff(&after, Compare::UNTOUCHED),
            Err(e) => vec![format!("snapshot of {}: {e}", self.path.display())],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_rsync_encoding() {
        // RFC.md §4.3/§4.4 examples (see rsync-proto's doc test: 0x1ff, 4096 min 3).
        assert_eq!(Wire::new().varint(0x1ff).0, [0x81, 0xff]);
        assert_eq!(Wire::new().varint(0).0, [0x00]);
        assert_eq!(Wire::new().varint(0x7f).0, [0x7f]);
        assert_eq!(Wire::new().varint(-1).0, [0xf0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(Wire::new().varlong(4096, 3).0, [0x00, 0x00, 0x10]);
        assert_eq!(Wire::new().frame(0, b"ab").0, [2, 0, 0, 7, b'a', b'b']);
    }
}
