//! Throughput and latency of the durable change queue (`constant::queue`), on a real disk.
//!
//! ```sh
//! cargo bench -p rsync-constant --bench queue_throughput
//! BENCH_DIR=/some/disk/dir cargo bench -p rsync-constant --bench queue_throughput
//! ```
//!
//! Prints, with the `fdatasync` cost of the same file system as the baseline:
//! 1. group commit: names/s and commit latency (p50, p99, max) for batches of 1, 10, 100 and
//!    1000 names, with a live mirror acknowledging after each commit (steady state);
//! 2. the queue's share of the end-to-end latency: names arriving at 10,000/s, each append
//!    taking every name arrived so far (group commit, as the FIFO reader does), while a
//!    drainer thread reads and acknowledges: from a name's arrival to durable, and to the
//!    drainer holding it;
//! 3. disk use: file size under churn (1,000,000 names through a live mirror), bytes per
//!    entry of a backlog, and what `compact` + `shrink_file` give back.

#![allow(clippy::expect_used, clippy::panic)] // a benchmark: a failure aborts the run

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rsync_constant::constant::names::{normalize, Name};
use rsync_constant::constant::queue::{Next, Queue, QueueConfig, Seq};

const MIRROR: &[u8] = b"mirror";

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let base = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&base).expect("temporary directory");
    println!("queue benchmark in {}", dir.path().display());
    // QUEUE_BENCH=phase,phase… runs a subset: sync, group, acks, e2e, disk.
    let phases = std::env::var("QUEUE_BENCH").unwrap_or_else(|_| "sync,group,acks,e2e,disk".into());
    let on = |p: &str| phases.split(',').any(|x| x == p);
    if on("sync") {
        fdatasync_baseline(dir.path());
    }
    if on("group") {
        group_commit(dir.path());
    }
    if on("acks") {
        ack_modes(dir.path());
    }
    if on("e2e") {
        end_to_end(dir.path());
    }
    if on("disk") {
        disk_use(dir.path());
    }
}

/// Single-name appends alone, then each followed by a non-durable ack (what the queue does),
/// then by a durable one: the cost of acknowledging.
fn ack_modes(dir: &Path) {
    println!("\n1b. single-name appends and acknowledgements");
    for mode in ["append only", "append + ack"] {
        let path = dir.join("acks.redb");
        let q = live_queue(&path, QueueConfig::default());
        let (mut lat, mut acks) = (Vec::new(), Vec::new());
        let start = Instant::now();
        for i in 0..2000 {
            let t = Instant::now();
            let a = q
                .append(&[name(&format!("d/f{i}"))], SystemTime::now())
                .expect("append");
            lat.push(t.elapsed());
            if mode != "append only" {
                let t = Instant::now();
                q.ack(MIRROR, a.last, SystemTime::now()).expect("ack");
                acks.push(t.elapsed());
            }
        }
        let rate = 2000.0 / start.elapsed().as_secs_f64();
        println!("   {mode:<13} {rate:>6.0}/s  append {}", summary(lat));
        if !acks.is_empty() {
            println!("   {:<13} {:>8}  ack    {}", "", "", summary(acks));
        }
        drop(q);
        let _ = std::fs::remove_file(&path);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn summary(mut lat: Vec<Duration>) -> String {
    lat.sort_unstable();
    format!(
        "p50 {:>7}  p99 {:>7}  max {:>8}",
        us(percentile(&lat, 0.5)),
        us(percentile(&lat, 0.99)),
        us(*lat.last().unwrap_or(&Duration::ZERO))
    )
}

fn name(s: &str) -> Name {
    normalize(s.as_bytes()).expect("valid name")
}

/// A queue with one live mirror.
fn live_queue(path: &Path, config: QueueConfig) -> Queue {
    let q = Queue::open(path, config).expect("open");
    let now = SystemTime::now();
    q.add_mirror(MIRROR, now).expect("add");
    q.begin_full_sync(MIRROR, now).expect("begin");
    q.end_full_sync(MIRROR, now).expect("end");
    q
}

fn fdatasync_baseline(dir: &Path) {
    let f = std::fs::File::create(dir.join("sync-probe")).expect("probe");
    let block = [7u8; 4096];
    let mut lat = Vec::new();
    for i in 0..500u64 {
        let t = Instant::now();
        f.write_at(&block, (i % 16) * 4096).expect("write");
        f.sync_data().expect("fdatasync");
        lat.push(t.elapsed());
    }
    println!("\nbaseline: 4 KiB pwrite + fdatasync   {}", summary(lat));
}

fn group_commit(dir: &Path) {
    println!("\n1. group commit (one live mirror acking after each commit)");
    println!("   batch   commits      names/s   commit latency");
    for (batch, commits) in [(1usize, 3000usize), (10, 2000), (100, 1000), (1000, 300)] {
        let path = dir.join(format!("group-{batch}.redb"));
        let q = live_queue(&path, QueueConfig::default());
        let mut lat = Vec::with_capacity(commits);
        let mut n = 0u64;
        let start = Instant::now();
        for _ in 0..commits {
            // 1 name in 10 is a path queued before (coalescing).
            let names: Vec<Name> = (0..batch)
                .map(|_| {
                    n += 1;
                    let id = if n.is_multiple_of(10) { n / 2 } else { n };
                    name(&format!("d{}/f{id}", id % 1000))
                })
                .collect();
            let t = Instant::now();
            let a = q.append(&names, SystemTime::now()).expect("append");
            lat.push(t.elapsed());
            q.ack(MIRROR, a.last, SystemTime::now()).expect("ack");
        }
        let total = start.elapsed();
        let rate = (batch * commits) as f64 / total.as_secs_f64();
        println!(
            "   {batch:>5}   {commits:>7}   {rate:>10.0}   {}",
            summary(lat)
        );
        drop(q);
        let _ = std::fs::remove_file(&path);
    }
}

fn end_to_end(dir: &Path) {
    const RATE: u64 = 10_000;
    const SECONDS: u64 = 3;
    println!("\n2. queue share of end-to-end latency: names arriving at {RATE}/s, group commit");
    println!("   (each append takes every name arrived so far, as the FIFO reader does)");
    let path = dir.join("e2e.redb");
    let q = Arc::new(live_queue(&path, QueueConfig::default()));
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    // Name k arrives at start + k / RATE.
    let arrival = move |k: u64| start + Duration::from_nanos(k * 1_000_000_000 / RATE);
    // The drainer pipelines: it reads after the last entry it holds and hands the
    // acknowledgements to a separate thread, so an ack waiting for the write lock (held by an
    // append during its fsync) never delays reading.
    let (ack_tx, ack_rx) = std::sync::mpsc::channel::<Seq>();
    let acker = {
        let q = Arc::clone(&q);
        std::thread::spawn(move || {
            let mut acks = Vec::new();
            while let Ok(mut upto) = ack_rx.recv() {
                upto = ack_rx.try_iter().last().unwrap_or(upto);
                let t = Instant::now();
                q.ack(MIRROR, upto, SystemTime::now()).expect("ack");
                acks.push(t.elapsed());
            }
            acks
        })
    };
    let drainer = {
        let (q, done) = (Arc::clone(&q), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut lat = Vec::new();
            let mut held: Option<Seq> = None;
            while !done.load(Ordering::Acquire) {
                let Next::Entries { entries, .. } = q
                    .next_for(MIRROR, held, 1000, SystemTime::now())
                    .expect("next")
                else {
                    panic!("mirror not live")
                };
                let Some(last) = entries.last().map(|e| e.seq) else {
                    std::thread::sleep(Duration::from_micros(50));
                    continue;
                };
                let now = Instant::now();
                for e in &entries {
                    let k: u64 = std::str::from_utf8(e.name.as_bytes())
                        .ok()
                        .and_then(|s| s.rsplit('f').next())
                        .and_then(|s| s.parse().ok())
                        .expect("id");
                    lat.push(now.duration_since(arrival(k)));
                }
                held = Some(last);
                ack_tx.send(last).expect("acker");
            }
            lat
        })
    };
    let (mut commit, mut durable, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
    let mut sent = 0u64;
    while start.elapsed() < Duration::from_secs(SECONDS) {
        let due = (start.elapsed().as_nanos() as u64 * RATE / 1_000_000_000) + 1;
        if due <= sent {
            std::thread::sleep(arrival(sent).saturating_duration_since(Instant::now()));
            continue;
        }
        let names: Vec<Name> = (sent..due)
            .map(|k| name(&format!("d{}/f{k}", k % 1000)))
            .collect();
        let t = Instant::now();
        q.append(&names, SystemTime::now()).expect("append");
        let end = Instant::now();
        commit.push(end - t);
        durable.extend((sent..due).map(|k| end.duration_since(arrival(k))));
        sizes.push(names.len());
        sent = due;
    }
    let rate = sent as f64 / start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(50));
    done.store(true, Ordering::Release);
    let e2e = drainer.join().expect("drainer");
    let acks = acker.join().expect("acker");
    let mean = sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64;
    println!(
        "   {rate:.0} names/s in {} commits (mean batch {mean:.1}, max {}); {} delivered",
        sizes.len(),
        sizes.iter().max().unwrap_or(&0),
        e2e.len()
    );
    println!("   append                   {}", summary(commit));
    println!("   arrival -> durable       {}", summary(durable));
    println!("   arrival -> drainer holds {}", summary(e2e));
    println!("   ack (Durability::None)   {}", summary(acks));
    let st = q.status(SystemTime::now()).expect("status");
    println!(
        "   entries left {}, file {} KiB",
        st.entries,
        st.file_bytes / 1024
    );
    drop(q);
    let _ = std::fs::remove_file(&path);
}

fn disk_use(dir: &Path) {
    println!("\n3. disk use");
    let path = dir.join("churn.redb");
    let q = live_queue(&path, QueueConfig::default());
    let mut n = 0u64;
    print!("   churn through a live mirror (names: file KiB):");
    for round in 1..=10 {
        for _ in 0..100 {
            let names: Vec<Name> = (0..1000)
                .map(|_| {
                    n += 1;
                    name(&format!("dir{}/sub/file-{n}", n % 5000))
                })
                .collect();
            let a = q.append(&names, SystemTime::now()).expect("append");
            q.ack(MIRROR, a.last, SystemTime::now()).expect("ack");
        }
        let st = q.status(SystemTime::now()).expect("status");
        print!("  {}k: {}", round * 100, st.file_bytes / 1024);
        std::io::stdout().flush().ok();
    }
    println!();
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    println!(
        "   process peak RSS after the churn: {}",
        rss.trim_start_matches("VmHWM:").trim()
    );
    drop(q);
    let _ = std::fs::remove_file(&path);

    let path = dir.join("backlog.redb");
    let mut q = live_queue(&path, QueueConfig::default());
    let empty = q.status(SystemTime::now()).expect("status").file_bytes;
    let entries = 200_000u64;
    for b in 0..entries / 1000 {
        let names: Vec<Name> = (0..1000)
            .map(|i| name(&format!("dir{}/sub/file-{}", i % 50, b * 1000 + i)))
            .collect();
        q.append(&names, SystemTime::now()).expect("append");
    }
    let st = q.status(SystemTime::now()).expect("status");
    println!(
        "   backlog of {entries} entries (paths ~22 bytes): file {} KiB, {:.0} bytes/entry",
        st.file_bytes / 1024,
        (st.file_bytes - empty) as f64 / entries as f64
    );
    let t = Instant::now();
    q.ack(MIRROR, Seq(entries), SystemTime::now()).expect("ack");
    let c = q.compact(SystemTime::now()).expect("compact");
    let compact_time = t.elapsed();
    let after = q.status(SystemTime::now()).expect("status").file_bytes;
    let t = Instant::now();
    q.shrink_file().expect("shrink");
    let shrink_time = t.elapsed();
    let shrunk = q.status(SystemTime::now()).expect("status").file_bytes;
    println!(
        "   ack + compact: {} removed in {:.0} ms, file {} KiB; shrink_file: {:.0} ms, file {} KiB",
        c.removed,
        compact_time.as_secs_f64() * 1e3,
        after / 1024,
        shrink_time.as_secs_f64() * 1e3,
        shrunk / 1024
    );
}
