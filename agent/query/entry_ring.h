// A bounded history of variable-size byte entries, numbered by sequence: one contiguous ring of
// bytes plus one offset per entry. Not thread-safe (the Hub locks around it).
//
// Why bytes and not objects: the agent publishes ~10^5 events/s, and a history of 10^4
// separately allocated objects is rewritten oldest-first, so every publish touched memory last
// used 10^4 events earlier (cache misses on the object, its strings and its reference count
// cost more than analysing the event). Appending to a ring is a sequential write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace mailtap {

class EntryRing {
 public:
  // Keeps at most `max_entries` entries and about `max_bytes` bytes (rounded up to a power of
  // two), all of it allocated and touched here.
  EntryRing(size_t max_entries, size_t max_bytes);

  // The largest entry Append() takes: a quarter of the ring, so one huge entry never flushes
  // the whole history.
  size_t max_entry_bytes() const { return capacity_ / 4; }

  // Room for a new entry of `size` bytes (1 <= size <= max_entry_bytes()), made by evicting the
  // oldest entries as needed. The caller writes exactly `size` bytes there before the next call.
  uint8_t* Append(size_t size);

  uint64_t head() const { return head_; }  // the sequence number the next entry gets
  uint64_t tail() const { return tail_; }  // the oldest entry kept (== head() when empty)
  size_t size() const { return static_cast<size_t>(head_ - tail_); }

  // REQUIRES: tail() <= seq < head().
  std::span<const uint8_t> Get(uint64_t seq) const;

 private:
  struct Slot {
    uint64_t pos;  // logical byte position: grows forever; the ring index is pos mod capacity_
    uint32_t size;
  };
  Slot& SlotOf(uint64_t seq) { return slots_[seq & (slots_.size() - 1)]; }
  const Slot& SlotOf(uint64_t seq) const { return slots_[seq & (slots_.size() - 1)]; }

  size_t capacity_;  // a power of two
  std::unique_ptr<uint8_t[]> bytes_;
  std::vector<Slot> slots_;  // a power of two of them, at least max_entries_
  size_t max_entries_;
  uint64_t head_ = 0;
  uint64_t tail_ = 0;
  uint64_t write_pos_ = 0;
};

}  // namespace mailtap
