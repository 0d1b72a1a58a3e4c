#!/usr/bin/env python3
"""scripts/check-deps.py against small manifests: it must pass a tool whose package a fresh
machine would get, and fail, naming the tool and the package, one it would not.

The tools used here are ones scripts/deps.txt itself requires (so scripts/bootstrap.sh has
installed them): GNU time, util-linux's setpriv, Debian's python3 with prometheus_client, swaks and
Net::SSLeay. Without them the test skips loudly (exit 77), and fails under CI=true.
Usage: check_deps_test.py SOURCE_DIR
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE_DIR = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else \
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHECKER = os.path.join(SOURCE_DIR, "scripts", "check-deps.py")
NEEDED = ["/usr/bin/time", "/usr/bin/setpriv", "/usr/bin/python3", "/usr/bin/perl",
          "/usr/bin/swaks"]


def require_tools():
    missing = [t for t in NEEDED if not os.access(t, os.X_OK)] + \
        ([] if shutil.which("dpkg-query") else ["dpkg-query"])
    if not missing:
        return
    message = f"not installed: {', '.join(missing)} (scripts/bootstrap.sh deps installs them)"
    if os.environ.get("CI") == "true":
        print(f"FAIL: {message} (CI=true: failing instead of skipping)")
        sys.exit(1)
    print(f"\n*** SKIPPED: {message} ***")
    sys.exit(77)


class CheckDeps(unittest.TestCase):
    def check(self, *lines):
        """Runs the checker on a manifest of `lines`; returns (exit status, output)."""
        with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="deps-") as manifest:
            manifest.write("# a test manifest\n" + "\n".join(lines) + "\n")
            manifest.flush()
            r = subprocess.run([CHECKER, "--manifest", manifest.name], capture_output=True,
                               text=True, timeout=120)
        return r.returncode, r.stdout + r.stderr

    def assertFailsNaming(self, result, *names):
        rc, out = result
        self.assertEqual(rc, 1, out)
        failures = [line for line in out.splitlines() if line.startswith("FAIL ")]
        self.assertEqual(len(failures), 1, out)
        for name in names:
            self.assertIn(name, failures[0])

    def test_a_tool_from_a_listed_package_passes(self):
        rc, out = self.check("package time  why", "cmd:/usr/bin/time  time  why")
        self.assertEqual(rc, 0, out)
        self.assertIn("ok   cmd:/usr/bin/time", out)

    def test_a_tool_whose_package_is_not_listed_fails_naming_both(self):
        self.assertFailsNaming(self.check("package python3  why", "cmd:/usr/bin/time  time  why",
                                          "cmd:/usr/bin/python3  python3  why"),
                               "cmd:/usr/bin/time", "'time'", "add 'package time")

    def test_a_module_that_is_only_recommended_is_not_brought_by_its_user(self):
        # swaks Recommends libnet-ssleay-perl; bootstrap.sh installs without recommends.
        self.assertFailsNaming(self.check("package swaks  why", "cmd:swaks  swaks  why",
                                          "perl:Net::SSLeay  libnet-ssleay-perl  why"),
                               "perl:Net::SSLeay", "'libnet-ssleay-perl'")

    def test_a_dependency_of_a_listed_package_is_brought_by_it(self):
        rc, out = self.check("package python3-prometheus-client  why",
                             "py:prometheus_client  python3-prometheus-client  why",
                             "cmd:/usr/bin/python3  python3  why")
        self.assertEqual(rc, 0, out)
        self.assertIn("dependency of the list", out)

    def test_an_essential_package_needs_no_listing(self):
        rc, out = self.check("cmd:setpriv  util-linux  why")
        self.assertEqual(rc, 0, out)
        self.assertIn("Essential", out)

    def test_a_tool_attributed_to_the_wrong_package_fails(self):
        self.assertFailsNaming(self.check("package coreutils  why",
                                          "cmd:/usr/bin/time  coreutils  why"),
                               "cmd:/usr/bin/time", "comes from package time", "'coreutils'")

    def test_a_missing_tool_fails(self):
        self.assertFailsNaming(self.check("package time  why",
                                          "cmd:/usr/bin/time  time  why",
                                          "cmd:mailtap-no-such-tool  time  why"),
                               "cmd:mailtap-no-such-tool", "not found")

    def test_a_listed_package_nothing_needs_fails(self):
        self.assertFailsNaming(self.check("package time  why", "package swaks  why",
                                          "cmd:/usr/bin/time  time  why"),
                               "package swaks", "no tool line")

    def test_a_version_below_the_minimum_fails(self):
        rc, out = self.check("package python3  why", "cmd:/usr/bin/python3>=3  python3  why")
        self.assertEqual(rc, 0, out)
        self.assertFailsNaming(self.check("package python3  why",
                                          "cmd:/usr/bin/python3>=99  python3  why"),
                               "cmd:/usr/bin/python3", "need 99 or later")

    def test_a_malformed_line_is_a_usage_error_naming_it(self):
        rc, out = self.check("package time  why", "cmd:/usr/bin/time  GNU time")
        self.assertEqual(rc, 2, out)
        self.assertIn(":3: 'GNU' is not a Debian package name", out)


if __name__ == "__main__":
    require_tools()
    unittest.main(verbosity=2)
