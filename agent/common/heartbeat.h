// The pipeline's heartbeat: when its thread last made progress, and whether it is waiting for
// input or working, so that status and metrics can tell a quiet agent from a stuck one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace mailtap {

// What a reader learns from a Heartbeat.
struct HeartbeatReading {
  std::chrono::system_clock::time_point last_progress;  // wall clock of the last beat
  double seconds_since_progress = 0;
  bool waiting_for_input = false;  // blocked on the capture source: idle, not stuck
  bool stalled = false;            // working, and no progress for longer than the stall limit
};

// Written by the pipeline thread only (Waiting before it asks the source for input, Working
// after), read by any thread. A beat is a clock read and two relaxed stores; while working it
// reads the clock only every kBeatEvery calls, which is far below the stall limit in time.
class Heartbeat {
 public:
  // A pipeline working for longer than this without finishing a slice of work is stalled: a
  // slice (one segment, one housekeeping round) takes microseconds to milliseconds.
  static constexpr std::chrono::seconds kStallAfter{5};

  Heartbeat() { Beat(); }

  void Waiting() {
    Beat();
    waiting_.store(true, std::memory_order_relaxed);
  }
  void Working() {
    if (waiting_.load(std::memory_order_relaxed) || ++calls_ % kBeatEvery == 0) Beat();
    waiting_.store(false, std::memory_order_relaxed);
  }

  HeartbeatReading Read(std::chrono::steady_clock::time_point steady_now,
                        std::chrono::system_clock::time_point system_now) const {
    auto last = std::chrono::steady_clock::time_point(
        std::chrono::nanoseconds(last_beat_ns_.load(std::memory_order_relaxed)));
    auto since = steady_now > last ? steady_now - last : std::chrono::steady_clock::duration{};
    HeartbeatReading r;
    r.last_progress =
        system_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(since);
    r.seconds_since_progress = std::chrono::duration<double>(since).count();
    r.waiting_for_input = waiting_.load(std::memory_order_relaxed);
    r.stalled = !r.waiting_for_input && since > kStallAfter;
    return r;
  }
  HeartbeatReading Read() const {
    return Read(std::chrono::steady_clock::now(), std::chrono::system_clock::now());
  }

 private:
  static constexpr uint32_t kBeatEvery = 64;

  void Beat() {
    last_beat_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count(),
                        std::memory_order_relaxed);
  }

  std::atomic<int64_t> last_beat_ns_{0};
  std::atomic<bool> waiting_{false};
  uint32_t calls_ = 0;  // pipeline thread only
};

}  // namespace mailtap
