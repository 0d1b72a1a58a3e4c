#include "smtp/mime_headers.h"

namespace mailtap::smtp {

namespace {

bool IsLws(char c) { return c == ' ' || c == '\t'; }

bool IsCSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool IsFieldNameChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 33 && u <= 126 && c != ':';
}

// Length of an RFC 822 comment "(...)" at the start of `s` (nested, with \-escapes); an
// unterminated comment runs to the end. 0 if `s` does not start with '('.
size_t CommentLength(std::string_view s) {
  if (s.empty() || s[0] != '(') return 0;
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '(') {
      ++depth;
    } else if (s[i] == ')') {
      if (--depth == 0) return i + 1;
    } else if (s[i] == '\\') {
      ++i;
    }
  }
  return s.size();
}

size_t SkipLwsAndComments(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (IsLws(s[i])) {
      ++i;
    } else if (s[i] == '(') {
      i += CommentLength(s.substr(i));
    } else {
      return i;
    }
  }
  return s.size();
}

// Zeek's MIME_get_field_name: junk before the name is skipped byte by byte.
std::optional<std::string_view> FieldName(std::string_view s, size_t* end) {
  size_t i = SkipLwsAndComments(s);
  while (i < s.size()) {
    if (IsFieldNameChar(s[i])) {
      size_t j = i;
      while (j < s.size() && IsFieldNameChar(s[j])) ++j;
      *end = j;
      return s.substr(i, j - i);
    }
    const size_t skip = SkipLwsAndComments(s.substr(i));
    i += skip > 0 ? skip : 1;
  }
  return std::nullopt;
}

}  // namespace

std::optional<HeaderField> ParseHeaderField(std::string_view field) {
  size_t end = 0;
  const auto name = FieldName(field, &end);
  if (!name) return std::nullopt;
  std::string_view rest = field.substr(end);
  const size_t colon = SkipLwsAndComments(rest);
  if (colon >= rest.size() || rest[colon] != ':') return std::nullopt;
  std::string_view value = rest.substr(colon + 1);
  while (!value.empty() && IsCSpace(value.front())) value.remove_prefix(1);
  return HeaderField{*name, value};
}

void TopLevelHeaders::Line(std::string_view line) {
  if (!in_header_) return;
  // Zeek also ends the block at a line starting with NUL.
  if (line.empty() || line[0] == '\0') {
    FinishHeader();
    in_header_ = false;
  } else if (IsLws(line[0])) {
    Continuation(line);
  } else {
    NewHeader(line);
  }
}

void TopLevelHeaders::Finish() {
  if (!in_header_) return;
  FinishHeader();
  in_header_ = false;
}

void TopLevelHeaders::NewHeader(std::string_view line) {
  FinishHeader();
  if (line.empty()) return;
  current_.clear();
  Append(line);
  have_header_ = true;
}

// As Zeek, a line is appended while the header is below the cap; unlike Zeek, no more than
// max_header_bytes of one line, so the header never holds more than twice the cap (issue 17:
// lines of any length were kept whole until the next header line, which need never come).
void TopLevelHeaders::Append(std::string_view line) {
  if (max_header_bytes_ > 0 && line.size() > max_header_bytes_) {
    line = line.substr(0, max_header_bytes_);
    listener_.OnHeaderTooLong(current_.size() + line.size());
  }
  current_.append(line);
}

// Folded lines are appended as they are, leading whitespace included (spec 19.1).
void TopLevelHeaders::Continuation(std::string_view line) {
  if (!have_header_) {
    // A first header line that starts with whitespace is taken as a header without it.
    size_t ws = 0;
    while (ws < line.size() && IsLws(line[ws])) ++ws;
    NewHeader(line.substr(ws));
    return;
  }
  if (max_header_bytes_ > 0 && current_.size() >= max_header_bytes_) {
    listener_.OnHeaderTooLong(current_.size());
    return;
  }
  Append(line);
}

void TopLevelHeaders::FinishHeader() {
  if (!have_header_) return;
  have_header_ = false;
  if (const auto field = ParseHeaderField(current_)) {
    listener_.OnHeader(field->name, field->value);
  }
  current_.clear();
  // A long header's allocation is not kept for the rest of the message.
  if (current_.capacity() > kKeptCapacity) current_.shrink_to_fit();
}

}  // namespace mailtap::smtp
