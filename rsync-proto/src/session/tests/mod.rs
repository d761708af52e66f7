//! Session tests: the in-memory `Pair`, golden captures, hostile inputs.

mod bounded;
mod captured;
mod fakefs;
mod features;
mod golden;
mod golden_session;
mod hostile;
mod missing;
mod pair;
mod scenarios;
