#include "smtp/bdat.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mailtap::smtp {
namespace {

TEST(ParseBdatArg, IntermediateAndLastChunks) {
  BdatArg a = ParseBdatArg("86");
  EXPECT_TRUE(a.error.empty());
  EXPECT_EQ(a.chunk_size, 86u);
  EXPECT_FALSE(a.last);
  a = ParseBdatArg("86 LAST");
  EXPECT_TRUE(a.error.empty());
  EXPECT_TRUE(a.last);
  a = ParseBdatArg("1 last");
  EXPECT_TRUE(a.error.empty());
  EXPECT_TRUE(a.last);
  EXPECT_EQ(a.chunk_size, 1u);
  a = ParseBdatArg("0 LAST");
  EXPECT_TRUE(a.error.empty());
  EXPECT_EQ(a.chunk_size, 0u);
}

TEST(ParseBdatArg, BadLength) {
  EXPECT_EQ(ParseBdatArg("").error, "BDAT argument bad length");
  EXPECT_EQ(ParseBdatArg("184467440737095516150 LAST").error, "BDAT argument bad length");
}

TEST(ParseBdatArg, MaximumLengthIsAccepted) {
  const BdatArg a = ParseBdatArg("18446744073709551615 LAST");
  EXPECT_TRUE(a.error.empty());
  EXPECT_EQ(a.chunk_size, 18446744073709551615ULL);
  EXPECT_TRUE(a.last);
}

TEST(ParseBdatArg, NotFollowedByAValidChunkSize) {
  for (const char* arg : {"-1 LAST", "+5", "SCRAMBLE", "\v86", " 86"}) {
    EXPECT_EQ(ParseBdatArg(arg).error, "BDAT not followed by a valid chunk-size") << arg;
  }
}

TEST(ParseBdatArg, ChunkSizeNotValid) {
  EXPECT_EQ(ParseBdatArg("86LAST").error, "BDAT chunk-size not valid");
  EXPECT_EQ(ParseBdatArg("86\tLAST").error, "BDAT chunk-size not valid");
}

TEST(ParseBdatArg, ChunkSizeTooLarge) {
  EXPECT_EQ(ParseBdatArg("184467440737095516150").error, "BDAT chunk-size too large");
  EXPECT_EQ(ParseBdatArg("18446744073709551616").error, "BDAT chunk-size too large");
}

TEST(ParseBdatArg, FollowedByJunk) {
  for (const char* arg : {"86 SCRAMBLE", "86 LASTX", "86  LAST", "86 ", "1234 SCRAMBLE"}) {
    EXPECT_EQ(ParseBdatArg(arg).error, "BDAT chunk-size followed by junk") << arg;
  }
}

TEST(ParseBdatArg, HugeSizesParseAndAreLeftToTheCaller) {
  const BdatArg a = ParseBdatArg("15555555557777777777 LAST");
  EXPECT_TRUE(a.error.empty());
  EXPECT_EQ(a.chunk_size, 15555555557777777777ULL);
  EXPECT_GT(a.chunk_size, kMaxBdatChunkSize);
}

class ChunkRecorder : public BdatChunkListener {
 public:
  void OnChunkLine(std::string_view line, ChunkLineEnd end) override {
    out.push_back(std::string(end == ChunkLineEnd::kCrlfRemoved ? "L:" : "l:") + std::string(line));
  }
  void OnChunkWeird(std::string_view name, std::string_view addl) override {
    out.push_back("W:" + std::string(name) + (addl.empty() ? "" : "=" + std::string(addl)));
  }
  std::vector<std::string> out;
};

void Deliver(BdatChunkSplitter& s, std::string_view bytes) {
  s.Deliver({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
}

using V = std::vector<std::string>;

TEST(BdatChunkSplitter, LinesSpanDeliveriesAndChunks) {
  ChunkRecorder r;
  BdatChunkSplitter s(r, 128);
  s.NextChunk(22, false);
  Deliver(s, "MIME-");
  Deliver(s, "Version: 1.0\r\n");
  Deliver(s, "Sub");
  EXPECT_FALSE(s.Complete());
  s.NextChunk(12, true);
  Deliver(s, "ject: Zeek\r\n");
  EXPECT_TRUE(s.Complete());
  EXPECT_EQ(r.out, (V{"L:MIME-Version: 1.0", "L:Subject: Zeek"}));
}

TEST(BdatChunkSplitter, CrlfSplitAcrossDeliveries) {
  ChunkRecorder r;
  BdatChunkSplitter s(r, 128);
  s.NextChunk(20, true);
  Deliver(s, "A: 1\r");
  Deliver(s, "\nB: 2\r");
  Deliver(s, "\n");
  EXPECT_EQ(r.out, (V{"L:A: 1", "L:B: 2"}));
}

TEST(BdatChunkSplitter, CrNotFollowedByLfIsDeliveredWithTheCr) {
  ChunkRecorder r;
  BdatChunkSplitter s(r, 128);
  s.NextChunk(100, true);
  Deliver(s, "A: 1\r");
  Deliver(s, "B: 2\r\n");
  EXPECT_EQ(r.out, (V{"W:smtp_bdat_line_cr_only", "l:A: 1\r", "L:B: 2"}));
}

TEST(BdatChunkSplitter, CrInTheMiddleIsKept) {
  ChunkRecorder r;
  BdatChunkSplitter s(r, 128);
  s.NextChunk(100, true);
  Deliver(s, "A\rB\r\n");
  EXPECT_EQ(r.out, (V{"L:A\rB"}));
}

TEST(BdatChunkSplitter, BareLfLineKeepsItsLf) {
  ChunkRecorder r;
  BdatChunkSplitter s(r, 128);
  s.NextChunk(100, true);
  Deliver(s, "A: 1\nB: 2\r\n");
  EXPECT_EQ(r.out, (V{"W:smtp_bdat_line_lf_only", "l:A: 1\n", "L:B: 2"}));
}

TEST(BdatChunkSplitter, LongLineIsCutWithBufferSizeAsAddl) {
  ChunkRecorder r;
  BdatChunkSplitter s(r, 10);
  s.NextChunk(30, true);
  Deliver(s, "1234567890123: 45\r\nX-Test: Y\r\n");
  EXPECT_EQ(r.out, (V{"W:smtp_bdat_line_too_long=30", "l:1234567890", "L:123: 45", "L:X-Test: Y"}));
}

TEST(BdatChunkSplitter, RemainderOfLastChunkIsDeliveredWithoutWeird) {
  ChunkRecorder r;
  BdatChunkSplitter s(r, 128);
  s.NextChunk(9, true);
  Deliver(s, "A: 1\r\nend");
  EXPECT_EQ(r.out, (V{"L:A: 1", "l:end"}));
  s.Done();
  EXPECT_EQ(r.out.size(), 2u);
}

TEST(BdatChunkSplitter, DoneDeliversBufferedTextWithWeird) {
  ChunkRecorder r;
  BdatChunkSplitter s(r, 128);
  s.NextChunk(200, false);
  Deliver(s, "partial");
  EXPECT_EQ(s.remaining(), 193u);
  s.Done();
  EXPECT_EQ(r.out, (V{"W:smtp_bdat_undelivered_at_done", "l:partial"}));
}

TEST(BdatChunkSplitter, BytesBeyondTheChunkAreDroppedWithWeird) {
  ChunkRecorder r;
  BdatChunkSplitter s(r, 128);
  s.NextChunk(3, false);
  Deliver(s, "abcdef");
  EXPECT_EQ(r.out, (V{"W:smtp_bdat_chunk_overflow"}));
  EXPECT_EQ(s.remaining(), 0u);
}

}  // namespace
}  // namespace mailtap::smtp
