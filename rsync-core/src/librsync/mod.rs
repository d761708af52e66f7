//! librsync 2.x's signature and delta formats, byte-compatible with `rdiff` 2.3.
//!
//! Spec: RFC.md Appendix R (`[rdiff-magic]`, `[rdiff-sig-header]`, `[rdiff-sig-block]`,
//! `[rdiff-sig-args]`, `[rdiff-rollsum]`, `[rdiff-rabinkarp]`, `[rdiff-strong]`,
//! `[rdiff-delta-header]`, `[rdiff-opcodes]`, `[rdiff-op-literal]`, `[rdiff-op-copy]`,
//! `[rdiff-op-end]`). Reference: librsync 2.3.2 (`mksum.c`, `readsums.c`, `delta.c`,
//! `patch.c`, `prototab.c`, `sumset.c`).
//!
//! The same three verbs as `rdiff`, each streaming and free of I/O:
//!
//! 1. **signature** — [`SignatureParams::choose`] picks the block and strong-sum lengths as
//!    `rdiff` does, and a [`SignatureWriter`] turns the old file (the *basis*), fed in chunks,
//!    into signature bytes;
//! 2. **delta** — a [`SignatureReader`] (or [`Signature::from_bytes`]) parses and bounds a
//!    signature, and a [`DeltaWriter`] turns the new file, fed in chunks, into delta bytes;
//! 3. **patch** — a [`Patcher`] parses the delta in chunks and asks the caller for basis
//!    ranges; [`apply`] does it all for an in-memory basis.
//!
//! ```
//! use rsync_core::librsync::{apply, DeltaWriter, SignatureKind, SignatureParams};
//! use rsync_core::librsync::{SignatureReader, SignatureWriter};
//! use rsync_core::Limits;
//!
//! let old: Vec<u8> = (0..50_000u32).map(|i| (i * 7919 % 251) as u8).collect();
//! let mut new = old.clone();
//! new[20_000..20_004].copy_from_slice(b"EDIT");
//!
//! // 1. Signature of the old file, with rdiff's defaults for its size.
//! let params = SignatureParams::choose(SignatureKind::default(), Some(old.len() as u64), 0, 0)?;
//! let mut sig = Vec::new();
//! let mut w = SignatureWriter::new(params);
//! for chunk in old.chunks(4096) {
//!     w.push(chunk, &mut sig);
//! }
//! w.finish(&mut sig);
//!
//! // 2. Delta of the new file against the parsed signature.
//! let mut reader = SignatureReader::new(Limits::default());
//! reader.push(&sig)?;
//! let mut dw = DeltaWriter::new(reader.finish()?, &Limits::default());
//! let mut delta = Vec::new();
//! for chunk in new.chunks(10_000) {
//!     dw.push(chunk, &mut delta);
//! }
//! dw.finish(&mut delta);
//! assert!(delta.len() < 1_000);
//!
//! // 3. Patch.
//! assert_eq!(apply(&old, &delta, &Limits::default())?, new);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Security
//!
//! MD4 is broken and the strong sums may be truncated: a malicious party who controls both
//! files can make a block match that is not equal. Prefer BLAKE2 signatures, and bound
//! [`Limits::max_output`](crate::Limits::max_output) when patching untrusted deltas.

mod command;
mod delta;
mod params;
mod patch;
pub mod rabinkarp;
pub mod rollsum;
mod signature;
mod sigwrite;
mod strong;
#[cfg(test)]
mod tests;

pub use command::{Command, MAX_IMMEDIATE_LITERAL, OP_COPY_N1_N1, OP_END, OP_LITERAL_N1};
pub use delta::DeltaWriter;
pub use params::{
    ParamsError, SignatureKind, SignatureParams, WeakKind, DEFAULT_BLOCK_LEN,
    DEFAULT_MIN_STRONG_LEN, DELTA_MAGIC, MAX_BLOCK_LEN,
};
pub use patch::{apply, PatchError, PatchOp, Patcher};
pub use rabinkarp::RabinKarp;
pub use rollsum::Rollsum;
pub use signature::{Signature, SignatureError, SignatureReader};
pub use sigwrite::{block_sums, SignatureWriter};
pub use strong::{Blake2, Md4, StrongKind, BLAKE2_LEN, MD4_LEN};
