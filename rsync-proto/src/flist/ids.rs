//! The uid and gid name lists sent after the file list.
//!
//! Wire: `[id-lists]` (RFC.md §9). Each list is a run of `varint30 id`, `byte len`, name,
//! ended by `varint30 0`; with `CF_ID0_NAMES` the 0 is followed by `byte len` and the name
//! of id 0. Reference: rsync `send_one_list`/`recv_id_list` (uidlist.c).

use super::entry::FlistError;
use crate::wire::{DecodeError, WireReader, WireWrite};

/// An id → name list (`-o` users or `-g` groups).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IdList {
    /// Non-zero ids with their names, in the order sent.
    pub names: Vec<(u32, Vec<u8>)>,
    /// The name of id 0, sent only with `CF_ID0_NAMES`.
    pub id0_name: Option<Vec<u8>>,
}

impl IdList {
    /// A list of `names` without a name for id 0.
    pub fn new(names: Vec<(u32, Vec<u8>)>) -> Self {
        Self {
            names,
            id0_name: None,
        }
    }
}

/// One record of an id list as decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IdRecord {
    /// A non-zero id and its name.
    Name(u32, Vec<u8>),
    /// The terminating 0, with the id-0 name when `CF_ID0_NAMES` is on.
    End(Option<Vec<u8>>),
}

pub(crate) fn get_varint30(r: &mut WireReader<'_>, protocol: u32) -> Result<i32, DecodeError> {
    if protocol < 30 {
        r.int()
    } else {
        r.varint()
    }
}

pub(crate) fn put_varint30(out: &mut Vec<u8>, protocol: u32, v: i32) {
    if protocol < 30 {
        out.put_int(v);
    } else {
        out.put_varint(v);
    }
}

/// `byte len` + name.
pub(crate) fn get_short_name(r: &mut WireReader<'_>) -> Result<Vec<u8>, DecodeError> {
    let mut c = r.clone();
    let len = c.byte()?;
    let name = c.bytes(usize::from(len))?.to_vec();
    *r = c;
    Ok(name)
}

/// Decodes one record; on error the reader is unmoved.
pub(crate) fn decode_record(
    r: &mut WireReader<'_>,
    protocol: u32,
    id0_names: bool,
) -> Result<IdRecord, DecodeError> {
    let mut c = r.clone();
    let id = get_varint30(&mut c, protocol)?;
    let rec = if id == 0 {
        IdRecord::End(if id0_names {
            Some(get_short_name(&mut c)?)
        } else {
            None
        })
    } else {
        IdRecord::Name(id as u32, get_short_name(&mut c)?)
    };
    *r = c;
    Ok(rec)
}

/// Encodes one list.
///
/// # Errors
/// [`FlistError::Unencodable`] for id 0 inside the list or a name longer than 255 bytes.
pub(crate) fn encode_list(
    list: &IdList,
    protocol: u32,
    id0_names: bool,
    out: &mut Vec<u8>,
) -> Result<(), FlistError> {
    let bad = |what| FlistError::Unencodable { index: 0, what };
    for (id, name) in &list.names {
        if *id == 0 {
            return Err(bad("id 0 inside an id list"));
        }
        if name.len() > 255 {
            return Err(bad("id name longer than 255 bytes"));
        }
    }
    for (id, name) in &list.names {
        put_varint30(out, protocol, *id as i32);
        out.push(name.len() as u8);
        out.extend_from_slice(name);
    }
    put_varint30(out, protocol, 0);
    if id0_names {
        let name = list.id0_name.as_deref().unwrap_or(b"");
        if name.len() > 255 {
            return Err(bad("id name longer than 255 bytes"));
        }
        out.push(name.len() as u8);
        out.extend_from_slice(name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_layout_per_protocol() {
        let list = IdList {
            names: vec![(1000, b"alice".to_vec())],
            id0_name: Some(b"root".to_vec()),
        };
        let mut out = Vec::new();
        encode_list(&list, 31, true, &mut out).unwrap();
        assert_eq!(out, b"\x83\xe8\x05alice\x00\x04root");
        let mut r = WireReader::new(&out);
        assert_eq!(
            decode_record(&mut r, 31, true).unwrap(),
            IdRecord::Name(1000, b"alice".to_vec())
        );
        assert_eq!(
            decode_record(&mut r, 31, true).unwrap(),
            IdRecord::End(Some(b"root".to_vec()))
        );
        assert!(r.is_empty());

        let mut out = Vec::new();
        encode_list(&list, 29, false, &mut out).unwrap();
        assert_eq!(out, b"\xe8\x03\x00\x00\x05alice\x00\x00\x00\x00");
        let mut r = WireReader::new(&out[..6]);
        assert!(decode_record(&mut r, 29, false).is_err());
        assert_eq!(r.position(), 0, "an incomplete record consumes nothing");
    }
}
