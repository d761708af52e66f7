//! THE table of known failures of the interop matrix: the only place where a cell may be
//! allowed to fail.
//!
//! One row per (scenario, pairing, direction), with the protocols it covers and the reason.
//! The rules, enforced by `known_failures_table_is_well_formed` and by every matrix test:
//! - no row may name protocol 31 (issue B: no known failure may remain at protocol 31);
//! - protocols are 30, 29 or 27; pairings are `OursClient` or `OursServer` (the stock client +
//!   stock server reference never fails: if it does, the harness or a scenario is wrong);
//! - a listed cell that passes fails its test with "remove from known failures", so the table
//!   cannot rot;
//! - no cell is listed twice, and every scenario named exists.
//!
//! Row format:
//! ```text
//! known("scenario", OursServer, Push, &[29, 27], "why it fails, in a few words"),
//! ```

use crate::cell::{Direction, Pairing};

// Used by the rows of `KNOWN_FAILURES` once there are some.
#[allow(unused_imports)]
use crate::cell::{Direction::*, Pairing::*};

/// One row of the table.
#[derive(Debug)]
pub(crate) struct KnownFailure {
    pub(crate) scenario: &'static str,
    pub(crate) pairing: Pairing,
    pub(crate) direction: Direction,
    pub(crate) protocols: &'static [u32],
    pub(crate) reason: &'static str,
}

/// A row.
#[allow(dead_code)] // used by the rows of `KNOWN_FAILURES` once there are some
const fn known(
    scenario: &'static str,
    pairing: Pairing,
    direction: Direction,
    protocols: &'static [u32],
    reason: &'static str,
) -> KnownFailure {
    KnownFailure {
        scenario,
        pairing,
        direction,
        protocols,
        reason,
    }
}

/// The known failures. Keep it sorted by scenario, then pairing, then direction.
pub(crate) const KNOWN_FAILURES: &[KnownFailure] = &[
    // None: every cell passes.
];

/// The row covering a cell, if any.
pub(crate) fn lookup(
    scenario: &str,
    pairing: Pairing,
    direction: Direction,
    protocol: u32,
) -> Option<&'static KnownFailure> {
    KNOWN_FAILURES.iter().find(|k| {
        k.scenario == scenario
            && k.pairing == pairing
            && k.direction == direction
            && k.protocols.contains(&protocol)
    })
}

/// Everything wrong with `table`, given the scenario names.
pub(crate) fn validate(table: &[KnownFailure], scenarios: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for (i, k) in table.iter().enumerate() {
        let row = format!(
            "KNOWN_FAILURES[{i}] ({}, {:?}, {:?})",
            k.scenario, k.pairing, k.direction
        );
        if !scenarios.contains(&k.scenario) {
            out.push(format!("{row}: no scenario is called `{}`", k.scenario));
        }
        if k.pairing == Pairing::StockStock {
            out.push(format!(
                "{row}: the stock↔stock reference cannot be a known failure (fix the harness)"
            ));
        }
        if k.reason.trim().is_empty() {
            out.push(format!("{row}: give the reason"));
        }
        if k.protocols.is_empty() {
            out.push(format!("{row}: lists no protocol"));
        }
        for &p in k.protocols {
            match p {
                31 | 32 => out.push(format!(
                    "{row}: protocol {p}: no known failure may remain at protocol 31 (issue B)"
                )),
                30 | 29 | 27 => {}
                _ => out.push(format!(
                    "{row}: protocol {p} is not in the matrix (30, 29, 27)"
                )),
            }
            let cell = (k.scenario, k.pairing, k.direction, p);
            if seen.contains(&cell) {
                out.push(format!("{row}: protocol {p} is listed twice for this cell"));
            }
            seen.push(cell);
        }
    }
    out
}
