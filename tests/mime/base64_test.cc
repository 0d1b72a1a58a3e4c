#include "mime/base64.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mailtap::mime {
namespace {

class Problems : public Base64Listener {
 public:
  void OnIllegalBase64(std::string_view message) override { seen.emplace_back(message); }
  std::vector<std::string> seen;
};

std::string DecodeAll(std::vector<std::string_view> pieces, Problems& problems) {
  Base64Decoder decoder(problems);
  std::string out;
  for (auto piece : pieces) decoder.Decode(piece, &out);
  decoder.Finish(&out);
  return out;
}

TEST(Base64Decoder, GroupsSplitAcrossPiecesDecode) {
  Problems p;
  EXPECT_EQ(DecodeAll({"aGVs", "bG8gd", "29ybGQ="}, p), "hello world");
  EXPECT_TRUE(p.seen.empty());
}

TEST(Base64Decoder, IllegalCharactersAreSkippedAndTheFirstReported) {
  Problems p;
  EXPECT_EQ(DecodeAll({"aG!Vs*bG8="}, p), "hello");
  EXPECT_EQ(p.seen, (std::vector<std::string>{"character 33 ignored by Base64 decoding"}));
}

TEST(Base64Decoder, HighBytesAreReportedAsSignedChars) {
  Problems p;
  DecodeAll({"\xff"}, p);
  EXPECT_EQ(p.seen.at(0), "character -1 ignored by Base64 decoding");
}

TEST(Base64Decoder, GroupsAfterPaddingAreDropped) {
  Problems p;
  EXPECT_EQ(DecodeAll({"aA==aGVsbG8="}, p), "h");
  EXPECT_EQ(p.seen,
            (std::vector<std::string>{"extra base64 groups after '=' padding are ignored"}));
}

// Zeek's bifs.decode_base64_conn baseline: "incomplete base64 group, padding with 12 bits of 0".
TEST(Base64Decoder, AnIncompleteGroupIsPaddedAndAlwaysReported) {
  Problems p;
  EXPECT_EQ(DecodeAll({"aGk"}, p), std::string("hi"));
  EXPECT_EQ(p.seen,
            (std::vector<std::string>{"incomplete base64 group, padding with 6 bits of 0"}));
  Problems q;
  DecodeAll({"a", "!"}, q);
  EXPECT_EQ(q.seen.back(), "incomplete base64 group, padding with 18 bits of 0");
  EXPECT_EQ(q.seen.size(), 2u);
}

}  // namespace
}  // namespace mailtap::mime
