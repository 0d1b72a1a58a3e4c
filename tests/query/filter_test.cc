#include "query/filter.h"

#include <gtest/gtest.h>

#include "query/protocol.h"

namespace mailtap {
namespace {

Event Sniff(const std::string& fuid, const std::string& type) {
  return ev::file_sniff::Make(Timestamp{1}, nullptr, {.f_id = fuid, .meta_mime_type = type});
}

Event StateRemove(const std::string& fuid, const std::string& type) {
  return ev::file_state_remove::Make(Timestamp{1}, nullptr,
                                     {.f_id = fuid, .f_source = "SMTP", .f_info_mime_type = type});
}

TEST(FileFilters, FuidSelectsTheEventsOfThatFile) {
  Filter f;
  f.fuids = {"FmFp351N5nhsMmAfQg"};
  EXPECT_TRUE(f.Matches(KeysFromEvent(Sniff("FmFp351N5nhsMmAfQg", "text/plain"))));
  EXPECT_TRUE(f.Matches(KeysFromEvent(
      ev::file_gap::Make(Timestamp{1}, nullptr, {.f_id = "FmFp351N5nhsMmAfQg", .len = 5}))));
  EXPECT_FALSE(f.Matches(KeysFromEvent(Sniff("Fother", "text/plain"))));
  // Events without a file never match a fuid filter.
  EXPECT_FALSE(f.Matches(KeysFromEvent(ev::smtp_request::Make(Timestamp{1}, nullptr, {}))));
}

TEST(FileFilters, FuidSelectsTransactionsCarryingThatFile) {
  Filter f;
  f.fuids = {"Fb"};
  SmtpRecord r;
  r.fuids = {"Fa", "Fb"};
  EXPECT_TRUE(f.Matches(KeysFromRecord(r)));
  r.fuids = {"Fa"};
  EXPECT_FALSE(f.Matches(KeysFromRecord(r)));
}

TEST(FileFilters, MimeTypeIsCaseInsensitiveWithTypeWildcards) {
  Filter f;
  f.mime_types = {"Application/PDF", "image/*"};
  EXPECT_TRUE(f.Matches(KeysFromEvent(Sniff("F1", "application/pdf"))));
  EXPECT_TRUE(f.Matches(KeysFromEvent(StateRemove("F1", "image/png"))));
  EXPECT_FALSE(f.Matches(KeysFromEvent(Sniff("F1", "text/plain"))));
  EXPECT_FALSE(f.Matches(KeysFromEvent(Sniff("F1", "image"))));  // no subtype
  EXPECT_FALSE(f.Matches(KeysFromEvent(Sniff("F1", ""))));
  EXPECT_FALSE(f.Matches(KeysFromEvent(
      ev::file_new::Make(Timestamp{1}, nullptr, {.f_id = "F1", .f_source = "SMTP"}))));
}

// Keys are refilled in place for each event: a file event's keys must not leak into the next.
TEST(FileFilters, RefilledKeysForgetThePreviousFile) {
  FilterKeys k;
  FillKeysFromEvent(Sniff("F1", "image/png"), &k);
  FillKeysFromEvent(ev::smtp_request::Make(Timestamp{1}, nullptr, {}), &k);
  EXPECT_TRUE(k.fuids.empty());
  EXPECT_TRUE(k.mime_type.empty());
}

TEST(FileFilters, SurviveTheProtocolAndApplyOnlyWhereTheyMean) {
  QueryRequest r;
  r.verb = Verb::kObserve;
  r.filter.fuids = {"F1"};
  r.filter.mime_types = {"image/*"};
  QueryRequest back;
  QueryError error;
  ASSERT_TRUE(ParseQueryRequest(FormatQueryRequest(r), &back, &error)) << error.message;
  EXPECT_EQ(back.filter.fuids, r.filter.fuids);
  EXPECT_EQ(back.filter.mime_types, r.filter.mime_types);
  EXPECT_FALSE(ParseQueryRequest(
      R"({"protocol":1,"verb":"transactions","filter":{"mime_type":["image/png"]}})", &back,
      &error));
  EXPECT_NE(error.message.find("does not apply"), std::string::npos) << error.message;
  EXPECT_FALSE(ParseQueryRequest(R"({"protocol":1,"verb":"connections","filter":{"fuid":["F1"]}})",
                                 &back, &error));
}

}  // namespace
}  // namespace mailtap
