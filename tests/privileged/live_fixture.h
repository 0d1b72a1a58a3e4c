// Helpers for the privileged live-capture tests: a skip-or-fail guard, a recording SMTP client,
// a background reader of RingbufSource, and per-direction reassembly of what it captured.
#pragma once

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "capture/ringbuf_source.h"
#include "mailtap/packet.h"
#include "mailtap/stats.h"

namespace mailtap::live_test {

// Empty when this process can load the eBPF program; otherwise why not (not root, missing
// capability, kernel without BPF ring buffers).
std::string LiveCaptureUnavailableReason();
// Empty when the Postfix fixture runs (starting it if needed); otherwise its error output.
std::string PostfixUnavailableReason();
bool RunningUnderCi();

// Skips the test with a loud message, except under CI=true where the test fails instead: CI must
// never pass by skipping the live tests.
#define MAILTAP_SKIP_OR_FAIL(reason)                                                    \
  do {                                                                                  \
    const std::string mailtap_reason_ = (reason);                                       \
    if (!mailtap_reason_.empty()) {                                                     \
      if (::mailtap::live_test::RunningUnderCi()) FAIL() << mailtap_reason_;            \
      GTEST_SKIP() << "\n*** SKIPPED privileged live-capture test: " << mailtap_reason_ \
                   << "\n*** (run as root on a kernel with BPF ring buffers; CI=true "  \
                      "turns this skip into a failure)";                                \
    }                                                                                   \
  } while (0)

// A blocking SMTP client on loopback that records every byte it sends and receives.
class SmtpClient {
 public:
  // Connects to `address` ("127.0.0.1" or "::1") port `port`; ok() tells whether it worked.
  SmtpClient(const std::string& address, uint16_t port);
  ~SmtpClient();
  bool ok() const { return fd_ >= 0; }
  uint16_t local_port() const { return local_port_; }

  void Send(std::string_view bytes);
  // Reads one complete (possibly multi-line) reply and returns it; "" on error or EOF.
  std::string ReadReply();
  std::string Command(std::string_view line);
  // Half-closes, reads until the server closes (recording any bytes), closes.
  void Finish();

  const std::string& sent() const { return sent_; }
  const std::string& received() const { return received_; }

 private:
  int fd_ = -1;
  uint16_t local_port_ = 0;
  std::string sent_;
  std::string received_;
  std::string unread_;  // received but not yet returned by ReadReply
};

// A captured segment with its payload copied (TcpSegment::payload dies on the next Next()).
struct Captured {
  TcpSegment seg;  // payload span cleared
  std::string payload;
};

// Reads a RingbufSource on a background thread until destroyed.
class Collector {
 public:
  explicit Collector(RingbufSource* source);
  ~Collector();
  // Waits (at most 30 s) until the reader has found the ring empty after this call, then
  // returns everything captured so far.
  std::vector<Captured> Quiesce();

 private:
  void Run();
  RingbufSource* source_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Captured> captured_;
  uint64_t idle_rounds_ = 0;
  bool ended_ = false;
  std::thread thread_;
};

// One direction of one connection, rebuilt from the captured segments.
struct Direction {
  std::string bytes;   // payload in sequence order, from the SYN's ISN + 1
  int syns = 0;        // segments with SYN
  int fins = 0;        // segments with FIN
  int duplicates = 0;  // payload segments seen more than once at the same sequence number
  int holes = 0;       // places where the next byte was not captured
  int truncated = 0;   // segments with payload_wire_len > payload.size()
  int payload_segments = 0;
};
Direction Reassemble(const std::vector<Captured>& all, uint16_t sport, uint16_t dport);

// Every statistic of a StatsSource by name.
std::map<std::string, uint64_t> Stats(const StatsSource& source);

}  // namespace mailtap::live_test
