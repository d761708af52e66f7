//! Session tests: the in-memory `Pair`, golden captures, hostile inputs.

mod golden;
mod hostile;
mod pair;
mod scenarios;
