#include "tcp/flow_table.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "common/community_id.h"
#include "tcp/recording_consumer.h"

namespace mailtap {
namespace {

using testing::RecordingFactory;
using testing::StatsReader;
using testing::Stream;
using testing::WeirdRecorder;
using Log = std::vector<std::string>;

constexpr uint8_t kSyn = kTcpSyn;
constexpr uint8_t kSynAck = kTcpSyn | kTcpAck;
constexpr uint8_t kAck = kTcpAck;
constexpr uint8_t kPshAck = kTcpPsh | kTcpAck;
constexpr uint8_t kFinAck = kTcpFin | kTcpAck;
constexpr uint8_t kRstAck = kTcpRst | kTcpAck;

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kMillisecond = 1'000;

IpAddress Ip(const std::string& text) {
  IpAddress out;
  EXPECT_TRUE(IpAddress::Parse(text, &out)) << text;
  return out;
}

enum class From { kClient, kServer };

class FlowTableTest : public ::testing::Test {
 protected:
  FlowTableTest() { Reset(FlowTableConfig{}); }

  void Reset(FlowTableConfig config) {
    table_.reset();
    table_ = std::make_unique<FlowTable>(config, factory_, uids_, &weirds_);
  }

  // A segment between client_:client_port_ and server_:server_port_.
  TcpSegment Seg(From from, uint8_t flags, uint32_t seq, uint32_t ack,
                 std::string_view payload = {}) {
    TcpSegment s;
    s.ts = Timestamp{now_};
    bool client = from == From::kClient;
    s.src = client ? client_ : server_;
    s.dst = client ? server_ : client_;
    s.src_port = client ? client_port_ : server_port_;
    s.dst_port = client ? server_port_ : client_port_;
    s.seq = seq;
    s.ack = ack;
    s.flags = flags;
    s.window = 65535;  // a zero window would show in conn.log's history
    const std::string& kept = payloads_.emplace_back(payload);
    s.payload = {reinterpret_cast<const uint8_t*>(kept.data()), kept.size()};
    s.payload_wire_len = static_cast<uint32_t>(kept.size());
    return s;
  }
  void Send(From from, uint8_t flags, uint32_t seq, uint32_t ack, std::string_view payload = {}) {
    table_->Process(Seg(from, flags, seq, ack, payload));
  }
  // Client ISN kC, server ISN kS: the first payload bytes are kC + 1 and kS + 1.
  void Handshake() {
    Send(From::kClient, kSyn, kC, 0);
    Send(From::kServer, kSynAck, kS, kC + 1);
    Send(From::kClient, kAck, kC + 1, kS + 1);
  }
  std::map<std::string, uint64_t> Stats() const {
    StatsReader reader;
    table_->VisitStats(reader);
    return reader.values;
  }
  const Log& LogOf(size_t conn) const { return factory_.logs.at(conn); }

  static constexpr uint32_t kC = 1000;
  static constexpr uint32_t kS = 5000;

  IpAddress client_ = Ip("10.10.1.4");
  IpAddress server_ = Ip("74.53.140.153");
  uint16_t client_port_ = 1470;
  uint16_t server_port_ = 25;
  int64_t now_ = 1254722767 * kSecond;
  std::deque<std::string> payloads_;
  RecordingFactory factory_;
  UidGenerator uids_{7};
  WeirdRecorder weirds_;
  std::unique_ptr<FlowTable> table_;
};

TEST_F(FlowTableTest, SenderOfTheSynIsTheOriginator) {
  Handshake();
  ASSERT_EQ(table_->size(), 1u);
  auto summaries = table_->Summaries();
  EXPECT_EQ(summaries[0].id.orig_h, client_);
  EXPECT_EQ(summaries[0].id.orig_p, 1470);
  EXPECT_EQ(summaries[0].id.resp_h, server_);
  EXPECT_EQ(summaries[0].id.resp_p, 25);
  EXPECT_FALSE(factory_.conns[0]->partial);
  EXPECT_EQ(Stats()["partial_connections"], 0u);
}

TEST_F(FlowTableTest, SynAckFirstMakesItsReceiverTheOriginatorAndIsNotPartial) {
  Send(From::kServer, kSynAck, kS, kC + 1);
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "EHLO x\r\n");
  Send(From::kServer, kPshAck, kS + 1, kC + 9, "250 ok\r\n");
  EXPECT_EQ(table_->Summaries()[0].id.orig_h, client_);
  EXPECT_FALSE(factory_.conns[0]->partial);
  EXPECT_EQ(LogOf(0), (Log{"Do:EHLO x\r\n", "Dr:250 ok\r\n"}));
}

TEST_F(FlowTableTest, MidStreamConnectionIsPartialWithTheServicePortAsResponder) {
  Send(From::kServer, kPshAck, kS + 1, kC + 1, "250 ok\r\n");
  Send(From::kClient, kPshAck, kC + 1, kS + 9, "QUIT\r\n");
  auto s = table_->Summaries()[0];
  EXPECT_EQ(s.id.orig_h, client_);
  EXPECT_EQ(s.id.resp_p, 25);
  EXPECT_EQ(s.tcp_state, "partial");
  EXPECT_TRUE(factory_.partial_at_create[0]);
  EXPECT_EQ(Stats()["partial_connections"], 1u);
  // Bytes still flow (the analyzer decides what to do with a partial connection); the first
  // byte seen in each direction is number 1.
  EXPECT_EQ(LogOf(0), (Log{"Dr:250 ok\r\n", "Do:QUIT\r\n"}));
}

TEST_F(FlowTableTest, PartialWithoutServicePortTakesTheFirstSenderAsOriginator) {
  server_port_ = 40001;
  client_port_ = 40000;
  Send(From::kServer, kAck, kS + 1, kC + 1, "x");
  EXPECT_EQ(table_->Summaries()[0].id.orig_h, server_);
  EXPECT_EQ(table_->Summaries()[0].id.orig_p, 40001);
}

TEST_F(FlowTableTest, ResponderSpeakingWithoutSynAckMakesTheConnectionPartial) {
  Send(From::kClient, kSyn, kC, 0);
  Send(From::kServer, kPshAck, kS + 1, kC + 1, "220 hi\r\n");
  EXPECT_FALSE(factory_.partial_at_create[0]);
  EXPECT_TRUE(factory_.conns[0]->partial);
  EXPECT_EQ(Stats()["partial_connections"], 1u);
  EXPECT_EQ(LogOf(0), (Log{"Dr:220 hi\r\n"}));
}

TEST_F(FlowTableTest, BytesOfBothDirectionsInterleaveInPacketOrder) {
  Handshake();
  Send(From::kServer, kPshAck, kS + 1, kC + 1, "220 hi\r\n");
  Send(From::kClient, kPshAck, kC + 1, kS + 9, "EHLO x\r\n");
  Send(From::kServer, kPshAck, kS + 9, kC + 9, "250 ok\r\n");
  EXPECT_EQ(LogOf(0), (Log{"Dr:220 hi\r\n", "Do:EHLO x\r\n", "Dr:250 ok\r\n"}));
}

TEST_F(FlowTableTest, HandshakeNearTheTopOfTheSequenceSpaceWraps) {
  Send(From::kClient, kSyn, 0xFFFFFFFFu, 0);
  Send(From::kServer, kSynAck, 0xFFFFFFFEu, 0);
  Send(From::kServer, kPshAck, 0xFFFFFFFFu, 0, "22");
  Send(From::kServer, kPshAck, 1u, 0, "0\r\n");
  Send(From::kClient, kPshAck, 0u, 4u, "QUIT\r\n");
  EXPECT_EQ(Stream(LogOf(0), Side::kResponder), "220\r\n");
  EXPECT_EQ(Stream(LogOf(0), Side::kOriginator), "QUIT\r\n");
}

// smtp-bdat-gap.pcap: the server's "250 OK" carries an ACK 1000 bytes past what the client was
// seen to send. Zeek reports the gap before the reply (the baseline's (UNKNOWN) request follows).
TEST_F(FlowTableTest, GapRevealedByAnAckComesBeforeThatSegmentsBytes) {
  Handshake();
  Send(From::kClient, kPshAck, kC + 1, kS + 1, std::string(100, 'A'));
  Send(From::kServer, kPshAck, kS + 1, kC + 1101, "250 OK\r\n");
  EXPECT_EQ(LogOf(0), (Log{"Do:" + std::string(100, 'A'), "Uo:101+1000", "Dr:250 OK\r\n"}));
  auto stats = Stats();
  EXPECT_EQ(stats["gap_events"], 1u);
  EXPECT_EQ(stats["gap_bytes"], 1000u);
  EXPECT_EQ(table_->Summaries()[0].gap_bytes, 1000u);
}

TEST_F(FlowTableTest, FinAndFinEndBothStreamsAndFinishAfterTheCloseDelay) {
  Handshake();
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "QUIT\r\n");
  Send(From::kClient, kFinAck, kC + 7, kS + 1);
  Send(From::kServer, kFinAck, kS + 1, kC + 8);
  Send(From::kClient, kAck, kC + 8, kS + 2);
  EXPECT_EQ(LogOf(0), (Log{"Do:QUIT\r\n", "Eo", "Er"}));
  EXPECT_EQ(table_->Summaries()[0].tcp_state, "closed");
  table_->ExpireIdle(Timestamp{now_ + 5 * kSecond - 1});
  EXPECT_EQ(table_->size(), 1u);
  table_->ExpireIdle(Timestamp{now_ + 5 * kSecond});
  EXPECT_EQ(table_->size(), 0u);
  EXPECT_EQ(LogOf(0), (Log{"Do:QUIT\r\n", "Eo", "Er", "F", "~"}));
  EXPECT_EQ(Stats()["flows_expired_idle"], 0u);
  EXPECT_EQ(Stats()["flows_active"], 0u);
}

// A consumer that retires is replaced when both streams have ended: the stand-in gets what
// follows (a late retransmission is not delivered to anyone; Finish after the close delay).
TEST_F(FlowTableTest, ConsumerRetiredAtCloseIsReplacedByItsStandIn) {
  factory_.retire = true;
  Handshake();
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "QUIT\r\n");
  Send(From::kClient, kFinAck, kC + 7, kS + 1);
  EXPECT_EQ(LogOf(0), (Log{"Do:QUIT\r\n", "Eo"}));
  Send(From::kServer, kFinAck, kS + 1, kC + 8);
  EXPECT_EQ(LogOf(0), (Log{"Do:QUIT\r\n", "Eo", "Er", "R", "~"}));
  Send(From::kClient, kPshAck, kC + 1, kS + 2, "QUIT\r\n");  // retransmitted after the close
  EXPECT_EQ(table_->Summaries()[0].tcp_state, "closed");
  table_->ExpireIdle(Timestamp{now_ + 5 * kSecond});
  EXPECT_EQ(table_->size(), 0u);
  EXPECT_EQ(LogOf(0), (Log{"Do:QUIT\r\n", "Eo", "Er", "R", "~", "F", "~"}));
}

TEST_F(FlowTableTest, FinArrivingBeforeTheLastBytesEndsTheStreamAfterThem) {
  Handshake();
  Send(From::kClient, kPshAck | kTcpFin, kC + 4, kS + 1, "T\r\n");
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "QUI");
  EXPECT_EQ(LogOf(0), (Log{"Do:QUI", "Do:T\r\n", "Eo"}));
  EXPECT_EQ(Stats()["out_of_order_segments"], 1u);
  EXPECT_EQ(table_->Summaries()[0].tcp_state, "closing");
}

TEST_F(FlowTableTest, ResetEndsBothStreamsWithoutLoss) {
  Handshake();
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "QUIT\r\n");
  Send(From::kClient, kRstAck, kC + 7, kS + 1);
  EXPECT_EQ(LogOf(0), (Log{"Do:QUIT\r\n", "Eo", "Er"}));
  auto stats = Stats();
  EXPECT_EQ(stats["gap_events"], 0u);
  EXPECT_EQ(stats["flows_evicted"], 0u);
  now_ += 6 * kSecond;
  table_->ExpireIdle(Timestamp{now_});
  EXPECT_EQ(LogOf(0).back(), "~");
}

TEST_F(FlowTableTest, BareResetForAnUnknownConnectionCreatesNothing) {
  Send(From::kServer, kTcpRst, kS + 1, 0);
  EXPECT_EQ(table_->size(), 0u);
  EXPECT_EQ(Stats()["stray_rst"], 1u);
  EXPECT_TRUE(factory_.logs.empty());
}

TEST_F(FlowTableTest, NewSynOnAClosedTupleFinishesTheOldConnectionAndStartsANewOne) {
  Handshake();
  Send(From::kClient, kRstAck, kC + 1, kS + 1);
  Send(From::kClient, kSyn, kC + 77777, 0);
  ASSERT_EQ(factory_.logs.size(), 2u);
  EXPECT_EQ(LogOf(0), (Log{"Eo", "Er", "F", "~"}));
  EXPECT_EQ(table_->size(), 1u);
  auto stats = Stats();
  EXPECT_EQ(stats["syn_port_reuse"], 1u);
  EXPECT_EQ(stats["flows_created"], 2u);
  EXPECT_NE(table_->Summaries()[0].uid, "");
}

TEST_F(FlowTableTest, NewSynWithAnotherIsnOnAnOpenTupleReplacesTheConnection) {
  Handshake();
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "EHLO");
  Send(From::kClient, kSyn, 3000000000u, 0);
  Send(From::kServer, kSynAck, 42, 3000000001u);
  Send(From::kClient, kPshAck, 3000000001u, 43, "HELO");
  EXPECT_EQ(LogOf(0), (Log{"Do:EHLO", "F", "~"}));
  EXPECT_EQ(LogOf(1), (Log{"Do:HELO"}));
  EXPECT_EQ(Stats()["syn_port_reuse"], 1u);
}

// Loopback with tcp_tw_reuse: the client reuses a port whose old connection the server still
// holds in TIME_WAIT; the server answers the SYN with a challenge ACK, the client resets and
// retries the SYN with the same ISN. The retry starts the session that carries the mail.
TEST_F(FlowTableTest, SynRetriedWithTheSameIsnAfterAResetStartsANewConnection) {
  Handshake();
  Send(From::kClient, kSyn, 90000, 0);        // reuse: another ISN, new connection
  Send(From::kServer, kAck, kS + 1, kC + 1);  // challenge ACK from TIME_WAIT
  Send(From::kClient, kTcpRst, kC + 1, 0);    // the client resets it...
  Send(From::kClient, kSyn, 90000, 0);        // ...and retries with the same ISN
  Send(From::kServer, kSynAck, 70000, 90001);
  Send(From::kClient, kPshAck, 90001, 70001, "EHLO");
  ASSERT_EQ(factory_.logs.size(), 3u);
  EXPECT_EQ(LogOf(2), (Log{"Do:EHLO"}));
  EXPECT_EQ(Stats()["syn_port_reuse"], 2u);
}

TEST_F(FlowTableTest, RetransmittedSynBelongsToTheSameConnection) {
  Send(From::kClient, kSyn, kC, 0);
  Send(From::kClient, kSyn, kC, 0);
  Send(From::kServer, kSynAck, kS, kC + 1);
  Send(From::kServer, kSynAck, kS, kC + 1);
  EXPECT_EQ(Stats()["flows_created"], 1u);
  EXPECT_EQ(Stats()["syn_port_reuse"], 0u);
}

TEST_F(FlowTableTest, IdleConnectionIsFinishedByPacketTimeWithoutEndOfStream) {
  Handshake();
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "EHLO");
  table_->ExpireIdle(Timestamp{now_ + 300 * kSecond - 1});
  EXPECT_EQ(table_->size(), 1u);
  table_->ExpireIdle(Timestamp{now_ + 300 * kSecond});
  EXPECT_EQ(table_->size(), 0u);
  EXPECT_EQ(LogOf(0), (Log{"Do:EHLO", "F", "~"}));
  EXPECT_EQ(Stats()["flows_expired_idle"], 1u);
}

TEST_F(FlowTableTest, IdleConnectionsExpireWhileOtherTrafficIsProcessed) {
  Handshake();
  now_ += 301 * kSecond;
  client_port_ = 1471;
  Handshake();
  EXPECT_EQ(LogOf(0), (Log{"F", "~"}));
  EXPECT_EQ(table_->size(), 1u);
}

TEST_F(FlowTableTest, FullTableEvictsTheLeastRecentlyActiveConnection) {
  FlowTableConfig config;
  config.max_flows = 2;
  Reset(config);
  Handshake();  // connection 0
  client_port_ = 1471;
  now_ += kSecond;
  Handshake();  // connection 1
  client_port_ = 1470;
  now_ += kSecond;
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "x");  // connection 0 is the most recent now
  client_port_ = 1472;
  now_ += kSecond;
  Handshake();  // connection 2 evicts connection 1
  EXPECT_EQ(LogOf(1), (Log{"F", "~"}));
  EXPECT_EQ(LogOf(0), (Log{"Do:x"}));
  EXPECT_EQ(table_->size(), 2u);
  EXPECT_EQ(Stats()["flows_evicted"], 1u);
}

// Issue 17: 200,000 SYN-only flows evicted an idle but open mail session.
TEST_F(FlowTableTest, FlowFloodEvictsFlowsWithoutPayloadBothWaysBeforeAnEstablishedSession) {
  FlowTableConfig config;
  config.max_flows = 3;
  Reset(config);
  Handshake();  // connection 0: a session, then quiet
  Send(From::kServer, kPshAck, kS + 1, kC + 1, "220 hi\r\n");
  Send(From::kClient, kPshAck, kC + 1, kS + 9, "EHLO x\r\n");
  for (uint16_t port = 2000; port < 2050; ++port) {  // the flood: SYNs, newer than the session
    client_port_ = port;
    now_ += kMillisecond;
    Send(From::kClient, kSyn, kC, 0);
  }
  EXPECT_EQ(LogOf(0), (Log{"Dr:220 hi\r\n", "Do:EHLO x\r\n"}));  // not finished
  EXPECT_EQ(Stats()["flows_evicted"], 48u);
  EXPECT_EQ(Stats()["established_flows_evicted"], 0u);
  EXPECT_TRUE(weirds_.names.empty());
}

TEST_F(FlowTableTest, EstablishedSessionEvictedAnywayIsReportedAndCountedAsALoss) {
  FlowTableConfig config;
  config.max_flows = 1;
  Reset(config);
  Handshake();
  Send(From::kServer, kPshAck, kS + 1, kC + 1, "220 hi\r\n");
  Send(From::kClient, kPshAck, kC + 1, kS + 9, "EHLO x\r\n");
  client_port_ = 1471;
  now_ += kSecond;
  Send(From::kClient, kSyn, kC, 0);
  EXPECT_EQ(LogOf(0).back(), "~");  // finished
  EXPECT_EQ(Stats()["established_flows_evicted"], 1u);
  EXPECT_EQ(weirds_.names, (std::vector<std::string>{"flow_table_full_eviction/TCP/conn"}));
}

TEST_F(FlowTableTest, FullTableFinishesClosedConnectionsBeforeEvictingOpenOnes) {
  FlowTableConfig config;
  config.max_flows = 2;
  Reset(config);
  Handshake();
  Send(From::kClient, kRstAck, kC + 1, kS + 1);
  client_port_ = 1471;
  Handshake();
  client_port_ = 1472;
  Handshake();
  EXPECT_EQ(LogOf(0), (Log{"Eo", "Er", "F", "~"}));
  EXPECT_EQ(LogOf(1), Log{});
  EXPECT_EQ(Stats()["flows_evicted"], 0u);
}

TEST_F(FlowTableTest, FinishAllReportsHolesDeliversBufferedBytesAndEndsNothing) {
  Handshake();
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "ab");
  Send(From::kClient, kPshAck, kC + 5, kS + 1, "ef");
  table_->FinishAll(Timestamp{now_});
  EXPECT_EQ(LogOf(0), (Log{"Do:ab", "Uo:3+2", "Do:ef", "F", "~"}));
  EXPECT_EQ(table_->size(), 0u);
}

TEST_F(FlowTableTest, FinishAllGoesFromLeastToMostRecentlyActive) {
  Handshake();
  client_port_ = 1471;
  Handshake();
  client_port_ = 1470;
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "x");
  table_->FinishAll(Timestamp{now_});
  EXPECT_EQ(factory_.all, (Log{"0 Do:x", "1 F", "1 ~", "0 F", "0 ~"}));
}

TEST_F(FlowTableTest, InconsistentRetransmissionRaisesOneWeirdPerConnection) {
  Handshake();
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "MAIL FROM:<a@b>\r\n");
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "MAIL FROM:<x@y>\r\n");
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "RCPT TO:<x@y>\r\n");
  EXPECT_EQ(weirds_.names, (std::vector<std::string>{"rexmit_inconsistency/TCP/conn"}));
  EXPECT_EQ(Stats()["rexmit_inconsistency"], 2u);
  EXPECT_EQ(Stream(LogOf(0), Side::kOriginator), "MAIL FROM:<a@b>\r\n");
}

TEST_F(FlowTableTest, ConnectionWithoutConsumerIsTrackedWithoutBuffering) {
  factory_.skip_port = 25;
  Handshake();
  Send(From::kClient, kPshAck, kC + 10, kS + 1, "later");
  Send(From::kClient, kFinAck, kC + 15, kS + 1);
  Send(From::kServer, kFinAck, kS + 1, kC + 16);
  EXPECT_EQ(table_->size(), 1u);
  EXPECT_EQ(Stats()["buffered_bytes"], 0u);
  EXPECT_EQ(table_->Summaries()[0].tcp_state, "closed");
  EXPECT_EQ(table_->Summaries()[0].smtp_state, "");
  table_->ExpireIdle(Timestamp{now_ + 5 * kSecond});
  EXPECT_EQ(table_->size(), 0u);
  EXPECT_TRUE(LogOf(0).empty());
}

TEST_F(FlowTableTest, SummariesDescribeEachOpenConnection) {
  Handshake();
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "EHLO x\r\n");
  now_ += kSecond;
  Send(From::kServer, kPshAck, kS + 1, kC + 9, "250 ok\r\n250 more\r\n");
  auto summaries = table_->Summaries();
  ASSERT_EQ(summaries.size(), 1u);
  const ConnectionSummary& s = summaries[0];
  EXPECT_EQ(s.uid, factory_.conns[0]->uid);
  EXPECT_EQ(s.uid[0], 'C');
  EXPECT_EQ(s.start.usec, now_ - kSecond);
  EXPECT_EQ(s.last_seen.usec, now_);
  EXPECT_EQ(s.orig_bytes, 8u);
  EXPECT_EQ(s.resp_bytes, 18u);
  EXPECT_EQ(s.gap_bytes, 0u);
  EXPECT_EQ(s.tcp_state, "established");
  EXPECT_EQ(s.smtp_state, "TESTING");
}

TEST_F(FlowTableTest, SummariesAreOrderedByStartTime) {
  Handshake();
  client_port_ = 1471;
  now_ += kSecond;
  Handshake();
  client_port_ = 1470;
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "x");
  auto summaries = table_->Summaries();
  ASSERT_EQ(summaries.size(), 2u);
  EXPECT_EQ(summaries[0].id.orig_p, 1470);
  EXPECT_EQ(summaries[1].id.orig_p, 1471);
}

TEST_F(FlowTableTest, SegmentsAndPayloadBytesAreCountedIncludingCutBytes) {
  Handshake();
  TcpSegment cut = Seg(From::kClient, kPshAck, kC + 1, kS + 1, "EHLO");
  cut.payload_wire_len = 10;
  table_->Process(cut);
  auto stats = Stats();
  EXPECT_EQ(stats["segments"], 4u);
  EXPECT_EQ(stats["payload_bytes"], 10u);
  EXPECT_EQ(stats["truncated_payload_bytes"], 6u);
  EXPECT_EQ(LogOf(0), (Log{"Do:EHLO", "Uo:5+6"}));
}

TEST_F(FlowTableTest, OutOfOrderOverflowIsCountedAndReportedAsAGapLater) {
  FlowTableConfig config;
  config.max_buffered_bytes_per_direction = 100;
  Reset(config);
  Handshake();
  Send(From::kClient, kPshAck, kC + 11, kS + 1, std::string(200, 'z'));
  EXPECT_EQ(Stats()["reassembly_buffer_overflow_bytes"], 200u);
  EXPECT_EQ(Stats()["buffered_bytes"], 0u);
  Send(From::kServer, kAck, kS + 1, kC + 211);
  EXPECT_EQ(LogOf(0), (Log{"Uo:1+210"}));
  // 210 bytes lost, once: 10 never captured, 200 dropped here.
  auto stats = Stats();
  EXPECT_EQ(stats["gap_bytes"], 210u);
  EXPECT_EQ(stats["gap_bytes_not_captured"], 10u);
  EXPECT_EQ(stats["gap_bytes_buffer_dropped"], 200u);
}

TEST_F(FlowTableTest, GlobalBufferBoundIsSharedByConnections) {
  FlowTableConfig config;
  config.max_buffered_bytes_total = 300;
  Reset(config);
  Handshake();
  Send(From::kClient, kPshAck, kC + 11, kS + 1, std::string(200, 'a'));
  client_port_ = 1471;
  Handshake();
  Send(From::kClient, kPshAck, kC + 11, kS + 1, std::string(200, 'b'));
  EXPECT_EQ(Stats()["reassembly_buffer_overflow_bytes"], 200u);
  EXPECT_GT(Stats()["buffered_bytes"], 200u);
}

TEST_F(FlowTableTest, SegmentFarOutsideTheWindowIsDroppedAndCounted) {
  Handshake();
  Send(From::kClient, kPshAck, kC + 1 + 0x80000000u, kS + 1, "junk");
  EXPECT_EQ(Stats()["seq_out_of_window"], 1u);
  EXPECT_TRUE(LogOf(0).empty());
}

TEST_F(FlowTableTest, DataOnTheSynFollowsTheSyn) {
  Send(From::kClient, kSyn, kC, 0, "early");
  Send(From::kServer, kSynAck, kS, kC + 6);
  EXPECT_EQ(LogOf(0), (Log{"Do:early"}));
}

TEST_F(FlowTableTest, StatisticsCarryKindsAndLossCauses) {
  StatsReader reader;
  table_->VisitStats(reader);
  const char* const kNames[] = {"flows_created",
                                "flows_active",
                                "flows_evicted",
                                "flows_expired_idle",
                                "segments",
                                "payload_bytes",
                                "retransmitted_bytes",
                                "out_of_order_segments",
                                "gap_events",
                                "gap_bytes",
                                "gap_bytes_not_captured",
                                "gap_bytes_buffer_dropped",
                                "reassembly_buffer_overflow_bytes",
                                "truncated_payload_bytes",
                                "rexmit_inconsistency",
                                "partial_connections",
                                "syn_port_reuse",
                                "buffered_bytes",
                                "seq_out_of_window",
                                "retained_bytes",
                                "late_data_bytes",
                                "stray_rst"};
  for (const char* name : kNames) {
    EXPECT_EQ(reader.values.count(name), 1u) << name;
  }
  EXPECT_EQ(reader.kinds["flows_active"], StatKind::kGauge);
  EXPECT_EQ(reader.kinds["buffered_bytes"], StatKind::kGauge);
  EXPECT_EQ(reader.kinds["segments"], StatKind::kCounter);
  // Each lost byte under one cause: the totals and the drop counter carry none.
  EXPECT_EQ(reader.causes["gap_bytes_not_captured"], "reassembly_gap");
  EXPECT_EQ(reader.causes["gap_bytes_buffer_dropped"], "reassembly_buffer");
  EXPECT_EQ(reader.causes["established_flows_evicted"], "flow_table_full");
  EXPECT_EQ(reader.causes.size(), 3u);
}

// What live loopback capture looks like: thousands of short sessions reusing ports, data
// segments sent twice, most sessions ended by RST instead of FIN. None of it is loss.
TEST_F(FlowTableTest, ManyShortSessionsWithRetransmitsAndResetsAreNotLoss) {
  for (int i = 0; i < 2000; ++i) {
    client_port_ = static_cast<uint16_t>(30000 + i % 50);  // ports come back quickly
    uint32_t c = 100000u * static_cast<uint32_t>(i);
    uint32_t s = 7u * c + 3;
    Send(From::kClient, kSyn, c, 0);
    Send(From::kServer, kSynAck, s, c + 1);
    Send(From::kClient, kAck, c + 1, s + 1);
    Send(From::kServer, kPshAck, s + 1, c + 1, "220 hi\r\n");
    Send(From::kClient, kPshAck, c + 1, s + 9, "QUIT\r\n");
    Send(From::kClient, kPshAck, c + 1, s + 9, "QUIT\r\n");  // retransmitted
    Send(From::kServer, kPshAck, s + 9, c + 7, "221 bye\r\n");
    if (i % 3 == 0) {
      Send(From::kClient, kFinAck, c + 7, s + 18);
      Send(From::kServer, kFinAck, s + 18, c + 8);
      Send(From::kClient, kAck, c + 8, s + 19);
    } else {
      Send(From::kClient, kRstAck, c + 7, s + 18);
    }
    now_ += 1000;
  }
  table_->FinishAll(Timestamp{now_});
  auto stats = Stats();
  EXPECT_EQ(stats["flows_created"], 2000u);
  EXPECT_EQ(stats["gap_events"], 0u);
  EXPECT_EQ(stats["flows_evicted"], 0u);
  EXPECT_EQ(stats["rexmit_inconsistency"], 0u);
  EXPECT_EQ(stats["retransmitted_bytes"], 2000u * 6u);
  EXPECT_EQ(stats["syn_port_reuse"], 2000u - 50u);
  for (const Log& log : factory_.logs) {
    ASSERT_EQ(log, (Log{"Dr:220 hi\r\n", "Do:QUIT\r\n", "Dr:221 bye\r\n", "Eo", "Er", "F", "~"}));
  }
}

}  // namespace
}  // namespace mailtap

namespace mailtap {
namespace {

class ConnRecorder : public ConnRecordSink {
 public:
  void OnConnRecord(const ConnRecord& r) override { records.push_back(r); }
  std::vector<ConnRecord> records;
};

// Every removed connection gets its conn.log record, which says why it ended.
TEST_F(FlowTableTest, EvictedAndClosedConnectionsGetRecordsThatSaySo) {
  FlowTableConfig config;
  config.max_flows = 1;
  Reset(config);
  ConnRecorder records;
  table_->SetConnRecordSink(&records);
  Handshake();
  now_ += kSecond;
  Send(From::kClient, kPshAck, kC + 1, kS + 1, "EHLO x\r\n");
  client_port_ = 1471;
  now_ += kSecond;
  Handshake();  // evicts the first connection
  ASSERT_EQ(records.records.size(), 1u);
  const ConnRecord& evicted = records.records[0];
  EXPECT_EQ(evicted.end_reason, "evicted");
  EXPECT_EQ(evicted.conn_state, "S1");
  EXPECT_EQ(evicted.history, "ShAD");
  EXPECT_EQ(evicted.orig_bytes, 8u);
  EXPECT_EQ(evicted.id.orig_p, 1470);
  EXPECT_EQ(evicted.duration->usec, kSecond);

  Send(From::kClient, kFinAck, kC + 1, kS + 1);
  Send(From::kServer, kFinAck, kS + 1, kC + 2);
  now_ += 10 * kSecond;
  table_->ExpireIdle(Timestamp{now_});
  ASSERT_EQ(records.records.size(), 2u);
  EXPECT_EQ(records.records[1].end_reason, "closed");
  EXPECT_EQ(records.records[1].conn_state, "SF");
  EXPECT_EQ(records.records[1].history, "ShAFf");
  EXPECT_FALSE(records.records[1].duration.has_value() && records.records[1].duration->usec < 0);
}

// The Community ID is the same for both directions and follows the configured seed.
TEST_F(FlowTableTest, ConnectionsCarryTheirCommunityId) {
  FlowTableConfig config;
  config.community_id_seed = 1;
  Reset(config);
  ConnRecorder records;
  table_->SetConnRecordSink(&records);
  Send(From::kServer, kSynAck, kS, kC + 1);  // the SYN was missed: the receiver is the originator
  table_->FinishAll(Timestamp{now_});
  ASSERT_EQ(records.records.size(), 1u);
  EXPECT_EQ(records.records[0].community_id,
            CommunityId(client_, client_port_, server_, server_port_, kIpProtoTcp, 1));
  EXPECT_EQ(records.records[0].history, "^h");
  EXPECT_EQ(records.records[0].end_reason, "end_of_input");
}

}  // namespace
}  // namespace mailtap
