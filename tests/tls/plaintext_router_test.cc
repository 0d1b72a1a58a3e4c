// The router alone, with the real flow table and a consumer that records what it is handed:
// bounds, pending records, owners, and connections that are not analysed.
#include "tls/plaintext_router.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mailtap {
namespace {

IpAddress Ip(const std::string& text) {
  IpAddress a;
  IpAddress::Parse(text, &a);
  return a;
}

// Takes plaintext once `accepts` is set, and records it as "<o|r>:<bytes>[+<missing>]".
class FakeConsumer : public StreamConsumer {
 public:
  void Deliver(Side, Timestamp, std::span<const uint8_t>) override {}
  void Undelivered(Side, Timestamp, uint64_t, uint64_t) override {}
  void EndOfStream(Side, Timestamp) override {}
  void Finish(Timestamp) override {}
  bool AcceptsTlsPlaintext() const override { return accepts; }
  void DeliverTlsPlaintext(Side side, Timestamp, std::span<const uint8_t> data,
                           uint64_t missing) override {
    std::string s = IsOrig(side) ? "o:" : "r:";
    s.append(reinterpret_cast<const char*>(data.data()), data.size());
    if (missing > 0) s += "+" + std::to_string(missing);
    got.push_back(s);
  }
  bool accepts = false;
  std::vector<std::string> got;
};

// Analyses responder port 25 only; keeps a pointer to each consumer by client port.
class FakeFactory : public StreamConsumerFactory {
 public:
  std::unique_ptr<StreamConsumer> Create(const Connection& conn) override {
    if (conn.id.resp_p != 25) return nullptr;
    auto c = std::make_unique<FakeConsumer>();
    by_port[conn.id.orig_p] = c.get();
    return c;
  }
  std::map<uint16_t, FakeConsumer*> by_port;
};

class Notices : public EventSink {
 public:
  void OnEvent(const Event& e) override {
    const std::string addl = e.id == EventId::kWeird ? Get(e, ev::weird::addl) : "";
    lines.push_back(std::string(e.name()) + ":" + addl);
  }
  std::vector<std::string> lines;
};

class Stats : public StatsVisitor {
 public:
  void Visit(std::string_view, std::string_view name, uint64_t value, std::string_view, StatKind,
             Loss) override {
    values[std::string(name)] = value;
  }
  std::map<std::string, uint64_t> values;
};

class RouterTest : public ::testing::Test {
 protected:
  explicit RouterTest(TlsJoinConfig config = {})
      : flows_(FlowTableConfig{}, factory_, uids_, nullptr), router_(config, flows_, notices_) {}

  // A SYN from 10.0.0.1:`client_port` to 10.0.0.2:`server_port`.
  void Syn(uint16_t client_port, uint16_t server_port, int64_t usec) {
    TcpSegment s;
    s.ts = Timestamp{usec};
    s.src = Ip("10.0.0.1");
    s.dst = Ip("10.0.0.2");
    s.src_port = client_port;
    s.dst_port = server_port;
    s.seq = 100;
    s.flags = kTcpSyn;
    flows_.Process(s);
    router_.AfterSegment(s);
  }
  // What the server process read from the client on that connection.
  void ServerRead(uint16_t client_port, uint16_t server_port, std::string bytes, int64_t usec,
                  uint32_t len = 0) {
    TlsPlaintext p;
    p.ts = Timestamp{usec};
    p.local_h = Ip("10.0.0.2");
    p.local_p = server_port;
    p.remote_h = Ip("10.0.0.1");
    p.remote_p = client_port;
    p.op = TlsOp::kRead;
    p.data = {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
    p.len = len != 0 ? len : static_cast<uint32_t>(bytes.size());
    router_.OnTlsPlaintext(p);
  }
  // The connection's analyzer took the 220 reply to STARTTLS during a segment.
  void StartTls(uint16_t client_port, int64_t usec) {
    factory_.by_port.at(client_port)->accepts = true;
    const FlowTable::Found f = flows_.Find(Ip("10.0.0.1"), client_port, Ip("10.0.0.2"), 25);
    router_.OnEvent(ev::smtp_starttls::Make(Timestamp{usec}, f.conn));
    TcpSegment s;
    s.ts = Timestamp{usec};
    router_.AfterSegment(s);
  }
  std::map<std::string, uint64_t> StatsNow() {
    Stats s;
    router_.VisitStats(s);
    return s.values;
  }

  FakeFactory factory_;
  UidGenerator uids_{1};
  FlowTable flows_;
  Notices notices_;
  TlsPlaintextRouter router_;
};

TEST_F(RouterTest, HeldPlaintextGoesInOrderOnceTheAnalyzerSwitches) {
  Syn(40000, 25, 1'000'000);
  ServerRead(40000, 25, "EHLO a\r\n", 1'000'100);
  ServerRead(40000, 25, "MAIL", 1'000'200, 10);
  EXPECT_TRUE(factory_.by_port.at(40000)->got.empty());
  EXPECT_EQ(StatsNow()["held_bytes"], 12u);
  StartTls(40000, 1'000'300);
  EXPECT_EQ(factory_.by_port.at(40000)->got,
            (std::vector<std::string>{"o:EHLO a\r\n", "o:MAIL+6"}));
  EXPECT_EQ(StatsNow()["held_bytes"], 0u);
  ServerRead(40000, 25, "RCPT", 1'000'400);
  EXPECT_EQ(factory_.by_port.at(40000)->got.back(), "o:RCPT");
}

TEST_F(RouterTest, PlaintextOfAConnectionThatIsNotAnalysedIsCounted) {
  Syn(40001, 8080, 1'000'000);
  ServerRead(40001, 8080, "GET /", 1'000'100);
  EXPECT_EQ(StatsNow()["not_analysed_records"], 1u);
}

TEST_F(RouterTest, SocketOwnerNamesAPlainConnectionToo) {
  SocketOwner o;
  o.ts = Timestamp{999'000};
  o.local_h = Ip("10.0.0.2");
  o.local_p = 25;
  o.remote_h = Ip("10.0.0.1");
  o.remote_p = 40002;
  o.process = ProcessInfo{77, "smtpd", 9};
  router_.OnSocketOwner(o);  // before the SYN: pending
  EXPECT_EQ(StatsNow()["pending_records"], 1u);
  Syn(40002, 25, 1'000'000);
  const FlowTable::Found f = flows_.Find(Ip("10.0.0.1"), 40002, Ip("10.0.0.2"), 25);
  ASSERT_TRUE(f.conn && f.conn->process);
  EXPECT_EQ(f.conn->process->pid, 77u);
  EXPECT_EQ(f.conn->process->name, "smtpd");
  EXPECT_EQ(f.conn->process->cgroup_id, 9u);
  EXPECT_EQ(StatsNow()["pending_records"], 0u);
}

// Both ends local (a client on the mail host itself): each end's process owns a socket of the
// connection. The server's names it, whichever owner record comes first.
TEST_F(RouterTest, WhenBothEndsAreLocalTheServerProcessNamesTheConnection) {
  for (bool client_first : {true, false}) {
    const uint16_t port = client_first ? 40010 : 40011;
    Syn(port, 25, 1'000'000);
    SocketOwner server;
    server.ts = Timestamp{1'000'100};
    server.local_h = Ip("10.0.0.2");
    server.local_p = 25;
    server.remote_h = Ip("10.0.0.1");
    server.remote_p = port;
    server.process = ProcessInfo{77, "smtpd", 9};
    SocketOwner client = server;
    std::swap(client.local_h, client.remote_h);
    std::swap(client.local_p, client.remote_p);
    client.process = ProcessInfo{88, "python3", 9};
    router_.OnSocketOwner(client_first ? client : server);
    router_.OnSocketOwner(client_first ? server : client);
    const FlowTable::Found f = flows_.Find(Ip("10.0.0.1"), port, Ip("10.0.0.2"), 25);
    ASSERT_TRUE(f.conn && f.conn->process);
    EXPECT_EQ(f.conn->process->name, "smtpd") << "client first: " << client_first;
  }
}

class SmallRouterTest : public RouterTest {
 protected:
  static TlsJoinConfig Small() {
    TlsJoinConfig c;
    c.max_pending_records = 2;
    c.max_held_bytes_per_connection = 100;
    c.max_held_bytes_total = 15;
    return c;
  }
  SmallRouterTest() : RouterTest(Small()) {}
};

TEST_F(SmallRouterTest, TheGlobalHeldBoundAbandonsTheConnectionThatOverflowsIt) {
  Syn(40010, 25, 1'000'000);
  Syn(40011, 25, 1'000'000);
  ServerRead(40010, 25, "EHLO first\r\n", 1'000'100);  // 12 bytes held
  ServerRead(40011, 25, "EHLO other\r\n", 1'000'200);  // 24 > 15: this one is dropped
  EXPECT_EQ(StatsNow()["held_full_bytes"], 12u);
  EXPECT_EQ(StatsNow()["held_total_bound_hits"], 1u);
  EXPECT_EQ(StatsNow()["held_connection_bound_hits"], 0u);
  StartTls(40010, 1'000'300);
  StartTls(40011, 1'000'300);
  EXPECT_EQ(factory_.by_port.at(40010)->got, (std::vector<std::string>{"o:EHLO first\r\n"}));
  EXPECT_TRUE(factory_.by_port.at(40011)->got.empty());
  EXPECT_EQ(notices_.lines, (std::vector<std::string>{"weird:buffer_full"}));
}

// Issue 17: a few connections holding the whole total must not starve the others. The one
// holding more than the arriving one would is abandoned instead.
TEST_F(SmallRouterTest, TheGlobalHeldBoundAbandonsTheLargestHolderFirst) {
  Syn(40012, 25, 1'000'000);
  Syn(40013, 25, 1'000'000);
  ServerRead(40012, 25, "EHLO big-one\r\n", 1'000'100);  // 14 bytes held
  ServerRead(40013, 25, "EHLO\r\n", 1'000'200);          // 20 > 15: the 14 go
  EXPECT_EQ(StatsNow()["held_full_bytes"], 14u);
  EXPECT_EQ(StatsNow()["held_total_bound_hits"], 1u);
  EXPECT_EQ(StatsNow()["held_bytes"], 6u);
  ServerRead(40012, 25, "MAIL", 1'000'250);  // what comes after is dropped too
  EXPECT_EQ(StatsNow()["held_full_bytes"], 18u);
  StartTls(40012, 1'000'300);
  StartTls(40013, 1'000'300);
  EXPECT_TRUE(factory_.by_port.at(40012)->got.empty());
  EXPECT_EQ(factory_.by_port.at(40013)->got, (std::vector<std::string>{"o:EHLO\r\n"}));
  EXPECT_EQ(notices_.lines, (std::vector<std::string>{"weird:buffer_full"}));
}

TEST_F(SmallRouterTest, AFullPendingTableCountsWhatItTurnsAway) {
  ServerRead(40020, 25, "a", 1'000'000);
  ServerRead(40021, 25, "b", 1'000'000);
  ServerRead(40022, 25, "c", 1'000'000);
  auto stats = StatsNow();
  EXPECT_EQ(stats["pending_records"], 2u);
  EXPECT_EQ(stats["pending_full_records"], 1u);
}

}  // namespace
}  // namespace mailtap
