// When the analyzer runs at all (spec 2): partial connections, DPD and script disabling.
#include <gtest/gtest.h>

#include "session_harness.h"
#include "smtp/analyzer.h"

namespace mailtap::testing {
namespace {

TEST(SmtpSessionDpd, OutOfRangeReplyDisablesAfterTheCurrentDelivery) {
  SessionHarness h;
  h.Server("220 hi\r\nHTTP/1.1 400 Bad\r\n250 still analysed\r\n");
  EXPECT_TRUE(h.session().disabled());
  h.Client("EHLO x\r\n");
  h.End(Side::kOriginator);
  h.Finish();
  EXPECT_EQ(h.Take(), (Events{"smtp_reply(F, 220, >, hi, F)",
                              "smtp_unexpected(F, reply code out of range, HTTP/1.1 400 Bad)",
                              "smtp_reply(F, 250, (UNKNOWN), still analysed, F)"}));
  EXPECT_EQ(h.shared().counters.disabled_dpd.Get(), 1u);
}

TEST(SmtpSessionDpd, EmptyServerLineIsOutOfRange) {
  SessionHarness h;
  h.Server("\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_unexpected(F, reply code out of range, )"}));
  EXPECT_TRUE(h.session().disabled());
}

TEST(SmtpSessionDpd, ViolationsAfterTheByteThresholdAreIgnored) {
  SmtpLimits limits;
  limits.dpd_ignore_violations_after = 10;
  SessionHarness h(limits);
  h.Server("220 hello there\r\n");
  h.Server("junk\r\n");
  h.Client("NOOP\r\n");
  EXPECT_FALSE(h.session().disabled());
  EXPECT_EQ(h.Take().back(), "smtp_request(T, NOOP, )");
}

TEST(SmtpSessionDpd, NoViolationAfterAGap) {
  SessionHarness h;
  h.Gap(Side::kResponder, 1, 5);
  h.Server("junk\r\n");
  EXPECT_FALSE(h.session().disabled());
}

TEST(SmtpSessionDpd, TooManyViolationsRaiseOneWeird) {
  SmtpLimits limits;
  limits.dpd_ignore_violations_after = 0;
  limits.max_analyzer_violations = 2;
  SessionHarness h(limits);
  h.Server("a\r\nb\r\nc\r\nd\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_unexpected(F, reply code out of range, a)",
                              "smtp_unexpected(F, reply code out of range, b)",
                              "smtp_unexpected(F, reply code out of range, c)",
                              "weird(too_many_analyzer_violations, , SMTP)",
                              "smtp_unexpected(F, reply code out of range, d)"}));
  EXPECT_FALSE(h.session().disabled());
}

TEST(SmtpSessionDpd, PartialConnectionOnlyReportsGaps) {
  SessionHarness h(SmtpLimits{}, /*partial=*/true);
  h.Server("220 hi\r\n");
  h.Client("EHLO x");
  h.Gap(Side::kOriginator, 7, 3);
  h.End(Side::kOriginator);
  h.End(Side::kResponder);
  h.Finish();
  EXPECT_EQ(h.Take(), (Events{"smtp_unexpected(T, content gap, seq = 7, len = 3)"}));
}

// A disable asked by an event handler through the connection (as the smtp.log logic does): the
// rest of the current delivery is analysed, an open message is closed, then nothing.
TEST(SmtpSessionDpd, ScriptDisableTakesEffectAfterTheCurrentDelivery) {
  RecordingSink sink;
  sink.wants = WithoutMimeData;
  SmtpAnalyzerFactory factory(SmtpConfig{}, sink);
  Connection conn;
  conn.id.resp_p = 25;
  std::unique_ptr<StreamConsumer> session = factory.Create(conn);
  ASSERT_NE(session, nullptr);
  auto deliver = [&](Side side, std::string_view bytes) {
    session->Deliver(side, Timestamp{1},
                     {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  };
  deliver(Side::kResponder, "220 hi\r\n");
  deliver(Side::kOriginator, "EHLO x\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\n");
  deliver(Side::kResponder, "250 a\r\n250 b\r\n250 c\r\n");
  sink.on_event = [&](const Event& e) {
    if (e.id == EventId::kSmtpData) conn.analyzer_requests.disable = true;
  };
  deliver(Side::kOriginator, "DATA\r\nA: 1\r\nB: 2\r\n");
  deliver(Side::kOriginator, "more\r\n.\r\n");
  std::vector<std::string> names;
  for (size_t i = 7; i < sink.events.size(); ++i) names.push_back(Render(sink.events[i]));
  EXPECT_EQ(names, (Events{"smtp_request(T, DATA, )", "mime_begin_entity()", "smtp_data(T, A: 1)",
                           "mime_one_header(A, A, 1)", "smtp_data(T, B: 2)",
                           "mime_one_header(B, B, 2)", "mime_end_entity()"}));
  std::vector<std::string> stats;
  struct V : StatsVisitor {
    std::vector<std::string>* out;
    void Visit(std::string_view, std::string_view name, uint64_t value, std::string_view, StatKind,
               Loss) override {
      if (name == "analyzers_disabled_script") out->push_back(std::to_string(value));
    }
  } visitor;
  visitor.out = &stats;
  factory.VisitStats(visitor);
  EXPECT_EQ(stats, (std::vector<std::string>{"1"}));
}

}  // namespace
}  // namespace mailtap::testing
