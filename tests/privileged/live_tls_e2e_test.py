#!/usr/bin/env python3
"""Inside TLS, live, as issue 15 checks it: the whole agent (mailtapd as a process, the socket
filter and the TLS uprobes, dropping to nobody) watches real STARTTLS and implicit-TLS sessions
between real clients and real servers: Postfix (OpenSSL) on 25 (STARTTLS offered), 587 (STARTTLS
required, AUTH) and 465 (implicit TLS, AUTH), and Exim (GnuTLS, scripts/exim-fixture.sh) on 2525
when its packages can be fetched.

The oracle is what each client itself sent and received, cleartext and plaintext inside TLS:
swaks' hex dumps (--show-raw-text dumps what it hands to and gets from its TLS library) and the
Python client's own record, run through livelib.TlsZeekModel (Zeek's rules, carried on past
STARTTLS as docs/interface.md "Inside TLS" says). Never mailtapd's output.

Checked per session: the exact smtp_* events with inside_tls on exactly the plaintext ones;
smtp.log's records (mailfrom, rcptto, subject, last_reply, tls); proc.name of the server. Then:
the AUTH secret in none of the outputs; zero loss; nothing of mailtapd's left attached after
SIGTERM (bpftool).

Usage: live_tls_e2e_test.py [--mailtapd PATH] [--mailtap PATH] [--keep]
Needs root; skips loudly otherwise (exit 77), and fails instead under CI=true.
"""
import base64
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livelib  # noqa: E402
from livelib import Results, TlsRawClient, TlsZeekModel  # noqa: E402

SUFFIX = ".tls.mailtap.test"
USER, PASSWORD = "mailtap-test", "mailtap-secret"
EXIM_PORT = 2525
POSTFIX = "smtpd"
EXIM = "exim4"


def swaks_args(name, port, extra=(), body="Hello from inside TLS\nsecond line\n"):
    return ["--server", "127.0.0.1", "--port", str(port), "--ehlo", name + SUFFIX,
            "--from", f"{name}@example.org", "--to", "test@localhost",
            "--header", f"Subject: {name} inside TLS", "--body", body, *extra]


def auth_args(mechanism):
    return ["--auth", mechanism, "--auth-user", USER, "--auth-password", PASSWORD]


def big_body(path, size):
    with open(path, "w") as f:
        written, i = 0, 0
        while written < size:
            line = f"tls big line {i:07d} " + "abcdefghijklmnopqrstuvwxyz0123456789" * 2 + "\n"
            f.write(line)
            written += len(line)
            i += 1
    return path


def python_bdat_session(name, port):
    """STARTTLS, then BDAT in two chunks (the first holds a lone '.' line), then a second
    transaction with DATA and dot-stuffed lines, all inside TLS."""
    c = TlsRawClient("127.0.0.1", port)
    assert c.reply().startswith("220")
    assert c.command("EHLO " + name + "-clear" + SUFFIX).startswith("250")
    assert c.command("STARTTLS").startswith("220")
    c.start_tls()
    ehlo = c.command("EHLO " + name + SUFFIX)
    assert "CHUNKING" in ehlo, ehlo
    assert c.command(f"MAIL FROM:<{name}@example.org>").startswith("250")
    assert c.command("RCPT TO:<test@localhost>").startswith("250")
    chunk1 = (f"Subject: {name} chunks\r\nFrom: {name}@example.org\r\nTo: test@localhost\r\n\r\n"
              "first chunk\r\n.\r\n..two dots stay two\r\n").encode()
    chunk2 = b"".join(b"second chunk line %05d ..........................\r\n" % i
                      for i in range(1500))
    c.send(b"BDAT %d\r\n" % len(chunk1) + chunk1)
    assert c.reply().startswith("250")
    c.send(b"BDAT %d LAST\r\n" % len(chunk2) + chunk2)
    assert c.reply().startswith("250")
    assert c.command(f"MAIL FROM:<{name}-second@example.org>").startswith("250")
    assert c.command("RCPT TO:<test@localhost>").startswith("250")
    assert c.command("DATA").startswith("354")
    c.send(f"Subject: {name} second\r\nTo: test@localhost\r\n\r\n".encode()
           + b".leading dot\r\n..\r\nlast line\r\n.\r\n")
    assert c.reply().startswith("250")
    assert c.command("QUIT").startswith("221")
    c.close()
    return c.chunks


def python_big_session(name, port, implicit, auth):
    """One message of more than 1 MiB by DATA inside TLS (implicit or after STARTTLS)."""
    c = TlsRawClient("127.0.0.1", port, implicit=implicit)
    assert c.reply().startswith("220")
    if not implicit:
        assert c.command("EHLO " + name + "-clear" + SUFFIX).startswith("250")
        assert c.command("STARTTLS").startswith("220")
        c.start_tls()
    assert c.command("EHLO " + name + SUFFIX).startswith("250")
    if auth:
        token = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
        assert c.command("AUTH PLAIN " + token).startswith("235")
    assert c.command(f"MAIL FROM:<{name}@example.org>").startswith("250")
    assert c.command("RCPT TO:<test@localhost>").startswith("250")
    assert c.command("RCPT TO:<second@localhost>").startswith("250")
    assert c.command("DATA").startswith("354")
    body = b"".join(b"big line %07d inside TLS ...................................\r\n" % i
                    for i in range(18000))
    c.send(f"Subject: {name} big\r\nFrom: {name}@example.org\r\n\r\n".encode() + body + b".\r\n")
    assert c.reply().startswith("250")
    assert c.command("QUIT").startswith("221")
    c.close()
    return c.chunks


def run_sessions(workdir, with_exim):
    """Runs every session; returns {name: (server process name, transcript)}."""
    out = {}

    def swaks(name, server, args):
        rc, chunks, text = livelib.swaks_tls(args)
        if rc != 0:
            raise RuntimeError(f"swaks session {name} failed ({rc}):\n{text[-3000:]}")
        out[name] = (server, chunks)

    swaks("starttls25", POSTFIX, swaks_args("starttls25", 25, ["--tls"]))
    swaks("pipelined25", POSTFIX, swaks_args("pipelined25", 25, ["--tls", "--pipeline"]))
    swaks("submission", POSTFIX, swaks_args("submission", 587, ["--tls", *auth_args("PLAIN")]))
    swaks("submissionlogin", POSTFIX, swaks_args(
        "submissionlogin", 587, ["--tls", "--pipeline", *auth_args("LOGIN")]))
    swaks("smtps", POSTFIX, swaks_args("smtps", 465, ["--tlsc", *auth_args("LOGIN")]))
    big = big_body(os.path.join(workdir, "big.txt"), (1 << 20) + 100_000)
    swaks("smtpsbig", POSTFIX, swaks_args("smtpsbig", 465, ["--tlsc", *auth_args("PLAIN")],
                                          body="@" + big))
    out["pybdat25"] = (POSTFIX, python_bdat_session("pybdat25", 25))
    out["pybig465"] = (POSTFIX, python_big_session("pybig465", 465, True, True))
    out["pybig587"] = (POSTFIX, python_big_session("pybig587", 587, False, True))
    if with_exim:
        swaks("exim", EXIM, swaks_args("exim", EXIM_PORT, ["--tls", "--pipeline"]))
        out["eximbdat"] = (EXIM, python_bdat_session("eximbdat", EXIM_PORT))
        out["eximbig"] = (EXIM, python_big_session("eximbig", EXIM_PORT, False, False))
    return out


def record_view(rec):
    keys = ("trans_depth", "helo", "mailfrom", "rcptto", "subject", "last_reply", "tls")
    return {k: (sorted(rec[k]) if isinstance(rec.get(k), list) else rec.get(k)) for k in keys}


def check_session(res, name, server, chunks, by_uid, records_by_uid):
    uid = livelib.uid_of_helo(by_uid, name + SUFFIX)
    if not res.check(f"{name}: exactly one connection with EHLO {name}{SUFFIX}", uid is not None):
        return
    try:
        model = TlsZeekModel().feed(chunks).finish()
    except livelib.ModelError as e:
        res.check(f"{name}: transcript within the model", False, str(e))
        return
    expected = [(*ev, inside) for ev, inside in zip(model.events, model.inside_flags)]
    evs = by_uid[uid]
    actual = [livelib.event_tuple_tls(e) for e in evs if e["event"] in livelib.SMTP_EVENTS]
    inside = sum(1 for ev in expected if ev[-1])
    res.check(f"{name}: exact smtp_* events, {inside} of {len(expected)} inside TLS",
              actual == expected, livelib.first_difference(actual, expected))
    others = sorted({e["event"] for e in evs if e["event"] not in livelib.SMTP_EVENTS
                     and not e["event"].startswith(("mime_", "file_"))})
    res.equal(f"{name}: no other events (weird, loss)", others, [])
    names = {e.get("proc.name") for e in evs if e.get("inside_tls")}
    res.equal(f"{name}: every event inside TLS names the server process", names, {server})
    got = [record_view(r) for r in records_by_uid.get(uid, [])]
    want = [record_view(r) for r in model.records]
    res.equal(f"{name}: smtp.log records", got, want)
    res.check(f"{name}: smtp.log names the process",
              all(r.get("proc.name") == server for r in records_by_uid.get(uid, [])))


def check_shapes(res, sessions):
    """The sessions did what they are named for (guards against a model that trivially agrees)."""
    def sent_inside(name):
        return b"".join(d for direction, d, inside in sessions[name][1]
                        if direction == "c" and inside)
    res.check("submission: AUTH PLAIN sent inside TLS", b"AUTH PLAIN " in sent_inside("submission"))
    res.check("smtps: AUTH LOGIN sent inside TLS", b"AUTH LOGIN" in sent_inside("smtps"))
    res.check("smtps: no cleartext byte at all",
              all(inside for _, _, inside in sessions["smtps"][1]))
    res.check("pipelined25: MAIL, RCPT and DATA in one TLS write",
              any(d.startswith(b"MAIL FROM:") and d.endswith(b"DATA\r\n")
                  for direction, d, inside in sessions["pipelined25"][1] if direction == "c"))
    for name in ("smtpsbig", "pybig465", "pybig587"):
        res.check(f"{name}: more than 1 MiB sent inside TLS", len(sent_inside(name)) > (1 << 20))
    res.check("pybdat25: two BDAT inside TLS", sent_inside("pybdat25").count(b"BDAT ") == 2)


def check_no_secret(res, workdir, observed, stderr):
    """The AUTH secret in none of the outputs: every file the agent wrote, observe, stderr."""
    texts = {"mailtap observe": observed, "mailtapd stderr": stderr}
    for entry in os.listdir(workdir):
        if entry.endswith(".txt"):
            continue  # the test's own message bodies
        path = os.path.join(workdir, entry)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                texts[entry] = f.read().decode("latin-1")
    leaks = [(where, form) for where, text in texts.items()
             for form in livelib.secret_forms(USER, PASSWORD) if form in text]
    res.equal(f"no AUTH secret in {sorted(texts)}", leaks, [])


def our_program_ids(pid):
    """Ids of the programs mailtapd `pid` attached through perf events and links: the uprobes
    and the socket tracepoints (`bpftool perf list` names the holder; another agent on the host,
    e.g. a developer's, is not confused with this one)."""
    perf, _ = livelib.bpf_attachments()
    return {p["prog_id"] for p in perf if p.get("pid") == pid}


def check_detached(res, pid, prog_ids):
    perf, links = livelib.bpf_attachments()
    left_perf = [p for p in perf if p.get("pid") == pid or p.get("prog_id") in prog_ids]
    left_links = [link for link in links if link.get("prog_id") in prog_ids]
    res.equal("after SIGTERM: no perf event (uprobe, kprobe) of mailtapd's", left_perf, [])
    res.equal("after SIGTERM: no BPF link of mailtapd's", left_links, [])


def start_exim():
    r = subprocess.run([os.path.join(livelib.SOURCE_DIR, "scripts/exim-fixture.sh"), "start"],
                       capture_output=True, timeout=300)
    if r.returncode != 0:
        print("*** Exim fixture unavailable, Exim sessions not run: "
              + (r.stdout + r.stderr).decode(errors="replace"), flush=True)
        return False
    return True


def stop_exim():
    subprocess.run([os.path.join(livelib.SOURCE_DIR, "scripts/exim-fixture.sh"), "stop"],
                   capture_output=True, timeout=60)


def main():
    opts = livelib.parse_common_args(sys.argv[1:])
    livelib.require_root_and_tools(["swaks", "postfix", "openssl", "bpftool", "saslpasswd2"])
    res = Results()
    workdir = livelib.make_workdir("mailtap-live-tls-")
    agent = livelib.Mailtapd(opts.mailtapd, opts.mailtap, workdir, f"25,465,587,{EXIM_PORT}",
                             extra_args=["--user", "nobody"])
    with_exim = False
    try:
        livelib.start_postfix()
        with_exim = start_exim()
        agent.start()
        pid = agent.proc.pid
        prog_ids = our_program_ids(pid)
        _, links = livelib.bpf_attachments()
        ours = [link for link in links if link.get("prog_id") in prog_ids]
        res.check(f"mailtapd's probes are attached ({len(prog_ids)} programs, {len(ours)} links)",
                  len(prog_ids) > 0 and len(ours) > 0)
        started = time.monotonic()
        sessions = run_sessions(workdir, with_exim)
        status = agent.wait_quiet()
        print(f"{len(sessions)} sessions in {time.monotonic() - started:.1f} s", flush=True)
        for group in ("capture", "tls", "tls_plaintext"):
            print(f"{group}:", {k: v for k, v in status["counters"].get(group, {}).items() if v},
                  flush=True)
        print("loss by cause:", {k: v for k, v in status["loss"].items() if v}, flush=True)
        for key, value in livelib.loss_summary(status).items():
            res.equal(f"status: {key} is 0", value, 0)
        observed = subprocess.run([opts.mailtap, "--socket", agent.socket, "observe", "--last",
                                   "100000", "-o", "json"], capture_output=True, timeout=60)
        res.check("mailtap observe answers", observed.returncode == 0 and observed.stdout)
        rc = agent.stop()
        res.equal("mailtapd exits 0 after SIGTERM", rc, 0)
        check_detached(res, pid, prog_ids)
        events = agent.events()
        by_uid = livelib.events_by_uid(events)
        records_by_uid = {}
        for rec in agent.smtp_log():
            records_by_uid.setdefault(rec["uid"], []).append(rec)
        check_shapes(res, sessions)
        for name, (server, chunks) in sessions.items():
            check_session(res, name, server, chunks, by_uid, records_by_uid)
        check_no_secret(res, workdir, observed.stdout.decode("latin-1"), agent.stderr_text())
    except Exception as e:  # a broken fixture or client: a failure, not a traceback
        res.check("test ran to completion", False, f"{type(e).__name__}: {e}")
        print(agent.stderr_text()[-5000:], flush=True)
    finally:
        agent.stop()
        if with_exim:
            stop_exim()
        livelib.remove_workdir(workdir, keep=opts.keep or res.failed)
    res.finish()


if __name__ == "__main__":
    main()
