#!/usr/bin/env python3
"""Writes a synthetic but protocol-correct SMTP capture for replay benchmarks.

Usage: gen_smtp_pcap.py OUT.pcap [--sessions N] [--mails-per-session M] [--body-bytes B]

Each session: 3-way handshake, greeting, EHLO (multi-line reply), then M transactions of MAIL,
RCPT, DATA, a body of B bytes in 1460-byte segments (with a dot-stuffed line), ".", then QUIT and
FIN/ACK both ways. Sessions are interleaved round-robin so the flow table holds many at once.
IPv4 over Ethernet, checksums zero (mailtap does not verify them, like Zeek's -C).
"""
import argparse
import struct

MSS = 1460


def eth_ip_tcp(src, dst, sport, dport, seq, ack, flags, payload):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags,
                      65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, bytes(src), bytes(dst))
    eth = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
    return eth + ip + tcp + payload


class Session:
    def __init__(self, index, mails, body_bytes):
        self.client = (10, 1, (index >> 8) & 0xFF, index & 0xFF)
        self.server = (10, 0, 0, 25)
        self.cport = 20000 + index % 40000
        self.cseq, self.sseq = 1000 + index * 7919, 5000 + index * 104729
        self.steps = self._script(mails, body_bytes)

    def _script(self, mails, body_bytes):
        line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
        body = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: bench\r\n\r\n"
        body += b"..a dot-stuffed line\r\n"
        while len(body) < body_bytes:
            body += line
        steps = [("S", b"220 bench.example ESMTP ready\r\n"), ("C", b"EHLO client.example\r\n"),
                 ("S", b"250-bench.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n")]
        for m in range(mails):
            steps += [("C", b"MAIL FROM:<a%d@example.com>\r\n" % m), ("S", b"250 2.1.0 Ok\r\n"),
                      ("C", b"RCPT TO:<b@example.net>\r\n"), ("S", b"250 2.1.5 Ok\r\n"),
                      ("C", b"DATA\r\n"), ("S", b"354 End data with <CR><LF>.<CR><LF>\r\n"),
                      ("C", body + b".\r\n"), ("S", b"250 2.0.0 Ok: queued as %05d\r\n" % m)]
        steps += [("C", b"QUIT\r\n"), ("S", b"221 2.0.0 Bye\r\n")]
        return steps

    def packets(self):
        c, s, cp = self.client, self.server, self.cport
        yield eth_ip_tcp(c, s, cp, 25, self.cseq, 0, 0x02, b"")
        yield eth_ip_tcp(s, c, 25, cp, self.sseq, self.cseq + 1, 0x12, b"")
        self.cseq += 1
        self.sseq += 1
        yield eth_ip_tcp(c, s, cp, 25, self.cseq, self.sseq, 0x10, b"")
        for who, data in self.steps:
            for off in range(0, len(data), MSS):
                chunk = data[off:off + MSS]
                if who == "C":
                    yield eth_ip_tcp(c, s, cp, 25, self.cseq, self.sseq, 0x18, chunk)
                    self.cseq += len(chunk)
                else:
                    yield eth_ip_tcp(s, c, 25, cp, self.sseq, self.cseq, 0x18, chunk)
                    self.sseq += len(chunk)
        yield eth_ip_tcp(c, s, cp, 25, self.cseq, self.sseq, 0x11, b"")
        yield eth_ip_tcp(s, c, 25, cp, self.sseq, self.cseq + 1, 0x11, b"")
        yield eth_ip_tcp(c, s, cp, 25, self.cseq + 1, self.sseq + 1, 0x10, b"")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--sessions", type=int, default=2000)
    ap.add_argument("--mails-per-session", type=int, default=5)
    ap.add_argument("--body-bytes", type=int, default=4096)
    ap.add_argument("--concurrent", type=int, default=50, help="sessions interleaved at once")
    args = ap.parse_args()
    ts = 1_700_000_000 * 1_000_000
    with open(args.out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for start in range(0, args.sessions, args.concurrent):
            gens = [Session(i, args.mails_per_session, args.body_bytes).packets()
                    for i in range(start, min(start + args.concurrent, args.sessions))]
            while gens:
                for g in list(gens):
                    pkt = next(g, None)
                    if pkt is None:
                        gens.remove(g)
                        continue
                    ts += 50
                    f.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(pkt), len(pkt)))
                    f.write(pkt)


if __name__ == "__main__":
    main()
