#!/usr/bin/env python3
"""End to end: followers of the real `mailtapd` while it replays, and hostile requests.

The agent reads its capture from a pipe (`-r -`) that this test fills in two halves: the
followers subscribe while the agent waits for the second half, so "last N, then follow" is
checked across a real pause in the middle of the stream, deterministically. Meanwhile malformed
requests (not JSON, unknown verb, huge line, slowloris, ...) arrive on other connections; they
must get an error reply (or a close) and must not disturb the followers.

Usage: e2e_follow_test.py MAILTAPD MAILTAP SOURCE_DIR
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as lib  # noqa: E402
from e2e_lib import Ref, RawClient, poll  # noqa: E402

BACKLOG = 100  # --last of the main follower
# How far a follower may fall behind (docs/query-protocol.md, "Slow clients never stall capture").
QUEUE_CAPACITY = 10000


def split_pcap(path):
    """(global header, [packet records]) of a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    header, off, records = data[:24], 24, []
    while off < len(data):
        incl_len = struct.unpack_from("<I", data, off + 8)[0]
        records.append(data[off:off + 16 + incl_len])
        off += 16 + incl_len
    return header, records


class Follower:
    """`mailtap ... --follow` with its standard output in a file (it never blocks on us)."""

    def __init__(self, workdir, name, sock, *args):
        self.out_path = os.path.join(workdir, name + ".out")
        self.err_path = os.path.join(workdir, name + ".err")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([lib.MAILTAP, "--socket", sock, *args, "--follow",
                                          "-o", "json"], stdout=out, stderr=err)

    def lines(self):
        with open(self.out_path, "rb") as f:
            data = f.read().decode("utf-8")
        return data[:data.rfind("\n") + 1].splitlines()  # complete lines only

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)


def contiguous_tail(got, expected):
    """True when `got` is exactly the last len(got) items of `expected`."""
    return len(got) <= len(expected) and got == expected[len(expected) - len(got):]


class FollowDuringReplay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.TemporaryDirectory(prefix="mailtap-e2e-follow-")
        # Class cleanups run even when the set-up fails half-way, last registered first.
        cls.addClassCleanup(cls.work.cleanup)
        pcap = os.path.join(cls.work.name, "synthetic.pcap")
        subprocess.run([sys.executable, os.path.join(lib.SOURCE_DIR, "bench", "gen_smtp_pcap.py"),
                        pcap, "--sessions", "60", "--mails-per-session", "2",
                        "--body-bytes", "1500", "--concurrent", "20"], check=True, timeout=120)
        header, records = split_pcap(pcap)
        half = len(records) // 2
        cls.agent = lib.Agent(["-r", "-", "--keep-serving", "--redact", "none"],
                              stdin=subprocess.PIPE)
        cls.addClassCleanup(cls.stop_everything)
        # The agent opens the capture (reads its header) before it opens the socket.
        cls.agent.proc.stdin.write(header)
        cls.agent.proc.stdin.flush()
        cls.agent.wait_serving()
        # The slowloris connects first: its 10 s request deadline runs during everything below.
        cls.slowloris = RawClient(cls.agent.socket)
        cls.slowloris.send(b'{"protocol":1,"verb":')
        cls.agent.proc.stdin.write(b"".join(records[:half]))
        cls.agent.proc.stdin.flush()
        # Every packet of the first half analysed: nothing more is published until the second
        # half arrives, so the followers below all subscribe at published_before (a slow build,
        # ASan's say, would otherwise still be publishing while they subscribe).
        # (The pipeline's counters appear with its first statistics snapshot.)
        poll(lambda: cls.agent.status()["counters"].get("capture", {}).get("packets_total") == half,
             "the first half of the capture to be analysed")
        cls.published_before = cls.agent.counter("query", "events_published")
        assert cls.published_before > 2 * BACKLOG, "first half too small for --last"
        cls.followers = {
            "all": Follower(cls.work.name, "all", cls.agent.socket, "observe", "--last",
                            str(BACKLOG)),
            "requests": Follower(cls.work.name, "requests", cls.agent.socket, "observe",
                                 "--last", "5", "--event", "smtp_request", "--port", "25"),
            "records": Follower(cls.work.name, "records", cls.agent.socket, "transactions",
                                "--last", "10"),
            "quitter": Follower(cls.work.name, "quitter", cls.agent.socket, "observe"),
        }
        cls.raw_follower = RawClient(cls.agent.socket)
        cls.raw_follower.send(b'{"protocol":1,"verb":"observe","follow":true}\n')
        poll(lambda: cls.agent.counter("query", "subscribers") == 5, "5 subscribers")
        cls.published_subscribed = cls.agent.counter("query", "events_published")
        cls.bad_replies = cls.send_malformed_requests()
        cls.status_during_slowloris = cls.agent.status()
        # A follower that goes away is forgotten without any traffic to notice it by.
        cls.followers["quitter"].stop()
        poll(lambda: cls.agent.counter("query", "subscribers") == 4,
             "the departed follower to be unsubscribed")
        cls.agent.proc.stdin.write(b"".join(records[half:]))
        cls.agent.proc.stdin.close()
        cls.final = cls.agent.wait_finished()
        cls.events = lib.read_lines(cls.agent.events)
        cls.records = lib.read_lines(cls.agent.smtp_log)
        # A follower may fall 10,000 items behind, more than the whole second half: even a
        # follower that is not scheduled at all while the agent races through it loses nothing.
        assert len(cls.events) - cls.published_before < QUEUE_CAPACITY, "capture too large"

    @classmethod
    def send_malformed_requests(cls):
        requests = {
            "not_json": b"hello agent\n",
            "nul_garbage": b"\x00\x01\x02\xff\xfe{{{\n",
            "empty_line": b"\n",
            "array": b'["observe"]\n',
            "unknown_verb": b'{"protocol":1,"verb":"shutdown"}\n',
            "no_verb": b'{"protocol":1}\n',
            "future_protocol": b'{"protocol":2,"verb":"status"}\n',
            "unknown_member": b'{"protocol":1,"verb":"observe","lsat":5}\n',
            "unknown_filter": b'{"protocol":1,"verb":"observe","filter":{"evnt":"x"}}\n',
            "wrong_type": b'{"protocol":1,"verb":"observe","last":"5"}\n',
            "bad_port": b'{"protocol":1,"verb":"observe","filter":{"port":70000}}\n',
            "filter_not_for_verb": b'{"protocol":1,"verb":"status","filter":{"event":"x"}}\n',
            "huge_line": b"x" * (1 << 20),
            "huge_json_line": b'{"protocol":1,"verb":"status","pad":"' + b"y" * 70000 + b'"}\n',
        }
        replies = {}
        for name, data in requests.items():
            client = RawClient(cls.agent.socket)
            client.send(data)  # the agent may close before taking all of a huge line
            replies[name] = client.read_all()
            client.close()
        # Connecting and leaving without a word costs nothing.
        RawClient(cls.agent.socket).close()
        return replies

    @classmethod
    def stop_everything(cls):
        """The followers, the raw clients, then the agent (which must exit 0)."""
        for f in getattr(cls, "followers", {}).values():
            f.stop()
        for c in ("raw_follower", "slowloris"):
            if hasattr(cls, c):
                getattr(cls, c).close()
        rc = cls.agent.cleanup()
        assert rc == 0, f"mailtapd exited with {rc}"

    @classmethod
    def slowloris_reply(cls):
        """The slowloris's answer (read once): its 10 s deadline has passed afterwards."""
        if not hasattr(cls, "_slowloris_lines"):
            cls._slowloris_lines = cls.slowloris.read_all(timeout=30)
        return cls._slowloris_lines

    def wait_for_tail(self, follower, expected, minimum):
        """Polls the follower's output until it holds a contiguous tail of `expected` that is at
        least `minimum` long, i.e. everything up to the last item has arrived."""
        def complete():
            got = follower.lines()
            return got if len(got) >= minimum and contiguous_tail(got, expected) else None
        return poll(complete, f"{follower.out_path} to catch up with the agent")

    def test_last_n_then_follow_has_no_gap_and_no_duplicate(self):
        got = self.wait_for_tail(self.followers["all"], self.events,
                                 BACKLOG + len(self.events) - self.published_subscribed)
        # The stream is BACKLOG stored events, then everything published after subscribing: it
        # starts BACKLOG events before the moment of subscription.
        subscribed_at = len(self.events) - (len(got) - BACKLOG)
        self.assertGreaterEqual(subscribed_at, self.published_before)
        self.assertLessEqual(subscribed_at, self.published_subscribed)
        self.assertLess(subscribed_at, len(self.events))  # the live part is not empty

    def test_a_filtered_follower_gets_exactly_the_matching_events(self):
        ref = Ref(event=["smtp_request"], port=[25])
        matching = [line for line in self.events if ref.event_matches(line)]
        # A lower bound: the follower subscribed no later than published_subscribed.
        matching_after = len([line for line in self.events[self.published_subscribed:]
                              if ref.event_matches(line)])
        got = self.wait_for_tail(self.followers["requests"], matching, 5 + matching_after)
        matching_before = len(matching) - (len(got) - 5)
        self.assertEqual(matching_before, len([line for line in self.events[:self.published_before]
                                               if ref.event_matches(line)]))

    def test_a_transactions_follower_gets_the_smtp_log_records(self):
        self.assertEqual(len(self.records), 120)
        got = self.wait_for_tail(self.followers["records"], self.records, 10 + 1)
        self.assertLess(len(got), len(self.records))

    def test_the_raw_stream_is_ok_then_data_items_without_protocol_noise(self):
        first = self.raw_follower.read_line()
        self.assertEqual(first, '{"mailtap":"ok","protocol":1,"verb":"observe"}')
        got = []
        while not (len(got) >= len(self.events) - self.published_subscribed
                   and contiguous_tail(got, self.events)):
            line = self.raw_follower.read_line()
            self.assertIsNotNone(line, "the agent closed a follow stream")
            self.assertFalse(lib.is_protocol_message(line), line)
            got.append(line)
        self.assertGreaterEqual(len(self.events) - len(got), self.published_before)

    def test_malformed_requests_get_an_error_naming_the_problem(self):
        expected_codes = {
            "not_json": "bad_json", "nul_garbage": "bad_json", "empty_line": "bad_json",
            "array": "bad_request", "unknown_verb": "unknown_verb", "no_verb": "bad_request",
            "future_protocol": "unsupported_protocol", "unknown_member": "bad_request",
            "unknown_filter": "bad_request", "wrong_type": "bad_request", "bad_port": "bad_request",
            "filter_not_for_verb": "bad_request", "huge_line": "request_too_long",
            "huge_json_line": "request_too_long",
        }
        for name, code in expected_codes.items():
            with self.subTest(request=name):
                replies = self.bad_replies[name]
                self.assertEqual(len(replies), 1, replies)  # one error line, then close
                reply = json.loads(replies[0])
                self.assertEqual(list(reply)[:2], ["mailtap", "protocol"])
                self.assertEqual((reply["mailtap"], reply["code"]), ("error", code))
                self.assertTrue(reply["message"])
        self.assertIn("lsat", json.loads(self.bad_replies["unknown_member"][0])["message"])
        self.assertIn("evnt", json.loads(self.bad_replies["unknown_filter"][0])["message"])

    def test_malformed_requests_are_counted(self):
        self.slowloris_reply()
        counters = self.agent.status()["counters"]["query"]
        self.assertEqual(counters["bad_requests"], len(self.bad_replies))
        self.assertEqual(counters["request_timeouts"], 1)

    def test_slowloris_gets_request_timeout_and_others_are_served_meanwhile(self):
        self.assertIsNotNone(self.status_during_slowloris)
        replies = self.slowloris_reply()
        self.assertEqual(len(replies), 1, "expected one error line, then the close")
        self.assertEqual(json.loads(replies[0])["code"], "request_timeout")
        status = self.agent.status()
        self.assertEqual(status["counters"]["query"]["request_timeouts"], 1)

    def test_no_follower_lost_anything(self):
        self.assertEqual(self.final["loss"]["slow_subscriber"], 0)
        for name in ("all", "requests", "records"):
            with open(self.followers[name].err_path) as f:
                self.assertEqual(f.read(), "", name)

    def test_client_limit_refuses_the_extra_client_and_recovers(self):
        self.slowloris_reply()  # its slot must not come free in the middle of this
        # Fill every slot (64) with idle followers, counting the ones already connected.
        status_clients = self.agent.counter("query", "clients")  # includes that status client
        fillers = []
        try:
            for _ in range(64 - (status_clients - 1)):
                c = RawClient(self.agent.socket)
                c.send(b'{"verb":"observe","follow":true}\n')
                self.assertEqual(c.read_line(), '{"mailtap":"ok","protocol":1,"verb":"observe"}')
                fillers.append(c)
            extra = RawClient(self.agent.socket)
            reply = json.loads(extra.read_line())
            self.assertEqual((reply["mailtap"], reply["code"]), ("error", "too_many_clients"))
            self.assertIsNone(extra.read_line())
            extra.close()
            out = lib.mailtap(self.agent.socket, "status")
            self.assertEqual(out.returncode, 1)
            self.assertIn("too_many_clients", out.stderr)
        finally:
            for c in fillers:
                c.close()
        status = poll(self.agent.status, "the agent to serve again after the fillers left")
        self.assertGreaterEqual(status["counters"]["query"]["clients_over_limit"], 2)


class WriterStoppedMidPacket(unittest.TestCase):
    """`tcpdump -w - | mailtapd -r -`: tcpdump writes in blocks that end mid-packet and may then
    pause for as long as the traffic does. Meanwhile the agent waits in the middle of a read; its
    status and its logs must not wait with it (issue 16)."""

    def test_status_and_logs_are_current_while_the_rest_of_a_packet_is_awaited(self):
        with tempfile.TemporaryDirectory(prefix="mailtap-e2e-midpacket-") as work:
            pcap = os.path.join(work, "synthetic.pcap")
            subprocess.run([sys.executable,
                            os.path.join(lib.SOURCE_DIR, "bench", "gen_smtp_pcap.py"), pcap,
                            "--sessions", "20", "--mails-per-session", "2"], check=True)
            header, records = split_pcap(pcap)
            agent = lib.Agent(["-r", "-", "--keep-serving"], stdin=subprocess.PIPE)
            try:
                agent.proc.stdin.write(header)
                agent.proc.stdin.flush()
                agent.wait_serving()
                last = records[-1]
                agent.proc.stdin.write(b"".join(records[:-1]) + last[:len(last) // 2])
                agent.proc.stdin.flush()
                # Every whole packet counted, though the agent never returned from its read.
                status = poll(lambda: self.caught_up(agent, len(records) - 1),
                              "status to count every whole packet written")
                self.assertTrue(status["pipeline"]["waiting_for_input"])
                written = status["counters"]["smtp_log"]["records_written"]
                self.assertGreater(written, 0)
                self.assertEqual(len(lib.read_lines(agent.smtp_log)), written)  # flushed
                agent.proc.stdin.write(last[len(last) // 2:])
                agent.proc.stdin.close()
                final = agent.wait_finished()
                self.assertEqual(final["counters"]["capture"]["packets_total"], len(records))
                self.assertEqual(final["counters"]["smtp_log"]["records_written"], 40)
            finally:
                self.assertEqual(agent.cleanup(), 0)

    @staticmethod
    def caught_up(agent, packets):
        status = agent.status()
        counted = status["counters"].get("capture", {}).get("packets_total")
        return status if counted == packets else None


class StalledFollower(unittest.TestCase):
    """A follower that reads nothing while ~50000 events are published: the agent drops the
    oldest items of its queue, never waits for it, and tells it where and how many it lost."""

    def test_stream_has_lost_notices_exactly_at_the_gaps(self):
        with tempfile.TemporaryDirectory(prefix="mailtap-e2e-stall-") as work:
            pcap = os.path.join(work, "synthetic.pcap")
            subprocess.run([sys.executable,
                            os.path.join(lib.SOURCE_DIR, "bench", "gen_smtp_pcap.py"), pcap,
                            "--sessions", "600", "--mails-per-session", "2", "--body-bytes",
                            "1500"], check=True)
            header, records = split_pcap(pcap)
            agent = lib.Agent(["-r", "-", "--keep-serving", "--redact", "none"],
                              stdin=subprocess.PIPE, log_dir=False)
            try:
                agent.proc.stdin.write(header)
                agent.proc.stdin.flush()
                agent.wait_serving()
                stalled = RawClient(agent.socket, rcvbuf=4096)
                stalled.send(b'{"protocol":1,"verb":"observe","follow":true}\n')
                poll(lambda: agent.counter("query", "subscribers") == 1, "the subscription")
                agent.proc.stdin.write(b"".join(records))
                agent.proc.stdin.close()
                status = agent.wait_finished()
                events = lib.read_lines(agent.events)
                self.assertEqual(status["counters"]["query"]["events_published"], len(events))
                self.check_stream(stalled, events, agent)
                stalled.close()
            finally:
                self.assertEqual(agent.cleanup(), 0)

    def check_stream(self, stalled, events, agent):
        self.assertEqual(stalled.read_line(), '{"mailtap":"ok","protocol":1,"verb":"observe"}')
        position, lost_total, notices = 0, 0, 0
        while position < len(events):
            line = stalled.read_line()
            self.assertIsNotNone(line, "the agent closed the stalled follower")
            if lib.is_protocol_message(line):
                notice = json.loads(line)
                self.assertEqual((notice["mailtap"], notice["cause"]), ("lost", "slow_subscriber"))
                self.assertGreater(notice["count"], 0)
                position += notice["count"]
                lost_total += notice["count"]
                notices += 1
                continue
            self.assertEqual(line, events[position], f"item {position} of the stream")
            position += 1
        self.assertEqual(position, len(events), "the lost counts overshoot the gap")
        self.assertGreaterEqual(notices, 1)
        status = agent.status()
        self.assertEqual(status["loss"]["slow_subscriber"], lost_total)
        self.assertEqual(status["counters"]["query"]["slow_subscriber_dropped"], lost_total)


if __name__ == "__main__":
    lib.run_tests()
