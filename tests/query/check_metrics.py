#!/usr/bin/env python3
"""`mailtap metrics` parsed by prometheus_client's own text-format parser (not a regex).

Usage: check_metrics.py FAKE_AGENT MAILTAP
"""
import os
import subprocess
import sys
import tempfile
import unittest

from prometheus_client.parser import text_string_to_metric_families

FAKE_AGENT, MAILTAP = sys.argv[1], sys.argv[2]


class MetricsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.socket = os.path.join(self.dir.name, "q.sock")
        self.agent = subprocess.Popen([FAKE_AGENT, self.socket], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
        self.assertEqual(self.agent.stdout.readline().strip(), "ready")

    def tearDown(self):
        self.agent.stdin.close()
        self.agent.wait(timeout=20)
        self.agent.stdout.close()
        self.dir.cleanup()

    def families(self):
        out = subprocess.run([MAILTAP, "--socket", self.socket, "metrics"], capture_output=True,
                             text=True, timeout=20)
        self.assertEqual(out.returncode, 0, out.stderr)
        return {f.name: f for f in text_string_to_metric_families(out.stdout)}

    def value(self, family, sample_name, **labels):
        for s in family.samples:
            if s.name == sample_name and s.labels == labels:
                return s.value
        self.fail(f"no sample {sample_name}{labels} in {family.samples}")

    def test_loss_is_exported_by_unit_and_cause(self):
        fams = self.families()
        self.assertNotIn("mailtap_lost", fams)  # one family per unit, never a mixed sum
        packets = fams["mailtap_lost_packets"]
        self.assertEqual(packets.type, "counter")
        self.assertEqual(self.value(packets, "mailtap_lost_packets_total",
                                    cause="kernel_ring_buffer"), 5)
        self.assertEqual(self.value(packets, "mailtap_lost_packets_total", cause="truncation"), 2)
        self.assertEqual(len(packets.samples), 2)
        by = fams["mailtap_lost_bytes"]
        self.assertEqual(self.value(by, "mailtap_lost_bytes_total", cause="reassembly_gap"), 7)
        self.assertEqual(self.value(by, "mailtap_lost_bytes_total", cause="reassembly_buffer"), 3)
        self.assertEqual(len(by.samples), 2)
        self.assertEqual(self.value(fams["mailtap_lost_lines"], "mailtap_lost_lines_total",
                                    cause="smtp_line_too_long"), 1)
        self.assertEqual(self.value(fams["mailtap_lost_events"], "mailtap_lost_events_total",
                                    cause="slow_subscriber"), 0)
        self.assertEqual(self.value(fams["mailtap_lost_records"], "mailtap_lost_records_total",
                                    cause="slow_subscriber_records"), 0)

    def test_labelled_counters_are_one_family_with_a_series_per_value(self):
        fams = self.families()
        commands = fams["mailtap_smtp_commands"]
        self.assertEqual(commands.type, "counter")
        self.assertEqual(self.value(commands, "mailtap_smtp_commands_total", command="MAIL"), 4)
        self.assertEqual(self.value(commands, "mailtap_smtp_commands_total", command="RCPT"), 6)
        self.assertEqual(self.value(fams["mailtap_smtp_replies_by_class"],
                                    "mailtap_smtp_replies_by_class_total",
                                    **{"class": "2xx"}), 9)

    def test_every_counter_is_prefixed_and_typed(self):
        fams = self.families()
        packets = fams["mailtap_capture_packets"]
        self.assertEqual(packets.type, "counter")
        self.assertEqual(self.value(packets, "mailtap_capture_packets_total"), 1234)
        self.assertEqual(fams["mailtap_tcp_flows"].type, "gauge")
        self.assertEqual(self.value(fams["mailtap_tcp_flows"], "mailtap_tcp_flows"), 3)
        self.assertIn("newline", fams["mailtap_capture_bytes"].documentation)
        self.assertIn("mailtap_smtp_analyzer_lines", fams)
        self.assertIn("mailtap_query_peers_refused", fams)
        for name in fams:
            self.assertTrue(name.startswith(("mailtap_", "process_")), name)
        self.assertGreater(self.value(fams["process_resident_memory_bytes"],
                                      "process_resident_memory_bytes"), 0)

    def test_build_info_and_uptime(self):
        fams = self.families()
        self.assertEqual(self.value(fams["mailtap_build_info"], "mailtap_build_info",
                                    version="1.2.3"), 1)
        self.assertGreaterEqual(self.value(fams["mailtap_uptime_seconds"],
                                           "mailtap_uptime_seconds"), 0)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]])
