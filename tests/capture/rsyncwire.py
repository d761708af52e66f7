"""Minimal decoder for captured rsync remote-shell streams (our own code, written from
RFC.md and rsync-protocol.md; it shares nothing with rsync's sources).

It understands exactly what the capture runs in capture.py produce: one regular file, no
-o/-g/-l/-D/-H/-c/-z, no incremental recursion. It extracts, per direction:

  * the handshake (version, compat flags, negotiation strings, checksum seed);
  * the generator's requests: ndx, iflags, sum head and block sums;
  * the sender's echo, token stream and whole-file checksum.

Everything is checked as it is read; any surprise raises DecodeError.
"""

INT_BYTE_EXTRA = [0] * 32 + [1] * 16 + [2] * 8 + [3] * 4 + [4, 4, 5, 6]

CF_VARINT_FLIST_FLAGS = 0x80
CF_CHKSUM_SEED_FIX = 0x20
ITEM_TRANSFER = 0x8000
ITEM_BASIS_TYPE_FOLLOWS = 0x0800
ITEM_XNAME_FOLLOWS = 0x1000
NDX_DONE = -1

DIGEST_LEN = {"md4": 16, "md5": 16, "xxh64": 8, "xxh3": 8, "xxh128": 16}


class DecodeError(Exception):
    pass


class Reader:
    """A byte cursor with rsync's primitive decoders (RFC.md §4 / notes §2.1)."""

    def __init__(self, data, what):
        self.d = data
        self.p = 0
        self.what = what
        self.prev_pos = -1
        self.prev_neg = 1

    def take(self, n):
        if self.p + n > len(self.d):
            raise DecodeError(f"{self.what}: need {n} bytes at {self.p}, have {len(self.d) - self.p}")
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def byte(self):
        return self.take(1)[0]

    def int32(self):
        return int.from_bytes(self.take(4), "little", signed=True)

    def uint32(self):
        return int.from_bytes(self.take(4), "little", signed=False)

    def shortint(self):
        return int.from_bytes(self.take(2), "little")

    def varint(self):
        ch = self.byte()
        extra = INT_BYTE_EXTRA[ch // 4]
        if extra:
            low = self.take(extra)
            high = ch & ((1 << (8 - extra)) - 1)
            v = int.from_bytes(low + bytes([high]), "little")
        else:
            v = ch
        return v - (1 << 32) if v >= 1 << 31 and v < 1 << 32 else v

    def varlong(self, min_bytes):
        first = self.take(min_bytes)
        ch = first[0]
        extra = INT_BYTE_EXTRA[ch // 4]
        low = first[1:]
        if extra:
            low += self.take(extra)
            low += bytes([ch & ((1 << (8 - extra)) - 1)])
        else:
            low += bytes([ch])
        return int.from_bytes(low, "little")

    def longint(self):
        v = self.int32()
        if v != -1:
            return v
        return int.from_bytes(self.take(8), "little", signed=True)

    def vstring(self):
        n = self.byte()
        if n & 0x80:
            n = (n & 0x7F) * 256 + self.byte()
        return self.take(n)

    def ndx(self, protocol):
        if protocol < 30:
            return self.int32()
        b = self.byte()
        if b == 0:
            return NDX_DONE
        neg = b == 0xFF
        if neg:
            b = self.byte()
        prev = self.prev_neg if neg else self.prev_pos
        if b == 0xFE:
            b0, b1 = self.take(2)
            if b0 & 0x80:
                b2, b3 = self.take(2)
                num = int.from_bytes(bytes([b1, b2, b3, b0 & 0x7F]), "little")
            else:
                num = (b0 << 8) + b1 + prev
        else:
            num = b + prev
        if neg:
            self.prev_neg = num
            return -num
        self.prev_pos = num
        return num


def demux(raw, what):
    """Splits multiplexed frames: returns (MSG_DATA bytes, [(tag, payload), ...])."""
    r = Reader(raw, what)
    data = bytearray()
    msgs = []
    while r.p < len(raw):
        h = r.uint32()
        tag = (h >> 24) - 7
        n = h & 0xFFFFFF
        payload = r.take(n)
        if tag == 0:
            data += payload
        elif tag < 0:
            raise DecodeError(f"{what}: bad frame header {h:#010x} at {r.p - 4 - n}")
        else:
            msgs.append((tag, payload))
    return bytes(data), msgs


def read_handshake(c2s, s2c, choice):
    """Parses both handshake halves. Returns (info, c2s_rest, s2c_rest)."""
    c = Reader(c2s, "c2s handshake")
    s = Reader(s2c, "s2c handshake")
    info = {"client_version": c.int32(), "server_version": s.int32()}
    proto = min(info["client_version"], info["server_version"])
    info["protocol"] = proto
    compat = 0
    if proto >= 30:
        compat = s.varint()
    info["compat"] = compat
    negotiated = None
    if compat & CF_VARINT_FLIST_FLAGS and not choice:
        client_list = c.vstring().decode().split()
        server_list = s.vstring().decode().split()
        info["client_list"] = client_list
        info["server_list"] = server_list
        # rsync 3.5.0 rule: each side picks its own first choice the peer also has.
        # Both ends are 3.5.0 here, so the server's pick is everyone's pick.
        negotiated = next(n for n in server_list if n in client_list)
        if negotiated == "xxhash":
            negotiated = "xxh64"
    info["seed"] = s.int32()
    if choice:
        info["checksum"] = choice
    elif negotiated:
        info["checksum"] = negotiated
    else:
        info["checksum"] = "md5" if proto >= 30 else "md4"
    info["seed_fix"] = 1 if compat & CF_CHKSUM_SEED_FIX else 0
    return info, c2s[c.p:], s2c[s.p:]


def read_flist(r, proto, varint_flags):
    """Reads a file list of regular files (no uid/gid/links/devices/hardlinks/-c)."""
    entries = []
    name = b""
    while True:
        if varint_flags:
            flags = r.varint()
            if flags == 0:
                io_error = r.varint()
                break
        else:
            flags = r.byte()
            if flags == 0:
                io_error = 0
                break
            if proto >= 28 and flags & 0x04:
                flags |= r.byte() << 8
                if flags == 0x1004:  # EXTENDED_FLAGS | IO_ERROR_ENDLIST
                    io_error = r.varint()
                    break
        l1 = r.byte() if flags & 0x20 else 0
        if flags & 0x40:
            l2 = r.varint() if proto >= 30 else r.int32()
        else:
            l2 = r.byte()
        name = name[:l1] + r.take(l2)
        size = r.varlong(3) if proto >= 30 else r.longint()
        if not flags & 0x80:
            mtime = r.varlong(4) if proto >= 30 else r.uint32()
        nsec = r.varint() if flags & 0x2000 else 0
        if not flags & 0x02:
            mode = r.uint32()
        if flags & 0x200:
            raise DecodeError("hard links not expected")
        entries.append({"name": name.decode(), "size": size, "flags": flags, "mode": mode,
                        "mtime": mtime, "nsec": nsec})
    if proto < 30:
        io_error = r.int32()
    return entries, io_error


def read_item(r, proto):
    """ndx (+ iflags, basis type, xname). Returns (ndx, iflags)."""
    ndx = r.ndx(proto)
    if ndx < 0:
        return ndx, 0
    if proto < 29:
        return ndx, ITEM_TRANSFER
    iflags = r.shortint()
    if iflags & ITEM_BASIS_TYPE_FOLLOWS:
        r.byte()
    if iflags & ITEM_XNAME_FOLLOWS:
        r.vstring()
    return ndx, iflags


def read_sum_head(r, proto):
    count = r.int32()
    blength = r.int32()
    s2length = r.int32() if proto >= 27 else None
    remainder = r.int32()
    return {"count": count, "blength": blength, "s2length": s2length, "remainder": remainder}


def read_generator(data, proto, pull):
    """Generator -> sender stream: [filter list if pull], then the requests of phase 0
    (the first pass) and phase 1 (the redo pass), each ended by NDX_DONE."""
    r = Reader(data, "generator stream")
    if pull:
        while True:  # filter list: int len + rule, ends with int 0
            n = r.int32()
            if n == 0:
                break
            r.take(n)
    requests = []
    for phase in (0, 1):
        if r.p == len(r.d):
            break
        while True:
            ndx, iflags = read_item(r, proto)
            if ndx == NDX_DONE:
                break
            if ndx < 0:
                raise DecodeError(f"unexpected ndx {ndx} in generator stream")
            req = {"ndx": ndx, "iflags": iflags, "phase": phase}
            if iflags & ITEM_TRANSFER:
                head = read_sum_head(r, proto)
                req["head"] = head
                req["blocks"] = [(r.uint32(), r.take(head["s2length"]))
                                 for _ in range(head["count"])]
            requests.append(req)
    return requests


def read_sender(data, proto, varint_flags, digest_len):
    """Sender -> receiver stream: file list, then per file echo + tokens + file sum, for
    phase 0 and phase 1, each ended by NDX_DONE."""
    r = Reader(data, "sender stream")
    flist, io_error = read_flist(r, proto, varint_flags)
    files = []
    for phase in (0, 1):
        if r.p == len(r.d):
            break
        while True:
            ndx, iflags = read_item(r, proto)
            if ndx == NDX_DONE:
                break
            if ndx < 0:
                raise DecodeError(f"unexpected ndx {ndx} in sender stream")
            f = {"ndx": ndx, "iflags": iflags, "phase": phase}
            if iflags & ITEM_TRANSFER:
                f["head"] = read_sum_head(r, proto)
                tokens = []
                while True:
                    t = r.int32()
                    if t == 0:
                        break
                    if t > 0:
                        tokens.append(("L", r.take(t)))
                    else:
                        tokens.append(("C", -(t + 1)))
                f["tokens"] = tokens
                f["file_sum"] = r.take(digest_len)
            files.append(f)
    return flist, io_error, files


def decode(c2s, s2c, pull, choice):
    """Decodes one capture. `pull`: the server is the sender."""
    info, c_rest, s_rest = read_handshake(c2s, s2c, choice)
    proto = info["protocol"]
    s_data, s_msgs = demux(s_rest, "s2c frames")
    if proto >= 30:
        c_data, c_msgs = demux(c_rest, "c2s frames")
    else:
        c_data, c_msgs = c_rest, []
    varint_flags = bool(info["compat"] & CF_VARINT_FLIST_FLAGS)
    digest_len = DIGEST_LEN[info["checksum"]]
    gen, snd = (c_data, s_data) if pull else (s_data, c_data)
    requests = read_generator(gen, proto, pull)
    flist, io_error, files = read_sender(snd, proto, varint_flags, digest_len)
    info["messages"] = s_msgs + c_msgs
    return info, flist, requests, files
