//! A mirror's acknowledgements (RFC.md §15.8): a change that changed something is settled
//! ([`FsRequest::Settle`]) before its `ACK`; the `Settle`s of jobs ready at about the same
//! time are held and issued together, in id order, when the mirror is idle or holds
//! [`ConstantConfig::max_settle_batch`](crate::constant::ConstantConfig::max_settle_batch)
//! of them, so that the executor waits once for a burst of changes; `ACK`s of changes done
//! without a `Settle` wait behind those of lower ids still settling.

use super::{Job, Mirror, MirrorEvent, Phase, Step, Want, SILENT_ID};
use crate::constant::config::{ndx_of, STATUS_PARTIAL};
use crate::constant::record::MirrorRecord;
use crate::session::FsRequest;

impl Mirror {
    /// The job's requests are queued: it settles (its `Settle` held until
    /// [`Mirror::flush_settles`]), then is acknowledged with `status` (raised to 23 if the
    /// executor reports a failure), together with the deferred deletions `with`.
    pub(super) fn settle(&mut self, id: u64, status: u32, message: Vec<u8>, with: Vec<u64>) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.step = Step::Settle {
                status,
                message,
                with,
            };
        }
        self.decided(id);
        self.settling.insert(id);
        self.held.push(id);
        if self.held.len() >= self.cfg.max_settle_batch.max(1) {
            self.flush_settles();
        }
    }

    /// Whether nothing can move without the master (or the `Settled` answers): every record
    /// received is read (a `DATA` record paused on a basis copy waits for `Copied`) and no
    /// answer is awaited but `Settled`.
    pub(super) fn idle(&self) -> bool {
        self.phase != Phase::Done
            && self.recv.is_none()
            && self.expect.iter().all(|&(_, want)| want == Want::Settled)
    }

    /// Issues the held `Settle`s, in id order.
    pub(super) fn flush_settles(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let mut held = std::mem::take(&mut self.held);
        held.sort_unstable();
        for id in held.drain(..) {
            let ndx = ndx_of(id);
            self.ask(id, FsRequest::Settle { ndx }, Want::Settled);
        }
        // Keep the allocation for the next burst.
        self.held = held;
    }

    /// `Settled`: the job's effects are on disk; acknowledge it (and the deferred deletions
    /// it carried out), then the parked `ACK`s no lower id holds back any more.
    pub(super) fn settled(&mut self, id: u64, error: Option<Vec<u8>>) {
        self.settling.remove(&id);
        if let Some(Job {
            step:
                Step::Settle {
                    status,
                    message,
                    with,
                },
            ..
        }) = self.jobs.get_mut(&id)
        {
            let (mut status, mut message, with) =
                (*status, std::mem::take(message), std::mem::take(with));
            if let Some(e) = error {
                status = status.max(STATUS_PARTIAL);
                if message.is_empty() {
                    message = e;
                }
            }
            for d in with {
                self.ack(d, status, Vec::new());
            }
            self.ack(id, status, message);
        }
        self.release();
    }

    /// Acknowledges job `id`: at once, or parked while a lower id is settling.
    pub(super) fn ack(&mut self, id: u64, status: u32, message: Vec<u8>) {
        let behind = self.settling.first().is_some_and(|&s| s < id);
        match self.jobs.get_mut(&id) {
            Some(job) if behind => {
                job.step = Step::Parked { status, message };
                self.parked.insert(id);
                self.decided(id);
            }
            _ => self.send_ack(id, status, message),
        }
    }

    /// Sends the parked `ACK`s below the lowest id still settling.
    fn release(&mut self) {
        while let Some(&id) = self.parked.first() {
            if self.settling.first().is_some_and(|&s| s < id) {
                break;
            }
            self.parked.remove(&id);
            if let Some(Job {
                step: Step::Parked { status, message },
                ..
            }) = self.jobs.get_mut(&id)
            {
                let (status, message) = (*status, std::mem::take(message));
                self.send_ack(id, status, message);
            }
        }
    }

    /// Sends `ACK` and forgets the job.
    fn send_ack(&mut self, id: u64, status: u32, message: Vec<u8>) {
        self.jobs.remove(&id);
        self.decided(id);
        if self.silent == Some(id) {
            if id == SILENT_ID {
                // A mid-stream flush: the next one may start.
                self.silent = None;
                self.flush_if_full();
            }
            return;
        }
        self.send(&MirrorRecord::Ack {
            id,
            status,
            message: message.clone(),
        });
        self.events.push_back(MirrorEvent::Acked {
            id,
            status,
            message,
        });
    }
}
