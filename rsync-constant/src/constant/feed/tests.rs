//! Tests of the FIFO reader against real FIFOs in a temporary directory: creation and mode,
//! refusal of other file types, concurrent writers, split names, reopening, rejections,
//! batching and shutdown. Every wait has a hard deadline.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::*;

const DEADLINE: Duration = Duration::from_secs(20);

/// A feed on `dir/fifo` whose batches arrive on the returned channel.
fn start(dir: &tempfile::TempDir, sep: Separator) -> (Feed, mpsc::Receiver<Vec<Name>>) {
    let (tx, rx) = mpsc::channel();
    let feed = Feed::start(
        FeedConfig::new(dir.path().join("fifo"), sep),
        move |batch| match tx.send(batch) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        },
    )
    .unwrap();
    (feed, rx)
}

/// Receives batches until `n` names arrived (panics after [`DEADLINE`]).
fn collect(rx: &mpsc::Receiver<Vec<Name>>, n: usize) -> Vec<String> {
    let end = Instant::now() + DEADLINE;
    let mut out = Vec::new();
    while out.len() < n {
        let left = end.saturating_duration_since(Instant::now());
        let batch = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("{e} after {} of {n} names", out.len()));
        out.extend(
            batch
                .into_iter()
                .map(|n| String::from_utf8(n.into_bytes()).unwrap()),
        );
    }
    out
}

fn writer(dir: &tempfile::TempDir) -> std::fs::File {
    OpenOptions::new()
        .write(true)
        .open(dir.path().join("fifo"))
        .unwrap()
}

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn creates_a_missing_fifo_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, _rx) = start(&dir, Separator::Nul);
    let meta = std::fs::metadata(dir.path().join("fifo")).unwrap();
    assert!(meta.file_type().is_fifo());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(feed.path(), dir.path().join("fifo"));
    feed.stop().unwrap();
}

#[test]
fn an_existing_fifo_is_used_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fifo");
    rustix::fs::mkfifoat(CWD, &path, Mode::from_raw_mode(0o640)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (feed, rx) = start(&dir, Separator::Nul);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    writer(&dir).write_all(b"x\0").unwrap();
    assert_eq!(collect(&rx, 1), ["x"]);
    feed.stop().unwrap();
}

#[test]
fn a_path_that_is_not_a_fifo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"a\0").unwrap();
    let err = Feed::start(FeedConfig::new(&file, Separator::Nul), |_| {
        ControlFlow::Continue(())
    })
    .unwrap_err();
    assert!(matches!(
        err,
        FeedError::NotAFifo {
            kind: "regular file",
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: exists and is not a FIFO (it is a regular file)",
            file.display()
        )
    );
    // Left untouched.
    assert_eq!(std::fs::read(&file).unwrap(), b"a\0");
    let err = Feed::start(FeedConfig::new(dir.path(), Separator::Nul), |_| {
        ControlFlow::Continue(())
    })
    .unwrap_err();
    assert!(matches!(
        err,
        FeedError::NotAFifo {
            kind: "directory",
            ..
        }
    ));
}

#[test]
fn a_missing_parent_directory_is_a_create_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Feed::start(
        FeedConfig::new(dir.path().join("no/such/fifo"), Separator::Nul),
        |_| ControlFlow::Continue(()),
    )
    .unwrap_err();
    assert!(matches!(err, FeedError::Create { .. }), "{err}");
}

#[test]
fn several_concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, rx) = start(&dir, Separator::Nul);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let mut f = writer(&dir);
            std::thread::spawn(move || {
                // Whole names in writes of at most PIPE_BUF bytes, as documented.
                let mut buf = Vec::new();
                for i in 0..2000 {
                    let name = format!("w{w}/dir/file-{i:05}\0");
                    if buf.len() + name.len() > 4096 {
                        f.write_all(&buf).unwrap();
                        buf.clear();
                    }
                    buf.extend_from_slice(name.as_bytes());
                }
                f.write_all(&buf).unwrap();
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let got = collect(&rx, 8000);
    let want: BTreeSet<String> = (0..4)
        .flat_map(|w| (0..2000).map(move |i| format!("w{w}/dir/file-{i:05}")))
        .collect();
    assert_eq!(got.len(), 8000);
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), want);
    assert_eq!(feed.stats().accepted(), 8000);
    assert_eq!(feed.stats().rejected(), 0);
    feed.stop().unwrap();
}

#[test]
fn a_name_split_across_writes_is_joined() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, rx) = start(&dir, Separator::Newline);
    let mut w = writer(&dir);
    w.write_all(b"first\r\nsplit-").unwrap();
    // Let the reader consume the first part on its own.
    wait_for("the first read", || feed.stats().bytes() == 13);
    w.write_all(b"name\n").unwrap();
    assert_eq!(collect(&rx, 2), ["first", "split-name"]);
    assert_eq!(feed.stats().batches(), 2);
    assert_eq!(feed.stats().ignored(), 1);
    feed.stop().unwrap();
}

#[test]
fn reopens_when_the_last_writer_closes_and_counts_the_unterminated_name() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, rx) = start(&dir, Separator::Nul);
    {
        let mut w = writer(&dir);
        w.write_all(b"one\0tail-without-separator").unwrap();
    }
    assert_eq!(collect(&rx, 2), ["one", "tail-without-separator"]);
    wait_for("the reopen", || feed.stats().reopens() == 1);
    // A second generation of writers, one after the other.
    for gen in 0..3 {
        let mut w = writer(&dir);
        w.write_all(format!("gen{gen}\0").as_bytes()).unwrap();
        drop(w);
        assert_eq!(collect(&rx, 1), [format!("gen{gen}")]);
        wait_for("the reopen", || feed.stats().reopens() == 2 + gen);
    }
    assert!(!feed.is_finished());
    feed.stop().unwrap();
}

#[test]
fn a_removed_fifo_is_recreated_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, rx) = start(&dir, Separator::Nul);
    let mut w = writer(&dir);
    std::fs::remove_file(dir.path().join("fifo")).unwrap();
    w.write_all(b"old\0").unwrap();
    drop(w);
    assert_eq!(collect(&rx, 1), ["old"]);
    wait_for("the reopen", || feed.stats().reopens() == 1);
    assert!(std::fs::metadata(dir.path().join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    writer(&dir).write_all(b"new\0").unwrap();
    assert_eq!(collect(&rx, 1), ["new"]);
    feed.stop().unwrap();
}

#[test]
fn rejections_are_counted_and_do_not_stop_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, rx) = start(&dir, Separator::Nul);
    let mut w = writer(&dir);
    let mut input = b"../escape\0\0ok\0".to_vec();
    input.extend(std::iter::repeat_n(b'x', 100_000));
    input.extend_from_slice(b"\0/still/ok\0");
    w.write_all(&input).unwrap();
    assert_eq!(collect(&rx, 2), ["ok", "still/ok"]);
    assert_eq!(feed.stats().rejected(), 3);
    assert_eq!(feed.stats().accepted(), 2);
    feed.stop().unwrap();
}

#[test]
fn one_atomic_write_is_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, rx) = start(&dir, Separator::Nul);
    let input: String = (0..100).map(|i| format!("f{i:03}\0")).collect();
    assert!(input.len() <= 4096);
    writer(&dir).write_all(input.as_bytes()).unwrap();
    let batch = rx.recv_timeout(DEADLINE).unwrap();
    assert_eq!(batch.len(), 100);
    assert_eq!(batch[99].as_bytes(), b"f099");
    feed.stop().unwrap();
}

#[test]
fn stop_returns_with_or_without_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, _rx) = start(&dir, Separator::Nul);
    let begin = Instant::now();
    feed.stop().unwrap();
    assert!(begin.elapsed() < DEADLINE);

    let (feed, _rx) = start(&dir, Separator::Nul);
    let mut w = writer(&dir);
    w.write_all(b"partial").unwrap();
    feed.stop().unwrap();
    // The FIFO has no reader any more: a write now fails instead of blocking.
    assert_eq!(
        w.write_all(b"x").unwrap_err().kind(),
        std::io::ErrorKind::BrokenPipe
    );
}

#[test]
fn the_sink_can_stop_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let feed = Feed::start(
        FeedConfig::new(dir.path().join("fifo"), Separator::Nul),
        |batch| {
            if batch.iter().any(|n| n.as_bytes() == b"quit") {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .unwrap();
    writer(&dir).write_all(b"a\0quit\0").unwrap();
    wait_for("the thread to end", || feed.is_finished());
    feed.join().unwrap();
}

/// A feed with `commit_delay`, whose batches arrive on the returned channel.
fn start_with_delay(dir: &tempfile::TempDir, delay: Duration) -> (Feed, mpsc::Receiver<Vec<Name>>) {
    let (tx, rx) = mpsc::channel();
    let mut config = FeedConfig::new(dir.path().join("fifo"), Separator::Nul);
    config.commit_delay = delay;
    let feed = Feed::start(config, move |batch| match tx.send(batch) {
        Ok(()) => ControlFlow::Continue(()),
        Err(_) => ControlFlow::Break(()),
    })
    .unwrap();
    (feed, rx)
}

fn names(batch: &[Name]) -> Vec<&[u8]> {
    batch.iter().map(Name::as_bytes).collect()
}

#[test]
fn names_streaming_in_after_a_batch_are_gathered_into_one() {
    // A long delay, so that the writes below surely fall within it.
    let dir = tempfile::tempdir().unwrap();
    let (feed, rx) = start_with_delay(&dir, Duration::from_secs(2));
    let mut w = writer(&dir);
    // The first name: nothing was handed over before, so it goes at once, alone.
    w.write_all(b"first\0").unwrap();
    let first = rx.recv_timeout(DEADLINE).unwrap();
    assert_eq!(names(&first), [b"first"]);
    // Three separate writes right after: held back, then handed over together.
    for n in [&b"b\0"[..], b"c\0", b"d\0"] {
        w.write_all(n).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        rx.try_recv().is_err(),
        "names within the delay must wait for it"
    );
    let gathered = rx.recv_timeout(DEADLINE).unwrap();
    assert_eq!(names(&gathered), [&b"b"[..], b"c", b"d"]);
    assert_eq!(feed.stats().batches(), 2);
    feed.stop().unwrap();
}

#[test]
fn stop_hands_over_the_names_still_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, rx) = start_with_delay(&dir, Duration::from_secs(3600));
    let mut w = writer(&dir);
    w.write_all(b"a\0").unwrap();
    assert_eq!(names(&rx.recv_timeout(DEADLINE).unwrap()), [b"a"]);
    w.write_all(b"b\0c\0partial").unwrap();
    wait_for("the read", || feed.stats().bytes() == 13);
    feed.stop().unwrap();
    // The complete names were read: they reach the sink; the partial one does not.
    let last = rx.recv_timeout(DEADLINE).unwrap();
    assert_eq!(names(&last), [&b"b"[..], b"c"]);
    assert!(rx.try_recv().is_err());
}
