//! The values exchanged between a role and its driver: options, file system requests and
//! answers, events and errors.

use rsync_core::checksum::{ChecksumKind, StrongSum};
use rsync_core::{ApplyError, Limits, Signature, SumHead, SumHeadError};

use crate::flist::{FileEntry, FlistError, FlistOptions, IdList, WirePath};
use crate::handshake::Negotiated;
use crate::mux::{MsgCode, MuxError, RSYNC_DATA_FRAME};
use crate::sums::SumsError;
use crate::token::TokenError;
use crate::wire::DecodeError;

/// Item flags (`iflags`) of a generator request and of the sender's echo (protocol ≥ 29).
///
/// Wire: `[iflags]` (RFC.md §10). Reference: rsync.h `ITEM_*`.
pub mod iflags {
    /// `ITEM_REPORT_ATIME`.
    pub const REPORT_ATIME: u16 = 0x0001;
    /// `ITEM_REPORT_CHANGE`.
    pub const REPORT_CHANGE: u16 = 0x0002;
    /// `ITEM_REPORT_SIZE` (regular files) / `ITEM_REPORT_TIMEFAIL` (symlinks).
    pub const REPORT_SIZE: u16 = 0x0004;
    /// `ITEM_REPORT_TIME`.
    pub const REPORT_TIME: u16 = 0x0008;
    /// `ITEM_REPORT_PERMS`.
    pub const REPORT_PERMS: u16 = 0x0010;
    /// `ITEM_REPORT_OWNER`.
    pub const REPORT_OWNER: u16 = 0x0020;
    /// `ITEM_REPORT_GROUP`.
    pub const REPORT_GROUP: u16 = 0x0040;
    /// `ITEM_REPORT_ACL`.
    pub const REPORT_ACL: u16 = 0x0080;
    /// `ITEM_REPORT_XATTR`.
    pub const REPORT_XATTR: u16 = 0x0100;
    /// Bit 9: unassigned; a record carrying it is rejected.
    pub const UNASSIGNED: u16 = 0x0200;
    /// `ITEM_REPORT_CRTIME`.
    pub const REPORT_CRTIME: u16 = 0x0400;
    /// `ITEM_BASIS_TYPE_FOLLOWS`: a basis-type byte follows.
    pub const BASIS_TYPE_FOLLOWS: u16 = 0x0800;
    /// `ITEM_XNAME_FOLLOWS`: a vstring follows.
    pub const XNAME_FOLLOWS: u16 = 0x1000;
    /// `ITEM_IS_NEW`.
    pub const IS_NEW: u16 = 0x2000;
    /// `ITEM_LOCAL_CHANGE`.
    pub const LOCAL_CHANGE: u16 = 0x4000;
    /// `ITEM_TRANSFER`: the sum header follows and the sender sends the file.
    pub const TRANSFER: u16 = 0x8000;
    /// `FNAMECMP_FNAME`: the basis is the destination file itself (the only basis type of
    /// the lean profile).
    pub const FNAMECMP_FNAME: u8 = 0x80;
}

/// `IOERR_GENERAL`.
pub(crate) const IOERR_GENERAL: i32 = 1;
/// `IOERR_VANISHED`.
pub(crate) const IOERR_VANISHED: i32 = 2;
/// `RERR_PARTIAL`.
pub(crate) const RERR_PARTIAL: i32 = 23;
/// `RERR_VANISHED`.
pub(crate) const RERR_VANISHED: i32 = 24;
/// `RERR_PROTOCOL`.
pub(crate) const RERR_PROTOCOL: i32 = 2;
/// `RERR_STREAMIO`.
pub(crate) const RERR_STREAMIO: i32 = 12;

/// `--files-from` handling.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FilesFrom {
    /// No `--files-from`.
    #[default]
    None,
    /// Client receiver: forward these names to the server sender (`--files-from=- --from0`).
    Send(Vec<Vec<u8>>),
    /// Server sender: read the names from the client before building the file list.
    Receive,
}

/// Settings of one role, derived from the handshake and the command line.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionOptions {
    /// The negotiated protocol (27..=32).
    pub protocol: u8,
    /// Strong checksum, seed and seed order from the handshake.
    pub strong: StrongSum,
    /// File-list settings (must match the peer's).
    pub flist: FlistOptions,
    /// We are the server (started with `--server`).
    pub server: bool,
    /// `--files-from` forwarding.
    pub files_from: FilesFrom,
    /// Filter rules a client receiver sends (`int len` + bytes each); empty sends `int 0`.
    pub filter_rules: Vec<Vec<u8>>,
    /// `-I`: transfer files even when size and mtime match.
    pub ignore_times: bool,
    /// `-W`: send whole files (null sum header).
    pub whole_file: bool,
    /// `-B`: fixed block size (0 = rsync's rule).
    pub block_size: u32,
    /// `-p`: preserve permissions (compared and set by the generator).
    pub preserve_perms: bool,
    /// `-t`: preserve modification times.
    pub preserve_times: bool,
    /// `-n`: report what would change, change nothing.
    pub dry_run: bool,
    /// `--delete` and its timing; `None` deletes nothing.
    pub delete: Option<DeleteTiming>,
    /// `-r`: the transfer is recursive (directories' content is in the list).
    pub recursive: bool,
    /// Itemize level: 0 none, 1 changed items (`-i`), 2 every item (`-ii`); a server
    /// receiver gets it from the client's `-i`.
    pub itemize: u8,
    /// `--inplace`: the basis is the file being written.
    pub inplace: bool,
    /// Decoding bounds.
    pub limits: Limits,
    /// Largest `MSG_DATA` frame written.
    pub max_data_frame: usize,
}

impl SessionOptions {
    /// Options for the negotiated session `n`; `server` tells which side we are. The file
    /// list options are plain ([`FlistOptions::new`]) with the varint flag of the handshake.
    pub fn new(n: &Negotiated, server: bool) -> Self {
        let protocol = n.protocol.min(32);
        let mut flist = FlistOptions::new(u32::from(protocol));
        flist.varint_flags = n.varint_flist_flags();
        let strong = StrongSum::new(n.checksum, n.seed).with_seed_fix(n.seed_fix);
        Self::with_parts(protocol, strong, flist, server)
    }

    /// Options from explicit parts (tests, drivers that negotiated elsewhere).
    pub fn with_parts(protocol: u8, strong: StrongSum, flist: FlistOptions, server: bool) -> Self {
        Self {
            protocol,
            strong,
            flist,
            server,
            files_from: FilesFrom::None,
            filter_rules: Vec::new(),
            ignore_times: false,
            whole_file: false,
            block_size: 0,
            preserve_perms: false,
            preserve_times: false,
            dry_run: false,
            delete: None,
            recursive: false,
            itemize: 0,
            inplace: false,
            limits: Limits::default(),
            max_data_frame: RSYNC_DATA_FRAME,
        }
    }

    /// Plain options for `protocol` with its default checksum (MD4 below 30, MD5 from 30)
    /// and `seed`.
    pub fn plain(protocol: u8, seed: i32, server: bool) -> Self {
        let kind = if protocol >= 30 {
            ChecksumKind::Md5
        } else {
            ChecksumKind::Md4
        };
        let flist = FlistOptions::new(u32::from(protocol));
        Self::with_parts(protocol, StrongSum::new(kind, seed), flist, server)
    }

    /// Whether what we write is multiplexed: always from a server, from a client at ≥ 30.
    pub(crate) fn out_muxed(&self) -> bool {
        self.server || self.protocol >= 30
    }

    /// Whether what we read is multiplexed.
    pub(crate) fn in_muxed(&self) -> bool {
        !self.server || self.protocol >= 30
    }

    /// `max_phase`: 1 below protocol 29, else 2.
    pub(crate) fn max_phase(&self) -> u8 {
        if self.protocol >= 29 {
            2
        } else {
            1
        }
    }
}

/// Transfer statistics as a server sender writes them (`handle_stats`).
///
/// Wire: `[stats]` (RFC.md §12): `varlong30(3)` × 3, × 5 from protocol 29.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes the sender read.
    pub total_read: i64,
    /// Bytes the sender wrote.
    pub total_written: i64,
    /// Sum of the file sizes in the list.
    pub total_size: i64,
    /// File-list build time in ms (protocol ≥ 29; 0 from this crate, which has no clock).
    pub flist_buildtime: i64,
    /// File-list transfer time in ms (protocol ≥ 29).
    pub flist_xfertime: i64,
}

/// What the driver knows about an existing destination entry (`lstat`: a symlink is
/// described, never followed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BasisMeta {
    /// `st_mode`, file type bits included.
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds.
    pub mtime: i64,
    /// Modification time, nanoseconds (0..=999,999,999).
    pub mtime_nsec: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device major number (devices).
    pub rdev_major: u32,
    /// Device minor number (devices).
    pub rdev_minor: u32,
    /// The link target, when the entry is a symlink.
    pub symlink: Option<Vec<u8>>,
    /// The whole-file checksum, when [`FsRequest::Basis`] asked for one and the entry is a
    /// regular file.
    pub checksum: Option<Vec<u8>>,
    /// Device of the inode (`-H`: whether it is already linked to its group leader).
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl BasisMeta {
    /// Metadata with these mode, size and mtime, and every other field zero or absent.
    pub fn new(mode: u32, size: u64, mtime: i64) -> Self {
        Self {
            mode,
            size,
            mtime,
            mtime_nsec: 0,
            uid: 0,
            gid: 0,
            rdev_major: 0,
            rdev_minor: 0,
            symlink: None,
            checksum: None,
            dev: 0,
            ino: 0,
        }
    }

    /// Whether it is a regular file (only a regular file is used as a basis).
    pub fn is_regular(&self) -> bool {
        self.mode & crate::flist::mode::S_IFMT == crate::flist::mode::S_IFREG
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & crate::flist::mode::S_IFMT == crate::flist::mode::S_IFDIR
    }

    /// Whether it is a symlink.
    pub fn is_symlink(&self) -> bool {
        self.mode & crate::flist::mode::S_IFMT == crate::flist::mode::S_IFLNK
    }
}

/// One name found in a destination directory ([`FsAnswer::DirList`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListedName {
    /// The name (one component, raw bytes).
    pub name: Vec<u8>,
    /// Its `st_mode` (`lstat`).
    pub mode: u32,
}

impl ListedName {
    /// A listed name.
    pub fn new(name: Vec<u8>, mode: u32) -> Self {
        Self { name, mode }
    }
}

/// When `--delete` removes extraneous destination entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeleteTiming {
    /// `--delete-during` (rsync's default for `--delete` from protocol 30): each directory
    /// is cleaned when the generator reaches it.
    During,
    /// `--delete-after`: after the transfer.
    After,
    /// `--delete-before`: before the transfer.
    Before,
}

/// A file system operation the role asks its driver to perform.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsRequest {
    /// Sender: build the file list. Answer: [`FsAnswer::FileList`].
    FileList {
        /// Filter rules received from the client (raw rule strings).
        filter_rules: Vec<Vec<u8>>,
        /// Names received with `--files-from`, if any.
        files_from: Option<Vec<Vec<u8>>>,
        /// `-c`: fill [`FileEntry::checksum`] of every regular file with the digest of
        /// `file_hasher()` of this [`StrongSum`] over its content.
        checksum: Option<StrongSum>,
    },
    /// Sender: read a file. Answer: [`FsAnswer::FileData`]… then [`FsAnswer::FileEnd`], or
    /// [`FsAnswer::FileError`].
    ReadFile {
        /// Its index.
        ndx: i32,
        /// Its path.
        path: WirePath,
    },
    /// Receiver: `lstat` the destination entry. Answer: [`FsAnswer::Basis`].
    Basis {
        /// Index.
        ndx: i32,
        /// Path.
        path: WirePath,
        /// `-c`: when the entry is a regular file, fill [`BasisMeta::checksum`] with the
        /// digest of `file_hasher()` of this [`StrongSum`] over its content.
        checksum: Option<StrongSum>,
    },
    /// Receiver: compute the signature of the basis for `head` (with
    /// `rsync_core::SignatureBuilder`). Answer: [`FsAnswer::Signature`].
    Signature {
        /// Index.
        ndx: i32,
        /// Path.
        path: WirePath,
        /// Block layout to use.
        head: SumHead,
    },
    /// Receiver: open a temporary file for `path`.
    BeginFile {
        /// Index.
        ndx: i32,
        /// Path.
        path: WirePath,
    },
    /// Receiver: append to the temporary file.
    Write {
        /// Index.
        ndx: i32,
        /// Bytes.
        data: Vec<u8>,
    },
    /// Receiver: read basis bytes. Answer: [`FsAnswer::Copied`].
    CopyFromBasis {
        /// Index.
        ndx: i32,
        /// Offset in the basis.
        offset: u64,
        /// Length.
        len: u32,
    },
    /// Receiver: the file is verified; rename the temporary file over `entry.name` and set
    /// its metadata.
    Commit {
        /// Index.
        ndx: i32,
        /// The entry.
        entry: FileEntry,
    },
    /// Receiver: the whole-file checksum failed; delete the temporary file.
    Discard {
        /// Index.
        ndx: i32,
    },
    /// Receiver: create a directory (metadata is set later with [`FsRequest::SetMeta`]).
    Mkdir {
        /// Index.
        ndx: i32,
        /// The entry.
        entry: FileEntry,
    },
    /// Receiver: create or replace a symlink.
    Symlink {
        /// Index.
        ndx: i32,
        /// The entry (with its target).
        entry: FileEntry,
    },
    /// Receiver: set the metadata of an existing entry to the entry's (what the options
    /// preserve): a directory's at the end of the run, an up-to-date file's when only its
    /// attributes differ. Never follows a symlink.
    SetMeta {
        /// Index.
        ndx: i32,
        /// The entry.
        entry: FileEntry,
    },
    /// Receiver: create (or replace) a device, FIFO or socket as `entry` describes (its
    /// mode and `rdev`).
    Mknod {
        /// Index.
        ndx: i32,
        /// The entry.
        entry: FileEntry,
    },
    /// Receiver (`-H`): make `entry.name` a hard link to `target`, an entry of the same
    /// group already in place, replacing what is at `entry.name`.
    HardLink {
        /// Index.
        ndx: i32,
        /// The entry.
        entry: FileEntry,
        /// The path to link to (already received).
        target: WirePath,
    },
    /// Receiver (`--delete`): list a destination directory (`.` for the top). Answer:
    /// [`FsAnswer::DirList`].
    ListDir {
        /// Index of the directory's entry.
        ndx: i32,
        /// The directory.
        path: WirePath,
    },
    /// Receiver (`--delete`): remove an extraneous entry, a directory with its content.
    /// Never follows a symlink.
    Delete {
        /// The entry to remove.
        path: WirePath,
        /// Whether it is a directory.
        is_dir: bool,
    },
}

/// The driver's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsAnswer {
    /// The file list, in walk order (the role sorts it).
    FileList {
        /// Entries.
        entries: Vec<FileEntry>,
        /// I/O error bits of the walk (`IOERR_*`).
        io_error: i32,
        /// uid names (`-o`).
        uids: IdList,
        /// gid names (`-g`).
        gids: IdList,
    },
    /// Next bytes of the file being read.
    FileData {
        /// Index.
        ndx: i32,
        /// Bytes.
        data: Vec<u8>,
    },
    /// End of the file being read.
    FileEnd {
        /// Index.
        ndx: i32,
    },
    /// The file could not be read (before any data was given).
    FileError {
        /// Index.
        ndx: i32,
        /// It vanished (exit 24) rather than failed (exit 23).
        vanished: bool,
    },
    /// The destination's metadata, `None` if absent.
    Basis {
        /// Index.
        ndx: i32,
        /// Metadata.
        meta: Option<BasisMeta>,
    },
    /// The basis signature.
    Signature {
        /// Index.
        ndx: i32,
        /// Signature (its head must be the requested one).
        signature: Signature,
    },
    /// The names in a directory listed for [`FsRequest::ListDir`] (not `.` nor `..`); an
    /// absent directory lists as empty.
    DirList {
        /// Index.
        ndx: i32,
        /// Names, in any order.
        names: Vec<ListedName>,
    },
    /// Basis bytes for a [`FsRequest::CopyFromBasis`].
    Copied {
        /// Index.
        ndx: i32,
        /// Bytes (a short read is an error).
        data: Vec<u8>,
    },
}

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
    /// A log line from the peer (`MSG_INFO`, `MSG_ERROR`, …).
    Log {
        /// Its message code.
        code: MsgCode,
        /// Its text.
        text: Vec<u8>,
    },
    /// An itemize record (echoed by the sender, or received by it).
    Itemize {
        /// Index.
        ndx: i32,
        /// Flags.
        iflags: u16,
    },
    /// The receiver removed an extraneous entry (`--delete`), or the peer's receiver
    /// reported one (`MSG_DELETED`).
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
        /// Statistics (read by a client receiver; written by a server sender).
        stats: Option<Stats>,
    },
}

/// Why a session failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A primitive could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Bad multiplex frame.
    #[error(transparent)]
    Mux(#[from] MuxError),
    /// Bad file list.
    #[error(transparent)]
    Flist(#[from] FlistError),
    /// Bad sum header or block sums.
    #[error(transparent)]
    Sums(#[from] SumsError),
    /// Bad token.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A token the applier rejected.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A sum header we could not use.
    #[error(transparent)]
    SumHead(#[from] SumHeadError),
    /// A file index outside the list.
    #[error("Invalid file index: {ndx} (list has {count})")]
    InvalidIndex {
        /// Index received.
        ndx: i32,
        /// Entries in the list.
        count: usize,
    },
    /// An index of a duplicate that the sort cleared.
    #[error("refusing transfer of cleared file index {ndx}")]
    ClearedIndex {
        /// Index.
        ndx: i32,
    },
    /// `ITEM_TRANSFER` for something that is not a regular file.
    #[error("received request to transfer non-regular file: {ndx}")]
    NotRegular {
        /// Index.
        ndx: i32,
    },
    /// A transfer request after the redo phase.
    #[error("got transfer request in phase 2")]
    TransferInPhase2 {
        /// Index.
        ndx: i32,
    },
    /// Item flags with an unassigned bit.
    #[error("unknown item flags {iflags:#06x}")]
    UnknownIflags {
        /// Flags received.
        iflags: u16,
    },
    /// A basis type other than the file itself.
    #[error("unsupported basis type {kind:#04x}")]
    UnsupportedBasisType {
        /// The byte received.
        kind: u8,
    },
    /// The sender echoed a different index or sum header than requested.
    #[error("sender echo for index {ndx} does not match the request")]
    EchoMismatch {
        /// Index.
        ndx: i32,
    },
    /// A file the receiver did not ask for, or asked for while another was in progress.
    #[error("unrequested transfer of index {ndx}")]
    Unrequested {
        /// Index.
        ndx: i32,
    },
    /// A filter rule longer than the limit.
    #[error("filter rule of {len} bytes")]
    FilterTooLong {
        /// Length received.
        len: i32,
    },
    /// A `--files-from` name that is not a valid relative path, or too many names.
    #[error("bad --files-from name")]
    BadFilesFrom,
    /// Something at the end of the run other than NDX_DONE.
    #[error("Invalid packet at end of run ({value})")]
    BadGoodbye {
        /// The value read.
        value: i32,
    },
    /// A message code not allowed here.
    #[error("unexpected message {code:?}")]
    UnexpectedMessage {
        /// The code.
        code: MsgCode,
    },
    /// An answer that does not fit the outstanding request.
    #[error("unexpected file system answer: {what}")]
    UnexpectedAnswer {
        /// What was received.
        what: &'static str,
    },
    /// The peer closed the connection early.
    #[error("connection unexpectedly closed ({state})")]
    UnexpectedEof {
        /// What we were doing.
        state: &'static str,
    },
    /// The peer ended the session with `MSG_ERROR_EXIT`.
    #[error("peer exited with code {code}")]
    PeerExit {
        /// Its exit code.
        code: i32,
    },
    /// A combination this implementation does not support.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What.
        what: &'static str,
    },
}

impl SessionError {
    /// The rsync exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::UnexpectedEof { .. } => RERR_STREAMIO,
            Self::PeerExit { code } => *code,
            Self::Unsupported { .. } => 4,
            _ => RERR_PROTOCOL,
        }
    }
}

/// The exit code for the sender's io_error bits (`log_exit`/`exit_cleanup`).
pub(crate) fn io_error_exit(io_error: i32) -> i32 {
    if io_error & !IOERR_VANISHED != 0 {
        RERR_PARTIAL
    } else if io_error & IOERR_VANISHED != 0 {
        RERR_VANISHED
    } else {
        0
    }
}
