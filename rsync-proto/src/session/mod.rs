//! The role state machines of a transfer (lean profile): a [`Sender`] and a [`Receiver`]
//! (rsync's generator and receiver in one machine), sans-IO.
//!
//! Spec: RFC.md §10 `[gen-request]` `[iflags]`, §11 `[sender-echo]`, §12 `[phases]`
//! `[ndx-done-counts]` `[stats]` `[goodbye]` `[error-exit]`. Reference: rsync `send_files`
//! (sender.c), `generate_files`/`recv_generator` (generator.c), `recv_files` (receiver.c),
//! `read_ndx_and_attrs` (rsync.c), `do_server_sender`/`do_recv`/`read_final_goodbye`/
//! `handle_stats` (main.c), `recv_filter_list`/`send_filter_list` (exclude.c).
//!
//! # API (the quinn-proto taxonomy)
//!
//! Both roles implement [`Session`]. They do no I/O and read no clock; they are fully
//! deterministic functions of their inputs.
//!
//! - **Inputs** (`handle_*`): [`Session::handle_input`] takes raw bytes received from the peer
//!   *after* the handshake (the role demultiplexes them itself when the protocol says the
//!   direction is multiplexed); [`Session::handle_fs`] takes the driver's answer to a file
//!   system request; [`Session::handle_eof`] says the peer closed its side.
//! - **Outputs** (`poll_*`), to be polled in this order after every input until each returns
//!   nothing: [`Session::poll_transmit`] (bytes to send, already framed),
//!   [`Session::poll_fs`] (the next [`FsRequest`]; requests are executed in order, and those
//!   that need an answer are answered with [`Session::handle_fs`]), [`Session::poll_event`]
//!   (log lines from the peer, itemize records, per-file outcomes, and finally
//!   [`Event::Done`]).
//!
//! A role waits for at most one answer of each kind at a time, so a driver may execute the
//! requests strictly in order. Errors are final: once a `handle_*` call has failed, the role
//! queues `MSG_ERROR_EXIT` (protocol ≥ 31) and [`Event::Done`] and ignores further input.
//!
//! # Profile
//!
//! Protocols 27, 29, 30 and 31 (32 is 31 on the wire), without incremental recursion,
//! compression, ACLs, xattrs, alternate basis directories, `--delay-updates`,
//! `--delete-delay` or `--remove-source-files`. Supported: `-rlptgoD`, `-H`, `-c`, `-I`,
//! `-W`, `--inplace`, `-n`, `--delete` (before, during, after), `--force`,
//! `--delete-missing-args` (mode-0 entries: the receiver deletes what they name),
//! `--ignore-missing-args` (the driver's walk skips the names), itemizing at every level,
//! `--files-from` forwarding (inside `MSG_DATA` from protocol 31, raw between two frames
//! at 30, in the raw stream below), keepalives ([`Session::keepalive`]).
//!
//! The receiving role follows rsync's `recv_generator` entry by entry: quick check (size
//! and mtime seconds, or `-c` sums), type changes (what is in the way is deleted first,
//! a directory's content item by item), attribute-only updates, symlinks, devices,
//! specials, hard-link groups (the leader is transferred, then the followers are linked
//! and itemized with `ITEM_XNAME_FOLLOWS`), deletions (reported as [`Event::Deleted`],
//! `MSG_DELETED` from a server, `NDX_DEL_STATS` from protocol 31), dry runs (no write
//! request at all; the wire carries what rsync's dry run carries).

//! # The driver's side
//!
//! - **Sender** (`FileList`, `ReadFile`): walk in the order rsync sends (the role sorts).
//!   With `-H` give [`HardLink::DevIno`](crate::flist::HardLink) for every non-directory
//!   with more than one link (protocol ≥ 28), for every regular file below 28; the role
//!   numbers groups itself from protocol 30. With `-c` fill each regular file's checksum.
//!   A server sender's [`Sender::set_flist_times`] takes the measured list times.
//! - **Receiver**: `Basis` is an `lstat` (asked again with `checksum` for `-c`, and for
//!   hard-link leaders and followers); `ListDir` lists one directory (`ndx` −1 for one that
//!   is not in the list; absent or not a directory lists as empty); `Delete` removes one
//!   item (the role walks directories itself, so it reports each item as rsync does);
//!   `Mkdir`/`Symlink`/`Mknod`/`HardLink` create; `SetMeta` applies what the options
//!   preserve; `MapIds` maps names to local ids. A dry run issues only `Basis`, `ListDir`
//!   and `MapIds`.
//! - **Events**: `Log` lines go to stdout (`MsgCode::Info`) or stderr (the others) — on a
//!   server too (`msgs2stderr`); `Itemize` and `Deleted` feed `-i`/`-v` output; `Done`
//!   carries the exit code and the statistics.
//! - **Keepalive**: call [`Session::keepalive`] after `--timeout`/2 without traffic.
//! - **Filters**: the `--delete` protection hook is `session/protect.rs`.

mod error;
mod events;
mod io;
mod item;
mod protect;
mod receiver;
mod sender;
#[cfg(test)]
mod tests;
mod tokens;
mod types;

pub use error::SessionError;
pub use events::{Event, FileCounts, FileOutcome, Stats};
pub use receiver::Receiver;
pub use sender::Sender;
pub use types::{
    iflags, BasisMeta, DeleteTiming, FilesFrom, FsAnswer, FsRequest, ListedName, MissingArgs,
    SessionOptions, RACY_WINDOW_NS,
};

/// The common interface of the two roles; see the module documentation for the call order.
pub trait Session {
    /// Bytes received from the peer after the handshake, in any chunking.
    ///
    /// # Errors
    /// A [`SessionError`] for a malformed or hostile stream; the role is then finished.
    fn handle_input(&mut self, bytes: &[u8]) -> Result<(), SessionError>;

    /// The answer to the oldest outstanding [`FsRequest`] that needs one.
    ///
    /// # Errors
    /// [`SessionError::UnexpectedAnswer`] for an answer nobody asked for, or any error its
    /// processing causes.
    fn handle_fs(&mut self, answer: FsAnswer) -> Result<(), SessionError>;

    /// The peer closed its side of the connection.
    ///
    /// # Errors
    /// [`SessionError::UnexpectedEof`] unless the session had finished.
    fn handle_eof(&mut self) -> Result<(), SessionError>;

    /// Appends the bytes to send to `out`; `false` if there were none.
    #[must_use]
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> bool;

    /// The next file system request for the driver.
    #[must_use]
    fn poll_fs(&mut self) -> Option<FsRequest>;

    /// The next event for the application.
    #[must_use]
    fn poll_event(&mut self) -> Option<Event>;

    /// The driver saw no traffic in either direction for half of `--timeout`: queue what
    /// rsync sends then (an empty `MSG_DATA` frame when our output is multiplexed and
    /// nothing else is pending; nothing on a plain stream, where no keepalive is safe).
    /// Poll [`Session::poll_transmit`] afterwards.
    fn keepalive(&mut self);

    /// An info line of the application's at this point of the run (rsync's receiver prints
    /// `created directory DEST` once it has made the destination): a server sends it to the
    /// client as `MSG_INFO`; a client gets it back as an [`Event::Log`] to show.
    fn info(&mut self, text: Vec<u8>);

    /// Whether the session has ended ([`Event::Done`] has been queued).
    fn is_done(&self) -> bool;

    /// The sorted file list, by index (`None` for a duplicate the sort cleared); empty
    /// until it has been built or received. Events name entries by index into it.
    fn file_list(&self) -> &[Option<crate::flist::FileEntry>];
}
