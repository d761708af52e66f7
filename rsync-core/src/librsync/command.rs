//! The delta command set: one opcode byte, then zero, one or two big-endian parameters whose
//! widths (1, 2, 4 or 8 bytes) the opcode names.
//!
//! Spec: RFC.md Appendix R `[rdiff-opcodes]`, `[rdiff-op-literal]`, `[rdiff-op-copy]` and
//! `[rdiff-op-end]`. Reference: librsync `prototab.c`, `command.h`, `emit.c`, `netint.c`.
//!
//! | opcode | command | parameters |
//! |---|---|---|
//! | `0x00` | END | — |
//! | `0x01`–`0x40` | LITERAL of 1–64 bytes | — (length is the opcode) |
//! | `0x41`–`0x44` | LITERAL | length: 1, 2, 4, 8 bytes |
//! | `0x45`–`0x54` | COPY | offset: 1, 2, 4, 8 bytes; length: 1, 2, 4, 8 bytes |
//! | `0x55`–`0xff` | reserved | — (invalid) |

/// Opcode of END.
///
/// Wire: RFC.md Appendix R `[rdiff-op-end]`.
pub const OP_END: u8 = 0x00;
/// Opcode of LITERAL with a 1-byte length; `+1`, `+2`, `+3` for 2, 4, 8 bytes.
///
/// Wire: RFC.md Appendix R `[rdiff-op-literal]`.
pub const OP_LITERAL_N1: u8 = 0x41;
/// Opcode of COPY with 1-byte offset and length. Add 4 × (offset width index) + (length width
/// index), with width indices 0–3 for 1, 2, 4, 8 bytes.
///
/// Wire: RFC.md Appendix R `[rdiff-op-copy]`.
pub const OP_COPY_N1_N1: u8 = 0x45;
/// Longest literal encoded in the opcode itself.
pub const MAX_IMMEDIATE_LITERAL: u64 = 64;

/// One delta command.
///
/// ```
/// use rsync_core::librsync::Command;
/// let mut out = Vec::new();
/// Command::Literal(3).encode(&mut out);
/// Command::Literal(300).encode(&mut out);
/// Command::Copy { offset: 0x1_0000, len: 2048 }.encode(&mut out);
/// Command::End.encode(&mut out);
/// assert_eq!(out, [0x03, 0x42, 0x01, 0x2c, 0x4e, 0, 1, 0, 0, 0x08, 0x00, 0x00]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// End of the delta.
    End,
    /// The next `n` bytes of the delta are output as they are (`n ≥ 1`).
    Literal(u64),
    /// Output `len` bytes of the basis starting at `offset` (`len ≥ 1`).
    Copy {
        /// Offset in the basis.
        offset: u64,
        /// Bytes to copy.
        len: u64,
    },
}

/// Index (0–3) of the narrowest of the widths 1, 2, 4, 8 bytes that holds `v`
/// (librsync `rs_int_len`).
#[inline]
pub(crate) const fn width_index(v: u64) -> u8 {
    if v <= 0xff {
        0
    } else if v <= 0xffff {
        1
    } else if v <= 0xffff_ffff {
        2
    } else {
        3
    }
}

/// Bytes of a parameter with this width index.
#[inline]
pub(crate) const fn width(index: u8) -> usize {
    1 << index
}

#[inline]
fn put(v: u64, index: u8, out: &mut Vec<u8>) {
    let bytes = v.to_be_bytes();
    out.extend_from_slice(&bytes[8 - width(index)..]);
}

impl Command {
    /// Appends the command with the narrowest parameter widths, as librsync's encoder
    /// chooses them. Literal data, if any, is for the caller to append.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Self::End => out.push(OP_END),
            Self::Literal(n) if (1..=MAX_IMMEDIATE_LITERAL).contains(&n) => out.push(n as u8),
            Self::Literal(n) => {
                let w = width_index(n);
                out.push(OP_LITERAL_N1 + w);
                put(n, w, out);
            }
            Self::Copy { offset, len } => {
                let (wo, wl) = (width_index(offset), width_index(len));
                out.push(OP_COPY_N1_N1 + 4 * wo + wl);
                put(offset, wo, out);
                put(len, wl, out);
            }
        }
    }
}

/// What an opcode byte announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    End,
    /// A literal whose length is the opcode.
    ShortLiteral(u8),
    /// A literal whose length follows in a parameter of this width index.
    Literal(u8),
    /// A copy with parameters of these width indices.
    Copy(u8, u8),
    Reserved,
}

/// Decodes an opcode byte (librsync `rs_prototab`).
#[inline]
pub(crate) const fn shape(op: u8) -> Shape {
    match op {
        OP_END => Shape::End,
        0x01..=0x40 => Shape::ShortLiteral(op),
        0x41..=0x44 => Shape::Literal(op - OP_LITERAL_N1),
        0x45..=0x54 => {
            let k = op - OP_COPY_N1_N1;
            Shape::Copy(k / 4, k % 4)
        }
        _ => Shape::Reserved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_prototab() {
        // Spot checks against librsync's prototab.c.
        assert_eq!(shape(0x00), Shape::End);
        assert_eq!(shape(0x40), Shape::ShortLiteral(64));
        assert_eq!(shape(0x44), Shape::Literal(3));
        assert_eq!(shape(0x45), Shape::Copy(0, 0));
        assert_eq!(shape(0x48), Shape::Copy(0, 3));
        assert_eq!(shape(0x49), Shape::Copy(1, 0));
        assert_eq!(shape(0x51), Shape::Copy(3, 0));
        assert_eq!(shape(0x54), Shape::Copy(3, 3));
        assert_eq!(shape(0x55), Shape::Reserved);
        assert_eq!(shape(0xff), Shape::Reserved);
    }

    #[test]
    fn encodes_narrowest() {
        let enc = |c: Command| {
            let mut v = Vec::new();
            c.encode(&mut v);
            v
        };
        assert_eq!(enc(Command::Literal(64)), [0x40]);
        assert_eq!(enc(Command::Literal(65)), [0x41, 65]);
        assert_eq!(enc(Command::Literal(0x1_0000)), [0x43, 0, 1, 0, 0]);
        assert_eq!(
            enc(Command::Literal(1 << 32)),
            [0x44, 0, 0, 0, 1, 0, 0, 0, 0]
        );
        assert_eq!(enc(Command::Copy { offset: 0, len: 1 }), [0x45, 0, 1]);
        assert_eq!(
            enc(Command::Copy {
                offset: 1 << 40,
                len: 0x100
            }),
            [0x52, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]
        );
    }
}
