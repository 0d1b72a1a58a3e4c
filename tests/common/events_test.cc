// The event schema machinery of mailtap/events.h, on the events of mailtap/event_list.h.
#include "mailtap/events.h"

#include <gtest/gtest.h>

#include <string>

namespace mailtap {
namespace {

TEST(Events, MakeStoresTheArgumentsInDeclarationOrder) {
  Connection conn;
  const Event e = ev::smtp_reply::Make(
      Timestamp{3}, &conn,
      {.is_orig = true, .code = 354, .cmd = "DATA", .msg = "go", .cont_resp = true});
  EXPECT_EQ(e.id, EventId::kSmtpReply);
  EXPECT_EQ(e.name(), "smtp_reply");
  EXPECT_EQ(e.conn, &conn);
  ASSERT_EQ(e.args.size(), 5u);
  EXPECT_EQ(std::get<bool>(e.args[0]), true);
  EXPECT_EQ(std::get<int64_t>(e.args[1]), 354);
  EXPECT_EQ(std::get<std::string>(e.args[2]), "DATA");
  EXPECT_EQ(std::get<std::string>(e.args[3]), "go");
  EXPECT_EQ(std::get<bool>(e.args[4]), true);
  EXPECT_EQ(Get(e, ev::smtp_reply::msg), "go");
  EXPECT_EQ(Get(e, ev::smtp_reply::code), 354);
}

TEST(Events, TheSchemaNamesEachArgumentWithZeeksKeyAndType) {
  const EventSchema& header = SchemaOf(EventId::kMimeOneHeader);
  EXPECT_EQ(header.name, "mime_one_header");
  ASSERT_EQ(header.args.size(), 3u);
  EXPECT_EQ(header.args[0].key, "h.original_name");
  EXPECT_EQ(header.args[2].key, "h.value");
  EXPECT_EQ(header.args[2].type, ArgType::kString);
  EXPECT_EQ(SchemaOf(EventId::kSmtpReply).args[1].type, ArgType::kCount);
  EXPECT_TRUE(SchemaOf(EventId::kSmtpStartTls).args.empty());
}

TEST(Events, EveryEventIsFoundByItsName) {
  for (const EventSchema& s : kEventSchemas) {
    EXPECT_EQ(EventIdByName(s.name), s.id) << s.name;
    EXPECT_EQ(EventName(s.id), s.name);
  }
  EXPECT_EQ(EventIdByName("smtp_requests"), std::nullopt);
}

TEST(Events, ResetAndSetReuseAnEventForAnotherOfAnotherShape) {
  Event e = ev::smtp_request::Make({}, nullptr, {.command = "MAIL", .arg = "FROM:<a@b>"});
  Reset(e, EventId::kSmtpData, Timestamp{9}, nullptr);
  Set(e, ev::smtp_data::is_orig, false);
  Set(e, ev::smtp_data::data, std::string_view("line"));
  ASSERT_EQ(e.args.size(), 2u);
  EXPECT_EQ(e.ts, Timestamp{9});
  EXPECT_FALSE(Get(e, ev::smtp_data::is_orig));
  EXPECT_EQ(Get(e, ev::smtp_data::data), "line");
}

TEST(Events, SharedKeysAreFoundInEveryEventThatHasThem) {
  constexpr auto positions = ArgPositions("is_orig", ArgType::kBool);
  EXPECT_EQ(positions[static_cast<size_t>(EventId::kSmtpRequest)], 0);
  EXPECT_EQ(positions[static_cast<size_t>(EventId::kSmtpUnexpected)], 0);
  EXPECT_EQ(positions[static_cast<size_t>(EventId::kWeird)], -1);
  EXPECT_EQ(positions[static_cast<size_t>(EventId::kMimeEndEntity)], -1);
}

TEST(Events, WeirdsCarryNameAddlAndSource) {
  const Event w = MakeWeird(Timestamp{1}, nullptr, "NUL_in_line", "x", "CONTENTLINE");
  EXPECT_EQ(w.id, EventId::kWeird);
  EXPECT_EQ(Get(w, ev::weird::name), "NUL_in_line");
  EXPECT_EQ(Get(w, ev::weird::addl), "x");
  EXPECT_EQ(Get(w, ev::weird::source), "CONTENTLINE");
}

}  // namespace
}  // namespace mailtap
