#!/usr/bin/env python3
"""Replay throughput: mailtapd against the tools users would otherwise pick, in one run.

Usage: replay_bench.py MAILTAPD [--runs 5] [--sessions 2000] [--out docs/benchmarks-replay.md]

Generates a synthetic SMTP capture (bench/gen_smtp_pcap.py), then times, alternating the tools in
each round so that machine noise hits all of them alike:
  mailtapd  -r X --events /dev/null --log-dir D     full analysis: events + smtp.log
  tshark    -r X -Y smtp -T fields ...               Wireshark's SMTP dissector, one line per PDU
  tcpdump   -r X -w /dev/null 'tcp port 25'          read + BPF filter only (a lower bound)
Reports the median wall time of each, packets/s, MB/s and the ratio to mailtapd.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def packet_count(pcap):
    out = subprocess.run(["tcpdump", "-r", pcap, "-nn", "-q"], capture_output=True, text=True)
    return len(out.stdout.splitlines())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mailtapd")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sessions", type=int, default=2000)
    ap.add_argument("--body-bytes", type=int, default=4096)
    ap.add_argument("--out")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pcap = os.path.join(tmp, "bench.pcap")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_smtp_pcap.py"), pcap,
                        "--sessions", str(args.sessions), "--body-bytes", str(args.body_bytes)],
                       check=True)
        size = os.path.getsize(pcap)
        packets = packet_count(pcap)
        tools = {
            "mailtapd": [args.mailtapd, "-r", pcap, "--events", "/dev/null", "--events-include", "all", "--log-dir", tmp],
            "tshark": ["tshark", "-r", pcap, "-Y", "smtp", "-T", "fields", "-e",
                       "smtp.req.command", "-e", "smtp.response.code"],
            "tcpdump": ["tcpdump", "-r", pcap, "-w", "/dev/null", "tcp port 25"],
        }
        times = {name: [] for name in tools}
        for _ in range(args.runs):
            for name, cmd in tools.items():
                times[name].append(timed(cmd))
    base = statistics.median(times["mailtapd"])
    lines = [f"Capture: {args.sessions} sessions x 5 mails of {args.body_bytes} B, "
             f"{packets} packets, {size / 1e6:.1f} MB; median of {args.runs} runs.", "",
             "| tool | median s | packets/s | MB/s | time / mailtapd time |", "|---|---|---|---|---|"]
    for name, ts in times.items():
        m = statistics.median(ts)
        lines.append(f"| {name} | {m:.3f} | {packets / m:,.0f} | {size / 1e6 / m:.1f} | "
                     f"{m / base:.2f} |")
    report = "\n".join(lines)
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report + "\n")


if __name__ == "__main__":
    main()
