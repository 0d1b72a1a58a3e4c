#include "common/event_selection.h"

#include <gtest/gtest.h>

#include <vector>

namespace mailtap {
namespace {

// A sink that records the names of the events it receives and wants everything.
class Recorder : public EventSink {
 public:
  void OnEvent(const Event& event) override { names.emplace_back(event.name()); }
  std::vector<std::string> names;
};

// The events that carry what a sender wrote: message lines and header values. If an event is
// added with message content, it belongs here (and kContent in event_list.h).
TEST(EventSelection, MessageLinesAndHeaderValuesAreContent) {
  EXPECT_TRUE(IsContentEvent(EventId::kSmtpData));
  EXPECT_TRUE(IsContentEvent(EventId::kMimeOneHeader));
  EXPECT_FALSE(IsContentEvent(EventId::kSmtpRequest));
  EXPECT_FALSE(IsContentEvent(EventId::kSmtpReply));
  EXPECT_FALSE(IsContentEvent(EventId::kWeird));
}

TEST(EventSelection, DefaultCarriesNoContentEvent) {
  const EventSelection selection = EventSelection::Protocol();
  for (const EventSchema& schema : kEventSchemas) {
    EXPECT_EQ(selection.Contains(schema.id), schema.kind == EventKind::kProtocol) << schema.name;
  }
  EXPECT_FALSE(selection.IncludesContent());
  EXPECT_EQ(selection.ContentNames(), "");
}

TEST(EventSelection, GroupsAndNamesCombine) {
  std::string error;
  auto selection = EventSelection::Parse("protocol,smtp_data", &error);
  ASSERT_TRUE(selection) << error;
  EXPECT_TRUE(selection->Contains(EventId::kSmtpRequest));
  EXPECT_TRUE(selection->Contains(EventId::kSmtpData));
  EXPECT_FALSE(selection->Contains(EventId::kMimeOneHeader));
  EXPECT_EQ(selection->ContentNames(), "smtp_data");

  selection = EventSelection::Parse("content", &error);
  ASSERT_TRUE(selection) << error;
  EXPECT_TRUE(selection->Contains(EventId::kMimeOneHeader));
  EXPECT_FALSE(selection->Contains(EventId::kSmtpReply));

  selection = EventSelection::Parse("all", &error);
  ASSERT_TRUE(selection) << error;
  for (const EventSchema& schema : kEventSchemas) EXPECT_TRUE(selection->Contains(schema.id));

  selection = EventSelection::Parse("weird", &error);
  ASSERT_TRUE(selection) << error;
  EXPECT_TRUE(selection->Contains(EventId::kWeird));
  EXPECT_FALSE(selection->Contains(EventId::kSmtpRequest));
}

TEST(EventSelection, UnknownOrEmptyWordNamesItAndTheChoices) {
  std::string error;
  EXPECT_FALSE(EventSelection::Parse("protocol,smtp_dta", &error));
  EXPECT_NE(error.find("'smtp_dta'"), std::string::npos) << error;
  EXPECT_NE(error.find("protocol, content, all"), std::string::npos) << error;
  EXPECT_NE(error.find("smtp_data"), std::string::npos) << error;
  EXPECT_FALSE(EventSelection::Parse("", &error));
  EXPECT_FALSE(EventSelection::Parse("protocol,", &error));
}

TEST(SelectedEvents, ForwardsOnlySelectedEventsAndDeclinesTheOthers) {
  Recorder recorder;
  SelectedEvents filter(EventSelection::Protocol(), recorder);
  EXPECT_FALSE(filter.Wants(EventId::kSmtpData));
  EXPECT_TRUE(filter.Wants(EventId::kSmtpRequest));
  filter.OnEvent(ev::smtp_data::Make(Timestamp{1}, nullptr, {.is_orig = true, .data = "secret"}));
  filter.OnEvent(ev::smtp_request::Make(Timestamp{2}, nullptr, {.command = "QUIT"}));
  EXPECT_EQ(recorder.names, std::vector<std::string>{"smtp_request"});
}

}  // namespace
}  // namespace mailtap
