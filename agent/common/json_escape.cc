#include "common/json_escape.h"

#include <cstdint>

#include "common/word_bytes.h"

namespace mailtap {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not valid (overlong forms,
// surrogates and code points above U+10FFFF are invalid, per RFC 3629).
size_t ValidUtf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  uint8_t c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;  // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // > U+10FFFF
    return 4;
  }
  return 0;
}

constexpr char kHex[] = "0123456789abcdef";

void AppendControl(uint8_t c, std::string* out) {
  switch (c) {
    case '\b': *out += "\\b"; return;
    case '\f': *out += "\\f"; return;
    case '\n': *out += "\\n"; return;
    case '\r': *out += "\\r"; return;
    case '\t': *out += "\\t"; return;
    default:
      *out += "\\u00";
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xF]);
  }
}

// Printable ASCII other than `"` and `\`: the common case, copied in runs.
bool NeedsNoEscape(uint8_t c) { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\'; }

// True when none of the 8 bytes of `word` needs more than copying: each is printable ASCII
// (0x20..0x7E) other than `"` and `\`. Most lines of mail are plain ASCII text.
bool EightPlainBytes(uint64_t word) {
  return !HasNonAscii(word) && !HasByteBelow(word, 0x20) && !HasByte(word, 0x7F) &&
         !HasByte(word, '"') && !HasByte(word, '\\');
}

size_t PlainRun(std::string_view bytes, size_t i) {
  size_t run = i;
  for (; run + 8 <= bytes.size(); run += 8) {
    if (!EightPlainBytes(LoadWord(bytes.data() + run))) break;
  }
  while (run < bytes.size() && NeedsNoEscape(static_cast<uint8_t>(bytes[run]))) ++run;
  return run;
}

}  // namespace

void AppendJsonEscaped(std::string_view bytes, std::string* out) {
  out->reserve(out->size() + bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const size_t run = PlainRun(bytes, i);
    if (run > i) {
      out->append(bytes.substr(i, run - i));
      i = run;
      if (i == bytes.size()) break;
    }
    const auto c = static_cast<uint8_t>(bytes[i]);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20 || c == 0x7F) {
      AppendControl(c, out);
      ++i;
    } else if (size_t n = ValidUtf8Length(bytes, i); n > 0) {
      out->append(bytes.substr(i, n));
      i += n;
    } else {
      *out += "\\\\x";
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xF]);
      ++i;
    }
  }
}

std::string JsonQuoted(std::string_view bytes) {
  std::string out = "\"";
  AppendJsonEscaped(bytes, &out);
  out.push_back('"');
  return out;
}

}  // namespace mailtap
