//! The scenarios of the interop matrix: what the source tree and the destination's prior
//! contents are, which options the client gets, and what the result must be.
//!
//! Every tree is deterministic (contents from `pseudo_random`, explicit modes and ns mtimes),
//! so that the reference transfer (stock client + stock server) and the cells under test run
//! on identical copies.

use std::io;
use std::path::Path;

use rsync_tests::pseudo_random;
use rsync_tests::tree::{Mtime, TreeBuilder};

use crate::big_files::{big_delta, big_delta_dest, inplace, inplace_dest};

/// What the destination must look like after the transfer.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Expect {
    /// A copy of the source (attributes per the scenario's options and the protocol).
    CopyOfSource,
    /// The source restricted to these paths (the root's own attributes are not compared).
    Subset(&'static [&'static [u8]]),
    /// Exactly what it was before the transfer, the same inodes too (`-n`, or nothing to do).
    Unchanged,
    /// Exactly the tree this function builds (filters: what is sent plus what the rules
    /// protect from `--delete`).
    Tree(fn(&Path) -> io::Result<()>),
}

/// One scenario.
#[derive(Debug)]
pub(crate) struct Scenario {
    /// Test name (a module of `interop_matrix`).
    pub(crate) name: &'static str,
    /// What it exercises.
    pub(crate) about: &'static str,
    /// Client options besides `-e`, `--rsync-path`, `--protocol` and the paths.
    pub(crate) args: &'static [&'static str],
    /// Builds the source tree.
    pub(crate) source: fn(&Path) -> io::Result<()>,
    /// Builds the destination's prior contents (`None`: the destination does not exist).
    pub(crate) dest: Option<fn(&Path) -> io::Result<()>>,
    /// The expected destination.
    pub(crate) expect: Expect,
    /// Names for `--files-from=FILE --from0` (added to the options when set).
    pub(crate) files_from: Option<&'static [&'static [u8]]>,
    /// Delta scenario: count wire bytes through the fake shell and read `--stats`' literal
    /// data; both must stay under 10% of [`BIG_LEN`](crate::big_files::BIG_LEN).
    pub(crate) delta: bool,
    /// An option whose removal must make the stock transfer miss the expectation: proves the
    /// scenario (and the comparison) can see what the option does.
    pub(crate) control_without: Option<&'static str>,
    /// Needs root (foreign owners, device nodes); skipped loudly otherwise.
    pub(crate) needs_root: bool,
    /// Destination files that must keep their inode (`--inplace` updates them where they
    /// are, so that hard links to them see the new contents).
    pub(crate) same_inodes: &'static [&'static [u8]],
    /// Whether the reference prints itemize lines (other cells are compared with it).
    pub(crate) itemizes: Itemizes,
}

/// What the reference's `-i` output must hold, so that comparing other cells with it proves
/// something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Itemizes {
    /// At least one line.
    Lines,
    /// No line (nothing to do).
    Nothing,
    /// Depends on the protocol and direction.
    Varies,
}

impl Scenario {
    /// Whether `-H` is among the options (hard-link groups are then compared with the source).
    pub(crate) fn hard_links(&self) -> bool {
        self.args.contains(&"-H")
    }
}

/// What a scenario has unless it says otherwise: `-a -i`, no prior destination, a copy of the
/// source expected, itemize lines expected.
const DEFAULTS: Scenario = Scenario {
    name: "",
    about: "",
    args: &["-a", "-i"],
    source: empty_tree,
    dest: None,
    expect: Expect::CopyOfSource,
    files_from: None,
    delta: false,
    control_without: None,
    needs_root: false,
    same_inodes: &[],
    itemizes: Itemizes::Lines,
};

/// Every scenario, in test order.
pub(crate) const ALL: &[Scenario] = &[
    Scenario {
        name: "empty_tree",
        about: "an empty source directory into a missing destination",
        source: empty_tree,
        // Stock prints `cd+++++++++ ./` except in a protocol 27 push.
        itemizes: Itemizes::Varies,
        ..DEFAULTS
    },
    Scenario {
        name: "nested_dirs",
        about: "nested directories, empty directories, names that test the sort order",
        source: nested_dirs,
        ..DEFAULTS
    },
    Scenario {
        name: "small_files",
        about: "1,000 small files in 20 directories",
        source: small_files,
        ..DEFAULTS
    },
    Scenario {
        name: "empty_files",
        about: "empty files, new and replacing non-empty ones",
        source: empty_files,
        dest: Some(empty_files_dest),
        ..DEFAULTS
    },
    Scenario {
        name: "big_delta",
        about: "a 64 MiB file with 1% edits over its old version: the delta must be used",
        args: &["-a", "-i", "--stats"],
        source: big_delta,
        dest: Some(big_delta_dest),
        delta: true,
        ..DEFAULTS
    },
    Scenario {
        name: "inplace",
        about: "--inplace over a 16 MiB file with edits (overwrites, data moved back and moved \
                forward, two blocks swapped), a file that shrinks, one that grows and a new one: \
                each is updated where it is (same inode)",
        args: &["-a", "-i", "--inplace"],
        source: inplace,
        dest: Some(inplace_dest),
        same_inodes: &[b"big.bin", b"shrinks.bin", b"grows.bin"],
        control_without: Some("--inplace"),
        ..DEFAULTS
    },
    Scenario {
        name: "odd_names",
        about: "names with spaces, newlines, tabs, non-UTF-8 bytes, 255 bytes, leading dashes",
        source: odd_names,
        ..DEFAULTS
    },
    Scenario {
        name: "symlinks",
        about: "relative, absolute, dangling, looping and long symlinks, with their own mtimes",
        source: symlinks,
        ..DEFAULTS
    },
    Scenario {
        name: "modes",
        about: "file modes 0600/0755/0444/4755/2755, directory modes 1777/0700/2775/0555",
        source: modes,
        ..DEFAULTS
    },
    Scenario {
        name: "ns_mtimes",
        about: "nanosecond mtimes on files, directories and symlinks; times past 2038",
        source: ns_mtimes,
        ..DEFAULTS
    },
    Scenario {
        name: "hard_links",
        about: "hard-link groups across directories with -H (empty files too)",
        args: &["-a", "-i", "-H"],
        source: hard_links,
        control_without: Some("-H"),
        ..DEFAULTS
    },
    Scenario {
        name: "delete",
        about: "--delete of files, symlinks and nested directories, and type changes",
        args: &["-a", "-i", "--delete"],
        source: delete,
        dest: Some(delete_dest),
        control_without: Some("--delete"),
        ..DEFAULTS
    },
    Scenario {
        name: "filters",
        about: "--exclude/--include/--filter rules: excluded names and directories are not sent, \
                excluded and protected names survive --delete, the rest is deleted",
        args: &[
            "-a",
            "-i",
            "--delete",
            "--exclude=*.o",
            "--exclude=/build/",
            "--filter=P /precious",
            "--include=docs/***",
            "--exclude=*.tmp",
            "--filter=- tmp?/",
        ],
        source: filters,
        dest: Some(filters_dest),
        expect: Expect::Tree(filters_expected),
        control_without: Some("--exclude=*.o"),
        ..DEFAULTS
    },
    Scenario {
        name: "files_from",
        about: "--files-from with --from0: listed names and their implied directories only",
        source: files_from,
        expect: Expect::Subset(FILES_FROM_EXPECTED),
        files_from: Some(FILES_FROM_LIST),
        ..DEFAULTS
    },
    Scenario {
        name: "missing_args",
        about: "--files-from with --delete-missing-args --force: listed names that exist are \
                sent; a missing file, symlink, empty and non-empty directory (with its \
                content) and a file in a listed directory, all on the destination, are \
                deleted; a name that exists nowhere is nothing",
        args: &["-a", "-i", "--delete-missing-args", "--force"],
        source: missing_args,
        dest: Some(missing_args_dest),
        expect: Expect::Tree(missing_args_forced),
        files_from: Some(MISSING_ARGS_LIST),
        control_without: Some("--delete-missing-args"),
        ..DEFAULTS
    },
    Scenario {
        name: "missing_args_keep",
        about: "--delete-missing-args without --force: a missing non-empty directory stays \
                (`cannot delete non-empty directory`), the other missing names go",
        args: &["-a", "-i", "--delete-missing-args"],
        source: missing_args,
        dest: Some(missing_args_dest),
        expect: Expect::Tree(missing_args_kept),
        files_from: Some(MISSING_ARGS_LIST),
        control_without: Some("--delete-missing-args"),
        ..DEFAULTS
    },
    Scenario {
        name: "missing_args_dry_run",
        about: "-n --delete-missing-args --force: every deletion is itemized, none is made",
        args: &["-a", "-i", "-n", "--delete-missing-args", "--force"],
        source: missing_args,
        dest: Some(missing_args_dest),
        expect: Expect::Unchanged,
        files_from: Some(MISSING_ARGS_LIST),
        control_without: Some("-n"),
        ..DEFAULTS
    },
    Scenario {
        name: "ignore_missing_args",
        about: "--files-from with --ignore-missing-args: missing names are skipped silently \
                (exit 0, not 23) and nothing is deleted",
        args: &["-a", "-i", "--ignore-missing-args"],
        source: missing_args,
        dest: Some(missing_args_dest),
        expect: Expect::Tree(missing_args_ignored),
        files_from: Some(MISSING_ARGS_LIST),
        ..DEFAULTS
    },
    Scenario {
        name: "up_to_date",
        about: "a destination equal to the source: nothing is itemized, nothing replaced",
        args: &["-a", "-i", "--delete"],
        source: nested_dirs,
        dest: Some(nested_dirs),
        expect: Expect::Unchanged,
        itemizes: Itemizes::Nothing,
        ..DEFAULTS
    },
    Scenario {
        name: "dry_run",
        about: "-n with changes, additions and deletions pending: nothing changes",
        args: &["-a", "-i", "-n", "--delete"],
        source: itemize,
        dest: Some(itemize_dest),
        expect: Expect::Unchanged,
        control_without: Some("-n"),
        ..DEFAULTS
    },
    Scenario {
        name: "itemize",
        about: "-i over every kind of change (content, size, time, mode, link target, type, new, deleted)",
        args: &["-a", "-i", "--delete"],
        source: itemize,
        dest: Some(itemize_dest),
        ..DEFAULTS
    },
    Scenario {
        name: "checksum",
        about: "-c: files with equal size and mtime but other contents are transferred",
        args: &["-a", "-i", "-c"],
        source: checksum,
        dest: Some(checksum_dest),
        control_without: Some("-c"),
        ..DEFAULTS
    },
    Scenario {
        name: "owners",
        about: "-o -g (in -a) with foreign uids and gids, named and numeric",
        source: owners,
        needs_root: true,
        ..DEFAULTS
    },
    Scenario {
        name: "specials",
        about: "-D (in -a): a named pipe and a character device",
        source: specials,
        needs_root: true,
        ..DEFAULTS
    },
];

/// A deterministic mtime: `i` days after 2017-07-14, with an odd nanosecond part.
pub(crate) fn t(i: u32) -> Mtime {
    let ns = (u64::from(i) * 123_456_789 + 987_654_321) % 1_000_000_000;
    Mtime::new(
        1_500_000_000 + i64::from(i) * 86_400 + 17,
        u32::try_from(ns).unwrap_or(0),
    )
}

pub(crate) fn data(len: usize, seed: u64) -> Vec<u8> {
    pseudo_random(len, seed)
}

fn empty_tree(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    b.finish()
}

fn nested_dirs(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    // Siblings whose order differs between byte order and rsync's directory-last order.
    for (i, name) in [&b"a"[..], b"a.d", b"a0", b"b", b"ab.d"].iter().enumerate() {
        b.dir(name, 0o755, t(2 + i as u32))?;
    }
    for (i, name) in [&b"a.txt"[..], b"a-b", b"ab", b"a.d.txt", b"b0"]
        .iter()
        .enumerate()
    {
        b.file(name, &data(100 + i, i as u64), 0o644, t(10 + i as u32))?;
    }
    let mut path = b"a".to_vec();
    for (depth, part) in [b"b", b"c", b"d", b"e", b"f", b"g"].iter().enumerate() {
        let d = depth as u32;
        b.file(
            &[&path[..], b"/file.txt"].concat(),
            &data(300, u64::from(d)),
            0o644,
            t(20 + d),
        )?;
        b.file(&[&path[..], b"/z"].concat(), b"zz", 0o644, t(30 + d))?;
        path.push(b'/');
        path.extend_from_slice(*part);
        b.dir(&path, 0o755, t(40 + d))?;
    }
    b.file(b"a.d/inner", b"inner", 0o644, t(50))?;
    b.dir(b"empty1", 0o755, t(51))?;
    b.dir(b"b/empty2", 0o700, t(52))?;
    b.dir(b"b/empty2/empty3", 0o755, t(53))?;
    b.finish()
}

fn small_files(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    for d in 0..20u32 {
        let dir = format!("dir{d:02}");
        b.dir(dir.as_bytes(), 0o755, t(2 + d))?;
        for f in 0..50u32 {
            let n = u64::from(d * 50 + f);
            let len = usize::from(pseudo_random(1, n + 7)[0]) * 16;
            let name = format!("{dir}/file-{f:04}.dat");
            b.file(
                name.as_bytes(),
                &data(len, n),
                0o644,
                t(100 + (n % 300) as u32),
            )?;
        }
    }
    b.finish()
}

fn empty_files(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    b.dir(b"sub", 0o755, t(2))?;
    b.dir(b"sub/deeper", 0o755, t(3))?;
    b.dir(b"emptydir", 0o755, t(4))?;
    for (i, name) in [&b"e1"[..], b"e2", b"sub/e3", b"sub/deeper/e4", b"was-full"]
        .iter()
        .enumerate()
    {
        b.file(name, b"", 0o644, t(10 + i as u32))?;
    }
    b.file(b"not-empty", b"x", 0o644, t(20))?;
    b.finish()
}

fn empty_files_dest(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(90));
    b.dir(b"sub", 0o755, t(91))?;
    b.file(b"was-full", &data(5000, 3), 0o644, t(92))?;
    b.file(b"sub/e3", b"content", 0o644, t(93))?;
    b.finish()
}

/// The odd names: every one is a file at the root and inside `dir with spaces/`.
const ODD_NAMES: &[&[u8]] = &[
    b"with space",
    b" leading space",
    b"trailing space ",
    b"new\nline",
    b"\nstarts with newline",
    b"tab\there",
    b"cr\rhere",
    b"non-utf8-\xff\xfe",
    b"latin1-caf\xe9",
    b"utf8-caf\xc3\xa9",
    b"-dash-first",
    b"--double-dash",
    b"back\\slash",
    b"quotes'\"",
    b"glob*?[x]",
    b"#hash;semi&amp|pipe$dollar`tick`",
    b"\\#012-looks-escaped",
];

fn odd_names(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    b.dir(b"dir with spaces", 0o755, t(2))?;
    b.dir(b"dir\nwith\nnewlines \xff", 0o755, t(3))?;
    for (i, name) in ODD_NAMES.iter().enumerate() {
        let i32_ = i as u32;
        b.file(name, &data(10 + i, i as u64), 0o644, t(10 + i32_))?;
        b.file(
            &[&b"dir with spaces/"[..], name].concat(),
            &data(20 + i, 50 + i as u64),
            0o644,
            t(40 + i32_),
        )?;
    }
    b.file(
        b"dir\nwith\nnewlines \xff/inner \n\xfe",
        b"inner",
        0o644,
        t(70),
    )?;
    // The longest name a file system allows, and a path well over 255 bytes.
    let long = [b'L'; 255];
    b.file(&long, b"long name", 0o644, t(71))?;
    let dir200 = [b'D'; 200];
    b.dir(&dir200, 0o755, t(72))?;
    b.file(
        &[&dir200[..], b"/", &[b'F'; 200][..]].concat(),
        b"long path",
        0o644,
        t(73),
    )?;
    b.finish()
}

fn symlinks(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    b.dir(b"sub", 0o755, t(2))?;
    b.file(b"target.txt", b"the target\n", 0o644, t(3))?;
    b.file(b"target with space", b"spaced\n", 0o644, t(4))?;
    b.symlink(b"relative", b"target.txt", t(5))?;
    b.symlink(b"sub/relative-up", b"../target.txt", t(6))?;
    b.symlink(b"sub/outside", b"../../../../outside/the/tree", t(7))?;
    b.symlink(b"absolute", b"/etc/hostname", t(8))?;
    b.symlink(b"absolute-dangling", b"/nonexistent/dir/file", t(9))?;
    b.symlink(b"dangling", b"missing-file", t(10))?;
    b.symlink(b"to-dir", b"sub", t(11))?;
    b.symlink(b"loop", b"loop", t(12))?;
    b.symlink(b"space link", b"target with space", t(13))?;
    b.symlink(b"odd-target", b"new\nline \xff", t(14))?;
    let long: Vec<u8> = (0..600).map(|i| b'a' + (i % 26) as u8).collect();
    b.symlink(b"long-target", &long, t(15))?;
    b.finish()
}

fn modes(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    for (i, perm) in [0o600, 0o755, 0o644, 0o444, 0o640, 0o4755, 0o2755, 0o700]
        .into_iter()
        .enumerate()
    {
        let name = format!("f{perm:04o}");
        b.file(name.as_bytes(), &data(64, i as u64), perm, t(10 + i as u32))?;
    }
    for (i, perm) in [0o1777, 0o700, 0o755, 0o2775, 0o750]
        .into_iter()
        .enumerate()
    {
        let name = format!("d{perm:04o}");
        b.dir(name.as_bytes(), perm, t(20 + i as u32))?;
        b.file(
            format!("{name}/inside").as_bytes(),
            b"in",
            0o600,
            t(30 + i as u32),
        )?;
    }
    b.dir(b"d0555-empty", 0o555, t(40))?;
    b.finish()
}

fn ns_mtimes(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, Mtime::new(1_700_000_000, 999_999_999));
    let times = [
        ("ns-1", Mtime::new(1_700_000_000, 1)),
        ("ns-999999999", Mtime::new(1_700_000_000, 999_999_999)),
        ("ns-half", Mtime::new(1_700_000_001, 500_000_000)),
        ("ns-zero", Mtime::new(1_700_000_002, 0)),
        ("year-1980", Mtime::new(315_532_800, 123_000_000)),
        ("year-2040", Mtime::new(2_218_000_000, 42)),
        ("year-2100", Mtime::new(4_102_444_800, 7)),
    ];
    for (i, (name, mt)) in times.iter().enumerate() {
        b.file(name.as_bytes(), &data(i, i as u64), 0o644, *mt)?;
    }
    b.dir(b"dir-ns", 0o755, Mtime::new(1_650_000_000, 314_159_265))?;
    b.file(
        b"dir-ns/f",
        b"f",
        0o644,
        Mtime::new(1_650_000_001, 271_828_182),
    )?;
    b.symlink(b"link-ns", b"ns-1", Mtime::new(1_650_000_002, 161_803_398))?;
    b.finish()
}

fn hard_links(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    b.dir(b"sub", 0o755, t(2))?;
    b.dir(b"other", 0o755, t(3))?;
    b.file(b"a", &data(3000, 1), 0o644, t(4))?;
    b.hard_link(b"a", b"sub/a2")?;
    b.hard_link(b"a", b"other/a3")?;
    b.file(b"b", &data(10, 2), 0o600, t(5))?;
    b.hard_link(b"b", b"b2")?;
    b.file(b"single", b"alone", 0o644, t(6))?;
    b.file(b"other/empty1", b"", 0o644, t(7))?;
    b.hard_link(b"other/empty1", b"sub/empty2")?;
    b.finish()
}

fn delete(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    b.file(b"keep.txt", b"keep", 0o644, t(2))?;
    b.dir(b"dir", 0o755, t(3))?;
    b.file(b"dir/keep2", b"keep2", 0o644, t(4))?;
    b.dir(b"was-file", 0o755, t(5))?;
    b.file(b"was-file/now-inside", b"inside", 0o644, t(6))?;
    b.file(b"was-dir", b"now a file", 0o644, t(7))?;
    b.finish()
}

fn delete_dest(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(90));
    b.file(b"keep.txt", b"keep", 0o644, t(2))?;
    b.dir(b"dir", 0o755, t(3))?;
    b.file(b"dir/keep2", b"keep2", 0o644, t(4))?;
    b.file(b"dir/extra-in-dir", b"x", 0o644, t(91))?;
    b.file(b"extra.txt", b"extra", 0o644, t(92))?;
    b.symlink(b"extra-link", b"keep.txt", t(93))?;
    b.dir(b"old", 0o755, t(94))?;
    b.dir(b"old/sub", 0o700, t(95))?;
    b.dir(b"old/sub/deep", 0o755, t(96))?;
    b.file(b"old/sub/deep/file", b"deep", 0o644, t(97))?;
    b.file(b"old/sub/file2", b"file2", 0o644, t(98))?;
    b.dir(b"emptyold", 0o755, t(99))?;
    b.file(b"was-file", b"a file to become a directory", 0o644, t(100))?;
    b.dir(b"was-dir", 0o755, t(101))?;
    b.dir(b"was-dir/sub", 0o755, t(102))?;
    b.file(b"was-dir/sub/f", b"f", 0o644, t(103))?;
    b.finish()
}

fn filters(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    b.file(b"a.c", b"c source", 0o644, t(2))?;
    b.file(b"a.o", b"object", 0o644, t(3))?;
    b.dir(b"lib", 0o755, t(4))?;
    b.file(b"lib/b.c", b"lib source", 0o644, t(5))?;
    b.file(b"lib/b.o", b"lib object", 0o644, t(6))?;
    b.dir(b"build", 0o755, t(7))?;
    b.file(b"build/out", b"built", 0o644, t(8))?;
    b.dir(b"docs", 0o755, t(9))?;
    b.file(b"docs/x.tmp", b"kept by docs/***", 0o644, t(10))?;
    b.file(b"notes.tmp", b"excluded", 0o644, t(11))?;
    b.dir(b"tmp1", 0o755, t(12))?;
    b.file(b"tmp1/f", b"excluded dir", 0o644, t(13))?;
    b.dir(b"sub", 0o755, t(14))?;
    b.dir(b"sub/build", 0o755, t(15))?;
    b.file(b"sub/build/in", b"only /build is anchored", 0o644, t(16))?;
    b.finish()
}

fn filters_dest(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(80));
    b.file(b"keep.o", b"excluded: protected", 0o644, t(81))?;
    b.file(b"old.c", b"deleted", 0o644, t(82))?;
    b.file(b"precious", b"protected by P", 0o600, t(83))?;
    b.dir(b"build", 0o755, t(84))?;
    b.file(b"build/dest-only", b"inside an excluded dir", 0o644, t(85))?;
    b.dir(b"lib", 0o755, t(4))?;
    b.file(b"lib/stale.o", b"excluded: protected", 0o644, t(86))?;
    b.file(b"lib/stale.c", b"deleted", 0o644, t(87))?;
    b.finish()
}

/// The source's transferred names plus the destination's protected ones.
fn filters_expected(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    b.file(b"a.c", b"c source", 0o644, t(2))?;
    b.dir(b"lib", 0o755, t(4))?;
    b.file(b"lib/b.c", b"lib source", 0o644, t(5))?;
    b.dir(b"docs", 0o755, t(9))?;
    b.file(b"docs/x.tmp", b"kept by docs/***", 0o644, t(10))?;
    b.dir(b"sub", 0o755, t(14))?;
    b.dir(b"sub/build", 0o755, t(15))?;
    b.file(b"sub/build/in", b"only /build is anchored", 0o644, t(16))?;
    b.file(b"keep.o", b"excluded: protected", 0o644, t(81))?;
    b.file(b"precious", b"protected by P", 0o600, t(83))?;
    b.dir(b"build", 0o755, t(84))?;
    b.file(b"build/dest-only", b"inside an excluded dir", 0o644, t(85))?;
    b.file(b"lib/stale.o", b"excluded: protected", 0o644, t(86))?;
    b.finish()
}

/// The `--files-from` list (sent NUL-separated).
const FILES_FROM_LIST: &[&[u8]] = &[
    b"top.txt",
    b"dir with space/inner\nfile",
    b"deep/a/b/c.txt",
    b"keepdir",
    b"bin\xff.dat",
];

/// What `FILES_FROM_LIST` transfers: the names, their parent directories, and a listed
/// directory without its contents (`-a` does not imply `-r` with `--files-from`).
const FILES_FROM_EXPECTED: &[&[u8]] = &[
    b"top.txt",
    b"dir with space",
    b"dir with space/inner\nfile",
    b"deep",
    b"deep/a",
    b"deep/a/b",
    b"deep/a/b/c.txt",
    b"keepdir",
    b"bin\xff.dat",
];

fn files_from(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    b.file(b"top.txt", b"top", 0o644, t(2))?;
    b.file(b"not-listed.txt", b"no", 0o644, t(3))?;
    b.dir(b"dir with space", 0o750, t(4))?;
    b.file(b"dir with space/inner\nfile", b"inner", 0o600, t(5))?;
    b.file(b"dir with space/sibling", b"no", 0o644, t(6))?;
    b.dir(b"deep", 0o755, t(7))?;
    b.dir(b"deep/a", 0o711, t(8))?;
    b.dir(b"deep/a/b", 0o755, t(9))?;
    b.file(b"deep/a/b/c.txt", b"c", 0o644, t(10))?;
    b.file(b"deep/a/b/d.txt", b"no", 0o644, t(11))?;
    b.dir(b"keepdir", 0o755, t(12))?;
    b.file(
        b"keepdir/inside",
        b"no: the directory comes without contents",
        0o644,
        t(13),
    )?;
    b.file(b"bin\xff.dat", &data(100, 9), 0o644, t(14))?;
    b.dir(b"unlisted-dir", 0o755, t(15))?;
    b.finish()
}

/// Writes the `--files-from` list into `path`.
pub(crate) fn write_files_from(path: &Path, names: &[&[u8]]) -> io::Result<()> {
    let mut list = Vec::new();
    for n in names {
        list.extend_from_slice(n);
        list.push(0);
    }
    std::fs::write(path, list)
}

/// The `--files-from` list of the missing-args scenarios: names that exist in the source,
/// names that exist only on the destination (a file, a symlink, a non-empty and an empty
/// directory, a file inside a listed directory) and one that exists nowhere.
const MISSING_ARGS_LIST: &[&[u8]] = &[
    b"a.txt",
    b"gone-file",
    b"gone-dir",
    b"nowhere",
    b"b.txt",
    b"sub/in.txt",
    b"sub/gone",
    b"gone-link",
    b"empty-gone",
];

fn missing_args(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    b.file(b"a.txt", &data(3000, 31), 0o644, t(2))?;
    b.file(b"b.txt", b"new file", 0o640, t(3))?;
    b.file(b"unlisted.txt", b"not listed", 0o644, t(4))?;
    b.dir(b"sub", 0o750, t(5))?;
    b.file(b"sub/in.txt", b"inside", 0o644, t(6))?;
    b.file(b"sub/other", b"not listed", 0o644, t(7))?;
    b.finish()
}

/// What the destination has besides the listed names, whatever the options.
fn missing_args_bystanders(b: &mut TreeBuilder) -> io::Result<()> {
    b.root(0o755, t(90));
    b.file(b"bystander", b"not listed", 0o644, t(91))?;
    b.file(b"sub/stays", b"not listed", 0o644, t(92))?;
    Ok(())
}

/// What the missing names are on the destination before the run.
fn missing_args_victims(b: &mut TreeBuilder) -> io::Result<()> {
    b.file(b"gone-file", b"missing at the source", 0o644, t(93))?;
    b.symlink(b"gone-link", b"a.txt", t(94))?;
    b.dir(b"empty-gone", 0o755, t(95))?;
    b.file(b"sub/gone", b"missing at the source", 0o644, t(96))?;
    Ok(())
}

/// The non-empty directory a missing name names.
fn missing_args_gone_dir(b: &mut TreeBuilder) -> io::Result<()> {
    b.dir(b"gone-dir", 0o755, t(97))?;
    b.file(b"gone-dir/f", b"inside", 0o644, t(98))?;
    b.dir(b"gone-dir/deeper", 0o700, t(99))?;
    b.file(b"gone-dir/deeper/g", &data(500, 32), 0o600, t(100))?;
    Ok(())
}

fn missing_args_dest(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.dir(b"sub", 0o755, t(101))?;
    missing_args_bystanders(&mut b)?;
    missing_args_victims(&mut b)?;
    missing_args_gone_dir(&mut b)?;
    b.file(b"a.txt", &data(2500, 31), 0o644, t(102))?;
    b.finish()
}

/// The listed names that exist at the source, as sent (`sub` with the source's attributes).
fn missing_args_sent(b: &mut TreeBuilder) -> io::Result<()> {
    b.file(b"a.txt", &data(3000, 31), 0o644, t(2))?;
    b.file(b"b.txt", b"new file", 0o640, t(3))?;
    b.dir(b"sub", 0o750, t(5))?;
    b.file(b"sub/in.txt", b"inside", 0o644, t(6))?;
    Ok(())
}

fn missing_args_forced(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    missing_args_sent(&mut b)?;
    missing_args_bystanders(&mut b)?;
    b.finish()
}

fn missing_args_kept(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    missing_args_sent(&mut b)?;
    missing_args_bystanders(&mut b)?;
    missing_args_gone_dir(&mut b)?;
    b.finish()
}

fn missing_args_ignored(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    missing_args_sent(&mut b)?;
    missing_args_bystanders(&mut b)?;
    missing_args_victims(&mut b)?;
    missing_args_gone_dir(&mut b)?;
    b.finish()
}

/// Source of the itemize and dry-run scenarios: every kind of change against
/// [`itemize_dest`].
fn itemize(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    b.file(b"same", b"unchanged", 0o644, t(2))?;
    b.file(b"content-same-size", b"AAAA-new", 0o644, t(3))?;
    b.file(b"grown", &data(2000, 4), 0o644, t(4))?;
    b.file(b"time-only", b"time", 0o644, t(5))?;
    b.file(b"mode-only", b"mode", 0o600, t(6))?;
    b.file(b"new-file", b"new", 0o644, t(7))?;
    b.dir(b"new-dir", 0o755, t(8))?;
    b.file(b"new-dir/f", b"f", 0o644, t(9))?;
    b.dir(b"old-dir", 0o755, t(10))?;
    b.file(b"old-dir/f", &data(5000, 10), 0o644, t(11))?;
    b.symlink(b"link-retarget", b"same", t(12))?;
    b.symlink(b"link-same", b"same", t(13))?;
    b.file(b"file-to-link", b"", 0o644, t(14))?;
    b.symlink(b"link-to-file", b"same", t(15))?;
    b.dir(b"dir-mode", 0o700, t(16))?;
    b.finish()
}

fn itemize_dest(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(90));
    b.file(b"same", b"unchanged", 0o644, t(2))?;
    b.file(b"content-same-size", b"BBBB-old", 0o644, t(91))?;
    b.file(b"grown", &data(1500, 4), 0o644, t(92))?;
    b.file(b"time-only", b"time", 0o644, t(93))?;
    b.file(b"mode-only", b"mode", 0o644, t(6))?;
    b.dir(b"old-dir", 0o755, t(10))?;
    b.file(b"old-dir/f", &data(5000, 11), 0o644, t(94))?;
    b.file(b"old-dir/deleted", b"gone", 0o644, t(95))?;
    b.file(b"deleted-file", b"gone", 0o644, t(96))?;
    b.dir(b"deleted-dir", 0o755, t(97))?;
    b.file(b"deleted-dir/f", b"gone", 0o644, t(98))?;
    b.symlink(b"link-retarget", b"elsewhere", t(99))?;
    b.symlink(b"link-same", b"same", t(13))?;
    b.symlink(b"file-to-link", b"same", t(100))?;
    b.file(b"link-to-file", b"", 0o644, t(101))?;
    b.dir(b"dir-mode", 0o755, t(16))?;
    b.finish()
}

fn checksum(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    b.file(b"identical", &data(4000, 1), 0o644, t(2))?;
    b.file(b"same-size-same-time", &data(4000, 2), 0o644, t(3))?;
    b.file(b"one-byte-differs", &data(100_000, 3), 0o644, t(4))?;
    b.file(b"empty-vs-empty", b"", 0o644, t(5))?;
    b.file(b"only-in-source", b"new", 0o644, t(6))?;
    b.finish()
}

fn checksum_dest(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    b.file(b"identical", &data(4000, 1), 0o644, t(2))?;
    b.file(b"same-size-same-time", &data(4000, 20), 0o644, t(3))?;
    let mut one = data(100_000, 3);
    if let Some(x) = one.get_mut(54_321) {
        *x ^= 0x40;
    }
    b.file(b"one-byte-differs", &one, 0o644, t(4))?;
    b.file(b"empty-vs-empty", b"", 0o644, t(5))?;
    b.finish()
}

fn owners(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    let owners = [
        ("root", 0, 0),
        ("numeric", 1234, 5678),
        ("nobody", 65534, 65534),
        ("daemon-bin", 1, 2),
        ("mixed", 0, 4242),
    ];
    for (i, (name, uid, gid)) in owners.into_iter().enumerate() {
        b.file(name.as_bytes(), name.as_bytes(), 0o644, t(2 + i as u32))?;
        b.owner(name.as_bytes(), uid, gid)?;
    }
    b.dir(b"dir", 0o755, t(10))?;
    b.owner(b"dir", 4321, 4321)?;
    b.symlink(b"link", b"numeric", t(11))?;
    b.owner(b"link", 2222, 3333)?;
    b.finish()
}

fn specials(root: &Path) -> io::Result<()> {
    let mut b = TreeBuilder::new(root)?;
    b.root(0o755, t(1));
    b.fifo(b"pipe", 0o640, t(2))?;
    b.char_device(b"null-like", 1, 3, 0o666, t(3))?;
    b.file(b"plain", b"plain", 0o644, t(4))?;
    b.finish()
}
