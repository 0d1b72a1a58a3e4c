#!/usr/bin/env python3
"""What watching costs the mail traffic: smtp-source -> smtp-sink messages/s on loopback without
an observer and with one attached -- mailtapd (live eBPF capture of lo, port 2525, events and
smtp.log written to files), and for comparison the tools users would pick instead, `tcpdump -i lo
-w FILE port 2525` and `tshark -i lo -f 'port 2525' -w FILE`.

Runs are PAIRED: every run with an observer is next to a run without, side by side, so slow
drifts of the (shared, 2-core) machine hit both halves of a pair alike; the order within a pair
alternates from one run to the next, so a machine that slows down (or speeds up) over a few
seconds does not favour either half. Per observer and message size the script reports the median
messages/s of each half and the median of the per-pair ratios (with / without). The target for
mailtapd is a ratio >= 0.90 for 4 KiB and 64 KiB messages.

The observer `none` is the calibration: pairs of two runs without any observer (an A/A test).
Its ratios show how far this machine's noise alone moves a ratio in the same run; read the
other rows against it. The observer `cpu-twin` is the second calibration: a process that watches
nothing and only spends, in 50 ms bursts, the CPU share mailtapd-smtplog spent in its latest run
of the same size. Its ratio is what mailtapd's CPU use alone costs this traffic on this machine; the
difference to mailtapd's ratio is what the packet tap, ring buffer and memory add.

It also reports what each observer lost (mailtapd: `mailtap status` lost_total; tcpdump/tshark:
their "dropped" counts): an observer that drops packets is cheap for the wrong reason.

Usage (as root): bench/live_cost.py [--runs 5] [--sizes 4096,65536] [--observers
none,mailtapd-smtplog,cpu-twin,mailtapd,tcpdump,tshark] [--messages 4096:12000,65536:3000]
[--sessions 20] [--json FILE]
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "privileged"))
import livelib  # noqa: E402

PORT = 2525


class Observer:
    """Base: start() returns once capturing; stop() returns the number of packets/bytes lost."""
    name = "none"

    def __init__(self, workdir):
        self.workdir = workdir

    def start(self):
        pass

    def stop(self):
        return 0


class MailtapdObserver(Observer):
    name = "mailtapd"

    def __init__(self, workdir, mailtapd, mailtap, events=True):
        super().__init__(workdir)
        self.name = "mailtapd" if events else "mailtapd-smtplog"
        self.agent = livelib.Mailtapd(mailtapd, mailtap, workdir, str(PORT))
        if not events:  # the deployed configuration (deploy/mailtapd.conf): smtp.log + socket
            i = self.agent.args.index("--events")
            del self.agent.args[i:i + 2]

    def start(self):
        self.agent.start()
        # What loading the eBPF program and opening outputs cost happens once per agent start,
        # not per message: only the CPU used from here on is charged to the traffic.
        self.cpu_at_start = self.agent.cpu_seconds()

    def stop(self):
        status = self.agent.wait_quiet(stable_polls=2, interval=0.3)
        self.cpu = self.agent.cpu_seconds() - self.cpu_at_start
        rc = self.agent.stop()
        if rc != 0:
            raise RuntimeError(f"mailtapd exited {rc}: {self.agent.stderr_text()}")
        return status["lost_total"]


class PacketToolObserver(Observer):
    """tcpdump or tshark writing a capture file; ready when it says so on stderr."""

    def __init__(self, workdir, name, args, ready_text):
        super().__init__(workdir)
        self.name = name
        self.args = args
        self.ready_text = ready_text

    def start(self):
        self.err_path = os.path.join(self.workdir, self.name + ".stderr")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.ready_text in self._stderr():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self._stderr()}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start: {self._stderr()}")

    def stop(self):
        time.sleep(0.5)  # the buffered tail of the capture reaches the tool
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        self.err.close()
        text = self._stderr()
        dropped = [int(n) for n in re.findall(r"(\d+) packets? dropped", text)]
        return sum(dropped)

    def _stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")


# A process that only spins: every PERIOD seconds it spins for BUSY seconds, then sleeps.
SPINNER = """
import sys, time
period, busy = float(sys.argv[1]), float(sys.argv[2])
while True:
    start = time.perf_counter()
    while time.perf_counter() - start < busy:
        pass
    time.sleep(max(0.0, period - (time.perf_counter() - start)))
"""


class CpuTwinObserver(Observer):
    """Observes nothing: spends the CPU share mailtapd-smtplog spent in its latest run of the size,
    in bursts at mailtapd's poll interval (50 ms). What it costs the traffic is what any process
    with mailtapd's CPU use would cost on this machine, without a packet tap, ring buffer or
    memory footprint: read mailtapd's row against it."""
    name = "cpu-twin"
    PERIOD = 0.05

    def __init__(self, workdir, share):
        super().__init__(workdir)
        self.share = share

    def start(self):
        busy = min(self.share, 1.0) * self.PERIOD
        self.proc = subprocess.Popen([sys.executable, "-c", SPINNER, str(self.PERIOD), str(busy)])
        time.sleep(0.2)
        self.cpu_at_start = livelib.process_cpu_seconds(self.proc.pid)

    def stop(self):
        self.cpu = livelib.process_cpu_seconds(self.proc.pid) - self.cpu_at_start
        self.proc.kill()
        self.proc.wait()
        return 0


def make_observer(kind, workdir, opts, size):
    if kind == "mailtapd":
        return MailtapdObserver(workdir, opts.mailtapd, opts.mailtap)
    if kind == "mailtapd-smtplog":
        return MailtapdObserver(workdir, opts.mailtapd, opts.mailtap, events=False)
    if kind == "cpu-twin":
        return CpuTwinObserver(workdir, opts.agent_share[size])
    if kind == "tcpdump":
        return PacketToolObserver(workdir, "tcpdump",
                                  [livelib.tool("tcpdump"), "-i", "lo", "-w",
                                   os.path.join(workdir, "cap.pcap"), "port", str(PORT)],
                                  "listening on")
    if kind == "tshark":
        return PacketToolObserver(workdir, "tshark",
                                  [livelib.tool("tshark"), "-i", "lo", "-f", f"port {PORT}", "-w",
                                   os.path.join(workdir, "cap.pcapng")],
                                  "Capture started")
    raise ValueError(kind)


def settle():
    """Writes back what the run left dirty (a 64 KiB run's tcpdump file is 200 MB) and lets the
    machine go quiet, so that it is not charged to whichever run comes next."""
    os.sync()
    time.sleep(1.0)


def one_run(kind, size, messages, opts):
    """One smtp-source run with observer `kind` ("none" = without); returns a result dict."""
    workdir = livelib.make_workdir("mailtap-bench-")
    try:
        obs = Observer(workdir) if kind == "none" else make_observer(kind, workdir, opts, size)
        obs.start()
        try:
            seconds = livelib.smtp_source(PORT, opts.sessions, messages, size)
        finally:
            lost = obs.stop()
            settle()
        result = {"observer": kind, "size": size, "messages": messages, "seconds": seconds,
                  "rate": messages / seconds, "lost": lost}
        if kind.startswith("mailtapd") or kind == "cpu-twin":
            result["agent_cpu_seconds"] = obs.cpu
        if kind == "mailtapd-smtplog":
            opts.agent_share[size] = obs.cpu / seconds
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mailtapd", default=os.path.join(livelib.SOURCE_DIR, "build/bin/mailtapd"))
    p.add_argument("--mailtap", default=os.path.join(livelib.SOURCE_DIR, "build/bin/mailtap"))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--sizes", default="4096,65536")
    p.add_argument("--observers",
                   default="none,mailtapd-smtplog,cpu-twin,mailtapd,tcpdump,tshark")
    p.add_argument("--messages", default="4096:12000,65536:3000",
                   help="messages per run, per size (SIZE:N,...)")
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--json", help="also write every run and the summary to this file")
    opts = p.parse_args(argv)
    observers = opts.observers.split(",")
    if "cpu-twin" in observers and (
            "mailtapd-smtplog" not in observers
            or observers.index("cpu-twin") < observers.index("mailtapd-smtplog")):
        p.error("--observers: cpu-twin spends mailtapd-smtplog's CPU share, so it must come after "
                "mailtapd-smtplog")
    opts.agent_share = {}  # size -> mailtapd-smtplog's CPU seconds per second, for cpu-twin
    return opts


def summarize(results, sizes, observers):
    rows = []
    for size in sizes:
        for kind in observers:
            pairs = [(r["without"], r["with"]) for r in results
                     if r["size"] == size and r["observer"] == kind]
            if not pairs:
                continue
            ratios = [w["rate"] / wo["rate"] for wo, w in pairs]
            rows.append({
                "size": size, "observer": kind, "pairs": len(pairs),
                "without": statistics.median(wo["rate"] for wo, _ in pairs),
                "with": statistics.median(w["rate"] for _, w in pairs),
                "ratio": statistics.median(ratios),
                "ratio_min": min(ratios), "ratio_max": max(ratios),
                "lost": sum(w["lost"] for _, w in pairs),
                "agent_cpu_per_message_us": (
                    statistics.median(w["agent_cpu_seconds"] / w["messages"] * 1e6
                                      for _, w in pairs) if "agent_cpu_seconds" in pairs[0][1]
                    else None),
            })
    return rows


def print_table(rows):
    print("\n| message size | observer | msgs/s without | msgs/s with | ratio (median of pairs) "
          "| ratio range | lost |")
    print("| --- | --- | ---: | ---: | ---: | --- | ---: |")
    for r in rows:
        name = "none (A/A calibration)" if r["observer"] == "none" else r["observer"]
        print(f"| {r['size'] // 1024} KiB | {name} | {r['without']:.0f} | {r['with']:.0f} "
              f"| {r['ratio']:.2f} | {r['ratio_min']:.2f}-{r['ratio_max']:.2f} | {r['lost']} |")
    for r in rows:
        if r["agent_cpu_per_message_us"] is not None:
            print(f"{r['observer']} CPU per message ({r['size'] // 1024} KiB): "
                  f"{r['agent_cpu_per_message_us']:.0f} us (median of runs)")


def main():
    opts = parse_args(sys.argv[1:])
    livelib.require_root_and_tools(["smtp-source", "smtp-sink", "tcpdump", "tshark"])
    sizes = [int(s) for s in opts.sizes.split(",")]
    observers = opts.observers.split(",")
    per_size = dict(tuple(int(x) for x in item.split(":")) for item in opts.messages.split(","))
    print(f"nproc {os.cpu_count()}, kernel {os.uname().release}, "
          f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
    sink = livelib.SmtpSink(PORT, backlog=1000)
    results = []
    try:
        for size in sizes:
            messages = per_size.get(size, 2000)
            livelib.smtp_source(PORT, opts.sessions, messages // 4, size)  # warm-up, not counted
            for run in range(opts.runs):
                for kind in observers:
                    if run % 2 == 0:
                        without = one_run("none", size, messages, opts)
                        with_obs = one_run(kind, size, messages, opts)
                    else:
                        with_obs = one_run(kind, size, messages, opts)
                        without = one_run("none", size, messages, opts)
                    results.append({"size": size, "observer": kind, "run": run,
                                    "without": without, "with": with_obs})
                    print(f"size {size} run {run} {kind}: without {without['rate']:.0f}/s, "
                          f"with {with_obs['rate']:.0f}/s, ratio "
                          f"{with_obs['rate'] / without['rate']:.2f}, lost {with_obs['lost']}, "
                          f"load {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        sink.stop()
    rows = summarize(results, sizes, observers)
    print_table(rows)
    print(f"load average at end {os.getloadavg()[0]:.2f}", flush=True)
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"runs": results, "summary": rows, "nproc": os.cpu_count(),
                       "kernel": os.uname().release}, f, indent=1)


if __name__ == "__main__":
    main()
