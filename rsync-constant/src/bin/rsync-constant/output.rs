//! What the client prints, worded like rsync: `-v` names and the header/footer lines,
//! `-i` itemize lines, `--progress`, and `--stats`.

use std::io::Write as _;
use std::time::Instant;

use rsync_constant::itemize::{self, ItemizeContext, DELETING};
use rsync_constant::options::Options;
use rsync_proto::driver::{Outcome, Progress};
use rsync_proto::flist::{FileEntry, HardLink};
use rsync_proto::handshake::CF_SYMLINK_TIMES;
use rsync_proto::mux::MsgCode;
use rsync_proto::session::{iflags, Event, FileOutcome};

/// Counts by file type, for "Number of files: N (reg: …)".
#[derive(Debug, Default, Clone, Copy)]
struct Kinds {
    reg: u64,
    dir: u64,
    link: u64,
    dev: u64,
    special: u64,
}

impl Kinds {
    fn add(&mut self, e: &FileEntry) {
        if e.is_regular() {
            self.reg += 1;
        } else if e.is_dir() {
            self.dir += 1;
        } else if e.is_symlink() {
            self.link += 1;
        } else if e.is_device() {
            self.dev += 1;
        } else {
            self.special += 1;
        }
    }

    fn total(&self) -> u64 {
        self.reg + self.dir + self.link + self.dev + self.special
    }

    fn show(&self) -> String {
        let parts: Vec<String> = [
            ("reg", self.reg),
            ("dir", self.dir),
            ("link", self.link),
            ("dev", self.dev),
            ("special", self.special),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k}: {}", commas(*n)))
        .collect();
        if parts.is_empty() {
            commas(self.total())
        } else {
            format!("{} ({})", commas(self.total()), parts.join(", "))
        }
    }
}

/// The client's console output.
pub(crate) struct Console {
    verbose: u8,
    itemize: u8,
    /// Our side sends the files.
    sending: bool,
    /// The locale's charset is UTF-8 (valid UTF-8 names are shown as they are).
    utf8: bool,
    quiet: bool,
    stats: bool,
    progress: bool,
    dry_run: bool,
    ctx: ItemizeContext,
    header: &'static str,
    header_done: bool,
    started: Instant,
    created: Kinds,
    deleted: Kinds,
    deleted_count: u64,
    transferred: u64,
    transferred_size: u64,
    literal: u64,
    matched: u64,
    list_kinds: Kinds,
    total_size: u64,
    list_len: usize,
    checked: usize,
    /// Indices already shown through an itemize record.
    shown: Vec<bool>,
}

/// Formats with thousands separators, as rsync does by default.
pub(crate) fn commas(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1234.5` → `1,234.50`.
fn commas_f(x: f64) -> String {
    let whole = x.trunc() as u64;
    let frac = ((x - x.trunc()) * 100.0).round() as u64;
    if frac >= 100 {
        format!("{}.00", commas(whole + 1))
    } else {
        format!("{}.{frac:02}", commas(whole))
    }
}

impl Console {
    /// Output for a client whose side is `sending`; `remote` when the peer is on another
    /// host (a push then shows `<`).
    pub(crate) fn new(opts: &Options, sending: bool, remote: bool) -> Self {
        Self {
            verbose: opts.verbose,
            itemize: opts.itemize,
            utf8: itemize::locale_is_utf8(),
            sending,
            quiet: opts.quiet,
            stats: opts.stats,
            progress: opts.progress,
            dry_run: opts.dry_run,
            ctx: ItemizeContext {
                sending_remote: sending && remote,
                preserve_times: opts.times,
                symlink_times: true,
                transfer_flags_unknown: false,
            },
            header: if sending {
                "building file list ... done"
            } else {
                "receiving file list ... done"
            },
            header_done: false,
            started: Instant::now(),
            created: Kinds::default(),
            deleted: Kinds::default(),
            deleted_count: 0,
            transferred: 0,
            transferred_size: 0,
            literal: 0,
            matched: 0,
            list_kinds: Kinds::default(),
            total_size: 0,
            list_len: 0,
            checked: 0,
            shown: Vec::new(),
        }
    }

    fn out(&self, line: &[u8]) {
        if self.quiet {
            return;
        }
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(&itemize::escape_line(line, self.utf8));
        let _ = o.write_all(b"\n");
    }

    fn names(&self) -> bool {
        !self.quiet && (self.verbose > 0 || self.itemize > 0)
    }

    fn list_known(&mut self, list: &[Option<FileEntry>]) {
        if self.header_done || list.is_empty() {
            return;
        }
        self.header_done = true;
        self.list_len = list.len();
        self.shown = vec![false; list.len()];
        for e in list.iter().flatten() {
            self.list_kinds.add(e);
            if e.is_regular() || e.is_symlink() {
                self.total_size += e.size();
            }
        }
        if self.verbose > 0 || self.stats {
            self.out(self.header.as_bytes());
        }
    }

    /// An itemize record: counts it and shows it (`-i` line or `-v` name).
    fn item(&mut self, ndx: i32, flags: u16, xname: Option<&[u8]>, list: &[Option<FileEntry>]) {
        let entry = |ndx: i32| {
            usize::try_from(ndx)
                .ok()
                .and_then(|i| list.get(i))
                .and_then(Option::as_ref)
        };
        let Some(e) = entry(ndx) else { return };
        if let Some(s) = usize::try_from(ndx)
            .ok()
            .and_then(|i| self.shown.get_mut(i))
        {
            *s = true;
        }
        if flags & iflags::IS_NEW != 0 {
            self.created.add(e);
        }
        let hl_target = match (flags & iflags::XNAME_FOLLOWS != 0, xname, e.hardlink()) {
            (true, Some(x), _) => Some(x.to_vec()),
            (true, None, Some(HardLink::Follower { first })) => {
                entry(first).map(|f| f.name.as_bytes().to_vec())
            }
            _ => None,
        };
        if !self.names() {
            return;
        }
        let name = itemize::name_and_link(e, hl_target.as_deref());
        if self.itemize > 0 {
            let show = self.itemize > 1
                || self.verbose > 1
                || flags & !(iflags::BASIS_TYPE_FOLLOWS | iflags::XNAME_FOLLOWS) != 0;
            if show {
                let mut line = itemize::item_string(flags, e, self.ctx).into_bytes();
                line.push(b' ');
                line.extend_from_slice(&name);
                self.out(&line);
            }
        } else if itemize::is_significant(flags) {
            self.out(&name);
        }
    }

    /// The driver's observer.
    pub(crate) fn event(&mut self, event: &Event, p: Progress<'_>) {
        // rsync compat.c (`receiver_symlink_times`): from protocol 30 a sender learns it
        // from CF_SYMLINK_TIMES and a receiver can; at 29 only a receiver; below 29 nobody.
        let n = p.negotiated;
        self.ctx.symlink_times = match n.protocol {
            0..=28 => false,
            29 => !self.sending,
            _ => !self.sending || n.compat_flags.contains(CF_SYMLINK_TIMES),
        };
        self.ctx.transfer_flags_unknown = n.protocol < 29;
        self.list_known(p.file_list);
        let entry = |ndx: i32| {
            usize::try_from(ndx)
                .ok()
                .and_then(|i| p.file_list.get(i))
                .and_then(Option::as_ref)
        };
        match event {
            Event::Itemize {
                ndx,
                iflags: flags,
                xname,
            } => self.item(*ndx, *flags, xname.as_deref(), p.file_list),
            Event::Deleted { name, is_dir } => {
                self.deleted_count += 1;
                let mut n = name.as_bytes().to_vec();
                if *is_dir {
                    n.push(b'/');
                    self.deleted.dir += 1;
                } else {
                    self.deleted.reg += 1;
                }
                if self.itemize > 0 {
                    let mut line = DELETING.as_bytes().to_vec();
                    line.push(b' ');
                    line.extend_from_slice(&n);
                    self.out(&line);
                } else if self.verbose > 0 {
                    let mut line = b"deleting ".to_vec();
                    line.extend_from_slice(&n);
                    self.out(&line);
                }
            }
            Event::File { ndx, outcome } => {
                self.checked += 1;
                let (lit, mat) = match outcome {
                    FileOutcome::Sent { literal, matched }
                    | FileOutcome::Updated { literal, matched } => (*literal, *matched),
                    _ => return,
                };
                self.transferred += 1;
                let unseen = usize::try_from(*ndx)
                    .ok()
                    .and_then(|i| self.shown.get(i))
                    .is_some_and(|s| !s);
                if unseen {
                    // The transfer's own record was not reported as an event: show it as
                    // a plain transfer.
                    self.item(*ndx, iflags::TRANSFER, None, p.file_list);
                }
                self.literal += lit;
                self.matched += mat;
                let size = entry(*ndx).map_or(lit + mat, |e| e.size());
                self.transferred_size += size;
                if self.progress && !self.quiet {
                    let secs = self.started.elapsed().as_secs_f64().max(0.001);
                    let rate = (p.bytes_read + p.bytes_written) as f64 / secs / 1024.0;
                    let left = self.list_len.saturating_sub(self.checked);
                    self.out(
                        format!(
                            "{:>15} 100% {:>7.2}kB/s    0:00:00 (xfr#{}, to-chk={}/{})",
                            commas(size),
                            rate,
                            self.transferred,
                            left,
                            self.list_len
                        )
                        .as_bytes(),
                    );
                }
            }
            Event::Log { code, text } => {
                // The peer's information goes to stdout and its errors to stderr, as
                // rsync's client shows them.
                let text = text.strip_suffix(b"\n").unwrap_or(text);
                if *code == MsgCode::Info {
                    self.out(text);
                } else {
                    let mut e = std::io::stderr().lock();
                    let _ = e.write_all(text);
                    let _ = e.write_all(b"\n");
                }
            }
            _ => {}
        }
    }

    /// `--stats` and the `-v` footer.
    pub(crate) fn finish(&mut self, o: &Outcome) {
        let (sent, received) = (o.bytes_written, o.bytes_read);
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        if self.stats && !self.quiet {
            let lines = [
                String::new(),
                format!("Number of files: {}", self.list_kinds.show()),
                format!("Number of created files: {}", self.created.show()),
                format!("Number of deleted files: {}", self.deleted.show()),
                format!(
                    "Number of regular files transferred: {}",
                    commas(self.transferred)
                ),
                format!("Total file size: {} bytes", commas(self.total_size)),
                format!(
                    "Total transferred file size: {} bytes",
                    commas(self.transferred_size)
                ),
                format!("Literal data: {} bytes", commas(self.literal)),
                format!("Matched data: {} bytes", commas(self.matched)),
                "File list size: 0".to_string(),
                format!(
                    "File list generation time: {:.3} seconds",
                    o.stats.map_or(0.0, |s| s.flist_buildtime as f64 / 1000.0)
                ),
                format!(
                    "File list transfer time: {:.3} seconds",
                    o.stats.map_or(0.0, |s| s.flist_xfertime as f64 / 1000.0)
                ),
                format!("Total bytes sent: {}", commas(sent)),
                format!("Total bytes received: {}", commas(received)),
            ];
            for l in lines {
                self.out(l.as_bytes());
            }
        }
        if (self.verbose > 0 || self.stats) && !self.quiet {
            let total = sent + received;
            let speedup = if total == 0 {
                0.0
            } else {
                self.total_size as f64 / total as f64
            };
            self.out(b"");
            self.out(
                format!(
                    "sent {} bytes  received {} bytes  {} bytes/sec",
                    commas(sent),
                    commas(received),
                    commas_f(total as f64 / secs)
                )
                .as_bytes(),
            );
            let dry = if self.dry_run { " (DRY RUN)" } else { "" };
            self.out(
                format!(
                    "total size is {}  speedup is {}{dry}",
                    commas(self.total_size),
                    commas_f(speedup)
                )
                .as_bytes(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_like_rsync() {
        assert_eq!(commas(0), "0");
        assert_eq!(commas(999), "999");
        assert_eq!(commas(1000), "1,000");
        assert_eq!(commas(1_234_567), "1,234,567");
        assert_eq!(commas_f(710.0), "710.00");
        assert_eq!(commas_f(0.0549), "0.05");
        assert_eq!(commas_f(12345.678), "12,345.68");
        assert_eq!(commas_f(0.999), "1.00");
    }
}
