//! Primitive wire types: fixed-width and variable-length integers, strings and file indices.
//!
//! Spec: RFC.md §4 `[int]`, `[shortint]`, `[longint]`, `[varint]`, `[varlong]`, `[vstring]`,
//! `[ndx]`. Reference: rsync `read_varint`/`write_varint`, `read_varlong`/`write_varlong`,
//! `read_longint`, `read_vstring`, `read_ndx`/`write_ndx` (io.c).

mod int;
mod ndx;

pub use int::{DecodeError, WireReader, WireWrite};
pub use ndx::{NdxDecoder, NdxEncoder, NDX_DONE};
