//! Helpers shared by the workspace's integration tests (in `tests/tests/`).
//!
//! Interop tests need stock tools (`rsync`, `rdiff`). On a developer machine without them a
//! test skips with a loud message; with `RSYNC_INTEROP=require` (set by `.ci/run`) a missing
//! tool fails the test instead.
//!
//! [`tree`] builds deterministic file trees and compares snapshots of them; [`peers`] finds the
//! stock and our rsync binaries, writes the fake remote shell and runs a client under a
//! deadline. The interop matrix (`tests/interop_matrix.rs`) is built on both. [`vectors`] reads
//! the RFC's `.vec` files. [`daemon`] drives a `--constant` daemon (deadlines, relays, process
//! and tree helpers) for the constant-mode end-to-end and fault tests. [`hostile`] is a
//! scripted hostile peer for the hostile-peer and race suites.

use std::path::PathBuf;

pub mod daemon;
pub mod hostile;
pub mod peers;
pub mod tree;
pub mod vectors;

/// Finds `tool` on `PATH`. Returns `None` (after printing a loud skip notice) when it is
/// missing, unless `RSYNC_INTEROP=require`, in which case it panics.
pub fn interop_tool(tool: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let required = std::env::var("RSYNC_INTEROP").is_ok_and(|v| v == "require");
        assert!(
            !required,
            "RSYNC_INTEROP=require but `{tool}` is not installed (apt-get install -y rsync rdiff)"
        );
        eprintln!("\n!!!!!!!! SKIPPING interop test: `{tool}` is not on PATH (set RSYNC_INTEROP=require to fail instead) !!!!!!!!\n");
    }
    found
}

/// Deterministic pseudo-random bytes (xorshift), so that test data needs no dependency and
/// reproduces exactly.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
