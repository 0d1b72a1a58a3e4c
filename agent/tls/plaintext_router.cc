#include "tls/plaintext_router.h"

#include <algorithm>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

namespace mailtap {
namespace {

// Reasons of smtp_tls_plaintext_unavailable (its addl) and of the counters.
constexpr std::string_view kReasonNoPlaintext = "no_plaintext";
constexpr std::string_view kReasonBufferFull = "buffer_full";

// The contract (tls_plaintext.h): the bytes were sent by the originator iff the local process
// wrote them and is the originator, or read them and is the responder.
Side SenderOf(const ConnId& id, const IpAddress& local_h, uint16_t local_p, TlsOp op) {
  const bool local_is_orig = local_h == id.orig_h && local_p == id.orig_p;
  const bool sent_by_orig = (op == TlsOp::kWrite) == local_is_orig;
  return sent_by_orig ? Side::kOriginator : Side::kResponder;
}

uint64_t MissingBytes(const TlsPlaintext& p) {
  return p.len > p.data.size() ? p.len - p.data.size() : 0;
}

}  // namespace

// What the router keeps for one connection of the flow table.
struct TlsPlaintextRouter::ConnTls {
  std::deque<Chunk> held;  // waiting for the analyzer to switch to TLS
  size_t held_bytes = 0;
  Timestamp tls_ts{};          // when the 220 reply to STARTTLS was seen
  bool got_plaintext = false;  // some plaintext reached the analyzer
  bool abandoned = false;      // held plaintext overflowed: the rest is dropped, counted
  bool awaiting = false;       // waiting for the first plaintext, until `deadline`
  bool notice_raised = false;
  std::optional<Side> local_end;  // the local end whose plaintext is used
  Timestamp deadline{};
};

// A record for a 4-tuple the flow table does not know yet, with its bytes copied.
struct TlsPlaintextRouter::Pending {
  FlowKey key;
  bool owner = false;  // a SocketOwner, else plaintext
  TlsPlaintext view;   // data and process.comm point into the members below
  std::vector<uint8_t> bytes;
  std::string comm;
  // Points the view at this object's copies (again, after a move: a short string moves its
  // characters).
  void Repoint() {
    view.data = bytes;
    view.process.comm = comm;
  }
};

TlsPlaintextRouter::TlsPlaintextRouter(TlsJoinConfig config, FlowTable& flows, EventSink& notices)
    : config_(config),
      flows_(flows),
      notices_(notices),
      // 4-tuples are chosen by whoever connects: a per-run seed (ASLR) keeps them off one bucket.
      pending_keys_(16, FlowKeyHash{reinterpret_cast<uintptr_t>(this) * 0x9E3779B97F4A7C15ULL}) {}

TlsPlaintextRouter::~TlsPlaintextRouter() = default;

FlowKey TlsPlaintextRouter::KeyOf(const IpAddress& a, uint16_t a_port, const IpAddress& b,
                                  uint16_t b_port) const {
  if (std::tie(a, a_port) < std::tie(b, b_port)) return FlowKey{a, b, a_port, b_port};
  return FlowKey{b, a, b_port, a_port};
}

void TlsPlaintextRouter::OnTlsPlaintext(const TlsPlaintext& plaintext) {
  records_.Add();
  bytes_.Add(plaintext.data.size());
  truncated_bytes_.Add(MissingBytes(plaintext));
  Expire(plaintext.ts);
  RoutePlaintext(plaintext);
}

void TlsPlaintextRouter::OnSocketOwner(const SocketOwner& owner) {
  owners_.Add();
  Expire(owner.ts);
  FlowTable::Found found =
      flows_.Find(owner.local_h, owner.local_p, owner.remote_h, owner.remote_p);
  if (found.conn != nullptr) {
    AttachOwner(*found.conn, owner.local_h, owner.local_p, owner.process);
    return;
  }
  Pending record;
  record.key = KeyOf(owner.local_h, owner.local_p, owner.remote_h, owner.remote_p);
  record.owner = true;
  record.view.ts = owner.ts;
  record.view.local_h = owner.local_h;
  record.view.local_p = owner.local_p;
  record.view.remote_h = owner.remote_h;
  record.view.remote_p = owner.remote_p;
  record.view.process = owner.process;
  record.comm.assign(owner.process.comm);
  AddPending(std::move(record));
}

void TlsPlaintextRouter::RoutePlaintext(const TlsPlaintext& p) {
  FlowTable::Found found = flows_.Find(p.local_h, p.local_p, p.remote_h, p.remote_p);
  if (found.conn == nullptr) {
    Pending record;
    record.key = KeyOf(p.local_h, p.local_p, p.remote_h, p.remote_p);
    record.view = p;
    record.bytes.assign(p.data.begin(), p.data.end());
    record.comm.assign(p.process.comm);
    AddPending(std::move(record));
    return;
  }
  AttachOwner(*found.conn, p.local_h, p.local_p, p.process);
  if (found.consumer == nullptr) {
    not_analysed_records_.Add();
    return;
  }
  ConnTls& st = conns_[found.conn];
  // Both ends may be local (one MTA relaying to another over loopback): each reports the same
  // bytes. The end heard first speaks for the connection; the other one's copies are dropped.
  const Side local = p.local_h == found.conn->id.orig_h && p.local_p == found.conn->id.orig_p
                         ? Side::kOriginator
                         : Side::kResponder;
  if (!st.local_end) st.local_end = local;
  if (*st.local_end != local) {
    other_end_records_.Add();
    return;
  }
  const Side side = SenderOf(found.conn->id, p.local_h, p.local_p, p.op);
  Route(found, st, Chunk{p.ts, side, {}, MissingBytes(p)}, p);
}

// `chunk` has no bytes yet: they are copied from `p` only if they must wait.
void TlsPlaintextRouter::Route(FlowTable::Found found, ConnTls& st, Chunk chunk,
                               const TlsPlaintext& p) {
  if (st.abandoned) {
    held_full_bytes_.Add(p.data.size());
    return;
  }
  if (st.held.empty() && found.consumer->AcceptsTlsPlaintext()) {
    st.got_plaintext = true;
    delivered_bytes_.Add(p.data.size());
    found.consumer->DeliverTlsPlaintext(chunk.side, std::max(chunk.ts, st.tls_ts), p.data,
                                        chunk.missing);
    return;
  }
  chunk.bytes.assign(p.data.begin(), p.data.end());
  Hold(st, std::move(chunk));
}

void TlsPlaintextRouter::Hold(ConnTls& st, Chunk chunk) {
  const size_t n = chunk.bytes.size();
  if (st.held_bytes + n > config_.max_held_bytes_per_connection) {
    held_connection_bound_hits_.Add();
    Abandon(st, n);
    return;
  }
  // The total is exhausted: the connections holding the most give up first, as long as they
  // hold more than this one then would (each is abandoned once, so this loop is paid for once).
  while (held_bytes_ + n > config_.max_held_bytes_total && !holders_.empty()) {
    const auto [held, largest] = *holders_.rbegin();
    if (largest == &st || held <= st.held_bytes + n) break;
    held_total_bound_hits_.Add();
    Abandon(*largest, 0);
  }
  if (held_bytes_ + n > config_.max_held_bytes_total) {
    held_total_bound_hits_.Add();
    Abandon(st, n);
    return;
  }
  SetHeldBytes(st, st.held_bytes + n);
  st.held.push_back(std::move(chunk));
}

// The analyzer cannot be given a stream with a hole at its start: the connection's plaintext
// analysis stays where Zeek's stops (at STARTTLS), and the weird says why.
void TlsPlaintextRouter::Abandon(ConnTls& st, size_t arriving) {
  held_full_bytes_.Add(arriving + st.held_bytes);
  DropHeld(st);
  st.abandoned = true;
}

void TlsPlaintextRouter::DropHeld(ConnTls& st) {
  SetHeldBytes(st, 0);
  st.held.clear();
}

void TlsPlaintextRouter::SetHeldBytes(ConnTls& st, size_t bytes) {
  if (st.held_bytes > 0) holders_.erase({st.held_bytes, &st});
  if (bytes > 0) holders_.emplace(bytes, &st);
  held_bytes_ = held_bytes_ - st.held_bytes + bytes;
  st.held_bytes = bytes;
  held_gauge_.store(held_bytes_, std::memory_order_relaxed);
}

void TlsPlaintextRouter::OnEvent(const Event& event) {
  if (event.id != EventId::kSmtpStartTls || event.conn == nullptr) return;
  ConnTls& st = conns_[event.conn];
  st.tls_ts = event.ts;
  // Not now: the analyzer is in the middle of the segment (the 220 reply is raised after this
  // event). AfterSegment hands the plaintext over.
  ready_.push_back(event.conn);
}

void TlsPlaintextRouter::AfterSegment(const TcpSegment& segment) {
  if (!ready_.empty()) {
    std::vector<const Connection*> ready;
    ready.swap(ready_);
    for (const Connection* conn : ready) ReleaseHeld(conn);
  }
  if (!pending_keys_.empty()) {
    FlowKey key = KeyOf(segment.src, segment.src_port, segment.dst, segment.dst_port);
    if (pending_keys_.contains(key)) RetryPending(key);
  }
  Expire(segment.ts);
}

// The connection's analyzer switched to TLS during the last segment.
void TlsPlaintextRouter::ReleaseHeld(const Connection* conn) {
  auto it = conns_.find(conn);
  if (it == conns_.end()) return;  // removed meanwhile (an entry exists only while conn lives)
  ConnTls& st = it->second;
  const ConnId& id = conn->id;
  FlowTable::Found found = flows_.Find(id.orig_h, id.orig_p, id.resp_h, id.resp_p);
  if (found.conn != conn || found.consumer == nullptr || !found.consumer->AcceptsTlsPlaintext()) {
    return;
  }
  if (st.abandoned) {
    NoPlaintext(*conn, st, st.tls_ts, kReasonBufferFull);
    return;
  }
  while (!st.held.empty()) {
    Chunk chunk = std::move(st.held.front());
    st.held.pop_front();
    SetHeldBytes(st, st.held_bytes - chunk.bytes.size());
    st.got_plaintext = true;
    delivered_bytes_.Add(chunk.bytes.size());
    found.consumer->DeliverTlsPlaintext(chunk.side, std::max(chunk.ts, st.tls_ts), chunk.bytes,
                                        chunk.missing);
  }
  if (st.got_plaintext) return;
  if (!capture_active_) {
    // A replay, or live without TLS probes: analysis stops at STARTTLS, as Zeek's does.
    stopped_capture_off_.Add();
    conns_.erase(conn);  // by key: deliveries above may have added entries (and rehashed)
    return;
  }
  st.awaiting = true;
  st.deadline = Timestamp{st.tls_ts.usec + config_.plaintext_wait.usec};
  waits_.push_back(Wait{st.deadline, conn});
}

void TlsPlaintextRouter::NoPlaintext(const Connection& conn, ConnTls& st, Timestamp ts,
                                     std::string_view reason) {
  if (st.notice_raised) return;
  st.notice_raised = true;
  (reason == kReasonBufferFull ? stopped_buffer_full_ : stopped_no_plaintext_).Add();
  notices_.OnEvent(
      MakeWeird(ts, &conn, "smtp_tls_plaintext_unavailable", std::string(reason), "TLS"));
}

void TlsPlaintextRouter::OnConnectionRemoved(const Connection& conn, Timestamp ts) {
  named_by_client_.erase(&conn);
  auto it = conns_.find(&conn);
  if (it == conns_.end()) return;
  ConnTls& st = it->second;
  if (!st.held.empty()) {
    // The analyzer never switched to TLS (no 220 reply to STARTTLS was seen).
    held_at_close_bytes_.Add(st.held_bytes);
    DropHeld(st);
  }
  if (st.awaiting && !st.got_plaintext) NoPlaintext(conn, st, ts, kReasonNoPlaintext);
  conns_.erase(it);
}

void TlsPlaintextRouter::AddPending(Pending record) {
  const size_t n = record.bytes.size();
  if (pending_.size() >= config_.max_pending_records ||
      pending_bytes_ + n > config_.max_pending_bytes) {
    pending_full_records_.Add();
    return;
  }
  ++pending_keys_[record.key];
  pending_bytes_ += n;
  pending_.push_back(std::move(record));
  pending_.back().Repoint();  // deque elements stay where they are from now on
  pending_gauge_.store(pending_.size(), std::memory_order_relaxed);
}

void TlsPlaintextRouter::RetryPending(const FlowKey& key) {
  std::deque<Pending> matched;
  std::deque<Pending> rest;
  for (Pending& record : pending_) {
    if (record.key == key) {
      pending_bytes_ -= record.bytes.size();
      matched.push_back(std::move(record));
      matched.back().Repoint();
    } else {
      rest.push_back(std::move(record));
      rest.back().Repoint();
    }
  }
  pending_.swap(rest);
  pending_keys_.erase(key);
  pending_gauge_.store(pending_.size(), std::memory_order_relaxed);
  for (Pending& record : matched) {
    if (record.owner) {
      FlowTable::Found found = flows_.Find(record.view.local_h, record.view.local_p,
                                           record.view.remote_h, record.view.remote_p);
      if (found.conn != nullptr) {
        AttachOwner(*found.conn, record.view.local_h, record.view.local_p, record.view.process);
      }
    } else {
      RoutePlaintext(record.view);
    }
  }
}

void TlsPlaintextRouter::Expire(Timestamp now) {
  now_ = std::max(now_, now);
  while (!pending_.empty() &&
         now_.usec - pending_.front().view.ts.usec >= config_.pending_window.usec) {
    Pending& front = pending_.front();
    if (front.owner) {
      owners_unmatched_.Add();
    } else {
      unmatched_records_.Add();
      unmatched_bytes_.Add(front.bytes.size() + MissingBytes(front.view));
    }
    pending_bytes_ -= front.bytes.size();
    if (--pending_keys_[front.key] == 0) pending_keys_.erase(front.key);
    pending_.pop_front();
    pending_gauge_.store(pending_.size(), std::memory_order_relaxed);
  }
  while (!waits_.empty() && waits_.front().deadline <= now_) {
    const Wait wait = waits_.front();
    waits_.pop_front();
    auto it = conns_.find(wait.conn);
    if (it == conns_.end() || !it->second.awaiting || it->second.deadline != wait.deadline) {
      continue;
    }
    if (RearmWait(*wait.conn, it->second)) continue;
    it->second.awaiting = false;
    if (!it->second.got_plaintext) NoPlaintext(*wait.conn, it->second, now_, kReasonNoPlaintext);
  }
}

// The wait runs from the connection's latest segment, not from the 220 reply: a TLS handshake
// that takes longer than the wait (a busy server: 300 handshakes at once took up to 7 s on the
// test host) is still going on, and its first plaintext follows it. So only a connection quiet
// (or gone) for the whole wait without plaintext gets the notice. Returns true when re-armed.
bool TlsPlaintextRouter::RearmWait(const Connection& conn, ConnTls& st) {
  const ConnId& id = conn.id;
  FlowTable::Found found = flows_.Find(id.orig_h, id.orig_p, id.resp_h, id.resp_p);
  if (found.conn != &conn) return false;
  const Timestamp deadline{found.last_seen.usec + config_.plaintext_wait.usec};
  if (deadline <= now_) return false;
  st.deadline = deadline;
  // Waits are kept in deadline order; a later one is inserted where it belongs.
  const Wait wait{deadline, &conn};
  auto pos = std::upper_bound(waits_.begin(), waits_.end(), wait,
                              [](const Wait& a, const Wait& b) { return a.deadline < b.deadline; });
  waits_.insert(pos, wait);
  return true;
}

// When both ends are local (a client on the mail host itself, or one MTA relaying to another),
// each end's process owns a socket of the connection and either may be reported first. The
// server's (the responder's end) names the connection, whatever the order: it is the mail
// server the connection is about, and the process whose TLS plaintext is analysed.
void TlsPlaintextRouter::AttachOwner(Connection& conn, const IpAddress& local_h, uint16_t local_p,
                                     const ProcessInfo& process) {
  if (process.pid == 0) return;
  const bool is_server = local_h == conn.id.resp_h && local_p == conn.id.resp_p;
  if (conn.process && !(is_server && named_by_client_.erase(&conn) > 0)) return;
  if (!is_server) named_by_client_.insert(&conn);
  conn.process = OwnerProcess{process.pid, std::string(process.comm), process.cgroup_id};
}

void TlsPlaintextRouter::VisitStats(StatsVisitor& v) const {
  constexpr std::string_view g = "tls_plaintext";
  v.Visit(g, "records", records_.Get(), "TLS plaintext records received from the probes.");
  v.Visit(g, "bytes", bytes_.Get(), "Plaintext bytes received (as captured).");
  v.Visit(g, "delivered_bytes", delivered_bytes_.Get(),
          "Plaintext bytes handed to SMTP analyzers.");
  v.Visit(g, "truncated_bytes", truncated_bytes_.Get(),
          "Plaintext bytes cut from records in the kernel (reported as content gaps).",
          StatKind::kCounter, Loss{"tls_truncated", LossUnit::kBytes});
  v.Visit(g, "not_analysed_records", not_analysed_records_.Get(),
          "Records of connections that are not analysed (not an SMTP port).");
  v.Visit(g, "unmatched_records", unmatched_records_.Get(),
          "Records whose TCP connection never appeared in the flow table (dropped).");
  v.Visit(g, "unmatched_bytes", unmatched_bytes_.Get(), "Bytes of those records.",
          StatKind::kCounter, Loss{"tls_unmatched", LossUnit::kBytes});
  v.Visit(g, "pending_full_records", pending_full_records_.Get(),
          "Records dropped because the table of not-yet-seen connections was full.",
          StatKind::kCounter, Loss{"tls_pending_full", LossUnit::kRingRecords});
  v.Visit(g, "held_full_bytes", held_full_bytes_.Get(),
          "Plaintext dropped because a connection's (or all) held plaintext hit its bound before "
          "the reply to STARTTLS was seen.",
          StatKind::kCounter, Loss{"tls_held_full", LossUnit::kBytes});
  v.Visit(g, "held_connection_bound_hits", held_connection_bound_hits_.Get(),
          "Connections whose held plaintext hit the per-connection bound (256 KiB).");
  v.Visit(g, "held_total_bound_hits", held_total_bound_hits_.Get(),
          "Connections whose held plaintext hit the bound of all held plaintext (64 MiB).");
  v.Visit(g, "held_at_close_bytes", held_at_close_bytes_.Get(),
          "Plaintext held for connections that ended without switching to TLS (dropped).",
          StatKind::kCounter, Loss{"tls_held_at_close", LossUnit::kBytes});
  v.Visit(g, "other_end_records", other_end_records_.Get(),
          "Records of the second local end of a connection (both ends local): the same bytes as "
          "the first end's, not used again.");
  v.Visit(g, "socket_owners", owners_.Get(), "Socket owners reported by the probes.");
  v.Visit(g, "socket_owners_unmatched", owners_unmatched_.Get(),
          "Socket owners whose connection never appeared in the flow table.");
  v.Visit(g, "starttls_capture_off", stopped_capture_off_.Get(),
          "STARTTLS sessions analysed only up to STARTTLS: no TLS capture (replay, or probes not "
          "attached).");
  v.Visit(g, "starttls_no_plaintext", stopped_no_plaintext_.Get(),
          "STARTTLS sessions analysed only up to STARTTLS: TLS capture on, but no plaintext came "
          "(library or process not covered, or lost).");
  v.Visit(g, "starttls_buffer_full", stopped_buffer_full_.Get(),
          "STARTTLS sessions analysed only up to STARTTLS: their held plaintext overflowed.");
  v.Visit(g, "held_bytes", held_gauge_.load(std::memory_order_relaxed),
          "Plaintext held now, waiting for the reply to STARTTLS.", StatKind::kGauge);
  v.Visit(g, "pending_records", pending_gauge_.load(std::memory_order_relaxed),
          "Records held now for connections not seen yet.", StatKind::kGauge);
}

}  // namespace mailtap
