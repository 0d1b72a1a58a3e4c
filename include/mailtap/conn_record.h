// One conn.log record: a TCP connection's summary, with Zeek's fields in Zeek's order (Conn::Info),
// then mailtap's own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mailtap/flow.h"

namespace mailtap {

// std::nullopt = unset (Zeek's "-").
struct ConnRecord {
  Timestamp ts;  // first packet
  std::string uid;
  ConnId id;
  std::string proto = "tcp";
  std::optional<std::string> service;  // "smtp", "smtp,ssl"; unset if no analyzer confirmed
  // Set only when the connection lasted (Zeek: duration > 0), as are the byte counts.
  std::optional<Timestamp> duration;
  std::optional<uint64_t> orig_bytes;  // from sequence numbers, not a payload sum
  std::optional<uint64_t> resp_bytes;
  std::string conn_state;          // S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH
  std::optional<bool> local_orig;  // unset: mailtap has no Site::local_nets
  std::optional<bool> local_resp;
  uint64_t missed_bytes = 0;  // bytes in content gaps, both directions
  std::optional<std::string> history;
  uint64_t orig_pkts = 0;
  std::optional<uint64_t> orig_ip_bytes;  // unset where the capture gives no IP length (live)
  uint64_t resp_pkts = 0;
  std::optional<uint64_t> resp_ip_bytes;
  std::optional<std::vector<std::string>> tunnel_parents;  // unset: tunnels are not decoded
  uint64_t ip_proto = 6;
  // Not Zeek's base fields.
  std::string community_id;  // as Zeek's policy/protocols/conn/community-id-logging adds it
  // Why the connection ended: "closed" (FIN/RST, then the close delay), "idle", "evicted" (flow
  // table full), "port_reuse" (a new SYN on the same 4-tuple) or "end_of_input".
  std::string end_reason;
  std::optional<OwnerProcess> proc;  // live only, when the socket probes said
};

// Receives conn.log records, on the pipeline thread.
class ConnRecordSink {
 public:
  virtual ~ConnRecordSink() = default;
  virtual void OnConnRecord(const ConnRecord& record) = 0;
  virtual void Flush() {}
};

}  // namespace mailtap
