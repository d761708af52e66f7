//! A client receiver's checks of the sender's file list: every name must be one the client
//! requested (the implied filter of its operands or `--files-from` names) and none may be
//! one its own filter rules exclude. A directory requested only as a parent is never a
//! content directory, so `--delete` stays within what was asked for.
//!
//! Reference: rsync flist.c `recv_file_entry` (the two "rejecting … file-list name" checks
//! and the implied-parent downgrade), exclude.c `check_server_filter`,
//! `is_implied_parent_dir`; options.c `--trust-sender`.

use crate::filter::{is_transfer_root, FilterList, ImpliedFilter, RejectedName, Side};
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
    /// Checks one received entry: the transfer root `.` must be a directory and is exempt
    /// from the name checks, as in rsync.
    pub(super) fn check(&self, e: &FileEntry) -> Result<(), RejectedName> {
        let name = e.name.as_bytes();
        let is_dir = e.is_dir();
        if is_transfer_root(name) {
            // Checked by every receiver, trusting or not.
            return if is_dir {
                Ok(())
            } else {
                Err(RejectedName::RootNotDirectory {
                    name: name.to_vec(),
                })
            };
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::NameChecks;
    use crate::filter::{FilterList, ImpliedFilter, ImpliedOptions, RejectedName};
    use crate::flist::{FileEntry, WirePath};

    fn entry(name: &[u8], mode: u32) -> FileEntry {
        let path = if name == b"." {
            WirePath::dot()
        } else {
            WirePath::new(name.to_vec()).unwrap()
        };
        FileEntry::new(path, mode)
    }

    const FILE: u32 = 0o100644;
    const DIR: u32 = 0o040755;

    fn checks(args: &[&[u8]], opts: ImpliedOptions, exclude: Option<&[u8]>) -> NameChecks {
        NameChecks {
            implied: Some(ImpliedFilter::from_args(args.iter().copied(), opts)),
            excluded: exclude.map(|p| {
                let mut f = FilterList::new();
                f.add_exclude(p).unwrap();
                f
            }),
        }
    }

    #[test]
    fn excluded_names_then_unrequested_names_are_rejected() {
        let c = checks(
            &[b"src/"],
            ImpliedOptions {
                recursive: true,
                dirs: true,
                relative: false,
            },
            Some(b"*.o"),
        );
        assert_eq!(c.check(&entry(b".", DIR)), Ok(()));
        assert_eq!(c.check(&entry(b"x.c", FILE)), Ok(()));
        assert_eq!(
            c.check(&entry(b"d/x.o", FILE)),
            Err(RejectedName::Excluded {
                name: b"d/x.o".to_vec()
            })
        );
        let c = checks(&[b"src/a"], ImpliedOptions::default(), None);
        assert_eq!(
            c.check(&entry(b"b", FILE)),
            Err(RejectedName::Unrequested {
                name: b"b".to_vec()
            })
        );
        // Both: rsync reports the exclusion (checked first).
        let c = checks(&[b"src/a"], ImpliedOptions::default(), Some(b"b"));
        assert_eq!(
            c.check(&entry(b"b", FILE)),
            Err(RejectedName::Excluded {
                name: b"b".to_vec()
            })
        );
    }

    #[test]
    fn the_root_must_be_a_directory_even_when_trusting() {
        let trusting = NameChecks::default();
        assert_eq!(trusting.check(&entry(b"anything", FILE)), Ok(()));
        assert_eq!(
            trusting.check(&entry(b".", FILE)),
            Err(RejectedName::RootNotDirectory {
                name: b".".to_vec()
            })
        );
    }

    #[test]
    fn a_relative_parent_is_never_content() {
        let opts = ImpliedOptions {
            relative: true,
            recursive: true,
            dirs: true,
        };
        let c = checks(&[b"src/a"], opts, None);
        assert!(c.parent_only(&entry(b"src", DIR)));
        assert!(!c.parent_only(&entry(b"src/a", DIR)));
        assert!(!NameChecks::default().parent_only(&entry(b"src", DIR)));
    }
}
