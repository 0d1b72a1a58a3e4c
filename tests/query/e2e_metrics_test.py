#!/usr/bin/env python3
"""End to end: the agent's metrics and status on generated captures (tests/hostile/capture.py).

* Loss is counted once, in the unit of its cause: a capture that misses a known number of bytes
  and overflows the reassembly buffer reports exactly those bytes, not the overflow twice
  (issue 17: 591 M reported for 296 M lost).
* The HTTP listener (--metrics-address) serves what `mailtap metrics` serves, read by the real
  Prometheus parser.
* A pipeline that cannot make progress (its --events output is a pipe nobody reads) shows as
  stalled in status and metrics, and no longer once it moves again.

Usage: e2e_metrics_test.py MAILTAPD MAILTAP SOURCE_DIR
"""
import json
import os
import re
import sys
import tempfile
import threading
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as lib  # noqa: E402
from e2e_lib import mailtap  # noqa: E402

sys.path.insert(0, os.path.join(lib.SOURCE_DIR, "tests", "hostile"))
import capture  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

MSS = 1460
HOLE = MSS  # the first client segment after EHLO is never captured
BULK = 6 << 20  # more than the per-direction reassembly bound (4 MiB): the rest is dropped


def bulk_session(resend_after_hole):
    """EHLO, then BULK bytes of NOOP lines of which the first segment is missing; the server
    acknowledges everything at the end. With resend_after_hole the missing segment arrives late
    and every segment is sent again (as TCP retransmits), so nothing is lost in the end."""
    s = capture.Session(sport=40001, mss=MSS).handshake()
    s.send("s", b"220 mx.example.org ESMTP\r\n").send("c", b"EHLO client.example.org\r\n")
    s.send("s", b"250 mx.example.org\r\n")
    first = len(s.frames)
    s.send("c", (b"NOOP\r\n" * (BULK // 6 + 1))[:BULK])
    bulk = s.frames[first:]
    del s.frames[first]  # the hole: HOLE bytes the capture never carried
    if resend_after_hole:
        s.frames.extend(bulk)
    s.send("s", b"250 ok\r\n")  # acknowledges the whole stream
    return s.close()


def metrics_families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def lost_by_unit(families):
    lost = {}
    for name, fam in families.items():
        m = re.fullmatch(r"mailtap_lost_(\w+)", name)
        if m:
            for s in fam.samples:
                lost.setdefault(m.group(1), {})[s.labels["cause"]] = s.value
    return lost


class Replay:
    """mailtapd replaying `frames` with --keep-serving, stopped when the test ends."""

    def __init__(self, test, frames, *args, events=False):
        self.dir = tempfile.TemporaryDirectory(prefix="mailtap-metrics-")
        test.addCleanup(self.dir.cleanup)
        self.pcap = os.path.join(self.dir.name, "bulk.pcap")
        capture.write_pcap(self.pcap, frames)
        self.agent = lib.Agent(["-r", self.pcap, "--keep-serving", *args], log_dir=False,
                               events=events, observe_data=False)
        test.addCleanup(self.agent.cleanup)


class LossIsCountedOnceInItsUnit(unittest.TestCase):
    def test_missing_and_dropped_bytes_are_each_lost_once(self):
        status = Replay(self, bulk_session(resend_after_hole=False).frames).agent.wait_finished()
        bytes_lost = status["loss_by_unit"]["bytes"]
        tcp = status["counters"]["tcp"]
        # The capture lacks exactly HOLE bytes; everything else it carried and the agent dropped
        # at its buffer bound (no byte was sent twice, so every dropped byte is lost).
        self.assertEqual(bytes_lost["reassembly_gap"], HOLE)
        self.assertGreaterEqual(tcp["reassembly_buffer_overflow_bytes"], BULK - HOLE - (4 << 20))
        self.assertEqual(bytes_lost["reassembly_buffer"], tcp["reassembly_buffer_overflow_bytes"])
        self.assertEqual(tcp["gap_bytes"], HOLE + tcp["reassembly_buffer_overflow_bytes"])
        # Every byte lost is in the bytes family once: their sum is what the analyzer missed.
        self.assertEqual(sum(bytes_lost.values()), tcp["gap_bytes"])
        self.assertEqual(status["loss_units"]["reassembly_gap"], "bytes")

    def test_dropped_bytes_sent_again_are_no_loss(self):
        status = Replay(self, bulk_session(resend_after_hole=True).frames).agent.wait_finished()
        self.assertGreater(status["counters"]["tcp"]["reassembly_buffer_overflow_bytes"], 0)
        self.assertEqual(sum(status["loss_by_unit"]["bytes"].values()), 0)
        self.assertEqual(status["counters"]["tcp"]["gap_bytes"], 0)


class MimeDataBudgetShows(unittest.TestCase):
    def test_connections_parked_mid_message_flush_their_content_early_and_count_it(self):
        # Content events selected (--events-include all): each parked connection holds its
        # entity for mime_entity_data and mime_all_data, 40 x 2 x 1 MB against the mime_data share
        # of the smallest limit, (200 MiB - 136 MiB fixed) / 1000 x 50 = 3.2 MiB.
        body = b"Subject: x\r\n\r\n" + (b"x" * 998 + b"\r\n") * 1000
        frames = []
        for i in range(40):
            frames += capture.parked_in_headers(44000 + i, body).frames
        agent = Replay(self, frames, "--memory-limit", "200M", events=True).agent
        status = agent.wait_finished()
        smtp = status["counters"]["smtp"]
        self.assertGreater(smtp["mime_data_flushed_early"], 0)
        self.assertLessEqual(smtp["mime_data_buffer_bytes"], (64 << 20) // 1000 * 50)
        self.assertEqual(smtp["mime_entity_data_truncated"], 0)
        out = mailtap(agent.socket, "metrics")
        self.assertEqual(out.returncode, 0, out.stderr)
        family = metrics_families(out.stdout)["mailtap_smtp_mime_data_flushed_early"]
        self.assertEqual(family.samples[0].value, smtp["mime_data_flushed_early"])


class HttpListener(unittest.TestCase):
    def test_scrape_over_http_equals_the_socket_metrics(self):
        frames = bulk_session(resend_after_hole=False).frames
        agent = Replay(self, frames, "--metrics-address", "127.0.0.1:0").agent
        status = agent.wait_finished()
        port = int(re.search(r"metrics on http://127\.0\.0\.1:0/metrics \(port (\d+)\)",
                             agent.stderr_text()).group(1))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=20) as r:
            self.assertEqual(r.status, 200)
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))
            http = metrics_families(r.read().decode())
        out = mailtap(agent.socket, "metrics")
        self.assertEqual(out.returncode, 0, out.stderr)
        sock = metrics_families(out.stdout)
        # The same families (prometheus-cpp adds exposer_* about its own scrapes) and the same
        # final values for everything the replay counted.
        self.assertEqual({n for n in http if not n.startswith("exposer_")}, set(sock))
        self.assertEqual(lost_by_unit(http), lost_by_unit(sock))
        self.assertEqual(lost_by_unit(http)["bytes"]["reassembly_gap"], HOLE)
        for name in ("mailtap_capture_packets_total", "mailtap_tcp_gap_bytes_total"):
            fam = name[:-len("_total")]
            self.assertEqual(http[fam].samples[0].value, sock[fam].samples[0].value, name)
        commands = {s.labels["command"]: s.value for s in http["mailtap_smtp_commands"].samples}
        self.assertEqual(commands["EHLO"], 1)
        self.assertEqual(sum(commands.values()), status["counters"]["smtp"]["requests"])
        self.assertEqual(http["mailtap_pipeline_stalled"].samples[0].value, 0)
        self.assertGreater(http["process_resident_memory_bytes"].samples[0].value, 1 << 20)

    def test_a_bad_address_is_a_usage_error_naming_the_option(self):
        import subprocess
        for bad in ("localhost:9465", "127.0.0.1", "127.0.0.1:65536", "[::1:9465"):
            out = subprocess.run([lib.MAILTAPD, "-r", "/dev/null", "--metrics-address", bad],
                                 capture_output=True, text=True, timeout=20)
            self.assertEqual(out.returncode, 2, bad)
            self.assertIn("--metrics-address", out.stderr, bad)


class StallShows(unittest.TestCase):
    def test_a_blocked_pipeline_is_stalled_in_status_and_metrics_until_it_moves(self):
        tmp = tempfile.TemporaryDirectory(prefix="mailtap-stall-")
        self.addCleanup(tmp.cleanup)
        fifo = os.path.join(tmp.name, "events.fifo")
        os.mkfifo(fifo)
        # Opened for reading but never read: the agent's writes fill the pipe and block.
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.addCleanup(lambda: os.close(reader) if reader_open[0] else None)
        reader_open = [True]
        frames = bulk_session(resend_after_hole=True).frames
        agent = Replay(self, frames, "--events", fifo).agent
        agent.wait_serving()
        status = lib.poll(lambda: (lambda s: s if s and s["pipeline"]["stalled"] else None)(
            agent.status()), "status to show the pipeline stalled", deadline=60)
        self.assertEqual(status["capture_state"], "running")
        self.assertFalse(status["pipeline"]["waiting_for_input"])
        self.assertGreater(status["pipeline"]["seconds_since_progress"], 5)
        fams = metrics_families(mailtap(agent.socket, "metrics").stdout)
        self.assertEqual(fams["mailtap_pipeline_stalled"].samples[0].value, 1)
        last = fams["mailtap_pipeline_last_progress_timestamp_seconds"].samples[0].value
        self.assertLess(last, fams["mailtap_uptime_seconds"].samples[0].value +
                        fams["mailtap_start_time_seconds"].samples[0].value - 5)
        # Read the pipe: the pipeline moves again, finishes, and is no longer stalled.
        os.set_blocking(reader, True)
        drain = threading.Thread(target=lambda: [None for _ in iter(
            lambda: os.read(reader, 1 << 16), b"")], daemon=True)
        drain.start()
        status = agent.wait_finished(deadline=120)
        self.assertFalse(status["pipeline"]["stalled"])
        agent.stop()
        drain.join(timeout=30)
        os.close(reader)
        reader_open[0] = False


if __name__ == "__main__":
    lib.run_tests()
