//! Interop matrix against the system's stock `rsync` (issue B, first acceptance bullet):
//! scenarios × {our client + stock server, stock client + our server} × {push, pull} ×
//! `--protocol` {31 (no option: a stock peer says 32), 30, 29, 27}.
//!
//! Each test is one scenario at one protocol (`<scenario>::p31`, `::p30`, ...). For each
//! direction it first runs the reference, stock client + stock server, on a fresh copy of the
//! scenario; that cell must pass every check, or the harness is wrong. Then it runs our client
//! with a stock server and a stock client with our server, each on its own fresh copy, and
//! checks:
//! - the exit code (0);
//! - the destination against the source: names, types, contents, modes, owners, mtimes (to the
//!   nanosecond at protocol 31, where the file list carries them; seconds below), symlink
//!   targets, hard-link groups with `-H`; or against the prior destination for `-n`, or the
//!   listed subset for `--files-from`;
//! - the destination against the reference's destination (same checks);
//! - the client's itemize lines (`-i`, every scenario) against the reference's, order-free;
//! - the client's `created directory` line for a missing destination, against the
//!   reference's (a server receiver sends it as `MSG_INFO`);
//! - for `--inplace`: the updated files keep their inode;
//! - no file failed its whole-file checksum (rsync redoes it silently but for a warning);
//! - for the 64 MiB delta scenario: `--stats`' literal data and the bytes counted on the wire
//!   through the fake remote shell both under 10% of the file.
//!
//! Known failures live in ONE table, `interop_matrix/known_failures.rs`. A listed cell that
//! passes fails the test ("remove from known failures"); no row may name protocol 31.
//!
//! Running:
//! - `cargo build --release -p rsync-constant --bin rsync-constant && cargo test --release -p
//!   rsync-tests --test interop_matrix` (the binary is found next to the test executable, in
//!   `target/<profile>/`, or through `RSYNC_CONSTANT_BIN`);
//! - `RSYNC_MATRIX=stock-only` runs only the stock client + stock server cells (validates the
//!   harness without our binary);
//! - `RSYNC_MATRIX_VERBOSE=1` (with `-- --nocapture`) prints every cell's report, passing or
//!   not: command lines, exit, output;
//! - `RSYNC_MATRIX_TIMEOUT=<seconds>` changes the deadline of a cell (default 30 s, six times
//!   that for the 64 MiB delta) after which its processes are killed;
//! - without `rsync` on `PATH` every test skips loudly; `RSYNC_INTEROP=require` makes that a
//!   failure (CI), and also fails the root-only scenarios when not run as root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure is a test failure

#[path = "interop_matrix/big_files.rs"]
mod big_files;
#[path = "interop_matrix/cell.rs"]
mod cell;
#[path = "interop_matrix/known_failures.rs"]
mod known_failures;
#[path = "interop_matrix/relative.rs"]
mod relative;
#[path = "interop_matrix/scenarios.rs"]
mod scenarios;

use std::fmt::Write as _;
use std::path::PathBuf;

use rsync_tests::interop_tool;
use rsync_tests::peers::{ours_binary, Peer};
use rsync_tests::tree::Snapshot;

use cell::{run_cell, Direction, Key, Pairing, Proto, Tools};

/// Whether `RSYNC_MATRIX=stock-only` asks for the reference cells only.
fn stock_only() -> bool {
    match std::env::var("RSYNC_MATRIX") {
        Err(_) => false,
        Ok(v) if v == "stock-only" => true,
        Ok(v) if v.is_empty() || v == "full" => false,
        Ok(v) => panic!("RSYNC_MATRIX={v}: expected `stock-only` or `full`"),
    }
}

/// Whether `RSYNC_MATRIX_VERBOSE` asks for every cell's report (see them with
/// `--nocapture`), passing or not.
fn verbose() -> bool {
    std::env::var_os("RSYNC_MATRIX_VERBOSE").is_some_and(|v| !v.is_empty() && v != "0")
}

fn required() -> bool {
    std::env::var("RSYNC_INTEROP").is_ok_and(|v| v == "require")
}

/// Runs one scenario at one protocol: every direction and pairing; panics with the reports of
/// every unexpected outcome.
fn run_matrix(name: &str, proto: Proto) {
    let scn = scenarios::ALL
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario `{name}`"));
    let Some(stock) = interop_tool("rsync") else {
        return;
    };
    if scn.needs_root && !rustix::process::geteuid().is_root() {
        assert!(
            !required(),
            "RSYNC_INTEROP=require but scenario `{name}` needs root (it is run as root in CI)"
        );
        eprintln!("\n!!!!!!!! SKIPPING interop scenario `{name}`: it needs root !!!!!!!!\n");
        return;
    }
    let ours = if stock_only() {
        eprintln!(
            "\n!!!!!!!! RSYNC_MATRIX=stock-only: running only the stock client + stock server \
             cells of `{name}` !!!!!!!!\n"
        );
        None
    } else {
        Some(Peer::Ours(ours_binary().unwrap_or_else(|e| panic!("{e}"))))
    };
    let tools = Tools {
        stock: Peer::Stock(stock),
        ours,
        relay: PathBuf::from(env!("CARGO_BIN_EXE_rsync-tests-wire-relay")),
    };
    let src_dir = tempfile::Builder::new()
        .prefix("matrix-src-")
        .tempdir()
        .unwrap();
    let src = src_dir.path().join("src");
    (scn.source)(&src).unwrap_or_else(|e| panic!("building the source of `{name}`: {e}"));
    let src_snapshot = Snapshot::take(&src).unwrap();

    let mut harness = Vec::new(); // failures of the reference: the harness is wrong
    let mut unexpected = Vec::new();
    let mut summary = format!("{name} at {}:\n", proto.number());
    for direction in [Direction::Push, Direction::Pull] {
        let key = |pairing| Key {
            scenario: scn,
            direction,
            pairing,
            proto,
        };
        let reference = run_cell(
            key(Pairing::StockStock),
            &tools,
            &src,
            &src_snapshot,
            None,
            None,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", key(Pairing::StockStock)));
        let _ = writeln!(summary, "  {}: {}", reference.key, verdict(&reference));
        if verbose() {
            summary.push_str(&reference.report());
        }
        if !reference.problems.is_empty() {
            harness.push(reference.report());
        }
        if tools.ours.is_none() {
            continue;
        }
        for pairing in [Pairing::OursClient, Pairing::OursServer] {
            let o = run_cell(
                key(pairing),
                &tools,
                &src,
                &src_snapshot,
                Some(&reference),
                None,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", key(pairing)));
            let listed = known_failures::lookup(name, pairing, direction, proto.number());
            let _ = writeln!(summary, "  {}: {}", o.key, verdict(&o));
            if verbose() {
                summary.push_str(&o.report());
            }
            match (o.problems.is_empty(), listed) {
                (true, None) => {}
                (false, Some(k)) => {
                    let _ = writeln!(summary, "    known failure: {}", k.reason);
                }
                (false, None) => unexpected.push(o.report()),
                (true, Some(k)) => unexpected.push(format!(
                    "=== {} ===\n  passes, but KNOWN_FAILURES lists it (\"{}\"): remove from \
                     known failures\n",
                    o.key, k.reason
                )),
            }
        }
    }
    if let Some(opt) = scn.control_without {
        // The same transfer without the option must miss the expectation; otherwise this
        // scenario would pass whether or not an implementation honours the option.
        let key = Key {
            scenario: scn,
            direction: Direction::Push,
            pairing: Pairing::StockStock,
            proto,
        };
        let c = run_cell(key, &tools, &src, &src_snapshot, None, Some(opt)).unwrap();
        if !c.problems.iter().any(|p| p.starts_with("vs ")) {
            harness.push(format!(
                "control run without `{opt}` met the expectation too, so `{name}` does not test \
                 `{opt}`:\n{}",
                c.report()
            ));
        }
    }
    println!("{summary}");
    let mut msg = String::new();
    if !harness.is_empty() {
        let _ = writeln!(
            msg,
            "\nHARNESS FAILURE: the stock client + stock server reference of `{name}` failed \
             its own checks; the scenario or the harness is wrong:\n"
        );
        msg.extend(harness);
    }
    if !unexpected.is_empty() {
        let _ = writeln!(
            msg,
            "\n{} unexpected cell result(s) in `{name}` at protocol {} (list a failure, with \
             its reason, in tests/tests/interop_matrix/known_failures.rs only below protocol \
             31):\n",
            unexpected.len(),
            proto.number()
        );
        msg.extend(unexpected);
    }
    assert!(msg.is_empty(), "{msg}\n{summary}");
}

fn verdict(o: &cell::Outcome) -> String {
    if o.problems.is_empty() {
        "ok".to_owned()
    } else {
        format!("FAILED ({} problems)", o.problems.len())
    }
}

macro_rules! matrix {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use crate::cell::Proto;

                #[test]
                fn p31() {
                    crate::run_matrix(stringify!($name), Proto::P31);
                }

                #[test]
                fn p30() {
                    crate::run_matrix(stringify!($name), Proto::P30);
                }

                #[test]
                fn p29() {
                    crate::run_matrix(stringify!($name), Proto::P29);
                }

                #[test]
                fn p27() {
                    crate::run_matrix(stringify!($name), Proto::P27);
                }
            }
        )*

        /// The scenarios that have tests.
        const TESTED: &[&str] = &[$(stringify!($name)),*];
    };
}

matrix!(
    big_delta,
    checksum,
    delete,
    dry_run,
    empty_files,
    empty_tree,
    files_from,
    filters,
    hard_links,
    inplace,
    itemize,
    ignore_missing_args,
    missing_args,
    missing_args_dry_run,
    missing_args_keep,
    modes,
    nested_dirs,
    ns_mtimes,
    odd_names,
    owners,
    small_files,
    specials,
    symlinks,
    up_to_date,
);

#[test]
fn every_scenario_has_tests() {
    let mut defined: Vec<&str> = scenarios::ALL.iter().map(|s| s.name).collect();
    defined.sort_unstable();
    let mut tested = TESTED.to_vec();
    tested.sort_unstable();
    assert_eq!(defined, tested);
}

#[test]
fn known_failures_table_is_well_formed() {
    let names: Vec<&str> = scenarios::ALL.iter().map(|s| s.name).collect();
    let problems = known_failures::validate(known_failures::KNOWN_FAILURES, &names);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn known_failures_validation_rejects_bad_rows() {
    use known_failures::KnownFailure;
    let bad = [
        KnownFailure {
            scenario: "nope",
            pairing: Pairing::StockStock,
            direction: Direction::Push,
            protocols: &[31, 28],
            reason: " ",
        },
        KnownFailure {
            scenario: "delete",
            pairing: Pairing::OursServer,
            direction: Direction::Pull,
            protocols: &[29, 29],
            reason: "r",
        },
    ];
    let problems = known_failures::validate(&bad, &["delete"]);
    let expected = [
        "no scenario is called `nope`",
        "stock↔stock reference cannot be a known failure",
        "give the reason",
        "no known failure may remain at protocol 31",
        "protocol 28 is not in the matrix",
        "protocol 29 is listed twice",
    ];
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    for (p, e) in problems.iter().zip(expected) {
        assert!(p.contains(e), "{p:?} should say {e:?}");
    }
}

// ---- Pull operand shapes (issue D, unrequested names) ----
//
// Our client pulling from a stock server must accept every name stock rsync's own client
// accepts for the same operands (its implied filter, CVE-2022-29154): several sources, -R
// with implied parents and `/./`, a wildcard, `--files-from`, `--delete`. Each case runs the
// stock client and ours against a stock server through the fake remote shell on fresh
// copies of one tree, and compares the destinations.

mod shapes {
    use std::ffi::OsString;
    use std::fs;
    use std::path::Path;
    use std::time::Duration;

    use rsync_tests::interop_tool;
    use rsync_tests::peers::{ours_binary, run, FakeShell};
    use rsync_tests::tree::{Compare, Snapshot};

    /// The source tree: `src/{a,ab,b}/…`, files with suffixes, a `[x]` name.
    fn source(root: &Path) {
        let src = root.join("src");
        for d in ["a/deep", "ab", "b", "c"] {
            fs::create_dir_all(src.join(d)).unwrap();
        }
        for (f, body) in [
            ("a/one.txt", "1"),
            ("a/deep/two.txt", "22"),
            ("ab/three", "333"),
            ("b/four.txt", "4444"),
            ("c/five.c", "55555"),
            ("top.txt", "t"),
            ("top.c", "c"),
            ("[x]", "bracket"),
        ] {
            fs::write(src.join(f), body).unwrap();
        }
    }

    /// Runs `client` with `args` (`{SRC}` is replaced by the source's absolute path) and
    /// returns the destination's snapshot; asserts exit 0. `dest_setup` prepares the
    /// destination first.
    fn pull(
        client: &Path,
        root: &Path,
        label: &str,
        args: &[&str],
        extra: &[OsString],
        dest_setup: &dyn Fn(&Path),
    ) -> Snapshot {
        let shell_dir = root.join(format!("shell-{label}"));
        fs::create_dir_all(&shell_dir).unwrap();
        let shell = FakeShell::write(&shell_dir, None).unwrap();
        let dest = root.join(format!("dest-{label}"));
        fs::create_dir_all(&dest).unwrap();
        dest_setup(&dest);
        let src = root.join("src");
        let src = src.to_str().unwrap();
        let mut all: Vec<OsString> =
            vec!["-e".into(), shell.rsh_option(), "--rsync-path=rsync".into()];
        all.extend(args.iter().map(|a| OsString::from(a.replace("{SRC}", src))));
        all.extend(extra.iter().cloned());
        all.push(OsString::from(format!("{}/", dest.display())));
        let r = run(client, &all, Duration::from_secs(60)).unwrap();
        assert_eq!(
            r.exit(),
            Ok(0),
            "{}\nstderr: {}\nremote: {}",
            r.command,
            String::from_utf8_lossy(&r.stderr),
            shell.remote_commands()
        );
        Snapshot::take(&dest).unwrap()
    }

    /// Stock client and ours, same operands: same destination.
    fn same_as_stock(args: &[&str], files_from: Option<&[u8]>, dest_setup: &dyn Fn(&Path)) {
        let Some(stock) = interop_tool("rsync") else {
            return;
        };
        let ours = ours_binary().unwrap_or_else(|e| panic!("{e}"));
        let tmp = tempfile::Builder::new().prefix("shape-").tempdir().unwrap();
        source(tmp.path());
        let extra: Vec<OsString> = match files_from {
            Some(list) => {
                let l = tmp.path().join("list");
                fs::write(&l, list).unwrap();
                vec![OsString::from(format!("--files-from={}", l.display()))]
            }
            None => Vec::new(),
        };
        let snaps: Vec<(Snapshot, ())> = [("stock", &stock), ("ours", &ours)]
            .into_iter()
            .map(|(label, client)| {
                let snap = pull(client, tmp.path(), label, args, &extra, dest_setup);
                (snap, ())
            })
            .collect();
        // Directory mtimes are left out: with several sources stock rsync itself leaves
        // them at the time of the run (observed with stock↔stock), so they differ by run.
        let how = Compare {
            root_attrs: false,
            mtimes: false,
            ..Compare::EXACT
        };
        let diff = snaps[0].0.diff(&snaps[1].0, how);
        assert!(
            diff.is_empty(),
            "{args:?}: ours differs from stock:\n{}\nstock:\n{}\nours:\n{}",
            diff.join("\n"),
            snaps[0].0.listing(50),
            snaps[1].0.listing(50)
        );
        assert!(
            snaps[0].0.entries().len() > 1,
            "{args:?}: the case transfers something"
        );
    }

    #[test]
    fn several_sources() {
        same_as_stock(
            &["-a", "h:{SRC}/a", "h:{SRC}/b/", ":{SRC}/top.txt"],
            None,
            &|_| {},
        );
    }

    #[test]
    fn a_directory_without_recursion_or_with_dirs() {
        same_as_stock(&["-lptd", "h:{SRC}/a", "h:{SRC}/top.c"], None, &|_| {});
        same_as_stock(&["-lpt", "h:{SRC}/top.c", "h:{SRC}/[x]"], None, &|_| {});
    }

    #[test]
    fn relative_with_implied_parents_and_a_dot_marker() {
        same_as_stock(
            &["-aR", "h:{SRC}/./a/deep", "h:{SRC}/./b/four.txt"],
            None,
            &|_| {},
        );
        same_as_stock(&["-aR", "h:{SRC}/./a/deep", "h:{SRC}/./a"], None, &|_| {});
    }

    /// With -R an absolute operand makes the stock sender list names with a leading `/`,
    /// which the receiver strips (rsync flist.c `flist_sort_and_clean(flist,
    /// relative_paths)`); ours refused them ("absolute file name", exit 4) until
    /// `FlistOptions::relative`.
    #[test]
    fn relative_with_an_absolute_operand() {
        same_as_stock(&["-aR", "h:{SRC}/c"], None, &|_| {});
    }

    /// `--delete` with -R: the implied parent `a` is not a content directory, so its other
    /// entries at the destination stay (as with stock).
    #[test]
    fn relative_delete_keeps_the_implied_parents_other_entries() {
        same_as_stock(
            &["-aR", "--delete", "h:{SRC}/./a/deep"],
            None,
            &|d: &Path| {
                fs::create_dir_all(d.join("a/deep")).unwrap();
                fs::write(d.join("a/keep"), "k").unwrap();
                fs::write(d.join("a/deep/gone"), "g").unwrap();
            },
        );
    }

    /// Wildcards of a remote operand are left to the remote shell (as stock rsync's
    /// options.c `safe_arg` does for file names); the implied filter allows what they match.
    #[test]
    fn a_wildcard() {
        same_as_stock(&["-a", "h:{SRC}/*.txt"], None, &|_| {});
        same_as_stock(&["-a", "h:{SRC}/a*"], None, &|_| {});
    }

    #[test]
    fn files_from_names() {
        same_as_stock(
            &["-a", "h:{SRC}/"],
            Some(b"a/deep/two.txt\nb\n./c/five.c\n"),
            &|_| {},
        );
        same_as_stock(&["-ar", "h:{SRC}"], Some(b"a\ntop.c\n"), &|_| {});
    }

    #[test]
    fn the_contents_of_the_root_with_delete() {
        same_as_stock(&["-a", "--delete", "h:{SRC}/"], None, &|d: &Path| {
            fs::write(d.join("stale"), "s").unwrap();
        });
        same_as_stock(&["-a", "--exclude=*.c", "h:{SRC}/"], None, &|_| {});
    }
}
