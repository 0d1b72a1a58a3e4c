#include "mime/base64.h"

#include <fmt/format.h>

#include <array>

namespace mailtap::mime {
namespace {

constexpr int kNotBase64 = -1;

// RFC 4648 section 4 alphabet; '=' decodes as 0 (and counts as padding).
constexpr std::array<int, 256> MakeTable() {
  std::array<int, 256> table{};
  for (int& v : table) v = kNotBase64;
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
  }
  table['='] = 0;
  return table;
}
constexpr std::array<int, 256> kTable = MakeTable();

}  // namespace

void Base64Decoder::Problem(std::string_view message) {
  // Zeek reports only the first problem of a body (its `errored` count), except padding at the
  // end, which Finish reports regardless.
  if (++problems_ == 1) listener_.OnIllegalBase64(message);
}

void Base64Decoder::EmitGroup(std::string* out) {
  group_size_ = 0;
  if (after_padding_) {
    Problem("extra base64 groups after '=' padding are ignored");
    padding_ = 0;
    return;
  }
  const uint32_t bits = (uint32_t{group_[0]} << 18) | (uint32_t{group_[1]} << 12) |
                        (uint32_t{group_[2]} << 6) | uint32_t{group_[3]};
  const int octets = 3 - padding_;
  if (octets >= 1) out->push_back(static_cast<char>((bits >> 16) & 0xff));
  if (octets >= 2) out->push_back(static_cast<char>((bits >> 8) & 0xff));
  if (octets >= 3) out->push_back(static_cast<char>(bits & 0xff));
  if (padding_ > 0) after_padding_ = true;
  padding_ = 0;
}

void Base64Decoder::Decode(std::string_view text, std::string* out) {
  for (const char c : text) {
    if (c == '=') ++padding_;
    const int value = kTable[static_cast<unsigned char>(c)];
    if (value == kNotBase64) {
      Problem(fmt::format("character {} ignored by Base64 decoding", static_cast<int>(c)));
      continue;
    }
    group_[group_size_++] = static_cast<uint8_t>(value);
    if (group_size_ == 4) EmitGroup(out);
  }
}

void Base64Decoder::Finish(std::string* out) {
  if (group_size_ == 0) return;
  listener_.OnIllegalBase64(
      fmt::format("incomplete base64 group, padding with {} bits of 0", (4 - group_size_) * 6));
  Decode(std::string_view("===", 4 - group_size_), out);
}

}  // namespace mailtap::mime
