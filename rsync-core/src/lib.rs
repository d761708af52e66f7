//! rsync's delta algorithm as pure, streaming functions, in rsync's own format and in
//! librsync's (`rdiff`).
//!
//! Three verbs, each fed in chunks so that no file has to be in memory:
//!
//! 1. the receiver computes a [`Signature`] of its old file (the *basis*) with a
//!    [`SignatureBuilder`]: per block a rolling [weak sum](rolling) and a seeded
//!    [strong sum](checksum), sized by [`block_size`] rules;
//! 2. the sender runs the new file through a [`Matcher`], which emits [`Token`]s: literal
//!    runs and copies of basis blocks;
//! 3. the receiver rebuilds the new file with an [`Applier`], which validates every token
//!    against the sum header and the [`Limits`] and checks the whole-file checksum.
//!
//! ```
//! use rsync_core::{block_size::SizeRule, checksum::{ChecksumKind, StrongSum}};
//! use rsync_core::{Applier, Limits, Matcher, Signature, Token};
//!
//! let basis: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
//! let mut new = basis.clone();
//! new[50_000..50_010].copy_from_slice(b"0123456789");
//!
//! // 1. Signature of the basis (protocol 31, xxh128, seed 0x1234).
//! let strong = StrongSum::new(ChecksumKind::Xxh128, 0x1234);
//! let head = SizeRule::new(31, 16).sum_head(basis.len() as u64).unwrap();
//! let sig = Signature::compute(&basis, head, strong);
//!
//! // 2. Tokens for the new file, fed in two chunks.
//! let mut tokens: Vec<(Option<Vec<u8>>, u32)> = Vec::new();
//! let mut sink = |t: Token<'_>| -> Result<(), ()> {
//!     tokens.push(match t { Token::Literal(b) => (Some(b.to_vec()), 0), Token::Copy(i) => (None, i) });
//!     Ok(())
//! };
//! let mut m = Matcher::new(sig, strong);
//! m.push(&new[..30_000], &mut sink)?;
//! m.push(&new[30_000..], &mut sink)?;
//! m.finish(&mut sink)?;
//! let mut file_sum = strong.file_hasher();
//! file_sum.update(&new);
//! let file_sum = file_sum.finish();
//!
//! // 3. Rebuild and verify.
//! let mut a = Applier::new(head, strong, Limits::default()).unwrap();
//! let mut out = Vec::new();
//! let mut literal_bytes = 0;
//! for (lit, i) in &tokens {
//!     let t = match lit { Some(b) => { literal_bytes += b.len(); Token::Literal(b) } None => Token::Copy(*i) };
//!     a.apply_in_memory(t, &basis, &mut out).unwrap();
//! }
//! a.finish(file_sum.as_bytes()).unwrap();
//! assert_eq!(out, new);
//! assert!(literal_bytes < 1_000);
//! # Ok::<(), ()>(())
//! ```
//!
//! The [`librsync`] module speaks librsync 2.x's signature and delta formats, byte-compatible
//! with `rdiff`.
//!
//! This crate does no I/O, reads no clock and starts no threads. The byte layouts are
//! specified in the repository's `RFC.md`; doc comments cite its labels.

#![forbid(unsafe_code)]

pub mod apply;
pub mod block_size;
pub mod checksum;
mod engine;
pub mod librsync;
pub mod limits;
pub mod matcher;
mod multibuf;
pub mod rolling;
pub mod signature;

pub use apply::{Applier, ApplyError, BlockRange};
pub use limits::Limits;
pub use matcher::{Matcher, Token};
pub use signature::{Signature, SignatureBuilder, SumHead, SumHeadError};
