//! The change queue survives `kill -9`: a child process (this test binary, re-executed with
//! `QUEUE_CRASH_CHILD` set) appends batches in a loop and reports each batch on stdout after
//! `append` returned; the parent kills it with SIGKILL at varying moments, reopens the queue
//! and checks that every reported batch is there, and that every batch is whole or absent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failure is a test failure

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use rsync_constant::constant::names::{normalize, Name};
use rsync_constant::constant::queue::{MirrorState, Next, Queue, QueueConfig};

const CHILD_ENV: &str = "QUEUE_CRASH_CHILD";
const MIRROR: &[u8] = b"m";

/// Names of batch `id`: between 1 and 40 of them, so that batches span pages unevenly.
fn batch(id: u64) -> Vec<Name> {
    let len = 1 + id % 40;
    (0..len)
        .map(|j| normalize(format!("b{id}/n{j}").as_bytes()).unwrap())
        .collect()
}

/// The child's body (a no-op in a normal test run): append batches `start..` forever,
/// printing `COMMITTED <id>` after each commit.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let start: u64 = std::env::var("QUEUE_CRASH_START").unwrap().parse().unwrap();
    let q = Queue::open(Path::new(&path), QueueConfig::default()).unwrap();
    // A mirror in full sync holds every entry appended from now on.
    q.add_mirror(MIRROR, SystemTime::now()).unwrap();
    if start == 0 {
        q.begin_full_sync(MIRROR, SystemTime::now()).unwrap();
    }
    let mut out = std::io::stdout().lock();
    for id in start.. {
        q.append(&batch(id), SystemTime::now()).unwrap();
        writeln!(out, "COMMITTED {id}").unwrap();
        out.flush().unwrap();
    }
}

/// Every batch id present in the queue, checking that each present batch is whole.
///
/// The first call ends the mirror's full sync; it then stays live with its cursor at 0 and
/// never acknowledges, so it holds every entry of every round.
fn batches_in(q: &Queue) -> BTreeSet<u64> {
    let state = q.status(SystemTime::now()).unwrap().mirrors[0].state;
    if state == MirrorState::FullSync {
        q.end_full_sync(MIRROR, SystemTime::now()).unwrap();
    }
    let Next::Entries { entries, .. } = q
        .next_for(MIRROR, None, usize::MAX, SystemTime::now())
        .unwrap()
    else {
        panic!("mirror not live")
    };
    let mut names: BTreeSet<Vec<u8>> = BTreeSet::new();
    for e in entries {
        names.insert(e.name.into_bytes());
    }
    let mut ids = BTreeSet::new();
    for n in &names {
        let s = std::str::from_utf8(n).unwrap();
        let id: u64 = s[1..s.find('/').unwrap()].parse().unwrap();
        ids.insert(id);
    }
    for id in &ids {
        for n in batch(*id) {
            assert!(
                names.contains(n.as_bytes()),
                "batch {id} is partly stored: {n} missing"
            );
        }
    }
    ids
}

#[test]
fn kill_9_loses_no_committed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.redb");
    let exe = std::env::current_exe().unwrap();
    let mut reported = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Kill after different numbers of commits, so the kill lands at different points.
    for (round, kill_after) in [37u64, 150, 401, 5].into_iter().enumerate() {
        let start = round as u64 * 1_000_000;
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .env("QUEUE_CRASH_START", start.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest prints "test crash_child ... " without a newline before the body
                // runs, so the first report shares its line.
                if let Some((_, id)) = line.split_once("COMMITTED ") {
                    if tx.send(id.parse::<u64>().unwrap()).is_err() {
                        break;
                    }
                }
            }
        });
        let mut seen = 0;
        while seen < kill_after {
            let left = deadline.saturating_duration_since(Instant::now());
            let id = rx.recv_timeout(left).expect("the child stopped committing");
            reported.insert(id);
            seen += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        // Lines already in the pipe were reported before the kill: they count too.
        reported.extend(rx.try_iter());

        let q = Queue::open(&path, QueueConfig::default()).unwrap();
        q.check().unwrap();
        let stored = batches_in(&q);
        let missing: Vec<_> = reported.difference(&stored).collect();
        assert!(
            missing.is_empty(),
            "round {round}: lost batches {missing:?}"
        );
        // At most the batch in flight at the kill may be stored without being reported.
        let unreported = stored
            .range(start..)
            .filter(|id| !reported.contains(id))
            .count();
        assert!(
            unreported <= 1,
            "round {round}: {unreported} unreported batches"
        );
    }
}
