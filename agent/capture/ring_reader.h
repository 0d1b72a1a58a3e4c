// Reads records from a BPF ring buffer through its shared memory, without libbpf: the protocol
// of kernel/bpf/ringbuf.c (an 8-byte header per record with busy/discard bits, both positions as
// free-running byte counters, the data area mapped twice so that a record never wraps).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace mailtap {

// Where a ring buffer's parts are. The kernel's mapping: the consumer position page (writable),
// the producer position page, then `size` bytes of data mapped twice in a row. Tests build the
// same layout in ordinary memory.
struct RingView {
  uint64_t* consumer_pos = nullptr;
  const uint64_t* producer_pos = nullptr;
  const uint8_t* data = nullptr;  // 2 * size bytes readable
  size_t size = 0;                // a power of two
};

// Unlike libbpf's ring_buffer__consume, a record stays in the ring until Consume(): records are
// handed out without copying. Single consumer; the producer may write concurrently.
class RingReader {
 public:
  RingReader() = default;
  explicit RingReader(RingView view);

  // The oldest committed record not yet consumed (discarded records are skipped and given
  // back); false when there is none, or the oldest is still being written. The span stays
  // valid until Consume().
  bool Peek(std::span<const uint8_t>* record);

  // Gives the record returned by the last Peek() back to the producer.
  void Consume();

 private:
  RingView view_;
  uint64_t mask_ = 0;
  uint64_t pos_ = 0;
  uint64_t current_ = 0;  // length of the peeked record, header and padding included
};

}  // namespace mailtap
