#include "query/protocol.h"

#include <gtest/gtest.h>

namespace mailtap {
namespace {

TEST(ProtocolTest, RequestSurvivesFormatAndParse) {
  QueryRequest r;
  r.verb = Verb::kObserve;
  r.last = 100;
  r.follow = true;
  r.filter.events = {"smtp_request"};
  r.filter.ports = {25, 587};
  IpAddress a;
  ASSERT_TRUE(IpAddress::Parse("2001:db8::1", &a));
  r.filter.addresses = {a};
  r.filter.direction = Direction::kResp;
  r.filter.since = Timestamp{1700000000123456};
  r.filter.match = "rcpt";
  QueryRequest back;
  QueryError error;
  ASSERT_TRUE(ParseQueryRequest(FormatQueryRequest(r), &back, &error)) << error.message;
  EXPECT_EQ(back.verb, Verb::kObserve);
  EXPECT_EQ(back.last, 100u);
  EXPECT_TRUE(back.follow);
  EXPECT_EQ(back.filter.events, r.filter.events);
  EXPECT_EQ(back.filter.ports, r.filter.ports);
  EXPECT_EQ(back.filter.addresses, r.filter.addresses);
  EXPECT_EQ(back.filter.direction, Direction::kResp);
  EXPECT_EQ(back.filter.since, r.filter.since);
  EXPECT_EQ(back.filter.match, "rcpt");
}

TEST(ProtocolTest, FilterThatDoesNotApplyToTheVerbIsAnError) {
  QueryRequest r;
  QueryError error;
  EXPECT_FALSE(
      ParseQueryRequest(R"({"verb":"transactions","filter":{"direction":"orig"}})", &r, &error));
  EXPECT_EQ(error.code, query_errors::kBadRequest);
  EXPECT_NE(error.message.find("does not apply"), std::string::npos);
  EXPECT_FALSE(ParseQueryRequest(R"({"verb":"status","last":3})", &r, &error));
}

TEST(ProtocolTest, WrongTypesAreErrorsNotCrashes) {
  QueryRequest r;
  QueryError error;
  for (const char* bad :
       {R"({"verb":7})", R"({"verb":"observe","last":-1})", R"({"verb":"observe","last":"x"})",
        R"({"verb":"observe","follow":1})", R"({"verb":"observe","filter":{"port":70000}})",
        R"({"verb":"observe","filter":{"address":"nope"}})",
        R"({"verb":"observe","filter":{"since":"yesterday"}})", R"({"verb":"observe","filter":[]})",
        R"("observe")", ""}) {
    EXPECT_FALSE(ParseQueryRequest(bad, &r, &error)) << bad;
  }
}

TEST(ProtocolTest, ProtocolMessagesAreRecognisedByTheirFirstMember) {
  EXPECT_TRUE(IsProtocolMessage(LostMessage(3)));
  EXPECT_TRUE(IsProtocolMessage(EndMessage(0)));
  EXPECT_TRUE(IsProtocolMessage(OkMessage(Verb::kStatus)));
  EXPECT_FALSE(IsProtocolMessage(R"({"ts":1.000000,"event":"smtp_request"})"));
}

}  // namespace
}  // namespace mailtap
