//! The values exchanged between a role and its driver: options, file system requests and
//! answers.

use rsync_core::checksum::{ChecksumKind, StrongSum};
use rsync_core::{Limits, Signature, SumHead};

use crate::filter::FilterList;
use crate::flist::{FileEntry, FlistOptions, IdList, WirePath};
use crate::handshake::Negotiated;
use crate::mux::RSYNC_DATA_FRAME;

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

/// What a sender does with a name it was given (a command-line source or a `--files-from`
/// name) that does not exist (rsync's `missing_args`).
///
/// Reference: rsync `send_file_list` (flist.c), `recv_generator` (generator.c),
/// `server_options` (options.c): `--delete-missing-args` goes to the server in both
/// directions (both sides must know that a mode-0 entry is legal), `--ignore-missing-args`
/// only to a server sender (a sender handles it alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MissingArgs {
    /// The default: `link_stat "NAME" failed`, an I/O error, exit 23.
    #[default]
    Error,
    /// `--ignore-missing-args`: the name is skipped silently.
    Ignore,
    /// `--delete-missing-args` (wins over `--ignore-missing-args`): the name is sent as a
    /// mode-0 entry ([`FileEntry::is_missing`]), and the receiver deletes what it names.
    Delete,
}

/// Settings of one role, derived from the handshake and the command line.
///
/// Both ends of a session must agree on the fields that shape the wire (`protocol`,
/// `flist`, `checksum`, `dry_run`, `delete`, `whole_file` has no wire effect); the
/// others are local policy. A server derives them from the argv the client sent
/// (`-n`, `--delete*`, `-i` arrives as `--log-format=%i`, `-ii` as `--log-format=%i%I`,
/// `-v` as `v` letters, `--inplace`, `-c`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionOptions {
    /// The negotiated protocol (27..=32).
    pub protocol: u8,
    /// Strong checksum, seed and seed order from the handshake.
    pub strong: StrongSum,
    /// File-list settings (must match the peer's). `flist.checksum_len` is set from
    /// [`Self::checksum`] by the roles.
    pub flist: FlistOptions,
    /// We are the server (started with `--server`).
    pub server: bool,
    /// `--files-from` forwarding.
    pub files_from: FilesFrom,
    /// Filter rules a client writes to a server (`int len` + bytes each, then `int 0`): a
    /// client receiver always writes them, a client sender only when the server receiver
    /// wants them (`--delete`). A server reads them into the same list; a receiver uses
    /// them to protect names from `--delete` (the hook in `session/protect.rs`).
    pub filter_rules: Vec<Vec<u8>>,
    /// The client's own filter rules, all of them (a client receiver protects names from
    /// `--delete` with the receiver-side rules it keeps local, which
    /// [`filter_rules`](Self::filter_rules) does not carry). `None` for a server, which
    /// uses the rules it reads from the client.
    pub filter: Option<FilterList>,
    /// `--delete-excluded`: excluded names are not protected from `--delete` (a server
    /// reads the client's rules accordingly).
    pub delete_excluded: bool,
    /// `-I`: transfer files even when size and mtime match.
    pub ignore_times: bool,
    /// `-c`: compare whole-file checksums instead of mtimes (the sender sends them in the
    /// file list, [`FsRequest::FileList::checksum`] / [`FsRequest::Basis::checksum`]).
    pub checksum: bool,
    /// `-W`: send whole files (null sum header).
    pub whole_file: bool,
    /// `-B`: fixed block size (0 = rsync's rule).
    pub block_size: u32,
    /// `-p`: preserve permissions (compared and set by the generator).
    pub preserve_perms: bool,
    /// `-t`: preserve modification times.
    pub preserve_times: bool,
    /// `-n`: report what would change, change nothing (no write request is issued).
    pub dry_run: bool,
    /// `--delete` and its timing; `None` deletes nothing.
    pub delete: Option<DeleteTiming>,
    /// `--force`: a directory deleted to make room for another type, or named by a
    /// `--delete-missing-args` entry, goes with its content (as with `--delete`); a server
    /// receiver also sends its deletion statistics (protocol ≥ 31).
    pub force: bool,
    /// `--delete-missing-args` / `--ignore-missing-args` (both ends must agree on
    /// [`MissingArgs::Delete`]: the roles set [`FlistOptions::delete_missing_args`] from it).
    pub missing_args: MissingArgs,
    /// `-r`: the transfer is recursive (directories' content is in the list).
    pub recursive: bool,
    /// Itemize level (`stdout_format_has_i`): 0 none, 1 changed items (`-i`), 2 every item
    /// (`-ii`). A server receiver: 1 for `--log-format=%i`, 2 for `--log-format=%i%I`. From
    /// protocol 29 a generator sends unchanged items only at level 2 (or `verbose` ≥ 2).
    pub itemize: u8,
    /// Verbosity (`-v` count; rsync's `INFO_NAME` level). Level 2 makes a generator send
    /// unchanged items too; below protocol 29 a server generator and receiver report names
    /// as `MSG_INFO` lines at level 1.
    pub verbose: u8,
    /// We run as root (`am_root`): devices are created, owners are compared and set.
    pub am_root: bool,
    /// The groups we belong to when not root: a gid outside them is neither compared nor
    /// set (`FLAG_SKIP_GROUP`). `None` compares every gid.
    pub our_groups: Option<Vec<u32>>,
    /// `--inplace`: the basis is the file being written. A sender then never copies a
    /// basis block that lies before the current position (rsync `updating_basis_file`);
    /// a receiver's driver writes into the destination itself (see
    /// [`FsRequest::BeginFile`]).
    pub inplace: bool,
    /// Decoding bounds.
    pub limits: Limits,
    /// Largest `MSG_DATA` frame written.
    pub max_data_frame: usize,
    /// A server writes its error and warning lines to its own stderr (rsync 3.5.0's default
    /// `--stderr=errors`), which reaches the client through the remote shell: they come
    /// out as [`Event::Log`](super::Event::Log) for the driver to print there. `false`
    /// (`--no-msgs2stderr`/`--stderr=client`), and always at protocol ≤ 28: they travel as
    /// `MSG_*` frames. Info lines always travel as `MSG_INFO`.
    pub msgs2stderr: bool,
}

impl SessionOptions {
    /// Options for the negotiated session `n`; `server` tells which side we are. The file
    /// list options are plain ([`FlistOptions::new`]) with the varint, id-0-names and safe
    /// file list flags of the handshake; the driver adds what the command line preserves.
    pub fn new(n: &Negotiated, server: bool) -> Self {
        let protocol = n.protocol.min(32);
        let mut flist = FlistOptions::new(u32::from(protocol));
        flist.varint_flags = n.varint_flist_flags();
        flist.id0_names = n.compat_flags.contains(crate::handshake::CF_ID0_NAMES);
        flist.safe_flist |= n.compat_flags.contains(crate::handshake::CF_SAFE_FLIST);
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
            filter: None,
            delete_excluded: false,
            ignore_times: false,
            checksum: false,
            whole_file: false,
            block_size: 0,
            preserve_perms: false,
            preserve_times: false,
            dry_run: false,
            delete: None,
            force: false,
            missing_args: MissingArgs::Error,
            recursive: false,
            itemize: 0,
            verbose: 0,
            am_root: false,
            our_groups: None,
            inplace: false,
            limits: Limits::default(),
            max_data_frame: RSYNC_DATA_FRAME,
            msgs2stderr: true,
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

    /// The checksum settings of `-c` (rsync `file_checksum`, `file_sum_nni`): the
    /// negotiated algorithm without a seed. Its [`StrongSum::file_hasher`] digest is what
    /// the file list carries (below protocol 30: plain MD4 of the content, no seed).
    pub fn file_checksum(&self) -> StrongSum {
        StrongSum::file_checksum(self.strong.kind())
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

    /// The delete timing in effect: plain `--delete` is `--delete-before` below protocol 30
    /// and `--delete-during` from 30 (compat.c).
    pub(crate) fn delete_timing(&self) -> Option<DeleteTiming> {
        self.delete.map(|t| match t {
            DeleteTiming::Auto if self.protocol < 30 => DeleteTiming::Before,
            DeleteTiming::Auto => DeleteTiming::During,
            t => t,
        })
    }

    /// Whether a client sends its filter list / a server reads one in this role
    /// (`send_filter_list`/`recv_filter_list`): always toward a sender, toward a receiver
    /// only with `--delete`.
    pub(crate) fn filter_list_on_wire(&self, receiver_is_peer: bool) -> bool {
        !receiver_is_peer || self.delete.is_some()
    }

    /// `delete_mode || force_delete` (generator.c): a directory deleted by the generator
    /// goes with its content (`DEL_RECURSE`), and a receiver writes `NDX_DEL_STATS`
    /// (protocol ≥ 31).
    pub(crate) fn delete_recurse(&self) -> bool {
        self.delete.is_some() || self.force
    }

    /// Whether a gid is compared and set (`FLAG_SKIP_GROUP`).
    pub(crate) fn group_applies(&self, gid: u32) -> bool {
        self.am_root || self.our_groups.as_ref().is_none_or(|g| g.contains(&gid))
    }

    /// The `-c` sum length in the file list (`flist_csum_len`), 0 without `-c`.
    pub(crate) fn flist_csum_len(&self) -> usize {
        if self.checksum {
            self.strong.digest_len()
        } else {
            0
        }
    }

    /// Whether a generator sends an itemize record for an item whose flags are not
    /// significant (`INFO_GTE(NAME, 2) || stdout_format_has_i > 1`).
    pub(crate) fn itemize_all(&self) -> bool {
        self.itemize >= 2 || self.verbose >= 2
    }
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
    /// Status change time, seconds (0 with `ctime_nsec` 0: unknown). A constant mirror
    /// does not trust the quick check of a file whose status changed less than
    /// [`RACY_WINDOW_NS`] after its modification time (RFC.md §15.6).
    pub ctime: i64,
    /// Status change time, nanoseconds.
    pub ctime_nsec: u32,
}

/// How close after its modification time a file's copy must have been made for the quick
/// check (same size and modification time) to be trusted: 2 s, the coarsest timestamp
/// granularity of common file systems (FAT). A copy taken sooner may have been read before
/// a rewrite of the same size within the same timestamp tick.
pub const RACY_WINDOW_NS: i128 = 2_000_000_000;

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
            ctime: 0,
            ctime_nsec: 0,
        }
    }

    /// Whether this copy may be *racy*: its status changed (it was written or its times set)
    /// less than [`RACY_WINDOW_NS`] after its modification time, or before it, so a same-size
    /// rewrite of the original within the same timestamp tick would look unchanged. `false`
    /// when the status change time is unknown (0).
    pub fn is_racy(&self) -> bool {
        if self.ctime == 0 && self.ctime_nsec == 0 {
            return false;
        }
        let ns = |s: i64, n: u32| i128::from(s) * 1_000_000_000 + i128::from(n);
        ns(self.ctime, self.ctime_nsec) - ns(self.mtime, self.mtime_nsec) < RACY_WINDOW_NS
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
    /// Plain `--delete`: [`Self::Before`] below protocol 30, [`Self::During`] from 30, as
    /// rsync decides after the handshake (compat.c).
    Auto,
    /// `--delete-during`: each directory is cleaned when the generator reaches it.
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
        /// `file_hasher()` of this [`StrongSum`] over its content (see
        /// [`SessionOptions::file_checksum`]).
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
    ///
    /// Also used for a hard-link group's leader and followers (their own `ndx`). `-c` asks a second time with `checksum` set, only when a regular file of the same
    /// size is there (rsync computes the sum only then).
    Basis {
        /// Index of the entry at `path`.
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
    /// Receiver: open a temporary file for `path` (with [`SessionOptions::inplace`]: open
    /// `path` itself for writing from offset 0; the basis copies then read the same file,
    /// only at or after the write position, and [`FsRequest::Commit`] truncates it to the
    /// written length).
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
    /// Receiver: the whole-file checksum failed; delete the temporary file (with
    /// `--inplace` there is none: keep what was written, the redo rewrites it).
    Discard {
        /// Index.
        ndx: i32,
    },
    /// Receiver: create a directory, writable by us (`mode | 0700`, as rsync's
    /// `dir_tweaking`); its metadata is set at the end with [`FsRequest::SetMeta`].
    /// Whatever was at the path has been removed with [`FsRequest::Delete`] first.
    Mkdir {
        /// Index.
        ndx: i32,
        /// The entry.
        entry: FileEntry,
    },
    /// Receiver: create or replace (atomically, through a temporary name) a symlink; a
    /// directory in the way has been removed with [`FsRequest::Delete`] first. Its
    /// metadata follows with [`FsRequest::SetMeta`].
    Symlink {
        /// Index.
        ndx: i32,
        /// The entry (with its target).
        entry: FileEntry,
    },
    /// Receiver: set the metadata of an existing entry to the entry's (what the options
    /// preserve: mode with `-p`, mtime with `-t`, owner when root with `-o`, group with
    /// `-g`): every directory at the end of the run (rsync `touch_up_dirs`), an up-to-date
    /// item when one of its attributes differs, a new symlink, device or special right
    /// after its creation. Never follows a symlink.
    SetMeta {
        /// Index.
        ndx: i32,
        /// The entry.
        entry: FileEntry,
    },
    /// Receiver: create (or replace, atomically) a device, FIFO or socket as `entry`
    /// describes (its mode and `rdev`); a directory in the way has been removed first.
    /// Its metadata follows with [`FsRequest::SetMeta`].
    Mknod {
        /// Index.
        ndx: i32,
        /// The entry.
        entry: FileEntry,
    },
    /// Receiver (`-H`): make `entry.name` a hard link to `target`, an entry of the same
    /// group already in place, replacing (atomically) what is at `entry.name` (a
    /// directory in the way has been removed first).
    HardLink {
        /// Index.
        ndx: i32,
        /// The entry.
        entry: FileEntry,
        /// The path to link to (already received).
        target: WirePath,
    },
    /// Receiver (`--delete`, or a directory in the way of another type): list a
    /// destination directory (`.` for the top), without following a symlink. Answer:
    /// [`FsAnswer::DirList`].
    ///
    /// Constant master (RFC.md §15.7): list a source directory the same way. Answer:
    /// [`FsAnswer::DirList`] (empty when the path is absent or not a directory), or
    /// [`FsAnswer::Unreadable`] when it is there but cannot be read (`EACCES`, `EIO`): never
    /// an empty listing then, the mirror deletes what a listing does not name.
    ListDir {
        /// Index of the directory's entry; −1 for a directory that is not in the file list
        /// (an extraneous one being deleted with its content).
        ndx: i32,
        /// The directory.
        path: WirePath,
    },
    /// Receiver: remove an entry (`--delete`, or to make room for an entry of another
    /// type). Never follows a symlink. The role deletes a directory's content first, item
    /// by item in rsync's order (each one is reported), so `is_dir` normally names an
    /// empty directory; a driver may remove what is left recursively. No answer: a failure
    /// is the driver's to report.
    Delete {
        /// The entry to remove.
        path: WirePath,
        /// Whether it is a directory.
        is_dir: bool,
    },
    /// Receiver (`-o`/`-g` without `--numeric-ids`): map the sender's ids to local ones
    /// by name (rsync `match_uid`/`match_gid`: `getpwnam`/`getgrnam`, keeping the number
    /// when the name is unknown here). Sent once, after the file list, only when the list
    /// came with names. Answer: [`FsAnswer::IdMap`].
    MapIds {
        /// The sender's user names.
        uids: IdList,
        /// The sender's group names.
        gids: IdList,
    },
    /// Constant master (RFC.md §15.5): `lstat` one source path and describe it as a
    /// file-list entry (as [`FsRequest::FileList`] would: owner and group names filled
    /// unless `--numeric-ids`, the symlink target, [`HardLink::DevIno`] for a
    /// non-directory with more than one link, no `-c` sum). Answer: [`FsAnswer::Entry`]
    /// (`None` only when the path is not there), or [`FsAnswer::Unreadable`] when `lstat`
    /// (or `readlink`) fails for another reason: never `None` then, the mirror deletes what
    /// the master says is absent.
    ///
    /// [`HardLink::DevIno`]: crate::flist::HardLink::DevIno
    Stat {
        /// Request number (echoed).
        ndx: i32,
        /// The path, relative to the source root.
        path: WirePath,
    },
    /// Constant mirror (RFC.md §15.5): as [`FsRequest::BeginFile`], but the basis that
    /// [`FsRequest::CopyFromBasis`] reads is the regular file at `basis` (another name, e.g.
    /// the old name of a renamed file), opened now. Files of several indexes may be open at
    /// once; each `ndx` has its own temporary file and basis.
    BeginFileFrom {
        /// Index.
        ndx: i32,
        /// The path the file will have.
        path: WirePath,
        /// The file to read basis blocks from.
        basis: WirePath,
    },
    /// Constant mirror (RFC.md §15.6): remove `path` and, for a directory, everything beneath
    /// it, never following a symlink. A missing path is not an error. No answer; a failure
    /// is reported by the next [`FsRequest::Settle`] of `ndx`.
    Remove {
        /// Index of the change it belongs to.
        ndx: i32,
        /// The entry to remove.
        path: WirePath,
    },
    /// Constant mirror (RFC.md §15.8): answer once every earlier request has taken effect
    /// on the file system (files written and renamed into place, not merely queued).
    /// Answer: [`FsAnswer::Settled`].
    Settle {
        /// Index of the change whose requests are to be confirmed.
        ndx: i32,
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
    /// absent path, or one that is not a directory, lists as empty.
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
    /// The answer to [`FsRequest::MapIds`]: (sender id, local id) pairs; an id that is not
    /// listed keeps its number.
    IdMap {
        /// Users.
        uids: Vec<(u32, u32)>,
        /// Groups.
        gids: Vec<(u32, u32)>,
    },
    /// The answer to [`FsRequest::Stat`]: the entry, `None` if the path does not exist (or
    /// its parent is not a directory).
    Entry {
        /// The request's number.
        ndx: i32,
        /// The entry.
        entry: Option<FileEntry>,
    },
    /// Constant master (RFC.md §15.7): the source path of a [`FsRequest::Stat`] or a
    /// [`FsRequest::ListDir`] is there but could not be read (a failure other than "not
    /// there": `EACCES`, `EIO`, …). The master sends nothing that would delete the mirror's
    /// copy and acknowledges the change with status 23 and `error`. ([`FsRequest::ReadFile`]
    /// answers [`FsAnswer::FileError`] instead.)
    Unreadable {
        /// The request's number.
        ndx: i32,
        /// What failed, for the log and the acknowledgement (e.g.
        /// `opendir "d" failed: Permission denied`).
        error: Vec<u8>,
    },
    /// The answer to [`FsRequest::Settle`].
    Settled {
        /// Index.
        ndx: i32,
        /// The first failure, since the previous `Settle` of `ndx`, of a request naming
        /// `ndx` (what went wrong, for the log and the acknowledgement); `None` if all
        /// succeeded.
        error: Option<Vec<u8>>,
    },
}
