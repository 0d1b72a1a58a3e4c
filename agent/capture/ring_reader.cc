#include "capture/ring_reader.h"

#include <linux/bpf.h>

namespace mailtap {
namespace {

uint64_t LoadAcquire(const uint64_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

}  // namespace

RingReader::RingReader(RingView view)
    : view_(view), mask_(view.size - 1), pos_(LoadAcquire(view.consumer_pos)) {}

bool RingReader::Peek(std::span<const uint8_t>* record) {
  const uint64_t produced = LoadAcquire(view_.producer_pos);
  while (pos_ < produced) {
    const uint8_t* at = view_.data + (pos_ & mask_);
    const uint32_t len = __atomic_load_n(reinterpret_cast<const uint32_t*>(at), __ATOMIC_ACQUIRE);
    if (len & BPF_RINGBUF_BUSY_BIT) return false;
    const uint32_t data_len = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
    current_ = (uint64_t{data_len} + BPF_RINGBUF_HDR_SZ + 7) & ~uint64_t{7};
    if ((len & BPF_RINGBUF_DISCARD_BIT) == 0) {
      *record = std::span<const uint8_t>(at + BPF_RINGBUF_HDR_SZ, data_len);
      return true;
    }
    Consume();
  }
  return false;
}

void RingReader::Consume() {
  pos_ += current_;
  current_ = 0;
  __atomic_store_n(view_.consumer_pos, pos_, __ATOMIC_RELEASE);
}

}  // namespace mailtap
