// Test helper: a CaptureSource that plays a script of TCP segments and TLS probe reports (TLS
// plaintext, socket owners) in a chosen order, calling the pipeline's TlsPlaintextSink from
// inside Next() as the live source does, plus a builder for the two sides of one connection.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mailtap/capture_source.h"
#include "mailtap/tls_plaintext.h"

namespace mailtap::testing {

inline IpAddress Ip(const std::string& text) {
  IpAddress a;
  IpAddress::Parse(text, &a);
  return a;
}

// One step of the script.
struct PlaintextStep {
  TlsPlaintext record;
  std::string bytes;  // record.data points here once played
  std::string comm;
};
struct OwnerStep {
  SocketOwner owner;
  std::string comm;
};
struct SegmentStep {
  TcpSegment segment;
  std::string payload;
};
using Step = std::variant<SegmentStep, PlaintextStep, OwnerStep>;

class FakeTlsSource : public CaptureSource {
 public:
  explicit FakeTlsSource(bool captures_tls) : captures_tls_(captures_tls) {}
  void Add(Step step) { steps_.push_back(std::move(step)); }

  CaptureStatus Next(TcpSegment* out) override {
    while (!steps_.empty()) {
      current_ = std::move(steps_.front());
      steps_.pop_front();
      if (auto* s = std::get_if<SegmentStep>(&current_)) {
        *out = s->segment;
        out->payload = {reinterpret_cast<const uint8_t*>(s->payload.data()), s->payload.size()};
        return CaptureStatus::kSegment;
      }
      if (sink_ == nullptr) continue;  // no sink: what the probes saw goes nowhere
      if (auto* p = std::get_if<PlaintextStep>(&current_)) {
        p->record.data = {reinterpret_cast<const uint8_t*>(p->bytes.data()), p->bytes.size()};
        p->record.process.comm = p->comm;
        sink_->OnTlsPlaintext(p->record);
      } else if (auto* o = std::get_if<OwnerStep>(&current_)) {
        o->owner.process.comm = o->comm;
        sink_->OnSocketOwner(o->owner);
      }
    }
    return CaptureStatus::kEndOfInput;
  }
  void SetTlsPlaintextSink(TlsPlaintextSink* sink) override { sink_ = sink; }
  bool CapturesTlsPlaintext() const override { return captures_tls_; }
  std::string Describe() const override { return "fake TLS source"; }
  void VisitStats(StatsVisitor& /*visitor*/) const override {}

 private:
  bool captures_tls_;
  std::deque<Step> steps_;
  Step current_;
  TlsPlaintextSink* sink_ = nullptr;
};

// Builds the steps of one TCP connection client -> server, tracking sequence numbers, and the
// plaintext records of the server process (the local side, as on a mail host).
class Conversation {
 public:
  enum Who { kClient, kServer };
  Conversation(std::string client, uint16_t client_port, std::string server, uint16_t server_port)
      : client_(Ip(client)), server_(Ip(server)), cport_(client_port), sport_(server_port) {}

  SegmentStep Syn(int64_t usec) { return Seg(kClient, usec, kTcpSyn, "", 0); }
  SegmentStep SynAck(int64_t usec) { return Seg(kServer, usec, kTcpSyn | kTcpAck, "", 0); }
  SegmentStep Ack(int64_t usec) { return Seg(kClient, usec, kTcpAck, "", 0); }
  SegmentStep Client(int64_t usec, std::string bytes) {
    return Seg(kClient, usec, kTcpPsh | kTcpAck, std::move(bytes), 0);
  }
  SegmentStep Server(int64_t usec, std::string bytes) {
    return Seg(kServer, usec, kTcpPsh | kTcpAck, std::move(bytes), 0);
  }
  SegmentStep ClientFin(int64_t usec) { return Seg(kClient, usec, kTcpFin | kTcpAck, "", 1); }
  SegmentStep ServerFin(int64_t usec) { return Seg(kServer, usec, kTcpFin | kTcpAck, "", 1); }

  // What the server process read (the client sent it) or wrote, through its TLS library.
  // `captured` < bytes.size() makes a record truncated in the kernel.
  PlaintextStep ServerRead(int64_t usec, std::string bytes, size_t captured = SIZE_MAX) {
    return Plain(usec, TlsOp::kRead, std::move(bytes), captured);
  }
  PlaintextStep ServerWrote(int64_t usec, std::string bytes, size_t captured = SIZE_MAX) {
    return Plain(usec, TlsOp::kWrite, std::move(bytes), captured);
  }
  // The same from the client's side, when the local process is the client (an MTA delivering
  // outbound mail).
  PlaintextStep ClientWrote(int64_t usec, std::string bytes) {
    return Plain(usec, TlsOp::kWrite, std::move(bytes), SIZE_MAX, kClient);
  }
  PlaintextStep ClientRead(int64_t usec, std::string bytes) {
    return Plain(usec, TlsOp::kRead, std::move(bytes), SIZE_MAX, kClient);
  }
  OwnerStep ServerOwner(int64_t usec, uint32_t pid, std::string name, uint64_t cgroup) {
    OwnerStep o;
    o.owner.ts = Timestamp{usec};
    o.owner.local_h = server_;
    o.owner.local_p = sport_;
    o.owner.remote_h = client_;
    o.owner.remote_p = cport_;
    o.owner.process.pid = pid;
    o.owner.process.cgroup_id = cgroup;
    o.comm = std::move(name);
    return o;
  }
  ProcessInfo process;  // given to every plaintext record (comm from `comm`)
  std::string comm;

 private:
  SegmentStep Seg(Who who, int64_t usec, uint8_t flags, std::string payload, uint32_t fin_len) {
    SegmentStep s;
    TcpSegment& t = s.segment;
    t.ts = Timestamp{usec};
    const bool c = who == kClient;
    t.src = c ? client_ : server_;
    t.dst = c ? server_ : client_;
    t.src_port = c ? cport_ : sport_;
    t.dst_port = c ? sport_ : cport_;
    uint32_t& mine = c ? cseq_ : sseq_;
    t.seq = mine;
    t.ack = c ? sseq_ : cseq_;
    t.flags = flags;
    t.window = 65535;
    t.payload_wire_len = static_cast<uint32_t>(payload.size());
    mine += static_cast<uint32_t>(payload.size()) + ((flags & kTcpSyn) ? 1 : 0) + fin_len;
    s.payload = std::move(payload);
    return s;
  }
  PlaintextStep Plain(int64_t usec, TlsOp op, std::string bytes, size_t captured,
                      Who local = kServer) {
    PlaintextStep p;
    p.record.ts = Timestamp{usec};
    const bool server_local = local == kServer;
    p.record.local_h = server_local ? server_ : client_;
    p.record.local_p = server_local ? sport_ : cport_;
    p.record.remote_h = server_local ? client_ : server_;
    p.record.remote_p = server_local ? cport_ : sport_;
    p.record.op = op;
    p.record.process = process;
    p.comm = comm;
    p.record.len = static_cast<uint32_t>(bytes.size());
    if (captured < bytes.size()) bytes.resize(captured);
    p.bytes = std::move(bytes);
    return p;
  }

  IpAddress client_, server_;
  uint16_t cport_, sport_;
  uint32_t cseq_ = 1000, sseq_ = 5000;
};

}  // namespace mailtap::testing
