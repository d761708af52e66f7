//! Session tests: the in-memory `Pair`, golden captures, hostile inputs.

mod pair;
mod scenarios;
