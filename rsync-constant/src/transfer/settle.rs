//! [`FailLog`]: the failures of a long-lived receiver's requests, by index, until the
//! [`FsRequest::Settle`](rsync_proto::session::FsRequest::Settle) of that index reports them
//! (RFC.md §15.8).
//!
//! Both the receiver's thread and the writing thread record into it (a file's commit fails
//! on the writing thread). Only the first failure of an index is kept, and at most
//! [`FAIL_LOG_CAP`] indexes are remembered: an index whose change never settles (its file was
//! aborted, say) is dropped, oldest first, so a mirror that runs for months keeps no state
//! per change it ever saw.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// Most indexes with an unreported failure (well above any window of changes in flight).
pub(super) const FAIL_LOG_CAP: usize = 4096;

/// First failure per index, oldest first.
#[derive(Debug, Default)]
pub(super) struct FailLog {
    entries: Mutex<VecDeque<(i32, String)>>,
}

impl FailLog {
    /// Records `msg` for `ndx` unless a failure is already recorded for it.
    pub(super) fn record(&self, ndx: i32, msg: &str) {
        let mut e = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if e.iter().any(|(n, _)| *n == ndx) {
            return;
        }
        if e.len() >= FAIL_LOG_CAP {
            e.pop_front();
        }
        e.push_back((ndx, msg.to_owned()));
    }

    /// The failure recorded for `ndx` since the last call for it, if any (forgotten now).
    pub(super) fn take(&self, ndx: i32) -> Option<String> {
        let mut e = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let i = e.iter().position(|(n, _)| *n == ndx)?;
        e.remove(i).map(|(_, m)| m)
    }

    /// Indexes with a failure recorded (tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_failure_per_index_and_stays_bounded() {
        let log = FailLog::default();
        log.record(7, "first");
        log.record(7, "second");
        log.record(8, "other");
        assert_eq!(log.take(7).as_deref(), Some("first"));
        assert_eq!(log.take(7), None);
        assert_eq!(log.take(8).as_deref(), Some("other"));
        for i in 0..(FAIL_LOG_CAP as i32 + 100) {
            log.record(i, "x");
        }
        assert_eq!(log.len(), FAIL_LOG_CAP);
        // The oldest were dropped, the newest kept.
        assert_eq!(log.take(0), None);
        assert!(log.take(FAIL_LOG_CAP as i32 + 99).is_some());
    }
}
