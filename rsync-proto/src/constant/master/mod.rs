//! The master: the client sender of a constant session (RFC.md §15.4–§15.10), sans-IO.
//!
//! # API (the shape of [`crate::session::Session`])
//!
//! - **Changes** from the daemon: [`Master::submit`] (a name that may have changed),
//!   [`Master::submit_tree`] (a subtree, `.` for a bootstrap), [`Master::end_batch`]
//!   (`BATCH_END`), [`Master::close`] (`BYE` once everything is sent). Each returns a
//!   [`ChangeId`]; [`MasterEvent::Acked`] reports it done, after every record it caused
//!   (the subtree a `WANT_TREE` asked for included) was acknowledged: that is when the
//!   daemon may advance its durable cursor (RFC.md §15.8).
//! - **Inputs**: [`Master::handle_data`] (payload of the mirror's `MSG_DATA`),
//!   [`Master::handle_answer`] (answers in request order), [`Master::handle_eof`].
//! - **Outputs**: [`Master::poll_output`] (record bytes for `MSG_DATA`),
//!   [`Master::poll_request`], [`Master::poll_event`]; [`Master::keepalive`].
//!
//! # What the driver serves
//!
//! [`FsRequest::Stat`] (one `lstat` as a file-list entry), [`FsRequest::ListDir`] (one
//! source directory), [`FsRequest::ReadFile`] (the file's bytes, [`FsAnswer::FileError`]
//! when it cannot be read). A path that is there but cannot be read answers
//! [`FsAnswer::Unreadable`], never "absent" nor an empty listing (the mirror deletes what
//! the master says is absent and what a listing does not name).
//!
//! # Sources that cannot be read (RFC.md §15.7)
//!
//! An unreadable path of a change is not sent (no `DELETE`, no `ENTRY`: the mirror keeps
//! what it has) and the change is acknowledged with status 23 and the executor's message.
//! A directory of a walk that cannot be read gets no `DIR_BEGIN`/`DIR_END` (nothing is
//! deleted in it) and its subtree is skipped; the rest of the walk goes on, and the change
//! that started the walk (and the changes riding on it beneath that directory) is
//! acknowledged with status 23 when the walk is done. A name of a listed directory whose
//! `lstat` fails ends the session ([`ConstantError::Unreadable`], exit code 23): the
//! `DIR_END` that must follow would delete it.
//!
//! # Order and pacing
//!
//! A path's state is read (`Stat`) just before its record is sent, so a name sent twice is
//! harmless. Ids are given when records go out, in the order of the requests that produced
//! them; at most the window (the smaller of ours and the mirror's) is unacknowledged.
//! Between `DIR_BEGIN D` and `DIR_END D` only names in `D` are sent; a subtree is walked one
//! directory at a time, alternating with queued changes; a change beneath a directory a
//! walk has yet to list is left to the walk (and acknowledged with it), and so is a
//! `WANT_TREE` for such a directory. Files are read one at a time, in
//! the order their sums arrived; tokens go out in `DATA` records of about
//! [`ConstantConfig::data_record`] bytes.

mod issue;
mod send;

use std::collections::{HashMap, HashSet, VecDeque};

use super::config::{check_options, record_context, ConstantConfig, ConstantError, STATUS_PARTIAL};
use super::record::{
    decode_mirror, Hello, MasterRecord, MirrorRecord, RecordContext, RecordReader, MIN_WINDOW,
    VERSION,
};
use crate::filter::wire::{encode_rules, WireContext};
use crate::filter::{FilterList, Side};
use crate::flist::WirePath;
use crate::session::{FsAnswer, FsRequest, SessionOptions};
use issue::{Batch, Feed, Got, Open, Slot, Walk};
use send::{FileState, Reading};

/// A change the daemon submitted (numbered from 1 in each session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChangeId(pub u64);

/// What the master tells its application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MasterEvent {
    /// A change is done on the mirror (or failed there: `status` 23 or 24).
    Acked {
        /// The change.
        id: ChangeId,
        /// 0, or the worst status of its records.
        status: u32,
        /// The first error message, if any.
        message: Vec<u8>,
    },
    /// A file's data was sent.
    Sent {
        /// Its name.
        path: WirePath,
        /// Literal bytes.
        literal: u64,
        /// Bytes covered by block copies.
        matched: u64,
    },
    /// The session ended (mirror's `BYE`, or a fatal error).
    Done {
        /// rsync exit code.
        exit_code: i32,
    },
}

/// What an id in flight is.
#[derive(Debug)]
enum State {
    /// Acknowledged only.
    Plain,
    /// A directory's `ENTRY`.
    Dir,
    /// A regular file's `ENTRY`.
    File(FileState),
}

/// An id in flight.
#[derive(Debug)]
struct Flight {
    change: u64,
    /// The name the record was about (`None` for `BATCH_END`).
    path: Option<WirePath>,
    state: State,
    /// A `WANT_TREE` came for it (at most one may).
    wanted: bool,
    /// Its directory is walked for the same change already (`walk_named_dirs`): a
    /// `WANT_TREE` for that directory adds nothing, even once the walk is over.
    walked: bool,
}

/// Bookkeeping of a change: references held by queued work, records in flight and walks.
#[derive(Debug, Default)]
struct Change {
    refs: u32,
    status: u32,
    message: Vec<u8>,
    /// Changes that ride on this change's walk, with their paths: released when it is done.
    riders: Vec<(u64, WirePath)>,
    /// Directories of this change's walk that could not be read (at most [`MAX_UNREAD`];
    /// `unread_full` beyond).
    unread: Vec<WirePath>,
    unread_full: bool,
}

/// The smallest window a master uses, whatever [`ConstantConfig::window`] says: a walked
/// directory's `DIR_BEGIN` stays in flight until its end, which takes two more ids at once
/// (`DIR_END` and the directory's own `ENTRY`); with less the walk would stall for good.
const MIN_MASTER_WINDOW: u32 = 3;

/// Most unreadable directories remembered per change (beyond, every rider fails with it).
const MAX_UNREAD: usize = 1024;

/// Whether one of `a` and `b` is the other or beneath it.
fn overlaps(a: &[u8], b: &[u8]) -> bool {
    let under = |x: &[u8], d: &[u8]| {
        d == b"." || (x.len() > d.len() && x.starts_with(d) && x.get(d.len()) == Some(&b'/'))
    };
    a == b || under(a, b) || under(b, a)
}

/// The answer the oldest request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The first unanswered [`Slot`].
    Slot,
    /// File data for this id.
    Read(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// `BYE` sent.
    Closing,
    Done,
}

/// The master role. See the module documentation.
#[derive(Debug)]
pub struct Master {
    opts: SessionOptions,
    cfg: ConstantConfig,
    ctx: RecordContext,
    filter: Option<FilterList>,
    reader: RecordReader,
    out: Vec<u8>,
    keepalive: bool,
    requests: VecDeque<FsRequest>,
    events: VecDeque<MasterEvent>,
    phase: Phase,
    /// The mirror's `HELLO` arrived.
    greeted: bool,
    window: u32,
    last_id: u64,
    last_change: u64,
    next_ndx: i32,
    feed: VecDeque<Feed>,
    walks: VecDeque<Walk>,
    open: Open,
    /// Feed items started since the last directory of a walk.
    turn: usize,
    slots: VecDeque<Slot>,
    expect: VecDeque<Expect>,
    flights: HashMap<u64, Flight>,
    changes: HashMap<u64, Change>,
    /// Files whose sums are complete, in arrival order.
    ready: VecDeque<u64>,
    reading: Option<Box<Reading>>,
    sums_bytes: u64,
    batch: Batch,
    /// User and group ids whose names were sent.
    named_uids: HashSet<u32>,
    named_gids: HashSet<u32>,
    /// Changes were queued since the last `BATCH_END`.
    batch_open: bool,
    closing: bool,
}

impl Master {
    /// A master for the negotiated `opts`: `opts.filter` (or, without it,
    /// `opts.filter_rules`) are the rules sent in `FILTERS`, and `opts.filter` hides
    /// names from walks and submissions. Queues `HELLO` and `FILTERS`.
    ///
    /// # Errors
    /// [`ConstantError::Unsupported`] below protocol 31 or for invalid file-list options,
    /// [`ConstantError::Filter`] for rules that cannot be sent.
    pub fn new(opts: SessionOptions, cfg: ConstantConfig) -> Result<Self, ConstantError> {
        check_options(&opts)?;
        let ctx = record_context(&opts);
        let filters = match &opts.filter {
            Some(f) => f.encode(&WireContext {
                protocol: u32::from(opts.protocol),
                client_is_sender: true,
                delete: true,
                prune_empty_dirs: false,
            })?,
            None => encode_rules(&opts.filter_rules),
        };
        let filter = opts.filter.clone().filter(|f| !f.is_empty());
        let mut m = Self {
            opts,
            cfg,
            ctx,
            filter,
            reader: RecordReader::new(),
            out: Vec::new(),
            keepalive: false,
            requests: VecDeque::new(),
            events: VecDeque::new(),
            phase: Phase::Running,
            greeted: false,
            window: cfg.window.clamp(MIN_MASTER_WINDOW, MIN_WINDOW),
            last_id: 0,
            last_change: 0,
            next_ndx: 0,
            feed: VecDeque::new(),
            walks: VecDeque::new(),
            open: Open::None,
            turn: 0,
            slots: VecDeque::new(),
            expect: VecDeque::new(),
            flights: HashMap::new(),
            changes: HashMap::new(),
            ready: VecDeque::new(),
            reading: None,
            sums_bytes: 0,
            batch: Batch::default(),
            named_uids: HashSet::new(),
            named_gids: HashSet::new(),
            batch_open: false,
            closing: false,
        };
        let hello = Hello {
            version: VERSION,
            features: 0,
            window: cfg.window.max(1),
        };
        m.send(&MasterRecord::Hello(hello));
        m.send(&MasterRecord::Filters(filters));
        Ok(m)
    }

    /// A name (relative to the source) that may have changed: its current state is sent
    /// (`ENTRY`, `DELETE` when it is missing, `HARDLINK`); a directory's subtree follows
    /// when [`ConstantConfig::walk_named_dirs`] is on (the default). A name the filter rules
    /// exclude is acknowledged at once.
    ///
    /// # Errors
    /// [`ConstantError::Closing`] after [`Master::close`], [`ConstantError::QueueFull`].
    pub fn submit(&mut self, path: WirePath) -> Result<ChangeId, ConstantError> {
        let id = self.new_change()?;
        if self.hidden(&path) {
            self.release(id.0, 0, &[]);
        } else {
            self.feed.push_back(Feed::Change(id.0, path));
            self.batch_open = true;
        }
        self.pump();
        Ok(id)
    }

    /// A subtree to make identical (`.` bootstraps a mirror, RFC.md §15.10): walked
    /// directory by directory with `DIR_BEGIN`/`DIR_END`, which delete what the source does
    /// not have.
    ///
    /// # Errors
    /// As [`Master::submit`].
    pub fn submit_tree(&mut self, path: WirePath) -> Result<ChangeId, ConstantError> {
        let id = self.new_change()?;
        if self.hidden(&path) {
            self.release(id.0, 0, &[]);
        } else {
            self.feed.push_back(Feed::Tree(id.0, path));
            self.batch_open = true;
        }
        self.pump();
        Ok(id)
    }

    /// Ends the current batch (`BATCH_END`, RFC.md §15.6): the mirror carries out its
    /// deferred deletions (a deleted regular file is acknowledged only then, so call this
    /// whenever the queue drains); hard links are detected within a batch.
    ///
    /// # Errors
    /// As [`Master::submit`].
    pub fn end_batch(&mut self) -> Result<ChangeId, ConstantError> {
        let id = self.new_change()?;
        self.feed.push_back(Feed::BatchEnd(id.0));
        self.batch_open = false;
        self.pump();
        Ok(id)
    }

    /// No more changes: a last `BATCH_END` if changes were submitted since the previous
    /// one (the mirror's deferred deletions are acknowledged only then), and `BYE` once
    /// everything is acknowledged; the session ends with the mirror's `BYE`.
    pub fn close(&mut self) {
        if !self.closing && self.batch_open && self.phase == Phase::Running {
            // An internal change (0): acknowledged without an event.
            let c = Change {
                refs: 1,
                ..Change::default()
            };
            self.changes.insert(0, c);
            self.feed.push_back(Feed::BatchEnd(0));
            self.batch_open = false;
        }
        self.closing = true;
        self.pump();
    }

    /// Payload bytes of the mirror's `MSG_DATA` frames, in any chunking.
    ///
    /// # Errors
    /// A [`ConstantError`] for a malformed or hostile stream; the role is then finished.
    pub fn handle_data(&mut self, bytes: &[u8]) -> Result<(), ConstantError> {
        if self.phase == Phase::Done {
            return Ok(());
        }
        self.reader.push(bytes);
        let r = self.read_records();
        r.map_err(|e| self.fail(e))
    }

    /// The answer to the oldest outstanding request that needs one.
    ///
    /// # Errors
    /// [`ConstantError::UnexpectedAnswer`] for an answer nobody asked for; the role is
    /// then finished.
    pub fn handle_answer(&mut self, answer: FsAnswer) -> Result<(), ConstantError> {
        if self.phase == Phase::Done {
            return Ok(());
        }
        let r = self.answer(answer).map(|()| self.pump());
        r.map_err(|e| self.fail(e))
    }

    /// The mirror closed the connection.
    ///
    /// # Errors
    /// [`ConstantError::UnexpectedEof`] unless the session had ended.
    pub fn handle_eof(&mut self) -> Result<(), ConstantError> {
        if self.phase == Phase::Done {
            return Ok(());
        }
        Err(self.fail(ConstantError::UnexpectedEof))
    }

    /// Appends the record bytes to send (as `MSG_DATA`) to `out`; `false` if there were
    /// none. After [`Master::keepalive`] it may return `true` with nothing appended: send an
    /// empty `MSG_DATA` frame then.
    #[must_use]
    pub fn poll_output(&mut self, out: &mut Vec<u8>) -> bool {
        let any = !self.out.is_empty() || self.keepalive;
        self.keepalive = false;
        out.append(&mut self.out);
        any
    }

    /// The next file-system request.
    #[must_use]
    pub fn poll_request(&mut self) -> Option<FsRequest> {
        self.requests.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<MasterEvent> {
        self.events.pop_front()
    }

    /// Nothing was written for half the timeout: queue a keepalive unless output is
    /// pending.
    pub fn keepalive(&mut self) {
        if self.out.is_empty() && self.phase != Phase::Done {
            self.keepalive = true;
        }
    }

    /// Whether the session has ended ([`MasterEvent::Done`] is queued).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Changes submitted and not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.changes.len() - usize::from(self.changes.contains_key(&0))
    }

    /// Ids sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.flights.len()
    }

    fn fail(&mut self, e: ConstantError) -> ConstantError {
        if self.phase != Phase::Done {
            self.phase = Phase::Done;
            self.events.push_back(MasterEvent::Done {
                exit_code: e.exit_code(),
            });
        }
        e
    }

    fn send(&mut self, rec: &MasterRecord) {
        // Our records are bounded by construction (DATA records are flushed early).
        if rec.encode(&self.ctx, &mut self.out).is_err() {
            debug_assert!(false, "oversized master record");
        }
    }

    fn new_change(&mut self) -> Result<ChangeId, ConstantError> {
        if self.closing || self.phase != Phase::Running {
            return Err(ConstantError::Closing);
        }
        if self.feed.len() >= self.cfg.max_queued {
            return Err(ConstantError::QueueFull {
                max: self.cfg.max_queued,
            });
        }
        self.last_change += 1;
        let c = Change {
            refs: 1,
            ..Change::default()
        };
        self.changes.insert(self.last_change, c);
        Ok(ChangeId(self.last_change))
    }

    /// Whether the rules hide `path` (or a directory above it) from the mirror.
    fn hidden(&self, path: &WirePath) -> bool {
        let Some(f) = &self.filter else {
            return false;
        };
        let p = path.as_bytes();
        if p == b"." {
            return false;
        }
        let dirs = p.iter().enumerate().filter(|(_, &b)| b == b'/');
        let above = dirs.filter_map(|(i, _)| p.get(..i));
        above.into_iter().any(|d| f.excluded(d, true, Side::Sender))
            || (f.excluded(p, false, Side::Sender) && f.excluded(p, true, Side::Sender))
    }

    /// Takes a reference on change `c`.
    fn hold(&mut self, c: u64) {
        if let Some(ch) = self.changes.get_mut(&c) {
            ch.refs += 1;
        }
    }

    /// Drops a reference on change `c` with `status`; the last one acknowledges it.
    fn release(&mut self, c: u64, status: u32, message: &[u8]) {
        let Some(ch) = self.changes.get_mut(&c) else {
            return;
        };
        if status > ch.status {
            ch.status = status;
        }
        if ch.message.is_empty() {
            ch.message = message.to_vec();
        }
        ch.refs = ch.refs.saturating_sub(1);
        if ch.refs > 0 {
            return;
        }
        let Some(ch) = self.changes.remove(&c) else {
            return;
        };
        for (r, path) in &ch.riders {
            let p = path.as_bytes();
            if ch.unread_full || ch.unread.iter().any(|u| overlaps(p, u.as_bytes())) {
                self.release(*r, STATUS_PARTIAL, &ch.message);
            } else {
                self.release(*r, 0, &[]);
            }
        }
        if c != 0 {
            self.events.push_back(MasterEvent::Acked {
                id: ChangeId(c),
                status: ch.status,
                message: ch.message,
            });
        }
    }

    fn read_records(&mut self) -> Result<(), ConstantError> {
        while self.phase != Phase::Done {
            let Some((kind, body)) = self.reader.next_frame()? else {
                break;
            };
            if let Some(rec) = decode_mirror(&self.ctx, kind, &body)? {
                self.record(rec)?;
            }
            self.pump();
        }
        Ok(())
    }

    /// One record from the mirror.
    fn record(&mut self, rec: MirrorRecord) -> Result<(), ConstantError> {
        let unexpected = |record, why| Err(ConstantError::Unexpected { record, why });
        if !self.greeted {
            let MirrorRecord::Hello(h) = rec else {
                return unexpected("record", "before HELLO");
            };
            if h.version == 0 || h.window < MIN_WINDOW {
                return Err(ConstantError::Incompatible {
                    version: h.version,
                    window: h.window,
                });
            }
            self.greeted = true;
            self.window = self.cfg.window.max(MIN_MASTER_WINDOW).min(h.window);
            return Ok(());
        }
        match rec {
            MirrorRecord::Hello(_) => unexpected("HELLO", "twice"),
            MirrorRecord::Sums { id, head, sums } => self.sums(id, head, &sums),
            MirrorRecord::SumsMore { id, sums } => self.sums_more(id, &sums),
            MirrorRecord::Ack {
                id,
                status,
                message,
            } => self.acked(id, status, &message),
            MirrorRecord::WantTree { id, path } => self.want_tree(id, path),
            MirrorRecord::Bye => {
                if self.phase != Phase::Closing || !self.flights.is_empty() {
                    return unexpected("BYE", "before every change was acknowledged");
                }
                self.phase = Phase::Done;
                self.events.push_back(MasterEvent::Done { exit_code: 0 });
                Ok(())
            }
        }
    }

    /// `ACK`: the id is done.
    fn acked(&mut self, id: u64, status: u32, message: &[u8]) -> Result<(), ConstantError> {
        let busy = match self.flights.get(&id).map(|f| &f.state) {
            None => return Err(ConstantError::UnknownId { record: "ACK", id }),
            Some(State::File(s)) => !s.ackable(),
            Some(_) => false,
        };
        if busy {
            return Err(ConstantError::Unexpected {
                record: "ACK",
                why: "for a file whose data is being sent",
            });
        }
        if let Some(f) = self.flights.remove(&id) {
            if let State::File(s) = &f.state {
                self.sums_bytes = self.sums_bytes.saturating_sub(s.held());
            }
            self.release(f.change, status, message);
        }
        Ok(())
    }

    /// `WANT_TREE`: the mirror created a directory (the one an `ENTRY` named, or missing
    /// parents of an `ENTRY`'s or `HARDLINK`'s name); walk it for the same change.
    fn want_tree(&mut self, id: u64, path: WirePath) -> Result<(), ConstantError> {
        let covers = |p: &WirePath| {
            let (p, d) = (p.as_bytes(), path.as_bytes());
            p == d || (p.len() > d.len() && p.starts_with(d) && p.get(d.len()) == Some(&b'/'))
        };
        let change = match self.flights.get_mut(&id) {
            Some(f) if !f.wanted && f.path.as_ref().is_some_and(covers) => {
                let is_dir = matches!(f.state, State::Dir);
                if !is_dir && f.path.as_ref() == Some(&path) {
                    return Err(ConstantError::UnknownId {
                        record: "WANT_TREE",
                        id,
                    });
                }
                f.wanted = true;
                if f.walked && f.path.as_ref() == Some(&path) {
                    return Ok(());
                }
                f.change
            }
            _ => {
                return Err(ConstantError::UnknownId {
                    record: "WANT_TREE",
                    id,
                })
            }
        };
        // A subtree that a walk will list anyway is not walked twice.
        match self.covering_walk(&path, false) {
            Some(w) if w == change => {}
            Some(_) => {
                self.ride(change, &path, false);
            }
            None => {
                self.hold(change);
                self.walks.push_back(Walk::new(change, path));
            }
        }
        Ok(())
    }

    /// Routes an answer.
    fn answer(&mut self, a: FsAnswer) -> Result<(), ConstantError> {
        let bad = |what| Err(ConstantError::UnexpectedAnswer { what });
        match (self.expect.front().copied(), a) {
            (Some(Expect::Slot), FsAnswer::Entry { ndx, entry }) => {
                self.expect.pop_front();
                self.slot_answer(ndx, Got::Entry(entry))
            }
            (Some(Expect::Slot), FsAnswer::DirList { ndx, names }) => {
                self.expect.pop_front();
                self.slot_answer(ndx, Got::List(names))
            }
            (Some(Expect::Slot), FsAnswer::Unreadable { ndx, error }) => {
                self.expect.pop_front();
                self.slot_answer(ndx, Got::Unreadable(error))
            }
            (Some(Expect::Read(id)), FsAnswer::FileData { ndx, data }) => {
                self.file_data(id, ndx, &data)
            }
            (Some(Expect::Read(id)), FsAnswer::FileEnd { ndx }) => {
                self.expect.pop_front();
                self.file_end(id, ndx)
            }
            (Some(Expect::Read(id)), FsAnswer::FileError { ndx, vanished }) => {
                self.expect.pop_front();
                self.file_error(id, ndx, vanished)
            }
            (None, _) => bad("no request outstanding"),
            _ => bad("not the answer to the oldest request"),
        }
    }

    /// Sends `BYE` once everything submitted is acknowledged (a directory's `ACK` may be
    /// preceded by a `WANT_TREE`, which is more work).
    fn maybe_bye(&mut self) {
        let idle = self.feed.is_empty()
            && self.flights.is_empty()
            && self.walks.is_empty()
            && matches!(self.open, Open::None)
            && self.slots.is_empty()
            && self.ready.is_empty()
            && self.reading.is_none();
        if self.closing && self.phase == Phase::Running && idle {
            self.send(&MasterRecord::Bye);
            self.phase = Phase::Closing;
        }
    }
}
