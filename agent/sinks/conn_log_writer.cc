#include "sinks/conn_log_writer.h"

#include <array>
#include <string_view>
#include <utility>

namespace mailtap {
namespace {

// Zeek's column order: Conn::Info in base/protocols/conn/main.zeek.
void BuildZeekColumns(const ConnRecord& r, LogLineBuilder& b) {
  b.Time("ts", r.ts);
  b.String("uid", r.uid);
  b.ConnIdColumns(r.id);
  b.String("proto", r.proto);
  b.String("service", r.service);
  b.Interval("duration", r.duration);
  b.Count("orig_bytes", r.orig_bytes);
  b.Count("resp_bytes", r.resp_bytes);
  b.String("conn_state", r.conn_state);
  b.Bool("local_orig", r.local_orig);
  b.Bool("local_resp", r.local_resp);
  b.Count("missed_bytes", r.missed_bytes);
  b.String("history", r.history);
  b.Count("orig_pkts", r.orig_pkts);
  b.Count("orig_ip_bytes", r.orig_ip_bytes);
  b.Count("resp_pkts", r.resp_pkts);
  b.Count("resp_ip_bytes", r.resp_ip_bytes);
  b.StringSet("tunnel_parents", r.tunnel_parents);
  b.Count("ip_proto", r.ip_proto);
}

void BuildRecord(const ConnRecord& r, LogFormat format, LogLineBuilder& b) {
  BuildZeekColumns(r, b);
  b.OptionalString("community_id", r.community_id);  // a column with Zeek's community-id policy
  if (format != LogFormat::kJson) return;  // Zeek's tab-separated layout, column for column
  b.OptionalString("end_reason", r.end_reason);
  if (!r.proc) return;
  b.Count("proc.pid", r.proc->pid);
  b.String("proc.name", r.proc->name);
  if (r.proc->cgroup_id != 0) b.Count("proc.cgroup_id", r.proc->cgroup_id);
}

// Weirds that mean an analyzer stopped looking at part of the originator's data (Zeek marks the
// history with 'X' at that point).
constexpr std::array<std::string_view, 1> kOriginatorLimitWeirds{"exceeded_mime_max_header_bytes"};

}  // namespace

const LogSchema& ConnLogSchema() {
  static const LogSchema schema{
      "conn",
      {"ts",         "uid",           "id.orig_h",
       "id.orig_p",  "id.resp_h",     "id.resp_p",
       "proto",      "service",       "duration",
       "orig_bytes", "resp_bytes",    "conn_state",
       "local_orig", "local_resp",    "missed_bytes",
       "history",    "orig_pkts",     "orig_ip_bytes",
       "resp_pkts",  "resp_ip_bytes", "tunnel_parents",
       "ip_proto",   "community_id"},
      {"time",     "string", "addr",  "port",   "addr",        "port",  "enum",  "string",
       "interval", "count",  "count", "string", "bool",        "bool",  "count", "string",
       "count",    "count",  "count", "count",  "set[string]", "count", "string"}};
  return schema;
}

std::string FormatConnRecord(const ConnRecord& record, LogFormat format, const LogLimits& limits) {
  LogLineBuilder b(format, limits);
  BuildRecord(record, format, b);
  return b.Finish();
}

ConnLogWriter::ConnLogWriter(const std::string& dir, ConnLogWriterOptions options)
    : RecordLogWriter(dir, ConnLogSchema(), std::move(options)) {}

void ConnLogWriter::OnConnRecord(const ConnRecord& record) {
  log().Write([&](LogLineBuilder& b) { BuildRecord(record, log().format(), b); });
}

void ConnLogWriter::VisitStats(StatsVisitor& v) const {
  log().VisitStats(v, "conn_log_file", "conn.log", "conn_log_output_error");
}

void ConnAnalysisObserver::OnEvent(const Event& event) {
  if (event.conn == nullptr) return;
  ConnAnalysis& a = event.conn->analysis;
  switch (event.id) {
    case EventId::kSmtpRequest:
    case EventId::kSmtpReply:
      a.smtp = true;
      break;
    case EventId::kWeird:
      for (std::string_view name : kOriginatorLimitWeirds) {
        if (Get(event, ev::weird::name) == name) a.partial[0] = true;
      }
      break;
    default:
      break;
  }
}

bool ConnAnalysisObserver::Wants(EventId id) const {
  return id == EventId::kSmtpRequest || id == EventId::kSmtpReply || id == EventId::kWeird;
}

}  // namespace mailtap
