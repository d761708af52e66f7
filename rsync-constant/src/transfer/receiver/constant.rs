//! [`ReceiverFs`] as the executor of a long-lived constant mirror (RFC.md §15.5–§15.8): the
//! destination opened at once, several files received at once
//! ([`FsRequest::BeginFileFrom`] names a basis by another name), [`FsRequest::Remove`]
//! beneath the destination handle, and [`FsRequest::Settle`], which answers once the
//! index's files are written and renamed into place, with the first failure of the index
//! since its previous `Settle`.
//!
//! # What a mirror that runs for months keeps
//! Failures wait in a bounded [`FailLog`] (taken by `Settle`); the indexes found absent
//! are forgotten at their `Settle` and bounded; the user and group name caches start over when full; files in progress
//! are at most `max_open`; the destination's directory handles are dropped at every
//! `Settle`, so that the next change resolves its parents afresh (a directory a third party
//! removed or renamed is never written through an old handle across a settle point).
//!
//! # A burst of `Settle`s
//! The mirror issues the `Settle`s of the changes ready at about the same time together
//! (rsync-proto's `Mirror`, "Acknowledgements in bursts"). The first of a run waits for the
//! writing thread and drops the handles; the others find the thread idle and no handle
//! cached, and cost no system call: a burst costs one wait, not one per change.

use std::path::PathBuf;
use std::sync::Arc;

use rsync_core::checksum::StrongSum;
use rsync_proto::flist::WirePath;
use rsync_proto::session::{FsAnswer, FsRequest};
use rustix::io::Errno;

use super::super::settle::FailLog;
use super::{fs_fail, Failures, ReceiverFs, ReceiverOptions};
use crate::fs::{Destination, FsError, Op};

/// What a constant mirror adds to a receiver.
pub(super) struct ConstantState {
    /// Failures by index, until their `Settle`.
    pub(super) log: Arc<FailLog>,
    /// Most files received at once.
    pub(super) max_open: usize,
}

/// The index a request names (its failures are recorded under it).
pub(super) fn ndx_of(r: &FsRequest) -> Option<i32> {
    match r {
        FsRequest::ReadFile { ndx, .. }
        | FsRequest::Basis { ndx, .. }
        | FsRequest::Signature { ndx, .. }
        | FsRequest::BeginFile { ndx, .. }
        | FsRequest::BeginFileFrom { ndx, .. }
        | FsRequest::Write { ndx, .. }
        | FsRequest::CopyFromBasis { ndx, .. }
        | FsRequest::Commit { ndx, .. }
        | FsRequest::Discard { ndx }
        | FsRequest::Mkdir { ndx, .. }
        | FsRequest::Symlink { ndx, .. }
        | FsRequest::SetMeta { ndx, .. }
        | FsRequest::Mknod { ndx, .. }
        | FsRequest::HardLink { ndx, .. }
        | FsRequest::ListDir { ndx, .. }
        | FsRequest::Stat { ndx, .. }
        | FsRequest::Remove { ndx, .. }
        | FsRequest::Settle { ndx } => Some(*ndx),
        _ => None,
    }
}

/// Whether `e` says the path is not there: missing, or a parent that is not a directory
/// (or is a symlink, which is never followed).
fn is_absent(e: &FsError) -> bool {
    let absent = [Errno::NOENT, Errno::NOTDIR, Errno::LOOP];
    e.errno()
        .is_some_and(|n| absent.iter().any(|a| a.raw_os_error() == n))
}

impl ReceiverFs {
    /// The executor of a constant mirror writing beneath `dest` (created, one level, when
    /// missing), receiving up to `max_open` files at once (the role's
    /// `ConstantConfig::max_open_files`). `--inplace` does not apply: files are always
    /// written to a temporary name and renamed.
    ///
    /// # Errors
    /// [`Op::OpenDestination`] or [`Op::Mkdir`] when the destination cannot be made or
    /// opened.
    pub fn for_constant(
        dest: PathBuf,
        strong: StrongSum,
        mut opts: ReceiverOptions,
        failures: Failures,
        max_open: usize,
    ) -> Result<Self, FsError> {
        opts.inplace = false;
        let created = match std::fs::symlink_metadata(&dest) {
            Ok(_) => false,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !opts.dry_run => {
                std::fs::create_dir(&dest)
                    .map_err(|e| FsError::io(Op::Mkdir, dest.to_string_lossy(), e))?;
                true
            }
            Err(_) => false,
        };
        let d = Destination::open(&dest)?;
        let mut r = Self::new(dest, strong, opts, failures);
        r.dest = Some(Arc::new(d));
        r.created_dest = created;
        r.constant = Some(ConstantState {
            log: Arc::new(FailLog::default()),
            max_open: max_open.max(1),
        });
        Ok(r)
    }

    /// [`FsRequest::Remove`]: `path` and everything beneath it, never following a symlink,
    /// through handles opened beneath the destination; a path that is not there (or whose
    /// parent is not a directory) is not an error.
    pub(super) fn remove_beneath(&mut self, path: &WirePath) -> Result<(), String> {
        let rel = self
            .local(path)?
            .ok_or("refusing to remove the transfer root")?;
        let Some(dest) = &self.dest else {
            return Ok(());
        };
        match dest.remove_all(&rel) {
            Ok(()) => Ok(()),
            // Gone (perhaps partly by someone else meanwhile): done if nothing is left.
            Err(e) => match dest.try_lstat(&rel) {
                Ok(None) => Ok(()),
                Err(e2) if is_absent(&e2) => Ok(()),
                _ => Err(format!("delete_file: {}", fs_fail(&e))),
            },
        }
    }

    /// [`FsRequest::Settle`]: waits for the writing thread to finish every job it was given
    /// (every earlier request has then taken effect: the others ran synchronously), drops
    /// the cached directory handles, then answers with the first failure recorded for `ndx`
    /// since its previous `Settle`. Right after another `Settle` both steps are free: the
    /// thread has nothing outstanding (`drain` only reads a counter) and the cache is empty.
    pub(super) fn settled(&mut self, ndx: i32) -> FsAnswer {
        if let Some(w) = &mut self.writer {
            w.drain();
        }
        if let Some(d) = &self.dest {
            d.forget_all();
        }
        self.absent.remove(&ndx);
        let error = self
            .constant
            .as_ref()
            .and_then(|c| c.log.take(ndx))
            .map(String::into_bytes);
        FsAnswer::Settled { ndx, error }
    }

    /// Failures waiting for their `Settle`, and files being received (tests).
    #[cfg(test)]
    pub(crate) fn constant_state(&self) -> (usize, usize) {
        let failures = self.constant.as_ref().map_or(0, |c| c.log.len());
        (failures, self.incoming.len())
    }
}
