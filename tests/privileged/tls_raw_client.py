#!/usr/bin/env python3
"""A raw SMTP-over-TLS client for the privileged TLS tests (tls_probes_test.cc).

Usage: tls_raw_client.py PORT starttls|implicit [--auth USER PASSWORD] [--bdat] [--host ADDR]

Sends one message inside TLS (after STARTTLS, or from the first byte for implicit TLS), with
AUTH PLAIN if asked and the body by BDAT instead of DATA if asked, and prints what it sent and
received inside TLS, hex-encoded, for the test to compare with the server's plaintext:
  local_port N
  sent HEX
  received HEX
Exit status 0 when the server accepted the message, 1 otherwise.
"""
import base64
import socket
import ssl
import sys


class Client:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=20)
        self.local_port = self.sock.getsockname()[1]
        self.tls = None
        self.sent = b""
        self.received = b""
        self.unread = b""

    def _recv(self):
        data = (self.tls or self.sock).recv(65536)
        if not data:
            raise EOFError("server closed")
        if self.tls:
            self.received += data
        return data

    def reply(self):
        """One complete reply: its last line has a space after the code (RFC 5321 4.2)."""
        while True:
            start = 0
            while True:
                eol = self.unread.find(b"\r\n", start)
                if eol < 0:
                    break
                if eol - start >= 4 and self.unread[start + 3:start + 4] == b" ":
                    out, self.unread = self.unread[:eol + 2], self.unread[eol + 2:]
                    return out.decode("latin-1")
                start = eol + 2
            self.unread += self._recv()

    def send(self, data):
        (self.tls or self.sock).sendall(data)
        if self.tls:
            self.sent += data

    def command(self, line, expect):
        self.send(line.encode() + b"\r\n")
        r = self.reply()
        if not r.startswith(expect):
            raise RuntimeError(f"{line!r}: {r!r}")
        return r

    def start_tls(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the fixture's self-signed certificate
        self.tls = ctx.wrap_socket(self.sock)


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    auth = sys.argv[sys.argv.index("--auth") + 1:][:2] if "--auth" in sys.argv else None
    bdat = "--bdat" in sys.argv
    host = sys.argv[sys.argv.index("--host") + 1] if "--host" in sys.argv else "127.0.0.1"
    c = Client(host, port)
    print(f"local_port {c.local_port}", flush=True)
    try:
        if mode == "starttls":
            c.reply()
            c.command("EHLO plain.example", "250")
            c.command("STARTTLS", "220")
            c.start_tls()
        else:
            c.start_tls()
            c.reply()
        c.command("EHLO python.example", "250")
        if auth:
            token = base64.b64encode(f"\0{auth[0]}\0{auth[1]}".encode()).decode()
            c.command(f"AUTH PLAIN {token}", "235")
        c.command("MAIL FROM:<python@example.org>", "250")
        c.command("RCPT TO:<test@localhost>", "250")
        body = b"Subject: raw python inside TLS\r\n\r\n" + b"0123456789abcdef\r\n" * 2000
        if bdat:  # RFC 3030: the chunk follows the command line directly
            c.send(f"BDAT {len(body)} LAST\r\n".encode() + body)
        else:
            c.command("DATA", "354")
            c.send(body + b".\r\n")
        if not c.reply().startswith("250"):
            raise RuntimeError("message refused")
        c.command("QUIT", "221")
        ok = True
    except (OSError, EOFError, RuntimeError) as e:
        print(f"error {e}", file=sys.stderr)
        ok = False
    print(f"sent {c.sent.hex()}")
    print(f"received {c.received.hex()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
