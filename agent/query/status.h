// What `status`, `metrics` and `connections` answer: pure formatting of snapshots.
#pragma once

#include <prometheus/metric_family.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/heartbeat.h"
#include "mailtap/connections.h"
#include "mailtap/stats.h"

namespace mailtap {

// Facts about the running agent.
struct AgentInfo {
  std::string version;  // e.g. mailtap::kVersion
  // CaptureSource::Describe(), asked at every status request: the TLS library watcher probes
  // libraries first used after start-up, and status names them. Called on the query server's
  // thread.
  std::function<std::string()> capture_source;
  std::vector<std::string> kernel_features;  // e.g. "ringbuf", "btf"; empty when replaying
  std::string redact;                        // --redact mode name; omitted from status when empty
  std::chrono::system_clock::time_point started;
  // A replay: connection ages are measured against the newest packet, not the wall clock.
  bool packet_clock = false;
  const Heartbeat* heartbeat = nullptr;  // the pipeline's (outlives every reader); may be null
};

// The newest last_seen of `list` (the epoch if empty), as a wall-clock time point.
std::chrono::system_clock::time_point NewestPacketTime(const std::vector<ConnectionSummary>& list);

// One JSON object (one line): version, protocol, started, uptime_seconds, capture_source,
// capture_state (omitted when empty), kernel_features, redact, pipeline (with a heartbeat:
// last_progress, seconds_since_progress, waiting_for_input, stalled), counters {group: {name:
// value}} (a labelled statistic: {name: {label value: value}}), loss {cause: total},
// loss_units {cause: unit}, loss_by_unit {unit: {cause: total}}, lost_total (the sum over every
// unit: only whether it is 0 means something).
std::string FormatStatusJson(const AgentInfo& info, const std::vector<StatSample>& samples,
                             std::chrono::system_clock::time_point now,
                             std::string_view capture_state = {});

// Every metric of the agent, the one source of both renderings (the query socket's `metrics`
// and the HTTP listener): each sample as mailtap_<group>_<name> (counters get a _total suffix;
// characters outside [a-zA-Z0-9_] become '_'; samples that map to the same name and labels are
// summed; a labelled sample carries its label), loss counters by unit and cause as
// mailtap_lost_<unit>_total{cause="..."}, mailtap_build_info{version="..."} 1,
// mailtap_start_time_seconds, mailtap_uptime_seconds, the pipeline's heartbeat
// (mailtap_pipeline_last_progress_timestamp_seconds, mailtap_pipeline_stalled,
// mailtap_pipeline_waiting_for_input) and the process_* metrics of this process.
std::vector<prometheus::MetricFamily> BuildMetricFamilies(
    const AgentInfo& info, const std::vector<StatSample>& samples,
    std::chrono::system_clock::time_point now);

// BuildMetricFamilies in the Prometheus text exposition format 0.0.4.
std::string FormatPrometheus(const AgentInfo& info, const std::vector<StatSample>& samples,
                             std::chrono::system_clock::time_point now);

// One JSON object (one line) per open connection: uid, the id.* 4-tuple, start, last_seen (packet
// time), age_seconds (now - start: the wall clock live, the newest packet in a replay), orig_bytes,
// resp_bytes, gap_bytes, tcp_state, smtp_state.
std::string FormatConnectionJson(const ConnectionSummary& c,
                                 std::chrono::system_clock::time_point now);

}  // namespace mailtap
