#!/usr/bin/env python3
"""What seeing inside TLS costs the mail server: Postfix's STARTTLS throughput (messages/s) on
loopback without an observer and with mailtapd attached -- the socket filter on lo and the TLS
uprobes on the libssl.so.3 Postfix's smtpd uses, events and smtp.log written to files.

Workload per run: --clients client processes (not threads: no GIL between them), each running
--sessions sessions one after another against Postfix on 127.0.0.1:25 (scripts/postfix-fixture.sh):
EHLO, STARTTLS, a full TLS handshake, EHLO, then --messages messages of --size bytes (MAIL,
RCPT, DATA), QUIT. Throughput = messages / wall time of the run.

Runs are PAIRED, as in bench/live_cost.py: each run with the agent sits next to one without, the
order within a pair alternating, and the median of the per-pair ratios (with / without) is
reported, with each pair's ratio. The agent is started before its run (attach time excluded) and
stopped after it; its loss counters are reported (`mailtap status`, lost_total and the TLS
plaintext counters) with its CPU per message. The agent runs in the deployed configuration
(deploy/mailtapd.conf: smtp.log and the query socket; --events adds the events file). Target:
ratio >= 0.90.

Usage (as root, under flock /tmp/mailtap-privileged.lock): bench/live_tls_cost.py [--pairs 5]
[--clients 8] [--sessions 25] [--messages 5] [--size 4096] [--events] [--json FILE]
"""
import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "privileged"))
import livelib  # noqa: E402
from livelib import TlsRawClient  # noqa: E402


def client(args):
    """One client process: its sessions one after another; returns the messages accepted."""
    index, sessions, messages, size = args
    body = b"".join(b"tls cost line %06d ......................................\r\n" % i
                    for i in range(max(1, size // 64)))
    accepted = 0
    for s in range(sessions):
        c = TlsRawClient("127.0.0.1", 25, timeout=60)
        c.reply()
        c.command("EHLO cost.example")
        if not c.command("STARTTLS").startswith("220"):
            raise RuntimeError("STARTTLS refused")
        c.start_tls()
        c.command("EHLO cost.example")
        for m in range(messages):
            c.command(f"MAIL FROM:<cost{index}-{s}-{m}@example.org>")
            c.command("RCPT TO:<test@localhost>")
            c.command("DATA")
            c.send(b"Subject: cost\r\n\r\n" + body + b".\r\n")
            if c.reply().startswith("250"):
                accepted += 1
        c.command("QUIT")
        c.close()
        c.chunks.clear()
    return accepted


def one_run(opts, pool):
    total = opts.clients * opts.sessions * opts.messages
    started = time.monotonic()
    accepted = sum(pool.map(client, [(i, opts.sessions, opts.messages, opts.size)
                                     for i in range(opts.clients)]))
    elapsed = time.monotonic() - started
    if accepted != total:
        raise RuntimeError(f"{total - accepted} of {total} messages not accepted")
    return total / elapsed


def run_with_agent(opts, pool, workdir, losses):
    agent = livelib.Mailtapd(opts.mailtapd, opts.mailtap, workdir, "25,465,587",
                             extra_args=["--user", "nobody", *opts.agent_args.split()])
    if not opts.events:  # the deployed configuration: smtp.log and the query socket only
        i = agent.args.index("--events")
        del agent.args[i:i + 2]
    agent.start()
    try:
        cpu_before = agent.cpu_seconds()
        rate = one_run(opts, pool)
        status = agent.wait_quiet()
        messages = opts.clients * opts.sessions * opts.messages
        cpu_per_message_us = (agent.cpu_seconds() - cpu_before) / messages * 1e6
        plain = status["counters"].get("tls_plaintext", {})
        losses.append({"lost_total": status["lost_total"],
                       "cpu_per_message_us": round(cpu_per_message_us, 1),
                       "plaintext_bytes": plain.get("bytes", 0),
                       "delivered_bytes": plain.get("delivered_bytes", 0),
                       "starttls_no_plaintext": plain.get("starttls_no_plaintext", 0)})
    finally:
        agent.stop()
    for name in os.listdir(workdir):
        os.unlink(os.path.join(workdir, name))
    return rate


SYSTEM_LIBDIR = "/usr/lib/x86_64-linux-gnu"
OWN_LIBDIR = "/tmp/mailtap-tls-cost-lib"


def reexec_with_own_libssl():
    """Re-runs this script with private copies of libssl.so.3 and libcrypto.so.3 first on the
    library path, so that the load generator's TLS calls do not hit the agent's uprobes (they are
    placed on the library *file*, for every process that maps it). On a real mail host the
    clients are elsewhere; here they share the machine, and every probed call costs its caller
    a trap on entry and a return through the kernel's trampoline (about 7 us per call on this
    loaded VM; docs/benchmarks.md), which would be charged to the server's throughput."""
    import shutil
    os.makedirs(OWN_LIBDIR, exist_ok=True)
    for name in ("libssl.so.3", "libcrypto.so.3"):
        shutil.copy2(os.path.join(SYSTEM_LIBDIR, name), os.path.join(OWN_LIBDIR, name))
    env = dict(os.environ, LD_LIBRARY_PATH=OWN_LIBDIR, MAILTAP_BENCH_OWN_LIBSSL="1")
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def agent_env():
    """The agent's own environment: without the clients' private libraries."""
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    return env


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mailtapd", default=os.path.join(HERE, "..", "build/bin/mailtapd"))
    parser.add_argument("--mailtap", default=os.path.join(HERE, "..", "build/bin/mailtap"))
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--sessions", type=int, default=25)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--events", action="store_true",
                        help="also write every event to a JSON file (--events)")
    parser.add_argument("--agent-args", default="",
                        help="more mailtapd options, e.g. '--tls-plaintext off' (the socket "
                        "filter's share of the cost)")
    parser.add_argument("--json")
    parser.add_argument("--probed-clients", action="store_true",
                        help="clients use the system's libssl (probed) instead of a private copy")
    opts = parser.parse_args()
    if not opts.probed_clients and os.environ.get("MAILTAP_BENCH_OWN_LIBSSL") != "1":
        reexec_with_own_libssl()
    import ssl  # noqa: F401 - loaded now, from the private copy; the pool's forks keep it
    os.environ.pop("LD_LIBRARY_PATH", None)  # not for the agent and the Postfix fixture
    livelib.require_root_and_tools(["postfix", "openssl", "saslpasswd2"])
    livelib.restart_postfix()
    workdir = livelib.make_workdir("mailtap-tls-cost-")
    pairs, losses = [], []
    with multiprocessing.Pool(opts.clients) as pool:
        one_run(opts, pool)  # warm-up: smtpd processes, TLS session cache, page cache
        for p in range(opts.pairs):
            order = ("without", "with") if p % 2 == 0 else ("with", "without")
            rates = {}
            for half in order:
                rates[half] = (one_run(opts, pool) if half == "without"
                               else run_with_agent(opts, pool, workdir, losses))
            pairs.append(rates)
            print(f"pair {p + 1}: without {rates['without']:.1f} msg/s, with "
                  f"{rates['with']:.1f} msg/s, ratio {rates['with'] / rates['without']:.3f}",
                  flush=True)
    livelib.remove_workdir(workdir, keep=False)
    ratios = [r["with"] / r["without"] for r in pairs]
    summary = {
        "workload": vars(opts) | {"mailtapd": None, "mailtap": None},
        "median_without": statistics.median(r["without"] for r in pairs),
        "median_with": statistics.median(r["with"] for r in pairs),
        "median_ratio": statistics.median(ratios),
        "ratios": ratios,
        "agent_losses": losses,
    }
    print(json.dumps(summary, indent=1))
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
