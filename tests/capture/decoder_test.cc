#include "capture/decoder.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "capture/stats_map.h"
#include "support/packet_builder.h"

namespace mailtap {
namespace {

using testing::AsBytes;
using testing::BuildEthernet;
using testing::BuildIpv4;
using testing::BuildIpv6;
using testing::Concat;
using testing::EthernetTcpFrame;
using testing::Frame;
using testing::Ip;
using testing::StatsByName;
using testing::TcpIpPacket;
using testing::TcpPacket;
using testing::TcpSegmentBytes;
using testing::Truncated;

constexpr Timestamp kTs{1254722767529046};

std::string PayloadText(const TcpSegment& s) {
  return std::string(reinterpret_cast<const char*>(s.payload.data()), s.payload.size());
}

TcpPacket V4Packet() {
  return {.src = "192.0.2.1",
          .src_port = 40001,
          .dst = "198.51.100.7",
          .dst_port = 25,
          .seq = 0x01020304,
          .ack = 0xa0b0c0d0,
          .flags = kTcpPsh | kTcpAck,
          .window = 29200,
          .payload = "EHLO client.example\r\n"};
}

TcpPacket V6Packet() {
  return {.src = "2001:db8::10",
          .src_port = 25,
          .dst = "2001:db8:1::20",
          .dst_port = 50123,
          .seq = 4000000000u,
          .ack = 7,
          .flags = kTcpSyn | kTcpAck,
          .window = 65476,
          .payload = "220 mx.example ESMTP\r\n"};
}

// Decodes one frame with a fresh decoder; expects it to be a segment carrying `expected`.
TcpSegment DecodeOk(int link_type, const Frame& frame, const TcpPacket& expected) {
  PacketDecoder decoder;
  TcpSegment s;
  EXPECT_TRUE(decoder.Decode(link_type, kTs, frame, frame.size(), &s));
  EXPECT_EQ(s.src, Ip(expected.src));
  EXPECT_EQ(s.dst, Ip(expected.dst));
  EXPECT_EQ(s.src_port, expected.src_port);
  EXPECT_EQ(s.dst_port, expected.dst_port);
  EXPECT_EQ(s.seq, expected.seq);
  EXPECT_EQ(s.ack, expected.ack);
  EXPECT_EQ(s.flags, expected.flags);
  EXPECT_EQ(s.window, expected.window);
  EXPECT_EQ(PayloadText(s), expected.payload);
  EXPECT_EQ(s.payload_wire_len, expected.payload.size());
  EXPECT_EQ(s.ts, kTs);
  EXPECT_EQ(StatsByName(decoder)["tcp_segments"], 1u);
  return s;
}

// Expects `frame` (`wire_len` bytes long on the wire; 0: as captured) to be skipped, counted under
// `reason` and under no other reason.
void ExpectSkipped(int link_type, const Frame& frame, const std::string& reason,
                   size_t wire_len = 0) {
  PacketDecoder decoder;
  TcpSegment s;
  EXPECT_FALSE(decoder.Decode(link_type, kTs, frame, wire_len ? wire_len : frame.size(), &s))
      << reason;
  auto stats = StatsByName(decoder);
  EXPECT_EQ(stats[reason], 1u) << reason;
  uint64_t skips = 0;
  for (auto r = DecodeResult::kUnknownLinkType; r < DecodeResult::kCount;
       r = static_cast<DecodeResult>(static_cast<int>(r) + 1)) {
    skips += stats[std::string(DecodeResultName(r))];
  }
  EXPECT_EQ(skips, 1u) << "counted under more than one reason; expected " << reason;
  EXPECT_EQ(stats["tcp_segments"], 0u);
}

// --- link types ------------------------------------------------------------------------------

TEST(DecoderTest, EthernetIpv4SegmentFillsEveryField) {
  TcpSegment s = DecodeOk(dlt::kEthernet, EthernetTcpFrame(V4Packet()), V4Packet());
  EXPECT_EQ(s.ifindex, 0u);
  EXPECT_EQ(s.ip_len, 20 + 20 + V4Packet().payload.size());  // the IPv4 total length
}

TEST(DecoderTest, EthernetIpv6SegmentFillsEveryField) {
  TcpSegment s = DecodeOk(dlt::kEthernet, EthernetTcpFrame(V6Packet()), V6Packet());
  EXPECT_EQ(s.ip_len, 40 + 20 + V6Packet().payload.size());  // header + payload length
}

TEST(DecoderTest, SingleVlanTagIsWalked) {
  DecodeOk(dlt::kEthernet, EthernetTcpFrame(V4Packet(), {{testing::kTpid8021Q, 10}}), V4Packet());
}

TEST(DecoderTest, QinQTagsAreWalked) {
  DecodeOk(dlt::kEthernet,
           EthernetTcpFrame(V6Packet(), {{testing::kTpid8021ad, 20}, {testing::kTpid8021Q, 30}}),
           V6Packet());
}

TEST(DecoderTest, LegacyQinQTpidAndDeepStacksAreWalked) {
  DecodeOk(dlt::kEthernet,
           EthernetTcpFrame(
               V4Packet(),
               {{testing::kTpidQinQ, 1}, {testing::kTpid8021ad, 2}, {testing::kTpid8021Q, 3}}),
           V4Packet());
}

TEST(DecoderTest, LinuxCookedV1CarriesIpv4) {
  Frame f = testing::BuildLinuxSll(testing::kEtherTypeIpv4, TcpIpPacket(V4Packet()));
  DecodeOk(dlt::kLinuxSll, f, V4Packet());
}

TEST(DecoderTest, LinuxCookedV1WithVlanTagInPayload) {
  Frame tagged = {0x00, 0x64, 0x86, 0xdd};  // TCI 100, inner type IPv6
  testing::Append(tagged, TcpIpPacket(V6Packet()));
  DecodeOk(dlt::kLinuxSll, testing::BuildLinuxSll(testing::kTpid8021Q, tagged), V6Packet());
}

TEST(DecoderTest, LinuxCookedV2CarriesIpv6AndInterfaceIndex) {
  Frame f = testing::BuildLinuxSll2(testing::kEtherTypeIpv6, 7, TcpIpPacket(V6Packet()));
  TcpSegment s = DecodeOk(dlt::kLinuxSll2, f, V6Packet());
  EXPECT_EQ(s.ifindex, 7u);
}

TEST(DecoderTest, RawIpChoosesVersionFromFirstNibble) {
  for (int link_type : {dlt::kRaw, dlt::kLinktypeRaw}) {
    DecodeOk(link_type, TcpIpPacket(V4Packet()), V4Packet());
    DecodeOk(link_type, TcpIpPacket(V6Packet()), V6Packet());
  }
}

TEST(DecoderTest, BareIpv4AndIpv6LinkTypes) {
  DecodeOk(dlt::kIpv4, TcpIpPacket(V4Packet()), V4Packet());
  DecodeOk(dlt::kIpv6, TcpIpPacket(V6Packet()), V6Packet());
}

TEST(DecoderTest, NullLinkTypeInEitherByteOrder) {
  using testing::BuildNull;
  using testing::ByteOrder;
  for (ByteOrder order : {ByteOrder::kLittle, ByteOrder::kBig}) {
    DecodeOk(dlt::kNull, BuildNull(testing::kBsdAfInet, TcpIpPacket(V4Packet()), order),
             V4Packet());
    for (uint32_t af6 :
         {testing::kBsdAfInet6OpenBsd, testing::kBsdAfInet6FreeBsd, testing::kBsdAfInet6Darwin}) {
      DecodeOk(dlt::kNull, BuildNull(af6, TcpIpPacket(V6Packet()), order), V6Packet());
    }
  }
}

TEST(DecoderTest, LoopLinkTypeUsesNetworkByteOrder) {
  DecodeOk(dlt::kLoop, testing::BuildLoop(testing::kBsdAfInet, TcpIpPacket(V4Packet())),
           V4Packet());
  DecodeOk(dlt::kLoop, testing::BuildLoop(testing::kBsdAfInet6OpenBsd, TcpIpPacket(V6Packet())),
           V6Packet());
  // Little-endian AF_INET read in network order is 0x02000000: not a known family.
  ExpectSkipped(
      dlt::kLoop,
      testing::BuildNull(testing::kBsdAfInet, TcpIpPacket(V4Packet()), testing::ByteOrder::kLittle),
      "not_ip");
}

TEST(DecoderTest, SupportsExactlyTheDecodedLinkTypes) {
  for (int t : {0, 1, 12, 101, 108, 113, 228, 229, 276}) {
    EXPECT_TRUE(PacketDecoder::SupportsLinkType(t)) << t;
  }
  for (int t : {-1, 2, 9, 105, 127, 147, 65535}) EXPECT_FALSE(PacketDecoder::SupportsLinkType(t));
}

// --- IPv4 ------------------------------------------------------------------------------------

TEST(DecoderTest, Ipv4OptionsAreSkipped) {
  TcpPacket p = V4Packet();
  Frame ip = BuildIpv4({.src = p.src, .dst = p.dst, .options = {0x94, 0x04, 0, 0, 1, 1, 1, 0}},
                       TcpSegmentBytes(p));
  ASSERT_EQ(ip[0], 0x47);  // IHL 7: 8 option bytes
  DecodeOk(dlt::kRaw, ip, p);
}

TEST(DecoderTest, TcpOptionsAreSkipped) {
  TcpPacket p = V4Packet();
  p.tcp_options = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 1, 1};  // MSS, NOP, WS, SACK-permitted
  DecodeOk(dlt::kEthernet, EthernetTcpFrame(p), p);
}

TEST(DecoderTest, EthernetPaddingAfterShortPacketIsTrimmed) {
  TcpPacket p = V4Packet();
  p.payload = "";
  Frame f = EthernetTcpFrame(p);
  ASSERT_EQ(f.size(), 54u);
  f.resize(60, 0);  // minimum Ethernet frame: 6 bytes of padding
  DecodeOk(dlt::kEthernet, f, p);

  p.payload = "QU";
  Frame g = EthernetTcpFrame(p);
  g.resize(60, 0xee);
  DecodeOk(dlt::kEthernet, g, p);
}

TEST(DecoderTest, Ipv6TrailingBytesAfterPayloadLengthAreTrimmed) {
  Frame f = EthernetTcpFrame(V6Packet());
  f.insert(f.end(), {0xde, 0xad, 0xbe, 0xef});
  DecodeOk(dlt::kEthernet, f, V6Packet());
}

TEST(DecoderTest, Ipv4ZeroTotalLengthFromOffloadUsesCapturedLength) {
  TcpPacket p = V4Packet();
  Frame ip = BuildIpv4({.src = p.src, .dst = p.dst, .total_length = 0}, TcpSegmentBytes(p));
  DecodeOk(dlt::kRaw, ip, p);
}

TEST(DecoderTest, Ipv4AuthenticationHeaderIsWalked) {
  TcpPacket p = V4Packet();
  Frame ip = BuildIpv4({.src = p.src, .dst = p.dst, .protocol = 51},
                       Concat(testing::AuthHeader(testing::kIpProtoTcp), TcpSegmentBytes(p)));
  DecodeOk(dlt::kRaw, ip, p);
}

TEST(DecoderTest, EcnFlagsAreNotReported) {
  TcpPacket p = V4Packet();
  Frame f = EthernetTcpFrame(p);
  f[14 + 20 + 13] |= 0xc0;  // ECE + CWR
  DecodeOk(dlt::kEthernet, f, p);
}

// --- IPv6 extension headers --------------------------------------------------------------------

Frame Ipv6WithChain(uint8_t first, const Frame& chain_and_tcp) {
  TcpPacket p = V6Packet();
  return BuildIpv6({.src = p.src, .dst = p.dst, .next_header = first}, chain_and_tcp);
}

TEST(DecoderTest, Ipv6ExtensionChainIsWalked) {
  using namespace testing;
  // Hop-by-hop -> routing -> destination options -> AH -> TCP; each header names the next.
  Frame chain = Ipv6Extension(kIpv6Routing);
  Append(chain, Ipv6Extension(kIpv6DestOpts, 2));
  Append(chain, Ipv6Extension(kIpv6Ah, 1));
  Append(chain, AuthHeader(kIpProtoTcp));
  Append(chain, TcpSegmentBytes(V6Packet()));
  DecodeOk(dlt::kRaw, Ipv6WithChain(kIpv6HopByHop, chain), V6Packet());
}

TEST(DecoderTest, Ipv6AtomicFragmentIsAWholePacket) {
  using namespace testing;
  Frame chain = Concat(Ipv6FragmentHeader(kIpProtoTcp, 0, false), TcpSegmentBytes(V6Packet()));
  DecodeOk(dlt::kRaw, Ipv6WithChain(kIpv6Fragment, chain), V6Packet());
}

TEST(DecoderTest, Ipv6FirstAndLaterFragmentsAreSkipped) {
  using namespace testing;
  Frame first = Concat(Ipv6FragmentHeader(kIpProtoTcp, 0, true), TcpSegmentBytes(V6Packet()));
  ExpectSkipped(dlt::kRaw, Ipv6WithChain(kIpv6Fragment, first), "ip_fragment");
  Frame later = Concat(Ipv6FragmentHeader(kIpProtoTcp, 185, false), AsBytes("tail"));
  ExpectSkipped(dlt::kRaw, Ipv6WithChain(kIpv6Fragment, later), "ip_fragment");
  Frame after_hbh = Concat(Ipv6Extension(kIpv6Fragment), first);
  ExpectSkipped(dlt::kRaw, Ipv6WithChain(kIpv6HopByHop, after_hbh), "ip_fragment");
}

TEST(DecoderTest, Ipv6EspIsCountedAsEncrypted) {
  ExpectSkipped(dlt::kRaw, Ipv6WithChain(testing::kIpv6Esp, Frame(40, 0x55)), "ip_esp");
}

TEST(DecoderTest, Ipv6NoNextHeaderIsNotTcp) {
  ExpectSkipped(dlt::kRaw, Ipv6WithChain(testing::kIpv6NoNext, {}), "not_tcp");
  Frame hbh_then_none = testing::Ipv6Extension(testing::kIpv6NoNext);
  ExpectSkipped(dlt::kRaw, Ipv6WithChain(testing::kIpv6HopByHop, hbh_then_none), "not_tcp");
}

TEST(DecoderTest, Ipv6MobilityHeaderIsUnsupported) {
  Frame chain = testing::Ipv6Extension(135);
  ExpectSkipped(dlt::kRaw, Ipv6WithChain(testing::kIpv6HopByHop, chain),
                "ipv6_unsupported_extension");
  ExpectSkipped(dlt::kRaw, Ipv6WithChain(139, Frame(16, 0)), "ipv6_unsupported_extension");
}

TEST(DecoderTest, Ipv6ExtensionHeaderCutShortIsTruncatedIpHeader) {
  Frame chain = testing::Ipv6Extension(testing::kIpProtoTcp, 3);  // 32 bytes
  Frame ip = Ipv6WithChain(testing::kIpv6HopByHop, chain);
  ExpectSkipped(dlt::kRaw, Truncated(ip, 40 + 20), "truncated_ip_header", ip.size());
  ExpectSkipped(dlt::kRaw, Truncated(ip, 40 + 1), "truncated_ip_header", ip.size());
  // Length field pointing past the end of the packet itself.
  Frame lying = Ipv6WithChain(testing::kIpv6HopByHop, testing::Ipv6Extension(6, 0));
  lying[41] = 200;
  ExpectSkipped(dlt::kRaw, lying, "truncated_ip_header");
  Frame short_ah = Ipv6WithChain(testing::kIpv6Ah, Truncated(testing::AuthHeader(6), 16));
  ExpectSkipped(dlt::kRaw, short_ah, "truncated_ip_header");
}

// --- snaplen -----------------------------------------------------------------------------------

TEST(DecoderTest, SnaplenCutPayloadIsDeliveredAndCounted) {
  TcpPacket p = V4Packet();
  Frame f = EthernetTcpFrame(p);
  PacketDecoder decoder;
  TcpSegment s;
  Frame cut = Truncated(f, f.size() - 5);  // outlives s.payload
  ASSERT_TRUE(decoder.Decode(dlt::kEthernet, kTs, cut, f.size(), &s));
  EXPECT_EQ(PayloadText(s), p.payload.substr(0, p.payload.size() - 5));
  EXPECT_EQ(s.payload_wire_len, p.payload.size());
  auto stats = StatsByName(decoder);
  EXPECT_EQ(stats["snaplen_truncated_payload"], 1u);
  EXPECT_EQ(stats["tcp_segments"], 1u);
}

TEST(DecoderTest, SnaplenCutAtEndOfTcpHeaderDeliversEmptyPayload) {
  TcpPacket p = V6Packet();
  Frame f = EthernetTcpFrame(p);
  PacketDecoder decoder;
  TcpSegment s;
  Frame cut = Truncated(f, 14 + 40 + 20);
  ASSERT_TRUE(decoder.Decode(dlt::kEthernet, kTs, cut, f.size(), &s));
  EXPECT_TRUE(s.payload.empty());
  EXPECT_EQ(s.payload_wire_len, p.payload.size());
  EXPECT_EQ(StatsByName(decoder)["snaplen_truncated_payload"], 1u);
}

TEST(DecoderTest, CompleteSegmentIsNotCountedAsSnaplenTruncated) {
  PacketDecoder decoder;
  TcpSegment s;
  Frame f = EthernetTcpFrame(V4Packet());
  ASSERT_TRUE(decoder.Decode(dlt::kEthernet, kTs, f, f.size(), &s));
  EXPECT_EQ(StatsByName(decoder)["snaplen_truncated_payload"], 0u);
}

// Issue 17: a session whose IPv4 total lengths claimed 64 KiB in frames captured whole was
// reported as 131,265 bytes lost to the snaplen. The frame's wire length tells a lie from a cut.
TEST(DecoderTest, Ipv4TotalLengthLargerThanCapturedFrameIsNotSnaplenTruncation) {
  TcpPacket p = V4Packet();
  Frame f = EthernetTcpFrame(p);
  f[14 + 2] = 0xff;  // total length 65535
  f[14 + 3] = 0xff;
  ExpectSkipped(dlt::kEthernet, f, "ip_length_past_frame");
  // The same frame cut by a snaplen from a 65,549-byte frame is a cut, not a lie.
  PacketDecoder decoder;
  TcpSegment s;
  ASSERT_TRUE(decoder.Decode(dlt::kEthernet, kTs, f, 14 + 65535, &s));
  EXPECT_EQ(s.payload_wire_len, 65535u - 20 - 20);
  EXPECT_EQ(StatsByName(decoder)["snaplen_truncated_payload"], 1u);
  // Longer than the wire frame even after a snaplen cut.
  ExpectSkipped(dlt::kEthernet, Truncated(f, 60), "ip_length_past_frame", f.size());
}

TEST(DecoderTest, Ipv6PayloadLengthLargerThanCapturedFrameIsNotSnaplenTruncation) {
  Frame f = EthernetTcpFrame(V6Packet());
  f[14 + 4] = 0x40;  // payload length 16,384 + what it was
  ExpectSkipped(dlt::kEthernet, f, "ip_length_past_frame");
  PacketDecoder decoder;
  TcpSegment s;
  ASSERT_TRUE(decoder.Decode(dlt::kEthernet, kTs, f, 14 + 40 + (f[14 + 4] << 8 | f[14 + 5]), &s));
  EXPECT_EQ(StatsByName(decoder)["snaplen_truncated_payload"], 1u);
}

// --- every skip reason -------------------------------------------------------------------------

TEST(DecoderTest, UnknownLinkType) {
  ExpectSkipped(105, EthernetTcpFrame(V4Packet()), "unknown_link_type");  // 802.11
}

TEST(DecoderTest, TruncatedLinkHeader) {
  Frame eth = EthernetTcpFrame(V4Packet(), {{testing::kTpid8021ad, 1}, {testing::kTpid8021Q, 2}});
  ExpectSkipped(dlt::kEthernet, Truncated(eth, 13), "truncated_link_header");
  ExpectSkipped(dlt::kEthernet, Truncated(eth, 16), "truncated_link_header");  // inside tags
  Frame sll = testing::BuildLinuxSll(testing::kEtherTypeIpv4, TcpIpPacket(V4Packet()));
  ExpectSkipped(dlt::kLinuxSll, Truncated(sll, 15), "truncated_link_header");
  Frame sll2 = testing::BuildLinuxSll2(testing::kEtherTypeIpv4, 1, TcpIpPacket(V4Packet()));
  ExpectSkipped(dlt::kLinuxSll2, Truncated(sll2, 19), "truncated_link_header");
  ExpectSkipped(dlt::kNull, Frame{2, 0, 0}, "truncated_link_header");
  ExpectSkipped(dlt::kLoop, Frame{}, "truncated_link_header");
}

TEST(DecoderTest, NotIp) {
  ExpectSkipped(dlt::kEthernet, BuildEthernet(testing::kEtherTypeArp, Frame(28, 0)), "not_ip");
  ExpectSkipped(dlt::kEthernet, BuildEthernet(46, Frame(46, 0)), "not_ip");  // 802.3 length
  ExpectSkipped(dlt::kLinuxSll2, testing::BuildLinuxSll2(0x0003, 2, Frame(40, 0)), "not_ip");
  ExpectSkipped(dlt::kNull,
                testing::BuildNull(7, TcpIpPacket(V4Packet()), testing::ByteOrder::kLittle),
                "not_ip");
}

TEST(DecoderTest, TruncatedIpHeader) {
  Frame v4 = EthernetTcpFrame(V4Packet());
  ExpectSkipped(dlt::kEthernet, Truncated(v4, 14 + 19), "truncated_ip_header");
  Frame v4opt = BuildIpv4({.options = Frame(8, 1)}, TcpSegmentBytes(V4Packet()));
  ExpectSkipped(dlt::kRaw, Truncated(v4opt, 24), "truncated_ip_header");  // IHL 7, 24 captured
  Frame v6 = EthernetTcpFrame(V6Packet());
  ExpectSkipped(dlt::kEthernet, Truncated(v6, 14 + 39), "truncated_ip_header");
  ExpectSkipped(dlt::kRaw, Frame{}, "truncated_ip_header");
}

TEST(DecoderTest, BadIpVersion) {
  // An IPv6 packet behind an IPv4 EtherType, and the other way round.
  ExpectSkipped(dlt::kEthernet, BuildEthernet(testing::kEtherTypeIpv4, TcpIpPacket(V6Packet())),
                "bad_ip_version");
  ExpectSkipped(dlt::kEthernet, BuildEthernet(testing::kEtherTypeIpv6, TcpIpPacket(V4Packet())),
                "bad_ip_version");
  ExpectSkipped(dlt::kRaw, BuildIpv4({.version = 5}, TcpSegmentBytes(V4Packet())),
                "bad_ip_version");
  ExpectSkipped(dlt::kIpv6, BuildIpv6({.version = 4}, TcpSegmentBytes(V6Packet())),
                "bad_ip_version");
}

TEST(DecoderTest, BadIpHeaderLength) {
  ExpectSkipped(dlt::kRaw, BuildIpv4({.header_length_words = 4}, TcpSegmentBytes(V4Packet())),
                "bad_ip_header_length");
  ExpectSkipped(dlt::kRaw, BuildIpv4({.header_length_words = 0}, TcpSegmentBytes(V4Packet())),
                "bad_ip_header_length");
}

TEST(DecoderTest, BadIpTotalLength) {
  ExpectSkipped(dlt::kRaw, BuildIpv4({.total_length = 19}, TcpSegmentBytes(V4Packet())),
                "bad_ip_total_length");
}

TEST(DecoderTest, Ipv4FragmentsAreSkipped) {
  Frame tcp = TcpSegmentBytes(V4Packet());
  ExpectSkipped(dlt::kRaw, BuildIpv4({.flags_fragment = 0x2000}, tcp), "ip_fragment");  // MF
  ExpectSkipped(dlt::kRaw, BuildIpv4({.flags_fragment = 0x0010}, tcp), "ip_fragment");  // offset
  ExpectSkipped(dlt::kRaw, BuildIpv4({.protocol = 17, .flags_fragment = 0x2000}, tcp),
                "ip_fragment");
}

TEST(DecoderTest, Ipv4DontFragmentAloneIsNotAFragment) {
  TcpPacket p = V4Packet();
  DecodeOk(dlt::kRaw,
           BuildIpv4({.src = p.src, .dst = p.dst, .flags_fragment = 0x4000}, TcpSegmentBytes(p)),
           p);
}

TEST(DecoderTest, Ipv4EspIsCountedAsEncrypted) {
  ExpectSkipped(dlt::kRaw, BuildIpv4({.protocol = 50}, Frame(40, 0x55)), "ip_esp");
}

TEST(DecoderTest, NotTcp) {
  ExpectSkipped(dlt::kRaw, BuildIpv4({.protocol = testing::kIpProtoUdp}, Frame(8, 0)), "not_tcp");
  ExpectSkipped(dlt::kRaw, BuildIpv6({.next_header = 58}, Frame(8, 0)), "not_tcp");  // ICMPv6
  Frame ah_then_udp =
      BuildIpv4({.protocol = 51}, Concat(testing::AuthHeader(testing::kIpProtoUdp), Frame(8, 0)));
  ExpectSkipped(dlt::kRaw, ah_then_udp, "not_tcp");
}

TEST(DecoderTest, TruncatedTcpHeader) {
  Frame tcp = TcpSegmentBytes(V4Packet());
  // Captured short of 20 TCP bytes.
  ExpectSkipped(dlt::kRaw, Truncated(BuildIpv4({}, tcp), 20 + 19), "truncated_tcp_header",
                20 + tcp.size());
  // The IP packet itself too short to hold a TCP header.
  ExpectSkipped(dlt::kRaw, BuildIpv4({}, Truncated(tcp, 12)), "truncated_tcp_header");
  // Options announced by the data offset not captured (snaplen inside the header).
  TcpPacket p = V4Packet();
  p.tcp_options = Frame(12, 1);
  Frame with_options = TcpIpPacket(p);
  ExpectSkipped(dlt::kRaw, Truncated(with_options, 20 + 24), "truncated_tcp_header",
                with_options.size());
}

TEST(DecoderTest, BadTcpDataOffset) {
  testing::TcpHeader below_minimum{.data_offset_words = 4};
  ExpectSkipped(dlt::kRaw, BuildIpv4({}, testing::BuildTcp(below_minimum, AsBytes("x"))),
                "bad_tcp_data_offset");
  testing::TcpHeader past_end{.data_offset_words = 15};  // 60 bytes > 20 + 3 in the packet
  ExpectSkipped(dlt::kRaw, BuildIpv4({}, testing::BuildTcp(past_end, AsBytes("abc"))),
                "bad_tcp_data_offset");
}

// --- counters ----------------------------------------------------------------------------------

TEST(DecoderTest, CountsPacketsAndCapturedBytes) {
  PacketDecoder decoder;
  TcpSegment s;
  Frame a = EthernetTcpFrame(V4Packet());
  Frame b = BuildEthernet(testing::kEtherTypeArp, Frame(28, 0));
  decoder.Decode(dlt::kEthernet, kTs, a, a.size(), &s);
  decoder.Decode(dlt::kEthernet, kTs, b, b.size(), &s);
  auto stats = StatsByName(decoder);
  EXPECT_EQ(stats["packets_total"], 2u);
  EXPECT_EQ(stats["bytes_total"], a.size() + b.size());
  EXPECT_EQ(stats["tcp_segments"], 1u);
  EXPECT_EQ(stats["not_ip"], 1u);
}

TEST(DecoderTest, StatsAreInCaptureGroupAndLossCountersNameACause) {
  PacketDecoder decoder;
  for (const StatSample& sample : CollectStats({&decoder})) {
    EXPECT_EQ(sample.group, "capture");
    EXPECT_FALSE(sample.help.empty()) << sample.name;
  }
  auto samples = CollectStats({&decoder});
  auto find = [&](const std::string& name) {
    for (const auto& s : samples) {
      if (s.name == name) return s;
    }
    ADD_FAILURE() << "no statistic " << name;
    return StatSample{};
  };
  EXPECT_EQ(find("ip_fragment").loss_cause, "ip_fragment");
  EXPECT_EQ(find("ip_fragment").loss_unit, "packets");
  EXPECT_EQ(find("snaplen_truncated_payload").loss_cause, "snaplen_truncated_payload");
  EXPECT_TRUE(find("not_tcp").loss_cause.empty());
  EXPECT_TRUE(find("not_ip").loss_cause.empty());
}

// --- robustness ----------------------------------------------------------------------------------

// Valid frames of every link type, to be cut and corrupted.
std::vector<std::pair<int, Frame>> SeedFrames() {
  using namespace testing;
  Frame v4 = TcpIpPacket(V4Packet());
  Frame v6 = TcpIpPacket(V6Packet());
  Frame chain = Concat(Ipv6Extension(kIpv6Routing), AuthHeader(kIpProtoTcp));
  Append(chain, TcpSegmentBytes(V6Packet()));
  Frame v6ext = BuildIpv6({.src = V6Packet().src, .dst = V6Packet().dst, .next_header = 0},
                          Concat(Ipv6Extension(kIpv6Fragment),
                                 Concat(Ipv6FragmentHeader(kIpv6Routing, 0, false), chain)));
  return {
      {dlt::kEthernet, EthernetTcpFrame(V4Packet(), {{kTpid8021ad, 1}, {kTpid8021Q, 2}})},
      {dlt::kEthernet, BuildEthernet(kEtherTypeIpv6, v6ext)},
      {dlt::kLinuxSll, BuildLinuxSll(kEtherTypeIpv4, v4)},
      {dlt::kLinuxSll2, BuildLinuxSll2(kEtherTypeIpv6, 3, v6)},
      {dlt::kRaw, v6ext},
      {dlt::kLinktypeRaw, v4},
      {dlt::kIpv4, v4},
      {dlt::kIpv6, v6},
      {dlt::kNull, BuildNull(kBsdAfInet6Darwin, v6, ByteOrder::kBig)},
      {dlt::kLoop, BuildLoop(kBsdAfInet, v4)},
  };
}

// Whatever the bytes, a frame is either a segment whose payload lies inside the frame, or
// exactly one skip reason; nothing crashes.
void CheckInvariants(const PacketDecoder& decoder, uint64_t frames) {
  auto stats = StatsByName(decoder);
  uint64_t accounted = stats["tcp_segments"];
  for (auto r = DecodeResult::kUnknownLinkType; r < DecodeResult::kCount;
       r = static_cast<DecodeResult>(static_cast<int>(r) + 1)) {
    accounted += stats[std::string(DecodeResultName(r))];
  }
  EXPECT_EQ(stats["packets_total"], frames);
  EXPECT_EQ(accounted, frames);
}

// `wire_len`: the frame's length before the cut that made `f`.
void DecodeChecked(PacketDecoder& decoder, int link_type, const Frame& f, size_t wire_len) {
  TcpSegment s;
  if (!decoder.Decode(link_type, kTs, f, wire_len, &s)) return;
  if (!s.payload.empty()) {
    ASSERT_GE(s.payload.data(), f.data());
    ASSERT_LE(s.payload.data() + s.payload.size(), f.data() + f.size());
  }
  ASSERT_LE(s.payload.size(), s.payload_wire_len);
}

TEST(DecoderTest, EveryTruncationOfValidFramesIsHandled) {
  PacketDecoder decoder;
  uint64_t frames = 0;
  for (const auto& [link_type, frame] : SeedFrames()) {
    for (size_t len = 0; len <= frame.size(); ++len) {
      DecodeChecked(decoder, link_type, Truncated(frame, len), frame.size());
      ++frames;
    }
  }
  CheckInvariants(decoder, frames);
}

TEST(DecoderTest, RandomlyCorruptedFramesNeverCrash) {
  std::mt19937 rng(20240115);  // fixed seed: reproducible
  PacketDecoder decoder;
  uint64_t frames = 0;
  for (const auto& [link_type, seed] : SeedFrames()) {
    for (int round = 0; round < 3000; ++round) {
      Frame f = seed;
      int flips = 1 + static_cast<int>(rng() % 6);
      for (int i = 0; i < flips; ++i) f[rng() % f.size()] = static_cast<uint8_t>(rng());
      const size_t wire_len = f.size();
      f.resize(rng() % (f.size() + 1));
      DecodeChecked(decoder, link_type, f, wire_len);
      ++frames;
    }
  }
  CheckInvariants(decoder, frames);
}

TEST(DecoderTest, RandomBytesNeverCrash) {
  std::mt19937 rng(42);
  PacketDecoder decoder;
  uint64_t frames = 0;
  for (int link_type : {0, 1, 12, 101, 108, 113, 228, 229, 276, 9999}) {
    for (int round = 0; round < 2000; ++round) {
      Frame f(rng() % 128);
      for (auto& b : f) b = static_cast<uint8_t>(rng());
      // Make the interesting paths likely: a plausible version nibble or EtherType.
      if (f.size() > 20 && round % 2 == 0)
        f[0] = static_cast<uint8_t>((round % 4 == 0 ? 0x45 : 0x60));
      DecodeChecked(decoder, link_type, f, f.size() + rng() % 256);
      ++frames;
    }
  }
  CheckInvariants(decoder, frames);
}

}  // namespace
}  // namespace mailtap
