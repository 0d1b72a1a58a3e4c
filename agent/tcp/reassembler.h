// One direction of a TCP connection turned into a byte stream with explicit holes, the way
// Zeek's TCP_Reassembler feeds its analyzers: in-order bytes are delivered at once, out-of-order
// bytes wait (bounded), overlaps keep the first bytes seen, and bytes that will never arrive are
// reported as content gaps.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "mailtap/packet.h"
#include "mailtap/stats.h"
#include "mailtap/stream_consumer.h"

namespace mailtap {

// Bytes of buffered data a single reassembler may hold.
struct ReassemblyLimits {
  // Out-of-order data waiting for a hole to fill (payload plus a fixed per-block overhead, so
  // that a flood of one-byte segments cannot hold more memory than the bound says).
  size_t max_buffered_bytes_per_direction = 4 << 20;
  // Delivered bytes kept until the peer acknowledges them, only to detect retransmissions that
  // carry different bytes (rexmit_inconsistency). Older bytes are not checked; nothing is lost.
  // The buffer holding them may take up to twice this much memory.
  size_t max_retained_bytes_per_direction = 64 << 10;
};

class Reassembler;

// State shared by every reassembler of one flow table: the counters and the global bounds.
// Counters are atomics: the pipeline thread writes, the query server thread reads.
class ReassemblyContext {
 public:
  ReassemblyContext(size_t max_buffered_total, size_t max_retained_total)
      : max_buffered_total_(max_buffered_total), max_retained_total_(max_retained_total) {}
  ReassemblyContext(const ReassemblyContext&) = delete;
  ReassemblyContext& operator=(const ReassemblyContext&) = delete;

  // Reserves `n` bytes of the global out-of-order budget for `requester`, which will then hold
  // `held_after`. When the budget is exhausted, the reassemblers holding the most shed their
  // farthest blocks first, down to about `held_after` (never the requester itself: a few
  // connections cannot starve the others); false (nothing reserved) if there is still no room.
  bool ReserveBuffered(const Reassembler& requester, size_t held_after, size_t n);
  void ReleaseBuffered(size_t n) { buffered_.fetch_sub(n, std::memory_order_relaxed); }
  // Keeps the ranking of holders current: `r` held `from` bytes, now `to`.
  void Rank(Reassembler* r, size_t from, size_t to);
  bool ReserveRetained(size_t n) { return Reserve(retained_, max_retained_total_, n); }
  void ReleaseRetained(size_t n) { retained_.fetch_sub(n, std::memory_order_relaxed); }
  uint64_t buffered_bytes() const { return buffered_.load(std::memory_order_relaxed); }
  // Memory held for retained bytes (buffer capacity, not just the live bytes, and including the
  // pooled buffers below).
  uint64_t retained_bytes() const { return retained_.load(std::memory_order_relaxed); }

  // Retained-byte buffers of ended streams and of exchanges fully acknowledged, kept for new
  // bytes: a busy host opens and closes thousands of connections per second, each with a
  // message of a few KiB, and allocating (and page-faulting) a fresh buffer for each cost more
  // than the copying they hold. A pooled buffer stays charged to the budget.
  // Give takes `buffer` (and its charge) into the pool, or frees it if the pool is full.
  void GiveRetainedBuffer(std::vector<uint8_t>& buffer, size_t charged);
  // Swaps `*buffer` (empty; its capacity goes to the pool) for the smallest pooled buffer that
  // holds `min_capacity` bytes. False, and nothing changes, if none does.
  bool ExchangeRetainedBuffer(std::vector<uint8_t>* buffer, size_t* charged, size_t min_capacity);

  Counter retransmitted_bytes;      // bytes that were already delivered or buffered
  Counter out_of_order_segments;    // segments with bytes that had to wait for a hole
  Counter gap_events;               // Undelivered() calls
  Counter gap_bytes;                // bytes reported as content gaps
  Counter overflow_bytes;           // out-of-order bytes dropped because a buffer bound was hit
  Counter gap_bytes_dropped;        // of gap_bytes, those dropped at a buffer bound (see below)
  Counter truncated_payload_bytes;  // bytes on the wire the capture did not carry
  Counter rexmit_inconsistency;     // retransmissions overlapping earlier bytes with other bytes
  Counter seq_out_of_window;        // segments absurdly far from the expected sequence, dropped
  Counter late_data_bytes;          // bytes beyond the FIN or after a reset, ignored

 private:
  static bool Reserve(std::atomic<uint64_t>& used, size_t limit, size_t n) {
    uint64_t now = used.load(std::memory_order_relaxed);
    if (now + n > limit) return false;
    used.store(now + n, std::memory_order_relaxed);  // single writer: the pipeline thread
    return true;
  }

  struct PooledBuffer {
    std::vector<uint8_t> bytes;
    size_t charged;
  };
  // Up to twice the default per-direction retention (what a stream grows to under 64 KiB
  // segments), at most 64 buffers and 4 MiB in all.
  static constexpr size_t kMaxPooledBuffers = 64;
  static constexpr size_t kMaxPooledCapacity = 128 << 10;
  static constexpr size_t kMaxPooledBytes = 4 << 20;

  size_t max_buffered_total_;
  size_t max_retained_total_;
  // Reassemblers holding out-of-order bytes, by how many: the largest sheds first.
  std::set<std::pair<size_t, Reassembler*>> holders_;
  std::vector<PooledBuffer> retained_pool_;
  size_t pooled_capacity_ = 0;  // the pool's buffers together
  std::atomic<uint64_t> buffered_{0};
  std::atomic<uint64_t> retained_{0};
};

// Whether a segment overlapped bytes seen earlier with different content.
enum class Overlap { kConsistent, kInconsistent };

// How a stream ends when its connection ends.
enum class StreamEnd {
  kReset,    // RST: the stream is over (EndOfStream is called)
  kRemoval,  // idle timeout, eviction, end of input: EndOfStream only if a FIN was seen
};

// Reassembles the bytes one endpoint sends. Positions inside are "relative sequence numbers":
// the ISN is 0, so the first payload byte is 1 (Zeek's content-gap numbering). They are 64-bit;
// 32-bit wire numbers are unwrapped against the next expected byte, so streams longer than 4 GiB
// and ISNs near 2^32 work.
// Not thread-safe. Never throws.
class Reassembler {
 public:
  // `consumer` (nullable: the connection is not analysed; then nothing is buffered or delivered,
  // only positions are tracked) and `context` must outlive the reassembler.
  Reassembler(Side side, StreamConsumer* consumer, const ReassemblyLimits& limits,
              ReassemblyContext& context);
  ~Reassembler();
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  // Replaces the consumer by another for the same connection (a retired one's stand-in).
  // REQUIRES: both non-null.
  void Rebind(StreamConsumer* consumer) { consumer_ = consumer; }

  // Sets the initial sequence number: the SYN's seq, or for a direction whose SYN was not seen
  // the first seen seq - 1. REQUIRES: called once, before any other call but initialized().
  void Init(uint32_t isn);
  bool initialized() const { return initialized_; }
  uint32_t isn() const { return isn_; }

  // Payload of one segment; `seq` is the wire sequence number of its first byte. `wire_len` is
  // its length on the wire: bytes beyond payload.size() were cut by the capture and are reported
  // as a gap. `payload` is only read during the call (in-order bytes are delivered straight
  // from it; out-of-order bytes are copied). Bytes already delivered or buffered keep their
  // first value (counted as retransmitted); kInconsistent when a retransmission carried other
  // bytes there. A one-byte keep-alive at next-1 is a plain retransmission.
  Overlap AddData(Timestamp ts, uint32_t seq, std::span<const uint8_t> payload, uint32_t wire_len);

  // A FIN whose sequence number is `fin_seq`. EndOfStream follows once every byte before it has
  // been delivered or reported as a gap. Later FINs are ignored.
  void AddFin(Timestamp ts, uint32_t fin_seq);

  // The peer acknowledged everything before `ack`. Bytes before it that were never seen are a
  // content gap: reported now, then any buffered bytes that became contiguous are delivered.
  void AckReceived(Timestamp ts, uint32_t ack);

  // The connection is ending: reports the holes before the highest byte seen (or the FIN),
  // delivers what is buffered, then calls EndOfStream as `how` says. Idempotent.
  void Close(Timestamp ts, StreamEnd how);

  // True once EndOfStream has been called (or, without a consumer, once it would have been).
  bool ended() const { return ended_; }
  bool fin_seen() const { return fin_rel_ >= 0; }
  uint64_t delivered_bytes() const { return delivered_bytes_; }
  uint64_t gap_bytes() const { return gap_bytes_; }
  uint64_t gap_events() const { return gap_events_; }  // content gaps reported
  size_t buffered_bytes() const { return buffered_cost_; }

  // Drops buffered blocks, the farthest from delivery first, until `bytes` are freed or no more
  // than `floor` is held; the dropped bytes are counted (overflow_bytes) and reported as a gap
  // when acknowledged, like bytes that never fitted. For ReassemblyContext::ReserveBuffered.
  void ShedFarthest(size_t bytes, size_t floor);

 private:
  using BlockMap = std::map<int64_t, std::vector<uint8_t>>;  // start -> bytes, non-overlapping

  // Unwraps `seq` to a relative position; false if it is absurdly far from the window.
  bool Unwrap(uint32_t seq, int64_t* rel) const;
  int64_t ClipToStream(int64_t start, int64_t end);
  BlockMap::iterator BlockEndingAfter(int64_t pos);
  Overlap Insert(Timestamp ts, int64_t start, std::span<const uint8_t> bytes);
  Overlap CheckDelivered(int64_t start, std::span<const uint8_t> bytes) const;
  void DeliverNow(Timestamp ts, std::span<const uint8_t> bytes);
  void Buffer(int64_t start, std::span<const uint8_t> bytes);
  void DrainContiguous(Timestamp ts);
  void AdvanceTo(Timestamp ts, int64_t limit);
  void ReportGap(Timestamp ts, int64_t len);
  void NoteDropped(int64_t start, int64_t end);
  uint64_t DroppedWithin(int64_t start, int64_t end);
  void EraseBlock(BlockMap::iterator it);
  void SetBufferedCost(size_t cost);
  void CheckEnd(Timestamp ts);
  void EndStream(Timestamp ts);
  void Retain(std::span<const uint8_t> bytes);
  void TrimRetained(int64_t upto);
  void ClearRetained();
  void DropRetainedFront(size_t n);
  bool MakeRoom(size_t n);
  size_t RetainedSize() const { return retained_.size() - retained_head_; }

  Side side_;
  StreamConsumer* consumer_;
  ReassemblyLimits limits_;
  ReassemblyContext& context_;

  bool initialized_ = false;
  bool ended_ = false;
  uint32_t isn_ = 0;
  int64_t next_rel_ = 1;      // next byte to deliver; everything before it is done
  int64_t highest_seen_ = 1;  // one past the highest byte any segment claimed
  int64_t fin_rel_ = -1;      // position of the FIN, -1 until seen
  uint64_t delivered_bytes_ = 0;
  uint64_t gap_bytes_ = 0;
  uint64_t gap_events_ = 0;

  BlockMap blocks_;  // out-of-order bytes, all starting after next_rel_
  // The span from the first to the last byte dropped at a buffer bound and not yet passed: a gap
  // within it is counted as dropped (gap_bytes_dropped), the rest of a gap as never captured.
  // One span, not a list, keeps this O(1) in memory; a hole that was never captured but lies
  // between dropped bytes is counted as dropped. Empty when dropped_end_ <= dropped_begin_.
  int64_t dropped_begin_ = 0;
  int64_t dropped_end_ = 0;
  size_t buffered_cost_ = 0;  // what blocks_ holds against the bounds

  // Delivered bytes [retained_start_, next_rel_) not yet acknowledged, stored in
  // retained_[retained_head_ ..] (a vector used as a queue). Its capacity is what counts against
  // the global bound (retained_charged_), since that is the memory held.
  std::vector<uint8_t> retained_;
  size_t retained_head_ = 0;
  int64_t retained_start_ = 1;
  size_t retained_charged_ = 0;
};

}  // namespace mailtap
