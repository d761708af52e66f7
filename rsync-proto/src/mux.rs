//! Multiplexed framing: the 4-byte frame header, message codes, a streaming decoder and a
//! splitting encoder.
//!
//! Spec: RFC.md §5 `[mux-header]`, `[msg-code]`, `[mux-limits]`, `[keepalive]`. Reference:
//! rsync `io.c` (`send_msg`, `read_a_msg`, `write_buf`, `maybe_send_keepalive`).
//!
//! ```
//! use rsync_proto::mux::{Frame, MsgCode, MuxDecoder, MuxEncoder};
//! let mut wire = Vec::new();
//! let enc = MuxEncoder::default();
//! enc.encode_data(b"hello", &mut wire);
//! enc.encode_message(MsgCode::Info, b"note\n", &mut wire)?;
//! assert_eq!(&wire[..4], [0x05, 0x00, 0x00, 0x07]);
//!
//! let mut dec = MuxDecoder::default();
//! dec.push(&wire[..3]); // any split works
//! assert_eq!(dec.poll_frame()?, None);
//! dec.push(&wire[3..]);
//! assert_eq!(dec.poll_frame()?, Some(Frame::Data(b"hello".to_vec())));
//! assert_eq!(
//!     dec.poll_frame()?,
//!     Some(Frame::Message { code: MsgCode::Info, payload: b"note\n".to_vec() })
//! );
//! # Ok::<(), rsync_proto::mux::MuxError>(())
//! ```

/// Added to the message code in the header's top byte (`MPLEX_BASE` in rsync).
pub const MPLEX_BASE: u8 = 0x07;

/// The largest payload a frame header can announce (24 bits).
pub const MAX_FRAME_LEN: u32 = 0x00FF_FFFF;

/// The largest `MSG_DATA` payload rsync itself writes (`IO_BUFFER_SIZE`, 32 KiB).
pub const RSYNC_DATA_FRAME: usize = 0x8000;

/// The longest text message rsync accepts (`MSG_INFO`, `MSG_ERROR`, `MSG_ERROR_XFER`,
/// `MSG_WARNING`, and `MSG_DELETED`'s name): io.c `read_a_msg` reads them into a buffer of
/// `BIGPATHBUFLEN` (4096 + 1024) bytes and refuses one of that length or more with
/// "multiplexing overflow" (exit 12). The senders' `rprintf` never writes longer ones.
///
/// Wire: `[mux-limits]`.
pub const MAX_TEXT_MESSAGE: u32 = 5119;

/// Default bound on text messages: [`MAX_TEXT_MESSAGE`], as rsync.
pub const DEFAULT_MAX_MESSAGE: u32 = MAX_TEXT_MESSAGE;

/// A multiplexed message code (the header's top byte minus [`MPLEX_BASE`]).
///
/// Wire: `[msg-code]`. Codes 5 to 10 exist inside rsync (between its own processes) but never
/// on the wire; [`MsgCode::from_code`] returns `None` for them and the decoder rejects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum MsgCode {
    /// `MSG_DATA`: bytes of the logical stream; an empty payload is a keepalive.
    Data = 0x00,
    /// `MSG_ERROR_XFER`: a transfer error log line.
    ErrorXfer = 0x01,
    /// `MSG_INFO`: an informational log line.
    Info = 0x02,
    /// `MSG_ERROR`: an error log line (protocol ≥ 30).
    Error = 0x03,
    /// `MSG_WARNING`: a warning log line (protocol ≥ 30).
    Warning = 0x04,
    /// `MSG_IO_ERROR`: int32 I/O-error bits of the sender (protocol ≥ 30).
    IoError = 0x16,
    /// `MSG_IO_TIMEOUT`: int32 seconds of a daemon's timeout (protocol ≥ 31).
    IoTimeout = 0x21,
    /// `MSG_NOOP`: empty; the protocol-30 keepalive.
    Noop = 0x2A,
    /// `MSG_ERROR_EXIT`: int32 exit code or empty; the exit handshake (protocol ≥ 31).
    ErrorExit = 0x56,
    /// `MSG_SUCCESS`: int32 file index updated (`--remove-source-files`).
    Success = 0x64,
    /// `MSG_DELETED`: a deleted name (protocol ≥ 29).
    Deleted = 0x65,
    /// `MSG_NO_SEND`: int32 file index the sender could not open (protocol ≥ 30).
    NoSend = 0x66,
}

impl MsgCode {
    /// Every code that may appear on the wire, in numeric order.
    pub const ALL: [Self; 12] = [
        Self::Data,
        Self::ErrorXfer,
        Self::Info,
        Self::Error,
        Self::Warning,
        Self::IoError,
        Self::IoTimeout,
        Self::Noop,
        Self::ErrorExit,
        Self::Success,
        Self::Deleted,
        Self::NoSend,
    ];

    /// The numeric code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The payload lengths rsync accepts for a code of fixed size (io.c `read_a_msg`
    /// "invalid multi-message" otherwise: exit 12); `None` for `MSG_DATA` and the text
    /// messages, which are bounded by [`MuxLimits`] instead.
    ///
    /// Wire: `[mux-limits]`.
    pub const fn fixed_lengths(self) -> Option<&'static [u32]> {
        match self {
            Self::IoError | Self::IoTimeout | Self::Success | Self::NoSend => Some(&[4]),
            Self::Noop => Some(&[0]),
            Self::ErrorExit => Some(&[0, 4]),
            Self::Data
            | Self::ErrorXfer
            | Self::Info
            | Self::Error
            | Self::Warning
            | Self::Deleted => None,
        }
    }

    /// Whether this code carries a text (a log line, or `MSG_DELETED`'s name), bounded by
    /// [`MuxLimits::max_message`] and cut to [`MAX_TEXT_MESSAGE`] by the encoder.
    pub const fn is_text(self) -> bool {
        matches!(
            self,
            Self::ErrorXfer | Self::Info | Self::Error | Self::Warning | Self::Deleted
        )
    }

    /// The wire code `code`, or `None` for an unknown or rsync-internal (5–10) code.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x00 => Self::Data,
            0x01 => Self::ErrorXfer,
            0x02 => Self::Info,
            0x03 => Self::Error,
            0x04 => Self::Warning,
            0x16 => Self::IoError,
            0x21 => Self::IoTimeout,
            0x2A => Self::Noop,
            0x56 => Self::ErrorExit,
            0x64 => Self::Success,
            0x65 => Self::Deleted,
            0x66 => Self::NoSend,
            _ => return None,
        })
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// A `MSG_DATA` payload (possibly empty: a keepalive).
    Data(Vec<u8>),
    /// Any other message.
    Message {
        /// The message code (never [`MsgCode::Data`]).
        code: MsgCode,
        /// The payload bytes.
        payload: Vec<u8>,
    },
}

/// Why a multiplexed stream could not be decoded. Every variant is fatal for the session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MuxError {
    /// The header's top byte is below [`MPLEX_BASE`]: the stream is not multiplexed here.
    #[error("frame header {header:#010x}: tag byte {tag:#04x} is below MPLEX_BASE")]
    BadTag {
        /// The header as a little-endian `uint32`.
        header: u32,
        /// Its top byte.
        tag: u8,
    },
    /// A code rsync uses only between its own processes (5 to 10).
    #[error("message code {code} is internal to rsync and must not be received")]
    InternalCode {
        /// The code.
        code: u8,
    },
    /// A code this implementation does not know.
    #[error("unknown message code {code}")]
    UnknownCode {
        /// The code.
        code: u8,
    },
    /// A payload longer than the configured bound for its code.
    #[error("{code:?} payload of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// The message code.
        code: MsgCode,
        /// The announced length.
        len: u32,
        /// The bound.
        max: u32,
    },
    /// A message of fixed size ([`MsgCode::fixed_lengths`]) with another length (rsync:
    /// "invalid multi-message", exit 12).
    #[error("invalid multi-message {code:?}: {len} bytes")]
    BadLength {
        /// The message code.
        code: MsgCode,
        /// The announced length.
        len: u32,
    },
    /// The input ended inside a frame ([`unmux`] only).
    #[error("stream ends inside a frame: {needed} more bytes needed")]
    Truncated {
        /// Bytes missing (at least).
        needed: usize,
    },
}

/// Bounds applied by the decoder before any payload is buffered.
///
/// Wire: `[mux-limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MuxLimits {
    /// Largest `MSG_DATA` payload accepted (at most [`MAX_FRAME_LEN`]).
    pub max_data: u32,
    /// Largest text message accepted ([`MsgCode::is_text`]; at most [`MAX_FRAME_LEN`]).
    /// Messages of fixed size are checked against [`MsgCode::fixed_lengths`] instead.
    pub max_message: u32,
}

impl Default for MuxLimits {
    fn default() -> Self {
        Self {
            max_data: MAX_FRAME_LEN,
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }
}

/// A parsed frame header.
///
/// Wire: `[mux-header]`: `uint32` little-endian `((MPLEX_BASE + code) << 24) | len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The message code.
    pub code: MsgCode,
    /// The payload length.
    pub len: u32,
}

impl FrameHeader {
    /// Parses and validates a header against `limits` and the code's fixed size.
    ///
    /// # Errors
    /// [`MuxError::BadTag`], [`MuxError::InternalCode`], [`MuxError::UnknownCode`],
    /// [`MuxError::TooLong`], [`MuxError::BadLength`].
    pub fn parse(bytes: [u8; 4], limits: &MuxLimits) -> Result<Self, MuxError> {
        let header = u32::from_le_bytes(bytes);
        let tag = bytes[3];
        let len = header & MAX_FRAME_LEN;
        let Some(raw) = tag.checked_sub(MPLEX_BASE) else {
            return Err(MuxError::BadTag { header, tag });
        };
        let code = match MsgCode::from_code(raw) {
            Some(c) => c,
            None if (5..=10).contains(&raw) => return Err(MuxError::InternalCode { code: raw }),
            None => return Err(MuxError::UnknownCode { code: raw }),
        };
        if let Some(lengths) = code.fixed_lengths() {
            if !lengths.contains(&len) {
                return Err(MuxError::BadLength { code, len });
            }
            return Ok(Self { code, len });
        }
        let max = if code == MsgCode::Data {
            limits.max_data
        } else {
            limits.max_message
        };
        if len > max {
            return Err(MuxError::TooLong { code, len, max });
        }
        Ok(Self { code, len })
    }

    /// The 4 header bytes. `len` is masked to 24 bits; encoders check it first.
    pub fn to_bytes(self) -> [u8; 4] {
        let tag = u32::from(MPLEX_BASE + self.code.code());
        ((tag << 24) | (self.len & MAX_FRAME_LEN)).to_le_bytes()
    }
}

/// A streaming frame decoder: push received bytes in any split, poll frames out.
///
/// Once it has returned an error it returns the same error forever.
#[derive(Debug, Clone, Default)]
pub struct MuxDecoder {
    limits: MuxLimits,
    buf: Vec<u8>,
    start: usize,
    failed: Option<MuxError>,
}

impl MuxDecoder {
    /// A decoder with the given bounds.
    pub fn with_limits(limits: MuxLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes pushed but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Takes the bytes pushed but not yet returned as frames (the peer stopped framing:
    /// `--files-from` names below protocol 31, RFC.md §5.3 `[mux-start]`).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.start.min(self.buf.len()));
        self.buf.clear();
        self.start = 0;
        rest
    }

    /// The next complete frame; `Ok(None)` while more bytes are needed.
    ///
    /// # Errors
    /// Any [`MuxError`] except [`MuxError::Truncated`], from the frame header. The payload
    /// bound is checked before the payload is waited for.
    pub fn poll_frame(&mut self) -> Result<Option<Frame>, MuxError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let rest = self.buf.get(self.start..).unwrap_or(&[]);
        let Some(&[a, b, c, d]) = rest.get(..4) else {
            return Ok(None);
        };
        let header = match FrameHeader::parse([a, b, c, d], &self.limits) {
            Ok(h) => h,
            Err(e) => {
                self.failed = Some(e.clone());
                return Err(e);
            }
        };
        let len = header.len as usize;
        let Some(payload) = rest.get(4..4 + len) else {
            return Ok(None);
        };
        let payload = payload.to_vec();
        self.start += 4 + len;
        Ok(Some(match header.code {
            MsgCode::Data => Frame::Data(payload),
            code => Frame::Message { code, payload },
        }))
    }
}

/// Frame encoder. `MSG_DATA` is split into frames of at most `max_data_frame` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MuxEncoder {
    max_data_frame: usize,
}

impl Default for MuxEncoder {
    fn default() -> Self {
        Self {
            max_data_frame: RSYNC_DATA_FRAME,
        }
    }
}

impl MuxEncoder {
    /// An encoder writing `MSG_DATA` frames of at most `max` bytes (clamped to 1..=0xFFFFFF).
    pub fn with_max_data_frame(max: usize) -> Self {
        Self {
            max_data_frame: max.clamp(1, MAX_FRAME_LEN as usize),
        }
    }

    /// The largest `MSG_DATA` payload this encoder writes.
    pub fn max_data_frame(&self) -> usize {
        self.max_data_frame
    }

    /// Appends `data` as `MSG_DATA` frames. Nothing is written for empty `data`; use
    /// [`MuxEncoder::encode_keepalive`] for an empty frame.
    pub fn encode_data(&self, data: &[u8], out: &mut Vec<u8>) {
        for chunk in data.chunks(self.max_data_frame) {
            let h = FrameHeader {
                code: MsgCode::Data,
                len: chunk.len() as u32,
            };
            out.extend_from_slice(&h.to_bytes());
            out.extend_from_slice(chunk);
        }
    }

    /// Appends an empty `MSG_DATA` frame, the keepalive of protocol ≥ 31.
    ///
    /// Wire: `[keepalive]`.
    pub fn encode_keepalive(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0x00, 0x00, 0x00, MPLEX_BASE]);
    }

    /// Appends one frame of `code` carrying `payload` (for [`MsgCode::Data`] this is a
    /// single frame, whatever its size). A text ([`MsgCode::is_text`]) longer than
    /// [`MAX_TEXT_MESSAGE`] is cut to that length, its final newline kept, as rsync's
    /// `rprintf` cuts what it formats: rsync refuses a longer one and ends the run.
    ///
    /// # Errors
    /// [`MuxError::TooLong`] if `payload` exceeds [`MAX_FRAME_LEN`];
    /// [`MuxError::BadLength`] for a length [`MsgCode::fixed_lengths`] does not allow.
    pub fn encode_message(
        &self,
        code: MsgCode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), MuxError> {
        let max_text = MAX_TEXT_MESSAGE as usize;
        if code.is_text() && payload.len() > max_text {
            let cut = payload.get(..max_text).unwrap_or(payload);
            let start = out.len();
            out.extend_from_slice(
                &FrameHeader {
                    code,
                    len: MAX_TEXT_MESSAGE,
                }
                .to_bytes(),
            );
            out.extend_from_slice(cut);
            if payload.last() == Some(&b'\n') {
                if let Some(last) = out.last_mut() {
                    *last = b'\n';
                }
            }
            debug_assert_eq!(out.len() - start, 4 + max_text);
            return Ok(());
        }
        if let Some(lengths) = code.fixed_lengths() {
            let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
            if !lengths.contains(&len) {
                return Err(MuxError::BadLength { code, len });
            }
        }
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|&l| l <= MAX_FRAME_LEN)
            .ok_or(MuxError::TooLong {
                code,
                len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
                max: MAX_FRAME_LEN,
            })?;
        out.extend_from_slice(&FrameHeader { code, len }.to_bytes());
        out.extend_from_slice(payload);
        Ok(())
    }
}

/// A fully demultiplexed byte string: the logical stream and the messages beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unmuxed {
    /// Every `MSG_DATA` payload, concatenated.
    pub data: Vec<u8>,
    /// The other messages, in order.
    pub messages: Vec<(MsgCode, Vec<u8>)>,
    /// How many `MSG_DATA` frames were seen (including keepalives).
    pub data_frames: usize,
}

/// Demultiplexes a complete byte string (a finished capture, a test vector).
///
/// # Errors
/// Any [`MuxError`]; [`MuxError::Truncated`] if `input` ends inside a frame.
pub fn unmux(input: &[u8], limits: MuxLimits) -> Result<Unmuxed, MuxError> {
    let mut dec = MuxDecoder::with_limits(limits);
    dec.push(input);
    let mut out = Unmuxed::default();
    while let Some(frame) = dec.poll_frame()? {
        match frame {
            Frame::Data(d) => {
                out.data.extend_from_slice(&d);
                out.data_frames += 1;
            }
            Frame::Message { code, payload } => out.messages.push((code, payload)),
        }
    }
    match dec.buffered() {
        0 => Ok(out),
        n if n < 4 => Err(MuxError::Truncated { needed: 4 - n }),
        n => {
            let rest = input.get(input.len() - n..).unwrap_or(&[]);
            let len = rest.get(..3).map_or(0, |b| {
                usize::from(b[0]) | usize::from(b[1]) << 8 | usize::from(b[2]) << 16
            });
            Err(MuxError::Truncated {
                needed: (4 + len).saturating_sub(n).max(1),
            })
        }
    }
}

#[cfg(test)]
mod tests;
