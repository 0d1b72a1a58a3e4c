// Test helper: builds link-layer frames, IPv4/IPv6 packets and TCP segments byte by byte, and
// writes them to pcap files. Header-only; WritePcap needs libpcap (link mailtap_capture, which
// brings PkgConfig::PCAP, or PkgConfig::PCAP directly).
//
// Typical use:
//   TcpPacket p{.src = "10.0.0.1", .dst = "10.0.0.2", .dst_port = 25, .seq = 1,
//               .flags = kTcpPsh | kTcpAck, .payload = "EHLO x\r\n"};
//   WritePcap(path, dlt::kEthernet, {{Timestamp{1'000'000}, EthernetTcpFrame(p)}});
//
// Checksums (IPv4 header, TCP) are computed so the frames also satisfy tools that verify them
// (Zeek drops TCP segments with a bad checksum). Errors throw std::runtime_error: tests only.
#pragma once

#include <pcap/pcap.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/packet.h"

namespace mailtap::testing {

using Frame = std::vector<uint8_t>;

// --- byte helpers -------------------------------------------------------------------------

inline void PutBe16(Frame& f, uint16_t v) {
  f.push_back(static_cast<uint8_t>(v >> 8));
  f.push_back(static_cast<uint8_t>(v));
}
inline void PutBe32(Frame& f, uint32_t v) {
  PutBe16(f, static_cast<uint16_t>(v >> 16));
  PutBe16(f, static_cast<uint16_t>(v));
}
inline void PutLe32(Frame& f, uint32_t v) {
  for (int i = 0; i < 4; ++i) f.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline void Append(Frame& f, std::span<const uint8_t> bytes) {
  f.insert(f.end(), bytes.begin(), bytes.end());
}
inline Frame Concat(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  Frame f(a.begin(), a.end());
  Append(f, b);
  return f;
}
inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
// The first `len` bytes of `frame` (what a capture with that snaplen would keep).
inline Frame Truncated(const Frame& frame, size_t len) {
  return Frame(frame.begin(),
               frame.begin() + static_cast<std::ptrdiff_t>(std::min(len, frame.size())));
}

// Parses a textual IPv4/IPv6 address; throws if invalid.
inline IpAddress Ip(const std::string& text) {
  IpAddress a;
  if (!IpAddress::Parse(text, &a)) throw std::runtime_error("bad address in test: " + text);
  return a;
}

// RFC 1071 ones'-complement sum, folded, not yet inverted.
inline uint32_t OnesSum(std::span<const uint8_t> bytes, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) sum += uint32_t{bytes[i]} << 8 | bytes[i + 1];
  if (bytes.size() % 2 != 0) sum += uint32_t{bytes.back()} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}
inline uint16_t Checksum(std::span<const uint8_t> bytes, uint32_t sum = 0) {
  return static_cast<uint16_t>(~OnesSum(bytes, sum) & 0xffff);
}

// --- TCP ----------------------------------------------------------------------------------

struct TcpHeader {
  uint16_t src_port = 40000;
  uint16_t dst_port = 25;
  uint32_t seq = 1000;
  uint32_t ack = 0;
  uint8_t flags = kTcpAck;  // TcpFlag bits (ECE 0x40, CWR 0x80 may be set too)
  uint16_t window = 65535;
  std::vector<uint8_t> options{};  // raw option bytes; zero-padded (EOL) to a multiple of 4
  // Overrides the data-offset nibble (in 32-bit words) to craft malformed headers.
  int data_offset_words = -1;
};

// TCP header + payload, checksum zero (TcpIpPacket fills it in).
inline Frame BuildTcp(const TcpHeader& h, std::span<const uint8_t> payload) {
  Frame f;
  PutBe16(f, h.src_port);
  PutBe16(f, h.dst_port);
  PutBe32(f, h.seq);
  PutBe32(f, h.ack);
  size_t options_len = (h.options.size() + 3) / 4 * 4;
  int words =
      h.data_offset_words >= 0 ? h.data_offset_words : static_cast<int>(5 + options_len / 4);
  f.push_back(static_cast<uint8_t>(words << 4));
  f.push_back(h.flags);
  PutBe16(f, h.window);
  PutBe16(f, 0);  // checksum
  PutBe16(f, 0);  // urgent pointer
  Append(f, h.options);
  f.resize(f.size() + options_len - h.options.size(), 0);
  Append(f, payload);
  return f;
}

// --- IPv4 / IPv6 ---------------------------------------------------------------------------

constexpr uint8_t kIpProtoTcp = 6;
constexpr uint8_t kIpProtoUdp = 17;

struct Ipv4Header {
  std::string src = "10.0.0.1";
  std::string dst = "10.0.0.2";
  uint8_t protocol = kIpProtoTcp;
  uint8_t ttl = 64;
  uint16_t id = 1;
  uint16_t flags_fragment = 0x4000;  // DF; set 0x2000 (MF) or an offset to make a fragment
  std::vector<uint8_t> options{};    // zero-padded to a multiple of 4
  int total_length = -1;             // override (default: header + payload)
  int header_length_words = -1;      // override the IHL nibble
  int version = 4;                   // override the version nibble
};

inline Frame BuildIpv4(const Ipv4Header& h, std::span<const uint8_t> payload) {
  size_t options_len = (h.options.size() + 3) / 4 * 4;
  size_t header_len = 20 + options_len;
  int ihl = h.header_length_words >= 0 ? h.header_length_words : static_cast<int>(header_len / 4);
  Frame f;
  f.push_back(static_cast<uint8_t>(h.version << 4 | (ihl & 0x0f)));
  f.push_back(0);  // DSCP/ECN
  PutBe16(f, static_cast<uint16_t>(h.total_length >= 0 ? static_cast<size_t>(h.total_length)
                                                       : header_len + payload.size()));
  PutBe16(f, h.id);
  PutBe16(f, h.flags_fragment);
  f.push_back(h.ttl);
  f.push_back(h.protocol);
  PutBe16(f, 0);  // checksum, below
  Append(f, std::span<const uint8_t>(Ip(h.src).bytes()).subspan(12));
  Append(f, std::span<const uint8_t>(Ip(h.dst).bytes()).subspan(12));
  Append(f, h.options);
  f.resize(header_len, 0);
  uint16_t sum = Checksum(f);
  f[10] = static_cast<uint8_t>(sum >> 8);
  f[11] = static_cast<uint8_t>(sum);
  Append(f, payload);
  return f;
}

struct Ipv6Header {
  std::string src = "2001:db8::1";
  std::string dst = "2001:db8::2";
  uint8_t next_header = kIpProtoTcp;  // first header after the fixed one
  uint8_t hop_limit = 64;
  int payload_length = -1;  // override (default: payload size)
  int version = 6;          // override the version nibble
};

// `payload` is everything after the fixed header: extension headers (see Ipv6Extension) + L4.
inline Frame BuildIpv6(const Ipv6Header& h, std::span<const uint8_t> payload) {
  Frame f;
  PutBe32(f, static_cast<uint32_t>(h.version) << 28);
  PutBe16(f, static_cast<uint16_t>(h.payload_length >= 0 ? static_cast<size_t>(h.payload_length)
                                                         : payload.size()));
  f.push_back(h.next_header);
  f.push_back(h.hop_limit);
  Append(f, Ip(h.src).bytes());
  Append(f, Ip(h.dst).bytes());
  Append(f, payload);
  return f;
}

constexpr uint8_t kIpv6HopByHop = 0;
constexpr uint8_t kIpv6Routing = 43;
constexpr uint8_t kIpv6Fragment = 44;
constexpr uint8_t kIpv6Esp = 50;
constexpr uint8_t kIpv6Ah = 51;
constexpr uint8_t kIpv6NoNext = 59;
constexpr uint8_t kIpv6DestOpts = 60;

// An IPv6 extension header of `units` 8-octet units (hop-by-hop, routing, destination options:
// RFC 8200 section 4) filled with PadN, followed by `next_header`.
inline Frame Ipv6Extension(uint8_t next_header, uint8_t extra_units = 0) {
  Frame f = {next_header, extra_units, 1 /* PadN */, static_cast<uint8_t>(4 + 8 * extra_units)};
  f.resize(8 + 8 * size_t{extra_units}, 0);
  return f;
}
// IPsec AH (RFC 4302) with a 12-byte ICV: 24 bytes, length field 4.
inline Frame AuthHeader(uint8_t next_header) {
  Frame f = {next_header, 4, 0, 0};
  f.resize(24, 0xab);
  return f;
}
// IPv6 fragment header (RFC 8200 section 4.5); offset in 8-octet units.
inline Frame Ipv6FragmentHeader(uint8_t next_header, uint16_t offset_units, bool more_fragments) {
  Frame f = {next_header, 0};
  PutBe16(f, static_cast<uint16_t>(offset_units << 3 | (more_fragments ? 1 : 0)));
  PutBe32(f, 0x12345678);  // identification
  return f;
}

// --- link layers ---------------------------------------------------------------------------

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeArp = 0x0806;
constexpr uint16_t kTpid8021Q = 0x8100;
constexpr uint16_t kTpid8021ad = 0x88a8;
constexpr uint16_t kTpidQinQ = 0x9100;

struct VlanTag {
  uint16_t tpid = kTpid8021Q;
  uint16_t vlan_id = 100;
};

// Ethernet II with optional VLAN tags, outermost first.
inline Frame BuildEthernet(uint16_t ethertype, std::span<const uint8_t> payload,
                           const std::vector<VlanTag>& tags = {}) {
  Frame f = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};  // dst, src MACs
  for (const VlanTag& t : tags) {
    PutBe16(f, t.tpid);
    PutBe16(f, t.vlan_id);
  }
  PutBe16(f, ethertype);
  Append(f, payload);
  return f;
}

// Linux cooked capture v1 (DLT_LINUX_SLL, 16-byte header), packet type "outgoing".
inline Frame BuildLinuxSll(uint16_t protocol, std::span<const uint8_t> payload) {
  Frame f;
  PutBe16(f, 4);  // LINUX_SLL_OUTGOING
  PutBe16(f, 1);  // ARPHRD_ETHER
  PutBe16(f, 6);
  Append(f, Frame{0x02, 0, 0, 0, 0, 0x01, 0, 0});
  PutBe16(f, protocol);
  Append(f, payload);
  return f;
}

// Linux cooked capture v2 (DLT_LINUX_SLL2, 20-byte header).
inline Frame BuildLinuxSll2(uint16_t protocol, uint32_t ifindex, std::span<const uint8_t> payload) {
  Frame f;
  PutBe16(f, protocol);
  PutBe16(f, 0);  // reserved
  PutBe32(f, ifindex);
  PutBe16(f, 1);   // ARPHRD_ETHER
  f.push_back(0);  // LINUX_SLL_HOST
  f.push_back(6);
  Append(f, Frame{0x02, 0, 0, 0, 0, 0x01, 0, 0});
  Append(f, payload);
  return f;
}

constexpr uint32_t kBsdAfInet = 2;
constexpr uint32_t kBsdAfInet6Darwin = 30;
constexpr uint32_t kBsdAfInet6FreeBsd = 28;
constexpr uint32_t kBsdAfInet6OpenBsd = 24;

enum class ByteOrder { kLittle, kBig };

// DLT_NULL: the address family in the capturing host's byte order.
inline Frame BuildNull(uint32_t family, std::span<const uint8_t> payload, ByteOrder order) {
  Frame f;
  if (order == ByteOrder::kLittle) {
    PutLe32(f, family);
  } else {
    PutBe32(f, family);
  }
  Append(f, payload);
  return f;
}

// DLT_LOOP: the address family in network byte order.
inline Frame BuildLoop(uint32_t family, std::span<const uint8_t> payload) {
  return BuildNull(family, payload, ByteOrder::kBig);
}

// --- the common case -------------------------------------------------------------------------

struct TcpPacket {
  std::string src = "10.0.0.1";  // IPv4 or IPv6 (both addresses the same family)
  uint16_t src_port = 40000;
  std::string dst = "10.0.0.2";
  uint16_t dst_port = 25;
  uint32_t seq = 1000;
  uint32_t ack = 0;
  uint8_t flags = kTcpAck;
  uint16_t window = 65535;
  std::string payload{};
  std::vector<uint8_t> tcp_options{};
};

inline bool IsV6Text(const std::string& address) { return !Ip(address).IsV4(); }

// TCP checksum over the RFC 793 / RFC 8200 section 8.1 pseudo-header.
inline void FillTcpChecksum(const IpAddress& src, const IpAddress& dst, Frame& tcp) {
  Frame pseudo;
  if (src.IsV4()) {
    Append(pseudo, std::span<const uint8_t>(src.bytes()).subspan(12));
    Append(pseudo, std::span<const uint8_t>(dst.bytes()).subspan(12));
    PutBe16(pseudo, kIpProtoTcp);
    PutBe16(pseudo, static_cast<uint16_t>(tcp.size()));
  } else {
    Append(pseudo, src.bytes());
    Append(pseudo, dst.bytes());
    PutBe32(pseudo, static_cast<uint32_t>(tcp.size()));
    PutBe32(pseudo, kIpProtoTcp);
  }
  uint16_t sum = Checksum(tcp, OnesSum(pseudo));
  tcp[16] = static_cast<uint8_t>(sum >> 8);
  tcp[17] = static_cast<uint8_t>(sum);
}

// TCP header + payload with a valid checksum for p's addresses.
inline Frame TcpSegmentBytes(const TcpPacket& p) {
  TcpHeader h{.src_port = p.src_port,
              .dst_port = p.dst_port,
              .seq = p.seq,
              .ack = p.ack,
              .flags = p.flags,
              .window = p.window,
              .options = p.tcp_options};
  Frame tcp = BuildTcp(h, AsBytes(p.payload));
  FillTcpChecksum(Ip(p.src), Ip(p.dst), tcp);
  return tcp;
}

// The IP packet (IPv4 or IPv6, from the address family) carrying p.
inline Frame TcpIpPacket(const TcpPacket& p) {
  Frame tcp = TcpSegmentBytes(p);
  if (IsV6Text(p.src)) return BuildIpv6({.src = p.src, .dst = p.dst}, tcp);
  return BuildIpv4({.src = p.src, .dst = p.dst}, tcp);
}

// Ethernet + IP + TCP.
inline Frame EthernetTcpFrame(const TcpPacket& p, const std::vector<VlanTag>& tags = {}) {
  return BuildEthernet(IsV6Text(p.src) ? kEtherTypeIpv6 : kEtherTypeIpv4, TcpIpPacket(p), tags);
}

// --- pcap files ----------------------------------------------------------------------------

struct PcapRecord {
  Timestamp ts;
  Frame frame;            // the captured bytes
  uint32_t wire_len = 0;  // original length; 0 = frame.size()
};

// Writes a classic (microsecond) pcap file with link type `link_type` (a DLT_* value).
inline void WritePcap(const std::string& path, int link_type,
                      const std::vector<PcapRecord>& records, int snaplen = 262144) {
  std::unique_ptr<pcap_t, void (*)(pcap_t*)> dead(pcap_open_dead(link_type, snaplen), pcap_close);
  if (!dead) throw std::runtime_error("pcap_open_dead failed");
  std::unique_ptr<pcap_dumper_t, void (*)(pcap_dumper_t*)> dumper(
      pcap_dump_open(dead.get(), path.c_str()), pcap_dump_close);
  if (!dumper) throw std::runtime_error("pcap_dump_open " + path + ": " + pcap_geterr(dead.get()));
  for (const PcapRecord& r : records) {
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(r.ts.usec / 1000000);
    h.ts.tv_usec = static_cast<suseconds_t>(r.ts.usec % 1000000);
    h.caplen = static_cast<bpf_u_int32>(r.frame.size());
    h.len = r.wire_len != 0 ? r.wire_len : h.caplen;
    pcap_dump(reinterpret_cast<u_char*>(dumper.get()), &h, r.frame.data());
  }
}

}  // namespace mailtap::testing
