//! The file-list decoder (receiver side), sans-IO: feed it bytes, it consumes whole items
//! (an entry, the end marker, an id-list record, the io_error) and never a partial one.
//!
//! Spec: RFC.md §9. Reference: rsync `recv_file_entry`, `recv_file_list` (flist.c),
//! `recv_id_list` (uidlist.c). Every length and count is checked before allocating; names
//! become [`WirePath`]s while decoding.

use super::encode::split_dev32;
use super::entry::{valid_mode, xmit, FileEntry, FileList, FlistError, FlistOptions};
use super::entry::{HardLink, MAX_NSEC, MAX_SYMLINK_LEN};
use super::ids::{decode_record, get_short_name, get_varint30, IdRecord};
use super::path::{PathBatch, WirePath, MAX_BATCH_BYTES, MAX_NAME_LEN};
use crate::wire::{DecodeError, WireReader};

/// rsync's `static` locals of `recv_file_entry` but the name (kept apart, so saving and
/// restoring them costs no allocation).
#[derive(Debug, Clone, Copy, Default)]
struct Prev {
    mode: u32,
    mtime: i64,
    uid: u32,
    gid: u32,
    rdev32: u32,
    rdev_major: u32,
    /// The hard-link device as sent (`dev + 1`).
    dev_wire: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Entries,
    Uids,
    Gids,
    IoError,
    Done,
}

/// Stateful, incremental file-list decoder.
///
/// Wire: `[flist-flags]` … `[flist-end]`, `[id-lists]` (RFC.md §9).
///
/// ```
/// use rsync_proto::flist::{FlistDecoder, FlistOptions};
/// // Protocol 31, one regular file "file" of 5 bytes, end of list.
/// let wire = b"\x18\x04file\x05\x00\x00\x7f\x00\x00\x00\xa4\x81\x00\x00\x00";
/// let mut dec = FlistDecoder::new(FlistOptions::new(31))?;
/// assert_eq!(dec.feed(&wire[..7])?, 0); // incomplete entry: nothing consumed
/// assert_eq!(dec.feed(wire)?, wire.len());
/// assert!(dec.is_done());
/// let list = dec.into_list();
/// assert_eq!(list.entries[0].name.as_bytes(), b"file");
/// assert_eq!(list.entries[0].mode, 0o100644);
/// # Ok::<(), rsync_proto::flist::FlistError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FlistDecoder {
    opts: FlistOptions,
    prev: Prev,
    /// The previous entry's name (`lastname`).
    prev_name: Vec<u8>,
    /// Scratch for the name being decoded (swapped with `prev_name` once it is accepted).
    name: Vec<u8>,
    stage: Stage,
    list: FileList,
    /// Entries decoded by the current [`Self::feed`], named `placeholder` until their names
    /// (in `names`) are given to them in one shared buffer when the call returns.
    staged: Vec<FileEntry>,
    names: PathBatch,
    placeholder: WirePath,
    failed: Option<FlistError>,
}

impl FlistDecoder {
    /// A decoder for a list received with `opts`.
    ///
    /// # Errors
    /// [`FlistError::Unsupported`] when [`FlistOptions::validate`] fails.
    pub fn new(opts: FlistOptions) -> Result<Self, FlistError> {
        opts.validate()?;
        Ok(Self {
            opts,
            prev: Prev::default(),
            prev_name: Vec::new(),
            name: Vec::new(),
            stage: Stage::Entries,
            list: FileList::default(),
            staged: Vec::new(),
            names: PathBatch::default(),
            placeholder: WirePath::dot(),
            failed: None,
        })
    }

    /// Decodes as many whole items from the start of `buf` as it holds and returns how many
    /// bytes were consumed. The caller keeps the rest and calls again with it plus more
    /// bytes. Once [`Self::is_done`], nothing more is consumed (what follows belongs to the
    /// next stage of the session).
    ///
    /// # Errors
    /// Any [`FlistError`] but `Wire(Incomplete)`. Errors are final: later calls return the
    /// same error.
    ///
    /// # Security
    /// Names are validated ([`WirePath`]), lengths bounded by 4095 bytes, the entry count
    /// by [`FlistOptions::max_entries`]; nothing is allocated beyond the bytes present.
    pub fn feed(&mut self, buf: &[u8]) -> Result<usize, FlistError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut r = WireReader::new(buf);
        let mut res = Ok(());
        while self.stage != Stage::Done {
            match self.step(&mut r) {
                Ok(()) => {}
                Err(FlistError::Wire(DecodeError::Incomplete { .. })) => break,
                Err(e) => {
                    self.failed = Some(e.clone());
                    res = Err(e);
                    break;
                }
            }
        }
        self.flush();
        res.map(|()| r.position())
    }

    /// Gives the staged entries their names (one buffer for all of them) and moves them to
    /// the list; at the end of the list, frees the spare capacity.
    fn flush(&mut self) {
        for (mut e, name) in self.staged.drain(..).zip(self.names.finish()) {
            e.name = name;
            self.list.entries.push(e);
        }
        if self.stage == Stage::Done {
            self.list.entries.shrink_to_fit();
            self.staged = Vec::new();
            self.names = PathBatch::default();
            self.prev_name = Vec::new();
            self.name = Vec::new();
        }
    }

    /// Entries decoded so far (in the list or staged).
    fn count(&self) -> usize {
        self.list.entries.len() + self.staged.len()
    }

    /// Entry `i` in wire order, in the list or staged (a staged one is still unnamed).
    fn get(&self, i: usize) -> Option<&FileEntry> {
        let n = self.list.entries.len();
        match i.checked_sub(n) {
            None => self.list.entries.get(i),
            Some(j) => self.staged.get(j),
        }
    }

    /// Whether the whole list (end marker, id lists, io_error) has been decoded.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// The entries decoded so far, in wire order.
    pub fn entries(&self) -> &[FileEntry] {
        &self.list.entries
    }

    /// The list decoded so far (complete when [`Self::is_done`]).
    pub fn into_list(self) -> FileList {
        self.list
    }

    fn after_entries(&self) -> Stage {
        if self.opts.sends_uid_list() {
            Stage::Uids
        } else {
            self.after_uids()
        }
    }

    fn after_uids(&self) -> Stage {
        if self.opts.sends_gid_list() {
            Stage::Gids
        } else {
            self.after_gids()
        }
    }

    fn after_gids(&self) -> Stage {
        if self.opts.protocol < 30 {
            Stage::IoError
        } else {
            Stage::Done
        }
    }

    /// Decodes one item; on any error the reader and the decoder are unchanged.
    fn step(&mut self, r: &mut WireReader<'_>) -> Result<(), FlistError> {
        let mut c = r.clone();
        let p = self.opts.protocol;
        match self.stage {
            Stage::Entries => {
                // [flist-flags], [flist-end]
                let flags = if self.opts.varint_flags {
                    let f = c.varint()?;
                    if f == 0 {
                        self.list.io_error = c.varint()?;
                        self.stage = self.after_entries();
                        *r = c;
                        return Ok(());
                    }
                    f as u32
                } else {
                    let mut f = u32::from(c.byte()?);
                    if f == 0 {
                        self.stage = self.after_entries();
                        *r = c;
                        return Ok(());
                    }
                    if p >= 28 && f & xmit::EXTENDED_FLAGS != 0 {
                        f |= u32::from(c.byte()?) << 8;
                        if f == xmit::EXTENDED_FLAGS | xmit::IO_ERROR_ENDLIST {
                            if !self.opts.safe_flist {
                                return Err(FlistError::UnexpectedIoErrorEnd);
                            }
                            self.list.io_error = c.varint()?;
                            self.stage = self.after_entries();
                            *r = c;
                            return Ok(());
                        }
                    }
                    f
                };
                if self.count() >= self.opts.max_entries {
                    return Err(FlistError::TooManyEntries {
                        max: self.opts.max_entries,
                    });
                }
                let mut name = std::mem::take(&mut self.name);
                let res = self.entry(&mut c, flags, &mut name);
                match res {
                    Ok((entry, prev)) => {
                        if self.names.bytes() > MAX_BATCH_BYTES - MAX_NAME_LEN {
                            self.flush();
                        }
                        // The name as sent stays the prefix source of the next one.
                        let skip = self.root_slashes(&name);
                        self.names.push_checked(&name[skip..]);
                        self.prev = prev;
                        self.name = std::mem::replace(&mut self.prev_name, name);
                        self.staged.push(entry);
                    }
                    Err(e) => {
                        self.name = name;
                        return Err(e);
                    }
                }
            }
            Stage::Uids | Stage::Gids => {
                let uids = self.stage == Stage::Uids;
                let list = if uids {
                    &self.list.uids
                } else {
                    &self.list.gids
                };
                if list.names.len() >= self.opts.max_entries {
                    return Err(FlistError::TooManyEntries {
                        max: self.opts.max_entries,
                    });
                }
                let rec = decode_record(&mut c, p, self.opts.id0_names)?;
                let list = if uids {
                    &mut self.list.uids
                } else {
                    &mut self.list.gids
                };
                match rec {
                    IdRecord::Name(id, name) => list.names.push((id, name)),
                    IdRecord::End(id0) => {
                        list.id0_name = id0;
                        self.stage = if uids {
                            self.after_uids()
                        } else {
                            self.after_gids()
                        };
                    }
                }
            }
            Stage::IoError => {
                self.list.io_error = c.int()?;
                self.stage = Stage::Done;
            }
            Stage::Done => {}
        }
        *r = c;
        Ok(())
    }

    /// How many leading `/` of `name` the receiver drops: all of them under `-R`
    /// ([`FlistOptions::relative`]; rsync flist.c `flist_sort_and_clean` with `strip_root`),
    /// none otherwise (the name is then refused as absolute).
    fn root_slashes(&self, name: &[u8]) -> usize {
        if self.opts.relative {
            name.iter().take_while(|&&b| b == b'/').count()
        } else {
            0
        }
    }

    /// One entry after its flags word; its name is left in `name`, checked, and the entry
    /// is named with the placeholder.
    fn entry(
        &self,
        c: &mut WireReader<'_>,
        x: u32,
        name: &mut Vec<u8>,
    ) -> Result<(FileEntry, Prev), FlistError> {
        let o = &self.opts;
        let p = o.protocol;
        let index = self.count();
        let mut st = self.prev;
        let prev_name = &self.prev_name;
        let range = |field, value: i64| FlistError::OutOfRange {
            index,
            field,
            value,
        };

        // [flist-name]
        let l1 = if x & xmit::SAME_NAME != 0 {
            usize::from(c.byte()?)
        } else {
            0
        };
        let l2 = if x & xmit::LONG_NAME != 0 {
            i64::from(get_varint30(c, p)?)
        } else {
            i64::from(c.byte()?)
        };
        if l1 > prev_name.len() {
            return Err(FlistError::BadPrefix {
                index,
                prefix: l1,
                prev: prev_name.len(),
            });
        }
        let total = l1 as i64 + l2;
        if l2 < 0 || total > MAX_NAME_LEN as i64 {
            return Err(FlistError::NameTooLong {
                index,
                len: total,
                max: MAX_NAME_LEN,
            });
        }
        let suffix = c.bytes(l2 as usize)?;
        name.clear();
        name.extend_from_slice(prev_name.get(..l1).unwrap_or_default());
        name.extend_from_slice(suffix);
        WirePath::check(&name[self.root_slashes(name)..])
            .map_err(|source| FlistError::BadName { index, source })?;
        let path = self.placeholder.clone();

        // [flist-hlink], protocol ≥ 30: a follower may end here.
        let mut follower = None;
        if p >= 30 && x & (xmit::HLINKED | xmit::HLINK_FIRST) == xmit::HLINKED {
            let first = c.varint()?;
            let limit = i64::from(o.ndx_start) + index as i64;
            if first < 0 || i64::from(first) >= limit {
                return Err(FlistError::HardLinkOutOfRange {
                    index,
                    first,
                    limit,
                });
            }
            if first >= o.ndx_start {
                let src = usize::try_from(first - o.ndx_start)
                    .ok()
                    .and_then(|i| self.get(i))
                    .ok_or(FlistError::HardLinkOutOfRange {
                        index,
                        first,
                        limit,
                    })?;
                let mut e = FileEntry::new(path, src.mode);
                e.set_size(src.size());
                e.set_mtime(src.mtime());
                e.mtime_nsec = src.mtime_nsec;
                st.mode = src.mode;
                st.mtime = src.mtime();
                if o.preserve_uid {
                    e.uid = src.uid;
                    st.uid = src.uid;
                }
                if o.preserve_gid {
                    e.gid = src.gid;
                    st.gid = src.gid;
                }
                if o.preserve_devices && src.is_device() {
                    e.set_rdev(src.rdev_major(), src.rdev_minor());
                    st.rdev_major = src.rdev_major();
                }
                if o.preserve_links && src.is_symlink() {
                    e.set_symlink(src.symlink().map(<[u8]>::to_vec));
                }
                if o.checksum_len > 0 && src.is_regular() {
                    e.set_checksum(src.checksum().map(<[u8]>::to_vec));
                }
                if o.preserve_hard_links {
                    e.set_hardlink(Some(HardLink::Follower { first }));
                }
                return Ok((e, st));
            }
            follower = Some(first);
        }

        // [flist-size], [flist-mtime], [flist-mode]
        let size = if p >= 30 { c.varlong(3)? } else { c.longint()? };
        if x & xmit::SAME_TIME == 0 {
            st.mtime = if p >= 30 {
                c.varlong(4)?
            } else {
                i64::from(c.int()? as u32)
            };
        }
        let nsec = if x & xmit::MOD_NSEC != 0 {
            let n = c.varint()?;
            if !(0..=MAX_NSEC as i32).contains(&n) {
                return Err(range("mtime nanoseconds", i64::from(n)));
            }
            n as u32
        } else {
            0
        };
        if x & xmit::SAME_MODE == 0 {
            st.mode = c.int()? as u32;
        }
        if !valid_mode(o, st.mode) {
            return Err(FlistError::BadMode {
                index,
                mode: st.mode,
            });
        }
        let mut e = FileEntry::new(path, st.mode);
        e.set_size(u64::try_from(size).map_err(|_| range("size", size))?);
        e.set_mtime(st.mtime);
        e.mtime_nsec = nsec;
        if e.is_dir() {
            e.set_top_dir(x & xmit::TOP_DIR != 0);
            e.set_no_content_dir(p >= 30 && x & xmit::NO_CONTENT_DIR != 0);
        }

        // [flist-ids]
        if o.preserve_uid {
            if x & xmit::SAME_UID == 0 {
                st.uid = get_varint30(c, p)? as u32;
                if p >= 30 && x & xmit::USER_NAME_FOLLOWS != 0 {
                    e.set_user_name(Some(get_short_name(c)?));
                }
            }
            e.uid = st.uid;
        }
        if o.preserve_gid {
            if x & xmit::SAME_GID == 0 {
                st.gid = get_varint30(c, p)? as u32;
                if p >= 30 && x & xmit::GROUP_NAME_FOLLOWS != 0 {
                    e.set_group_name(Some(get_short_name(c)?));
                }
            }
            e.gid = st.gid;
        }

        // [flist-rdev]
        let device = o.preserve_devices && e.is_device();
        if device || (o.preserve_specials && e.is_special() && p < 31) {
            let (major, minor) = if p < 28 {
                if x & xmit::SAME_RDEV_PRE28 == 0 {
                    st.rdev32 = c.int()? as u32;
                }
                split_dev32(st.rdev32)
            } else {
                if x & xmit::SAME_RDEV_MAJOR == 0 {
                    st.rdev_major = get_varint30(c, p)? as u32;
                }
                let minor = if p >= 30 {
                    c.varint()? as u32
                } else if x & xmit::RDEV_MINOR_8_PRE30 != 0 {
                    u32::from(c.byte()?)
                } else {
                    c.int()? as u32
                };
                (st.rdev_major, minor)
            };
            if device {
                e.set_rdev(major, minor);
            }
            e.set_size(0);
        } else if e.is_device() {
            e.set_size(0);
        } else if p < 28 {
            st.rdev32 = 0;
        }

        // [flist-symlink]
        if o.preserve_links && e.is_symlink() {
            let len = i64::from(get_varint30(c, p)?);
            if !(0..=MAX_SYMLINK_LEN as i64).contains(&len) {
                return Err(FlistError::SymlinkTooLong {
                    index,
                    len,
                    max: MAX_SYMLINK_LEN,
                });
            }
            e.set_symlink(Some(c.bytes(len as usize)?.to_vec()));
        }

        // [flist-hlink]
        if o.preserve_hard_links {
            if p >= 30 {
                if x & xmit::HLINKED != 0 {
                    e.set_hardlink(Some(match follower {
                        Some(first) => HardLink::Follower { first },
                        None => HardLink::First,
                    }));
                }
            } else if (p >= 28 && x & xmit::HLINKED != 0) || (p < 28 && e.is_regular()) {
                if p < 28 || x & xmit::SAME_DEV_PRE30 == 0 {
                    st.dev_wire = c.longint()?;
                }
                let ino = c.longint()?;
                e.set_hardlink(Some(HardLink::DevIno {
                    dev: st.dev_wire.wrapping_sub(1),
                    ino,
                }));
            }
        }

        // [flist-checksum]
        if o.checksum_len > 0 && (e.is_regular() || p < 28) {
            let sum = c.bytes(o.checksum_len)?;
            if e.is_regular() {
                e.set_checksum(Some(sum.to_vec()));
            }
        }
        Ok((e, st))
    }
}

/// Decodes a whole list from `buf`; returns it and the bytes consumed.
///
/// # Errors
/// As [`FlistDecoder::feed`], plus `Wire(Incomplete)` when `buf` ends before the list does.
pub fn decode_file_list(opts: &FlistOptions, buf: &[u8]) -> Result<(FileList, usize), FlistError> {
    let mut dec = FlistDecoder::new(opts.clone())?;
    let used = dec.feed(buf)?;
    if !dec.is_done() {
        return Err(FlistError::Wire(DecodeError::Incomplete {
            what: "file list",
            needed: 1,
        }));
    }
    Ok((dec.into_list(), used))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::flist::PathError;

    /// Protocol 31: the directory `/tmp`, then `/tmp/a` sharing its first 4 bytes, as a stock
    /// sender lists `-R /tmp/a`.
    const ABSOLUTE: &[u8] = b"\x18\x04/tmp\x05\x00\x00\x7f\x00\x00\x00\xed\x41\x00\x00\
        \x38\x04\x02/a\x05\x00\x00\x7f\x00\x00\x00\xa4\x81\x00\x00\x00";

    #[test]
    fn relative_names_lose_their_leading_slashes_and_stay_the_prefix_source() {
        let mut o = FlistOptions::new(31);
        o.relative = true;
        let mut dec = FlistDecoder::new(o).unwrap();
        assert_eq!(dec.feed(ABSOLUTE).unwrap(), ABSOLUTE.len());
        assert!(dec.is_done());
        let list = dec.into_list();
        let names: Vec<&[u8]> = list.entries.iter().map(|e| e.name.as_bytes()).collect();
        assert_eq!(names, [&b"tmp"[..], b"tmp/a"]);
    }

    #[test]
    fn without_relative_an_absolute_name_is_refused() {
        let mut dec = FlistDecoder::new(FlistOptions::new(31)).unwrap();
        assert!(matches!(
            dec.feed(ABSOLUTE),
            Err(FlistError::BadName {
                index: 0,
                source: PathError::Absolute
            })
        ));
        // Under -R, a name of slashes only is empty once they are gone.
        let mut o = FlistOptions::new(31);
        o.relative = true;
        let mut dec = FlistDecoder::new(o).unwrap();
        let root = b"\x18\x01/\x05\x00\x00\x7f\x00\x00\x00\xed\x41\x00\x00\x00";
        assert!(matches!(
            dec.feed(root),
            Err(FlistError::BadName {
                index: 0,
                source: PathError::Empty
            })
        ));
    }
}
