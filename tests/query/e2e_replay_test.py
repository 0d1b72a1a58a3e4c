#!/usr/bin/env python3
"""End to end: the real `mailtap` client against the real `mailtapd` replaying captures with
--keep-serving. Every answer is compared with what the agent's own file outputs (--events,
smtp.log as JSON) hold, line by line as strings; filters are compared with a reference filter
written from docs/query-protocol.md.

Usage: e2e_replay_test.py MAILTAPD MAILTAP SOURCE_DIR   (MAILTAP_ZEEK_CORPUS from the environment)
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as lib  # noqa: E402
from e2e_lib import Ref, mailtap, ok_lines  # noqa: E402


def stop_agent(agent):
    rc = agent.cleanup()
    assert rc == 0, f"mailtapd exited with {rc} after SIGTERM"


# smtp.pcap's first session authenticates with AUTH LOGIN; this is the base64 username answer.
AUTH_SECRET = "Z3VycGFydGFwQHBhdHJpb3RzLmlu"


class ReplayFixture(unittest.TestCase):
    """One agent per class: replays `trace()` with --keep-serving and waits until it finished."""
    agent_args = []
    needs_corpus = True

    @classmethod
    def trace(cls):
        return os.path.join(lib.TRACES, "smtp.pcap")

    @classmethod
    def setUpClass(cls):
        if cls.needs_corpus:
            lib.need_corpus()
        cls.agent = lib.Agent(["-r", cls.trace(), "--keep-serving", *cls.agent_args])
        # A class cleanup also runs when the set-up fails: the agent never outlives the class.
        cls.addClassCleanup(stop_agent, cls.agent)
        cls.status = cls.agent.wait_finished()
        cls.events = lib.read_lines(cls.agent.events)

    def observe(self, *args):
        return ok_lines(self, mailtap(self.agent.socket, "observe", "-o", "json", *args))

    def assertFilterSelectsLikeReference(self, ref, events=None, last="1000000"):
        events = self.events if events is None else events
        expected = [line for line in events if ref.event_matches(line)]
        got = self.observe("--last", last, *ref.cli_args())
        self.assertEqual(got, expected, f"filter {ref.cli_args()}")
        return expected


class ZeekTraceOverTheSocket(ReplayFixture):
    """smtp.pcap, default redaction."""

    def test_observe_last_n_is_the_tail_of_the_events_file(self):
        total = len(self.events)
        self.assertGreater(total, 500)
        for n in (1, 2, 17, total - 1, total):
            self.assertEqual(self.observe("--last", str(n)), self.events[-n:], f"--last {n}")

    def test_observe_last_more_than_stored_returns_everything(self):
        self.assertEqual(self.observe("--last", str(len(self.events) + 100)), self.events)

    def test_observe_last_zero_returns_nothing(self):
        self.assertEqual(self.observe("--last", "0"), [])

    def test_observe_without_last_shows_the_last_twenty(self):
        self.assertEqual(self.observe(), self.events[-20:])

    def test_event_filter(self):
        self.assertTrue(self.assertFilterSelectsLikeReference(Ref(event=["smtp_request"])))

    def test_event_filter_list_is_or(self):
        self.assertTrue(self.assertFilterSelectsLikeReference(
            Ref(event=["smtp_request", "smtp_reply", "mime_end_entity"])))

    def test_unknown_event_name_is_a_usage_error_listing_the_events(self):
        # A misspelt name would select nothing and look like a quiet mail server.
        out = mailtap(self.agent.socket, "observe", "-o", "json", "--event", "smtp_requst")
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertEqual(out.stdout, "")
        self.assertIn("unknown event 'smtp_requst' (did you mean smtp_request?)", out.stderr)
        for name in ("smtp_request", "smtp_reply", "smtp_data", "smtp_starttls",
                     "smtp_unexpected", "weird", "mime_one_header"):
            self.assertIn(name, out.stderr)

    def test_uid_filter_selects_one_connection(self):
        uids = sorted({json.loads(l)["uid"] for l in self.events if '"uid"' in l})
        self.assertEqual(len(uids), 2)
        for uid in uids:
            selected = self.assertFilterSelectsLikeReference(Ref(uid=[uid]))
            self.assertTrue(selected)
            self.assertLess(len(selected), len(self.events))

    def test_address_filter_matches_either_endpoint(self):
        self.assertTrue(self.assertFilterSelectsLikeReference(Ref(address=["10.10.1.4"])))
        self.assertTrue(self.assertFilterSelectsLikeReference(Ref(address=["74.53.140.153"])))
        self.assertTrue(self.assertFilterSelectsLikeReference(
            Ref(address=["192.168.133.100", "10.10.1.4"])))
        self.assertEqual(self.assertFilterSelectsLikeReference(Ref(address=["::1"])), [])

    def test_port_filter_matches_either_endpoint(self):
        self.assertTrue(self.assertFilterSelectsLikeReference(Ref(port=[1470])))
        self.assertEqual(len(self.assertFilterSelectsLikeReference(Ref(port=[25]))),
                         len([l for l in self.events if '"id.resp_p":25' in l]))

    def test_direction_filter(self):
        orig = self.assertFilterSelectsLikeReference(Ref(direction="orig"))
        resp = self.assertFilterSelectsLikeReference(Ref(direction="resp"))
        self.assertTrue(orig and resp)
        # Events without is_orig (MIME, weird) are in neither.
        self.assertLess(len(orig) + len(resp), len(self.events))

    def test_time_range_is_since_inclusive_until_exclusive(self):
        stamps = [re.match(r'\{"ts":([0-9.]+)', l).group(1) for l in self.events]
        since, until = stamps[100], stamps[300]
        selected = self.assertFilterSelectsLikeReference(Ref(since=since, until=until))
        self.assertIn(self.events[100], selected)
        self.assertNotIn(self.events[300], selected)

    def test_command_filter_selects_requests_and_their_replies_case_insensitively(self):
        selected = self.assertFilterSelectsLikeReference(Ref(command=["mail", "RcPt"]))
        kinds = {json.loads(l)["event"] for l in selected}
        self.assertEqual(kinds, {"smtp_request", "smtp_reply"})

    def test_match_searches_request_command_and_arg_case_insensitively(self):
        self.assertTrue(self.assertFilterSelectsLikeReference(Ref(match="GURPARTAP")))
        self.assertTrue(self.assertFilterSelectsLikeReference(Ref(match="login")))
        self.assertTrue(self.assertFilterSelectsLikeReference(Ref(match="ehl")))

    def test_match_never_selects_replies(self):
        self.assertEqual(
            self.assertFilterSelectsLikeReference(Ref(event=["smtp_reply"], match="OK")), [])

    def test_filters_combine_with_and(self):
        stamps = [re.match(r'\{"ts":([0-9.]+)', l).group(1) for l in self.events]
        self.assertTrue(self.assertFilterSelectsLikeReference(
            Ref(event=["smtp_reply", "smtp_request"], port=[25], direction="resp",
                command=["EHLO", "DATA"], since=stamps[0])))
        self.assertTrue(self.assertFilterSelectsLikeReference(
            Ref(address=["10.10.1.4"], direction="orig", match="a")))

    def test_filter_and_last_take_the_last_matching(self):
        expected = [l for l in self.events if Ref(event=["smtp_request"]).event_matches(l)][-3:]
        self.assertEqual(self.observe("--last", "3", "--event", "smtp_request"), expected)

    def test_transactions_equal_the_smtp_log(self):
        log = lib.read_lines(self.agent.smtp_log)
        self.assertEqual(len(log), 2)
        got = ok_lines(self, mailtap(self.agent.socket, "transactions", "--last", "1000",
                                     "-o", "json"))
        self.assertEqual(got, log)

    def test_transaction_filters(self):
        log = lib.read_lines(self.agent.smtp_log)
        for ref in (Ref(match="yahoo.co.in"), Ref(match="SUBETHAMAIL"), Ref(address=["10.10.1.4"]),
                    Ref(port=[49648]), Ref(uid=[json.loads(log[1])["uid"]]), Ref(match="nothing")):
            got = ok_lines(self, mailtap(self.agent.socket, "transactions", "--last", "1000",
                                         "-o", "json", *ref.cli_args()))
            self.assertEqual(got, [l for l in log if ref.record_matches(l)], ref.cli_args())

    def test_connections_after_the_replay_lists_none_open(self):
        out = mailtap(self.agent.socket, "connections", "-o", "json")
        self.assertEqual((out.returncode, out.stdout), (0, ""), out.stderr)
        raw = lib.RawClient(self.agent.socket)
        raw.send(b'{"protocol":1,"verb":"connections"}\n')
        self.assertEqual(raw.read_all(), ['{"mailtap":"ok","protocol":1,"verb":"connections"}',
                                          '{"mailtap":"end","items":0}'])
        raw.close()

    def test_status_has_version_uptime_source_counters_and_loss(self):
        status = self.agent.status()
        version = subprocess.run([lib.MAILTAPD, "--version"], capture_output=True, text=True)
        self.assertEqual(f"mailtapd {status['version']}", version.stdout.strip())
        self.assertGreater(status["uptime_seconds"], 0)
        self.assertIn(self.trace(), status["capture_source"])
        self.assertEqual(status["capture_state"], "finished")
        self.assertEqual(status["redact"], "credentials")
        counters = status["counters"]
        for group in ("capture", "tcp", "smtp", "smtp_log", "events_jsonl", "query"):
            self.assertIn(group, counters)
        # capinfos: 125 packets; the agent's outputs agree with its counters.
        self.assertEqual(counters["capture"]["packets_total"], 125)
        self.assertEqual(counters["events_jsonl"]["events_written"], len(self.events))
        self.assertEqual(counters["query"]["events_published"], len(self.events))
        self.assertEqual(counters["query"]["history_events"], len(self.events))
        self.assertEqual(counters["query"]["records_published"], 2)
        self.assertEqual(counters["smtp_log"]["records_written"], 2)
        for cause in ("reassembly_gap", "slow_subscriber", "pcap_read_errors"):
            self.assertIn(cause, status["loss"])
        self.assertEqual(status["lost_total"], sum(status["loss"].values()))

    def test_metrics_parse_and_match_status(self):
        from prometheus_client.parser import text_string_to_metric_families
        out = mailtap(self.agent.socket, "metrics")
        self.assertEqual(out.returncode, 0, out.stderr)
        families = {f.name: f for f in text_string_to_metric_families(out.stdout)}
        status = self.agent.status()
        samples = {}
        for fam in families.values():
            self.assertTrue(fam.name.startswith(("mailtap_", "process_")), fam.name)
            for s in fam.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = (fam.type, s.value)
        # Every loss cause of status, with its value, in the family of its unit:
        # mailtap_lost_<unit>_total{cause=...}; no family mixes units.
        lost = {}
        for (name, labels), (kind, value) in samples.items():
            m = re.fullmatch(r"mailtap_lost_(\w+)_total", name)
            if m:
                self.assertEqual(kind, "counter")
                lost.setdefault(m.group(1), {})[dict(labels)["cause"]] = value
        self.assertEqual(lost, {unit: {c: float(v) for c, v in causes.items()}
                                for unit, causes in status["loss_by_unit"].items()})
        self.assertNotIn("mailtap_lost", families)
        self.assertEqual(set(lost["bytes"]) & {"reassembly_gap", "reassembly_buffer"},
                         {"reassembly_gap", "reassembly_buffer"})
        self.assertIn("slow_subscriber", lost["events"])
        self.assertIn("slow_subscriber_records", lost["records"])
        # Every counter and gauge of status is exposed (values of the query group move while
        # we ask, so compare the pipeline's, which are final after the replay).
        for group, names in status["counters"].items():
            for name, value in names.items():
                base = re.sub(r"[^a-zA-Z0-9_]", "_", f"mailtap_{group}_{name}")
                if isinstance(value, dict):  # a labelled counter: one series per label value
                    for label_value, v in value.items():
                        hits = [s for (n, labels), s in samples.items()
                                if n in (base, base + "_total") and len(labels) == 1
                                and labels[0][1] == label_value]
                        self.assertEqual(len(hits), 1, f"{group}.{name}[{label_value}]")
                        self.assertEqual(hits[0][1], v, f"{group}.{name}[{label_value}]")
                    continue
                hits = [v for (n, labels), v in samples.items()
                        if not labels and n in (base, base + "_total")]
                self.assertEqual(len(hits), 1, f"{group}.{name} as {base}")
                if group != "query":
                    self.assertEqual(hits[0][1], value, f"{group}.{name}")
        self.assertEqual(samples[("mailtap_build_info", (("version", status["version"]),))][1], 1)
        # The agent's own process, named as Prometheus client libraries name it.
        self.assertGreater(samples[("process_resident_memory_bytes", ())][1], 1 << 20)
        self.assertGreater(samples[("process_cpu_seconds_total", ())][1], 0)
        self.assertGreater(samples[("process_open_fds", ())][1], 3)
        self.assertAlmostEqual(samples[("process_start_time_seconds", ())][1],
                               samples[("mailtap_start_time_seconds", ())][1], delta=30)

    def test_default_redaction_hides_auth_credentials(self):
        everything = self.observe("--last", "1000000")
        self.assertEqual(everything, self.events)
        answers = [json.loads(l) for l in everything
                   if '"event":"smtp_request"' in l and '"command":"**"' in l]
        self.assertEqual(len(answers), 2)  # AUTH LOGIN: username, password
        for a in answers:
            self.assertEqual(a["arg"], "[REDACTED]")
        self.assertNotIn(AUTH_SECRET, "\n".join(everything))
        # A filter sees the redacted text only: it cannot probe for the credential.
        self.assertEqual(self.observe("--last", "1000000", "--match", AUTH_SECRET), [])


class ZeekTraceWithoutRedaction(ReplayFixture):
    agent_args = ["--redact", "none"]

    def test_observe_reproduces_the_events_file_exactly(self):
        self.assertEqual(self.observe("--last", "1000000"), self.events)
        self.assertIn(AUTH_SECRET, "\n".join(self.events))
        self.assertEqual(self.agent.status()["redact"], "none")

    def test_a_filter_finds_the_unredacted_credential(self):
        got = self.observe("--last", "1000000", "--match", AUTH_SECRET.lower())
        self.assertEqual(len(got), 1)
        self.assertEqual(json.loads(got[0])["arg"], AUTH_SECRET)


class CorpusTraces(unittest.TestCase):
    """Every SMTP trace of the corpus: the socket reproduces --events and smtp.log exactly."""

    def test_every_trace_round_trips_through_the_socket(self):
        lib.need_corpus()
        traces = sorted(os.path.join(d, f) for d, _, fs in os.walk(lib.TRACES) for f in fs
                        if re.search(r"\.pcap(ng)?$", f))
        self.assertGreater(len(traces), 10)
        for trace in traces:
            with self.subTest(trace=os.path.relpath(trace, lib.TRACES)):
                agent = lib.Agent(["-r", trace, "--keep-serving", "--redact", "none"])
                try:
                    agent.wait_finished()
                    events = lib.read_lines(agent.events)
                    got = ok_lines(self, mailtap(agent.socket, "observe", "--last", "1000000",
                                                 "-o", "json"))
                    self.assertEqual(got, events)
                    log = lib.read_lines(agent.smtp_log)
                    got = ok_lines(self, mailtap(agent.socket, "transactions", "--last", "1000",
                                                 "-o", "json"))
                    self.assertEqual(got, log)
                finally:
                    self.assertEqual(agent.cleanup(), 0)


class MessageLinesOnlyWhenAsked(unittest.TestCase):
    """Without --observe-data the socket carries the protocol events only (no smtp_data, no
    mime_one_header: event kind "content"); without --events too, nothing wants smtp_data and the
    analyzer does not raise it: smtp.log must not change."""

    @classmethod
    def setUpClass(cls):
        lib.need_corpus()
        trace = os.path.join(lib.TRACES, "smtp.pcap")
        # One uid seed: the two runs are compared line for line.
        cls.with_events = lib.Agent(["-r", trace, "--keep-serving", "--uid-seed", "1"],
                                    observe_data=False)
        cls.addClassCleanup(stop_agent, cls.with_events)
        cls.without_events = lib.Agent(["-r", trace, "--keep-serving", "--uid-seed", "1"],
                                       events=False,
                                       observe_data=False)
        cls.addClassCleanup(stop_agent, cls.without_events)
        cls.status = cls.with_events.wait_finished()
        cls.status_without_events = cls.without_events.wait_finished()
        cls.events = lib.read_lines(cls.with_events.events)
        cls.data_lines = [l for l in cls.events if json.loads(l)["event"] == "smtp_data"]

    def observe_all(self, agent):
        return ok_lines(self, mailtap(agent.socket, "observe", "--last", "1000000", "-o", "json"))

    def test_the_events_file_has_the_message_lines(self):
        self.assertGreater(len(self.data_lines), 50)
        self.assertEqual(self.status["counters"]["smtp"]["data_lines"], len(self.data_lines))

    def test_observe_has_every_protocol_event(self):
        content = {e["event"] for e in lib.list_events() if e["kind"] == "content"}
        self.assertEqual(content, {"smtp_data", "mime_one_header", "mime_entity_data", "mime_all_data"} | content)
        expected = [l for l in self.events if json.loads(l)["event"] not in content]
        self.assertGreater(len(expected), 40)
        self.assertEqual(self.observe_all(self.with_events), expected)
        self.assertEqual(self.observe_all(self.without_events), expected)

    def test_smtp_log_does_not_depend_on_smtp_data(self):
        records = lib.read_lines(self.with_events.smtp_log)
        self.assertTrue(records)
        self.assertEqual(lib.read_lines(self.without_events.smtp_log), records)

    def test_message_lines_are_still_counted(self):
        self.assertEqual(self.status_without_events["counters"]["smtp"]["data_lines"],
                         len(self.data_lines))


class SyntheticCapture(ReplayFixture):
    """bench/gen_smtp_pcap.py: 600 interleaved sessions, 1200 mails, ~50000 events: more than the
    default history (10000 events, 1000 records)."""

    @classmethod
    def trace(cls):
        return cls.pcap

    @classmethod
    def setUpClass(cls):
        cls.needs_corpus = False
        cls.pcap_dir = tempfile.TemporaryDirectory(prefix="mailtap-e2e-pcap-")
        cls.addClassCleanup(cls.pcap_dir.cleanup)
        cls.pcap = os.path.join(cls.pcap_dir.name, "synthetic.pcap")
        subprocess.run([sys.executable, os.path.join(lib.SOURCE_DIR, "bench", "gen_smtp_pcap.py"),
                        cls.pcap, "--sessions", "600", "--mails-per-session", "2",
                        "--body-bytes", "1500"], check=True, timeout=120)
        super().setUpClass()

    def test_history_keeps_the_last_ten_thousand_events(self):
        self.assertGreater(len(self.events), 20000)
        self.assertEqual(self.observe("--last", "10000"), self.events[-10000:])
        self.assertEqual(self.observe("--last", "20000"), self.events[-10000:])
        self.assertEqual(self.observe("--last", "1"), self.events[-1:])
        self.assertEqual(self.agent.counter("query", "history_events"), 10000)

    def test_filters_over_the_stored_history(self):
        stored = self.events[-10000:]
        last = json.loads(stored[-1])
        first_ts = re.match(r'\{"ts":([0-9.]+)', stored[5000]).group(1)
        for ref in (Ref(address=[last["id.orig_h"]]), Ref(port=[last["id.orig_p"]]),
                    Ref(uid=[last["uid"]]), Ref(command=["data"], direction="resp"),
                    Ref(match="a1@example"), Ref(event=["mime_one_header"], since=first_ts),
                    Ref(until=first_ts, event=["smtp_request"])):
            self.assertTrue(self.assertFilterSelectsLikeReference(ref, events=stored))

    def test_transactions_keep_the_last_thousand_records(self):
        log = lib.read_lines(self.agent.smtp_log)
        self.assertEqual(len(log), 1200)
        got = ok_lines(self, mailtap(self.agent.socket, "transactions", "--last", "5000",
                                     "-o", "json"))
        self.assertEqual(got, log[-1000:])

    def test_compact_view_has_one_line_per_event(self):
        out = ok_lines(self, mailtap(self.agent.socket, "observe", "--last", "500", "-o",
                                     "compact"))
        self.assertEqual(len(out), 500)


if __name__ == "__main__":
    lib.run_tests()
