//! The server's stdin and stdout as async streams. A socket or pipe is driven by tokio's
//! reactor in non-blocking mode (`EAGAIN` just means "wait for readiness"), which saves a
//! thread hand-off per read and write; anything else (a file, a terminal) falls back to
//! tokio's blocking stdio with `O_NONBLOCK` cleared, since stock rsync may hand its server
//! a non-blocking stdout. [`restore`] puts the original flags back.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{fcntl_getfl, fcntl_setfl, FileType, OFlags};
use tokio::io::{AsyncRead, AsyncWrite};

/// Clears `O_NONBLOCK` on `fd`.
pub(crate) fn make_blocking(fd: BorrowedFd<'_>) {
    if let Ok(flags) = fcntl_getfl(fd) {
        if flags.contains(OFlags::NONBLOCK) {
            let _ = fcntl_setfl(fd, flags - OFlags::NONBLOCK);
        }
    }
}

/// The server's input.
pub(crate) type Reader = Box<dyn AsyncRead + Unpin + Send>;
/// The server's output.
pub(crate) type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// The flags of fds 0 and 1 before we changed them.
pub(crate) struct Saved(Option<OFlags>, Option<OFlags>);

fn kind(fd: BorrowedFd<'_>) -> Option<FileType> {
    rustix::fs::fstat(fd)
        .ok()
        .map(|st| FileType::from_raw_mode(st.st_mode))
}

fn dup(fd: BorrowedFd<'_>) -> Option<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(fd, 3).ok()
}

fn socket(fd: BorrowedFd<'_>) -> Option<tokio::net::UnixStream> {
    let s = std::os::unix::net::UnixStream::from(dup(fd)?);
    s.set_nonblocking(true).ok()?;
    tokio::net::UnixStream::from_std(s).ok()
}

/// Stdin and stdout, through the reactor when possible. Must run inside the runtime.
pub(crate) fn stdio() -> (Reader, Writer, Saved) {
    let (i, o) = (io::stdin(), io::stdout());
    let saved = Saved(fcntl_getfl(i.as_fd()).ok(), fcntl_getfl(o.as_fd()).ok());
    let reader: Reader = match kind(i.as_fd()) {
        Some(FileType::Socket) => socket(i.as_fd()).map(|s| Box::new(s) as Reader),
        Some(FileType::Fifo) => dup(i.as_fd())
            .and_then(|fd| tokio::net::unix::pipe::Receiver::from_owned_fd(fd).ok())
            .map(|p| Box::new(p) as Reader),
        _ => None,
    }
    .unwrap_or_else(|| {
        make_blocking(i.as_fd());
        Box::new(tokio::io::stdin())
    });
    let writer: Writer = match kind(o.as_fd()) {
        Some(FileType::Socket) => socket(o.as_fd()).map(|s| Box::new(s) as Writer),
        Some(FileType::Fifo) => dup(o.as_fd())
            .and_then(|fd| tokio::net::unix::pipe::Sender::from_owned_fd(fd).ok())
            .map(|p| Box::new(p) as Writer),
        _ => None,
    }
    .unwrap_or_else(|| {
        make_blocking(o.as_fd());
        Box::new(tokio::io::stdout())
    });
    (reader, writer, saved)
}

/// Puts back the flags [`stdio`] found.
pub(crate) fn restore(saved: &Saved) {
    if let Some(f) = saved.0 {
        let _ = fcntl_setfl(io::stdin().as_fd(), f);
    }
    if let Some(f) = saved.1 {
        let _ = fcntl_setfl(io::stdout().as_fd(), f);
    }
}
