//! The FIFO feed and the change queue together, as the daemon will wire them: every batch
//! the feed delivers is appended in one durable commit, and the names written to the FIFO end
//! up in the queue, coalesced, rejections excluded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failure is a test failure

use std::io::Write;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rsync_constant::constant::feed::{Feed, FeedConfig};
use rsync_constant::constant::names::Separator;
use rsync_constant::constant::queue::{Next, Queue, QueueConfig};

#[test]
fn names_written_to_the_fifo_are_queued_durably() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("changes.fifo");
    let q = Arc::new(Queue::open(&dir.path().join("queue.redb"), QueueConfig::default()).unwrap());
    q.add_mirror(b"m", SystemTime::now()).unwrap();
    q.begin_full_sync(b"m", SystemTime::now()).unwrap();
    q.end_full_sync(b"m", SystemTime::now()).unwrap();

    let sink_q = Arc::clone(&q);
    let feed = Feed::start(FeedConfig::new(&fifo, Separator::Nul), move |batch| {
        sink_q.append(&batch, SystemTime::now()).unwrap();
        ControlFlow::Continue(())
    })
    .unwrap();

    // Two writers one after the other; 5,000 distinct names, each written twice, plus junk.
    for half in 0..2 {
        let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        for chunk in 0..50 {
            let mut buf = Vec::new();
            for i in 0..50 {
                let n = half * 2500 + chunk * 50 + i;
                buf.extend_from_slice(format!("/dir{}/file{n}\0", n % 7).as_bytes());
                buf.extend_from_slice(format!("dir{}/./file{n}\0", n % 7).as_bytes());
            }
            buf.extend_from_slice(b"../outside\0");
            w.write_all(&buf).unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while feed.stats().accepted() < 10_000 || feed.stats().rejected() < 100 {
        assert!(Instant::now() < deadline, "timed out: {:?}", feed.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    // The last batch may still be committing: stop the feed, which waits for the sink.
    let batches = feed.stats().batches();
    feed.stop().unwrap();
    assert!(batches < 10_000, "no grouping: {batches} batches");

    let Next::Entries { entries, .. } = q
        .next_for(b"m", None, usize::MAX, SystemTime::now())
        .unwrap()
    else {
        panic!("mirror not live")
    };
    assert_eq!(entries.len(), 5000);
    let mut got: Vec<Vec<u8>> = entries.into_iter().map(|e| e.name.into_bytes()).collect();
    got.sort();
    let mut want: Vec<Vec<u8>> = (0..5000)
        .map(|n| format!("dir{}/file{n}", n % 7).into_bytes())
        .collect();
    want.sort();
    assert_eq!(got, want);
    q.check().unwrap();
}
