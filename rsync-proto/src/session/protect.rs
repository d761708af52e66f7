//! Which extraneous destination names the receiver's filter rules protect from `--delete`.
//!
//! rsync lists a destination directory with its filter rules applied (`get_dirlist` →
//! `send_directory` → `is_excluded`): an excluded name (`--exclude`, `-f '- …'`, `P …`,
//! `--filter 'protect …'`, …) is not listed, so neither it nor (for a directory) its
//! content is deleted, and a directory that keeps such a child is reported as `cannot
//! delete non-empty directory`. The rules are the client's filter list: a client receiver
//! uses its own full list ([`SessionOptions::filter`](super::SessionOptions::filter)), a
//! server receiver the list it read from the client sender (sent because of `--delete`),
//! read with [`FilterList::from_wire`]. Per-directory merge files (`:`/`dir-merge`) are not
//! supported (the filter module refuses them).

use crate::filter::FilterList;

use super::SessionError;

/// The receiver's deletion filter (see the module documentation).
#[derive(Debug, Clone, Default)]
pub(crate) struct Protection {
    list: Option<FilterList>,
}

impl Protection {
    /// The filter of a client's own rule list.
    pub(crate) fn from_list(list: FilterList) -> Self {
        Self {
            list: (!list.is_empty()).then_some(list),
        }
    }

    /// The filter for the rules a server read from its client.
    ///
    /// # Errors
    /// [`SessionError::BadFilter`] for a rule rsync would refuse.
    pub(crate) fn from_wire(
        rules: &[Vec<u8>],
        protocol: u32,
        delete_excluded: bool,
    ) -> Result<Self, SessionError> {
        if rules.is_empty() {
            return Ok(Self::default());
        }
        let list = FilterList::from_wire(rules, protocol, delete_excluded).map_err(|e| {
            SessionError::BadFilter {
                reason: e.to_string(),
            }
        })?;
        Ok(Self::from_list(list))
    }

    /// Whether `path` (relative to the transfer root) is protected from deletion.
    pub(crate) fn protects(&self, path: &[u8], is_dir: bool) -> bool {
        self.list
            .as_ref()
            .is_some_and(|l| l.protected(path, is_dir, false))
    }
}
