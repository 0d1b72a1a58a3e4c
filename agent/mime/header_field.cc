#include "mime/header_field.h"

#include <strings.h>

#include <cctype>

namespace mailtap::mime {

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

namespace {

bool IsTspecial(char c) {
  return std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos;
}

// RFC 2045 token characters; a boundary value is lenient (Zeek accepts all but '"').
enum class TokenKind : uint8_t { kStrict, kBoundary };
bool IsTokenChar(char c, TokenKind kind) {
  const auto u = static_cast<unsigned char>(c);
  if (u < 33 || u > 126) return false;
  return kind == TokenKind::kBoundary ? c != '"' : !IsTspecial(c);
}

// Zeek's MIME_get_token: the first token in `s`, junk before it skipped; `*end` is the offset
// just after it.
std::optional<std::string_view> Token(std::string_view s, TokenKind kind, size_t* end) {
  size_t i = kind == TokenKind::kBoundary ? 0 : SkipLwsAndComments(s);
  while (i < s.size()) {
    if (IsTokenChar(s[i], kind)) {
      size_t j = i;
      while (j < s.size() && IsTokenChar(s[j], kind)) ++j;
      *end = j;
      return s.substr(i, j - i);
    }
    const size_t skip = SkipLwsAndComments(s.substr(i));
    i += skip > 0 ? skip : 1;
  }
  return std::nullopt;
}

// A quoted-string (RFC 822) after optional whitespace/comments, quoted pairs decoded.
std::optional<std::string> QuotedString(std::string_view s, size_t* end) {
  const size_t start = SkipLwsAndComments(s);
  if (start >= s.size() || s[start] != '"') return std::nullopt;
  std::string out;
  for (size_t i = start + 1; i < s.size(); ++i) {
    if (s[i] == '"') {
      *end = i + 1;
      return out;
    }
    // A trailing backslash is dropped, as Zeek's MIME_decode_quoted_pairs does.
    if (s[i] == '\\' && ++i >= s.size()) break;
    out.push_back(s[i]);
  }
  return std::nullopt;
}

// Zeek's MIME_get_value: a quoted-string or a token.
std::optional<std::string> ParameterValue(std::string_view s, TokenKind kind, size_t* end) {
  const size_t offset = kind == TokenKind::kBoundary ? 0 : SkipLwsAndComments(s);
  const std::string_view rest = s.substr(offset);
  std::optional<std::string> value;
  size_t used = 0;
  if (!rest.empty() && rest[0] == '"') {
    value = QuotedString(rest, &used);
  } else if (const auto token = Token(rest, kind, &used)) {
    value.emplace(*token);
  }
  *end = offset + used;
  return value;
}

// Zeek's ParseFieldParameters, for the one parameter it keeps: "; attr=value" pairs until
// something else follows.
std::optional<std::string> BoundaryParameter(std::string_view s) {
  std::optional<std::string> boundary;
  while (true) {
    size_t i = SkipLwsAndComments(s);
    if (i >= s.size() || s[i] != ';') break;
    s.remove_prefix(i + 1);
    size_t end = 0;
    const auto attr = Token(s, TokenKind::kStrict, &end);
    if (!attr) break;
    s.remove_prefix(end);
    i = SkipLwsAndComments(s);
    if (i >= s.size() || s[i] != '=') continue;
    s.remove_prefix(i + 1);
    const bool is_boundary = attr->size() == 8 && strncasecmp(attr->data(), "boundary", 8) == 0;
    auto value = ParameterValue(s, is_boundary ? TokenKind::kBoundary : TokenKind::kStrict, &end);
    if (!value) continue;
    if (is_boundary) boundary = std::move(value);
    s.remove_prefix(end);
  }
  return boundary;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// Where the last match of /name[[:blank:]]*\*?=[[:blank:]]*/ (case-insensitive) ends, with
// `star` allowing the '*'; npos if none.
size_t AfterLastNameAssignment(std::string_view s, std::string_view name, bool star) {
  size_t found = std::string_view::npos;
  for (size_t i = 0; i + name.size() <= s.size(); ++i) {
    if (!EqualsIgnoreCase(s.substr(i, name.size()), name)) continue;
    size_t j = i + name.size();
    while (j < s.size() && IsBlank(s[j])) ++j;
    if (star && j < s.size() && s[j] == '*') ++j;
    if (j >= s.size() || s[j] != '=') continue;
    ++j;
    while (j < s.size() && IsBlank(s[j])) ++j;
    found = j;
  }
  return found;
}

// RFC 2231 "charset'language'" before the value, in the character class entities.zeek uses.
bool IsCharsetChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) != 0 || std::string_view("!#$%&_`{}~").find(c) != std::string_view::npos ||
         (u >= '+' && u <= '^');
}

std::string_view StripCharsetPrefix(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && IsCharsetChar(s[i])) ++i;
  if (i == 0 || i >= s.size() || s[i] != '\'') return s;
  size_t j = i + 1;
  while (j < s.size() && IsCharsetChar(s[j])) ++j;
  if (j >= s.size() || s[j] != '\'') return s;
  // Zeek then removes /^.+'.*'/: everything up to the last quote.
  return s.substr(s.rfind('\'') + 1);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::optional<ContentTypeField> ParseContentType(std::string_view value) {
  size_t end = 0;
  const auto type = Token(value, TokenKind::kStrict, &end);
  if (!type) return std::nullopt;
  std::string_view rest = value.substr(end);
  const size_t slash = SkipLwsAndComments(rest);
  if (slash >= rest.size() || rest[slash] != '/') return std::nullopt;
  rest.remove_prefix(slash + 1);
  const auto subtype = Token(rest, TokenKind::kStrict, &end);
  if (!subtype) return std::nullopt;
  ContentTypeField field{*type, *subtype, std::nullopt};
  // Zeek parses parameters of multipart and message types only, and keeps just the boundary.
  if (EqualsIgnoreCase(*type, "multipart")) field.boundary = BoundaryParameter(rest.substr(end));
  return field;
}

std::optional<std::string_view> FirstToken(std::string_view value) {
  size_t end = 0;
  return Token(value, TokenKind::kStrict, &end);
}

bool HasFilenameParameter(std::string_view value) {
  return AfterLastNameAssignment(value, "filename", true) != std::string_view::npos;
}

bool HasNameParameter(std::string_view value) {
  return AfterLastNameAssignment(value, "name", false) != std::string_view::npos;
}

std::string FilenameFromHeaderValue(std::string_view value) {
  const size_t start = AfterLastNameAssignment(value, "name", true);
  std::string_view name = start == std::string_view::npos ? value : value.substr(start);
  if (!name.empty() && name[0] == '"') {
    name.remove_prefix(1);
    name = name.substr(0, name.find('"'));
  }
  return PercentDecode(StripCharsetPrefix(name));
}

}  // namespace mailtap::mime
