// Arbitrary TCP segment sequences in both directions of two SMTP connections: the flow table,
// the reassembler (overlaps, holes, retransmissions, FIN/RST anywhere, captures cut short), the
// SMTP analyzer on two interleaved streams with gaps, smtp.log and the JSON writers.
//
// Input: records of [op, seq_delta_hi, seq_delta_lo, length, cut, payload...]:
//   op bit 0: direction (0 = client to server); bit 1: second connection; bits 2-6: the TCP
//   flags FIN, SYN, RST, PSH, ACK; bit 7: advance the clock by a minute (idle expiry).
//   seq_delta: signed 16-bit offset of the segment from where that direction's stream is now;
//   cut: bytes of the segment the capture lost (payload_wire_len - length).
// An input of odd length runs with shares of memory of 2 KiB (fuzz_support.h RunPipeline).
#include <cstdint>
#include <span>
#include <vector>

#include "common/log.h"
#include "fuzz_support.h"

namespace mailtap::fuzz {
namespace {

class ScriptSource : public CaptureSource {
 public:
  explicit ScriptSource(std::span<const uint8_t> script) : script_(script) {}

  CaptureStatus Next(TcpSegment* segment) override {
    if (script_.size() < 5) return CaptureStatus::kEndOfInput;
    const uint8_t op = script_[0];
    const auto delta = static_cast<int16_t>((script_[1] << 8) | script_[2]);
    const size_t length = std::min<size_t>(script_[3], script_.size() - 5);
    const uint8_t cut = script_[4];
    payload_.assign(script_.begin() + 5, script_.begin() + 5 + static_cast<ptrdiff_t>(length));
    script_ = script_.subspan(5 + length);
    Fill(op, delta, cut, segment);
    return CaptureStatus::kSegment;
  }
  std::string Describe() const override { return "fuzz script"; }
  void VisitStats(StatsVisitor&) const override {}

 private:
  void Fill(uint8_t op, int16_t delta, uint8_t cut, TcpSegment* s) {
    const bool to_client = op & 1;
    const int conn = (op >> 1) & 1;
    uint32_t& next = next_seq_[conn][to_client ? 1 : 0];
    ts_ += (op & 0x80) ? 60'000'000 : 1000;
    *s = TcpSegment{};
    s->ts = Timestamp{ts_};
    IpAddress client, server;
    IpAddress::Parse(conn ? "10.0.0.3" : "10.0.0.1", &client);
    IpAddress::Parse("10.0.0.2", &server);
    const uint16_t client_port = conn ? 40001 : 40000;
    s->src = to_client ? server : client;
    s->dst = to_client ? client : server;
    s->src_port = to_client ? 25 : client_port;
    s->dst_port = to_client ? client_port : 25;
    s->flags = static_cast<uint8_t>((op >> 2) & 0x1f);
    s->seq = next + static_cast<uint32_t>(static_cast<int32_t>(delta));
    s->ack = next_seq_[conn][to_client ? 0 : 1];
    s->window = 65535;
    s->payload = payload_;
    s->payload_wire_len = static_cast<uint32_t>(payload_.size()) + cut;
    const uint32_t consumed = s->payload_wire_len + ((s->flags & 0x03) ? 1 : 0);
    if (delta >= 0) next = s->seq + consumed;
  }

  std::span<const uint8_t> script_;
  std::vector<uint8_t> payload_;
  int64_t ts_ = 1'700'000'000'000'000;
  uint32_t next_seq_[2][2] = {{1000, 50000}, {7000, 90000}};
};

}  // namespace
}  // namespace mailtap::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mailtap;
  fuzz::QuietLogs();
  fuzz::ScriptSource source({data, size});
  fuzz::RunPipeline(source, {}, /*tiny_budgets=*/size % 2 == 1);
  return 0;
}
