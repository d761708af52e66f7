//! Golden tests against the session captures of stock rsync 3.5.0 (itemize, `--delete`,
//! `-H`, `-n`, `-c`, `-p`-only changes, symlinks, devices; protocols 27, 29, 30, 31, 32):
//! each of our four roles is fed the stock peer's bytes and must write the stock role's
//! bytes, leave the destination as stock rsync did, and report the same items.

use std::collections::HashMap;

use super::captured::{mask, render_i, render_name, session_captures, tree_lines, SessionCapture};
use super::fakefs::{DstDriver, Kind, SrcDriver};
use crate::flist::{FileEntry, FileList, FlistDecoder};
use crate::mux::{unmux, MsgCode, MuxLimits};
use crate::session::{iflags, Event, Receiver, Sender, Session, SessionOptions};
use crate::wire::WireReader;

/// The logical stream and the messages of one side's output.
fn logical(bytes: &[u8], muxed: bool) -> (Vec<u8>, Vec<(MsgCode, Vec<u8>)>) {
    if muxed {
        let u = unmux(bytes, MuxLimits::default()).expect("mux");
        (u.data, u.messages)
    } else {
        (bytes.to_vec(), Vec::new())
    }
}

/// The first byte where two streams differ, with some context.
fn first_diff(ours: &[u8], theirs: &[u8]) -> String {
    let i = ours
        .iter()
        .zip(theirs)
        .position(|(a, b)| a != b)
        .unwrap_or(ours.len().min(theirs.len()));
    let ctx = |v: &[u8]| -> String {
        v.get(i.saturating_sub(16)..(i + 24).min(v.len()))
            .unwrap_or(&[])
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    format!(
        "first difference at {i} (ours {} bytes, theirs {}):\n  ours   ..{}\n  theirs ..{}",
        ours.len(),
        theirs.len(),
        ctx(ours),
        ctx(theirs)
    )
}

/// The file list the stock sender sent (wire order), from its logical stream.
fn stock_entries(cap: &SessionCapture, data: &[u8], opts: &SessionOptions) -> Vec<FileEntry> {
    stock_list(cap, data, opts).entries
}

/// The file list and id lists the stock sender sent.
fn stock_list(cap: &SessionCapture, data: &[u8], opts: &SessionOptions) -> FileList {
    let mut r = WireReader::new(data);
    if !cap.pull && opts.delete.is_some() {
        // A client sender's filter list comes first.
        while r.int().expect("filter len") != 0 {}
    }
    let mut o = opts.flist.clone();
    o.checksum_len = opts.flist_csum_len();
    let mut dec = FlistDecoder::new(o).expect("decoder");
    dec.feed(r.remaining()).expect("flist");
    dec.into_list()
}

/// Runs `f` for every capture `keep` selects, and fails with every capture's failure.
fn for_each(keep: impl Fn(&SessionCapture) -> bool, min: usize, f: impl Fn(&SessionCapture)) {
    let mut failed = Vec::new();
    let mut n = 0;
    for cap in session_captures().iter().filter(|c| keep(c)) {
        n += 1;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(cap)));
        if let Err(e) = r {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("{}: {msg}", cap.name));
        }
    }
    assert!(n >= min, "only {n} captures");
    assert!(
        failed.is_empty(),
        "{} of {n} failed:\n{}",
        failed.len(),
        failed.join("\n---\n")
    );
}

/// Runs a receiver over `input`, byte by byte (its generator runs ahead as stock's does).
fn run_receiver(
    cap: &SessionCapture,
    server: bool,
    input: &[u8],
) -> (Vec<u8>, Vec<Event>, DstDriver) {
    let opts = cap.session_options(server);
    let mut r = Receiver::new(opts.clone()).expect("receiver");
    let mut fs = DstDriver::new(cap.dst.clone(), opts);
    let mut out = Vec::new();
    let mut events = Vec::new();
    let mut step = |r: &mut Receiver, fs: &mut DstDriver, out: &mut Vec<u8>| {
        while fs.serve(r).unwrap_or_else(|e| panic!("{}: {e}", cap.name)) {}
        let _ = r.poll_transmit(out);
        events.extend(std::iter::from_fn(|| r.poll_event()));
    };
    step(&mut r, &mut fs, &mut out);
    for b in input {
        r.handle_input(&[*b])
            .unwrap_or_else(|e| panic!("{}: {e}", cap.name));
        step(&mut r, &mut fs, &mut out);
    }
    assert!(r.is_done(), "{}: receiver not done", cap.name);
    (out, events, fs)
}

/// Runs a sender over `input` with the stock sender's list.
fn run_sender(
    cap: &SessionCapture,
    server: bool,
    input: &[u8],
    list: FileList,
) -> (Vec<u8>, Vec<Event>, Sender) {
    let opts = cap.session_options(server);
    let mut s = Sender::new(opts).expect("sender");
    let mut data = HashMap::new();
    for (p, ino) in &cap.src.paths {
        if let Some(Kind::File(d)) = cap.src.inodes.get(ino).map(|i| &i.kind) {
            data.insert(p.clone(), d.clone());
        }
    }
    let mut fs = SrcDriver::new(list.entries, data);
    fs.keep_checksums = true;
    // One read per file: the matcher flushes literals where a read ends, and stock rsync
    // reads whole (small) files.
    fs.chunk = usize::MAX;
    fs.ids = (list.uids, list.gids);
    let mut out = Vec::new();
    let mut events = Vec::new();
    let mut step = |s: &mut Sender, fs: &mut SrcDriver, out: &mut Vec<u8>| {
        while fs.serve(s).unwrap_or_else(|e| panic!("{}: {e}", cap.name)) {}
        let _ = s.poll_transmit(out);
        events.extend(std::iter::from_fn(|| s.poll_event()));
    };
    step(&mut s, &mut fs, &mut out);
    for c in input.chunks(3) {
        s.handle_input(c)
            .unwrap_or_else(|e| panic!("{}: {e}", cap.name));
        step(&mut s, &mut fs, &mut out);
    }
    assert!(s.is_done(), "{}: sender not done", cap.name);
    (out, events, s)
}

/// The lines a client prints for these events (`%i %n%L`, `*deleting   NAME`), sorted:
/// stock rsync prints deletions from another process, so only the set is comparable.
fn rendered(
    cap: &SessionCapture,
    list: &[Option<FileEntry>],
    events: &[Event],
    sender: bool,
) -> Vec<String> {
    let o = cap.session_options(false);
    let mut lines = Vec::new();
    for ev in events {
        match ev {
            Event::Itemize {
                ndx,
                iflags: f,
                xname,
            } => {
                let Some(Some(e)) = usize::try_from(*ndx).ok().and_then(|i| list.get(i)) else {
                    panic!("{}: itemize of a bad index {ndx}", cap.name)
                };
                let transfer = f & iflags::TRANSFER != 0;
                let significant = f & !(iflags::BASIS_TYPE_FOLLOWS
                    | iflags::XNAME_FOLLOWS
                    | iflags::LOCAL_CHANGE)
                    != 0;
                let named = xname.as_ref().is_some_and(|x| !x.is_empty());
                if !(transfer || significant || named || o.itemize > 1) {
                    continue;
                }
                let missing = transfer && cap.protocol < 29;
                let i = render_i(e, *f, sender, o.preserve_times, missing);
                lines.push(format!("{i} {}", render_name(e, xname.as_deref())));
            }
            Event::Deleted { name, is_dir } => {
                let slash = if *is_dir { "/" } else { "" };
                lines.push(format!(
                    "*deleting   {}{slash}",
                    String::from_utf8_lossy(name.as_bytes())
                ));
            }
            Event::Log {
                code: MsgCode::Info,
                text,
            } => {
                lines.push(
                    String::from_utf8_lossy(text)
                        .trim_end_matches('\n')
                        .to_string(),
                );
            }
            _ => {}
        }
    }
    lines.sort();
    lines
}

fn stock_lines(cap: &SessionCapture) -> Vec<String> {
    let mut v: Vec<String> = cap.stdout.clone();
    v.sort();
    v
}

fn exit_code(events: &[Event]) -> i32 {
    events
        .iter()
        .find_map(|e| match e {
            Event::Done { exit_code, .. } => Some(*exit_code),
            _ => None,
        })
        .expect("done")
}

fn itemizing(cap: &SessionCapture) -> bool {
    cap.options
        .iter()
        .any(|o| o.starts_with("-i") || o.starts_with("-ii"))
}

/// Our client receiver, fed the stock server sender's stream (pull), writes the stock
/// client's requests, leaves the stock result on disk, and itemizes the stock lines.
#[test]
fn client_receiver_replays_stock_pulls() {
    for_each(
        |c| c.pull,
        20,
        |cap| {
            let (c2s, s2c, _, _) = cap.after_handshake();
            let (out, events, fs) = run_receiver(cap, false, &s2c);
            let muxed = cap.protocol >= 30;
            let (ours, our_msgs) = logical(&out, muxed);
            let (theirs, their_msgs) = logical(&c2s, muxed);
            assert!(
                ours == theirs,
                "{}: client requests differ\n{}",
                cap.name,
                first_diff(&ours, &theirs)
            );
            assert_eq!(our_msgs, their_msgs, "{}: messages", cap.name);
            let want: Vec<String> = cap.after.iter().map(|l| mask(l, cap)).collect();
            assert_eq!(tree_lines(&fs.fs, cap), want, "{}: destination", cap.name);
            assert_eq!(exit_code(&events), cap.exit, "{}: exit code", cap.name);
            if cap.options.iter().any(|o| o == "-n") {
                assert!(
                    !fs.seen.iter().any(DstDriver::is_write),
                    "{}: a dry run asked for a write",
                    cap.name
                );
            }
        },
    );
}

/// Our server sender, fed the stock client's requests (pull), writes the stock server's
/// stream (statistics times aside).
#[test]
fn server_sender_replays_stock_pulls() {
    for_each(
        |c| c.pull,
        20,
        |cap| {
            let (c2s, s2c, _, _) = cap.after_handshake();
            let opts = cap.session_options(true);
            let (theirs, their_msgs) = logical(&s2c, true);
            let list = stock_list(cap, &theirs, &opts);
            let (out, _events, _) = run_sender(cap, true, &c2s, list);
            let (ours, our_msgs) = logical(&out, true);
            assert_eq!(
                sender_items(cap, &ours, true),
                sender_items(cap, &theirs, true),
                "{}: server stream",
                cap.name
            );
            assert_eq!(our_msgs, their_msgs, "{}: messages", cap.name);
        },
    );
}

/// Our client sender, fed the stock server generator's stream (push), writes the stock
/// client's stream and reports the stock lines.
#[test]
fn client_sender_replays_stock_pushes() {
    for_each(
        |c| !c.pull,
        20,
        |cap| {
            let (c2s, s2c, _, _) = cap.after_handshake();
            let opts = cap.session_options(false);
            let muxed = cap.protocol >= 30;
            let (theirs, their_msgs) = logical(&c2s, muxed);
            let list = stock_list(cap, &theirs, &opts);
            let (out, events, s) = run_sender(cap, false, &s2c, list);
            let (ours, our_msgs) = logical(&out, muxed);
            assert_eq!(
                sender_items(cap, &ours, false),
                sender_items(cap, &theirs, false),
                "{}: client stream",
                cap.name
            );
            assert_eq!(our_msgs, their_msgs, "{}: messages", cap.name);
            if itemizing(cap) {
                let mut lines = rendered(cap, s.file_list(), &events, true);
                lines.retain(|l| !l.is_empty());
                assert_eq!(lines, stock_lines(cap), "{}: itemized lines", cap.name);
            }
        },
    );
}

/// Our server receiver, fed the stock client sender's stream (push), writes the stock
/// server generator's stream (requests, itemize records, `MSG_DELETED`, deletion
/// statistics) and leaves the stock result on disk.
#[test]
fn server_receiver_replays_stock_pushes() {
    for_each(
        |c| !c.pull,
        20,
        |cap| {
            let (c2s, s2c, _, _) = cap.after_handshake();
            let (out, _events, fs) = run_receiver(cap, true, &c2s);
            let (ours, our_msgs) = logical(&out, true);
            let (theirs, their_msgs) = logical(&s2c, true);
            assert!(
                ours == theirs,
                "{}: server stream differs\n{}",
                cap.name,
                first_diff(&ours, &theirs)
            );
            assert_eq!(our_msgs, their_msgs, "{}: messages", cap.name);
            let want: Vec<String> = cap.after.iter().map(|l| mask(l, cap)).collect();
            assert_eq!(tree_lines(&fs.fs, cap), want, "{}: destination", cap.name);
        },
    );
}

/// The client receiver's events render as the stock client's `-i` lines.
#[test]
fn client_receiver_itemizes_like_stock() {
    for_each(
        |c| c.pull && itemizing(c),
        10,
        |cap| {
            let (_, s2c, _, _) = cap.after_handshake();
            let (_, events, _) = run_receiver(cap, false, &s2c);
            // The list, as the receiver sorted it.
            let (theirs, _) = logical(&s2c, true);
            let entries = stock_entries(cap, &theirs, &cap.session_options(false));
            let list = crate::flist::sort_file_list(entries, u32::from(cap.protocol.min(32)));
            let lines = rendered(cap, &list, &events, false);
            assert_eq!(lines, stock_lines(cap), "{}: itemized lines", cap.name);
        },
    );
}

/// A sender's logical stream as comparable items: the filter list and file list bytes,
/// every record, sum header and token (adjacent literals merged: where a matcher cuts its
/// literal runs is not wire-visible), and the statistics without their byte counts and
/// times (timing and framing dependent).
fn sender_items(cap: &SessionCapture, data: &[u8], server: bool) -> Vec<String> {
    let o = cap.session_options(server);
    let p = cap.protocol;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut items = Vec::new();
    let mut r = WireReader::new(data);
    if !server && o.delete.is_some() {
        let start = r.position();
        while r.int().expect("filter len") != 0 {}
        items.push(format!("filters {}", hex(&data[start..r.position()])));
    }
    let mut fo = o.flist.clone();
    fo.checksum_len = o.flist_csum_len();
    let mut dec = FlistDecoder::new(fo).expect("decoder");
    let start = r.position();
    let n = dec.feed(r.remaining()).expect("flist");
    assert!(dec.is_done(), "incomplete file list");
    items.push(format!("flist {}", hex(&data[start..start + n])));
    let mut r = WireReader::new(&data[start + n..]);
    let mut ndx_dec = crate::wire::NdxDecoder::default();
    let mut phase = 0;
    let digest = o.strong.digest_len();
    while !r.is_empty() {
        let ndx = if p >= 30 {
            ndx_dec.decode(&mut r).expect("ndx")
        } else {
            r.int().expect("ndx")
        };
        match ndx {
            -1 => {
                items.push("done".into());
                phase += 1;
                if phase == o.max_phase() + 1 && server {
                    let n = if p >= 29 { 5 } else { 3 };
                    let v: Vec<i64> = (0..n)
                        .map(|_| if p >= 30 { r.varlong(3) } else { r.longint() }.expect("stat"))
                        .collect();
                    items.push(format!("stats total_size={}", v[2]));
                }
            }
            -3 => {
                let v: Vec<i32> = (0..5).map(|_| r.varint().expect("del")).collect();
                items.push(format!("delstats {v:?}"));
            }
            ndx => {
                let attrs = crate::session::item::read_attrs(&mut r, p).expect("attrs");
                items.push(format!("rec {ndx} {}", hex(&attrs.bytes)));
                if attrs.iflags & iflags::TRANSFER == 0 || o.dry_run {
                    continue;
                }
                let head: Vec<i32> = (0..4).map(|_| r.int().expect("head")).collect();
                items.push(format!("head {head:?}"));
                let mut lit = Vec::new();
                loop {
                    let t = r.int().expect("token");
                    if t > 0 {
                        lit.extend_from_slice(r.bytes(t as usize).expect("literal"));
                        continue;
                    }
                    if !lit.is_empty() {
                        items.push(format!("literal {}", hex(&lit)));
                        lit.clear();
                    }
                    if t < 0 {
                        items.push(format!("copy {}", -(t + 1)));
                        continue;
                    }
                    items.push(format!("end {}", hex(r.bytes(digest).expect("sum"))));
                    break;
                }
            }
        }
    }
    items
}
