//! Filter rules against stock `rsync`, for a table of rule sets over a tree of tricky names
//! (spaces, brackets, wildcard characters, backslashes, newlines, non-UTF-8 bytes, deep
//! paths):
//!
//! - **sender**: the names stock `rsync -r RULES src/ dst/` copies (locally, and pulled over a
//!   remote shell at protocols 31, 29 and 27) are exactly the names our [`FilterList`]
//!   selects when walking `src` with rsync's rule that an excluded directory is not
//!   descended into;
//! - **receiver**: with `--delete` and a destination holding extra names, the names stock
//!   rsync leaves (locally, and pushed at protocols 31 and 28) are exactly what our
//!   "protected" answers keep;
//! - **wire**: the filter list the stock client sends (captured through `--rsync-path`) is
//!   rule for rule what [`FilterList::wire_rules`] produces, and a "too modern" refusal
//!   happens for the same rule sets; the server side parses every captured list.
//!
//! Skips loudly without `rsync` (fails under `RSYNC_INTEROP=require`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure is a test failure

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rsync_proto::filter::wire::{decode_filter_list, list_is_sent, WireContext, WireLimits};
use rsync_proto::filter::{FilterError, FilterList, FilterSource, Query, Side};
use rsync_tests::interop_tool;

/// Files of the source tree (directories are created as needed; a trailing `/` makes an
/// empty directory).
const SOURCE: &[&[u8]] = &[
    b"a.c",
    b"a.o",
    b"b.h",
    b"b.c",
    b"core",
    b"README",
    b"with space.txt",
    b"trail ",
    b".hidden",
    b".git/config",
    b".git/objects/x",
    b"[brackets].c",
    b"star*name",
    b"q?mark",
    b"back\\slash",
    b"hash#x",
    b"-dash",
    b"+plus",
    b"!bang",
    b"7up.c",
    b"v2.txt",
    b"m2rules",
    b"new\nline.c",
    b"caf\xe9.c",
    b"dir\xff/x.c",
    b"dir\xff/y.o",
    b"src/main.c",
    b"src/main.o",
    b"src/core",
    b"src/util/deep.c",
    b"src/util/deep.h",
    b"src/util/deeper/x.c",
    b"src/util/deeper/x.o",
    b"src/a b/c d.c",
    b"build/out.o",
    b"build/log.txt",
    b"build/sub/keep.c",
    b"docs/guide.md",
    b"docs/build",
    b"docs/img/pic.png",
    b"docs/img/keep/",
    b"d1/d2/d3/d4/d5/leaf.c",
    b"d1/d2/d3/d4/d5/leaf.o",
    b"tmp/a.tmp",
    b"tmp/keep.c",
    b"cache.tmp",
    b"dir.c/inner.txt",
    b"empty/",
];

/// Names only the destination has, for the `--delete` runs.
const EXTRA: &[&[u8]] = &[
    b"extra.o",
    b"extra.txt",
    b"src/old.o",
    b"src/old.c",
    b"build/stale.o",
    b"gone_dir/inner.o",
    b"gone_dir/inner.txt",
    b"gone_dir/sub/deep.o",
    b"keep/k.txt",
    b"src/util/deeper/old.tmp",
    b"docs/img/keep/x.png",
    b"core2",
    b".hidden_extra",
    b"d1/d2/extra.c",
    b"caf\xe9.o",
    b"perish/a.o",
    b"perish/b.o",
];

/// Rule files, written to the rules directory and named in rule sets as `@NAME`.
const FILES: &[(&str, &[u8])] = &[
    (
        "list1",
        b"# comment\r\n*.o\r\n\r\n; another\r\n+ src/\n- src/*\n/core\n",
    ),
    ("list2", b"*/\n*.c\n*.h\n"),
    (
        "list0",
        b"*.o\0# not a comment? it is\0core\0with space.txt\0",
    ),
    ("m1", b"# merged\n+ */\nH *.o\n+ *.c\n- *\n"),
    ("m2rules", b"- *.h\n"),
    ("m3", b"*.o\n+ b.c\ncore\n"),
    ("m4", b"*.c\n"),
    ("m6", b"*.o core\t*.tmp\n"),
    ("m7", b"*.o *.h ! *.tmp core\n"),
    ("home/.cvsignore", b"*.md\n"),
];

/// Rule sets: command-line arguments, `@NAME` for a rule file, `@SRC` for the absolute
/// source directory.
const SETS: &[&[&[u8]]] = &[
    &[b"--exclude=*.o"],
    &[b"--exclude=/core"],
    &[b"--exclude=core"],
    &[b"--exclude=build/"],
    &[b"--exclude=src/util"],
    &[b"--exclude=util/deeper/"],
    &[b"--exclude=/src/*/deeper"],
    &[b"--exclude=**/deeper/*.o"],
    &[b"--exclude=src/**/*.o"],
    &[b"--exclude=d1/***"],
    &[b"--filter=- /d1/**/leaf.*"],
    &[b"--filter=- d1/d2/d3/d4/"],
    &[b"-f", b"+ */", b"-f", b"+ *.c", b"-f", b"- *"],
    &[
        b"--filter=+ */",
        b"--filter=+ *.[ch]",
        b"--filter=- *",
        b"--delete-excluded",
    ],
    &[b"--include=src/", b"--include=src/main.c", b"--exclude=*"],
    &[
        b"--include=src/util/deeper/x.c",
        b"--exclude=src/util/deeper",
    ],
    &[b"--filter=- [[:digit:]]*"],
    &[b"--filter=- *[!a-z.]*"],
    &[b"--filter=- [brackets].c"],
    &[
        b"--filter=- \\[brackets\\].c",
        b"--filter=- star\\*name",
        b"--filter=- q\\?mark",
    ],
    &[b"--filter=- back\\slash", b"--filter=exclude hash#x"],
    &[b"--filter=-! */"],
    &[b"--filter=-! *.c"],
    &[b"--exclude=with space.txt", b"--filter=- trail "],
    &[b"--filter=- .*"],
    &[b"--filter=-/ @SRC/src/main.c", b"--filter=-/ util/deep.h"],
    &[b"--filter=H! */"],
    &[b"--include=*.c", b"--exclude=*.o"],
    &[
        b"--exclude=- dash",
        b"--exclude=-dash",
        b"--include=+ *.c",
        b"--exclude=+plus",
    ],
    &[b"--exclude-from=@list1"],
    &[b"--include-from=@list2", b"--exclude=*"],
    &[b"--from0", b"--exclude-from=@list0"],
    &[b"--filter=merge @m1"],
    &[b"--filter=.e @m2rules"],
    &[b"--filter=merge,- @m3"],
    &[b"--filter=merge,+ @m4", b"--filter=+ */", b"--filter=- *"],
    &[b"--filter=.-w @m6"],
    &[b"--filter=-C"],
    &[b"--filter=.C @m7"],
    &[b"--exclude=*.o", b"--filter=!", b"--exclude=*.h"],
    &[b"--filter=- caf\xe9*", b"--filter=- dir\xff/"],
    &[b"--filter=- [[:alpha:]][[:alpha:]][[:alpha:]][[:alpha:]].[[:alpha:]]"],
    &[b"--filter=- ***"],
    &[b"--filter=+ **/keep.c", b"--filter=- *.c"],
    &[
        b"--filter=exclude,s *.o",
        b"--filter=protect /build",
        b"--filter=risk build/stale.o",
    ],
    &[
        b"--filter=H *.o",
        b"--filter=P *.txt",
        b"--filter=S a.o",
        b"--filter=- *.h",
    ],
    &[
        b"--filter=-p *.o",
        b"--filter=- keep/",
        b"--filter=P gone_dir/inner.txt",
    ],
    &[b"--exclude=*.o", b"--exclude=keep", b"--delete-excluded"],
    &[b"--filter=R *.o", b"--filter=- *.o", b"--filter=P extra.*"],
    &[
        b"--filter=hide,/ @SRC/docs",
        b"--filter=show,p *.c",
        b"--filter=- *.c",
    ],
];

struct Fixture {
    rsync: PathBuf,
    _tmp: tempfile::TempDir,
    root: PathBuf,
    src: PathBuf,
    rules: PathBuf,
    fake_rsh: PathBuf,
    capture: PathBuf,
}

fn p(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

fn make_tree(dir: &Path, names: &[&[u8]]) {
    for n in names {
        let path = dir.join(p(n));
        if n.ends_with(b"/") {
            std::fs::create_dir_all(&path).unwrap();
        } else {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, n).unwrap();
        }
    }
}

fn fixture() -> Option<Fixture> {
    let rsync = interop_tool("rsync")?;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let src = root.join("src");
    make_tree(&src, SOURCE);
    let rules = root.join("rules");
    for (name, contents) in FILES {
        let path = rules.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    // --rsync-path wrapper: records what the client sends, then runs the real server. The
    // server reads through a FIFO fed by a background `tee` (which writes the capture file
    // before the FIFO), and the script execs into rsync so that the client waits for rsync.
    let capture = root.join("capture-server");
    // (A background job's stdin is /dev/null unless redirected, hence fd 3.)
    let script = "#!/bin/sh\nfifo=\"$FILTER_CAPTURE.fifo\"\nrm -f \"$fifo\"\nmkfifo \"$fifo\"\n\
                  exec 3<&0\ntee \"$fifo\" <&3 > \"$FILTER_CAPTURE\" &\n\
                  exec rsync \"$@\" < \"$fifo\" 3<&-\n";
    std::fs::write(&capture, script).unwrap();
    std::fs::set_permissions(&capture, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fake_rsh = Path::new(env!("CARGO_MANIFEST_DIR")).join("capture/fake-rsh");
    Some(Fixture {
        rsync,
        _tmp: tmp,
        root,
        src,
        rules,
        fake_rsh,
        capture,
    })
}

impl Fixture {
    /// The rule set with `@NAME` and `@SRC` substituted.
    fn args(&self, set: &[&[u8]]) -> Vec<Vec<u8>> {
        let src = self.src.as_os_str().as_bytes();
        let rules = self.rules.as_os_str().as_bytes();
        set.iter()
            .map(|a| {
                let a = replace(a, b"@SRC", src);
                replace(&a, b"@", &[rules, b"/"].concat())
            })
            .collect()
    }

    fn rsync(&self, args: &[Vec<u8>], extra: &[&OsStr], capture: &Path) -> std::process::Output {
        let home = self.rules.join("home");
        Command::new(&self.rsync)
            .args(args.iter().map(|a| OsStr::from_bytes(a)))
            .args(extra)
            .env("HOME", home)
            .env("CVSIGNORE", "*.envpat cache.*")
            .env("FILTER_CAPTURE", capture)
            .output()
            .unwrap()
    }
}

/// The rule set for messages.
fn shown(args: &[Vec<u8>]) -> Vec<String> {
    args.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = hay;
    while let Some(i) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(to);
        rest = &rest[i + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Reads merge files and the CVS sources the way the rsync runs see them.
struct Source<'a>(&'a Fixture);

impl FilterSource for Source<'_> {
    fn merge_file(&mut self, name: &[u8]) -> std::io::Result<Vec<u8>> {
        std::fs::read(p(name))
    }
    fn home_cvsignore(&mut self) -> Option<Vec<u8>> {
        std::fs::read(self.0.rules.join("home/.cvsignore")).ok()
    }
    fn cvsignore_env(&mut self) -> Option<Vec<u8>> {
        Some(b"*.envpat cache.*".to_vec())
    }
}

/// The rule set as our library parses it, and whether it asks for `--delete-excluded`.
fn our_list(fx: &Fixture, args: &[Vec<u8>]) -> Result<FilterList, FilterError> {
    // Options take effect in order, as rsync's option parser applies them: a rule parsed
    // before --delete-excluded is written without the "s" that one parsed after gets.
    let mut l = FilterList::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = |key: &[u8]| a.strip_prefix(key).map(<[u8]>::to_vec);
        if a == b"-f" {
            l.add_filter_with(it.next().unwrap(), &mut Source(fx))?;
        } else if let Some(v) = value(b"--filter=") {
            l.add_filter_with(&v, &mut Source(fx))?;
        } else if let Some(v) = value(b"--include=") {
            l.add_include(&v)?;
        } else if let Some(v) = value(b"--exclude=") {
            l.add_exclude(&v)?;
        } else if let Some(v) = value(b"--include-from=") {
            l.add_include_from(&std::fs::read(p(&v)).unwrap())?;
        } else if let Some(v) = value(b"--exclude-from=") {
            l.add_exclude_from(&std::fs::read(p(&v)).unwrap())?;
        } else if a == b"--delete-excluded" {
            l.set_delete_excluded(true);
        } else if a == b"--from0" {
            l.set_from0(true);
        } else {
            panic!("unknown option {a:?}");
        }
    }
    Ok(l)
}

/// Every name under `dir` (relative, `/`-separated) and whether it is a directory.
fn scan(dir: &Path) -> Tree {
    let mut out = BTreeMap::new();
    walk(dir, b"", &mut |rel, is_dir| {
        out.insert(rel.to_vec(), is_dir);
        true
    });
    out
}

/// Visits the entries under `dir`, descending into a directory when `visit` says so.
fn walk(dir: &Path, rel: &[u8], visit: &mut dyn FnMut(&[u8], bool) -> bool) {
    let mut entries: Vec<_> = std::fs::read_dir(dir.join(p(rel)))
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let path = if rel.is_empty() {
            name.as_bytes().to_vec()
        } else {
            [rel, b"/", name.as_bytes()].concat()
        };
        let is_dir = e.file_type().unwrap().is_dir();
        if visit(&path, is_dir) && is_dir {
            walk(dir, &path, visit);
        }
    }
}

/// Our sender: the names of `src` the list does not hide, without descending into hidden
/// directories.
fn sender_model(list: &FilterList, src: &Path) -> Tree {
    let base = src.as_os_str().as_bytes();
    let mut out = BTreeMap::new();
    walk(src, b"", &mut |rel, is_dir| {
        let q = Query {
            base_dir: Some(base),
            ..Query::new(rel, is_dir, Side::Sender)
        };
        let hidden = list
            .matching_rule(&q)
            .is_some_and(|r| r.verdict() == rsync_proto::filter::Verdict::Exclude);
        if !hidden {
            out.insert(rel.to_vec(), is_dir);
        }
        !hidden
    });
    out
}

fn parent(path: &[u8]) -> &[u8] {
    path.iter()
        .rposition(|&b| b == b'/')
        .map_or(&b""[..], |i| &path[..i])
}

/// Our receiver: what `--delete` leaves of `before` once `sent` has arrived. In each sent
/// directory, a name the sender did not send is deleted unless protected; inside a
/// directory being deleted, protected names (perishable rules ignored) survive and keep
/// their parents.
fn receiver_model(list: &FilterList, dst: &Path, before: &Tree, sent: &Tree) -> Tree {
    let mut m = Deleter {
        list,
        base: dst.as_os_str().as_bytes(),
        before,
        after: before.clone(),
    };
    m.after.extend(sent.iter().map(|(k, v)| (k.clone(), *v)));
    let dirs =
        std::iter::once(Vec::new()).chain(sent.iter().filter(|(_, d)| **d).map(|(k, _)| k.clone()));
    for d in dirs {
        for (c, c_dir) in m.children(&d) {
            if !sent.contains_key(&c) && !m.protected(&c, c_dir, false) {
                m.delete(&c, c_dir);
            }
        }
    }
    m.after
}

/// Names by path, with "is a directory".
type Tree = BTreeMap<Vec<u8>, bool>;

/// The receiver model's state: the destination before and after deletions.
struct Deleter<'a> {
    list: &'a FilterList,
    base: &'a [u8],
    before: &'a Tree,
    after: Tree,
}

impl Deleter<'_> {
    fn protected(&self, path: &[u8], is_dir: bool, ignore_perishable: bool) -> bool {
        let q = Query {
            base_dir: Some(self.base),
            ignore_perishable,
            ..Query::new(path, is_dir, Side::Receiver)
        };
        self.list
            .matching_rule(&q)
            .is_some_and(|r| r.verdict() == rsync_proto::filter::Verdict::Exclude)
    }

    fn children(&self, dir: &[u8]) -> Vec<(Vec<u8>, bool)> {
        self.before
            .iter()
            .filter(|(k, _)| parent(k) == dir)
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// rsync `delete_item` + `delete_dir_contents`: deletes `path`, except protected names
    /// inside it (perishable rules ignored), which keep their directories. Returns whether
    /// `path` went away.
    fn delete(&mut self, path: &[u8], is_dir: bool) -> bool {
        let mut empty = true;
        if is_dir {
            for (c, c_dir) in self.children(path) {
                if self.protected(&c, c_dir, true) || !self.delete(&c, c_dir) {
                    empty = false;
                }
            }
        }
        if empty {
            self.after.remove(path);
        }
        empty
    }
}

fn show(set: &Tree) -> Vec<String> {
    set.iter()
        .map(|(k, d)| {
            format!(
                "{}{}",
                String::from_utf8_lossy(k),
                if *d { "/" } else { "" }
            )
        })
        .collect()
}

fn assert_same(what: &str, args: &[Vec<u8>], got: &Tree, want: &Tree) {
    if got != want {
        let missing: Vec<_> = show(want)
            .into_iter()
            .filter(|n| !show(got).contains(n))
            .collect();
        let extra: Vec<_> = show(got)
            .into_iter()
            .filter(|n| !show(want).contains(n))
            .collect();
        panic!(
            "{what} {:?}: stock rsync and our rules disagree\n  only ours: {missing:?}\n  only rsync's: {extra:?}",
            shown(args)
        );
    }
}

/// The filter rules the client sent, from a capture of the client → server stream.
fn captured_rules(c2s: &[u8], protocol: u32) -> Result<Vec<Vec<u8>>, FilterError> {
    let body = &c2s[4..];
    let data = if protocol >= 30 {
        let mut data = Vec::new();
        let mut rest = body;
        while rest.len() >= 4 {
            let h = u32::from_le_bytes(rest[..4].try_into().unwrap());
            let len = (h & 0x00ff_ffff) as usize;
            let Some(payload) = rest.get(4..4 + len) else {
                break;
            };
            if h >> 24 == 7 {
                data.extend_from_slice(payload);
            }
            rest = &rest[4 + len..];
        }
        data
    } else {
        body.to_vec()
    };
    decode_filter_list(&data, &WireLimits::default()).map(|(rules, _)| rules)
}

/// One remote run through the capture wrapper; compares what the stock client sent with
/// what we would send. Returns false when both refused the rules as too modern.
fn remote_run(
    fx: &Fixture,
    args: &[Vec<u8>],
    list: &FilterList,
    protocol: u32,
    push: bool,
    dst: &Path,
) -> bool {
    let a = shown(args);
    let cap = dst.with_extension("c2s");
    let _ = std::fs::remove_file(&cap);
    let proto = format!("--protocol={protocol}");
    let mut extra: Vec<&OsStr> = vec![
        "-r".as_ref(),
        proto.as_ref(),
        "-e".as_ref(),
        fx.fake_rsh.as_os_str(),
    ];
    let rsync_path = [
        b"--rsync-path=".as_slice(),
        fx.capture.as_os_str().as_bytes(),
    ]
    .concat();
    extra.push(OsStr::from_bytes(&rsync_path));
    if protocol >= 30 {
        extra.push("--checksum-choice=md5".as_ref());
    }
    let delete = push || args.iter().any(|a| a == b"--delete-excluded");
    if push {
        extra.push("--delete".as_ref());
    }
    let from = [fx.src.as_os_str().as_bytes(), b"/"].concat();
    let to = [dst.as_os_str().as_bytes(), b"/"].concat();
    let (from, to) = if push {
        (from, [b"localhost:".as_slice(), &to].concat())
    } else {
        ([b"localhost:".as_slice(), &from].concat(), to)
    };
    extra.push(OsStr::from_bytes(&from));
    extra.push(OsStr::from_bytes(&to));
    let out = fx.rsync(args, &extra, &cap);
    let ctx = WireContext {
        protocol,
        client_is_sender: push,
        delete,
        prune_empty_dirs: false,
    };
    let ours = list.wire_rules(&ctx);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("filter rules are too modern") {
        assert!(
            matches!(ours, Err(FilterError::TooModern { .. })),
            "{a:?} p{protocol}: rsync refused, we sent {ours:?}"
        );
        return false;
    }
    assert!(
        out.status.success(),
        "{a:?} p{protocol} push={push}: rsync failed: {stderr}"
    );
    if !list_is_sent(&ctx, list.delete_excluded()) {
        // Nothing to capture: the file list follows the version directly (rsync checked
        // the rules anyway, as we do).
        assert!(ours.is_ok_and(|o| o.is_none()), "{a:?} p{protocol}");
        return true;
    }
    let c2s = std::fs::read(&cap).unwrap();
    let sent = captured_rules(&c2s, protocol)
        .unwrap_or_else(|e| panic!("{a:?} p{protocol} push={push}: {e}: {c2s:02x?}"));
    let ours =
        ours.unwrap_or_else(|e| panic!("{a:?} p{protocol}: rsync sent {sent:?}, we refused: {e}"));
    assert_eq!(
        ours.as_deref().map(shown),
        Some(shown(&sent)),
        "{a:?} p{protocol} push={push}: filter list on the wire"
    );
    // The server side parses what the stock client sent.
    let de = args.iter().any(|a| a == b"--delete-excluded");
    FilterList::from_wire(&sent, protocol, de).unwrap_or_else(|e| panic!("{a:?}: {sent:?}: {e}"));
    true
}

/// Every comparison for rule set `n`; returns the number of transfers compared.
fn check_set(fx: &Fixture, n: usize, set: &[&[u8]]) -> usize {
    let dsts = fx.root.join("dst");
    let mut runs = 0;
    {
        let args = fx.args(set);
        let a = shown(&args);
        let list = our_list(fx, &args).unwrap_or_else(|e| panic!("{a:?}: {e}"));
        let sent = sender_model(&list, &fx.src);

        // Sender: local copy into an empty destination.
        let dst = dsts.join(format!("sel{n}"));
        let from = [fx.src.as_os_str().as_bytes(), b"/"].concat();
        let out = fx.rsync(
            &args,
            &["-r".as_ref(), OsStr::from_bytes(&from), dst.as_os_str()],
            &fx.root.join("unused"),
        );
        assert!(
            out.status.success(),
            "{a:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_same("local copy", &args, &scan(&dst), &sent);
        runs += 1;

        // Sender over the wire: pulls at 31, 29 and 27.
        for protocol in [31, 29, 27] {
            let dst = dsts.join(format!("pull{n}-{protocol}"));
            if remote_run(fx, &args, &list, protocol, false, &dst) {
                assert_same(&format!("pull p{protocol}"), &args, &scan(&dst), &sent);
                runs += 1;
            }
        }

        // Receiver: --delete into a destination holding the source plus extra names.
        for (mode, protocol) in [("local", 32), ("push", 31), ("push", 28)] {
            let dst = dsts.join(format!("del{n}-{mode}{protocol}"));
            make_tree(&dst, SOURCE);
            make_tree(&dst, EXTRA);
            let before = scan(&dst);
            let want = receiver_model(&list, &dst, &before, &sent);
            if mode == "local" {
                let to = [dst.as_os_str().as_bytes(), b"/"].concat();
                let out = fx.rsync(
                    &args,
                    &[
                        "-r".as_ref(),
                        "--delete".as_ref(),
                        OsStr::from_bytes(&from),
                        OsStr::from_bytes(&to),
                    ],
                    &fx.root.join("unused"),
                );
                assert!(
                    out.status.success(),
                    "{a:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            } else if !remote_run(fx, &args, &list, protocol, true, &dst) {
                continue;
            }
            assert_same(
                &format!("--delete {mode} p{protocol}"),
                &args,
                &scan(&dst),
                &want,
            );
            runs += 1;
        }
    }
    runs
}

#[test]
fn filter_rules_match_stock_rsync() {
    let Some(fx) = fixture() else { return };
    std::fs::create_dir(fx.root.join("dst")).unwrap();
    // rsync spends most of a run waiting for its processes, so run the sets side by side.
    let workers = 8;
    let runs: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let fx = &fx;
                s.spawn(move || {
                    (w..SETS.len())
                        .step_by(workers)
                        .map(|n| check_set(fx, n, SETS[n]))
                        .sum::<usize>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    eprintln!(
        "filter interop: {} rule sets, {runs} transfers agreed with stock rsync",
        SETS.len()
    );
    assert!(runs >= SETS.len() * 4);
}
