"""Shared pieces of the end-to-end tests of the query socket: the real `mailtapd` and the real
`mailtap` client, started as processes, plus reference implementations of the documented filter
semantics (docs/query-protocol.md) to compare the agent's answers with.

The scripts take their programs on the command line:  SCRIPT MAILTAPD MAILTAP SOURCE_DIR
and the Zeek corpus from MAILTAP_ZEEK_CORPUS (set by CTest).

No sleeps synchronise anything: readiness is polled (`mailtap status`) with a bounded deadline.
"""
import atexit
import ctypes
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest
from decimal import Decimal

if len(sys.argv) < 4:
    sys.exit(f"usage: {sys.argv[0]} MAILTAPD MAILTAP SOURCE_DIR")
MAILTAPD, MAILTAP, SOURCE_DIR = (os.path.abspath(a) for a in sys.argv[1:4])
del sys.argv[1:4]  # leave unittest's own arguments
CORPUS = os.environ.get("MAILTAP_ZEEK_CORPUS", "")
TRACES = os.path.join(CORPUS, "traces")
IN_CI = os.environ.get("CI", "") == "true"
SKIP_STATUS = 77  # CTest SKIP_RETURN_CODE: every test of the script was skipped

POLL_INTERVAL = 0.02  # between polls of a condition; never used to wait for an outcome
DEFAULT_DEADLINE = 30.0


def skip_loudly(msg):
    """Skips the test or class; with CI=true, fails instead (CI must run everything)."""
    if IN_CI:
        raise AssertionError(f"{msg} (CI=true: failing instead of skipping)")
    print(f"\n*** SKIPPED: {msg} ***", file=sys.stderr)
    raise unittest.SkipTest(msg)


def need_corpus():
    if not os.path.isdir(TRACES):
        skip_loudly(f"Zeek corpus not found at '{CORPUS}' (set MAILTAP_ZEEK_CORPUS)")


def need_root(what):
    if os.geteuid() != 0:
        skip_loudly(f"{what} needs root")


def poll(condition, what, deadline=DEFAULT_DEADLINE):
    """Calls condition() until it returns something truthy; fails after `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline:.0f}s waiting for {what}")
        time.sleep(POLL_INTERVAL)


def list_events():
    """The agent's event schema (mailtapd --list-events)."""
    out = subprocess.run([MAILTAPD, "--list-events"], capture_output=True, check=True, timeout=60)
    return json.loads(out.stdout)


def read_lines(path):
    """The lines of a text file (UTF-8; the agent only writes valid UTF-8), without newlines."""
    with open(path, "rb") as f:
        data = f.read().decode("utf-8")
    assert data == "" or data.endswith("\n"), f"{path} does not end with a newline"
    return data.splitlines()


def mailtap(sock, *args, timeout=60, run_as=None, env=None, program=None):
    """Runs the real client (or `program`, a copy of it); returns the CompletedProcess (text)."""
    cmd = [program or MAILTAP, "--socket", sock, *args]
    if run_as is not None:
        cmd = run_as + cmd
    return subprocess.run(cmd, capture_output=True, timeout=timeout, env=env,
                          encoding="utf-8", errors="strict")


def ok_lines(test, proc):
    test.assertEqual(proc.returncode, 0, f"mailtap failed: {proc.stderr}")
    return proc.stdout.splitlines()


def others_can_traverse(directory):
    """True when users other than root may pass through `directory` and every one above it."""
    d = os.path.abspath(directory)
    while d != "/":
        if not os.stat(d).st_mode & stat.S_IXOTH:
            return False
        d = os.path.dirname(d)
    return True


def copy_for_other_users(program, workdir):
    """A copy of `program` that any user may run, in a new 0755 directory inside `workdir`
    (which others must be able to traverse): the build tree may be unreachable for them (CI may
    clone into a 0700 directory)."""
    assert others_can_traverse(workdir), f"other users cannot reach {workdir}"
    d = tempfile.mkdtemp(prefix="bin-", dir=workdir)
    os.chmod(d, 0o755)
    copy = os.path.join(d, os.path.basename(program))
    shutil.copyfile(program, copy)
    os.chmod(copy, 0o755)
    return copy


def _die_with_parent():
    """In the child before exec: SIGTERM when the test process dies, even by SIGKILL (a CTest
    timeout), so that no --keep-serving agent outlives its test. prctl(PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


_running_agents = []


@atexit.register
def _stop_forgotten_agents():
    """Stops every agent a test left running (a failed set-up, an exception in a tear-down)."""
    for agent in list(_running_agents):
        agent.stop(raise_on_timeout=False)


class Agent:
    """A running mailtapd with a query socket in its own temporary directory (in `parent`, default
    the system's temporary directory).

    By default every event reaches the socket (--observe-data), so that what `observe` returns
    can be compared with the --events file line for line. It is stopped by stop()/cleanup(), or
    at the latest when the test process exits; a replay also when the test process dies (a live
    agent that dropped its privileges has lost the parent-death signal)."""

    def __init__(self, args, stdin=None, log_dir=True, events=True, observe_data=True,
                 parent=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="mailtap-e2e-", dir=parent)
        self.dir = self.tmp.name
        self.socket = os.path.join(self.dir, "run", "q.sock")
        self.events = os.path.join(self.dir, "events.json")
        self.log_dir = os.path.join(self.dir, "logs")
        self.smtp_log = os.path.join(self.log_dir, "smtp.log")  # JSON lines (the default)
        os.makedirs(self.log_dir)
        self.stderr_path = os.path.join(self.dir, "mailtapd.stderr")
        self.stderr = open(self.stderr_path, "wb")
        cmd = [MAILTAPD, "--socket", self.socket, *args]
        if events:
            cmd += ["--events", self.events, "--events-include", "all"]
        if observe_data:
            cmd.append("--observe-data")
        if log_dir:
            cmd += ["--log-dir", self.log_dir, "--log-format", "json"]
        # cwd: `-r` with no output option writes its logs into the current directory.
        self.proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.DEVNULL, cwd=self.dir,
                                     stderr=self.stderr, preexec_fn=_die_with_parent)
        _running_agents.append(self)

    def status(self):
        out = mailtap(self.socket, "status", "-o", "json", timeout=20)
        if out.returncode != 0:
            return None
        return json.loads(out.stdout)

    def wait_serving(self, deadline=DEFAULT_DEADLINE):
        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"mailtapd exited with {self.proc.returncode}: "
                                     f"{self.stderr_text()}")
            return self.status()
        return poll(up, f"mailtapd to serve {self.socket}", deadline)

    def wait_finished(self, deadline=DEFAULT_DEADLINE):
        """Waits until the capture source has ended and everything is published."""
        self.wait_serving(deadline)
        return poll(lambda: (lambda s: s if s and s.get("capture_state") == "finished" else None)(
            self.status()), "capture_state 'finished'", deadline)

    def counter(self, group, name):
        return self.status()["counters"][group][name]

    def stderr_text(self):
        self.stderr.flush()
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, raise_on_timeout=True):
        """SIGTERM, then wait; returns the exit status. SIGKILL after 30 s (a failure)."""
        if self in _running_agents:
            _running_agents.remove(self)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if raise_on_timeout:
                    raise AssertionError("mailtapd did not stop within 30s of SIGTERM")
        self.stderr.close()
        return self.proc.returncode

    def cleanup(self):
        rc = self.stop()
        self.tmp.cleanup()
        return rc


class RawClient:
    """Speaks the query protocol directly (for requests the real client never sends)."""

    def __init__(self, path, rcvbuf=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(DEFAULT_DEADLINE)
        self.sock.connect(path)
        self.buf = b""

    def send(self, data):
        """Sends bytes; returns False when the agent closed the connection under us."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def read_line(self, timeout=DEFAULT_DEADLINE):
        """One line (str, no newline), or None at end of stream."""
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(1 << 16)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8")

    def read_all(self, timeout=DEFAULT_DEADLINE):
        lines = []
        while (line := self.read_line(timeout)) is not None:
            lines.append(line)
        return lines

    def close(self):
        self.sock.close()


def is_protocol_message(line):
    return line.startswith('{"mailtap":')


# ---- reference filters, written from docs/query-protocol.md "Filters" ----

TS_RE = re.compile(r'^\{"ts":(-?[0-9]+(?:\.[0-9]+)?)[,}]')


def ts_usec(line):
    """Exact packet time of an event or record line, in microseconds (no float rounding)."""
    m = TS_RE.match(line)
    assert m, f"no leading ts in {line[:80]}"
    return int(Decimal(m.group(1)) * 1_000_000)


def ascii_lower(s):
    return s.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))


class Ref:
    """A filter as the documentation defines it. Lists mean OR; all given criteria AND."""

    def __init__(self, event=(), uid=(), address=(), port=(), direction=None, since=None,
                 until=None, command=(), match=None):
        self.event, self.uid, self.port, self.command = event, uid, port, command
        self.address = [ipaddress.ip_address(a) for a in address]
        self.direction, self.match = direction, match
        self.since = None if since is None else int(Decimal(since) * 1_000_000)
        self.until = None if until is None else int(Decimal(until) * 1_000_000)

    def cli_args(self):
        args = []
        for opt in ("event", "uid", "address", "port", "command"):
            values = getattr(self, opt)
            if values:
                args += [f"--{opt}", ",".join(str(v) for v in values)]
        if self.direction:
            args += ["--direction", self.direction]
        for opt in ("since", "until"):
            value = getattr(self, opt)
            if value is not None:
                args += [f"--{opt}", str(Decimal(value) / 1_000_000)]
        if self.match is not None:
            args += ["--match", self.match]
        return args

    def _endpoints(self, item):
        """Either endpoint; items without a connection 4-tuple never match."""
        if self.address:
            if "id.orig_h" not in item:
                return False
            ends = {ipaddress.ip_address(item[k]) for k in ("id.orig_h", "id.resp_h")}
            if not ends.intersection(self.address):
                return False
        if self.port:
            if "id.orig_p" not in item:
                return False
            if not {item["id.orig_p"], item["id.resp_p"]}.intersection(self.port):
                return False
        return True

    def _time(self, line):
        t = ts_usec(line)
        return (self.since is None or t >= self.since) and (self.until is None or t < self.until)

    def event_matches(self, line):
        e = json.loads(line)
        if self.event and e["event"] not in self.event:
            return False
        if self.uid and e.get("uid") not in self.uid:
            return False
        if not self._endpoints(e) or not self._time(line):
            return False
        if self.direction:
            if not isinstance(e.get("is_orig"), bool) or e["is_orig"] != (self.direction == "orig"):
                return False
        if self.command:
            # A request and its replies: smtp_request's command, smtp_reply's cmd.
            cmd = {"smtp_request": e.get("command"), "smtp_reply": e.get("cmd")}.get(e["event"])
            if cmd is None or ascii_lower(cmd) not in {ascii_lower(c) for c in self.command}:
                return False
        if self.match is not None:
            if e["event"] != "smtp_request":
                return False
            needle = ascii_lower(self.match)
            if not any(needle in ascii_lower(e.get(k, "")) for k in ("command", "arg")):
                return False
        return True

    def record_matches(self, line):
        r = json.loads(line)
        if self.uid and r.get("uid") not in self.uid:
            return False
        if not self._endpoints(r) or not self._time(line):
            return False
        if self.match is not None:
            texts = []
            for k in ("helo", "mailfrom", "from", "subject", "last_reply"):
                if k in r:
                    texts.append(r[k])
            for k in ("rcptto", "to", "cc"):
                texts += r.get(k, [])
            needle = ascii_lower(self.match)
            if not any(needle in ascii_lower(t) for t in texts):
                return False
        return True


def run_tests():
    """Runs the unittest classes of __main__ and prints the final "N passed, N failed" line.
    Exit status: 0 all ran and passed; 1 a failure; 77 everything was skipped."""
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = max(0, result.testsRun - failed - skipped)
    if skipped:
        print(f"*** {skipped} test(s) SKIPPED: " +
              "; ".join(sorted({reason for _, reason in result.skipped})) + " ***")
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    if failed:
        sys.exit(1)
    sys.exit(SKIP_STATUS if skipped and not passed else 0)
