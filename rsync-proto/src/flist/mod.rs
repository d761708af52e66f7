//! The file list: the sender's description of every file in a transfer, its "same as the
//! previous entry" compression, the uid/gid name lists that follow it, and the sort order
//! that gives each file its index.
//!
//! Spec: RFC.md §9. Protocols 27–32 (32 encodes as 31), without ACL/xattr blocks,
//! `--atimes` or `--crtimes`. Reference: rsync `send_file_entry`/`recv_file_entry`,
//! `f_name_cmp`, `flist_sort_and_clean` (flist.c), uidlist.c.
//!
//! ```
//! use rsync_proto::flist::{encode_file_list, decode_file_list, FileEntry, FileList, FlistOptions, WirePath, mode};
//! let mut e = FileEntry::new(WirePath::try_from("dir/file")?, mode::S_IFREG | 0o644);
//! e.set_size(5);
//! e.set_mtime(1_700_000_000);
//! let mut list = FileList::default();
//! list.entries.push(e);
//! let opts = FlistOptions::new(31);
//! let wire = encode_file_list(&opts, &list)?;
//! let (back, used) = decode_file_list(&opts, &wire)?;
//! assert_eq!((back, used), (list, wire.len()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decode;
mod encode;
mod entry;
mod ids;
mod path;
mod sort;

#[cfg(test)]
mod missing_tests;
#[cfg(test)]
mod proptests;

pub use decode::{decode_file_list, FlistDecoder};
pub use encode::{encode_file_list, FlistEncoder};
pub use entry::{mode, xmit, FileEntry, FileList, FlistError, FlistOptions, HardLink};
pub use entry::{MAX_CHECKSUM_LEN, MAX_NSEC, MAX_SYMLINK_LEN};
pub use ids::IdList;
pub use path::{PathBatch, PathError, WirePath, MAX_BATCH_BYTES, MAX_NAME_LEN};
pub use sort::{compare_entries, compare_names, sort_file_list};
