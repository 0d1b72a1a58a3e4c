#include "mailtap/snapshot.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace mailtap {
namespace {

using std::chrono::milliseconds;

// The pipeline side: builds a value only once a reader has asked, as Housekeeping() does.
void PublishWhenAsked(OnDemandSnapshot<int>& snapshot, int value) {
  while (!snapshot.requested()) std::this_thread::sleep_for(milliseconds(1));
  snapshot.Publish(value);
}

TEST(OnDemandSnapshot, NothingIsRequestedUntilAReaderAsks) {
  OnDemandSnapshot<int> snapshot;
  EXPECT_FALSE(snapshot.requested());
  snapshot.Publish(1);
  EXPECT_FALSE(snapshot.requested());
}

TEST(OnDemandSnapshot, AReaderGetsTheValueBuiltAfterItAsked) {
  OnDemandSnapshot<int> snapshot;
  snapshot.Publish(1);  // older than the request: not what the reader waits for
  std::thread pipeline(PublishWhenAsked, std::ref(snapshot), 2);
  EXPECT_EQ(snapshot.GetFresh(milliseconds(10'000)), 2);
  pipeline.join();
  EXPECT_FALSE(snapshot.requested());
}

TEST(OnDemandSnapshot, WithoutAnAnswerTheReaderGetsTheLastValueAfterTheTimeout) {
  OnDemandSnapshot<int> snapshot;
  snapshot.Publish(7);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(snapshot.GetFresh(milliseconds(30)), 7);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
  EXPECT_TRUE(snapshot.requested());
}

TEST(OnDemandSnapshot, AfterTheFinalValueReadersDoNotWaitOrAsk) {
  OnDemandSnapshot<int> snapshot;
  snapshot.PublishFinal(3);
  EXPECT_EQ(snapshot.GetFresh(milliseconds(10'000)), 3);
  EXPECT_FALSE(snapshot.requested());
}

}  // namespace
}  // namespace mailtap
