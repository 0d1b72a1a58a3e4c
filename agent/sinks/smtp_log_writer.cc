#include "sinks/smtp_log_writer.h"

#include <utility>

namespace mailtap {
namespace {

// Fills `b` with the record's columns in Zeek's order (spec 19.1).
void BuildRecord(const SmtpRecord& r, LogLineBuilder& b) {
  b.Time("ts", r.ts);
  b.String("uid", r.uid);
  b.ConnIdColumns(r.id);
  b.Count("trans_depth", r.trans_depth);
  b.String("helo", r.helo);
  b.String("mailfrom", r.mailfrom);
  b.StringSet("rcptto", r.rcptto);
  b.String("date", r.date);
  b.String("from", r.from);
  b.StringSet("to", r.to);
  b.StringSet("cc", r.cc);
  b.String("reply_to", r.reply_to);
  b.String("msg_id", r.msg_id);
  b.String("in_reply_to", r.in_reply_to);
  b.String("subject", r.subject);
  b.Addr("x_originating_ip", r.x_originating_ip);
  b.String("first_received", r.first_received);
  b.String("second_received", r.second_received);
  b.String("last_reply", r.last_reply);
  b.AddrVector("path", r.path);
  b.String("user_agent", r.user_agent);
  b.Bool("tls", r.tls);
  b.StringSet("fuids", std::optional<std::vector<std::string>>(r.fuids));  // always logged
}

// Not Zeek's columns: only in JSON, and only when known, so that Zeek's TSV layout and replays
// are unchanged.
void BuildProcess(const SmtpRecord& r, LogFormat format, LogLineBuilder& b) {
  if (format != LogFormat::kJson) return;
  b.OptionalString("community_id", r.community_id);
  if (!r.proc) return;
  b.Count("proc.pid", r.proc->pid);
  b.String("proc.name", r.proc->name);
  if (r.proc->cgroup_id != 0) b.Count("proc.cgroup_id", r.proc->cgroup_id);
}

void BuildLine(const SmtpRecord& r, LogFormat format, LogLineBuilder& b) {
  BuildRecord(r, b);
  BuildProcess(r, format, b);
}

std::string Format(const SmtpRecord& r, LogFormat format, const LogLimits& limits) {
  LogLineBuilder b(format, limits);
  BuildLine(r, format, b);
  return b.Finish();
}

}  // namespace

const LogSchema& SmtpLogSchema() {
  static const LogSchema schema{
      "smtp",
      {"ts",
       "uid",
       "id.orig_h",
       "id.orig_p",
       "id.resp_h",
       "id.resp_p",
       "trans_depth",
       "helo",
       "mailfrom",
       "rcptto",
       "date",
       "from",
       "to",
       "cc",
       "reply_to",
       "msg_id",
       "in_reply_to",
       "subject",
       "x_originating_ip",
       "first_received",
       "second_received",
       "last_reply",
       "path",
       "user_agent",
       "tls",
       "fuids"},
      {"time",        "string",        "addr",   "port",        "addr",         "port",
       "count",       "string",        "string", "set[string]", "string",       "string",
       "set[string]", "set[string]",   "string", "string",      "string",       "string",
       "addr",        "string",        "string", "string",      "vector[addr]", "string",
       "bool",        "vector[string]"}};
  return schema;
}

std::string FormatRecordJson(const SmtpRecord& record, const LogLimits& limits) {
  return Format(record, LogFormat::kJson, limits);
}

std::string FormatRecordZeek(const SmtpRecord& record, const LogLimits& limits) {
  return Format(record, LogFormat::kZeek, limits);
}

SmtpLogWriter::SmtpLogWriter(const std::string& dir, SmtpLogWriterOptions options)
    : RecordLogWriter(dir, SmtpLogSchema(), options), weirds_(options.weirds) {}

void SmtpLogWriter::OnRecord(const SmtpRecord& record) {
  const LogTruncation cut =
      log().Write([&](LogLineBuilder& b) { BuildLine(record, log().format(), b); });
  strings_truncated_.Add(cut.strings);
  containers_truncated_.Add(cut.containers);
  if (cut.strings > 0) RaiseTruncationWeird(record, "log_string_field_truncated");
  if (cut.containers > 0) RaiseTruncationWeird(record, "log_container_field_truncated");
}

// Zeek's logging framework reports cut fields as a weird naming the log stream.
void SmtpLogWriter::RaiseTruncationWeird(const SmtpRecord& record, std::string_view name) {
  if (weirds_ == nullptr) return;
  weirds_->OnEvent(MakeWeird(record.ts, nullptr, name, "SMTP::LOG", ""));
}

void SmtpLogWriter::VisitStats(StatsVisitor& v) const {
  log().VisitStats(v, "smtp_log_file", "smtp.log", "smtp_log_output_error");
  v.Visit("smtp_log_file", "strings_truncated", strings_truncated_.Get(),
          "String values cut to the log's string limits (Zeek's log_string_field_truncated).");
  v.Visit("smtp_log_file", "containers_truncated", containers_truncated_.Get(),
          "Sets cut to the log's element limits (Zeek's log_container_field_truncated).");
}

}  // namespace mailtap
