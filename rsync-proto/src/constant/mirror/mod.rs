//! The mirror: the server receiver of a constant session (RFC.md §15.5–§15.9), sans-IO.
//!
//! # API (the shape of [`crate::session::Session`])
//!
//! - **Inputs**: [`Mirror::handle_data`] takes the payload bytes of the master's `MSG_DATA`
//!   frames (the driver demultiplexes), in any chunking; [`Mirror::handle_answer`] takes the
//!   answer to the oldest outstanding [`FsRequest`] that needs one (requests are executed
//!   strictly in order); [`Mirror::handle_eof`] says the master closed the connection.
//! - **Outputs**, polled after every input until each returns nothing:
//!   [`Mirror::poll_output`] (record bytes for `MSG_DATA`), [`Mirror::poll_request`]
//!   (file-system requests), [`Mirror::poll_event`] ([`MirrorEvent`]s: itemized changes,
//!   deletions, acknowledgements, log lines, the end).
//! - [`Mirror::keepalive`] after `T/2` seconds without writing (RFC.md §15.9).
//!
//! # How changes are carried out
//!
//! Records are read in order. A change (`ENTRY`, `DELETE`, `HARDLINK`, `DIR_BEGIN`,
//! `DIR_END`, `BATCH_END`) becomes a job; jobs *decide* one at a time, in id order (the
//! `lstat` of the name, then the requests that make it current), so that every decision
//! sees the effects of the changes before it. A regular file then waits for its data while
//! later jobs go on: many ids are in flight and `DATA` of different ids may interleave.
//! A job that names a path a transfer in flight writes or reads (or a directory above one)
//! waits until that transfer is done. Every job that changed something ends with
//! [`FsRequest::Settle`]; its `ACK` goes out once the executor confirms, so an acknowledged
//! change is on disk.
//!
//! # Acknowledgements in bursts
//!
//! A `Settle` costs the executor a wait for its writing thread, so the mirror does not issue
//! it as soon as a job is ready: jobs ready to settle are held and their `Settle`s issued
//! together, in id order, when the mirror has nothing else at hand — when
//! [`Mirror::poll_request`] finds no request queued, every record received read, and no
//! answer awaited but `Settled` (nothing more can move without the master or the executor's
//! confirmations) — or once [`ConstantConfig::max_settle_batch`] are held. An idle mirror so
//! acknowledges a single change at once; a busy one in bursts, one executor wait per burst.
//! Nothing waits on held `Settle`s that is not itself waited for by the master (the window,
//! `BATCH_END`, `BYE`): once the input is consumed the mirror is idle and they go out.
//! `ACK`s of changes acknowledged without a `Settle` (current already, nothing to delete)
//! wait behind those of lower ids still settling, so that `ACK`s leave in id order among
//! the changes done.
//!
//! Deletions of regular files wait for `BATCH_END` and serve meanwhile as bases for new
//! names of the same size and mtime (a rename costs block copies only).
//!
//! # Bounds on what the master may send
//!
//! Ids must grow; at most [`ConstantConfig::window`] changes in flight; one directory
//! listing at a time of at most [`ConstantConfig::max_dir_names`] names; at most
//! [`ConstantConfig::max_open_files`] files receiving data; names were checked by the
//! record decoder (no `..`, not absolute, ≤ 4095 bytes). Any violation is a
//! [`ConstantError`] (exit code 12) and ends the session.
//!
//! # Owners
//!
//! With `-o`/`-g` (and without `--numeric-ids`) an entry's user and group names travel the
//! first time an id appears; the mirror remembers them and fills them into every later
//! entry with that id, and the executor maps names to local ids when it sets ownership (as
//! `ReceiverFs` does). The quick check compares ids numerically.

mod ack;
mod data;
mod entry;
mod intake;
mod tree;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use rsync_core::SumHead;

use super::config::{check_options, ndx_of, record_context, ConstantConfig, ConstantError};
use super::record::{decode_master, Hello, MirrorRecord, RecordContext, RecordReader, VERSION};
use crate::filter::FilterList;
use crate::flist::{FileEntry, WirePath};
use crate::mux::MsgCode;
use crate::session::{BasisMeta, FsAnswer, FsRequest, SessionOptions};
use data::{Recv, Transfer};
use tree::Purge;

/// What the mirror tells its application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MirrorEvent {
    /// A change was decided (rsync's itemize record: render with `-i`).
    Itemize {
        /// The change id.
        id: u64,
        /// The entry as the master described it.
        entry: FileEntry,
        /// Item flags ([`crate::session::iflags`]).
        iflags: u16,
        /// A hard link's target (shown as ` => NAME`).
        xname: Option<Vec<u8>>,
    },
    /// An entry was deleted (`*deleting`).
    Deleted {
        /// The change id.
        id: u64,
        /// The name.
        path: WirePath,
        /// Whether it was a directory.
        is_dir: bool,
    },
    /// A change was acknowledged to the master.
    Acked {
        /// The change id.
        id: u64,
        /// 0, 23 or 24.
        status: u32,
        /// What went wrong, if anything.
        message: Vec<u8>,
    },
    /// A log line ([`MsgCode::Info`] to stdout, the others to stderr).
    Log {
        /// Its code.
        code: MsgCode,
        /// Its text, ending with a newline.
        text: Vec<u8>,
    },
    /// The session ended (after `BYE`, or a fatal error).
    Done {
        /// rsync exit code.
        exit_code: i32,
    },
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the master's `HELLO`.
    Hello,
    /// Waiting for `FILTERS`.
    Filters,
    /// Changes flow.
    Running,
    /// `BYE` received: finishing what is in flight.
    Closing,
    /// `BYE` answered, or failed.
    Done,
}

/// What a job is about.
#[derive(Debug)]
enum Kind {
    Entry {
        entry: FileEntry,
        in_tree: bool,
    },
    Delete {
        path: WirePath,
    },
    HardLink {
        path: WirePath,
        target: WirePath,
    },
    DirBegin {
        path: WirePath,
    },
    DirEnd {
        path: WirePath,
        names: HashSet<Vec<u8>>,
    },
    BatchEnd,
}

/// Where a job is.
#[derive(Debug)]
enum Step {
    /// Not started (waiting in the queue).
    Queued,
    /// Waiting for the `lstat` of its path.
    Stat,
    /// A new name: waiting for the `lstat` of the last of its parent directories found
    /// missing so far (nearest first).
    Parents(Vec<WirePath>),
    /// A hard link: the `lstat` of the link's path is known; waiting for the target's.
    LinkStat(Option<BasisMeta>),
    /// Deleting (with protected names: waiting for listings), then `Then`.
    Purge(Box<Purge>, tree::Then),
    /// Waiting for the basis signature.
    Sig { basis: WirePath, head: SumHead },
    /// Waiting for the file's data.
    Data(Box<Transfer>),
    /// A regular file whose deletion waits for `BATCH_END`; its `lstat` then.
    Deferred(BasisMeta),
    /// `DIR_END`: waiting for the listing.
    Listing,
    /// `BATCH_END`: the deferred deletions' `lstat`s, answered so far.
    BatchStat(Vec<(u64, WirePath, BasisMeta)>, usize),
    /// Waiting for [`FsAnswer::Settled`] (its `Settle` held or issued), then `ACK` with this
    /// status.
    Settle {
        status: u32,
        message: Vec<u8>,
        /// Deferred deletions acknowledged with this job (`BATCH_END`).
        with: Vec<u64>,
    },
    /// Done without a `Settle`; its `ACK` waits for those of lower ids still settling.
    Parked { status: u32, message: Vec<u8> },
}

#[derive(Debug)]
struct Job {
    kind: Kind,
    step: Step,
}

/// The id of the `BATCH_END` a mirror adds itself mid-stream ([`Mirror::flush_at`]); a
/// master never reaches it (ids grow by one from 1).
const SILENT_ID: u64 = u64::MAX;

/// The answer a request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Basis,
    Signature,
    DirList,
    Copied,
    Settled,
}

/// Paths that transfers in flight write or read, and the directories above them.
#[derive(Debug, Default)]
struct Busy {
    paths: HashMap<Vec<u8>, u32>,
    below: HashMap<Vec<u8>, u32>,
}

/// The directories above `path`, nearest first, ending with `.`.
fn ancestors(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    let cuts = path.iter().enumerate().rev().filter(|(_, &b)| b == b'/');
    let dirs = cuts.map(move |(i, _)| path.get(..i).unwrap_or_default());
    dirs.chain((path != b".").then_some(&b"."[..]))
}

/// The directory holding `path` (`.` for a top-level name).
fn parent(path: &[u8]) -> &[u8] {
    ancestors(path).next().unwrap_or(b".")
}

/// The last component of `path`.
fn file_name(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

fn bump(map: &mut HashMap<Vec<u8>, u32>, key: &[u8], up: bool) {
    if up {
        *map.entry(key.to_vec()).or_default() += 1;
    } else if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Busy {
    fn mark(&mut self, path: &[u8], up: bool) {
        bump(&mut self.paths, path, up);
        for a in ancestors(path) {
            bump(&mut self.below, a, up);
        }
    }

    /// `path` itself, or something beneath it, is in a transfer's hands.
    fn touches(&self, path: &[u8]) -> bool {
        self.paths.contains_key(path) || self.below.contains_key(path)
    }
}

/// A directory being listed by the master (`DIR_BEGIN`…`DIR_END`).
#[derive(Debug)]
struct Scan {
    dir: WirePath,
    names: HashSet<Vec<u8>>,
    bytes: usize,
}

/// The mirror role. See the module documentation.
#[derive(Debug)]
pub struct Mirror {
    opts: SessionOptions,
    cfg: ConstantConfig,
    ctx: RecordContext,
    reader: RecordReader,
    out: Vec<u8>,
    keepalive: bool,
    requests: VecDeque<FsRequest>,
    events: VecDeque<MirrorEvent>,
    phase: Phase,
    filter: Option<FilterList>,
    last_id: u64,
    jobs: HashMap<u64, Job>,
    /// Jobs not started, in id order.
    queue: VecDeque<u64>,
    /// The job deciding (waiting for an answer before the next may start).
    active: Option<u64>,
    /// Answers awaited, in request order.
    expect: VecDeque<(u64, Want)>,
    /// A `DATA` record being applied, paused on a basis copy.
    recv: Option<Recv>,
    busy: Busy,
    scan: Option<Scan>,
    /// Deferred deletions, in id order.
    deferred: Vec<u64>,
    open_files: usize,
    user_names: HashMap<u32, Vec<u8>>,
    group_names: HashMap<u32, Vec<u8>>,
    /// The id of a `BATCH_END` the mirror adds itself (never acknowledged): after `BYE`, or
    /// when deferred deletions reach [`Mirror::flush_at`] ([`SILENT_ID`] then).
    silent: Option<u64>,
    /// The jobs a silent `BATCH_END` waits for: those with a smaller id.
    silent_before: u64,
    /// Deferred deletions that make the mirror end the batch itself: half the master's
    /// window. Their ids stay in flight until a `BATCH_END`; were the window full of them, the
    /// master could send neither its `BATCH_END` nor an open directory's `DIR_END`.
    flush_at: usize,
    /// Jobs ready to settle whose `Settle` is not issued yet.
    held: Vec<u64>,
    /// Jobs in [`Step::Settle`] (held or issued).
    settling: BTreeSet<u64>,
    /// Jobs in [`Step::Parked`].
    parked: BTreeSet<u64>,
}

impl Mirror {
    /// A mirror for the negotiated `opts` (its `flist` options select the entry fields as
    /// the cluster of RFC.md §15.2 says); it sends its `HELLO` at once.
    ///
    /// # Errors
    /// [`ConstantError::Unsupported`] below protocol 31 or for invalid file-list options.
    pub fn new(opts: SessionOptions, cfg: ConstantConfig) -> Result<Self, ConstantError> {
        check_options(&opts)?;
        let ctx = record_context(&opts);
        let mut m = Self {
            opts,
            cfg,
            ctx,
            reader: RecordReader::new(),
            out: Vec::new(),
            keepalive: false,
            requests: VecDeque::new(),
            events: VecDeque::new(),
            phase: Phase::Hello,
            filter: None,
            last_id: 0,
            jobs: HashMap::new(),
            queue: VecDeque::new(),
            active: None,
            expect: VecDeque::new(),
            recv: None,
            busy: Busy::default(),
            scan: None,
            deferred: Vec::new(),
            open_files: 0,
            user_names: HashMap::new(),
            group_names: HashMap::new(),
            silent: None,
            silent_before: 0,
            flush_at: (cfg.mirror_window() / 2).max(1) as usize,
            held: Vec::new(),
            settling: BTreeSet::new(),
            parked: BTreeSet::new(),
        };
        let hello = Hello {
            version: VERSION,
            features: 0,
            window: cfg.mirror_window(),
        };
        m.send(&MirrorRecord::Hello(hello));
        Ok(m)
    }

    /// Payload bytes of the master's `MSG_DATA` frames, in any chunking.
    ///
    /// # Errors
    /// A [`ConstantError`] for a malformed or hostile stream; the role is then finished.
    pub fn handle_data(&mut self, bytes: &[u8]) -> Result<(), ConstantError> {
        if self.phase == Phase::Done {
            return Ok(());
        }
        self.reader.push(bytes);
        let r = self.run();
        r.map_err(|e| self.fail(e))
    }

    /// The answer to the oldest outstanding request that needs one.
    ///
    /// # Errors
    /// [`ConstantError::UnexpectedAnswer`] for an answer nobody asked for, or any error its
    /// processing causes; the role is then finished.
    pub fn handle_answer(&mut self, answer: FsAnswer) -> Result<(), ConstantError> {
        if self.phase == Phase::Done {
            return Ok(());
        }
        let r = self.answer(answer).and_then(|()| self.run());
        r.map_err(|e| self.fail(e))
    }

    /// The master closed the connection.
    ///
    /// # Errors
    /// [`ConstantError::UnexpectedEof`] unless the session had ended with `BYE`.
    pub fn handle_eof(&mut self) -> Result<(), ConstantError> {
        if self.phase == Phase::Done {
            return Ok(());
        }
        Err(self.fail(ConstantError::UnexpectedEof))
    }

    /// Appends the record bytes to send (as `MSG_DATA`) to `out`; `false` if there were
    /// none. After [`Mirror::keepalive`] it may return `true` with nothing appended: send
    /// an empty `MSG_DATA` frame then.
    #[must_use]
    pub fn poll_output(&mut self, out: &mut Vec<u8>) -> bool {
        let any = !self.out.is_empty() || self.keepalive;
        self.keepalive = false;
        out.append(&mut self.out);
        any
    }

    /// The next file-system request. When none is queued and the mirror waits for nothing
    /// but the master (and `Settled` answers), the `Settle`s held back are issued now (see
    /// "Acknowledgements in bursts" above).
    #[must_use]
    pub fn poll_request(&mut self) -> Option<FsRequest> {
        if self.requests.is_empty() && !self.held.is_empty() && self.idle() {
            self.flush_settles();
        }
        self.requests.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<MirrorEvent> {
        self.events.pop_front()
    }

    /// Nothing was written for half the timeout: queue a keepalive (an empty `MSG_DATA`)
    /// unless other output is pending.
    pub fn keepalive(&mut self) {
        if self.out.is_empty() && self.phase != Phase::Done {
            self.keepalive = true;
        }
    }

    /// Whether the session has ended ([`MirrorEvent::Done`] is queued).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Changes in flight (received and not yet acknowledged).
    pub fn in_flight(&self) -> usize {
        self.jobs.len()
    }

    fn fail(&mut self, e: ConstantError) -> ConstantError {
        if self.phase != Phase::Done {
            self.phase = Phase::Done;
            self.events.push_back(MirrorEvent::Done {
                exit_code: e.exit_code(),
            });
        }
        e
    }

    fn send(&mut self, rec: &MirrorRecord) {
        // Our own records are bounded by construction (sums are split by the caller).
        if rec.encode(&mut self.out).is_err() {
            debug_assert!(false, "oversized mirror record");
        }
    }

    fn log(&mut self, code: MsgCode, text: String) {
        self.events.push_back(MirrorEvent::Log {
            code,
            text: text.into_bytes(),
        });
    }

    fn request(&mut self, r: FsRequest) {
        self.requests.push_back(r);
    }

    fn ask(&mut self, id: u64, r: FsRequest, want: Want) {
        self.requests.push_back(r);
        self.expect.push_back((id, want));
    }

    /// Reads records and starts jobs until both wait.
    fn run(&mut self) -> Result<(), ConstantError> {
        loop {
            let mut moved = self.start_jobs()?;
            if self.recv.is_none() && self.phase != Phase::Done {
                if let Some((kind, body)) = self.reader.next_frame()? {
                    if let Some(rec) = decode_master(&self.ctx, kind, &body)? {
                        self.record(rec)?;
                    }
                    moved = true;
                }
            }
            moved |= self.maybe_close();
            if !moved {
                return Ok(());
            }
        }
    }

    /// Starts queued jobs, one deciding at a time, while none waits.
    fn start_jobs(&mut self) -> Result<bool, ConstantError> {
        let mut moved = false;
        while self.active.is_none() {
            let Some(&id) = self.queue.front() else {
                break;
            };
            if self.blocked(id) {
                break;
            }
            self.queue.pop_front();
            self.active = Some(id);
            self.begin(id)?;
            moved = true;
        }
        Ok(moved)
    }

    /// Whether job `id` must wait for a transfer in flight (or, for `BATCH_END`, for every
    /// earlier change but the deferred deletions).
    fn blocked(&self, id: u64) -> bool {
        let Some(job) = self.jobs.get(&id) else {
            return false;
        };
        let b = &self.busy;
        match &job.kind {
            Kind::Entry { entry, .. } => b.touches(entry.name.as_bytes()),
            Kind::Delete { path } | Kind::DirEnd { path, .. } => b.touches(path.as_bytes()),
            Kind::HardLink { path, target } => {
                b.touches(path.as_bytes()) || b.paths.contains_key(target.as_bytes())
            }
            Kind::DirBegin { path } => b.paths.contains_key(path.as_bytes()),
            Kind::BatchEnd => {
                let before = if self.silent == Some(id) {
                    self.silent_before
                } else {
                    id
                };
                self.jobs
                    .iter()
                    .any(|(&j, job)| j < before && !matches!(job.step, Step::Deferred(_)))
            }
        }
    }

    /// The job stopped deciding (it waits for data, for `BATCH_END`, or is settling).
    fn decided(&mut self, id: u64) {
        if self.active == Some(id) {
            self.active = None;
        }
    }

    /// After `BYE`: once nothing is in flight, answer `BYE` and end. `true` if it did
    /// something.
    fn maybe_close(&mut self) -> bool {
        if self.phase != Phase::Closing {
            return false;
        }
        if self.silent.is_none() && self.flush_deferred() {
            return true;
        }
        if self.jobs.is_empty() && self.recv.is_none() {
            self.send(&MirrorRecord::Bye);
            self.phase = Phase::Done;
            self.events.push_back(MirrorEvent::Done { exit_code: 0 });
            return true;
        }
        false
    }

    /// Routes an answer to the job that asked.
    fn answer(&mut self, a: FsAnswer) -> Result<(), ConstantError> {
        let Some((id, want)) = self.expect.pop_front() else {
            return Err(ConstantError::UnexpectedAnswer {
                what: "no request outstanding",
            });
        };
        let ndx = ndx_of(id);
        let fits = matches!(
            (&a, want),
            (FsAnswer::Basis { .. }, Want::Basis)
                | (FsAnswer::Signature { .. }, Want::Signature)
                | (FsAnswer::DirList { .. }, Want::DirList)
                | (FsAnswer::Copied { .. }, Want::Copied)
                | (FsAnswer::Settled { .. }, Want::Settled)
        );
        let same = match &a {
            FsAnswer::Basis { ndx: n, .. }
            | FsAnswer::Signature { ndx: n, .. }
            | FsAnswer::DirList { ndx: n, .. }
            | FsAnswer::Copied { ndx: n, .. }
            | FsAnswer::Settled { ndx: n, .. } => *n == ndx,
            _ => false,
        };
        if !fits || !same {
            return Err(ConstantError::UnexpectedAnswer {
                what: "not the answer to the oldest request",
            });
        }
        match a {
            FsAnswer::Copied { data, .. } => self.copied(id, data),
            FsAnswer::Settled { error, .. } => {
                self.settled(id, error);
                Ok(())
            }
            a => self.step(id, a),
        }
    }

    /// An answer for the deciding job (or a `BATCH_END`'s `lstat`s).
    fn step(&mut self, id: u64, a: FsAnswer) -> Result<(), ConstantError> {
        let Some(job) = self.jobs.get_mut(&id) else {
            return Err(ConstantError::UnexpectedAnswer {
                what: "answer for a finished change",
            });
        };
        let step = std::mem::replace(&mut job.step, Step::Queued);
        match (step, a) {
            (Step::Stat, FsAnswer::Basis { meta, .. }) => self.stat_answer(id, meta),
            (Step::Parents(missing), FsAnswer::Basis { meta, .. }) => {
                self.parent_answer(id, missing, meta)
            }
            (Step::LinkStat(own), FsAnswer::Basis { meta, .. }) => self.link_answer(id, own, meta),
            (Step::Purge(p, then), FsAnswer::DirList { names, .. }) => {
                self.purge_listed(id, p, then, names)
            }
            (Step::Sig { basis, head }, FsAnswer::Signature { signature, .. }) => {
                self.signature(id, basis, head, &signature)
            }
            (Step::Listing, FsAnswer::DirList { names, .. }) => self.dir_listed(id, names),
            (Step::BatchStat(found, left), FsAnswer::Basis { meta, .. }) => {
                self.batch_stat(id, found, left, meta)
            }
            _ => Err(ConstantError::UnexpectedAnswer {
                what: "answer in the wrong step",
            }),
        }
    }

    /// A later change names `path` (with `below`, also what is beneath it): the deferred
    /// deletions there are superseded (acknowledged, not carried out: that change decides).
    fn supersede(&mut self, path: &[u8], below: bool) {
        let hit = |p: &[u8]| {
            p == path
                || (below
                    && (path == b"." || p.get(path.len()) == Some(&b'/') && p.starts_with(path)))
        };
        let (gone, kept): (Vec<u64>, Vec<u64>) = self.deferred.iter().partition(|d| {
            matches!(self.jobs.get(d), Some(Job { kind: Kind::Delete { path: p }, .. })
                if hit(p.as_bytes()))
        });
        self.deferred = kept;
        for d in gone {
            self.ack(d, 0, Vec::new());
        }
    }

    /// Whether `path` is protected from deletion by the master's rules.
    fn protected(&self, path: &[u8], is_dir: bool, inside_deleted: bool) -> bool {
        self.filter
            .as_ref()
            .is_some_and(|f| f.protected(path, is_dir, inside_deleted))
    }
}
