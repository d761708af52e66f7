//! The record examples of RFC.md §15 (the `--constant` extension), checked against a real
//! session of our own master and mirror.
//!
//! `tests/data/vectors/constant/raw/session.m2s` and `session.s2m` are the two directions of
//! one constant session (handshake included) between `rsync_proto::driver::run_constant`
//! running a [`Master`] over `SenderFs::for_constant` and a [`Mirror`] over
//! `ReceiverFs::for_constant`, on a small tree with fixed contents, modes and mtimes; the
//! script is [`record_session`]. Every `tests/data/vectors/constant/*.vec` file (the format of
//! RFC.md Appendix B.6, listed in §15.11; the decoders are below) names a place in that capture,
//! the bytes there and the field values RFC.md states. This test checks, for each vector:
//!
//! 1. that the bytes really are at that place of the capture;
//! 2. that rsync-proto's public record codec (`RecordReader`, `decode_master`,
//!    `decode_mirror`) decodes them, record by record and using every byte, to exactly the
//!    stated values;
//! 3. that every vector is cited by RFC.md, every label it claims is defined in §15, and
//!    every label of §15 has a vector or is listed in [`NO_VECTOR`] with its reason.
//!
//! It also decodes both recorded directions end to end (every record of the session is
//! valid), and [`capture_is_reproducible`] records the session again and compares it with the
//! committed one. Re-record with
//! `CONSTANT_VECTORS_WRITE=1 cargo test -p rsync-tests --test constant_vectors capture`.
//!
//! covers: [const-argv] [const-record] [const-hello] [const-entry] [const-delete]
//! [const-tree] [const-ack] [const-end] [const-bootstrap] [const-stream] [keepalive]

// Test code: a panic is how a test reports failure.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rsync_core::Token;
use rsync_proto::constant::{
    decode_master, decode_mirror, record_context, ConstantConfig, ConstantError, Master,
    MasterEvent, MasterRecord, Mirror, MirrorEvent, MirrorRecord, RecordContext, RecordReader,
};
use rsync_proto::driver::{run_constant, ConstantApp, DriverConfig, StartConstant};
use rsync_proto::flist::WirePath;
use rsync_proto::handshake::{
    ClientConfig, ClientInfo, Handshake, Negotiated, ServerConfig, CF_INC_RECURSE,
};
use rsync_proto::mux::{unmux, MsgCode, MuxLimits};
use rsync_proto::session::SessionOptions;
use rsync_proto::token::{decode_token, TokenEvent};
use rsync_proto::WireReader;
use rsync_tests::tree::{set_mtime, Mtime};
use rsync_tests::vectors::{cut, load_dir, rfc_md, Source, Vector};
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, Notify};

/// The checksum seed of the capture (as in the stock-rsync captures of Appendix B.6).
const SEED: i32 = 0x0102_0304;
/// The base of every mtime in the capture.
const T0: i64 = 1_700_000_000;

fn const_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/vectors/constant")
}

// ---------------------------------------------------------------------------------------
// The capture.

/// Copies every byte written to `inner` into `log`.
struct Tee<W> {
    inner: W,
    log: Arc<Mutex<Vec<u8>>>,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Tee<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.log
                .lock()
                .unwrap()
                .extend_from_slice(buf.get(..*n).unwrap_or(buf));
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What the script asks the master's application to do.
enum Cmd {
    Submit(&'static str),
    Tree(&'static str),
    EndBatch,
    Close,
}

/// The master's application: runs the script's commands, reports when nothing is
/// submitted or in flight any more.
struct MasterApp {
    cmds: Arc<Mutex<VecDeque<Cmd>>>,
    idle: mpsc::UnboundedSender<()>,
    waiting: Arc<Mutex<bool>>,
    statuses: Vec<u32>,
}

impl ConstantApp<Master> for MasterApp {
    fn feed(&mut self, m: &mut Master) -> Result<(), ConstantError> {
        loop {
            let Some(cmd) = self.cmds.lock().unwrap().pop_front() else {
                break;
            };
            match cmd {
                Cmd::Submit(p) => drop(m.submit(wp(p))?),
                Cmd::Tree(p) => drop(m.submit_tree(wp(p))?),
                Cmd::EndBatch => drop(m.end_batch()?),
                Cmd::Close => m.close(),
            }
        }
        let mut waiting = self.waiting.lock().unwrap();
        if *waiting && m.pending() == 0 && m.in_flight() == 0 {
            *waiting = false;
            let _ = self.idle.send(());
        }
        Ok(())
    }

    fn event(&mut self, event: MasterEvent) {
        if let MasterEvent::Acked { status, .. } = event {
            self.statuses.push(status);
        }
    }
}

#[derive(Default)]
struct MirrorApp {
    events: Vec<MirrorEvent>,
}

impl ConstantApp<Mirror> for MirrorApp {
    fn feed(&mut self, _: &mut Mirror) -> Result<(), ConstantError> {
        Ok(())
    }

    fn event(&mut self, event: MirrorEvent) {
        self.events.push(event);
    }
}

fn wp(s: &str) -> WirePath {
    WirePath::new(s.as_bytes().to_vec()).expect("path")
}

/// `-rlptH` (no owner or group: the capture must not depend on who runs it) from what the
/// handshake negotiated.
fn options(n: &Negotiated, server: bool) -> SessionOptions {
    let mut o = SessionOptions::new(n, server);
    o.flist.preserve_links = true;
    o.flist.preserve_hard_links = true;
    o.recursive = true;
    o.preserve_perms = true;
    o.preserve_times = true;
    o.am_root = false;
    o
}

fn client_handshake() -> Handshake {
    Handshake::client(ClientConfig {
        protocol: 31,
        ..ClientConfig::default()
    })
    .expect("client")
}

fn server_handshake() -> Handshake {
    Handshake::server(ServerConfig::new(
        ClientInfo::from_letters(b".LsfxCIvu"),
        SEED,
    ))
    .expect("server")
}

/// Waits until the master reports that nothing is submitted or in flight.
async fn wait(idle: &mut mpsc::UnboundedReceiver<()>) {
    tokio::time::timeout(Duration::from_secs(30), idle.recv())
        .await
        .expect("the step ends")
        .expect("master running");
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn mtime(p: &Path, secs: i64, nanos: u32) {
    set_mtime(p, Mtime::new(secs, nanos)).expect("mtime");
}

/// Sets every directory of `root` to mtime `secs` (deepest first; the root last).
fn stamp_dirs(root: &Path, secs: i64) {
    let mut dirs = vec![root.to_path_buf()];
    let mut i = 0;
    while let Some(d) = dirs.get(i).cloned() {
        for e in std::fs::read_dir(&d).expect("readdir") {
            let e = e.expect("entry");
            if e.file_type().expect("type").is_dir() {
                dirs.push(e.path());
            }
        }
        i += 1;
    }
    for d in dirs.iter().rev() {
        mtime(d, secs, 0);
    }
}

/// The two directions of a recorded session: master to mirror, mirror to master.
struct Capture {
    m2s: Vec<u8>,
    s2m: Vec<u8>,
}

/// Runs the session of the capture on a fresh tree and returns its bytes.
///
/// Steps (each waits until every change is acknowledged and nothing is in flight):
/// 1. bootstrap: `submit_tree(".")` of `.` = {`d/`, `l` → `d`}; `BATCH_END`;
/// 2. a new 3000-byte file `d/new`: `SUMS` with count 0, literal `DATA`;
/// 3. `d/new` modified in place (bytes 1000..1100): `SUMS` with block sums, copy tokens;
/// 4. `d/new` renamed to `moved` in one batch: `DELETE d/new`, `ENTRY moved`, whose basis is
///    the deferred deletion (block copies only);
/// 5. a new symlink `s` → `moved`;
/// 6. a new directory `e` holding `e/t` → `../s`: `WANT_TREE e`, `DIR_BEGIN e`...;
/// 7. `e` removed: `DELETE e` (a directory);
/// 8. `h1` and its hard link `h2` (-H): `ENTRY h1`, `HARDLINK h2 h1`;
/// 9. 2.5 s of silence with `--timeout=4`: keepalives both ways;
/// 10. `close`: `BYE` both ways.
fn record_session() -> Capture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    let dst = tmp.path().join("dst");
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::os::unix::fs::symlink("d", src.join("l")).unwrap();
    mtime(&src.join("l"), T0, 500);
    chmod(&src, 0o755);
    chmod(&src.join("d"), 0o750);
    stamp_dirs(&src, T0);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let m2s = Arc::new(Mutex::new(Vec::new()));
    let s2m = Arc::new(Mutex::new(Vec::new()));
    let (c, s) = tokio::io::duplex(1 << 16);
    let cmds = Arc::new(Mutex::new(VecDeque::new()));
    let waiting = Arc::new(Mutex::new(false));
    let wake = Arc::new(Notify::new());
    let (idle_tx, mut idle_rx) = mpsc::unbounded_channel();
    let mut mapp = MasterApp {
        cmds: cmds.clone(),
        idle: idle_tx,
        waiting: waiting.clone(),
        statuses: Vec::new(),
    };
    let mut rapp = MirrorApp::default();
    let config = DriverConfig::default().with_timeout(Some(Duration::from_secs(4)));

    let src_exec = src.clone();
    let start_master: StartConstant<'_, Master, rsync_constant::transfer::TransferFs> =
        Box::new(move |n| {
            let o = options(n, false);
            let mut sopts = rsync_constant::transfer::SenderOptions::default();
            sopts.recursive = true;
            sopts.links = true;
            sopts.hard_links = true;
            sopts.relative = true;
            sopts.protocol = 31;
            let fs = rsync_constant::transfer::SenderFs::for_constant(
                src_exec,
                sopts,
                rsync_constant::transfer::Failures::new(),
            )
            .expect("source executor");
            let m = Master::new(o, ConstantConfig::default())?;
            Ok((m, rsync_constant::transfer::TransferFs::Send(Box::new(fs))))
        });
    let dst_exec = dst.clone();
    let start_mirror: StartConstant<'_, Mirror, rsync_constant::transfer::TransferFs> =
        Box::new(move |n| {
            let o = options(n, true);
            let cfg = ConstantConfig::default();
            let mut ropts = rsync_constant::transfer::ReceiverOptions::default();
            ropts.perms = true;
            ropts.times = true;
            ropts.umask = 0o022;
            let fs = rsync_constant::transfer::ReceiverFs::for_constant(
                dst_exec,
                o.strong,
                ropts,
                rsync_constant::transfer::Failures::new(),
                cfg.max_open_files,
            )
            .expect("mirror executor");
            let m = Mirror::new(o, cfg)?;
            Ok((
                m,
                rsync_constant::transfer::TransferFs::Receive(Box::new(fs)),
            ))
        });

    let step = |cs: Vec<Cmd>| {
        *waiting.lock().unwrap() = true;
        cmds.lock().unwrap().extend(cs);
        wake.notify_one();
    };
    let script = async {
        // 1. Bootstrap.
        step(vec![Cmd::Tree("."), Cmd::EndBatch]);
        wait(&mut idle_rx).await;
        // 2. A new file.
        std::fs::write(src.join("d/new"), rsync_tests::pseudo_random(3000, 1)).unwrap();
        chmod(&src.join("d/new"), 0o644);
        mtime(&src.join("d/new"), T0 + 2, 2);
        mtime(&src.join("d"), T0 + 2, 0);
        step(vec![Cmd::Submit("d/new"), Cmd::EndBatch]);
        wait(&mut idle_rx).await;
        // 3. Modified in place: same size, a new mtime.
        let mut data = std::fs::read(src.join("d/new")).unwrap();
        for b in data.iter_mut().skip(1000).take(100) {
            *b ^= 0x5a;
        }
        std::fs::write(src.join("d/new"), &data).unwrap();
        mtime(&src.join("d/new"), T0 + 3, 3);
        step(vec![Cmd::Submit("d/new"), Cmd::EndBatch]);
        wait(&mut idle_rx).await;
        // 4. A rename, reported as the feed reports it: the old name, then the new one.
        std::fs::rename(src.join("d/new"), src.join("moved")).unwrap();
        mtime(&src.join("d"), T0 + 4, 0);
        mtime(&src, T0 + 4, 0);
        step(vec![
            Cmd::Submit("d/new"),
            Cmd::Submit("moved"),
            Cmd::EndBatch,
        ]);
        wait(&mut idle_rx).await;
        // 5. A symlink.
        std::os::unix::fs::symlink("moved", src.join("s")).unwrap();
        mtime(&src.join("s"), T0 + 5, 5);
        mtime(&src, T0 + 5, 0);
        step(vec![Cmd::Submit("s"), Cmd::EndBatch]);
        wait(&mut idle_rx).await;
        // 6. A new directory: the mirror asks for its tree.
        std::fs::create_dir(src.join("e")).unwrap();
        std::os::unix::fs::symlink("../s", src.join("e/t")).unwrap();
        mtime(&src.join("e/t"), T0 + 6, 6);
        chmod(&src.join("e"), 0o755);
        mtime(&src.join("e"), T0 + 6, 0);
        mtime(&src, T0 + 6, 0);
        step(vec![Cmd::Submit("e"), Cmd::EndBatch]);
        wait(&mut idle_rx).await;
        // 7. The directory deleted.
        std::fs::remove_dir_all(src.join("e")).unwrap();
        mtime(&src, T0 + 7, 0);
        step(vec![Cmd::Submit("e"), Cmd::EndBatch]);
        wait(&mut idle_rx).await;
        // 8. A hard link.
        std::fs::write(src.join("h1"), b"linked\n").unwrap();
        chmod(&src.join("h1"), 0o600);
        std::fs::hard_link(src.join("h1"), src.join("h2")).unwrap();
        mtime(&src.join("h1"), T0 + 8, 8);
        mtime(&src, T0 + 8, 0);
        step(vec![Cmd::Submit("h1"), Cmd::Submit("h2"), Cmd::EndBatch]);
        wait(&mut idle_rx).await;
        // 9. Silence: a keepalive each way after half the timeout.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        // 10. The end.
        cmds.lock().unwrap().push_back(Cmd::Close);
        wake.notify_one();
    };
    let (m, r) = rt.block_on(async {
        let (cr, cw) = tokio::io::split(c);
        let (sr, sw) = tokio::io::split(s);
        let cw = Tee {
            inner: cw,
            log: m2s.clone(),
        };
        let sw = Tee {
            inner: sw,
            log: s2m.clone(),
        };
        let idle = Notify::new();
        let drivers = async {
            tokio::join!(
                run_constant(
                    cr,
                    cw,
                    client_handshake(),
                    start_master,
                    &mut mapp,
                    &wake,
                    config.clone()
                ),
                run_constant(
                    sr,
                    sw,
                    server_handshake(),
                    start_mirror,
                    &mut rapp,
                    &idle,
                    config.clone()
                ),
            )
        };
        let ((m, r), ()) = tokio::join!(drivers, script);
        (m, r)
    });
    let m = m.expect("master run");
    let r = r.expect("mirror run");
    assert_eq!(
        (m.exit_code, r.exit_code),
        (0, 0),
        "{:?} {:?}",
        m.error,
        r.error
    );
    assert!(
        mapp.statuses.iter().all(|&s| s == 0),
        "statuses {:?}",
        mapp.statuses
    );
    // The mirror is the source.
    let a = rsync_tests::tree::Snapshot::take(&src).expect("snapshot");
    let b = rsync_tests::tree::Snapshot::take(&dst).expect("snapshot");
    let diff = a.diff(&b, rsync_tests::tree::Compare::EXACT);
    assert!(diff.is_empty(), "mirror differs: {diff:?}");
    let m2s = m2s.lock().unwrap().clone();
    let s2m = s2m.lock().unwrap().clone();
    Capture { m2s, s2m }
}

// ---------------------------------------------------------------------------------------
// Decoding a capture.

/// The committed capture.
fn committed() -> Capture {
    let read = |f: &str| {
        let p = const_dir().join("raw").join(f);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    Capture {
        m2s: read("session.m2s"),
        s2m: read("session.s2m"),
    }
}

/// One direction after the handshake: where the multiplexed part starts, its logical
/// stream, its other messages and its frame count.
struct Direction {
    mux_start: usize,
    data: Vec<u8>,
    messages: Vec<(MsgCode, Vec<u8>)>,
    empty_frames: usize,
}

/// The handshake outcome and both directions of a capture.
struct Decoded {
    negotiated: Negotiated,
    m2s: Direction,
    s2m: Direction,
}

/// Runs `hs` on `bytes` (the peer's side of the handshake); the offset where the
/// multiplexed stream starts.
fn handshake_len(mut hs: Handshake, bytes: &[u8]) -> (usize, Negotiated) {
    while hs.poll_transmit().is_some() {}
    hs.handle_input(bytes).expect("handshake");
    let n = hs.negotiated().expect("negotiated").clone();
    let rest = hs.take_remaining();
    (bytes.len() - rest.len(), n)
}

fn direction(raw: &[u8], mux_start: usize) -> Direction {
    let un = unmux(&raw[mux_start..], MuxLimits::default()).expect("unmux");
    // Count the empty MSG_DATA frames (keepalives).
    let mut empty_frames = 0;
    let mut off = mux_start;
    while let Some(h) = raw.get(off..off + 4) {
        let h = u32::from_le_bytes(h.try_into().unwrap());
        let len = (h & 0x00ff_ffff) as usize;
        if h >> 24 == 7 && len == 0 {
            empty_frames += 1;
        }
        off += 4 + len;
    }
    Direction {
        mux_start,
        data: un.data,
        messages: un.messages,
        empty_frames,
    }
}

fn decode_capture(c: &Capture) -> Decoded {
    // The mirror (server) reads the master's bytes; the master reads the mirror's.
    let (m2s_start, n_server) = handshake_len(server_handshake(), &c.m2s);
    let (s2m_start, n_client) = handshake_len(client_handshake(), &c.s2m);
    assert_eq!(n_server.protocol, n_client.protocol, "both sides agree");
    assert_eq!(n_client.seed, SEED);
    Decoded {
        negotiated: n_client,
        m2s: direction(&c.m2s, m2s_start),
        s2m: direction(&c.s2m, s2m_start),
    }
}

fn context(n: &Negotiated) -> RecordContext {
    record_context(&options(n, false))
}

/// Every record of a logical stream, decoded with the public codec; panics unless every
/// byte belongs to a valid record.
fn master_records(ctx: &RecordContext, data: &[u8]) -> Vec<MasterRecord> {
    let mut r = RecordReader::new();
    r.push(data);
    let mut out = Vec::new();
    while let Some((kind, body)) = r.next_frame().expect("record frame") {
        out.push(
            decode_master(ctx, kind, &body)
                .unwrap_or_else(|e| panic!("master record {}: {e}", out.len()))
                .expect("no optional record"),
        );
    }
    assert_eq!(r.pending(), 0, "bytes after the last whole record");
    out
}

fn mirror_records(ctx: &RecordContext, data: &[u8]) -> Vec<MirrorRecord> {
    let mut r = RecordReader::new();
    r.push(data);
    let mut out = Vec::new();
    while let Some((kind, body)) = r.next_frame().expect("record frame") {
        out.push(
            decode_mirror(ctx, kind, &body)
                .unwrap_or_else(|e| panic!("mirror record {}: {e}", out.len()))
                .expect("no optional record"),
        );
    }
    assert_eq!(r.pending(), 0, "bytes after the last whole record");
    out
}

/// A record's fields, by the keys of the `expect` lines (`record.N.` is prefixed).
fn tokens_text(ctx: &RecordContext, tokens: &[u8]) -> String {
    let mut r = WireReader::new(tokens);
    let mut parts = Vec::new();
    while !r.is_empty() {
        match decode_token(&mut r, ctx.file_sum_len, &ctx.limits).expect("token") {
            TokenEvent::Token(Token::Literal(b)) => parts.push(format!("literal:{}", b.len())),
            TokenEvent::Token(Token::Copy(i)) => parts.push(format!("copy:{i}")),
            TokenEvent::End { .. } => parts.push("end".to_owned()),
        }
    }
    parts.join(" ")
}

fn show(b: &[u8]) -> String {
    rsync_tests::tree::printable(b)
}

fn master_fields(ctx: &RecordContext, rec: &MasterRecord, f: &mut BTreeMap<String, String>) {
    let mut put = |k: &str, v: String| {
        f.insert(k.to_owned(), v);
    };
    match rec {
        MasterRecord::Hello(h) => {
            put("type", "HELLO".into());
            put("version", h.version.to_string());
            put("features", h.features.to_string());
            put("window", h.window.to_string());
        }
        MasterRecord::Filters(b) => {
            put("type", "FILTERS".into());
            put("len", b.len().to_string());
        }
        MasterRecord::Entry { id, entry } => {
            put("type", "ENTRY".into());
            put("id", id.to_string());
            put("name", show(entry.name.as_bytes()));
            put("mode", format!("{:o}", entry.mode));
            put("mtime", entry.mtime().to_string());
            put("nsec", entry.mtime_nsec.to_string());
            if entry.is_dir() {
                put("size", "(directory)".into());
            } else {
                put("size", entry.size().to_string());
            }
            if let Some(t) = entry.symlink() {
                put("symlink", show(t));
            }
        }
        MasterRecord::Delete { id, path } => {
            put("type", "DELETE".into());
            put("id", id.to_string());
            put("path", show(path.as_bytes()));
        }
        MasterRecord::Data { id, tokens } => {
            put("type", "DATA".into());
            put("id", id.to_string());
            put("tokens", tokens_text(ctx, tokens));
        }
        MasterRecord::DataEnd { id, checksum } => {
            put("type", "DATA_END".into());
            put("id", id.to_string());
            put("checksum_len", checksum.len().to_string());
        }
        MasterRecord::Abort { id } => {
            put("type", "ABORT".into());
            put("id", id.to_string());
        }
        MasterRecord::HardLink { id, path, target } => {
            put("type", "HARDLINK".into());
            put("id", id.to_string());
            put("path", show(path.as_bytes()));
            put("target", show(target.as_bytes()));
        }
        MasterRecord::DirBegin { id, path } => {
            put("type", "DIR_BEGIN".into());
            put("id", id.to_string());
            put("path", show(path.as_bytes()));
        }
        MasterRecord::DirEnd { id, path } => {
            put("type", "DIR_END".into());
            put("id", id.to_string());
            put("path", show(path.as_bytes()));
        }
        MasterRecord::BatchEnd { id } => {
            put("type", "BATCH_END".into());
            put("id", id.to_string());
        }
        MasterRecord::Bye => put("type", "BYE".into()),
        other => put("type", format!("{other:?}")),
    }
}

fn mirror_fields(rec: &MirrorRecord, f: &mut BTreeMap<String, String>) {
    let mut put = |k: &str, v: String| {
        f.insert(k.to_owned(), v);
    };
    match rec {
        MirrorRecord::Hello(h) => {
            put("type", "HELLO".into());
            put("version", h.version.to_string());
            put("features", h.features.to_string());
            put("window", h.window.to_string());
        }
        MirrorRecord::Sums { id, head, sums } => {
            put("type", "SUMS".into());
            put("id", id.to_string());
            put("count", head.count.to_string());
            put("blength", head.block_len.to_string());
            put("s2length", head.strong_len.to_string());
            put("remainder", head.remainder.to_string());
            put("sums_len", sums.len().to_string());
        }
        MirrorRecord::SumsMore { id, sums } => {
            put("type", "SUMS_MORE".into());
            put("id", id.to_string());
            put("sums_len", sums.len().to_string());
        }
        MirrorRecord::Ack {
            id,
            status,
            message,
        } => {
            put("type", "ACK".into());
            put("id", id.to_string());
            put("status", status.to_string());
            put("message", show(message));
        }
        MirrorRecord::WantTree { id, path } => {
            put("type", "WANT_TREE".into());
            put("id", id.to_string());
            put("path", show(path.as_bytes()));
        }
        MirrorRecord::Bye => put("type", "BYE".into()),
        other => put("type", format!("{other:?}")),
    }
}

/// A decoded record list as `record.N.KEY` → value, plus `records` (the count).
fn record_map(
    ctx: &RecordContext,
    bytes: &[u8],
    master: bool,
) -> Result<BTreeMap<String, String>, String> {
    let mut r = RecordReader::new();
    r.push(bytes);
    let mut map = BTreeMap::new();
    let mut n = 0;
    while let Some((kind, body)) = r.next_frame().map_err(|e| e.to_string())? {
        let mut f = BTreeMap::new();
        if master {
            let rec = decode_master(ctx, kind, &body)
                .map_err(|e| e.to_string())?
                .ok_or("optional record")?;
            master_fields(ctx, &rec, &mut f);
        } else {
            let rec = decode_mirror(ctx, kind, &body)
                .map_err(|e| e.to_string())?
                .ok_or("optional record")?;
            mirror_fields(&rec, &mut f);
        }
        f.insert("kind".into(), format!("{kind:#04x}"));
        for (k, v) in f {
            map.insert(format!("record.{n}.{k}"), v);
        }
        n += 1;
    }
    if r.pending() != 0 {
        return Err(format!("{} bytes after the last whole record", r.pending()));
    }
    map.insert("records".into(), n.to_string());
    Ok(map)
}

/// Raw frames (`decode frames`): `frames`, `frame.N.code`, `frame.N.len`.
fn frame_map(bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    let mut off = 0;
    let mut n = 0;
    while off < bytes.len() {
        let h = bytes.get(off..off + 4).ok_or("truncated header")?;
        let h = u32::from_le_bytes(h.try_into().unwrap());
        let len = (h & 0x00ff_ffff) as usize;
        let code = (h >> 24).checked_sub(7).ok_or("header below MPLEX_BASE")?;
        let name = match code {
            0 => "MSG_DATA".to_owned(),
            c => format!("{c}"),
        };
        map.insert(format!("frame.{n}.code"), name);
        map.insert(format!("frame.{n}.len"), len.to_string());
        off += 4 + len;
        n += 1;
    }
    if off != bytes.len() {
        return Err("frame runs past the bytes".into());
    }
    map.insert("frames".into(), n.to_string());
    Ok(map)
}

// ---------------------------------------------------------------------------------------
// The vector files.

fn all_vectors() -> Vec<Vector> {
    load_dir(&const_dir())
}

fn raw_file(c: &Capture, file: &str) -> Vec<u8> {
    match file {
        "session.m2s" => c.m2s.clone(),
        "session.s2m" => c.s2m.clone(),
        other => std::fs::read(const_dir().join("raw").join(other))
            .unwrap_or_else(|e| panic!("raw/{other}: {e}")),
    }
}

fn source_bytes(c: &Capture, d: &Decoded, src: &Source) -> Result<Vec<u8>, String> {
    match src {
        Source::Raw { file, off, len } => cut(&raw_file(c, file), *off, *len),
        Source::Data {
            file,
            mux_start: mux,
            off,
            len,
        } => {
            let dir = match file.as_str() {
                "session.m2s" => &d.m2s,
                "session.s2m" => &d.s2m,
                other => return Err(format!("no logical stream for {other}")),
            };
            if *mux != dir.mux_start {
                return Err(format!(
                    "the multiplexed stream of {file} starts at {}, not {mux}",
                    dir.mux_start
                ));
            }
            cut(&dir.data, *off, *len)
        }
    }
}

fn decode_vector(d: &Decoded, v: &Vector) -> Result<BTreeMap<String, String>, String> {
    let ctx = context(&d.negotiated);
    match v.decode.as_str() {
        "master-records" => record_map(&ctx, &v.hex, true),
        "mirror-records" => record_map(&ctx, &v.hex, false),
        "frames" => frame_map(&v.hex),
        "handshake-s2c" => {
            // The server's (mirror's) handshake bytes, read by a client handshake.
            let mut hs = client_handshake();
            while hs.poll_transmit().is_some() {}
            hs.handle_input(&v.hex).map_err(|e| e.to_string())?;
            let n = hs.negotiated().ok_or("handshake incomplete")?.clone();
            if !hs.take_remaining().is_empty() {
                return Err("bytes after the handshake".into());
            }
            Ok(BTreeMap::from([
                ("protocol".to_owned(), n.protocol.to_string()),
                ("seed".to_owned(), n.seed.to_string()),
                ("checksum".to_owned(), format!("{:?}", n.checksum)),
                (
                    "inc_recurse".to_owned(),
                    (n.compat_flags.0 & CF_INC_RECURSE.0 != 0).to_string(),
                ),
                (
                    "varint_flist_flags".to_owned(),
                    n.varint_flist_flags().to_string(),
                ),
            ]))
        }
        "text" => Ok(BTreeMap::from([("text".to_owned(), show(&v.hex))])),
        other => Err(format!("unknown decoder {other:?}")),
    }
}

/// Labels RFC.md defines in §15 (`### 15.x Title [label]`, and `[const-stream]` /
/// `[const-loop]` in the table of 15.1).
fn section15_labels(md: &str) -> BTreeSet<String> {
    let start = md.find("## 15. ").expect("§15");
    let end = md[start..]
        .find("\n## Appendix")
        .map_or(md.len(), |e| start + e);
    let mut out = BTreeSet::new();
    let body = &md[start..end];
    let mut rest = body;
    while let Some(i) = rest.find("[const-") {
        let tail = &rest[i..];
        let j = tail.find(']').expect("closing bracket");
        out.insert(tail[..=j].to_owned());
        rest = &tail[j..];
    }
    out
}

/// §15 labels without a vector, and why.
const NO_VECTOR: &[(&str, &str)] = &[(
    "[const-loop]",
    "the session loop towards a stock rsync is ordinary sessions of sections 5-13 (the \
     `--files-from` vectors of Appendix B.6)",
)];

#[test]
fn capture_decodes_end_to_end() {
    let c = committed();
    let d = decode_capture(&c);
    assert!(
        d.negotiated.protocol >= 31,
        "[const-argv]: protocol 31 or later"
    );
    let ctx = context(&d.negotiated);
    let m = master_records(&ctx, &d.m2s.data);
    let r = mirror_records(&ctx, &d.s2m.data);
    // The session opens with HELLO (and FILTERS from the master) and ends with BYE.
    assert!(matches!(m.first(), Some(MasterRecord::Hello(_))), "{m:?}");
    assert!(matches!(m.get(1), Some(MasterRecord::Filters(_))), "{m:?}");
    assert_eq!(m.last(), Some(&MasterRecord::Bye));
    assert!(matches!(r.first(), Some(MirrorRecord::Hello(_))), "{r:?}");
    assert_eq!(r.last(), Some(&MirrorRecord::Bye));
    // Every id the master sent is acknowledged exactly once, with status 0.
    let mut sent = BTreeSet::new();
    for rec in &m {
        match rec {
            MasterRecord::Entry { id, .. }
            | MasterRecord::Delete { id, .. }
            | MasterRecord::HardLink { id, .. }
            | MasterRecord::DirBegin { id, .. }
            | MasterRecord::DirEnd { id, .. }
            | MasterRecord::BatchEnd { id } => {
                assert!(sent.last().is_none_or(|l| l < id), "ids grow: {id}");
                sent.insert(*id);
            }
            _ => {}
        }
    }
    let mut acked = BTreeSet::new();
    for rec in &r {
        if let MirrorRecord::Ack { id, status, .. } = rec {
            assert_eq!(*status, 0, "id {id}");
            assert!(acked.insert(*id), "id {id} acknowledged twice");
        }
    }
    assert_eq!(sent, acked, "one ACK per id");
    // Keepalives: at least one empty MSG_DATA frame each way; no other message.
    assert!(d.m2s.empty_frames >= 1 && d.s2m.empty_frames >= 1);
    assert!(d.m2s.messages.is_empty() && d.s2m.messages.is_empty());
}

#[test]
fn vectors_match_the_capture_and_the_rfc() {
    let c = committed();
    let d = decode_capture(&c);
    let md = rfc_md();
    let defined = section15_labels(&md);
    let vectors = all_vectors();
    assert!(!vectors.is_empty());
    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    for v in &vectors {
        let mut fail = |m: String| failures.push(format!("{}: {m}", v.name));
        if !md.contains(&format!("constant/{}", v.name)) {
            fail("not cited by RFC.md".into());
        }
        for l in &v.labels {
            if l != "[keepalive]" && !defined.contains(l) {
                fail(format!("label {l} is not defined in RFC.md §15"));
            }
            covered.insert(l.clone());
        }
        match source_bytes(&c, &d, &v.source) {
            Ok(b) if b == v.hex => {}
            Ok(b) => {
                fail(format!(
                    "the hex lines differ from the capture's bytes {}",
                    b.iter().fold(String::new(), |mut s, x| {
                        let _ = write!(s, "{x:02x}");
                        s
                    })
                ));
                continue;
            }
            Err(e) => {
                fail(e);
                continue;
            }
        }
        let got = match decode_vector(&d, v) {
            Ok(m) => m,
            Err(e) => {
                fail(format!("does not decode: {e}"));
                continue;
            }
        };
        if std::env::var_os("CONSTANT_VECTORS_DRAFT").is_some() {
            for (k, g) in &got {
                println!("DRAFT {} expect {k} {g}", v.name);
            }
        }
        if v.expects.is_empty() {
            fail("states no value".into());
        }
        for (line, k, want) in &v.expects {
            match got.get(k) {
                Some(g) if g == want => {}
                Some(g) => fail(format!(
                    "line {line}: {k} is {g:?}, the vector says {want:?}"
                )),
                None => fail(format!("line {line}: no field {k} (have {:?})", got.keys())),
            }
        }
    }
    for l in &defined {
        let excused = NO_VECTOR.iter().any(|(n, _)| n == l);
        if !covered.contains(l) && !excused {
            failures.push(format!("{l}: no vector and not in NO_VECTOR"));
        }
        if covered.contains(l) && excused {
            failures.push(format!("{l}: has a vector, remove it from NO_VECTOR"));
        }
    }
    for (l, why) in NO_VECTOR {
        assert!(defined.contains(*l), "{l} ({why}) is not a §15 label");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The key of a decoded record list for comparing two recordings: directory sizes are
/// the file system's (not ours) and are left out.
fn normalised(d: &Decoded) -> (Vec<String>, Vec<String>) {
    let ctx = context(&d.negotiated);
    let m = master_records(&ctx, &d.m2s.data)
        .into_iter()
        .map(|r| match r {
            MasterRecord::Entry { id, mut entry } if entry.is_dir() => {
                entry.set_size(0);
                format!("{:?}", MasterRecord::Entry { id, entry })
            }
            other => format!("{other:?}"),
        })
        .collect();
    let r = mirror_records(&ctx, &d.s2m.data)
        .into_iter()
        .map(|r| format!("{r:?}"))
        .collect();
    (m, r)
}

/// Records the session again: the handshakes are the same bytes and the logical streams
/// the same records in the same order (frame boundaries and the number of keepalives
/// depend on timing, directory sizes on the file system). With `CONSTANT_VECTORS_WRITE=1`
/// the new recording replaces the committed one.
#[test]
fn capture_is_reproducible() {
    let new = record_session();
    if std::env::var_os("CONSTANT_VECTORS_WRITE").is_some() {
        let raw = const_dir().join("raw");
        std::fs::create_dir_all(&raw).unwrap();
        std::fs::write(raw.join("session.m2s"), &new.m2s).unwrap();
        std::fs::write(raw.join("session.s2m"), &new.s2m).unwrap();
        eprintln!("wrote {}", raw.display());
    }
    let old = committed();
    let (dn, d_old) = (decode_capture(&new), decode_capture(&old));
    assert_eq!(
        new.m2s[..dn.m2s.mux_start],
        old.m2s[..d_old.m2s.mux_start],
        "master handshake"
    );
    assert_eq!(
        new.s2m[..dn.s2m.mux_start],
        old.s2m[..d_old.s2m.mux_start],
        "mirror handshake"
    );
    let (a, b) = (normalised(&dn), normalised(&d_old));
    for (what, x, y) in [("master", &a.0, &b.0), ("mirror", &a.1, &b.1)] {
        for (i, (p, q)) in x.iter().zip(y.iter()).enumerate() {
            assert_eq!(p, q, "{what} record {i} differs from the committed capture");
        }
        assert_eq!(x.len(), y.len(), "{what} record count");
    }
}

/// Prints both directions record by record with their offsets in the logical stream (to cut
/// new vectors): `cargo test -p rsync-tests --test constant_vectors show -- --ignored
/// --nocapture`.
#[test]
#[ignore = "a tool, not a test"]
fn show_capture() {
    let c = committed();
    let d = decode_capture(&c);
    let ctx = context(&d.negotiated);
    for (name, dir, master) in [
        ("session.m2s", &d.m2s, true),
        ("session.s2m", &d.s2m, false),
    ] {
        println!("{name}: multiplexed from {}", dir.mux_start);
        let mut r = RecordReader::new();
        r.push(&dir.data);
        let mut off = 0;
        while let Some((kind, body)) = r.next_frame().unwrap() {
            let len = dir.data.len() - off - r.pending();
            let text = if master {
                format!("{:?}", decode_master(&ctx, kind, &body).unwrap())
            } else {
                format!("{:?}", decode_mirror(&ctx, kind, &body).unwrap())
            };
            let short: String = text.chars().take(160).collect();
            println!("  data {off} {len}: {short}");
            off += len;
        }
    }
}
