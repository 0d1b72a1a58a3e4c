#include "mailtap/packet.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <limits>
#include <vector>

namespace mailtap {
namespace {

TEST(FormatTimestamp, PrintsSixDecimals) {
  EXPECT_EQ(FormatTimestamp({1254722767529046}), "1254722767.529046");
  EXPECT_EQ(FormatTimestamp({5}), "0.000005");
}

TEST(IpAddress, PrintsV4DottedAndV6Compressed) {
  IpAddress a, b;
  ASSERT_TRUE(IpAddress::Parse("10.10.1.4", &a));
  ASSERT_TRUE(IpAddress::Parse("2001:db8:0:0::1", &b));
  EXPECT_TRUE(a.IsV4());
  EXPECT_FALSE(b.IsV4());
  EXPECT_EQ(a.ToString(), "10.10.1.4");
  EXPECT_EQ(b.ToString(), "2001:db8::1");
}

// Every octet value in every position, against the C library's formatting.
TEST(IpAddress, PrintsEveryV4OctetAsInetNtopDoes) {
  for (unsigned v = 0; v < 256; ++v) {
    const uint8_t octets[4] = {static_cast<uint8_t>(v), static_cast<uint8_t>(255 - v),
                               static_cast<uint8_t>(v * 7), static_cast<uint8_t>(v / 3)};
    char expected[INET_ADDRSTRLEN];
    ASSERT_NE(inet_ntop(AF_INET, octets, expected, sizeof expected), nullptr);
    EXPECT_EQ(IpAddress::FromV4(octets).ToString(), expected);
  }
}

TEST(IpAddress, RejectsGarbage) {
  IpAddress a;
  EXPECT_FALSE(IpAddress::Parse("10.10.1", &a));
  EXPECT_FALSE(IpAddress::Parse("example.com", &a));
}

}  // namespace
// Flow keys order their two endpoints by address: the order must be the bytes' (what the
// standard library's array comparison gives), including across the 8-byte halves.
TEST(IpAddress, ComparesInByteOrder) {
  std::vector<IpAddress> addrs;
  for (const char* text :
       {"0.0.0.0", "10.0.0.1", "10.0.0.2", "127.0.0.1", "255.255.255.255", "::", "::1", "::2",
        "1::", "1::1", "fe80::1", "fe80::100", "ff02::1", "2001:db8::1", "2001:db8:0:1::"}) {
    IpAddress a;
    ASSERT_TRUE(IpAddress::Parse(text, &a)) << text;
    addrs.push_back(a);
  }
  for (const IpAddress& a : addrs) {
    for (const IpAddress& b : addrs) {
      EXPECT_EQ(a == b, a.bytes() == b.bytes()) << a.ToString() << " " << b.ToString();
      EXPECT_EQ(a < b, a.bytes() < b.bytes()) << a.ToString() << " " << b.ToString();
    }
  }
}

}  // namespace mailtap

namespace mailtap {
namespace {

// Capture times are whatever a file says (issue 17: the subtraction overflowed, which is
// undefined behaviour, for pcapng timestamps near the ends of the 64-bit range).
TEST(HasElapsed, HoldsAcrossTheWholeRangeOfCaptureTimes) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_TRUE(HasElapsed(Timestamp{kMin}, Timestamp{kMax}, Timestamp{5'000'000}));
  EXPECT_FALSE(HasElapsed(Timestamp{kMax}, Timestamp{kMin}, Timestamp{5'000'000}));
  EXPECT_TRUE(HasElapsed(Timestamp{kMax - 5}, Timestamp{kMax}, Timestamp{5}));
  EXPECT_FALSE(HasElapsed(Timestamp{kMax - 4}, Timestamp{kMax}, Timestamp{5}));
  EXPECT_FALSE(HasElapsed(Timestamp{100}, Timestamp{50}, Timestamp{0}));
}

}  // namespace
}  // namespace mailtap
