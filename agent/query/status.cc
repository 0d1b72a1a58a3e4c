#include "query/status.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "common/json_escape.h"

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

std::map<std::string, uint64_t> LossByCause(const std::vector<StatSample>& samples) {
  std::map<std::string, uint64_t> loss;
  for (const auto& s : samples) {
    if (!s.loss_cause.empty()) loss[s.loss_cause] += s.value;
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

// Text format: HELP escapes backslash and newline; label values also escape the double quote.
std::string Escape(std::string_view s, bool label) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && label) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

void AppendFamily(std::string* out, const std::string& name, std::string_view help,
                  std::string_view type) {
  *out += "# HELP " + name + " " + Escape(help, false) + "\n";
  *out += "# TYPE " + name + " " + std::string(type) + "\n";
}

std::string FormatDouble(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

struct Family {
  std::string help;
  StatKind kind;
  uint64_t value;
};

void AppendComponentFamilies(std::string* out, const std::vector<StatSample>& samples) {
  static const std::string kReserved[] = {"mailtap_lost_total", "mailtap_build_info",
                                          "mailtap_uptime_seconds", "mailtap_start_time_seconds"};
  std::vector<std::string> order;
  std::map<std::string, Family> families;
  for (const auto& s : samples) {
    std::string name = MetricName(s);
    if (std::find(std::begin(kReserved), std::end(kReserved), name) != std::end(kReserved))
      continue;
    auto [it, inserted] = families.try_emplace(name, Family{s.help, s.kind, 0});
    if (inserted) order.push_back(name);
    it->second.value += s.value;
  }
  for (const auto& name : order) {
    const Family& f = families[name];
    AppendFamily(out, name, f.help, f.kind == StatKind::kCounter ? "counter" : "gauge");
    *out += name + " " + std::to_string(f.value) + "\n";
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
  j["capture_source"] = info.capture_source;
  if (!capture_state.empty()) j["capture_state"] = capture_state;
  j["kernel_features"] = info.kernel_features;
  if (!info.redact.empty()) j["redact"] = info.redact;
  ordered_json counters = ordered_json::object();
  for (const auto& s : samples) counters[s.group][s.name] = s.value;
  j["counters"] = counters;
  uint64_t total = 0;
  ordered_json loss = ordered_json::object();
  for (const auto& [cause, value] : LossByCause(samples)) {
    loss[cause] = value;
    total += value;
  }
  j["loss"] = loss;
  j["lost_total"] = total;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string FormatPrometheus(const AgentInfo& info, const std::vector<StatSample>& samples,
                             std::chrono::system_clock::time_point now) {
  std::string out;
  AppendFamily(&out, "mailtap_build_info", "Build of the running agent (value is always 1).",
               "gauge");
  out += "mailtap_build_info{version=\"" + Escape(info.version, true) + "\"} 1\n";
  AppendFamily(&out, "mailtap_start_time_seconds",
               "When the agent started, seconds since the epoch.", "gauge");
  out += "mailtap_start_time_seconds " + FormatDouble(EpochSeconds(info.started)) + "\n";
  AppendFamily(&out, "mailtap_uptime_seconds", "Seconds since the agent started.", "gauge");
  out += "mailtap_uptime_seconds " + FormatDouble(SecondsBetween(info.started, now)) + "\n";
  AppendFamily(&out, "mailtap_lost_total",
               "Data lost, by cause (the sum of the loss counters of that cause).", "counter");
  for (const auto& [cause, value] : LossByCause(samples)) {
    out +=
        "mailtap_lost_total{cause=\"" + Escape(cause, true) + "\"} " + std::to_string(value) + "\n";
  }
  AppendComponentFamilies(&out, samples);
  return out;
}

std::chrono::system_clock::time_point NewestPacketTime(const std::vector<ConnectionSummary>& list) {
  int64_t newest = 0;
  for (const ConnectionSummary& c : list) newest = std::max(newest, c.last_seen.usec);
  return std::chrono::system_clock::time_point(std::chrono::microseconds(newest));
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
