"""Deterministic test-file contents from a short spec, shared by capture.py and oracle.py.

The same language is implemented in tests/tests/vectors.rs (`file_from_spec`):

    SPEC  := BASE ("," EDIT)*
    BASE  := "prng:" LEN ":" SEED      xorshift64 bytes, = rsync_tests::pseudo_random(LEN, SEED)
           | "fill:" LEN ":" HEXBYTE   LEN copies of one byte
           | "hex:" HEX                literal bytes
    EDIT  := "splice:" OFF ":" DEL ":" HEX   replace DEL bytes at OFF by HEX (may be empty)

Offsets refer to the buffer as it is after the previous edits.
"""

MASK = (1 << 64) - 1


def pseudo_random(length, seed):
    x = (seed | 1) & MASK
    out = bytearray()
    while len(out) < length:
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
        out += x.to_bytes(8, "little")
    return bytes(out[:length])


def build(spec):
    parts = spec.split(",")
    kind, *args = parts[0].split(":")
    if kind == "prng":
        buf = bytearray(pseudo_random(int(args[0]), int(args[1])))
    elif kind == "fill":
        buf = bytearray(bytes([int(args[1], 16)]) * int(args[0]))
    elif kind == "hex":
        buf = bytearray(bytes.fromhex(args[0]))
    else:
        raise ValueError(f"bad base {kind!r}")
    for edit in parts[1:]:
        kind, off, dele, hx = edit.split(":")
        off, dele = int(off), int(dele)
        if kind != "splice" or off + dele > len(buf):
            raise ValueError(f"bad edit {edit!r}")
        buf[off:off + dele] = bytes.fromhex(hx)
    return bytes(buf)
