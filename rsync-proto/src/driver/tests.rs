//! Driver tests: our sender and receiver run by two drivers over an in-memory duplex with a
//! tiny buffer each way and a slow executor, so a write-write deadlock hangs (and fails the
//! test timeout) instead of passing by luck; plus the inactivity timeout.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rsync_core::checksum::StrongSum;
use rsync_core::Signature;

use super::{run, DriverConfig, DriverError, Executor, ExecutorError, Outcome, StartSession};
use crate::flist::{mode, FileEntry, IdList, WirePath};
use crate::handshake::{ClientConfig, ClientInfo, Handshake, ServerConfig};
use crate::session::{BasisMeta, Event, FileOutcome, FsAnswer, FsRequest, Session};
use crate::session::{Receiver, Sender, SessionOptions};

type Tree = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// A shared in-memory tree (`None` = directory) served with a delay per request.
#[derive(Clone)]
struct MemFs {
    tree: Arc<Mutex<Tree>>,
    strong: Arc<Mutex<Option<StrongSum>>>,
    delay: Duration,
    temp: BTreeMap<i32, (Vec<u8>, Vec<u8>)>,
    requests: Arc<Mutex<usize>>,
    /// Declares itself resumable: reads answer in budgeted slices.
    resumable: bool,
    /// The unfinished read: index and the bytes still to answer.
    reading: Option<(i32, Vec<u8>)>,
    /// `resume` calls that answered something.
    resumes: Arc<Mutex<usize>>,
}

impl MemFs {
    fn new(tree: Tree, delay: Duration) -> Self {
        Self {
            tree: Arc::new(Mutex::new(tree)),
            strong: Arc::new(Mutex::new(None)),
            delay,
            temp: BTreeMap::new(),
            requests: Arc::new(Mutex::new(0)),
            resumable: false,
            reading: None,
            resumes: Arc::new(Mutex::new(0)),
        }
    }

    /// Answers from `self.reading` up to `budget` bytes; `true` once the read is finished.
    fn read_slice(&mut self, answer: &mut dyn FnMut(FsAnswer), budget: usize) -> bool {
        let Some((ndx, rest)) = self.reading.as_mut() else {
            return true;
        };
        let mut given = 0;
        while !rest.is_empty() {
            if given >= budget {
                return false;
            }
            let chunk: Vec<u8> = rest.drain(..rest.len().min(5000)).collect();
            given += chunk.len();
            answer(FsAnswer::FileData {
                ndx: *ndx,
                data: chunk,
            });
        }
        answer(FsAnswer::FileEnd { ndx: *ndx });
        self.reading = None;
        true
    }

    fn snapshot(&self) -> Tree {
        self.tree.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

fn entry(name: &[u8], node: &Option<Vec<u8>>) -> FileEntry {
    let path = WirePath::new(name.to_vec()).expect("test path");
    let mut e = match node {
        Some(data) => {
            let mut e = FileEntry::new(path, mode::S_IFREG | 0o644);
            e.set_size(data.len() as u64);
            e
        }
        None => FileEntry::new(path, mode::S_IFDIR | 0o755),
    };
    e.set_mtime(1_700_000_000);
    e
}

impl Executor for MemFs {
    fn resumable(&self) -> bool {
        self.resumable
    }

    fn execute_budget(
        &mut self,
        request: FsRequest,
        answer: &mut dyn FnMut(FsAnswer),
        budget: usize,
    ) -> Result<bool, ExecutorError> {
        match request {
            FsRequest::ReadFile { ndx, path } if self.resumable => {
                assert!(
                    self.reading.is_none(),
                    "a new request before the last finished"
                );
                let data = self.snapshot().get(path.as_bytes()).cloned().flatten();
                self.reading = Some((ndx, data.expect("a listed file")));
                Ok(self.read_slice(answer, budget))
            }
            other => self.execute(other, answer).map(|()| true),
        }
    }

    fn resume(
        &mut self,
        answer: &mut dyn FnMut(FsAnswer),
        budget: usize,
    ) -> Result<bool, ExecutorError> {
        *self.resumes.lock().expect("lock") += 1;
        Ok(self.read_slice(answer, budget))
    }

    fn execute(
        &mut self,
        request: FsRequest,
        answer: &mut dyn FnMut(FsAnswer),
    ) -> Result<(), ExecutorError> {
        std::thread::sleep(self.delay);
        *self.requests.lock().expect("lock") += 1;
        let tree = self.snapshot();
        let strong = self.strong.lock().expect("lock").expect("strong sum set");
        match request {
            FsRequest::FileList { .. } => answer(FsAnswer::FileList {
                entries: tree.iter().map(|(n, d)| entry(n, d)).collect(),
                io_error: 0,
                uids: IdList::default(),
                gids: IdList::default(),
            }),
            FsRequest::ReadFile { ndx, path } => match tree.get(path.as_bytes()) {
                Some(Some(data)) => {
                    for c in data.chunks(5000) {
                        answer(FsAnswer::FileData {
                            ndx,
                            data: c.to_vec(),
                        });
                    }
                    answer(FsAnswer::FileEnd { ndx });
                }
                _ => answer(FsAnswer::FileError {
                    ndx,
                    vanished: true,
                }),
            },
            FsRequest::Basis { ndx, path, .. } => {
                let meta = tree.get(path.as_bytes()).map(|n| match n {
                    // An old mtime, so that every existing file is updated.
                    Some(d) => BasisMeta::new(mode::S_IFREG | 0o644, d.len() as u64, 1),
                    None => BasisMeta::new(mode::S_IFDIR | 0o755, 0, 1_700_000_000),
                });
                answer(FsAnswer::Basis { ndx, meta });
            }
            FsRequest::Signature { ndx, path, head } => {
                let data = tree
                    .get(path.as_bytes())
                    .cloned()
                    .flatten()
                    .unwrap_or_default();
                let signature = Signature::compute(&data, head, strong);
                answer(FsAnswer::Signature { ndx, signature });
            }
            FsRequest::BeginFile { ndx, path } => {
                self.temp
                    .insert(ndx, (path.as_bytes().to_vec(), Vec::new()));
            }
            FsRequest::Write { ndx, data } => {
                if let Some((_, buf)) = self.temp.get_mut(&ndx) {
                    buf.extend_from_slice(&data);
                }
            }
            FsRequest::CopyFromBasis { ndx, offset, len } => {
                let path = self.temp.get(&ndx).map(|t| t.0.clone()).unwrap_or_default();
                let data = tree.get(&path).cloned().flatten().unwrap_or_default();
                let (o, l) = (offset as usize, len as usize);
                answer(FsAnswer::Copied {
                    ndx,
                    data: data.get(o..o + l).unwrap_or_default().to_vec(),
                });
            }
            FsRequest::Commit { ndx, entry } => {
                let (_, data) = self.temp.remove(&ndx).unwrap_or_default();
                self.tree
                    .lock()
                    .expect("lock")
                    .insert(entry.name.as_bytes().to_vec(), Some(data));
            }
            FsRequest::Mkdir { entry, .. } => {
                self.tree
                    .lock()
                    .expect("lock")
                    .insert(entry.name.as_bytes().to_vec(), None);
            }
            FsRequest::Discard { ndx } => {
                self.temp.remove(&ndx);
            }
            _ => {}
        }
        Ok(())
    }
}

fn prng(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn source_tree() -> Tree {
    let mut t = Tree::new();
    t.insert(b".".to_vec(), None);
    t.insert(b"d".to_vec(), None);
    for i in 0..6u64 {
        t.insert(
            format!("d/f{i}").into_bytes(),
            Some(prng(40_000 + 9_000 * i as usize, i)),
        );
    }
    t.insert(b"empty".to_vec(), Some(Vec::new()));
    t
}

fn start(server: bool, sender: bool, fs: &MemFs) -> StartSession<'static, MemFs> {
    let fs = fs.clone();
    let strong = fs.strong.clone();
    Box::new(move |n| {
        let mut o = SessionOptions::new(n, server);
        o.recursive = true;
        o.flist.numeric_ids = true;
        *strong.lock().expect("lock") = Some(o.strong);
        let session = if sender {
            Box::new(Sender::new(o)?) as Box<dyn Session + Send>
        } else {
            Box::new(Receiver::new(o)?)
        };
        Ok((session, fs))
    })
}

/// Runs a pull (client receiver, server sender) over a duplex of `buf` bytes each way.
async fn pull(
    src: &MemFs,
    dst: &MemFs,
    buf: usize,
    protocol: u8,
) -> (
    Result<Outcome, DriverError>,
    Result<Outcome, DriverError>,
    Vec<Event>,
) {
    let (c, s) = tokio::io::duplex(buf);
    let (cr, cw) = tokio::io::split(c);
    let (sr, sw) = tokio::io::split(s);
    let client = Handshake::client(ClientConfig {
        protocol,
        ..ClientConfig::default()
    })
    .expect("client");
    let server = Handshake::server(ServerConfig::new(
        ClientInfo::from_letters(b".LsfxCIvu"),
        0x5eed,
    ))
    .expect("server");
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let config = DriverConfig {
        max_pending_output: 1000,
        read_size: 100,
        ..DriverConfig::default()
    };
    let (c, s) = tokio::join!(
        run(
            cr,
            cw,
            client,
            start(false, false, dst),
            move |e: &Event, _| ev.lock().expect("lock").push(e.clone()),
            config.clone(),
        ),
        run(
            sr,
            sw,
            server,
            start(true, true, src),
            |_: &Event, _| {},
            config.clone(),
        ),
    );
    let events = events.lock().map(|e| e.clone()).unwrap_or_default();
    (c, s, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_pipes_and_slow_disk_do_not_deadlock() {
    for protocol in [31, 29, 27] {
        let src = MemFs::new(source_tree(), Duration::ZERO);
        // The destination holds an edited copy of one file (a delta) and a slow disk.
        let mut dst_tree = Tree::new();
        let mut edited = source_tree()[&b"d/f3".to_vec()].clone().expect("file");
        edited[20_000..20_100].fill(7);
        dst_tree.insert(b"d".to_vec(), None);
        dst_tree.insert(b"d/f3".to_vec(), Some(edited));
        let dst = MemFs::new(dst_tree, Duration::from_millis(1));
        let (c, s, events) =
            tokio::time::timeout(Duration::from_secs(120), pull(&src, &dst, 64, protocol))
                .await
                .unwrap_or_else(|_| panic!("deadlock at protocol {protocol}"));
        let (c, s) = (c.expect("client run"), s.expect("server run"));
        assert_eq!(c.exit_code, 0, "client at {protocol}: {:?}", c.error);
        assert_eq!(s.exit_code, 0, "server at {protocol}: {:?}", s.error);
        assert_eq!(c.negotiated.protocol, protocol);
        assert_eq!(dst.snapshot(), source_tree(), "protocol {protocol}");
        // Counters see both directions, and each side's "sent" is the other's "received".
        assert_eq!(c.bytes_written, s.bytes_read);
        assert_eq!(s.bytes_written, c.bytes_read);
        assert!(c.bytes_read > 300_000, "{}", c.bytes_read);
        let stats = c.stats.expect("a client receiver reads the statistics");
        assert_eq!(stats.total_size, 375_000);
        // The edited file came as a delta.
        let matched: u64 = events
            .iter()
            .map(|e| match e {
                Event::File {
                    outcome: FileOutcome::Updated { matched, .. },
                    ..
                } => *matched,
                _ => 0,
            })
            .sum();
        assert!(matched > 60_000, "matched {matched}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_report_updated_files() {
    let src = MemFs::new(source_tree(), Duration::ZERO);
    let dst = MemFs::new(Tree::new(), Duration::ZERO);
    let (c, s, events) = tokio::time::timeout(Duration::from_secs(60), pull(&src, &dst, 4096, 31))
        .await
        .expect("no deadlock");
    let (c, _) = (c.expect("client"), s.expect("server"));
    assert_eq!(c.exit_code, 0);
    assert_eq!(dst.snapshot(), source_tree());
    // One outcome per regular file, and the final Done.
    let updated = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::File {
                    outcome: FileOutcome::Updated { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(updated, 7);
    assert!(matches!(
        events.last(),
        Some(Event::Done { exit_code: 0, .. })
    ));
}

/// An executor that is never called.
struct Idle;

impl Executor for Idle {
    fn execute(&mut self, _: FsRequest, _: &mut dyn FnMut(FsAnswer)) -> Result<(), ExecutorError> {
        Err(ExecutorError::new(11, "unexpected"))
    }
}

#[tokio::test]
async fn silent_peer_times_out_with_code_30() {
    // The peer end is kept open but never written to.
    let (ours, _peer) = tokio::io::duplex(64);
    let (r, w) = tokio::io::split(ours);
    let hs = Handshake::client(ClientConfig::default()).expect("client");
    let started = std::time::Instant::now();
    let err = run(
        r,
        w,
        hs,
        Box::new(|_| {
            Err::<(_, Idle), _>(crate::session::SessionError::Unsupported { what: "unused" })
        }),
        |_: &Event, _| {},
        DriverConfig::default().with_timeout(Some(Duration::from_millis(300))),
    )
    .await
    .expect_err("must time out");
    assert!(matches!(err, DriverError::Timeout { .. }), "{err:?}");
    assert_eq!(err.exit_code(), 30);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn eof_in_handshake_is_a_stream_error() {
    let (ours, peer) = tokio::io::duplex(64);
    drop(peer);
    let (r, w) = tokio::io::split(ours);
    let hs = Handshake::client(ClientConfig::default()).expect("client");
    let err = run(
        r,
        w,
        hs,
        Box::new(|_| {
            Err::<(_, Idle), _>(crate::session::SessionError::Unsupported { what: "unused" })
        }),
        |_: &Event, _| {},
        DriverConfig::default(),
    )
    .await
    .expect_err("peer closed");
    assert_eq!(err.exit_code(), 12, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumable_reads_run_in_slices_on_the_driver_task() {
    let mut tree = source_tree();
    // Read on the driver's task in slices, and (over 1 MiB) by the thread.
    tree.insert(b"d/large".to_vec(), Some(prng(700_000, 41)));
    tree.insert(b"d/larger".to_vec(), Some(prng(1_300_000, 42)));
    let mut src = MemFs::new(tree.clone(), Duration::ZERO);
    src.resumable = true;
    let dst = MemFs::new(Tree::new(), Duration::ZERO);
    let (c, s, _) = tokio::time::timeout(Duration::from_secs(120), pull(&src, &dst, 4096, 31))
        .await
        .expect("no deadlock");
    let (c, s) = (c.expect("client"), s.expect("server"));
    assert_eq!((c.exit_code, s.exit_code), (0, 0), "{:?}", c.error);
    assert_eq!(dst.snapshot(), tree);
    // Slices of INLINE_BUDGET bytes (rounded up to the 5,000-byte pieces MemFs answers
    // with): every slice of a file but the first is a resumption. The 700,000-byte file is
    // read on the driver's task; the smaller ones too unless the thread was busy; the
    // 1.3 MB file by the thread, whole.
    let slice = super::INLINE_BUDGET.div_ceil(5000) * 5000;
    let resumes = |n: usize| n.div_ceil(slice).max(1) - 1;
    let large = resumes(700_000);
    let small: usize = (0..6).map(|i| resumes(40_000 + 9_000 * i)).sum();
    let got = *src.resumes.lock().expect("lock");
    assert!((large..=large + small).contains(&got), "{got} resumptions");
}

/// An executor that fails fatally (code 11, as rsync's receiver on a write error) at its
/// first `BeginFile`.
struct FailingFs(MemFs);

impl Executor for FailingFs {
    fn execute(
        &mut self,
        request: FsRequest,
        answer: &mut dyn FnMut(FsAnswer),
    ) -> Result<(), ExecutorError> {
        if matches!(request, FsRequest::BeginFile { .. }) {
            return Err(ExecutorError::new(11, "write failed: disk full"));
        }
        self.0.execute(request, answer)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_executor_error_is_told_to_the_peer_from_protocol_31() {
    for protocol in [32, 31, 30] {
        let src = MemFs::new(source_tree(), Duration::ZERO);
        let dst = MemFs::new(Tree::new(), Duration::ZERO);
        let (c, s) = tokio::io::duplex(4096);
        let (cr, cw) = tokio::io::split(c);
        let (sr, sw) = tokio::io::split(s);
        let client = Handshake::client(ClientConfig {
            protocol,
            ..ClientConfig::default()
        })
        .expect("client");
        let server = Handshake::server(ServerConfig::new(
            ClientInfo::from_letters(b".LsfxCIvu"),
            0x5eed,
        ))
        .expect("server");
        let strong = dst.strong.clone();
        let failing = FailingFs(dst.clone());
        let start_client: StartSession<'static, FailingFs> = Box::new(move |n| {
            let mut o = SessionOptions::new(n, false);
            o.recursive = true;
            o.flist.numeric_ids = true;
            *strong.lock().expect("lock") = Some(o.strong);
            Ok((
                Box::new(Receiver::new(o)?) as Box<dyn Session + Send>,
                failing,
            ))
        });
        let (c, s) = tokio::time::timeout(Duration::from_secs(60), async {
            tokio::join!(
                run(
                    cr,
                    cw,
                    client,
                    start_client,
                    |_: &Event, _| {},
                    DriverConfig::default()
                ),
                run(
                    sr,
                    sw,
                    server,
                    start(true, true, &src),
                    |_: &Event, _| {},
                    DriverConfig::default()
                ),
            )
        })
        .await
        .unwrap_or_else(|_| panic!("hang at protocol {protocol}"));
        // The failing side ends with its own code.
        let e = c.expect_err("the client's executor failed");
        assert!(matches!(e, DriverError::Executor(_)), "{e:?}");
        assert_eq!(e.exit_code(), 11);
        // The peer: told from protocol 31 (it ends with that code), an end of file below.
        let code = match s {
            Ok(o) => o.exit_code,
            Err(e) => e.exit_code(),
        };
        let expected = if protocol >= 31 { 11 } else { 12 };
        assert_eq!(code, expected, "the sender's code at protocol {protocol}");
    }
}
