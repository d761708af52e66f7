//! The file-list encoder (sender side): flags with "same as previous entry" compression,
//! then the entry's fields, then the end marker, id lists and io_error.
//!
//! Spec: RFC.md §9 `[flist-flags]` … `[flist-end]`, `[id-lists]`. Reference: rsync
//! `send_file_entry`, `write_end_of_flist` (flist.c), `send_id_lists` (uidlist.c).

use super::entry::{valid_mode, MAX_NSEC, MAX_SYMLINK_LEN};
use super::entry::{xmit, FileEntry, FileList, FlistError, FlistOptions, HardLink};
use super::ids::{encode_list, put_varint30, IdList};
use crate::wire::WireWrite;

/// The values the next entry is compared with (rsync's `static` locals) but the name. Both
/// coders start from zero, as rsync does.
#[derive(Debug, Clone, Copy, Default)]
struct Prev {
    mode: u32,
    mtime: i64,
    uid: u32,
    gid: u32,
    rdev32: u32,
    rdev_major: u32,
    dev: i64,
}

/// Protocol < 28 sends a device number as one 32-bit `dev_t` (Linux/glibc layout).
pub(crate) fn makedev32(major: u32, minor: u32) -> Option<u32> {
    if major > 0xfff || minor > 0xf_ffff {
        return None;
    }
    Some((minor & 0xff) | (major << 8) | ((minor & !0xff) << 12))
}

/// Splits a 32-bit Linux `dev_t` into major and minor.
pub(crate) fn split_dev32(d: u32) -> (u32, u32) {
    ((d >> 8) & 0xfff, (d & 0xff) | ((d >> 12) & 0xf_ff00))
}

/// Stateful file-list encoder; one per list sent.
///
/// Wire: `[flist-flags]`, `[flist-name]`, `[flist-size]`, `[flist-mtime]`, `[flist-mode]`,
/// `[flist-ids]`, `[flist-rdev]`, `[flist-symlink]`, `[flist-hlink]`, `[flist-checksum]`,
/// `[flist-end]`, `[id-lists]` (RFC.md §9). The flags chosen are exactly rsync's, so a list
/// decoded from rsync re-encodes to the same bytes.
#[derive(Debug, Clone)]
pub struct FlistEncoder {
    opts: FlistOptions,
    prev: Prev,
    /// The previous entry's name (`lastname`).
    prev_name: Vec<u8>,
    sent: usize,
}

impl FlistEncoder {
    /// An encoder for a list sent with `opts`.
    ///
    /// # Errors
    /// [`FlistError::Unsupported`] when [`FlistOptions::validate`] fails.
    pub fn new(opts: FlistOptions) -> Result<Self, FlistError> {
        opts.validate()?;
        Ok(Self {
            opts,
            prev: Prev::default(),
            prev_name: Vec::new(),
            sent: 0,
        })
    }

    /// Entries encoded so far.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// Appends one entry to `out`. Fields the options do not carry are ignored, as are
    /// `user_name`/`group_name` without incremental recursion (protocol ≥ 30).
    ///
    /// # Errors
    /// [`FlistError::Unencodable`] when the entry cannot be expressed at this protocol
    /// (mtime outside 32 bits below 30, nanoseconds above 999,999,999, a symlink without a
    /// target or with one over 4095 bytes, a missing or wrong-length checksum, hard-link
    /// information of the wrong kind, a name over 255 bytes, an invalid file type, mode 0
    /// without [`FlistOptions::delete_missing_args`]). On error nothing is written and the
    /// encoder is unchanged.
    pub fn encode_entry(&mut self, e: &FileEntry, out: &mut Vec<u8>) -> Result<(), FlistError> {
        let start = out.len();
        let res = self.entry(e, out);
        if res.is_err() {
            out.truncate(start);
        }
        res
    }

    fn entry(&mut self, e: &FileEntry, w: &mut Vec<u8>) -> Result<(), FlistError> {
        let o = &self.opts;
        let p = o.protocol;
        let index = self.sent;
        let unenc = |what| FlistError::Unencodable { index, what };
        let bad = |what| Err(unenc(what));
        if !valid_mode(o, e.mode) {
            return bad("invalid file type");
        }
        if p < 30 && !(0..=i64::from(u32::MAX)).contains(&e.mtime()) {
            return bad("mtime outside 0..=u32::MAX below protocol 30");
        }
        if e.mtime_nsec > MAX_NSEC {
            return bad("mtime nanoseconds above 999999999");
        }
        let size = i64::try_from(e.size()).map_err(|_| unenc("size above i64::MAX"))?;
        let mut st = self.prev;
        let first_entry = self.prev_name.is_empty();

        let mut x = if e.is_dir() {
            match (p >= 30, e.top_dir(), e.no_content_dir()) {
                (true, true, true) => xmit::TOP_DIR | xmit::NO_CONTENT_DIR,
                (true, false, true) => xmit::NO_CONTENT_DIR,
                (_, top, _) => u32::from(top) * xmit::TOP_DIR,
            }
        } else {
            0
        };
        if e.mode == st.mode {
            x |= xmit::SAME_MODE;
        } else {
            st.mode = e.mode;
        }

        // [flist-rdev]: which rdev, if any, is sent, and its flags.
        let (rdev_sent, rdev_minor) = if o.preserve_devices && e.is_device() {
            let (major, minor) = (e.rdev_major(), e.rdev_minor());
            if p < 28 {
                let Some(d) = makedev32(major, minor) else {
                    return bad("rdev does not fit 32 bits below protocol 28");
                };
                if d == st.rdev32 {
                    x |= xmit::SAME_RDEV_PRE28;
                } else {
                    st.rdev32 = d;
                }
            } else {
                if major == st.rdev_major {
                    x |= xmit::SAME_RDEV_MAJOR;
                } else {
                    st.rdev_major = major;
                }
                if p < 30 && minor <= 0xff {
                    x |= xmit::RDEV_MINOR_8_PRE30;
                }
            }
            (true, minor)
        } else if o.preserve_specials && e.is_special() && p < 31 {
            if p < 28 {
                x |= xmit::SAME_RDEV_PRE28;
            } else {
                x |= xmit::SAME_RDEV_MAJOR;
                if p < 30 {
                    x |= xmit::RDEV_MINOR_8_PRE30;
                }
            }
            (true, 0)
        } else {
            if p < 28 {
                st.rdev32 = 0;
            }
            (false, 0)
        };

        // [flist-ids]
        let mut user_name = None;
        if !o.preserve_uid || (e.uid == st.uid && !first_entry) {
            x |= xmit::SAME_UID;
        } else {
            st.uid = e.uid;
            if p >= 30 && o.inc_recurse && !o.numeric_ids {
                if let Some(n) = e.user_name() {
                    x |= xmit::USER_NAME_FOLLOWS;
                    user_name = Some(n);
                }
            }
        }
        let mut group_name = None;
        if !o.preserve_gid || (e.gid == st.gid && !first_entry) {
            x |= xmit::SAME_GID;
        } else {
            st.gid = e.gid;
            if p >= 30 && o.inc_recurse && !o.numeric_ids {
                if let Some(n) = e.group_name() {
                    x |= xmit::GROUP_NAME_FOLLOWS;
                    group_name = Some(n);
                }
            }
        }
        for n in [user_name, group_name].into_iter().flatten() {
            if n.len() > 255 {
                return bad("user or group name longer than 255 bytes");
            }
        }

        if e.mtime() == st.mtime {
            x |= xmit::SAME_TIME;
        } else {
            st.mtime = e.mtime();
        }
        if e.mtime_nsec != 0 && p >= 31 {
            x |= xmit::MOD_NSEC;
        }

        // [flist-hlink]: flags and what follows.
        let mut first_hlink = None;
        let mut dev_ino = None;
        if o.preserve_hard_links {
            match (e.hardlink(), p) {
                (Some(HardLink::First), 30..) => x |= xmit::HLINKED | xmit::HLINK_FIRST,
                (Some(HardLink::Follower { first }), 30..) => {
                    let limit = i64::from(o.ndx_start) + self.sent as i64;
                    if first < 0 || i64::from(first) >= limit {
                        return bad("hard-link reference to an entry not sent yet");
                    }
                    x |= xmit::HLINKED;
                    first_hlink = Some(first);
                }
                (None, 30..) => {}
                (Some(HardLink::DevIno { dev, ino }), 28..=29) => {
                    x |= xmit::HLINKED;
                    if dev == st.dev {
                        x |= xmit::SAME_DEV_PRE30;
                    } else {
                        st.dev = dev;
                    }
                    dev_ino = Some((dev, ino, x & xmit::SAME_DEV_PRE30 == 0));
                }
                (None, 28..=29) => {}
                (Some(HardLink::DevIno { dev, ino }), _) if e.is_regular() => {
                    dev_ino = Some((dev, ino, true));
                }
                (_, _) if p < 28 && !e.is_regular() => {}
                (None, _) => return bad("protocol < 28 with -H needs dev/ino for every file"),
                (Some(_), _) => return bad("hard-link information of the wrong protocol"),
            }
        }

        // [flist-name]
        let name = e.name.as_bytes();
        let l1 = name
            .iter()
            .zip(&self.prev_name)
            .take(255)
            .take_while(|(a, b)| a == b)
            .count();
        let l2 = name.len() - l1;
        if l1 > 0 {
            x |= xmit::SAME_NAME;
        }
        if l2 > 255 {
            x |= xmit::LONG_NAME;
        }

        // [flist-flags]: never 0, which would end the list.
        if o.varint_flags {
            w.put_varint((if x == 0 { xmit::EXTENDED_FLAGS } else { x }) as i32);
        } else if p >= 28 {
            if x == 0 && !e.is_dir() {
                x |= xmit::TOP_DIR;
            }
            if x & 0xff00 != 0 || x == 0 {
                x |= xmit::EXTENDED_FLAGS;
                w.put_shortint(x as u16);
            } else {
                w.push(x as u8);
            }
        } else {
            if x & 0xff == 0 {
                x |= if e.is_dir() {
                    xmit::LONG_NAME
                } else {
                    xmit::TOP_DIR
                };
            }
            w.push(x as u8);
        }
        if x & xmit::SAME_NAME != 0 {
            w.push(l1 as u8);
        }
        if x & xmit::LONG_NAME != 0 {
            put_varint30(w, p, l2 as i32);
        } else {
            w.push(l2 as u8);
        }
        w.extend_from_slice(&name[l1..]);

        if let Some(first) = first_hlink {
            w.put_varint(first);
            if first >= o.ndx_start {
                self.commit(st, name);
                return Ok(());
            }
        }

        // [flist-size], [flist-mtime], [flist-mode]
        if p >= 30 {
            w.put_varlong(size, 3);
        } else {
            w.put_longint(size);
        }
        if x & xmit::SAME_TIME == 0 {
            if p >= 30 {
                w.put_varlong(e.mtime(), 4);
            } else {
                w.put_int(e.mtime() as u32 as i32);
            }
        }
        if x & xmit::MOD_NSEC != 0 {
            w.put_varint(e.mtime_nsec as i32);
        }
        if x & xmit::SAME_MODE == 0 {
            w.put_int(e.mode as i32);
        }
        // [flist-ids]
        if o.preserve_uid && x & xmit::SAME_UID == 0 {
            put_varint30(w, p, e.uid as i32);
            if let Some(n) = user_name {
                w.push(n.len() as u8);
                w.extend_from_slice(n);
            }
        }
        if o.preserve_gid && x & xmit::SAME_GID == 0 {
            put_varint30(w, p, e.gid as i32);
            if let Some(n) = group_name {
                w.push(n.len() as u8);
                w.extend_from_slice(n);
            }
        }
        // [flist-rdev]
        if rdev_sent {
            if p < 28 {
                if x & xmit::SAME_RDEV_PRE28 == 0 {
                    w.put_int(st.rdev32 as i32);
                }
            } else {
                if x & xmit::SAME_RDEV_MAJOR == 0 {
                    put_varint30(w, p, st.rdev_major as i32);
                }
                if p >= 30 {
                    w.put_varint(rdev_minor as i32);
                } else if x & xmit::RDEV_MINOR_8_PRE30 != 0 {
                    w.push(rdev_minor as u8);
                } else {
                    w.put_int(rdev_minor as i32);
                }
            }
        }
        // [flist-symlink]
        if o.preserve_links && e.is_symlink() {
            let Some(target) = e.symlink() else {
                return bad("symlink without a target");
            };
            if target.len() > MAX_SYMLINK_LEN {
                return bad("symlink target longer than 4095 bytes");
            }
            put_varint30(w, p, target.len() as i32);
            w.extend_from_slice(target);
        }
        // [flist-hlink], protocol < 30
        if let Some((dev, ino, send_dev)) = dev_ino {
            if send_dev {
                w.put_longint(dev.wrapping_add(1));
            }
            w.put_longint(ino);
        }
        // [flist-checksum]
        if o.checksum_len > 0 && (e.is_regular() || p < 28) {
            if e.is_regular() {
                match e.checksum() {
                    Some(sum) if sum.len() == o.checksum_len => w.extend_from_slice(sum),
                    _ => return bad("missing or wrong-length -c checksum"),
                }
            } else {
                w.resize(w.len() + o.checksum_len, 0);
            }
        }
        self.commit(st, name);
        Ok(())
    }

    fn commit(&mut self, st: Prev, name: &[u8]) {
        self.prev_name.clear();
        self.prev_name.extend_from_slice(name);
        self.prev = st;
        self.sent += 1;
    }

    /// Appends the end marker, the uid and gid lists when the options call for them, and
    /// (protocol < 30) the trailing io_error. Without varint flags at protocol ≥ 30 a
    /// non-zero `io_error` is sent only with a safe file list (rsync sends it as
    /// MSG_IO_ERROR otherwise).
    ///
    /// Wire: `[flist-end]`, `[id-lists]`.
    ///
    /// # Errors
    /// [`FlistError::Unencodable`] for an id list with id 0 or a name over 255 bytes; nothing
    /// is written then.
    pub fn finish(
        &mut self,
        io_error: i32,
        uids: &IdList,
        gids: &IdList,
        out: &mut Vec<u8>,
    ) -> Result<(), FlistError> {
        let o = &self.opts;
        let p = o.protocol;
        let mut w = Vec::new();
        if o.varint_flags {
            w.put_varint(0);
            w.put_varint(io_error);
        } else if p >= 30 && io_error != 0 && o.safe_flist {
            w.put_shortint((xmit::EXTENDED_FLAGS | xmit::IO_ERROR_ENDLIST) as u16);
            w.put_varint(io_error);
        } else {
            w.push(0);
        }
        if o.sends_uid_list() {
            encode_list(uids, p, o.id0_names, &mut w)?;
        }
        if o.sends_gid_list() {
            encode_list(gids, p, o.id0_names, &mut w)?;
        }
        if p < 30 {
            w.put_int(io_error);
        }
        out.extend_from_slice(&w);
        Ok(())
    }
}

/// Encodes a whole list: every entry, then [`FlistEncoder::finish`].
///
/// # Errors
/// As [`FlistEncoder::new`], [`FlistEncoder::encode_entry`] and [`FlistEncoder::finish`].
pub fn encode_file_list(opts: &FlistOptions, list: &FileList) -> Result<Vec<u8>, FlistError> {
    let mut enc = FlistEncoder::new(opts.clone())?;
    let mut out = Vec::new();
    for e in &list.entries {
        enc.encode_entry(e, &mut out)?;
    }
    enc.finish(list.io_error, &list.uids, &list.gids, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flist::{mode, WirePath};

    fn entry(name: &str, m: u32, size: u64, mtime: i64) -> FileEntry {
        let mut e = FileEntry::new(WirePath::try_from(name).unwrap(), m);
        e.set_size(size);
        e.set_mtime(mtime);
        e
    }

    #[test]
    fn notes_appendix_a_protocol_27() {
        // rsync-protocol.md Appendix A: pull at protocol 27 of ".", "link" (-l), uid/gid 0.
        let opts = FlistOptions::new(27).archive();
        let mut dot = entry(".", mode::S_IFDIR | 0o755, 4096, 0x6b01_f4e3);
        dot.set_top_dir(true);
        let mut link = entry("link", mode::S_IFLNK | 0o777, 5, 0x6b01_f4e3);
        link.set_symlink(Some(b"a.txt".to_vec()));
        let mut enc = FlistEncoder::new(opts).unwrap();
        let mut out = Vec::new();
        enc.encode_entry(&dot, &mut out).unwrap();
        enc.encode_entry(&link, &mut out).unwrap();
        let want: &[u8] = b"\x01\x01.\x00\x10\x00\x00\xe3\xf4\x01\x6b\xed\x41\x00\x00\
            \x00\x00\x00\x00\x00\x00\x00\x00\
            \x98\x04link\x05\x00\x00\x00\xff\xa1\x00\x00\x05\x00\x00\x00a.txt";
        assert_eq!(out, want);
    }

    #[test]
    fn zero_flags_are_avoided() {
        // A first entry with uid/gid sent and no shared name, mode or time has flags 0.
        let mut f = entry("f", mode::S_IFREG | 0o644, 0, 1);
        f.uid = 1;
        f.gid = 1;
        let mut d = f.clone();
        d.mode = mode::S_IFDIR | 0o755;
        for (p, varint, e, want) in [
            (27, false, &f, &b"\x01\x01f"[..]),
            (27, false, &d, &b"\x40\x01\x00\x00\x00f"[..]),
            (29, false, &f, &b"\x01\x01f"[..]),
            (29, false, &d, &b"\x04\x00\x01f"[..]),
            (31, true, &f, &b"\x04\x01f"[..]),
            (31, true, &d, &b"\x04\x01f"[..]),
        ] {
            let mut o = FlistOptions::new(p);
            o.varint_flags = varint;
            o.preserve_uid = true;
            o.preserve_gid = true;
            let mut out = Vec::new();
            FlistEncoder::new(o)
                .unwrap()
                .encode_entry(e, &mut out)
                .unwrap();
            assert_eq!(&out[..want.len()], want, "protocol {p}, dir {}", e.is_dir());
        }
    }

    #[test]
    fn rdev_layout_per_protocol() {
        // Minor 255 still fits the protocol 28-29 one-byte form; 256 does not.
        let mut d = entry("null", mode::S_IFCHR | 0o666, 0, 1);
        for (p, minor, want) in [
            (29, 255, &b"\x08\x00\x00\x00\xff"[..]),
            (29, 256, &b"\x08\x00\x00\x00\x00\x01\x00\x00"[..]),
            (27, 256, &b"\x00\x08\x10\x00"[..]),
            (30, 256, &b"\x08\x81\x00"[..]),
        ] {
            d.set_rdev(8, minor);
            let mut o = FlistOptions::new(p);
            o.preserve_devices = true;
            let mut out = Vec::new();
            FlistEncoder::new(o)
                .unwrap()
                .encode_entry(&d, &mut out)
                .unwrap();
            assert!(
                out.ends_with(want),
                "protocol {p} minor {minor}: {out:02x?}"
            );
            let minor8 = p >= 28 && out[0] & 0x04 != 0 && out[1] & 0x08 != 0;
            assert_eq!(minor8, p < 30 && minor <= 255, "protocol {p} minor {minor}");
        }
    }
}
