#include "common/heartbeat.h"

#include <gtest/gtest.h>

namespace mailtap {
namespace {

using std::chrono::seconds;

// Readings are taken at injected instants after the last beat: no sleeping.
TEST(HeartbeatTest, WorkingWithoutProgressPastTheLimitIsStalled) {
  Heartbeat beat;
  beat.Working();
  auto steady = std::chrono::steady_clock::now();
  auto wall = std::chrono::system_clock::now();
  EXPECT_FALSE(beat.Read(steady, wall).stalled);
  HeartbeatReading late = beat.Read(steady + Heartbeat::kStallAfter + seconds(1), wall);
  EXPECT_TRUE(late.stalled);
  EXPECT_FALSE(late.waiting_for_input);
  EXPECT_GT(late.seconds_since_progress, 5.0);
  EXPECT_LE(late.last_progress, wall - Heartbeat::kStallAfter);
}

TEST(HeartbeatTest, WaitingForInputIsNeverAStall) {
  Heartbeat beat;
  beat.Waiting();
  HeartbeatReading r =
      beat.Read(std::chrono::steady_clock::now() + seconds(3600), std::chrono::system_clock::now());
  EXPECT_TRUE(r.waiting_for_input);
  EXPECT_FALSE(r.stalled);
}

}  // namespace
}  // namespace mailtap
