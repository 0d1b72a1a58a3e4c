#!/usr/bin/env python3
"""systemd readiness (Type=notify): mailtapd sends READY=1 on $NOTIFY_SOCKET once its capture is
open and its query socket bound, and STOPPING=1 when SIGTERM starts the shutdown; with no
$NOTIFY_SOCKET it sends nothing and runs as before.

The test plays the service manager itself: it binds the datagram socket systemd would, so no
systemd is needed. Run through ctest (MAILTAP_BINARY_DIR set)."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

# pcap global header only (little-endian, Ethernet): a capture with no packets.
EMPTY_PCAP = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")
TIMEOUT_S = 20


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def receive(sock, deadline):
    """The next notification as a dict of its KEY=VALUE lines, or None at the deadline."""
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        data = sock.recv(4096)
    except socket.timeout:
        return None
    return dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)


def wait_for(sock, key, deadline):
    """Notifications up to and including the first with KEY=1; None if it never came."""
    seen = []
    while time.monotonic() < deadline:
        message = receive(sock, deadline)
        if message is None:
            break
        seen.append(message)
        if message.get(key) == "1":
            return seen
    print(f"notifications before the deadline: {seen}", file=sys.stderr)
    return None


def main():
    agent = os.path.join(os.environ["MAILTAP_BINARY_DIR"], "bin", "mailtapd")
    with tempfile.TemporaryDirectory(prefix="mailtap-notify.") as scratch:
        pcap = os.path.join(scratch, "empty.pcap")
        with open(pcap, "wb") as f:
            f.write(EMPTY_PCAP)
        notify_path = os.path.join(scratch, "notify")
        query_path = os.path.join(scratch, "query.sock")
        manager = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        manager.bind(notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        # --keep-serving keeps the agent up after the (empty) replay until SIGTERM.
        proc = subprocess.Popen([agent, "-r", pcap, "--keep-serving", "--socket", query_path],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            ready = wait_for(manager, "READY", time.monotonic() + TIMEOUT_S)
            if ready is None:
                fail("no READY=1 from mailtapd")
            if not os.path.exists(query_path):
                fail("READY=1 arrived before the query socket was bound")
            status = ready[-1].get("STATUS", "")
            if "capturing from" not in status:
                fail(f"READY=1 came with STATUS='{status}', want 'capturing from ...'")
            print(f"ok: READY=1 with the query socket bound; STATUS={status}")
            proc.send_signal(signal.SIGTERM)
            if wait_for(manager, "STOPPING", time.monotonic() + TIMEOUT_S) is None:
                fail("no STOPPING=1 after SIGTERM")
            code = proc.wait(timeout=TIMEOUT_S)
            if code != 0:
                fail(f"mailtapd exited {code} after SIGTERM: {proc.stderr.read().decode()}")
            print("ok: STOPPING=1 after SIGTERM, exit 0")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()
            manager.close()

        # Without $NOTIFY_SOCKET: nothing is sent, no warning, the replay ends as usual.
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        run = subprocess.run([agent, "-r", pcap], env=env, capture_output=True, text=True,
                             cwd=scratch, timeout=TIMEOUT_S)
        if run.returncode != 0 or "service manager" in run.stderr or "NOTIFY" in run.stderr:
            fail(f"without NOTIFY_SOCKET: exit {run.returncode}, stderr {run.stderr!r}")
        print("ok: without NOTIFY_SOCKET the agent runs and says nothing about it")


if __name__ == "__main__":
    main()
