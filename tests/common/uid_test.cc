#include "common/uid.h"

#include <gtest/gtest.h>

#include <set>

namespace mailtap {
namespace {

TEST(UidGenerator, LooksLikeZeekUids) {
  UidGenerator gen(1);
  std::string uid = gen.Next();
  EXPECT_EQ(uid[0], 'C');
  EXPECT_GE(uid.size(), 12u);
  EXPECT_LE(uid.size(), 19u);
  for (char c : uid.substr(1)) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << uid;
}

TEST(UidGenerator, SameSeedSameSequenceDifferentUids) {
  UidGenerator a(42), b(42);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string u = a.Next();
    EXPECT_EQ(u, b.Next());
    EXPECT_TRUE(seen.insert(u).second) << "duplicate uid " << u;
  }
}

TEST(UidGenerator, RandomSeedsDifferSoRunsDoNotShareUids) {
  std::set<uint64_t> seeds;
  for (int i = 0; i < 100; ++i) seeds.insert(RandomUidSeed());
  EXPECT_EQ(seeds.size(), 100u);
  EXPECT_NE(UidGenerator(RandomUidSeed()).Next(), UidGenerator(RandomUidSeed()).Next());
}

}  // namespace
}  // namespace mailtap
