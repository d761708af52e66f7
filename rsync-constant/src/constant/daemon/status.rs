//! The daemon's status: a live model every mirror loop updates ([`StatusBoard`]), the
//! snapshot of it merged with the queue's figures ([`Snapshot`]), and the status file that
//! `rsync-constant --status` reads.
//!
//! # The status file
//! A small text file, replaced atomically (written to a temporary file in the same directory,
//! then renamed over the old one) about once a second and shortly after a change, so a reader
//! never sees half of it. Lines end with `\n`; fields are separated by a tab; values are
//! percent-escaped (`%`, tab, newline, carriage return and control bytes as `%XX`), so names
//! and error messages of any bytes fit on one line:
//!
//! ```text
//! rsync-constant-status 1
//! pid 1234
//! updated 1767225600.123456789
//! state running
//! queue entries=12 last_seq=345 accepted=400 rejected=1
//! mirror /srv/mirror<TAB>state=live<TAB>queue=live<TAB>lag_s=0.004<TAB>lag_entries=0<TAB>delivered=399<TAB>error=
//! ```
//!
//! `updated` is seconds since the Unix epoch; `lag_s` is the age of the mirror's oldest
//! undelivered change (0 when it has none); `lag_entries` the number of entries waiting for
//! it; `error` the last error (empty if none). Unknown lines and fields are ignored, so fields
//! can be added without breaking older readers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::constant::queue::{MirrorState, QueueStatus};

/// The first line of a status file.
pub const STATUS_MAGIC: &str = "rsync-constant-status 1";

/// Longest status file [`Snapshot::parse`] accepts.
pub const MAX_STATUS_LEN: usize = 16 << 20;

/// What a mirror's link is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Not started yet.
    Starting,
    /// Bootstrapping with a full sync.
    FullSync,
    /// Up to date, waiting for changes.
    Live,
    /// Delivering a batch.
    Sending,
    /// Waiting before a retry after an error.
    Backoff,
    /// The loop ended (daemon shutdown).
    Stopped,
}

impl LinkState {
    /// The word used in the status file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::FullSync => "full-sync",
            Self::Live => "live",
            Self::Sending => "sending",
            Self::Backoff => "backoff",
            Self::Stopped => "stopped",
        }
    }
}

/// One mirror's live status, as the mirror loop reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LinkStatus {
    state: LinkState,
    error: Option<String>,
    delivered: u64,
}

#[derive(Debug, Default)]
struct Board {
    mirrors: BTreeMap<Vec<u8>, LinkStatus>,
    changed: bool,
}

/// The shared live status of the mirror loops. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard {
    inner: Arc<(Mutex<Board>, Condvar)>,
}

impl StatusBoard {
    /// An empty board.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Board> {
        self.inner.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, id: &[u8], f: impl FnOnce(&mut LinkStatus)) {
        let mut b = self.lock();
        let s = b.mirrors.entry(id.to_vec()).or_insert_with(|| LinkStatus {
            state: LinkState::Starting,
            error: None,
            delivered: 0,
        });
        let before = s.clone();
        f(s);
        if *s != before {
            b.changed = true;
            self.inner.1.notify_all();
        }
    }

    /// Registers a mirror (state [`LinkState::Starting`]).
    pub fn add(&self, id: &[u8]) {
        self.update(id, |_| {});
    }

    /// Sets a mirror's link state.
    pub fn set_state(&self, id: &[u8], state: LinkState) {
        self.update(id, |s| s.state = state);
    }

    /// Records a mirror's last error.
    pub fn set_error(&self, id: &[u8], error: &str) {
        self.update(id, |s| s.error = Some(error.to_owned()));
    }

    /// Counts entries delivered to a mirror.
    pub fn delivered(&self, id: &[u8], n: u64) {
        self.update(id, |s| s.delivered = s.delivered.saturating_add(n));
    }

    /// Marks the board changed (e.g. the queue grew) and wakes the writer.
    pub fn touch(&self) {
        let mut b = self.lock();
        b.changed = true;
        self.inner.1.notify_all();
    }

    /// Waits until something changed or `timeout` passed; returns whether something changed
    /// (and clears the flag).
    pub fn wait_change(&self, timeout: Duration) -> bool {
        let b = self.lock();
        let (mut b, _) = self
            .inner
            .1
            .wait_timeout_while(b, timeout, |b| !b.changed)
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut b.changed, false)
    }

    /// A snapshot merged with the queue's status and the feed's counters.
    pub fn snapshot(&self, queue: &QueueStatus, feed: FeedCounts, daemon: &str) -> Snapshot {
        let b = self.lock();
        let mirrors = queue
            .mirrors
            .iter()
            .filter_map(|m| {
                let link = b.mirrors.get(&m.mirror)?;
                let holds = m.state != MirrorState::NeedsFullSync;
                Some(MirrorSnapshot {
                    id: m.mirror.clone(),
                    state: link.state.as_str().to_owned(),
                    queue_state: queue_word(m.state).to_owned(),
                    lag: if holds { m.lag } else { Duration::ZERO },
                    lag_entries: m.pending,
                    delivered: link.delivered,
                    error: link.error.clone().unwrap_or_default(),
                })
            })
            .collect();
        Snapshot {
            pid: std::process::id(),
            updated: SystemTime::now(),
            state: daemon.to_owned(),
            queue_entries: queue.entries,
            last_seq: queue.last_seq.0,
            accepted: feed.accepted,
            rejected: feed.rejected,
            mirrors,
        }
    }
}

fn queue_word(s: MirrorState) -> &'static str {
    match s {
        MirrorState::Live => "live",
        MirrorState::NeedsFullSync => "needs-full-sync",
        MirrorState::FullSync => "full-sync",
    }
}

/// The feed's counters for a [`Snapshot`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedCounts {
    /// Names accepted into the queue.
    pub accepted: u64,
    /// Names rejected.
    pub rejected: u64,
}

/// One mirror in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorSnapshot {
    /// The mirror id (its DEST operand).
    pub id: Vec<u8>,
    /// Its link's state ([`LinkState::as_str`]).
    pub state: String,
    /// Its state in the queue (`live`, `full-sync`, `needs-full-sync`).
    pub queue_state: String,
    /// Age of its oldest undelivered change.
    pub lag: Duration,
    /// Entries waiting for it.
    pub lag_entries: u64,
    /// Entries delivered since the daemon started.
    pub delivered: u64,
    /// Its last error (empty if none).
    pub error: String,
}

/// The daemon's status at one moment: what the status file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The daemon's process id.
    pub pid: u32,
    /// When the snapshot was taken.
    pub updated: SystemTime,
    /// `running` or `stopped`.
    pub state: String,
    /// Entries stored in the queue (the queue depth).
    pub queue_entries: u64,
    /// The last sequence number assigned.
    pub last_seq: u64,
    /// Names accepted since the daemon started.
    pub accepted: u64,
    /// Names rejected since the daemon started.
    pub rejected: u64,
    /// Every mirror.
    pub mirrors: Vec<MirrorSnapshot>,
}

/// A status file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Reading or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The system error.
        source: std::io::Error,
    },
    /// The file is not a status file (or a newer format).
    #[error("not an rsync-constant status file: {0}")]
    Format(String),
}

fn escape(out: &mut String, v: &[u8]) {
    for &b in v {
        if b == b'%' || b < 0x20 || b == 0x7f {
            let _ = write!(out, "%{b:02X}");
        } else if b.is_ascii() {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn unescape(v: &str) -> Vec<u8> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, hex) {
            (b'%', Some(x)) => {
                out.push(x);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn secs(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// `SECS.NANOS` (nine digits) as written by [`secs`], exactly.
fn parse_stamp(v: &str) -> Option<Duration> {
    let (s, n) = v.split_once('.').unwrap_or((v, "0"));
    let nanos: u32 = format!("{n:0<9}").get(..9)?.parse().ok()?;
    Some(Duration::new(s.parse().ok()?, nanos))
}

fn parse_secs(v: &str) -> Option<Duration> {
    let f: f64 = v.parse().ok()?;
    Duration::try_from_secs_f64(f).ok()
}

impl Snapshot {
    /// The status file's text (see the [module docs](self)).
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{STATUS_MAGIC}");
        let _ = writeln!(s, "pid {}", self.pid);
        let _ = writeln!(s, "updated {}", secs(self.updated));
        let _ = writeln!(s, "state {}", self.state);
        let _ = writeln!(
            s,
            "queue entries={}\tlast_seq={}\taccepted={}\trejected={}",
            self.queue_entries, self.last_seq, self.accepted, self.rejected
        );
        for m in &self.mirrors {
            s.push_str("mirror ");
            escape(&mut s, &m.id);
            let _ = write!(
                s,
                "\tstate={}\tqueue={}\tlag_s={:.6}\tlag_entries={}\tdelivered={}\terror=",
                m.state,
                m.queue_state,
                m.lag.as_secs_f64(),
                m.lag_entries,
                m.delivered
            );
            escape(&mut s, m.error.as_bytes());
            s.push('\n');
        }
        s
    }

    /// Parses a status file's text.
    ///
    /// # Errors
    /// [`StatusError::Format`] if the first line is not [`STATUS_MAGIC`] or the file is too
    /// long.
    pub fn parse(text: &[u8]) -> Result<Self, StatusError> {
        if text.len() > MAX_STATUS_LEN {
            return Err(StatusError::Format("file too long".into()));
        }
        let text = String::from_utf8_lossy(text);
        let mut lines = text.lines();
        if lines.next() != Some(STATUS_MAGIC) {
            return Err(StatusError::Format("bad first line".into()));
        }
        let mut snap = Self {
            pid: 0,
            updated: UNIX_EPOCH,
            state: String::new(),
            queue_entries: 0,
            last_seq: 0,
            accepted: 0,
            rejected: 0,
            mirrors: Vec::new(),
        };
        for line in lines {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            let mut fields = rest.split('\t');
            match key {
                "pid" => snap.pid = rest.parse().unwrap_or(0),
                "updated" => snap.updated = UNIX_EPOCH + parse_stamp(rest).unwrap_or_default(),
                "state" => snap.state = rest.to_owned(),
                "queue" => {
                    for (k, v) in fields.filter_map(|f| f.split_once('=')) {
                        let n = v.parse().unwrap_or(0);
                        match k {
                            "entries" => snap.queue_entries = n,
                            "last_seq" => snap.last_seq = n,
                            "accepted" => snap.accepted = n,
                            "rejected" => snap.rejected = n,
                            _ => {}
                        }
                    }
                }
                "mirror" => {
                    let mut m = MirrorSnapshot {
                        id: unescape(fields.next().unwrap_or_default()),
                        state: String::new(),
                        queue_state: String::new(),
                        lag: Duration::ZERO,
                        lag_entries: 0,
                        delivered: 0,
                        error: String::new(),
                    };
                    for (k, v) in fields.filter_map(|f| f.split_once('=')) {
                        match k {
                            "state" => m.state = v.to_owned(),
                            "queue" => m.queue_state = v.to_owned(),
                            "lag_s" => m.lag = parse_secs(v).unwrap_or_default(),
                            "lag_entries" => m.lag_entries = v.parse().unwrap_or(0),
                            "delivered" => m.delivered = v.parse().unwrap_or(0),
                            "error" => {
                                m.error = String::from_utf8_lossy(&unescape(v)).into_owned();
                            }
                            _ => {}
                        }
                    }
                    snap.mirrors.push(m);
                }
                _ => {}
            }
        }
        Ok(snap)
    }

    /// Replaces the file at `path` with this snapshot atomically (temporary file + rename).
    ///
    /// # Errors
    /// [`StatusError::Io`].
    pub fn write_atomic(&self, path: &Path) -> Result<(), StatusError> {
        let io = |source| StatusError::Io {
            path: path.to_owned(),
            source,
        };
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(format!(".tmp{}", std::process::id()));
        let tmp = std::path::PathBuf::from(tmp_name);
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(self.render().as_bytes()).map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads and parses the status file at `path`.
    ///
    /// # Errors
    /// [`StatusError::Io`], [`StatusError::Format`].
    pub fn read(path: &Path) -> Result<Self, StatusError> {
        let text = std::fs::read(path).map_err(|source| StatusError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    /// A table for people: one row per mirror (id, state, lag in seconds and entries, last
    /// error) and the queue depth, with the age of the snapshot at `now`.
    pub fn table(&self, now: SystemTime) -> String {
        let age = now.duration_since(self.updated).unwrap_or_default();
        let mut s = format!(
            "daemon pid {} {}, status {:.1} s old; queue depth {} entries (last seq {}), \
             {} names accepted, {} rejected\n",
            self.pid,
            self.state,
            age.as_secs_f64(),
            self.queue_entries,
            self.last_seq,
            self.accepted,
            self.rejected
        );
        let ids: Vec<String> = self
            .mirrors
            .iter()
            .map(|m| String::from_utf8_lossy(&m.id).into_owned())
            .collect();
        let w = ids.iter().map(String::len).max().unwrap_or(0).max(6);
        let _ = writeln!(
            s,
            "{:<w$}  {:<10} {:>10} {:>11}  LAST ERROR",
            "MIRROR", "STATE", "LAG (s)", "LAG (ent.)"
        );
        for (m, id) in self.mirrors.iter().zip(&ids) {
            let _ = writeln!(
                s,
                "{id:<w$}  {:<10} {:>10.3} {:>11}  {}",
                m.state,
                m.lag.as_secs_f64(),
                m.lag_entries,
                if m.error.is_empty() { "-" } else { &m.error }
            );
        }
        s
    }
}
