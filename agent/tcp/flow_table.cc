#include "tcp/flow_table.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <tuple>

#include "common/community_id.h"
#include "mailtap/events.h"
#include "tcp/conn_tracker.h"

namespace mailtap {
namespace {

uint64_t Mix(uint64_t h) {  // the splitmix64 finaliser
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
  return h ^ (h >> 31);
}

uint64_t HashAddress(uint64_t h, const IpAddress& addr) {
  uint64_t words[2];
  std::memcpy(words, addr.bytes().data(), sizeof(words));
  h = Mix(h ^ words[0]);
  return Mix(h ^ words[1]);
}

FlowKey MakeKey(const TcpSegment& s) {
  bool src_low = std::tie(s.src, s.src_port) < std::tie(s.dst, s.dst_port);
  if (src_low) return FlowKey{s.src, s.dst, s.src_port, s.dst_port};
  return FlowKey{s.dst, s.src, s.dst_port, s.src_port};
}

bool IsPureSyn(const TcpSegment& s) { return s.Has(kTcpSyn) && !s.Has(kTcpAck); }

uint32_t WireLength(const TcpSegment& s) {
  return std::max<uint32_t>(s.payload_wire_len, static_cast<uint32_t>(s.payload.size()));
}

const char* TcpState(const Reassembler& orig, const Reassembler& resp, bool partial) {
  if (orig.ended() && resp.ended()) return "closed";
  if (orig.ended() || resp.ended() || orig.fin_seen() || resp.fin_seen()) return "closing";
  if (partial) return "partial";
  return resp.initialized() ? "established" : "syn_sent";
}

}  // namespace

size_t FlowKeyHash::operator()(const FlowKey& key) const {
  uint64_t h = HashAddress(seed, key.low_addr);
  h = HashAddress(h, key.high_addr);
  return Mix(h ^ (uint64_t{key.low_port} << 16 | key.high_port));
}

struct FlowTable::Flow {
  Flow(const FlowKey& flow_key, Connection connection, bool flipped, StreamConsumerFactory& factory,
       const ReassemblyLimits& limits, ReassemblyContext& context)
      : key(flow_key),
        tracker(flipped),
        conn(std::move(connection)),
        consumer(factory.Create(conn)),
        orig(Side::kOriginator, consumer.get(), limits, context),
        resp(Side::kResponder, consumer.get(), limits, context) {}

  Reassembler& dir(Side s) { return s == Side::kOriginator ? orig : resp; }
  const Reassembler& dir(Side s) const { return s == Side::kOriginator ? orig : resp; }
  Side SideOf(const TcpSegment& s) const {
    bool from_orig = s.src == conn.id.orig_h && s.src_port == conn.id.orig_p;
    return from_orig ? Side::kOriginator : Side::kResponder;
  }
  bool Closed() const { return orig.ended() && resp.ended(); }

  FlowKey key;
  ConnTracker tracker;  // conn.log's view of the segments
  // Destruction order matters: the reassemblers, then the consumer, then the connection.
  Connection conn;
  std::unique_ptr<StreamConsumer> consumer;
  Reassembler orig;
  Reassembler resp;

  Timestamp last_seen;
  Timestamp closed_at;
  bool in_closed_list = false;
  // Payload seen from both sides: a session, not a scan or a SYN flood (conntrack's "assured").
  bool established = false;
  uint8_t sides_with_payload = 0;  // bit 0: originator, bit 1: responder
  bool rexmit_weird_raised = false;
  Flow* prev = nullptr;  // links in unestablished_, active_ or closed_
  Flow* next = nullptr;
};

FlowTable::FlowTable(FlowTableConfig config, StreamConsumerFactory& factory, UidGenerator& uids,
                     EventSink* weird_sink)
    : config_(std::move(config)),
      factory_(factory),
      uids_(uids),
      weird_sink_(weird_sink),
      limits_{config_.max_buffered_bytes_per_direction, config_.max_retained_bytes_per_direction},
      context_(config_.max_buffered_bytes_total, config_.max_retained_bytes_total),
      // ASLR makes the table's address a cheap per-run secret; iteration order never reaches
      // the output (lists, not the index, order every walk).
      flows_(FlowKeyHash{Mix(reinterpret_cast<uintptr_t>(this) ^ 0x6d61696c746170ULL)}) {}

FlowTable::~FlowTable() {
  flows_.ForEach([](Flow* flow) { delete flow; });
}

void FlowTable::Process(const TcpSegment& segment) {
  segments_.Add();
  payload_bytes_.Add(WireLength(segment));
  ExpireIdle(segment.ts);
  FlowKey key = MakeKey(segment);
  Flow* flow = flows_.Find(key);
  if (flow != nullptr && StartsNewConnection(*flow, segment)) {
    syn_port_reuse_.Add();
    Remove(flow, segment.ts, Removal::kPortReuse);
    flow = nullptr;
  }
  if (flow == nullptr) {
    // A reset for a connection we do not know (typically one already finished) starts nothing.
    if (segment.Has(kTcpRst) && WireLength(segment) == 0) {
      stray_rst_.Add();
      return;
    }
    flow = Create(segment, key);
  }
  Touch(*flow, segment.ts);
  flow->tracker.OnSegment(flow->SideOf(segment), segment);
  const std::array<uint64_t, 2> gaps_before{flow->orig.gap_events(), flow->resp.gap_events()};
  HandleSegment(*flow, segment);
  NoteAnalysis(*flow, gaps_before);
  NoteEstablished(*flow, segment);
  if (flow->Closed() && !flow->in_closed_list) {
    ListOf(*flow).Remove(flow);
    closed_.PushBack(flow);
    flow->in_closed_list = true;
    flow->closed_at = segment.ts;
    Retire(*flow);
  }
}

void FlowTable::Retire(Flow& flow) {
  if (!flow.consumer) return;
  std::unique_ptr<StreamConsumer> stand_in = flow.consumer->Retire();
  if (!stand_in) return;
  flow.consumer = std::move(stand_in);  // the analyzer goes now, not after the close delay
  flow.orig.Rebind(flow.consumer.get());
  flow.resp.Rebind(flow.consumer.get());
}

bool FlowTable::StartsNewConnection(const Flow& flow, const TcpSegment& segment) const {
  if (!IsPureSyn(segment)) return false;
  // A SYN after the connection ended (FIN/FIN or RST) begins another one, even with the ISN of
  // the ended one: after a reset the client retries its SYN unchanged (port reuse against a
  // peer's TIME_WAIT on loopback does exactly this).
  if (flow.Closed()) return true;
  const Reassembler& sender = flow.dir(flow.SideOf(segment));
  // A SYN from a direction that has not spoken yet is a simultaneous open.
  if (!sender.initialized()) return false;
  return segment.seq != sender.isn();  // the same ISN: a retransmitted SYN
}

FlowTable::Flow* FlowTable::Create(const TcpSegment& segment, const FlowKey& key) {
  while (flows_.size() >= config_.max_flows && !flows_.empty()) EvictOne(segment.ts);
  bool sender_is_orig = true;
  bool partial = false;
  if (segment.Has(kTcpSyn)) {
    sender_is_orig = !segment.Has(kTcpAck);  // SYN-ACK first: the SYN was missed
  } else {
    partial = true;
    sender_is_orig = config_.service_ports.Contains(segment.dst_port) ||
                     !config_.service_ports.Contains(segment.src_port);
  }
  Connection conn;
  conn.uid = uids_.Next();
  conn.start = segment.ts;
  conn.partial = partial;
  conn.id = sender_is_orig ? ConnId{segment.src, segment.src_port, segment.dst, segment.dst_port}
                           : ConnId{segment.dst, segment.dst_port, segment.src, segment.src_port};
  conn.community_id = CommunityId(segment.src, segment.src_port, segment.dst, segment.dst_port,
                                  kIpProtoTcp, config_.community_id_seed);
  auto* flow =
      new Flow(key, std::move(conn), /*flipped=*/!sender_is_orig, factory_, limits_, context_);
  // The SYN-ACK acknowledges the originator's ISN + 1.
  if (segment.Has(kTcpSyn) && segment.Has(kTcpAck)) flow->orig.Init(segment.ack - 1);
  flows_.Insert(flow);
  unestablished_.PushBack(flow);
  flow->last_seen = segment.ts;
  flows_created_.Add();
  if (partial) partial_connections_.Add();
  UpdateActiveGauge();
  return flow;
}

// Like conntrack's early drop: a connection that is already over goes first (no loss, not
// counted), then the least recently active one that never carried payload both ways (a flood of
// SYNs or scans cannot push out a mail session), and only then an established session, which is
// a loss: counted, and reported on the connection with a weird.
void FlowTable::EvictOne(Timestamp now) {
  if (!closed_.empty()) {
    Remove(closed_.front(), now, Removal::kClosed);
  } else if (!unestablished_.empty()) {
    Remove(unestablished_.front(), now, Removal::kEvicted);
  } else if (!active_.empty()) {
    Flow* victim = active_.front();
    established_evicted_.Add();
    if (weird_sink_ != nullptr) {
      weird_sink_->OnEvent(MakeWeird(now, &victim->conn, "flow_table_full_eviction", "", "TCP"));
    }
    Remove(victim, now, Removal::kEvicted);
  }
}

IntrusiveList<FlowTable::Flow>& FlowTable::ListOf(const Flow& flow) {
  if (flow.in_closed_list) return closed_;
  return flow.established ? active_ : unestablished_;
}

void FlowTable::NoteEstablished(Flow& flow, const TcpSegment& segment) {
  if (flow.established || WireLength(segment) == 0) return;
  flow.sides_with_payload |=
      static_cast<uint8_t>(flow.SideOf(segment) == Side::kOriginator ? 1 : 2);
  if (flow.sides_with_payload != 3 || flow.in_closed_list) return;
  unestablished_.Remove(&flow);
  flow.established = true;
  active_.PushBack(&flow);
}

void FlowTable::HandleSegment(Flow& flow, const TcpSegment& segment) {
  Side side = flow.SideOf(segment);
  Reassembler& sender = flow.dir(side);
  Reassembler& peer = flow.dir(Other(side));
  Timestamp ts = segment.ts;
  if (!sender.initialized()) InitDirection(flow, side, segment);
  // ACK before payload: a gap the ACK reveals comes before this segment's bytes (Zeek order;
  // smtp-bdat-gap.pcap's 250 reply carries the ACK that reveals the hole).
  if (segment.Has(kTcpAck) && peer.initialized()) peer.AckReceived(ts, segment.ack);
  // A SYN takes one sequence number; data carried by it starts after.
  uint32_t data_seq = segment.seq + (segment.Has(kTcpSyn) ? 1U : 0U);
  uint32_t wire_len = WireLength(segment);
  if (wire_len > 0 &&
      sender.AddData(ts, data_seq, segment.payload, wire_len) == Overlap::kInconsistent) {
    RaiseRexmitWeird(flow, ts);
  }
  if (segment.Has(kTcpFin)) sender.AddFin(ts, data_seq + wire_len);
  if (segment.Has(kTcpRst)) {
    flow.orig.Close(ts, StreamEnd::kReset);
    flow.resp.Close(ts, StreamEnd::kReset);
  }
}

void FlowTable::InitDirection(Flow& flow, Side side, const TcpSegment& segment) {
  if (segment.Has(kTcpSyn)) {
    flow.dir(side).Init(segment.seq);
    return;
  }
  // Handshake not seen for this direction: the first byte it sends is number 1.
  flow.dir(side).Init(segment.seq - 1);
  if (!flow.conn.partial) {
    flow.conn.partial = true;
    partial_connections_.Add();
  }
}

void FlowTable::Touch(Flow& flow, Timestamp ts) {
  flow.last_seen = std::max(flow.last_seen, ts);
  if (!flow.in_closed_list) ListOf(flow).MoveToBack(&flow);
}

void FlowTable::ExpireIdle(Timestamp now) {
  while (!closed_.empty() && HasElapsed(closed_.front()->closed_at, now, config_.close_delay)) {
    Remove(closed_.front(), now, Removal::kClosed);
  }
  for (IntrusiveList<Flow>* list : {&unestablished_, &active_}) {
    while (!list->empty() && HasElapsed(list->front()->last_seen, now, config_.idle_timeout)) {
      Remove(list->front(), now, Removal::kIdle);
    }
  }
}

void FlowTable::FinishAll(Timestamp now) {
  while (!closed_.empty()) Remove(closed_.front(), now, Removal::kEndOfInput);
  while (!unestablished_.empty()) Remove(unestablished_.front(), now, Removal::kEndOfInput);
  while (!active_.empty()) Remove(active_.front(), now, Removal::kEndOfInput);
}

void FlowTable::Remove(Flow* flow, Timestamp now, Removal why) {
  if (why == Removal::kIdle) flows_expired_idle_.Add();
  if (why == Removal::kEvicted) flows_evicted_.Add();
  flow->orig.Close(now, StreamEnd::kRemoval);
  flow->resp.Close(now, StreamEnd::kRemoval);
  if (flow->consumer) flow->consumer->Finish(now);
  NoteAnalysis(*flow, {flow->orig.gap_events(), flow->resp.gap_events()});  // late 'X' marks
  EmitConnRecord(*flow, why);
  ListOf(*flow).Remove(flow);
  flows_.Erase(flow);
  delete flow;  // destroys the consumer, then the connection
  UpdateActiveGauge();
}

void FlowTable::NoteAnalysis(Flow& flow, const std::array<uint64_t, 2>& gaps_before) {
  flow.tracker.OnGaps(Side::kOriginator, flow.orig.gap_events() - gaps_before[0]);
  flow.tracker.OnGaps(Side::kResponder, flow.resp.gap_events() - gaps_before[1]);
  for (Side side : {Side::kOriginator, Side::kResponder}) {
    if (flow.conn.analysis.partial[static_cast<size_t>(side)]) {
      flow.tracker.NoteAnalysisPartial(side);
    }
  }
}

namespace {

std::string_view RemovalName(int why) {
  static constexpr std::array<std::string_view, 5> kNames{"closed", "idle", "evicted", "port_reuse",
                                                          "end_of_input"};
  return kNames[static_cast<size_t>(why)];
}

std::optional<std::string> ServiceOf(const ConnAnalysis& a) {
  if (a.smtp && a.ssl) return "smtp,ssl";
  if (a.smtp) return "smtp";
  if (a.ssl) return "ssl";
  return std::nullopt;
}

}  // namespace

// Zeek's set_conn() at connection_state_remove: after the analyzers' own last words.
void FlowTable::EmitConnRecord(const Flow& flow, Removal why) {
  const ConnTracker& t = flow.tracker;
  if (t.history_truncated()) history_truncated_.Add();
  if (conn_records_ == nullptr) return;
  ConnRecord r;
  r.ts = flow.conn.start;
  r.uid = flow.conn.uid;
  r.id = flow.conn.id;
  r.service = ServiceOf(flow.conn.analysis);
  if (t.Duration().usec > 0) {
    r.duration = t.Duration();
    r.orig_bytes = t.Size(Side::kOriginator);
    r.resp_bytes = t.Size(Side::kResponder);
  }
  r.conn_state = t.ConnState();
  r.missed_bytes = flow.orig.gap_bytes() + flow.resp.gap_bytes();
  if (!t.history().empty()) r.history = t.history();
  r.orig_pkts = t.packets(Side::kOriginator);
  r.resp_pkts = t.packets(Side::kResponder);
  if (t.ip_bytes_known(Side::kOriginator)) r.orig_ip_bytes = t.ip_bytes(Side::kOriginator);
  if (t.ip_bytes_known(Side::kResponder)) r.resp_ip_bytes = t.ip_bytes(Side::kResponder);
  r.community_id = flow.conn.community_id;
  r.end_reason = std::string(RemovalName(static_cast<int>(why)));
  r.proc = flow.conn.process;
  conn_records_->OnConnRecord(r);
  conn_records_written_.Add();
}

void FlowTable::RaiseRexmitWeird(Flow& flow, Timestamp ts) {
  if (flow.rexmit_weird_raised || weird_sink_ == nullptr) return;
  flow.rexmit_weird_raised = true;
  weird_sink_->OnEvent(MakeWeird(ts, &flow.conn, "rexmit_inconsistency", "", "TCP"));
}

FlowTable::Found FlowTable::Find(const IpAddress& a, uint16_t a_port, const IpAddress& b,
                                 uint16_t b_port) {
  const bool a_low = std::tie(a, a_port) < std::tie(b, b_port);
  const FlowKey key = a_low ? FlowKey{a, b, a_port, b_port} : FlowKey{b, a, b_port, a_port};
  Flow* flow = flows_.Find(key);
  if (flow == nullptr) return {};
  return {&flow->conn, flow->consumer.get(), flow->last_seen};
}

std::vector<ConnectionSummary> FlowTable::Summaries() const {
  std::vector<ConnectionSummary> out;
  out.reserve(flows_.size());
  for (const auto* list : {&unestablished_, &active_, &closed_}) {
    list->ForEach([&out](const Flow* flow) {
      ConnectionSummary& s = out.emplace_back();
      s.uid = flow->conn.uid;
      s.community_id = flow->conn.community_id;
      s.id = flow->conn.id;
      s.start = flow->conn.start;
      s.last_seen = flow->last_seen;
      s.orig_bytes = flow->orig.delivered_bytes();
      s.resp_bytes = flow->resp.delivered_bytes();
      s.gap_bytes = flow->orig.gap_bytes() + flow->resp.gap_bytes();
      s.tcp_state = TcpState(flow->orig, flow->resp, flow->conn.partial);
      if (flow->consumer) s.smtp_state = std::string(flow->consumer->StateName());
    });
  }
  std::sort(out.begin(), out.end(), [](const ConnectionSummary& a, const ConnectionSummary& b) {
    return std::tie(a.start, a.uid) < std::tie(b.start, b.uid);
  });
  return out;
}

void FlowTable::VisitStats(StatsVisitor& v) const {
  constexpr std::string_view kGroup = "tcp";
  v.Visit(kGroup, "flows_created", flows_created_.Get(), "TCP connections created");
  v.Visit(kGroup, "flows_active", flows_active_.load(std::memory_order_relaxed),
          "TCP connections tracked now", StatKind::kGauge);
  v.Visit(kGroup, "flows_evicted", flows_evicted_.Get(),
          "open connections finished early because the flow table was full");
  v.Visit(kGroup, "established_flows_evicted", established_evicted_.Get(),
          "of these, sessions with payload both ways (weird flow_table_full_eviction)",
          StatKind::kCounter, Loss{"flow_table_full", LossUnit::kConnections});
  v.Visit(kGroup, "flows_expired_idle", flows_expired_idle_.Get(),
          "connections finished after the inactivity timeout");
  v.Visit(kGroup, "segments", segments_.Get(), "TCP segments processed");
  v.Visit(kGroup, "payload_bytes", payload_bytes_.Get(), "TCP payload bytes on the wire");
  v.Visit(kGroup, "retransmitted_bytes", context_.retransmitted_bytes.Get(),
          "payload bytes seen again after they were delivered or buffered (normal)");
  v.Visit(kGroup, "out_of_order_segments", context_.out_of_order_segments.Get(),
          "segments whose bytes had to wait for earlier ones");
  v.Visit(kGroup, "gap_events", context_.gap_events.Get(), "content gaps reported");
  // Every stream byte the analyzer never got is a gap byte, counted as lost once: under
  // reassembly_buffer when it was dropped here, else under reassembly_gap (never captured).
  const uint64_t gap_bytes = context_.gap_bytes.Get();
  const uint64_t dropped = context_.gap_bytes_dropped.Get();
  v.Visit(kGroup, "gap_bytes", gap_bytes,
          "stream bytes that never reached the analyzer, reported as content gaps");
  v.Visit(kGroup, "gap_bytes_not_captured", gap_bytes - dropped,
          "of the gap bytes, those the capture never carried", StatKind::kCounter,
          Loss{"reassembly_gap", LossUnit::kBytes});
  v.Visit(kGroup, "gap_bytes_buffer_dropped", dropped,
          "of the gap bytes, those dropped at a reassembly buffer bound", StatKind::kCounter,
          Loss{"reassembly_buffer", LossUnit::kBytes});
  v.Visit(kGroup, "reassembly_buffer_overflow_bytes", context_.overflow_bytes.Get(),
          "out-of-order bytes dropped at a buffer bound (lost only if never sent again: then "
          "they are gap bytes)");
  v.Visit(kGroup, "truncated_payload_bytes", context_.truncated_payload_bytes.Get(),
          "payload bytes cut by the capture (reported as gaps)");
  v.Visit(kGroup, "rexmit_inconsistency", context_.rexmit_inconsistency.Get(),
          "retransmissions that overlapped earlier bytes with different bytes");
  v.Visit(kGroup, "partial_connections", partial_connections_.Get(),
          "connections whose handshake was not seen");
  v.Visit(kGroup, "syn_port_reuse", syn_port_reuse_.Get(),
          "new SYNs that replaced an existing connection on the same 4-tuple");
  v.Visit(kGroup, "buffered_bytes", context_.buffered_bytes(),
          "out-of-order bytes held now, with per-block overhead", StatKind::kGauge);
  v.Visit(kGroup, "retained_bytes", context_.retained_bytes(),
          "memory held for delivered, unacknowledged bytes kept to check retransmissions",
          StatKind::kGauge);
  v.Visit(kGroup, "seq_out_of_window", context_.seq_out_of_window.Get(),
          "segments too far from the expected sequence number, dropped");
  v.Visit(kGroup, "late_data_bytes", context_.late_data_bytes.Get(),
          "payload bytes beyond a FIN or after a reset, ignored");
  v.Visit(kGroup, "stray_rst", stray_rst_.Get(), "resets for no tracked connection, ignored");
  v.Visit(kGroup, "conn_records", conn_records_written_.Get(), "conn.log records handed on");
  v.Visit(kGroup, "history_truncated", history_truncated_.Get(),
          "connections whose conn.log history was cut at its length limit");
}

void FlowTable::UpdateActiveGauge() {
  flows_active_.store(flows_.size(), std::memory_order_relaxed);
}

}  // namespace mailtap
