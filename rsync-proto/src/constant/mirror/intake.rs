//! A mirror's intake of records (RFC.md §15.3–§15.7): the opening, the filter list, and
//! the checks every change passes before it is queued: ids that grow, the window, the rules
//! of a directory listing, the owner names it carries.

use std::collections::HashSet;

use super::{file_name, parent, Job, Kind, Mirror, Phase, Scan, Step};
use crate::constant::config::ConstantError;
use crate::constant::record::MasterRecord;
use crate::filter::wire::{decode_filter_list, WireLimits};
use crate::filter::FilterList;
use crate::flist::FileEntry;

impl Mirror {
    /// One record from the master.
    pub(super) fn record(&mut self, rec: MasterRecord) -> Result<(), ConstantError> {
        let unexpected = |record, why| Err(ConstantError::Unexpected { record, why });
        match (self.phase, rec) {
            (Phase::Hello, MasterRecord::Hello(h)) => {
                if h.version == 0 {
                    return Err(ConstantError::Incompatible {
                        version: h.version,
                        window: h.window,
                    });
                }
                // The master keeps at most this many ids in flight (RFC.md §15.4).
                let window = h.window.max(3).min(self.cfg.mirror_window());
                self.flush_at = (window / 2).max(1) as usize;
                self.phase = Phase::Filters;
                Ok(())
            }
            (Phase::Hello, _) => unexpected("record", "before HELLO"),
            (Phase::Filters, MasterRecord::Filters(bytes)) => self.filters(&bytes),
            (Phase::Filters, _) => unexpected("record", "before FILTERS"),
            // After BYE, files in flight still get their data (RFC.md §15.9).
            (Phase::Running | Phase::Closing, MasterRecord::Data { id, tokens }) => {
                self.data(id, tokens)
            }
            (Phase::Running | Phase::Closing, MasterRecord::DataEnd { id, checksum }) => {
                self.data_end(id, &checksum)
            }
            (Phase::Running | Phase::Closing, MasterRecord::Abort { id }) => self.abort(id),
            (Phase::Running, MasterRecord::Bye) => {
                if self.scan.is_some() {
                    return unexpected("BYE", "inside a directory listing");
                }
                self.phase = Phase::Closing;
                Ok(())
            }
            (Phase::Running, rec) => self.change(rec),
            (Phase::Closing, _) => unexpected("change", "after BYE"),
            (Phase::Done, _) => Ok(()),
        }
    }

    /// `FILTERS`: the master's rules protect names from deletion (RFC.md §15.4).
    fn filters(&mut self, bytes: &[u8]) -> Result<(), ConstantError> {
        let (rules, used) = decode_filter_list(bytes, &WireLimits::default())?;
        if used != bytes.len() {
            return Err(ConstantError::Unexpected {
                record: "FILTERS",
                why: "bytes after the end of the list",
            });
        }
        let list = FilterList::from_wire(&rules, u32::from(self.opts.protocol), false)?;
        self.filter = (!list.is_empty()).then_some(list);
        self.phase = Phase::Running;
        Ok(())
    }

    /// A record that starts a change: checks the id, the window and the directory listing
    /// rules, then queues the job.
    fn change(&mut self, rec: MasterRecord) -> Result<(), ConstantError> {
        let (id, kind, record) = match rec {
            MasterRecord::Entry { id, entry } => {
                let in_tree = self.scan.is_some();
                (id, Kind::Entry { entry, in_tree }, "ENTRY")
            }
            MasterRecord::Delete { id, path } => (id, Kind::Delete { path }, "DELETE"),
            MasterRecord::HardLink { id, path, target } => {
                (id, Kind::HardLink { path, target }, "HARDLINK")
            }
            MasterRecord::DirBegin { id, path } => (id, Kind::DirBegin { path }, "DIR_BEGIN"),
            MasterRecord::DirEnd { id, path } => {
                let names = HashSet::new();
                (id, Kind::DirEnd { path, names }, "DIR_END")
            }
            MasterRecord::BatchEnd { id } => (id, Kind::BatchEnd, "BATCH_END"),
            _ => {
                return Err(ConstantError::Unexpected {
                    record: "record",
                    why: "not a change",
                })
            }
        };
        // The last id is the mirror's own (a silent `BATCH_END`).
        if id <= self.last_id || id == super::SILENT_ID {
            return Err(ConstantError::StaleId {
                id,
                last: self.last_id,
            });
        }
        let window = self.cfg.mirror_window();
        // A silent `BATCH_END` of the mirror's own is not the master's.
        let held =
            self.jobs.len() - usize::from(self.silent.is_some_and(|s| self.jobs.contains_key(&s)));
        if held >= window as usize {
            return Err(ConstantError::WindowExceeded { window });
        }
        self.last_id = id;
        let kind = self.listing(kind, record)?;
        let kind = match kind {
            Kind::Entry { entry, in_tree } => Kind::Entry {
                entry: self.owner_names(entry)?,
                in_tree,
            },
            k => k,
        };
        self.jobs.insert(
            id,
            Job {
                kind,
                step: Step::Queued,
            },
        );
        self.queue.push_back(id);
        Ok(())
    }

    /// RFC.md §15.7: between `DIR_BEGIN D` and `DIR_END D` only the names in `D`; one
    /// listing at a time; the names are kept for the deletions of `DIR_END`.
    fn listing(&mut self, kind: Kind, record: &'static str) -> Result<Kind, ConstantError> {
        let outside = |why| ConstantError::Unexpected { record, why };
        let Some(scan) = &mut self.scan else {
            return match kind {
                Kind::DirBegin { path } => {
                    self.scan = Some(Scan {
                        dir: path.clone(),
                        names: HashSet::new(),
                        bytes: 0,
                    });
                    Ok(Kind::DirBegin { path })
                }
                Kind::DirEnd { .. } => Err(outside("without DIR_BEGIN")),
                k => Ok(k),
            };
        };
        let name = match &kind {
            Kind::DirEnd { path, .. } => {
                if scan.dir != *path {
                    return Err(outside("for another directory"));
                }
                let names = std::mem::take(&mut scan.names);
                self.scan = None;
                return Ok(match kind {
                    Kind::DirEnd { path, .. } => Kind::DirEnd { path, names },
                    k => k,
                });
            }
            Kind::Entry { entry, .. } => &entry.name,
            Kind::HardLink { path, .. } => path,
            _ => return Err(outside("inside a directory listing")),
        };
        let n = name.as_bytes();
        if n == b"." || parent(n) != scan.dir.as_bytes() {
            return Err(outside("for a name outside the directory being listed"));
        }
        let leaf = file_name(n);
        if !scan.names.contains(leaf) {
            scan.bytes += leaf.len();
            let (max_names, max_bytes) = (self.cfg.max_dir_names, self.cfg.max_dir_bytes);
            if scan.names.len() >= max_names || scan.bytes > max_bytes {
                return Err(ConstantError::DirTooLarge {
                    max_names,
                    max_bytes,
                });
            }
            scan.names.insert(leaf.to_vec());
        }
        Ok(kind)
    }

    /// Remembers the user and group names an entry carries and fills in those it omits.
    fn owner_names(&mut self, mut e: FileEntry) -> Result<FileEntry, ConstantError> {
        if self.ctx.flist.numeric_ids {
            return Ok(e);
        }
        let max = self.cfg.max_id_names;
        let user = remember(&mut self.user_names, e.uid, e.user_name(), max)?;
        let group = remember(&mut self.group_names, e.gid, e.group_name(), max)?;
        e.set_user_name(user);
        e.set_group_name(group);
        Ok(e)
    }
}

/// Records the name an entry carries for `id` (at most `max` ids), or recalls the one an
/// earlier entry carried; the name the entry ends up with.
fn remember(
    map: &mut std::collections::HashMap<u32, Vec<u8>>,
    id: u32,
    name: Option<&[u8]>,
    max: usize,
) -> Result<Option<Vec<u8>>, ConstantError> {
    match name {
        Some(n) => {
            if !map.contains_key(&id) && map.len() >= max {
                return Err(ConstantError::TooManyNames { max });
            }
            map.insert(id, n.to_vec());
            Ok(Some(n.to_vec()))
        }
        None => Ok(map.get(&id).cloned()),
    }
}
