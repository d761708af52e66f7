//! What keeps memory bounded on a long list: the sender writes its file list as the output
//! drains, and the generator stops a bounded number of requests ahead of the sender.

use super::fakefs::Fs;
use super::pair::{Dir, Pair};
use super::scenarios::run;
use crate::flist::{encode_file_list, mode, FileEntry, FileList, IdList, WirePath};
use crate::mux::{unmux, MuxLimits};
use crate::session::{FsAnswer, FsRequest, Sender, Session, SessionOptions};

#[test]
fn a_long_file_list_is_written_as_the_output_drains() {
    let mut o = SessionOptions::plain(31, 1, true);
    o.flist = o.flist.archive();
    let flist = o.flist.clone();
    let mut s = Sender::new(o).expect("sender");
    // An empty filter list, in one MSG_DATA frame.
    s.handle_input(&[4, 0, 0, 7, 0, 0, 0, 0])
        .expect("filter list");
    assert!(matches!(s.poll_fs(), Some(FsRequest::FileList { .. })));
    let entries: Vec<FileEntry> = (0..20_000u32)
        .map(|i| {
            let name = format!("dir{}/file{i:06}.dat", i / 100);
            let mut e = FileEntry::new(
                WirePath::try_from(name.as_str()).expect("p"),
                mode::S_IFREG | 0o644,
            );
            e.set_size(u64::from(i));
            e.set_mtime(1_700_000_000 + i64::from(i));
            e
        })
        .collect();
    s.handle_fs(FsAnswer::FileList {
        entries: entries.clone(),
        io_error: 0,
        uids: IdList::default(),
        gids: IdList::default(),
    })
    .expect("list");
    // A caller whose buffer is full gets the chunk encoded so far, then nothing more.
    let mut full = vec![0u8; 1 << 20];
    let _ = s.poll_transmit(&mut full);
    let first = full.len() - (1 << 20);
    assert!(first <= 70_000, "{first}");
    assert!(!s.poll_transmit(&mut full));
    // Drained, it gets the rest a chunk at a time, and the whole is the list.
    let mut wire = full.split_off(1 << 20);
    let mut polls = 0;
    loop {
        let mut out = Vec::new();
        if !s.poll_transmit(&mut out) {
            break;
        }
        assert!(out.len() <= 70_000, "{}", out.len());
        wire.extend_from_slice(&out);
        polls += 1;
    }
    let list = FileList {
        entries,
        ..FileList::default()
    };
    let want = encode_file_list(&flist, &list).expect("encode");
    assert!(
        polls >= want.len() / 70_000,
        "{polls} polls for {} bytes",
        want.len()
    );
    assert_eq!(unmux(&wire, MuxLimits::default()).expect("mux").data, want);
    assert_eq!(s.file_list().len(), 20_000);
}

#[test]
fn the_generator_stays_a_bounded_number_of_requests_ahead() {
    let mut src = Fs::new();
    for i in 0..3_000 {
        src = src.file(&format!("f{i:04}"), b"0123456789", 1_700_000_000);
    }
    for p in [29u8, 31] {
        let mut pair = Pair::new(p, Dir::Push, src.clone(), Fs::new());
        // The sender never sees a request: the generator goes as far as it may.
        pair.hold_r2s = true;
        for _ in 0..100_000 {
            if !pair.step().expect("step") {
                break;
            }
        }
        let ahead = pair.receiver.outstanding_requests();
        // From protocol 30 the sender answers every request (MSG_NO_SEND for a file it
        // cannot send), so the generator may wait for the answers.
        assert_eq!(ahead, if p >= 30 { 1024 } else { 3_000 }, "p{p}");
        pair.hold_r2s = false;
        run(&mut pair, 0);
        assert_eq!(pair.dst.fs.snapshot(), src.snapshot(), "p{p}");
    }
}
