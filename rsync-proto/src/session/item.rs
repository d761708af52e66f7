//! The item records that follow a file index between generator and sender: flags, basis
//! type and xname.
//!
//! Spec: RFC.md §10 `[iflags]`. Reference: rsync `read_ndx_and_attrs` (rsync.c),
//! `write_ndx_and_attrs` (sender.c).

use super::error::SessionError;
use super::types::iflags;
use crate::wire::WireReader;

/// The item flags of a record and what follows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attrs {
    /// The flags (`TRANSFER` below protocol 29).
    pub(crate) iflags: u16,
    /// The xname, when `ITEM_XNAME_FOLLOWS`.
    pub(crate) xname: Option<Vec<u8>>,
    /// The exact bytes after the index, for the echo.
    pub(crate) bytes: Vec<u8>,
}

/// Reads `iflags` [+ basis type] [+ xname] (protocol ≥ 29). Below 29 the flags are
/// `ITEM_TRANSFER` and nothing is read.
///
/// Wire: `[iflags]`, `[basis-type]`, `[xname]`.
pub(crate) fn read_attrs(r: &mut WireReader<'_>, p: u8) -> Result<Attrs, SessionError> {
    if p < 29 {
        return Ok(Attrs {
            iflags: iflags::TRANSFER,
            xname: None,
            bytes: Vec::new(),
        });
    }
    let start = r.position();
    let all = r.remaining();
    let flags = r.shortint()?;
    if flags & iflags::UNASSIGNED != 0 {
        return Err(SessionError::UnknownIflags { iflags: flags });
    }
    if flags & iflags::BASIS_TYPE_FOLLOWS != 0 {
        let kind = r.byte()?;
        if kind != iflags::FNAMECMP_FNAME {
            return Err(SessionError::UnsupportedBasisType { kind });
        }
    }
    let xname = if flags & iflags::XNAME_FOLLOWS != 0 {
        Some(r.vstring()?.to_vec())
    } else {
        None
    };
    let used = r.position() - start;
    Ok(Attrs {
        iflags: flags,
        xname,
        bytes: all.get(..used).unwrap_or(all).to_vec(),
    })
}
