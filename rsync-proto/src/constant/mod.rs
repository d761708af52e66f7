//! rsync-constant's own extension for continuous replication (RFC.md §15): a long-lived
//! session between a master (the sender, which owns the change queue) and a mirror (a server
//! receiver), negotiated with `--constant=1` and never offered to a stock rsync.
//!
//! After the handshake of RFC.md §6 both directions carry records ([`MasterRecord`],
//! [`MirrorRecord`]) inside `MSG_DATA`: file entries, deletions, sums, tokens and per-change
//! acknowledgements.
//!
//! The two roles are sans-IO state machines of the shape of [`crate::session::Session`]:
//! the [`Master`] (client sender: the daemon submits changed names, it reads the source
//! and sends records; [`MasterEvent::Acked`] says when a change is on the mirror) and the
//! [`Mirror`] (server receiver: it applies the records to its destination and acknowledges
//! them). Both take the payload of `MSG_DATA` frames (`handle_data`), the answers to their
//! [`FsRequest`](crate::session::FsRequest)s (`handle_answer`), and give record bytes
//! (`poll_output`), requests (`poll_request`) and events (`poll_event`); the driver frames,
//! demultiplexes and runs the requests in order.
//!
//! ```
//! use rsync_proto::constant::{decode_mirror, MirrorRecord, RecordContext, RecordReader};
//! use rsync_proto::flist::FlistOptions;
//!
//! let ctx = RecordContext {
//!     flist: FlistOptions::new(31).archive(),
//!     digest_len: 16,
//!     file_sum_len: 16,
//!     limits: Default::default(),
//! };
//! let mut wire = Vec::new();
//! MirrorRecord::Ack { id: 7, status: 0, message: Vec::new() }.encode(&mut wire)?;
//! let mut reader = RecordReader::new();
//! reader.push(&wire[..2]); // records may arrive in pieces
//! assert!(reader.next_frame()?.is_none());
//! reader.push(&wire[2..]);
//! let (kind, body) = reader.next_frame()?.expect("a whole record");
//! let rec = decode_mirror(&ctx, kind, &body)?;
//! assert_eq!(rec, Some(MirrorRecord::Ack { id: 7, status: 0, message: Vec::new() }));
//! # Ok::<(), rsync_proto::constant::RecordError>(())
//! ```

mod config;
mod master;
mod mirror;
mod record;
mod role;
#[cfg(test)]
mod tests;

pub use config::{record_context, ConstantConfig, ConstantError};
pub use master::{ChangeId, Master, MasterEvent};
pub use mirror::{Mirror, MirrorEvent};
pub use record::{
    decode_master, decode_mirror, kind, Hello, MasterRecord, MirrorRecord, RecordContext,
    RecordError, RecordReader, MAGIC, MAX_RECORD_LEN, MIN_WINDOW, VERSION,
};
pub use role::ConstantRole;
