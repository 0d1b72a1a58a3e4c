#!/usr/bin/env python3
"""A mail server started after the agent, with a TLS library file the agent has never seen, is
seen inside TLS (issue 15, item 2): mailtapd starts first (dropping to nobody); then Exim starts
(scripts/exim-fixture.sh start --own-gnutls: a fresh private copy of libgnutls.so.30, a new
inode, first on its library path, as a container's own copy would be). The library watcher must
find that file and probe it; a swaks STARTTLS session to Exim must then give smtp.log the
client's sender, recipient and subject, and events from inside TLS.

Also checked: `mailtap status` lists the libraries probed at start-up and, once probed, the one
first used later; the watcher keeps exactly the capabilities docs/deployment.md lists (CAP_BPF,
CAP_PERFMON, CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH; read from /proc/PID/status) while
the agent keeps none; after SIGTERM neither process remains and nothing of either stays attached
(bpftool).

Usage: live_tls_later_test.py [--mailtapd PATH] [--mailtap PATH] [--keep]
Needs root; skips loudly otherwise (exit 77), and fails instead under CI=true.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livelib  # noqa: E402
from livelib import Results  # noqa: E402

EXIM_PORT = 2525
FIXTURE = os.path.join(livelib.SOURCE_DIR, "scripts/exim-fixture.sh")
OWN_GNUTLS = "/var/tmp/mailtap-exim/own-gnutls/libgnutls.so.30"
# linux/capability.h
CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 2, 19, 21, 38, 39
WATCHER_CAPS = sum(1 << c for c in (CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, CAP_SYS_ADMIN,
                                    CAP_PERFMON, CAP_BPF))


def cap_eff(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return None


def watcher_pids(agent_pid):
    """Children of the agent named mailtapd-tlswatch (comm is cut at 15 characters)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == agent_pid and comm.startswith("mailtapd-tlswat"):
            out.append(int(name))
    return out


def probed_later(agent):
    return agent.status()["counters"].get("tls", {}).get("libraries_probed_after_start", 0)


def exim_session():
    args = ["--server", "127.0.0.1", "--port", str(EXIM_PORT), "--ehlo", "later.example",
            "--from", "later@example.org", "--to", "test@localhost",
            "--header", "Subject: started after the agent", "--body", "inside TLS\n", "--tls"]
    rc, _, text = livelib.swaks(args)
    return rc, text


def check_session(res, agent):
    rc, text = exim_session()
    res.equal("swaks STARTTLS to Exim exits 0", rc, 0)
    agent.wait_quiet()
    # The session's records: the one closed by the second EHLO inside TLS (no transaction), then
    # the transaction's.
    records = [r for r in agent.smtp_log()
               if r.get("helo") == "later.example" and r.get("mailfrom") is not None]
    res.equal("one smtp.log record with a transaction", len(records), 1)
    if records:
        r = records[0]
        res.equal("smtp.log tls", r.get("tls"), True)
        res.equal("smtp.log mailfrom (from inside TLS)", r.get("mailfrom"), "later@example.org")
        res.equal("smtp.log rcptto", r.get("rcptto"), ["test@localhost"])
        res.equal("smtp.log subject", r.get("subject"), "started after the agent")
    inside = [e for e in agent.events() if e.get("inside_tls")]
    res.check("events from inside TLS, named after exim4",
              inside and all(e.get("proc.name") == "exim4" for e in inside),
              f"{len(inside)} events")
    if rc != 0:
        print(text[-3000:], flush=True)


def check_stopped(res, agent, pids):
    rc = agent.stop()
    res.equal("mailtapd exits 0 after SIGTERM", rc, 0)
    res.equal("no watcher process left", [p for p in pids if os.path.exists(f"/proc/{p}")], [])
    perf, _ = livelib.bpf_attachments()
    res.equal("after SIGTERM: no perf event of the agent or its watcher",
              [p for p in perf if p.get("pid") in pids], [])


def main():
    opts = livelib.parse_common_args(sys.argv[1:])
    livelib.require_root_and_tools(["swaks", "openssl", "bpftool", "apt-get", "dpkg-deb"])
    res = Results()
    workdir = livelib.make_workdir("mailtap-live-tls-later-")
    agent = livelib.Mailtapd(opts.mailtapd, opts.mailtap, workdir, str(EXIM_PORT),
                             extra_args=["--user", "nobody"])
    try:
        subprocess.run([FIXTURE, "stop"], capture_output=True, timeout=60)
        agent.start()
        pids = [agent.proc.pid, *watcher_pids(agent.proc.pid)]
        res.equal("one library watcher, a child of the agent", len(pids), 2)
        res.equal("the agent keeps no capability", cap_eff(agent.proc.pid), 0)
        if len(pids) == 2:
            res.equal("the watcher keeps only what attaching needs", hex(cap_eff(pids[1])),
                      hex(WATCHER_CAPS))
        res.equal("nothing probed after start yet", probed_later(agent), 0)
        source = agent.status()["capture_source"]
        res.check("`mailtap status` names the library probed at start-up and where the probes sit",
                  "libssl.so.3 (OpenSSL 3, inode " in source and " probes: " in source, source)
        started = subprocess.run([FIXTURE, "start", "--own-gnutls"], capture_output=True,
                                 timeout=300)
        if started.returncode != 0:
            livelib.skip_or_fail("Exim fixture unavailable: "
                                 + (started.stdout + started.stderr).decode(errors="replace"))
        t0 = time.monotonic()
        livelib.wait_for(lambda: probed_later(agent) >= 1, "the watcher to probe Exim's GnuTLS")
        print(f"Exim's own GnuTLS probed {time.monotonic() - t0:.1f} s after Exim started",
              flush=True)
        res.check("the start-up log names the private copy", OWN_GNUTLS in agent.stderr_text())
        source = agent.status()["capture_source"]
        res.check("`mailtap status` names the copy probed after start-up", OWN_GNUTLS in source,
                  source)
        check_session(res, agent)
        check_stopped(res, agent, pids)
    except Exception as e:  # a broken fixture or client: a failure, not a traceback
        res.check("test ran to completion", False, f"{type(e).__name__}: {e}")
        print(agent.stderr_text()[-5000:], flush=True)
    finally:
        agent.stop()
        subprocess.run([FIXTURE, "stop"], capture_output=True, timeout=60)
        livelib.remove_workdir(workdir, keep=opts.keep or res.failed)
    res.finish()


if __name__ == "__main__":
    main()
