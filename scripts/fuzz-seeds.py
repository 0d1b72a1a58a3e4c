#!/usr/bin/env python3
"""Builds the fuzz targets' seed corpora under OUT_DIR (one directory per target) from our own
generated captures and from Zeek's SMTP traces, which are read where they are (../shared/corpus/
zeek beside the repository, or MAILTAP_ZEEK_CORPUS) and never copied into the repository.

Usage: scripts/fuzz-seeds.py OUT_DIR
"""
import gzip
import os
import pathlib
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "hostile"))
import capture  # noqa: E402

ZEEK = pathlib.Path(os.environ.get("MAILTAP_ZEEK_CORPUS", ROOT.parent / "shared" / "corpus" / "zeek"))
MAX_SEED = 128 * 1024


def zeek_traces():
    for path in sorted((ZEEK / "traces").rglob("*")):
        if "smtp" not in str(path) or not path.is_file():
            continue
        if path.suffix == ".gz":
            data = gzip.decompress(path.read_bytes())
        elif path.suffix in (".pcap", ".pcapng", ".trace"):
            data = path.read_bytes()
        else:
            continue
        if len(data) <= MAX_SEED:
            yield path.name.replace(".gz", ""), data


def generated_captures(tmp):
    sessions = {
        "plain": capture.mail_session(),
        "many-rcpts": capture.mail_session(rcpts=[b"r%d@example.org" % i for i in range(20)]),
        "headers": capture.mail_session(headers=b"To: a@b.c, \"x, y\" <c@d.e>\r\nCc: e@f.g\r\n"
                                        b"Received: from x ([192.0.2.1]) by y\r\n"
                                        b"X-Originating-IP: [2001:db8::1]\r\n"),
    }
    for name, session in sessions.items():
        path = tmp / (name + ".pcap")
        capture.write_pcap(path, session.frames)
        yield "generated-" + name + ".pcap", path.read_bytes()


def pcap_frames(data):
    """(link type, frame) of a classic little/big-endian pcap; nothing for pcapng."""
    if len(data) < 24:
        return
    magic = data[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
              b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if endian is None:
        return
    link = struct.unpack(endian + "I", data[20:24])[0]
    pos = 24
    while pos + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[pos + 8:pos + 12])[0]
        yield link, data[pos + 16:pos + 16 + incl]
        pos += 16 + incl


def script_from_session(session, gaps):
    """fuzz_tcp_streams records for a session's payloads: [op, delta(2), len, cut, payload]."""
    out = bytearray()
    for op in (0x02 << 2, 1 | (0x12 << 2), 0x10 << 2):  # SYN, SYN-ACK, ACK
        out += bytes([op, 0, 0, 0, 0])
    for i, (side, chunk) in enumerate(session):
        cut = 0
        if gaps and i % 5 == 4 and len(chunk) > 4:
            cut, chunk = len(chunk) - 4, chunk[:4]
        for j in range(0, max(len(chunk), 1), 255):
            piece = chunk[j:j + 255]
            op = (1 if side == "s" else 0) | ((0x08 | 0x10) << 2)  # PSH ACK
            out += bytes([op, 0, 0, len(piece), cut if j + 255 >= len(chunk) else 0]) + piece
    return bytes(out)


DIALOGUE = [("s", b"220 mx ESMTP\r\n"), ("c", b"EHLO c\r\n"), ("s", b"250-mx\r\n250 CHUNKING\r\n"),
            ("c", b"MAIL FROM:<a@b.c>\r\n"), ("s", b"250 ok\r\n"), ("c", b"RCPT TO:<d@e.f>\r\n"),
            ("s", b"250 ok\r\n"), ("c", b"DATA\r\n"), ("s", b"354 go\r\n"),
            ("c", b"From: a@b.c\r\nTo: d@e.f\r\nSubject: x\r\n\r\nbody\r\n.\r\n"),
            ("s", b"250 queued\r\n"), ("c", b"BDAT 5 LAST\r\nhello"), ("s", b"250 ok\r\n"),
            ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")]

def smtp_log_script(session, knobs, gaps):
    """fuzz_smtp_log input: [knobs] then [op, len, bytes] records (op 0 client, 1 server, 2 gap)."""
    out = bytearray([knobs])
    for i, (side, chunk) in enumerate(session):
        if gaps and i % 4 == 3:
            out += bytes([2 | (4 if side == "s" else 0), 3])
            continue
        for j in range(0, len(chunk), 255):
            piece = chunk[j:j + 255]
            out += bytes([1 if side == "s" else 0, len(piece)]) + piece
    return bytes(out)


HEADERS = (b"From: \"A, B\" <a@b.c>\r\nTo: d@e.f, <g@h.i>\r\nCc: j@k.l\r\nReply-To: m@n.o\r\n"
           b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@x>\r\nIn-Reply-To: <0@x>\r\n"
           b"Received: from x ([192.0.2.1]) by y\r\nReceived: from z (10.0.0.9) by x\r\n"
           b"X-Originating-IP: [2001:db8::1]\r\nUser-Agent: u\r\nX-Mailer: m\r\n"
           b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\tfolded\r\n\r\nbody\r\n.\r\n")
TRANSACTIONS = [("s", b"220 mx ESMTP\r\n"), ("c", b"EHLO c\r\n"), ("s", b"250-mx\r\n250 CHUNKING\r\n"),
                ("c", b"MAIL FROM:<a@b.c> SIZE=10\r\n"), ("s", b"250 ok\r\n"),
                ("c", b"RCPT TO:<d@e.f> ORCPT=rfc822;d@e.f\r\n"), ("s", b"250 ok\r\n"),
                ("c", b"RCPT TO:<x@y.z>\r\n"), ("s", b"550 no\r\n"),
                ("c", b"DATA\r\n"), ("s", b"354 go\r\n"), ("c", HEADERS), ("s", b"250 queued\r\n"),
                ("c", b"RSET\r\nMAIL FROM:<>\r\nRCPT TO:<p@q.r>\r\nBDAT 5 LAST\r\nhello"),
                ("s", b"250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n"), ("c", b"STARTTLS\r\n"),
                ("s", b"220 go\r\n"), ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")]

QUERIES = [b'{"protocol":1,"verb":"observe","last":100,"follow":true,'
           b'"filter":{"event":["smtp_request"],"port":25,"direction":"orig"}}',
           b'{"verb":"status"}', b'{"verb":"metrics"}',
           b'{"verb":"connections","filter":{"address":"10.0.0.1","uid":"C1"}}',
           b'{"verb":"transactions","last":5,"filter":{"match":"x","since":1.5,"until":2}}',
           b'{"verb":"observe","filter":{"command":"MAIL"}}']


def write(directory, name, data):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


# Messages for fuzz_mime: multipart nesting, an attached message, both transfer encodings.
MIME_MESSAGES = [
    b"Content-Type: multipart/mixed; boundary=\"b1\"\r\nSubject: x\r\n\r\npre\r\n--b1\r\n"
    b"Content-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\na=3Db=\r\nc\r\n--b2--\r\n--b1\r\n"
    b"Content-Type: message/rfc822\r\n\r\nFrom: a\r\n\r\ninner\r\n--b1\r\n"
    b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=x\r\n\r\n"
    b"aGVsbG8=\r\n--b1--\r\nepilogue\r\n",
    b"Received: from x\r\n\tby y\r\n\r\nbody\nno crlf\r\n",
]


def main():
    out = pathlib.Path(sys.argv[1])
    tmp = out / ".tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    captures = list(zeek_traces()) + list(generated_captures(tmp))
    for name, data in captures:
        write(out / "fuzz_pcap_replay", name, data)
        for k, (link, frame) in enumerate(pcap_frames(data)):
            if k % 7 == 0:  # a sample: the decoder needs shapes, not every frame
                index = {1: 1, 0: 0, 101: 4, 113: 6}.get(link, 1)
                # [link type index, bytes the snaplen cut (16 bits), frame]
                write(out / "fuzz_decoder", "%s-%d" % (name, k), bytes([index, 0, 0]) + frame)
    write(out / "fuzz_tcp_streams", "dialogue", script_from_session(DIALOGUE, gaps=False))
    write(out / "fuzz_tcp_streams", "dialogue-gaps", script_from_session(DIALOGUE, gaps=True))
    for knobs in (0, 15):
        for gaps in (False, True):
            write(out / "fuzz_smtp_log", "transactions-%d-%d" % (knobs, gaps),
                  smtp_log_script(TRANSACTIONS, knobs, gaps))
    write(out / "fuzz_smtp_log", "dialogue", smtp_log_script(DIALOGUE, 0, False))
    for i, q in enumerate(QUERIES):
        write(out / "fuzz_query_protocol", "query-%d" % i, q)
    fields = [b"", b"-", b"(empty)", b"a,b", b"\t\n\\", "caf\u00e9".encode(), b"\xff\xfe\x80",
              b"x" * 5000]
    for i, f in enumerate(fields):
        write(out / "fuzz_log_writers", "fields-%d" % i, bytes([i]) + f + b"\xff" + f)
    for i, message in enumerate(MIME_MESSAGES):
        write(out / "fuzz_mime", "message-%d" % i, message)
    print("seed corpora in %s (%d captures)" % (out, len(captures)))


if __name__ == "__main__":
    main()
