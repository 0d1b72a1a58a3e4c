// IntrusiveList: order after pushes, removals from every position and moves to the back.
#include "common/intrusive_list.h"

#include <gtest/gtest.h>

#include <vector>

namespace mailtap {
namespace {

struct Node {
  int id;
  Node* prev = nullptr;
  Node* next = nullptr;
};

std::vector<int> Ids(const IntrusiveList<Node>& list) {
  std::vector<int> ids;
  list.ForEach([&](Node* n) { ids.push_back(n->id); });
  return ids;
}

TEST(IntrusiveList, KeepsOrderThroughRemovalsAndMovesAtEveryPosition) {
  Node a{1}, b{2}, c{3}, d{4};
  IntrusiveList<Node> list;
  EXPECT_TRUE(list.empty());
  for (Node* n : {&a, &b, &c, &d}) list.PushBack(n);
  EXPECT_EQ(Ids(list), (std::vector<int>{1, 2, 3, 4}));
  list.MoveToBack(&a);  // front
  EXPECT_EQ(Ids(list), (std::vector<int>{2, 3, 4, 1}));
  list.MoveToBack(&c);  // middle
  EXPECT_EQ(Ids(list), (std::vector<int>{2, 4, 1, 3}));
  list.MoveToBack(&c);  // already last
  EXPECT_EQ(Ids(list), (std::vector<int>{2, 4, 1, 3}));
  list.Remove(&c);  // back
  list.Remove(&b);  // front
  EXPECT_EQ(Ids(list), (std::vector<int>{4, 1}));
  EXPECT_EQ(list.front(), &d);
  list.Remove(&d);
  list.Remove(&a);
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.front(), nullptr);
  list.PushBack(&b);  // a removed element can be linked again
  EXPECT_EQ(Ids(list), (std::vector<int>{2}));
}

}  // namespace
}  // namespace mailtap
