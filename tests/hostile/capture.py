"""Synthetic SMTP captures for the hostile-input suite and the fuzz seed corpora.

Frames are Ethernet/IPv4/TCP written to classic pcap files; sessions are built from the client's
and the server's bytes. Nothing here is checked by the code under test: it only makes inputs.
"""
import struct

CLIENT = (10, 0, 0, 1)
SERVER = (10, 0, 0, 2)


def checksum16(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_frame(src, dst, sport, dport, seq, ack, flags, payload=b""):
    """One Ethernet frame; flags is a string of S, A, F, R, P."""
    bits = sum({"F": 1, "S": 2, "R": 4, "P": 8, "A": 16}[f] for f in flags)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4,
                      bits, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, bytes(src),
                     bytes(dst))
    ip = ip[:10] + struct.pack("!H", checksum16(ip)) + ip[12:]
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp


def write_pcap(path, frames, start_usec=1_700_000_000_000_000, step_usec=1000):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        usec = start_usec
        for frame in frames:
            f.write(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame),
                                len(frame)))
            f.write(frame)
            usec += step_usec


class Session:
    """One TCP connection from CLIENT:sport to SERVER:25, built exchange by exchange."""

    def __init__(self, sport=40000, mss=1460):
        self.sport, self.mss = sport, mss
        self.seq = {"c": 1000, "s": 50000}
        self.frames = []

    def _frame(self, side, flags, payload=b""):
        other = "s" if side == "c" else "c"
        src, dst = (CLIENT, SERVER) if side == "c" else (SERVER, CLIENT)
        sport, dport = (self.sport, 25) if side == "c" else (25, self.sport)
        return tcp_frame(src, dst, sport, dport, self.seq[side], self.seq[other], flags, payload)

    def handshake(self):
        self.frames.append(self._frame("c", "S"))
        self.seq["c"] += 1
        self.frames.append(tcp_frame(SERVER, CLIENT, 25, self.sport, self.seq["s"], self.seq["c"],
                                     "SA"))
        self.seq["s"] += 1
        self.frames.append(self._frame("c", "A"))
        return self

    def send(self, side, data):
        """`side` is "c" or "s"; data is cut into MSS-sized segments."""
        for i in range(0, len(data), self.mss):
            chunk = data[i:i + self.mss]
            self.frames.append(self._frame(side, "PA", chunk))
            self.seq[side] += len(chunk)
        return self

    def send_swapped(self, side, data):
        """Like send, but the first two segments arrive in the opposite order (a reordering,
        which the monitor must buffer the second segment for)."""
        first = len(self.frames)
        self.send(side, data)
        self.frames[first], self.frames[first + 1] = self.frames[first + 1], self.frames[first]
        return self

    def close(self):
        for side in ("c", "s"):
            self.frames.append(self._frame(side, "FA"))
            self.seq[side] += 1
        return self


def mail_session(sport=40000, rcpts=(b"b@example.org",), headers=b"Subject: hi\r\n",
                 body=b"hello\r\n"):
    s = Session(sport).handshake()
    s.send("s", b"220 mx.example.org ESMTP\r\n")
    s.send("c", b"EHLO client.example.com\r\n")
    s.send("s", b"250-mx.example.org\r\n250 PIPELINING\r\n")
    s.send("c", b"MAIL FROM:<a@example.com>\r\n")
    s.send("s", b"250 2.1.0 Ok\r\n")
    for r in rcpts:
        s.send("c", b"RCPT TO:<" + r + b">\r\n")
        s.send("s", b"250 2.1.5 Ok\r\n")
    s.send("c", b"DATA\r\n")
    s.send("s", b"354 End data with <CR><LF>.<CR><LF>\r\n")
    s.send("c", headers + b"\r\n" + body + b".\r\n")
    s.send("s", b"250 2.0.0 Ok: queued\r\n")
    s.send("c", b"QUIT\r\n")
    s.send("s", b"221 2.0.0 Bye\r\n")
    return s.close()


def parked_in_headers(sport, headers):
    """A session left open mid-DATA after `headers` (complete lines): it never ends."""
    s = Session(sport, mss=60000).handshake()
    s.send("s", b"220 mx.example.org ESMTP\r\n")
    s.send("c", b"EHLO client.example.com\r\n")
    s.send("s", b"250 mx.example.org\r\n")
    s.send("c", b"MAIL FROM:<a@example.com>\r\n")
    s.send("s", b"250 2.1.0 Ok\r\n")
    s.send("c", b"RCPT TO:<b@example.org>\r\n")
    s.send("s", b"250 2.1.5 Ok\r\n")
    s.send("c", b"DATA\r\n")
    s.send("s", b"354 go ahead\r\n")
    s.send("c", headers)
    return s


def syn_flood(count, first_octet=11):
    """`count` SYN-only flows from distinct sources to SERVER:25."""
    return [tcp_frame((first_octet, 1 + (i >> 16), (i >> 8) & 0xFF, i & 0xFF), SERVER,
                      1024 + i % 60000, 25, i, 0, "S") for i in range(count)]


def parked_line(sport, size):
    """A session whose client sends `size` bytes of one unterminated line, then nothing."""
    s = Session(sport, mss=60000).handshake()
    s.send("s", b"220 mx ESMTP\r\n")
    return s.send("c", b"EHLO " + b"x" * size)


def reassembly_hole(sport, size, mss=60000):
    """A session whose client leaves a 10-byte hole, then sends `size` bytes after it."""
    s = Session(sport, mss=mss).handshake()
    s.send("s", b"220 mx ESMTP\r\n")
    s.seq["c"] += 10
    return s.send("c", b"y" * size)
