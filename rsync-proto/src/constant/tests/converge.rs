//! The property the extension exists for: whatever the source does, and however the
//! changed names interleave with the work in flight, once every name has been submitted
//! and the batch ended, the mirror equals the source.

use proptest::prelude::*;

use super::fake::assert_same;
use super::fakefs::{Fs, Inode, Kind};
use super::pair::{prng, Pair};
use crate::flist::WirePath;

/// The names the operations play with (collisions on purpose).
const NAMES: [&str; 9] = [
    "a", "b", "d1", "d1/x", "d1/y", "d2", "d2/z", "d2/d3", "d2/d3/w",
];

#[derive(Debug, Clone)]
enum Op {
    /// Write a file of this size (and seed) at a name.
    Write(usize, usize, u64),
    Mkdir(usize),
    Symlink(usize, usize),
    Remove(usize),
    /// Rename a file to another name (content and mtime kept).
    Rename(usize, usize),
    /// Change permissions and the time only.
    Touch(usize, u32),
    /// Let the session run this many steps.
    Run(usize),
    EndBatch,
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0..NAMES.len();
    prop_oneof![
        3 => (n.clone(), 0usize..40_000, any::<u64>()).prop_map(|(a, s, d)| Op::Write(a, s, d)),
        1 => n.clone().prop_map(Op::Mkdir),
        1 => (n.clone(), n.clone()).prop_map(|(a, b)| Op::Symlink(a, b)),
        2 => n.clone().prop_map(Op::Remove),
        2 => (n.clone(), n.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => (n, 0u32..0o777).prop_map(|(a, m)| Op::Touch(a, m)),
        2 => (0usize..30).prop_map(Op::Run),
        1 => Just(Op::EndBatch),
    ]
}

fn parent_is_dir(fs: &Fs, name: &str) -> bool {
    let parent = name.rsplit_once('/').map_or(".", |(p, _)| p);
    matches!(fs.get(parent.as_bytes()), Some((_, i)) if i.kind == Kind::Dir)
}

fn submit(p: &mut Pair, name: &str) {
    let path = WirePath::new(name.as_bytes().to_vec()).expect("path");
    p.master.submit(path).expect("submit");
}

/// The names beneath `name` (a change feed reports each one that a removal takes).
fn beneath(fs: &Fs, name: &str) -> Vec<String> {
    let prefix = format!("{name}/");
    fs.paths
        .keys()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .filter(|k| k.starts_with(&prefix))
        .collect()
}

/// Applies `op` to the source and submits the names it touched, as a change feed reports
/// them (a replaced or removed directory's content included).
fn apply(p: &mut Pair, op: &Op, clock: &mut i64) {
    *clock += 1;
    let touched = match *op {
        Op::Write(a, ..) | Op::Symlink(a, _) | Op::Remove(a) => beneath(&p.src.fs, NAMES[a]),
        // A file renamed over a directory takes the directory's content.
        Op::Rename(_, b) => beneath(&p.src.fs, NAMES[b]),
        _ => Vec::new(),
    };
    for name in &touched {
        submit(p, name);
    }
    let fs = &mut p.src.fs;
    match *op {
        Op::Write(a, size, seed) => {
            let name = NAMES[a];
            if !parent_is_dir(fs, name) {
                return;
            }
            let data = prng(size, seed);
            fs.put(name.as_bytes(), Inode::new(Kind::File(data), 0o640, *clock));
            submit(p, name);
        }
        Op::Mkdir(a) => {
            let name = NAMES[a];
            let is_dir = matches!(fs.get(name.as_bytes()), Some((_, i)) if i.kind == Kind::Dir);
            if is_dir || !parent_is_dir(fs, name) {
                return;
            }
            fs.put(name.as_bytes(), Inode::new(Kind::Dir, 0o755, *clock));
            submit(p, name);
        }
        Op::Symlink(a, b) => {
            let name = NAMES[a];
            if !parent_is_dir(fs, name) {
                return;
            }
            let target = NAMES[b].as_bytes().to_vec();
            fs.put(
                name.as_bytes(),
                Inode::new(Kind::Symlink(target), 0o777, *clock),
            );
            submit(p, name);
        }
        Op::Remove(a) => {
            fs.remove(NAMES[a].as_bytes());
            submit(p, NAMES[a]);
        }
        Op::Rename(a, b) => {
            let (from, to) = (NAMES[a], NAMES[b]);
            let Some((_, i)) = fs.get(from.as_bytes()) else {
                return;
            };
            let moved = i.clone();
            if from == to || !matches!(moved.kind, Kind::File(_)) || !parent_is_dir(fs, to) {
                return;
            }
            fs.remove(from.as_bytes());
            fs.put(to.as_bytes(), moved);
            submit(p, from);
            submit(p, to);
        }
        Op::Touch(a, perm) => {
            let name = NAMES[a];
            let Some(i) = fs
                .paths
                .get(name.as_bytes())
                .and_then(|n| fs.inodes.get_mut(n))
            else {
                return;
            };
            if !matches!(i.kind, Kind::Symlink(_)) {
                i.mode = (i.mode & !0o7777) | perm | 0o700;
            }
            i.mtime = *clock;
            submit(p, name);
        }
        Op::Run(n) => {
            for _ in 0..n {
                p.step().expect("session");
            }
        }
        Op::EndBatch => {
            p.master.end_batch().expect("batch");
        }
    }
}

fn start() -> Fs {
    Fs::new()
        .dir("d1")
        .file("d1/x", &prng(20_000, 1), 10)
        .file("a", &prng(30_000, 2), 11)
        .dir("d2")
        .dir("d2/d3")
        .file("d2/d3/w", b"w", 12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn the_mirror_converges_to_the_source(
        ops in proptest::collection::vec(op(), 1..40),
        chunk in 1usize..3000,
        stale in any::<bool>(),
    ) {
        let dst = if stale { start().file("junk", b"j", 1) } else { Fs::new() };
        let mut p = Pair::new(start(), dst);
        p.chunks = vec![chunk, 65_536];
        p.master.submit_tree(WirePath::new(b".".to_vec()).expect("dot")).expect("tree");
        let mut clock = 1_000;
        for op in &ops {
            apply(&mut p, op, &mut clock);
        }
        p.master.end_batch().expect("batch");
        p.finish();
        let acked = p.acked();
        // 24: a file vanished while it was being sent (the source changed under the walk).
        prop_assert!(acked.iter().all(|&(_, s)| s == 0 || s == 24), "{:?}", acked);
        assert_same(&p.dst.fs, &p.src.fs);
    }
}

/// Found by the `constant_ops` fuzz target: with a configured window of 1 or 2 a walk never
/// sent its `DIR_END` (a directory's `DIR_BEGIN` is in flight until then, and the end needs
/// two more ids at once) and the session stalled for good.
#[test]
fn a_walk_completes_with_a_window_of_one_or_two() {
    for window in [1, 2] {
        let cfg = crate::constant::ConstantConfig::default().with_window(window);
        let mut p = Pair::with(start(), Fs::new(), super::pair::archive(), cfg);
        p.master
            .submit_tree(WirePath::new(b".".to_vec()).expect("dot"))
            .expect("tree");
        p.master.end_batch().expect("batch");
        p.finish();
        assert_eq!(p.master.pending(), 0, "window {window}");
        assert_same(&p.dst.fs, &p.src.fs);
    }
}
