//! A mirror's file data (RFC.md §15.5): `SUMS`/`SUMS_MORE` out, `DATA` tokens applied with
//! rsync_core's [`Applier`], `DATA_END` verified and committed, one whole-file retry on a
//! checksum mismatch, `ABORT`.

use rsync_core::{Applier, ApplyError, Signature, SumHead, Token};

use super::{Job, Kind, Mirror, Step, Want};
use crate::constant::config::{ndx_of, ConstantError, STATUS_PARTIAL, STATUS_VANISHED};
use crate::constant::record::{MirrorRecord, MAX_RECORD_LEN};
use crate::flist::WirePath;
use crate::mux::MsgCode;
use crate::session::FsRequest;
use crate::token::{decode_token, TokenEvent};
use crate::wire::WireReader;

/// Room kept in a record for the id and the sum head.
const SUMS_OVERHEAD: usize = 64;

/// A file waiting for, or receiving, its data.
#[derive(Debug)]
pub(super) struct Transfer {
    /// The file copies read from (`None`: whole file).
    basis: Option<WirePath>,
    /// `None` once a basis read came back short (the file is then redone whole).
    applier: Option<Applier>,
    /// The temporary file is open.
    begun: bool,
    /// The whole-file retry was asked for.
    retried: bool,
    /// Paths marked busy for this transfer.
    marked: Vec<WirePath>,
}

/// The rest of a `DATA` record whose application waits for basis bytes.
#[derive(Debug)]
pub(super) struct Recv {
    id: u64,
    tokens: Vec<u8>,
    pos: usize,
}

fn unknown(record: &'static str, id: u64) -> ConstantError {
    ConstantError::UnknownId { record, id }
}

impl Mirror {
    /// The basis signature is known: send it and wait for the data.
    pub(super) fn signature(
        &mut self,
        id: u64,
        basis: WirePath,
        head: SumHead,
        sig: &Signature,
    ) -> Result<(), ConstantError> {
        if sig.head() != head || sig.len() != head.count as usize {
            // The basis changed since its lstat (another process, or a deletion that took
            // a deferred file with it): send the whole file.
            return self.start_data(id, None, SumHead::EMPTY);
        }
        self.send_sums(id, sig);
        self.data_phase(id, Some(basis), head)
    }

    /// Sends `SUMS` with as many block sums as fit, the rest in `SUMS_MORE` records.
    fn send_sums(&mut self, id: u64, sig: &Signature) {
        let head = sig.head();
        let n = head.strong_len as usize;
        let per = (4 + n).max(1);
        let fit = (MAX_RECORD_LEN - SUMS_OVERHEAD) / per;
        let mut chunk = Vec::new();
        let mut first = true;
        let strong = sig.strong_sums();
        for (i, &weak) in sig.weak_sums().iter().enumerate() {
            chunk.extend_from_slice(&weak.to_le_bytes());
            chunk.extend_from_slice(strong.get(i * n..(i + 1) * n).unwrap_or_default());
            if chunk.len() / per == fit {
                self.sums_record(id, head, &mut first, std::mem::take(&mut chunk));
            }
        }
        if first || !chunk.is_empty() {
            self.sums_record(id, head, &mut first, chunk);
        }
    }

    fn sums_record(&mut self, id: u64, head: SumHead, first: &mut bool, sums: Vec<u8>) {
        let rec = if *first {
            MirrorRecord::Sums { id, head, sums }
        } else {
            MirrorRecord::SumsMore { id, sums }
        };
        *first = false;
        self.send(&rec);
    }

    /// No basis (or `-W`): ask for the whole file.
    pub(super) fn start_data(
        &mut self,
        id: u64,
        basis: Option<WirePath>,
        head: SumHead,
    ) -> Result<(), ConstantError> {
        self.send_sums(id, &Signature::with_head(head));
        self.data_phase(id, basis, head)
    }

    fn data_phase(
        &mut self,
        id: u64,
        basis: Option<WirePath>,
        head: SumHead,
    ) -> Result<(), ConstantError> {
        let applier = Applier::new(head, self.opts.strong, self.opts.limits)?;
        let Some(Kind::Entry { entry, .. }) = self.jobs.get(&id).map(|j| &j.kind) else {
            return Ok(());
        };
        let mut marked = vec![entry.name.clone()];
        marked.extend(basis.clone().filter(|b| *b != entry.name));
        for p in &marked {
            self.busy.mark(p.as_bytes(), true);
        }
        let t = Transfer {
            basis,
            applier: Some(applier),
            begun: false,
            retried: false,
            marked,
        };
        self.set_step(id, Step::Data(Box::new(t)));
        self.decided(id);
        Ok(())
    }

    fn transfer_mut(
        &mut self,
        id: u64,
        record: &'static str,
    ) -> Result<&mut Transfer, ConstantError> {
        match self.jobs.get_mut(&id) {
            Some(Job {
                step: Step::Data(t),
                ..
            }) => Ok(t),
            _ => Err(unknown(record, id)),
        }
    }

    /// Opens the temporary file at the first `DATA` (or `DATA_END`).
    fn begin_file(&mut self, id: u64, record: &'static str) -> Result<(), ConstantError> {
        let max = self.cfg.max_open_files;
        let open = self.open_files;
        let name = match self.jobs.get(&id) {
            Some(Job {
                kind: Kind::Entry { entry, .. },
                ..
            }) => entry.name.clone(),
            _ => return Err(unknown(record, id)),
        };
        let t = self.transfer_mut(id, record)?;
        if t.begun {
            return Ok(());
        }
        if open >= max {
            return Err(ConstantError::TooManyOpenFiles { max });
        }
        t.begun = true;
        let ndx = ndx_of(id);
        let r = match t.basis.clone() {
            Some(b) if b != name => FsRequest::BeginFileFrom {
                ndx,
                path: name,
                basis: b,
            },
            _ => FsRequest::BeginFile { ndx, path: name },
        };
        self.open_files += 1;
        self.request(r);
        Ok(())
    }

    /// `DATA`: apply the tokens.
    pub(super) fn data(&mut self, id: u64, tokens: Vec<u8>) -> Result<(), ConstantError> {
        self.begin_file(id, "DATA")?;
        self.apply(Recv { id, tokens, pos: 0 })
    }

    /// Applies tokens until the record ends or a copy needs basis bytes.
    fn apply(&mut self, mut r: Recv) -> Result<(), ConstantError> {
        let (sum_len, limits) = (self.ctx.file_sum_len, self.ctx.limits);
        let ndx = ndx_of(r.id);
        loop {
            let rest = r.tokens.get(r.pos..).unwrap_or_default();
            if rest.is_empty() {
                return Ok(());
            }
            let mut rd = WireReader::new(rest);
            let ev = decode_token(&mut rd, sum_len, &limits)
                .map_err(|e| ConstantError::Record(e.into()))?;
            let used = rd.position();
            let t = self.transfer_mut(r.id, "DATA")?;
            match ev {
                TokenEvent::Token(Token::Literal(data)) => {
                    let Some(a) = &mut t.applier else {
                        r.pos += used;
                        continue;
                    };
                    a.literal(data)?;
                    let data = data.to_vec();
                    r.pos += used;
                    self.request(FsRequest::Write { ndx, data });
                }
                TokenEvent::Token(Token::Copy(i)) => {
                    r.pos += used;
                    let Some(a) = &mut t.applier else {
                        continue;
                    };
                    let range = a.copy(u64::from(i))?;
                    let req = FsRequest::CopyFromBasis {
                        ndx,
                        offset: range.offset,
                        len: range.len,
                    };
                    self.ask(r.id, req, Want::Copied);
                    self.recv = Some(r);
                    return Ok(());
                }
                TokenEvent::End { .. } => {
                    return Err(ConstantError::Unexpected {
                        record: "DATA",
                        why: "end token",
                    })
                }
            }
        }
    }

    /// Basis bytes for the paused `DATA` record.
    pub(super) fn copied(&mut self, id: u64, data: Vec<u8>) -> Result<(), ConstantError> {
        let Some(r) = self.recv.take().filter(|r| r.id == id) else {
            return Err(ConstantError::UnexpectedAnswer {
                what: "basis bytes nobody waits for",
            });
        };
        let t = self.transfer_mut(id, "DATA")?;
        if let Some(a) = &mut t.applier {
            match a.copied(&data) {
                Ok(()) => self.request(FsRequest::Write {
                    ndx: ndx_of(id),
                    data,
                }),
                // The basis changed under us: finish reading, then redo the file whole.
                Err(ApplyError::CopyLength { .. }) => t.applier = None,
                Err(e) => return Err(e.into()),
            }
        }
        self.apply(r)
    }

    /// `DATA_END`: verify, commit (or retry once whole), acknowledge after the commit.
    pub(super) fn data_end(&mut self, id: u64, checksum: &[u8]) -> Result<(), ConstantError> {
        self.begin_file(id, "DATA_END")?;
        let ndx = ndx_of(id);
        let t = self.transfer_mut(id, "DATA_END")?;
        let verdict = match t.applier.take() {
            Some(a) => a.finish(checksum),
            None => Err(ApplyError::ChecksumMismatch),
        };
        match verdict {
            Ok(_) => {
                let Some(Kind::Entry { entry, .. }) = self.jobs.get(&id).map(|j| &j.kind) else {
                    return Ok(());
                };
                let entry = entry.clone();
                self.request(FsRequest::Commit { ndx, entry });
                self.end_transfer(id);
                self.settle(id, 0, Vec::new(), Vec::new());
                Ok(())
            }
            Err(ApplyError::ChecksumMismatch) => self.mismatch(id),
            Err(e) => Err(e.into()),
        }
    }

    /// RFC.md §15.5: one retry with the whole file, then status 23.
    fn mismatch(&mut self, id: u64) -> Result<(), ConstantError> {
        let ndx = ndx_of(id);
        self.request(FsRequest::Discard { ndx });
        self.open_files = self.open_files.saturating_sub(1);
        let name = match self.jobs.get(&id).map(|j| &j.kind) {
            Some(Kind::Entry { entry, .. }) => {
                String::from_utf8_lossy(entry.name.as_bytes()).into_owned()
            }
            _ => String::new(),
        };
        let (strong, limits) = (self.opts.strong, self.opts.limits);
        let t = self.transfer_mut(id, "DATA_END")?;
        t.begun = false;
        if !t.retried {
            t.retried = true;
            t.basis = None;
            t.applier = Some(Applier::new(SumHead::EMPTY, strong, limits)?);
            let text = format!(
                "WARNING: {name} failed verification -- update discarded (will try again).\n"
            );
            self.log(MsgCode::Warning, text);
            self.send_sums(id, &Signature::with_head(SumHead::EMPTY));
            return Ok(());
        }
        let text = format!("ERROR: {name} failed verification -- update discarded.\n");
        self.log(MsgCode::ErrorXfer, text.clone());
        self.end_transfer(id);
        self.ack(id, STATUS_PARTIAL, text.trim_end().as_bytes().to_vec());
        Ok(())
    }

    /// `ABORT`: the master could not read the file.
    pub(super) fn abort(&mut self, id: u64) -> Result<(), ConstantError> {
        let t = self.transfer_mut(id, "ABORT")?;
        if t.begun {
            t.begun = false;
            self.open_files = self.open_files.saturating_sub(1);
            self.request(FsRequest::Discard { ndx: ndx_of(id) });
        }
        self.end_transfer(id);
        let msg = b"file vanished or became unreadable on the master".to_vec();
        self.ack(id, STATUS_VANISHED, msg);
        Ok(())
    }

    /// The transfer no longer holds its paths (its commit is queued, or it was dropped).
    fn end_transfer(&mut self, id: u64) {
        let Some(Job {
            step: Step::Data(t),
            ..
        }) = self.jobs.get_mut(&id)
        else {
            return;
        };
        let marked = std::mem::take(&mut t.marked);
        if t.begun {
            t.begun = false;
            self.open_files = self.open_files.saturating_sub(1);
        }
        for p in marked {
            self.busy.mark(p.as_bytes(), false);
        }
    }
}
