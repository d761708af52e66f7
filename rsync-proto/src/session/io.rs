//! Plumbing shared by both roles: demultiplexing the input, framing the output, the queues
//! of requests and events, out-of-band messages and the final state.

use std::collections::VecDeque;

use super::types::{Event, FsRequest, SessionError, SessionOptions, Stats};
use crate::mux::{Frame, MsgCode, MuxDecoder, MuxEncoder, MuxLimits};
use crate::wire::{DecodeError, NdxDecoder, NdxEncoder, WireReader, WireWrite};

/// State common to the sender and the receiver.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) opts: SessionOptions,
    am_sender: bool,
    in_muxed: bool,
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
            return Ok(());
        }
        self.demux.push(bytes);
        while let Some(frame) = self.demux.poll_frame()? {
            match frame {
                Frame::Data(d) => self.input.extend_from_slice(&d),
                Frame::Message { code, payload } => self.message(code, &payload)?,
            }
            if self.done {
                break;
            }
        }
        Ok(())
    }

    fn message(&mut self, code: MsgCode, payload: &[u8]) -> Result<(), SessionError> {
        let int = || {
            let mut r = WireReader::new(payload);
            r.int()
        };
        match code {
            MsgCode::ErrorXfer | MsgCode::Info | MsgCode::Error | MsgCode::Warning => {
                self.events.push_back(Event::Log {
                    code,
                    text: payload.to_vec(),
                })
            }
            MsgCode::IoError => self.peer_io_error |= int()?,
            MsgCode::NoSend => self.no_send.push_back(int()?),
            MsgCode::ErrorExit => {
                let val = if payload.is_empty() { 0 } else { int()? };
                // io.c: the generator/receiver echoes the code, the sender an empty message.
                if self.opts.out_muxed() && (self.protocol() >= 31 || payload.is_empty()) {
                    let echo = if self.am_sender || payload.is_empty() {
                        Vec::new()
                    } else {
                        val.to_le_bytes().to_vec()
                    };
                    self.send_msg(MsgCode::ErrorExit, &echo);
                }
                self.failed = Some(SessionError::PeerExit { code: val });
                self.finish(val, None);
            }
            MsgCode::Noop | MsgCode::Deleted | MsgCode::Success | MsgCode::IoTimeout => {}
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

    /// Marks `n` bytes of the logical input as consumed.
    pub(crate) fn consume(&mut self, n: usize) {
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

    fn flush_data(&mut self) {
        if self.out_data.is_empty() {
            return;
        }
        if self.opts.out_muxed() {
            self.enc.encode_data(&self.out_data, &mut self.framed);
        } else {
            self.framed.extend_from_slice(&self.out_data);
        }
        self.out_data.clear();
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

    pub(crate) fn poll_transmit(&mut self, out: &mut Vec<u8>) -> bool {
        self.flush_data();
        if self.framed.is_empty() {
            return false;
        }
        self.bytes_out += self.framed.len() as u64;
        out.append(&mut self.framed);
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

    /// Ends the session normally.
    pub(crate) fn finish(&mut self, exit_code: i32, stats: Option<Stats>) {
        if !self.done {
            self.done = true;
            self.events.push_back(Event::Done { exit_code, stats });
        }
    }

    /// Ends the session with `err`: `MSG_ERROR_EXIT` at protocol ≥ 31, then [`Event::Done`].
    pub(crate) fn fail(&mut self, err: SessionError) -> SessionError {
        if self.done {
            return self.failed.clone().unwrap_or(err);
        }
        let code = err.exit_code();
        if self.protocol() >= 31 && !matches!(err, SessionError::PeerExit { .. }) {
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
