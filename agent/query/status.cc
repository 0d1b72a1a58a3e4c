#include "query/status.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "common/json_escape.h"
#include "query/process_stats.h"

namespace mailtap {
namespace {

using nlohmann::ordered_json;

double SecondsBetween(std::chrono::system_clock::time_point from,
                      std::chrono::system_clock::time_point to) {
  return std::max(0.0, std::chrono::duration<double>(to - from).count());
}

std::string Iso8601(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double EpochSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

std::string FormatDouble(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

struct CauseLoss {
  std::string unit;
  uint64_t value = 0;
};

// Loss counters summed by cause. A cause has one unit (mailtap/stats.h); a sample without one
// (from a component that predates units) counts "items".
std::map<std::string, CauseLoss> LossByCause(const std::vector<StatSample>& samples) {
  std::map<std::string, CauseLoss> loss;
  for (const auto& s : samples) {
    if (s.loss_cause.empty()) continue;
    CauseLoss& l = loss[s.loss_cause];
    if (l.unit.empty()) l.unit = s.loss_unit.empty() ? "items" : s.loss_unit;
    l.value += s.value;
  }
  return loss;
}

std::string Sanitize(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) c = '_';
  }
  return out;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string MetricName(const StatSample& s) {
  std::string name = "mailtap_";
  if (!s.group.empty()) name += Sanitize(s.group) + "_";
  name += Sanitize(s.name);
  if (s.kind == StatKind::kCounter && !EndsWith(name, "_total")) name += "_total";
  return name;
}

ordered_json PipelineJson(const Heartbeat& heartbeat) {
  HeartbeatReading r = heartbeat.Read();
  ordered_json j;
  j["last_progress"] = Iso8601(r.last_progress);
  j["seconds_since_progress"] = std::round(r.seconds_since_progress * 1000) / 1000;
  j["waiting_for_input"] = r.waiting_for_input;
  j["stalled"] = r.stalled;
  return j;
}

ordered_json CountersJson(const std::vector<StatSample>& samples) {
  ordered_json counters = ordered_json::object();
  for (const auto& s : samples) {
    ordered_json& slot = counters[s.group][s.name];
    if (s.label.empty()) {
      slot = s.value;
    } else {
      if (!slot.is_object()) slot = ordered_json::object();
      slot[s.label_value] = s.value;
    }
  }
  return counters;
}

// --- Prometheus families ------------------------------------------------------------------------

namespace prom = prometheus;

// The text format needs HELP on one line; prometheus-cpp writes it as given.
std::string HelpText(std::string_view help) {
  std::string out(help);
  for (char& c : out) {
    if (c == '\n' || c == '\\') c = ' ';
  }
  return out;
}

prom::ClientMetric Sample(prom::MetricType type, double value,
                          std::vector<prom::ClientMetric::Label> labels = {}) {
  prom::ClientMetric m;
  m.label = std::move(labels);
  if (type == prom::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

prom::MetricFamily Single(std::string name, std::string_view help, prom::MetricType type,
                          double value, std::vector<prom::ClientMetric::Label> labels = {}) {
  prom::MetricFamily f{std::move(name), HelpText(help), type, {}};
  f.metric.push_back(Sample(type, value, std::move(labels)));
  return f;
}

void AppendAgentFamilies(std::vector<prom::MetricFamily>* out, const AgentInfo& info,
                         std::chrono::system_clock::time_point now) {
  using T = prom::MetricType;
  out->push_back(Single("mailtap_build_info", "Build of the running agent (value is always 1).",
                        T::Gauge, 1, {{"version", info.version}}));
  out->push_back(Single("mailtap_start_time_seconds",
                        "When the agent started, seconds since the epoch.", T::Gauge,
                        EpochSeconds(info.started)));
  out->push_back(Single("mailtap_uptime_seconds", "Seconds since the agent started.", T::Gauge,
                        SecondsBetween(info.started, now)));
  if (info.heartbeat == nullptr) return;
  HeartbeatReading r = info.heartbeat->Read();
  out->push_back(Single("mailtap_pipeline_last_progress_timestamp_seconds",
                        "When the pipeline thread last finished a slice of work or started "
                        "waiting for input, seconds since the epoch.",
                        T::Gauge, EpochSeconds(r.last_progress)));
  out->push_back(Single("mailtap_pipeline_waiting_for_input",
                        "1 while the pipeline waits for the capture source (idle, not stuck).",
                        T::Gauge, r.waiting_for_input ? 1 : 0));
  out->push_back(Single("mailtap_pipeline_stalled",
                        "1 while the pipeline has been working for more than 5 s without "
                        "finishing a slice of work (its counters are not moving).",
                        T::Gauge, r.stalled ? 1 : 0));
}

void AppendLossFamilies(std::vector<prom::MetricFamily>* out,
                        const std::map<std::string, CauseLoss>& loss) {
  std::map<std::string, prom::MetricFamily> by_unit;
  for (const auto& [cause, l] : loss) {
    std::string name = "mailtap_lost_" + Sanitize(l.unit) + "_total";
    auto [it, inserted] = by_unit.try_emplace(name);
    if (inserted) {
      it->second = prom::MetricFamily{
          name, "Data lost, in " + l.unit + ", by cause.", prom::MetricType::Counter, {}};
    }
    it->second.metric.push_back(
        Sample(prom::MetricType::Counter, static_cast<double>(l.value), {{"cause", cause}}));
  }
  for (auto& [name, family] : by_unit) out->push_back(std::move(family));
}

bool Reserved(const std::vector<prom::MetricFamily>& taken, const std::string& name) {
  return std::any_of(taken.begin(), taken.end(),
                     [&name](const prom::MetricFamily& f) { return f.name == name; });
}

void AppendComponentFamilies(std::vector<prom::MetricFamily>* out,
                             const std::vector<StatSample>& samples) {
  const std::vector<prom::MetricFamily> taken = *out;
  std::vector<std::string> order;
  std::map<std::string, prom::MetricFamily> families;
  std::map<std::pair<std::string, std::string>, size_t> series;  // (family, label value) -> index
  for (const auto& s : samples) {
    std::string name = MetricName(s);
    if (Reserved(taken, name)) continue;
    prom::MetricType type =
        s.kind == StatKind::kCounter ? prom::MetricType::Counter : prom::MetricType::Gauge;
    auto [it, inserted] =
        families.try_emplace(name, prom::MetricFamily{name, HelpText(s.help), type, {}});
    if (inserted) order.push_back(name);
    prom::MetricFamily& f = it->second;
    auto [at, is_new] = series.try_emplace({name, s.label + '\0' + s.label_value}, f.metric.size());
    if (is_new) {
      std::vector<prom::ClientMetric::Label> labels;
      if (!s.label.empty()) labels.push_back({Sanitize(s.label), s.label_value});
      f.metric.push_back(Sample(f.type, 0, std::move(labels)));
    }
    prom::ClientMetric& m = f.metric[at->second];
    (f.type == prom::MetricType::Counter ? m.counter.value : m.gauge.value) +=
        static_cast<double>(s.value);
  }
  for (const auto& name : order) out->push_back(std::move(families[name]));
}

void AppendProcessFamilies(std::vector<prom::MetricFamily>* out) {
  using T = prom::MetricType;
  std::optional<ProcessStats> p = ReadProcessStats();
  if (!p) return;
  out->push_back(Single("process_cpu_seconds_total",
                        "Total user and system CPU time spent in seconds.", T::Counter,
                        p->cpu_seconds));
  out->push_back(Single("process_resident_memory_bytes", "Resident memory size in bytes.", T::Gauge,
                        static_cast<double>(p->resident_bytes)));
  out->push_back(Single("process_virtual_memory_bytes", "Virtual memory size in bytes.", T::Gauge,
                        static_cast<double>(p->virtual_bytes)));
  out->push_back(Single("process_start_time_seconds",
                        "Start time of the process since unix epoch in seconds.", T::Gauge,
                        p->start_time_seconds));
  out->push_back(Single("process_max_fds", "Maximum number of open file descriptors.", T::Gauge,
                        static_cast<double>(p->max_fds)));
  if (p->open_fds) {
    out->push_back(Single("process_open_fds", "Number of open file descriptors.", T::Gauge,
                          static_cast<double>(*p->open_fds)));
  }
}

}  // namespace

std::string FormatStatusJson(const AgentInfo& info, const std::vector<StatSample>& samples,
                             std::chrono::system_clock::time_point now,
                             std::string_view capture_state) {
  ordered_json j;
  j["version"] = info.version;
  j["protocol"] = 1;
  j["started"] = Iso8601(info.started);
  j["uptime_seconds"] = std::round(SecondsBetween(info.started, now) * 1000) / 1000;
  j["capture_source"] = info.capture_source ? info.capture_source() : "";
  if (!capture_state.empty()) j["capture_state"] = capture_state;
  j["kernel_features"] = info.kernel_features;
  if (!info.redact.empty()) j["redact"] = info.redact;
  if (info.heartbeat != nullptr) j["pipeline"] = PipelineJson(*info.heartbeat);
  j["counters"] = CountersJson(samples);
  uint64_t total = 0;
  ordered_json loss = ordered_json::object();
  ordered_json units = ordered_json::object();
  ordered_json by_unit = ordered_json::object();
  for (const auto& [cause, l] : LossByCause(samples)) {
    loss[cause] = l.value;
    units[cause] = l.unit;
    by_unit[l.unit][cause] = l.value;
    total += l.value;
  }
  j["loss"] = loss;
  j["loss_units"] = units;
  j["loss_by_unit"] = by_unit;
  j["lost_total"] = total;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<prometheus::MetricFamily> BuildMetricFamilies(
    const AgentInfo& info, const std::vector<StatSample>& samples,
    std::chrono::system_clock::time_point now) {
  std::vector<prom::MetricFamily> out;
  AppendAgentFamilies(&out, info, now);
  AppendLossFamilies(&out, LossByCause(samples));
  AppendProcessFamilies(&out);
  AppendComponentFamilies(&out, samples);
  return out;
}

std::chrono::system_clock::time_point NewestPacketTime(const std::vector<ConnectionSummary>& list) {
  int64_t newest = 0;
  for (const ConnectionSummary& c : list) newest = std::max(newest, c.last_seen.usec);
  return std::chrono::system_clock::time_point(std::chrono::microseconds(newest));
}

std::string FormatPrometheus(const AgentInfo& info, const std::vector<StatSample>& samples,
                             std::chrono::system_clock::time_point now) {
  std::ostringstream out;
  prom::TextSerializer().Serialize(out, BuildMetricFamilies(info, samples, now));
  return out.str();
}

std::string FormatConnectionJson(const ConnectionSummary& c,
                                 std::chrono::system_clock::time_point now) {
  auto start = std::chrono::system_clock::time_point(std::chrono::microseconds(c.start.usec));
  std::string out = "{\"uid\":" + JsonQuoted(c.uid);
  out += ",\"id.orig_h\":" + JsonQuoted(c.id.orig_h.ToString());
  out += ",\"id.orig_p\":" + std::to_string(c.id.orig_p);
  out += ",\"id.resp_h\":" + JsonQuoted(c.id.resp_h.ToString());
  out += ",\"id.resp_p\":" + std::to_string(c.id.resp_p);
  out += ",\"community_id\":" + JsonQuoted(c.community_id);
  out += ",\"start\":" + FormatTimestamp(c.start);
  out += ",\"last_seen\":" + FormatTimestamp(c.last_seen);
  out += ",\"age_seconds\":" + FormatDouble(SecondsBetween(start, now));
  out += ",\"orig_bytes\":" + std::to_string(c.orig_bytes);
  out += ",\"resp_bytes\":" + std::to_string(c.resp_bytes);
  out += ",\"gap_bytes\":" + std::to_string(c.gap_bytes);
  out += ",\"tcp_state\":" + JsonQuoted(c.tcp_state);
  out += ",\"smtp_state\":" + JsonQuoted(c.smtp_state) + "}";
  return out;
}

}  // namespace mailtap
