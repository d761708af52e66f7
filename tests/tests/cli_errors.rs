//! Bad command-line input: each mistake must end with a clear message on stderr (naming the
//! problem and the path), exactly one closing `rsync-constant error: ... (code N)` line, no
//! panic, and rsync's exit code.
//!
//! Where stock rsync has the same option, it runs with the same arguments and its exit code
//! is compared: equal ([`Stock::Same`]), or a documented divergence ([`Stock::Differs`]:
//! rsync's code and why ours differs; the test fails if either side changes, so the table
//! in the final report stays true). [`Stock::Lacks`] checks that rsync refuses an option of
//! ours as unknown. Stock rsync comes from [`rsync_tests::interop_tool`]: without it the
//! comparison is skipped loudly (a failure under `RSYNC_INTEROP=require`), our side still
//! runs.
//!
//! Every command runs under [`DEADLINE`] in its own process group (`peers::run`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure is a test failure

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rsync_tests::interop_tool;
use rsync_tests::peers::{ours_binary, run, Run};

/// The wall-clock bound of one command (each should take well under a second).
const DEADLINE: Duration = Duration::from_secs(15);

/// What stock rsync does with the same arguments.
#[derive(Clone, Copy)]
enum Stock {
    /// The same exit code as ours.
    Same,
    /// Another exit code, for the reason given.
    Differs(i32, &'static str),
    /// The same exit code as ours, or this one: stock's depends on timing, for the reason given.
    SameOr(i32, &'static str),
    /// rsync has no such option: it exits 1 with "unknown option".
    Lacks,
    /// Not comparable (the outcome depends on the network), not run.
    NotRun(&'static str),
}

/// One mistake.
struct Case {
    /// What is wrong, for messages.
    what: &'static str,
    /// The arguments (absolute paths).
    args: Vec<OsString>,
    /// Our exit code.
    code: i32,
    /// Texts our stderr must contain.
    says: Vec<String>,
    /// Stock rsync's behaviour.
    stock: Stock,
}

fn os(s: impl AsRef<OsStr>) -> OsString {
    s.as_ref().to_os_string()
}

fn args(list: &[&dyn AsRef<OsStr>]) -> Vec<OsString> {
    list.iter().map(os).collect()
}

/// A work directory (no whitespace: `-e` is split at spaces) with `src/{a,sub/b}`, a list
/// file `list` naming `a`, and a directory `ldir`.
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("cli-errors")
        .tempdir()
        .expect("tempdir");
    let root = dir.path().to_path_buf();
    fs::create_dir_all(root.join("src/sub")).expect("mkdir");
    fs::write(root.join("src/a"), b"alpha\n").expect("write");
    fs::write(root.join("src/sub/b"), b"beta\n").expect("write");
    fs::write(root.join("list"), b"a\n").expect("write");
    fs::create_dir(root.join("ldir")).expect("mkdir");
    (dir, root)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn describe(r: &Run) -> String {
    format!(
        "command: {}\nexit: {:?}\nstderr:\n{}\nstdout:\n{}",
        r.command,
        r.exit(),
        text(&r.stderr),
        text(&r.stdout)
    )
}

/// Runs `prefix... program args` under the deadline.
fn run_with(prefix: &[OsString], program: &Path, args: &[OsString]) -> Run {
    let r = match prefix.split_first() {
        None => run(program, args, DEADLINE),
        Some((first, rest)) => {
            let mut all = rest.to_vec();
            all.push(program.as_os_str().to_os_string());
            all.extend(args.iter().cloned());
            run(Path::new(first), &all, DEADLINE)
        }
    };
    r.unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

/// Runs a case with ours and, where comparable, stock rsync (`rsync` may be `None`: skipped).
fn check(case: &Case, prefix: &[OsString], rsync: Option<&Path>) {
    let ours = ours_binary().unwrap_or_else(|e| panic!("{e}"));
    let r = run_with(prefix, &ours, &case.args);
    let what = case.what;
    let code = r
        .exit()
        .unwrap_or_else(|e| panic!("{what}: ours {e}\n{}", describe(&r)));
    let err = text(&r.stderr);
    assert!(
        !err.contains("panicked"),
        "{what}: ours panicked\n{}",
        describe(&r)
    );
    assert_eq!(code, case.code, "{what}: our exit code\n{}", describe(&r));
    for needle in &case.says {
        assert!(
            err.contains(needle.as_str()),
            "{what}: stderr lacks {needle:?}\n{}",
            describe(&r)
        );
    }
    let closing: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("rsync-constant error: "))
        .collect();
    if code == 0 {
        assert!(
            closing.is_empty(),
            "{what}: error line on success\n{}",
            describe(&r)
        );
    } else {
        assert_eq!(
            closing.len(),
            1,
            "{what}: exactly one closing error line\n{}",
            describe(&r)
        );
        assert!(
            closing[0].ends_with(&format!("(code {code})")),
            "{what}: closing line names the code\n{}",
            describe(&r)
        );
    }
    let Some(rsync) = rsync else { return };
    let (expected, alternative, why) = match case.stock {
        Stock::NotRun(why) => {
            eprintln!("{what}: stock rsync not run: {why}");
            return;
        }
        Stock::Same => (case.code, None, "the same code as ours"),
        Stock::Differs(c, why) => (c, None, why),
        Stock::SameOr(c, why) => (case.code, Some(c), why),
        Stock::Lacks => (1, None, "rsync lacks the option"),
    };
    let s = run_with(prefix, rsync, &case.args);
    let stock = s
        .exit()
        .unwrap_or_else(|e| panic!("{what}: stock rsync {e}\n{}", describe(&s)));
    assert!(
        stock == expected || Some(stock) == alternative,
        "{what}: stock rsync's exit code {stock} (expected {expected}, or {alternative:?}: \
         {why})\nours:\n{}\nstock:\n{}",
        describe(&r),
        describe(&s)
    );
    if matches!(case.stock, Stock::Lacks) {
        assert!(
            text(&s.stderr).contains("unknown option"),
            "{what}: rsync should not know the option\n{}",
            describe(&s)
        );
    }
}

fn check_all(cases: &[Case]) {
    let rsync = interop_tool("rsync");
    for case in cases {
        check(case, &[], rsync.as_deref());
    }
}

fn p(root: &Path, rel: &str) -> PathBuf {
    root.join(rel)
}

#[test]
fn options_are_checked_like_rsync() {
    let (_dir, root) = fixture();
    let src = format!("{}/", p(&root, "src").display());
    let dst = p(&root, "dst");
    let case = |what, extra: &[&str], code, says: &[&str], stock| {
        let mut a: Vec<OsString> = extra.iter().map(os).collect();
        a.push(os(&src));
        a.push(os(&dst));
        Case {
            what,
            args: a,
            code,
            says: says.iter().map(|s| (*s).to_owned()).collect(),
            stock,
        }
    };
    let mut cases = vec![
        case(
            "unknown long option",
            &["--bogus"],
            1,
            &["--bogus: unknown option"],
            Stock::Same,
        ),
        case(
            "unknown short option",
            &["-Q"],
            1,
            &["-Q: unknown option"],
            Stock::Same,
        ),
        case(
            "bad number",
            &["--timeout=abc"],
            1,
            &["--timeout", "\"abc\""],
            Stock::Same,
        ),
        case(
            "block size too large",
            &["--block-size=200000"],
            1,
            &["--block-size=200000 is too large (max: 131072)"],
            Stock::Same,
        ),
        case(
            "block size beyond 32 bits",
            &["-B", "99999999999"],
            1,
            &["is too large"],
            Stock::Same,
        ),
        case(
            "block size not a number",
            &["-B", "abc"],
            1,
            &["\"abc\""],
            Stock::Same,
        ),
        case(
            "protocol out of range",
            &["--protocol=99"],
            2,
            &["--protocol=99"],
            Stock::Same,
        ),
        case(
            "unknown checksum",
            &["--checksum-choice=bogus"],
            4,
            &["unknown checksum name: bogus"],
            Stock::Same,
        ),
        case(
            "negative timeout",
            &["--timeout=-1"],
            1,
            &["--timeout", "\"-1\""],
            Stock::Differs(0, "rsync accepts a negative --timeout silently"),
        ),
        case(
            "option we do not implement",
            &["--max-delete=-1"],
            4,
            &["--max-delete: option not supported"],
            Stock::Differs(0, "rsync implements --max-delete"),
        ),
        case(
            "bad --settle duration",
            &["--settle=xyz"],
            1,
            &["--settle", "\"xyz\""],
            Stock::Lacks,
        ),
        case(
            "--settle without --constant",
            &["--settle=1s"],
            1,
            &["--settle needs --constant"],
            Stock::Lacks,
        ),
    ];
    // An option missing its argument: the option is last.
    for opt in ["--timeout", "-e"] {
        cases.push(Case {
            what: "option missing its argument",
            args: args(&[&src, &dst, &opt]),
            code: 1,
            says: vec![format!("{opt}: missing argument")],
            stock: Stock::Same,
        });
    }
    check_all(&cases);
    assert!(
        !dst.exists(),
        "no refused command may create the destination"
    );
    // --block-size=0 is the default, accepted by both.
    check_all(&[case("block size 0", &["-r", "-B0"], 0, &[], Stock::Same)]);
    assert_eq!(fs::read(dst.join("sub/b")).expect("copied"), b"beta\n");
}

#[test]
fn operands_are_checked_like_rsync() {
    let (_dir, root) = fixture();
    let src = format!("{}/", p(&root, "src").display());
    let dst = p(&root, "dst").display().to_string();
    // `-e false`: where rsync would start a remote shell, it fails at once.
    let c = |what, a: &[&str], code, says: &[&str], stock| Case {
        what,
        args: a.iter().map(os).collect(),
        code,
        says: says.iter().map(|s| (*s).to_owned()).collect(),
        stock,
    };
    let bracket = format!("{}/[::1:dst", root.display());
    check_all(&[
        c(
            "no operand",
            &["-a"],
            1,
            &["a source and a destination are required"],
            Stock::Same,
        ),
        c(
            "a single operand",
            &["-a", &src],
            4,
            &["listing files", "not supported"],
            Stock::Differs(0, "rsync lists the files; we do not implement listing"),
        ),
        c(
            "empty source",
            &["-a", "", &dst],
            1,
            &["Empty source arg specified."],
            Stock::Same,
        ),
        c(
            "empty destination",
            &["-a", &src, ""],
            1,
            &["Empty destination arg specified"],
            Stock::Same,
        ),
        c(
            "remote source after a local one",
            &["-a", "-e", "false", &src, "host:x", &dst],
            1,
            &["Unexpected remote arg: host:x"],
            Stock::Same,
        ),
        c(
            "local source after a remote one",
            &["-a", "-e", "false", "host:x", &src, &dst],
            1,
            &["Unexpected local arg: ", "prefix it with a colon"],
            Stock::Same,
        ),
        c(
            "sources on two hosts",
            &["-a", "-e", "false", "h1:x", "h2:y", &dst],
            1,
            &["All source args must come from the same machine."],
            Stock::Same,
        ),
        c(
            "both ends remote",
            &["-a", "-e", "false", "h1:x", "h2:y"],
            1,
            &["The source and destination cannot both be remote."],
            Stock::Same,
        ),
        c(
            "empty host",
            &["-a", "-e", "false", &src, ":dst"],
            1,
            &[":dst: the host name before ':' is empty", "./:dst"],
            Stock::Differs(12, "rsync hands the empty host to the remote shell"),
        ),
        c(
            "empty host with a user",
            &["-a", "-e", "false", &src, "me@:dst"],
            1,
            &["me@:dst: the host name before ':' is empty"],
            Stock::Differs(12, "rsync hands the empty host to the remote shell"),
        ),
        c(
            "daemon module",
            &["-a", &src, "127.0.0.1::module"],
            4,
            &["rsync daemon transfers", "not supported"],
            Stock::NotRun("rsync connects to a daemon"),
        ),
        c(
            "daemon URL",
            &["-a", &src, "rsync://127.0.0.1:1/module"],
            4,
            &["rsync daemon transfers", "not supported"],
            Stock::NotRun("rsync connects to a daemon"),
        ),
        c(
            "unbalanced quote in -e",
            &["-a", "-e", "ssh 'x", &src, "host:dst"],
            1,
            &["unterminated single quote"],
            Stock::NotRun("rsync runs the shell with the quote as typed"),
        ),
    ]);
    assert!(!Path::new(&dst).exists(), "nothing was transferred");
    // A bracket that does not close is not a host: a local directory of that name.
    check_all(&[c(
        "unclosed bracket",
        &["-r", &src, &bracket],
        0,
        &[],
        Stock::Same,
    )]);
    assert!(Path::new(&bracket).join("a").is_file());
}

#[test]
fn remote_shell_that_cannot_start() {
    let (_dir, root) = fixture();
    let src = format!("{}/", p(&root, "src").display());
    let missing = format!("{}/no-such-rsh", root.display());
    check_all(&[Case {
        what: "-e names a program that does not exist",
        args: args(&[&"-a", &"-e", &missing, &src, &"host:dst"]),
        code: 14,
        says: vec![format!("Failed to exec {missing}"), "No such file".into()],
        stock: Stock::SameOr(
            12,
            "stock's cleanup takes the child's code (14) only if the child that could not \
             exec the shell has already exited (waitpid WNOHANG); else the end of the pipe, 12",
        ),
    }]);
}

#[test]
fn missing_paths() {
    let (_dir, root) = fixture();
    let dst = p(&root, "dst");
    let missing_dir = format!("{}/", p(&root, "missing").display());
    let missing_file = p(&root, "src/missing");
    let deep = p(&root, "nodir/sub/dst");
    // A trailing slash: a directory even for a single file.
    let dst_dir = format!("{}/", dst.display());
    check_all(&[
        Case {
            what: "missing source directory",
            args: args(&[&"-a", &missing_dir, &dst]),
            code: 23,
            says: vec![
                "change_dir".into(),
                missing_dir.clone(),
                "No such file or directory".into(),
            ],
            stock: Stock::Same,
        },
        Case {
            what: "missing source file",
            args: args(&[&"-a", &missing_file, &p(&root, "src/a"), &dst_dir]),
            code: 23,
            says: vec![
                "link_stat".into(),
                missing_file.display().to_string(),
                "No such file or directory".into(),
            ],
            stock: Stock::Same,
        },
        Case {
            what: "destination's parent missing",
            args: args(&[&"-a", &format!("{}/", p(&root, "src").display()), &deep]),
            // Our receiver (the local server) ends the run at once, as rsync's does, and
            // tells the client with MSG_ERROR_EXIT: the client exits with its 11.
            code: 11,
            says: vec![
                format!("mkdir {} failed", deep.display()),
                "No such file or directory".into(),
            ],
            stock: Stock::Same,
        },
    ]);
    // The existing source file was still sent.
    assert_eq!(fs::read(dst.join("a")).expect("a copied"), b"alpha\n");
}

#[test]
fn unreadable_source() {
    let (dir, root) = fixture();
    let src = p(&root, "src");
    fs::write(src.join("secret"), b"s\n").expect("write");
    fs::create_dir(src.join("closed")).expect("mkdir");
    fs::write(src.join("closed/inside"), b"i\n").expect("write");
    let dst = p(&root, "dst");
    fs::create_dir(&dst).expect("mkdir");
    let mode =
        |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).expect("chmod");
    mode(&src.join("secret"), 0o000);
    mode(&src.join("closed"), 0o000);
    // root reads through any mode: run both as nobody, with setpriv.
    let mut prefix = Vec::new();
    if rustix::process::geteuid().is_root() {
        let Some(setpriv) = interop_tool("setpriv") else {
            eprintln!("!!!!!!!! SKIPPING unreadable_source: running as root without setpriv, a mode 000 file stays readable !!!!!!!!");
            return;
        };
        // nobody must reach the tree and write the destination.
        mode(dir.path(), 0o755);
        rustix::fs::chown(
            &dst,
            Some(rustix::process::Uid::from_raw(65534)),
            Some(rustix::process::Gid::from_raw(65534)),
        )
        .expect("chown");
        prefix = args(&[
            &setpriv,
            &"--reuid=65534",
            &"--regid=65534",
            &"--clear-groups",
        ]);
    }
    let rsync = interop_tool("rsync");
    let case = |dest: &Path| Case {
        what: "unreadable file and directory in the source",
        args: args(&[&"-r", &format!("{}/", src.display()), &dest]),
        code: 23,
        says: vec![
            "\"secret\"".into(),
            "closed".into(),
            "Permission denied".into(),
        ],
        stock: Stock::Same,
    };
    check(&case(&dst), &prefix, None);
    assert_eq!(fs::read(dst.join("a")).expect("a copied"), b"alpha\n");
    assert!(
        !dst.join("secret").exists(),
        "nothing of the unreadable file"
    );
    if let Some(rsync) = rsync {
        let stock_dst = p(&root, "stock");
        fs::create_dir(&stock_dst).expect("mkdir");
        if !prefix.is_empty() {
            rustix::fs::chown(
                &stock_dst,
                Some(rustix::process::Uid::from_raw(65534)),
                Some(rustix::process::Gid::from_raw(65534)),
            )
            .expect("chown");
        }
        let s = run_with(&prefix, &rsync, &case(&stock_dst).args);
        assert_eq!(s.exit(), Ok(23), "stock rsync\n{}", describe(&s));
    }
    mode(&src.join("closed"), 0o755);
}

#[test]
fn files_from_lists() {
    let (_dir, root) = fixture();
    let src = format!("{}/", p(&root, "src").display());
    let dst = p(&root, "dst");
    let missing = p(&root, "no-list");
    let ldir = p(&root, "ldir");
    let list0 = p(&root, "list0");
    fs::write(&list0, b"a\0\0../outside\0sub/../../outside2\0").expect("write");
    let dst_dir = format!("{}/", dst.display());
    check_all(&[
        Case {
            what: "--files-from names a missing file",
            args: args(&[&format!("--files-from={}", missing.display()), &src, &dst]),
            code: 1,
            says: vec![
                format!("failed to open files-from file {}", missing.display()),
                "No such file or directory".into(),
            ],
            stock: Stock::Same,
        },
        Case {
            what: "--files-from names a directory",
            args: args(&[&format!("--files-from={}", ldir.display()), &src, &dst]),
            code: 1,
            says: vec![
                format!("failed to read files-from file {}", ldir.display()),
                "Is a directory".into(),
            ],
            stock: Stock::Differs(12, "rsync's sender fails reading it mid-protocol"),
        },
        Case {
            what: "--files-from on a host in a local transfer",
            args: args(&[&"--files-from=host:list", &src, &dst]),
            code: 1,
            says: vec!["--files-from cannot be remote when the transfer is local".into()],
            stock: Stock::Same,
        },
    ]);
    assert!(!dst.exists());
    check_all(&[Case {
        what: "--from0 list with an empty name and names escaping the source",
        args: args(&[
            &"--from0",
            &format!("--files-from={}", list0.display()),
            &src,
            &dst_dir,
        ]),
        code: 23,
        says: vec!["../outside".into()],
        stock: Stock::Same,
    }]);
    assert_eq!(fs::read(dst.join("a")).expect("a copied"), b"alpha\n");
    assert!(!p(&root, "outside").exists() && !dst.join("outside").exists());
    // A regular file is a valid one-shot list.
    let one = p(&root, "one");
    check_all(&[Case {
        what: "--files-from regular file, one-shot",
        args: args(&[
            &format!("--files-from={}", p(&root, "list").display()),
            &src,
            &format!("{}/", one.display()),
        ]),
        code: 0,
        says: vec![],
        stock: Stock::Same,
    }]);
    assert_eq!(fs::read(one.join("a")).expect("a copied"), b"alpha\n");
}

#[test]
fn constant_mode_refuses_what_is_not_a_fifo() {
    let (_dir, root) = fixture();
    let src = format!("{}/", p(&root, "src").display());
    let m = p(&root, "m1");
    let list = p(&root, "list");
    let ldir = p(&root, "ldir");
    let deep = p(&root, "nodir/fifo");
    let ff = |path: &Path| format!("--files-from={}", path.display());
    let c = |what, a: Vec<OsString>, says: Vec<String>| Case {
        what,
        args: a,
        code: 1,
        says,
        stock: Stock::Lacks,
    };
    check_all(&[
        c(
            "--constant without --files-from",
            args(&[&"-a", &"--constant", &src, &m]),
            vec!["--constant needs --files-from=FIFO".into()],
        ),
        c(
            "--constant with a regular file",
            args(&[&"-a", &"--constant", &ff(&list), &src, &m]),
            vec![
                format!("--files-from={} is a regular file", list.display()),
                "FIFO".into(),
                "run without --constant".into(),
            ],
        ),
        c(
            "--constant with a directory",
            args(&[&"-a", &"--constant", &ff(&ldir), &src, &m]),
            vec![format!("--files-from={} is a directory", ldir.display())],
        ),
        c(
            "--constant with a FIFO in a missing directory",
            args(&[&"-a", &"--constant", &ff(&deep), &src, &m]),
            vec![
                format!("--files-from={}: cannot create the FIFO", deep.display()),
                "No such file or directory".into(),
            ],
        ),
        c(
            "--constant with stdin",
            args(&[&"-a", &"--constant", &"--files-from=-", &src, &m]),
            vec!["not stdin".into()],
        ),
        c(
            "--constant without a mirror",
            args(&[&"-a", &"--constant", &ff(&p(&root, "fifo")), &src]),
            vec!["at least one mirror".into()],
        ),
        c(
            "--constant with a file as the source",
            args(&[
                &"-a",
                &"--constant",
                &ff(&p(&root, "fifo")),
                &p(&root, "src/a"),
                &m,
            ]),
            vec!["is not a directory".into()],
        ),
    ]);
    // Refused before anything was created next to the list, or as the FIFO or the mirror.
    let mut left: Vec<String> = fs::read_dir(&root)
        .expect("readdir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["ldir", "list", "src"],
        "files left by refused commands"
    );
    assert_eq!(
        fs::read(&list).expect("list"),
        b"a\n",
        "the list is untouched"
    );
}

/// Kills the daemon's process group when the test ends, whatever happens.
struct Group(Option<std::process::Child>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            if let Some(pid) = i32::try_from(child.id())
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = child.wait();
        }
    }
}

#[test]
fn constant_mode_creates_a_missing_fifo() {
    let (_dir, root) = fixture();
    let fifo = p(&root, "names.fifo");
    let mirror = p(&root, "m1");
    let ours = ours_binary().unwrap_or_else(|e| panic!("{e}"));
    let stderr = fs::File::create(p(&root, "daemon.err")).expect("stderr file");
    let child = Command::new(&ours)
        .arg("-a")
        .arg("--constant")
        .arg(format!("--files-from={}", fifo.display()))
        .arg(format!("{}/", p(&root, "src").display()))
        .arg(&mirror)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .expect("start the daemon");
    let mut group = Group(Some(child));
    let log = || text(&fs::read(p(&root, "daemon.err")).unwrap_or_default());
    let start = Instant::now();
    // The FIFO and the bootstrap copy appear; each poll records what it saw.
    let meta = loop {
        let seen = fs::metadata(&fifo).ok();
        let synced = mirror.join("sub/b").is_file();
        if let (Some(m), true) = (&seen, synced) {
            break m.clone();
        }
        if let Some(Ok(Some(st))) = group.0.as_mut().map(std::process::Child::try_wait) {
            panic!("the daemon exited early ({st}):\n{}", log());
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no FIFO ({}) or bootstrap copy ({}) after {DEADLINE:?}:\n{}",
            seen.is_some(),
            synced,
            log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(meta.file_type().is_fifo(), "{} is a FIFO", fifo.display());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600, "FIFO mode");
    // SIGTERM: a clean stop, exit 0.
    let child = group.0.as_mut().expect("child");
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).expect("pid")).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(
            start.elapsed() < DEADLINE * 2,
            "the daemon did not stop on SIGTERM:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "exit after SIGTERM:\n{}", log());
    assert!(!log().contains("panicked"), "{}", log());
    // The stop leaves the FIFO in place for the next start.
    assert!(fs::metadata(&fifo).expect("fifo").file_type().is_fifo());
}
