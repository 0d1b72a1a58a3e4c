#!/usr/bin/env python3
"""End to end, live: the real `mailtapd` capturing on loopback (eBPF) while Postfix's smtp-source
sends 500 mails to an smtp-sink. 50 `mailtap observe --follow` clients must each receive every
event, in order, exactly as the --events file has them; one stalled subscriber (asks to follow,
never reads) is dropped from with `lost` notices at the gaps and counted as slow_subscriber,
without disturbing the others or the capture (zero kernel ring-buffer drops).

Needs root (BPF, smtp-sink); skips loudly otherwise, fails when CI=true.
Usage: e2e_live_test.py MAILTAPD MAILTAP SOURCE_DIR
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as lib  # noqa: E402
from e2e_lib import RawClient, poll  # noqa: E402

FOLLOWERS = 50
SESSIONS, MAILS, MAIL_BYTES = 5, 500, 2000
# The mails go out in rounds (smtp-source -s 5 -m 50, ten times): the agent never waits for a
# follower and lets each fall at most 10,000 items behind (docs/query-protocol.md), so a follower
# receives everything only if it keeps up within that. A round is ~2500 events, so even a
# follower that is not scheduled at all during a round loses nothing; the test waits until
# every follower has caught up before the next round. The stalled subscriber never reads and
# falls ~20000 events behind.
ROUNDS = 10
QUIT_REPLY = b'"code":221,'  # the last event of every session


def free_loopback_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smtp_tool(name):
    for d in ("/usr/sbin", "/usr/bin", "/usr/libexec/postfix"):
        path = os.path.join(d, name)
        if os.access(path, os.X_OK):
            return path
    return shutil.which(name)


class Follower:
    """`mailtap observe --follow -o json` writing to a file; its progress is read incrementally."""

    def __init__(self, workdir, index, sock):
        self.index = index
        self.out_path = os.path.join(workdir, f"follower{index}.out")
        self.err_path = os.path.join(workdir, f"follower{index}.err")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([lib.MAILTAP, "--socket", sock, "observe", "--follow",
                                          "-o", "json"], stdout=out, stderr=err)
        self.reader = open(self.out_path, "rb")
        self.partial, self.lines_seen, self.quits_seen = b"", 0, 0

    def _advance(self):
        data = self.partial + self.reader.read()
        complete, _, self.partial = data.rpartition(b"\n")
        if complete:
            self.lines_seen += complete.count(b"\n") + 1
            self.quits_seen += complete.count(QUIT_REPLY)

    def quit_replies(self):
        self._advance()
        return self.quits_seen

    def line_count(self):
        self._advance()
        return self.lines_seen

    def lines(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8").splitlines()

    def errors(self):
        with open(self.err_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)
        self.reader.close()


class LiveFollowers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.need_root("live capture (eBPF on lo)")
        cls.sink_bin, cls.source_bin = smtp_tool("smtp-sink"), smtp_tool("smtp-source")
        if not cls.sink_bin or not cls.source_bin:
            lib.skip_loudly("smtp-sink/smtp-source (Debian package postfix) not installed")
        cls.work = tempfile.TemporaryDirectory(prefix="mailtap-e2e-live-")
        try:
            cls.run_scenario()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def run_scenario(cls):
        port = free_loopback_port()
        cls.sink = subprocess.Popen([cls.sink_bin, "-u", "nobody", f"127.0.0.1:{port}", "256"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.agent = lib.Agent(["-i", "lo", "--ports", str(port)])
        cls.agent.wait_serving()
        cls.followers = [Follower(cls.work.name, i, cls.agent.socket) for i in range(FOLLOWERS)]
        # Stalled: asks to follow and never reads (a small receive buffer makes it stall early).
        cls.stalled = RawClient(cls.agent.socket, rcvbuf=4096)
        cls.stalled.send(b'{"protocol":1,"verb":"observe","follow":true}\n')
        poll(lambda: cls.agent.counter("query", "subscribers") == FOLLOWERS + 1,
             f"{FOLLOWERS + 1} subscribers")
        for done in range(MAILS // ROUNDS, MAILS + 1, MAILS // ROUNDS):
            source = subprocess.run([cls.source_bin, "-s", str(SESSIONS), "-m",
                                     str(MAILS // ROUNDS), "-l", str(MAIL_BYTES),
                                     f"127.0.0.1:{port}"], capture_output=True, text=True,
                                    timeout=60)
            assert source.returncode == 0, f"smtp-source failed: {source.stderr}"
            try:
                poll(lambda: all(f.quit_replies() >= done for f in cls.followers),
                     f"every follower to see the end of {done} sessions")
            except AssertionError as e:
                raise AssertionError(f"{e}; {cls.describe_followers()}") from None
        # Every session has ended (after the flow table's close delay): nothing more will come.
        cls.settled = poll(lambda: (lambda s: s if s["counters"]["smtp"]["sessions_created"]
                                    == MAILS and s["counters"]["smtp"]["sessions_active"] == 0
                                    else None)(cls.agent.status()),
                           "every SMTP session to be finished", deadline=60)
        cls.total = cls.settled["counters"]["query"]["events_published"]
        try:
            poll(lambda: all(f.line_count() >= cls.total for f in cls.followers),
                 f"every follower to receive {cls.total} events")
        except AssertionError as e:
            raise AssertionError(f"{e}; {cls.describe_followers()}") from None
        cls.outputs = [f.lines() for f in cls.followers]
        cls.stalled_stream = cls.read_stalled_stream()
        cls.status = cls.agent.status()
        cls.metrics = lib.mailtap(cls.agent.socket, "metrics")
        cls.last = lib.mailtap(cls.agent.socket, "observe", "--last", "100", "-o", "json")
        cls.transactions = lib.mailtap(cls.agent.socket, "transactions", "--last", "1000",
                                       "-o", "json")
        cls.errors_while_running = [f.errors() for f in cls.followers]
        cls.agent_rc = cls.agent.stop()  # flushes --events
        cls.follower_exits = [(f.proc.wait(timeout=30), f.errors()) for f in cls.followers]
        cls.events = lib.read_lines(cls.agent.events)
        cls.records = lib.read_lines(cls.agent.smtp_log)

    @classmethod
    def describe_followers(cls):
        """Lines received and lost notices of each follower, and the agent's query counters."""
        parts = [f"{f.index}: {f.line_count()} lines {f.errors()!r}" for f in cls.followers]
        status = cls.agent.status()
        return ", ".join(parts) + f"; query counters {status and status['counters']['query']}"

    @classmethod
    def read_stalled_stream(cls):
        """The stalled subscriber's stream, read only now: (data lines, lost counts), as
        [("item", line) | ("lost", count)], until it accounts for every published event."""
        stream, accounted = [], 0
        assert cls.stalled.read_line() == '{"mailtap":"ok","protocol":1,"verb":"observe"}'
        while accounted < cls.total:
            line = cls.stalled.read_line()
            assert line is not None, "the agent closed the stalled subscriber"
            if lib.is_protocol_message(line):
                notice = json.loads(line)
                assert notice["mailtap"] == "lost", line
                stream.append(("lost", notice["count"], notice["cause"]))
                accounted += notice["count"]
            else:
                stream.append(("item", line))
                accounted += 1
        return stream

    @classmethod
    def tearDownClass(cls):
        for f in getattr(cls, "followers", []):
            f.stop()
        if hasattr(cls, "stalled"):
            cls.stalled.close()
        if hasattr(cls, "agent"):
            cls.agent.cleanup()
        if hasattr(cls, "sink"):
            cls.sink.terminate()
            cls.sink.wait(timeout=10)
        if hasattr(cls, "work"):
            cls.work.cleanup()

    def test_agent_saw_every_mail(self):
        self.assertEqual(self.agent_rc, 0)
        self.assertEqual(self.status["counters"]["smtp"]["messages"], MAILS)
        self.assertEqual(len(self.events), self.total)
        self.assertGreater(self.total, 10 * MAILS)

    def test_every_follower_got_every_event_in_order(self):
        for follower, lines, errors in zip(self.followers, self.outputs,
                                           self.errors_while_running):
            with self.subTest(follower=follower.index):
                self.assertEqual(len(lines), len(self.events))
                self.assertTrue(lines == self.events, "differs from --events")
                self.assertEqual(errors, "")  # no lost notice

    def test_last_and_transactions_match_the_files(self):
        self.assertEqual(self.last.returncode, 0, self.last.stderr)
        self.assertEqual(self.last.stdout.splitlines(), self.events[-100:])
        self.assertEqual(self.transactions.returncode, 0, self.transactions.stderr)
        self.assertEqual(len(self.records), MAILS)
        self.assertEqual(self.transactions.stdout.splitlines(), self.records)

    def test_followers_are_told_when_the_agent_stops(self):
        for rc, errors in self.follower_exits:
            self.assertEqual(rc, 1)
            self.assertIn("shutting_down", errors)

    def test_the_stalled_subscriber_lost_events_exactly_at_the_gaps(self):
        position, lost = 0, 0
        for entry in self.stalled_stream:
            if entry[0] == "lost":
                self.assertEqual(entry[2], "slow_subscriber")
                position += entry[1]
                lost += entry[1]
            else:
                self.assertEqual(entry[1], self.events[position], f"stalled stream at {position}")
                position += 1
        self.assertEqual(position, len(self.events))
        self.assertGreater(lost, 0, "the stalled subscriber lost nothing: the test did not stall")
        self.assertEqual(self.status["loss"]["slow_subscriber"], lost)
        self.assertEqual(self.status["counters"]["query"]["slow_subscriber_dropped"], lost)

    def test_status_shows_no_kernel_ring_buffer_drops(self):
        self.assertEqual(self.status["loss"]["kernel_ringbuf_full"], 0)
        capture = self.status["counters"]["capture"]
        self.assertEqual(capture["kernel_ringbuf_full"], 0)
        self.assertEqual(capture["kernel_ringbuf_lost_packets"], 0)
        self.assertIn("ringbuf", self.status["kernel_features"])
        self.assertIn("lo", self.status["capture_source"])
        self.assertEqual(self.status["capture_state"], "running")
        # Loss by cause: only the stalled subscriber's.
        self.assertEqual(self.status["lost_total"], self.status["loss"]["slow_subscriber"])

    def test_metrics_expose_every_loss_cause(self):
        from prometheus_client.parser import text_string_to_metric_families
        self.assertEqual(self.metrics.returncode, 0, self.metrics.stderr)
        lost, units = {}, {}
        for f in text_string_to_metric_families(self.metrics.stdout):
            m = re.fullmatch(r"mailtap_lost_(\w+)", f.name)
            for s in f.samples if m else []:
                lost[s.labels["cause"]] = s.value
                units[s.labels["cause"]] = m.group(1)  # one family per unit
        self.assertEqual(lost, {c: float(v) for c, v in self.status["loss"].items()})
        self.assertEqual(units, self.status["loss_units"])
        self.assertEqual(units["kernel_ringbuf_full"], "packets")
        self.assertEqual(units["slow_subscriber"], "events")
        self.assertEqual(lost["kernel_ringbuf_full"], 0)
        self.assertGreater(lost["slow_subscriber"], 0)


class LiveConnections(unittest.TestCase):
    """`mailtap connections` while a session is open: the agent builds the list when asked, and
    it must show the session as the client socket saw it."""

    def setUp(self):
        lib.need_root("live capture (eBPF on lo)")
        sink_bin = smtp_tool("smtp-sink")
        if not sink_bin:
            lib.skip_loudly("smtp-sink (Debian package postfix) not installed")
        port = free_loopback_port()
        self.sink = subprocess.Popen([sink_bin, "-u", "nobody", f"127.0.0.1:{port}", "16"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (self.sink.terminate(), self.sink.wait(timeout=10)))
        self.agent = lib.Agent(["-i", "lo", "--ports", str(port)])
        self.addCleanup(self.agent.cleanup)
        self.agent.wait_serving()
        self.client = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.addCleanup(self.client.close)

    def read_reply(self, f):
        lines = [f.readline()]
        while lines[-1][3:4] == b"-":
            lines.append(f.readline())
        return b"".join(lines)

    def connections(self):
        out = lib.mailtap(self.agent.socket, "connections", "-o", "json")
        self.assertEqual(out.returncode, 0, out.stderr)
        return [json.loads(line) for line in out.stdout.splitlines()]

    def test_an_open_session_is_listed_with_the_bytes_each_side_sent(self):
        f = self.client.makefile("rb")
        received = self.read_reply(f)
        sent = b"EHLO client.example\r\n"
        self.client.sendall(sent)
        received += self.read_reply(f)
        port = self.client.getsockname()[1]

        def listed():
            mine = [c for c in self.connections() if c["id.orig_p"] == port]
            return mine if mine and mine[0]["resp_bytes"] == len(received) else None
        mine = poll(listed, "the open session in `mailtap connections`", deadline=20)
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["orig_bytes"], len(sent))
        self.assertEqual(mine[0]["tcp_state"], "established")
        self.assertEqual(mine[0]["gap_bytes"], 0)


if __name__ == "__main__":
    lib.run_tests()
