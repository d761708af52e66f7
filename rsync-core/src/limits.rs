//! Resource limits applied to everything that arrives from a peer: sum headers, signatures,
//! token streams and deltas.
//!
//! Spec: RFC.md §14 `[limits]`. Every count and length read from the wire is checked against
//! a [`Limits`] *before* anything is allocated for it.

/// Bounds on untrusted input. The defaults are safe for a server exposed to anyone.
///
/// ```
/// use rsync_core::Limits;
/// let strict = Limits { max_output: 1 << 20, ..Limits::default() };
/// assert!(strict.max_output < Limits::default().max_output);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest literal run in one token. Stock senders never exceed 32 KiB
    /// (`CHUNK_SIZE`); rsync 3.4.3–3.4.4 rejected anything longer.
    pub max_literal: u32,
    /// Largest block length accepted in a sum header or rdiff signature.
    pub max_block_len: u32,
    /// Most blocks accepted in one signature.
    pub max_block_count: u32,
    /// Most bytes a signature may occupy in memory (weak plus strong sums).
    pub max_signature_bytes: u64,
    /// Most bytes one delta may produce.
    pub max_output: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_literal: 32 * 1024,
            max_block_len: 1 << 29,
            max_block_count: i32::MAX as u32,
            max_signature_bytes: 1 << 30,
            max_output: 1 << 50,
        }
    }
}
