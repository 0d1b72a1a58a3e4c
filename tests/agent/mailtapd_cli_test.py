#!/usr/bin/env python3
"""End-to-end checks of mailtapd's command line: exit statuses and messages as pinned in
docs/interface.md (0 success, 2 bad usage naming the option, 1 runtime failure naming the cause)."""
import gzip
import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest

MAILTAPD = sys.argv.pop(1) if len(sys.argv) > 1 else "build/bin/mailtapd"
CORPUS = os.environ.get("MAILTAP_ZEEK_CORPUS", "")
# Sanitizer builds (scripts/ci-sanitizers.sh) use more memory for the same work.
MEMORY_SLACK = float(os.environ.get("MAILTAP_MEMORY_SLACK", "1"))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args, stdin=None):
    return subprocess.run([MAILTAPD, *args], capture_output=True, timeout=120, input=stdin)


COMMON_KEYS = ["ts", "event", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
               "community_id"]
JSON_TYPES = {"bool": bool, "count": int, "string": str}


def list_events():
    out = run("--list-events")
    assert out.returncode == 0, out.stderr.decode()
    return json.loads(out.stdout)


def events_reference(schema):
    """The reference section of docs/events.md, as it must read for `schema`."""
    lines = []
    for e in schema:
        lines += [f"### `{e['event']}`", "", e["doc"], "", f"Kind: {e['kind']}.", ""]
        if not e["args"]:
            lines += ["No arguments.", ""]
            continue
        lines += ["| key | type | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{a['name']}` | {a['type']} | {a['doc']} |" for a in e["args"]]
        lines.append("")
    return "\n".join(lines)


class EventSchema(unittest.TestCase):
    def test_list_events_names_each_event_once_with_typed_arguments(self):
        schema = list_events()
        names = [e["event"] for e in schema]
        self.assertEqual(len(names), len(set(names)))
        # The events docs/interface.md pins, with their keys in the pinned order.
        pinned = {"smtp_request": ["is_orig", "command", "arg"],
                  "smtp_reply": ["is_orig", "code", "cmd", "msg", "cont_resp"],
                  "smtp_data": ["is_orig", "data"], "smtp_starttls": [],
                  "smtp_unexpected": ["is_orig", "msg", "detail"]}
        by_name = {e["event"]: e for e in schema}
        for name, keys in pinned.items():
            self.assertEqual([a["name"] for a in by_name[name]["args"]], keys, name)
        for e in schema:
            self.assertTrue(e["doc"], e["event"])
            for a in e["args"]:
                self.assertIn(a["type"], JSON_TYPES)
                self.assertTrue(a["doc"], a["name"])

    def test_docs_events_reference_matches_the_list(self):
        with open(os.path.join(ROOT, "docs/events.md"), encoding="utf-8") as f:
            text = f.read()
        begin, end = "<!-- generated from mailtapd --list-events -->\n", "<!-- end -->"
        self.assertIn(begin, text)
        documented = text.split(begin, 1)[1].split(end, 1)[0]
        expected = events_reference(list_events())
        self.assertEqual(documented, expected,
                         "docs/events.md is out of date; its reference section should read:\n" +
                         expected)

    def test_replayed_events_carry_exactly_their_declared_keys_in_order(self):
        trace = os.path.join(CORPUS, "traces/smtp.pcap")
        if not os.path.exists(trace):
            self.skipTest(f"Zeek corpus not found at '{CORPUS}'")
        schema = {e["event"]: e["args"] for e in list_events()}
        out = run("-r", trace, "--events", "-", "--events-include", "all", "--redact", "none")
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        seen = set()
        for line in out.stdout.decode("utf-8").splitlines():
            e = json.loads(line, object_pairs_hook=lambda pairs: pairs)
            keys = [k for k, _ in e]
            name = dict(e)["event"]
            args = schema[name]
            self.assertEqual(keys[len(COMMON_KEYS):], [a["name"] for a in args], line)
            for (_, value), a in zip(e[len(COMMON_KEYS):], args):
                self.assertIsInstance(value, JSON_TYPES[a["type"]], line)
            seen.add(name)
        self.assertGreaterEqual(len(seen), 6)


class ExitStatus(unittest.TestCase):
    def test_version_comes_from_cmake_project(self):
        with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
            version = re.search(r"project\(mailtap VERSION ([0-9.]+)", f.read()).group(1)
        out = run("--version")
        self.assertEqual(out.returncode, 0)
        self.assertEqual(out.stdout.decode().strip(), f"mailtapd {version}")

    def test_unknown_option_is_usage_error_naming_it(self):
        out = run("--frobnicate")
        self.assertEqual(out.returncode, 2)
        self.assertIn("frobnicate", out.stderr.decode())

    def test_missing_capture_file_exits_one_naming_the_file(self):
        out = run("-r", "/nonexistent/trace.pcap")
        self.assertEqual(out.returncode, 1)
        self.assertIn("/nonexistent/trace.pcap", out.stderr.decode())

    def test_garbage_capture_file_exits_one_naming_the_file(self):
        with tempfile.NamedTemporaryFile(suffix=".pcap") as f:
            f.write(b"this is not a capture file\n" * 10)
            f.flush()
            out = run("-r", f.name)
        self.assertEqual(out.returncode, 1)
        self.assertIn(f.name, out.stderr.decode())

    def test_unwritable_events_path_exits_one_naming_it(self):
        if not CORPUS:
            self.skipTest("MAILTAP_ZEEK_CORPUS not set")
        out = run("-r", os.path.join(CORPUS, "traces/smtp.pcap"), "--events", "/nonexistent/e.json")
        self.assertEqual(out.returncode, 1)
        self.assertIn("/nonexistent/e.json", out.stderr.decode())


SAMPLE = os.path.join(ROOT, "samples/smtp-sessions.pcap")


def log_lines(directory):
    """{file name: its lines} for every file in `directory`."""
    out = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            out[name] = f.read().splitlines()
    return out


class LogsAndIds(unittest.TestCase):
    """A run never mixes formats or runs in one file; uids differ between runs unless seeded."""

    def test_each_replay_writes_fresh_logs_in_one_format(self):
        with tempfile.TemporaryDirectory() as d:
            for fmt in ("zeek", "zeek", "json"):
                out = run("-r", SAMPLE, "--log-dir", d, "--log-format", fmt)
                self.assertEqual(out.returncode, 0, out.stderr.decode())
                logs = log_lines(d)
                self.assertIn("smtp.log", logs)
                for name, lines in logs.items():
                    if fmt == "zeek":
                        self.assertEqual(sum(l.startswith("#separator") for l in lines), 1, name)
                        self.assertEqual(sum(l.startswith("#close") for l in lines), 1, name)
                    else:
                        self.assertTrue(all(l.startswith("{") for l in lines), (name, lines[:2]))
            self.assertEqual(len(logs["smtp.log"]), 2)  # the sample's two transactions, once

    def test_events_file_of_a_replay_is_fresh(self):
        with tempfile.TemporaryDirectory() as d:
            events = os.path.join(d, "events.json")
            for _ in range(2):
                self.assertEqual(run("-r", SAMPLE, "--events", events).returncode, 0)
            with open(events, encoding="utf-8") as f:
                self.assertEqual(len(f.read().splitlines()), 66)  # one replay's protocol events

    def uids(self, *args):
        out = run("-r", SAMPLE, "--events", "-", *args)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        return [json.loads(l)["uid"] for l in out.stdout.decode().splitlines()]

    def test_uids_differ_between_runs_unless_seeded(self):
        first, second = set(self.uids()), set(self.uids())
        self.assertEqual(len(first), 3)  # the sample's three connections
        self.assertFalse(first & second, "two replays share uids")
        self.assertEqual(self.uids("--uid-seed", "7"), self.uids("--uid-seed", "7"))
        self.assertNotEqual(self.uids("--uid-seed", "7"), self.uids("--uid-seed", "8"))
        out = run("-r", SAMPLE, "--uid-seed", "-1")
        self.assertEqual(out.returncode, 2)
        self.assertIn("--uid-seed", out.stderr.decode())

    def test_replay_without_outputs_writes_logs_into_the_current_directory(self):
        with tempfile.TemporaryDirectory() as d:
            out = subprocess.run([MAILTAPD, "-r", SAMPLE], capture_output=True, cwd=d, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr.decode())
            self.assertIn("writing the logs into the current directory", out.stderr.decode())
            self.assertEqual(len(log_lines(d)["smtp.log"]), 2)

    def test_missing_log_dir_says_what_to_do(self):
        out = run("-r", SAMPLE, "--log-dir", "/nonexistent/logs")
        self.assertEqual(out.returncode, 1)
        self.assertIn("--log-dir '/nonexistent/logs' does not exist: create it first "
                      "(mkdir -p '/nonexistent/logs')", out.stderr.decode())
        with tempfile.NamedTemporaryFile() as f:
            out = run("-r", SAMPLE, "--log-dir", f.name)
        self.assertEqual(out.returncode, 1)
        self.assertIn("is not a directory", out.stderr.decode())


class Replay(unittest.TestCase):
    def setUp(self):
        if not os.path.isdir(os.path.join(CORPUS, "traces")):
            self.skipTest(f"Zeek corpus not found at '{CORPUS}'")
        self.trace = os.path.join(CORPUS, "traces/smtp.pcap")

    def events(self, out):
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        return [json.loads(l) for l in out.stdout.decode("utf-8").splitlines()]

    def test_events_to_a_full_disk_exit_one_and_say_so_once(self):
        # /dev/full: every write fails with ENOSPC (issue 17: the bytes were counted as written
        # and the replay exited 0).
        out = run("-r", self.trace, "--events", "/dev/full")
        self.assertEqual(out.returncode, 1, out.stderr.decode())
        err = out.stderr.decode()
        self.assertEqual(err.count("cannot write to '/dev/full'"), 1, err)
        self.assertIn("No space left on device", err)

    def test_events_into_a_closed_pipe_exit_one_instead_of_dying_by_sigpipe(self):
        reader, writer = os.pipe()
        os.close(reader)
        proc = subprocess.run([MAILTAPD, "-r", self.trace, "--events", "-"], stdout=writer,
                              stderr=subprocess.PIPE, timeout=120)
        os.close(writer)
        self.assertEqual(proc.returncode, 1, proc.stderr.decode())
        self.assertEqual(proc.stderr.decode().count("cannot write to '-'"), 1, proc.stderr)
        self.assertIn("Broken pipe", proc.stderr.decode())

    def test_events_to_stdout_are_valid_json_lines_with_common_keys(self):
        events = self.events(run("-r", self.trace, "--events", "-", "--events-include", "all"))
        self.assertGreater(len(events), 500)
        for e in events:
            for key in ("ts", "event"):
                self.assertIn(key, e)
            if "uid" in e:
                for key in ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"):
                    self.assertIn(key, e)

    def test_reading_stdin_gives_the_same_events_as_the_file(self):
        with open(self.trace, "rb") as f:
            from_stdin = self.events(run("-r", "-", "--events", "-", "--uid-seed", "1",
                                         stdin=f.read()))
        self.assertEqual(from_stdin,
                         self.events(run("-r", self.trace, "--events", "-", "--uid-seed", "1")))

    def test_content_events_are_written_only_when_selected(self):
        content = {e["event"] for e in list_events() if e["kind"] == "content"}
        self.assertTrue({"smtp_data", "mime_one_header"} <= content)
        default = self.events(run("-r", self.trace, "--events", "-", "--uid-seed", "1"))
        self.assertGreater(len(default), 20)
        self.assertFalse([e for e in default if e["event"] in content])
        chosen = self.events(run("-r", self.trace, "--events", "-", "--uid-seed", "1",
                                 "--events-include", "protocol,mime_one_header"))
        kinds = {e["event"] for e in chosen}
        self.assertIn("mime_one_header", kinds)
        self.assertNotIn("smtp_data", kinds)
        self.assertEqual([e for e in chosen if e["event"] != "mime_one_header"], default)
        out = run("-r", self.trace, "--events", "-", "--events-include", "protocol,smtp_dat")
        self.assertEqual(out.returncode, 2)
        self.assertIn("--events-include: 'smtp_dat' is not an event", out.stderr.decode())

    def test_credentials_are_redacted_by_default_and_kept_with_redact_none(self):
        # smtp.pcap's session authenticates with AUTH LOGIN; Zeek shows the base64 answers.
        secret = "Z3VycGFydGFwQHBhdHJpb3RzLmlu"
        default = run("-r", self.trace, "--events", "-").stdout.decode()
        self.assertNotIn(secret, default)
        self.assertIn(secret, run("-r", self.trace, "--events", "-", "--redact", "none").stdout.decode())


def tcp_frame(src, dst, sport, dport, seq, ack, flags, payload, ip_len=None):
    """Ethernet + IPv4 + TCP, checksums zero (mailtapd never verifies them)."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags,
                      65535, 0, 0)
    total = ip_len if ip_len is not None else 40 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total & 0xFFFF, 0, 0, 64, 6, 0, bytes(src), bytes(dst))
    return b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x08\x00" + ip + tcp + payload


def write_pcap(path, frames, snaplen=262144):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1))
        for i, (frame, wire_len) in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000, i, len(frame), wire_len))
            f.write(frame)


class HostileInput(unittest.TestCase):
    """Bad input gets a counter (and where Zeek has one, an event); the process keeps going,
    its memory stays bounded and its JSON stays valid."""

    C, S = (10, 0, 0, 1), (10, 0, 0, 2)

    def session_frames(self, client_bytes, server_bytes=b"220 hi\r\n"):
        c, s = self.C, self.S
        frames = [tcp_frame(c, s, 40000, 25, 100, 0, 0x02, b""),
                  tcp_frame(s, c, 25, 40000, 900, 101, 0x12, b""),
                  tcp_frame(c, s, 40000, 25, 101, 901, 0x10, b""),
                  tcp_frame(s, c, 25, 40000, 901, 101, 0x18, server_bytes)]
        seq = 101
        for off in range(0, len(client_bytes), 65000):
            chunk = client_bytes[off:off + 65000]
            frames.append(tcp_frame(c, s, 40000, 25, seq, 901 + len(server_bytes), 0x18, chunk,
                                    ip_len=min(40 + len(chunk), 65535)))
            seq += len(chunk)
        frames.append(tcp_frame(c, s, 40000, 25, seq, 901 + len(server_bytes), 0x11, b""))
        return [(f, len(f)) for f in frames]

    def replay(self, frames, snaplen=262144):
        with tempfile.TemporaryDirectory() as d:
            pcap = os.path.join(d, "hostile.pcap")
            write_pcap(pcap, frames, snaplen)
            out = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", MAILTAPD, "-r", pcap,
                                  "--events", "-", "--events-include", "all", "--redact", "none"],
                                 capture_output=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
        rss = int(re.search(rb"maxrss_kb=(\d+)", out.stderr).group(1))
        events = [json.loads(l) for l in out.stdout.decode("utf-8").splitlines()]
        return events, rss

    def test_garbage_and_truncated_frames_are_skipped(self):
        rng = random.Random(7)
        frames = [(bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 120))), 120)
                  for _ in range(2000)]
        frames += self.session_frames(b"EHLO x\r\nQUIT\r\n")
        events, _ = self.replay(frames)
        self.assertIn(("smtp_request", "EHLO", "x"),
                      [(e["event"], e.get("command"), e.get("arg")) for e in events])

    def test_nul_and_non_utf8_bytes_stay_valid_json_and_raise_zeeks_weird(self):
        events, _ = self.replay(self.session_frames(b"EH\x00LO \xff\xfe\xc3(\r\nQUIT\r\n"))
        requests = [e for e in events if e["event"] == "smtp_request"]
        # Spec 3.4: the first NUL is dropped from the line, with weird NUL_in_line.
        self.assertEqual(requests[0]["command"], "EHLO")
        self.assertEqual(requests[0]["arg"], "\\xff\\xfe\\xc3(")
        self.assertIn("NUL_in_line", [e.get("name") for e in events if e["event"] == "weird"])

    def test_a_line_of_megabytes_keeps_memory_bounded(self):
        # 40 MiB without a line end: more than Zeek's 16 MiB line cap, which cuts it with a weird.
        events, rss = self.replay(self.session_frames(b"X" * (40 << 20) + b"\r\nQUIT\r\n"))
        weirds = [e.get("name") for e in events if e["event"] == "weird"]
        self.assertIn("contentline_size_exceeded", weirds)
        self.assertLess(rss, 200 * 1024 * MEMORY_SLACK,
                        "resident memory should stay far below the input size")

    def test_zero_length_and_snaplen_cut_segments_are_counted_as_gaps_not_lost(self):
        frames = self.session_frames(b"EHLO x\r\n" + b"A" * 3000 + b"\r\nQUIT\r\n")
        cut = [(f[:200], wire) for f, wire in frames]  # every payload cut by a 200-byte snaplen
        events, _ = self.replay(cut, snaplen=200)
        gaps = [e for e in events if e["event"] == "smtp_unexpected" and e["msg"] == "content gap"]
        self.assertTrue(gaps, "snaplen-cut payload must surface as a content gap")

    def test_truncated_capture_file_is_reported_and_what_was_read_is_analysed(self):
        with tempfile.TemporaryDirectory() as d:
            pcap = os.path.join(d, "cut.pcap")
            write_pcap(pcap, self.session_frames(b"EHLO x\r\n" + b"B" * 5000 + b"\r\n"))
            size = os.path.getsize(pcap)
            with open(pcap, "r+b") as f:
                f.truncate(size - 30)  # the last record is cut short
            out = run("-r", pcap, "--events", "-")
        self.assertEqual(out.returncode, 0)
        self.assertIn(pcap, out.stderr.decode())
        self.assertIn(b'"command":"EHLO"', out.stdout)


def mail_session(cport, mail_from, complete=True):
    """An SMTP session between 10.0.0.1:cport and 10.0.0.2:25 as (frame, wire length) pairs:
    handshake, one mail, QUIT, FIN; or, not `complete`, one that stops after RCPT, open."""
    c, s = (10, 0, 0, 1), (10, 0, 0, 2)
    script = [(True, b""), (False, b"220 mx ESMTP\r\n"), (True, b"EHLO client\r\n"),
              (False, b"250 mx\r\n"), (True, b"MAIL FROM:<%s>\r\n" % mail_from),
              (False, b"250 ok\r\n"), (True, b"RCPT TO:<rcpt@example.net>\r\n"),
              (False, b"250 ok\r\n")]
    if complete:
        script += [(True, b"DATA\r\n"), (False, b"354 go\r\n"),
              (True, b"Subject: hi\r\n\r\nbody\r\n.\r\n"), (False, b"250 queued\r\n"),
              (True, b"QUIT\r\n"), (False, b"221 bye\r\n")]
    cseq, sseq = 1000, 5000
    frames = [tcp_frame(c, s, cport, 25, cseq, 0, 0x02, b""),
              tcp_frame(s, c, 25, cport, sseq, cseq + 1, 0x12, b"")]
    cseq, sseq = cseq + 1, sseq + 1
    for from_client, data in script:
        if from_client:
            frames.append(tcp_frame(c, s, cport, 25, cseq, sseq, 0x18 if data else 0x10, data))
            cseq += len(data)
        else:
            frames.append(tcp_frame(s, c, 25, cport, sseq, cseq, 0x18, data))
            sseq += len(data)
    if complete:
        frames.append(tcp_frame(c, s, cport, 25, cseq, sseq, 0x11, b""))
        frames.append(tcp_frame(s, c, 25, cport, sseq, cseq + 1, 0x11, b""))
    return [(f, len(f)) for f in frames]


def pcap_bytes(frames, header=True):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1) if header else b""
    for i, (frame, wire_len) in enumerate(frames):
        out += struct.pack("<IIII", 1700000000, i, len(frame), wire_len) + frame
    return out


def wait_for(predicate, what, timeout=20.0):
    """Polls `predicate` until true; fails the test after `timeout` seconds (a guard, not a delay)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Signals(unittest.TestCase):
    """Daemon behaviour on a replay from a pipe, which stays open as long as the test wants."""

    def test_sighup_reopens_logs_and_sigterm_drains_and_exits_zero(self):
        with tempfile.TemporaryDirectory() as d:
            log, events = os.path.join(d, "smtp.log"), os.path.join(d, "events.json")
            agent = subprocess.Popen([MAILTAPD, "-r", "-", "--log-dir", d, "--events", events],
                                     stdin=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                agent.stdin.write(pcap_bytes(mail_session(40001, b"first@example.com")))
                agent.stdin.flush()
                # A quiet pipe still gets its outputs flushed (the record is written at the
                # reply to "."), so logrotate can move a complete file.
                wait_for(lambda: os.path.exists(log) and b"first@" in open(log, "rb").read(),
                         "the first record in smtp.log")
                os.rename(log, log + ".1")
                agent.send_signal(signal.SIGHUP)
                wait_for(lambda: os.path.exists(log), "smtp.log reopened after SIGHUP")
                # A session left open: its record exists only in memory until the agent drains.
                second = mail_session(40002, b"second@example.com", complete=False)
                agent.stdin.write(pcap_bytes(second, False))
                agent.stdin.flush()
                wait_for(lambda: b"second@" in open(events, "rb").read(), "the second MAIL event")
                agent.send_signal(signal.SIGTERM)  # stdin stays open: SIGTERM alone must end it
                self.assertEqual(agent.wait(timeout=20), 0, agent.stderr.read().decode())
            finally:
                agent.kill()
                agent.wait(timeout=20)
            rotated, current = open(log + ".1", "rb").read(), open(log, "rb").read()
        self.assertIn(b"first@example.com", rotated)
        self.assertNotIn(b"second@", rotated)
        # Drained on SIGTERM: open sessions are finished and their records written before exit.
        self.assertIn(b"second@example.com", current)

    def stop_within(self, agent, sig, bound_s):
        """Sends `sig`; the agent must exit 0 within `bound_s` seconds although its stdin is open.
        Keeps its stderr in self.stderr."""
        start = time.monotonic()
        agent.send_signal(sig)
        try:
            status = agent.wait(timeout=bound_s)
        except subprocess.TimeoutExpired:
            self.fail(f"signal {sig} did not end the replay within {bound_s} s")
        elapsed = time.monotonic() - start
        self.stderr = agent.stderr.read()
        self.assertEqual(status, 0, self.stderr.decode())
        return elapsed

    def replay_from_open_pipe(self, d, first_bytes):
        agent = subprocess.Popen([MAILTAPD, "-r", "-", "--log-dir", d], stdin=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        self.addCleanup(agent.wait, 20)
        self.addCleanup(agent.kill)
        agent.stdin.write(first_bytes)
        agent.stdin.flush()
        time.sleep(0.5)  # the agent is now blocked on the pipe
        return agent

    def test_sigterm_ends_a_replay_waiting_for_the_capture_header(self):
        # `cat | mailtapd -r -` with nothing typed yet: not even the file header has arrived.
        with tempfile.TemporaryDirectory() as d:
            agent = self.replay_from_open_pipe(d, b"")
            self.stop_within(agent, signal.SIGTERM, 3)
            self.assertIn(b"stopped before the capture started", self.stderr)

    def test_sigint_ends_a_replay_waiting_for_the_rest_of_a_packet(self):
        with tempfile.TemporaryDirectory() as d:
            whole = pcap_bytes(mail_session(40003, b"cut@example.com", complete=False))
            agent = self.replay_from_open_pipe(d, whole + whole[24:40])  # a record cut short
            self.stop_within(agent, signal.SIGINT, 3)
            # What arrived whole was analysed and logged when the open session was finished.
            with open(os.path.join(d, "smtp.log"), "rb") as f:
                self.assertIn(b"cut@example.com", f.read())

    def test_sighup_after_a_replay_with_keep_serving_reopens_and_says_so(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "smtp.log")
            agent = subprocess.Popen([MAILTAPD, "-r", SAMPLE, "--keep-serving", "--log-dir", d,
                                      "--socket", os.path.join(d, "s.sock")],
                                     stderr=subprocess.PIPE)
            self.addCleanup(agent.wait, 20)
            self.addCleanup(agent.kill)
            lines = []
            wait_for(lambda: lines.append(agent.stderr.readline()) or b"serving queries" in lines[-1],
                     "the replay's end")
            os.rename(log, log + ".1")
            agent.send_signal(signal.SIGHUP)
            wait_for(lambda: b"SIGHUP: reopening" in agent.stderr.readline(), "SIGHUP logged")
            wait_for(lambda: os.path.exists(log), "smtp.log reopened after SIGHUP")
            self.stop_within(agent, signal.SIGTERM, 10)
            # Neither the socket nor its lock file outlives the agent.
            self.assertEqual(sorted(n for n in os.listdir(d) if n.startswith("s.sock")), [])

    def test_connections_and_status_during_a_replay_from_a_pipe(self):
        client = os.path.join(os.path.dirname(MAILTAPD), "mailtap")
        with tempfile.TemporaryDirectory() as d:
            sock = os.path.join(d, "s.sock")
            agent = subprocess.Popen([MAILTAPD, "-r", "-", "--keep-serving", "--socket", sock,
                                      "--log-dir", d], stdin=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
            self.addCleanup(agent.wait, 20)
            self.addCleanup(agent.kill)
            agent.stdin.write(pcap_bytes(mail_session(40009, b"open@example.com",
                                                      complete=False)))
            agent.stdin.flush()

            def query(verb):
                out = subprocess.run([client, "--socket", sock, verb, "-o", "json"],
                                     capture_output=True, text=True, timeout=30)
                return out.stdout if out.returncode == 0 else ""
            wait_for(lambda: query("connections"), "the open session in `connections`")
            [conn] = [json.loads(line) for line in query("connections").splitlines()]
            self.assertEqual((conn["id.orig_p"], conn["smtp_state"]), (40009, "RCPT_OK"))
            # Packet time: the session's packets span microseconds (wall clock: years).
            self.assertLess(conn["age_seconds"], 1)
            status = json.loads(query("status"))
            self.assertEqual(status["capture_state"], "running")
            self.assertEqual(status["counters"]["smtp"]["sessions_active"], 1)
            self.stop_within(agent, signal.SIGTERM, 5)


class Compressed(unittest.TestCase):
    """gzip-compressed captures are read as tshark reads them: by content, file or pipe."""

    def events(self, *args, stdin=None):
        out = run("-r", *args, "--events", "-", "--events-include", "all", "--uid-seed", "3",
                  stdin=stdin)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        return out.stdout

    def test_gzip_file_and_pipe_give_the_events_of_the_plain_capture(self):
        with open(SAMPLE, "rb") as f:
            plain = f.read()
        expected = self.events(SAMPLE)
        self.assertEqual(len(expected.splitlines()), 95)
        with tempfile.TemporaryDirectory() as d:
            packed = os.path.join(d, "sample.pcap.gz")
            with gzip.open(packed, "wb") as f:
                f.write(plain)
            self.assertEqual(self.events(packed), expected)
            with open(packed, "rb") as f:
                self.assertEqual(self.events("-", stdin=f.read()), expected)
            # Two gzip members, as `cat a.gz b.gz` makes: one stream of bytes.
            half = len(plain) // 2
            with open(packed, "wb") as f:
                f.write(gzip.compress(plain[:half]) + gzip.compress(plain[half:]))
            self.assertEqual(self.events(packed), expected)

    def test_zeeks_compressed_trace_is_replayed(self):
        trace = os.path.join(CORPUS, "traces/smtp/mime-header-size-limit.pcap.gz")
        if not os.path.exists(trace):
            self.skipTest(f"Zeek corpus not found at '{CORPUS}'")
        with gzip.open(trace, "rb") as f:
            plain = f.read()
        self.assertEqual(self.events(trace), self.events("-", stdin=plain))
        self.assertIn(b'"event":"smtp_request"', self.events(trace))

    def test_corrupt_gzip_ends_with_a_read_error_naming_the_file(self):
        with open(SAMPLE, "rb") as f:
            packed = bytearray(gzip.compress(f.read()))
        packed[len(packed) // 2:] = b"\xff" * (len(packed) - len(packed) // 2)
        with tempfile.NamedTemporaryFile(suffix=".pcap.gz") as f:
            f.write(packed)
            f.flush()
            out = run("-r", f.name, "--events", "-")
        self.assertIn(f.name, out.stderr.decode())


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed - len(result.skipped)} passed, {failed} failed, "
          f"{len(result.skipped)} skipped")
    sys.exit(1 if failed else 0)
