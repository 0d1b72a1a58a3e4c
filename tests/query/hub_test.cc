// The query history: entries in a byte ring, events read back exactly as published, followers
// that lose what they let fall behind, and in-place filter keys.
#include "query/hub.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "mailtap/events.h"
#include "mailtap/flow.h"
#include "query/entry_ring.h"
#include "query/filter.h"
#include "sinks/event_json.h"
#include "sinks/smtp_log_writer.h"

namespace mailtap {
namespace {

std::string Text(std::span<const uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

void Put(EntryRing& ring, const std::string& text) {
  std::memcpy(ring.Append(text.size()), text.data(), text.size());
}

TEST(EntryRingTest, KeepsTheNewestEntriesByCount) {
  EntryRing ring(3, 1024);
  for (const char* text : {"a", "bb", "ccc", "dddd"}) Put(ring, text);
  EXPECT_EQ(ring.head(), 4u);
  EXPECT_EQ(ring.tail(), 1u);
  EXPECT_EQ(Text(ring.Get(1)), "bb");
  EXPECT_EQ(Text(ring.Get(3)), "dddd");
}

TEST(EntryRingTest, KeepsTheNewestEntriesByBytesAndNeverSplitsOne) {
  EntryRing ring(100, 40);  // rounded up to 64 bytes: entries up to 16 bytes
  ASSERT_EQ(ring.max_entry_bytes(), 16u);
  for (int i = 0; i < 7; ++i) Put(ring, std::string(11, static_cast<char>('a' + i)));
  // 7 x 11 bytes in 64: the sixth entry does not fit behind the fifth (55 + 11 > 64), starts
  // over at 0, and the oldest give way until it and everything kept fit in 64 bytes.
  EXPECT_EQ(ring.head(), 7u);
  EXPECT_EQ(ring.size(), 5u);
  for (uint64_t seq = ring.tail(); seq < ring.head(); ++seq) {
    EXPECT_EQ(Text(ring.Get(seq)), std::string(11, static_cast<char>('a' + seq)));
  }
}

Connection TestConnection() {
  Connection conn;
  conn.uid = "CabcdefghijklmnopQ";
  const uint8_t orig[4] = {127, 0, 0, 1};
  const uint8_t resp[4] = {192, 0, 2, 25};
  conn.id.orig_h = IpAddress::FromV4(orig);
  conn.id.orig_p = 40000;
  conn.id.resp_h = IpAddress::FromV4(resp);
  conn.id.resp_p = 25;
  return conn;
}

Event Request(const Connection* conn, int i, std::string arg = "FROM:<a@example.org>") {
  return ev::smtp_request::Make(Timestamp{1700000000123456 + i}, conn,
                                {.is_orig = true, .command = "MAIL", .arg = std::move(arg)});
}

std::vector<std::string> Lines(const std::vector<ItemPtr>& items) {
  std::vector<std::string> lines;
  for (const auto& item : items) lines.push_back(item->Json());
  return lines;
}

TEST(HubTest, EventsReadBackFormatExactlyAsPublishedAfterTheirConnectionIsGone) {
  auto conn = std::make_unique<Connection>(TestConnection());
  std::vector<Event> events = {
      Request(conn.get(), 0, std::string("FROM:<a\0b\xff\"@x>\r", 15)),
      ev::smtp_reply::Make(Timestamp{7}, conn.get(),
                           {.is_orig = false, .code = 250, .cmd = "MAIL", .cont_resp = true}),
      MakeWeird(Timestamp{8}, nullptr, "capture_loss", "", ""),  // no connection
      ev::mime_end_entity::Make(Timestamp{9}, conn.get()),       // no arguments
  };
  std::vector<std::string> expected;
  for (const Event& e : events) expected.push_back(FormatEventJson(e));
  Hub hub(Hub::Limits{}, nullptr);
  for (const Event& e : events) hub.PublishEvent(e);
  conn.reset();
  EXPECT_EQ(Lines(hub.Subscribe(Stream::kEvents, Filter{}, 10, false).backlog), expected);
}

// docs/interface.md "Inside TLS": inside_tls and the socket's owner survive the history too.
TEST(HubTest, InsideTlsAndTheOwnerReadBackAsPublished) {
  auto conn = std::make_unique<Connection>(TestConnection());
  conn->process = OwnerProcess{812, "smtpd", 4711};
  Event e = Request(conn.get(), 0);
  e.inside_tls = true;
  SmtpRecord r;
  r.uid = conn->uid;
  r.id = conn->id;
  r.tls = true;
  r.proc = conn->process;
  const std::string expected_event = FormatEventJson(e);
  ASSERT_NE(expected_event.find("\"inside_tls\":true"), std::string::npos);
  Hub hub(Hub::Limits{}, nullptr);
  hub.PublishEvent(e);
  hub.PublishRecord(r);
  conn.reset();
  EXPECT_EQ(Lines(hub.Subscribe(Stream::kEvents, Filter{}, 10, false).backlog),
            std::vector<std::string>{expected_event});
  EXPECT_EQ(Lines(hub.Subscribe(Stream::kRecords, Filter{}, 10, false).backlog),
            std::vector<std::string>{FormatRecordJson(r)});
}

TEST(HubTest, RecordsReadBackFormatAndFilterExactlyAsPublished) {
  const Connection conn = TestConnection();
  SmtpRecord r;  // every kind of field: set and unset optionals, empty and full containers
  r.ts = Timestamp{1700000000123456};
  r.uid = conn.uid;
  r.id = conn.id;
  r.trans_depth = 2;
  r.helo = "mail.example.org";
  r.mailfrom = "<a@example.org>";
  r.rcptto = std::vector<std::string>{"<b@example.net>", "<c@example.net>"};
  r.to = std::vector<std::string>{};
  r.subject = std::string("caf\xc3\xa9 \"quoted\"\r\n\x01");
  r.x_originating_ip = conn.id.orig_h;
  r.path = std::vector<IpAddress>{conn.id.resp_h, conn.id.orig_h};
  r.last_reply = "250 2.0.0 Ok: queued";
  r.tls = true;
  Hub hub(Hub::Limits{}, nullptr);
  hub.PublishRecord(r);
  Filter by_text;
  by_text.match = "EXAMPLE.NET";
  Filter by_port;
  by_port.ports = {25};
  for (const Filter& f : {Filter{}, by_text, by_port}) {
    auto backlog = hub.Subscribe(Stream::kRecords, f, 10, false).backlog;
    ASSERT_EQ(backlog.size(), 1u);
    EXPECT_EQ(backlog[0]->Json(), FormatRecordJson(r));
    EXPECT_EQ(backlog[0]->Keys().texts, KeysFromRecord(r).texts);
  }
  Filter other_port;
  other_port.ports = {587};
  EXPECT_TRUE(hub.Subscribe(Stream::kRecords, other_port, 10, false).backlog.empty());
}

TEST(HubTest, HistoryIsBoundedInEventsAndInBytes) {
  const Connection conn = TestConnection();
  Hub::Limits limits;
  limits.event_history = 100;
  limits.queue_capacity = 0;
  limits.event_bytes = 64 * 1024;
  Hub hub(limits, nullptr);
  for (int i = 0; i < 50; ++i) hub.PublishEvent(Request(&conn, i));
  EXPECT_EQ(hub.history_size(Stream::kEvents), 50u);
  for (int i = 50; i < 300; ++i) hub.PublishEvent(Request(&conn, i));
  EXPECT_EQ(hub.history_size(Stream::kEvents), 100u);
  auto last = hub.Subscribe(Stream::kEvents, Filter{}, 1, false).backlog;
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0]->Json(), FormatEventJson(Request(&conn, 299)));

  // 10 events of 10 KiB fill the 64 KiB ring: only the newest few stay, the newest intact.
  for (int i = 0; i < 10; ++i) hub.PublishEvent(Request(&conn, i, std::string(10240, 'x')));
  EXPECT_LT(hub.history_size(Stream::kEvents), 7u);
  last = hub.Subscribe(Stream::kEvents, Filter{}, 1, false).backlog;
  EXPECT_EQ(last[0]->Json(), FormatEventJson(Request(&conn, 9, std::string(10240, 'x'))));
  EXPECT_EQ(hub.oversize_dropped(Stream::kEvents), 0u);

  // More than a quarter of the ring: not kept, counted.
  hub.PublishEvent(Request(&conn, 10, std::string(20000, 'y')));
  EXPECT_EQ(hub.oversize_dropped(Stream::kEvents), 1u);
  EXPECT_EQ(hub.published(Stream::kEvents), 311u);
}

// The backlog is read newest first in batches: across batch boundaries it stays complete and in
// order, and a selective filter reaches back as far as the history does.
TEST(HubTest, LastNReachesBackAcrossReadBatches) {
  const Connection conn = TestConnection();
  Hub hub(Hub::Limits{}, nullptr);
  for (int i = 0; i < 1000; ++i) {
    hub.PublishEvent(Request(&conn, i, i == 10 ? "FROM:<wanted@x>" : "FROM:<other@x>"));
  }
  std::vector<std::string> expected;
  for (int i = 400; i < 1000; ++i) {
    expected.push_back(
        FormatEventJson(Request(&conn, i, i == 10 ? "FROM:<wanted@x>" : "FROM:<other@x>")));
  }
  EXPECT_EQ(Lines(hub.Subscribe(Stream::kEvents, Filter{}, 600, false).backlog), expected);
  Filter wanted;
  wanted.match = "wanted";
  EXPECT_EQ(Lines(hub.Subscribe(Stream::kEvents, wanted, 5, false).backlog),
            std::vector<std::string>{FormatEventJson(Request(&conn, 10, "FROM:<wanted@x>"))});
}

TEST(HubTest, AFollowerTooFarBehindLosesTheOldestAndLearnsHowMany) {
  const Connection conn = TestConnection();
  Hub::Limits limits;
  limits.event_history = 5;
  limits.queue_capacity = 8;
  Hub hub(limits, nullptr);
  auto sub = hub.Subscribe(Stream::kEvents, Filter{}, 0, true).subscription;
  for (int i = 0; i < 20; ++i) hub.PublishEvent(Request(&conn, i));
  std::vector<ItemPtr> items;
  EXPECT_EQ(hub.Take(*sub, 100, &items), 12u);
  std::vector<std::string> expected;
  for (int i = 12; i < 20; ++i) expected.push_back(FormatEventJson(Request(&conn, i)));
  EXPECT_EQ(Lines(items), expected);
  EXPECT_EQ(hub.slow_subscriber_lost(Stream::kEvents), 12u);
  EXPECT_EQ(hub.slow_subscriber_lost(Stream::kRecords), 0u);  // another unit, counted apart

  items.clear();
  EXPECT_EQ(hub.Take(*sub, 100, &items), 0u);  // caught up
  EXPECT_TRUE(items.empty());
}

TEST(HubTest, FollowersSeeOnlyWhatTheirFilterSelectsAndShareOneDecodedItem) {
  const Connection conn = TestConnection();
  Hub hub(Hub::Limits{}, nullptr);
  Filter wanted;
  wanted.match = "wanted";
  auto a = hub.Subscribe(Stream::kEvents, wanted, 0, true).subscription;
  auto b = hub.Subscribe(Stream::kEvents, wanted, 0, true).subscription;
  EXPECT_EQ(hub.subscribers(), 2u);
  for (int i = 0; i < 1000; ++i) {
    hub.PublishEvent(Request(&conn, i, i == 700 ? "FROM:<wanted@x>" : "FROM:<other@x>"));
  }
  std::vector<ItemPtr> from_a, from_b;
  EXPECT_EQ(hub.Take(*a, 10, &from_a), 0u);
  EXPECT_EQ(hub.Take(*b, 10, &from_b), 0u);
  ASSERT_EQ(from_a.size(), 1u);
  ASSERT_EQ(from_b.size(), 1u);
  EXPECT_EQ(from_a[0]->Json(), FormatEventJson(Request(&conn, 700, "FROM:<wanted@x>")));
  EXPECT_EQ(from_a[0].get(), from_b[0].get());
  hub.Unsubscribe(a);
  hub.Unsubscribe(b);
  EXPECT_EQ(hub.subscribers(), 0u);
}

TEST(FilterKeysTest, FillingInPlaceLeavesNothingOfThePreviousEvent) {
  Connection conn;
  conn.uid = "CabcdefghijklmnopQ";
  conn.id.orig_p = 40000;
  conn.id.resp_p = 25;
  Event request = ev::smtp_request::Make(
      Timestamp{5}, &conn, {.is_orig = true, .command = "MAIL", .arg = "FROM:<a@example.org>"});
  // Not tied to a connection, no is_orig, no command.
  Event loss = MakeWeird(Timestamp{6}, nullptr, "capture_loss", "", "");

  FilterKeys keys;
  FillKeysFromEvent(request, &keys);
  EXPECT_EQ(keys.uid, conn.uid);
  EXPECT_EQ(keys.command, "MAIL");
  ASSERT_EQ(keys.texts.size(), 2u);
  EXPECT_EQ(keys.texts[1], "FROM:<a@example.org>");

  FillKeysFromEvent(loss, &keys);
  const FilterKeys fresh = KeysFromEvent(loss);
  EXPECT_EQ(keys.event, "weird");
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

namespace mailtap {
namespace {

// docs/interface.md "Community ID": kept in the history and a filter for events and records.
TEST(HubTest, CommunityIdReadsBackAndFiltersEventsAndRecords) {
  auto conn = std::make_unique<Connection>(TestConnection());
  conn->community_id = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=";
  auto other = std::make_unique<Connection>(TestConnection());
  other->uid = "COther";
  other->community_id = "1:d/FP5EW3wiY1vCndhwleRRKHowQ=";
  Event e = Request(conn.get(), 0);
  const std::string expected = FormatEventJson(e);
  ASSERT_NE(expected.find("\"community_id\":\"1:LQU9qZlK+B5F3KDmev6m5PMibrg=\""),
            std::string::npos);
  SmtpRecord r;
  r.uid = conn->uid;
  r.id = conn->id;
  r.community_id = conn->community_id;
  Hub hub(Hub::Limits{}, nullptr);
  hub.PublishEvent(e);
  hub.PublishEvent(Request(other.get(), 1));
  hub.PublishRecord(r);
  conn.reset();
  other.reset();
  Filter f;
  f.community_ids = {"1:LQU9qZlK+B5F3KDmev6m5PMibrg="};
  EXPECT_EQ(Lines(hub.Subscribe(Stream::kEvents, f, 10, false).backlog),
            std::vector<std::string>{expected});
  EXPECT_EQ(hub.Subscribe(Stream::kRecords, f, 10, false).backlog.size(), 1u);
  f.community_ids = {"1:none"};
  EXPECT_TRUE(hub.Subscribe(Stream::kEvents, f, 10, false).backlog.empty());
  EXPECT_TRUE(hub.Subscribe(Stream::kRecords, f, 10, false).backlog.empty());
}

}  // namespace
}  // namespace mailtap
