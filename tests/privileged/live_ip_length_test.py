#!/usr/bin/env python3
"""Issue 17, item 8, live: a TCP segment on an SMTP port whose IP length field (IPv4 total length,
IPv6 payload length) claims more bytes than the packet has is dropped by the socket filter and
counted as `capture.kernel_ip_length_past_frame`, as a replay counts `ip_length_past_frame`. It
is not taken for a capture cut: no bytes are reported lost, and it opens no connection. The
receiving kernel drops the same packets (its InTruncatedPkts counters move), so none of their
bytes reached the server.

The segments are written onto lo with an AF_PACKET socket (a raw IP socket cannot send them: the
kernel rewrites an IPv4 total length sent with IP_HDRINCL), so the agent's tap sees them as
received. Besides them: a real smtp-source session through smtp-sink (must still be analysed),
and a segment whose frame is longer than its IP length (trailing bytes, as Ethernet padding adds:
legitimate, must be captured, not counted).
Usage: live_ip_length_test.py [--mailtapd PATH] [--mailtap PATH] [--keep]
Needs root and smtp-sink/smtp-source; skips loudly otherwise (exit 77), fails under CI=true.
"""
import json
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livelib  # noqa: E402
from livelib import Results, wait_for  # noqa: E402

CONTROL_PORT = 2528  # smtp-sink, the control session
SMTP_PORT = 25  # the forged segments' destination: nothing needs to listen, the kernel drops them
COUNTER = "kernel_ip_length_past_frame"
PAYLOAD = b"MAIL FROM:<forged@example.org>\r\n"
ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
# The forged segments: source port (one per case, to search the output for) -> bytes the length
# field claims beyond the packet (None: the field's maximum, 65535).
V4_LIES = {41001: 1, 41002: 1000, 41003: None}
V6_LIES = {41011: 1, 41012: None}
PADDED_PORT = 41021  # IPv4, 18 bytes after the IP packet's end


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_segment(src, dst, sport, pseudo_proto_len):
    """A TCP header (ACK|PSH, no options) + PAYLOAD with a correct checksum over the pseudo-header
    built by `pseudo_proto_len(length)`."""
    header = struct.pack("!HHIIBBHHH", sport, SMTP_PORT, 1000, 2000, 5 << 4, 0x18, 65535, 0, 0)
    segment = header + PAYLOAD
    csum = checksum(src + dst + pseudo_proto_len(len(segment)) + segment)
    return segment[:16] + struct.pack("!H", csum) + segment[18:]


def ethernet(ethertype, packet, trailer=b""):
    """Loopback's link header: zero addresses (lo's own), as the kernel writes it."""
    return b"\0" * 12 + struct.pack("!H", ethertype) + packet + trailer


def ipv4_frame(sport, extra_length=0, trailer=b""):
    """`extra_length` bytes more in the total length field than the packet has (None: 65535)."""
    src = dst = socket.inet_aton("127.0.0.1")
    tcp = tcp_segment(src, dst, sport, lambda n: struct.pack("!BBH", 0, socket.IPPROTO_TCP, n))
    real = 20 + len(tcp)
    claimed = 65535 if extra_length is None else real + extra_length
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, claimed, sport, 0x4000, 64, socket.IPPROTO_TCP,
                         0, src, dst)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return ethernet(ETH_IPV4, header + tcp, trailer)


def ipv6_frame(sport, extra_length):
    src = dst = socket.inet_pton(socket.AF_INET6, "::1")
    tcp = tcp_segment(src, dst, sport,
                      lambda n: struct.pack("!I3xB", n, socket.IPPROTO_TCP))
    claimed = 65535 if extra_length is None else len(tcp) + extra_length
    header = struct.pack("!IHBB16s16s", 6 << 28, claimed, socket.IPPROTO_TCP, 64, src, dst)
    return ethernet(ETH_IPV6, header + tcp)


def has_ipv6_loopback():
    with open("/proc/net/if_inet6") as f:
        return any(line.startswith("00000000000000000000000000000001 ") for line in f)


def kernel_truncated_drops():
    """(IPv4, IPv6) packets the kernel's IP input dropped for a length past the packet."""
    v4 = v6 = 0
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("IpExt:"):
            v4 = int(dict(zip(names.split()[1:], values.split()[1:]))["InTruncatedPkts"])
    with open("/proc/net/snmp6") as f:
        for line in f:
            name, value = line.split()
            if name == "Ip6InTruncatedPkts":
                v6 = int(value)
    return v4, v6


def send_frames(frames):
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as s:
        s.bind(("lo", 0))
        for frame in frames:
            s.send(frame)


def capture(status):
    return status["counters"]["capture"]


def forged_counted(status, before):
    """How much COUNTER moved since `before` (a missing counter counts 0: the failure says more
    than a KeyError)."""
    return capture(status).get(COUNTER, 0) - capture(before).get(COUNTER, 0)


def conn_ports(workdir):
    """Client ports of every conn.log record."""
    path = os.path.join(workdir, "conn.log")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["id.orig_p"] for line in f if line.strip()]


def run(res, opts, workdir):
    v6 = has_ipv6_loopback()
    if not v6:
        print("note: no ::1 on lo, the IPv6 cases are left out", flush=True)
    lies = [ipv4_frame(port, extra) for port, extra in V4_LIES.items()]
    if v6:
        lies += [ipv6_frame(port, extra) for port, extra in V6_LIES.items()]
    agent = livelib.Mailtapd(opts.mailtapd, opts.mailtap, workdir, f"{SMTP_PORT},{CONTROL_PORT}")
    sink = livelib.SmtpSink(CONTROL_PORT)
    try:
        agent.start()
        # The first statistics snapshot is published a moment after the query socket answers.
        wait_for(lambda: "capture" in agent.status()["counters"], "the first counters", 5)
        before = agent.status()
        kernel_before = kernel_truncated_drops()
        send_frames(lies)
        livelib.smtp_source(CONTROL_PORT, sessions=1, messages=1, length=300, timeout=60)
        send_frames([ipv4_frame(PADDED_PORT, trailer=b"\0" * 18)])
        wait_for(lambda: len(agent.smtp_log()) == 1, "the control session's smtp.log record")
        # Counters are published a few times a second: wait for them, bounded.
        try:
            wait_for(lambda: forged_counted(agent.status(), before) >= len(lies),
                     f"{COUNTER} to count the forged segments", 5)
        except AssertionError as e:
            print(e, flush=True)  # the checks below say what happened instead
        after = agent.wait_quiet()
        kernel_after = kernel_truncated_drops()
        res.equal(f"{COUNTER} moved by the number of forged segments",
                  forged_counted(after, before), len(lies))
        res.equal("kernel_truncated did not move", capture(after)["kernel_truncated"],
                  capture(before)["kernel_truncated"])
        res.equal("no segment handed out truncated", capture(after)["segments_truncated"], 0)
        res.equal("lost_total unchanged (0)", (before["lost_total"], after["lost_total"]), (0, 0))
        res.check("not a loss cause", COUNTER not in after["loss"], str(after["loss"]))
        res.check("the kernel dropped the IPv4 ones as truncated too",
                  kernel_after[0] - kernel_before[0] >= len(V4_LIES),
                  f"InTruncatedPkts {kernel_before[0]} -> {kernel_after[0]}")
        if v6:
            res.check("the kernel dropped the IPv6 ones as truncated too",
                      kernel_after[1] - kernel_before[1] >= len(V6_LIES),
                      f"Ip6InTruncatedPkts {kernel_before[1]} -> {kernel_after[1]}")
        records = agent.smtp_log()
        res.equal("the control session is analysed",
                  [(r["id.resp_p"], r.get("mailfrom") is not None) for r in records],
                  [(CONTROL_PORT, True)])
        res.equal("mailtapd exits 0", agent.stop(), 0)
        ports = conn_ports(workdir)
        forged = set(V4_LIES) | (set(V6_LIES) if v6 else set())
        res.equal("no connection from a forged segment", sorted(forged & set(ports)), [])
        res.check("the padded segment (frame longer than its IP length) is captured",
                  PADDED_PORT in ports, f"conn.log client ports: {ports}")
    finally:
        agent.stop()
        sink.stop()


def main():
    opts = livelib.parse_common_args(sys.argv[1:])
    livelib.require_root_and_tools(["smtp-source", "smtp-sink"])
    res = Results()
    workdir = livelib.make_workdir("mailtap-live-iplen-")
    try:
        run(res, opts, workdir)
    except Exception as e:  # a broken fixture or a timeout: a failure, not a traceback
        res.check("test ran to completion", False, f"{type(e).__name__}: {e}")
    finally:
        livelib.remove_workdir(workdir, keep=opts.keep or res.failed)
    res.finish()


if __name__ == "__main__":
    main()
