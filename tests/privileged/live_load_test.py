#!/usr/bin/env python3
"""Load: smtp-source drives 20,000 messages at full speed into smtp-sink on 127.0.0.1:2525 while
the whole agent (mailtapd -i lo --ports 2525, events and smtp.log to files) watches. Every
message must be seen (one smtp.log record each), every DATA line of every message must be
reported with the bytes smtp-source really sent, nothing may be lost (no kernel drop with the
default ring size, no reassembly gap, no `content gap` event), and mailtapd must exit 0 on SIGTERM.

What smtp-source sends per message is learnt from the real peer first: one message of the same
size recorded with tcpdump (livelib.record_one_smtp_source_message).

Usage: live_load_test.py [--mailtapd PATH] [--mailtap PATH] [--messages N] [--sessions N]
                         [--size BYTES] [--keep]
Needs root; skips loudly otherwise (exit 77), and fails instead under CI=true.
"""
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livelib  # noqa: E402
from livelib import Results  # noqa: E402

PORT = 2525
REFERENCE_PORT = 2526
# Header values that differ from message to message; the rest of every message is identical.
VARYING_HEADERS = (b"Date:", b"Message-Id:")


def masked_digest(lines):
    """A digest of a message's data lines with the per-message header values blanked."""
    h = hashlib.sha256()
    for line in lines:
        h.update(_mask(line) + b"\n")
    return h.hexdigest()


def _mask(line):
    for name in VARYING_HEADERS:
        if line.startswith(name):
            return name + b" *"
    return line


def json_bytes(s):
    """smtp_data strings are raw bytes; smtp-source sends ASCII only, so this is exact here."""
    return s.encode("utf-8")


def scan_events(path):
    """One pass over the events file: per uid, a running digest, line count and byte count of its
    smtp_data lines, plus the names of every other event seen (with counts)."""
    per_uid = {}
    other = {}
    gaps = 0
    with open(path, "rb") as f:
        for raw in f:
            e = json.loads(raw)
            name = e["event"]
            if name == "smtp_data":
                d = per_uid.get(e["uid"])
                if d is None:
                    d = per_uid[e["uid"]] = [hashlib.sha256(), 0, 0]
                line = json_bytes(e["data"])
                d[0].update(_mask(line) + b"\n")
                d[1] += 1
                d[2] += len(line)
            else:
                other[name] = other.get(name, 0) + 1
                if name == "smtp_unexpected" and e.get("msg") == "content gap":
                    gaps += 1
    return per_uid, other, gaps


def parse_args(argv):
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("--mailtapd", default=os.path.join(livelib.SOURCE_DIR, "build/bin/mailtapd"))
    parser.add_argument("--mailtap", default=os.path.join(livelib.SOURCE_DIR, "build/bin/mailtap"))
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args(argv)


def run(opts, res, workdir):
    reference = livelib.record_one_smtp_source_message(REFERENCE_PORT, opts.size, workdir)
    ref_digest = masked_digest(reference)
    ref_lines = len(reference)
    print(f"reference message: {ref_lines} data lines, "
          f"{sum(len(line) for line in reference)} bytes without line ends", flush=True)

    sink = livelib.SmtpSink(PORT, backlog=1000)
    agent = livelib.Mailtapd(opts.mailtapd, opts.mailtap, workdir, str(PORT))
    try:
        agent.start()
        load = os.getloadavg()
        elapsed = livelib.smtp_source(PORT, opts.sessions, opts.messages, opts.size)
        drain_start = time.monotonic()
        status = agent.wait_quiet()
        drain = time.monotonic() - drain_start
        cpu = agent.cpu_seconds()
        rc = agent.stop()
    finally:
        agent.stop()
        sink.stop()
    rate = opts.messages / elapsed
    cap = status["counters"]["capture"]
    print(f"load: {opts.messages} messages in {elapsed:.2f} s = {rate:.0f} messages/s "
          f"(sessions {opts.sessions}, size {opts.size}); agent idle {drain:.1f} s later; "
          f"kernel records {cap['kernel_records']}, bytes {cap['kernel_record_bytes']}, "
          f"ring {cap['ring_size']}; mailtapd CPU {cpu:.1f} s; load average before {load[0]:.2f}",
          flush=True)

    for key, value in livelib.loss_summary(status).items():
        res.equal(f"status: {key} is 0", value, 0)
    res.equal("status: ring buffer is the default 16 MiB", cap["ring_size"], 16 << 20)
    res.equal("mailtapd exits 0 after SIGTERM", rc, 0)

    records = [r for r in agent.smtp_log() if r["id.resp_p"] == PORT]
    res.equal("smtp.log: one record per message", len(records), opts.messages)
    res.equal("smtp.log: every record is a different connection",
              len({r["uid"] for r in records}), opts.messages)
    res.equal("smtp.log: every record has the 250 reply to '.' as last_reply",
              sum(1 for r in records if r.get("last_reply", "").startswith("250 ")),
              opts.messages)

    per_uid, other, gaps = scan_events(agent.events_path)
    res.equal("events: smtp_data from every message", len(per_uid), opts.messages)
    wrong_count = sum(1 for d in per_uid.values() if d[1] != ref_lines)
    res.equal(f"events: every message has {ref_lines} smtp_data lines", wrong_count, 0)
    wrong_content = sum(1 for d in per_uid.values() if d[0].hexdigest() != ref_digest)
    res.equal("events: every message's data lines equal what smtp-source sent", wrong_content, 0)
    total = sum(d[2] + 2 * d[1] for d in per_uid.values())
    print(f"DATA accounted: {total} bytes in {sum(d[1] for d in per_uid.values())} lines "
          "(line ends included)", flush=True)
    res.equal("events: no content gap", gaps, 0)
    res.equal("events: no weird", other.get("weird", 0), 0)
    print("summary " + json.dumps({"messages": opts.messages, "sessions": opts.sessions,
                                   "size": opts.size, "seconds": round(elapsed, 2),
                                   "messages_per_second": round(rate),
                                   "data_bytes": total, "kernel_records": cap["kernel_records"],
                                   "kernel_record_bytes": cap["kernel_record_bytes"],
                                   "drops": status["lost_total"], "agent_cpu_seconds": round(cpu, 2)}),
          flush=True)


def main():
    opts = parse_args(sys.argv[1:])
    livelib.require_root_and_tools(["smtp-source", "smtp-sink", "tcpdump"])
    res = Results()
    workdir = livelib.make_workdir("mailtap-live-load-")
    try:
        run(opts, res, workdir)
    except Exception as e:
        res.check("test ran to completion", False, f"{type(e).__name__}: {e}")
    finally:
        livelib.remove_workdir(workdir, keep=opts.keep or res.failed)
    res.finish()


if __name__ == "__main__":
    main()
