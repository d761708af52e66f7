//! Byte-level faults on the two links of an operation-sequence target (`session_ops`,
//! `constant_ops`): what a broken or hostile transport does to the bytes in flight.

/// Applies link fault `kind` (4 to 7; other kinds do nothing) to the links `ab` (the first
/// role to the second) and `ba`: 4 and 5 flip bit `op >> 5` of byte `arg` (modulo the length)
/// of `ab` or `ba`; 6 appends the next `arg % 16` bytes of `ops` to `ab` (`arg & 0x80`) or
/// `ba`; 7 cuts `arg >> 1` bytes from the end of `ab` (`arg` even) or `ba`. Returns whether
/// a link was spoiled (the session may then fail).
pub fn link_fault(
    kind: u8,
    op: u8,
    arg: u8,
    ops: &mut std::slice::Iter<'_, u8>,
    ab: &mut Vec<u8>,
    ba: &mut Vec<u8>,
) -> bool {
    match kind {
        4 | 5 => {
            let link = if kind == 4 { ab } else { ba };
            if link.is_empty() {
                return false;
            }
            let i = usize::from(arg) % link.len();
            link[i] ^= 1 << (op >> 5);
            true
        }
        6 => {
            let n = usize::from(arg % 16);
            let bytes = ops.by_ref().take(n).copied();
            if arg & 0x80 != 0 {
                ab.extend(bytes)
            } else {
                ba.extend(bytes)
            }
            true
        }
        7 => {
            let link = if arg & 1 == 0 { ab } else { ba };
            let keep = link.len().saturating_sub(usize::from(arg >> 1));
            let cut = keep < link.len();
            link.truncate(keep);
            cut
        }
        _ => false,
    }
}
