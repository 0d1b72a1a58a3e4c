#!/usr/bin/env python3
"""Real mail server, real kernel: the whole agent (mailtapd as a process, live eBPF capture on lo)
watches real SMTP sessions between swaks (and a raw client of our own, for BDAT) and Postfix
(scripts/postfix-fixture.sh), and must report exactly the events Zeek would.

Expected events and smtp.log records come from what was really exchanged: swaks' hex dumps of
every byte it wrote and read (--show-raw-text) and the raw client's own record, run through
livelib.ZeekModel (Zeek's rules from spec/zeek-smtp-behaviour.md). Never from mailtapd's output.

Usage: live_postfix_e2e_test.py [--mailtapd PATH] [--mailtap PATH] [--keep]
Needs root; skips loudly otherwise (exit 77), and fails instead under CI=true.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livelib  # noqa: E402
from livelib import RawClient, Results, ZeekModel  # noqa: E402

EHLO_SUFFIX = ".e2e.mailtap.test"
CONCURRENT = 10


def swaks_session(name, port=25, extra=(), subject=None, body="Hello from the live test\n"):
    """Argument list for one swaks session; `name` makes its EHLO unique."""
    args = ["--server", "127.0.0.1", "--port", str(port), "--ehlo", name + EHLO_SUFFIX,
            "--from", f"{name}@example.org", "--to", "test@localhost",
            "--header", f"Subject: {subject or name + ' mail'}", "--body", body, *extra]
    return args


def big_body(path, size):
    """A body of `size` bytes and more in 80-byte lines, none starting with a dot."""
    with open(path, "w") as f:
        written, i = 0, 0
        while written < size:
            line = f"big line {i:07d} " + "abcdefghijklmnopqrstuvwxyz0123456789" * 2 + "\n"
            f.write(line)
            written += len(line)
            i += 1
    return path


def bdat_session(name):
    """BDAT in two chunks (the first holds a lone '.' line, which BDAT does not treat as the end),
    then a second transaction with DATA and dot-stuffed lines in the same connection."""
    c = RawClient("127.0.0.1", 25)
    assert c.reply().startswith("220")
    ehlo = c.command("EHLO " + name + EHLO_SUFFIX)
    assert "CHUNKING" in ehlo, ehlo
    assert c.command(f"MAIL FROM:<{name}@example.org>").startswith("250")
    assert c.command("RCPT TO:<test@localhost>").startswith("250")
    chunk1 = (f"Subject: {name} chunks\r\nFrom: {name}@example.org\r\nTo: test@localhost\r\n\r\n"
              "first chunk, no end marker in BDAT\r\n.\r\n..two dots stay two\r\n").encode()
    chunk2 = b"".join(b"second chunk line %05d ............................\r\n" % i
                      for i in range(1500))
    c.send(b"BDAT %d\r\n" % len(chunk1) + chunk1)
    assert c.reply().startswith("250")
    c.send(b"BDAT %d LAST\r\n" % len(chunk2) + chunk2)
    assert c.reply().startswith("250")
    # Second transaction in the same connection: plain DATA, sent by this client in lock step.
    assert c.command(f"MAIL FROM:<{name}-second@example.org>").startswith("250")
    assert c.command("RCPT TO:<test@localhost>").startswith("250")
    assert c.command("DATA").startswith("354")
    c.send(f"Subject: {name} second\r\nTo: test@localhost\r\n\r\n".encode()
           + b".leading dot\r\n..\r\n. \r\nlast line\r\n.\r\n")
    assert c.reply().startswith("250")
    assert c.command("QUIT").startswith("221")
    c.close()
    return c.chunks


def run_sessions(workdir):
    """Runs every session; returns {name: transcript chunks}. Raises when a client fails."""
    transcripts = {}

    def run_swaks(name, args):
        rc, chunks, text = livelib.swaks(args)
        if rc != 0:
            raise RuntimeError(f"swaks session {name} failed ({rc}):\n{text[-2000:]}")
        transcripts[name] = chunks

    run_swaks("plain", swaks_session("plain", body="Hello\nThis is the second line.\n"))
    run_swaks("pipelined", swaks_session("pipelined", extra=["--pipeline"]))
    transcripts["bdat"] = bdat_session("bdat")
    run_swaks("dots", swaks_session(
        "dots", body=".starts with a dot\n..two dots\n.\n. space\nend\n"))
    big = big_body(os.path.join(workdir, "big-body.txt"), (1 << 20) + 200_000)
    run_swaks("big", swaks_session("big", body="@" + big))
    run_swaks("tls", swaks_session("tls", port=587, extra=["--tls"]))
    # For ssl.log only (its certificate is visible on the wire in TLS 1.2, not in 1.3).
    rc, _, text = livelib.swaks(swaks_session("tls12", port=587,
                                              extra=["--tls", "--tls-protocol", "tlsv1_2"]))
    if rc != 0:
        raise RuntimeError(f"swaks session tls12 failed ({rc}):\n{text[-2000:]}")

    procs = {}
    for i in range(CONCURRENT):
        name = f"concurrent{i}"
        procs[name] = subprocess.Popen(
            [livelib.tool("swaks"), "--show-raw-text",
             *swaks_session(name, body=f"concurrent body {i}\nline two\n")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for name, p in procs.items():
        out, _ = p.communicate(timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"swaks session {name} failed:\n{out.decode(errors='replace')}")
        transcripts[name] = livelib.parse_swaks_raw(out.decode("latin-1"))
    return transcripts


def record_view(rec):
    """The smtp.log fields this test asserts, sets sorted."""
    keys = ("trans_depth", "helo", "mailfrom", "rcptto", "subject", "from", "to", "last_reply",
            "tls")
    return {k: (sorted(rec[k]) if isinstance(rec.get(k), list) else rec.get(k)) for k in keys}


def check_session(res, name, chunks, by_uid, records_by_uid):
    helo = name + EHLO_SUFFIX
    uid = livelib.uid_of_helo(by_uid, helo)
    if not res.check(f"{name}: exactly one connection with EHLO {helo}", uid is not None):
        return
    try:
        model = ZeekModel().feed(chunks).finish()
    except livelib.ModelError as e:
        res.check(f"{name}: transcript within the model", False, str(e))
        return
    evs = by_uid[uid]
    actual = [livelib.event_tuple(e) for e in evs if e["event"] in livelib.SMTP_EVENTS]
    res.check(f"{name}: exact smtp_* event sequence ({len(model.events)} events)",
              actual == model.events, livelib.first_difference(actual, model.events))
    others = sorted({e["event"] for e in evs if e["event"] not in livelib.SMTP_EVENTS
                     and not e["event"].startswith(("mime_", "file_"))})
    res.equal(f"{name}: no other events (weird, loss)", others, [])
    got = [record_view(r) for r in records_by_uid.get(uid, [])]
    want = [record_view(r) for r in model.records]
    res.equal(f"{name}: smtp.log records", got, want)


def check_session_shapes(res, transcripts):
    """Guards against a model that trivially agrees: the sessions did what they are named for."""
    def sent(name):
        return b"".join(d for direction, d in transcripts[name] if direction == "c")
    res.check("pipelined: MAIL, RCPT and DATA went out in one write",
              any(d.startswith(b"MAIL FROM:") and b"\r\nRCPT TO:" in d and d.endswith(b"DATA\r\n")
                  for direction, d in transcripts["pipelined"] if direction == "c"))
    res.check("dots: dot-stuffed lines on the wire", b"\r\n..starts with a dot\r\n" in sent("dots"))
    res.check("big: more than 1 MiB sent", len(sent("big")) > (1 << 20))
    res.check("tls: STARTTLS sent", b"STARTTLS\r\n" in sent("tls"))
    res.check("bdat: two BDAT commands sent", sent("bdat").count(b"BDAT ") == 2)


# The fixture's certificate (scripts/postfix-fixture.sh): the only one of Postfix's chain.
FIXTURE_CERT = "/etc/postfix/mailtap-test/cert.pem"


def openssl_fingerprint(pem_path):
    """SHA-256 of the certificate as the openssl tool prints it, lower-case hex without colons."""
    out = subprocess.run(["openssl", "x509", "-in", pem_path, "-noout", "-fingerprint",
                          "-sha256"], capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1].replace(":", "").lower()


def check_ssl_log(res, workdir, by_uid):
    """ssl.log from the wire: the TLS 1.3 and TLS 1.2 sessions, the latter with its certificate."""
    path = os.path.join(workdir, "ssl.log")
    records = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    for name, version in (("tls", "TLSv13"), ("tls12", "TLSv12")):
        uid = livelib.uid_of_helo(by_uid, name + EHLO_SUFFIX)
        recs = [r for r in records if r["uid"] == uid]
        if not res.equal(f"{name}: one ssl.log record", len(recs), 1):
            continue
        rec = recs[0]
        res.equal(f"{name}: ssl.log version", rec.get("version"), version)
        res.equal(f"{name}: ssl.log established", rec.get("established"), True)
        res.equal(f"{name}: ssl.log history starts with the hellos",
                  rec.get("ssl_history", "")[:2], "Cs")
        if version == "TLSv12":
            res.equal(f"{name}: ssl.log cert_chain_fps is the fixture's certificate",
                      rec.get("cert_chain_fps"), [openssl_fingerprint(FIXTURE_CERT)])


def close_state_of(history):
    """Zeek's conn_state for a session the originator closes, from the order of its history: an
    originator's RST makes it RSTO, unless the originator's FIN came first and the responder's
    FIN came at all. (Zeek's TCP analyzer ignores a RST from an endpoint whose peer has closed
    too, and turns a FIN-then-RST endpoint back to closed when the peer's FIN follows.)"""
    reset = history.find("R")
    if reset < 0 or (0 <= history.find("F") < reset and "f" in history):
        return "SF"
    return "RSTO"


def check_conn_log(res, workdir, by_uid):
    """conn.log live: one record per session, a normal close seen from the flags and sequence
    numbers, the service by what was seen, no IP byte counts (the socket filter passes no IP
    header), and the Community ID the events carry."""
    path = os.path.join(workdir, "conn.log")
    records = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    for name, service in (("plain", "smtp"), ("tls", "smtp,ssl"), ("tls12", "smtp,ssl")):
        uid = livelib.uid_of_helo(by_uid, name + EHLO_SUFFIX)
        recs = [r for r in records if r["uid"] == uid]
        if not res.equal(f"{name}: one conn.log record", len(recs), 1):
            continue
        rec = recs[0]
        # The TLS clients close with a reset (Python's ssl module unwraps without reading the
        # server's close_notify); whether it lands before or after the server's FIN is a race.
        history = rec.get("history", "")
        expected = "SF" if name == "plain" else close_state_of(history)
        res.equal(f"{name}: conn.log conn_state fits the history {history}",
                  rec.get("conn_state"), expected)
        res.equal(f"{name}: conn.log history starts with the handshake",
                  rec.get("history", "")[:3], "ShA")
        res.equal(f"{name}: conn.log service", rec.get("service"), service)
        res.equal(f"{name}: conn.log missed_bytes", rec.get("missed_bytes"), 0)
        res.check(f"{name}: conn.log has no IP byte counts live", "orig_ip_bytes" not in rec)
        res.check(f"{name}: conn.log bytes both ways",
                  rec.get("orig_bytes", 0) > 0 and rec.get("resp_bytes", 0) > 0, str(rec))
        res.equal(f"{name}: conn.log community_id is the events'", rec.get("community_id"),
                  by_uid[uid][0].get("community_id"))


def main():
    opts = livelib.parse_common_args(sys.argv[1:])
    livelib.require_root_and_tools(["swaks", "postfix", "openssl"])
    res = Results()
    workdir = livelib.make_workdir("mailtap-live-e2e-")
    # --tls-plaintext off: this test holds the agent to Zeek's behaviour, which stops at
    # STARTTLS (the "tls" session); inside TLS is live_tls_e2e_test.py's.
    agent = livelib.Mailtapd(opts.mailtapd, opts.mailtap, workdir, "25,587",
                             extra_args=["--redact", "none", "--tls-plaintext", "off"])
    try:
        livelib.start_postfix()
        agent.start()
        started = time.monotonic()
        transcripts = run_sessions(workdir)
        status = agent.wait_quiet()
        print(f"sessions done in {time.monotonic() - started:.1f} s", flush=True)
        for key, value in livelib.loss_summary(status).items():
            res.equal(f"status: {key} is 0", value, 0)
        res.check("status: kernel matched packets", status["counters"]["capture"]["kernel_matched"] > 0)
        rc = agent.stop()
        res.equal("mailtapd exits 0 after SIGTERM", rc, 0)
        events = agent.events()
        by_uid = livelib.events_by_uid(events)
        records_by_uid = {}
        for rec in agent.smtp_log():
            records_by_uid.setdefault(rec["uid"], []).append(rec)
        check_session_shapes(res, transcripts)
        for name, chunks in transcripts.items():
            check_session(res, name, chunks, by_uid, records_by_uid)
        check_ssl_log(res, workdir, by_uid)
        check_conn_log(res, workdir, by_uid)
        gaps = [e for e in events if e["event"] == "smtp_unexpected" and e["msg"] == "content gap"]
        res.equal("no content gap event at all", len(gaps), 0)
    except Exception as e:  # a broken fixture or client: report it as a failure, not a traceback
        res.check("test ran to completion", False, f"{type(e).__name__}: {e}")
        print(agent.stderr_text(), flush=True)
    finally:
        agent.stop()
        livelib.remove_workdir(workdir, keep=opts.keep or res.failed)
    res.finish()


if __name__ == "__main__":
    main()
