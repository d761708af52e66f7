//! File plumbing for `rsync-delta`: `-` as stdin/stdout, the basis size as rdiff sees it,
//! refusing to overwrite without `--force`, and writing regular files through a temporary
//! file renamed into place on success.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

/// Read and write buffer size.
pub(crate) const BUF_LEN: usize = 1 << 20;

/// Whether a command-line path names stdin/stdout.
pub(crate) fn is_stdio(path: Option<&Path>) -> bool {
    path.is_none_or(|p| p.as_os_str() == "-")
}

/// Shows a path for messages (`-` for stdio); lossy only for display.
pub(crate) fn show(path: Option<&Path>) -> String {
    match path {
        Some(p) if !is_stdio(Some(p)) => format!("\"{}\"", p.display()),
        _ => "standard input/output".to_owned(),
    }
}

/// An input file or stdin, with its size when it is a regular file.
pub(crate) struct Input {
    /// The open file (stdin is a duplicate of descriptor 0, so it can be `fstat`ed and read
    /// at offsets when it is redirected from a file).
    pub(crate) file: File,
    /// The size, if the input is a regular file (rdiff's `rs_file_size`).
    pub(crate) size: Option<u64>,
}

impl Input {
    /// Opens `path`, or stdin for `-` or no path.
    pub(crate) fn open(path: Option<&Path>) -> Result<Self> {
        let file = if is_stdio(path) {
            let fd = io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .context("cannot use standard input")?;
            File::from(fd)
        } else {
            let p = path.unwrap_or(Path::new("-"));
            File::open(p).with_context(|| format!("cannot open {} for reading", show(path)))?
        };
        let meta = file
            .metadata()
            .with_context(|| format!("cannot stat {}", show(path)))?;
        let size = meta.is_file().then_some(meta.len());
        if meta.is_dir() {
            bail!("{} is a directory", show(path));
        }
        Ok(Self { file, size })
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub(crate) fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Where the output goes.
enum Sink {
    Stdout(BufWriter<io::Stdout>),
    /// Written directly (an existing non-regular file such as a FIFO or `/dev/null`).
    Direct(BufWriter<File>),
    /// A temporary file renamed onto `target` by [`Output::commit`].
    Temp {
        w: BufWriter<File>,
        tmp: PathBuf,
        target: PathBuf,
    },
}

/// An output file or stdout. Dropping it without [`commit`](Self::commit) removes the
/// temporary file, so a failed run leaves no partial output behind.
pub(crate) struct Output {
    sink: Option<Sink>,
}

fn temp_name(target: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or(OsStr::new("out")));
    name.push(format!(".rsync-delta.{}.tmp", std::process::id()));
    target.with_file_name(name)
}

impl Output {
    /// Opens `path` (stdout for `-` or no path), refusing to replace an existing file unless
    /// `force`.
    pub(crate) fn create(path: Option<&Path>, force: bool) -> Result<Self> {
        let Some(target) = path.filter(|p| !is_stdio(Some(p))) else {
            return Ok(Self {
                sink: Some(Sink::Stdout(BufWriter::with_capacity(
                    BUF_LEN,
                    io::stdout(),
                ))),
            });
        };
        let existing = fs::metadata(target).ok();
        if existing.is_some() && !force {
            bail!("{} exists, not overwriting (use --force)", show(path));
        }
        if let Some(meta) = existing.filter(|m| !m.is_file()) {
            if meta.is_dir() {
                bail!("{} is a directory", show(path));
            }
            let f = OpenOptions::new()
                .write(true)
                .open(target)
                .with_context(|| format!("cannot open {} for writing", show(path)))?;
            return Ok(Self {
                sink: Some(Sink::Direct(BufWriter::with_capacity(BUF_LEN, f))),
            });
        }
        let tmp = temp_name(target);
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("cannot create a temporary file next to {}", show(path)))?;
        Ok(Self {
            sink: Some(Sink::Temp {
                w: BufWriter::with_capacity(BUF_LEN, f),
                tmp,
                target: target.to_path_buf(),
            }),
        })
    }

    /// Flushes and, for a regular file, renames the temporary file into place (without
    /// `fsync`, like rdiff, which writes in place).
    pub(crate) fn commit(mut self) -> Result<()> {
        match self.sink.take() {
            Some(Sink::Stdout(mut w)) => w.flush().context("cannot write standard output"),
            Some(Sink::Direct(mut w)) => w.flush().context("cannot write output"),
            Some(Sink::Temp { w, tmp, target }) => {
                let done = w
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .and_then(|_| fs::rename(&tmp, &target));
                if let Err(e) = done {
                    let _ = fs::remove_file(&tmp);
                    return Err(e).with_context(|| format!("cannot write {}", show(Some(&target))));
                }
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.sink {
            Some(Sink::Stdout(w)) => w.write(buf),
            Some(Sink::Direct(w)) | Some(Sink::Temp { w, .. }) => w.write(buf),
            None => Err(io::Error::other("output already closed")),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.sink {
            Some(Sink::Stdout(w)) => w.write_all(buf),
            Some(Sink::Direct(w)) | Some(Sink::Temp { w, .. }) => w.write_all(buf),
            None => Err(io::Error::other("output already closed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Some(Sink::Stdout(w)) => w.flush(),
            Some(Sink::Direct(w)) | Some(Sink::Temp { w, .. }) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some(Sink::Temp { tmp, .. }) = &self.sink {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Reads a file on a second thread, one `chunk`-sized buffer ahead of the consumer, so that
/// reading overlaps hashing. Buffers are recycled, so memory stays at a few chunks.
pub(crate) struct ReadAhead {
    full: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    empty: std::sync::mpsc::SyncSender<Vec<u8>>,
}

impl ReadAhead {
    /// Starts reading `file` in pieces of `chunk` bytes (the last may be shorter).
    pub(crate) fn new(mut file: File, chunk: usize) -> Self {
        use std::sync::mpsc::sync_channel;
        let (full_tx, full) = sync_channel(2);
        let (empty, empty_rx) = sync_channel::<Vec<u8>>(4);
        for _ in 0..3 {
            let _ = empty.send(vec![0u8; chunk]);
        }
        std::thread::spawn(move || {
            while let Ok(mut buf) = empty_rx.recv() {
                buf.resize(chunk, 0);
                let r = fill(&mut file, &mut buf).map(|n| {
                    buf.truncate(n);
                    buf
                });
                let done = !matches!(&r, Ok(b) if !b.is_empty());
                if full_tx.send(r).is_err() || done {
                    break;
                }
            }
        });
        Self { full, empty }
    }

    /// The next piece, or `None` at the end of the file.
    pub(crate) fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        match self.full.recv() {
            Ok(Ok(b)) if b.is_empty() => Ok(None),
            Ok(Ok(b)) => Ok(Some(b)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("the reader thread stopped")),
        }
    }

    /// Hands a consumed piece back for reuse.
    pub(crate) fn recycle(&self, buf: Vec<u8>) {
        let _ = self.empty.send(buf);
    }
}
