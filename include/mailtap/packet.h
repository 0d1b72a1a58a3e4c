// Value types for what the capture layer hands to the flow table: a timestamp, an IP address
// and one decoded TCP segment. Standard library only.
#pragma once

#include <array>
#include <bit>
#include <compare>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

namespace mailtap {

// Time of a packet, in microseconds since the Unix epoch. All timing in the pipeline (idle
// timeouts, event `ts`) is packet time, never the wall clock, so replays are deterministic.
struct Timestamp {
  int64_t usec = 0;
  auto operator<=>(const Timestamp&) const = default;
};

// Whether `span` has passed from `since` to `now`. Capture times are whatever the input says, so
// the difference is taken without overflow (a wrapped one would be undefined behaviour).
inline bool HasElapsed(Timestamp since, Timestamp now, Timestamp span) {
  int64_t elapsed = 0;
  if (__builtin_sub_overflow(now.usec, since.usec, &elapsed)) return now.usec > since.usec;
  return elapsed >= span.usec;
}

// "1254722767.529046": seconds since the epoch with exactly six decimals, as Zeek prints `ts`.
std::string FormatTimestamp(Timestamp ts);
void AppendTimestamp(Timestamp ts, std::string* out);  // the same, appended to *out

// An IPv4 or IPv6 address. IPv4 is stored as an IPv4-mapped IPv6 address (::ffff:a.b.c.d) so that
// comparisons and hashing need no branch; ToString() prints IPv4 dotted and IPv6 per RFC 5952.
class IpAddress {
 public:
  IpAddress() = default;
  static IpAddress FromV4(std::span<const uint8_t, 4> bytes);
  static IpAddress FromV6(std::span<const uint8_t, 16> bytes);
  // Parses dotted IPv4 or textual IPv6; returns false (and leaves *out untouched) if invalid.
  static bool Parse(const std::string& text, IpAddress* out);

  bool IsV4() const;
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  std::string ToString() const;
  void AppendTo(std::string* out) const;  // ToString() appended to *out

  // Byte order (lexicographic), as the default would be, but as two 64-bit comparisons instead
  // of a memcmp call: flow keys compare and order two addresses for every packet.
  bool operator==(const IpAddress& other) const {
    return Word(0) == other.Word(0) && Word(1) == other.Word(1);
  }
  std::strong_ordering operator<=>(const IpAddress& other) const {
    if (auto c = Word(0) <=> other.Word(0); c != 0) return c;
    return Word(1) <=> other.Word(1);
  }

 private:
  // The i-th 8 bytes as a big-endian number, so that numeric order is byte order.
  uint64_t Word(int i) const {
    uint64_t w;
    std::memcpy(&w, bytes_.data() + 8 * i, sizeof w);
    if constexpr (std::endian::native == std::endian::little) w = __builtin_bswap64(w);
    return w;
  }

  std::array<uint8_t, 16> bytes_{};
};

enum TcpFlag : uint8_t {
  kTcpFin = 0x01,
  kTcpSyn = 0x02,
  kTcpRst = 0x04,
  kTcpPsh = 0x08,
  kTcpAck = 0x10,
  kTcpUrg = 0x20,
};

// One TCP segment as decoded by a capture source.
// Lifetime: `payload` points into the capture source's buffer and is valid only until the next
// call to CaptureSource::Next().
struct TcpSegment {
  Timestamp ts;
  IpAddress src;
  IpAddress dst;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;  // TcpFlag bits
  uint16_t window = 0;
  uint32_t ifindex = 0;  // capturing interface (0 = unknown, e.g. pcap files)
  // The payload bytes that were captured.
  std::span<const uint8_t> payload;
  // The payload length on the wire, from the IP header. Larger than payload.size() when the
  // capture cut the packet (snaplen, ring-buffer record limit); the reassembler then reports
  // the missing bytes as a gap instead of losing them silently.
  uint32_t payload_wire_len = 0;
  // The IP packet's length on the wire, headers included (IPv4 total length; IPv6 payload length
  // + 40), for conn.log's IP byte counts. 0 = unknown (live capture records do not carry it).
  uint32_t ip_len = 0;

  bool Has(TcpFlag f) const { return (flags & f) != 0; }
};

}  // namespace mailtap
