#include "capture/tls_record_assembler.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "capture/stats_map.h"

namespace mailtap {
namespace {

using testing::StatsByName;

struct Delivered {
  std::string data;
  uint32_t len;
  TlsOp op;
  TlsLibrary library;
  std::string local, remote;
  uint16_t local_p, remote_p;
  uint32_t pid;
  std::string comm;
  uint64_t cgroup;
  int64_t usec;
};

class Sink : public TlsPlaintextSink {
 public:
  void OnTlsPlaintext(const TlsPlaintext& p) override {
    plaintexts.push_back({std::string(p.data.begin(), p.data.end()), p.len, p.op, p.library,
                          p.local_h.ToString(), p.remote_h.ToString(), p.local_p, p.remote_p,
                          p.process.pid, std::string(p.process.comm), p.process.cgroup_id,
                          p.ts.usec});
  }
  void OnSocketOwner(const SocketOwner& o) override {
    owners.push_back({"", 0, TlsOp::kRead, TlsLibrary::kOpenSsl, o.local_h.ToString(),
                      o.remote_h.ToString(), o.local_p, o.remote_p, o.process.pid,
                      std::string(o.process.comm), o.process.cgroup_id, o.ts.usec});
  }
  std::vector<Delivered> plaintexts;
  std::vector<Delivered> owners;
};

mailtap_tls_rec Header(uint8_t kind = MAILTAP_TLS_KIND_PLAINTEXT) {
  mailtap_tls_rec h{};
  h.ts_ns = 5'000'000'000;
  h.cgroup_id = 77;
  h.pid = 812;
  h.tid = 812;
  h.family = 4;
  h.kind = kind;
  h.op = MAILTAP_TLS_OP_READ;
  h.library = MAILTAP_TLS_LIB_OPENSSL;
  h.lport = 25;
  h.rport = 40000;
  const uint8_t local[4] = {127, 0, 0, 1}, remote[4] = {10, 1, 2, 3};
  std::memcpy(h.laddr, local, 4);
  std::memcpy(h.raddr, remote, 4);
  std::strcpy(h.comm, "smtpd");
  h.rec_flags = MAILTAP_TLS_REC_FIRST | MAILTAP_TLS_REC_LAST;
  return h;
}

std::vector<uint8_t> Record(const mailtap_tls_rec& h, const std::string& data) {
  std::vector<uint8_t> out(sizeof h + data.size());
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + sizeof h, data.data(), data.size());
  return out;
}

class TlsRecordAssemblerTest : public ::testing::Test {
 protected:
  // Boot time 5 s is epoch 1000 s in this fake clock.
  TlsRecordAssembler assembler_{
      2, [](uint64_t ns) { return Timestamp{static_cast<int64_t>(ns / 1000) + 995'000'000}; }};
  Sink sink_;
  void Feed(const mailtap_tls_rec& h, const std::string& data) {
    const auto r = Record(h, data);
    assembler_.Accept(r, &sink_);
  }
};

TEST_F(TlsRecordAssemblerTest, SingleRecordCallIsDeliveredWithItsConnectionAndProcess) {
  mailtap_tls_rec h = Header();
  h.len = h.chunk_len = 12;
  Feed(h, "EHLO x.org\r\n");
  ASSERT_EQ(sink_.plaintexts.size(), 1u);
  const Delivered& d = sink_.plaintexts[0];
  EXPECT_EQ(d.data, "EHLO x.org\r\n");
  EXPECT_EQ(d.len, 12u);
  EXPECT_EQ(d.op, TlsOp::kRead);
  EXPECT_EQ(d.library, TlsLibrary::kOpenSsl);
  EXPECT_EQ(d.local, "127.0.0.1");
  EXPECT_EQ(d.remote, "10.1.2.3");
  EXPECT_EQ(d.local_p, 25);
  EXPECT_EQ(d.remote_p, 40000);
  EXPECT_EQ(d.pid, 812u);
  EXPECT_EQ(d.comm, "smtpd");
  EXPECT_EQ(d.cgroup, 77u);
  EXPECT_EQ(d.usec, 1'000'000'000);
}

TEST_F(TlsRecordAssemblerTest, V4MappedSocketAddressEqualsTheIpv4Address) {
  mailtap_tls_rec h = Header();
  h.family = 6;
  const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
  std::memcpy(h.raddr, mapped, 16);
  h.len = h.chunk_len = 1;
  Feed(h, "x");
  ASSERT_EQ(sink_.plaintexts.size(), 1u);
  EXPECT_EQ(sink_.plaintexts[0].remote, "192.0.2.1");
}

TEST_F(TlsRecordAssemblerTest, ChunksOfOneCallAreJoinedAcrossInterleavedCpus) {
  mailtap_tls_rec a = Header();
  a.len = 6;
  a.chunk_len = 3;
  a.rec_flags = MAILTAP_TLS_REC_FIRST;
  a.call_id = 9;
  a.op = MAILTAP_TLS_OP_WRITE;
  mailtap_tls_rec other = Header();
  other.cpu = 1;
  other.len = other.chunk_len = 2;
  mailtap_tls_rec b = a;
  b.offset = 3;
  b.rec_flags = MAILTAP_TLS_REC_LAST;
  Feed(a, "abc");
  Feed(other, "zz");
  Feed(b, "def");
  ASSERT_EQ(sink_.plaintexts.size(), 2u);
  EXPECT_EQ(sink_.plaintexts[0].data, "zz");
  EXPECT_EQ(sink_.plaintexts[1].data, "abcdef");
  EXPECT_EQ(sink_.plaintexts[1].op, TlsOp::kWrite);
  EXPECT_EQ(StatsByName(assembler_)["plaintexts_incomplete"], 0u);
}

TEST_F(TlsRecordAssemblerTest, TruncatedOrLostCallKeepsItsRealLength) {
  mailtap_tls_rec h = Header();
  h.len = 100;
  h.chunk_len = 4;
  h.rec_flags |= MAILTAP_TLS_REC_TRUNCATED;
  Feed(h, "abcd");
  ASSERT_EQ(sink_.plaintexts.size(), 1u);
  EXPECT_EQ(sink_.plaintexts[0].data, "abcd");
  EXPECT_EQ(sink_.plaintexts[0].len, 100u);
  EXPECT_EQ(StatsByName(assembler_)["plaintexts_incomplete"], 1u);
}

TEST_F(TlsRecordAssemblerTest, CallWhoseLastChunkNeverCameIsDeliveredIncompleteAtTheNextFirst) {
  mailtap_tls_rec a = Header();
  a.len = 10;
  a.chunk_len = 5;
  a.rec_flags = MAILTAP_TLS_REC_FIRST;
  Feed(a, "12345");
  mailtap_tls_rec next = Header();
  next.len = next.chunk_len = 1;
  Feed(next, "n");
  ASSERT_EQ(sink_.plaintexts.size(), 2u);
  EXPECT_EQ(sink_.plaintexts[0].data, "12345");
  EXPECT_EQ(sink_.plaintexts[0].len, 10u);
  EXPECT_EQ(sink_.plaintexts[1].data, "n");
}

TEST_F(TlsRecordAssemblerTest, ChunkWithoutItsFirstIsAnOrphan) {
  mailtap_tls_rec b = Header();
  b.len = 6;
  b.offset = 3;
  b.chunk_len = 3;
  b.rec_flags = MAILTAP_TLS_REC_LAST;
  Feed(b, "def");
  EXPECT_TRUE(sink_.plaintexts.empty());
  EXPECT_EQ(StatsByName(assembler_)["ring_orphan_chunks"], 1u);
}

TEST_F(TlsRecordAssemblerTest, MalformedRecordsAreCountedNotDelivered) {
  const std::vector<uint8_t> short_record(10, 0);
  assembler_.Accept(short_record, &sink_);
  mailtap_tls_rec h = Header();
  h.len = 2;
  h.chunk_len = 5;  // more than the record holds and more than the call's length
  Feed(h, "ab");
  h = Header();
  h.cpu = 7;  // no such CPU
  Feed(h, "");
  h = Header();
  h.family = 5;
  Feed(h, "");
  h = Header();
  h.kind = 9;
  Feed(h, "");
  EXPECT_TRUE(sink_.plaintexts.empty());
  EXPECT_TRUE(sink_.owners.empty());
  EXPECT_EQ(StatsByName(assembler_)["ring_bad_records"], 5u);
}

TEST_F(TlsRecordAssemblerTest, SocketOwnerNamesTheProcess) {
  mailtap_tls_rec h = Header(MAILTAP_TLS_KIND_OWNER);
  Feed(h, "");
  ASSERT_EQ(sink_.owners.size(), 1u);
  EXPECT_EQ(sink_.owners[0].pid, 812u);
  EXPECT_EQ(sink_.owners[0].comm, "smtpd");
  EXPECT_EQ(sink_.owners[0].local_p, 25);
  EXPECT_EQ(sink_.owners[0].remote, "10.1.2.3");
  EXPECT_EQ(StatsByName(assembler_)["socket_owners"], 1u);
}

TEST_F(TlsRecordAssemblerTest, WithoutASinkEverythingIsCountedOnly) {
  mailtap_tls_rec h = Header();
  h.len = h.chunk_len = 1;
  const auto r = Record(h, "x");
  assembler_.Accept(r, nullptr);
  EXPECT_EQ(StatsByName(assembler_)["plaintexts"], 1u);
  EXPECT_EQ(StatsByName(assembler_)["plaintext_bytes"], 1u);
}

}  // namespace
}  // namespace mailtap
