// The hand-over between the pipeline thread (publishes events and smtp.log records) and the
// query server thread (serves them): per stream, a bounded history in one byte ring, and a read
// position per follower.
//
// Publishing copies the event's or record's fields into the ring (no allocation, no formatting);
// an item is decoded and formatted only when a client reads it, once however many clients read
// it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/events.h"
#include "mailtap/flow.h"
#include "mailtap/smtp_record.h"
#include "query/entry_ring.h"
#include "query/filter.h"

namespace mailtap {

enum class Stream { kEvents = 0, kRecords = 1 };

// One event or smtp.log record as read back from the history. Server thread only.
class Item {
 public:
  const FilterKeys& Keys() const { return keys_; }
  // One JSON object, no trailing newline; formatted on first use.
  const std::string& Json() const;
  // About what the item holds (its fields, as encoded in the history; its JSON once formatted).
  size_t HeldBytes() const { return encoded_bytes_ + json_.capacity(); }

 private:
  friend class Hub;
  Event event_;      // an event's fields
  Connection conn_;  // what event_.conn points to: the connection itself may be gone
  std::optional<SmtpRecord> record_;  // set for an smtp.log record
  FilterKeys keys_;
  mutable std::string json_;
  mutable bool has_json_ = false;
  size_t encoded_bytes_ = 0;
};
using ItemPtr = std::shared_ptr<const Item>;

// A follower's read position. Created by Hub::Subscribe, advanced by Hub::Take.
class Subscription {
 public:
  Subscription(Stream stream, Filter filter, uint64_t next)
      : stream_(stream), filter_(std::move(filter)), next_(next) {}

 private:
  friend class Hub;
  Stream stream_;
  Filter filter_;
  uint64_t next_;  // sequence number of the next entry to read
  uint64_t lost_unreported_ = 0;
};

// Thread-safe between one publishing thread and one reading thread. Publishing never blocks
// beyond a short mutex hold and never waits for a reader: a follower that falls more than
// `queue_capacity` entries behind loses the oldest (counted as cause "slow_subscriber", before
// its filter is applied: the entries it lost are not decoded).
// Events `observe --last` can return unless --history says otherwise.
inline constexpr size_t kDefaultEventHistory = 10000;

class Hub {
 public:
  struct Limits {
    size_t event_history = kDefaultEventHistory;  // events `observe --last` can return
    size_t record_history = 1000;                 // records `transactions --last` can return
    size_t queue_capacity = 10000;                // entries a follower may fall behind
    size_t event_bytes = 8 << 20;  // ring sizes: what bounds memory whatever the entries hold
    size_t record_bytes = 2 << 20;
  };
  // `wake` is called (from Publish, without the lock) when followers may have new items; it
  // must be cheap and non-blocking.
  Hub(Limits limits, std::function<void()> wake);

  // Publishing thread.
  void PublishEvent(const Event& event);
  void PublishRecord(const SmtpRecord& record);

  // Reading thread only, from here on.
  struct Start {
    std::vector<ItemPtr> backlog;                // the last `last` matching items, oldest first
    std::shared_ptr<Subscription> subscription;  // null unless `follow`
  };
  // Atomic with respect to Publish: every item published afterwards reaches the subscription
  // and none of them is in the backlog, so "last N, then follow" has no gap and no duplicate.
  Start Subscribe(Stream stream, const Filter& filter, size_t last, bool follow);
  void Unsubscribe(const std::shared_ptr<Subscription>& subscription);

  // Appends up to `max` matching items the follower has not read to *out; returns how many
  // entries it lost before them since the previous call (to report just before these items).
  uint64_t Take(Subscription& subscription, size_t max, std::vector<ItemPtr>* out);

  // Any thread.
  // Counted per stream: a lost event and a lost smtp.log record are different units.
  uint64_t slow_subscriber_lost(Stream stream) const;
  uint64_t oversize_dropped(Stream stream) const;
  uint64_t published(Stream stream) const;
  size_t subscribers() const;
  size_t history_size(Stream stream) const;

 private:
  // An entry to read: its item from the cache, or else where Collect() copied its bytes.
  struct Slot {
    uint64_t seq;
    ItemPtr item;
    size_t offset = 0;  // into raw_, when item is null
  };
  struct CacheSlot {
    uint64_t seq = UINT64_MAX;
    ItemPtr item;
  };
  static constexpr size_t kCacheSlots = 1024;
  static constexpr uint64_t kReadBatch = 256;  // entries copied out per lock by a reader

  EntryRing& ring(Stream stream) { return rings_[static_cast<int>(stream)]; }
  const EntryRing& ring(Stream stream) const { return rings_[static_cast<int>(stream)]; }
  size_t history_limit(Stream stream) const;
  // Appends an entry of `size` bytes that write_entry(uint8_t*) fills, under the lock.
  template <typename WriteEntry>
  void Publish(Stream stream, size_t size, WriteEntry write_entry);
  void AfterPublish(Stream stream);
  // Locked: the entries [from, to) as cached items or copies of their bytes (the ring may
  // overwrite them once the lock is released).
  std::vector<Slot> Collect(Stream stream, uint64_t from, uint64_t to);
  // Unlocked: decodes a collected entry (once: the item is cached for other readers).
  const ItemPtr& Materialize(Stream stream, Slot& slot);

  Limits limits_;
  std::function<void()> wake_;
  mutable std::mutex mu_;
  std::array<EntryRing, 2> rings_;
  uint64_t published_[2] = {0, 0};
  std::vector<std::shared_ptr<Subscription>> subscriptions_;
  size_t followers_[2] = {0, 0};
  uint64_t slow_subscriber_lost_[2] = {0, 0};
  uint64_t oversize_dropped_[2] = {0, 0};

  // Reading thread only.
  std::array<std::vector<CacheSlot>, 2> cache_;
  std::string raw_;
};

}  // namespace mailtap
