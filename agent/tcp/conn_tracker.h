// Zeek's TCP bookkeeping for conn.log, per connection: each endpoint's state, its size from
// sequence numbers, packet and IP byte counts, and the history letters. Constant time and memory
// per segment (the history is capped). The facts follow Zeek's TCP session adapter and
// base/protocols/conn/main.zeek; see docs/interface.md, "conn.log".
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailtap/flow.h"
#include "mailtap/packet.h"

namespace mailtap {

// Zeek's TCP endpoint states.
enum class EndpointState : uint8_t {
  kInactive,
  kSynSent,
  kSynAckSent,
  kPartial,
  kEstablished,
  kClosed,
  kReset
};

class ConnTracker {
 public:
  // Longest history kept: Zeek repeats S, H, F and R for each new sequence number, which a peer
  // can do without end. Letters beyond are dropped (history_truncated()).
  static constexpr size_t kMaxHistory = 64;

  // `flipped`: the first segment came from the responder (Zeek's '^').
  explicit ConnTracker(bool flipped);

  // One segment sent by `side`, before reassembly; `ts` is its capture time.
  void OnSegment(Side side, const TcpSegment& segment);
  // `count` content gaps were reported in `side`'s stream while the last segment was handled.
  void OnGaps(Side side, uint64_t count);
  // An analyzer limit cut the analysis of `side` (history 'X'/'x', once per side).
  void NoteAnalysisPartial(Side side);

  // conn.log's conn_state, from the endpoint states and the history (Zeek's conn_state()).
  std::string ConnState() const;
  // Payload bytes `side` sent, from its sequence numbers (Zeek's endpoint size).
  uint64_t Size(Side side) const;
  // From the first segment to the last one before both sides had closed.
  Timestamp Duration() const { return Timestamp{last_time_.usec - start_time_.usec}; }
  const std::string& history() const { return history_; }
  bool history_truncated() const { return history_truncated_; }
  uint64_t packets(Side side) const { return End(side).packets; }
  // Sum of the IP total lengths; false when a segment came without one (live capture).
  bool ip_bytes_known(Side side) const { return End(side).ip_bytes_known; }
  uint64_t ip_bytes(Side side) const { return End(side).ip_bytes; }
  EndpointState state(Side side) const { return End(side).state; }

 private:
  // A letter logged at the 1st, 10th, 100th... occurrence (Zeek's scaled history entries).
  struct Scaled {
    uint32_t count = 0;
    uint32_t threshold = 1;
  };
  struct Endpoint {
    EndpointState state = EndpointState::kInactive;
    EndpointState prev_state = EndpointState::kInactive;
    uint32_t start_seq = 0;  // the ISN, or the first sequence number - 1 without a SYN
    uint32_t last_seq = 0;   // highest sequence number one past a segment
    int64_t last_rel = 0;    // last_seq relative to start_seq, across wraps
    uint32_t ack_seq = 0;    // highest acknowledgement the peer sent for this side
    int64_t ack_rel = 0;
    uint32_t fin_count = 0;
    bool did_close = false;
    uint8_t history_seen = 0;  // HistoryBit: letters already logged once
    int64_t last_syn_rel = 0, last_fin_rel = 0, last_rst_rel = 0;
    Scaled retransmits, gaps, zero_windows;
    uint64_t packets = 0;
    uint64_t ip_bytes = 0;
    bool ip_bytes_known = true;

    void SetState(EndpointState next);
    void InitSequence(uint32_t start, uint32_t last);
  };
  enum HistoryBit : uint8_t {
    kSynBit = 1,
    kFinBit = 2,
    kRstBit = 4,
    kAckBit = 8,
    kDataBit = 16,
    kFinRstBit = 32,
    kMultiFlagBit = 64,
    kPartialBit = 128,
  };

  Endpoint& End(Side side) { return ends_[static_cast<size_t>(side)]; }
  const Endpoint& End(Side side) const { return ends_[static_cast<size_t>(side)]; }
  void InitEndpoint(Endpoint& e, const TcpSegment& s, uint32_t one_past);
  void UpdateHistory(Side side, const TcpSegment& s, int64_t rel_seq, uint32_t len);
  void UpdateAck(Endpoint& peer, const TcpSegment& s);
  void UpdateLastSeq(Side side, const TcpSegment& s, uint32_t one_past, uint32_t len);
  void UpdateStates(Side side, const TcpSegment& s, uint32_t len);
  void UpdateInactive(Side side, const TcpSegment& s, uint32_t len, bool* close);
  void UpdateEstablished(Endpoint& e, Endpoint& peer, const TcpSegment& s, bool* close);
  // Logs `letter` (upper case for the originator) unless already logged for the side; returns
  // whether it had been.
  bool CheckHistory(Side side, HistoryBit bit, char letter);
  void AddHistory(Side side, char letter);
  void AddScaled(Side side, Scaled& counter, char letter);

  std::array<Endpoint, 2> ends_;
  std::string history_;
  bool history_truncated_ = false;
  bool started_ = false;
  Timestamp start_time_{};
  Timestamp last_time_{};
};

}  // namespace mailtap
