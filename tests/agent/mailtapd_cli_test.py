#!/usr/bin/env python3
"""End-to-end checks of mailtapd's command line: exit statuses and messages as pinned in
docs/interface.md (0 success, 2 bad usage naming the option, 1 runtime failure naming the cause)."""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

MAILTAPD = sys.argv.pop(1) if len(sys.argv) > 1 else "build/bin/mailtapd"
CORPUS = os.environ.get("MAILTAP_ZEEK_CORPUS", "")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args, stdin=None):
    return subprocess.run([MAILTAPD, *args], capture_output=True, timeout=120, input=stdin)


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


class Replay(unittest.TestCase):
    def setUp(self):
        if not os.path.isdir(os.path.join(CORPUS, "traces")):
            self.skipTest(f"Zeek corpus not found at '{CORPUS}'")
        self.trace = os.path.join(CORPUS, "traces/smtp.pcap")

    def events(self, out):
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        return [json.loads(l) for l in out.stdout.decode("utf-8").splitlines()]

    def test_events_to_stdout_are_valid_json_lines_with_common_keys(self):
        events = self.events(run("-r", self.trace, "--events", "-"))
        self.assertGreater(len(events), 500)
        for e in events:
            for key in ("ts", "event"):
                self.assertIn(key, e)
            if "uid" in e:
                for key in ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"):
                    self.assertIn(key, e)

    def test_reading_stdin_gives_the_same_events_as_the_file(self):
        with open(self.trace, "rb") as f:
            from_stdin = self.events(run("-r", "-", "--events", "-", stdin=f.read()))
        self.assertEqual(from_stdin, self.events(run("-r", self.trace, "--events", "-")))

    def test_credentials_are_redacted_by_default_and_kept_with_redact_none(self):
        # smtp.pcap's session authenticates with AUTH LOGIN; Zeek shows the base64 answers.
        secret = "Z3VycGFydGFwQHBhdHJpb3RzLmlu"
        default = run("-r", self.trace, "--events", "-").stdout.decode()
        self.assertNotIn(secret, default)
        self.assertIn(secret, run("-r", self.trace, "--events", "-", "--redact", "none").stdout.decode())


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed - len(result.skipped)} passed, {failed} failed, "
          f"{len(result.skipped)} skipped")
    sys.exit(1 if failed else 0)
