#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::status::{FeedCounts, MirrorSnapshot};
use super::*;
use crate::constant::feed::FeedConfig;
use crate::constant::names::Separator;
use crate::constant::queue::{Entry, MirrorState, QueueConfig, Seq};

/// What a fake link was asked to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    FullSync,
    Deliver(Vec<Vec<u8>>),
}

/// How a fake link answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ok,
    Down,
    Partial,
    /// `connect` says the peer does not speak this link's protocol.
    Refused,
}

#[derive(Debug, Clone)]
struct FakeLink {
    calls: Arc<Mutex<Vec<Call>>>,
    mode: Arc<Mutex<Mode>>,
}

impl FakeLink {
    fn new(mode: Mode) -> Self {
        Self {
            calls: Arc::default(),
            mode: Arc::new(Mutex::new(mode)),
        }
    }

    fn answer(&self) -> Result<(), LinkError> {
        match *self.mode.lock().unwrap() {
            Mode::Ok => Ok(()),
            Mode::Down => Err(LinkError::down("mirror unreachable")),
            Mode::Partial => Err(LinkError::partial("some files failed")),
            Mode::Refused => Err(LinkError::refused("refused")),
        }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn delivered(&self) -> Vec<Vec<u8>> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Deliver(n) => Some(n),
                Call::FullSync => None,
            })
            .flatten()
            .collect()
    }
}

impl Link for FakeLink {
    async fn connect(&mut self) -> Result<(), LinkError> {
        match *self.mode.lock().unwrap() {
            Mode::Refused => Err(LinkError::refused("--constant=1: unknown option")),
            _ => Ok(()),
        }
    }

    async fn full_sync(&mut self) -> Result<(), LinkError> {
        self.calls.lock().unwrap().push(Call::FullSync);
        self.answer()
    }

    async fn deliver(&mut self, entries: &[Entry]) -> Result<(), LinkError> {
        let names = entries.iter().map(|e| e.name.as_bytes().to_vec()).collect();
        self.calls.lock().unwrap().push(Call::Deliver(names));
        self.answer()
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

struct Setup {
    dir: tempfile::TempDir,
    fifo: std::path::PathBuf,
    status: std::path::PathBuf,
    queue: Arc<Queue>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let status = dir.path().join("fifo.status");
    let queue = Arc::new(Queue::open(&dir.path().join("q"), QueueConfig::default()).unwrap());
    Setup {
        dir,
        fifo,
        status,
        queue,
    }
}

fn config(s: &Setup) -> DaemonConfig {
    let mut c = DaemonConfig::new(
        FeedConfig::new(&s.fifo, Separator::Nul),
        Some(s.status.clone()),
    );
    c.mirror.backoff_min = Duration::from_millis(10);
    c.mirror.backoff_max = Duration::from_millis(40);
    c.status_interval = Duration::from_millis(100);
    c
}

fn write_fifo(path: &std::path::Path, data: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(data).unwrap();
}

/// Polls `cond` for up to 20 s (a bound, not a timing assertion).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn is_live(queue: &Queue, id: &[u8]) -> bool {
    queue
        .status(SystemTime::now())
        .unwrap()
        .mirrors
        .iter()
        .any(|m| m.mirror == id && m.state == MirrorState::Live)
}

fn spec(id: &str, link: &FakeLink) -> MirrorSpec<FakeLink> {
    MirrorSpec {
        id: id.as_bytes().to_vec(),
        link: link.clone(),
    }
}

#[test]
fn a_new_mirror_is_bootstrapped_then_gets_every_name_and_is_acknowledged() {
    let s = setup();
    let link = FakeLink::new(Mode::Ok);
    let d = Daemon::start(
        config(&s),
        Arc::clone(&s.queue),
        vec![spec("m", &link)],
        runtime,
    )
    .unwrap();
    eventually("bootstrap", || link.calls() == vec![Call::FullSync]);
    write_fifo(&s.fifo, b"a\0dir/b\0");
    eventually("delivery", || link.delivered().len() == 2);
    assert_eq!(link.calls().first(), Some(&Call::FullSync));
    assert_eq!(link.delivered(), vec![b"a".to_vec(), b"dir/b".to_vec()]);
    eventually("ack", || {
        let st = s.queue.status(SystemTime::now()).unwrap();
        st.mirrors[0].cursor == Seq(2) && st.mirrors[0].state == MirrorState::Live
    });
    d.stop().unwrap();
    let snap = Snapshot::read(&s.status).unwrap();
    assert_eq!(snap.state, "stopped");
    assert_eq!(snap.accepted, 2);
    assert_eq!(snap.mirrors.len(), 1);
    assert_eq!(snap.mirrors[0].lag_entries, 0);
    assert_eq!(snap.mirrors[0].delivered, 2);
    assert_eq!(snap.mirrors[0].state, "stopped");
}

#[test]
fn a_dead_mirror_does_not_hold_back_a_live_one_and_catches_up_from_its_cursor() {
    let s = setup();
    let good = FakeLink::new(Mode::Ok);
    let dead = FakeLink::new(Mode::Down);
    let d = Daemon::start(
        config(&s),
        Arc::clone(&s.queue),
        vec![spec("good", &good), spec("dead", &dead)],
        runtime,
    )
    .unwrap();
    eventually("bootstrap", || good.calls() == vec![Call::FullSync]);
    write_fifo(&s.fifo, b"x\0");
    eventually("the good mirror", || {
        good.delivered() == vec![b"x".to_vec()]
    });
    eventually("the dead mirror's error in the status file", || {
        Snapshot::read(&s.status).is_ok_and(|snap| {
            snap.mirrors
                .iter()
                .any(|m| m.id == b"dead" && m.error == "mirror unreachable")
        })
    });
    assert!(dead.delivered().is_empty());
    // It comes back: a full sync (it never finished one) covers what was queued before it;
    // a later name is delivered.
    *dead.mode.lock().unwrap() = Mode::Ok;
    eventually("the revived mirror's bootstrap", || {
        is_live(&s.queue, b"dead")
    });
    write_fifo(&s.fifo, b"y\0");
    eventually("the revived mirror", || {
        dead.delivered() == vec![b"y".to_vec()]
    });
    eventually("the good mirror", || {
        good.delivered() == vec![b"x".to_vec(), b"y".to_vec()]
    });
    d.stop().unwrap();
}

#[test]
fn a_batch_that_keeps_failing_partially_is_acknowledged_after_the_attempts() {
    let s = setup();
    let link = FakeLink::new(Mode::Ok);
    let d = Daemon::start(
        config(&s),
        Arc::clone(&s.queue),
        vec![spec("m", &link)],
        runtime,
    )
    .unwrap();
    eventually("bootstrap", || is_live(&s.queue, b"m"));
    *link.mode.lock().unwrap() = Mode::Partial;
    write_fifo(&s.fifo, b"bad\0");
    eventually("three attempts", || link.delivered().len() == 3);
    eventually("ack", || {
        s.queue.status(SystemTime::now()).unwrap().mirrors[0].cursor == Seq(1)
    });
    // No fourth attempt: the batch was given up on.
    *link.mode.lock().unwrap() = Mode::Ok;
    write_fifo(&s.fifo, b"good\0");
    eventually("the next name", || {
        link.delivered().last() == Some(&b"good".to_vec())
    });
    assert_eq!(link.delivered().len(), 4);
    d.stop().unwrap();
    let snap = Snapshot::read(&s.status).unwrap();
    assert_eq!(snap.mirrors[0].error, "some files failed");
}

#[test]
fn names_queued_while_the_daemon_was_down_are_delivered_after_restart() {
    let s = setup();
    let link = FakeLink::new(Mode::Ok);
    // A first run bootstraps the mirror.
    let d = Daemon::start(
        config(&s),
        Arc::clone(&s.queue),
        vec![spec("m", &link)],
        runtime,
    )
    .unwrap();
    eventually("bootstrap", || link.calls() == vec![Call::FullSync]);
    d.stop().unwrap();
    // Names stored in the queue but never delivered (as after kill -9 of the daemon).
    let name = crate::constant::names::normalize(b"kept").unwrap();
    s.queue.append(&[name], SystemTime::now()).unwrap();
    let again = FakeLink::new(Mode::Ok);
    let d = Daemon::start(
        config(&s),
        Arc::clone(&s.queue),
        vec![spec("m", &again)],
        runtime,
    )
    .unwrap();
    eventually("redelivery", || again.delivered() == vec![b"kept".to_vec()]);
    assert!(
        !again.calls().contains(&Call::FullSync),
        "{:?}",
        again.calls()
    );
    d.stop().unwrap();
}

#[test]
fn backoff_doubles_with_jitter_up_to_the_maximum_and_resets() {
    let (min, max) = (Duration::from_millis(100), Duration::from_secs(30));
    let mut b = Backoff::new(min, max, 42);
    let mut step = min;
    let mut delays = Vec::new();
    for _ in 0..20 {
        let d = b.next_delay();
        assert!(
            d >= step / 2 && d <= step,
            "{d:?} outside [{:?}, {step:?}]",
            step / 2
        );
        delays.push(d);
        step = (step * 2).min(max);
    }
    assert!(delays.iter().all(|&d| d <= max));
    assert!(*delays.last().unwrap() >= max / 2);
    // Jitter: not every delay at the maximum is the same.
    let tail: Vec<_> = delays[12..].to_vec();
    assert!(tail.windows(2).any(|w| w[0] != w[1]), "{tail:?}");
    b.reset();
    assert!(b.next_delay() <= min);
}

#[test]
fn status_file_round_trips_with_escaped_bytes() {
    let snap = Snapshot {
        pid: 77,
        updated: UNIX_EPOCH + Duration::new(1_767_225_600, 123_456_789),
        state: "running".into(),
        queue_entries: 12,
        last_seq: 345,
        accepted: 400,
        rejected: 1,
        mirrors: vec![
            MirrorSnapshot {
                id: b"host:/srv/with\ttab%\xff".to_vec(),
                state: "backoff".into(),
                queue_state: "live".into(),
                lag: Duration::from_millis(1500),
                lag_entries: 9,
                delivered: 3,
                error: "line one\nline two".into(),
            },
            MirrorSnapshot {
                id: b"/local".to_vec(),
                state: "live".into(),
                queue_state: "live".into(),
                lag: Duration::ZERO,
                lag_entries: 0,
                delivered: 391,
                error: String::new(),
            },
        ],
    };
    let text = snap.render();
    assert_eq!(text.lines().count(), 7, "{text}");
    assert!(text.starts_with("rsync-constant-status 1\n"));
    let back = Snapshot::parse(text.as_bytes()).unwrap();
    assert_eq!(back, snap);
    let table = back.table(snap.updated + Duration::from_secs(2));
    assert!(table.contains("queue depth 12 entries"), "{table}");
    assert!(table.contains("status 2.0 s old"), "{table}");
    assert!(table.contains("1.500"), "{table}");
    assert!(Snapshot::parse(b"something else\n").is_err());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    snap.write_atomic(&path).unwrap();
    assert_eq!(Snapshot::read(&path).unwrap(), snap);
    // Only the file itself is left (the temporary file was renamed).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn snapshot_merges_the_queue_and_the_links() {
    let s = setup();
    let now = SystemTime::now();
    s.queue.add_mirror(b"a", now).unwrap();
    s.queue.begin_full_sync(b"a", now).unwrap();
    s.queue.end_full_sync(b"a", now).unwrap();
    let n = crate::constant::names::normalize(b"f").unwrap();
    s.queue.append(&[n], now).unwrap();
    let board = StatusBoard::new();
    board.add(b"a");
    board.set_state(b"a", LinkState::Backoff);
    board.set_error(b"a", "boom");
    let q = s.queue.status(now + Duration::from_secs(3)).unwrap();
    let snap = board.snapshot(
        &q,
        FeedCounts {
            accepted: 1,
            rejected: 0,
        },
        "running",
    );
    assert_eq!(snap.queue_entries, 1);
    assert_eq!(snap.mirrors.len(), 1);
    let m = &snap.mirrors[0];
    assert_eq!(
        (m.state.as_str(), m.queue_state.as_str()),
        ("backoff", "live")
    );
    assert_eq!((m.lag_entries, m.error.as_str()), (1, "boom"));
    assert!(m.lag >= Duration::from_secs(3), "{:?}", m.lag);
    drop(s.dir);
}

#[test]
fn constant_mode_options_parse() {
    use crate::options::{duration, parse};
    let args: Vec<std::ffi::OsString> = [
        "-a",
        "--constant",
        "--files-from=f",
        "--settle=250ms",
        "--hot-warn",
        "2m",
        "--queue=q.db",
        "--status",
        "src/",
        "dest",
    ]
    .iter()
    .map(Into::into)
    .collect();
    let (o, operands) = parse(&args, false).unwrap();
    assert!(o.constant);
    assert_eq!(o.constant_version, None);
    assert_eq!(o.settle, Some(Duration::from_millis(250)));
    assert_eq!(o.hot_warn, Some(Duration::from_secs(120)));
    assert_eq!(o.queue, Some("q.db".into()));
    assert_eq!(o.status, Some(None));
    assert_eq!(operands.len(), 2);
    let server: Vec<std::ffi::OsString> = ["--server", "--constant=1", "--status=s.txt"]
        .iter()
        .map(Into::into)
        .collect();
    let (o, _) = parse(&server, true).unwrap();
    assert_eq!((o.constant, o.constant_version), (false, Some(1)));
    assert_eq!(o.status, Some(Some("s.txt".into())));
    assert_eq!(duration("x", b"1.5").unwrap(), Duration::from_millis(1500));
    assert_eq!(duration("x", b"3s").unwrap(), Duration::from_secs(3));
    assert_eq!(duration("x", b"1h").unwrap(), Duration::from_secs(3600));
    for bad in [&b""[..], b"ms", b"5 s", b"-1", b"1d", b"\xff"] {
        assert!(duration("--settle", bad).is_err(), "{bad:?}");
    }
    assert!(parse(&["--constant=x".into()], true).is_err());
}

#[test]
fn a_refused_link_falls_back_for_good() {
    let s = setup();
    let stream = FakeLink::new(Mode::Refused);
    let session = FakeLink::new(Mode::Ok);
    let spec = MirrorSpec {
        id: b"m".to_vec(),
        link: Fallback::new(stream.clone(), session.clone()),
    };
    let d = Daemon::start(config(&s), Arc::clone(&s.queue), vec![spec], runtime).unwrap();
    eventually("bootstrap", || is_live(&s.queue, b"m"));
    write_fifo(&s.fifo, b"n\0");
    eventually("delivery", || session.delivered() == vec![b"n".to_vec()]);
    assert_eq!(session.calls().first(), Some(&Call::FullSync));
    // The refusing link was asked to connect, never to carry anything, and is not tried
    // again even if it would now answer.
    assert!(stream.calls().is_empty());
    *stream.mode.lock().unwrap() = Mode::Ok;
    write_fifo(&s.fifo, b"m2\0");
    eventually("delivery", || session.delivered().len() == 2);
    assert!(stream.calls().is_empty());
    d.stop().unwrap();
}

#[test]
fn a_mirror_that_cannot_store_files_is_down_not_a_bad_file() {
    use super::stream::mirror_resource_error;
    for m in [
        &b"write big: No space left on device (os error 28)"[..],
        b"write big: File too large (os error 27)",
        b"create .x.AbCdEf: Disk quota exceeded (os error 122)",
        b"rename x: Read-only file system (os error 30)",
        b"write failed on \"x\": No space left on device (28)",
    ] {
        assert!(mirror_resource_error(m), "{}", String::from_utf8_lossy(m));
    }
    for m in [
        &b"send_files failed to open \"x\": Permission denied (os error 13)"[..],
        b"file has vanished: \"x\"",
        b"mkdir d: Not a directory (os error 20)",
        b"(os error 50)",
        b"",
    ] {
        assert!(!mirror_resource_error(m), "{}", String::from_utf8_lossy(m));
    }
}
