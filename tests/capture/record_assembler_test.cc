// RecordAssembler on hand-built ring-buffer records (bpf_abi.h), as the socket filter writes them.
#include "capture/record_assembler.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace mailtap {
namespace {

using Outcome = RecordAssembler::Outcome;

struct Packet {
  uint16_t sport = 40000;
  uint32_t cpu = 0;
  uint32_t pkt_id = 1;
  uint32_t wire_len = 0;
};

// One record: the header, then `chunk`.
std::vector<uint8_t> Record(const Packet& p, uint32_t offset, const std::string& chunk,
                            uint8_t flags) {
  mailtap_rec_hdr h{};
  h.ts_ns = 7'000'000'000;
  h.ifindex = 2;
  h.seq = 1000;
  h.ack = 5000;
  h.wire_len = p.wire_len;
  h.offset = offset;
  h.chunk_len = static_cast<uint32_t>(chunk.size());
  h.sport = p.sport;
  h.dport = 25;
  h.tcp_flags = 0x18;
  h.ip_version = 4;
  const uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {192, 0, 2, 25};
  std::memcpy(h.saddr, src, 4);
  std::memcpy(h.daddr, dst, 4);
  h.cpu = p.cpu;
  h.pkt_id = p.pkt_id;
  h.rec_flags = flags;
  std::vector<uint8_t> out(sizeof h + chunk.size());
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + sizeof h, chunk.data(), chunk.size());
  return out;
}

std::string Payload(const TcpSegment& s) {
  return std::string(reinterpret_cast<const char*>(s.payload.data()), s.payload.size());
}

class RecordAssemblerTest : public ::testing::Test {
 protected:
  // Boot time 7 s is epoch 1000 s + 7 s.
  RecordAssembler assembler_{
      2, [](uint64_t ns) { return Timestamp{1'000'000'000 + int64_t(ns / 1000)}; }};
  TcpSegment seg_;
};

TEST_F(RecordAssemblerTest, AOneRecordPacketIsHandedOutInPlace) {
  const auto r = Record({.wire_len = 6}, 0, "MAIL\r\n", MAILTAP_REC_FIRST | MAILTAP_REC_LAST);
  ASSERT_EQ(assembler_.Offer(r, &seg_), Outcome::kSegmentInRecord);
  EXPECT_EQ(Payload(seg_), "MAIL\r\n");
  EXPECT_EQ(seg_.payload.data(), r.data() + sizeof(mailtap_rec_hdr));  // no copy
  EXPECT_EQ(seg_.ts, Timestamp{1'007'000'000});
  EXPECT_EQ(seg_.src.ToString(), "192.0.2.1");
  EXPECT_EQ(seg_.dst_port, 25);
  EXPECT_EQ(seg_.seq, 1000u);
  EXPECT_EQ(seg_.ifindex, 2u);
  EXPECT_EQ(seg_.payload_wire_len, 6u);
  EXPECT_EQ(assembler_.segments().Get(), 1u);
  EXPECT_EQ(assembler_.truncated_segments().Get(), 0u);
}

TEST_F(RecordAssemblerTest, ATruncatedPacketKeepsItsWireLengthAndIsCounted) {
  const auto r = Record({.wire_len = 100}, 0, "DATA",
                        MAILTAP_REC_FIRST | MAILTAP_REC_LAST | MAILTAP_REC_TRUNCATED);
  ASSERT_EQ(assembler_.Offer(r, &seg_), Outcome::kSegmentInRecord);
  EXPECT_EQ(seg_.payload.size(), 4u);
  EXPECT_EQ(seg_.payload_wire_len, 100u);
  EXPECT_EQ(assembler_.truncated_segments().Get(), 1u);
}

TEST_F(RecordAssemblerTest, InterleavedChunksOfTwoConnectionsAreJoinedPerCpu) {
  const Packet a{.sport = 40001, .cpu = 0, .pkt_id = 7, .wire_len = 6};
  const Packet b{.sport = 40002, .cpu = 1, .pkt_id = 3, .wire_len = 8};
  EXPECT_EQ(assembler_.Offer(Record(a, 0, "abc", MAILTAP_REC_FIRST), &seg_), Outcome::kConsumed);
  EXPECT_EQ(assembler_.Offer(Record(b, 0, "wxyz", MAILTAP_REC_FIRST), &seg_), Outcome::kConsumed);
  ASSERT_EQ(assembler_.Offer(Record(a, 3, "def", MAILTAP_REC_LAST), &seg_),
            Outcome::kSegmentConsumed);
  EXPECT_EQ(Payload(seg_), "abcdef");
  EXPECT_EQ(seg_.src_port, 40001);
  ASSERT_EQ(assembler_.Offer(Record(b, 4, "1234", MAILTAP_REC_LAST), &seg_),
            Outcome::kSegmentConsumed);
  EXPECT_EQ(Payload(seg_), "wxyz1234");
  EXPECT_EQ(seg_.src_port, 40002);
  EXPECT_EQ(assembler_.bytes().Get(), 14u);
  EXPECT_EQ(assembler_.orphan_chunks().Get(), 0u);
}

TEST_F(RecordAssemblerTest, ALossMarkerEndsThePacketWithItsMissingBytesAsAGap) {
  const Packet p{.wire_len = 10};
  EXPECT_EQ(assembler_.Offer(Record(p, 0, "abc", MAILTAP_REC_FIRST), &seg_), Outcome::kConsumed);
  ASSERT_EQ(assembler_.Offer(Record(p, 3, "", MAILTAP_REC_LAST | MAILTAP_REC_LOST), &seg_),
            Outcome::kSegmentConsumed);
  EXPECT_EQ(Payload(seg_), "abc");
  EXPECT_EQ(seg_.payload_wire_len, 10u);
  EXPECT_EQ(assembler_.truncated_segments().Get(), 1u);
}

TEST_F(RecordAssemblerTest, ANewPacketOnTheSameCpuHandsOutTheUnfinishedOneFirst) {
  const Packet first{.pkt_id = 1, .wire_len = 6};
  const Packet second{.pkt_id = 2, .wire_len = 2};
  assembler_.Offer(Record(first, 0, "abc", MAILTAP_REC_FIRST), &seg_);
  const auto next = Record(second, 0, "ok", MAILTAP_REC_FIRST | MAILTAP_REC_LAST);
  ASSERT_EQ(assembler_.Offer(next, &seg_), Outcome::kSegmentRecordKept);
  EXPECT_EQ(Payload(seg_), "abc");
  EXPECT_EQ(seg_.payload_wire_len, 6u);
  ASSERT_EQ(assembler_.Offer(next, &seg_), Outcome::kSegmentInRecord);  // offered again
  EXPECT_EQ(Payload(seg_), "ok");
}

TEST_F(RecordAssemblerTest, ChunksWithoutTheirFirstAreOrphans) {
  EXPECT_EQ(assembler_.Offer(Record({.wire_len = 6}, 3, "def", MAILTAP_REC_LAST), &seg_),
            Outcome::kConsumed);
  assembler_.Offer(Record({.pkt_id = 1, .wire_len = 6}, 0, "abc", MAILTAP_REC_FIRST), &seg_);
  // Another packet's chunk, and one at the wrong offset.
  EXPECT_EQ(assembler_.Offer(Record({.pkt_id = 9, .wire_len = 6}, 3, "x", MAILTAP_REC_LAST), &seg_),
            Outcome::kConsumed);
  EXPECT_EQ(assembler_.Offer(Record({.pkt_id = 1, .wire_len = 6}, 4, "x", MAILTAP_REC_LAST), &seg_),
            Outcome::kConsumed);
  EXPECT_EQ(assembler_.orphan_chunks().Get(), 3u);
  EXPECT_EQ(assembler_.segments().Get(), 0u);
}

TEST_F(RecordAssemblerTest, MalformedRecordsAreCountedAndSkipped) {
  const std::vector<uint8_t> short_record(10, 0);
  EXPECT_EQ(assembler_.Offer(short_record, &seg_), Outcome::kConsumed);
  auto r = Record({}, 0, "abc", MAILTAP_REC_FIRST | MAILTAP_REC_LAST);
  r.resize(r.size() - 1);  // chunk_len says more than the record holds
  EXPECT_EQ(assembler_.Offer(r, &seg_), Outcome::kConsumed);
  EXPECT_EQ(
      assembler_.Offer(Record({.cpu = 5}, 0, "", MAILTAP_REC_FIRST | MAILTAP_REC_LAST), &seg_),
      Outcome::kConsumed);  // no such CPU
  EXPECT_EQ(assembler_.bad_records().Get(), 3u);
}

TEST_F(RecordAssemblerTest, AnEmptyRingFlushesThePartialPacketsOneByOne) {
  assembler_.Offer(Record({.cpu = 0, .wire_len = 6}, 0, "abc", MAILTAP_REC_FIRST), &seg_);
  assembler_.Offer(Record({.cpu = 1, .wire_len = 4}, 0, "xy", MAILTAP_REC_FIRST), &seg_);
  ASSERT_TRUE(assembler_.FlushPartial(&seg_));
  EXPECT_EQ(Payload(seg_), "abc");
  ASSERT_TRUE(assembler_.FlushPartial(&seg_));
  EXPECT_EQ(Payload(seg_), "xy");
  EXPECT_FALSE(assembler_.FlushPartial(&seg_));
  EXPECT_EQ(assembler_.truncated_segments().Get(), 2u);
}

}  // namespace
}  // namespace mailtap
