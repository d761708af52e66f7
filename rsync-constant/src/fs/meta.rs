//! [`Meta`] (what `lstat` reports), [`FileKind`], and [`Attrs`] (what a
//! receiver applies: mode, nanosecond mtime, ownership).

use std::fmt;
use std::os::fd::AsFd;

use rustix::fs::{FileType, Stat, Timespec, Timestamps, UTIME_OMIT};

/// The kind of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix-domain socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// Anything else the kernel reports.
    Unknown,
}

impl FileKind {
    fn from_file_type(t: FileType) -> Self {
        match t {
            FileType::RegularFile => Self::File,
            FileType::Directory => Self::Dir,
            FileType::Symlink => Self::Symlink,
            FileType::Fifo => Self::Fifo,
            FileType::Socket => Self::Socket,
            FileType::CharacterDevice => Self::CharDevice,
            FileType::BlockDevice => Self::BlockDevice,
            _ => Self::Unknown,
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::File => "regular file",
            Self::Dir => "directory",
            Self::Symlink => "symlink",
            Self::Fifo => "fifo",
            Self::Socket => "socket",
            Self::CharDevice => "character device",
            Self::BlockDevice => "block device",
            Self::Unknown => "file of unknown type",
        })
    }
}

/// Metadata of an entry, as `lstat` (never following a final symlink)
/// reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// The entry's kind.
    pub kind: FileKind,
    /// Permission bits including set-uid, set-gid and sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime_sec: i64,
    /// Modification time, nanoseconds (`0..1_000_000_000`).
    pub mtime_nsec: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Number of hard links.
    pub nlink: u64,
    /// Device of the containing file system.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Device number, for device nodes.
    pub rdev: u64,
    /// Status change time, seconds since the epoch.
    pub ctime_sec: i64,
    /// Status change time, nanoseconds (`0..1_000_000_000`).
    pub ctime_nsec: u32,
}

impl Meta {
    /// The modification time as an [`Mtime`].
    pub fn mtime(&self) -> Mtime {
        Mtime {
            sec: self.mtime_sec,
            nsec: self.mtime_nsec,
        }
    }

    // The field types of `struct stat` differ between architectures; the
    // casts below are identities on some and widenings on others.
    #[allow(
        clippy::unnecessary_cast,
        clippy::useless_conversion,
        clippy::cast_sign_loss
    )]
    pub(crate) fn from_stat(st: &Stat) -> Self {
        let raw_mode = st.st_mode as u32;
        Self {
            kind: FileKind::from_file_type(FileType::from_raw_mode(st.st_mode)),
            mode: raw_mode & 0o7777,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime_sec: st.st_mtime as i64,
            mtime_nsec: u32::try_from(st.st_mtime_nsec).unwrap_or(0),
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            nlink: st.st_nlink as u64,
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            rdev: st.st_rdev as u64,
            ctime_sec: st.st_ctime as i64,
            ctime_nsec: u32::try_from(st.st_ctime_nsec).unwrap_or(0),
        }
    }
}

/// A modification time with nanosecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mtime {
    /// Seconds since the epoch (may be negative).
    pub sec: i64,
    /// Nanoseconds; must be below 1 000 000 000 to be applied.
    pub nsec: u32,
}

impl Mtime {
    /// `utimensat` timestamps setting this mtime and leaving atime alone,
    /// or `None` when `nsec` is out of range.
    // `Nsecs` is `i64` on most targets but `c_long` on some.
    #[allow(clippy::useless_conversion)]
    pub(crate) fn timestamps(self) -> Option<Timestamps> {
        if self.nsec >= 1_000_000_000 {
            return None;
        }
        Some(Timestamps {
            last_access: Timespec {
                tv_sec: 0,
                tv_nsec: UTIME_OMIT,
            },
            last_modification: Timespec {
                tv_sec: self.sec,
                tv_nsec: i64::from(self.nsec).try_into().ok()?,
            },
        })
    }
}

/// Attributes a receiver applies to an entry; `None` fields are left alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attrs {
    /// Permission bits (`& 0o7777`), applied with `fchmod` so the umask does
    /// not interfere.
    pub mode: Option<u32>,
    /// Modification time (nanoseconds preserved).
    pub mtime: Option<Mtime>,
    /// Owner to set (usually needs root).
    pub uid: Option<u32>,
    /// Group to set.
    pub gid: Option<u32>,
}

/// Why applying [`Attrs`] failed: an invalid argument or a system call.
pub(crate) enum ApplyError {
    Invalid(&'static str),
    Io(rustix::io::Errno),
}

/// Applies `attrs` to an open file descriptor: ownership first (`chown`
/// clears set-uid bits), then mode, then mtime.
pub(crate) fn apply_to_fd(fd: impl AsFd, attrs: &Attrs) -> Result<(), ApplyError> {
    let fd = fd.as_fd();
    let ts = match attrs.mtime {
        Some(m) => Some(
            m.timestamps()
                .ok_or(ApplyError::Invalid("mtime nanoseconds out of range"))?,
        ),
        None => None,
    };
    if attrs.uid.is_some() || attrs.gid.is_some() {
        rustix::fs::fchown(
            fd,
            attrs.uid.map(rustix::fs::Uid::from_raw),
            attrs.gid.map(rustix::fs::Gid::from_raw),
        )
        .map_err(ApplyError::Io)?;
    }
    if let Some(mode) = attrs.mode {
        rustix::fs::fchmod(fd, rustix::fs::Mode::from_raw_mode(mode & 0o7777))
            .map_err(ApplyError::Io)?;
    }
    if let Some(ts) = ts {
        rustix::fs::futimens(fd, &ts).map_err(ApplyError::Io)?;
    }
    Ok(())
}
