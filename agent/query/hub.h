// The hand-over between the pipeline thread (publishes formatted items) and the query server
// thread (serves them): a bounded history per stream and one bounded queue per follower.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "query/filter.h"

namespace mailtap {

enum class Stream { kEvents = 0, kRecords = 1 };

// One published event or smtp.log record: formatted once, immutable, shared by the history and
// every queue that holds it.
struct Item {
  std::string json;  // one JSON object, no trailing newline
  FilterKeys keys;
};
using ItemPtr = std::shared_ptr<const Item>;

// A follower's queue. Created by Hub::Subscribe, drained by Hub::Take.
class Subscription {
 public:
  Subscription(Stream stream, Filter filter, size_t capacity)
      : stream_(stream), filter_(std::move(filter)), capacity_(capacity) {}

 private:
  friend class Hub;
  Stream stream_;
  Filter filter_;
  size_t capacity_;
  std::deque<ItemPtr> queue_;
  uint64_t lost_unreported_ = 0;
};

// Thread-safe. Publish() never blocks beyond a short mutex hold and never waits for a reader:
// a full queue loses its oldest item (counted as cause "slow_subscriber").
class Hub {
 public:
  struct Limits {
    size_t event_history = 10000;
    size_t record_history = 1000;
    size_t queue_capacity = 4096;
  };
  // `wake` is called (from Publish, without the lock) when a follower has new items; it must be
  // cheap and non-blocking.
  Hub(Limits limits, std::function<void()> wake);

  void Publish(Stream stream, ItemPtr item);

  // An item to fill and Publish(): the oldest history item of `stream` that fell out of the
  // history while nothing else referred to it, with its strings' capacity kept, or else a new
  // one. Formatting into recycled items instead of allocating and freeing one per event saves a
  // large share of the agent's CPU at 10^5 events/s (cold frees of 10^4-item-old memory).
  std::shared_ptr<Item> Reusable(Stream stream);

  struct Start {
    std::vector<ItemPtr> backlog;                // the last `last` matching items, oldest first
    std::shared_ptr<Subscription> subscription;  // null unless `follow`
  };
  // Atomic with respect to Publish: every item published afterwards reaches the subscription
  // and none of them is in the backlog, so "last N, then follow" has no gap and no duplicate.
  Start Subscribe(Stream stream, const Filter& filter, size_t last, bool follow);
  void Unsubscribe(const std::shared_ptr<Subscription>& subscription);

  // Appends up to `max` queued items to *out; returns how many items were lost before them
  // since the previous call (to report in the stream, just before these items).
  uint64_t Take(Subscription& subscription, size_t max, std::vector<ItemPtr>* out);

  uint64_t slow_subscriber_lost() const;
  uint64_t published(Stream stream) const;
  size_t subscribers() const;
  size_t history_size(Stream stream) const;

 private:
  Limits limits_;
  std::function<void()> wake_;
  mutable std::mutex mu_;
  std::deque<ItemPtr> history_[2];
  std::shared_ptr<Item> spare_[2];  // an item evicted from the history, unshared, for Reusable
  uint64_t published_[2] = {0, 0};
  std::vector<std::shared_ptr<Subscription>> subscriptions_;
  uint64_t slow_subscriber_lost_ = 0;
};

}  // namespace mailtap
