// Community ID against the specification's published vectors (../shared/corpus/community-id),
// read where they are at test time.
#include "common/community_id.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>

#include "capture/pcap_source.h"

namespace mailtap {
namespace {

std::filesystem::path VectorDir() {
  const char* zeek = std::getenv("MAILTAP_ZEEK_CORPUS");
  if (zeek == nullptr) return {};
  std::filesystem::path dir = std::filesystem::path(zeek) / ".." / "community-id";
  return std::filesystem::exists(dir / "baseline_deflt.json") ? dir : std::filesystem::path{};
}

IpAddress Addr(const std::string& text) {
  IpAddress a;
  EXPECT_TRUE(IpAddress::Parse(text, &a)) << text;
  return a;
}

struct Vector {
  std::string saddr, daddr;
  uint16_t sport, dport;
  std::string expected;
};

// The TCP entries of one baseline file (the other protocols need ICMP's port mapping).
std::vector<Vector> TcpVectors(const std::string& file) {
  std::ifstream in(VectorDir() / file);
  nlohmann::json all = nlohmann::json::parse(in);
  std::vector<Vector> out;
  for (const auto& v : all) {
    if (v["proto"] != kIpProtoTcp) continue;
    out.push_back({v["saddr"], v["daddr"], v["sport"], v["dport"], v["communityid"]});
  }
  return out;
}

void CheckFile(const std::string& file, uint16_t seed, CommunityIdEncoding encoding) {
  std::vector<Vector> vectors = TcpVectors(file);
  ASSERT_GE(vectors.size(), 4U) << file;
  for (const Vector& v : vectors) {
    EXPECT_EQ(
        CommunityId(Addr(v.saddr), v.sport, Addr(v.daddr), v.dport, kIpProtoTcp, seed, encoding),
        v.expected)
        << file << ": " << v.saddr << ":" << v.sport << " > " << v.daddr << ":" << v.dport;
  }
}

TEST(CommunityIdTest, MatchesTheSpecificationsVectorsWithSeedZero) {
  if (VectorDir().empty()) GTEST_SKIP() << "community-id vectors not found beside the corpus";
  CheckFile("baseline_deflt.json", 0, CommunityIdEncoding::kBase64);
}

TEST(CommunityIdTest, MatchesTheSpecificationsVectorsWithSeedOne) {
  if (VectorDir().empty()) GTEST_SKIP() << "community-id vectors not found beside the corpus";
  CheckFile("baseline_seed1.json", 1, CommunityIdEncoding::kBase64);
}

TEST(CommunityIdTest, MatchesTheSpecificationsHexVectors) {
  if (VectorDir().empty()) GTEST_SKIP() << "community-id vectors not found beside the corpus";
  CheckFile("baseline_nob64.json", 0, CommunityIdEncoding::kHex);
}

TEST(CommunityIdTest, IsTheSameInBothDirections) {
  IpAddress a = Addr("10.0.0.1"), b = Addr("10.0.0.2");
  EXPECT_EQ(CommunityId(a, 1234, b, 25), CommunityId(b, 25, a, 1234));
  EXPECT_NE(CommunityId(a, 1234, b, 25), CommunityId(a, 1235, b, 25));
  EXPECT_NE(CommunityId(a, 1234, b, 25, kIpProtoTcp, 0),
            CommunityId(a, 1234, b, 25, kIpProtoTcp, 1));
}

// Every TCP segment of the spec's captures, decoded by mailtapd's own capture path, hashes to the
// vector published for its flow.
TEST(CommunityIdTest, EveryTcpSegmentOfTheSpecsCapturesGetsItsFlowsId) {
  if (VectorDir().empty()) GTEST_SKIP() << "community-id vectors not found beside the corpus";
  std::map<std::tuple<std::string, uint16_t, std::string, uint16_t>, std::string> expected;
  for (const Vector& v : TcpVectors("baseline_deflt.json")) {
    expected[{Addr(v.saddr).ToString(), v.sport, Addr(v.daddr).ToString(), v.dport}] = v.expected;
  }
  size_t segments = 0;
  for (const char* capture : {"tcp.pcap", "ipv6.pcap"}) {
    PortSet ports{25, 80};
    auto source = PcapSource::Open((VectorDir() / capture).string(), ports);
    TcpSegment s;
    CaptureStatus status;
    while ((status = source->Next(&s)) != CaptureStatus::kEndOfInput) {
      if (status != CaptureStatus::kSegment) continue;
      auto it = expected.find({s.src.ToString(), s.src_port, s.dst.ToString(), s.dst_port});
      ASSERT_NE(it, expected.end()) << capture << ": no vector for " << s.src.ToString();
      EXPECT_EQ(CommunityId(s.src, s.src_port, s.dst, s.dst_port), it->second);
      ++segments;
    }
  }
  EXPECT_GT(segments, 0U);
}

}  // namespace
}  // namespace mailtap
