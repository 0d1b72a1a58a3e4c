// RingReader on a ring laid out in ordinary memory exactly as the kernel maps a BPF ring buffer
// (kernel/bpf/ringbuf.c): 8-byte record headers with busy/discard bits, free-running positions,
// and the data area readable twice in a row.
#include "capture/ring_reader.h"

#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstring>
#include <string>
#include <vector>

namespace mailtap {
namespace {

class FakeRing {
 public:
  explicit FakeRing(size_t size) : size_(size), data_(2 * size) {}

  RingView View() { return RingView{&consumer_, &producer_, data_.data(), size_}; }

  // Writes a record at the producer position and commits it (unless `flags` says otherwise).
  // Returns its position.
  uint64_t Write(const std::string& bytes, uint32_t flags = 0) {
    const uint64_t at = producer_;
    const uint32_t header = static_cast<uint32_t>(bytes.size()) | flags;
    Put(at, &header, sizeof header);
    Put(at + BPF_RINGBUF_HDR_SZ, bytes.data(), bytes.size());
    producer_ += (bytes.size() + BPF_RINGBUF_HDR_SZ + 7) & ~size_t{7};
    return at;
  }
  void Commit(uint64_t at) {
    uint32_t header;
    std::memcpy(&header, &data_[at % size_], sizeof header);
    header &= ~uint32_t{BPF_RINGBUF_BUSY_BIT};
    Put(at, &header, sizeof header);
  }
  uint64_t consumer() const { return consumer_; }
  void SetPositions(uint64_t pos) { consumer_ = producer_ = pos; }

 private:
  // The kernel maps the data pages twice: a write lands at both places.
  void Put(uint64_t pos, const void* src, size_t len) {
    const auto* p = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < len; ++i) {
      const size_t off = (pos + i) % size_;
      data_[off] = p[i];
      data_[off + size_] = p[i];
    }
  }
  size_t size_;
  std::vector<uint8_t> data_;
  uint64_t consumer_ = 0;
  uint64_t producer_ = 0;
};

std::string Text(std::span<const uint8_t> record) {
  return std::string(reinterpret_cast<const char*>(record.data()), record.size());
}

TEST(RingReader, RecordsComeInOrderAndStayUntilConsumed) {
  FakeRing ring(4096);
  ring.Write("first");
  ring.Write("second record");
  RingReader reader(ring.View());
  std::span<const uint8_t> r;
  ASSERT_TRUE(reader.Peek(&r));
  EXPECT_EQ(Text(r), "first");
  ASSERT_TRUE(reader.Peek(&r));
  EXPECT_EQ(Text(r), "first");  // not consumed yet
  EXPECT_EQ(ring.consumer(), 0u);
  reader.Consume();
  EXPECT_EQ(ring.consumer(), 16u);  // 8-byte header + 5 bytes, padded to 8
  ASSERT_TRUE(reader.Peek(&r));
  EXPECT_EQ(Text(r), "second record");
  reader.Consume();
  EXPECT_FALSE(reader.Peek(&r));
}

TEST(RingReader, ARecordStillBeingWrittenStopsTheReaderUntilCommitted) {
  FakeRing ring(4096);
  const uint64_t busy = ring.Write("later", BPF_RINGBUF_BUSY_BIT);
  ring.Write("behind it");
  RingReader reader(ring.View());
  std::span<const uint8_t> r;
  EXPECT_FALSE(reader.Peek(&r));
  ring.Commit(busy);
  ASSERT_TRUE(reader.Peek(&r));
  EXPECT_EQ(Text(r), "later");
}

TEST(RingReader, DiscardedRecordsAreSkippedAndGivenBack) {
  FakeRing ring(4096);
  ring.Write("dropped", BPF_RINGBUF_DISCARD_BIT);
  ring.Write("kept");
  RingReader reader(ring.View());
  std::span<const uint8_t> r;
  ASSERT_TRUE(reader.Peek(&r));
  EXPECT_EQ(Text(r), "kept");
  EXPECT_EQ(ring.consumer(), 16u);  // the discarded record went back to the producer
}

TEST(RingReader, ARecordAcrossTheEndReadsAsOneThroughTheSecondMapping) {
  FakeRing ring(64);
  ring.SetPositions(1000);  // free-running positions far past the size; 1000 % 64 = 40
  ring.Write("0123456789abcdefghijklmnopqrstuvwxyz");
  RingReader reader(ring.View());
  std::span<const uint8_t> r;
  ASSERT_TRUE(reader.Peek(&r));
  EXPECT_EQ(Text(r), "0123456789abcdefghijklmnopqrstuvwxyz");
  reader.Consume();
  EXPECT_EQ(ring.consumer(), 1000u + 48);
}

}  // namespace
}  // namespace mailtap
