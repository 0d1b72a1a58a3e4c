// Link layer -> IP -> TCP decoding of one captured frame, shared by every capture source that
// sees whole frames (pcap replay today). No allocation, no exceptions: a frame that is not a
// usable TCP segment is classified by a named reason and counted.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "mailtap/packet.h"
#include "mailtap/stats.h"

namespace mailtap {

// Link types, as libpcap's pcap_datalink() reports them (DLT_* values).
namespace dlt {
inline constexpr int kNull = 0;           // BSD loopback: 4-byte address family, host byte order
inline constexpr int kEthernet = 1;       // DLT_EN10MB, with 802.1Q / QinQ tags
inline constexpr int kRaw = 12;           // DLT_RAW on Linux: bare IPv4 or IPv6
inline constexpr int kLinktypeRaw = 101;  // LINKTYPE_RAW, the value stored in files
inline constexpr int kLoop = 108;         // OpenBSD loopback: address family, network order
inline constexpr int kLinuxSll = 113;     // Linux cooked capture v1 ("any" device)
inline constexpr int kIpv4 = 228;         // bare IPv4
inline constexpr int kIpv6 = 229;         // bare IPv6
inline constexpr int kLinuxSll2 = 276;    // Linux cooked capture v2 (carries the ifindex)
}  // namespace dlt

// What became of a frame. Every value but kTcpSegment is a reason for skipping it; the names
// (DecodeResultName) are stable: they are part of the output as counter names.
enum class DecodeResult : uint8_t {
  kTcpSegment,
  kUnknownLinkType,
  kTruncatedLinkHeader,
  kNotIp,
  kTruncatedIpHeader,  // includes IPv6 extension headers and IPsec AH
  kBadIpVersion,
  kBadIpHeaderLength,
  kBadIpTotalLength,  // IPv4 total length smaller than its own header
  kIpFragment,
  kIpEsp,  // encrypted payload (IPsec ESP): nothing to analyse
  kIpv6UnsupportedExtension,
  kNotTcp,
  kTruncatedTcpHeader,
  kBadTcpDataOffset,
  kIpLengthPastFrame,  // IP length field beyond the frame's length on the wire (not a snaplen cut)
  kCount,              // not a result: the number of values
};

// "tcp_segments", "unknown_link_type", "truncated_link_header", ...
std::string_view DecodeResultName(DecodeResult result);

// Decodes `frame` (the captured bytes of one packet of link type `dlt`, which was
// `frame_wire_len` bytes long on the wire: pcap's `len`, >= frame.size() when the snaplen cut
// it; a smaller value is taken as frame.size()). On kTcpSegment fills
// every field of *out except `ts`: addresses, ports, seq/ack, flags (the six TcpFlag bits),
// window, ifindex (from Linux cooked v2 headers, else 0), payload (a view into `frame`, without
// link-layer padding) and payload_wire_len (from the IP length fields, so a frame cut by the
// snaplen has payload.size() < payload_wire_len). An IP length field that claims more than the
// frame had on the wire is kIpLengthPastFrame, never a snaplen cut. On other results *out is
// unspecified.
// Checksums are not verified: capture on the sending host sees checksum-offloaded packets.
// IP fragments are not reassembled (kIpFragment). Pure function; thread-safe.
DecodeResult DecodeFrame(int dlt, std::span<const uint8_t> frame, size_t frame_wire_len,
                         TcpSegment* out);

// DecodeFrame plus counters. Not thread-safe: Decode and VisitStats run on the thread that owns
// the decoder (readers get copies through StatsSnapshot), so counters are plain integers.
class PacketDecoder : public StatsSource {
 public:
  // True when Decode understands link type `dlt` (lets a source reject a file at start-up).
  static bool SupportsLinkType(int dlt);

  // Returns true and fills *out (including out->ts = ts) when `frame` is a TCP segment;
  // otherwise counts the reason and returns false. A segment whose payload was cut by the
  // snaplen is counted as snaplen_truncated_payload and still delivered.
  // Lifetime: out->payload points into `frame`.
  bool Decode(int dlt, Timestamp ts, std::span<const uint8_t> frame, size_t frame_wire_len,
              TcpSegment* out);

  // Group "capture": packets_total, bytes_total (captured bytes), tcp_segments,
  // snaplen_truncated_payload and one counter per skip reason.
  void VisitStats(StatsVisitor& visitor) const override;

 private:
  uint64_t packets_ = 0;
  uint64_t bytes_ = 0;
  uint64_t snaplen_truncated_ = 0;
  // Indexed by DecodeResult; [kTcpSegment] counts delivered segments.
  std::array<uint64_t, static_cast<size_t>(DecodeResult::kCount)> results_{};
};

}  // namespace mailtap
