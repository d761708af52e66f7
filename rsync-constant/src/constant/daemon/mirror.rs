//! One mirror's loop: bootstrap when the queue says so, then drain the queue after the mirror's
//! cursor batch by batch through its [`Link`], acknowledging each delivered batch; on a failure
//! back off (0.1 s doubling to 30 s, with jitter) and retry from the cursor. While idle the
//! loop keeps the link connected and watches it ([`Link::lost`]): a mirror that goes away
//! between changes is reconnected (and shown in backoff meanwhile) before the next change.
//!
//! Each mirror runs this loop on its own thread with its own single-threaded runtime, so a
//! slow or dead mirror never delays another: the only shared things are the queue (redb
//! serialises write transactions, which are short) and the status model (a mutex held for a
//! copy).
//!
//! # Bootstrap without losing a change
//! A mirror in `NeedsFullSync` (new, demoted, or left in `FullSync` by a crash) gets
//! `begin_full_sync` **before** the tree walk starts, so every change appended from then on is
//! kept for it; changes appended before are seen by the walk. `end_full_sync` then makes it
//! `Live` with its cursor where the full sync began, and the loop delivers what arrived
//! meanwhile.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::link::{Link, LinkError, LinkErrorKind};
use super::status::{LinkState, StatusBoard};
use super::{Clock, Shutdown};
use crate::constant::queue::{Next, Queue, QueueError, Seq};

/// The mirror loop's tuning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorConfig {
    /// Most entries per delivered batch.
    pub batch_max: usize,
    /// First backoff after a failure.
    pub backoff_min: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
    /// Attempts of a batch that keeps failing with [`LinkErrorKind::Partial`] before it is
    /// acknowledged anyway (with its error logged and kept in the status).
    pub partial_attempts: u32,
}

impl Default for MirrorConfig {
    fn default() -> Self {
        Self {
            batch_max: 10_000,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            partial_attempts: 3,
        }
    }
}

/// Exponential backoff with jitter: each delay is drawn uniformly from the upper half of the
/// current step (so two mirrors that failed together do not retry in lockstep); the step
/// doubles from `min` up to `max` and goes back to `min` on [`Backoff::reset`].
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    step: Duration,
    rng: u64,
}

impl Backoff {
    /// A backoff from `min` to `max`; `seed` varies the jitter.
    pub fn new(min: Duration, max: Duration, seed: u64) -> Self {
        Self {
            min,
            max: max.max(min),
            step: min,
            rng: seed | 1,
        }
    }

    /// The next delay (within `[step / 2, step]`, and never above `max`), then doubles the step.
    pub fn next_delay(&mut self) -> Duration {
        // xorshift64: enough for jitter.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let half = self.step / 2;
        let frac = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        let delay = half + half.mul_f64(frac);
        self.step = self.step.saturating_mul(2).min(self.max);
        delay.max(self.min / 2)
    }

    /// Back to the shortest delay (after a success).
    pub fn reset(&mut self) {
        self.step = self.min;
    }
}

/// Why the mirror loop stopped a step.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StepError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// What one step did.
enum Step {
    /// Work was done: look again at once.
    Progress,
    /// Nothing to send: wait for a change, or until this time (a settling entry).
    Idle(Option<Duration>),
}

/// Everything a mirror loop needs besides its link.
pub(crate) struct MirrorCtx {
    pub(crate) id: Vec<u8>,
    pub(crate) queue: Arc<Queue>,
    pub(crate) wake: Arc<Notify>,
    pub(crate) shutdown: watch::Receiver<Shutdown>,
    pub(crate) status: StatusBoard,
    pub(crate) clock: Clock,
    pub(crate) config: MirrorConfig,
}

/// A failing batch: where it started and how often it failed with a partial error.
struct Retry {
    first: Seq,
    attempts: u32,
}

/// Runs the mirror loop until shutdown.
pub(crate) async fn run<L: Link>(mut ctx: MirrorCtx, mut link: L) {
    let seed = ctx.id.iter().fold(u64::from(std::process::id()), |h, &b| {
        h.rotate_left(5) ^ u64::from(b)
    }) ^ ctx.clock.nanos();
    let mut backoff = Backoff::new(ctx.config.backoff_min, ctx.config.backoff_max, seed);
    let mut retry: Option<Retry> = None;
    let mut abort = ctx.shutdown.clone();
    loop {
        if *ctx.shutdown.borrow() != Shutdown::Run {
            break;
        }
        let result = tokio::select! {
            r = step(&ctx, &mut link, &mut retry) => r,
            () = wait_for(&mut abort, Shutdown::Abort) => break,
        };
        let failed = match result {
            Ok(Step::Progress) => {
                backoff.reset();
                None
            }
            Ok(Step::Idle(until)) => {
                backoff.reset();
                ctx.status.set_state(&ctx.id, LinkState::Live);
                let sleep = until.unwrap_or(Duration::from_secs(3600));
                tokio::select! {
                    () = ctx.wake.notified() => None,
                    () = tokio::time::sleep(sleep) => None,
                    // The idle link died: reconnect now, not when the next change comes.
                    e = link.lost() => Some(StepError::from(e)),
                    () = wait_for(&mut ctx.shutdown, Shutdown::Stop) => break,
                }
            }
            Err(e) => Some(e),
        };
        if let Some(e) = failed {
            link.disconnect();
            let delay = backoff.next_delay();
            tracing::warn!(
                mirror = %String::from_utf8_lossy(&ctx.id),
                "{e}; retrying in {:.1} s",
                delay.as_secs_f64()
            );
            ctx.status.set_error(&ctx.id, &e.to_string());
            ctx.status.set_state(&ctx.id, LinkState::Backoff);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = wait_for(&mut ctx.shutdown, Shutdown::Stop) => break,
            }
        }
    }
    if *ctx.shutdown.borrow() == Shutdown::Stop {
        // A clean end of the session (`BYE`), unless the daemon stops harder meanwhile.
        tokio::select! {
            () = link.close() => {}
            () = wait_for(&mut abort, Shutdown::Abort) => {}
        }
    }
    ctx.status.set_state(&ctx.id, LinkState::Stopped);
}

/// Resolves once the shutdown level reaches `level` (or the sender is gone).
async fn wait_for(rx: &mut watch::Receiver<Shutdown>, level: Shutdown) {
    let _ = rx.wait_for(|s| *s >= level).await;
}

async fn step<L: Link>(
    ctx: &MirrorCtx,
    link: &mut L,
    retry: &mut Option<Retry>,
) -> Result<Step, StepError> {
    let now = ctx.clock.now();
    let next = ctx
        .queue
        .next_for(&ctx.id, None, ctx.config.batch_max, now)?;
    let (entries, settle_at) = match next {
        Next::NeedsFullSync | Next::InFullSync => {
            full_sync(ctx, link).await?;
            return Ok(Step::Progress);
        }
        Next::Entries { entries, settle_at } => (entries, settle_at),
    };
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        // Idle: keep a standing link up (a link lost while idle is reconnected here), so that
        // the next change does not wait for a connection and the status tells the truth.
        link.connect().await?;
        let wait = settle_at.map(|t| t.duration_since(now).unwrap_or_default());
        return Ok(Step::Idle(wait));
    };
    let (first, upto) = (first.seq, last.seq);
    ctx.status.set_state(&ctx.id, LinkState::Sending);
    link.connect().await?;
    match link.deliver(&entries).await {
        Ok(()) => *retry = None,
        Err(e) if e.kind == LinkErrorKind::Partial => {
            let attempts = match retry {
                Some(r) if r.first == first => r.attempts + 1,
                _ => 1,
            };
            if attempts < ctx.config.partial_attempts {
                *retry = Some(Retry { first, attempts });
                return Err(e.into());
            }
            *retry = None;
            tracing::error!(
                mirror = %String::from_utf8_lossy(&ctx.id),
                "{e}: giving up on seq {first}..={upto} after {attempts} attempts"
            );
            ctx.status.set_error(&ctx.id, &e.to_string());
        }
        Err(e) => return Err(e.into()),
    }
    ctx.queue.ack(&ctx.id, upto, ctx.clock.now())?;
    ctx.status.delivered(&ctx.id, entries.len() as u64);
    Ok(Step::Progress)
}

async fn full_sync<L: Link>(ctx: &MirrorCtx, link: &mut L) -> Result<(), StepError> {
    ctx.status.set_state(&ctx.id, LinkState::FullSync);
    let since = ctx.queue.begin_full_sync(&ctx.id, ctx.clock.now())?;
    tracing::info!(
        mirror = %String::from_utf8_lossy(&ctx.id),
        "full sync (changes after seq {since} are delivered after it)"
    );
    link.connect().await?;
    link.full_sync().await?;
    match ctx.queue.end_full_sync(&ctx.id, ctx.clock.now()) {
        Ok(()) => Ok(()),
        // Demoted while the walk ran (its backlog grew too long): the loop starts again.
        Err(QueueError::WrongState { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
