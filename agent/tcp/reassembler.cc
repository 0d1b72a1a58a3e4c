#include "tcp/reassembler.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <limits>

namespace mailtap {
namespace {

// The largest window TCP can advertise is 2^30 bytes (RFC 7323 section 2.3: window scale 14).
// A sequence or acknowledgement number farther than that from the next expected byte cannot
// belong to this stream; it is also well inside the +-2^31 range where unwrapping is unambiguous.
constexpr int64_t kMaxWindow = int64_t{1} << 30;

// Charged per out-of-order block on top of its payload: the map node and vector header. Keeps a
// flood of tiny segments within the same bound as a few large ones.
constexpr size_t kBlockOverhead = 64;

// Retention buffers up to this capacity are kept when they empty.
constexpr size_t kKeptRetainedCapacity = 4096;

constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();

// A reassembler that must shed gives at least this much, or 1/64 of the budget if less (unless
// it would then hold less than the one asking): an exhausted budget then costs one shedding per
// 64 KiB, not one per segment.
constexpr size_t kMinShedBytes = 64 << 10;
// Reassemblers made to shed for one reservation, at most.
constexpr int kMaxShedPerReservation = 8;

std::span<const uint8_t> Slice(std::span<const uint8_t> bytes, int64_t bytes_start, int64_t from,
                               int64_t to) {
  return bytes.subspan(static_cast<size_t>(from - bytes_start), static_cast<size_t>(to - from));
}

}  // namespace

bool ReassemblyContext::ReserveBuffered(const Reassembler& requester, size_t held_after, size_t n) {
  for (int shed = 0; shed < kMaxShedPerReservation && !holders_.empty() &&
                     buffered_.load(std::memory_order_relaxed) + n > max_buffered_total_;
       ++shed) {
    const auto [held, largest] = *holders_.rbegin();
    if (largest == &requester || held <= held_after) break;
    const size_t over = buffered_.load(std::memory_order_relaxed) + n - max_buffered_total_;
    const size_t min_shed = std::min(kMinShedBytes, max_buffered_total_ / 64);
    largest->ShedFarthest(std::max(over, min_shed), held_after);
  }
  return Reserve(buffered_, max_buffered_total_, n);
}

void ReassemblyContext::Rank(Reassembler* r, size_t from, size_t to) {
  if (from > 0) holders_.erase({from, r});
  if (to > 0) holders_.emplace(to, r);
}

void ReassemblyContext::GiveRetainedBuffer(std::vector<uint8_t>& buffer, size_t charged) {
  if (retained_pool_.size() < kMaxPooledBuffers && buffer.capacity() > 0 &&
      buffer.capacity() <= kMaxPooledCapacity &&
      pooled_capacity_ + buffer.capacity() <= kMaxPooledBytes) {
    buffer.clear();
    pooled_capacity_ += buffer.capacity();
    retained_pool_.push_back(PooledBuffer{std::move(buffer), charged});
  } else {
    ReleaseRetained(charged);
  }
  std::vector<uint8_t>().swap(buffer);
}

bool ReassemblyContext::ExchangeRetainedBuffer(std::vector<uint8_t>* buffer, size_t* charged,
                                               size_t min_capacity) {
  PooledBuffer* best = nullptr;
  for (PooledBuffer& pooled : retained_pool_) {
    if (pooled.bytes.capacity() >= min_capacity &&
        (best == nullptr || pooled.bytes.capacity() < best->bytes.capacity())) {
      best = &pooled;
    }
  }
  if (best == nullptr) return false;
  pooled_capacity_ += buffer->capacity() - best->bytes.capacity();
  std::swap(best->bytes, *buffer);
  std::swap(best->charged, *charged);
  if (best->bytes.capacity() == 0) {
    std::swap(*best, retained_pool_.back());
    retained_pool_.pop_back();
  }
  return true;
}

Reassembler::Reassembler(Side side, StreamConsumer* consumer, const ReassemblyLimits& limits,
                         ReassemblyContext& context)
    : side_(side), consumer_(consumer), limits_(limits), context_(context) {}

Reassembler::~Reassembler() {
  context_.Rank(this, buffered_cost_, 0);
  context_.ReleaseBuffered(buffered_cost_);
  context_.ReleaseRetained(retained_charged_);
}

void Reassembler::Init(uint32_t isn) {
  initialized_ = true;
  isn_ = isn;
}

bool Reassembler::Unwrap(uint32_t seq, int64_t* rel) const {
  uint32_t expected = isn_ + static_cast<uint32_t>(next_rel_);
  int64_t delta = static_cast<int32_t>(seq - expected);
  if (delta > kMaxWindow || delta < -kMaxWindow) return false;
  *rel = next_rel_ + delta;
  return true;
}

Overlap Reassembler::AddData(Timestamp ts, uint32_t seq, std::span<const uint8_t> payload,
                             uint32_t wire_len) {
  int64_t claimed = std::max<int64_t>(wire_len, static_cast<int64_t>(payload.size()));
  if (claimed == 0) return Overlap::kConsistent;
  int64_t start = 0;
  if (!Unwrap(seq, &start)) {
    context_.seq_out_of_window.Add();
    return Overlap::kConsistent;
  }
  // A keep-alive (RFC 1122 section 4.2.3.6) may carry one garbage byte at SND.NXT - 1: it is a
  // retransmission by design, not an inconsistent one.
  if (claimed == 1 && start == next_rel_ - 1) {
    context_.retransmitted_bytes.Add();
    return Overlap::kConsistent;
  }
  auto captured = static_cast<int64_t>(payload.size());
  if (captured < claimed) context_.truncated_payload_bytes.Add(claimed - captured);
  int64_t end = ClipToStream(start, start + claimed);
  captured = std::min(captured, end - start);
  highest_seen_ = std::max(highest_seen_, end);
  if (consumer_ == nullptr) {  // not analysed: positions only
    if (end > next_rel_) delivered_bytes_ += end - std::max(start, next_rel_);
    next_rel_ = std::max(next_rel_, end);
    return Overlap::kConsistent;
  }
  Overlap overlap = Insert(ts, start, payload.first(static_cast<size_t>(captured)));
  // A cut segment is cut the same way every time it is captured: once the bytes before the cut
  // are through, the missing ones are a gap now rather than at the next ACK.
  if (start + captured < end && next_rel_ >= start + captured && next_rel_ < end) {
    AdvanceTo(ts, end);
  }
  CheckEnd(ts);
  return overlap;
}

int64_t Reassembler::ClipToStream(int64_t start, int64_t end) {
  // Nothing belongs to the stream after its FIN, or after it ended (reset).
  int64_t limit = ended_ ? next_rel_ : (fin_rel_ >= 0 ? fin_rel_ : kNoLimit);
  if (end <= limit) return end;
  context_.late_data_bytes.Add(end - std::max(start, limit));
  return std::max(start, limit);
}

Reassembler::BlockMap::iterator Reassembler::BlockEndingAfter(int64_t pos) {
  auto it = blocks_.upper_bound(pos);
  if (it != blocks_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + static_cast<int64_t>(prev->second.size()) > pos) return prev;
  }
  return it;
}

Overlap Reassembler::Insert(Timestamp ts, int64_t start, std::span<const uint8_t> bytes) {
  Overlap result = Overlap::kConsistent;
  bool waited = false;
  int64_t end = start + static_cast<int64_t>(bytes.size());
  int64_t pos = start;
  while (pos < end) {
    if (pos < next_rel_) {  // already delivered (or reported as a gap)
      int64_t to = std::min(end, next_rel_);
      if (CheckDelivered(pos, Slice(bytes, start, pos, to)) == Overlap::kInconsistent) {
        result = Overlap::kInconsistent;
      }
      context_.retransmitted_bytes.Add(to - pos);
      pos = to;
      continue;
    }
    auto it = BlockEndingAfter(pos);
    if (it != blocks_.end() && it->first <= pos) {  // buffered earlier: first data wins
      int64_t to = std::min(end, it->first + static_cast<int64_t>(it->second.size()));
      auto piece = Slice(bytes, start, pos, to);
      if (std::memcmp(piece.data(), it->second.data() + (pos - it->first), piece.size()) != 0) {
        result = Overlap::kInconsistent;
      }
      context_.retransmitted_bytes.Add(to - pos);
      pos = to;
      continue;
    }
    int64_t to = it == blocks_.end() ? end : std::min(end, it->first);
    if (pos == next_rel_) {
      DeliverNow(ts, Slice(bytes, start, pos, to));
      DrainContiguous(ts);
    } else {
      Buffer(pos, Slice(bytes, start, pos, to));
      waited = true;
    }
    pos = to;
  }
  if (waited) context_.out_of_order_segments.Add();
  if (result == Overlap::kInconsistent) context_.rexmit_inconsistency.Add();
  return result;
}

Overlap Reassembler::CheckDelivered(int64_t start, std::span<const uint8_t> bytes) const {
  int64_t from = std::max(start, retained_start_);
  int64_t to = std::min(start + static_cast<int64_t>(bytes.size()), next_rel_);
  if (from >= to) return Overlap::kConsistent;
  const uint8_t* kept = retained_.data() + retained_head_ + (from - retained_start_);
  const uint8_t* seen = bytes.data() + (from - start);
  return std::memcmp(kept, seen, static_cast<size_t>(to - from)) == 0 ? Overlap::kConsistent
                                                                      : Overlap::kInconsistent;
}

void Reassembler::DeliverNow(Timestamp ts, std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  Retain(bytes);
  next_rel_ += static_cast<int64_t>(bytes.size());
  delivered_bytes_ += bytes.size();
  consumer_->Deliver(side_, ts, bytes);
}

void Reassembler::Buffer(int64_t start, std::span<const uint8_t> bytes) {
  size_t cost = bytes.size() + kBlockOverhead;
  if (buffered_cost_ + cost > limits_.max_buffered_bytes_per_direction ||
      !context_.ReserveBuffered(*this, buffered_cost_ + cost, cost)) {
    // Dropped, not lost yet: the hole is reported when acknowledged or at close (and may be
    // filled before by a retransmission).
    context_.overflow_bytes.Add(bytes.size());
    NoteDropped(start, start + static_cast<int64_t>(bytes.size()));
    return;
  }
  blocks_.emplace(start, std::vector<uint8_t>(bytes.begin(), bytes.end()));
  SetBufferedCost(buffered_cost_ + cost);
}

void Reassembler::EraseBlock(BlockMap::iterator it) {
  size_t cost = it->second.size() + kBlockOverhead;
  SetBufferedCost(buffered_cost_ - cost);
  context_.ReleaseBuffered(cost);
  blocks_.erase(it);
}

void Reassembler::SetBufferedCost(size_t cost) {
  context_.Rank(this, buffered_cost_, cost);
  buffered_cost_ = cost;
}

void Reassembler::ShedFarthest(size_t bytes, size_t floor) {
  for (size_t freed = 0; freed < bytes && buffered_cost_ > floor && !blocks_.empty();) {
    auto last = std::prev(blocks_.end());
    const int64_t start = last->first;
    const size_t size = last->second.size();
    context_.overflow_bytes.Add(size);
    NoteDropped(start, start + static_cast<int64_t>(size));
    freed += size + kBlockOverhead;
    EraseBlock(last);
  }
}

void Reassembler::DrainContiguous(Timestamp ts) {
  while (!blocks_.empty() && blocks_.begin()->first <= next_rel_) {
    auto it = blocks_.begin();
    int64_t block_end = it->first + static_cast<int64_t>(it->second.size());
    if (block_end > next_rel_) {
      std::span<const uint8_t> bytes(it->second);
      DeliverNow(ts, Slice(bytes, it->first, next_rel_, block_end));
    }
    EraseBlock(it);
  }
}

void Reassembler::AdvanceTo(Timestamp ts, int64_t limit) {
  while (true) {
    DrainContiguous(ts);
    if (next_rel_ >= limit) break;
    int64_t hole_end = blocks_.empty() ? limit : std::min(limit, blocks_.begin()->first);
    ReportGap(ts, hole_end - next_rel_);
  }
}

void Reassembler::NoteDropped(int64_t start, int64_t end) {
  if (dropped_end_ <= dropped_begin_) {
    dropped_begin_ = start;
    dropped_end_ = end;
    return;
  }
  dropped_begin_ = std::min(dropped_begin_, start);
  dropped_end_ = std::max(dropped_end_, end);
}

// How much of the gap [start, end) was dropped here; forgets the dropped span up to `end`, since
// bytes before next_rel_ are never reported again.
uint64_t Reassembler::DroppedWithin(int64_t start, int64_t end) {
  int64_t overlap = std::min(end, dropped_end_) - std::max(start, dropped_begin_);
  dropped_begin_ = std::max(dropped_begin_, end);
  return overlap > 0 ? static_cast<uint64_t>(overlap) : 0;
}

void Reassembler::ReportGap(Timestamp ts, int64_t len) {
  auto seq = static_cast<uint64_t>(next_rel_);
  context_.gap_bytes_dropped.Add(DroppedWithin(next_rel_, next_rel_ + len));
  next_rel_ += len;
  gap_bytes_ += static_cast<uint64_t>(len);
  ++gap_events_;
  ClearRetained();  // what is retained must end at next_rel_
  context_.gap_events.Add();
  context_.gap_bytes.Add(static_cast<uint64_t>(len));
  consumer_->Undelivered(side_, ts, seq, static_cast<uint64_t>(len));
}

void Reassembler::AddFin(Timestamp ts, uint32_t fin_seq) {
  if (fin_rel_ >= 0 || ended_) return;
  int64_t rel = 0;
  if (!Unwrap(fin_seq, &rel)) {
    context_.seq_out_of_window.Add();
    return;
  }
  // A FIN before bytes already delivered cannot take them back.
  fin_rel_ = std::max(rel, next_rel_);
  highest_seen_ = std::max(highest_seen_, fin_rel_);
  if (consumer_ == nullptr) {
    ended_ = true;
    return;
  }
  CheckEnd(ts);
}

void Reassembler::AckReceived(Timestamp ts, uint32_t ack) {
  if (consumer_ == nullptr || ended_) return;
  int64_t rel = 0;
  if (!Unwrap(ack, &rel)) return;
  TrimRetained(rel);
  // The FIN takes a sequence number but is not a byte of the stream.
  int64_t limit = fin_rel_ >= 0 ? std::min(rel, fin_rel_) : rel;
  if (limit > next_rel_) AdvanceTo(ts, limit);
  CheckEnd(ts);
}

void Reassembler::Close(Timestamp ts, StreamEnd how) {
  if (ended_) return;
  if (consumer_ != nullptr) AdvanceTo(ts, std::max(highest_seen_, fin_rel_));
  if (how == StreamEnd::kReset || fin_rel_ >= 0) EndStream(ts);
}

void Reassembler::CheckEnd(Timestamp ts) {
  if (!ended_ && fin_rel_ >= 0 && next_rel_ >= fin_rel_) EndStream(ts);
}

void Reassembler::EndStream(Timestamp ts) {
  ended_ = true;
  // Only bytes claimed to lie beyond the FIN can still be buffered here.
  while (!blocks_.empty()) {
    context_.late_data_bytes.Add(blocks_.begin()->second.size());
    EraseBlock(blocks_.begin());
  }
  ClearRetained();
  // Nothing more will be retained: ended connections linger for the close delay, thousands at
  // a time on a busy host, and should not each keep a buffer. New streams reuse it.
  context_.GiveRetainedBuffer(retained_, retained_charged_);
  retained_charged_ = 0;
  if (consumer_ != nullptr) consumer_->EndOfStream(side_, ts);
}

void Reassembler::Retain(std::span<const uint8_t> bytes) {
  // Called before next_rel_ moves past `bytes`.
  size_t cap = limits_.max_retained_bytes_per_direction;
  std::span<const uint8_t> keep = bytes.size() > cap ? bytes.last(cap) : bytes;
  if (keep.size() < bytes.size()) {
    ClearRetained();
    retained_start_ = next_rel_ + static_cast<int64_t>(bytes.size() - keep.size());
  } else if (RetainedSize() + keep.size() > cap) {
    DropRetainedFront(RetainedSize() + keep.size() - cap);
  }
  if (keep.empty()) return;
  if (!MakeRoom(keep.size())) {
    ClearRetained();
    retained_start_ = next_rel_ + static_cast<int64_t>(bytes.size());
    return;
  }
  retained_.insert(retained_.end(), keep.begin(), keep.end());
}

bool Reassembler::MakeRoom(size_t n) {
  if (retained_.size() + n <= retained_.capacity()) return true;
  // The vector is a queue: move the live bytes to the front before growing.
  retained_.erase(retained_.begin(), retained_.begin() + static_cast<ptrdiff_t>(retained_head_));
  retained_head_ = 0;
  if (retained_.size() + n <= retained_.capacity()) return true;
  if (retained_.empty() && context_.ExchangeRetainedBuffer(&retained_, &retained_charged_, n)) {
    return true;
  }
  // Up to twice the cap, so that a full queue is compacted once per cap bytes, not per segment;
  // and at once the size kept between exchanges, not doubling up to it from a few bytes.
  size_t want =
      std::max({retained_.size() + n,
                std::min(2 * retained_.capacity(), 2 * limits_.max_retained_bytes_per_direction),
                std::min(kKeptRetainedCapacity, limits_.max_retained_bytes_per_direction)});
  if (!context_.ReserveRetained(want - retained_charged_)) return false;
  retained_.reserve(want);
  retained_charged_ = want;
  return true;
}

void Reassembler::TrimRetained(int64_t upto) {
  if (upto <= retained_start_) return;
  DropRetainedFront(std::min(static_cast<size_t>(upto - retained_start_), RetainedSize()));
}

void Reassembler::DropRetainedFront(size_t n) {
  retained_head_ += n;
  retained_start_ += static_cast<int64_t>(n);
  if (retained_head_ == retained_.size()) ClearRetained();
}

void Reassembler::ClearRetained() {
  retained_.clear();
  retained_head_ = 0;
  retained_start_ = next_rel_;
  // Small buffers stay for the next bytes (no allocation per command/reply exchange); large ones
  // go to the pool (or are freed), so that memory follows what is unacknowledged now, not what
  // once was.
  if (retained_.capacity() > kKeptRetainedCapacity) {
    context_.GiveRetainedBuffer(retained_, retained_charged_);
    retained_charged_ = 0;
  }
}

}  // namespace mailtap
