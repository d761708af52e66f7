//! The records of the constant extension: their types, encoding and a streaming reader.
//!
//! Wire: RFC.md §15.3 `[const-record]`: `type` byte, `length` `[varint]` (at most
//! [`MAX_RECORD_LEN`]), then a body whose fields use exactly `length` bytes. Types `0x80` and
//! above are optional and skipped when unknown. Entries use the file-list encoding of RFC.md
//! §9 with a fresh previous-entry state, sums the layout of §10, tokens the layout of §11.

use rsync_core::{Limits, SumHead};

use crate::flist::{FileEntry, FlistDecoder, FlistEncoder, FlistError, FlistOptions, WirePath};
use crate::sums::{decode_sum_head, encode_sum_head, limits_for_protocol, SumsError};
use crate::token::{decode_token, TokenError, TokenEvent};
use crate::wire::{DecodeError, WireReader, WireWrite};

/// The magic of a `HELLO` body.
pub const MAGIC: [u8; 8] = *b"rsconst\0";
/// The version of the extension this crate speaks.
pub const VERSION: u32 = 1;
/// The longest record body accepted or written.
pub const MAX_RECORD_LEN: usize = 1 << 20;
/// `varlong` width used for ids (RFC.md §4.4 `min` 3).
const ID_MIN: u8 = 3;
/// The smallest window a mirror must accept (RFC.md §15.4).
pub const MIN_WINDOW: u32 = 64;

/// Record type bytes (RFC.md §15.3).
pub mod kind {
    /// Both directions: the opening record.
    pub const HELLO: u8 = 0x01;
    /// Master: the filter list.
    pub const FILTERS: u8 = 0x02;
    /// Master: one file entry.
    pub const ENTRY: u8 = 0x10;
    /// Master: a deletion.
    pub const DELETE: u8 = 0x11;
    /// Master: tokens of a file.
    pub const DATA: u8 = 0x12;
    /// Master: the end of a file's tokens, with its checksum.
    pub const DATA_END: u8 = 0x13;
    /// Master: a file could not be read to its end.
    pub const ABORT: u8 = 0x14;
    /// Master: a hard link.
    pub const HARDLINK: u8 = 0x15;
    /// Master: a directory listing starts.
    pub const DIR_BEGIN: u8 = 0x16;
    /// Master: a directory listing ends.
    pub const DIR_END: u8 = 0x17;
    /// Master: the end of a batch.
    pub const BATCH_END: u8 = 0x18;
    /// Both directions: the end of the session.
    pub const BYE_MASTER: u8 = 0x1F;
    /// Mirror: a sum head and the first block sums.
    pub const SUMS: u8 = 0x30;
    /// Mirror: an acknowledgement.
    pub const ACK: u8 = 0x31;
    /// Mirror: a request for a subtree.
    pub const WANT_TREE: u8 = 0x32;
    /// Mirror: more block sums.
    pub const SUMS_MORE: u8 = 0x33;
    /// Mirror: the end of the session.
    pub const BYE_MIRROR: u8 = 0x3F;
    /// The first optional type.
    pub const OPTIONAL: u8 = 0x80;
}

/// The body of `HELLO` (both directions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// Highest extension version the writer speaks.
    pub version: u32,
    /// Feature bits (0 in version 1).
    pub features: u32,
    /// Most unacknowledged changes the writer sends or accepts.
    pub window: u32,
}

/// A record from the master (the sender) to a mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MasterRecord {
    /// Opening.
    Hello(Hello),
    /// The master's filter rules, as the bytes of an RFC.md §8.1 list (end marker included).
    Filters(Vec<u8>),
    /// One entry to make current on the mirror.
    Entry {
        /// Change id.
        id: u64,
        /// The entry.
        entry: FileEntry,
    },
    /// A name to delete on the mirror.
    Delete {
        /// Change id.
        id: u64,
        /// The name.
        path: WirePath,
    },
    /// Whole tokens of a file (RFC.md §11), without the end token.
    Data {
        /// Change id.
        id: u64,
        /// The encoded tokens (already checked to be whole tokens).
        tokens: Vec<u8>,
    },
    /// A file's tokens are complete.
    DataEnd {
        /// Change id.
        id: u64,
        /// The whole-file checksum.
        checksum: Vec<u8>,
    },
    /// The file could not be read to its end.
    Abort {
        /// Change id.
        id: u64,
    },
    /// `path` becomes a hard link to `target`.
    HardLink {
        /// Change id.
        id: u64,
        /// The new link.
        path: WirePath,
        /// The existing name.
        target: WirePath,
    },
    /// A directory's listing starts.
    DirBegin {
        /// Change id.
        id: u64,
        /// The directory.
        path: WirePath,
    },
    /// A directory's listing ends: unnamed entries are deleted.
    DirEnd {
        /// Change id.
        id: u64,
        /// The directory.
        path: WirePath,
    },
    /// The end of a batch.
    BatchEnd {
        /// Change id.
        id: u64,
    },
    /// The end of the session.
    Bye,
}

/// A record from a mirror to the master.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MirrorRecord {
    /// Opening.
    Hello(Hello),
    /// The sum head for a file and its first block sums.
    Sums {
        /// Change id.
        id: u64,
        /// The validated sum head.
        head: SumHead,
        /// Whole block sums (`4 + strong_len` bytes each), in order.
        sums: Vec<u8>,
    },
    /// More block sums of the file `id`.
    SumsMore {
        /// Change id.
        id: u64,
        /// Whole block sums, in order.
        sums: Vec<u8>,
    },
    /// A change is done (or failed).
    Ack {
        /// Change id.
        id: u64,
        /// 0, or an rsync exit code for this change (RFC.md §13.7).
        status: u32,
        /// Empty, or what went wrong.
        message: Vec<u8>,
    },
    /// The mirror asks for a directory's subtree.
    WantTree {
        /// Change id that caused it.
        id: u64,
        /// The directory.
        path: WirePath,
    },
    /// The end of the session.
    Bye,
}

/// Why a record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A record body longer than [`MAX_RECORD_LEN`].
    #[error("constant record of {len} bytes exceeds {max}")]
    TooLong {
        /// The announced length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A record type this direction does not use.
    #[error("unknown constant record type {0:#04x}")]
    UnknownType(u8),
    /// The body's fields do not use exactly its length.
    #[error("malformed constant record {kind:#04x}: {what}")]
    Malformed {
        /// The record type.
        kind: u8,
        /// What is wrong.
        what: &'static str,
    },
    /// `HELLO` without the magic.
    #[error("peer does not speak the constant extension (bad magic)")]
    BadMagic,
    /// A file entry could not be decoded.
    #[error("constant record entry: {0}")]
    Entry(#[from] FlistError),
    /// A sum head was rejected.
    #[error("constant record sums: {0}")]
    Sums(#[from] SumsError),
    /// A token was rejected.
    #[error("constant record tokens: {0}")]
    Token(#[from] TokenError),
}

/// What both sides agreed on that shapes record bodies.
#[derive(Debug, Clone)]
pub struct RecordContext {
    /// File-entry fields (a fresh encoder/decoder per entry). Set `inc_recurse` so that
    /// uid/gid names travel inline (RFC.md §15.3).
    pub flist: FlistOptions,
    /// Length of a strong block sum's digest (bounds `strong_len`).
    pub digest_len: usize,
    /// Length of the whole-file checksum.
    pub file_sum_len: usize,
    /// Limits on sums and tokens.
    pub limits: Limits,
}

/// Appends one record: the type, the body's length, the body.
fn frame(kind: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(kind);
    out.put_varint(body.len() as i32);
    out.extend_from_slice(body);
}

fn put_id(id: u64, out: &mut Vec<u8>) {
    out.put_varlong(id as i64, ID_MIN);
}

fn hello_body(h: &Hello) -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    b.put_varint(h.version as i32);
    b.put_varint(h.features as i32);
    b.put_varint(h.window as i32);
    b
}

impl MasterRecord {
    /// Appends the record to `out`.
    ///
    /// # Errors
    /// [`RecordError::Entry`] when the entry cannot be encoded with `ctx.flist`,
    /// [`RecordError::TooLong`] when a body would exceed [`MAX_RECORD_LEN`].
    pub fn encode(&self, ctx: &RecordContext, out: &mut Vec<u8>) -> Result<(), RecordError> {
        let mut b = Vec::new();
        let kind = match self {
            Self::Hello(h) => {
                b = hello_body(h);
                kind::HELLO
            }
            Self::Filters(list) => {
                b.extend_from_slice(list);
                kind::FILTERS
            }
            Self::Entry { id, entry } => {
                put_id(*id, &mut b);
                FlistEncoder::new(ctx.flist.clone())?.encode_entry(entry, &mut b)?;
                kind::ENTRY
            }
            Self::Delete { id, path } => {
                put_id(*id, &mut b);
                b.put_vstring(path.as_bytes());
                kind::DELETE
            }
            Self::Data { id, tokens } => {
                put_id(*id, &mut b);
                b.extend_from_slice(tokens);
                kind::DATA
            }
            Self::DataEnd { id, checksum } => {
                put_id(*id, &mut b);
                b.extend_from_slice(checksum);
                kind::DATA_END
            }
            Self::Abort { id } => {
                put_id(*id, &mut b);
                kind::ABORT
            }
            Self::HardLink { id, path, target } => {
                put_id(*id, &mut b);
                b.put_vstring(path.as_bytes());
                b.put_vstring(target.as_bytes());
                kind::HARDLINK
            }
            Self::DirBegin { id, path } => {
                put_id(*id, &mut b);
                b.put_vstring(path.as_bytes());
                kind::DIR_BEGIN
            }
            Self::DirEnd { id, path } => {
                put_id(*id, &mut b);
                b.put_vstring(path.as_bytes());
                kind::DIR_END
            }
            Self::BatchEnd { id } => {
                put_id(*id, &mut b);
                kind::BATCH_END
            }
            Self::Bye => kind::BYE_MASTER,
        };
        check_len(b.len())?;
        frame(kind, &b, out);
        Ok(())
    }
}

impl MirrorRecord {
    /// Appends the record to `out`.
    ///
    /// # Errors
    /// [`RecordError::TooLong`] when a body would exceed [`MAX_RECORD_LEN`] (split block
    /// sums over `SumsMore` records).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), RecordError> {
        let mut b = Vec::new();
        let kind = match self {
            Self::Hello(h) => {
                b = hello_body(h);
                kind::HELLO
            }
            Self::Sums { id, head, sums } => {
                put_id(*id, &mut b);
                encode_sum_head(head, &mut b);
                b.extend_from_slice(sums);
                kind::SUMS
            }
            Self::SumsMore { id, sums } => {
                put_id(*id, &mut b);
                b.extend_from_slice(sums);
                kind::SUMS_MORE
            }
            Self::Ack {
                id,
                status,
                message,
            } => {
                put_id(*id, &mut b);
                b.put_varint(*status as i32);
                b.put_vstring(&message[..message.len().min(4095)]);
                kind::ACK
            }
            Self::WantTree { id, path } => {
                put_id(*id, &mut b);
                b.put_vstring(path.as_bytes());
                kind::WANT_TREE
            }
            Self::Bye => kind::BYE_MIRROR,
        };
        check_len(b.len())?;
        frame(kind, &b, out);
        Ok(())
    }
}

fn check_len(len: usize) -> Result<(), RecordError> {
    if len > MAX_RECORD_LEN {
        return Err(RecordError::TooLong {
            len: len as u64,
            max: MAX_RECORD_LEN,
        });
    }
    Ok(())
}

/// Splits a byte stream into record frames: `(type, body)`. Bytes are pushed in any
/// chunks; a frame is returned only when its whole body is present. Memory is bounded by
/// one record ([`MAX_RECORD_LEN`]) plus one pushed chunk.
#[derive(Debug, Default)]
pub struct RecordReader {
    buf: Vec<u8>,
    start: usize,
    failed: Option<RecordError>,
}

impl RecordReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that do not yet form a whole record.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole frame, `None` if more bytes are needed.
    ///
    /// # Errors
    /// [`RecordError::TooLong`] from the header alone; errors are final.
    pub fn next_frame(&mut self) -> Result<Option<(u8, Vec<u8>)>, RecordError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let rest = self.buf.get(self.start..).unwrap_or(&[]);
        let mut r = WireReader::new(rest);
        let head = (|| Ok::<_, DecodeError>((r.byte()?, r.varint()?)))();
        let (kind, len) = match head {
            Ok(v) => v,
            Err(_) => return Ok(None),
        };
        let len = match usize::try_from(len) {
            Ok(n) if n <= MAX_RECORD_LEN => n,
            _ => {
                let e = RecordError::TooLong {
                    len: len as u32 as u64,
                    max: MAX_RECORD_LEN,
                };
                self.failed = Some(e.clone());
                return Err(e);
            }
        };
        let Ok(body) = r.bytes(len) else {
            return Ok(None);
        };
        let body = body.to_vec();
        self.start += r.position();
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > MAX_RECORD_LEN {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(Some((kind, body)))
    }
}

/// A body's fields, read front to back; `done` checks that nothing is left over.
struct Body<'a> {
    kind: u8,
    r: WireReader<'a>,
}

impl<'a> Body<'a> {
    fn new(kind: u8, body: &'a [u8]) -> Self {
        Self {
            kind,
            r: WireReader::new(body),
        }
    }

    fn bad(&self, what: &'static str) -> RecordError {
        RecordError::Malformed {
            kind: self.kind,
            what,
        }
    }

    fn id(&mut self) -> Result<u64, RecordError> {
        match self.r.varlong(ID_MIN) {
            Ok(v) if v > 0 => Ok(v as u64),
            _ => Err(self.bad("bad id")),
        }
    }

    fn path(&mut self) -> Result<WirePath, RecordError> {
        let raw = self.r.vstring().map_err(|_| self.bad("truncated name"))?;
        WirePath::new(raw.to_vec()).map_err(|_| self.bad("invalid name"))
    }

    fn hello(&mut self) -> Result<Hello, RecordError> {
        let magic = self
            .r
            .bytes(MAGIC.len())
            .map_err(|_| RecordError::BadMagic)?;
        if magic != MAGIC {
            return Err(RecordError::BadMagic);
        }
        let mut field = || match self.r.varint() {
            Ok(v) if v >= 0 => Ok(v as u32),
            _ => Err(RecordError::Malformed {
                kind: kind::HELLO,
                what: "bad field",
            }),
        };
        Ok(Hello {
            version: field()?,
            features: field()?,
            window: field()?,
        })
    }

    fn rest(&mut self) -> &'a [u8] {
        let rest = self.r.remaining();
        let _ = self.r.bytes(rest.len());
        rest
    }

    fn done<T>(&self, v: T) -> Result<T, RecordError> {
        if self.r.is_empty() {
            Ok(v)
        } else {
            Err(self.bad("trailing bytes"))
        }
    }
}

/// Decodes one entry with a fresh decoder; the entry must use the whole of `bytes`.
fn decode_entry(ctx: &RecordContext, bytes: &[u8]) -> Result<FileEntry, RecordError> {
    let mut d = FlistDecoder::new(ctx.flist.clone())?;
    let used = d.feed(bytes)?;
    let bad = |what| RecordError::Malformed {
        kind: kind::ENTRY,
        what,
    };
    if used != bytes.len() || d.is_done() {
        return Err(bad("not exactly one entry"));
    }
    let mut list = d.into_list();
    match (list.entries.pop(), list.entries.is_empty()) {
        (Some(e), true) => Ok(e),
        _ => Err(bad("not exactly one entry")),
    }
}

/// Checks that `tokens` is a run of whole tokens with no end token.
fn check_tokens(ctx: &RecordContext, tokens: &[u8]) -> Result<(), RecordError> {
    let mut r = WireReader::new(tokens);
    while !r.is_empty() {
        match decode_token(&mut r, ctx.file_sum_len, &ctx.limits)? {
            TokenEvent::Token(_) => {}
            TokenEvent::End { .. } => {
                return Err(RecordError::Malformed {
                    kind: kind::DATA,
                    what: "end token inside DATA",
                })
            }
        }
    }
    Ok(())
}

/// Decodes a master record from a frame of [`RecordReader`]. `Ok(None)`: an optional record
/// of an unknown type, to be skipped.
///
/// # Errors
/// Any [`RecordError`]; the session ends with exit code 12.
pub fn decode_master(
    ctx: &RecordContext,
    kind: u8,
    body: &[u8],
) -> Result<Option<MasterRecord>, RecordError> {
    let mut b = Body::new(kind, body);
    let rec = match kind {
        kind::HELLO => MasterRecord::Hello(b.hello()?),
        kind::FILTERS => MasterRecord::Filters(b.rest().to_vec()),
        kind::ENTRY => {
            let id = b.id()?;
            let entry = decode_entry(ctx, b.rest())?;
            MasterRecord::Entry { id, entry }
        }
        kind::DELETE => MasterRecord::Delete {
            id: b.id()?,
            path: b.path()?,
        },
        kind::DATA => {
            let id = b.id()?;
            let tokens = b.rest();
            check_tokens(ctx, tokens)?;
            MasterRecord::Data {
                id,
                tokens: tokens.to_vec(),
            }
        }
        kind::DATA_END => {
            let id = b.id()?;
            let checksum = b.rest();
            if checksum.len() != ctx.file_sum_len {
                return Err(b.bad("checksum length"));
            }
            MasterRecord::DataEnd {
                id,
                checksum: checksum.to_vec(),
            }
        }
        kind::ABORT => MasterRecord::Abort { id: b.id()? },
        kind::HARDLINK => MasterRecord::HardLink {
            id: b.id()?,
            path: b.path()?,
            target: b.path()?,
        },
        kind::DIR_BEGIN => MasterRecord::DirBegin {
            id: b.id()?,
            path: b.path()?,
        },
        kind::DIR_END => MasterRecord::DirEnd {
            id: b.id()?,
            path: b.path()?,
        },
        kind::BATCH_END => MasterRecord::BatchEnd { id: b.id()? },
        kind::BYE_MASTER => MasterRecord::Bye,
        k if k >= kind::OPTIONAL => return Ok(None),
        k => return Err(RecordError::UnknownType(k)),
    };
    b.done(Some(rec))
}

/// Checks that `sums` holds whole block sums of `4 + strong_len` bytes.
fn check_sums(b: &Body<'_>, sums: &[u8], strong_len: usize) -> Result<(), RecordError> {
    if !sums.len().is_multiple_of(4 + strong_len) {
        return Err(b.bad("partial block sum"));
    }
    Ok(())
}

/// Decodes a mirror record from a frame of [`RecordReader`]. `SumsMore` is checked against
/// `strong_len` of the file's `Sums` by the caller, which alone knows it; here only that it
/// is not empty. `Ok(None)`: an optional record of an unknown type, to be skipped.
///
/// # Errors
/// Any [`RecordError`]; the session ends with exit code 12.
pub fn decode_mirror(
    ctx: &RecordContext,
    kind: u8,
    body: &[u8],
) -> Result<Option<MirrorRecord>, RecordError> {
    let mut b = Body::new(kind, body);
    let rec = match kind {
        kind::HELLO => MirrorRecord::Hello(b.hello()?),
        kind::SUMS => {
            let id = b.id()?;
            // The extension runs at protocol 31 or later (RFC.md §15.2).
            let limits = limits_for_protocol(&ctx.limits, 31);
            let head = decode_sum_head(&mut b.r, ctx.digest_len, &limits)?;
            let sums = b.rest();
            check_sums(&b, sums, head.strong_len as usize)?;
            let most = u64::from(head.count) * (4 + u64::from(head.strong_len));
            if sums.len() as u64 > most {
                return Err(b.bad("more block sums than the head's count"));
            }
            MirrorRecord::Sums {
                id,
                head,
                sums: sums.to_vec(),
            }
        }
        kind::SUMS_MORE => {
            let id = b.id()?;
            let sums = b.rest();
            if sums.is_empty() {
                return Err(b.bad("empty block sums"));
            }
            MirrorRecord::SumsMore {
                id,
                sums: sums.to_vec(),
            }
        }
        kind::ACK => {
            let id = b.id()?;
            let status = match b.r.varint() {
                Ok(s) if (0..=255).contains(&s) => s as u32,
                _ => return Err(b.bad("bad status")),
            };
            let message = b.r.vstring().map_err(|_| b.bad("truncated message"))?;
            if message.len() > 4095 {
                return Err(b.bad("message too long"));
            }
            MirrorRecord::Ack {
                id,
                status,
                message: message.to_vec(),
            }
        }
        kind::WANT_TREE => MirrorRecord::WantTree {
            id: b.id()?,
            path: b.path()?,
        },
        kind::BYE_MIRROR => MirrorRecord::Bye,
        k if k >= kind::OPTIONAL => return Ok(None),
        k => return Err(RecordError::UnknownType(k)),
    };
    b.done(Some(rec))
}
