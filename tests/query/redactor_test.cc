#include "query/redactor.h"

#include <gtest/gtest.h>

#include "query/event_format.h"
#include "query_test_util.h"

namespace mailtap {
namespace {

class Capture : public EventSink {
 public:
  void OnEvent(const Event& e) override { lines.push_back(FormatEventJson(e)); }
  std::vector<std::string> lines;
};

class RecordCapture : public RecordSink {
 public:
  void OnRecord(const SmtpRecord& r) override { records.push_back(r); }
  std::vector<SmtpRecord> records;
};

Event Req(std::string command, std::string arg) {
  Event e = testing::Request(0);
  e.args = {{"is_orig", true}, {"command", std::move(command)}, {"arg", std::move(arg)}};
  return e;
}

Event WithArg(std::string_view name, std::string_view arg_name, std::string value) {
  Event e = testing::Request(0);
  e.name = name;
  e.args = {{"is_orig", true}, {arg_name, std::move(value)}};
  return e;
}

std::string Through(RedactMode mode, const Event& e) {
  Capture out;
  Redactor redactor(mode, out);
  redactor.OnEvent(e);
  return out.lines.at(0);
}

TEST(RedactorTest, AuthAnswersAreRedactedByDefault) {
  EXPECT_EQ(Through(RedactMode::kCredentials, Req("**", "cHVuamFiQDEyMw==")),
            FormatEventJson(Req("**", "[REDACTED]")));
}

TEST(RedactorTest, AuthInitialResponseIsRedactedButTheMechanismStays) {
  EXPECT_EQ(Through(RedactMode::kCredentials, Req("AUTH", "PLAIN AHVzZXIAcGFzcw==")),
            FormatEventJson(Req("AUTH", "PLAIN [REDACTED]")));
}

TEST(RedactorTest, AuthWithoutInitialResponseIsUnchanged) {
  EXPECT_EQ(Through(RedactMode::kCredentials, Req("AUTH", "LOGIN")),
            FormatEventJson(Req("AUTH", "LOGIN")));
}

TEST(RedactorTest, OtherCommandsAndDataPassInCredentialsMode) {
  EXPECT_EQ(Through(RedactMode::kCredentials, Req("MAIL", "FROM:<a@b>")),
            FormatEventJson(Req("MAIL", "FROM:<a@b>")));
  Event data = WithArg(event_names::kSmtpData, "data", "Subject: secret");
  EXPECT_EQ(Through(RedactMode::kCredentials, data), FormatEventJson(data));
}

TEST(RedactorTest, DataModeAlsoRedactsMessageLinesAndHeaderValues) {
  EXPECT_EQ(Through(RedactMode::kData, WithArg(event_names::kSmtpData, "data", "hello")),
            FormatEventJson(WithArg(event_names::kSmtpData, "data", "[REDACTED]")));
  Event header = testing::Request(0);
  header.name = event_names::kMimeOneHeader;
  header.args = {{"h.original_name", "Subject"}, {"h.name", "SUBJECT"}, {"h.value", "secret"}};
  Event expected = header;
  expected.args[2].value = std::string("[REDACTED]");
  EXPECT_EQ(Through(RedactMode::kData, header), FormatEventJson(expected));
  EXPECT_EQ(Through(RedactMode::kData, Req("**", "x")), FormatEventJson(Req("**", "[REDACTED]")));
}

TEST(RedactorTest, NoneLeavesEveryEventUntouched) {
  for (const Event& e : {Req("**", "cHVuamFiQDEyMw=="), Req("AUTH", "PLAIN AHVzZXIAcGFzcw=="),
                         WithArg(event_names::kSmtpData, "data", "hello")}) {
    EXPECT_EQ(Through(RedactMode::kNone, e), FormatEventJson(e));
  }
}

TEST(RedactorTest, ParsesTheModeNames) {
  RedactMode mode = RedactMode::kNone;
  EXPECT_TRUE(ParseRedactMode("data", &mode));
  EXPECT_EQ(mode, RedactMode::kData);
  EXPECT_TRUE(ParseRedactMode("credentials", &mode));
  EXPECT_EQ(RedactModeName(mode), "credentials");
  EXPECT_FALSE(ParseRedactMode("all", &mode));
}

TEST(RecordRedactorTest, DataModeRedactsHeaderFieldsOnly) {
  SmtpRecord r;
  r.mailfrom = "<a@b>";
  r.subject = "secret";
  r.to = std::vector<std::string>{"x@y", "z@w"};
  RecordCapture out;
  RecordRedactor(RedactMode::kData, out).OnRecord(r);
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(out.records[0].mailfrom, "<a@b>");
  EXPECT_EQ(out.records[0].subject, "[REDACTED]");
  EXPECT_EQ(out.records[0].to, std::vector<std::string>{"[REDACTED]"});
  RecordRedactor(RedactMode::kCredentials, out).OnRecord(r);
  EXPECT_EQ(out.records[1].subject, "secret");
}

}  // namespace
}  // namespace mailtap
