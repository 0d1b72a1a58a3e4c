// What `status`, `metrics` and `connections` answer: pure formatting of snapshots.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/connections.h"
#include "mailtap/stats.h"

namespace mailtap {

// Facts about the running agent, fixed at start-up.
struct AgentInfo {
  std::string version;                       // e.g. mailtap::kVersion
  std::string capture_source;                // CaptureSource::Describe()
  std::vector<std::string> kernel_features;  // e.g. "ringbuf", "btf"; empty when replaying
  std::string redact;                        // --redact mode name; omitted from status when empty
  std::chrono::system_clock::time_point started;
  // A replay: connection ages are measured against the newest packet, not the wall clock.
  bool packet_clock = false;
};

// The newest last_seen of `list` (the epoch if empty), as a wall-clock time point.
std::chrono::system_clock::time_point NewestPacketTime(const std::vector<ConnectionSummary>& list);

// One JSON object (one line): version, protocol, started, uptime_seconds, capture_source,
// capture_state (omitted when empty), kernel_features, redact, counters {group: {name: value}},
// loss {cause: total}, lost_total.
std::string FormatStatusJson(const AgentInfo& info, const std::vector<StatSample>& samples,
                             std::chrono::system_clock::time_point now,
                             std::string_view capture_state = {});

// Prometheus text exposition format 0.0.4. Each sample becomes mailtap_<group>_<name> (counters
// get a _total suffix), with # HELP and # TYPE; characters outside [a-zA-Z0-9_] become '_' and
// samples that map to the same name are summed. Loss counters are additionally summed by cause
// into mailtap_lost_total{cause="..."}. Adds mailtap_build_info{version="..."} 1,
// mailtap_start_time_seconds and mailtap_uptime_seconds.
std::string FormatPrometheus(const AgentInfo& info, const std::vector<StatSample>& samples,
                             std::chrono::system_clock::time_point now);

// One JSON object (one line) per open connection: uid, the id.* 4-tuple, start, last_seen (packet
// time), age_seconds (now - start: the wall clock live, the newest packet in a replay), orig_bytes,
// resp_bytes, gap_bytes, tcp_state, smtp_state.
std::string FormatConnectionJson(const ConnectionSummary& c,
                                 std::chrono::system_clock::time_point now);

}  // namespace mailtap
