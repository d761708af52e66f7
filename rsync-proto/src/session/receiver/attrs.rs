//! What the generator compares between a file-list entry and the destination's `lstat`:
//! the item flags of rsync's `itemize`, the quick check, and whether `set_file_attrs`
//! would change anything.
//!
//! Reference: rsync `itemize`, `quick_check_ok`, `unchanged_attrs`, `mtime_differs`
//! (generator.c), `set_file_attrs`/`same_mtime` (rsync.c). Times compare by seconds
//! (`--modify-window` 0); `-c` makes the attribute update compare nanoseconds too
//! (`ATTRS_ACCURATE_TIME`).

use super::super::types::{iflags, BasisMeta, SessionOptions};
use crate::flist::FileEntry;

/// `CHMOD_BITS`: the permission bits rsync compares and sets.
const CHMOD_BITS: u32 = 0o7777;

/// The flags that make an item worth a record (`SIGNIFICANT_ITEM_FLAGS`).
pub(super) fn significant(flags: u16) -> bool {
    flags & !(iflags::BASIS_TYPE_FOLLOWS | iflags::XNAME_FOLLOWS | iflags::LOCAL_CHANGE) != 0
}

/// generator.c `itemize`: adds to `flags` what differs between `entry` and the
/// destination `meta` (`None` when absent: `ITEM_IS_NEW`). `xname` is the hard-link name
/// that will follow, if any.
pub(super) fn itemize_flags(
    opts: &SessionOptions,
    entry: &FileEntry,
    meta: Option<&BasisMeta>,
    mut flags: u16,
    xname: Option<&[u8]>,
) -> u16 {
    let Some(st) = meta else {
        return flags | iflags::IS_NEW;
    };
    if entry.is_regular() && entry.size() != st.size {
        flags |= iflags::REPORT_SIZE;
    }
    let keep_time = opts.preserve_times;
    let time_changes = if keep_time {
        entry.mtime() != st.mtime
    } else {
        flags & (iflags::TRANSFER | iflags::LOCAL_CHANGE) != 0
            && xname.is_none_or(|x| !x.is_empty())
    };
    if time_changes {
        flags |= iflags::REPORT_TIME;
    }
    // Linux cannot chmod a symlink (no CAN_CHMOD_SYMLINK).
    if opts.preserve_perms && !entry.is_symlink() && (st.mode ^ entry.mode) & CHMOD_BITS != 0 {
        flags |= iflags::REPORT_PERMS;
    }
    if opts.flist.preserve_uid && opts.am_root && entry.uid != st.uid {
        flags |= iflags::REPORT_OWNER;
    }
    if opts.flist.preserve_gid && opts.group_applies(entry.gid) && entry.gid != st.gid {
        flags |= iflags::REPORT_GROUP;
    }
    flags
}

/// Whether `set_file_attrs` would change something on an existing item (so that a
/// [`super::super::FsRequest::SetMeta`] is worth sending). `accurate`: compare the
/// nanoseconds of the mtime too.
pub(super) fn attrs_differ(
    opts: &SessionOptions,
    entry: &FileEntry,
    st: &BasisMeta,
    accurate: bool,
) -> bool {
    let time = opts.preserve_times
        && (entry.mtime() != st.mtime || (accurate && entry.mtime_nsec != st.mtime_nsec));
    let perms =
        opts.preserve_perms && !entry.is_symlink() && (st.mode ^ entry.mode) & CHMOD_BITS != 0;
    let owner = opts.flist.preserve_uid && opts.am_root && entry.uid != st.uid;
    let group = opts.flist.preserve_gid && opts.group_applies(entry.gid) && entry.gid != st.gid;
    time || perms || owner || group
}

/// The file-type bits.
fn file_type(mode: u32) -> u32 {
    mode & crate::flist::mode::S_IFMT
}

/// Whether the destination has the entry's file type.
pub(super) fn same_type(entry: &FileEntry, st: &BasisMeta) -> bool {
    file_type(entry.mode) == file_type(st.mode)
}

/// generator.c `quick_check_ok` for a symlink, device or special of the same type: the
/// target, the device numbers, or nothing more.
pub(super) fn same_non_regular(entry: &FileEntry, st: &BasisMeta) -> bool {
    if !same_type(entry, st) {
        return false;
    }
    if entry.is_symlink() {
        return st.symlink.is_some() && st.symlink.as_deref() == entry.symlink();
    }
    if entry.is_device() {
        return st.rdev_major == entry.rdev_major() && st.rdev_minor == entry.rdev_minor();
    }
    true
}

/// generator.c `quick_check_ok` for a regular file over a regular file: same size, then
/// the `-c` sums, or (without `-I`) the mtime seconds.
pub(super) fn regular_up_to_date(opts: &SessionOptions, entry: &FileEntry, st: &BasisMeta) -> bool {
    if st.size != entry.size() {
        return false;
    }
    if opts.checksum {
        let n = opts.flist_csum_len();
        return match (&st.checksum, entry.checksum()) {
            (Some(a), Some(b)) => a.get(..n).is_some() && a.get(..n) == b.get(..n),
            _ => false,
        };
    }
    !opts.ignore_times && st.mtime == entry.mtime()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flist::{mode, WirePath};

    fn opts() -> SessionOptions {
        let mut o = SessionOptions::plain(31, 0, false);
        o.flist = o.flist.archive();
        o.preserve_perms = true;
        o.preserve_times = true;
        o.am_root = true;
        o
    }

    fn file(size: u64, mtime: i64, m: u32) -> FileEntry {
        let mut e = FileEntry::new(WirePath::try_from("f").expect("path"), mode::S_IFREG | m);
        e.set_size(size);
        e.set_mtime(mtime);
        e
    }

    #[test]
    fn flags_of_rsyncs_itemize() {
        let o = opts();
        let e = file(5, 100, 0o644);
        // New.
        assert_eq!(itemize_flags(&o, &e, None, iflags::TRANSFER, None), 0xA000);
        // Size and time differ.
        let st = BasisMeta::new(mode::S_IFREG | 0o644, 4, 99);
        assert_eq!(
            itemize_flags(&o, &e, Some(&st), iflags::TRANSFER, None),
            iflags::TRANSFER | iflags::REPORT_SIZE | iflags::REPORT_TIME
        );
        // Permissions only: `.f...p.....`.
        let st = BasisMeta::new(mode::S_IFREG | 0o600, 5, 100);
        assert_eq!(
            itemize_flags(&o, &e, Some(&st), 0, None),
            iflags::REPORT_PERMS
        );
        assert!(attrs_differ(&o, &e, &st, false));
        // Without -t a transfer always reports the time; a linked follower with an
        // empty xname does not.
        let mut nt = opts();
        nt.preserve_times = false;
        let st = BasisMeta::new(mode::S_IFREG | 0o644, 5, 1);
        assert_eq!(
            itemize_flags(&nt, &e, Some(&st), iflags::TRANSFER, None),
            iflags::TRANSFER | iflags::REPORT_TIME
        );
        let hl = iflags::LOCAL_CHANGE | iflags::XNAME_FOLLOWS;
        assert_eq!(itemize_flags(&nt, &e, Some(&st), hl, Some(b"")), hl);
        assert_eq!(
            itemize_flags(&nt, &e, Some(&st), hl, Some(b"x")),
            hl | iflags::REPORT_TIME
        );
        // Owner only when root; nanoseconds only for -c's attribute update.
        let mut st = BasisMeta::new(mode::S_IFREG | 0o644, 5, 100);
        st.uid = 7;
        assert_eq!(
            itemize_flags(&o, &e, Some(&st), 0, None),
            iflags::REPORT_OWNER
        );
        let mut user = opts();
        user.am_root = false;
        assert_eq!(itemize_flags(&user, &e, Some(&st), 0, None), 0);
        let mut st = BasisMeta::new(mode::S_IFREG | 0o644, 5, 100);
        st.mtime_nsec = 5;
        assert!(!attrs_differ(&o, &e, &st, false));
        assert!(attrs_differ(&o, &e, &st, true));
        assert!(!significant(iflags::LOCAL_CHANGE | iflags::XNAME_FOLLOWS));
        assert!(significant(iflags::REPORT_TIME));
    }

    #[test]
    fn quick_check() {
        let mut o = opts();
        let e = file(5, 100, 0o644);
        let st = BasisMeta::new(mode::S_IFREG | 0o644, 5, 100);
        assert!(regular_up_to_date(&o, &e, &st));
        let st2 = BasisMeta::new(mode::S_IFREG | 0o644, 5, 101);
        assert!(!regular_up_to_date(&o, &e, &st2));
        o.ignore_times = true;
        assert!(!regular_up_to_date(&o, &e, &st));
        // -c: the sums decide, whatever the times.
        o.checksum = true;
        let mut e = e;
        e.set_checksum(Some(vec![1; 16]));
        let mut st2 = st2;
        st2.checksum = Some(vec![1; 16]);
        assert!(regular_up_to_date(&o, &e, &st2));
        st2.checksum = Some(vec![2; 16]);
        assert!(!regular_up_to_date(&o, &e, &st2));
    }
}
