#include "query/query_server.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "query/event_format.h"
#include "query/socket_setup.h"
#include "query_test_util.h"

namespace mailtap {
namespace {

using testing::RawClient;
using testing::Reply;
using testing::Request;
using testing::TempDir;
using Json = nlohmann::json;

Json Parse(const std::string& line) { return Json::parse(line, nullptr, false); }

bool IsMessage(const std::string& line, const std::string& kind) {
  Json j = Parse(line);
  return j.is_object() && j.value("mailtap", "") == kind;
}

std::vector<std::string> DataLines(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines) {
    if (l.rfind("{\"mailtap\":", 0) != 0) out.push_back(l);
  }
  return out;
}

class QueryServerTest : public ::testing::Test {
 protected:
  QueryServerConfig Config() {
    QueryServerConfig c;
    c.socket_path = dir_.path() + "/q.sock";
    c.log = [this](std::string_view line) {
      std::lock_guard lock(log_mu_);
      log_.emplace_back(line);
    };
    return c;
  }
  void Start(QueryServerConfig c) {
    AgentInfo info{
        "9.9.9", [] { return std::string("test producer"); }, {"ringbuf"}, "credentials", started_};
    server_ = QueryServer::Start(std::move(c), info, stats_, connections_);
  }
  void Start() { Start(Config()); }

  // The agent "started" an hour before the test, so that its uptime is known to within the
  // test's own run time.
  const std::chrono::system_clock::time_point started_ =
      std::chrono::system_clock::now() - std::chrono::hours(1);

  // Sends one request line and returns every line until the server closes.
  std::vector<std::string> Ask(const std::string& request) {
    RawClient client;
    EXPECT_TRUE(client.Connect(server_->socket_path()));
    client.Send(request + "\n");
    return client.ReadAll();
  }
  // A follower, returned once the server has acknowledged (and so registered) it.
  std::unique_ptr<RawClient> Follow(const std::string& request) {
    auto client = std::make_unique<RawClient>();
    EXPECT_TRUE(client->Connect(server_->socket_path()));
    client->Send(request + "\n");
    auto ok = client->ReadLine();
    EXPECT_TRUE(ok && IsMessage(*ok, "ok")) << ok.value_or("<closed>");
    return client;
  }
  std::vector<std::string> Log() {
    std::lock_guard lock(log_mu_);
    return log_;
  }
  uint64_t OwnStat(const std::string& name) {
    for (const auto& s : server_->OwnStats()) {
      if (s.name == name) return s.value;
    }
    ADD_FAILURE() << "no stat " << name;
    return 0;
  }

  TempDir dir_;
  StatsSnapshot stats_;
  ConnectionsSnapshot connections_;
  std::unique_ptr<QueryServer> server_;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(QueryServerTest, LastNReturnsExactlyTheLastPublishedEventsInOrder) {
  Start();
  std::vector<std::string> expected;
  for (int i = 0; i < 30; ++i) {
    Event e = Request(i);
    server_->OnEvent(e);
    if (i >= 20) expected.push_back(FormatEventJson(e));
  }
  auto lines = Ask(R"({"protocol":1,"verb":"observe","last":10})");
  ASSERT_EQ(lines.size(), 12u);
  EXPECT_TRUE(IsMessage(lines.front(), "ok"));
  EXPECT_EQ(DataLines(lines), expected);
  EXPECT_EQ(Parse(lines.back())["items"], 10);
}

TEST_F(QueryServerTest, LastNBeyondTheHistoryReturnsWhatIsKept) {
  QueryServerConfig c = Config();
  c.history_size = 5;
  Start(c);
  std::vector<std::string> expected;
  for (int i = 0; i < 8; ++i) {
    server_->OnEvent(Request(i));
    if (i >= 3) expected.push_back(FormatEventJson(Request(i)));
  }
  EXPECT_EQ(DataLines(Ask(R"({"verb":"observe","last":100})")), expected);
}

TEST_F(QueryServerTest, FollowDeliversEveryNewEventInOrder) {
  Start();
  server_->OnEvent(Request(-1));  // before the subscription: not wanted
  auto client = Follow(R"({"protocol":1,"verb":"observe","follow":true})");
  std::thread producer([&] {
    for (int i = 0; i < 500; ++i) server_->OnEvent(Request(i));
  });
  for (int i = 0; i < 500; ++i) {
    auto line = client->ReadLine();
    ASSERT_TRUE(line);
    ASSERT_EQ(*line, FormatEventJson(Request(i)));
  }
  producer.join();
}

TEST_F(QueryServerTest, LastThenFollowHasNoGapAndNoDuplicate) {
  Start();
  constexpr int kTotal = 3000;
  std::atomic<int> published{0};
  std::thread producer([&] {
    for (int i = 0; i < kTotal; ++i) {
      server_->OnEvent(Request(i));
      published.store(i + 1);
    }
  });
  while (published.load() < 200) std::this_thread::yield();  // subscribe mid-stream
  auto client = Follow(R"({"verb":"observe","last":100,"follow":true})");
  std::vector<int> seqs;
  while (seqs.empty() || seqs.back() != kTotal - 1) {
    auto line = client->ReadLine();
    ASSERT_TRUE(line);
    ASSERT_FALSE(IsMessage(*line, "lost")) << *line;
    std::string arg = Parse(*line)["arg"];
    seqs.push_back(std::stoi(arg.substr(4)));
  }
  producer.join();
  ASSERT_GE(seqs.size(), 100u);
  for (size_t i = 1; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], seqs[i - 1] + 1) << "at " << i;
}

class FilterTest : public QueryServerTest {
 protected:
  void SetUp() override {
    Start();
    // conn 0: port 25, 10.0.0.1; conn 1: port 587, 10.0.0.2. Requests at even seq, replies odd.
    for (int i = 0; i < 20; ++i) {
      int conn = (i / 2) % 2;
      std::string command = i % 4 < 2 ? "MAIL" : "RCPT";
      events_.push_back(i % 2 == 0 ? Request(i, conn, command) : Reply(i, conn, 250, command));
      server_->OnEvent(events_.back());
    }
  }
  // The events at `indices`, formatted.
  std::vector<std::string> At(std::vector<int> indices) {
    std::vector<std::string> out;
    for (int i : indices) out.push_back(FormatEventJson(events_[static_cast<size_t>(i)]));
    return out;
  }
  std::vector<std::string> Select(const std::string& filter) {
    return DataLines(Ask(R"({"verb":"observe","last":1000,"filter":)" + filter + "}"));
  }
  std::vector<Event> events_;
};

TEST_F(FilterTest, EventNameSelectsExactly) {
  EXPECT_EQ(Select(R"({"event":"smtp_reply"})"), At({1, 3, 5, 7, 9, 11, 13, 15, 17, 19}));
}

TEST_F(FilterTest, UidSelectsExactly) {
  EXPECT_EQ(Select(R"({"uid":["CTest1"]})"), At({2, 3, 6, 7, 10, 11, 14, 15, 18, 19}));
}

TEST_F(FilterTest, AddressMatchesEitherEndpoint) {
  EXPECT_EQ(Select(R"({"address":"10.0.0.1"})"), At({0, 1, 4, 5, 8, 9, 12, 13, 16, 17}));
  EXPECT_EQ(Select(R"({"address":"192.0.2.25"})").size(), 20u);
  EXPECT_TRUE(Select(R"({"address":"192.0.2.99"})").empty());
}

TEST_F(FilterTest, PortMatchesEitherEndpoint) {
  EXPECT_EQ(Select(R"({"port":587})"), At({2, 3, 6, 7, 10, 11, 14, 15, 18, 19}));
  EXPECT_EQ(Select(R"({"port":40000})"), At({0, 1, 4, 5, 8, 9, 12, 13, 16, 17}));
}

TEST_F(FilterTest, DirectionSelectsByIsOrig) {
  EXPECT_EQ(Select(R"({"direction":"orig"})"), At({0, 2, 4, 6, 8, 10, 12, 14, 16, 18}));
}

TEST_F(FilterTest, TimeRangeIncludesSinceExcludesUntil) {
  // Event i is at 1700000000 + i ms.
  EXPECT_EQ(Select(R"({"since":1700000000.005,"until":1700000000.008})"), At({5, 6, 7}));
}

TEST_F(FilterTest, MatchSearchesRequestCommandAndArg) {
  EXPECT_EQ(Select(R"({"match":"seq=1"})"),
            At({10, 12, 14, 16, 18}));  // replies' msg is not searched
  EXPECT_EQ(Select(R"({"match":"rcpt","event":"smtp_request"})"), At({2, 6, 10, 14, 18}));
}

TEST_F(FilterTest, CommandSelectsRequestsAndTheirReplies) {
  EXPECT_EQ(Select(R"({"command":"mail"})"), At({0, 1, 4, 5, 8, 9, 12, 13, 16, 17}));
}

TEST_F(FilterTest, FiltersCombineWithAnd) {
  EXPECT_EQ(Select(R"({"command":"RCPT","port":587,"direction":"resp","since":1700000000.010})"),
            At({11, 15, 19}));
  EXPECT_TRUE(Select(R"({"command":"MAIL","port":587})").empty());
}

TEST_F(QueryServerTest, TransactionsReturnTheFormattedRecords) {
  Start();
  std::vector<std::string> expected;
  for (int i = 0; i < 3; ++i) {
    SmtpRecord r;
    r.ts = Timestamp{1700000000000000 + i};
    r.uid = "CRec" + std::to_string(i);
    r.trans_depth = 1;
    r.mailfrom = "<a" + std::to_string(i) + "@example.org>";
    r.rcptto = std::vector<std::string>{"<b@example.net>"};
    server_->OnRecord(r);
    if (i > 0) expected.push_back(FormatRecordJson(r));
  }
  EXPECT_EQ(DataLines(Ask(R"({"verb":"transactions","last":2})")), expected);
  EXPECT_EQ(DataLines(Ask(R"({"verb":"transactions","last":9,"filter":{"match":"A2@"}})")),
            std::vector<std::string>{expected.back()});
}

TEST_F(QueryServerTest, ConnectionsListTheOpenSessions) {
  Start();
  ConnectionSummary c;
  c.uid = "COpen";
  IpAddress::Parse("10.1.1.1", &c.id.orig_h);
  c.id.orig_p = 1234;
  IpAddress::Parse("10.2.2.2", &c.id.resp_h);
  c.id.resp_p = 25;
  c.start = Timestamp{1700000000000000};
  c.last_seen = Timestamp{1700000001500000};
  c.orig_bytes = 10;
  c.resp_bytes = 20;
  c.tcp_state = "established";
  c.smtp_state = "IN_DATA";
  connections_.PublishFinal({c});
  auto data = DataLines(Ask(R"({"verb":"connections"})"));
  ASSERT_EQ(data.size(), 1u);
  Json j = Parse(data[0]);
  EXPECT_EQ(j["uid"], "COpen");
  EXPECT_EQ(j["id.orig_h"], "10.1.1.1");
  EXPECT_EQ(j["id.resp_p"], 25);
  EXPECT_EQ(j["orig_bytes"], 10);
  EXPECT_EQ(j["resp_bytes"], 20);
  EXPECT_EQ(j["smtp_state"], "IN_DATA");
  EXPECT_EQ(j["tcp_state"], "established");
  EXPECT_GT(j["age_seconds"].get<double>(), 0.0);
  EXPECT_TRUE(DataLines(Ask(R"({"verb":"connections","filter":{"port":587}})")).empty());
}

TEST_F(QueryServerTest, StatusReportsEveryCounterAndLossByCause) {
  stats_.Publish(
      {{"capture", "packets", "Packets seen.", "", 42, StatKind::kCounter, "", "", ""},
       {"capture", "ringbuf_lost", "Lost in the kernel.", "kernel_ring_buffer", 3,
        StatKind::kCounter, "packets", "", ""},
       {"tcp", "gap_bytes", "Gap bytes.", "reassembly_gap", 7, StatKind::kCounter, "bytes", "", ""},
       {"tcp", "more_gap_bytes", "More.", "reassembly_gap", 2, StatKind::kCounter, "bytes", "", ""},
       {"smtp", "commands", "Commands.", "", 4, StatKind::kCounter, "", "command", "MAIL"}});
  Start();
  auto data = DataLines(Ask(R"({"verb":"status"})"));
  ASSERT_EQ(data.size(), 1u);
  Json j = Parse(data[0]);
  EXPECT_EQ(j["version"], "9.9.9");
  EXPECT_EQ(j["capture_source"], "test producer");
  EXPECT_EQ(j["kernel_features"], Json::array({"ringbuf"}));
  EXPECT_GE(j["uptime_seconds"].get<double>(), 3600.0);
  EXPECT_LT(j["uptime_seconds"].get<double>(), 3600.0 + 60);
  EXPECT_EQ(j["counters"]["capture"]["packets"], 42);
  EXPECT_EQ(j["counters"]["query"]["slow_subscriber_dropped"], 0);
  EXPECT_EQ(j["loss"]["kernel_ring_buffer"], 3);
  EXPECT_EQ(j["loss"]["reassembly_gap"], 9);
  EXPECT_EQ(j["loss"]["slow_subscriber"], 0);
  // Each unit apart: bytes are never added to packets.
  EXPECT_EQ(j["loss_units"]["reassembly_gap"], "bytes");
  EXPECT_EQ(j["loss_units"]["slow_subscriber"], "events");
  EXPECT_EQ(j["loss_units"]["slow_subscriber_records"], "records");
  EXPECT_EQ(j["loss_by_unit"]["bytes"], Json({{"reassembly_gap", 9}}));
  EXPECT_EQ(j["loss_by_unit"]["packets"], Json({{"kernel_ring_buffer", 3}}));
  EXPECT_EQ(j["counters"]["smtp"]["commands"], Json({{"MAIL", 4}}));
  EXPECT_EQ(j["lost_total"], 12);
}

TEST_F(QueryServerTest, PeerWithADisallowedUidIsRefusedAndLogged) {
  QueryServerConfig c = Config();
  c.allowed_uids = std::vector<uid_t>{65534};  // the test runs as someone else
  c.allowed_gids = std::vector<gid_t>{};
  Start(c);
  auto lines = Ask(R"({"verb":"status"})");
  ASSERT_EQ(lines.size(), 1u);
  Json j = Parse(lines[0]);
  EXPECT_EQ(j["mailtap"], "error");
  EXPECT_EQ(j["code"], "access_denied");
  EXPECT_NE(j["message"].get<std::string>().find("uid " + std::to_string(::geteuid())),
            std::string::npos);
  EXPECT_EQ(OwnStat("peers_refused"), 1u);
  auto log = Log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("refused peer"), std::string::npos);
}

TEST_F(QueryServerTest, PeerInAnAllowedGroupIsServed) {
  QueryServerConfig c = Config();
  c.allowed_uids = std::vector<uid_t>{65534};
  c.allowed_gids = std::vector<gid_t>{::getegid()};
  Start(c);
  EXPECT_EQ(DataLines(Ask(R"({"verb":"status"})")).size(), 1u);
}

// 50 followers read everything while one never reads: it alone loses, the others get every
// event, and the loss is reported in its stream and counted.
TEST_F(QueryServerTest, StalledSubscriberLosesOldestWithNoticeWhileOthersGetEverything) {
  constexpr int kReaders = 50;
  constexpr int kBatch = 32;
  constexpr int kTotal = 4000;
  QueryServerConfig c = Config();
  c.subscriber_queue = 64;
  c.send_buffer_bytes = 4096;
  Start(c);
  auto stalled = Follow(R"({"verb":"observe","follow":true})");
  stalled->SetReceiveBuffer(4096);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> received(kReaders, 0);
  std::vector<std::unique_ptr<RawClient>> readers;
  for (int r = 0; r < kReaders; ++r)
    readers.push_back(Follow(R"({"verb":"observe","follow":true})"));
  std::vector<std::thread> threads;
  std::atomic<bool> all_in_order{true};
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      for (int i = 0; i < kTotal; ++i) {
        auto line = readers[r]->ReadLine();
        if (!line || *line != FormatEventJson(Request(i))) {
          all_in_order = false;
          ADD_FAILURE() << "reader " << r << " at " << i << ": " << line.value_or("<closed>");
        }
        if (!line) break;
        std::lock_guard lock(mu);
        received[r] = i + 1;
        cv.notify_all();
      }
    });
  }
  // Batches smaller than the queue, each waited for: the readers can never fall behind.
  for (int base = 0; base < kTotal; base += kBatch) {
    for (int i = base; i < base + kBatch; ++i) server_->OnEvent(Request(i));
    std::unique_lock lock(mu);
    bool done = cv.wait_for(lock, std::chrono::milliseconds(testing::kGuardMillis), [&] {
      return std::all_of(received.begin(), received.end(),
                         [&](int n) { return n >= base + kBatch; });
    });
    ASSERT_TRUE(done && all_in_order) << "readers stuck at batch " << base;
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(all_in_order);
  uint64_t dropped = OwnStat("slow_subscriber_dropped");
  EXPECT_GT(dropped, 0u);
  Json status = Parse(DataLines(Ask(R"({"verb":"status"})"))[0]);
  EXPECT_EQ(status["loss"]["slow_subscriber"], dropped);

  // The stalled client now reads: events in order, one gap announced by a notice of its size,
  // and the newest event present.
  int next = 0;
  uint64_t lost = 0;
  while (next < kTotal) {
    auto line = stalled->ReadLine();
    ASSERT_TRUE(line);
    if (IsMessage(*line, "lost")) {
      Json n = Parse(*line);
      EXPECT_EQ(n["cause"], "slow_subscriber");
      lost += n["count"].get<uint64_t>();
      next += n["count"].get<int>();
      continue;
    }
    ASSERT_EQ(*line, FormatEventJson(Request(next))) << "after " << lost << " lost";
    ++next;
  }
  EXPECT_EQ(lost, dropped);
}

// Issue 17: 60 clients that never read their `connections` replies (10^5 flows) held 1.27 GB.
// All clients' unread output together has a budget; past it the largest holder is disconnected
// and what it never got is counted as lost (slow_subscriber), while a reading client is served.
TEST_F(QueryServerTest, ClientsThatNeverReadAreDroppedLargestFirstPastTheOutputBudget) {
  std::vector<ConnectionSummary> flows(3000);
  for (size_t i = 0; i < flows.size(); ++i) {
    flows[i].uid = "C" + std::to_string(i);
    IpAddress::Parse("10.1.1.1", &flows[i].id.orig_h);
    flows[i].id.orig_p = static_cast<uint16_t>(1024 + i);
    IpAddress::Parse("10.2.2.2", &flows[i].id.resp_h);
    flows[i].id.resp_p = 25;
    flows[i].tcp_state = "established";
  }
  connections_.PublishFinal(flows);
  QueryServerConfig c = Config();
  c.send_buffer_bytes = 4096;
  Start(c);
  const size_t reply_bytes = [&] {
    size_t n = 0;
    for (const auto& line : Ask(R"({"verb":"connections"})")) n += line.size() + 1;
    return n;
  }();
  ASSERT_GT(reply_bytes, 3000u * 100);
  server_.reset();

  c.max_output_bytes = reply_bytes * 5 / 2;  // two unread replies fit, three do not
  c.output_stall = std::chrono::milliseconds(50);
  Start(c);
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 6; ++i) {
    idle.push_back(std::make_unique<RawClient>());
    ASSERT_TRUE(idle.back()->Connect(server_->socket_path()));
    idle.back()->SetReceiveBuffer(4096);
    idle.back()->Send("{\"verb\":\"connections\"}\n");
  }
  // Each request is answered on arrival: the third unread reply crosses the budget, and so on
  // (the first ones once stalled for 50 ms; replies past twice the budget at once).
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(testing::kGuardMillis);
  while (OwnStat("output_budget_disconnects") < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(OwnStat("output_budget_disconnects"), 4u);
  // A client that reads gets its whole reply: if its reply crosses the budget again, one more
  // of the stalled clients goes, never the reader.
  EXPECT_EQ(DataLines(Ask(R"({"verb":"connections"})")).size(), flows.size());
  const uint64_t disconnects = OwnStat("output_budget_disconnects");
  EXPECT_TRUE(disconnects == 4 || disconnects == 5) << disconnects;
  const uint64_t dropped = OwnStat("output_budget_dropped");
  // Nearly whole replies: what went to each socket and to its 64 KiB send chunk is not counted.
  EXPECT_GT(dropped, disconnects * 2000);
  EXPECT_LE(dropped, disconnects * 3003);
  Json status = Parse(DataLines(Ask(R"({"verb":"status"})"))[0]);
  EXPECT_EQ(status["loss"]["query_output_budget"], dropped);
  bool logged = false;
  for (const auto& line : Log()) logged |= line.find("unread output") != std::string::npos;
  EXPECT_TRUE(logged);
}

TEST_F(QueryServerTest, MalformedRequestsGetAnErrorAndLeaveOtherClientsAlone) {
  QueryServerConfig c = Config();
  c.max_request_bytes = 1024;
  c.request_timeout = std::chrono::milliseconds(300);
  Start(c);
  auto follower = Follow(R"({"verb":"observe","follow":true})");
  auto expect_error = [&](const std::string& request, const std::string& code) {
    auto lines = Ask(request);
    ASSERT_EQ(lines.size(), 1u) << request;
    EXPECT_TRUE(IsMessage(lines[0], "error"));
    EXPECT_EQ(Parse(lines[0])["code"], code) << request;
  };
  expect_error("this is not json", "bad_json");
  expect_error(R"({"verb":"shutdown"})", "unknown_verb");
  expect_error(R"({"verb":"observe","filter":{"colour":"red"}})", "bad_request");
  expect_error(R"({"verb":"status","protocol":2})", "unsupported_protocol");
  expect_error(R"([1,2,3])", "bad_request");
  expect_error(std::string(4096, 'x'), "request_too_long");
  // Slowloris: half a line, then silence.
  RawClient slow;
  ASSERT_TRUE(slow.Connect(server_->socket_path()));
  slow.Send(R"({"verb":"sta)");
  auto lines = slow.ReadAll();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Parse(lines[0])["code"], "request_timeout");
  EXPECT_EQ(OwnStat("request_timeouts"), 1u);
  EXPECT_EQ(OwnStat("bad_requests"), 6u);
  // The follower and new clients are unaffected.
  server_->OnEvent(Request(7));
  EXPECT_EQ(follower->ReadLine(), FormatEventJson(Request(7)));
  EXPECT_EQ(DataLines(Ask(R"({"verb":"status"})")).size(), 1u);
}

TEST_F(QueryServerTest, ClientsBeyondTheLimitAreTurnedAway) {
  QueryServerConfig c = Config();
  c.max_clients = 2;
  Start(c);
  auto a = Follow(R"({"verb":"observe","follow":true})");
  auto b = Follow(R"({"verb":"observe","follow":true})");
  auto lines = Ask(R"({"verb":"status"})");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Parse(lines[0])["code"], "too_many_clients");
  a.reset();  // a slot frees up once the server notices the close
  for (int attempt = 0; attempt < 1000; ++attempt) {
    lines = Ask(R"({"verb":"status"})");
    if (DataLines(lines).size() == 1) break;
  }
  EXPECT_EQ(DataLines(lines).size(), 1u);
}

TEST_F(QueryServerTest, SocketAndNewDirectoryGetTightModes) {
  QueryServerConfig c = Config();
  c.socket_path = dir_.path() + "/run/q.sock";
  Start(c);
  struct stat st {};
  ASSERT_EQ(::stat((dir_.path() + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat(c.socket_path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  server_->Stop();
  EXPECT_NE(::access(c.socket_path.c_str(), F_OK), 0) << "socket removed at stop";
}

TEST_F(QueryServerTest, SocketGroupOpensSocketAndDirectoryToTheGroup) {
  QueryServerConfig c = Config();
  c.socket_path = dir_.path() + "/run/q.sock";
  c.socket_group = std::to_string(::getegid());
  Start(c);
  struct stat st {};
  ASSERT_EQ(::stat((dir_.path() + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  ASSERT_EQ(::stat(c.socket_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, ::getegid());
}

TEST_F(QueryServerTest, StaleSocketOfACrashedRunIsReplaced) {
  std::string path = dir_.path() + "/q.sock";
  {
    RawClient unused;
    mailtap::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }  // closed without unlink: what a crash leaves behind
  ASSERT_EQ(::access(path.c_str(), F_OK), 0);
  Start();
  EXPECT_EQ(DataLines(Ask(R"({"verb":"status"})")).size(), 1u);
}

TEST_F(QueryServerTest, SecondAgentOnTheSameSocketIsRefused) {
  Start();
  StatsSnapshot stats;
  ConnectionsSnapshot conns;
  try {
    QueryServer::Start(Config(), AgentInfo{}, stats, conns);
    FAIL() << "second agent started";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("already serving"), std::string::npos) << e.what();
  }
  EXPECT_EQ(DataLines(Ask(R"({"verb":"status"})")).size(), 1u);
}

TEST_F(QueryServerTest, LiveListenerOfAnotherProcessIsNotReplaced) {
  std::string path = dir_.path() + "/q.sock";
  mailtap::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd.get(), 4), 0);
  EXPECT_THROW(Start(), std::runtime_error);
  EXPECT_EQ(::access(path.c_str(), F_OK), 0);
}

TEST_F(QueryServerTest, FileThatIsNotASocketIsNeverReplaced) {
  std::string path = dir_.path() + "/q.sock";
  std::FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  try {
    Start();
    FAIL() << "started over a regular file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not a socket"), std::string::npos) << e.what();
  }
}

TEST_F(QueryServerTest, StopEndsFollowersWithANotice) {
  Start();
  auto follower = Follow(R"({"verb":"observe","follow":true})");
  server_->Stop();
  auto lines = follower->ReadAll();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Parse(lines[0])["code"], "shutting_down");
}

}  // namespace
}  // namespace mailtap
