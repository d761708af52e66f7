//! Hard-link groups on the receiving side (`-H`): which entries share an inode, which one
//! is transferred, and who waits for it.
//!
//! Reference: rsync `match_hard_links`/`match_gnums`, `hard_link_check`, `check_prior`,
//! `finish_hard_link`, `skip_hard_link` (hlink.c), without incremental recursion. Entries
//! are identified by their index in the sorted list; a group is the set of entries with
//! the same group number (the sender's index of the group's first entry from protocol 30,
//! the (dev, ino) pair before).

use std::collections::HashMap;

use crate::flist::{FileEntry, HardLink};

/// `FLAG_HLINK_FIRST`: the first of its group (after the group is done: its leader).
const FIRST: u8 = 1 << 0;
/// `FLAG_HLINK_LAST`: the last of its group.
const LAST: u8 = 1 << 1;
/// `FLAG_HLINK_DONE`: linked (or the leader, in place).
const DONE: u8 = 1 << 2;
/// `FLAG_FILE_SENT`: being transferred, or waiting for a member that is.
const SENT: u8 = 1 << 3;
/// `FLAG_SKIP_HLINK`: skipped (the sender could not send it).
const SKIP: u8 = 1 << 4;
/// `FLAG_HLINKED`: member of a group of two or more.
const LINKED: u8 = 1 << 5;

/// What [`Hlinks::check`] decided for a follower (`hard_link_check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// Process it as a normal item (no finished member to link to yet).
    Process,
    /// It waits for a member being transferred; nothing to do now.
    Wait,
    /// Link it to this finished leader.
    Link(i32),
}

/// The hard-link state of every entry of the sorted list.
#[derive(Debug, Default)]
pub(super) struct Hlinks {
    flags: Vec<u8>,
    prev: Vec<i32>,
}

/// The group number of each hard-linked entry of a list in wire order (`F_HL_GNUM`),
/// keyed by name (names are unique among the entries the sort keeps).
pub(super) fn group_numbers(wire: &[FileEntry], ndx_start: i32) -> HashMap<Vec<u8>, i64> {
    let mut gnums = HashMap::new();
    let mut devino: HashMap<(i64, i64), i64> = HashMap::new();
    for (i, e) in wire.iter().enumerate() {
        if e.is_dir() {
            continue;
        }
        let g = match e.hardlink() {
            Some(HardLink::First) => i64::from(ndx_start) + i as i64,
            Some(HardLink::Follower { first }) => i64::from(first),
            Some(HardLink::DevIno { dev, ino }) => {
                let next = devino.len() as i64;
                *devino.entry((dev, ino)).or_insert(next)
            }
            _ => continue,
        };
        gnums.entry(e.name.as_bytes().to_vec()).or_insert(g);
    }
    gnums
}

impl Hlinks {
    /// hlink.c `match_hard_links`: groups the sorted `list` by `gnums`; a group of one is
    /// not linked.
    pub(super) fn new(list: &[Option<FileEntry>], gnums: &HashMap<Vec<u8>, i64>) -> Self {
        let n = list.len();
        let mut h = Self {
            flags: vec![0; n],
            prev: vec![-1; n],
        };
        let mut members: Vec<(i64, usize)> = list
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let e = e.as_ref().filter(|e| !e.is_dir())?;
                gnums.get(e.name.as_bytes()).map(|&g| (g, i))
            })
            .collect();
        members.sort_unstable();
        for group in members.chunk_by(|a, b| a.0 == b.0) {
            if group.len() < 2 {
                continue;
            }
            let mut prev = -1;
            for &(_, i) in group {
                h.flags[i] = LINKED;
                h.prev[i] = prev;
                prev = i as i32;
            }
            if let (Some(&(_, f)), Some(&(_, l))) = (group.first(), group.last()) {
                h.flags[f] |= FIRST;
                h.flags[l] |= LAST;
            }
        }
        h
    }

    fn get(&self, ndx: i32) -> u8 {
        usize::try_from(ndx)
            .ok()
            .and_then(|i| self.flags.get(i))
            .copied()
            .unwrap_or(0)
    }

    fn set(&mut self, ndx: i32, f: impl FnOnce(u8) -> u8) {
        if let Some(x) = usize::try_from(ndx)
            .ok()
            .and_then(|i| self.flags.get_mut(i))
        {
            *x = f(*x);
        }
    }

    fn prev_of(&self, ndx: i32) -> i32 {
        usize::try_from(ndx)
            .ok()
            .and_then(|i| self.prev.get(i))
            .copied()
            .unwrap_or(-1)
    }

    fn set_prev(&mut self, ndx: i32, p: i32) {
        if let Some(x) = usize::try_from(ndx).ok().and_then(|i| self.prev.get_mut(i)) {
            *x = p;
        }
    }

    /// `F_IS_HLINKED`.
    pub(super) fn linked(&self, ndx: i32) -> bool {
        self.get(ndx) & LINKED != 0
    }

    /// `F_HLINK_NOT_FIRST`.
    pub(super) fn not_first(&self, ndx: i32) -> bool {
        self.get(ndx) & (LINKED | FIRST) == LINKED
    }

    /// `F_HLINK_NOT_LAST`.
    pub(super) fn not_last(&self, ndx: i32) -> bool {
        self.get(ndx) & (LINKED | LAST) == LINKED
    }

    /// Marks an item being transferred (`FLAG_FILE_SENT`).
    pub(super) fn mark_sent(&mut self, ndx: i32) {
        if self.linked(ndx) {
            self.set(ndx, |x| x | SENT);
        }
    }

    /// `check_prior`: the nearest earlier member that was not skipped.
    fn prior(&mut self, ndx: i32) -> Option<i32> {
        let mut p = self.prev_of(ndx);
        let mut guard = self.prev.len();
        while p >= 0 && guard > 0 {
            if self.get(p) & SKIP == 0 {
                return Some(p);
            }
            p = self.prev_of(p);
            self.set_prev(ndx, p);
            guard -= 1;
        }
        None
    }

    /// `hard_link_check` for a follower (`not_first`).
    pub(super) fn check(&mut self, ndx: i32) -> Check {
        let Some(p) = self.prior(ndx) else {
            return Check::Process;
        };
        let pf = self.get(p);
        if pf & DONE == 0 {
            if pf & SENT != 0 {
                // Wait for p's transfer: join the chain after it.
                let after = self.prev_of(p);
                self.set_prev(ndx, after);
                self.set_prev(p, ndx);
                self.set(ndx, |x| x | SENT);
                return Check::Wait;
            }
            return Check::Process;
        }
        let leader = if pf & FIRST != 0 {
            p
        } else {
            match self.prior(p) {
                Some(l) => l,
                None => return Check::Process,
            }
        };
        self.set_prev(ndx, leader);
        // hlink.c: linked (or found linked) now.
        self.set(ndx, |x| x | DONE);
        Check::Link(leader)
    }

    /// `finish_hard_link`: `leader` is in place; returns the members waiting for it, in
    /// the order rsync links them, and marks them done.
    pub(super) fn finish(&mut self, leader: i32) -> Vec<i32> {
        self.set(leader, |x| x | FIRST | DONE);
        let mut chain = self.prev_of(leader);
        self.set_prev(leader, -1);
        let mut out = Vec::new();
        while chain >= 0 && out.len() < self.prev.len() {
            self.set(chain, |x| (x & !FIRST) | DONE);
            let next = self.prev_of(chain);
            self.set_prev(chain, leader);
            out.push(chain);
            chain = next;
        }
        out
    }

    /// Whether `finish` would link anything (rsync then stats the leader first).
    pub(super) fn has_waiters(&self, leader: i32) -> bool {
        self.prev_of(leader) >= 0
    }

    /// `skip_hard_link` for a member the sender could not send: returns a member to process
    /// again as the group's new last one, if any.
    pub(super) fn skip(&mut self, ndx: i32) -> Option<i32> {
        self.set(ndx, |x| x | SKIP);
        if self.get(ndx) & LAST == 0 {
            return None;
        }
        let p = self.prior(ndx)?;
        if self.get(p) & (DONE | SENT) != 0 {
            return None;
        }
        self.set(p, |x| x | LAST);
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flist::{mode, WirePath};

    fn e(name: &str, hl: Option<HardLink>) -> FileEntry {
        let mut e = FileEntry::new(WirePath::try_from(name).expect("path"), mode::S_IFREG);
        e.set_hardlink(hl);
        e
    }

    fn setup() -> (Vec<Option<FileEntry>>, Hlinks) {
        // Wire order: a (first), b, c (followers of 0), lone (first of a group of one).
        let wire = vec![
            e("a", Some(HardLink::First)),
            e("x", None),
            e("c", Some(HardLink::Follower { first: 0 })),
            e("b", Some(HardLink::Follower { first: 0 })),
            e("lone", Some(HardLink::First)),
        ];
        let g = group_numbers(&wire, 0);
        let sorted = crate::flist::sort_file_list(wire, 31);
        let h = Hlinks::new(&sorted, &g);
        (sorted, h)
    }

    #[test]
    fn groups_and_chains() {
        let (sorted, mut h) = setup();
        let names: Vec<&str> = sorted
            .iter()
            .map(|e| std::str::from_utf8(e.as_ref().expect("e").name.as_bytes()).expect("u"))
            .collect();
        assert_eq!(names, ["a", "b", "c", "lone", "x"]);
        assert!(!h.linked(3), "a group of one is not linked");
        assert!(h.linked(0) && !h.not_first(0) && h.not_last(0));
        assert!(h.not_first(1) && h.not_first(2) && !h.not_last(2));
        // Nothing exists at the destination: a and b are skipped (not last), c is
        // transferred; a and b look for a leader (none done) and are processed normally.
        assert_eq!(h.check(1), Check::Process);
        assert_eq!(h.check(2), Check::Process);
        h.mark_sent(2);
        // When c is in place, b then a are linked to it.
        assert!(h.has_waiters(2));
        assert_eq!(h.finish(2), vec![1, 0]);
    }

    #[test]
    fn followers_wait_for_a_transferred_leader() {
        let (_, mut h) = setup();
        // a exists and is transferred; b and c wait for it, then are linked in order.
        h.mark_sent(0);
        assert_eq!(h.check(1), Check::Wait);
        assert_eq!(h.check(2), Check::Wait);
        assert_eq!(h.finish(0), vec![1, 2]);
        // A later check links to the leader directly.
        let (_, mut h2) = setup();
        assert!(!h2.has_waiters(0));
        assert!(h2.finish(0).is_empty());
        assert_eq!(h2.check(1), Check::Link(0));
        assert_eq!(h2.check(2), Check::Link(0));
    }

    #[test]
    fn a_skipped_last_member_hands_over() {
        let (_, mut h) = setup();
        assert_eq!(h.skip(2), Some(1));
        assert_eq!(h.skip(0), None);
    }
}
