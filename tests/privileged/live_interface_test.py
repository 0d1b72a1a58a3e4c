#!/usr/bin/env python3
"""`-i IFACE` on an interface that is deleted and created again under the same name, as a
container's veth is when the container restarts: the agent must say the interface is gone
(warning, `interfaces_missing` gauge), capture on the new one once it exists (`interface_rebinds`),
and see the mail sent over it — not keep a socket bound to the deleted device and capture nothing.

Topology: a network namespace with smtp-sink on 10.231.0.2:2600, reached from the host over the
veth pair mt-veth-h (host, 10.231.0.1) / mt-veth-n (namespace); smtp-source sends from the host.
Usage: live_interface_test.py [--mailtapd PATH] [--mailtap PATH] [--keep]
Needs root and `ip` (network namespaces, veth); skips loudly otherwise (exit 77), and fails
instead under CI=true.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livelib  # noqa: E402
from livelib import Results, wait_for  # noqa: E402

NETNS = "mailtap-test"
HOST_IF, NS_IF = "mt-veth-h", "mt-veth-n"
HOST_ADDR, NS_ADDR = "10.231.0.1", "10.231.0.2"
PORT = 2600


def ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def veth_up():
    ip("link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF)
    ip("link", "set", NS_IF, "netns", NETNS)
    ip("addr", "add", f"{HOST_ADDR}/24", "dev", HOST_IF)
    ip("-n", NETNS, "addr", "add", f"{NS_ADDR}/24", "dev", NS_IF)
    ip("link", "set", HOST_IF, "up")
    ip("-n", NETNS, "link", "set", NS_IF, "up")


def veth_down():
    ip("link", "del", HOST_IF, check=False)  # takes its peer with it


class NamespacedSink:
    """smtp-sink inside the namespace, listening on NS_ADDR:PORT."""

    def __init__(self):
        self.proc = subprocess.Popen(["ip", "netns", "exec", NETNS, livelib.tool("smtp-sink"),
                                      "-u", "nobody", f"{NS_ADDR}:{PORT}", "100"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.listening, "smtp-sink listening in the namespace", 10)

    def listening(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"smtp-sink exited with {self.proc.returncode} in the namespace")
        ss = subprocess.run(["ip", "netns", "exec", NETNS, "ss", "-ltn", f"sport = :{PORT}"],
                            capture_output=True, text=True)
        return "LISTEN" in ss.stdout

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def send_one_message():
    livelib.smtp_source(PORT, sessions=1, messages=1, length=300, timeout=60, host=NS_ADDR)


def capture_counters(agent):
    c = agent.status()["counters"]["capture"]
    return c["interfaces_missing"], c["interface_rebinds"]


def run(res, opts, workdir):
    agent = livelib.Mailtapd(opts.mailtapd, opts.mailtap, workdir, str(PORT))
    agent.args[agent.args.index("lo")] = HOST_IF  # -i mt-veth-h instead of -i lo
    sink = NamespacedSink()
    try:
        agent.start()
        send_one_message()
        wait_for(lambda: len(agent.smtp_log()) == 1, "the first record")
        sink.stop()
        veth_down()
        wait_for(lambda: f"interface {HOST_IF} is gone" in agent.stderr_text(),
                 "the warning that the interface is gone")
        # Statistics are published a few times a second: wait for the snapshot, bounded.
        wait_for(lambda: capture_counters(agent)[0] == 1, "interfaces_missing 1 in status", 5)
        res.equal("while deleted: interfaces_missing 1, no rebind yet", capture_counters(agent),
                  (1, 0))
        veth_up()
        sink = NamespacedSink()
        wait_for(lambda: f"interface {HOST_IF} is back" in agent.stderr_text(),
                 "the notice that the interface is back")
        send_one_message()
        wait_for(lambda: len(agent.smtp_log()) == 2, "the record of the mail after re-creation")
        status = agent.wait_quiet()
        res.equal("after re-creation: interfaces_missing 0, one rebind",
                  capture_counters(agent), (0, 1))
        res.equal("lost_total is 0", status["lost_total"], 0)
        records = agent.smtp_log()
        res.equal("both records are client -> namespace",
                  [(r["id.orig_h"], r["id.resp_h"], r["id.resp_p"]) for r in records],
                  [(HOST_ADDR, NS_ADDR, PORT)] * 2)
        res.equal("mailtapd exits 0", agent.stop(), 0)
    finally:
        agent.stop()
        sink.stop()


def main():
    opts = livelib.parse_common_args(sys.argv[1:])
    livelib.require_root_and_tools(["smtp-source", "smtp-sink", "ip", "ss"])
    res = Results()
    workdir = livelib.make_workdir("mailtap-live-iface-")
    try:
        veth_down()
        ip("netns", "del", NETNS, check=False)
        ip("netns", "add", NETNS)
        ip("-n", NETNS, "link", "set", "lo", "up")
        veth_up()
        run(res, opts, workdir)
    except Exception as e:  # a broken fixture or a timeout: a failure, not a traceback
        res.check("test ran to completion", False, f"{type(e).__name__}: {e}")
    finally:
        veth_down()
        ip("netns", "del", NETNS, check=False)
        livelib.remove_workdir(workdir, keep=opts.keep or res.failed)
    res.finish()


if __name__ == "__main__":
    main()
