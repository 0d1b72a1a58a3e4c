#include "smtp/analyzer.h"

#include <gtest/gtest.h>

#include <map>

#include "session_harness.h"

namespace mailtap {
namespace {

class StatsMap : public StatsVisitor {
 public:
  void Visit(std::string_view group, std::string_view name, uint64_t value, std::string_view,
             StatKind, Loss) override {
    EXPECT_EQ(group, "smtp");
    values[std::string(name)] = value;
  }
  std::map<std::string, uint64_t> values;
};

TEST(SmtpAnalyzerFactory, AttachesOnlyToSmtpResponderPorts) {
  testing::RecordingSink sink;
  SmtpAnalyzerFactory factory(SmtpConfig{}, sink);
  Connection conn;
  conn.id.resp_p = 25;
  EXPECT_NE(factory.Create(conn), nullptr);
  conn.id.resp_p = 587;
  EXPECT_NE(factory.Create(conn), nullptr);
  conn.id.resp_p = 465;  // implicit TLS (RFC 8314): a session that only takes plaintext
  auto implicit = factory.Create(conn);
  ASSERT_NE(implicit, nullptr);
  EXPECT_TRUE(implicit->AcceptsTlsPlaintext());
  conn.id.resp_p = 2525;
  conn.id.orig_p = 25;
  EXPECT_EQ(factory.Create(conn), nullptr);

  SmtpConfig custom;
  custom.ports = PortSet{2525};
  SmtpAnalyzerFactory factory2(custom, sink);
  EXPECT_NE(factory2.Create(conn), nullptr);
}

TEST(SmtpAnalyzerFactory, CountsSessionsAndEvents) {
  testing::RecordingSink sink;
  SmtpAnalyzerFactory factory(SmtpConfig{}, sink);
  Connection conn;
  conn.id.resp_p = 25;
  auto session = factory.Create(conn);
  const std::string_view greeting = "220 hi\r\n";
  session->Deliver(Side::kResponder, Timestamp{1},
                   {reinterpret_cast<const uint8_t*>(greeting.data()), greeting.size()});
  session->Undelivered(Side::kOriginator, Timestamp{2}, 1, 10);
  StatsMap stats;
  factory.VisitStats(stats);
  EXPECT_EQ(stats.values["sessions_created"], 1u);
  EXPECT_EQ(stats.values["sessions_active"], 1u);
  EXPECT_EQ(stats.values["replies"], 1u);
  EXPECT_EQ(stats.values["content_gaps"], 1u);
  EXPECT_EQ(stats.values["unexpected"], 1u);
  EXPECT_EQ(session->StateName(), "AFTER_GAP");
  session->Finish(Timestamp{3});
  session.reset();
  factory.VisitStats(stats);
  EXPECT_EQ(stats.values["sessions_active"], 0u);
}

TEST(SmtpAnalyzerFactory, SessionsMayOutliveTheFactory) {
  testing::RecordingSink sink;
  Connection conn;
  conn.id.resp_p = 25;
  std::unique_ptr<StreamConsumer> session;
  {
    SmtpAnalyzerFactory factory(SmtpConfig{}, sink);
    session = factory.Create(conn);
  }
  // The session still analyses (with the counters, line budget and reusable events it shares
  // with the factory) and reports the removal.
  const std::string_view greeting = "220 still here\r\n";
  session->Deliver(Side::kResponder, Timestamp{1},
                   {reinterpret_cast<const uint8_t*>(greeting.data()), greeting.size()});
  session->Finish(Timestamp{2});
  session.reset();
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(testing::Render(sink.events[0]), "smtp_reply(F, 220, >, still here, F)");
  EXPECT_EQ(sink.removals, (std::vector<int64_t>{2}));
}

}  // namespace
}  // namespace mailtap
