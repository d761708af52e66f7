//! File-list order: both sides sort the received list, and a file index (`ndx`) is a
//! position in the sorted list. Duplicates are cleared, not removed, so indices agree.
//!
//! Spec: RFC.md §9 `[flist-sort]`. Reference: rsync `f_name_cmp`, `fsort`,
//! `flist_sort_and_clean` (flist.c).

use std::cmp::Ordering;

use super::entry::FileEntry;

/// A name as the protocol ≥ 29 order sees it: its bytes, followed by a `/` when it names a
/// directory (the transfer root `.` is empty). Every byte up to the last `/` belongs to a
/// directory component and compares after every byte of a non-directory name at the same
/// position.
struct Ordered<'a> {
    bytes: &'a [u8],
    /// The `/` a directory's name is followed by.
    slash: bool,
    /// Index of the last `/` (the virtual one included); bytes up to it are directory bytes.
    last_slash: Option<usize>,
}

impl<'a> Ordered<'a> {
    fn new(name: &'a [u8], dir: bool) -> Self {
        if dir && name == b"." {
            return Self {
                bytes: &[],
                slash: false,
                last_slash: None,
            };
        }
        let last_slash = if dir {
            Some(name.len())
        } else {
            name.iter().rposition(|&c| c == b'/')
        };
        Self {
            bytes: name,
            slash: dir,
            last_slash,
        }
    }

    fn len(&self) -> usize {
        self.bytes.len() + usize::from(self.slash)
    }

    /// The byte at `i` (the virtual `/` at the end of a directory's name).
    fn at(&self, i: usize) -> u8 {
        self.bytes.get(i).copied().unwrap_or(b'/')
    }

    /// Whether the byte at `i` belongs to a directory component.
    fn in_dir(&self, i: usize) -> bool {
        self.last_slash.is_some_and(|s| i <= s)
    }
}

/// rsync's name order for `protocol`.
///
/// - Protocol < 29: the full paths as unsigned bytes.
/// - Protocol ≥ 29: component by component; a directory compares as `name/`, a
///   non-directory sorts before every directory at the same depth, and the root `.` sorts
///   first. A directory and a non-directory with the same name are therefore different.
///
/// Equivalently (and so computed): each name with a `/` appended for a directory, every byte
/// tagged with whether it belongs to a directory component (it is at or before the last
/// `/`), compared as (tag, byte) pairs with untagged bytes first.
///
/// Wire: `[flist-sort]` (RFC.md §9).
pub fn compare_names(a: &[u8], a_dir: bool, b: &[u8], b_dir: bool, protocol: u32) -> Ordering {
    if protocol < 29 {
        return a.cmp(b);
    }
    let (x, y) = (Ordered::new(a, a_dir), Ordered::new(b, b_dir));
    let (lx, ly) = (x.len(), y.len());
    // The common prefix of the bytes (a directory's `/` is at most one more).
    let mut i = x
        .bytes
        .iter()
        .zip(y.bytes)
        .position(|(c, d)| c != d)
        .unwrap_or(x.bytes.len().min(y.bytes.len()));
    while i < lx && i < ly && x.at(i) == y.at(i) {
        i += 1;
    }
    // Within the common prefix the tags first differ one past the nearer last `/`.
    if x.last_slash != y.last_slash {
        let first = x.last_slash.min(y.last_slash).map_or(0, |s| s + 1);
        if first < i {
            return x.last_slash.cmp(&y.last_slash);
        }
    }
    match (i < lx, i < ly) {
        (false, false) => Ordering::Equal,
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        (true, true) => (x.in_dir(i), x.at(i)).cmp(&(y.in_dir(i), y.at(i))),
    }
}

/// [`compare_names`] on two entries.
pub fn compare_entries(a: &FileEntry, b: &FileEntry, protocol: u32) -> Ordering {
    compare_names(
        a.name.as_bytes(),
        a.is_dir(),
        b.name.as_bytes(),
        b.is_dir(),
        protocol,
    )
}

/// Sorts a received list as rsync's receiver does and clears duplicates: `None` marks a
/// cleared slot, so every index still names the same file on both sides.
///
/// The sort is stable. Of two equal names the first (in wire order) is kept, except that
/// a directory wins over a non-directory of the same name (from protocol 29 they are not
/// adjacent; the directory is checked against earlier non-directories). When two
/// directories collide, the kept one also takes the other's `top_dir` and clears
/// `no_content_dir` unless both had it (rsync merges FLAG_TOP_DIR/CONTENT_DIR).
///
/// Memory: 4 bytes an entry besides the list itself (the order is found on indices and
/// applied in place; the non-directory a directory collides with is found by binary
/// search).
///
/// Wire: `[flist-sort]` (RFC.md §9).
pub fn sort_file_list(mut entries: Vec<FileEntry>, protocol: u32) -> Vec<Option<FileEntry>> {
    sort_stable(&mut entries, protocol);
    let n = entries.len();
    let mut live = vec![true; n];
    let mut prev: Option<usize> = None;
    for i in 0..n {
        let cur = &entries[i];
        let cur_dir = cur.is_dir();
        let dup = match prev {
            Some(j) if compare_entries(cur, &entries[j], protocol) == Ordering::Equal => Some(j),
            _ if protocol >= 29 && cur_dir => live_file_named(&entries, &live, i, protocol),
            _ => None,
        };
        let Some(j) = dup else {
            prev = Some(i);
            continue;
        };
        if cur_dir && !entries[j].is_dir() {
            // Keep the directory.
            live[j] = false;
            prev = Some(i);
        } else {
            if cur_dir {
                let (top, no_content) = (cur.top_dir(), cur.no_content_dir());
                let k = &mut entries[j];
                if top && !k.top_dir() {
                    k.set_top_dir(true);
                }
                if k.no_content_dir() && !no_content {
                    k.set_no_content_dir(false);
                }
            }
            live[i] = false;
        }
    }
    // In place: `Option<FileEntry>` has the size of `FileEntry`.
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| live[i].then_some(e))
        .collect()
}

/// Sorts by [`compare_entries`], ties in their original order, without the scratch copy
/// of the entries a stable sort needs: the order is found on 4-byte indices, then applied
/// by following its cycles.
fn sort_stable(entries: &mut [FileEntry], protocol: u32) {
    if entries
        .windows(2)
        .all(|w| compare_entries(&w[0], &w[1], protocol) != Ordering::Greater)
    {
        return;
    }
    let Ok(n) = u32::try_from(entries.len()) else {
        // More than 4 billion entries cannot be decoded; keep the plain stable sort.
        entries.sort_by(|a, b| compare_entries(a, b, protocol));
        return;
    };
    let mut order: Vec<u32> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| {
        compare_entries(&entries[a as usize], &entries[b as usize], protocol).then(a.cmp(&b))
    });
    // Position k receives the entry now at order[k]; a finished position is marked with
    // its own index.
    for i in 0..order.len() {
        let mut j = i;
        loop {
            let k = order[j] as usize;
            order[j] = j as u32;
            if k == i {
                break;
            }
            entries.swap(j, k);
            j = k;
        }
    }
}

/// Protocol ≥ 29: the live non-directory named as the directory at `i`, if any. It sorts
/// before the directory (a non-directory precedes every directory of its level), and of
/// equal non-directories only the first stays live.
fn live_file_named(entries: &[FileEntry], live: &[bool], i: usize, protocol: u32) -> Option<usize> {
    let name = entries[i].name.as_bytes();
    let before = &entries[..i];
    let from = before.partition_point(|e| {
        compare_names(e.name.as_bytes(), e.is_dir(), name, false, protocol) == Ordering::Less
    });
    (from..i)
        .take_while(|&j| {
            let e = &entries[j];
            !e.is_dir() && e.name.as_bytes() == name
        })
        .find(|&j| live[j])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::flist::{mode, WirePath};
    use proptest::prelude::*;

    /// Reference order written from the rule: tag every byte of the path with whether it
    /// belongs to a directory (`name/` of each directory component, slash included) or to
    /// the final non-directory name, and compare the tagged strings, with non-directory
    /// bytes first.
    pub(crate) fn reference_cmp(a: &[u8], a_dir: bool, b: &[u8], b_dir: bool, p: u32) -> Ordering {
        fn tagged(name: &[u8], dir: bool) -> Vec<(u8, u8)> {
            if dir && name == b"." {
                return Vec::new();
            }
            let mut v = Vec::new();
            let parts: Vec<&[u8]> = name.split(|&c| c == b'/').collect();
            for (i, part) in parts.iter().enumerate() {
                let is_dir = i + 1 < parts.len() || dir;
                let tag = u8::from(is_dir);
                v.extend(part.iter().map(|&c| (tag, c)));
                if is_dir {
                    v.push((1, b'/'));
                }
            }
            v
        }
        if p < 29 {
            a.cmp(b)
        } else {
            tagged(a, a_dir).cmp(&tagged(b, b_dir))
        }
    }

    fn e(name: &str, dir: bool) -> FileEntry {
        let m = if dir { mode::S_IFDIR } else { mode::S_IFREG };
        FileEntry::new(WirePath::try_from(name).unwrap(), m | 0o644)
    }

    fn names(v: &[Option<FileEntry>]) -> Vec<String> {
        v.iter()
            .map(|e| e.as_ref().map_or("-".into(), |e| e.name.to_string()))
            .collect()
    }

    #[test]
    fn observed_and_rule_orders() {
        // rsync-protocol.md §2.5: wire order ., link, sub, a.txt, sub/b.bin; ndx 1 = a.txt,
        // 4 = sub/b.bin.
        let wire = || {
            vec![
                e(".", true),
                e("link", false),
                e("sub", true),
                e("a.txt", false),
                e("sub/b.bin", false),
            ]
        };
        for p in [27, 29, 31] {
            assert_eq!(
                names(&sort_file_list(wire(), p)),
                [".", "a.txt", "link", "sub", "sub/b.bin"]
            );
        }
        let tree = || {
            vec![
                e(".", true),
                e("a", true),
                e("a/x", false),
                e("a-b", false),
                e("z", false),
                e("a/y", true),
                e("a/y/f", false),
                e("a/z", false),
            ]
        };
        assert_eq!(
            names(&sort_file_list(tree(), 27)),
            [".", "a", "a-b", "a/x", "a/y", "a/y/f", "a/z", "z"]
        );
        assert_eq!(
            names(&sort_file_list(tree(), 29)),
            [".", "a-b", "z", "a", "a/x", "a/z", "a/y", "a/y/f"]
        );
    }

    #[test]
    fn duplicates_are_cleared_in_place() {
        let v = vec![e("b", false), e("a", false), e("b", false), e("c", false)];
        assert_eq!(names(&sort_file_list(v, 31)), ["a", "b", "-", "c"]);
        // A directory beats a non-directory of the same name, at every protocol.
        let v = vec![e("x", false), e("x", true), e("x/f", false), e("w", true)];
        assert_eq!(
            names(&sort_file_list(v.clone(), 27)),
            ["w", "-", "x", "x/f"]
        );
        assert_eq!(names(&sort_file_list(v, 29)), ["-", "w", "x", "x/f"]);
        // Two directories: the first is kept and inherits top_dir.
        let mut d2 = e("d", true);
        d2.set_top_dir(true);
        let out = sort_file_list(vec![e("d", true), d2], 31);
        assert_eq!(names(&out), ["d", "-"]);
        assert!(out[0].as_ref().unwrap().top_dir());
    }

    /// The order and clearing rules written plainly: a stable sort of the entries
    /// themselves and a map of the live non-directories by name.
    fn reference_sort(mut entries: Vec<FileEntry>, p: u32) -> Vec<Option<FileEntry>> {
        entries.sort_by(|a, b| compare_entries(a, b, p));
        let mut out: Vec<Option<FileEntry>> = entries.into_iter().map(Some).collect();
        let mut files = std::collections::HashMap::new();
        let mut prev: Option<usize> = None;
        for i in 0..out.len() {
            let Some(cur) = out[i].clone() else { continue };
            let dup = match prev.and_then(|j| out[j].clone().map(|e| (j, e))) {
                Some((j, e)) if compare_entries(&cur, &e, p) == Ordering::Equal => Some(j),
                _ if p >= 29 && cur.is_dir() => files.get(cur.name.as_bytes()).copied(),
                _ => None,
            };
            let Some(j) = dup else {
                if !cur.is_dir() {
                    files.insert(cur.name.as_bytes().to_vec(), i);
                }
                prev = Some(i);
                continue;
            };
            if cur.is_dir() && !out[j].as_ref().unwrap().is_dir() {
                files.remove(cur.name.as_bytes());
                out[j] = None;
                prev = Some(i);
            } else {
                if cur.is_dir() {
                    let k = out[j].as_mut().unwrap();
                    k.set_top_dir(k.top_dir() | cur.top_dir());
                    k.set_no_content_dir(k.no_content_dir() & cur.no_content_dir());
                }
                out[i] = None;
            }
        }
        out
    }

    fn arb_name() -> impl Strategy<Value = (Vec<u8>, bool)> {
        let comp = prop::collection::vec(prop::sample::select(&b"ab-./0\xff"[..]), 1..4)
            .prop_filter("component", |c| {
                c != b"." && c != b".." && !c.contains(&b'/')
            });
        (prop::collection::vec(comp, 1..4), any::<bool>())
            .prop_map(|(cs, dir)| (cs.join(&b'/'), dir))
    }

    proptest! {
        #[test]
        fn matches_reference_and_is_a_total_order(
            a in arb_name(), b in arb_name(), c in arb_name(), p in 27u32..=32,
        ) {
            let cmp = |x: &(Vec<u8>, bool), y: &(Vec<u8>, bool)| compare_names(&x.0, x.1, &y.0, y.1, p);
            prop_assert_eq!(cmp(&a, &b), reference_cmp(&a.0, a.1, &b.0, b.1, p));
            prop_assert_eq!(cmp(&a, &b), cmp(&b, &a).reverse());
            prop_assert_eq!(cmp(&a, &a), Ordering::Equal);
            if cmp(&a, &b) != Ordering::Greater && cmp(&b, &c) != Ordering::Greater {
                prop_assert_ne!(cmp(&a, &c), Ordering::Greater);
            }
            if p >= 29 && a.0 == b.0 && a.1 != b.1 {
                prop_assert_ne!(cmp(&a, &b), Ordering::Equal);
            }
        }

        #[test]
        fn sort_and_clearing_equal_the_plain_algorithm(
            v in prop::collection::vec((
                prop_oneof![
                    3 => (prop::sample::select(vec!["a", "b", "a/b", "a/a", "b/a", "a-b"]), any::<bool>())
                        .prop_map(|(n, d)| (n.as_bytes().to_vec(), d)),
                    1 => arb_name(),
                ],
                any::<(bool, bool)>(),
            ), 0..40),
            p in 27u32..=32,
        ) {
            // Few distinct names, so duplicates and directory/file collisions are common;
            // the size tells which of equal entries was kept.
            let entries: Vec<FileEntry> = v.iter().enumerate().filter_map(|(i, ((n, d), (t, c)))| {
                let m = if *d { mode::S_IFDIR } else { mode::S_IFREG };
                let mut e = FileEntry::new(WirePath::new(n.clone()).ok()?, m);
                e.set_size(i as u64);
                if *d {
                    e.set_top_dir(*t);
                    e.set_no_content_dir(*c);
                }
                Some(e)
            }).collect();
            prop_assert_eq!(sort_file_list(entries.clone(), p), reference_sort(entries, p));
        }

        #[test]
        fn sorted_lists_follow_the_reference(v in prop::collection::vec(arb_name(), 0..24), p in 27u32..=32) {
            let entries: Vec<FileEntry> = v.iter().filter_map(|(n, d)| {
                let m = if *d { mode::S_IFDIR } else { mode::S_IFREG };
                WirePath::new(n.clone()).ok().map(|w| FileEntry::new(w, m))
            }).collect();
            let n = entries.len();
            let out = sort_file_list(entries, p);
            prop_assert_eq!(out.len(), n, "nothing is removed");
            let live: Vec<&FileEntry> = out.iter().flatten().collect();
            for w in out.windows(2) {
                if let [Some(x), Some(y)] = w {
                    prop_assert_ne!(
                        reference_cmp(x.name.as_bytes(), x.is_dir(), y.name.as_bytes(), y.is_dir(), p),
                        Ordering::Greater
                    );
                }
            }
            // No two live entries are equal, and no live non-directory shares a live
            // directory's name.
            for (i, x) in live.iter().enumerate() {
                for y in &live[i + 1..] {
                    prop_assert_ne!(compare_entries(x, y, p), Ordering::Equal);
                    prop_assert!(!(x.name == y.name && x.is_dir() != y.is_dir()));
                }
            }
        }
    }
}
