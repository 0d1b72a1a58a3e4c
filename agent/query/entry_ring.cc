#include "query/entry_ring.h"

#include <algorithm>

namespace mailtap {

EntryRing::EntryRing(size_t max_entries, size_t max_bytes)
    : capacity_(std::max<size_t>(max_bytes, 4)),
      // Zeroed, so touched now: a busy agent fills the ring within seconds anyway, and paying
      // the page faults at start keeps them off the pipeline thread under load.
      bytes_(new uint8_t[capacity_]()),
      slots_(std::max<size_t>(max_entries, 1)) {}

uint8_t* EntryRing::Append(size_t size) {
  uint64_t pos = write_pos_;
  const size_t offset = pos % capacity_;
  if (offset + size > capacity_) pos += capacity_ - offset;  // entries never wrap around the end
  while (head_ > tail_ &&
         (head_ - tail_ == slots_.size() || pos + size - slots_[tail_ % slots_.size()].pos >
                                                   capacity_)) {
    ++tail_;
  }
  slots_[head_ % slots_.size()] = Slot{pos, static_cast<uint32_t>(size)};
  ++head_;
  write_pos_ = pos + size;
  return bytes_.get() + pos % capacity_;
}

std::span<const uint8_t> EntryRing::Get(uint64_t seq) const {
  const Slot& slot = slots_[seq % slots_.size()];
  return {bytes_.get() + slot.pos % capacity_, slot.size};
}

}  // namespace mailtap
