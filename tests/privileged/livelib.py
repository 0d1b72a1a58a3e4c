"""Shared helpers of the privileged end-to-end tests (live_*_test.py) and bench/live_*.py.

What is here: the skip-or-fail guard (as in live_fixture.h), the agent as a child process
(`Mailtapd`), smtp-sink/smtp-source helpers, a raw SMTP client that records every byte, a parser
for swaks' --show-raw-text hex dumps, and `ZeekModel`: the expected smtp_* events and smtp.log
records for a byte transcript, written from Zeek's rules (spec/zeek-smtp-behaviour.md) for the
commands these tests send. The model is the test's independent oracle: it never looks at mailtapd.
Standard library only.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SKIP = 77  # CTest SKIP_RETURN_CODE


# ---------------------------------------------------------------------------------------------
# Running the tests: skip-or-fail, results
# ---------------------------------------------------------------------------------------------

def running_under_ci():
    return os.environ.get("CI") == "true"


def skip_or_fail(reason):
    """Leaves the process: a loud skip (77), or a failure (1) under CI=true, which must never pass
    by skipping the live tests."""
    if running_under_ci():
        print(f"FAIL: privileged live test cannot run under CI=true: {reason}", flush=True)
        sys.exit(1)
    print(f"\n*** SKIPPED privileged live-capture test: {reason}\n"
          "*** (run as root with postfix, swaks and the Postfix tools installed; CI=true turns "
          "this skip into a failure)", flush=True)
    sys.exit(SKIP)


def require_root_and_tools(tools):
    if os.geteuid() != 0:
        skip_or_fail("not running as root")
    missing = [t for t in tools if shutil.which(t) is None
               and not os.path.exists(os.path.join("/usr/sbin", t))]
    if missing:
        skip_or_fail("missing tools: " + ", ".join(missing))


def tool(name):
    """Absolute path of a program, also when /usr/sbin is not on PATH (smtp-sink, postfix)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        raise RuntimeError(f"{name} is not installed")
    return found


class Results:
    """Collects named checks; prints `N passed, N failed` last."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"PASS {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}" + (f": {detail}" if detail else ""), flush=True)
        return ok

    def equal(self, name, actual, expected):
        if actual == expected:
            return self.check(name, True)
        return self.check(name, False, f"expected {expected!r}, got {actual!r}")

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(0 if self.failed == 0 else 1)


def parse_common_args(argv):
    """--mailtapd PATH --mailtap PATH (defaults: build/bin of the source tree)."""
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("--mailtapd", default=os.path.join(SOURCE_DIR, "build/bin/mailtapd"))
    parser.add_argument("--mailtap", default=os.path.join(SOURCE_DIR, "build/bin/mailtap"))
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# The agent as a process
# ---------------------------------------------------------------------------------------------

class Mailtapd:
    """mailtapd -i lo capturing into files in `workdir`; the query socket is workdir/mailtap.sock.

    Started by start(), which returns once `mailtap status` answers (the query server starts after
    the filter is attached and privileges are dropped, so capture is on by then)."""

    def __init__(self, mailtapd, mailtap, workdir, ports, extra_args=()):
        self.mailtapd = mailtapd
        self.mailtap = mailtap
        self.workdir = workdir
        self.socket = os.path.join(workdir, "mailtap.sock")
        self.events_path = os.path.join(workdir, "events.json")
        self.stderr_path = os.path.join(workdir, "mailtapd.stderr")
        self.args = [mailtapd, "-i", "lo", "--ports", ports, "--events", self.events_path,
                     "--events-include", "all",
                     "--log-dir", workdir, "--log-format", "json", "--socket", self.socket,
                     *extra_args]
        self.proc = None

    def start(self, timeout=30):
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=self._stderr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mailtapd exited with {self.proc.returncode}: "
                                   + self.stderr_text())
            if self.query("status", check=False) is not None:
                return
            time.sleep(0.05)
        raise RuntimeError("mailtapd did not answer `mailtap status` within "
                           f"{timeout} s: " + self.stderr_text())

    def query(self, verb, check=True):
        """`mailtap --socket S VERB -o json` as parsed JSON (status), or None when it fails."""
        r = subprocess.run([self.mailtap, "--socket", self.socket, verb, "-o", "json"],
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            if check:
                raise RuntimeError(f"mailtap {verb} failed: {r.stderr.decode(errors='replace')}")
            return None
        return json.loads(r.stdout)

    def status(self):
        return self.query("status")

    def wait_quiet(self, stable_polls=3, interval=0.3, timeout=60):
        """Waits until the agent's segment counter stops moving (snapshots refresh every 250 ms):
        everything the kernel captured has been processed. Returns the last status."""
        deadline = time.monotonic() + timeout
        last, same = None, 0
        while time.monotonic() < deadline:
            st = self.status()
            seen = (st["counters"]["capture"]["segments"], st["counters"]["tcp"]["segments"])
            same = same + 1 if seen == last else 0
            if same >= stable_polls:
                return st
            last = seen
            time.sleep(interval)
        return self.status()

    def stop(self, timeout=60):
        """SIGTERM, then waits; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self._stderr.close()
        return rc

    def cpu_seconds(self):
        """User + system CPU time the agent has used so far (all threads), from /proc."""
        return process_cpu_seconds(self.proc.pid)

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def events(self):
        with open(self.events_path, encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def smtp_log(self):
        path = os.path.join(self.workdir, "smtp.log")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


def process_cpu_seconds(pid):
    """User + system CPU time process `pid` has used so far (all threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loss_summary(status):
    """The loss-related counters of a `mailtap status` answer, as {name: value}. Also
    kernel_ip_length_past_frame: no loss, but real peers never send such a segment, so under their
    traffic (GSO and GRO on lo included) it must stay 0 too, or the filter dropped real data."""
    cap = status["counters"]["capture"]
    tcp = status["counters"]["tcp"]
    smtp = status["counters"]["smtp"]
    out = {k: v for k, v in cap.items()
           if k in ("kernel_ringbuf_full", "kernel_ringbuf_lost_packets", "kernel_truncated",
                    "kernel_load_failed", "kernel_ip_length_past_frame", "segments_truncated",
                    "ringbuf_orphan_chunks", "ringbuf_bad_records")}
    out.update({f"tcp.{k}": tcp[k] for k in ("gap_events", "gap_bytes",
                                             "reassembly_buffer_overflow_bytes",
                                             "truncated_payload_bytes", "flows_evicted")})
    out["smtp.content_gaps"] = smtp["content_gaps"]
    # Every cause that lost something, so that a failure names it.
    out.update({f"loss.{cause}": n for cause, n in status["loss"].items() if n})
    out["lost_total"] = status["lost_total"]
    return out


def wait_for(predicate, what, timeout=20.0):
    """Polls `predicate` until true; raises AssertionError naming `what` after `timeout` seconds
    (a guard, not a delay)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def make_workdir(prefix):
    """A new 0755 directory under /tmp: the agent may run as another user (--user nobody) and
    must reach its outputs there, wherever the checkout and $TMPDIR are."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return d


def remove_workdir(workdir, keep):
    """Removes a test's work directory, or keeps it (and says where) for a post-mortem."""
    if keep:
        print(f"work directory kept: {workdir}", flush=True)
    else:
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Postfix fixture, smtp-sink, smtp-source
# ---------------------------------------------------------------------------------------------

def start_postfix():
    r = subprocess.run([os.path.join(SOURCE_DIR, "scripts/postfix-fixture.sh"), "start"],
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("postfix fixture failed: " + (r.stdout + r.stderr).decode(errors="replace"))


def restart_postfix():
    """Stops Postfix and starts it afresh. `start` on a running Postfix reloads it, and a reload
    with hundreds of idle smtpd processes left by an earlier load run left new connections
    unanswered for minutes (the old generation's processes still held the listening socket)."""
    subprocess.run([os.path.join(SOURCE_DIR, "scripts/postfix-fixture.sh"), "stop"],
                   capture_output=True, timeout=120)
    start_postfix()


class SmtpSink:
    """smtp-sink on 127.0.0.1:PORT (accepts everything, discards it, unless dump_dir is given)."""

    def __init__(self, port, backlog=1000, dump_dir=None):
        args = [tool("smtp-sink"), "-u", "nobody"]
        if dump_dir:
            args += ["-D", os.path.join(dump_dir, "dump")]
        args += [f"127.0.0.1:{port}", str(backlog)]
        self.port = port
        # stderr to a file, not a pipe: nobody reads it while the sink runs.
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.stderr)
        wait_listening(port, self.proc, self.stderr)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)
        self.stderr.close()


def wait_listening(port, proc=None, stderr_file=None, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            text = b""
            if stderr_file is not None:
                stderr_file.seek(0)
                text = stderr_file.read()
            raise RuntimeError(f"listener on port {port} exited with {proc.returncode}: "
                               + text.decode(errors="replace"))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def smtp_source(port, sessions, messages, length, timeout=600, host="127.0.0.1"):
    """Runs smtp-source at full speed; returns the wall time in seconds (raises on failure)."""
    args = [tool("smtp-source"), "-s", str(sessions), "-m", str(messages), "-l", str(length),
            "-c", f"{host}:{port}"]
    start = time.monotonic()
    r = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
    elapsed = time.monotonic() - start
    if r.returncode != 0:
        raise RuntimeError("smtp-source failed: " + r.stderr.decode(errors="replace"))
    return elapsed


# ---------------------------------------------------------------------------------------------
# Transcripts: ordered (direction, bytes) chunks, 'c' = client to server, 's' = server to client
# ---------------------------------------------------------------------------------------------

class RawClient:
    """A blocking SMTP client that records every byte sent and received, in order."""

    def __init__(self, host, port, timeout=20):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.local_port = self.sock.getsockname()[1]
        self.chunks = []
        self.unread = b""

    def send(self, data):
        self.sock.sendall(data)
        self.chunks.append(("c", data))

    def reply(self):
        """Reads one complete reply (RFC 5321 4.2: ends at a line whose 4th byte is not '-')."""
        while True:
            end = _reply_end(self.unread)
            if end is not None:
                reply, self.unread = self.unread[:end], self.unread[end:]
                return reply.decode("latin-1")
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("server closed the connection")
            self.chunks.append(("s", data))
            self.unread += data

    def command(self, line):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        """Half-closes and reads until the server closes, recording what arrives."""
        self.sock.shutdown(socket.SHUT_WR)
        while True:
            data = self.sock.recv(65536)
            if not data:
                break
            self.chunks.append(("s", data))
        self.sock.close()


def _reply_end(buf):
    pos = 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        line = buf[pos:eol]
        if len(line) < 4 or line[3:4] != b"-":
            return eol + 2
        pos = eol + 2


_HEX_LINE = re.compile(r"^(<   |  > )[0-9]{4,}: (.*)$")


def parse_swaks_raw(text):
    """swaks --show-raw-text output -> [(dir, bytes)]: its hex dumps of every read ('<   ') and
    write ('  > '), in order, up to "=== TLS started" (the rest is encrypted on the wire)."""
    chunks = []
    for line in text.splitlines():
        if line.startswith("=== TLS started"):
            break
        m = _HEX_LINE.match(line)
        if not m:
            continue
        direction = "s" if m.group(1).startswith("<") else "c"
        data = bytes(int(tok, 16) for tok in m.group(2)[:50].split())
        if chunks and chunks[-1][0] == direction:
            chunks[-1] = (direction, chunks[-1][1] + data)
        else:
            chunks.append((direction, data))
    return chunks


def swaks(args, timeout=120):
    """Runs swaks with --show-raw-text; returns (exit status, transcript chunks, text)."""
    r = subprocess.run([tool("swaks"), "--show-raw-text", *args], capture_output=True,
                       timeout=timeout)
    text = r.stdout.decode("latin-1") + r.stderr.decode("latin-1")
    return r.returncode, parse_swaks_raw(text), text


# ---------------------------------------------------------------------------------------------
# Events as comparable tuples
# ---------------------------------------------------------------------------------------------

SMTP_EVENTS = ("smtp_request", "smtp_reply", "smtp_data", "smtp_starttls", "smtp_unexpected")


def event_tuple(e):
    name = e["event"]
    if name == "smtp_request":
        return (name, e["is_orig"], e["command"], e["arg"])
    if name == "smtp_reply":
        return (name, e["is_orig"], e["code"], e["cmd"], e["msg"], e["cont_resp"])
    if name == "smtp_data":
        return (name, e["is_orig"], e["data"])
    if name == "smtp_unexpected":
        return (name, e["is_orig"], e["msg"], e["detail"])
    return (name,)


def events_by_uid(events):
    out = {}
    for e in events:
        if "uid" in e:
            out.setdefault(e["uid"], []).append(e)
    return out


def uid_of_helo(by_uid, helo):
    """The connection whose EHLO/HELO argument is `helo` (each test session uses its own)."""
    found = [uid for uid, evs in by_uid.items()
             if any(e["event"] == "smtp_request" and e["command"] in ("EHLO", "HELO")
                    and e["arg"] == helo for e in evs)]
    return found[0] if len(found) == 1 else None


def first_difference(actual, expected):
    for i, (a, b) in enumerate(zip(actual, expected)):
        if a != b:
            return f"event {i}: expected {b!r}, got {a!r}"
    if len(actual) != len(expected):
        i = min(len(actual), len(expected))
        extra = actual[i] if len(actual) > i else expected[i]
        return (f"{len(actual)} events, expected {len(expected)}; first unmatched: {extra!r}")
    return ""


# ---------------------------------------------------------------------------------------------
# ZeekModel: the expected events of a transcript, from the spec
# ---------------------------------------------------------------------------------------------

class ModelError(Exception):
    """The transcript holds something this small model does not cover (a test bug, not a
    mailtapd bug): the test stops rather than guess."""


# States (spec section 8).
INITIATED, READY, MAIL_OK, RCPT_OK, IN_DATA, AFTER_DATA, IN_TLS, QUIT, IN_BDAT = (
    1, 3, 4, 5, 6, 7, 9, 10, 13)
KNOWN_COMMANDS = {"EHLO", "HELO", "MAIL", "RCPT", "DATA", "QUIT", "RSET", "VRFY", "EXPN", "HELP",
                  "NOOP", "STARTTLS", "X-ANONYMOUSTLS", "SEND", "SOML", "SAML", "TURN", "BDAT",
                  "ETRN", "AUTH"}
# Reply codes that leave the state alone (spec section 8); anything else is outside the model.
NORMAL_REPLIES = {">": {220}, "EHLO": {250}, "HELO": {250}, "MAIL": {250}, "RCPT": {250, 251},
                  "DATA": {354}, ".": {250}, "QUIT": {221}, "RSET": {250}, "NOOP": {250},
                  "STARTTLS": {220}, "BDAT": {250}}
_BDAT_ARG = re.compile(r"^([0-9]+)( [Ll][Aa][Ss][Tt])?$")


class ZeekModel:
    """Feeds one connection's transcript; `events` and `records` are what Zeek would produce.

    Covers what the tests send: greeting, EHLO/HELO, MAIL, RCPT, DATA (+ dot-unstuffing), BDAT
    (valid arguments), RSET, NOOP, QUIT, STARTTLS, with CRLF line ends and success replies."""

    def __init__(self):
        self.events = []
        self.records = []
        self.queue = deque([">"])  # outstanding commands; the greeting is expected first
        self.state = INITIATED
        self.pending_code = None  # multi-line reply in progress
        self.buf = {"c": b"", "s": b""}
        self.bdat_left = 0  # raw chunk bytes still to come
        self.bdat_last = False
        self.bdat_open = False
        self.bdat_last_request = False  # script: a `BDAT ... LAST` request was seen
        self.body = None  # data lines of the open message (for its headers)
        self.messages_transferred = 0
        self.helo = None
        self.record = None
        self._new_record()

    # -- input ---------------------------------------------------------------------------------
    def feed(self, chunks):
        for direction, data in chunks:
            self._feed(direction, data)
        return self

    def finish(self):
        """Connection end: the open record is written if it had client activity (19.2)."""
        self._write_record()
        return self

    def _feed(self, direction, data):
        if self.state == IN_TLS:
            return
        if direction == "c" and self.bdat_left:
            data = self._take_chunk(data)
        self.buf[direction] += data
        while self.state != IN_TLS:
            eol = self.buf[direction].find(b"\r\n")
            if eol < 0:
                break
            line = self.buf[direction][:eol]
            self.buf[direction] = self.buf[direction][eol + 2:]
            if b"\r" in line or b"\n" in line:
                raise ModelError(f"bare CR/LF in {line!r}")
            text = line.decode("latin-1")
            if direction == "c":
                self._client_line(text)
                if self.bdat_left:
                    rest, self.buf["c"] = self.buf["c"], b""
                    self.buf["c"] = self._take_chunk(rest)
            else:
                self._server_line(text)

    def _take_chunk(self, data):
        """Consumes raw BDAT chunk bytes (spec 10.2); returns what follows the chunk."""
        n = min(len(data), self.bdat_left)
        self._body_bytes(data[:n])
        self.bdat_left -= n
        if self.bdat_left == 0 and self.bdat_last:
            self._end_of_data()
        return data[n:]

    # -- client side ---------------------------------------------------------------------------
    def _client_line(self, line):
        if self.state == IN_DATA:
            if line == ".":
                self.queue.append(".")
                self._end_of_data()
                self._emit("smtp_request", True, ".", ".")
                self.bdat_last_request = False
                return
            data = line[1:] if line.startswith(".") else line
            self.body.append(data)
            self._emit("smtp_data", True, data)
            return
        word = re.match(r"[^\s\x00]*", line).group(0)
        arg = line[len(word):].lstrip(" \t")
        cmd = word.upper()
        if cmd not in KNOWN_COMMANDS:
            self._emit("smtp_unexpected", True, "unknown command", word)
            return
        self.queue.append(cmd)
        self._emit("smtp_request", True, cmd, arg)
        getattr(self, "_cmd_" + cmd.replace("-", "_"), self._cmd_other)(arg)

    def _uc(self, cmd, expected_states):
        if self.state not in expected_states:
            self._emit("smtp_unexpected", True, "unexpected command",
                       f"{cmd} reply = 0 state = {self.state}")

    def _cmd_EHLO(self, arg):
        self._uc("EHLO", {INITIATED})
        self.state = READY
        self.helo = arg
        self.record["helo"] = arg

    _cmd_HELO = _cmd_EHLO

    def _cmd_MAIL(self, arg):
        self._uc("MAIL", {READY})
        self.state = MAIL_OK
        m = re.match(r"(?i)from:\s*<?([^>\s]*)", arg)
        if m:
            if self.record["client_activity"]:  # 19.2 write point 2: no trans_depth increment
                self._write_record()
                self._new_record()
            self.record["mailfrom"] = m.group(1)
            self.record["client_activity"] = True

    def _cmd_RCPT(self, arg):
        self._uc("RCPT", {MAIL_OK, RCPT_OK})
        self.state = RCPT_OK
        m = re.match(r"(?i)to:\s*<?([^>\s]*)", arg)
        if m:
            self.record.setdefault("rcptto", []).append(m.group(1))
            self.record["client_activity"] = True

    def _cmd_DATA(self, arg):
        self._uc("DATA", {RCPT_OK})
        self.state = IN_DATA
        self.body = []

    def _cmd_BDAT(self, arg):
        m = _BDAT_ARG.match(arg)
        if not m:
            raise ModelError(f"BDAT argument {arg!r} is outside the model")
        if not self.bdat_open:
            self.bdat_open = True
            self.state = IN_BDAT
            self.body = []
            self._bdat_partial = b""
        # 10.3: the state is IN_BDAT before the RCPT_OK check, so this always fires.
        self._uc("BDAT", {RCPT_OK})
        self.bdat_left = int(m.group(1))
        self.bdat_last = m.group(2) is not None
        if arg.endswith(" LAST"):
            self.bdat_last_request = True
        if self.bdat_left == 0 and self.bdat_last:
            raise ModelError("BDAT 0 LAST is outside the model")

    def _cmd_QUIT(self, arg):
        self.state = QUIT

    def _cmd_RSET(self, arg):
        self.state = READY

    def _cmd_STARTTLS(self, arg):
        self._uc("STARTTLS", {READY})

    def _cmd_other(self, arg):
        pass

    def _end_of_data(self):
        self._uc("END_OF_DATA", {IN_DATA, IN_BDAT})
        if self.bdat_open:
            if self._bdat_partial:
                self.body.append(self._bdat_partial.decode("latin-1"))
            self.bdat_open = False
        self._headers_to_record()
        self.state = AFTER_DATA

    def _body_bytes(self, data):
        """BDAT chunk bytes: split into lines on CRLF for the header fields (10.4)."""
        buf = self._bdat_partial + data
        *lines, self._bdat_partial = buf.split(b"\r\n")
        self.body.extend(line.decode("latin-1") for line in lines)

    # -- server side ---------------------------------------------------------------------------
    def _server_line(self, line):
        if len(line) < 3 or not line[:3].isdigit() or not 100 <= int(line[:3]) <= 599:
            raise ModelError(f"server line {line!r} is outside the model")
        code = int(line[:3])
        cont = len(line) > 3 and line[3] == "-"
        msg = (line[4:] if cont else line[3:]).lstrip(" \t")
        if self.pending_code is not None and code != self.pending_code:
            raise ModelError(f"continuation mismatch at {line!r}")
        if self.pending_code is None:
            self.replied = self.queue.popleft() if self.queue else "(UNKNOWN)"
            self._reply_state(self.replied, code)
        self.pending_code = code if cont else None
        self._emit("smtp_reply", False, code, self.replied, msg, cont)
        self.record["last_reply"] = f"{code} {msg}"
        # 19.2 write point 1: every line of the reply to '.', or the final reply to BDAT LAST.
        if self.replied == "." or (self.replied == "BDAT" and not cont
                                   and self.bdat_last_request):
            self.bdat_last_request = False
            self.messages_transferred += 1
            self._write_record()
            self._new_record()

    def _reply_state(self, cmd, code):
        if code not in NORMAL_REPLIES.get(cmd, set()):
            raise ModelError(f"reply {code} to {cmd} is outside the model")
        if cmd == ".":
            self.state = READY  # every reply to END_OF_DATA sets READY (section 8)
        elif cmd == "STARTTLS" and code == 220:
            self._emit("smtp_starttls")  # before the 220's smtp_reply (section 11)
            self.record["tls"] = True
            self.record["client_activity"] = True

    # -- output --------------------------------------------------------------------------------
    def _emit(self, name, *args):
        self.events.append((name, *args))

    def _new_record(self):
        self.record = {"trans_depth": self.messages_transferred + 1, "helo": self.helo,
                       "tls": False, "client_activity": False}

    def _write_record(self):
        if self.record["client_activity"]:
            rec = {k: v for k, v in self.record.items() if v is not None
                   and k != "client_activity"}
            self.records.append(rec)

    def _headers_to_record(self):
        """Top-level headers of the finished message: Subject, From, To (19.1)."""
        for line in self.body:
            if line == "":
                break
            name, sep, value = line.partition(":")
            if not sep or line[:1] in (" ", "\t"):
                continue
            value = value.lstrip(" \t")
            key = name.strip().lower()
            if key in ("subject", "from"):
                self.record[key] = value
            elif key == "to":
                parts = [p.strip() for p in value.split(",") if "@" in p]
                self.record.setdefault("to", []).extend(parts)


# ---------------------------------------------------------------------------------------------
# What smtp-source really sends: one message recorded with tcpdump
# ---------------------------------------------------------------------------------------------

def pcap_client_streams(path, server_port):
    """Client-to-server payload of each TCP connection to `server_port` in a classic pcap of lo
    (Ethernet framing, IPv4), in sequence order, retransmissions dropped: {client_port: bytes}."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise RuntimeError(f"pcap link type {linktype}, expected Ethernet (1)")
    segments = {}
    pos = 24
    while pos + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[pos + 8:pos + 12])[0]
        pkt = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        if len(pkt) < 34 or pkt[12:14] != b"\x08\x00" or pkt[23] != 6:
            continue
        ihl = (pkt[14] & 0x0F) * 4
        total = struct.unpack(">H", pkt[16:18])[0]
        tcp = pkt[14 + ihl:14 + total]
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        payload = tcp[(tcp[12] >> 4) * 4:]
        if dport == server_port and payload:
            segments.setdefault(sport, {})[seq] = payload
    streams = {}
    for port, by_seq in segments.items():
        first = min(by_seq)  # no wrap-around in a one-message capture
        out = bytearray()
        for seq in sorted(by_seq):
            offset = seq - first
            if offset >= len(out):
                out += by_seq[seq][offset - len(out):] if offset == len(out) else b""
        streams[port] = bytes(out)
    return streams


def message_data_lines(client_stream):
    """The smtp_data lines Zeek reports for the first DATA message of a client stream: the lines
    after `DATA`, up to the lone '.', each with one leading dot removed (spec 5.3)."""
    start = client_stream.index(b"DATA\r\n") + len(b"DATA\r\n")
    end = client_stream.index(b"\r\n.\r\n", start - 2) + 2
    lines = client_stream[start:end].split(b"\r\n")[:-1]
    return [line[1:] if line.startswith(b".") else line for line in lines]


def record_one_smtp_source_message(port, length, workdir):
    """Runs smtp-source for one message of `length` against a fresh smtp-sink on `port` while
    tcpdump records it; returns that message's smtp_data lines (bytes)."""
    pcap = os.path.join(workdir, "one-message.pcap")
    sink = SmtpSink(port)
    dump = subprocess.Popen([tool("tcpdump"), "-i", "lo", "--immediate-mode", "-U", "-w", pcap,
                             f"tcp port {port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        _wait_for_tcpdump(dump)
        smtp_source(port, 1, 1, length)
        time.sleep(0.3)  # immediate mode + -U: each packet is written as it comes
    finally:
        dump.terminate()
        dump.wait(timeout=10)
        sink.stop()
    streams = pcap_client_streams(pcap, port)
    if len(streams) != 1:
        raise RuntimeError(f"expected one connection in {pcap}, found {len(streams)}")
    return message_data_lines(next(iter(streams.values())))


def _wait_for_tcpdump(proc, timeout=10):
    """tcpdump prints "listening on ..." once its capture is open."""
    import select
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline and b"listening on" not in buf:
        ready, _, _ = select.select([proc.stderr], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
    if b"listening on" not in buf:
        raise RuntimeError("tcpdump did not start: " + buf.decode(errors="replace"))


# ---------------------------------------------------------------------------------------------
# Inside TLS: transcripts that say which bytes travelled inside TLS, a client of our own, the
# model carried on past STARTTLS (docs/interface.md "Inside TLS"), the secrets to look for
# ---------------------------------------------------------------------------------------------

def parse_swaks_raw_tls(text):
    """swaks --show-raw-text output -> [(dir, bytes, inside_tls)]: its hex dumps of every read
    and write, including the plaintext it wrote to and read from its TLS library after
    "=== TLS started" (swaks dumps what it hands to Net::SSLeay, not the ciphertext)."""
    chunks = []
    inside = False
    for line in text.splitlines():
        if line.startswith("=== TLS started"):
            inside = True
            continue
        m = _HEX_LINE.match(line)
        if not m:
            continue
        direction = "s" if m.group(1).startswith("<") else "c"
        data = bytes(int(tok, 16) for tok in m.group(2)[:50].split())
        if chunks and chunks[-1][0] == direction and chunks[-1][2] == inside:
            chunks[-1] = (direction, chunks[-1][1] + data, inside)
        else:
            chunks.append((direction, data, inside))
    return chunks


def swaks_tls(args, timeout=120):
    """Runs swaks with --show-raw-text; returns (exit status, [(dir, bytes, inside)], text)."""
    r = subprocess.run([tool("swaks"), "--show-raw-text", *args], capture_output=True,
                       timeout=timeout)
    text = r.stdout.decode("latin-1") + r.stderr.decode("latin-1")
    return r.returncode, parse_swaks_raw_tls(text), text


class TlsRawClient(RawClient):
    """RawClient that can switch to TLS (STARTTLS, or from the first byte for implicit TLS) and
    records every byte it sent and received as (dir, bytes, inside_tls), the plaintext inside."""

    def __init__(self, host, port, implicit=False, timeout=30):
        super().__init__(host, port, timeout)
        self.tls = None
        if implicit:
            self.start_tls()

    _context = None

    @classmethod
    def context(cls):
        """One context for all clients, without the system's CA store: the fixtures' certificates
        are self-signed, and loading the store per client (ssl.create_default_context) cost ~30 ms
        of CPU each, which starved 300 concurrent clients for seconds between STARTTLS and
        their ClientHello."""
        import ssl
        if cls._context is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            cls._context = ctx
        return cls._context

    def start_tls(self):
        self.tls = self.context().wrap_socket(self.sock)

    def send(self, data):
        (self.tls or self.sock).sendall(data)
        self.chunks.append(("c", data, self.tls is not None))

    def reply(self):
        while True:
            end = _reply_end(self.unread)
            if end is not None:
                reply, self.unread = self.unread[:end], self.unread[end:]
                return reply.decode("latin-1")
            data = (self.tls or self.sock).recv(65536)
            if not data:
                raise RuntimeError("server closed the connection")
            self.chunks.append(("s", data, self.tls is not None))
            self.unread += data

    def close(self):
        """After QUIT's reply: the server closes; nothing more is recorded."""
        (self.tls or self.sock).close()


IN_AUTH = 8
TLS_REPLIES = {"AUTH": {235, 334}, "AUTH_ANSWER": {235, 334}}


class TlsZeekModel(ZeekModel):
    """ZeekModel carried on inside TLS, as docs/interface.md "Inside TLS" says: after the 220
    reply to STARTTLS the session starts again (RFC 3207 4.2: state INITIATED, nothing
    outstanding, no greeting) on the plaintext; on an implicit-TLS port it starts at the greeting.
    Transactions begun inside TLS have tls true. Adds AUTH (spec 12), with the redaction of
    --redact credentials applied to the expected events. `inside` says, per event, whether it
    must carry inside_tls."""

    def __init__(self, redact=True):
        super().__init__()
        self.inside = False
        self.inside_flags = []
        self.redact = redact

    def feed(self, chunks):
        for direction, data, inside in chunks:
            if inside and not self.inside:
                self._enter_tls()
            self._feed(direction, data)
        return self

    def _enter_tls(self):
        self.inside = True
        self.buf = {"c": b"", "s": b""}
        if self.state == IN_TLS:  # after STARTTLS
            self.state = INITIATED
            self.queue.clear()
            self.pending_code = None
        elif not self.record["client_activity"]:  # implicit TLS: the session's start
            self.record["tls"] = True

    def _client_line(self, line):
        if self.state == IN_AUTH:
            self.queue.append("AUTH_ANSWER")
            self._emit("smtp_request", True, "**", "[REDACTED]" if self.redact and line else line)
            return
        super()._client_line(line)

    def _cmd_AUTH(self, arg):
        self._uc("AUTH", {READY})

    def _reply_state(self, cmd, code):
        if cmd in TLS_REPLIES:
            if code not in TLS_REPLIES[cmd]:
                raise ModelError(f"reply {code} to {cmd} is outside the model")
            self.state = IN_AUTH if code == 334 else INITIATED
            return
        super()._reply_state(cmd, code)
        if cmd == "STARTTLS" and code == 220:
            self.state = IN_TLS  # spec 8; the plaintext that follows starts it again

    def _emit(self, name, *args):
        if (self.redact and name == "smtp_request" and args[1] == "AUTH"
                and " " in args[2].strip(" ")):
            args = (args[0], args[1], args[2].split(" ", 1)[0] + " [REDACTED]")
        self.events.append((name, *args))
        self.inside_flags.append(self.inside)

    def _new_record(self):
        super()._new_record()
        self.record["tls"] = getattr(self, "inside", False)


def event_tuple_tls(e):
    """event_tuple plus whether the event says it came from inside TLS."""
    return (*event_tuple(e), bool(e.get("inside_tls", False)))


def secret_forms(user, password):
    """The AUTH secret as it may travel: the password, its base64 (AUTH LOGIN), and the base64
    of the AUTH PLAIN response with and without the realm."""
    import base64
    forms = {password, base64.b64encode(password.encode()).decode()}
    for u in (user, user + "@mailtap-test.localdomain"):
        forms.add(base64.b64encode(f"\0{u}\0{password}".encode()).decode())
    return forms


def bpf_attachments():
    """(perf entries, links) as bpftool reports them, parsed from JSON."""
    perf = subprocess.run([tool("bpftool"), "-j", "perf", "list"], capture_output=True)
    link = subprocess.run([tool("bpftool"), "-j", "link", "list"], capture_output=True)
    return (json.loads(perf.stdout or b"[]"), json.loads(link.stdout or b"[]"))
