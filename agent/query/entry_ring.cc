#include "query/entry_ring.h"

#include <algorithm>
#include <bit>

namespace mailtap {

// Sizes are rounded up to powers of two: positions map to the ring with a mask, not with
// 64-bit divisions, three of which per append cost more than the rest of it.
EntryRing::EntryRing(size_t max_entries, size_t max_bytes)
    : capacity_(std::bit_ceil(std::max<size_t>(max_bytes, 4))),
      // Zeroed, so touched now: a busy agent fills the ring within seconds anyway, and paying
      // the page faults at start keeps them off the pipeline thread under load.
      bytes_(new uint8_t[capacity_]()),
      slots_(std::bit_ceil(std::max<size_t>(max_entries, 1))),
      max_entries_(std::max<size_t>(max_entries, 1)) {}

uint8_t* EntryRing::Append(size_t size) {
  uint64_t pos = write_pos_;
  const size_t offset = pos & (capacity_ - 1);
  if (offset + size > capacity_) pos += capacity_ - offset;  // entries never wrap around the end
  while (head_ > tail_ &&
         (head_ - tail_ == max_entries_ || pos + size - SlotOf(tail_).pos > capacity_)) {
    ++tail_;
  }
  SlotOf(head_) = Slot{pos, static_cast<uint32_t>(size)};
  ++head_;
  write_pos_ = pos + size;
  return bytes_.get() + (pos & (capacity_ - 1));
}

std::span<const uint8_t> EntryRing::Get(uint64_t seq) const {
  const Slot& slot = SlotOf(seq);
  return {bytes_.get() + (slot.pos & (capacity_ - 1)), slot.size};
}

}  // namespace mailtap
