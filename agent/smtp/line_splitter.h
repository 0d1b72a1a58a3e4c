// Zeek's ContentLine semantics for one direction of an SMTP connection (spec section 3): CR, LF
// and CRLF end a line, the first NUL is dropped, lines are capped in length, and a "plain" mode
// hands the next N bytes through unsplit (BDAT chunks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace mailtap::smtp {

// Anomalies the splitter detects; the owner turns them into Zeek weirds (source "CONTENTLINE")
// and applies Zeek's once-per-connection rule where it exists.
enum class SplitterAnomaly : uint8_t {
  kSingleCr,     // line_terminated_with_single_CR
  kNulInLine,    // NUL_in_line (the first NUL of this direction was dropped)
  kLineTooLong,  // contentline_size_exceeded
  // The line was cut before Zeek's maximum because every splitter's partial lines together hit
  // the global memory budget (not a Zeek behaviour: only under memory pressure).
  kLineCutByMemoryBudget,
};

// The bytes all splitters may hold in partial lines together. Zeek caps each line at 16 MiB; with
// thousands of connections that alone bounds nothing, so mailtap also caps the sum. Fair: the
// part of any line beyond kShortLine bytes may only use 7/8 of the budget, so that a few
// connections parking huge unterminated lines cannot starve everyone else's ordinary lines (an
// SMTP command or reply line is at most 512 bytes, a header line 998). Not thread-safe (the
// pipeline thread owns every splitter).
class LineMemoryBudget {
 public:
  static constexpr size_t kShortLine = 4096;

  explicit LineMemoryBudget(size_t limit) : limit_(limit), long_limit_(limit - limit / 8) {}
  // How many more bytes a splitter that holds `held` bytes may take.
  size_t AvailableFor(size_t held) const;
  size_t used() const { return used_; }
  // A splitter's partial line went from `before` to `after` bytes.
  void Resize(size_t before, size_t after);

 private:
  static size_t LongPart(size_t n) { return n > kShortLine ? n - kShortLine : 0; }

  size_t limit_;
  size_t long_limit_;  // for the bytes of lines beyond kShortLine
  size_t used_ = 0;
  size_t used_long_ = 0;
};

// Receives the splitter's output. Called synchronously from Feed()/Flush().
class LineSplitterListener {
 public:
  virtual ~LineSplitterListener() = default;
  // One line without its terminator. `line` is valid during the call only. The listener may call
  // SetPlainDelivery() or Detach() on the splitter from here; they take effect for the next byte.
  virtual void OnLine(std::string_view line) = 0;
  // Bytes of a plain-mode delivery (see SetPlainDelivery). Valid during the call only.
  virtual void OnPlain(std::span<const uint8_t> bytes) = 0;
  virtual void OnAnomaly(SplitterAnomaly anomaly) = 0;
};

// Not thread-safe. Memory: the line buffer grows with the longest line seen, up to
// `max_line_length` bytes; a buffer that grew past kKeepCapacity is released after its line.
class LineSplitter {
 public:
  // Zeek 9.0: 16 MiB - 100.
  static constexpr size_t kDefaultMaxLineLength = 16'777'116;
  static constexpr size_t kKeepCapacity = 64 * 1024;

  // REQUIRES: max_line_length >= 2. `listener` and `budget` (nullable: no global budget) must
  // outlive the splitter.
  LineSplitter(LineSplitterListener& listener, size_t max_line_length,
               LineMemoryBudget* budget = nullptr);
  ~LineSplitter();
  LineSplitter(const LineSplitter&) = delete;
  LineSplitter& operator=(const LineSplitter&) = delete;

  // Splits `data` (the next in-order bytes of the stream). Stops early if Detach() is called.
  void Feed(std::span<const uint8_t> data);
  // One step of Feed(): the pending LF, then one line (or plain chunk, or the start of a line
  // that does not end within `data`). Returns the bytes consumed; Feed() is FeedOne() repeated.
  size_t FeedOne(std::span<const uint8_t> data);

  // The fast path for lines that are only counted (message bodies nobody reads line by line):
  // consumes the complete lines at the start of `data` that end in CRLF, hold none of the bytes
  // the splitter treats specially (CR, LF, an armed NUL), fit the cap and satisfy `take(line)`,
  // without handing them to the listener. Feed() would have delivered exactly those lines, with
  // no anomaly, and leaves the same state. The LF of a line that ended with CR is consumed
  // first. Does nothing while a line is partial or plain delivery is on. Returns the lines and
  // bytes consumed.
  struct Skipped {
    size_t lines = 0;
    size_t bytes = 0;
  };
  template <typename Take>
  Skipped SkipLines(std::span<const uint8_t> data, Take take);

  // End of the stream: a buffered unterminated line is delivered as if an LF had arrived
  // (spec 3.7). Goes through Feed, so a pending plain delivery swallows the LF.
  void FlushAtEnd();

  // The next `length` bytes bypass line splitting and go to OnPlain (spec 3.9). A pending LF of
  // the line that ended with CR is still swallowed first.
  void SetPlainDelivery(uint64_t length) { plain_remaining_ = length; }
  void CancelPlainDelivery() { plain_remaining_ = 0; }
  uint64_t plain_remaining() const { return plain_remaining_; }

  // Stops all further splitting (after STARTTLS the splitters are removed). Only Restart()
  // undoes it.
  void Detach() { detached_ = true; }
  // Starts over as a new splitter on another stream (the plaintext inside TLS, RFC 3207 4.2):
  // a buffered partial line is discarded, plain delivery cancelled, the first NUL armed again and
  // a detached splitter attached again.
  void Restart();
  bool detached() const { return detached_; }

  bool HasPartialLine() const { return !buf_.empty(); }
  size_t buffered_bytes() const { return buf_.size(); }

 private:
  // Consumes bytes until one line was emitted or `data` is exhausted; returns bytes consumed.
  size_t SplitOnce(std::span<const uint8_t> data);
  void EmitLine(uint8_t terminator);
  void EmitTruncatedLine(uint8_t current, size_t cap);
  // The longest line this splitter may buffer now: Zeek's maximum, or less when the global
  // budget is short. Constant during one SplitOnce (only this splitter runs meanwhile).
  size_t CurrentCap() const;
  void Append(const uint8_t* bytes, size_t n);
  void ClearBuffer();
  // Length of the run of ordinary bytes at the start of `data`: OrdinaryBytes, but at least 1.
  size_t OrdinaryRun(std::span<const uint8_t> data) const;
  size_t OrdinaryBytes(std::span<const uint8_t> data) const;

  LineSplitterListener& listener_;
  const size_t max_line_length_;
  LineMemoryBudget* budget_;
  std::string buf_;
  uint8_t last_char_ = 0;
  bool nul_armed_ = true;  // the first NUL of the direction is still to be dropped
  bool detached_ = false;
  uint64_t plain_remaining_ = 0;
};

template <typename Take>
LineSplitter::Skipped LineSplitter::SkipLines(std::span<const uint8_t> data, Take take) {
  Skipped skipped;
  if (!buf_.empty() || plain_remaining_ > 0 || detached_ || data.empty()) return skipped;
  if (last_char_ == '\r') {
    if (data[0] != '\n') return skipped;  // a single CR: Feed() reports it
    last_char_ = '\n';
    skipped.bytes = 1;
  }
  const size_t cap = CurrentCap();
  while (true) {
    const std::span<const uint8_t> rest = data.subspan(skipped.bytes);
    const size_t n = OrdinaryBytes(rest);
    if (n >= cap || n + 1 >= rest.size() || rest[n] != '\r' || rest[n + 1] != '\n') break;
    if (!take(std::string_view(reinterpret_cast<const char*>(rest.data()), n))) break;
    ++skipped.lines;
    skipped.bytes += n + 2;
  }
  if (skipped.lines > 0) last_char_ = '\n';  // as Feed() leaves it after a CRLF line
  return skipped;
}

}  // namespace mailtap::smtp
