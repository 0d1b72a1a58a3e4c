// The header block of the top-level MIME entity of a message, with Zeek's MIME header rules
// (spec 19.1 "Header handling"). Multipart children and bodies are not parsed here.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mailtap::smtp {

// A complete (unfolded) header field split into name and value: the name is the first run of
// field-name characters (33..126 except ':') after leading whitespace/comments; a ':' must follow
// (whitespace/comments allowed in between); the value is everything after the first ':' with
// leading whitespace removed and trailing whitespace kept. nullopt = malformed (dropped).
struct HeaderField {
  std::string_view name;
  std::string_view value;
};
std::optional<HeaderField> ParseHeaderField(std::string_view field);

class HeaderListener {
 public:
  virtual ~HeaderListener() = default;
  // A complete header of the top-level entity. Views valid during the call only.
  virtual void OnHeader(std::string_view original_name, std::string_view value) = 0;
  // A continuation line was dropped because the header already holds `total_bytes` >= the cap.
  virtual void OnHeaderTooLong(size_t total_bytes) = 0;
};

// Feeds message lines until the empty line that ends the header block. A header is reported when
// it is complete: at the next non-continuation line, at the end of the block, or at Finish().
// Memory: holds one folded header of at most twice max_header_bytes: continuations are dropped
// once it holds the cap, and a line is cut at the cap (both reported by OnHeaderTooLong).
class TopLevelHeaders {
 public:
  // `listener` must outlive this object.
  TopLevelHeaders(HeaderListener& listener, size_t max_header_bytes)
      : listener_(listener), max_header_bytes_(max_header_bytes) {}

  // One line of the message, without its CRLF. Lines after the header block are ignored.
  void Line(std::string_view line);
  // End of the message: a pending header is reported.
  void Finish();
  bool in_header() const { return in_header_; }

 private:
  void NewHeader(std::string_view line);
  void Continuation(std::string_view line);
  void FinishHeader();
  void Append(std::string_view line);

  static constexpr size_t kKeptCapacity = 1024;
  HeaderListener& listener_;
  const size_t max_header_bytes_;
  bool in_header_ = true;
  bool have_header_ = false;
  std::string current_;
};

}  // namespace mailtap::smtp
