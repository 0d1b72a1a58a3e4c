#!/usr/bin/env python3
"""End to end: who may query the real `mailtapd`. The real `mailtap` client runs as `nobody`
(setpriv) against an agent run by root: refused by file permissions, or, with the file opened up,
by the agent's own SO_PEERCRED check; --socket-group members are let in, also through a
supplementary group (SO_PEERGROUPS). Needs root: skips loudly otherwise (fails when CI=true).

Usage: e2e_access_test.py MAILTAPD MAILTAP SOURCE_DIR
"""
import grp
import json
import os
import pwd
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as lib  # noqa: E402
from e2e_lib import mailtap  # noqa: E402

NOBODY = pwd.getpwnam("nobody").pw_uid
NOGROUP = grp.getgrnam("nogroup").gr_gid if "nogroup" in {g.gr_name for g in grp.getgrall()} \
    else pwd.getpwnam("nobody").pw_gid
OTHER_GID = 1  # daemon: neither the socket group nor nobody's


def as_user(uid, gid, groups=()):
    """A setpriv prefix that runs a command with exactly these credentials."""
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}"]
    cmd += [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
    return cmd


def python_for_others():
    """An interpreter `nobody` can run: this one unless it lives where others cannot reach (a
    pyenv under /root), then Debian's."""
    return sys.executable if lib.others_can_traverse(os.path.dirname(sys.executable)) \
        else "/usr/bin/python3"


class AccessFixture(unittest.TestCase):
    """One agent replaying a small capture (--keep-serving) as root. Everything `nobody` must
    reach lives in a 0755 directory under /tmp that the fixture makes: a copy of the client, and
    the agent's own directory; the build tree may be unreachable for `nobody`."""
    agent_args = []

    @classmethod
    def setUpClass(cls):
        lib.need_root("running the client as another user")
        # Class cleanups run even when setUpClass fails half-way: nothing it started outlives it.
        cls.work = tempfile.TemporaryDirectory(prefix="mailtap-e2e-access-", dir="/tmp")
        cls.addClassCleanup(cls.work.cleanup)
        os.chmod(cls.work.name, 0o755)
        cls.client = lib.copy_for_other_users(lib.MAILTAP, cls.work.name)
        cls.pcap = os.path.join(cls.work.name, "small.pcap")
        subprocess.run([sys.executable, os.path.join(lib.SOURCE_DIR, "bench", "gen_smtp_pcap.py"),
                        cls.pcap, "--sessions", "3", "--mails-per-session", "1"], check=True,
                       timeout=60)
        cls.agent = lib.Agent(["-r", cls.pcap, "--keep-serving", *cls.agent_args], log_dir=False,
                              parent=cls.work.name)
        cls.addClassCleanup(cls.stop_agent)
        cls.agent.wait_finished()
        # The agent's temporary directory (mkdtemp: 0700) may be traversed; the socket's own
        # directory inside it is the agent's business.
        os.chmod(cls.agent.dir, 0o755)
        assert lib.others_can_traverse(cls.agent.dir), "nobody cannot reach the agent's directory"

    @classmethod
    def stop_agent(cls):
        rc = cls.agent.cleanup()
        assert rc == 0, f"mailtapd exited with {rc}"

    def as_nobody(self, *args, gid=NOGROUP, groups=()):
        """The client (its copy) run as nobody with group `gid` (and supplementary `groups`)."""
        return mailtap(self.agent.socket, *args, run_as=as_user(NOBODY, gid, groups),
                       program=self.client)

    def open_up_socket(self):
        """Opens the socket file to everyone, so that only the agent's own check stands."""
        os.chmod(os.path.dirname(self.agent.socket), 0o755)
        os.chmod(self.agent.socket, 0o666)

    def assertRefusedByAgent(self, proc, uid):
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertEqual(proc.stdout, "")
        self.assertIn("access denied by the agent", proc.stderr)
        self.assertIn(f"uid {uid}", proc.stderr)


class DefaultAccess(AccessFixture):
    """No --socket-group: root and the agent's own user only."""

    def test_1_socket_file_permissions_keep_others_out_with_a_clear_message(self):
        out = self.as_nobody("status")
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("permission denied", out.stderr)
        self.assertIn(self.agent.socket, out.stderr)
        st = os.stat(self.agent.socket)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(self.agent.socket)).st_mode), 0o700)

    def test_2_agent_refuses_a_uid_that_is_not_allowed(self):
        self.open_up_socket()
        before = self.agent.counter("query", "peers_refused")
        for verb in (["status"], ["metrics"], ["observe", "--last", "5"],
                     ["observe", "--follow"], ["transactions", "--follow"]):
            with self.subTest(verb=verb):
                out = self.as_nobody(*verb)
                self.assertRefusedByAgent(out, NOBODY)
        status = self.agent.status()
        self.assertEqual(status["counters"]["query"]["peers_refused"], before + 5)
        self.assertEqual(status["counters"]["query"]["subscribers"], 0)
        log = self.agent.stderr_text()
        self.assertIn("refused peer pid", log)
        self.assertIn(f"uid {NOBODY} gid {NOGROUP}", log)

    def test_3_the_refusal_is_a_protocol_error_message(self):
        self.open_up_socket()
        # The agent answers a refused peer at once and closes without reading: sending the
        # request may fail (EPIPE) and the end may be a reset rather than EOF (AF_UNIX); the
        # answer is there to read either way, up to its newline.
        script = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
                  "try: s.sendall(b'{\"verb\":\"status\"}\\n')\n"
                  "except OSError: pass\n"
                  "b=b''\n"
                  "while not b.endswith(b'\\n'):\n"
                  "  c=s.recv(4096)\n"
                  "  if not c: break\n"
                  "  b+=c\n"
                  "sys.stdout.write(b.decode())")
        out = subprocess.run(as_user(NOBODY, NOGROUP) + [python_for_others(), "-c", script,
                                                          self.agent.socket],
                             capture_output=True, text=True, timeout=30)
        lines = out.stdout.splitlines()
        self.assertEqual(len(lines), 1, out)
        reply = json.loads(lines[0])
        self.assertEqual((reply["mailtap"], reply["code"]), ("error", "access_denied"))

    def test_4_root_is_always_allowed(self):
        self.assertEqual(mailtap(self.agent.socket, "status").returncode, 0)


class GroupAccess(AccessFixture):
    """--socket-group nogroup: its members may query, through their primary or a supplementary
    group; everyone else is kept out."""
    agent_args = ["--socket-group", str(NOGROUP)]

    def test_1_socket_and_directory_belong_to_the_group(self):
        st = os.stat(self.agent.socket)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_gid), (0o660, NOGROUP))
        st = os.stat(os.path.dirname(self.agent.socket))
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_gid), (0o750, NOGROUP))

    def test_2_a_member_by_primary_group_may_query(self):
        out = self.as_nobody("observe", "--last", "3", "-o", "json")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines(), lib.read_lines(self.agent.events)[-3:])

    def test_3_a_non_member_is_kept_out_by_file_permissions(self):
        out = self.as_nobody("status", gid=OTHER_GID)
        self.assertEqual(out.returncode, 1)
        self.assertIn("permission denied", out.stderr)

    def test_4_with_the_file_opened_the_agent_still_checks_groups(self):
        self.open_up_socket()
        out = self.as_nobody("status", gid=OTHER_GID)
        self.assertRefusedByAgent(out, NOBODY)
        out = self.as_nobody("status", "-o", "json", gid=OTHER_GID, groups=[OTHER_GID, NOGROUP])
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["capture_state"], "finished")


if __name__ == "__main__":
    lib.run_tests()
