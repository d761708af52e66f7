//! The generator half of the receiving role: walks the sorted list, decides what to
//! request, and writes the requests.
//!
//! Spec: RFC.md §10 `[gen-request]`. Reference: rsync `generate_files`, `recv_generator`,
//! `generate_and_send_sums` (generator.c).

use std::collections::VecDeque;

use rsync_core::block_size::{SizeRule, SHORT_SUM_LENGTH, SUM_LENGTH};
use rsync_core::{Signature, SumHead};

use super::super::types::{
    iflags, BasisMeta, Event, FileOutcome, FsAnswer, FsRequest, SessionError,
};
use super::Receiver;
use crate::sums::{encode_block_sums, encode_sum_head};
use crate::wire::{WireWrite, NDX_DONE};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for the file list.
    #[default]
    Idle,
    /// The first pass, at this position of the sorted list.
    Initial(usize),
    /// Waiting for the sender's first NDX_DONE echo.
    AwaitRedo,
    /// The redo pass.
    Redo,
    /// Every NDX_DONE but the goodbye is written.
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Basis(i32),
    Signature(i32, SumHead, u16),
}

/// Generator state.
#[derive(Debug, Default)]
pub(super) struct Generator {
    stage: Stage,
    redo: VecDeque<i32>,
    redo_ready: bool,
    wait: Option<Wait>,
}

impl Generator {
    pub(super) fn start(&mut self) {
        self.stage = Stage::Initial(0);
    }

    /// The redo queue is final (the sender's first NDX_DONE has been read).
    pub(super) fn start_redo(&mut self, redo: Vec<i32>) {
        self.redo.extend(redo);
        self.redo_ready = true;
        if self.stage == Stage::AwaitRedo {
            self.stage = Stage::Redo;
        }
    }
}

impl Receiver {
    /// One generator step; `false` when it waits (for an answer, the peer, or nothing).
    pub(super) fn gen_step(&mut self) -> Result<bool, SessionError> {
        if self.gen.wait.is_some() {
            return Ok(false);
        }
        let p = self.core.protocol();
        match self.gen.stage {
            Stage::Idle | Stage::AwaitRedo | Stage::Finished => Ok(false),
            Stage::Initial(i) if i >= self.list.len() => {
                // End of phase 0.
                self.core.write_ndx(NDX_DONE);
                self.gen.stage = if self.gen.redo_ready {
                    Stage::Redo
                } else {
                    Stage::AwaitRedo
                };
                Ok(true)
            }
            Stage::Initial(i) => {
                self.gen.stage = Stage::Initial(i + 1);
                let ndx = i as i32;
                let Some(entry) = self.list[i].clone() else {
                    return Ok(true);
                };
                if entry.is_dir() {
                    self.core.fs.push_back(FsRequest::Mkdir { ndx, entry });
                    self.itemize(ndx, iflags::IS_NEW | iflags::LOCAL_CHANGE);
                } else if entry.is_symlink() {
                    self.core.fs.push_back(FsRequest::Symlink { ndx, entry });
                    self.itemize(ndx, iflags::IS_NEW | iflags::LOCAL_CHANGE);
                } else if entry.is_regular() {
                    self.core.fs.push_back(FsRequest::Basis {
                        ndx,
                        path: entry.name,
                        checksum: None,
                    });
                    self.gen.wait = Some(Wait::Basis(ndx));
                }
                Ok(true)
            }
            Stage::Redo => {
                if let Some(ndx) = self.gen.redo.pop_front() {
                    let path = self.entry(ndx)?.name.clone();
                    self.core.fs.push_back(FsRequest::Basis {
                        ndx,
                        path,
                        checksum: None,
                    });
                    self.gen.wait = Some(Wait::Basis(ndx));
                    return Ok(true);
                }
                // End of the redo phase (generator.c: phase 1, then the delay-updates
                // phase from 29, then the early late-delete marker from 31).
                self.core.write_ndx(NDX_DONE);
                if p >= 29 {
                    self.core.write_ndx(NDX_DONE);
                }
                if p >= 31 {
                    self.core.write_ndx(NDX_DONE);
                }
                self.gen.stage = Stage::Finished;
                Ok(true)
            }
        }
    }

    /// Wire: `[itemize]`: an index and flags without `ITEM_TRANSFER` (protocol ≥ 29).
    fn itemize(&mut self, ndx: i32, flags: u16) {
        if self.core.protocol() >= 29 {
            self.core.write_ndx(ndx);
            self.core.out().put_shortint(flags);
        }
    }

    /// Handles a Basis or Signature answer.
    pub(super) fn gen_answer(&mut self, answer: FsAnswer) -> Result<(), SessionError> {
        match (answer, self.gen.wait) {
            (FsAnswer::Basis { ndx, meta }, Some(Wait::Basis(w))) if w == ndx => {
                self.gen.wait = None;
                let redo = self.gen.stage == Stage::Redo;
                let entry = self.entry(ndx)?.clone();
                let opts = &self.core.opts;
                let Some(meta) = meta.filter(BasisMeta::is_regular) else {
                    let head = SumHead::EMPTY;
                    let flags = iflags::TRANSFER | iflags::IS_NEW;
                    self.request(ndx, &Signature::with_head(head), flags);
                    return Ok(());
                };
                if !redo
                    && !opts.ignore_times
                    && meta.size == entry.size
                    && meta.mtime == entry.mtime
                {
                    self.core.events.push_back(Event::File {
                        ndx,
                        outcome: FileOutcome::UpToDate,
                    });
                    return Ok(());
                }
                // itemize(): what differs from the basis.
                let mut flags = iflags::TRANSFER;
                if meta.size != entry.size {
                    flags |= iflags::REPORT_SIZE;
                }
                if meta.mtime != entry.mtime {
                    flags |= iflags::REPORT_TIME;
                }
                let rule = SizeRule {
                    protocol: u32::from(opts.protocol),
                    block_size: opts.block_size,
                    csum_length: if redo { SUM_LENGTH } else { SHORT_SUM_LENGTH },
                    digest_len: opts.strong.digest_len() as u32,
                };
                let head = if opts.whole_file {
                    None
                } else {
                    rule.sum_head(meta.size)
                };
                let head = head.unwrap_or(SumHead::EMPTY);
                if head.count == 0 {
                    self.request(ndx, &Signature::with_head(head), flags);
                    return Ok(());
                }
                self.core.fs.push_back(FsRequest::Signature {
                    ndx,
                    path: entry.name,
                    head,
                });
                self.gen.wait = Some(Wait::Signature(ndx, head, flags));
                Ok(())
            }
            (FsAnswer::Signature { ndx, signature }, Some(Wait::Signature(w, head, flags)))
                if w == ndx =>
            {
                if signature.head() != head || signature.len() != head.count as usize {
                    return Err(SessionError::UnexpectedAnswer {
                        what: "signature for another sum header",
                    });
                }
                self.gen.wait = None;
                self.request(ndx, &signature, flags);
                Ok(())
            }
            _ => Err(SessionError::UnexpectedAnswer {
                what: "not a receiver answer",
            }),
        }
    }

    /// Wire: `[gen-request]`: ndx, iflags (≥ 29), sum header, block sums.
    fn request(&mut self, ndx: i32, sig: &Signature, flags: u16) {
        self.core.write_ndx(ndx);
        if self.core.protocol() >= 29 {
            self.core.out().put_shortint(flags);
        }
        let head = sig.head();
        encode_sum_head(&head, self.core.out());
        encode_block_sums(sig, self.core.out());
        self.requested.insert(ndx, head);
    }
}
