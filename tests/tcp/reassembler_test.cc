#include "tcp/reassembler.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tcp/recording_consumer.h"

namespace mailtap {
namespace {

using testing::RecordingConsumer;
using testing::Stream;
using Log = std::vector<std::string>;

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Deterministic, position-dependent bytes, so that misplaced bytes show.
std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return s;
}

class ReassemblerTest : public ::testing::Test {
 protected:
  enum class Analysed { kYes, kNo };
  void Make(uint32_t isn, ReassemblyLimits limits = {}, Analysed analysed = Analysed::kYes) {
    isn_ = isn;
    r_ = std::make_unique<Reassembler>(
        Side::kOriginator, analysed == Analysed::kYes ? &consumer_ : nullptr, limits, context_);
    r_->Init(isn);
  }
  // Sends `bytes` at relative position `rel` (1 = first payload byte).
  Overlap Data(int64_t rel, std::string_view bytes, uint32_t wire_len = 0) {
    return r_->AddData(ts_, Seq(rel), Bytes(bytes), wire_len);
  }
  void Ack(int64_t rel) { r_->AckReceived(ts_, Seq(rel)); }
  void Fin(int64_t rel) { r_->AddFin(ts_, Seq(rel)); }
  uint32_t Seq(int64_t rel) const { return isn_ + static_cast<uint32_t>(rel); }
  std::string Delivered() const { return Stream(log_, Side::kOriginator); }

  Log log_;
  RecordingConsumer consumer_{&log_};
  ReassemblyContext context_{64 << 20, 64 << 20};
  std::unique_ptr<Reassembler> r_;
  uint32_t isn_ = 0;
  Timestamp ts_{1'000'000};
};

TEST_F(ReassemblerTest, InOrderBytesAreDeliveredAtOnceAsTheyWereCut) {
  Make(1000);
  Data(1, "EHLO ");
  Data(6, "x\r\n");
  EXPECT_EQ(log_, (Log{"Do:EHLO ", "Do:x\r\n"}));
  EXPECT_EQ(r_->delivered_bytes(), 8u);
}

TEST_F(ReassemblerTest, OutOfOrderBytesWaitForTheHoleToFill) {
  Make(1000);
  Data(4, "def");
  EXPECT_TRUE(log_.empty());
  EXPECT_EQ(context_.out_of_order_segments.Get(), 1u);
  EXPECT_GT(context_.buffered_bytes(), 3u);  // payload plus block overhead
  Data(1, "abc");
  EXPECT_EQ(log_, (Log{"Do:abc", "Do:def"}));
  EXPECT_EQ(context_.buffered_bytes(), 0u);
  EXPECT_EQ(context_.gap_events.Get(), 0u);
}

TEST_F(ReassemblerTest, ExactDuplicateIsCountedAsRetransmissionNotRedelivered) {
  Make(1000);
  EXPECT_EQ(Data(1, "abc"), Overlap::kConsistent);
  EXPECT_EQ(Data(1, "abc"), Overlap::kConsistent);
  EXPECT_EQ(log_, (Log{"Do:abc"}));
  EXPECT_EQ(context_.retransmitted_bytes.Get(), 3u);
  EXPECT_EQ(context_.rexmit_inconsistency.Get(), 0u);
}

TEST_F(ReassemblerTest, DuplicateOfBufferedBytesIsCountedOnce) {
  Make(1000);
  Data(4, "def");
  Data(4, "def");
  Data(1, "abc");
  EXPECT_EQ(Delivered(), "abcdef");
  EXPECT_EQ(context_.retransmitted_bytes.Get(), 3u);
}

// smtp.pcap, connection 1: the client sends 1460-byte segments, learns a smaller path MTU and
// resends the same bytes cut at 1452, the last retransmission running past the old data. Zeek
// reports no missed bytes for it (missed_bytes=0 in the dump-events baseline).
TEST_F(ReassemblerTest, RetransmitsWithOtherBoundariesDeliverEveryByteOnce) {
  Make(2934727400u);
  const std::string msg = Pattern(8000);
  for (size_t off = 0; off < 5840; off += 1460) Data(1 + off, msg.substr(off, 1460));
  for (size_t off = 0; off < 7260; off += 1452) Data(1 + off, msg.substr(off, 1452));
  Data(1 + 7260, msg.substr(7260));
  EXPECT_EQ(Delivered(), msg);
  EXPECT_EQ(context_.retransmitted_bytes.Get(), 5840u);
  EXPECT_EQ(context_.gap_bytes.Get(), 0u);
  EXPECT_EQ(context_.rexmit_inconsistency.Get(), 0u);
}

TEST_F(ReassemblerTest, RetransmitWithDifferentBytesIsInconsistentAndTheFirstBytesWin) {
  Make(1000);
  Data(1, "hello");
  EXPECT_EQ(Data(3, "LLO world"), Overlap::kInconsistent);
  EXPECT_EQ(Delivered(), "hello world");
  EXPECT_EQ(context_.rexmit_inconsistency.Get(), 1u);
}

TEST_F(ReassemblerTest, OverlapWithBufferedBytesKeepsTheBufferedOnes) {
  Make(1000);
  Data(4, "DEF");
  EXPECT_EQ(Data(1, "abcxyz"), Overlap::kInconsistent);
  EXPECT_EQ(log_, (Log{"Do:abc", "Do:DEF"}));
}

TEST_F(ReassemblerTest, SegmentSpanningSeveralBufferedBlocksFillsOnlyTheHoles) {
  Make(1000);
  Data(3, "cd");
  Data(7, "gh");
  EXPECT_EQ(Data(1, "abcdefghij"), Overlap::kConsistent);
  EXPECT_EQ(log_, (Log{"Do:ab", "Do:cd", "Do:ef", "Do:gh", "Do:ij"}));
  EXPECT_EQ(context_.retransmitted_bytes.Get(), 4u);
}

TEST_F(ReassemblerTest, PartialOverlapDeliversOnlyTheNewTail) {
  Make(1000);
  Data(1, "abc");
  Data(2, "bcde");
  EXPECT_EQ(log_, (Log{"Do:abc", "Do:de"}));
  EXPECT_EQ(context_.retransmitted_bytes.Get(), 2u);
}

TEST_F(ReassemblerTest, KeepAliveByteIsNormalNotInconsistent) {
  Make(1000);
  Data(1, "abc");
  // RFC 1122 4.2.3.6 keep-alive: one garbage byte at SND.NXT - 1.
  EXPECT_EQ(Data(3, std::string_view("\0", 1)), Overlap::kConsistent);
  EXPECT_EQ(Delivered(), "abc");
  EXPECT_EQ(context_.retransmitted_bytes.Get(), 1u);
  EXPECT_EQ(context_.gap_events.Get(), 0u);
}

TEST_F(ReassemblerTest, SequenceNumbersWrapAroundTwoToThe32) {
  Make(0xFFFFFFF0u);
  // Bytes 1..10 sit below 2^32, 11..20 straddle it, 21..30 are above; the last arrives first.
  r_->AddData(ts_, 5u, Bytes("KLMNOPQRST"), 0);
  r_->AddData(ts_, 0xFFFFFFF1u, Bytes("0123456789"), 0);
  r_->AddData(ts_, 0xFFFFFFFBu, Bytes("abcdefghij"), 0);
  EXPECT_EQ(Delivered(), "0123456789abcdefghijKLMNOPQRST");
  // The peer acknowledges 100 bytes beyond: a gap right after byte 30.
  r_->AckReceived(ts_, 5u + 10u + 100u);
  EXPECT_EQ(log_.back(), "Uo:31+100");
}

TEST_F(ReassemblerTest, StreamsLongerThan4GiBKeep64BitPositions) {
  Make(123456789u);
  constexpr int64_t kStep = int64_t{1} << 30;  // the largest window TCP can have
  for (int i = 0; i < 5; ++i) Ack(1 + (i + 1) * kStep);
  const int64_t next = 1 + 5 * kStep;
  Data(next, "tail");
  ASSERT_EQ(log_.size(), 6u);
  EXPECT_EQ(log_[0], "Uo:1+1073741824");
  EXPECT_EQ(log_[4], "Uo:" + std::to_string(1 + 4 * kStep) + "+1073741824");
  EXPECT_EQ(log_[5], "Do:tail");
  EXPECT_EQ(r_->gap_bytes(), static_cast<uint64_t>(5 * kStep));
}

// smtp-bdat-gap.pcap: 100 bytes arrive, then the server acknowledges 1000 more that were never
// captured. Zeek: smtp_unexpected "content gap", "seq = 101, len = 1000"; missed_bytes 1000.
TEST_F(ReassemblerTest, AckPastUnseenBytesReportsTheGapWithZeekNumbering) {
  Make(1000);
  Data(1, std::string(100, 'A'));
  Ack(1101);
  EXPECT_EQ(log_.back(), "Uo:101+1000");
  EXPECT_EQ(context_.gap_events.Get(), 1u);
  EXPECT_EQ(context_.gap_bytes.Get(), 1000u);
  EXPECT_EQ(r_->gap_bytes(), 1000u);
  Data(1101, "after");
  EXPECT_EQ(log_.back(), "Do:after");
}

TEST_F(ReassemblerTest, AckPastHolesReportsEachThenDeliversWhatWaited) {
  Make(1000);
  Data(1, "abc");
  Data(7, "ghi");
  Data(13, "mno");
  Ack(14);
  EXPECT_EQ(log_, (Log{"Do:abc", "Uo:4+3", "Do:ghi", "Uo:10+3", "Do:mno"}));
}

TEST_F(ReassemblerTest, AckOfDeliveredBytesIsNoGap) {
  Make(1000);
  Data(1, "abc");
  Ack(4);
  Ack(2);
  Ack(-5);
  EXPECT_EQ(log_, (Log{"Do:abc"}));
  EXPECT_EQ(context_.gap_events.Get(), 0u);
}

TEST_F(ReassemblerTest, TruncatedSegmentReportsTheCutBytesAsAGapAtOnce) {
  Make(1000);
  Data(1, "abc", 10);
  EXPECT_EQ(log_, (Log{"Do:abc", "Uo:4+7"}));
  EXPECT_EQ(context_.truncated_payload_bytes.Get(), 7u);
  Data(11, "k");
  EXPECT_EQ(log_.back(), "Do:k");
}

TEST_F(ReassemblerTest, TruncatedOutOfOrderSegmentLeavesAHoleReportedAtClose) {
  Make(1000);
  Data(5, "ef", 4);
  Data(1, "abcd");
  EXPECT_EQ(log_, (Log{"Do:abcd", "Do:ef"}));
  r_->Close(ts_, StreamEnd::kRemoval);
  EXPECT_EQ(log_.back(), "Uo:7+2");
}

TEST_F(ReassemblerTest, FinEndsTheStreamOnlyAfterEveryByteBeforeIt) {
  Make(1000);
  Data(4, "def");
  Fin(7);
  EXPECT_TRUE(log_.empty());
  EXPECT_FALSE(r_->ended());
  Data(1, "abc");
  EXPECT_EQ(log_, (Log{"Do:abc", "Do:def", "Eo"}));
  EXPECT_TRUE(r_->ended());
}

TEST_F(ReassemblerTest, AckOfFinPastAHoleReportsTheHoleThenEnds) {
  Make(1000);
  Data(1, "abc");
  Fin(10);
  Ack(11);  // acknowledges the FIN, which is not a byte of the stream
  EXPECT_EQ(log_, (Log{"Do:abc", "Uo:4+6", "Eo"}));
}

TEST_F(ReassemblerTest, BytesBeyondTheFinAreIgnored) {
  Make(1000);
  Data(1, "abc");
  Fin(4);
  Data(4, "xyz");
  Fin(7);
  EXPECT_EQ(log_, (Log{"Do:abc", "Eo"}));
  EXPECT_EQ(context_.late_data_bytes.Get(), 3u);
}

TEST_F(ReassemblerTest, ResetReportsHolesDeliversBufferedBytesAndEnds) {
  Make(1000);
  Data(1, "ab");
  Data(5, "ef");
  r_->Close(ts_, StreamEnd::kReset);
  EXPECT_EQ(log_, (Log{"Do:ab", "Uo:3+2", "Do:ef", "Eo"}));
  r_->Close(ts_, StreamEnd::kReset);
  Data(7, "late");
  EXPECT_EQ(log_.size(), 4u);
}

TEST_F(ReassemblerTest, RemovalWithoutFinFlushesButDoesNotEndTheStream) {
  Make(1000);
  Data(1, "ab");
  Data(5, "ef");
  r_->Close(ts_, StreamEnd::kRemoval);
  EXPECT_EQ(log_, (Log{"Do:ab", "Uo:3+2", "Do:ef"}));
  EXPECT_FALSE(r_->ended());
}

TEST_F(ReassemblerTest, PerDirectionBoundDropsNewOutOfOrderBytes) {
  Make(1000, ReassemblyLimits{200, 64 << 10});
  Data(11, std::string(100, 'x'));   // 100 + overhead fits
  Data(200, std::string(100, 'y'));  // would exceed 200
  EXPECT_EQ(context_.overflow_bytes.Get(), 100u);
  Data(1, std::string(10, 'a'));
  Ack(300);
  EXPECT_EQ(log_, (Log{"Do:aaaaaaaaaa", "Do:" + std::string(100, 'x'), "Uo:111+189"}));
  // The gap's last 100 bytes were dropped here; its first 89 never arrived.
  EXPECT_EQ(context_.gap_bytes.Get(), 189u);
  EXPECT_EQ(context_.gap_bytes_dropped.Get(), 100u);
}

TEST_F(ReassemblerTest, DroppedBytesSentAgainAreNotLost) {
  Make(1000, ReassemblyLimits{200, 64 << 10});
  Data(11, std::string(100, 'x'));
  Data(200, std::string(100, 'y'));  // dropped at the bound
  Data(1, std::string(10, 'a'));
  Data(111, std::string(89, 'z'));
  Data(200, std::string(100, 'y'));  // the sender's retransmission, now in order
  Ack(300);
  EXPECT_EQ(context_.overflow_bytes.Get(), 100u);
  EXPECT_EQ(context_.gap_bytes.Get(), 0u);
  EXPECT_EQ(context_.gap_bytes_dropped.Get(), 0u);
}

TEST_F(ReassemblerTest, AGapBeforeTheDroppedBytesIsNotCountedAsDropped) {
  Make(1000, ReassemblyLimits{200, 64 << 10});
  Data(51, std::string(100, 'x'));
  Data(300, std::string(50, 'y'));  // dropped
  Ack(151);                         // [1, 51) never arrived
  Ack(350);                         // [151, 300) never arrived, [300, 350) dropped
  EXPECT_EQ(context_.gap_bytes.Get(), 50u + 149u + 50u);
  EXPECT_EQ(context_.gap_bytes_dropped.Get(), 50u);
}

TEST_F(ReassemblerTest, GlobalBoundIsSharedByAllDirections) {
  ReassemblyContext small(300, 1 << 20);
  Log other_log;
  RecordingConsumer other(&other_log);
  Reassembler a(Side::kOriginator, &other, {}, small);
  Reassembler b(Side::kResponder, &other, {}, small);
  a.Init(0);
  b.Init(0);
  a.AddData(ts_, 10, Bytes(std::string(200, 'a')), 0);
  b.AddData(ts_, 10, Bytes(std::string(200, 'b')), 0);
  EXPECT_EQ(small.overflow_bytes.Get(), 200u);
  EXPECT_EQ(small.buffered_bytes(), a.buffered_bytes());
}

// Issue 17: a few connections parking data behind holes must not starve the others. When the
// global bound is exhausted, the reassembler holding the most sheds its farthest blocks, and the
// shed bytes are a gap of the connection that held them, counted as dropped.
TEST_F(ReassemblerTest, GlobalBoundMakesTheLargestHolderShedItsFarthestBlocks) {
  ReassemblyContext small(700, 1 << 20);
  Log a_log, b_log;
  RecordingConsumer a_consumer(&a_log), b_consumer(&b_log);
  Reassembler a(Side::kOriginator, &a_consumer, {}, small);
  Reassembler b(Side::kOriginator, &b_consumer, {}, small);
  a.Init(0);
  b.Init(0);
  for (uint32_t seq : {100u, 300u, 500u}) a.AddData(ts_, seq, Bytes(std::string(100, 'a')), 0);
  b.AddData(ts_, 10, Bytes(std::string(100, 'b')), 0);
  EXPECT_EQ(small.overflow_bytes.Get(), 0u);  // 4 blocks of 100 + 64 fit in 700, not 5
  b.AddData(ts_, 110, Bytes(std::string(100, 'c')), 0);
  EXPECT_EQ(small.overflow_bytes.Get(), 100u);  // a's block at 500 made room
  EXPECT_EQ(a.buffered_bytes(), 2u * 164u);
  EXPECT_EQ(b.buffered_bytes(), 2u * 164u);
  b.AddData(ts_, 1, Bytes(std::string(9, 'x')), 0);
  EXPECT_EQ(Stream(b_log, Side::kOriginator),
            std::string(9, 'x') + std::string(100, 'b') + std::string(100, 'c'));
  a.AckReceived(ts_, 600);  // [1, 100), [200, 300) and [400, 500) never seen, [500, 600) shed
  EXPECT_EQ(small.gap_bytes.Get(), 99u + 100u + 100u + 100u);
  EXPECT_EQ(small.gap_bytes_dropped.Get(), 100u);
}

TEST_F(ReassemblerTest, BufferedBytesAreReleasedWhenTheReassemblerGoesAway) {
  Make(1000);
  Data(5, "late");
  EXPECT_GT(context_.buffered_bytes(), 0u);
  r_.reset();
  EXPECT_EQ(context_.buffered_bytes(), 0u);
}

TEST_F(ReassemblerTest, SegmentFarOutsideTheWindowIsDropped) {
  Make(1000);
  r_->AddData(ts_, 1000u + 1u + (1u << 31), Bytes("bogus"), 0);
  r_->AddData(ts_, 1000u + 1u - (1u << 30) - 10u, Bytes("bogus"), 0);
  EXPECT_TRUE(log_.empty());
  EXPECT_EQ(context_.seq_out_of_window.Get(), 2u);
  Data(1, "ok");
  EXPECT_EQ(log_, (Log{"Do:ok"}));
}

TEST_F(ReassemblerTest, WithoutConsumerOnlyPositionsAreTracked) {
  Make(1000, {}, Analysed::kNo);
  Data(1, "abcd");
  Data(5, "efgh");
  Data(50, "far ahead");
  Ack(100);
  EXPECT_EQ(context_.buffered_bytes(), 0u);
  EXPECT_EQ(r_->delivered_bytes(), 8u + 9u);
  Fin(59);
  EXPECT_TRUE(r_->ended());
}

TEST_F(ReassemblerTest, ZeroLengthSegmentChangesNothing) {
  Make(1000);
  Data(50, "");
  EXPECT_TRUE(log_.empty());
  EXPECT_EQ(context_.out_of_order_segments.Get(), 0u);
  Data(1, "a");
  EXPECT_EQ(log_, (Log{"Do:a"}));
}

TEST_F(ReassemblerTest, SixtyFourKiBSegmentIsDeliveredInOnePiece) {
  Make(4000000000u);
  const std::string big = Pattern(65535);
  Data(1, big);
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(Delivered(), big);
}

TEST_F(ReassemblerTest, OnlyBytesStillRetainedAreJudged) {
  Make(1000, ReassemblyLimits{4 << 20, 4});
  Data(1, "abc");
  Data(4, "defgh");                               // only "efgh" fits the 4-byte retention
  EXPECT_LE(context_.retained_bytes(), 8u);       // at most twice the cap
  EXPECT_EQ(Data(1, "X"), Overlap::kConsistent);  // "a" is no longer known
  EXPECT_EQ(Data(7, "XX"), Overlap::kInconsistent);
  Ack(8);  // "efg" acknowledged: gone
  EXPECT_EQ(Data(6, "XX"), Overlap::kConsistent);
  EXPECT_EQ(Data(7, "gX"), Overlap::kInconsistent);
  r_.reset();
  EXPECT_EQ(context_.retained_bytes(), 0u);
}

TEST_F(ReassemblerTest, RetentionLargerThanPooledBuffersIsFreedOnceAcknowledged) {
  ReassemblyLimits limits;
  limits.max_retained_bytes_per_direction = 1 << 20;
  Make(1000, limits);
  Data(1, Pattern(200000));  // more than the pool keeps (128 KiB a buffer)
  EXPECT_GE(context_.retained_bytes(), 200000u);
  Ack(100001);
  EXPECT_GE(context_.retained_bytes(), 100000u);  // same buffer, half of it live
  Ack(200001);
  EXPECT_EQ(context_.retained_bytes(), 0u);
}

// A message of a few KiB per connection: once acknowledged, its buffer waits in the pool for the
// next one instead of being freed and allocated again.
TEST_F(ReassemblerTest, AnAcknowledgedMessagesBufferIsReusedByTheNextStream) {
  ReassemblyContext context(1 << 20, 1 << 20);
  Log log;
  RecordingConsumer consumer(&log);
  Reassembler first(Side::kOriginator, &consumer, {}, context);
  first.Init(0);
  first.AddData(ts_, 1, Bytes(Pattern(9000)), 0);
  const uint64_t held = context.retained_bytes();
  EXPECT_GE(held, 9000u);
  first.AckReceived(ts_, 9001);
  EXPECT_EQ(context.retained_bytes(), held);  // pooled, not freed

  Reassembler second(Side::kOriginator, &consumer, {}, context);
  second.Init(100000);
  second.AddData(ts_, 100001, Bytes(Pattern(8000)), 0);
  EXPECT_EQ(context.retained_bytes(), held);  // the pooled buffer, no new charge
  EXPECT_EQ(Stream(log, Side::kOriginator), Pattern(9000) + Pattern(8000));
}

// Ended streams lend their retained-bytes buffer to new ones (the pool stays charged to the
// budget, so the budget still bounds all of it).
TEST_F(ReassemblerTest, AnEndedStreamsBufferIsReusedByTheNextStream) {
  ReassemblyContext context(1 << 20, 1 << 20);
  Log log;
  RecordingConsumer consumer(&log);
  Reassembler first(Side::kOriginator, &consumer, {}, context);
  first.Init(0);
  first.AddData(ts_, 1, Bytes(Pattern(3000)), 0);
  const uint64_t held = context.retained_bytes();
  EXPECT_GE(held, 3000u);
  first.AddFin(ts_, 3001);
  ASSERT_TRUE(first.ended());
  EXPECT_EQ(context.retained_bytes(), held);  // pooled, not freed

  Reassembler second(Side::kResponder, &consumer, {}, context);
  second.Init(0);
  second.AddData(ts_, 1, Bytes(Pattern(2000)), 0);
  EXPECT_EQ(context.retained_bytes(), held);  // the same buffer, no new charge
  EXPECT_EQ(Stream(log, Side::kResponder), Pattern(2000));
}

// The pool keeps at most 4 MiB of buffers: what ended streams give beyond that is freed.
TEST_F(ReassemblerTest, ThePoolOfRetentionBuffersIsBounded) {
  ReassemblyContext context(1 << 30, 1 << 30);
  Log log;
  RecordingConsumer consumer(&log);
  ReassemblyLimits limits;
  limits.max_retained_bytes_per_direction = 100000;
  std::vector<std::unique_ptr<Reassembler>> streams;
  for (int i = 0; i < 60; ++i) {  // all open at once: 6 MB retained
    streams.push_back(std::make_unique<Reassembler>(Side::kOriginator, &consumer, limits, context));
    streams.back()->Init(0);
    streams.back()->AddData(ts_, 1, Bytes(Pattern(100000)), 0);
  }
  EXPECT_GE(context.retained_bytes(), 60u * 100000);
  for (auto& stream : streams) stream->AddFin(ts_, 100001);
  EXPECT_GT(context.retained_bytes(), 3u << 20);  // the pool is in use...
  EXPECT_LE(context.retained_bytes(), 4u << 20);  // ...up to its bound
}

TEST_F(ReassemblerTest, GlobalRetentionBoundSkipsTheCheckButLosesNothing) {
  ReassemblyContext tight(1 << 20, 100);
  Log other_log;
  RecordingConsumer other(&other_log);
  Reassembler r(Side::kOriginator, &other, {}, tight);
  r.Init(0);
  const std::string bytes = Pattern(1000);
  r.AddData(ts_, 1, Bytes(bytes), 0);
  EXPECT_EQ(tight.retained_bytes(), 0u);
  EXPECT_EQ(r.AddData(ts_, 1, Bytes(Pattern(999) + "!"), 0), Overlap::kConsistent);
  EXPECT_EQ(Stream(other_log, Side::kOriginator), bytes);
}

TEST_F(ReassemblerTest, BytesReportedAsAGapAreNotJudgedLater) {
  Make(1000);
  Data(1, "abc", 10);  // bytes 4..10 are a gap
  EXPECT_EQ(Data(2, "zzzzzz"), Overlap::kConsistent);
  Data(11, "kl");
  EXPECT_EQ(Data(11, "KL"), Overlap::kInconsistent);
}

}  // namespace
}  // namespace mailtap
