#include "sinks/redactor.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "sinks/event_json.h"

namespace mailtap {
namespace testing {

// Connection `n` (created on first use, kept for the whole test program).
const Connection& TestConnection(int n) {
  static std::deque<Connection> conns;
  while (static_cast<int>(conns.size()) <= n) {
    Connection c;
    c.uid = "CTest" + std::to_string(conns.size());
    c.id.orig_p = static_cast<uint16_t>(40000 + conns.size());
    c.id.resp_p = 25;
    conns.push_back(c);
  }
  return conns[static_cast<size_t>(n)];
}

Event Request(int seq, int conn = 0) {
  return ev::smtp_request::Make(Timestamp{1700000000000000 + int64_t{seq} * 1000},
                                &TestConnection(conn), {.is_orig = true, .command = "NOOP"});
}

}  // namespace testing

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
  Set(e, ev::smtp_request::command, std::move(command));
  Set(e, ev::smtp_request::arg, std::move(arg));
  return e;
}

Event DataLine(std::string line) {
  const Event request = testing::Request(0);
  return ev::smtp_data::Make(request.ts, request.conn, {.is_orig = true, .data = std::move(line)});
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

// The analyzer splits "AUTH PLAIN<TAB>response" at the TAB as well (aiosmtpd accepts it).
TEST(RedactorTest, AuthInitialResponseAfterATabIsRedacted) {
  EXPECT_EQ(Through(RedactMode::kCredentials, Req("AUTH", "PLAIN\tAGFsaWNlAHNlY3JldA==")),
            FormatEventJson(Req("AUTH", "PLAIN\t[REDACTED]")));
}

Event Unknown(std::string word, int conn = 0) {
  const Event request = testing::Request(0, conn);
  return ev::smtp_unexpected::Make(
      request.ts, request.conn,
      {.is_orig = true, .msg = "unknown command", .detail = std::move(word)});
}

Event OnConn(Event e, int conn) {
  e.conn = &testing::TestConnection(conn);
  return e;
}

// "AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n" in one segment (or responses after a refused
// AUTH): the analyzer is not in IN_AUTH yet, so the responses are unknown commands.
TEST(RedactorTest, UnknownCommandsAfterAuthAreRedactedUntilTheNextCommand) {
  Capture out;
  Redactor redactor(RedactMode::kCredentials, out);
  const std::vector<Event> in = {Req("AUTH", "LOGIN"),  Unknown("YWxpY2U="), Unknown("c2VjcmV0", 1),
                                 Req("**", "c2VjcmV0"), Unknown("c2VjcmV0"), Req("QUIT", ""),
                                 Unknown("HELLO")};
  for (const Event& e : in) redactor.OnEvent(e);
  const std::vector<std::string> want = {
      FormatEventJson(Req("AUTH", "LOGIN")),    FormatEventJson(Unknown("[REDACTED]")),
      FormatEventJson(Unknown("c2VjcmV0", 1)),  // another connection: it sent no AUTH
      FormatEventJson(Req("**", "[REDACTED]")),
      FormatEventJson(Unknown("[REDACTED]")),  // AUTH answers keep the exchange going
      FormatEventJson(Req("QUIT", "")),
      FormatEventJson(Unknown("HELLO")),  // the client has moved on
  };
  EXPECT_EQ(out.lines, want);
}

TEST(RedactorTest, AuthStateEndsWithTheConnection) {
  Capture out;
  Redactor redactor(RedactMode::kCredentials, out);
  redactor.OnEvent(OnConn(Req("AUTH", "LOGIN"), 2));
  redactor.OnConnectionRemoved(testing::TestConnection(2), Timestamp{});
  redactor.OnEvent(Unknown("YWxpY2U=", 2));
  EXPECT_EQ(out.lines.back(), FormatEventJson(Unknown("YWxpY2U=", 2)));
}

TEST(RedactorTest, AuthWithoutInitialResponseIsUnchanged) {
  EXPECT_EQ(Through(RedactMode::kCredentials, Req("AUTH", "LOGIN")),
            FormatEventJson(Req("AUTH", "LOGIN")));
}

TEST(RedactorTest, OtherCommandsAndDataPassInCredentialsMode) {
  EXPECT_EQ(Through(RedactMode::kCredentials, Req("MAIL", "FROM:<a@b>")),
            FormatEventJson(Req("MAIL", "FROM:<a@b>")));
  Event data = DataLine("Subject: secret");
  EXPECT_EQ(Through(RedactMode::kCredentials, data), FormatEventJson(data));
}

TEST(RedactorTest, DataModeAlsoRedactsMessageLinesAndHeaderValues) {
  EXPECT_EQ(Through(RedactMode::kData, DataLine("hello")), FormatEventJson(DataLine("[REDACTED]")));
  const Event request = testing::Request(0);
  Event header = ev::mime_one_header::Make(
      request.ts, request.conn,
      {.h_original_name = "Subject", .h_name = "SUBJECT", .h_value = "secret"});
  Event expected = header;
  Set(expected, ev::mime_one_header::h_value, "[REDACTED]");
  EXPECT_EQ(Through(RedactMode::kData, header), FormatEventJson(expected));
  EXPECT_EQ(Through(RedactMode::kData, Req("**", "x")), FormatEventJson(Req("**", "[REDACTED]")));
}

TEST(RedactorTest, NoneLeavesEveryEventUntouched) {
  for (const Event& e :
       {Req("**", "cHVuamFiQDEyMw=="), Req("AUTH", "PLAIN AHVzZXIAcGFzcw=="), DataLine("hello")}) {
    EXPECT_EQ(Through(RedactMode::kNone, e), FormatEventJson(e));
  }
}

TEST(RedactorTest, ParsesTheModeNames) {
  EXPECT_EQ(EnumFromName<RedactMode>(kRedactModeNames, "data"), RedactMode::kData);
  EXPECT_EQ(EnumFromName<RedactMode>(kRedactModeNames, "none"), RedactMode::kNone);
  EXPECT_EQ(EnumName<RedactMode>(kRedactModeNames, RedactMode::kCredentials), "credentials");
  EXPECT_EQ(EnumFromName<RedactMode>(kRedactModeNames, "all"), std::nullopt);
  EXPECT_EQ(EnumNameList<RedactMode>(kRedactModeNames), "credentials, data, none");
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
