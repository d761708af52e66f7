//! The rsync wire protocol as sans-IO codecs: bytes in, values out, no sockets, no clock.
//!
//! This first layer holds the primitive data types every rsync message is built from
//! (RFC.md §4): `int`, `shortint`, `longint`, `varint`, `varlong`, `vstring`, and the
//! delta-coded file index `ndx`. Decoding never consumes a partial value: a
//! [`WireReader`] reports [`DecodeError::Incomplete`] and the caller retries with more bytes.
//!
//! ```
//! use rsync_proto::{WireReader, WireWrite};
//! let mut out = Vec::new();
//! out.put_varint(0x1ff);
//! out.put_varlong(4096, 3);
//! assert_eq!(out, [0x81, 0xff, 0x00, 0x00, 0x10]);
//! let mut r = WireReader::new(&out);
//! assert_eq!(r.varint()?, 0x1ff);
//! assert_eq!(r.varlong(3)?, 4096);
//! assert!(r.is_empty());
//! # Ok::<(), rsync_proto::DecodeError>(())
//! ```
//!
//! On top of it:
//!
//! - [`mux`]: the multiplexed frames of RFC.md §5 (4-byte header, message codes, a streaming
//!   decoder and a splitting encoder);
//! - [`handshake`]: the protocol setup of RFC.md §6 (version, compat flags, checksum and
//!   compression negotiation, checksum seed) as a state machine for each side;
//! - [`flist`]: the file list codec and rsync's sort order (RFC.md §9);
//! - [`sums`]: the generator's sum header and block sums (RFC.md §10);
//! - [`token`]: the sender's token stream and whole-file checksum (RFC.md §11).
//!
//! - [`session`]: the role state machines of a transfer (sender; generator + receiver), sans-IO
//!   (RFC.md §10–§12);
//! - `driver` (feature `tokio`): a thin tokio driver that runs a handshake and a session over
//!   an async byte pair with a file-system executor thread, and cannot deadlock on a full pipe.
//! - [`constant`]: rsync-constant's own extension for continuous replication (RFC.md §15),
//!   never offered to a stock rsync.

#![forbid(unsafe_code)]

pub mod constant;
#[cfg(feature = "tokio")]
pub mod driver;
pub mod filter;
pub mod flist;
pub mod handshake;
pub mod mux;
pub mod session;
pub mod sums;
#[cfg(test)]
mod testdata;
pub mod token;
mod wire;

pub use wire::{DecodeError, NdxDecoder, NdxEncoder, WireReader, WireWrite, NDX_DONE};
