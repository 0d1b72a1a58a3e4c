// conn.log's TCP bookkeeping against the semantics Zeek documents for Conn::Info (conn_state,
// history letters and their repetition rules, sizes from sequence numbers, duration).
#include "tcp/conn_tracker.h"

#include <gtest/gtest.h>

#include <string>

namespace mailtap {
namespace {

constexpr uint8_t kSyn = kTcpSyn;
constexpr uint8_t kSynAck = kTcpSyn | kTcpAck;
constexpr uint8_t kAck = kTcpAck;
constexpr uint8_t kFinAck = kTcpFin | kTcpAck;
constexpr uint8_t kRst = kTcpRst;
constexpr uint8_t kRstAck = kTcpRst | kTcpAck;
constexpr uint32_t kClientIsn = 1000;
constexpr uint32_t kServerIsn = 5000;

class ConnTrackerTest : public ::testing::Test {
 protected:
  // A segment of `len` payload bytes (not captured: the tracker reads lengths only), 40 bytes of
  // IPv4 and TCP headers, one millisecond after the previous one.
  void Send(Side side, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len = 0,
            uint16_t window = 512) {
    TcpSegment s;
    now_ += 1000;
    s.ts = Timestamp{now_};
    s.flags = flags;
    s.seq = seq;
    s.ack = ack;
    s.window = window;
    s.payload_wire_len = len;
    s.ip_len = ip_known_ ? 40 + len : 0;
    tracker_.OnSegment(side, s);
  }
  void Client(uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len = 0) {
    Send(Side::kOriginator, flags, seq, ack, len);
  }
  void Server(uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len = 0) {
    Send(Side::kResponder, flags, seq, ack, len);
  }
  void Handshake() {
    Client(kSyn, kClientIsn, 0);
    Server(kSynAck, kServerIsn, kClientIsn + 1);
    Client(kAck, kClientIsn + 1, kServerIsn + 1);
  }

  ConnTracker tracker_{false};
  int64_t now_ = 1'000'000;
  bool ip_known_ = true;
};

TEST_F(ConnTrackerTest, NormalEstablishmentAndTerminationIsSF) {
  Handshake();
  Server(kAck, kServerIsn + 1, kClientIsn + 1, 100);
  Client(kAck, kClientIsn + 1, kServerIsn + 101, 30);
  Server(kAck, kServerIsn + 101, kClientIsn + 31);
  Client(kFinAck, kClientIsn + 31, kServerIsn + 101);
  Server(kFinAck, kServerIsn + 101, kClientIsn + 32);
  Client(kAck, kClientIsn + 32, kServerIsn + 102);  // after both FINs: not in the duration
  EXPECT_EQ(tracker_.ConnState(), "SF");
  EXPECT_EQ(tracker_.history(), "ShAdDaFf");
  EXPECT_EQ(tracker_.Size(Side::kOriginator), 30U);
  EXPECT_EQ(tracker_.Size(Side::kResponder), 100U);
  EXPECT_EQ(tracker_.Duration().usec, 7000);  // first packet to the second FIN
  EXPECT_EQ(tracker_.packets(Side::kOriginator), 5U);
  EXPECT_EQ(tracker_.packets(Side::kResponder), 4U);
  EXPECT_EQ(tracker_.ip_bytes(Side::kOriginator), 5U * 40 + 30);
  EXPECT_EQ(tracker_.ip_bytes(Side::kResponder), 4U * 40 + 100);
}

TEST_F(ConnTrackerTest, AnUnansweredSynIsS0) {
  Client(kSyn, kClientIsn, 0);
  Client(kSyn, kClientIsn, 0);  // the same SYN again: no second 'S'
  EXPECT_EQ(tracker_.ConnState(), "S0");
  EXPECT_EQ(tracker_.history(), "S");
}

// A new ISN while the handshake is open restarts the numbering (so no second 'S'); after the
// side's reset it does not, and the SYN is logged again.
TEST_F(ConnTrackerTest, ASynWithAnotherSequenceNumberIsLoggedAgain) {
  Client(kSyn, kClientIsn, 0);
  Client(kSyn, kClientIsn + 77, 0);
  EXPECT_EQ(tracker_.history(), "S");
  Client(kRst, kClientIsn + 78, 0);
  Client(kSyn, kClientIsn + 500, 0);
  EXPECT_EQ(tracker_.history(), "SRS");
}

TEST_F(ConnTrackerTest, ASynAnsweredWithAResetIsREJ) {
  Client(kSyn, kClientIsn, 0);
  Server(kRstAck, 0, kClientIsn + 1);
  EXPECT_EQ(tracker_.ConnState(), "REJ");
  EXPECT_EQ(tracker_.history(), "Sr");
}

TEST_F(ConnTrackerTest, ASynThenTheOriginatorsResetIsRSTOS0) {
  Client(kSyn, kClientIsn, 0);
  Client(kRst, kClientIsn + 1, 0);
  EXPECT_EQ(tracker_.ConnState(), "RSTOS0");
  EXPECT_EQ(tracker_.history(), "SR");
}

TEST_F(ConnTrackerTest, AResetAfterTheHandshakeIsRSTOOrRSTR) {
  Handshake();
  Client(kRstAck, kClientIsn + 1, kServerIsn + 1);
  EXPECT_EQ(tracker_.ConnState(), "RSTO");

  ConnTracker other(false);
  tracker_ = other;
  Handshake();
  Server(kRstAck, kServerIsn + 1, kClientIsn + 1);
  EXPECT_EQ(tracker_.ConnState(), "RSTR");
}

TEST_F(ConnTrackerTest, OneSidedClosesAreS2AndS3AndSH) {
  Handshake();
  Client(kFinAck, kClientIsn + 1, kServerIsn + 1);
  EXPECT_EQ(tracker_.ConnState(), "S2");

  tracker_ = ConnTracker(false);
  Handshake();
  Server(kFinAck, kServerIsn + 1, kClientIsn + 1);
  EXPECT_EQ(tracker_.ConnState(), "S3");

  tracker_ = ConnTracker(false);
  Client(kSyn, kClientIsn, 0);
  Client(kFinAck, kClientIsn + 1, 0);
  EXPECT_EQ(tracker_.ConnState(), "SH");
}

TEST_F(ConnTrackerTest, EstablishedAndNotClosedIsS1) {
  Handshake();
  Client(kAck, kClientIsn + 1, kServerIsn + 1, 10);
  EXPECT_EQ(tracker_.ConnState(), "S1");
}

TEST_F(ConnTrackerTest, MidstreamTrafficIsOTHAndAFlippedOneStartsWithACaret) {
  tracker_ = ConnTracker(/*flipped=*/true);
  Server(kAck, 700, 300, 50);
  Client(kAck, 300, 750);
  EXPECT_EQ(tracker_.ConnState(), "OTH");
  EXPECT_EQ(tracker_.history(), "^dA");
  EXPECT_EQ(tracker_.Size(Side::kResponder), 50U);
}

TEST_F(ConnTrackerTest, BytesComeFromSequenceNumbersSoAHoleCounts) {
  Handshake();
  Client(kAck, kClientIsn + 1, kServerIsn + 1, 10);
  Client(kAck, kClientIsn + 1 + 1010, kServerIsn + 1, 10);  // 1000 bytes never seen
  EXPECT_EQ(tracker_.Size(Side::kOriginator), 1020U);
}

TEST_F(ConnTrackerTest, RetransmissionsAreLoggedAtTheFirstAndTenthTime) {
  Handshake();
  Client(kAck, kClientIsn + 1, kServerIsn + 1, 10);
  for (int i = 0; i < 10; ++i) Client(kAck, kClientIsn + 1, kServerIsn + 1, 10);
  EXPECT_EQ(tracker_.history(), "ShADTT");
  Client(kAck, kClientIsn + 1, kServerIsn + 1, 10);
  EXPECT_EQ(tracker_.history(), "ShADTT");  // the 11th: next letter at the 100th
}

TEST_F(ConnTrackerTest, ZeroWindowsAndGapsAreScaledLetters) {
  Handshake();
  Send(Side::kResponder, kAck, kServerIsn + 1, kClientIsn + 1, 0, /*window=*/0);
  tracker_.OnGaps(Side::kOriginator, 1);
  EXPECT_EQ(tracker_.history(), "ShAawG");  // the ACK's 'a' comes first
}

TEST_F(ConnTrackerTest, AnalysisLimitsMarkEachSideOnce) {
  Handshake();
  tracker_.NoteAnalysisPartial(Side::kOriginator);
  tracker_.NoteAnalysisPartial(Side::kOriginator);
  tracker_.NoteAnalysisPartial(Side::kResponder);
  EXPECT_EQ(tracker_.history(), "ShAXx");
}

TEST_F(ConnTrackerTest, FlagCombinationsAreIAndQ) {
  Client(kSyn | kTcpFin, kClientIsn, 0);
  Server(kTcpFin | kTcpRst, kServerIsn, 0);
  EXPECT_EQ(tracker_.history(), "Qi");
}

TEST_F(ConnTrackerTest, TheHistoryIsCapped) {
  Handshake();
  // Each FIN further on is logged again: a peer can go on without end.
  for (uint32_t i = 0; i < 200; ++i) Client(kFinAck, kClientIsn + 1 + i * 7, kServerIsn + 1, 6);
  EXPECT_EQ(tracker_.history().size(), ConnTracker::kMaxHistory);
  EXPECT_TRUE(tracker_.history_truncated());
}

TEST_F(ConnTrackerTest, IpBytesAreUnknownWithoutIpLengths) {
  ip_known_ = false;
  Handshake();
  EXPECT_FALSE(tracker_.ip_bytes_known(Side::kOriginator));
  EXPECT_EQ(tracker_.packets(Side::kOriginator), 2U);
}

}  // namespace
}  // namespace mailtap
