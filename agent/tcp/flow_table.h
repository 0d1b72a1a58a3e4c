// The TCP flow table: finds the connection of each segment, decides who the originator is,
// runs one Reassembler per direction and ends connections (FIN/RST, idle timeout, eviction,
// end of input), the way Zeek's TCP session adapter does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/intrusive_list.h"
#include "common/pointer_index.h"
#include "common/uid.h"
#include "mailtap/conn_record.h"
#include "mailtap/connections.h"
#include "mailtap/packet.h"
#include "mailtap/port_set.h"
#include "mailtap/sink.h"
#include "mailtap/stats.h"
#include "mailtap/stream_consumer.h"
#include "tcp/reassembler.h"

namespace mailtap {

struct FlowTableConfig {
  // Orientation of connections whose SYN was not seen: the endpoint on one of these ports is the
  // responder (Zeek's likely-server-port heuristic).
  PortSet service_ports = PortSet::Default();
  Timestamp idle_timeout{300'000'000};  // Zeek's tcp_inactivity_timeout, in packet time
  Timestamp close_delay{5'000'000};     // closed connections wait this long for late retransmits
  size_t max_flows = 100'000;  // beyond: evicted (counted), sessions with payload both ways last
  size_t max_buffered_bytes_per_direction = 4 << 20;  // out-of-order data held per direction
  size_t max_buffered_bytes_total = 512 << 20;
  // Delivered but unacknowledged bytes kept only to detect inconsistent retransmissions (a flow
  // may hold up to twice the per-direction figure); when these bounds are hit the check is
  // skipped, no data is lost.
  size_t max_retained_bytes_per_direction = 64 << 10;
  size_t max_retained_bytes_total = 64 << 20;
  uint16_t community_id_seed = 0;  // the Community ID's seed (connections' community_id)
};

// Identifies a connection regardless of direction: the two endpoints in a fixed order.
struct FlowKey {
  IpAddress low_addr;
  IpAddress high_addr;
  uint16_t low_port = 0;
  uint16_t high_port = 0;
  bool operator==(const FlowKey&) const = default;
};

// Seeded so that an outsider choosing addresses and ports cannot easily aim at one bucket.
struct FlowKeyHash {
  uint64_t seed = 0;
  size_t operator()(const FlowKey& key) const;
};

// Semantics (Zeek-like):
// * Originator: the sender of a SYN without ACK; if the first segment is a SYN-ACK, its
//   receiver (a missed SYN is tolerated). Otherwise the connection is partial and the endpoint
//   on a service port is the responder (else the first sender is the originator). A direction
//   whose first segment is not a SYN also makes the connection partial (Connection::partial may
//   therefore turn true after the consumer was created).
// * A SYN without ACK whose sequence number differs from the ISN of its sender's direction
//   starts a new connection on the same 4-tuple (port reuse); the old one is finished first.
// * Per segment: the ACK is applied to the peer's stream first (possibly reporting a gap there),
//   then the payload, then FIN, then RST. Consumer calls for both directions interleave in
//   segment order.
// * A connection whose two streams have ended (FIN/FIN, RST) is finished close_delay later;
//   one without segments for idle_timeout is finished as idle. Both are judged on packet time,
//   at every Process() and ExpireIdle(). Connections end with Finish(), then the consumer is
//   destroyed, then the Connection.
// * A bare RST for an unknown 4-tuple does not create a connection (counted as stray_rst).
// Not thread-safe except VisitStats(), which may run on another thread. Never throws after
// construction.
class FlowTable : public StatsSource {
 public:
  // `factory`, `uids` and `weird_sink` (nullable; receives "weird" events) must outlive the
  // table.
  FlowTable(FlowTableConfig config, StreamConsumerFactory& factory, UidGenerator& uids,
            EventSink* weird_sink);
  ~FlowTable() override;
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // Where each connection's conn.log record goes when it is removed (nullable: none).
  // `sink` must outlive the table.
  void SetConnRecordSink(ConnRecordSink* sink) { conn_records_ = sink; }

  // One captured segment. `segment.payload` is only read during the call.
  void Process(const TcpSegment& segment);
  // Finishes closed connections whose close delay has passed and idle ones, as of `now`.
  void ExpireIdle(Timestamp now);
  // End of input: finishes every connection (holes reported, buffered data delivered; no
  // EndOfStream for streams without FIN or RST), least recently active first.
  void FinishAll(Timestamp now);

  // The tracked connection between these two endpoints (in either orientation) and its consumer
  // (null if the connection is not analysed), or {nullptr, nullptr}. Valid until the next call
  // that may remove connections (Process, ExpireIdle, FinishAll).
  struct Found {
    Connection* conn = nullptr;
    StreamConsumer* consumer = nullptr;
    Timestamp last_seen{};  // packet time of the connection's latest segment
  };
  Found Find(const IpAddress& a, uint16_t a_port, const IpAddress& b, uint16_t b_port);

  // The open connections, ordered by start time.
  std::vector<ConnectionSummary> Summaries() const;
  size_t size() const { return flows_.size(); }
  void VisitStats(StatsVisitor& visitor) const override;  // group "tcp"

 private:
  struct Flow;
  enum class Removal { kClosed, kIdle, kEvicted, kPortReuse, kEndOfInput };

  Flow* Create(const TcpSegment& segment, const FlowKey& key);
  void EvictOne(Timestamp now);
  // The list the flow is on (unestablished_, active_ or closed_).
  IntrusiveList<Flow>& ListOf(const Flow& flow);
  // Moves the flow to active_ once both sides have sent payload.
  void NoteEstablished(Flow& flow, const TcpSegment& segment);
  bool StartsNewConnection(const Flow& flow, const TcpSegment& segment) const;
  void HandleSegment(Flow& flow, const TcpSegment& segment);
  void InitDirection(Flow& flow, Side side, const TcpSegment& segment);
  void Touch(Flow& flow, Timestamp ts);
  // A flow just closed: its consumer may hand over a stand-in (StreamConsumer::Retire).
  void Retire(Flow& flow);
  void Remove(Flow* flow, Timestamp now, Removal why);
  void RaiseRexmitWeird(Flow& flow, Timestamp ts);
  // After a segment: the gaps it revealed and the analysis limits it hit, into the history.
  void NoteAnalysis(Flow& flow, const std::array<uint64_t, 2>& gaps_before);
  void EmitConnRecord(const Flow& flow, Removal why);
  void UpdateActiveGauge();

  FlowTableConfig config_;
  StreamConsumerFactory& factory_;
  UidGenerator& uids_;
  EventSink* weird_sink_;
  ConnRecordSink* conn_records_ = nullptr;
  ReassemblyLimits limits_;
  ReassemblyContext context_;

  // Owns the flows it indexes (freed in Remove and the destructor).
  PointerIndex<Flow, FlowKey, FlowKeyHash> flows_;
  IntrusiveList<Flow> unestablished_;  // open, no payload both ways yet; least recent first
  IntrusiveList<Flow> active_;         // open sessions (payload both ways), least recent first
  IntrusiveList<Flow> closed_;         // both streams ended, earliest closed first

  Counter flows_created_;
  std::atomic<uint64_t> flows_active_{0};
  Counter flows_evicted_;
  Counter established_evicted_;
  Counter flows_expired_idle_;
  Counter segments_;
  Counter payload_bytes_;
  Counter partial_connections_;
  Counter syn_port_reuse_;
  Counter stray_rst_;
  Counter conn_records_written_;
  Counter history_truncated_;
};

}  // namespace mailtap
