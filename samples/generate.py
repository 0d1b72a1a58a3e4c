#!/usr/bin/env python3
"""Writes samples/smtp-sessions.pcap: a few short SMTP sessions between made-up hosts, to try
mailtapd on without capturing real mail:

    mailtapd -r samples/smtp-sessions.pcap --events -

Every byte is synthetic (addresses from the documentation ranges, names under example.org and
example.com); nothing was captured from a network. The output is deterministic: running this
again writes the same file, and a test checks that the committed file is what this script writes
and that mailtapd's events match SESSIONS below.

    python3 samples/generate.py [OUTPUT]      (default: smtp-sessions.pcap beside this script)
"""
import os
import struct
import sys

START_TS = 1767261600  # 2026-01-01 10:00:00 UTC
SERVER = ("192.0.2.25", 25)

# Each session: the client's address and port, and the conversation in order. "C" lines are the
# client's, "S" lines the server's; "DATA" is the message the client sends after `354`, line by
# line as written on the wire (dot-stuffed), without the final ".".
SESSIONS = [
    {
        "client": ("198.51.100.7", 50001),
        "steps": [
            ("S", "220 mx.example.org ESMTP ready"),
            ("C", "EHLO client.example.com"),
            ("S", "250-mx.example.org greets client.example.com"),
            ("S", "250-PIPELINING"),
            ("S", "250-SIZE 10240000"),
            ("S", "250 STARTTLS"),
            ("C", "MAIL FROM:<alice@example.com> SIZE=412"),
            ("S", "250 2.1.0 Ok"),
            ("C", "RCPT TO:<bob@example.org>"),
            ("S", "250 2.1.5 Ok"),
            ("C", "RCPT TO:<carol@example.org>"),
            ("S", "250 2.1.5 Ok"),
            ("C", "DATA"),
            ("S", "354 End data with <CR><LF>.<CR><LF>"),
            ("DATA", [
                "From: Alice Example <alice@example.com>",
                "To: Bob <bob@example.org>, Carol <carol@example.org>",
                "Subject: Lunch on Friday",
                "Date: Thu, 01 Jan 2026 10:00:01 +0000",
                "Message-ID: <sample-1@client.example.com>",
                "",
                "Hi Bob, hi Carol,",
                "shall we meet at the usual place at noon?",
                "..and a line that starts with a dot, stuffed on the wire.",
                "Alice",
            ]),
            ("S", "250 2.0.0 Ok: queued as 4ABC1"),
            ("C", "QUIT"),
            ("S", "221 2.0.0 Bye"),
        ],
    },
    {
        "client": ("198.51.100.8", 50002),
        "steps": [
            ("S", "220 mx.example.org ESMTP ready"),
            ("C", "EHLO laptop.example.com"),
            ("S", "250-mx.example.org"),
            ("S", "250 AUTH PLAIN LOGIN"),
            # base64 of "\0dave\0not-a-real-password": redacted in every output by default.
            ("C", "AUTH PLAIN AGRhdmUAbm90LWEtcmVhbC1wYXNzd29yZA=="),
            ("S", "235 2.7.0 Authentication successful"),
            ("C", "MAIL FROM:<dave@example.com>"),
            ("S", "250 2.1.0 Ok"),
            ("C", "RCPT TO:<nobody@example.org>"),
            ("S", "550 5.1.1 <nobody@example.org>: Recipient address rejected"),
            ("C", "RCPT TO:<erin@example.org>"),
            ("S", "250 2.1.5 Ok"),
            ("C", "DATA"),
            ("S", "354 End data with <CR><LF>.<CR><LF>"),
            ("DATA", [
                "From: dave@example.com",
                "To: erin@example.org",
                "Subject: Quarterly report",
                "",
                "The figures are attached in the next mail.",
            ]),
            ("S", "250 2.0.0 Ok: queued as 4ABC2"),
            ("C", "QUIT"),
            ("S", "221 2.0.0 Bye"),
        ],
    },
    {
        "client": ("203.0.113.9", 50003),
        "steps": [
            ("S", "220 mx.example.org ESMTP ready"),
            ("C", "HELO old.example.net"),
            ("S", "250 mx.example.org"),
            ("C", "VRFY postmaster"),
            ("S", "252 2.0.0 Cannot VRFY user"),
            ("C", "QUIT"),
            ("S", "221 2.0.0 Bye"),
        ],
    },
]


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip_bytes(address):
    return bytes(int(part) for part in address.split("."))


def frame(src, dst, seq, ack, flags, payload=b""):
    """An Ethernet/IPv4/TCP frame from (address, port) src to dst."""
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq, ack, 5 << 4, flags, 65535, 0, 0)
    pseudo = ip_bytes(src[0]) + ip_bytes(dst[0]) + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp + payload)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64, 6, 0,
                     ip_bytes(src[0]), ip_bytes(dst[0]))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    ethernet = bytes.fromhex("020000000002" "020000000001") + b"\x08\x00"
    return ethernet + ip + tcp + payload


FIN, SYN, PSH_ACK, ACK = 0x01, 0x02, 0x18, 0x10


class Capture:
    def __init__(self):
        self.records = []
        self.usec = 0

    def add(self, data, step_usec=1000):
        self.usec += step_usec
        ts = START_TS * 1_000_000 + self.usec
        header = struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(data), len(data))
        self.records.append(header + data)

    def bytes(self):
        header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
        return header + b"".join(self.records)


def wire_lines(step):
    """The bytes one step puts on the wire."""
    kind, content = step
    if kind == "DATA":
        return "".join(line + "\r\n" for line in content).encode() + b".\r\n"
    return (content + "\r\n").encode()


def add_session(capture, session, index):
    client, server = session["client"], SERVER
    seq = {"C": 1000 * (index + 1), "S": 5000 * (index + 1)}
    capture.add(frame(client, server, seq["C"], 0, SYN), step_usec=100_000)
    capture.add(frame(server, client, seq["S"], seq["C"] + 1, SYN | ACK))
    seq = {"C": seq["C"] + 1, "S": seq["S"] + 1}
    capture.add(frame(client, server, seq["C"], seq["S"], ACK))
    for step in session["steps"]:
        side = "S" if step[0] == "S" else "C"
        src, dst = (server, client) if side == "S" else (client, server)
        other = "C" if side == "S" else "S"
        payload = wire_lines(step)
        capture.add(frame(src, dst, seq[side], seq[other], PSH_ACK, payload))
        seq[side] += len(payload)
    # The client closes after QUIT's reply; the server answers with its own FIN.
    capture.add(frame(client, server, seq["C"], seq["S"], FIN | ACK))
    capture.add(frame(server, client, seq["S"], seq["C"] + 1, FIN | ACK))
    capture.add(frame(client, server, seq["C"] + 1, seq["S"] + 1, ACK))


def generate():
    capture = Capture()
    for index, session in enumerate(SESSIONS):
        add_session(capture, session, index)
    return capture.bytes()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    output = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "smtp-sessions.pcap")
    with open(output, "wb") as f:
        f.write(generate())


if __name__ == "__main__":
    main()
