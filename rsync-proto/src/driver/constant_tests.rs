//! Tests of [`run_constant`]: a [`Master`] (client) and a [`Mirror`] (server), each run by
//! the driver over an in-memory duplex with the constant tests' fake file systems; and one
//! driver against a scripted raw peer (silence, garbage, `MSG_ERROR_EXIT`, a cut
//! connection).

// The in-memory file system and the executor of the constant tests, compiled here as well.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../constant/tests/fake.rs"]
mod fake;
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../session/tests/fakefs.rs"]
mod fakefs;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{mpsc, Notify};

use super::{
    run_constant, ConstantApp, ConstantOutcome, DriverConfig, DriverError, Executor, ExecutorError,
    StartConstant,
};
use crate::constant::{ConstantConfig, ConstantError, Master, MasterEvent, Mirror, MirrorEvent};
use crate::flist::WirePath;
use crate::handshake::{ClientConfig, ClientInfo, Handshake, Negotiated, ServerConfig};
use crate::mux::{unmux, MsgCode, MuxError, MuxLimits};
use crate::session::{FsAnswer, FsRequest, SessionOptions};
use fake::{assert_same, FakeFs};
use fakefs::{Fs, Inode, Kind};

fn wp(s: &str) -> WirePath {
    WirePath::new(s.as_bytes().to_vec()).expect("path")
}

fn prng(len: usize, seed: u64) -> Vec<u8> {
    rsync_tests::pseudo_random(len, seed)
}

/// `-a` as root with numeric ids and `-H`, from what the handshake negotiated.
fn options(n: &Negotiated, server: bool) -> SessionOptions {
    let mut o = SessionOptions::new(n, server);
    o.flist = o.flist.archive();
    o.flist.numeric_ids = true;
    o.flist.preserve_hard_links = true;
    o.recursive = true;
    o.preserve_perms = true;
    o.preserve_times = true;
    o.am_root = true;
    o
}

/// A [`FakeFs`] shared with the test, optionally slow, optionally resumable (a read then
/// answers in slices of about the budget).
#[derive(Clone)]
struct Shared {
    fs: Arc<Mutex<Option<FakeFs>>>,
    delay: Duration,
    resumable: bool,
    /// Answers of the unfinished read.
    held: VecDeque<FsAnswer>,
    /// `resume` calls.
    resumes: Arc<Mutex<usize>>,
}

impl Shared {
    fn new(fs: Fs) -> Self {
        let mut f = FakeFs::new(fs, SessionOptions::plain(31, 0, false));
        f.chunk = 5000;
        Self {
            fs: Arc::new(Mutex::new(Some(f))),
            delay: Duration::ZERO,
            resumable: false,
            held: VecDeque::new(),
            resumes: Arc::new(Mutex::new(0)),
        }
    }

    /// Installs the negotiated options (the fake executor reads them) and returns the
    /// executor.
    fn start(&self, opts: SessionOptions) -> Self {
        let mut g = self.fs.lock().expect("lock");
        let fs = g.take().map(|f| f.fs).expect("fake fs");
        let mut f = FakeFs::new(fs, opts);
        f.chunk = 5000;
        *g = Some(f);
        self.clone()
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeFs) -> T) -> T {
        let mut g = self.fs.lock().expect("lock");
        f(g.as_mut().expect("fake fs"))
    }

    fn give(&mut self, answer: &mut dyn FnMut(FsAnswer), budget: usize) -> bool {
        let mut given = 0;
        while let Some(a) = self.held.pop_front() {
            if given >= budget {
                self.held.push_front(a);
                return false;
            }
            if let FsAnswer::FileData { data, .. } = &a {
                given += data.len();
            }
            answer(a);
        }
        true
    }
}

impl Executor for Shared {
    fn execute(
        &mut self,
        request: FsRequest,
        answer: &mut dyn FnMut(FsAnswer),
    ) -> Result<(), ExecutorError> {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        for a in self.with(|f| f.execute(request)) {
            answer(a);
        }
        Ok(())
    }

    fn resumable(&self) -> bool {
        self.resumable
    }

    fn execute_budget(
        &mut self,
        request: FsRequest,
        answer: &mut dyn FnMut(FsAnswer),
        budget: usize,
    ) -> Result<bool, ExecutorError> {
        assert!(self.held.is_empty(), "a request before the last read ended");
        match request {
            r @ FsRequest::ReadFile { .. } if self.resumable => {
                self.held = self.with(|f| f.execute(r)).into();
                Ok(self.give(answer, budget))
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
        Ok(self.give(answer, budget))
    }
}

/// What the test script asks the master's application to do.
enum Cmd {
    /// Submit a name; its acknowledgement is reported with this tag.
    Submit(String, u64),
    Tree(String, u64),
    EndBatch(u64),
    Close,
}

/// An acknowledgement reported to the script: tag, status, submit→`Acked` time.
type Ack = (u64, u32, Duration);

struct MasterApp {
    cmds: Arc<Mutex<VecDeque<Cmd>>>,
    tags: HashMap<u64, (u64, Instant)>,
    acks: mpsc::UnboundedSender<Ack>,
    events: Vec<MasterEvent>,
    peer_messages: Vec<(MsgCode, Vec<u8>)>,
}

impl ConstantApp<Master> for MasterApp {
    fn feed(&mut self, m: &mut Master) -> Result<(), ConstantError> {
        loop {
            let Some(cmd) = self.cmds.lock().expect("lock").pop_front() else {
                return Ok(());
            };
            let (id, tag) = match cmd {
                Cmd::Submit(p, tag) => (m.submit(wp(&p))?, tag),
                Cmd::Tree(p, tag) => (m.submit_tree(wp(&p))?, tag),
                Cmd::EndBatch(tag) => (m.end_batch()?, tag),
                Cmd::Close => {
                    m.close();
                    continue;
                }
            };
            self.tags.insert(id.0, (tag, Instant::now()));
        }
    }

    fn event(&mut self, event: MasterEvent) {
        if let MasterEvent::Acked { id, status, .. } = &event {
            if let Some((tag, at)) = self.tags.remove(&id.0) {
                let _ = self.acks.send((tag, *status, at.elapsed()));
            }
        }
        self.events.push(event);
    }

    fn peer_message(&mut self, code: MsgCode, text: &[u8]) {
        self.peer_messages.push((code, text.to_vec()));
    }
}

#[derive(Default)]
struct MirrorApp {
    events: Vec<MirrorEvent>,
    greeting: Option<Vec<u8>>,
}

impl ConstantApp<Mirror> for MirrorApp {
    fn feed(&mut self, _: &mut Mirror) -> Result<(), ConstantError> {
        Ok(())
    }

    fn event(&mut self, event: MirrorEvent) {
        self.events.push(event);
    }

    fn poll_message(&mut self) -> Option<(MsgCode, Vec<u8>)> {
        self.greeting.take().map(|g| (MsgCode::Info, g))
    }
}

fn start_master(src: &Shared) -> StartConstant<'static, Master, Shared> {
    let src = src.clone();
    Box::new(move |n| {
        let o = options(n, false);
        let m = Master::new(o.clone(), ConstantConfig::default())?;
        Ok((m, src.start(o)))
    })
}

fn start_mirror(dst: &Shared) -> StartConstant<'static, Mirror, Shared> {
    let dst = dst.clone();
    Box::new(move |n| {
        let o = options(n, true);
        let m = Mirror::new(o.clone(), ConstantConfig::default())?;
        Ok((m, dst.start(o)))
    })
}

fn client_handshake(protocol: u8) -> Handshake {
    Handshake::client(ClientConfig {
        protocol,
        ..ClientConfig::default()
    })
    .expect("client")
}

fn server_handshake() -> Handshake {
    Handshake::server(ServerConfig::new(
        ClientInfo::from_letters(b".LsfxCIvu"),
        0x5eed,
    ))
    .expect("server")
}

/// The script's handle on the master: commands in, acknowledgements out.
struct Script {
    cmds: Arc<Mutex<VecDeque<Cmd>>>,
    wake: Arc<Notify>,
    acks: mpsc::UnboundedReceiver<Ack>,
}

impl Script {
    fn send(&self, cmd: Cmd) {
        self.cmds.lock().expect("lock").push_back(cmd);
        self.wake.notify_one();
    }

    /// Waits for the acknowledgement of `tag` (others may come first: they are returned
    /// too, in order).
    async fn ack(&mut self, tag: u64) -> Vec<Ack> {
        let mut got = Vec::new();
        loop {
            let a = self.acks.recv().await.expect("master still running");
            got.push(a);
            if a.0 == tag {
                return got;
            }
        }
    }
}

type Outcomes = (
    Result<ConstantOutcome, DriverError>,
    Result<ConstantOutcome, DriverError>,
    MasterApp,
    MirrorApp,
);

/// Runs a master over `src` and a mirror over `dst` through a duplex of `buf` bytes each
/// way, with `script` driving the master's application.
async fn pair<F, Fut>(
    src: &Shared,
    dst: &Shared,
    buf: usize,
    config: DriverConfig,
    script: F,
) -> Outcomes
where
    F: FnOnce(Script) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (c, s) = tokio::io::duplex(buf);
    let (cr, cw) = tokio::io::split(c);
    let (sr, sw) = tokio::io::split(s);
    let cmds = Arc::new(Mutex::new(VecDeque::new()));
    let wake = Arc::new(Notify::new());
    let (tx, rx) = mpsc::unbounded_channel();
    let mut mapp = MasterApp {
        cmds: cmds.clone(),
        tags: HashMap::new(),
        acks: tx,
        events: Vec::new(),
        peer_messages: Vec::new(),
    };
    let mut rapp = MirrorApp {
        greeting: Some(b"mirror ready\n".to_vec()),
        ..MirrorApp::default()
    };
    let idle = Notify::new();
    let script = script(Script {
        cmds,
        wake: wake.clone(),
        acks: rx,
    });
    let (m, r) = {
        let drivers = async {
            tokio::join!(
                run_constant(
                    cr,
                    cw,
                    client_handshake(31),
                    start_master(src),
                    &mut mapp,
                    &wake,
                    config.clone()
                ),
                run_constant(
                    sr,
                    sw,
                    server_handshake(),
                    start_mirror(dst),
                    &mut rapp,
                    &idle,
                    config.clone()
                ),
            )
        };
        tokio::pin!(drivers, script);
        // A script still waiting when both runs have ended (one failed) is dropped: the
        // outcomes tell what went wrong.
        tokio::select! {
            res = &mut drivers => res,
            () = &mut script => drivers.await,
        }
    };
    (m, r, mapp, rapp)
}

fn source() -> Fs {
    Fs::new()
        .dir("d")
        .dir("d/e")
        .file("a.txt", b"hello", 1_700_000_001)
        .file("d/b.bin", &prng(300_000, 1), 1_700_000_002)
        .file("d/e/c", &prng(5000, 2), 1_700_000_003)
        .symlink("d/link", "../a.txt")
        .file("h1", b"linked", 1_700_000_004)
        .hardlink("d/h2", "h1")
}

fn ok(r: Result<ConstantOutcome, DriverError>, who: &str) -> ConstantOutcome {
    let o = r.unwrap_or_else(|e| panic!("{who}: {e}"));
    assert_eq!(o.exit_code, 0, "{who}: {:?}", o.error);
    assert!(o.error.is_none(), "{who}: {:?}", o.error);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_and_mirror_converge_and_ack_every_change() {
    let src = Shared::new(source());
    let dst = Shared::new(Fs::new());
    let s2 = src.clone();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let lat = latencies.clone();
    let run = pair(
        &src,
        &dst,
        4096,
        DriverConfig::default(),
        |mut sc| async move {
            sc.send(Cmd::Tree(".".into(), 1));
            let acks = sc.ack(1).await;
            assert_eq!(acks, vec![(1, 0, acks[0].2)], "bootstrap");
            // Small files one at a time: each is acknowledged alone.
            for i in 0..50u64 {
                let name = format!("d/new{i}");
                s2.with(|f| {
                    f.fs.put(
                        name.as_bytes(),
                        Inode::new(Kind::File(prng(100, i)), 0o644, 1_700_000_100),
                    );
                });
                sc.send(Cmd::Submit(name, 100 + i));
                let acks = sc.ack(100 + i).await;
                assert_eq!(acks.len(), 1, "{acks:?}");
                assert_eq!(acks[0].1, 0, "status");
                lat.lock().expect("lock").push(acks[0].2);
            }
            sc.send(Cmd::EndBatch(2));
            sc.ack(2).await;
            sc.send(Cmd::Close);
        },
    );
    let (m, r, mapp, rapp) = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("no hang");
    let (m, r) = (ok(m, "master"), ok(r, "mirror"));
    assert_eq!(m.bytes_written, r.bytes_read);
    assert_eq!(r.bytes_written, m.bytes_read);
    let (want, got) = (src.with(|f| f.fs.clone()), dst.with(|f| f.fs.clone()));
    assert_same(&got, &want);
    assert!(mapp.events.contains(&MasterEvent::Done { exit_code: 0 }));
    assert!(rapp.events.contains(&MirrorEvent::Done { exit_code: 0 }));
    // The mirror application's message reached the master's.
    assert_eq!(
        mapp.peer_messages,
        vec![(MsgCode::Info, b"mirror ready\n".to_vec())]
    );
    let mut l = latencies.lock().expect("lock").clone();
    l.sort();
    println!(
        "submit -> Acked of a 100-byte file over the in-memory pair: min {:?} median {:?} max {:?}",
        l[0],
        l[l.len() / 2],
        l[l.len() - 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_file_is_read_on_the_driver_task_in_slices() {
    let src = Shared::new(Fs::new().file("f", &prng(600_000, 3), 1_700_000_000));
    let mut src = src;
    src.resumable = true;
    let dst = Shared::new(Fs::new());
    let run = pair(
        &src,
        &dst,
        4096,
        DriverConfig::default(),
        |mut sc| async move {
            sc.send(Cmd::Submit("f".into(), 1));
            sc.ack(1).await;
            sc.send(Cmd::Close);
        },
    );
    let (m, r, _, _) = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("no hang");
    ok(m, "master");
    ok(r, "mirror");
    assert_same(&dst.with(|f| f.fs.clone()), &src.with(|f| f.fs.clone()));
    // 600,000 bytes in slices of 64 KiB (5,000-byte answers): every slice but the first
    // is a resumption.
    let slice = super::INLINE_BUDGET.div_ceil(5000) * 5000;
    assert_eq!(
        *src.resumes.lock().expect("lock"),
        600_000usize.div_ceil(slice) - 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_pipes_large_files_and_a_slow_disk_do_not_deadlock() {
    let big = prng(1_300_000, 4);
    let mut edited = prng(700_000, 5);
    let src = Shared::new(
        Fs::new()
            .dir("d")
            .file("d/big", &big, 1_700_000_000)
            .file("d/delta", &edited, 1_700_000_001)
            .file("small", b"x", 1_700_000_002),
    );
    edited[300_000..300_100].fill(9);
    let mut dst = Shared::new(Fs::new().dir("d").file("d/delta", &edited, 1));
    dst.delay = Duration::from_millis(1);
    let config = DriverConfig {
        max_pending_output: 1000,
        read_size: 100,
        ..DriverConfig::default()
    };
    let run = pair(&src, &dst, 64, config, |mut sc| async move {
        sc.send(Cmd::Tree(".".into(), 1));
        sc.ack(1).await;
        sc.send(Cmd::Close);
    });
    let (m, r, mapp, _) = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("deadlock");
    ok(m, "master");
    ok(r, "mirror");
    assert_same(&dst.with(|f| f.fs.clone()), &src.with(|f| f.fs.clone()));
    // The edited file came as a delta.
    let matched: u64 = mapp
        .events
        .iter()
        .map(|e| match e {
            MasterEvent::Sent { matched, .. } => *matched,
            _ => 0,
        })
        .sum();
    assert!(matched > 600_000, "matched {matched}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalives_hold_an_idle_session_open() {
    let src = Shared::new(source());
    let dst = Shared::new(Fs::new());
    let config = DriverConfig::default().with_timeout(Some(Duration::from_millis(200)));
    let run = pair(&src, &dst, 4096, config, |mut sc| async move {
        // Five timeouts of silence: only keepalives keep both sides from timing out.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        sc.send(Cmd::Submit("a.txt".into(), 1));
        sc.ack(1).await;
        sc.send(Cmd::Close);
    });
    let (m, r, _, _) = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("no hang");
    // Without keepalives (empty MSG_DATA every 100 ms) either side would have failed with
    // DriverError::Timeout after 200 ms of silence.
    ok(m, "master");
    ok(r, "mirror");
}

/// Runs the client side of the handshake by hand; returns the bytes after it.
async fn raw_handshake<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, mut hs: Handshake) -> Vec<u8> {
    loop {
        while let Some(b) = hs.poll_transmit() {
            s.write_all(&b).await.expect("write");
        }
        if hs.negotiated().is_some() {
            return hs.take_remaining();
        }
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).await.expect("read");
        assert!(n > 0, "end of file in the handshake");
        hs.handle_input(&buf[..n]).expect("handshake");
    }
}

/// A mirror run against a raw client that runs `peer` after the handshake.
async fn mirror_against<F, Fut>(
    config: DriverConfig,
    peer: F,
) -> (Result<ConstantOutcome, DriverError>, MirrorApp)
where
    F: FnOnce(tokio::io::DuplexStream) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (mut c, s) = tokio::io::duplex(4096);
    let (sr, sw) = tokio::io::split(s);
    let dst = Shared::new(Fs::new());
    let mut app = MirrorApp::default();
    let wake = Notify::new();
    let client = async move {
        raw_handshake(&mut c, client_handshake(31)).await;
        peer(c).await;
    };
    let (r, ()) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(
            run_constant(
                sr,
                sw,
                server_handshake(),
                start_mirror(&dst),
                &mut app,
                &wake,
                config
            ),
            client
        )
    })
    .await
    .expect("no hang");
    (r, app)
}

#[tokio::test]
async fn a_garbage_frame_is_a_stream_error() {
    let (r, _) = mirror_against(DriverConfig::default(), |mut c| async move {
        // A tag byte below MPLEX_BASE.
        c.write_all(&[0x05, 0x00, 0x00, 0x01, 1, 2, 3, 4, 5])
            .await
            .expect("write");
        // Kept open: the frame, not the end of file, must end the run.
        let mut sink = Vec::new();
        let _ = c.read_to_end(&mut sink).await;
    })
    .await;
    let err = r.expect_err("garbage");
    assert_eq!(err.exit_code(), 12, "{err:?}");
    let DriverError::Io { source, .. } = &err else {
        panic!("{err:?}");
    };
    let mux = source.get_ref().and_then(|e| e.downcast_ref::<MuxError>());
    assert!(
        matches!(mux, Some(MuxError::BadTag { tag: 1, .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_silent_peer_times_out_with_code_30() {
    let config = DriverConfig::default().with_timeout(Some(Duration::from_millis(300)));
    let (r, _) = mirror_against(config, |c| async move {
        // Silent, then closed: a missed timeout would end with an outcome instead.
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(c);
    })
    .await;
    let err = r.expect_err("timeout");
    assert!(matches!(err, DriverError::Timeout { .. }), "{err:?}");
    assert_eq!(err.exit_code(), 30);
}

#[tokio::test]
async fn a_peer_closing_mid_stream_is_an_error_not_a_hang() {
    let (r, app) = mirror_against(DriverConfig::default(), |mut c| async move {
        // The master's HELLO and part of a record, then the end of file.
        let master = options(&negotiated_p31(), false);
        let mut m = Master::new(master, ConstantConfig::default()).expect("master");
        m.submit(wp("x")).expect("submit");
        let mut out = Vec::new();
        let _ = m.poll_output(&mut out);
        let mut framed = Vec::new();
        crate::mux::MuxEncoder::default().encode_data(&out[..out.len() - 1], &mut framed);
        c.write_all(&framed).await.expect("write");
        drop(c);
    })
    .await;
    let o = r.expect("an outcome");
    assert_eq!(o.error, Some(ConstantError::UnexpectedEof));
    assert_eq!(o.exit_code, 12);
    assert!(app.events.contains(&MirrorEvent::Done { exit_code: 12 }));
}

/// What [`client_handshake`] and [`server_handshake`] negotiate.
fn negotiated_p31() -> Negotiated {
    let (mut c, mut s) = (client_handshake(31), server_handshake());
    for _ in 0..10 {
        if let Some(b) = c.poll_transmit() {
            s.handle_input(&b).expect("server");
        }
        if let Some(b) = s.poll_transmit() {
            c.handle_input(&b).expect("client");
        }
    }
    c.negotiated().cloned().expect("negotiated")
}

#[tokio::test]
async fn the_peers_error_exit_ends_the_run_with_its_code_and_is_answered() {
    let (r, app) = mirror_against(DriverConfig::default(), |mut c| async move {
        c.write_all(&[0x04, 0x00, 0x00, 0x5d, 11, 0, 0, 0])
            .await
            .expect("write");
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.expect("read");
        let u = unmux(&got, MuxLimits::default()).expect("frames");
        assert_eq!(u.messages, vec![(MsgCode::ErrorExit, Vec::new())]);
    })
    .await;
    let o = r.expect("an outcome");
    assert_eq!((o.exit_code, o.peer_exit), (11, Some(11)));
    assert!(o.error.is_none(), "{:?}", o.error);
    assert!(matches!(app.events.last(), Some(MirrorEvent::Done { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_that_cannot_start_exchange_error_exit_and_end() {
    // Protocol 30: both roles refuse (RFC.md §15.2) and tell the peer with code 2.
    let src = Shared::new(source());
    let dst = Shared::new(Fs::new());
    let (c, s) = tokio::io::duplex(4096);
    let (cr, cw) = tokio::io::split(c);
    let (sr, sw) = tokio::io::split(s);
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut mapp = MasterApp {
        cmds: Arc::default(),
        tags: HashMap::new(),
        acks: tx,
        events: Vec::new(),
        peer_messages: Vec::new(),
    };
    let mut rapp = MirrorApp::default();
    let (w1, w2) = (Notify::new(), Notify::new());
    let (m, r) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(
            run_constant(
                cr,
                cw,
                client_handshake(30),
                start_master(&src),
                &mut mapp,
                &w1,
                DriverConfig::default()
            ),
            run_constant(
                sr,
                sw,
                server_handshake(),
                start_mirror(&dst),
                &mut rapp,
                &w2,
                DriverConfig::default()
            ),
        )
    })
    .await
    .expect("no hang");
    for o in [m.expect("master"), r.expect("mirror")] {
        assert_eq!(o.exit_code, 2);
        assert!(
            matches!(o.error, Some(ConstantError::Unsupported { .. })),
            "{:?}",
            o.error
        );
        assert_eq!(o.peer_exit, Some(2));
    }
}
