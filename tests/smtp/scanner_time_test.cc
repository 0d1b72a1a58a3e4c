// Issue 17: every scanner on the SMTP data path runs in time linear in its input. Each test feeds
// one attacker-shaped input of the line cap's size (16 MiB) and asserts, in CPU time, a bound
// relative to a plain byte-by-byte pass over as many bytes. The bounds are generous (a loaded
// machine, sanitizer builds); a quadratic scanner needs hours at this size, so it still fails.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mime/header_field.h"
#include "mime/parser.h"
#include "smtp/line_splitter.h"
#include "smtp/transaction.h"
#include "support/cpu_ratio.h"

namespace mailtap {
namespace {

using cpu_ratio::RunAgainstPlainPass;

constexpr size_t kLineCap = 16 << 20;  // the line splitter's cap: the longest line a scanner sees
constexpr double kMaxRatio = 250;      // measured 0.7-45x; quadratic code needs >10,000x here

// `unit` repeated to kLineCap bytes, between `head` and `tail`.
std::string Repeat(std::string_view head, std::string_view unit, std::string_view tail = "") {
  std::string s(head);
  s.reserve(kLineCap + unit.size() + tail.size());
  while (s.size() < kLineCap) s.append(unit);
  s.append(tail);
  return s;
}

// Numbered addresses "a<n>@b.c" joined by `sep`, to kLineCap bytes.
std::string ManyAddresses(std::string_view head, std::string_view sep) {
  std::string s(head);
  for (size_t n = 0; s.size() < kLineCap; ++n) {
    s += "a" + std::to_string(n) + "@b.c";
    s += sep;
  }
  return s;
}

void ExpectLinear(const std::string& input, const std::function<void(const std::string&)>& scan) {
  const auto outcome = RunAgainstPlainPass(input.size(), kMaxRatio, [&] { scan(input); });
  EXPECT_TRUE(outcome.finished) << outcome.Describe();
  ::testing::Test::RecordProperty("cpu_ratio", std::to_string(outcome.ratio));
  std::fprintf(stderr, "cpu ratio to a plain pass: %.1f\n", outcome.ratio);
}

class NullRecords : public RecordSink {
 public:
  void OnRecord(const SmtpRecord&) override {}
};
class NullEvents : public EventSink {
 public:
  void OnEvent(const Event&) override {}
};

// One RCPT TO: or one header through a whole smtp.log (deduplication and caps included).
class LogDriver {
 public:
  LogDriver() : log_(SmtpLogConfig{}, weirds_, records_) {
    conn_.uid = "CScan";
    Emit(ev::smtp_request::Make(Timestamp{1}, &conn_, {.command = "MAIL", .arg = "FROM:<a@b.c>"}));
  }
  void Rcpt(std::string arg) {
    Emit(ev::smtp_request::Make(Timestamp{1}, &conn_, {.command = "RCPT", .arg = std::move(arg)}));
  }
  void Header(std::string upper_name, std::string value) {
    Emit(ev::mime_one_header::Make(Timestamp{1}, &conn_,
                                   {.h_name = std::move(upper_name), .h_value = std::move(value)}));
  }

 private:
  void Emit(const Event& event) { log_.OnEvent(event); }
  NullEvents weirds_;
  NullRecords records_;
  SmtpTransactionLog log_;
  Connection conn_;
};

TEST(ScannerTime, MailFromWithoutAtIsLinear) {
  ExpectLinear(Repeat("FROM:<", "a"),
               [](const std::string& s) { EXPECT_TRUE(smtp_text::ExtractEmailAddrs(s).empty()); });
}

TEST(ScannerTime, LocalPartEndingInAnEmptyDomainIsLinear) {
  ExpectLinear(Repeat("FROM:<", "a", "@,"),
               [](const std::string& s) { EXPECT_TRUE(smtp_text::ExtractEmailAddrs(s).empty()); });
}

TEST(ScannerTime, RcptWithManyDistinctAddressesIsLinear) {
  ExpectLinear(ManyAddresses("TO:", " "), [](const std::string& s) { LogDriver().Rcpt(s); });
}

TEST(ScannerTime, RcptWithOneAddressRepeatedIsLinear) {
  ExpectLinear(Repeat("TO:", "<a@b.c> "), [](const std::string& s) { LogDriver().Rcpt(s); });
}

TEST(ScannerTime, RcptWithRepeatedOrcptIsLinear) {
  ExpectLinear(Repeat("TO:<", "ORCPT=rfc822;", "a@b.c>"),
               [](const std::string& s) { LogDriver().Rcpt(s); });
}

TEST(ScannerTime, ToHeaderWithoutCommasIsLinear) {
  ExpectLinear(Repeat("", "a"), [](const std::string& s) {
    EXPECT_TRUE(smtp_text::SplitMimeEmailAddresses(s).empty());
  });
}

TEST(ScannerTime, ToHeaderOfQuotedPartsIsLinear) {
  ExpectLinear(Repeat("", "\"a\" b"), [](const std::string& s) {
    EXPECT_TRUE(smtp_text::SplitMimeEmailAddresses(s).empty());
  });
}

TEST(ScannerTime, ToHeaderWithManyAddressesIsLinear) {
  ExpectLinear(ManyAddresses("", ","), [](const std::string& s) { LogDriver().Header("TO", s); });
}

TEST(ScannerTime, CcHeaderWithOneAddressRepeatedIsLinear) {
  ExpectLinear(Repeat("", "a@b.c,"), [](const std::string& s) { LogDriver().Header("CC", s); });
}

TEST(ScannerTime, ReceivedOfHexDigitsIsLinear) {
  ExpectLinear(Repeat("from x ([", "a"),
               [](const std::string& s) { EXPECT_FALSE(smtp_text::FindAddressInSmtpHeader(s)); });
}

TEST(ScannerTime, ReceivedOfOverlongGroupsIsLinear) {
  ExpectLinear(Repeat("from x ([", "11111:"),
               [](const std::string& s) { EXPECT_FALSE(smtp_text::FindAddressInSmtpHeader(s)); });
}

TEST(ScannerTime, ReceivedOfSevenGroupRunsIsLinear) {
  ExpectLinear(Repeat("from x ", "1111:1111:1111:1111:1111:1111:1111:x"),
               [](const std::string& s) { LogDriver().Header("RECEIVED", s); });
}

TEST(ScannerTime, XOriginatingIpOfDottedDigitsIsLinear) {
  ExpectLinear(Repeat("", "1.2.3."),
               [](const std::string& s) { LogDriver().Header("X-ORIGINATING-IP", s); });
}

TEST(ScannerTime, XOriginatingIpOfCompressedRunsIsLinear) {
  ExpectLinear(Repeat("", "1::1::"),
               [](const std::string& s) { LogDriver().Header("X-ORIGINATING-IP", s); });
}

class NullLines : public smtp::LineSplitterListener {
 public:
  void OnLine(std::string_view line) override { total += line.size(); }
  void OnPlain(std::span<const uint8_t>) override {}
  void OnAnomaly(smtp::SplitterAnomaly) override {}
  size_t total = 0;
};

TEST(ScannerTime, LineSplitterOnALineAtTheCapInSmallDeliveriesIsLinear) {
  ExpectLinear(Repeat("", "a", "\r\n"), [](const std::string& s) {
    NullLines lines;
    smtp::LineSplitter splitter(lines, kLineCap + 1);
    const auto* bytes = reinterpret_cast<const uint8_t*>(s.data());
    for (size_t i = 0; i < s.size(); i += 1460) {
      splitter.Feed({bytes + i, std::min<size_t>(1460, s.size() - i)});
    }
    EXPECT_EQ(lines.total, kLineCap);
  });
}

class NullMime : public mime::MimeListener {
 public:
  void OnBeginEntity() override {}
  void OnHeader(std::string_view, std::string_view) override { ++headers; }
  void OnAllHeaders(std::string_view) override {}
  void OnData(std::string_view) override {}
  void OnGap(uint64_t) override {}
  void OnEntityData(uint64_t, std::string_view) override {}
  void OnEndEntity() override {}
  void OnAllData(uint64_t, std::string_view) override {}
  void OnContentHash(uint64_t, std::string_view) override {}
  void OnWeird(std::string_view, std::string_view, std::string_view) override {}
  size_t headers = 0;
};

void ParseOneHeader(const std::string& line, size_t expected_headers) {
  NullMime listener;
  mime::MimeCounters counters;
  mime::MimeMessage message(listener, counters, {}, {});
  message.Line(line);
  message.Finish();
  EXPECT_EQ(listener.headers, expected_headers);
}

TEST(ScannerTime, HeaderNameAfterJunkIsLinear) {
  ExpectLinear(Repeat("", ":(a)"), [](const std::string& s) { ParseOneHeader(s, 1); });
}

TEST(ScannerTime, HeaderWithAnUnterminatedCommentIsLinear) {
  ExpectLinear(Repeat("X-A: ", "(\\("), [](const std::string& s) { ParseOneHeader(s, 1); });
}

TEST(ScannerTime, ContentTypeWithManyParametersIsLinear) {
  ExpectLinear(Repeat("Content-Type: multipart/mixed", "; a=b"),
               [](const std::string& s) { ParseOneHeader(s, 1); });
}

TEST(ScannerTime, ContentDispositionWithManyNamesIsLinear) {
  ExpectLinear(Repeat("", "name=x;"),
               [](const std::string& s) { EXPECT_EQ(mime::FilenameFromHeaderValue(s), "x;"); });
}

}  // namespace
}  // namespace mailtap
