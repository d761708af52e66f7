//! A client receiver's checks of the sender's file list: every name must be one the client
//! requested (the implied filter of its operands or `--files-from` names) and none may be
//! one its own filter rules exclude. A directory requested only as a parent is never a
//! content directory, so `--delete` stays within what was asked for.
//!
//! Reference: rsync flist.c `recv_file_entry` (the two "rejecting … file-list name" checks
//! and the implied-parent downgrade), exclude.c `check_server_filter`,
//! `is_implied_parent_dir`; options.c `--trust-sender`.

use crate::filter::{FilterList, ImpliedFilter, RejectedName, Side};
use crate::flist::FileEntry;

/// What the receiver checks names against.
#[derive(Debug, Clone, Default)]
pub(super) struct NameChecks {
    /// The names requested; `None` (or an empty filter) checks nothing.
    pub(super) implied: Option<ImpliedFilter>,
    /// The client's rules as the sender applies them; `None` checks nothing.
    pub(super) excluded: Option<FilterList>,
}

impl NameChecks {
    /// Checks one received entry (the transfer root `.` is exempt, as in rsync).
    pub(super) fn check(&self, e: &FileEntry) -> Result<(), RejectedName> {
        let name = e.name.as_bytes();
        if name == b"." || name == b"/." {
            return Ok(());
        }
        let is_dir = e.is_dir();
        if let Some(f) = &self.excluded {
            if f.excluded(name, is_dir, Side::Sender) {
                return Err(RejectedName::Excluded {
                    name: name.to_vec(),
                });
            }
        }
        if let Some(f) = &self.implied {
            if !f.allows(name, is_dir) {
                return Err(RejectedName::Unrequested {
                    name: name.to_vec(),
                });
            }
        }
        Ok(())
    }

    /// The directory was requested only as a parent: not a content directory.
    pub(super) fn parent_only(&self, e: &FileEntry) -> bool {
        self.implied
            .as_ref()
            .is_some_and(|f| f.parent_only(e.name.as_bytes()))
    }
}
