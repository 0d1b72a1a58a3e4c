#include "smtp/line_splitter.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace mailtap::smtp {
namespace {

// Records everything as text: "L:<line>", "P:<plain bytes>", "W:<anomaly>".
class Recorder : public LineSplitterListener {
 public:
  void OnLine(std::string_view line) override {
    out.push_back("L:" + std::string(line));
    if (on_line) on_line(line);
  }
  void OnPlain(std::span<const uint8_t> bytes) override {
    out.push_back("P:" + std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  void OnAnomaly(SplitterAnomaly a) override {
    switch (a) {
      case SplitterAnomaly::kSingleCr:
        out.push_back("W:single_CR");
        break;
      case SplitterAnomaly::kNulInLine:
        out.push_back("W:NUL");
        break;
      case SplitterAnomaly::kLineTooLong:
        out.push_back("W:too_long");
        break;
      case SplitterAnomaly::kLineCutByMemoryBudget:
        out.push_back("W:budget");
        break;
    }
  }
  std::vector<std::string> out;
  std::function<void(std::string_view)> on_line;
};

void Feed(LineSplitter& s, std::string_view bytes) {
  s.Feed({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
}

using V = std::vector<std::string>;

TEST(LineSplitter, CrlfLfAndCrAllEndLines) {
  Recorder r;
  LineSplitter s(r, 1000);
  Feed(s, "a\r\nb\nc\rd\r\n");
  EXPECT_EQ(r.out, (V{"L:a", "L:b", "L:c", "W:single_CR", "L:d"}));
}

TEST(LineSplitter, CrlfSplitAcrossDeliveriesIsOneTerminator) {
  Recorder r;
  LineSplitter s(r, 1000);
  Feed(s, "abc\r");
  EXPECT_EQ(r.out, (V{"L:abc"}));  // emitted at the CR already
  Feed(s, "\ndef\r\n");
  EXPECT_EQ(r.out, (V{"L:abc", "L:def"}));
}

TEST(LineSplitter, CrCrLfGivesAnExtraEmptyLineAndNoWeird) {
  Recorder r;
  LineSplitter s(r, 1000);
  Feed(s, "abc\r\r\n");
  EXPECT_EQ(r.out, (V{"L:abc", "L:"}));
}

TEST(LineSplitter, SingleCrWeirdAlsoWhenTheNextByteComesLater) {
  Recorder r;
  LineSplitter s(r, 1000);
  Feed(s, "abc\r");
  Feed(s, "x\n");
  EXPECT_EQ(r.out, (V{"L:abc", "W:single_CR", "L:x"}));
}

TEST(LineSplitter, BareLfIsSilent) {
  Recorder r;
  LineSplitter s(r, 1000);
  Feed(s, "a\n\nb\n");
  EXPECT_EQ(r.out, (V{"L:a", "L:", "L:b"}));
}

TEST(LineSplitter, FirstNulIsDroppedLaterNulsKept) {
  Recorder r;
  LineSplitter s(r, 1000);
  Feed(s, std::string_view("a\0b\0c\n", 6));
  ASSERT_EQ(r.out.size(), 2u);
  EXPECT_EQ(r.out[0], "W:NUL");
  EXPECT_EQ(r.out[1], std::string("L:ab\0c", 6));
}

TEST(LineSplitter, DroppedNulAfterCrCountsAsOtherByte) {
  Recorder r;
  LineSplitter s(r, 1000);
  Feed(s, std::string_view("a\r\0b\n", 5));
  EXPECT_EQ(r.out, (V{"L:a", "W:NUL", "W:single_CR", "L:b"}));
}

TEST(LineSplitter, HighBitBytesAreKeptVerbatim) {
  Recorder r;
  LineSplitter s(r, 1000);
  Feed(s, "\xff\xe4\n");
  EXPECT_EQ(r.out, (V{"L:\xff\xe4"}));
}

// Spec 3.6 (Zeek 9.0): a byte arriving at a full buffer: max-1 bytes emitted, the last buffered
// byte and the current byte lost.
TEST(LineSplitter, FullBufferEmitsMaxMinusOneAndLosesTwoBytes) {
  Recorder r;
  LineSplitter s(r, 5);
  Feed(s, "abcdefgh\n");
  EXPECT_EQ(r.out, (V{"W:too_long", "L:abcd", "L:gh"}));
}

TEST(LineSplitter, PartialLinesOfAllSplittersShareOneMemoryBudget) {
  LineMemoryBudget budget(8);
  Recorder a_out, b_out;
  LineSplitter a(a_out, 100, &budget), b(b_out, 100, &budget);
  Feed(a, "123456");  // a holds 6 of the 8 bytes
  EXPECT_EQ(budget.used(), 6u);
  Feed(b, "wxyz\n");  // b may hold 2: cut like Zeek's full buffer, but counted as budget
  EXPECT_EQ(b_out.out, (V{"W:budget", "L:w", "L:z"}));
  Feed(a, "\n");
  EXPECT_EQ(a_out.out, (V{"L:123456"}));
  EXPECT_EQ(budget.used(), 0u);
  Feed(b, "abcdefg\n");  // the budget is free again: no cut
  EXPECT_EQ(b_out.out.back(), "L:abcdefg");
}

// Issue 17: 18 connections parking unterminated lines that filled the budget made every other
// session's lines one byte long (a new session's "220" became "2").
TEST(LineSplitter, HugePartialLinesCannotStarveOtherSessionsOrdinaryLines) {
  LineMemoryBudget budget(1'048'576);
  Recorder attacker_out, victim_out;
  LineSplitter a(attacker_out, 16 << 20, &budget), b(attacker_out, 16 << 20, &budget);
  Feed(a, std::string(900'000, 'x'));               // parked: no end of line
  Feed(b, std::string(148'000, 'y'));               // would leave 576 bytes for everyone else
  EXPECT_EQ(attacker_out.out.front(), "W:budget");  // b was cut instead
  LineSplitter victim(victim_out, 16 << 20, &budget);
  Feed(victim, "220 mx.example.org ESMTP\r\n" + std::string(998, 'h') + "\r\n");
  EXPECT_EQ(victim_out.out, (V{"L:220 mx.example.org ESMTP", "L:" + std::string(998, 'h')}));
  EXPECT_LE(budget.used(), 1'048'576u);
}

TEST(LineSplitter, DestroyedSplitterReturnsItsBytesToTheBudget) {
  LineMemoryBudget budget(100);
  Recorder r;
  {
    LineSplitter s(r, 100, &budget);
    Feed(s, "partial");
    EXPECT_EQ(budget.used(), 7u);
  }
  EXPECT_EQ(budget.used(), 0u);
}

TEST(LineSplitter, LostByteMayBeTheTerminator) {
  Recorder r;
  LineSplitter s(r, 5);
  Feed(s, "abcde\nxy\n");
  EXPECT_EQ(r.out, (V{"W:too_long", "L:abcd", "L:xy"}));
}

TEST(LineSplitter, LostCrStillSwallowsTheFollowingLf) {
  Recorder r;
  LineSplitter s(r, 5);
  Feed(s, "abcde\r\nxy\n");
  EXPECT_EQ(r.out, (V{"W:too_long", "L:abcd", "L:xy"}));
}

TEST(LineSplitter, LineOfExactlyMaxLengthIsNotCut) {
  Recorder r;
  LineSplitter s(r, 5);
  Feed(s, "abcd");
  Feed(s, "e");
  EXPECT_EQ(r.out, V{});
  Feed(s, "\r\n");
  EXPECT_EQ(r.out, (V{"W:too_long", "L:abcd"}));
}

TEST(LineSplitter, FlushAtEndDeliversThePartialLine) {
  Recorder r;
  LineSplitter s(r, 1000);
  Feed(s, "QUIT");
  EXPECT_TRUE(s.HasPartialLine());
  s.FlushAtEnd();
  EXPECT_EQ(r.out, (V{"L:QUIT"}));
  s.FlushAtEnd();
  EXPECT_EQ(r.out, (V{"L:QUIT"}));
}

TEST(LineSplitter, PartialLineSurvivesAcrossDeliveries) {
  Recorder r;
  LineSplitter s(r, 1000);
  Feed(s, "MA");
  Feed(s, "IL FROM:<a>\r\n");
  EXPECT_EQ(r.out, (V{"L:MAIL FROM:<a>"}));
}

TEST(LineSplitter, PlainDeliveryPassesBytesUnsplit) {
  Recorder r;
  LineSplitter s(r, 1000);
  r.on_line = [&](std::string_view line) {
    if (line == "BDAT 5") s.SetPlainDelivery(5);
  };
  Feed(s, "BDAT 5\r\na\r\nbcQUIT\r\n");
  EXPECT_EQ(r.out, (V{"L:BDAT 5", "P:a\r\nbc", "L:QUIT"}));
}

TEST(LineSplitter, PendingLfIsSwallowedBeforePlainDelivery) {
  Recorder r;
  LineSplitter s(r, 1000);
  r.on_line = [&](std::string_view line) {
    if (line == "BDAT 3") s.SetPlainDelivery(3);
  };
  Feed(s, "BDAT 3\r");
  Feed(s, "\nxyz");
  Feed(s, "\n");
  EXPECT_EQ(r.out, (V{"L:BDAT 3", "P:xyz", "L:"}));
}

TEST(LineSplitter, PlainModeAfterCrSuppressesTheSingleCrWeird) {
  Recorder r;
  LineSplitter s(r, 1000);
  r.on_line = [&](std::string_view line) {
    if (line == "BDAT 2") s.SetPlainDelivery(2);
  };
  Feed(s, "BDAT 2\rxyQUIT\n");
  EXPECT_EQ(r.out, (V{"L:BDAT 2", "P:xy", "L:QUIT"}));
}

TEST(LineSplitter, PlainDeliverySpansDeliveries) {
  Recorder r;
  LineSplitter s(r, 1000);
  s.SetPlainDelivery(4);
  Feed(s, "ab");
  Feed(s, "cdef\n");
  EXPECT_EQ(r.out, (V{"P:ab", "P:cd", "L:ef"}));
  EXPECT_EQ(s.plain_remaining(), 0u);
}

TEST(LineSplitter, DetachStopsTheRestOfTheDelivery) {
  Recorder r;
  LineSplitter s(r, 1000);
  r.on_line = [&](std::string_view) { s.Detach(); };
  Feed(s, "220 go\r\n\x16\x03\x01\n");
  EXPECT_EQ(r.out, (V{"L:220 go"}));
  Feed(s, "more\n");
  EXPECT_EQ(r.out, (V{"L:220 go"}));
}

// Inside TLS the splitter starts over: what was buffered of the cleartext stream is gone, the
// pending LF of a CR is forgotten, the first NUL is dropped again and plain delivery is off.
TEST(LineSplitter, RestartBehavesAsANewSplitter) {
  LineMemoryBudget budget(1000);
  Recorder r;
  LineSplitter s(r, 1000, &budget);
  Feed(s, std::string_view("a\0\r", 3));
  Feed(s, "partial");
  s.SetPlainDelivery(50);
  s.Detach();
  r.out.clear();
  s.Restart();
  EXPECT_FALSE(s.detached());
  EXPECT_FALSE(s.HasPartialLine());
  EXPECT_EQ(s.plain_remaining(), 0u);
  EXPECT_EQ(budget.used(), 0u);
  Feed(s, std::string_view("\nx\0y\n", 5));
  EXPECT_EQ(r.out, (V{"L:", "W:NUL", std::string("L:xy")}));
}

}  // namespace
}  // namespace mailtap::smtp
