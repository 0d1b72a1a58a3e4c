// A CaptureSource for tests: hands out scripted TCP segments (and timeouts) in order, then ends
// its input. Builds the segments of a whole TCP conversation from its byte streams.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/capture_source.h"
#include "mailtap/flow.h"

namespace mailtap::testing {

class FakeCaptureSource : public CaptureSource {
 public:
  // One step of the script: a segment (owning its payload) or a timeout.
  struct Step {
    bool timeout = false;
    TcpSegment segment;
    std::string payload;
  };

  void AddSegment(TcpSegment segment, std::string payload = {}) {
    steps_.push_back(Step{false, segment, std::move(payload)});
  }
  void AddTimeout() { steps_.push_back(Step{true, {}, {}}); }

  CaptureStatus Next(TcpSegment* segment) override {
    ++calls_;
    if (stopped_ || steps_.empty()) return CaptureStatus::kEndOfInput;
    current_ = std::move(steps_.front());
    steps_.pop_front();
    if (current_.timeout) return CaptureStatus::kTimeout;
    *segment = current_.segment;
    segment->payload = {reinterpret_cast<const uint8_t*>(current_.payload.data()),
                        current_.payload.size()};
    segment->payload_wire_len = static_cast<uint32_t>(current_.payload.size());
    return CaptureStatus::kSegment;
  }
  void Stop() override { stopped_ = true; }
  std::string Describe() const override { return "fake capture source"; }
  void VisitStats(StatsVisitor& visitor) const override {
    visitor.Visit("capture", "next_calls", calls_, "Calls of Next().");
  }

  size_t remaining() const { return steps_.size(); }

 private:
  std::deque<Step> steps_;
  Step current_;
  uint64_t calls_ = 0;
  bool stopped_ = false;
};

// Scripts one TCP connection between a client and a server into a FakeCaptureSource: the
// handshake, then lines from either side (each acknowledged by the next segment of the other
// side), then FIN both ways. Timestamps advance by 1 ms per segment from `start_usec`.
class TcpConversation {
 public:
  TcpConversation(FakeCaptureSource& source, IpAddress client, uint16_t client_port,
                  IpAddress server, uint16_t server_port, int64_t start_usec)
      : source_(source),
        client_(client),
        server_(server),
        client_port_(client_port),
        server_port_(server_port),
        usec_(start_usec) {}

  void Handshake() {
    Send(Side::kOriginator, kTcpSyn, "");
    ++client_seq_;
    Send(Side::kResponder, kTcpSyn | kTcpAck, "");
    ++server_seq_;
    Send(Side::kOriginator, kTcpAck, "");
  }
  void Client(std::string_view bytes) { Data(Side::kOriginator, bytes); }
  void Server(std::string_view bytes) { Data(Side::kResponder, bytes); }
  void Close() {
    Send(Side::kOriginator, kTcpFin | kTcpAck, "");
    ++client_seq_;
    Send(Side::kResponder, kTcpFin | kTcpAck, "");
    ++server_seq_;
    Send(Side::kOriginator, kTcpAck, "");
  }

 private:
  void Data(Side side, std::string_view bytes) {
    Send(side, kTcpAck | kTcpPsh, bytes);
    (side == Side::kOriginator ? client_seq_ : server_seq_) += static_cast<uint32_t>(bytes.size());
  }
  void Send(Side side, uint8_t flags, std::string_view payload) {
    const bool orig = side == Side::kOriginator;
    TcpSegment s;
    s.ts = Timestamp{usec_};
    usec_ += 1000;
    s.src = orig ? client_ : server_;
    s.dst = orig ? server_ : client_;
    s.src_port = orig ? client_port_ : server_port_;
    s.dst_port = orig ? server_port_ : client_port_;
    s.seq = orig ? client_seq_ : server_seq_;
    s.ack = (flags & kTcpAck) != 0 ? (orig ? server_seq_ : client_seq_) : 0;
    s.flags = flags;
    s.window = 65535;
    source_.AddSegment(s, std::string(payload));
  }

  FakeCaptureSource& source_;
  IpAddress client_, server_;
  uint16_t client_port_, server_port_;
  int64_t usec_;
  uint32_t client_seq_ = 1000;
  uint32_t server_seq_ = 5000;
};

}  // namespace mailtap::testing
