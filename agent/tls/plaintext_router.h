// Joins what the TLS probes report (plaintext read or written through a TLS library, socket
// owners) to the connections of the flow table, in order with the TCP stream.
//
// The plaintext arrives on another ring buffer than the TCP segments, so the two are not ordered:
// the EHLO a server read after STARTTLS may be read from its ring before the 220 reply's segment,
// or even before the SYN. Per connection, this router
//  * holds plaintext back until the connection's analyzer takes it (StreamConsumer::
//    AcceptsTlsPlaintext: after the 220 reply to STARTTLS, or from the start on an implicit-TLS
//    port), then hands it over in arrival order, right after the segment that made the switch;
//  * keeps plaintext and owners for a 4-tuple the flow table does not know yet in a small pending
//    table, retried when a segment of that 4-tuple arrives, dropped (counted as unmatched) after
//    a short window;
//  * when no plaintext comes for a session that went to TLS, says why: a counter always, and
//    while TLS capture is on (live, probes attached) also the weird
//    `smtp_tls_plaintext_unavailable` on the connection, whose addl is the reason.
// Every buffer is bounded; whatever does not fit is counted by cause, never dropped silently.
// Not thread-safe except VisitStats(): the pipeline thread only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <set>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "mailtap/events.h"
#include "mailtap/sink.h"
#include "mailtap/stats.h"
#include "mailtap/tls_plaintext.h"
#include "tcp/flow_table.h"

namespace mailtap {

struct TlsJoinConfig {
  // Plaintext for a 4-tuple the flow table does not know waits this long (packet time) for the
  // connection's first segment, then counts as unmatched.
  Timestamp pending_window{2'000'000};
  size_t max_pending_records = 4096;
  size_t max_pending_bytes = 4 << 20;
  // Plaintext of a connection whose analyzer has not switched to TLS yet.
  size_t max_held_bytes_per_connection = 256 << 10;
  size_t max_held_bytes_total = 64 << 20;
  // With TLS capture on: how long after the 220 reply to STARTTLS the first plaintext may take
  // before the connection is reported as analysed no further (packet time).
  Timestamp plaintext_wait{5'000'000};
};

class TlsPlaintextRouter : public TlsPlaintextSink, public EventSink, public StatsSource {
 public:
  // `flows` and `notices` (receives the weirds; the pipeline's event bus) must outlive the router.
  TlsPlaintextRouter(TlsJoinConfig config, FlowTable& flows, EventSink& notices);
  ~TlsPlaintextRouter() override;
  TlsPlaintextRouter(const TlsPlaintextRouter&) = delete;
  TlsPlaintextRouter& operator=(const TlsPlaintextRouter&) = delete;

  // Whether the source can deliver plaintext at all (CaptureSource::CapturesTlsPlaintext).
  void SetCaptureActive(bool active) { capture_active_ = active; }

  // From the capture source (inside its Next()).
  void OnTlsPlaintext(const TlsPlaintext& plaintext) override;
  void OnSocketOwner(const SocketOwner& owner) override;

  // From the event bus: smtp_starttls marks a connection whose held plaintext may go once the
  // current segment is done; the removal notice ends what is kept for a connection.
  void OnEvent(const Event& event) override;
  bool Wants(EventId id) const override { return id == EventId::kSmtpStartTls; }
  void OnConnectionRemoved(const Connection& conn, Timestamp ts) override;

  // After the flow table processed `segment`: hands held plaintext to the connections that
  // switched to TLS meanwhile, and retries pending records of the segment's 4-tuple.
  void AfterSegment(const TcpSegment& segment);
  // Packet time passed: pending records and waits for plaintext expire.
  void Expire(Timestamp now);

  void VisitStats(StatsVisitor& visitor) const override;  // group "tls_plaintext"

 private:
  struct Chunk {
    Timestamp ts;
    Side side;
    std::vector<uint8_t> bytes;
    uint64_t missing = 0;  // truncated in the kernel: a gap after `bytes`
  };
  struct ConnTls;
  struct Pending;

  FlowKey KeyOf(const IpAddress& a, uint16_t a_port, const IpAddress& b, uint16_t b_port) const;
  void AddPending(Pending record);
  void RetryPending(const FlowKey& key);
  void RoutePlaintext(const TlsPlaintext& plaintext);
  void Route(FlowTable::Found found, ConnTls& st, Chunk chunk, const TlsPlaintext& plaintext);
  void Hold(ConnTls& st, Chunk chunk);
  void ReleaseHeld(const Connection* conn);
  void DropHeld(ConnTls& st);
  // Drops what `st` holds and all its plaintext to come; `arriving` bytes were refused with it.
  void Abandon(ConnTls& st, size_t arriving);
  void SetHeldBytes(ConnTls& st, size_t bytes);
  void NoPlaintext(const Connection& conn, ConnTls& st, Timestamp ts, std::string_view reason);
  bool RearmWait(const Connection& conn, ConnTls& st);
  void AttachOwner(Connection& conn, const IpAddress& local_h, uint16_t local_p,
                   const ProcessInfo& process);

  TlsJoinConfig config_;
  FlowTable& flows_;
  EventSink& notices_;
  bool capture_active_ = false;
  Timestamp now_{};

  std::unordered_map<const Connection*, ConnTls> conns_;
  // Connections named by their client's process while both ends are local (AttachOwner).
  std::unordered_set<const Connection*> named_by_client_;
  std::vector<const Connection*> ready_;  // switched to TLS during the current segment
  struct Wait {
    Timestamp deadline;
    const Connection* conn;
  };
  std::deque<Wait> waits_;  // deadlines in order
  size_t held_bytes_ = 0;
  // Connections holding plaintext, by how much: the largest gives up first when the total is
  // exhausted.
  std::set<std::pair<size_t, ConnTls*>> holders_;

  std::deque<Pending> pending_;  // arrival order
  // Records per 4-tuple in pending_.
  std::unordered_map<FlowKey, size_t, FlowKeyHash> pending_keys_;
  size_t pending_bytes_ = 0;

  Counter records_;
  Counter bytes_;
  Counter delivered_bytes_;
  Counter truncated_bytes_;
  Counter not_analysed_records_;
  Counter other_end_records_;
  Counter unmatched_records_;
  Counter unmatched_bytes_;
  Counter pending_full_records_;
  Counter held_full_bytes_;
  Counter held_connection_bound_hits_;
  Counter held_total_bound_hits_;
  Counter held_at_close_bytes_;
  Counter owners_;
  Counter owners_unmatched_;
  Counter stopped_capture_off_;
  Counter stopped_no_plaintext_;
  Counter stopped_buffer_full_;
  std::atomic<uint64_t> held_gauge_{0};
  std::atomic<uint64_t> pending_gauge_{0};
};

}  // namespace mailtap
