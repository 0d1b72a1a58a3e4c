#include "mime/parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace mailtap::mime {
namespace {

using V = std::vector<std::string>;

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

// Records what the message reports as compact text.
class Recorder : public MimeListener {
 public:
  void OnBeginEntity() override { out.push_back("begin"); }
  void OnHeader(std::string_view name, std::string_view value) override {
    out.push_back("H " + std::string(name) + "=" + std::string(value));
  }
  void OnAllHeaders(std::string_view block) override { out.push_back("all " + std::string(block)); }
  void OnData(std::string_view bytes) override { data.push_back(std::string(bytes)); }
  void OnGap(uint64_t length) override { out.push_back("gap " + std::to_string(length)); }
  void OnEntityData(uint64_t length, std::string_view bytes) override {
    out.push_back("entity " + std::to_string(length) + " " + std::string(bytes));
  }
  void OnEndEntity() override { out.push_back("end"); }
  void OnAllData(uint64_t length, std::string_view bytes) override {
    out.push_back("alldata " + std::to_string(length) + " " + std::string(bytes));
  }
  void OnContentHash(HashKind kind, uint64_t length, std::string_view digest) override {
    out.push_back((kind == HashKind::kMd5 ? "md5 " : "sha256 ") + std::to_string(length) + " " +
                  Hex(digest));
  }
  void OnWeird(std::string_view name, std::string_view addl, std::string_view source) override {
    out.push_back("weird " + std::string(name) + " " + std::string(addl) + " " +
                  std::string(source));
  }
  std::string AllData() const {
    std::string s;
    for (const auto& d : data) s += d;
    return s;
  }
  V out;
  V data;
};

struct Harness {
  explicit Harness(MimeWants wants = {}, MimeLimits limits = {})
      : message(recorder, counters, limits, wants) {}
  void Lines(const V& lines) {
    for (const auto& l : lines) message.Line(l);
  }
  Recorder recorder;
  MimeCounters counters;
  MimeMessage message;
};

TEST(MimeMessage, HeaderIsReportedWhenTheNextOneStarts) {
  Harness h;
  h.message.Line("From: a@b");
  EXPECT_EQ(h.recorder.out, (V{"begin"}));
  h.message.Line("To: c@d");
  h.message.Line("");
  EXPECT_FALSE(h.message.in_header());
  EXPECT_EQ(h.recorder.out, (V{"begin", "H From=a@b", "H To=c@d"}));
}

TEST(MimeMessage, FoldedLinesAreAppendedWithTheirWhitespace) {
  Harness h;
  h.Lines({"Received: from x", "\tby y", "        for <z>"});
  h.message.Finish();
  EXPECT_EQ(h.recorder.out.at(1), "H Received=from x\tby y        for <z>");
}

TEST(MimeMessage, MalformedHeaderIsDroppedAndLeadingWhitespaceOnTheFirstIsStripped) {
  Harness h;
  h.Lines({"  A: 1", "garbage", "B: 2", ""});
  EXPECT_EQ(h.recorder.out, (V{"begin", "H A=1", "H B=2"}));
}

TEST(MimeMessage, LineStartingWithNulEndsTheHeaders) {
  Harness h;
  h.message.Line("A: 1");
  h.message.Line(std::string_view("\0x", 2));
  h.message.Line("B: 2");
  EXPECT_FALSE(h.message.in_header());
  EXPECT_EQ(h.recorder.out, (V{"begin", "H A=1"}));
}

// Zeek checks the cap before appending: "Subject: CVE-CANDIDATE" (22 bytes) + two 2-byte
// continuations reach the cap of 26; every further continuation is dropped with a weird whose
// addl is the size reached (the mime-header-size-limit baseline shows 65536).
TEST(MimeMessage, ContinuationsBeyondTheHeaderCapAreDroppedWithWeird) {
  Harness h({}, {.max_header_bytes = 26});
  h.Lines({"Subject: CVE-CANDIDATE", " x", " x", " x", " y", ""});
  EXPECT_EQ(h.recorder.out,
            (V{"begin", "weird exceeded_mime_max_header_bytes 26 SMTP",
               "weird exceeded_mime_max_header_bytes 26 SMTP", "H Subject=CVE-CANDIDATE x x"}));
  EXPECT_EQ(h.counters.header_lines_dropped.Get(), 2u);
}

TEST(MimeMessage, AllHeadersIsAHeaderBlockInOrder) {
  Harness h({.all_headers = true});
  h.Lines({"B: 2", "A:  1 ", ""});
  EXPECT_EQ(h.recorder.out.back(), "all B: 2\r\nA: 1 \r\n");
}

// A plain body: every line with its CRLF (Zeek's DecodeBinary), the events at the end in
// Zeek's order: mime_entity_data, mime_end_entity, mime_all_data, mime_content_hash.
TEST(MimeMessage, PlainBodyKeepsEveryCrlfAndEndsWithTheMessageEvents) {
  Harness h(
      {.entity_data = true, .all_data = true, .content_hash = true, .content_hash_sha256 = true});
  h.Lines({"Subject: x", "", "hello", ""});
  h.message.Finish();
  EXPECT_EQ(h.recorder.AllData(), "hello\r\n\r\n");
  // md5 and sha256 of "hello\r\n\r\n" (Python's hashlib)
  EXPECT_EQ(h.recorder.out,
            (V{"begin", "H Subject=x", "entity 9 hello\r\n\r\n", "end", "alldata 9 hello\r\n\r\n",
               "md5 9 fc86b020b0ddeeab491f415d51faf235",
               "sha256 9 b5d93f2cd5fcb979cf1e62a74efacc13036888a5e5cff6c502f9469acc0bcc7b"}));
}

// RFC 2046 5.1.1: the CRLF before a boundary belongs to the boundary; preamble and epilogue are
// not part of any entity.
TEST(MimeMessage, MultipartPartsExcludeTheCrlfBeforeTheBoundary) {
  Harness h({.entity_data = true});
  h.Lines({"Content-Type: multipart/mixed; boundary=\"xx\"", "", "preamble", "--xx",
           "Content-Type: text/plain", "", "one", "two", "--xx", "", "three", "--xx--",
           "epilogue"});
  h.message.Finish();
  EXPECT_EQ(h.recorder.out, (V{"begin", "H Content-Type=multipart/mixed; boundary=\"xx\"", "begin",
                               "H Content-Type=text/plain", "entity 8 one\r\ntwo", "end", "begin",
                               "entity 5 three", "end", "entity 0 ", "end"}));
}

TEST(MimeMessage, NestedMultipartAndAttachedMessage) {
  Harness h;
  h.Lines({"Content-Type: multipart/mixed; boundary=a", "", "--a",
           "Content-Type: multipart/alternative; boundary=b", "", "--b", "", "alt", "--b--", "--a",
           "Content-Type: message/rfc822", "", "Subject: inner", "", "inner body", "--a--"});
  h.message.Finish();
  // top, alternative, its part, the message part, the attached message's top level.
  EXPECT_EQ(std::count(h.recorder.out.begin(), h.recorder.out.end(), "begin"), 5);
  EXPECT_EQ(std::count(h.recorder.out.begin(), h.recorder.out.end(), "end"), 5);
  EXPECT_EQ(h.recorder.data, (V{"alt", "inner body\r\n"}));
  EXPECT_EQ(h.counters.entities.Get(), 5u);
}

TEST(MimeMessage, Base64PartIsDecodedAndBrokenBase64Reported) {
  Harness h;
  h.Lines({"Content-Type: multipart/mixed; boundary=a", "", "--a",
           "Content-Transfer-Encoding: base64", "", "aGVs", "bG8*", "--a--"});
  h.message.Finish();
  EXPECT_EQ(h.recorder.AllData(), "hello");  // "bG8" padded at the end
  EXPECT_NE(std::find(h.recorder.out.begin(), h.recorder.out.end(),
                      "weird base64_illegal_encoding character 42 ignored by Base64 decoding "),
            h.recorder.out.end());
  EXPECT_NE(std::find(h.recorder.out.begin(), h.recorder.out.end(),
                      "weird base64_illegal_encoding incomplete base64 group, padding with 6 "
                      "bits of 0 "),
            h.recorder.out.end());
  EXPECT_EQ(h.counters.base64_problems.Get(), 2u);
}

// RFC 2045 6.7: "=" at the end is a soft line break; trailing blanks go; bad escapes stay.
TEST(MimeMessage, QuotedPrintableBody) {
  Harness h;
  h.Lines({"Content-Transfer-Encoding: quoted-printable", "", "a=3Db=  ", "c =ZZ  ", "d"});
  h.message.Finish();
  EXPECT_EQ(h.recorder.AllData(), "a=bc =ZZ\r\nd\r\n");
  EXPECT_EQ(h.counters.quoted_printable_problems.Get(), 1u);
}

TEST(MimeMessage, ChildrenBeyondTheDepthLimitAreNotCreated) {
  Harness h({}, {.max_depth = 2});
  h.Lines({"Content-Type: message/rfc822", "", "Content-Type: message/rfc822", "",
           "Content-Type: message/rfc822", "", "Subject: too deep", "", "body"});
  h.message.Finish();
  EXPECT_EQ(std::count(h.recorder.out.begin(), h.recorder.out.end(), "begin"), 3);
  EXPECT_NE(std::find(h.recorder.out.begin(), h.recorder.out.end(),
                      "weird exceeded_mime_max_depth 2 SMTP"),
            h.recorder.out.end());
  EXPECT_TRUE(h.recorder.data.empty());
  EXPECT_EQ(h.counters.depth_exceeded.Get(), 1u);
}

TEST(MimeMessage, OverlongBoundaryMakesThePartOpaque) {
  Harness h;
  const std::string boundary(kMaxBoundaryLength + 1, 'b');
  h.Lines({"Content-Type: multipart/mixed; boundary=" + boundary, "", "--" + boundary, "", "x"});
  h.message.Finish();
  EXPECT_EQ(std::count(h.recorder.out.begin(), h.recorder.out.end(), "begin"), 1);
  EXPECT_EQ(h.recorder.AllData(), "--" + boundary + "\r\n\r\nx\r\n");
  EXPECT_EQ(h.counters.boundaries_too_long.Get(), 1u);
}

TEST(MimeMessage, EntityDataIsCappedButItsLengthCountsEverything) {
  Harness h({.entity_data = true});
  h.message.Line("");
  const std::string line(1000, 'x');
  const size_t lines = kMaxEntityDataBytes / 1000 + 10;
  for (size_t i = 0; i < lines; ++i) h.message.Line(line);
  h.message.Finish();
  const std::string& event = h.recorder.out.at(1);
  const std::string length = std::to_string(lines * 1002);
  EXPECT_EQ(event.substr(0, 7 + length.size()), "entity " + length);
  EXPECT_EQ(event.size(), 7 + length.size() + 1 + kMaxEntityDataBytes);
  EXPECT_EQ(h.counters.entity_data_truncated.Get(), 1u);
}

// Messages of several connections sharing one MIME data budget (as SmtpShared's).
struct BudgetHarness {
  explicit BudgetHarness(size_t limit) : budget(limit) {}
  MimeMessage& Open(Recorder& r) {
    messages.push_back(std::make_unique<MimeMessage>(
        r, counters, MimeLimits{}, MimeWants{.entity_data = true, .all_data = true}, &budget));
    messages.back()->Line("");  // no headers: the body follows
    return *messages.back();
  }
  MimeDataBudget budget;
  MimeCounters counters;
  std::vector<std::unique_ptr<MimeMessage>> messages;
};

// The body lines `count` × 98 bytes + CRLF.
void Body(MimeMessage& m, char c, size_t count) {
  for (size_t i = 0; i < count; ++i) m.Line(std::string(98, c));
}

TEST(MimeDataBudget, TheLargestHolderHandsItsDataOnEarlyAndThePiecesAddUp) {
  BudgetHarness h(256 * 1024);
  Recorder big, small, newcomer;
  MimeMessage& b = h.Open(big);
  MimeMessage& s = h.Open(small);
  Body(b, 'b', 1000);  // 100,000 bytes, held twice (entity and message data)
  Body(s, 's', 100);   // 10,000
  EXPECT_LE(h.budget.used(), h.budget.limit());
  MimeMessage& n = h.Open(newcomer);
  Body(n, 'n', 300);  // needs room: the big one goes first, the small one keeps its data
  EXPECT_LE(h.budget.used(), h.budget.limit());
  EXPECT_EQ(h.counters.data_flushed_early.Get(), 2u);  // big's entity and message data
  ASSERT_EQ(big.out.size(), 3u);                       // begin, entity piece, alldata piece
  EXPECT_EQ(big.out[1].substr(0, 14), "entity 100000 ");
  EXPECT_EQ(big.out[2].substr(0, 15), "alldata 100000 ");
  EXPECT_EQ(small.out.size(), 1u);  // only its begin: nothing handed on yet
  Body(b, 'b', 10);                 // 1,000 more, at the end in the last pieces
  b.Finish();
  s.Finish();
  // The pieces of the big message: 100,000 early, then the last 1,000 at the end.
  EXPECT_EQ(big.out.at(3).substr(0, 11), "entity 1000");
  EXPECT_EQ(big.out.at(5).substr(0, 12), "alldata 1000");
  std::string pieces;
  for (const std::string& e : big.out) {
    if (e.rfind("entity ", 0) == 0) pieces += e.substr(e.find(' ', 7) + 1);
  }
  std::string whole;
  for (int i = 0; i < 1010; ++i) whole += std::string(98, 'b') + "\r\n";
  EXPECT_EQ(pieces, whole);
  EXPECT_EQ(small.out.at(1).substr(0, 12), "entity 10000");  // whole, at its end
  h.messages.clear();
  EXPECT_EQ(h.budget.used(), 0u);
}

TEST(MimeDataBudget, WithoutPressureTheEventsAreZeeksOnePerEntityAndMessage) {
  BudgetHarness h(64 << 20);
  Recorder r;
  MimeMessage& m = h.Open(r);
  Body(m, 'x', 1000);
  m.Finish();
  EXPECT_EQ(h.counters.data_flushed_early.Get(), 0u);
  ASSERT_EQ(r.out.size(), 4u);  // begin, entity, end, alldata
  EXPECT_EQ(r.out[1].substr(0, 13), "entity 100000");
  EXPECT_EQ(r.out[3].substr(0, 14), "alldata 100000");
  EXPECT_EQ(h.budget.used(), 0u);  // the buffers go with their events
}

// Thousands of connections each parking an entity just below the per-message caps would hold
// gigabytes; with the budget the total never passes it.
TEST(MimeDataBudget, ManyParkedMessagesNeverHoldMoreThanTheBudget) {
  BudgetHarness h(1 << 20);
  std::vector<std::unique_ptr<Recorder>> recorders;
  size_t peak = 0;
  for (int i = 0; i < 200; ++i) {
    recorders.push_back(std::make_unique<Recorder>());
    Body(h.Open(*recorders.back()), 'p', 200);
    peak = std::max(peak, h.budget.used());
  }
  EXPECT_LE(peak, h.budget.limit());
  EXPECT_GT(h.counters.data_flushed_early.Get(), 0u);
}

TEST(MimeMessage, DataIsHandedOnInSegmentsOfAtMost1024Bytes) {
  Harness h;
  h.message.Line("");
  h.message.Line(std::string(3000, 'y'));
  EXPECT_EQ(h.recorder.data.size(), 3u);
  EXPECT_EQ(h.recorder.data[0].size(), kSegmentLength);
  EXPECT_EQ(h.recorder.data[2].size(), 3002 - 2 * kSegmentLength);
}

TEST(MimeMessage, LinesWithoutTerminatorGetNoCrlf) {
  Harness h;
  h.message.Line("");
  h.message.Line("a\n", LineEnd::kNone);
  h.message.Line("b");
  EXPECT_EQ(h.recorder.AllData(), "a\nb\r\n");
}

TEST(MimeMessage, GapGoesToTheListenerAndFinishIsIdempotent) {
  Harness h;
  h.Lines({"", "x"});
  h.message.Gap(1000);
  h.message.Finish();
  h.message.Finish();
  EXPECT_EQ(h.recorder.out, (V{"begin", "gap 1000", "end"}));
}

TEST(MimeMessage, BodyWithoutHeadersEndIsStillEnded) {
  Harness h({.all_headers = true});
  h.message.Line("A: 1");
  h.message.Finish();
  EXPECT_EQ(h.recorder.out, (V{"begin", "H A=1", "all A: 1\r\n", "end"}));
  EXPECT_EQ(h.counters.format_problems.Get(), 1u);
}

}  // namespace
}  // namespace mailtap::mime
