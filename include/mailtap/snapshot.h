// Values handed from the pipeline thread to readers on other threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <utility>

namespace mailtap {

// The pipeline thread publishes a fresh copy now and then; readers (query server, metrics) get
// a consistent copy. Thread-safe.
template <typename T>
class Snapshot {
 public:
  void Publish(T value) {
    std::lock_guard lock(mu_);
    value_ = std::move(value);
  }
  T Get() const {
    std::lock_guard lock(mu_);
    return value_;
  }

 private:
  mutable std::mutex mu_;
  T value_{};
};

// A value the pipeline thread builds only when a reader asks for it, because building it costs
// more than a timer could justify. Thread-safe.
template <typename T>
class OnDemandSnapshot {
 public:
  // Reader: asks the pipeline for a fresh copy and waits up to `timeout` for it; returns the
  // freshest copy there is (at once after PublishFinal).
  T GetFresh(std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mu_);
    if (!final_) {
      const uint64_t asked_at = generation_;
      requested_.store(true, std::memory_order_relaxed);
      fresh_.wait_for(lock, timeout, [&] { return generation_ != asked_at || final_; });
    }
    return value_;
  }

  // Pipeline: whether a reader is waiting for a fresh copy (a cheap check, made often).
  bool requested() const { return requested_.load(std::memory_order_relaxed); }
  void Publish(T value) { Store(std::move(value), false); }
  // The last copy (the input has ended): readers get it without waiting.
  void PublishFinal(T value) { Store(std::move(value), true); }

 private:
  void Store(T value, bool final) {
    {
      std::lock_guard lock(mu_);
      value_ = std::move(value);
      ++generation_;
      final_ = final_ || final;
      requested_.store(false, std::memory_order_relaxed);
    }
    fresh_.notify_all();
  }

  mutable std::mutex mu_;
  mutable std::condition_variable fresh_;
  mutable std::atomic<bool> requested_{false};
  T value_{};
  uint64_t generation_ = 0;
  bool final_ = false;
};

}  // namespace mailtap
