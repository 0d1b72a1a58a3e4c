// Loads the real eBPF program into the running kernel and watches real SMTP sessions with a real
// Postfix (scripts/postfix-fixture.sh) on loopback. Needs root; skips loudly otherwise, and
// fails instead of skipping under CI=true.
#include "capture/ringbuf_source.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include "live_fixture.h"

namespace mailtap {
namespace {

using live_test::Captured;
using live_test::Collector;
using live_test::Direction;
using live_test::Reassemble;
using live_test::SmtpClient;
using live_test::Stats;

// `interfaces` empty: every interface.
std::unique_ptr<RingbufSource> OpenOnLoopback(size_t ring_size = size_t{16} << 20,
                                              std::vector<std::string> interfaces = {"lo"}) {
  LiveCaptureConfig config;
  config.interfaces = std::move(interfaces);
  config.ports = PortSet{25, 587};
  config.ring_size = ring_size;
  return RingbufSource::Open(config);
}

bool HasIpv6Loopback() {
  std::ifstream in("/proc/net/if_inet6");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("00000000000000000000000000000001 ", 0) == 0) return true;
  }
  return false;
}

// A body of `size` bytes in 78-byte lines (no line starts with a dot: no dot-stuffing needed).
std::string Body(size_t size) {
  std::string body;
  for (int i = 0; body.size() < size; ++i) {
    char line[96];
    std::snprintf(line, sizeof line,
                  "line %07d abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n",
                  i);
    body += line;
  }
  return body;
}

// One SMTP transaction with DATA; returns false when Postfix did not accept the mail.
bool SendWithData(SmtpClient& c, const std::string& body) {
  if (c.ReadReply().rfind("220", 0) != 0) return false;
  if (c.Command("EHLO client.example").rfind("250", 0) != 0) return false;
  if (c.Command("MAIL FROM:<sender@example.org>").rfind("250", 0) != 0) return false;
  if (c.Command("RCPT TO:<test@localhost>").rfind("250", 0) != 0) return false;
  if (c.Command("DATA").rfind("354", 0) != 0) return false;
  c.Send("Subject: mailtap live test\r\n\r\n" + body);
  if (c.Command(".").rfind("250", 0) != 0) return false;
  bool quit = c.Command("QUIT").rfind("221", 0) == 0;
  c.Finish();
  return quit;
}

void ExpectNoLoss(const RingbufSource& source) {
  auto stats = Stats(source);
  EXPECT_EQ(stats["kernel_ringbuf_full"], 0u);
  EXPECT_EQ(stats["kernel_ringbuf_lost_packets"], 0u);
  EXPECT_EQ(stats["kernel_truncated"], 0u);
  EXPECT_EQ(stats["kernel_load_failed"], 0u);
  EXPECT_EQ(stats["ringbuf_orphan_chunks"], 0u);
  EXPECT_EQ(stats["ringbuf_bad_records"], 0u);
  EXPECT_EQ(stats["segments_truncated"], 0u);
  // Bound to lo, the socket asks the kernel not to pass transmitted packets at all.
  EXPECT_EQ(stats["kernel_loopback_tx_skipped"], 0u);
}

// Both directions of the client's connection are exactly what the client sent and received,
// each segment seen once, with one SYN and one FIN each way.
void ExpectTranscriptCaptured(const std::vector<Captured>& all, const SmtpClient& c,
                              uint16_t server_port) {
  Direction up = Reassemble(all, c.local_port(), server_port);
  Direction down = Reassemble(all, server_port, c.local_port());
  for (const Direction* d : {&up, &down}) {
    EXPECT_EQ(d->syns, 1);
    EXPECT_EQ(d->fins, 1);
    EXPECT_EQ(d->duplicates, 0);
    EXPECT_EQ(d->holes, 0);
    EXPECT_EQ(d->truncated, 0);
  }
  EXPECT_EQ(up.bytes.size(), c.sent().size());
  EXPECT_TRUE(up.bytes == c.sent()) << "client -> server bytes differ";
  EXPECT_EQ(down.bytes.size(), c.received().size());
  EXPECT_TRUE(down.bytes == c.received()) << "server -> client bytes differ";
}

class LiveCaptureTest : public testing::Test {
 protected:
  void SetUp() override {
    MAILTAP_SKIP_OR_FAIL(live_test::LiveCaptureUnavailableReason());
    MAILTAP_SKIP_OR_FAIL(live_test::PostfixUnavailableReason());
  }
};

TEST(LiveCaptureOpenTest, UnknownInterfaceIsNamedInTheError) {
  LiveCaptureConfig config;
  config.interfaces = {"lo", "mailtap-nope0"};
  try {
    RingbufSource::Open(config);
    FAIL() << "Open accepted an unknown interface";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown interface 'mailtap-nope0'"), std::string::npos)
        << e.what();
  }
}

TEST(LiveCaptureOpenTest, RingSizeThatIsNotAPowerOfTwoIsRejected) {
  LiveCaptureConfig config;
  config.ring_size = 3 * 4096;
  try {
    RingbufSource::Open(config);
    FAIL() << "Open accepted ring size 12288";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("--ring-size 12288"), std::string::npos) << e.what();
  }
}

TEST(LiveCaptureOpenTest, ProgramLoadsAttachesAndDescribesItsInterfaces) {
  MAILTAP_SKIP_OR_FAIL(live_test::LiveCaptureUnavailableReason());
  auto source = OpenOnLoopback();
  EXPECT_EQ(source->Describe().rfind("live: eBPF ring buffer on lo; TLS plaintext ", 0), 0u)
      << source->Describe();
  auto stats = Stats(*source);
  EXPECT_EQ(stats.count("kernel_packets_seen"), 1u);
  EXPECT_EQ(stats["ring_size"], size_t{16} << 20);
  source->Stop();
  TcpSegment seg;
  CaptureStatus status;
  while ((status = source->Next(&seg)) == CaptureStatus::kSegment) {
  }
  EXPECT_EQ(status, CaptureStatus::kEndOfInput);
}

TEST_F(LiveCaptureTest, PlainMailIsCapturedByteForByteInBothDirections) {
  auto source = OpenOnLoopback();
  Collector collector(source.get());
  SmtpClient client("127.0.0.1", 25);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(SendWithData(client, Body(2000)));
  ExpectTranscriptCaptured(collector.Quiesce(), client, 25);
  ExpectNoLoss(*source);
}

// On every interface the socket must see transmitted packets (other interfaces need them), so
// the program itself discards loopback's transmit copy: still each segment once.
TEST_F(LiveCaptureTest, OnEveryInterfaceLoopbackIsStillCapturedOnce) {
  auto source = OpenOnLoopback(size_t{16} << 20, {});
  Collector collector(source.get());
  SmtpClient client("127.0.0.1", 25);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(SendWithData(client, Body(2000)));
  ExpectTranscriptCaptured(collector.Quiesce(), client, 25);
  auto stats = Stats(*source);
  EXPECT_GT(stats["kernel_loopback_tx_skipped"], 0u);
  EXPECT_EQ(stats["kernel_ringbuf_lost_packets"], 0u);
  EXPECT_EQ(stats["segments_truncated"], 0u);
}

TEST_F(LiveCaptureTest, MailOverOneMebibyteIsCapturedCompletely) {
  auto source = OpenOnLoopback();
  Collector collector(source.get());
  SmtpClient client("127.0.0.1", 25);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(SendWithData(client, Body((size_t{1} << 20) + 300000)));
  ExpectTranscriptCaptured(collector.Quiesce(), client, 25);
  ExpectNoLoss(*source);
}

TEST_F(LiveCaptureTest, BdatSessionIsCapturedByteForByte) {
  auto source = OpenOnLoopback();
  Collector collector(source.get());
  SmtpClient c("127.0.0.1", 25);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c.ReadReply().substr(0, 3), "220");
  std::string ehlo = c.Command("EHLO client.example");
  ASSERT_NE(ehlo.find("CHUNKING"), std::string::npos) << ehlo;
  ASSERT_EQ(c.Command("MAIL FROM:<sender@example.org>").substr(0, 3), "250");
  ASSERT_EQ(c.Command("RCPT TO:<test@localhost>").substr(0, 3), "250");
  const std::string chunk1 = "Subject: bdat\r\n\r\nfirst chunk, no terminating dot\r\n.\r\n";
  const std::string chunk2 = Body(70000);
  c.Send("BDAT " + std::to_string(chunk1.size()) + "\r\n" + chunk1);
  ASSERT_EQ(c.ReadReply().substr(0, 3), "250");
  c.Send("BDAT " + std::to_string(chunk2.size()) + " LAST\r\n" + chunk2);
  ASSERT_EQ(c.ReadReply().substr(0, 3), "250");
  ASSERT_EQ(c.Command("QUIT").substr(0, 3), "221");
  c.Finish();
  ExpectTranscriptCaptured(collector.Quiesce(), c, 25);
  ExpectNoLoss(*source);
}

TEST_F(LiveCaptureTest, PipelinedSubmissionOverIpv6IsCaptured) {
  if (!HasIpv6Loopback()) GTEST_SKIP() << "no ::1 on lo";
  auto source = OpenOnLoopback();
  Collector collector(source.get());
  SmtpClient c("::1", 25);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c.ReadReply().substr(0, 3), "220");
  ASSERT_NE(c.Command("EHLO client.example").find("PIPELINING"), std::string::npos);
  c.Send("MAIL FROM:<a@example.org>\r\nRCPT TO:<test@localhost>\r\nDATA\r\n");
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(c.ReadReply().empty());
  c.Send(Body(5000) + ".\r\nQUIT\r\n");
  ASSERT_EQ(c.ReadReply().substr(0, 3), "250");
  ASSERT_EQ(c.ReadReply().substr(0, 3), "221");
  c.Finish();
  auto all = collector.Quiesce();
  ExpectTranscriptCaptured(all, c, 25);
  for (const Captured& cap : all) {
    if (cap.seg.src_port == c.local_port()) {
      EXPECT_FALSE(cap.seg.src.IsV4());
      EXPECT_EQ(cap.seg.src.ToString(), "::1");
    }
  }
  ExpectNoLoss(*source);
}

// swaks is a client we do not control: check what it did on the wire is all there, once.
TEST_F(LiveCaptureTest, SwaksStarttlsSubmissionOnPort587IsCapturedOnce) {
  auto source = OpenOnLoopback();
  Collector collector(source.get());
  int rc = std::system(
      "swaks --server 127.0.0.1 --port 587 --tls --from a@example.org --to test@localhost "
      "--body 'hello from swaks' >/dev/null 2>&1");
  ASSERT_EQ(rc, 0) << "swaks failed";
  auto all = collector.Quiesce();
  uint16_t client_port = 0;
  for (const Captured& cap : all) {
    if (cap.seg.dst_port == 587 && cap.seg.Has(kTcpSyn)) client_port = cap.seg.src_port;
  }
  ASSERT_NE(client_port, 0) << "no SYN to port 587 captured";
  Direction up = Reassemble(all, client_port, 587);
  Direction down = Reassemble(all, 587, client_port);
  EXPECT_EQ(up.bytes.rfind("EHLO ", 0), 0u);
  EXPECT_NE(up.bytes.find("\r\nSTARTTLS\r\n"), std::string::npos);
  EXPECT_EQ(down.bytes.rfind("220 ", 0), 0u);
  EXPECT_NE(down.bytes.find("220 2.0.0 Ready to start TLS\r\n"), std::string::npos);
  EXPECT_GT(up.bytes.size(), up.bytes.find("STARTTLS") + 200);  // the TLS handshake follows
  for (const Direction* d : {&up, &down}) {
    EXPECT_EQ(d->syns, 1);
    EXPECT_EQ(d->duplicates, 0);
    EXPECT_EQ(d->holes, 0);
  }
  ExpectNoLoss(*source);
}

TEST_F(LiveCaptureTest, SegmentsOnOtherPortsAreCountedNotCaptured) {
  auto source = OpenOnLoopback();
  Collector collector(source.get());
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  const uint16_t port = ntohs(addr.sin_port);
  SmtpClient client("127.0.0.1", port);
  ASSERT_TRUE(client.ok());
  client.Send("EHLO not-smtp-port\r\n");
  close(listener);
  auto all = collector.Quiesce();
  for (const Captured& cap : all) {
    EXPECT_NE(cap.seg.src_port, port);
    EXPECT_NE(cap.seg.dst_port, port);
  }
  EXPECT_GT(Stats(*source)["kernel_port_mismatch"], 0u);
}

// A 4 KiB ring cannot hold a 64 KiB loopback segment: the loss must be counted and announced.
TEST_F(LiveCaptureTest, TinyRingCountsDropsAndReportsGapsInsteadOfSilence) {
  auto source = OpenOnLoopback(4096);
  Collector collector(source.get());
  SmtpClient client("127.0.0.1", 25);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(SendWithData(client, Body(size_t{1} << 20)));
  auto all = collector.Quiesce();
  auto stats = Stats(*source);
  EXPECT_GT(stats["kernel_ringbuf_full"], 0u);
  EXPECT_GT(stats["kernel_ringbuf_full_bytes"], 0u);
  Direction up = Reassemble(all, client.local_port(), 25);
  EXPECT_GT(up.truncated, 0) << "no segment announced its missing payload";
  EXPECT_NE(up.bytes, client.sent());
  EXPECT_EQ(stats["segments_truncated"] + stats["kernel_ringbuf_lost_packets"] > 0, true);
}

TEST_F(LiveCaptureTest, StopDrainsWhatIsInTheRingThenEnds) {
  auto source = OpenOnLoopback();
  SmtpClient client("127.0.0.1", 25);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(SendWithData(client, Body(3000)));
  source->Stop();
  std::vector<Captured> all;
  TcpSegment seg;
  CaptureStatus status;
  while ((status = source->Next(&seg)) == CaptureStatus::kSegment) {
    all.push_back(Captured{seg, std::string(seg.payload.begin(), seg.payload.end())});
  }
  EXPECT_EQ(status, CaptureStatus::kEndOfInput);
  Direction up = Reassemble(all, client.local_port(), 25);
  EXPECT_TRUE(up.bytes == client.sent());
}

}  // namespace
}  // namespace mailtap
