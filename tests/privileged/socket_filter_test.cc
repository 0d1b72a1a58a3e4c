// Runs the real socket filter (bpf/mailtap.bpf.c) in the running kernel on crafted frames, with
// BPF_PROG_TEST_RUN: the kernel builds an skb of the frame as received on lo and runs the program
// on it once. For packets no real peer sends (a lying IP length) and shapes a test host cannot
// make on demand (BIG TCP's length 0). The filter's verdict is read from its own counters.
// Needs root; skips loudly otherwise, and fails instead of skipping under CI=true.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "live_fixture.h"
#include "mailtap/bpf_abi.h"
#include "socket_filter_runner.h"
#include "support/packet_builder.h"

namespace mailtap {
namespace {

using testing::EthernetTcpFrame;
using testing::Frame;
using testing::TcpPacket;

constexpr size_t kEthernet = 14;
const std::string kPayload(1000, 'x');  // longer than the smallest record size class

TcpPacket V4Segment() {
  return TcpPacket{.src = "127.0.0.1", .dst = "127.0.0.1", .dst_port = 25, .payload = kPayload};
}

TcpPacket V6Segment() {
  return TcpPacket{.src = "::1", .dst = "::1", .dst_port = 25, .payload = kPayload};
}

// Overwrites the 16-bit length field at `offset` of the IP header (IPv4 total length: 2; IPv6
// payload length: 4). The IPv4 header checksum is left stale: the filter does not check it.
Frame WithIpLength(Frame frame, size_t offset, uint32_t length) {
  frame[kEthernet + offset] = static_cast<uint8_t>(length >> 8);
  frame[kEthernet + offset + 1] = static_cast<uint8_t>(length);
  return frame;
}

uint32_t Ipv4TotalLength(const Frame& f) {
  return uint32_t{f[kEthernet + 2]} << 8 | f[kEthernet + 3];
}
uint32_t Ipv6PayloadLength(const Frame& f) {
  return uint32_t{f[kEthernet + 4]} << 8 | f[kEthernet + 5];
}

class SocketFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MAILTAP_SKIP_OR_FAIL(live_test::LiveCaptureUnavailableReason());
    filter_ = std::make_unique<live_test::SocketFilterRunner>(PortSet{25});
  }

  void Run(const Frame& frame) {
    const int64_t verdict = filter_->Run(frame);
    ASSERT_NE(verdict, -1) << "BPF_PROG_TEST_RUN: " << std::strerror(errno);
    EXPECT_EQ(verdict, 0) << "the filter must never queue a packet on its socket";
  }

  uint64_t Count(mailtap_counter c) const { return filter_->Count(c); }

  // The packet went whole into the ring: `payload` bytes on the wire, all copied.
  void ExpectCopiedWhole(uint64_t payload) const {
    EXPECT_EQ(Count(MAILTAP_CTR_MATCHED), 1u);
    EXPECT_EQ(Count(MAILTAP_CTR_MATCHED_BYTES), payload);
    EXPECT_EQ(Count(MAILTAP_CTR_RECORD_BYTES), payload);
    EXPECT_EQ(Count(MAILTAP_CTR_TRUNCATED), 0u);
    EXPECT_EQ(Count(MAILTAP_CTR_IP_LENGTH_PAST_FRAME), 0u);
  }

  // Dropped under its own cause: nothing matched, copied or counted as truncated (lost).
  void ExpectDroppedAsLengthPastFrame(uint64_t packets) const {
    EXPECT_EQ(Count(MAILTAP_CTR_IP_LENGTH_PAST_FRAME), packets);
    EXPECT_EQ(Count(MAILTAP_CTR_MATCHED), 0u);
    EXPECT_EQ(Count(MAILTAP_CTR_RECORDS), 0u);
    EXPECT_EQ(Count(MAILTAP_CTR_TRUNCATED), 0u);
    EXPECT_EQ(Count(MAILTAP_CTR_TRUNCATED_BYTES), 0u);
    EXPECT_EQ(Count(MAILTAP_CTR_UNKNOWN_LINK), 0u);
  }

  std::unique_ptr<live_test::SocketFilterRunner> filter_;
};

TEST_F(SocketFilterTest, ExactIpLengthsAreCopiedWhole) {
  Run(EthernetTcpFrame(V4Segment()));
  ExpectCopiedWhole(kPayload.size());
}

TEST_F(SocketFilterTest, Ipv4TotalLengthPastThePacketIsDroppedNotTakenForACut) {
  const Frame f = EthernetTcpFrame(V4Segment());
  Run(WithIpLength(f, 2, Ipv4TotalLength(f) + 1));
  Run(WithIpLength(f, 2, 65535));
  ExpectDroppedAsLengthPastFrame(2);
}

TEST_F(SocketFilterTest, Ipv6PayloadLengthPastThePacketIsDroppedNotTakenForACut) {
  const Frame f = EthernetTcpFrame(V6Segment());
  Run(WithIpLength(f, 4, Ipv6PayloadLength(f) + 1));
  Run(WithIpLength(f, 4, 65535));
  ExpectDroppedAsLengthPastFrame(2);
}

// Ethernet pads short frames; the bytes after the IP packet's end are not TCP payload.
TEST_F(SocketFilterTest, FrameLongerThanItsIpLengthCopiesTheIpLengthOnly) {
  Frame f = EthernetTcpFrame(V4Segment());
  f.resize(f.size() + 18, 0);
  Run(f);
  ExpectCopiedWhole(kPayload.size());
}

// BIG TCP (Linux 6.3+ for IPv4, 5.19+ for IPv6) writes length 0 into packets over 64 KiB; the
// length is then the packet's own.
TEST_F(SocketFilterTest, BigTcpLengthZeroTakesTheLengthFromThePacket) {
  Run(WithIpLength(EthernetTcpFrame(V4Segment()), 2, 0));
  Run(WithIpLength(EthernetTcpFrame(V6Segment()), 4, 0));
  EXPECT_EQ(Count(MAILTAP_CTR_MATCHED), 2u);
  EXPECT_EQ(Count(MAILTAP_CTR_MATCHED_BYTES), 2 * kPayload.size());
  EXPECT_EQ(Count(MAILTAP_CTR_RECORD_BYTES), 2 * kPayload.size());
  EXPECT_EQ(Count(MAILTAP_CTR_TRUNCATED), 0u);
  EXPECT_EQ(Count(MAILTAP_CTR_IP_LENGTH_PAST_FRAME), 0u);
}

}  // namespace
}  // namespace mailtap
