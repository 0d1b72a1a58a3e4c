#include "tcp/conn_tracker.h"

#include <algorithm>
#include <cctype>

namespace mailtap {
namespace {

// Sequence numbers further apart than this in a SYN or RST are not trusted (Zeek's
// TOO_LARGE_SEQ_DELTA).
constexpr int32_t kTooLargeSeqDelta = 1 << 20;

int32_t SeqDelta(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b); }

bool IsInactive(EndpointState s) {
  return s == EndpointState::kInactive || s == EndpointState::kPartial;
}

// Zeek's /^\^?S[^HAFGIQ]*R.*/ on the history: the originator's SYN, then its RST, with nothing
// from the responder and no handshake, ACK, FIN, gap or odd flags in between.
bool SynThenReset(std::string_view h) {
  if (!h.empty() && h.front() == '^') h.remove_prefix(1);
  if (h.empty() || h.front() != 'S') return false;
  for (char c : h.substr(1)) {
    if (c == 'R') return true;
    if (std::string_view("HAFGIQ").find(c) != std::string_view::npos) return false;
  }
  return false;
}

}  // namespace

ConnTracker::ConnTracker(bool flipped) {
  if (flipped) history_.push_back('^');
}

void ConnTracker::Endpoint::SetState(EndpointState next) {
  if (next == state) return;
  prev_state = state;
  state = next;
}

void ConnTracker::Endpoint::InitSequence(uint32_t start, uint32_t last) {
  start_seq = start;
  ack_seq = start;
  ack_rel = 0;
  last_seq = last;
  last_rel = SeqDelta(last, start);
}

// Zeek's order per segment: sequence set-up, history, window, time, ACK, last sequence number,
// then the state machine.
void ConnTracker::OnSegment(Side side, const TcpSegment& s) {
  Endpoint& e = End(side);
  Endpoint& peer = End(Other(side));
  if (!started_) {
    started_ = true;
    start_time_ = last_time_ = s.ts;
  }
  const uint32_t len =
      std::max<uint32_t>(s.payload_wire_len, static_cast<uint32_t>(s.payload.size()));
  // SYN and FIN take a sequence number each; a RST's payload is not part of the stream.
  uint32_t seg_len = s.Has(kTcpRst) ? 0 : len;
  seg_len += (s.Has(kTcpSyn) ? 1 : 0) + (s.Has(kTcpFin) ? 1 : 0);
  const uint32_t one_past = s.seq + seg_len;
  InitEndpoint(e, s, one_past);
  const int64_t rel_seq = e.last_rel + SeqDelta(s.seq, e.last_seq);
  UpdateHistory(side, s, rel_seq, len);
  // A zero window is of interest unless it comes with or after a reset, or after the peer's FIN.
  if (s.window == 0 && !s.Has(kTcpRst) && peer.state != EndpointState::kClosed &&
      e.state != EndpointState::kReset) {
    AddScaled(side, e.zero_windows, 'W');
  }
  // The duration leaves out what comes after both sides closed (e.g. the final ACK).
  if (!End(Side::kOriginator).did_close || !End(Side::kResponder).did_close) {
    last_time_ = std::max(last_time_, s.ts);
  }
  if (s.Has(kTcpFin)) ++e.fin_count;
  if (s.Has(kTcpAck)) UpdateAck(peer, s);
  UpdateLastSeq(side, s, one_past, len);
  UpdateStates(side, s, len);
  ++e.packets;
  if (s.ip_len == 0) e.ip_bytes_known = false;
  e.ip_bytes += s.ip_len;
}

void ConnTracker::InitEndpoint(Endpoint& e, const TcpSegment& s, uint32_t one_past) {
  const bool syn = s.Has(kTcpSyn);
  switch (e.state) {
    case EndpointState::kInactive:
      // Without a SYN, numbered as if one had come just before (the first byte is 1).
      if (syn) {
        e.InitSequence(s.seq, one_past);
      } else {
        e.InitSequence(s.seq - 1, s.seq);
      }
      break;
    case EndpointState::kSynSent:
    case EndpointState::kSynAckSent:
    case EndpointState::kEstablished:
    case EndpointState::kPartial:
      // A SYN with another ISN: the connection is taken to start (again) here.
      if (syn && s.seq != e.start_seq) e.InitSequence(s.seq, one_past);
      break;
    case EndpointState::kReset:
      if (syn && e.prev_state == EndpointState::kInactive) e.InitSequence(s.seq, one_past);
      break;
    case EndpointState::kClosed:
      break;
  }
}

void ConnTracker::UpdateHistory(Side side, const TcpSegment& s, int64_t rel_seq, uint32_t len) {
  Endpoint& e = End(side);
  const int control =
      (s.Has(kTcpSyn) ? 1 : 0) + (s.Has(kTcpFin) ? 1 : 0) + (s.Has(kTcpRst) ? 1 : 0);
  if (control > 1) {
    if (s.Has(kTcpFin) && s.Has(kTcpRst)) {
      CheckHistory(side, kFinRstBit, 'I');
    } else {
      CheckHistory(side, kMultiFlagBit, 'Q');
    }
    return;
  }
  if (control == 0) {
    if (len > 0) {
      CheckHistory(side, kDataBit, 'D');
    } else if (s.Has(kTcpAck)) {
      CheckHistory(side, kAckBit, 'A');
    }
    return;
  }
  // S, H, F and R again each time their sequence number differs from the previous one's.
  if (s.Has(kTcpSyn)) {
    char letter = s.Has(kTcpAck) ? 'H' : 'S';
    if (CheckHistory(side, kSynBit, letter) && rel_seq != e.last_syn_rel) {
      AddHistory(side, letter);
    }
    e.last_syn_rel = rel_seq;
  } else if (s.Has(kTcpFin)) {
    // A FIN's number is the one after its data.
    int64_t fin_rel = rel_seq + len;
    if (CheckHistory(side, kFinBit, 'F') && fin_rel != e.last_fin_rel) AddHistory(side, 'F');
    e.last_fin_rel = fin_rel;
  } else {
    if (CheckHistory(side, kRstBit, 'R') && rel_seq != e.last_rst_rel) AddHistory(side, 'R');
    e.last_rst_rel = rel_seq;
  }
}

// The ACK moves the peer's acknowledged edge; a peer not yet heard from is numbered from it.
void ConnTracker::UpdateAck(Endpoint& peer, const TcpSegment& s) {
  if (peer.state == EndpointState::kInactive) {
    peer.InitSequence(s.ack - 1, s.ack - 1);
    return;
  }
  if (s.Has(kTcpRst)) return;  // a reset's ACK is not trusted
  int32_t delta = SeqDelta(s.ack, peer.ack_seq);
  if (s.ack == 0 && delta > kTooLargeSeqDelta) return;  // a broken ACK, not a wrap onto 0
  if (delta <= 0) return;
  peer.ack_seq = s.ack;
  peer.ack_rel += delta;
}

void ConnTracker::UpdateLastSeq(Side side, const TcpSegment& s, uint32_t one_past, uint32_t len) {
  Endpoint& e = End(side);
  int32_t delta = SeqDelta(one_past, e.last_seq);
  bool advance = false;
  if ((s.Has(kTcpSyn) || s.Has(kTcpRst)) &&
      (delta > kTooLargeSeqDelta || delta < -kTooLargeSeqDelta)) {
    advance = false;
  } else if (s.Has(kTcpFin) && e.last_rel == 1) {
    advance = true;  // only the SYN and the FIN seen: trust the FIN even "backwards"
  } else if (e.state == EndpointState::kReset) {
    advance = false;
  } else if (delta > 0) {
    advance = true;
  } else if (len > 0) {
    AddScaled(side, e.retransmits, 'T');
  }
  if (!advance) return;
  e.last_rel += delta;
  e.last_seq = one_past;
}

void ConnTracker::UpdateStates(Side side, const TcpSegment& s, uint32_t len) {
  Endpoint& e = End(side);
  Endpoint& peer = End(Other(side));
  bool close = false;
  switch (e.state) {
    case EndpointState::kInactive:
      UpdateInactive(side, s, len, &close);
      break;
    case EndpointState::kSynSent:
    case EndpointState::kSynAckSent:
      if (s.Has(kTcpFin)) {
        e.SetState(EndpointState::kClosed);
        close = true;
      }
      if (s.Has(kTcpRst)) {
        e.SetState(EndpointState::kReset);
        close = true;
      }
      break;
    case EndpointState::kEstablished:
    case EndpointState::kPartial:
      UpdateEstablished(e, peer, s, &close);
      break;
    case EndpointState::kClosed:
      // A RST after our FIN counts unless the peer has closed too (then the exchange was done).
      if (s.Has(kTcpRst) && peer.state != EndpointState::kClosed) {
        e.SetState(EndpointState::kReset);
        close = true;
      }
      break;
    case EndpointState::kReset:
      break;
  }
  if (close) e.did_close = true;
}

void ConnTracker::UpdateInactive(Side side, const TcpSegment& s, uint32_t len, bool* close) {
  Endpoint& e = End(side);
  Endpoint& peer = End(Other(side));
  const bool is_orig = IsOrig(side);
  if (s.Has(kTcpSyn)) {
    if (is_orig) {
      e.SetState(s.Has(kTcpAck) ? EndpointState::kSynAckSent : EndpointState::kSynSent);
    } else {
      if (peer.state == EndpointState::kSynSent) peer.SetState(EndpointState::kEstablished);
      e.SetState(EndpointState::kEstablished);
    }
  }
  if (s.Has(kTcpFin)) {
    e.SetState(EndpointState::kClosed);
    *close = true;
  }
  if (s.Has(kTcpRst)) {
    e.SetState(EndpointState::kReset);
    *close = true;
  }
  if (e.state != EndpointState::kInactive) return;
  // No control flag: an early ACK of the SYN from the responder keeps it inactive; an ACK after
  // a SYN-ACK (the SYN missed) establishes; anything else is a partial connection.
  if (!is_orig && len == 0 && End(Side::kOriginator).state == EndpointState::kSynSent) return;
  if (s.Has(kTcpAck) && peer.state == EndpointState::kEstablished) {
    e.SetState(EndpointState::kEstablished);
  } else {
    e.SetState(EndpointState::kPartial);
  }
}

void ConnTracker::UpdateEstablished(Endpoint& e, Endpoint& peer, const TcpSegment& s, bool* close) {
  if (s.Has(kTcpSyn) && e.state == EndpointState::kPartial &&
      peer.state == EndpointState::kInactive && !s.Has(kTcpAck)) {
    e.SetState(EndpointState::kSynSent);
  }
  if (s.Has(kTcpFin) && !s.Has(kTcpRst)) {
    e.SetState(EndpointState::kClosed);
    // The peer's FIN then RST: a normal close after all.
    if (peer.state == EndpointState::kReset && peer.prev_state == EndpointState::kClosed) {
      peer.SetState(EndpointState::kClosed);
    }
    *close = true;
  }
  if (s.Has(kTcpRst)) {
    e.SetState(EndpointState::kReset);
    *close = true;
  }
}

void ConnTracker::OnGaps(Side side, uint64_t count) {
  // Gaps revealed once the side has closed are not reliable (Zeek leaves them out too).
  EndpointState s = End(side).state;
  if (s == EndpointState::kClosed || s == EndpointState::kReset) return;
  for (uint64_t i = 0; i < count; ++i) AddScaled(side, End(side).gaps, 'G');
}

void ConnTracker::NoteAnalysisPartial(Side side) { CheckHistory(side, kPartialBit, 'X'); }

bool ConnTracker::CheckHistory(Side side, HistoryBit bit, char letter) {
  Endpoint& e = End(side);
  if ((e.history_seen & bit) != 0) return true;
  e.history_seen |= bit;
  AddHistory(side, letter);
  return false;
}

void ConnTracker::AddHistory(Side side, char letter) {
  if (history_.size() >= kMaxHistory) {
    history_truncated_ = true;
    return;
  }
  history_.push_back(
      IsOrig(side) ? letter : static_cast<char>(std::tolower(static_cast<unsigned char>(letter))));
}

void ConnTracker::AddScaled(Side side, Scaled& counter, char letter) {
  if (++counter.count != counter.threshold) return;
  AddHistory(side, letter);
  counter.threshold = counter.threshold > UINT32_MAX / 10 ? UINT32_MAX : counter.threshold * 10;
}

uint64_t ConnTracker::Size(Side side) const {
  const Endpoint& e = End(side);
  const Endpoint& peer = End(Other(side));
  // A SYN answered by nothing but this side's own RST: its numbers say nothing about data.
  if (e.prev_state == EndpointState::kSynSent && e.state == EndpointState::kReset &&
      peer.state == EndpointState::kInactive && e.ack_rel > 1) {
    return 0;
  }
  int64_t size = std::max(e.last_rel, e.ack_rel);
  if (size <= 0) return 0;
  --size;                                   // the SYN's sequence number
  if (e.fin_count > 0 && size > 0) --size;  // the FIN's
  return static_cast<uint64_t>(size);
}

std::string ConnTracker::ConnState() const {
  const EndpointState os = End(Side::kOriginator).state;
  const EndpointState rs = End(Side::kResponder).state;
  const bool o_inactive = IsInactive(os);
  const bool r_inactive = IsInactive(rs);
  using S = EndpointState;
  if (rs == S::kReset) {
    if (os == S::kSynSent || os == S::kSynAckSent ||
        (os == S::kReset && Size(Side::kOriginator) == 0 && Size(Side::kResponder) == 0)) {
      return "REJ";
    }
    return o_inactive ? "RSTRH" : "RSTR";
  }
  if (os == S::kReset) {
    if (!r_inactive) return "RSTO";
    return SynThenReset(history_) ? "RSTOS0" : "OTH";
  }
  if (rs == S::kClosed && os == S::kClosed) return "SF";
  if (os == S::kClosed) return r_inactive ? "SH" : "S2";
  if (rs == S::kClosed) return o_inactive ? "SHR" : "S3";
  if (os == S::kSynSent && rs == S::kInactive) return "S0";
  if (os == S::kEstablished && rs == S::kEstablished) return "S1";
  return "OTH";
}

}  // namespace mailtap
