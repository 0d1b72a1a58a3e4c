#include "smtp/line_splitter.h"

#include <algorithm>

#include "common/word_bytes.h"

namespace mailtap::smtp {

namespace {
constexpr uint8_t kCr = '\r';
constexpr uint8_t kLf = '\n';
}  // namespace

size_t LineMemoryBudget::AvailableFor(size_t held) const {
  const size_t room = limit_ - used_;
  const size_t long_room = long_limit_ > used_long_ ? long_limit_ - used_long_ : 0;
  const size_t short_room = held < kShortLine ? kShortLine - held : 0;
  return std::min(room, short_room + long_room);
}

void LineMemoryBudget::Resize(size_t before, size_t after) {
  used_ = used_ - before + after;
  used_long_ = used_long_ - LongPart(before) + LongPart(after);
}

LineSplitter::LineSplitter(LineSplitterListener& listener, size_t max_line_length,
                           LineMemoryBudget* budget)
    : listener_(listener),
      max_line_length_(std::max<size_t>(max_line_length, 2)),
      budget_(budget) {}

LineSplitter::~LineSplitter() { ClearBuffer(); }

void LineSplitter::Restart() {
  ClearBuffer();
  last_char_ = 0;
  nul_armed_ = true;
  detached_ = false;
  plain_remaining_ = 0;
}

size_t LineSplitter::CurrentCap() const {
  if (budget_ == nullptr) return max_line_length_;
  // At least 2 so that a starved splitter still makes progress (one byte per line).
  return std::clamp<size_t>(buf_.size() + budget_->AvailableFor(buf_.size()), 2, max_line_length_);
}

void LineSplitter::Append(const uint8_t* bytes, size_t n) {
  const size_t before = buf_.size();
  buf_.append(reinterpret_cast<const char*>(bytes), n);
  if (budget_ != nullptr) budget_->Resize(before, buf_.size());
}

void LineSplitter::ClearBuffer() {
  if (budget_ != nullptr) budget_->Resize(buf_.size(), 0);
  buf_.clear();
  if (buf_.capacity() > kKeepCapacity) std::string().swap(buf_);
}

void LineSplitter::Feed(std::span<const uint8_t> data) {
  while (!data.empty() && !detached_) data = data.subspan(FeedOne(data));
}

size_t LineSplitter::FeedOne(std::span<const uint8_t> data) {
  if (data.empty() || detached_) return 0;
  size_t used = 0;
  // A CR ended the previous line; its LF (possibly in this later delivery) belongs to it. This
  // is checked before plain mode because the BDAT command line may have ended with that CR.
  if (last_char_ == kCr && data[0] == kLf) {
    last_char_ = kLf;
    used = 1;
    data = data.subspan(1);
    if (data.empty()) return used;
  }
  if (plain_remaining_ > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(plain_remaining_, data.size()));
    last_char_ = 0;  // the CR of the command line must not swallow a later chunk byte
    plain_remaining_ -= n;
    listener_.OnPlain(data.first(n));
    return used + n;
  }
  return used + SplitOnce(data);
}

void LineSplitter::FlushAtEnd() {
  if (buf_.empty()) return;
  static constexpr uint8_t kNewline[1] = {kLf};
  Feed(kNewline);
}

// One line at most per call, so that a mode switch made by the listener for that line (plain
// delivery, detach) applies to the very next byte.
size_t LineSplitter::SplitOnce(std::span<const uint8_t> data) {
  bool check_single_cr = last_char_ == kCr;
  const size_t cap = CurrentCap();
  // The common case, a whole line within `data`: handed out from `data` without a copy.
  if (buf_.empty() && !check_single_cr) {
    const size_t n = OrdinaryBytes(data);
    if (n < data.size() && n < cap && (data[n] == kCr || data[n] == kLf)) {
      last_char_ = data[n];
      listener_.OnLine(std::string_view(reinterpret_cast<const char*>(data.data()), n));
      return n + 1;
    }
  }
  size_t i = 0;
  while (i < data.size()) {
    const uint8_t c = data[i];
    if (buf_.size() >= cap) {
      EmitTruncatedLine(c, cap);
      return i + 1;
    }
    if (c == kCr || c == kLf) {
      EmitLine(c);
      return i + 1;
    }
    size_t step = 1;
    if (c == 0 && nul_armed_) {
      nul_armed_ = false;
      listener_.OnAnomaly(SplitterAnomaly::kNulInLine);
    } else {
      step = std::min(OrdinaryRun(data.subspan(i)), cap - buf_.size());
      Append(data.data() + i, step);
    }
    // Only the byte right after a line-ending CR can make it a "single" CR (spec 3.2).
    if (check_single_cr) {
      listener_.OnAnomaly(SplitterAnomaly::kSingleCr);
      check_single_cr = false;
    }
    i += step;
    last_char_ = data[i - 1];
  }
  return i;
}

size_t LineSplitter::OrdinaryRun(std::span<const uint8_t> data) const {
  return std::max<size_t>(OrdinaryBytes(data), 1);
}

size_t LineSplitter::OrdinaryBytes(std::span<const uint8_t> data) const {
  // Every special byte (NUL, LF, CR) is <= CR: jump to the next byte that low, then look at it.
  for (size_t n = 0;; ++n) {
    n += FindByteAtMost(data.subspan(n), kCr);
    if (n == data.size()) return n;
    const uint8_t b = data[n];
    if (b == kCr || b == kLf || (b == 0 && nul_armed_)) return n;
  }
}

void LineSplitter::EmitLine(uint8_t terminator) {
  last_char_ = terminator;
  listener_.OnLine(buf_);
  ClearBuffer();
}

// Zeek 9.0 (spec 3.6): the capped buffer is full; its last byte and the current byte are lost.
void LineSplitter::EmitTruncatedLine(uint8_t current, size_t cap) {
  listener_.OnAnomaly(cap < max_line_length_ ? SplitterAnomaly::kLineCutByMemoryBudget
                                             : SplitterAnomaly::kLineTooLong);
  // Zeek 9.0 loses the byte in the last slot too (spec 3.6).
  if (budget_ != nullptr) budget_->Resize(buf_.size(), cap - 1);
  buf_.resize(cap - 1);
  EmitLine(current);
}

}  // namespace mailtap::smtp
