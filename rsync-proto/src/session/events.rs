//! What a role tells its application: per-file outcomes, itemize records, deletions, log
//! lines, and the final statistics.

use crate::flist::{FileEntry, WirePath};
use crate::mux::MsgCode;

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileOutcome {
    /// Sender: sent with this many literal and matched bytes.
    Sent {
        /// Literal bytes.
        literal: u64,
        /// Bytes covered by block copies.
        matched: u64,
    },
    /// Receiver: received, verified and committed.
    Updated {
        /// Literal bytes received.
        literal: u64,
        /// Bytes copied from the basis.
        matched: u64,
    },
    /// Receiver: up to date (quick check).
    UpToDate,
    /// Receiver: whole-file checksum mismatch; requested again in the redo phase.
    Redo,
    /// Checksum mismatch in the redo phase, or the sender could not send it.
    Failed,
}

/// Something the application may want to know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A log line: from the peer (`MSG_INFO`, `MSG_ERROR`, …), or one of our own that rsync
    /// prints at this point (`cannot delete non-empty directory: …`, `skipping
    /// non-regular file "…"`). `code` tells the stream: [`MsgCode::Info`] goes to stdout,
    /// the others to stderr. A server sends its own lines to the client instead.
    Log {
        /// Its message code.
        code: MsgCode,
        /// Its text (usually ending with a newline).
        text: Vec<u8>,
    },
    /// An itemize record at the point rsync logs it (`log_item`/`maybe_log_item`): every
    /// record a sender reads from the generator (transfers included), every record a
    /// receiver reads from the sender, in the order they arrive. Whether a line is printed
    /// is the renderer's decision, as in rsync's `maybe_log_item`: with `-i` when
    /// `iflags & !(BASIS_TYPE_FOLLOWS | XNAME_FOLLOWS | LOCAL_CHANGE) != 0`, or the xname
    /// is non-empty, or at `-ii`/`-vv`; below protocol 29 every transfer (the flags are then
    /// `TRANSFER` plus the `ITEM_MISSING_DATA` marker, printed as `?????????`).
    Itemize {
        /// Index.
        ndx: i32,
        /// Flags.
        iflags: u16,
        /// The name that followed `ITEM_XNAME_FOLLOWS` (a hard link's target, shown as
        /// ` => NAME`; empty for a follower that was already linked).
        xname: Option<Vec<u8>>,
    },
    /// The receiver removed an extraneous entry (`--delete`, in dry runs too), or the
    /// peer's receiver reported one (`MSG_DELETED`). Printed as `deleting NAME` (`-v`)
    /// or `*deleting   NAME` (`-i`); a directory's name gets a trailing `/`.
    Deleted {
        /// Its path.
        name: WirePath,
        /// Whether it was a directory.
        is_dir: bool,
    },
    /// A file's outcome.
    File {
        /// Index.
        ndx: i32,
        /// Outcome.
        outcome: FileOutcome,
    },
    /// The session has ended.
    Done {
        /// rsync exit code (0 success, 23 partial, 24 vanished, 2 protocol, 12 stream).
        exit_code: i32,
        /// Statistics as this side knows them (a client receiver's `total_*` and flist
        /// times come from the server sender), for `--stats`.
        stats: Option<Stats>,
    },
}

/// Counts of files by type (`--stats`: `Number of files: N (reg: …, dir: …, link: …,
/// dev: …, special: …)`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileCounts {
    /// Regular files.
    pub regular: u64,
    /// Directories.
    pub dirs: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// Devices.
    pub devices: u64,
    /// FIFOs and sockets.
    pub specials: u64,
}

impl FileCounts {
    /// The sum of every type.
    pub fn total(&self) -> u64 {
        self.regular + self.dirs + self.symlinks + self.devices + self.specials
    }

    /// Counts one item of `mode`'s type.
    pub(crate) fn add(&mut self, mode: u32) {
        use crate::flist::mode::*;
        match mode & S_IFMT {
            S_IFDIR => self.dirs += 1,
            S_IFLNK => self.symlinks += 1,
            S_IFCHR | S_IFBLK => self.devices += 1,
            S_IFIFO | S_IFSOCK => self.specials += 1,
            _ => self.regular += 1,
        }
    }

    /// Counts the entries of a list.
    pub(crate) fn of<'a>(entries: impl IntoIterator<Item = &'a FileEntry>) -> Self {
        let mut c = Self::default();
        for e in entries {
            c.add(e.mode);
        }
        c
    }
}

/// Transfer statistics.
///
/// The first five fields are what a server sender writes at the end
/// (Wire: `[stats]`, RFC.md §12: `varlong30(3)` × 3, × 5 from protocol 29); the others are
/// counted locally (the deletions of a peer's generator arrive with `NDX_DEL_STATS` from
/// protocol 31).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes this side read (a client receiver: the server's `total_written`).
    pub total_read: i64,
    /// Bytes this side wrote.
    pub total_written: i64,
    /// Sum of the sizes of the regular files and symlinks in the list.
    pub total_size: i64,
    /// File-list build time in ms (protocol ≥ 29; 0 from this crate, which has no clock).
    pub flist_buildtime: i64,
    /// File-list transfer time in ms (protocol ≥ 29).
    pub flist_xfertime: i64,
    /// Entries of the file list by type.
    pub num_files: FileCounts,
    /// Items created (`ITEM_IS_NEW` records).
    pub created: FileCounts,
    /// Items deleted (`--delete`).
    pub deleted: FileCounts,
    /// Regular files transferred.
    pub xferred_files: u64,
    /// Sum of their sizes.
    pub total_transferred_size: u64,
    /// Literal bytes of the token streams.
    pub literal_data: u64,
    /// Bytes covered by block copies.
    pub matched_data: u64,
    /// Bytes of the file list on the wire.
    pub flist_size: u64,
}
