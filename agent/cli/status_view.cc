#include "cli/status_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

#include "cli/render.h"

namespace mailtap::cli {
namespace {

using Json = nlohmann::ordered_json;

const Json& Member(const Json& j, std::string_view key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

// A counter's value; 0 for anything that is not a non-negative integer.
uint64_t CountOf(const Json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() > 0) return static_cast<uint64_t>(v.get<int64_t>());
  return 0;
}

uint64_t Count(const Json& status, std::string_view group, std::string_view name) {
  return CountOf(Member(Member(Member(status, "counters"), group), name));
}

std::string Text(const Json& j, std::string_view key) {
  const Json& v = Member(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

std::string Plural(uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::string Line(std::string_view label, const std::string& text) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%-13.*s", static_cast<int>(label.size()), label.data());
  return std::string(buf) + text + "\n";
}

std::string AgentLine(const Json& s) {
  std::string out = "mailtapd " + Text(s, "version");
  const Json& up = Member(s, "uptime_seconds");
  if (up.is_number()) out += ", up " + FormatAge(up.get<double>());
  if (!Text(s, "started").empty()) out += " (since " + Text(s, "started") + ")";
  if (!Text(s, "redact").empty()) out += "; redact: " + Text(s, "redact");
  return Line("agent", out);
}

std::string CaptureLines(const Json& s) {
  std::string state = Text(s, "capture_state");
  std::string out =
      Line("capture", Text(s, "capture_source") + (state.empty() ? "" : " (" + state + ")"));
  uint64_t packets = Count(s, "capture", "packets_total");
  std::string traffic = Plural(packets, "packet", "packets") + ", " +
                        Plural(Count(s, "capture", "bytes_total"), "byte", "bytes");
  const Json& up = Member(s, "uptime_seconds");
  // A rate since start means something while capturing; a finished replay ran faster than that.
  if (state != "finished" && up.is_number() && up.get<double>() >= 1) {
    char rate[64];
    std::snprintf(rate, sizeof rate, ", %.1f packets/s on average since start",
                  static_cast<double>(packets) / up.get<double>());
    traffic += rate;
  }
  out += Line("", traffic);
  const Json& features = Member(s, "kernel_features");
  if (features.is_array() && !features.empty()) {
    std::string attached;
    for (const auto& f : features) {
      if (f.is_string()) attached += (attached.empty() ? "" : ", ") + f.get<std::string>();
    }
    out += Line("attached", attached);
  }
  return out;
}

// Only when something is wrong: a pipeline that stopped making progress (its counters, and
// everything above, are stale).
std::string PipelineLine(const Json& s) {
  const Json& p = Member(s, "pipeline");
  if (!Member(p, "stalled").is_boolean() || !Member(p, "stalled").get<bool>()) return "";
  const Json& since = Member(p, "seconds_since_progress");
  std::string age = since.is_number() ? FormatAge(since.get<double>()) : "?";
  return Line("pipeline", "STALLED: no progress for " + age + " (the counters are not moving)");
}

std::string SmtpLines(const Json& s) {
  std::string sessions = std::to_string(Count(s, "smtp", "sessions_active")) + " open, " +
                         std::to_string(Count(s, "smtp", "sessions_created")) + " seen; " +
                         Plural(Count(s, "smtp", "requests"), "command", "commands") + ", " +
                         Plural(Count(s, "smtp", "replies"), "reply", "replies");
  std::string anomalies = std::to_string(Count(s, "smtp", "unexpected")) + " unexpected, " +
                          Plural(Count(s, "smtp", "weirds"), "weird", "weirds") + ", " +
                          Plural(Count(s, "smtp", "content_gaps"), "content gap", "content gaps");
  std::string transactions =
      Plural(Count(s, "smtp", "messages"), "message", "messages") + ", " +
      Plural(Count(s, "smtp_log", "records_written"), "smtp.log record", "smtp.log records") +
      ", " + std::to_string(Count(s, "smtp", "starttls")) + " STARTTLS";
  return Line("sessions", sessions) + Line("", anomalies) + Line("transactions", transactions);
}

std::string QueryLine(const Json& s) {
  return Line("queries", Plural(Count(s, "query", "clients"), "client", "clients") + " (" +
                             std::to_string(Count(s, "query", "subscribers")) + " following), " +
                             std::to_string(Count(s, "query", "history_events")) +
                             " events kept for observe --last");
}

std::string LossLines(const Json& s) {
  std::vector<std::pair<std::string, uint64_t>> lost;
  const Json& loss = Member(s, "loss");
  if (loss.is_object()) {
    for (const auto& [cause, value] : loss.items()) {
      if (CountOf(value) > 0) lost.emplace_back(cause, CountOf(value));
    }
  }
  if (lost.empty()) return Line("losses", "none");
  // The causes of one unit together, as in loss_by_unit.
  std::stable_sort(lost.begin(), lost.end(), [&s](const auto& a, const auto& b) {
    return LossUnit(s, a.first) < LossUnit(s, b.first);
  });
  // Causes count different things (bytes, packets, events): each with its unit, never a sum.
  std::string out = Line("losses", "by cause (every cause: mailtap status -o json):");
  // Enough causes for a bad day, few enough to keep the summary on one screen.
  constexpr size_t kMaxCauses = 12;
  if (lost.size() > kMaxCauses) {
    size_t more = lost.size() - (kMaxCauses - 1);
    lost.resize(kMaxCauses - 1);
    lost.emplace_back("(" + std::to_string(more) + " more causes: mailtap status -o json)", 0);
  }
  for (const auto& [cause, value] : lost) {
    if (value == 0) {
      out += Line("", "  " + cause);
      continue;
    }
    char buf[160];
    std::snprintf(buf, sizeof buf, "  %-28s %12llu %s", cause.c_str(),
                  static_cast<unsigned long long>(value), LossUnit(s, cause).c_str());
    out += Line("", buf);
  }
  return out;
}

}  // namespace

std::string LossUnit(const Json& status, std::string_view cause) {
  return Text(Member(status, "loss_units"), cause);
}

std::string FormatStatusSummary(const Json& status) {
  return AgentLine(status) + CaptureLines(status) + PipelineLine(status) + SmtpLines(status) +
         QueryLine(status) + LossLines(status);
}

}  // namespace mailtap::cli
