#include "smtp/bdat.h"

#include <algorithm>
#include <limits>

namespace mailtap::smtp {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

char Upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool IsLastMarker(std::string_view rest) {
  static constexpr std::string_view kLast = " LAST";
  if (rest.size() != kLast.size()) return false;
  for (size_t i = 0; i < kLast.size(); ++i) {
    if (Upper(rest[i]) != kLast[i]) return false;
  }
  return true;
}

}  // namespace

// Order of checks and messages as in Zeek's parse_bdat_arg (spec 10.1).
BdatArg ParseBdatArg(std::string_view arg) {
  BdatArg r;
  if (arg.empty() || arg.size() > kMaxBdatArgLength) {
    r.error = "BDAT argument bad length";
    return r;
  }
  if (!IsDigit(arg[0])) {
    r.error = "BDAT not followed by a valid chunk-size";
    return r;
  }
  size_t pos = 0;
  uint64_t value = 0;
  bool overflow = false;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (; pos < arg.size() && IsDigit(arg[pos]); ++pos) {
    const auto digit = static_cast<uint64_t>(arg[pos] - '0');
    if (value > (kMax - digit) / 10) overflow = true;
    if (!overflow) value = value * 10 + digit;
  }
  // A NUL ends the number like the end of the argument does (Zeek parses a C string).
  if (pos < arg.size() && arg[pos] != ' ' && arg[pos] != '\0') {
    r.error = "BDAT chunk-size not valid";
    return r;
  }
  if (overflow) {
    r.error = "BDAT chunk-size too large";
    return r;
  }
  r.chunk_size = value;
  if (pos != arg.size()) {
    r.last = IsLastMarker(arg.substr(pos));
    if (!r.last) r.error = "BDAT chunk-size followed by junk";
  }
  return r;
}

BdatChunkSplitter::BdatChunkSplitter(BdatChunkListener& listener, size_t max_line_length)
    : listener_(listener), max_line_length_(std::max<size_t>(max_line_length, 1)) {}

void BdatChunkSplitter::NextChunk(uint64_t size, bool last) {
  remaining_ = size;
  last_ = last;
}

void BdatChunkSplitter::Deliver(std::span<const uint8_t> bytes) {
  if (bytes.size() > remaining_) {
    listener_.OnChunkWeird("smtp_bdat_chunk_overflow", "");
    bytes = bytes.first(static_cast<size_t>(remaining_));
  }
  // A CR left at the end of the previous delivery that is not followed by LF ends its line,
  // CR included (spec 10.4).
  if (!buf_.empty() && buf_.back() == '\r' && (bytes.empty() || bytes[0] != '\n')) {
    listener_.OnChunkWeird("smtp_bdat_line_cr_only", "");
    listener_.OnChunkLine(buf_, ChunkLineEnd::kAsSent);
    buf_.clear();
  }
  const size_t scan_from = buf_.empty() ? 0 : buf_.size() - 1;
  buf_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  SplitBuffer(scan_from);
  remaining_ -= bytes.size();
  if (Complete() && !buf_.empty()) {
    listener_.OnChunkLine(buf_, ChunkLineEnd::kAsSent);
    buf_.clear();
  }
}

void BdatChunkSplitter::SplitBuffer(size_t scan_from) {
  size_t line_start = 0;
  for (size_t i = scan_from; i < buf_.size(); ++i) {
    const std::string_view view(buf_);
    if (i + 1 < buf_.size() && buf_[i] == '\r' && buf_[i + 1] == '\n') {
      listener_.OnChunkLine(view.substr(line_start, i - line_start), ChunkLineEnd::kCrlfRemoved);
      line_start = i + 2;
      ++i;
    } else if (buf_[i] == '\n') {
      listener_.OnChunkWeird("smtp_bdat_line_lf_only", "");
      listener_.OnChunkLine(view.substr(line_start, i - line_start + 1), ChunkLineEnd::kAsSent);
      line_start = i + 1;
    } else if (i - line_start >= max_line_length_) {
      // The addl is the size of the whole buffer, as in Zeek, not the line length.
      listener_.OnChunkWeird("smtp_bdat_line_too_long", std::to_string(buf_.size()));
      listener_.OnChunkLine(view.substr(line_start, i - line_start), ChunkLineEnd::kAsSent);
      line_start = i;
    }
  }
  buf_.erase(0, line_start);
}

void BdatChunkSplitter::Done() {
  if (buf_.empty()) return;
  listener_.OnChunkWeird("smtp_bdat_undelivered_at_done", "");
  listener_.OnChunkLine(buf_, ChunkLineEnd::kAsSent);
  buf_.clear();
}

}  // namespace mailtap::smtp
