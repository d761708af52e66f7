//! Plumbing shared by both roles: demultiplexing the input, framing the output, the queues
//! of requests and events, out-of-band messages and the final state.

use std::collections::VecDeque;

use super::error::SessionError;
use super::events::{Event, FileCounts, Stats};
use super::types::{FsRequest, SessionOptions};
use crate::flist::WirePath;
use crate::mux::{Frame, MsgCode, MuxDecoder, MuxEncoder, MuxLimits};
use crate::wire::{DecodeError, NdxDecoder, NdxEncoder, WireReader, WireWrite};

/// `NDX_DEL_STATS`: deletion statistics follow (protocol ≥ 31).
pub(crate) const NDX_DEL_STATS: i32 = -3;
/// `MAX_WIRE_DEL_STAT`: the largest count of one `NDX_DEL_STATS` field rsync accepts.
const MAX_WIRE_DEL_STAT: i32 = 1 << 28;

/// State common to the sender and the receiver.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) opts: SessionOptions,
    am_sender: bool,
    in_muxed: bool,
    /// Demultiplex one `MSG_DATA` frame at a time (the peer may stop framing after one:
    /// `--files-from` names at protocol 30, [`Core::input_raw`]).
    frame_at_a_time: bool,
    demux: MuxDecoder,
    input: Vec<u8>,
    pos: usize,
    out_data: Vec<u8>,
    framed: Vec<u8>,
    enc: MuxEncoder,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) fs: VecDeque<FsRequest>,
    pub(crate) events: VecDeque<Event>,
    /// Events of out-of-band messages, released once the logical input before them has
    /// been parsed (so that they keep their place among the records): (input offset,
    /// event).
    deferred: VecDeque<(u64, Event)>,
    /// Logical input bytes appended / consumed since the start.
    appended: u64,
    consumed: u64,
    pub(crate) failed: Option<SessionError>,
    pub(crate) done: bool,
    pub(crate) eof: bool,
    /// `MSG_IO_ERROR` bits received.
    pub(crate) peer_io_error: i32,
    /// `MSG_NO_SEND` indices received, not yet handled.
    pub(crate) no_send: VecDeque<i32>,
    ndx_in: NdxDecoder,
    ndx_out: NdxEncoder,
}

impl Core {
    pub(crate) fn new(opts: SessionOptions, am_sender: bool) -> Self {
        let limits = MuxLimits::default();
        Self {
            am_sender,
            in_muxed: opts.in_muxed(),
            frame_at_a_time: false,
            demux: MuxDecoder::with_limits(limits),
            input: Vec::new(),
            pos: 0,
            out_data: Vec::new(),
            framed: Vec::new(),
            enc: MuxEncoder::with_max_data_frame(opts.max_data_frame),
            bytes_in: 0,
            bytes_out: 0,
            fs: VecDeque::new(),
            events: VecDeque::new(),
            deferred: VecDeque::new(),
            appended: 0,
            consumed: 0,
            failed: None,
            done: false,
            eof: false,
            peer_io_error: 0,
            no_send: VecDeque::new(),
            ndx_in: NdxDecoder::default(),
            ndx_out: NdxEncoder::default(),
            opts,
        }
    }

    pub(crate) fn protocol(&self) -> u8 {
        self.opts.protocol
    }

    /// Accepts raw bytes from the peer.
    pub(crate) fn push_input(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        self.bytes_in += bytes.len() as u64;
        if !self.in_muxed {
            self.input.extend_from_slice(bytes);
            self.appended += bytes.len() as u64;
            return Ok(());
        }
        self.demux.push(bytes);
        self.demux_frames()?;
        Ok(())
    }

    /// Demultiplexes the buffered frames (only up to the next `MSG_DATA` frame when
    /// [`Self::frame_at_a_time`] is set); `true` if data was added to the input.
    fn demux_frames(&mut self) -> Result<bool, SessionError> {
        let mut data = false;
        while let Some(frame) = self.demux.poll_frame()? {
            match frame {
                Frame::Data(d) => {
                    self.input.extend_from_slice(&d);
                    self.appended += d.len() as u64;
                    data = true;
                }
                Frame::Message { code, payload } => self.message(code, &payload)?,
            }
            if self.done || (data && self.frame_at_a_time) {
                break;
            }
        }
        Ok(data)
    }

    /// Demultiplexes frame by frame from now on: the peer will stop framing right after
    /// the frame that completes what the role reads next (rsync's `io_end_multiplex_in`
    /// with `MPLX_TO_BUFFERED`, which requires the current frame to be used up).
    pub(crate) fn frame_at_a_time(&mut self) {
        self.frame_at_a_time = self.in_muxed;
    }

    /// Frame-at-a-time mode: demultiplexes the next `MSG_DATA` frame that has arrived;
    /// `true` if there was one.
    pub(crate) fn next_frame(&mut self) -> Result<bool, SessionError> {
        if !self.in_muxed || !self.frame_at_a_time {
            return Ok(false);
        }
        self.demux_frames()
    }

    /// The peer stops framing here (below protocol 31, `--files-from` names between two
    /// frames, RFC.md §5.3 `[mux-start]`): what follows the logical input read so far is raw.
    ///
    /// # Errors
    /// [`SessionError::BadFilesFrom`] if unread bytes of a frame remain (the peer did not
    /// end its frame where the raw bytes start; rsync asserts the same).
    pub(crate) fn input_raw(&mut self) -> Result<(), SessionError> {
        if !self.in_muxed {
            return Ok(());
        }
        if self.pos < self.input.len() {
            return Err(SessionError::BadFilesFrom);
        }
        let raw = self.demux.take_buffered();
        self.appended += raw.len() as u64;
        self.input.extend_from_slice(&raw);
        self.in_muxed = false;
        self.frame_at_a_time = false;
        Ok(())
    }

    /// The peer frames again after its raw bytes: the unread input goes back through the
    /// demultiplexer.
    pub(crate) fn input_muxed(&mut self) -> Result<(), SessionError> {
        if self.in_muxed || !self.opts.in_muxed() {
            return Ok(());
        }
        let rest = self.input.split_off(self.pos.min(self.input.len()));
        self.appended -= rest.len() as u64;
        self.in_muxed = true;
        self.demux.push(&rest);
        self.demux_frames()?;
        Ok(())
    }

    fn message(&mut self, code: MsgCode, payload: &[u8]) -> Result<(), SessionError> {
        let int = || {
            let mut r = WireReader::new(payload);
            r.int()
        };
        match code {
            MsgCode::ErrorXfer | MsgCode::Info | MsgCode::Error | MsgCode::Warning => {
                let ev = Event::Log {
                    code,
                    text: payload.to_vec(),
                };
                self.deferred.push_back((self.appended, ev));
            }
            MsgCode::Deleted => {
                // log.c log_delete: a directory's name carries its terminating NUL.
                let is_dir = payload.last() == Some(&0);
                let end = payload
                    .iter()
                    .position(|&b| b == 0)
                    .unwrap_or(payload.len());
                let name = payload.get(..end).unwrap_or_default().to_vec();
                if let Ok(name) = WirePath::new(name) {
                    self.deferred
                        .push_back((self.appended, Event::Deleted { name, is_dir }));
                }
            }
            MsgCode::IoError => self.peer_io_error |= int()?,
            MsgCode::NoSend => self.no_send.push_back(int()?),
            MsgCode::ErrorExit => {
                let val = match payload.len() {
                    0 => 0,
                    4 => int()?,
                    _ => {
                        return Err(SessionError::UnexpectedMessage {
                            code: MsgCode::ErrorExit,
                        })
                    }
                };
                // io.c read_a_msg: an empty message is echoed by the receiver only; a code
                // (protocol ≥ 31) is echoed by the generator/receiver, and answered with an
                // empty message by the sender.
                let echo = match (payload.is_empty(), self.am_sender) {
                    (true, false) => Some(Vec::new()),
                    (true, true) => None,
                    (false, _) if self.protocol() < 31 => None,
                    (false, true) => Some(Vec::new()),
                    (false, false) => Some(val.to_le_bytes().to_vec()),
                };
                if let Some(echo) = echo {
                    self.send_msg(MsgCode::ErrorExit, &echo);
                }
                self.failed = Some(SessionError::PeerExit { code: val });
                self.finish(val, None);
                // The session is over: the caller learns why (a client then prints no
                // closing line of its own, as rsync's io.c exits with a negative line).
                return Err(SessionError::PeerExit { code: val });
            }
            MsgCode::Noop | MsgCode::Success | MsgCode::IoTimeout => {}
            other => return Err(SessionError::UnexpectedMessage { code: other }),
        }
        Ok(())
    }

    /// The unread logical input.
    pub(crate) fn reader(&self) -> WireReader<'_> {
        WireReader::new(self.input.get(self.pos..).unwrap_or(&[]))
    }

    /// Takes the logical input out (to parse it while mutating the rest of the state);
    /// give it back with [`Self::restore_input`]. Parse from [`Self::input_pos`].
    pub(crate) fn take_input(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.input)
    }

    pub(crate) fn restore_input(&mut self, buf: Vec<u8>) {
        self.input = buf;
    }

    pub(crate) fn input_pos(&self) -> usize {
        self.pos
    }

    /// Releases the events of messages that arrived before the unparsed input.
    pub(crate) fn flush_deferred(&mut self) {
        while let Some((at, _)) = self.deferred.front() {
            if *at > self.consumed {
                break;
            }
            if let Some((_, ev)) = self.deferred.pop_front() {
                self.events.push_back(ev);
            }
        }
    }

    /// Marks `n` bytes of the logical input as consumed.
    pub(crate) fn consume(&mut self, n: usize) {
        self.consumed += n as u64;
        self.pos += n;
        if self.pos >= self.input.len() {
            self.input.clear();
            self.pos = 0;
        } else if self.pos > 1 << 16 && self.pos > self.input.len() / 2 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// The logical output (framed as `MSG_DATA` when the direction is multiplexed).
    pub(crate) fn out(&mut self) -> &mut Vec<u8> {
        &mut self.out_data
    }

    pub(crate) fn flush_data(&mut self) {
        if self.out_data.is_empty() {
            return;
        }
        if self.opts.out_muxed() {
            self.enc.encode_data(&self.out_data, &mut self.framed);
        } else {
            self.framed.extend_from_slice(&self.out_data);
        }
        self.out_data.clear();
        shrink_after_burst(&mut self.out_data);
    }

    /// Writes `bytes` unframed after the data written so far, in a multiplexed direction
    /// too (below protocol 31, `--files-from` names between two frames: RFC.md §5.3
    /// `[mux-start]`).
    pub(crate) fn send_raw(&mut self, bytes: &[u8]) {
        self.flush_data();
        self.framed.extend_from_slice(bytes);
    }

    /// Writes an out-of-band message after the data written so far (dropped when the
    /// direction is not multiplexed).
    pub(crate) fn send_msg(&mut self, code: MsgCode, payload: &[u8]) {
        if !self.opts.out_muxed() {
            return;
        }
        self.flush_data();
        // Payloads here are at most a few bytes: this cannot fail.
        let _ = self.enc.encode_message(code, payload, &mut self.framed);
    }

    /// A line rsync prints with `rprintf` at this point: a server sends info lines to the
    /// client, and errors too with `--no-msgs2stderr` (below protocol 30 errors travel as
    /// `MSG_ERROR_XFER` and warnings as `MSG_INFO`; rwrite in log.c); a client shows it,
    /// and so does a server on its stderr.
    pub(crate) fn log(&mut self, code: MsgCode, text: Vec<u8>) {
        // compat.c: at protocol ≤ 28 a server sends everything to the client.
        let stderr = self.opts.msgs2stderr && self.protocol() > 28;
        let to_peer = code == MsgCode::Info || !stderr;
        if self.opts.server && to_peer {
            let code = match code {
                MsgCode::Error if self.protocol() < 30 => MsgCode::ErrorXfer,
                MsgCode::Warning if self.protocol() < 30 => MsgCode::Info,
                c => c,
            };
            self.send_msg(code, &text);
        } else {
            self.events.push_back(Event::Log { code, text });
        }
    }

    /// Queues a keepalive when nothing else is pending (io.c `maybe_send_keepalive`: an
    /// empty `MSG_DATA`, which rsync ≥ 3.1 sends at every protocol and every rsync reads;
    /// nothing on a direction that is not multiplexed).
    pub(crate) fn keepalive(&mut self) {
        if self.opts.out_muxed() && self.out_data.is_empty() && self.framed.is_empty() {
            self.enc.encode_keepalive(&mut self.framed);
        }
    }

    pub(crate) fn poll_transmit(&mut self, out: &mut Vec<u8>) -> bool {
        self.flush_data();
        if self.framed.is_empty() {
            return false;
        }
        self.bytes_out += self.framed.len() as u64;
        if out.is_empty() {
            // No copy: the caller takes the buffer (a file list is megabytes).
            std::mem::swap(out, &mut self.framed);
        } else {
            out.append(&mut self.framed);
        }
        shrink_after_burst(&mut self.framed);
        true
    }

    /// Bytes written so far, including those not yet polled.
    pub(crate) fn written_total(&self) -> u64 {
        self.bytes_out + (self.framed.len() + self.out_data.len()) as u64
    }

    /// Reads a file index: delta-coded from protocol 30, an `int` before.
    pub(crate) fn read_ndx(&mut self, r: &mut WireReader<'_>) -> Result<i32, DecodeError> {
        if self.protocol() >= 30 {
            self.ndx_in.decode(r)
        } else {
            r.int()
        }
    }

    /// The index decoder's state, to restore when a record turns out incomplete.
    pub(crate) fn ndx_state(&self) -> NdxDecoder {
        self.ndx_in
    }

    pub(crate) fn restore_ndx(&mut self, s: NdxDecoder) {
        self.ndx_in = s;
    }

    /// Writes a file index.
    pub(crate) fn write_ndx(&mut self, ndx: i32) {
        if self.protocol() >= 30 {
            self.ndx_out.encode(ndx, &mut self.out_data);
        } else {
            self.out_data.put_int(ndx);
        }
    }

    /// Reads the five deletion counts after `NDX_DEL_STATS` (main.c `read_del_stats`).
    pub(crate) fn read_del_stats(r: &mut WireReader<'_>) -> Result<FileCounts, SessionError> {
        let mut v = [0u64; 5];
        for slot in &mut v {
            let x = r.varint()?;
            if !(0..=MAX_WIRE_DEL_STAT).contains(&x) {
                return Err(SessionError::OutOfRange {
                    what: "deleted files",
                    value: i64::from(x),
                    max: i64::from(MAX_WIRE_DEL_STAT),
                });
            }
            *slot = x as u64;
        }
        Ok(FileCounts {
            regular: v[0],
            dirs: v[1],
            symlinks: v[2],
            devices: v[3],
            specials: v[4],
        })
    }

    /// Writes `NDX_DEL_STATS` and the five counts (main.c `write_del_stats`).
    pub(crate) fn write_del_stats(&mut self, d: &FileCounts) {
        self.write_ndx(NDX_DEL_STATS);
        for v in [d.regular, d.dirs, d.symlinks, d.devices, d.specials] {
            self.out_data
                .put_varint(i32::try_from(v).unwrap_or(MAX_WIRE_DEL_STAT));
        }
    }

    /// Ends the session normally.
    pub(crate) fn finish(&mut self, exit_code: i32, stats: Option<Stats>) {
        if !self.done {
            self.done = true;
            let rest: Vec<Event> = self.deferred.drain(..).map(|(_, e)| e).collect();
            self.events.extend(rest);
            self.events.push_back(Event::Done { exit_code, stats });
        }
    }

    /// Ends the session with `err`: `MSG_ERROR_EXIT` at protocol ≥ 31, then [`Event::Done`].
    pub(crate) fn fail(&mut self, err: SessionError) -> SessionError {
        if self.done {
            return self.failed.clone().unwrap_or(err);
        }
        let code = err.exit_code();
        // cleanup.c: not after the peer's own exit, nor when the stream itself broke.
        let stream = code == super::error::RERR_STREAMIO;
        if self.protocol() >= 31 && !stream && !matches!(err, SessionError::PeerExit { .. }) {
            self.send_msg(MsgCode::ErrorExit, &code.to_le_bytes());
        }
        self.failed = Some(err.clone());
        self.finish(code, None);
        err
    }

    /// Guard at the start of every `handle_*`.
    pub(crate) fn check(&self) -> Result<bool, SessionError> {
        match (&self.failed, self.done) {
            (Some(e), _) => Err(e.clone()),
            (None, true) => Ok(false),
            (None, false) => Ok(true),
        }
    }
}

/// Longest filter rule accepted (rsync: `BIGPATHBUFLEN`-ish; generous).
const MAX_FILTER_LEN: i32 = 8192;
/// Most filter rules accepted.
const MAX_FILTERS: usize = 100_000;
/// Most bytes of filter rules accepted in all.
const MAX_FILTER_BYTES: usize = 8 << 20;

/// Wire: `[filter-list]` (`int len` + rule, …, `int 0`): reads one item into `filters`.
/// `Some(true)` at the end of the list, `Some(false)` after a rule, `None` when more bytes
/// are needed.
pub(crate) fn read_filter_rule(
    core: &mut Core,
    filters: &mut Vec<Vec<u8>>,
) -> Result<Option<bool>, SessionError> {
    let mut r = core.reader();
    let Some(len) = incomplete_ok(r.int().map_err(Into::into))? else {
        return Ok(None);
    };
    if !(0..=MAX_FILTER_LEN).contains(&len) {
        return Err(SessionError::FilterTooLong { len });
    }
    if len == 0 {
        core.consume(r.position());
        return Ok(Some(true));
    }
    let total: usize = filters.iter().map(Vec::len).sum();
    if filters.len() >= MAX_FILTERS || total + len as usize > MAX_FILTER_BYTES {
        return Err(SessionError::TooManyFilters { max: MAX_FILTERS });
    }
    let Some(rule) = incomplete_ok(r.bytes(len as usize).map_err(Into::into))? else {
        return Ok(None);
    };
    filters.push(rule.to_vec());
    core.consume(r.position());
    Ok(Some(false))
}

/// Runs `f`; on `Incomplete` it is "wait for more" (`Ok(false)`), any other error is final.
pub(crate) fn incomplete_ok<T>(r: Result<T, SessionError>) -> Result<Option<T>, SessionError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(SessionError::Decode(DecodeError::Incomplete { .. })) => Ok(None),
        Err(SessionError::Sums(crate::sums::SumsError::Decode(DecodeError::Incomplete {
            ..
        }))) => Ok(None),
        Err(SessionError::Token(crate::token::TokenError::Decode(DecodeError::Incomplete {
            ..
        }))) => Ok(None),
        Err(e) => Err(e),
    }
}

/// An empty buffer that grew past 1 MiB (the file list) goes back to 64 KiB.
fn shrink_after_burst(buf: &mut Vec<u8>) {
    if buf.is_empty() && buf.capacity() > 1 << 20 {
        buf.shrink_to(1 << 16);
    }
}
