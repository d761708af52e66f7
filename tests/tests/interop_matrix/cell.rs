//! One cell of the matrix: a scenario run in one direction, by one client/server pairing, at
//! one protocol; then every check of its outcome, and the report a failing CI shows.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rsync_tests::peers::{run, FakeShell, Peer, Run};
use rsync_tests::tree::{printable, Compare, Snapshot};
use tempfile::TempDir;

use crate::big_files::BIG_LEN;
use crate::scenarios::{write_files_from, Expect, Itemizes, Scenario};

/// The `--protocol` axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    /// No `--protocol` option: the peers negotiate (stock with stock says 32; with us, 31).
    P31,
    /// `--protocol=30`.
    P30,
    /// `--protocol=29`.
    P29,
    /// `--protocol=27`.
    P27,
}

impl Proto {
    /// The number used in the known-failures table.
    pub(crate) fn number(self) -> u32 {
        match self {
            Self::P31 => 31,
            Self::P30 => 30,
            Self::P29 => 29,
            Self::P27 => 27,
        }
    }

    fn arg(self) -> Option<String> {
        (self != Self::P31).then(|| format!("--protocol={}", self.number()))
    }

    /// Whether the file list carries nanoseconds (`XMIT_MOD_NSEC`, protocol 31 and later).
    pub(crate) fn nanos(self) -> bool {
        self == Self::P31
    }

    fn describe(self) -> String {
        match self {
            Self::P31 => "protocol 31 (no --protocol; a stock peer says 32)".to_owned(),
            p => format!("protocol {} (--protocol={})", p.number(), p.number()),
        }
    }
}

/// Who initiates the transfer's data flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// The client sends: `client SRC/ host:DEST/`.
    Push,
    /// The client receives: `client host:SRC/ DEST/`.
    Pull,
}

/// Which implementation plays client and which plays server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pairing {
    /// Stock client, stock server: the reference every other cell is compared with.
    StockStock,
    /// Our client, a stock server.
    OursClient,
    /// A stock client, our server (`--rsync-path=rsync-constant`).
    OursServer,
}

impl Pairing {
    fn describe(self) -> &'static str {
        match self {
            Self::StockStock => "stock client + stock server (reference)",
            Self::OursClient => "our client + stock server",
            Self::OursServer => "stock client + our server",
        }
    }
}

/// The binaries a test works with.
#[derive(Debug)]
pub(crate) struct Tools {
    pub(crate) stock: Peer,
    /// `None` in stock-only mode.
    pub(crate) ours: Option<Peer>,
    /// The wire-counting relay.
    pub(crate) relay: PathBuf,
}

/// A cell's coordinates.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Key {
    pub(crate) scenario: &'static Scenario,
    pub(crate) direction: Direction,
    pub(crate) pairing: Pairing,
    pub(crate) proto: Proto,
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} · {} · {} · {}",
            self.scenario.name,
            match self.direction {
                Direction::Push => "push",
                Direction::Pull => "pull",
            },
            self.pairing.describe(),
            self.proto.describe()
        )
    }
}

/// What a cell did and what was wrong with it.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) key: Key,
    /// Keeps the cell's directory (the reference's destination is compared with later cells).
    _dir: TempDir,
    run: Run,
    remote: String,
    dest_snapshot: Option<Snapshot>,
    itemize: Vec<Vec<u8>>,
    /// The client's `created directory` lines, the destination's path shown as `<dest>`.
    created: Vec<Vec<u8>>,
    /// Every failed check; empty means the cell passed.
    pub(crate) problems: Vec<String>,
}

/// Client options that the scenario, the key and `drop` (a control run's removed option)
/// make.
fn client_args(
    key: &Key,
    tools_server: &Path,
    shell: &FakeShell,
    src: &Path,
    dest: &Path,
    list: Option<&Path>,
    drop: Option<&str>,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = key
        .scenario
        .args
        .iter()
        .filter(|a| Some(**a) != drop)
        .map(OsString::from)
        .collect();
    if let Some(list) = list {
        let mut a = OsString::from("--files-from=");
        a.push(list);
        args.push(a);
        args.push("--from0".into());
    }
    if let Some(p) = key.proto.arg() {
        args.push(p.into());
    }
    args.push("-e".into());
    args.push(shell.rsh_option());
    let mut rp = OsString::from("--rsync-path=");
    rp.push(tools_server);
    args.push(rp);
    let with_slash = |p: &Path, remote: bool| {
        let mut s = OsString::from(if remote { "matrix-host:" } else { "" });
        s.push(p);
        s.push("/");
        s
    };
    match key.direction {
        Direction::Push => {
            args.push(with_slash(src, false));
            args.push(with_slash(dest, true));
        }
        Direction::Pull => {
            args.push(with_slash(src, true));
            args.push(with_slash(dest, false));
        }
    }
    args
}

/// An itemize line: `YXcstpoguax name` (11 code characters and a space) or `*deleting name`.
fn is_itemize(line: &[u8]) -> bool {
    if line.starts_with(b"*deleting ") {
        return true;
    }
    matches!(
        (line.first(), line.get(1), line.get(11)),
        (
            Some(b'<' | b'>' | b'c' | b'h' | b'.' | b'*'),
            Some(b'f' | b'd' | b'L' | b'D' | b'S'),
            Some(b' ')
        )
    )
}

/// The itemize lines of a client's stdout, sorted. rsync prints them in file-list order,
/// but which process prints a line (sender or generator), when deletions happen (before or
/// during the transfer, per protocol) and whether the file list is sent incrementally all
/// change the order legitimately, so the comparison is order-free.
fn itemize_lines(stdout: &[u8]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = stdout
        .split(|&b| b == b'\n')
        .filter(|l| is_itemize(l))
        .map(<[u8]>::to_vec)
        .collect();
    v.sort();
    v
}

/// The `created directory NAME` lines of a client's stdout (rsync's receiver prints one when
/// it makes the destination, at `-v` or `-i`; a server receiver sends it as `MSG_INFO`), with
/// `dest` replaced by `<dest>` so that cells in other directories compare equal.
fn created_lines(stdout: &[u8], dest: &Path) -> Vec<Vec<u8>> {
    let dest = dest.as_os_str().as_encoded_bytes();
    stdout
        .split(|&b| b == b'\n')
        .filter_map(|l| l.strip_prefix(b"created directory "))
        .map(|name| {
            let name = if name == dest { &b"<dest>"[..] } else { name };
            [&b"created directory "[..], name].concat()
        })
        .collect()
}

/// The value of `--stats`' "Literal data: 1,234 bytes" line.
fn literal_data(stdout: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().find(|l| l.starts_with("Literal data:"))?;
    let digits: String = line
        .trim_start_matches("Literal data:")
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// How the destination is compared with the source and with the reference.
fn compare_for(key: &Key) -> Compare {
    Compare {
        mtime_nanos: key.proto.nanos(),
        mtimes: true,
        perms: true,
        owners: true,
        hard_links: key.scenario.hard_links(),
        // With --files-from the root is not in the list (its time moves with what is
        // created or deleted in it).
        root_attrs: !matches!(key.scenario.expect, Expect::Subset(_))
            && key.scenario.files_from.is_none(),
        inodes: false,
    }
}

/// How long a cell's client may run before its process group is killed: 30 s, or
/// `RSYNC_MATRIX_TIMEOUT` seconds; six times that for the delta scenario. Stock rsync needs
/// under a second for any cell; the deadline only stops a deadlocked peer.
fn deadline(delta: bool) -> Duration {
    let secs = std::env::var("RSYNC_MATRIX_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(30);
    Duration::from_secs(if delta { secs * 6 } else { secs })
}

/// Runs one cell: builds the destination, runs the client, checks everything. `reference`
/// is the stock client + stock server outcome of the same scenario, direction and protocol
/// (`None` when this is the reference). `drop` removes one option (control runs).
pub(crate) fn run_cell(
    key: Key,
    tools: &Tools,
    src: &Path,
    src_snapshot: &Snapshot,
    reference: Option<&Outcome>,
    drop: Option<&str>,
) -> io::Result<Outcome> {
    let scn = key.scenario;
    let (client, server) = match key.pairing {
        Pairing::StockStock => (&tools.stock, &tools.stock),
        Pairing::OursClient | Pairing::OursServer => {
            let ours = tools.ours.as_ref().ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "rsync-constant binary not found")
            })?;
            if key.pairing == Pairing::OursClient {
                (ours, &tools.stock)
            } else {
                (&tools.stock, ours)
            }
        }
    };
    let dir = tempfile::Builder::new().prefix("matrix-cell-").tempdir()?;
    let dest = dir.path().join("dst");
    if let Some(build) = scn.dest {
        build(&dest)?;
    }
    let before = scn.dest.map(|_| Snapshot::take(&dest)).transpose()?;
    let shell = FakeShell::write(dir.path(), scn.delta.then_some(tools.relay.as_path()))?;
    let list = match scn.files_from {
        Some(names) => {
            let p = dir.path().join("files-from");
            write_files_from(&p, names)?;
            Some(p)
        }
        None => None,
    };
    let args = client_args(
        &key,
        server.path(),
        &shell,
        src,
        &dest,
        list.as_deref(),
        drop,
    );
    let timeout = deadline(scn.delta);
    let run = run(client.path(), &args, timeout)?;
    let remote = shell.remote_commands();

    let mut problems = Vec::new();
    match run.exit() {
        Ok(0) => {}
        Ok(code) => problems.push(format!("exit code {code}, expected 0")),
        Err(e) => problems.push(e),
    }
    let dest_snapshot = if dest.is_dir() {
        Some(Snapshot::take(&dest)?)
    } else {
        problems.push("the destination directory does not exist".to_owned());
        None
    };
    let how = compare_for(&key);
    if let Some(got) = &dest_snapshot {
        let diffs = match scn.expect {
            Expect::CopyOfSource => src_snapshot.diff(got, how),
            Expect::Subset(paths) => src_snapshot.subset(paths).diff(got, how),
            Expect::Unchanged => match &before {
                Some(b) => b.diff(got, Compare::UNTOUCHED),
                None => vec!["(scenario error: Unchanged needs a destination)".to_owned()],
            },
            Expect::Tree(build) => {
                let want = dir.path().join("expected");
                build(&want)?;
                Snapshot::take(&want)?.diff(got, how)
            }
        };
        let what = match scn.expect {
            Expect::Unchanged => "vs the destination before the run",
            Expect::Tree(_) => "vs the expected tree",
            _ => "vs source",
        };
        problems.extend(diffs.into_iter().map(|d| format!("{what}: {d}")));
        problems.extend(inode_changes(scn.same_inodes, before.as_ref(), got));
        if let Some(r) = reference.and_then(|r| r.dest_snapshot.as_ref()) {
            let ref_how = Compare {
                hard_links: true,
                ..how
            };
            problems.extend(
                r.diff(got, ref_how)
                    .into_iter()
                    .map(|d| format!("vs stock↔stock: {d}")),
            );
        }
    }
    // A file rebuilt wrong is redone and ends up right: only this warning tells (e.g. an
    // --inplace sender copying blocks the receiver had already overwritten).
    let warned = [&run.stdout, &run.stderr]
        .iter()
        .any(|o| o.windows(19).any(|w| w == b"failed verification"));
    if warned {
        problems.push("a file failed verification (and was transferred again)".to_owned());
    }
    let itemize = itemize_lines(&run.stdout);
    let created = created_lines(&run.stdout, &dest);
    match reference {
        // Every scenario itemizes, so stock says it made a missing destination.
        None if scn.dest.is_none() && created != [b"created directory <dest>".to_vec()] => {
            problems.push(format!(
                "`created directory <dest>` expected once on the client's stdout, found {:?}",
                created.iter().map(|l| printable(l)).collect::<Vec<_>>()
            ));
        }
        Some(r) if r.created != created => problems.push(format!(
            "client output: {:?} where stock↔stock printed {:?}",
            created.iter().map(|l| printable(l)).collect::<Vec<_>>(),
            r.created.iter().map(|l| printable(l)).collect::<Vec<_>>()
        )),
        _ => {}
    }
    match reference {
        // A reference that transfers something must itemize it, or comparing the itemize
        // lines of later cells with it would prove nothing.
        None if itemize.is_empty() && drop.is_none() && scn.itemizes == Itemizes::Lines => {
            problems.push("no itemize line (-i) on the client's stdout".to_owned());
        }
        None if !itemize.is_empty() && scn.itemizes == Itemizes::Nothing => {
            problems.push("itemize lines from a scenario that expects none".to_owned());
        }
        None => {}
        Some(r) => problems.extend(itemize_differences(&r.itemize, &itemize)),
    }
    if scn.delta && drop.is_none() {
        let limit = (BIG_LEN / 10) as u64;
        match literal_data(&run.stdout) {
            Some(n) if n < limit => {}
            Some(n) => problems.push(format!(
                "--stats: Literal data: {n} bytes, not under 10% of {BIG_LEN} (no delta?)"
            )),
            None => problems.push("--stats: no \"Literal data:\" line on stdout".to_owned()),
        }
        match shell.wire_bytes() {
            Some((up, down)) if up + down < limit => {}
            Some((up, down)) => problems.push(format!(
                "wire: {up} bytes client→server + {down} server→client, not under 10% of \
                 {BIG_LEN} (no delta?)"
            )),
            None => problems.push("wire: the counting relay wrote no byte counts".to_owned()),
        }
    }
    Ok(Outcome {
        key,
        _dir: dir,
        run,
        remote,
        dest_snapshot,
        itemize,
        created,
        problems,
    })
}

/// The files of `paths` that are no longer the inode they were `before` the run.
fn inode_changes(paths: &[&[u8]], before: Option<&Snapshot>, got: &Snapshot) -> Vec<String> {
    paths
        .iter()
        .filter_map(|p| {
            let was = before.and_then(|b| b.get(p)).map(|e| e.inode);
            let now = got.get(p).map(|e| e.inode);
            match (was, now) {
                (Some(a), Some(b)) if a == b => None,
                (Some(_), Some(_)) => Some(format!(
                    "vs the destination before the run: {}: replaced (another inode), not \
                     updated in place",
                    printable(p)
                )),
                _ => Some(format!(
                    "vs the destination before the run: {}: missing",
                    printable(p)
                )),
            }
        })
        .collect()
}

/// The itemize lines missing from `got` and the ones it has in excess, against `want`.
fn itemize_differences(want: &[Vec<u8>], got: &[Vec<u8>]) -> Vec<String> {
    let mut out = Vec::new();
    let (mut w, mut g) = (want.iter().peekable(), got.iter().peekable());
    loop {
        match (w.peek(), g.peek()) {
            (None, None) => break,
            (Some(a), Some(b)) if a == b => {
                w.next();
                g.next();
            }
            (Some(a), b) if b.is_none_or(|b| a < b) => {
                out.push(format!("itemize: missing line `{}`", printable(a)));
                w.next();
            }
            (_, b) => {
                if let Some(b) = b {
                    out.push(format!("itemize: unexpected line `{}`", printable(b)));
                }
                g.next();
            }
        }
    }
    out
}

fn excerpt(bytes: &[u8], max_lines: usize) -> String {
    let text = printable(bytes);
    let lines: Vec<&str> = text.split("\\n").collect();
    let mut s = String::new();
    for l in lines.iter().take(max_lines) {
        let _ = writeln!(s, "    {l}");
    }
    if lines.len() > max_lines {
        let _ = writeln!(s, "    ... {} more lines", lines.len() - max_lines);
    }
    s
}

impl Outcome {
    /// The failure report: coordinates, command lines, exit, the first differences, output.
    pub(crate) fn report(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "=== {} ===", self.key);
        let _ = writeln!(s, "  scenario: {}", self.key.scenario.about);
        let _ = writeln!(s, "  client: {}", self.run.command);
        for l in self.remote.lines() {
            let _ = writeln!(s, "  remote: {l}");
        }
        let _ = writeln!(
            s,
            "  exit: {} after {:.2?}",
            match self.run.exit() {
                Ok(c) => c.to_string(),
                Err(e) => e,
            },
            self.run.elapsed
        );
        const MAX: usize = 25;
        let _ = writeln!(s, "  problems ({}):", self.problems.len());
        for p in self.problems.iter().take(MAX) {
            let _ = writeln!(s, "    {p}");
        }
        if self.problems.len() > MAX {
            let _ = writeln!(s, "    ... {} more", self.problems.len() - MAX);
        }
        if !self.run.stderr.is_empty() {
            let _ = write!(s, "  stderr:\n{}", excerpt(&self.run.stderr, 15));
        }
        if !self.run.stdout.is_empty() {
            let _ = write!(s, "  stdout:\n{}", excerpt(&self.run.stdout, 15));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itemize_line_recognition_and_comparison() {
        let out = b"created directory /x\n>f+++++++++ a b\n*deleting   gone\ncd+++++++++ d/\n\
                    sent 10 bytes\n.L..t...... l -> t\nhf+++++++++ x => y\n";
        let lines = itemize_lines(out);
        assert_eq!(lines.len(), 5, "{lines:?}");
        let mut other = lines.clone();
        other.retain(|l| !l.starts_with(b"*del"));
        other.push(b">f..t...... z".to_vec());
        other.sort();
        assert_eq!(
            itemize_differences(&lines, &other),
            [
                "itemize: missing line `*deleting   gone`",
                "itemize: unexpected line `>f..t...... z`"
            ]
        );
        assert!(itemize_differences(&lines, &lines).is_empty());
    }

    #[test]
    fn literal_data_is_read_from_stats() {
        let out = b"Number of files: 1\nLiteral data: 1,234,567 bytes\nMatched data: 9 bytes\n";
        assert_eq!(literal_data(out), Some(1_234_567));
        assert_eq!(literal_data(b"Matched data: 9 bytes\n"), None);
    }
}
