// A value handed from the pipeline thread to readers on other threads.
#pragma once

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

}  // namespace mailtap
