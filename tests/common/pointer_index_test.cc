// PointerIndex: every indexed object stays findable through inserts, growth and erases, checked
// against std::map as the reference, including with a hash that puts everything in one cluster.
#include "common/pointer_index.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

namespace mailtap {
namespace {

struct Item {
  uint32_t key;
};

struct GoodHash {
  uint64_t operator()(uint32_t k) const { return (k * 0x9e3779b97f4a7c15ULL) ^ (k >> 7); }
};
// Only 4 distinct hashes: long clusters that wrap around the end of the slot array.
struct ClusteringHash {
  uint64_t operator()(uint32_t k) const { return 0xfffffffcULL + (k % 4) * 0x3fULL; }
};

template <typename Hash>
void RandomOperationsAgreeWithAMap(uint32_t key_range, int operations) {
  PointerIndex<Item, uint32_t, Hash> index;
  std::map<uint32_t, std::unique_ptr<Item>> reference;
  std::mt19937 rng(42);
  for (int n = 0; n < operations; ++n) {
    const auto k = static_cast<uint32_t>(rng() % key_range);
    auto it = reference.find(k);
    if (it == reference.end()) {
      auto item = std::make_unique<Item>(Item{k});
      index.Insert(item.get());
      reference.emplace(k, std::move(item));
    } else {
      ASSERT_TRUE(index.Erase(it->second.get()));
      reference.erase(it);
    }
    ASSERT_EQ(index.size(), reference.size());
    if (n % 64 == 0) {
      for (uint32_t q = 0; q < key_range; ++q) {
        auto r = reference.find(q);
        ASSERT_EQ(index.Find(q), r == reference.end() ? nullptr : r->second.get()) << "key " << q;
      }
    }
  }
  size_t visited = 0;
  index.ForEach([&](Item* item) {
    ++visited;
    EXPECT_EQ(reference.at(item->key).get(), item);
  });
  EXPECT_EQ(visited, reference.size());
}

TEST(PointerIndex, RandomInsertsAndErasesAgreeWithAMap) {
  RandomOperationsAgreeWithAMap<GoodHash>(3000, 20000);
}

TEST(PointerIndex, ErasingInsideWrappingClustersKeepsEveryOtherKeyFindable) {
  RandomOperationsAgreeWithAMap<ClusteringHash>(300, 5000);
}

TEST(PointerIndex, EmptyIndexFindsNothingAndErasesNothing) {
  PointerIndex<Item, uint32_t, GoodHash> index;
  Item item{7};
  EXPECT_EQ(index.Find(7), nullptr);
  EXPECT_FALSE(index.Erase(&item));
  index.Insert(&item);
  Item other{8};
  EXPECT_FALSE(index.Erase(&other));
  EXPECT_EQ(index.Find(7), &item);
  EXPECT_TRUE(index.Erase(&item));
  EXPECT_TRUE(index.empty());
}

}  // namespace
}  // namespace mailtap
