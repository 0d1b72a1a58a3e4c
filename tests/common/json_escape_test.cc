#include "common/json_escape.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace mailtap {
namespace {

TEST(JsonEscape, PassesValidUtf8Through) {
  EXPECT_EQ(JsonQuoted("Grüße ✓"), "\"Grüße ✓\"");
}

TEST(JsonEscape, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(JsonQuoted("a\"b\\c\r\n\t\x01"), R"("a\"b\\c\r\n\t\u0001")");
}

TEST(JsonEscape, WritesInvalidBytesAsBackslashX) {
  // A lone continuation byte, a truncated sequence, an overlong NUL and a surrogate.
  EXPECT_EQ(JsonQuoted("\x80"), R"("\\x80")");
  EXPECT_EQ(JsonQuoted("a\xc3"), R"("a\\xc3")");
  EXPECT_EQ(JsonQuoted("\xc0\x80"), R"("\\xc0\\x80")");
  EXPECT_EQ(JsonQuoted("\xed\xa0\x80"), R"("\\xed\\xa0\\x80")");
}

TEST(JsonEscape, OutputAlwaysParsesAsJsonForEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  auto parsed = nlohmann::json::parse(JsonQuoted(all));
  EXPECT_TRUE(parsed.is_string());
}

// The escaper looks at 8 bytes at a time: a byte that needs escaping must be found at every
// position of a word, among plain text, exactly as it is escaped on its own.
TEST(JsonEscape, EveryByteValueAtEveryPositionOfAWordIsEscapedAsAlone) {
  for (int value = 0; value < 256; ++value) {
    const std::string alone = JsonQuoted(std::string(1, static_cast<char>(value)));
    const std::string escaped = alone.substr(1, alone.size() - 2);
    for (size_t pos = 0; pos < 16; ++pos) {
      std::string text(24, 'a');
      text[pos] = static_cast<char>(value);
      std::string expected(24 - 1, 'a');
      expected.insert(pos, escaped);
      ASSERT_EQ(JsonQuoted(text), "\"" + expected + "\"") << "byte " << value << " at " << pos;
    }
  }
}

TEST(JsonEscape, KeepsNulAsUnicodeEscape) { EXPECT_EQ(JsonQuoted(std::string(1, '\0')), R"("\u0000")"); }

}  // namespace
}  // namespace mailtap
