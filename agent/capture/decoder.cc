#include "capture/decoder.h"

#include <algorithm>

namespace mailtap {
namespace {

using Bytes = std::span<const uint8_t>;
using R = DecodeResult;

// Address families carried by DLT_NULL / DLT_LOOP headers. AF_INET is 2 everywhere; AF_INET6
// differs between the BSDs, so accept each value a capture file may hold (as Wireshark does).
constexpr uint32_t kBsdAfInet = 2;
constexpr uint32_t kBsdAfInet6Net = 24;      // NetBSD, OpenBSD
constexpr uint32_t kBsdAfInet6FreeBsd = 28;  // FreeBSD, DragonFly
constexpr uint32_t kBsdAfInet6Darwin = 30;   // macOS

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;

constexpr uint8_t kProtoHopByHop = 0;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoRouting = 43;
constexpr uint8_t kProtoFragment = 44;
constexpr uint8_t kProtoEsp = 50;
constexpr uint8_t kProtoAh = 51;
constexpr uint8_t kProtoDestOpts = 60;

constexpr size_t kEthernetHeaderLen = 14;
constexpr size_t kVlanTagLen = 4;
constexpr size_t kSllHeaderLen = 16;
constexpr size_t kSll2HeaderLen = 20;
constexpr size_t kNullHeaderLen = 4;
constexpr size_t kIpv4MinHeaderLen = 20;
constexpr size_t kIpv6HeaderLen = 40;
constexpr size_t kTcpMinHeaderLen = 20;

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}
uint32_t Le32(const uint8_t* p) {
  return uint32_t{p[3]} << 24 | uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | uint32_t{p[0]};
}

// The transport part of an IP packet: the bytes captured, and how long it was on the wire.
struct Transport {
  uint8_t protocol;
  Bytes captured;
  size_t wire_len;
};

// Moves past `len` header bytes of `t`. False when they were not captured or (malformed) are
// longer than the packet itself.
bool Advance(Transport* t, size_t len) {
  if (len > t->captured.size() || len > t->wire_len) return false;
  t->captured = t->captured.subspan(len);
  t->wire_len -= len;
  return true;
}

R DecodeTcp(const Transport& t, TcpSegment* out) {
  if (t.wire_len < kTcpMinHeaderLen || t.captured.size() < kTcpMinHeaderLen) {
    return R::kTruncatedTcpHeader;
  }
  const uint8_t* h = t.captured.data();
  size_t header_len = static_cast<size_t>(h[12] >> 4) * 4;
  if (header_len < kTcpMinHeaderLen || header_len > t.wire_len) return R::kBadTcpDataOffset;
  if (header_len > t.captured.size()) return R::kTruncatedTcpHeader;
  out->src_port = Be16(h);
  out->dst_port = Be16(h + 2);
  out->seq = Be32(h + 4);
  out->ack = Be32(h + 8);
  // Only the six classic flags: ECN's ECE/CWR do not change the connection's state.
  out->flags = static_cast<uint8_t>(h[13] & 0x3f);
  out->window = Be16(h + 14);
  out->payload = t.captured.subspan(header_len);
  out->payload_wire_len = static_cast<uint32_t>(t.wire_len - header_len);
  return R::kTcpSegment;
}

// IPsec AH (RFC 4302 section 2.2): its length field counts 32-bit words minus 2, also in IPv6.
R SkipAuthHeader(Transport* t) {
  if (t->captured.size() < 2) return R::kTruncatedIpHeader;
  size_t len = (size_t{t->captured[1]} + 2) * 4;
  uint8_t next = t->captured[0];
  if (!Advance(t, len)) return R::kTruncatedIpHeader;
  t->protocol = next;
  return R::kTcpSegment;
}

// The generic IPv6 extension header (RFC 8200 section 4): next header, length in 8-octet units
// not counting the first 8 octets.
R SkipIpv6Extension(Transport* t) {
  if (t->captured.size() < 2) return R::kTruncatedIpHeader;
  size_t len = (size_t{t->captured[1]} + 1) * 8;
  uint8_t next = t->captured[0];
  if (!Advance(t, len)) return R::kTruncatedIpHeader;
  t->protocol = next;
  return R::kTcpSegment;
}

// RFC 8200 section 4.5. An "atomic fragment" (offset 0, no more fragments; RFC 6946) is a whole
// packet and is processed as one; any real fragment is skipped, as we do not reassemble.
R SkipIpv6Fragment(Transport* t) {
  constexpr size_t kFragmentHeaderLen = 8;
  if (t->captured.size() < kFragmentHeaderLen) return R::kTruncatedIpHeader;
  uint16_t offset_and_more = Be16(t->captured.data() + 2);
  if ((offset_and_more & 0xfff9) != 0) return R::kIpFragment;
  uint8_t next = t->captured[0];
  if (!Advance(t, kFragmentHeaderLen)) return R::kTruncatedIpHeader;
  t->protocol = next;
  return R::kTcpSegment;
}

// One step of the IPv6 header chain. Returns kTcpSegment to continue the walk.
R SkipIpv6Header(Transport* t) {
  switch (t->protocol) {
    case kProtoHopByHop:
    case kProtoRouting:
    case kProtoDestOpts:
      return SkipIpv6Extension(t);
    case kProtoAh:
      return SkipAuthHeader(t);
    case kProtoFragment:
      return SkipIpv6Fragment(t);
    case kProtoEsp:
      return R::kIpEsp;
    case 135:  // Mobility (RFC 6275)
    case 139:  // HIP (RFC 7401)
    case 140:  // Shim6 (RFC 5533)
    case 253:  // experimentation (RFC 3692)
    case 254:
      return R::kIpv6UnsupportedExtension;
    default:
      return R::kNotTcp;  // includes 59, No Next Header
  }
}

// Each step consumes at least 8 bytes of the packet, so the walk ends.
R DecodeIpv6Chain(Transport t, TcpSegment* out) {
  while (t.protocol != kProtoTcp) {
    R r = SkipIpv6Header(&t);
    if (r != R::kTcpSegment) return r;
  }
  return DecodeTcp(t, out);
}

R DecodeIpv4Transport(Transport t, TcpSegment* out) {
  if (t.protocol == kProtoAh) {
    R r = SkipAuthHeader(&t);
    if (r != R::kTcpSegment) return r;
  }
  if (t.protocol == kProtoEsp) return R::kIpEsp;
  if (t.protocol != kProtoTcp) return R::kNotTcp;
  return DecodeTcp(t, out);
}

// RFC 791. Bytes after the total length (Ethernet padding of short frames) are dropped.
// `uncaptured`: bytes of the frame the capture cut off (the snaplen). A total length beyond what
// was on the wire is a lie, not a cut: the receiving kernel drops such a packet (Linux ip_rcv,
// Zeek's truncated_IP), so do we, instead of reporting the difference as lost bytes.
R DecodeIpv4(Bytes ip, size_t uncaptured, TcpSegment* out) {
  if (ip.size() < kIpv4MinHeaderLen) return R::kTruncatedIpHeader;
  if ((ip[0] >> 4) != 4) return R::kBadIpVersion;
  size_t header_len = static_cast<size_t>(ip[0] & 0x0f) * 4;
  if (header_len < kIpv4MinHeaderLen) return R::kBadIpHeaderLength;
  if (header_len > ip.size()) return R::kTruncatedIpHeader;
  size_t total_len = Be16(ip.data() + 2);
  // A zero total length is what segmentation offload leaves in packets captured on the sending
  // host (the NIC fills it in); the captured length is then the best estimate.
  if (total_len == 0) total_len = ip.size();
  if (total_len < header_len) return R::kBadIpTotalLength;
  if (total_len > ip.size() + uncaptured) return R::kIpLengthPastFrame;
  // More-fragments flag or a non-zero offset.
  if ((Be16(ip.data() + 6) & 0x3fff) != 0) return R::kIpFragment;
  out->src = IpAddress::FromV4(ip.subspan<12, 4>());
  out->dst = IpAddress::FromV4(ip.subspan<16, 4>());
  out->ip_len = static_cast<uint32_t>(total_len);
  Bytes captured = ip.first(std::min(ip.size(), total_len)).subspan(header_len);
  return DecodeIpv4Transport({ip[9], captured, total_len - header_len}, out);
}

// RFC 8200. A zero payload length means a jumbogram or segmentation offload: use what was
// captured. A payload length beyond the frame is dropped, as for IPv4.
R DecodeIpv6(Bytes ip, size_t uncaptured, TcpSegment* out) {
  if (ip.size() < kIpv6HeaderLen) return R::kTruncatedIpHeader;
  if ((ip[0] >> 4) != 6) return R::kBadIpVersion;
  Bytes after = ip.subspan(kIpv6HeaderLen);
  size_t payload_len = Be16(ip.data() + 4);
  if (payload_len == 0) payload_len = after.size() + uncaptured;
  if (payload_len > after.size() + uncaptured) return R::kIpLengthPastFrame;
  out->src = IpAddress::FromV6(ip.subspan<8, 16>());
  out->dst = IpAddress::FromV6(ip.subspan<24, 16>());
  out->ip_len = static_cast<uint32_t>(kIpv6HeaderLen + payload_len);
  Bytes captured = after.first(std::min(after.size(), payload_len));
  return DecodeIpv6Chain({ip[6], captured, payload_len}, out);
}

// Bare IP: the version nibble says which.
R DecodeRawIp(Bytes ip, size_t uncaptured, TcpSegment* out) {
  if (ip.empty()) return R::kTruncatedIpHeader;
  switch (ip[0] >> 4) {
    case 4:
      return DecodeIpv4(ip, uncaptured, out);
    case 6:
      return DecodeIpv6(ip, uncaptured, out);
    default:
      return R::kBadIpVersion;
  }
}

bool IsVlanTpid(uint16_t type) {
  // 802.1Q, 802.1ad (QinQ), and the pre-standard QinQ TPID still used by some switches.
  return type == 0x8100 || type == 0x88a8 || type == 0x9100;
}

// Dispatches on an EtherType, walking any number of VLAN tags (each consumes 4 bytes).
R DecodeEtherType(uint16_t type, Bytes rest, size_t uncaptured, TcpSegment* out) {
  while (IsVlanTpid(type)) {
    if (rest.size() < kVlanTagLen) return R::kTruncatedLinkHeader;
    type = Be16(rest.data() + 2);
    rest = rest.subspan(kVlanTagLen);
  }
  switch (type) {
    case kEtherTypeIpv4:
      return DecodeIpv4(rest, uncaptured, out);
    case kEtherTypeIpv6:
      return DecodeIpv6(rest, uncaptured, out);
    default:
      return R::kNotIp;  // includes 802.3 length fields (<= 1500)
  }
}

R DecodeEthernet(Bytes frame, size_t uncaptured, TcpSegment* out) {
  if (frame.size() < kEthernetHeaderLen) return R::kTruncatedLinkHeader;
  return DecodeEtherType(Be16(frame.data() + 12), frame.subspan(kEthernetHeaderLen), uncaptured,
                         out);
}

// Linux cooked v1: packet type, ARPHRD type, address length, 8 address bytes, protocol.
R DecodeLinuxSll(Bytes frame, size_t uncaptured, TcpSegment* out) {
  if (frame.size() < kSllHeaderLen) return R::kTruncatedLinkHeader;
  return DecodeEtherType(Be16(frame.data() + 14), frame.subspan(kSllHeaderLen), uncaptured, out);
}

// Linux cooked v2: protocol, reserved, interface index, ARPHRD type, packet type, address.
R DecodeLinuxSll2(Bytes frame, size_t uncaptured, TcpSegment* out) {
  if (frame.size() < kSll2HeaderLen) return R::kTruncatedLinkHeader;
  out->ifindex = Be32(frame.data() + 4);
  return DecodeEtherType(Be16(frame.data()), frame.subspan(kSll2HeaderLen), uncaptured, out);
}

R DecodeByAddressFamily(uint32_t family, Bytes rest, size_t uncaptured, TcpSegment* out) {
  switch (family) {
    case kBsdAfInet:
      return DecodeIpv4(rest, uncaptured, out);
    case kBsdAfInet6Net:
    case kBsdAfInet6FreeBsd:
    case kBsdAfInet6Darwin:
      return DecodeIpv6(rest, uncaptured, out);
    default:
      return R::kNotIp;
  }
}

// DLT_NULL stores the family in the capturing host's byte order, which the file does not record.
// Families are small numbers, so a value with bits in the upper half was written big-endian.
R DecodeNull(Bytes frame, size_t uncaptured, TcpSegment* out) {
  if (frame.size() < kNullHeaderLen) return R::kTruncatedLinkHeader;
  uint32_t family = Le32(frame.data());
  if ((family & 0xffff0000u) != 0) family = Be32(frame.data());
  return DecodeByAddressFamily(family, frame.subspan(kNullHeaderLen), uncaptured, out);
}

R DecodeLoop(Bytes frame, size_t uncaptured, TcpSegment* out) {
  if (frame.size() < kNullHeaderLen) return R::kTruncatedLinkHeader;
  return DecodeByAddressFamily(Be32(frame.data()), frame.subspan(kNullHeaderLen), uncaptured, out);
}

struct ResultInfo {
  std::string_view name;
  std::string_view help;
  std::string_view loss_cause;  // non-empty when a skipped packet may have carried SMTP bytes
};

// Indexed by DecodeResult.
constexpr std::array<ResultInfo, static_cast<size_t>(R::kCount)> kResultInfo = {{
    {"tcp_segments", "TCP segments decoded", ""},
    {"unknown_link_type", "Frames of a link type the decoder does not handle", "unknown_link_type"},
    {"truncated_link_header", "Frames shorter than their link-layer header",
     "truncated_link_header"},
    {"not_ip", "Frames carrying neither IPv4 nor IPv6", ""},
    {"truncated_ip_header", "Packets whose IP or IP extension headers were not fully captured",
     "truncated_ip_header"},
    {"bad_ip_version", "Packets whose IP version does not match the link-layer type",
     "bad_ip_version"},
    {"bad_ip_header_length", "IPv4 packets with a header length below 20 bytes",
     "bad_ip_header_length"},
    {"bad_ip_total_length", "IPv4 packets whose total length is smaller than their header",
     "bad_ip_total_length"},
    {"ip_fragment", "IP fragments (not reassembled)", "ip_fragment"},
    {"ip_esp", "IPsec ESP packets (encrypted, not analysed)", ""},
    {"ipv6_unsupported_extension", "IPv6 packets with an extension header the decoder cannot walk",
     "ipv6_unsupported_extension"},
    {"not_tcp", "IP packets that are not TCP", ""},
    {"truncated_tcp_header", "TCP segments shorter than their header", "truncated_tcp_header"},
    {"bad_tcp_data_offset", "TCP segments with a data offset below 5 or past the packet end",
     "bad_tcp_data_offset"},
    // Not a loss: the receiving host drops such a packet too, so the server never got its bytes.
    {"ip_length_past_frame",
     "IP packets whose length field claims more bytes than the frame had on the wire (dropped, "
     "as the receiving kernel does)",
     ""},
}};

constexpr std::string_view kGroup = "capture";

}  // namespace

std::string_view DecodeResultName(DecodeResult result) {
  if (result >= R::kCount) return "invalid";
  return kResultInfo[static_cast<size_t>(result)].name;
}

DecodeResult DecodeFrame(int link_type, Bytes frame, size_t frame_wire_len, TcpSegment* out) {
  out->ifindex = 0;
  const size_t uncaptured = frame_wire_len > frame.size() ? frame_wire_len - frame.size() : 0;
  switch (link_type) {
    case dlt::kEthernet:
      return DecodeEthernet(frame, uncaptured, out);
    case dlt::kLinuxSll:
      return DecodeLinuxSll(frame, uncaptured, out);
    case dlt::kLinuxSll2:
      return DecodeLinuxSll2(frame, uncaptured, out);
    case dlt::kRaw:
    case dlt::kLinktypeRaw:
      return DecodeRawIp(frame, uncaptured, out);
    case dlt::kIpv4:
      return DecodeIpv4(frame, uncaptured, out);
    case dlt::kIpv6:
      return DecodeIpv6(frame, uncaptured, out);
    case dlt::kNull:
      return DecodeNull(frame, uncaptured, out);
    case dlt::kLoop:
      return DecodeLoop(frame, uncaptured, out);
    default:
      return R::kUnknownLinkType;
  }
}

bool PacketDecoder::SupportsLinkType(int link_type) {
  TcpSegment unused;
  return DecodeFrame(link_type, {}, 0, &unused) != R::kUnknownLinkType;
}

bool PacketDecoder::Decode(int link_type, Timestamp ts, Bytes frame, size_t frame_wire_len,
                           TcpSegment* out) {
  ++packets_;
  bytes_ += frame.size();
  R result = DecodeFrame(link_type, frame, frame_wire_len, out);
  ++results_[static_cast<size_t>(result)];
  if (result != R::kTcpSegment) return false;
  out->ts = ts;
  if (out->payload.size() < out->payload_wire_len) ++snaplen_truncated_;
  return true;
}

void PacketDecoder::VisitStats(StatsVisitor& visitor) const {
  visitor.Visit(kGroup, "packets_total", packets_, "Packets read from the capture source");
  visitor.Visit(kGroup, "bytes_total", bytes_, "Captured bytes read, link headers included");
  visitor.Visit(kGroup, "snaplen_truncated_payload", snaplen_truncated_,
                "TCP segments delivered with part of their payload not captured (snaplen)",
                StatKind::kCounter, Loss{"snaplen_truncated_payload", LossUnit::kPackets});
  for (size_t i = 0; i < kResultInfo.size(); ++i) {
    const ResultInfo& info = kResultInfo[i];
    visitor.Visit(kGroup, info.name, results_[i], info.help, StatKind::kCounter,
                  Loss{info.loss_cause, LossUnit::kPackets});
  }
}

}  // namespace mailtap
