//! The file being received: its basis, its temporary or in-place file, the block copies
//! and writes, the commit (rsync `recv_files`/`receive_data`), and the block sums of a basis.

use std::sync::Arc;

use rsync_core::Signature;
use rsync_proto::flist::{FileEntry, WirePath};
use rsync_proto::session::FsAnswer;

use super::super::basis;
use super::super::writer::{Job, Writer};
use super::{fs_fail, name_str, ReceiverFs};
use crate::fs::Basis;

/// A file being received (its temporary or in-place file is the [`Writer`]'s).
pub(super) struct Incoming {
    pub(super) ndx: i32,
    pub(super) basis: Option<Basis>,
    /// `--inplace`: where the file stands.
    pub(super) inplace: Option<InPlace>,
    /// Basis bytes read ahead for [`rsync_proto::session::FsRequest::CopyFromBasis`].
    window: basis::Window,
}

/// An in-place update in progress, as the receiver sees it.
#[derive(Debug, Default)]
pub(super) struct InPlace {
    /// Bytes handed to the writer (written or skipped) so far: the write position.
    pos: u64,
    /// The last block copy was of the block at the write position (rsync's "seek" in
    /// `receive_data`): the write of its bytes, which comes next, is skipped.
    same_offset: Option<u64>,
    /// The file could not be opened for writing (reported): its data is dropped.
    unwritable: bool,
}

impl ReceiverFs {
    /// With `--inplace`, waits for the writer if it still writes the inode `(dev, ino)`
    /// in place; `true` if it did.
    pub(super) fn busy_in_place(&mut self, dev: u64, ino: u64) -> bool {
        match &mut self.writer {
            Some(w) if self.opts.inplace => w.busy_inode(dev, ino),
            _ => false,
        }
    }

    /// The block sums of the basis (see [`basis::signature_of`]).
    pub(super) fn signature(
        &mut self,
        ndx: i32,
        path: &WirePath,
        head: rsync_core::SumHead,
    ) -> FsAnswer {
        let basis = self
            .local(path)
            .ok()
            .flatten()
            .zip(self.dest.as_ref())
            .map(|(rel, dest)| dest.open_basis(&rel));
        if let Some(Ok(b)) = &basis {
            let (dev, ino) = (b.meta().dev, b.meta().ino);
            self.busy_in_place(dev, ino);
        }
        let signature = match basis {
            Some(Ok(basis)) => {
                let (sig, err) = basis::signature_of(&basis, head, self.strong);
                if let Some(e) = err {
                    self.fail(&fs_fail(&e));
                }
                sig
            }
            _ => Signature::with_head(head),
        };
        FsAnswer::Signature { ndx, signature }
    }

    /// The file `ndx` being received.
    fn incoming_mut(&mut self, ndx: i32) -> Option<&mut Incoming> {
        self.incoming.iter_mut().find(|i| i.ndx == ndx)
    }

    /// Stops receiving file `ndx` (it is committed or discarded).
    pub(super) fn take_incoming(&mut self, ndx: i32) -> Option<Incoming> {
        let i = self.incoming.iter().position(|i| i.ndx == ndx)?;
        Some(self.incoming.remove(i))
    }

    /// Starts receiving `path`: opens its basis (unless the generator found none) and hands
    /// the file to the writer. With `--inplace` (rsync `recv_files`) the destination file
    /// itself is opened for writing, without truncation, or created under its final name
    /// when there was none; its basis is the same file, read through a second descriptor
    /// that must name the same inode.
    ///
    /// `from` (a constant mirror's [`FsRequest::BeginFileFrom`]) names the basis instead:
    /// another file, opened now. A session receiver receives one file at a time (a new one
    /// drops an unfinished one); a constant mirror up to its `max_open` files, each under
    /// its own index.
    ///
    /// [`FsRequest::BeginFileFrom`]: rsync_proto::session::FsRequest::BeginFileFrom
    pub(super) fn begin(
        &mut self,
        ndx: i32,
        path: &WirePath,
        from: Option<&WirePath>,
    ) -> Result<(), String> {
        let max_open = self.constant.as_ref().map_or(1, |c| c.max_open);
        if self.constant.is_none() {
            self.incoming.clear();
        } else {
            self.take_incoming(ndx);
            if self.incoming.len() >= max_open {
                return Err(format!(
                    "cannot receive {}: {max_open} files are being received already",
                    name_str(path.as_bytes())
                ));
            }
        }
        let rel = self
            .local(path)?
            .ok_or("cannot write to the transfer root")?;
        let basis_rel = match from {
            Some(b) => Some(self.local(b)?.ok_or("the transfer root is not a basis")?),
            None => None,
        };
        let Some(dest) = self.dest.clone() else {
            return Err("no destination".into());
        };
        let absent = self.absent.remove(&ndx);
        if let Some(w) = &mut self.writer {
            if !absent || self.opts.inplace {
                w.settle(&rel);
            }
            if let Some(b) = &basis_rel {
                w.settle(b);
            }
        }
        let basis = match (&basis_rel, absent) {
            (Some(b), _) => dest.open_basis(b).ok(),
            (None, true) => None,
            (None, false) => dest.open_basis(&rel).ok(),
        };
        if self.writer.is_none() {
            let log = self.constant.as_ref().map(|c| Arc::clone(&c.log));
            let w = Writer::spawn_with(Arc::clone(&dest), self.failures.clone(), max_open, log)
                .map_err(|e| format!("cannot start the writing thread: {e}"))?;
            self.writer = Some(w);
        }
        if !self.opts.inplace {
            if let Some(w) = &mut self.writer {
                // Absent when asked about (and no other basis): written with no name until
                // it is complete.
                let fresh = absent && basis_rel.is_none();
                w.send(Job::Begin { ndx, rel, fresh });
            }
            self.incoming.push(Incoming {
                ndx,
                basis,
                inplace: None,
                window: basis::Window::default(),
            });
            return Ok(());
        }
        if let (Some(w), Some(b)) = (&mut self.writer, &basis) {
            // A hard link of a file still being written in place: its writes first.
            w.busy_inode(b.meta().dev, b.meta().ino);
        }
        let opened = dest
            .open_in_place(&rel, basis.is_none())
            .map_err(|e| fs_fail(&e))
            .and_then(|f| match &basis {
                Some(b) if (b.meta().dev, b.meta().ino) != (f.meta().dev, f.meta().ino) => {
                    Err(format!(
                        "{} changed while it was being opened",
                        name_str(rel.as_bytes())
                    ))
                }
                _ => Ok(f),
            });
        let mut state = InPlace::default();
        let result = match opened {
            Ok(file) => {
                if let Some(w) = &mut self.writer {
                    w.send(Job::BeginInPlace { ndx, file });
                }
                Ok(())
            }
            Err(msg) => {
                // rsync: "open … failed"; the data is still received (and verified), and
                // dropped.
                state.unwritable = true;
                Err(msg)
            }
        };
        self.incoming.push(Incoming {
            ndx,
            basis,
            inplace: Some(state),
            window: basis::Window::default(),
        });
        result
    }

    /// A `Write` of the incoming file: handed to the writer, or (in place) skipped when it
    /// carries a block copied from where it already is.
    pub(super) fn write(&mut self, ndx: i32, data: Vec<u8>) {
        let Some(inc) = self.incoming_mut(ndx) else {
            return;
        };
        let len = data.len() as u64;
        let job = match &mut inc.inplace {
            None => Job::Write { ndx, data },
            Some(ip) => {
                let same = ip.same_offset.take() == Some(len);
                ip.pos += len;
                if ip.unwritable {
                    return;
                }
                if same {
                    Job::Skip { ndx, len }
                } else {
                    Job::Write { ndx, data }
                }
            }
        };
        if let Some(w) = &mut self.writer {
            w.send(job);
        }
    }

    pub(super) fn commit(&mut self, ndx: i32, entry: &FileEntry) -> Result<(), String> {
        let Some(inc) = self.take_incoming(ndx) else {
            return Err(format!(
                "commit of {} without data",
                name_str(entry.name.as_bytes())
            ));
        };
        if inc.inplace.as_ref().is_some_and(|ip| ip.unwritable) {
            // Its open failed and was reported: nothing was written.
            return Ok(());
        }
        let existing = inc.basis.as_ref().map(|b| *b.meta());
        let attrs = self.attrs(entry, existing.as_ref());
        if let Some(w) = &mut self.writer {
            w.send(Job::Commit { ndx, attrs });
        }
        Ok(())
    }

    /// Basis bytes for a block copy. In place, the basis is the file being written: a copy
    /// from before the write position (which a sender updating the basis never asks for,
    /// except for a block it matched at its own offset) reads what the writes put there, so
    /// the writer finishes them first and the read-ahead is dropped; a copy from the write
    /// position itself needs no write (see [`Self::write`]).
    pub(super) fn copy_from_basis(&mut self, ndx: i32, offset: u64, len: u32) -> FsAnswer {
        let Some(inc) = self.incoming.iter_mut().find(|i| i.ndx == ndx) else {
            return FsAnswer::Copied {
                ndx,
                data: Vec::new(),
            };
        };
        if let Some(ip) = &inc.inplace {
            if offset < ip.pos {
                if let Some(w) = &mut self.writer {
                    w.drain();
                }
                inc.window.clear();
            }
        }
        let data = match &inc.basis {
            Some(basis) => inc.window.copy(basis, offset, len as usize),
            None => Vec::new(),
        };
        if let Some(ip) = &mut inc.inplace {
            ip.same_offset =
                (offset == ip.pos && data.len() == len as usize).then_some(u64::from(len));
        }
        FsAnswer::Copied { ndx, data }
    }
}
