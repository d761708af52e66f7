//! File-list values: [`FileEntry`], the session options that shape the encoding
//! ([`FlistOptions`]), the decoded [`FileList`] and the errors.
//!
//! Spec: RFC.md §9. Reference: rsync `struct file_struct` (rsync.h) and the option globals
//! read by `send_file_entry`/`recv_file_entry` (flist.c).

use std::fmt;

use super::ids::IdList;
use super::path::{PathError, WirePath};
use crate::wire::DecodeError;

/// The `XMIT_*` bits of a file-list entry's flags word (rsync.h). Bits shared by two
/// meanings carry both names; which one applies depends on the protocol and file type.
pub mod xmit {
    /// Directory named on the command line (also the non-zero filler for other files).
    pub const TOP_DIR: u32 = 0x01;
    /// Mode equals the previous entry's.
    pub const SAME_MODE: u32 = 0x02;
    /// Protocol < 28: rdev equals the previous entry's.
    pub const SAME_RDEV_PRE28: u32 = 0x04;
    /// Protocol ≥ 28: a second flags byte follows.
    pub const EXTENDED_FLAGS: u32 = 0x04;
    /// uid equals the previous entry's (or uids are not sent).
    pub const SAME_UID: u32 = 0x08;
    /// gid equals the previous entry's (or gids are not sent).
    pub const SAME_GID: u32 = 0x10;
    /// The name starts with a prefix of the previous name.
    pub const SAME_NAME: u32 = 0x20;
    /// The name-suffix length is a `varint30`, not a byte.
    pub const LONG_NAME: u32 = 0x40;
    /// mtime equals the previous entry's.
    pub const SAME_TIME: u32 = 0x80;
    /// Protocol ≥ 28, devices: the rdev major equals the previous one.
    pub const SAME_RDEV_MAJOR: u32 = 0x100;
    /// Protocol ≥ 30, directories: no content is sent for this directory.
    pub const NO_CONTENT_DIR: u32 = 0x100;
    /// Protocol ≥ 28: hard-link information follows.
    pub const HLINKED: u32 = 0x200;
    /// Protocol 28–29: the hard-link device equals the previous one.
    pub const SAME_DEV_PRE30: u32 = 0x400;
    /// Protocol ≥ 30: the user name follows the uid.
    pub const USER_NAME_FOLLOWS: u32 = 0x400;
    /// Protocol 28–29: the rdev minor is one byte.
    pub const RDEV_MINOR_8_PRE30: u32 = 0x800;
    /// Protocol ≥ 30: the group name follows the gid.
    pub const GROUP_NAME_FOLLOWS: u32 = 0x800;
    /// Protocol ≥ 30: the first of a group of hard links.
    pub const HLINK_FIRST: u32 = 0x1000;
    /// With `EXTENDED_FLAGS` alone (`0x1004`): end of list followed by an io_error.
    pub const IO_ERROR_ENDLIST: u32 = 0x1000;
    /// Protocol ≥ 31: nanoseconds of the mtime follow.
    pub const MOD_NSEC: u32 = 0x2000;
    /// `--atimes`: atime equals the previous entry's (not supported here).
    pub const SAME_ATIME: u32 = 0x4000;
    /// `--crtimes`: crtime equals mtime (not supported here).
    pub const CRTIME_EQ_MTIME: u32 = 0x20000;
}

/// File-type bits of a mode (`S_IFMT`) and the types rsync transmits.
pub mod mode {
    /// Mask of the type bits.
    pub const S_IFMT: u32 = 0o170000;
    /// Socket.
    pub const S_IFSOCK: u32 = 0o140000;
    /// Symbolic link.
    pub const S_IFLNK: u32 = 0o120000;
    /// Regular file.
    pub const S_IFREG: u32 = 0o100000;
    /// Block device.
    pub const S_IFBLK: u32 = 0o060000;
    /// Directory.
    pub const S_IFDIR: u32 = 0o040000;
    /// Character device.
    pub const S_IFCHR: u32 = 0o020000;
    /// FIFO.
    pub const S_IFIFO: u32 = 0o010000;
}

/// The longest symlink target accepted, in bytes (rsync: `MAXPATHLEN` − 1).
pub const MAX_SYMLINK_LEN: usize = 4095;
/// The longest `-c` file checksum (rsync `MAX_DIGEST_LEN`).
pub const MAX_CHECKSUM_LEN: usize = 64;
/// The largest `MOD_NSEC` value (rsync `MAX_WIRE_NSEC`).
pub const MAX_NSEC: u32 = 999_999_999;

/// Hard-link information of an entry (`-H`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HardLink {
    /// Protocol < 30: the file's device and inode (the wire carries `dev + 1`).
    DevIno {
        /// Device number.
        dev: i64,
        /// Inode number.
        ino: i64,
    },
    /// Protocol ≥ 30: the first entry of a hard-link group (`XMIT_HLINK_FIRST`).
    First,
    /// Protocol ≥ 30: a later member; `first` is the index of the group's first entry.
    Follower {
        /// Index (in the numbering of the session) of the first entry of the group.
        first: i32,
    },
}

/// One file-list entry, as the sender describes it.
///
/// A file list of 100,000 entries is held in memory for the whole transfer, so an entry is
/// 48 bytes plus its name's bytes: the name, mode, nanoseconds and ids are public fields;
/// the size and mtime ([`Self::size`], [`Self::mtime`]) keep their low 32 bits inline and
/// the rest, when not zero, with the rare fields (symlink target, device numbers,
/// hard-link information, `-c` checksum, inline user and group names, the directory flags)
/// in one optional box behind accessors.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileEntry {
    /// Relative path, raw bytes.
    pub name: WirePath,
    /// `st_mode`: type and permission bits.
    pub mode: u32,
    /// Nanoseconds of the mtime (sent from protocol 31 on), ≤ [`MAX_NSEC`].
    pub mtime_nsec: u32,
    /// Owner id (`-o`).
    pub uid: u32,
    /// Group id (`-g`).
    pub gid: u32,
    /// Low 32 bits of the size.
    size_lo: u32,
    /// Low 32 bits of the mtime.
    mtime_lo: u32,
    /// The rare fields; `None` when they all have their default (so equal entries compare
    /// equal however they were built).
    extra: Option<Box<Extra>>,
}

/// The fields few entries have.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Extra {
    /// `size >> 32` (a file of 4 GiB or more).
    size_hi: u32,
    /// `mtime >> 32` (before 1970 or after 2106).
    mtime_hi: i32,
    user_name: Option<Box<[u8]>>,
    group_name: Option<Box<[u8]>>,
    symlink: Option<Box<[u8]>>,
    checksum: Option<Box<[u8]>>,
    hardlink: Option<HardLink>,
    rdev_major: u32,
    rdev_minor: u32,
    top_dir: bool,
    no_content_dir: bool,
}

impl fmt::Debug for FileEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("FileEntry");
        d.field("name", &self.name)
            .field("mode", &format_args!("0o{:o}", self.mode))
            .field("size", &self.size())
            .field("mtime", &self.mtime())
            .field("mtime_nsec", &self.mtime_nsec)
            .field("uid", &self.uid)
            .field("gid", &self.gid);
        if let Some(x) = &self.extra {
            d.field("symlink", &x.symlink)
                .field("hardlink", &x.hardlink)
                .field("rdev", &(x.rdev_major, x.rdev_minor))
                .field("checksum", &x.checksum)
                .field("names", &(&x.user_name, &x.group_name))
                .field("top_dir", &x.top_dir)
                .field("no_content_dir", &x.no_content_dir);
        }
        d.finish()
    }
}

impl FileEntry {
    /// An entry with the given name and mode and every other field zero or absent.
    pub fn new(name: WirePath, mode: u32) -> Self {
        Self {
            name,
            mode,
            mtime_nsec: 0,
            uid: 0,
            gid: 0,
            size_lo: 0,
            mtime_lo: 0,
            extra: None,
        }
    }

    /// Length in bytes (0 for devices and specials).
    pub fn size(&self) -> u64 {
        let hi = self.extra.as_ref().map_or(0, |x| x.size_hi);
        u64::from(hi) << 32 | u64::from(self.size_lo)
    }

    /// Sets [`Self::size`].
    pub fn set_size(&mut self, size: u64) {
        self.size_lo = size as u32;
        let hi = (size >> 32) as u32;
        if hi != 0 || self.extra.is_some() {
            self.edit(|x| x.size_hi = hi);
        }
    }

    /// Modification time, seconds since the epoch (protocol < 30: 0..=u32::MAX).
    pub fn mtime(&self) -> i64 {
        let hi = self.extra.as_ref().map_or(0, |x| x.mtime_hi);
        i64::from(hi) << 32 | i64::from(self.mtime_lo)
    }

    /// Sets [`Self::mtime`].
    pub fn set_mtime(&mut self, mtime: i64) {
        self.mtime_lo = mtime as u32;
        let hi = (mtime >> 32) as i32;
        if hi != 0 || self.extra.is_some() {
            self.edit(|x| x.mtime_hi = hi);
        }
    }

    fn file_type(&self) -> u32 {
        self.mode & mode::S_IFMT
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == mode::S_IFDIR
    }

    /// A regular file.
    pub fn is_regular(&self) -> bool {
        self.file_type() == mode::S_IFREG
    }

    /// A symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.file_type() == mode::S_IFLNK
    }

    /// A character or block device.
    pub fn is_device(&self) -> bool {
        matches!(self.file_type(), mode::S_IFCHR | mode::S_IFBLK)
    }

    /// A FIFO or socket.
    pub fn is_special(&self) -> bool {
        matches!(self.file_type(), mode::S_IFIFO | mode::S_IFSOCK)
    }

    /// A `--delete-missing-args` entry: mode 0 (rsync `IS_MISSING_FILE`), a name the sender
    /// was given that does not exist there; the receiver deletes what it names. Legal on the
    /// wire only with [`FlistOptions::delete_missing_args`].
    pub fn is_missing(&self) -> bool {
        self.mode == 0
    }

    /// Changes the rare fields; drops the box when they are all back to their defaults.
    fn edit(&mut self, f: impl FnOnce(&mut Extra)) {
        match &mut self.extra {
            Some(x) => {
                f(x);
                if **x == Extra::default() {
                    self.extra = None;
                }
            }
            None => {
                let mut x = Extra::default();
                f(&mut x);
                if x != Extra::default() {
                    self.extra = Some(Box::new(x));
                }
            }
        }
    }

    fn bytes(v: Option<Vec<u8>>) -> Option<Box<[u8]>> {
        v.map(Vec::into_boxed_slice)
    }

    /// Symlink target (`-l`), raw bytes without NUL.
    pub fn symlink(&self) -> Option<&[u8]> {
        self.extra.as_ref()?.symlink.as_deref()
    }

    /// Sets the symlink target.
    pub fn set_symlink(&mut self, target: Option<Vec<u8>>) {
        self.edit(|x| x.symlink = Self::bytes(target));
    }

    /// Owner name sent inline (protocol ≥ 30 with incremental recursion).
    pub fn user_name(&self) -> Option<&[u8]> {
        self.extra.as_ref()?.user_name.as_deref()
    }

    /// Sets the inline owner name.
    pub fn set_user_name(&mut self, name: Option<Vec<u8>>) {
        self.edit(|x| x.user_name = Self::bytes(name));
    }

    /// Group name sent inline (protocol ≥ 30 with incremental recursion).
    pub fn group_name(&self) -> Option<&[u8]> {
        self.extra.as_ref()?.group_name.as_deref()
    }

    /// Sets the inline group name.
    pub fn set_group_name(&mut self, name: Option<Vec<u8>>) {
        self.edit(|x| x.group_name = Self::bytes(name));
    }

    /// Whole-file checksum of a regular file (`-c`).
    pub fn checksum(&self) -> Option<&[u8]> {
        self.extra.as_ref()?.checksum.as_deref()
    }

    /// Sets the whole-file checksum.
    pub fn set_checksum(&mut self, sum: Option<Vec<u8>>) {
        self.edit(|x| x.checksum = Self::bytes(sum));
    }

    /// Hard-link information (`-H`).
    pub fn hardlink(&self) -> Option<HardLink> {
        self.extra.as_ref()?.hardlink
    }

    /// Sets the hard-link information.
    pub fn set_hardlink(&mut self, link: Option<HardLink>) {
        self.edit(|x| x.hardlink = link);
    }

    /// Device major number (devices with `-D`).
    pub fn rdev_major(&self) -> u32 {
        self.extra.as_ref().map_or(0, |x| x.rdev_major)
    }

    /// Device minor number (devices with `-D`).
    pub fn rdev_minor(&self) -> u32 {
        self.extra.as_ref().map_or(0, |x| x.rdev_minor)
    }

    /// Sets the device numbers.
    pub fn set_rdev(&mut self, major: u32, minor: u32) {
        self.edit(|x| (x.rdev_major, x.rdev_minor) = (major, minor));
    }

    /// Directory named on the command line (`XMIT_TOP_DIR`).
    pub fn top_dir(&self) -> bool {
        self.extra.as_ref().is_some_and(|x| x.top_dir)
    }

    /// Sets [`Self::top_dir`].
    pub fn set_top_dir(&mut self, top: bool) {
        self.edit(|x| x.top_dir = top);
    }

    /// Protocol ≥ 30: a directory whose contents are not part of the transfer
    /// (`XMIT_NO_CONTENT_DIR`, e.g. an implied parent).
    pub fn no_content_dir(&self) -> bool {
        self.extra.as_ref().is_some_and(|x| x.no_content_dir)
    }

    /// Sets [`Self::no_content_dir`].
    pub fn set_no_content_dir(&mut self, no_content: bool) {
        self.edit(|x| x.no_content_dir = no_content);
    }
}

/// Whether `m` is a mode a file list may carry under `o`: one of the seven file types, or,
/// with `--delete-missing-args`, exactly 0 (`recv_file_entry`: "mode 0 is the one
/// legitimate exception").
pub(crate) fn valid_mode(o: &FlistOptions, m: u32) -> bool {
    valid_file_type(m) || (m == 0 && o.delete_missing_args)
}

/// Whether `m` has one of the seven file types rsync accepts.
pub(crate) fn valid_file_type(m: u32) -> bool {
    matches!(
        m & mode::S_IFMT,
        mode::S_IFREG
            | mode::S_IFDIR
            | mode::S_IFLNK
            | mode::S_IFCHR
            | mode::S_IFBLK
            | mode::S_IFIFO
            | mode::S_IFSOCK
    )
}

/// Session settings that decide which fields a file list carries. Both sides must use the
/// same values (they follow from the negotiated protocol, compat flags and options).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlistOptions {
    /// Negotiated protocol, 27..=32 (32 encodes as 31).
    pub protocol: u32,
    /// `CF_VARINT_FLIST_FLAGS`: flags words are varints (protocol ≥ 30).
    pub varint_flags: bool,
    /// `-o`.
    pub preserve_uid: bool,
    /// `-g`.
    pub preserve_gid: bool,
    /// `-l`.
    pub preserve_links: bool,
    /// `--devices`.
    pub preserve_devices: bool,
    /// `--specials`.
    pub preserve_specials: bool,
    /// `-H`.
    pub preserve_hard_links: bool,
    /// `-c`: length of the file checksum in bytes (0 = no `-c`), ≤ [`MAX_CHECKSUM_LEN`].
    pub checksum_len: usize,
    /// `--numeric-ids`: no uid/gid name lists.
    pub numeric_ids: bool,
    /// Incremental recursion (`CF_INC_RECURSE`): names inline, no id lists at the end.
    pub inc_recurse: bool,
    /// `CF_ID0_NAMES`: the id lists end with the name of id 0.
    pub id0_names: bool,
    /// Safe file list (protocol ≥ 31, or `CF_SAFE_FLIST` at 30): the `0x1004` end marker
    /// with an io_error is allowed.
    pub safe_flist: bool,
    /// `--delete-missing-args`: an entry may have mode 0 ([`FileEntry::is_missing`]);
    /// without it such an entry is refused both ways ([`FlistError::BadMode`],
    /// [`FlistError::Unencodable`]), as rsync refuses it.
    pub delete_missing_args: bool,
    /// `-R`: a received name may start with `/` (a stock sender lists an absolute operand's
    /// names so, RFC.md [flist-name]); the decoder drops the leading slashes, as rsync's
    /// receiver does. Without it such a name is refused. The encoder never sends one.
    pub relative: bool,
    /// Index of this list's first entry (0 without incremental recursion).
    pub ndx_start: i32,
    /// The most entries the decoder accepts before failing.
    pub max_entries: usize,
}

impl FlistOptions {
    /// Plain options for `protocol`: no optional field, a safe file list from protocol 31,
    /// and a limit of 1,000,000 entries.
    pub fn new(protocol: u32) -> Self {
        Self {
            protocol,
            varint_flags: false,
            preserve_uid: false,
            preserve_gid: false,
            preserve_links: false,
            preserve_devices: false,
            preserve_specials: false,
            preserve_hard_links: false,
            checksum_len: 0,
            numeric_ids: false,
            inc_recurse: false,
            id0_names: false,
            safe_flist: protocol >= 31,
            delete_missing_args: false,
            relative: false,
            ndx_start: 0,
            max_entries: 1_000_000,
        }
    }

    /// Adds what `-a` implies (`-rlptgoD`): uid, gid, links, devices and specials.
    pub fn archive(mut self) -> Self {
        self.preserve_uid = true;
        self.preserve_gid = true;
        self.preserve_links = true;
        self.preserve_devices = true;
        self.preserve_specials = true;
        self
    }

    /// Checks the combination.
    ///
    /// # Errors
    /// [`FlistError::Unsupported`] for a protocol outside 27..=32, varint flags below 30 or
    /// a checksum longer than [`MAX_CHECKSUM_LEN`].
    pub fn validate(&self) -> Result<(), FlistError> {
        let bad = |what| Err(FlistError::Unsupported { what });
        if !(27..=32).contains(&self.protocol) {
            return bad("protocol outside 27..=32");
        }
        if self.varint_flags && self.protocol < 30 {
            return bad("varint flags below protocol 30");
        }
        if self.checksum_len > MAX_CHECKSUM_LEN {
            return bad("checksum length above 64");
        }
        Ok(())
    }

    /// Whether the uid list follows the end marker.
    pub(crate) fn sends_uid_list(&self) -> bool {
        self.preserve_uid && !self.numeric_ids && !self.inc_recurse
    }

    /// Whether the gid list follows the end marker.
    pub(crate) fn sends_gid_list(&self) -> bool {
        self.preserve_gid && !self.numeric_ids && !self.inc_recurse
    }
}

/// A complete decoded file list, in wire order (see [`crate::flist::sort_file_list`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FileList {
    /// Entries in the order they were sent.
    pub entries: Vec<FileEntry>,
    /// The sender's io_error (end marker or, below protocol 30, the trailing int).
    pub io_error: i32,
    /// uid → user name list (empty when not sent).
    pub uids: IdList,
    /// gid → group name list (empty when not sent).
    pub gids: IdList,
}

/// Why a file list could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlistError {
    /// A primitive could not be decoded (never `Incomplete` from
    /// [`crate::flist::FlistDecoder::feed`], which waits for more bytes instead).
    #[error(transparent)]
    Wire(#[from] DecodeError),
    /// An unsafe or malformed name (entry `index`).
    #[error("file-list entry {index}: {source}")]
    BadName {
        /// Entry index in wire order.
        index: usize,
        /// The rule broken.
        source: PathError,
    },
    /// The shared-prefix length exceeds the previous name.
    #[error(
        "file-list entry {index}: prefix length {prefix} exceeds previous name ({prev} bytes)"
    )]
    BadPrefix {
        /// Entry index in wire order.
        index: usize,
        /// Announced prefix length.
        prefix: usize,
        /// Length of the previous name.
        prev: usize,
    },
    /// A name longer than rsync's limit.
    #[error("file-list entry {index}: name length {len} exceeds {max}")]
    NameTooLong {
        /// Entry index in wire order.
        index: usize,
        /// Announced length (prefix + suffix).
        len: i64,
        /// The limit.
        max: usize,
    },
    /// A symlink target longer than the limit (or negative).
    #[error("file-list entry {index}: symlink length {len} outside 0..={max}")]
    SymlinkTooLong {
        /// Entry index in wire order.
        index: usize,
        /// Announced length.
        len: i64,
        /// The limit.
        max: usize,
    },
    /// More entries than [`FlistOptions::max_entries`].
    #[error("file list exceeds {max} entries")]
    TooManyEntries {
        /// The limit.
        max: usize,
    },
    /// A numeric field outside its valid range.
    #[error("file-list entry {index}: {field} value {value} out of range")]
    OutOfRange {
        /// Entry index in wire order.
        index: usize,
        /// The field.
        field: &'static str,
        /// The value.
        value: i64,
    },
    /// A mode whose type bits are not one of the seven file types (or mode 0 without
    /// [`FlistOptions::delete_missing_args`]).
    #[error("file-list entry {index}: invalid file mode 0{mode:o}")]
    BadMode {
        /// Entry index in wire order.
        index: usize,
        /// The mode.
        mode: u32,
    },
    /// A hard-link reference to an entry that does not exist yet.
    #[error("file-list entry {index}: hard-link reference {first} out of range (0..{limit})")]
    HardLinkOutOfRange {
        /// Entry index in wire order.
        index: usize,
        /// The referenced index.
        first: i32,
        /// One past the highest valid index.
        limit: i64,
    },
    /// The `0x1004` end marker without a safe file list.
    #[error("io-error end marker without a safe file list")]
    UnexpectedIoErrorEnd,
    /// An entry cannot be encoded with these options (entry `index`).
    #[error("file-list entry {index} cannot be encoded: {what}")]
    Unencodable {
        /// Entry index in send order.
        index: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// Options this implementation does not support.
    #[error("unsupported file-list options: {what}")]
    Unsupported {
        /// What is unsupported.
        what: &'static str,
    },
    /// Bytes were fed after the list ended.
    #[error("file list already complete")]
    Finished,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_small() {
        // The list of a 100,000-file tree is held for the whole transfer.
        assert!(std::mem::size_of::<FileEntry>() <= 48);
        assert_eq!(
            std::mem::size_of::<Option<FileEntry>>(),
            std::mem::size_of::<FileEntry>()
        );
    }

    #[test]
    fn sizes_and_times_of_every_range_round_trip() {
        let plain = FileEntry::new(WirePath::try_from("f").unwrap(), mode::S_IFREG);
        for size in [0, 1, u64::from(u32::MAX), 1 << 32, (5 << 32) | 7, u64::MAX] {
            let mut e = plain.clone();
            e.set_size(size);
            assert_eq!(e.size(), size);
            assert_eq!(e.extra.is_some(), size >> 32 != 0, "{size}");
            e.set_size(3);
            assert_eq!(
                e,
                FileEntry {
                    size_lo: 3,
                    ..plain.clone()
                }
            );
        }
        let times = [
            0,
            1_700_000_000,
            i64::from(u32::MAX),
            1 << 32,
            -1,
            i64::MIN,
            i64::MAX,
        ];
        for mtime in times {
            let mut e = plain.clone();
            e.set_mtime(mtime);
            e.set_size(u64::MAX);
            assert_eq!((e.mtime(), e.size()), (mtime, u64::MAX));
            e.set_size(0);
            assert_eq!(e.mtime(), mtime);
            e.set_mtime(0);
            assert_eq!(e, plain, "{mtime}");
        }
    }

    #[test]
    fn rare_fields_round_trip_and_defaults_compare_equal() {
        let name = || WirePath::try_from("l").unwrap();
        let plain = FileEntry::new(name(), mode::S_IFLNK | 0o777);
        let mut e = plain.clone();
        e.set_symlink(Some(b"t".to_vec()));
        e.set_user_name(Some(b"u".to_vec()));
        e.set_group_name(Some(b"g".to_vec()));
        e.set_checksum(Some(vec![1; 16]));
        e.set_hardlink(Some(HardLink::Follower { first: 3 }));
        e.set_rdev(8, 1);
        e.set_top_dir(true);
        e.set_no_content_dir(true);
        assert_eq!(e.symlink(), Some(&b"t"[..]));
        assert_eq!(
            (e.user_name(), e.group_name()),
            (Some(&b"u"[..]), Some(&b"g"[..]))
        );
        assert_eq!(e.checksum(), Some(&[1; 16][..]));
        assert_eq!(e.hardlink(), Some(HardLink::Follower { first: 3 }));
        assert_eq!((e.rdev_major(), e.rdev_minor()), (8, 1));
        assert!(e.top_dir() && e.no_content_dir());
        assert_ne!(e, plain);
        // Back to the defaults, one at a time: equal to an entry never given them.
        e.set_symlink(None);
        e.set_user_name(None);
        e.set_group_name(None);
        e.set_checksum(None);
        e.set_hardlink(None);
        e.set_rdev(0, 0);
        e.set_top_dir(false);
        assert_ne!(e, plain);
        e.set_no_content_dir(false);
        assert_eq!(e, plain);
        assert!(e.extra.is_none());
        // Defaults never allocate the box.
        let mut f = plain.clone();
        f.set_top_dir(false);
        f.set_symlink(None);
        assert!(f.extra.is_none());
    }
}
