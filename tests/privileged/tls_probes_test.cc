// The TLS probes against the running kernel and the real Postfix of scripts/postfix-fixture.sh:
// the plaintext smtpd reads and writes through OpenSSL must be exactly what a TLS client on the
// other end sent and received, tied to the right connection and process. Needs root; skips
// loudly otherwise, and fails instead of skipping under CI=true.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "capture/ringbuf_source.h"
#include "live_fixture.h"
#include "tls_client.h"

namespace mailtap {
namespace {

using live_test::Collector;
using live_test::Stats;
using live_test::TlsSmtpClient;

struct RecordedPlaintext {
  TlsPlaintext meta;  // data and process.comm cleared: copied below
  std::string data;
  std::string comm;
};
struct RecordedOwner {
  SocketOwner meta;
  std::string comm;
};

// Called on the collector's thread, read by the test after Quiesce().
class RecordingSink : public TlsPlaintextSink {
 public:
  void OnTlsPlaintext(const TlsPlaintext& p) override {
    std::lock_guard lock(mu_);
    RecordedPlaintext r{p, std::string(p.data.begin(), p.data.end()), std::string(p.process.comm)};
    r.meta.data = {};
    r.meta.process.comm = {};
    plaintexts_.push_back(std::move(r));
  }
  void OnSocketOwner(const SocketOwner& o) override {
    std::lock_guard lock(mu_);
    RecordedOwner r{o, std::string(o.process.comm)};
    r.meta.process.comm = {};
    owners_.push_back(std::move(r));
  }
  std::vector<RecordedPlaintext> plaintexts() {
    std::lock_guard lock(mu_);
    return plaintexts_;
  }
  std::vector<RecordedOwner> owners() {
    std::lock_guard lock(mu_);
    return owners_;
  }

 private:
  std::mutex mu_;
  std::vector<RecordedPlaintext> plaintexts_;
  std::vector<RecordedOwner> owners_;
};

std::unique_ptr<RingbufSource> OpenWithTls(bool tls = true, uint32_t max_copy = 256 * 1024) {
  LiveCaptureConfig config;
  config.interfaces = {"lo"};
  config.ports = PortSet{25, 465, 587, 2525};
  config.tls.enabled = tls;
  config.tls.max_copy = max_copy;
  return RingbufSource::Open(config);
}

IpAddress Loopback() {
  IpAddress a;
  IpAddress::Parse("127.0.0.1", &a);
  return a;
}

std::string RunCommand(const std::string& cmd, int* status = nullptr) {
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) out += buf;
  const int rc = pclose(pipe);
  if (status != nullptr) *status = rc;
  return out;
}

// What a client process sent and received inside TLS, and its local port.
struct PeerTranscript {
  uint16_t local_port = 0;
  std::string sent;
  std::string received;
};

std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

// tls_raw_client.py: Python's ssl module, its own record of the plaintext.
PeerTranscript RunPythonClient(const std::string& args) {
  int status = -1;
  const std::string out = RunCommand(
      "python3 " MAILTAP_SOURCE_DIR "/tests/privileged/tls_raw_client.py " + args, &status);
  EXPECT_EQ(status, 0) << out;
  PeerTranscript t;
  size_t at = 0;
  while (at < out.size()) {
    const size_t eol = std::min(out.find('\n', at), out.size());
    const std::string line = out.substr(at, eol - at);
    at = eol + 1;
    if (line.rfind("local_port ", 0) == 0)
      t.local_port = static_cast<uint16_t>(std::stoi(line.substr(11)));
    if (line.rfind("sent ", 0) == 0) t.sent = Unhex(line.substr(5));
    if (line.rfind("received ", 0) == 0) t.received = Unhex(line.substr(9));
  }
  return t;
}

// swaks prints every line inside TLS as " ~> LINE" (sent) or "<~  LINE" (received), without
// the CRLF (message lines keep their CR); the transcript is those lines with CRLF put back.
PeerTranscript RunSwaks(const std::string& args) {
  int status = -1;
  const std::string out = RunCommand("swaks --server 127.0.0.1 " + args + " 2>&1", &status);
  EXPECT_EQ(status, 0) << out;
  PeerTranscript t;
  size_t at = 0;
  while (at < out.size()) {
    const size_t eol = std::min(out.find('\n', at), out.size());
    const std::string line = out.substr(at, eol - at);
    at = eol + 1;
    const char* eol_bytes = !line.empty() && line.back() == '\r' ? "\n" : "\r\n";
    if (line.rfind(" ~> ", 0) == 0) t.sent += line.substr(4) + eol_bytes;
    if (line.rfind("<~  ", 0) == 0) t.received += line.substr(4) + eol_bytes;
  }
  return t;
}

// The one client connection to `server_port` during the test: swaks does not print its port.
uint16_t OnlyClientPort(const std::vector<RecordedPlaintext>& all, uint16_t server_port) {
  std::set<uint16_t> ports;
  for (const RecordedPlaintext& r : all) {
    if (r.meta.local_p == server_port) ports.insert(r.meta.remote_p);
  }
  EXPECT_EQ(ports.size(), 1u);
  return ports.empty() ? 0 : *ports.begin();
}

// One STARTTLS (or implicit TLS) transaction with DATA; false when Postfix refused something.
bool SendMailInsideTls(TlsSmtpClient& c, const std::string& body) {
  if (!c.StartTls()) return false;
  if (c.Command("EHLO inside.example").rfind("250", 0) != 0) return false;
  if (c.Command("MAIL FROM:<tls-sender@example.org>").rfind("250", 0) != 0) return false;
  if (c.Command("RCPT TO:<test@localhost>").rfind("250", 0) != 0) return false;
  if (c.Command("DATA").rfind("354", 0) != 0) return false;
  c.Send("Subject: inside TLS\r\n\r\n" + body);
  if (c.Command(".").rfind("250", 0) != 0) return false;
  const bool quit = c.Command("QUIT").rfind("221", 0) == 0;
  c.Finish();
  return quit;
}

// smtpd's plaintext of the client's connection, both directions concatenated in order, and
// every record checked for connection, process and completeness.
// The server process: Postfix's smtpd over OpenSSL on 127.0.0.1 unless said otherwise.
struct Server {
  std::string comm = "smtpd";
  TlsLibrary library = TlsLibrary::kOpenSsl;
  IpAddress address = Loopback();
};

void ExpectServerPlaintextEquals(const std::vector<RecordedPlaintext>& all, const PeerTranscript& c,
                                 uint16_t server_port, const Server& server = {}) {
  std::string reads, writes;
  int records = 0;
  uint32_t pid = 0;
  for (const RecordedPlaintext& r : all) {
    if (r.meta.local_p != server_port || r.meta.remote_p != c.local_port) continue;
    ++records;
    EXPECT_EQ(r.comm, server.comm);
    EXPECT_TRUE(r.meta.local_h == server.address) << r.meta.local_h.ToString();
    EXPECT_TRUE(r.meta.remote_h == server.address) << r.meta.remote_h.ToString();
    EXPECT_EQ(r.meta.library, server.library);
    EXPECT_EQ(r.data.size(), r.meta.len);
    EXPECT_NE(r.meta.process.pid, 0u);
    EXPECT_NE(r.meta.process.cgroup_id, 0u);
    if (pid == 0) pid = r.meta.process.pid;
    EXPECT_EQ(r.meta.process.pid, pid) << "one process serves the whole connection";
    (r.meta.op == TlsOp::kRead ? reads : writes) += r.data;
  }
  EXPECT_GT(records, 0) << "no plaintext record for client port " << c.local_port;
  EXPECT_EQ(reads.size(), c.sent.size());
  EXPECT_TRUE(reads == c.sent) << "smtpd read:\n" << reads << "\nclient sent:\n" << c.sent;
  EXPECT_EQ(writes.size(), c.received.size());
  EXPECT_TRUE(writes == c.received) << "smtpd wrote:\n"
                                    << writes << "\nclient received:\n"
                                    << c.received;
}

void ExpectServerPlaintextEqualsClient(const std::vector<RecordedPlaintext>& all,
                                       const TlsSmtpClient& c, uint16_t server_port) {
  ExpectServerPlaintextEquals(all, {c.local_port(), c.tls_sent(), c.tls_received()}, server_port);
}

void ExpectServerOwnerNamed(const std::vector<RecordedOwner>& owners, uint16_t client_port,
                            uint16_t server_port, const Server& server = {}) {
  int found = 0;
  for (const RecordedOwner& o : owners) {
    if (o.meta.local_p != server_port || o.meta.remote_p != client_port) continue;
    ++found;
    EXPECT_EQ(o.comm, server.comm);
    EXPECT_NE(o.meta.process.pid, 0u);
    EXPECT_TRUE(o.meta.local_h == server.address) << o.meta.local_h.ToString();
  }
  EXPECT_EQ(found, 1) << "exactly one owner record for smtpd's end of the connection";
}

void ExpectNoTlsLoss(const RingbufSource& source) {
  auto stats = Stats(source);
  for (const char* name :
       {"kernel_tls_unmatched", "kernel_tls_ringbuf_full", "kernel_tls_truncated",
        "kernel_tls_read_failed", "kernel_tls_inflight_full", "kernel_tls_socket_owners_lost",
        "ring_bad_records", "ring_orphan_chunks", "plaintexts_incomplete"}) {
    EXPECT_EQ(stats[name], 0u) << name;
  }
}

class TlsProbesTest : public testing::Test {
 protected:
  void SetUp() override {
    MAILTAP_SKIP_OR_FAIL(live_test::LiveCaptureUnavailableReason());
    MAILTAP_SKIP_OR_FAIL(live_test::PostfixUnavailableReason());
  }
};

TEST_F(TlsProbesTest, LoadsAndProbesTheSystemOpenSsl) {
  auto source = OpenWithTls();
  auto stats = Stats(*source);
  ASSERT_EQ(stats["enabled"], 1u) << source->Describe();
  EXPECT_GE(stats["libraries_probed"], 1u);
  EXPECT_GE(stats["uprobes"], 4u) << "entry and return for reads and for writes";
  EXPECT_EQ(stats["socket_probes"], 2u) << "one send and one receive hook";
  EXPECT_NE(source->Describe().find("libssl.so.3 (OpenSSL 3, inode "), std::string::npos)
      << source->Describe();
#if defined(__x86_64__)
  // Debian's OpenSSL: probed at the internal functions, one trap per call (tls_entry_points.h).
  EXPECT_NE(source->Describe().find("4 probes: SSL_read/SSL_read_ex at their shared function; "
                                    "SSL_write/SSL_write_ex at their shared function"),
            std::string::npos)
      << source->Describe();
#endif
}

// What `mailtap status` shows (capture_source) and the metrics count: a library file found but
// not probed, with the reason. Here a file named libssl.so.3 that is not an ELF file, in a
// library directory of the configuration.
TEST_F(TlsProbesTest, ALibraryFoundButNotProbedIsListedWithTheReason) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("mailtap-not-probed-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "libssl.so.3") << "not an ELF file\n";
  LiveCaptureConfig config;
  config.interfaces = {"lo"};
  config.ports = PortSet{25};
  config.tls.library_dirs.push_back(dir.string());
  auto source = RingbufSource::Open(config);
  const std::string described = source->Describe();
  const uint64_t not_probed = Stats(*source)["libraries_not_probed"];
  source.reset();
  std::filesystem::remove_all(dir);
  EXPECT_GE(not_probed, 1u);
  EXPECT_NE(described.find("; not probed: " + (dir / "libssl.so.3").string() +
                           " (cannot attach uprobes (SSL_read: "),
            std::string::npos)
      << described;
}

TEST_F(TlsProbesTest, OffLoadsNothingAndSaysSo) {
  auto source = OpenWithTls(false);
  EXPECT_EQ(Stats(*source)["enabled"], 0u);
  EXPECT_NE(source->Describe().find("TLS plaintext off (--tls-plaintext off)"), std::string::npos)
      << source->Describe();
}

TEST_F(TlsProbesTest, StartTlsOnPort25PlaintextEqualsWhatTheClientSentAndReceived) {
  auto source = OpenWithTls();
  RecordingSink sink;
  source->SetTlsPlaintextSink(&sink);
  Collector collector(source.get());
  TlsSmtpClient client(25, TlsSmtpClient::Mode::kStartTls);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(SendMailInsideTls(client, "hello from inside TLS\r\n"));
  collector.Quiesce();
  ExpectServerPlaintextEqualsClient(sink.plaintexts(), client, 25);
  ExpectServerOwnerNamed(sink.owners(), client.local_port(), 25);
  ExpectNoTlsLoss(*source);
}

// Postfix reads and writes through a 4 KiB stream buffer: a 300 KB message is hundreds of
// SSL_read calls, each of which must arrive complete and in order.
TEST_F(TlsProbesTest, LargeMessageOnPort587ArrivesCompleteAndInOrder) {
  auto source = OpenWithTls();
  RecordingSink sink;
  source->SetTlsPlaintextSink(&sink);
  Collector collector(source.get());
  std::string body;
  for (int i = 0; body.size() < 300000; ++i) {
    body += "line " + std::to_string(i) + " abcdefghijklmnopqrstuvwxyz0123456789\r\n";
  }
  TlsSmtpClient client(587, TlsSmtpClient::Mode::kStartTls);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(SendMailInsideTls(client, body));
  collector.Quiesce();
  ExpectServerPlaintextEqualsClient(sink.plaintexts(), client, 587);
  ExpectServerOwnerNamed(sink.owners(), client.local_port(), 587);
  ExpectNoTlsLoss(*source);
}

// A copy limit of 100 bytes: every longer call is delivered cut, with its real length, and
// counted; the bytes that were copied are still the call's first bytes.
TEST_F(TlsProbesTest, CallsLongerThanTheCopyLimitKeepTheirLengthAndAreCounted) {
  auto source = OpenWithTls(true, 100);
  RecordingSink sink;
  source->SetTlsPlaintextSink(&sink);
  Collector collector(source.get());
  TlsSmtpClient client(587, TlsSmtpClient::Mode::kStartTls);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(SendMailInsideTls(client, std::string(20000, 'x') + "\r\n"));
  collector.Quiesce();
  // Each call's record is the first min(len, 100) bytes of the next `len` bytes of its
  // direction of the client's transcript.
  uint64_t cut = 0, cut_bytes = 0;
  size_t at[2] = {0, 0};
  const std::string* stream[2] = {&client.tls_sent(), &client.tls_received()};
  for (const RecordedPlaintext& r : sink.plaintexts()) {
    if (r.meta.local_p != 587 || r.meta.remote_p != client.local_port()) continue;
    const int dir = r.meta.op == TlsOp::kRead ? 0 : 1;
    EXPECT_EQ(r.data, stream[dir]->substr(at[dir], std::min<size_t>(r.meta.len, 100)));
    at[dir] += r.meta.len;
    if (r.meta.len > 100) {
      ++cut;
      cut_bytes += r.meta.len - 100;
    }
  }
  EXPECT_EQ(at[0], client.tls_sent().size());
  EXPECT_EQ(at[1], client.tls_received().size());
  EXPECT_GT(cut, 0u) << "smtpd reads the 20 KB line in calls of more than 100 bytes";
  auto stats = Stats(*source);
  EXPECT_EQ(stats["kernel_tls_truncated"], cut);
  EXPECT_EQ(stats["kernel_tls_truncated_bytes"], cut_bytes);
  EXPECT_EQ(stats["plaintexts_incomplete"], cut);
}

class TlsPeersTest : public TlsProbesTest {
 protected:
  void SetUp() override {
    TlsProbesTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    source_ = OpenWithTls();
    source_->SetTlsPlaintextSink(&sink_);
    collector_ = std::make_unique<Collector>(source_.get());
  }
  // Everything the server read and wrote inside TLS equals the client's transcript.
  void Check(const PeerTranscript& t, uint16_t server_port, const Server& server = {}) {
    collector_->Quiesce();
    const auto all = sink_.plaintexts();
    const uint16_t port = t.local_port != 0 ? t.local_port : OnlyClientPort(all, server_port);
    ExpectServerPlaintextEquals(all, {port, t.sent, t.received}, server_port, server);
    ExpectServerOwnerNamed(sink_.owners(), port, server_port, server);
    ExpectNoTlsLoss(*source_);
  }
  std::unique_ptr<RingbufSource> source_;
  RecordingSink sink_;
  std::unique_ptr<Collector> collector_;
};

TEST_F(TlsPeersTest, PythonImplicitTlsOnPort465WithAuthPlain) {
  const PeerTranscript t = RunPythonClient("465 implicit --auth mailtap-test mailtap-secret");
  ASSERT_NE(t.local_port, 0);
  EXPECT_EQ(t.received.rfind("220 ", 0), 0u) << "the greeting is inside TLS on 465";
  EXPECT_NE(t.received.find("235 2.7.0 Authentication successful"), std::string::npos);
  Check(t, 465);
}

TEST_F(TlsPeersTest, PythonBdatAfterStartTlsOnPort25) {
  const PeerTranscript t = RunPythonClient("25 starttls --bdat");
  ASSERT_NE(t.local_port, 0);
  EXPECT_NE(t.sent.find("BDAT "), std::string::npos);
  Check(t, 25);
}

TEST_F(TlsPeersTest, SwaksStartTlsOnPort25) {
  const PeerTranscript t = RunSwaks(
      "--port 25 --tls --from a@example.org --to test@localhost --body 'hello from swaks'");
  EXPECT_NE(t.sent.find("MAIL FROM:<a@example.org>\r\n"), std::string::npos) << t.sent;
  Check(t, 25);
}

TEST_F(TlsPeersTest, SwaksStartTlsWithAuthLoginAndPipeliningOnPort587) {
  const PeerTranscript t = RunSwaks(
      "--port 587 --tls --auth LOGIN --auth-user mailtap-test --auth-password mailtap-secret "
      "--pipeline --from a@example.org --to test@localhost --body 'hello from swaks'");
  EXPECT_NE(t.received.find("235 2.7.0 Authentication successful"), std::string::npos)
      << t.received;
  Check(t, 587);
}

TEST_F(TlsPeersTest, PythonStartTlsOverIpv6OnPort587) {
  if (RunCommand("ss -ltn").find("[::1]:587 ") == std::string::npos) {
    GTEST_SKIP() << "Postfix does not listen on [::1]:587 (no IPv6 loopback)";
  }
  const PeerTranscript t = RunPythonClient("587 starttls --host ::1");
  ASSERT_NE(t.local_port, 0);
  IpAddress v6;
  ASSERT_TRUE(IpAddress::Parse("::1", &v6));
  Check(t, 587, Server{"smtpd", TlsLibrary::kOpenSsl, v6});
}

// Uprobes belong to the library file: a Postfix restarted after the probes were attached (every
// smtpd a new process) is covered without the agent doing anything.
TEST_F(TlsPeersTest, MailServerRestartedAfterTheProbesIsCovered) {
  const std::string fixture = MAILTAP_SOURCE_DIR "/scripts/postfix-fixture.sh";
  int status = -1;
  RunCommand(fixture + " stop 2>&1", &status);
  ASSERT_EQ(status, 0);
  const std::string out = RunCommand(fixture + " start 2>&1", &status);
  ASSERT_EQ(status, 0) << out;
  const PeerTranscript t = RunPythonClient("25 starttls");
  ASSERT_NE(t.local_port, 0);
  Check(t, 25);
}

// Exim over GnuTLS (scripts/exim-fixture.sh, unpacked from the Debian packages, port 2525).
class EximTest : public TlsPeersTest {
 protected:
  void SetUp() override {
    MAILTAP_SKIP_OR_FAIL(live_test::LiveCaptureUnavailableReason());
    int status = -1;
    const std::string out =
        RunCommand(MAILTAP_SOURCE_DIR "/scripts/exim-fixture.sh start 2>&1", &status);
    MAILTAP_SKIP_OR_FAIL(status == 0 ? "" : "exim fixture: " + out);
    TlsPeersTest::SetUp();
  }
  void TearDown() override { RunCommand(MAILTAP_SOURCE_DIR "/scripts/exim-fixture.sh stop 2>&1"); }
};

TEST_F(EximTest, PythonStartTlsWithGnuTlsOnPort2525) {
  const PeerTranscript t = RunPythonClient("2525 starttls");
  ASSERT_NE(t.local_port, 0);
  Check(t, 2525, Server{"exim4", TlsLibrary::kGnuTls});
}

// After the source is gone no program of ours is loaded and no uprobe or kprobe remains.
TEST_F(TlsProbesTest, NothingStaysAttachedAfterTheSourceIsDestroyed) {
  {
    auto source = OpenWithTls();
    ASSERT_EQ(Stats(*source)["enabled"], 1u);
    EXPECT_NE(RunCommand("bpftool prog show 2>&1").find("name tls__ssl_read"), std::string::npos)
        << "bpftool cannot see the loaded programs: this test would prove nothing";
    EXPECT_NE(RunCommand("bpftool perf list 2>&1").find("libssl.so.3"), std::string::npos);
    EXPECT_NE(RunCommand("bpftool link show 2>&1").find("sock_send_length"), std::string::npos);
  }
  // The kernel frees detached programs after an RCU grace period: give it a few seconds.
  std::string progs;
  for (int i = 0; i < 50; ++i) {
    progs = RunCommand("bpftool prog show 2>&1");
    if (progs.find("name tls__") == std::string::npos) break;
    usleep(100 * 1000);
  }
  EXPECT_EQ(progs.find("name tls__"), std::string::npos) << progs;
  const std::string perf = RunCommand("bpftool perf list 2>&1");
  EXPECT_EQ(perf.find("libssl"), std::string::npos) << perf;
  const std::string links = RunCommand("bpftool link show 2>&1");
  EXPECT_EQ(links.find("sock_send_length"), std::string::npos) << links;
  EXPECT_EQ(links.find("sock_recv_length"), std::string::npos) << links;
  EXPECT_EQ(links.find("tcp_sendmsg"), std::string::npos) << links;
}

}  // namespace
}  // namespace mailtap
