// Hub item recycling and in-place filter keys: the allocation-free path of QueryServer::OnEvent.
#include "query/hub.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "mailtap/events.h"
#include "mailtap/flow.h"
#include "query/filter.h"

namespace mailtap {
namespace {

Hub::Limits HistoryOf(size_t events) {
  Hub::Limits limits;
  limits.event_history = events;
  return limits;
}

std::shared_ptr<Item> Filled(Hub& hub, const std::string& json) {
  std::shared_ptr<Item> item = hub.Reusable(Stream::kEvents);
  item->json = json;
  return item;
}

TEST(HubTest, AnItemEvictedUnsharedIsOfferedForReuse) {
  Hub hub(HistoryOf(2), nullptr);
  std::shared_ptr<Item> first = Filled(hub, "first");
  const Item* first_address = first.get();
  hub.Publish(Stream::kEvents, std::move(first));
  hub.Publish(Stream::kEvents, Filled(hub, "second"));
  hub.Publish(Stream::kEvents, Filled(hub, "third"));  // evicts "first"

  std::shared_ptr<Item> reused = hub.Reusable(Stream::kEvents);
  EXPECT_EQ(reused.get(), first_address);
  EXPECT_EQ(reused->json, "first");  // the caller overwrites it; its capacity is the point
  EXPECT_NE(hub.Reusable(Stream::kEvents).get(), first_address);  // offered once only
}

TEST(HubTest, AnItemAReaderStillHoldsIsNeverReused) {
  Hub hub(HistoryOf(1), nullptr);
  std::shared_ptr<Item> first = Filled(hub, "first");
  ItemPtr reader_copy = first;  // e.g. in a follower's queue or a backlog being sent
  hub.Publish(Stream::kEvents, std::move(first));
  hub.Publish(Stream::kEvents, Filled(hub, "second"));  // evicts "first"

  std::shared_ptr<Item> item = hub.Reusable(Stream::kEvents);
  EXPECT_NE(item.get(), reader_copy.get());
  EXPECT_TRUE(item->json.empty());
  EXPECT_EQ(reader_copy->json, "first");
}

TEST(HubTest, EvictionStillKeepsTheNewestItems) {
  Hub hub(HistoryOf(2), nullptr);
  for (const char* json : {"a", "b", "c"}) hub.Publish(Stream::kEvents, Filled(hub, json));
  Hub::Start start = hub.Subscribe(Stream::kEvents, Filter{}, 10, /*follow=*/false);
  ASSERT_EQ(start.backlog.size(), 2u);
  EXPECT_EQ(start.backlog[0]->json, "b");
  EXPECT_EQ(start.backlog[1]->json, "c");
}

TEST(FilterKeysTest, FillingInPlaceLeavesNothingOfThePreviousEvent) {
  Connection conn;
  conn.uid = "CabcdefghijklmnopQ";
  conn.id.orig_p = 40000;
  conn.id.resp_p = 25;
  Event request;
  request.ts = Timestamp{5};
  request.name = event_names::kSmtpRequest;
  request.conn = &conn;
  request.args = {{"is_orig", true}, {"command", std::string("MAIL")},
                  {"arg", std::string("FROM:<a@example.org>")}};
  Event loss;  // not tied to a connection, no is_orig, no command
  loss.ts = Timestamp{6};
  loss.name = "capture_loss";

  FilterKeys keys;
  FillKeysFromEvent(request, &keys);
  EXPECT_EQ(keys.uid, conn.uid);
  EXPECT_EQ(keys.command, "MAIL");
  ASSERT_EQ(keys.texts.size(), 2u);
  EXPECT_EQ(keys.texts[1], "FROM:<a@example.org>");

  FillKeysFromEvent(loss, &keys);
  const FilterKeys fresh = KeysFromEvent(loss);
  EXPECT_EQ(keys.event, "capture_loss");
  EXPECT_EQ(keys.ts, fresh.ts);
  EXPECT_FALSE(keys.has_conn);
  EXPECT_EQ(keys.uid, "");
  EXPECT_EQ(keys.id.orig_p, 0);
  EXPECT_FALSE(keys.is_orig.has_value());
  EXPECT_EQ(keys.command, "");
  EXPECT_TRUE(keys.texts.empty());
}

}  // namespace
}  // namespace mailtap
