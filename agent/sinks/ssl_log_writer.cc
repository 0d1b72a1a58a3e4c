#include "sinks/ssl_log_writer.h"

#include <utility>

namespace mailtap {
namespace {

// Zeek's column order: SSL::Info in base/protocols/ssl/main.zeek, then the fields
// base/protocols/ssl/files.zeek adds (subject and issuer are excluded from the log by default).
void BuildRecord(const SslRecord& r, LogLineBuilder& b) {
  b.Time("ts", r.ts);
  b.String("uid", r.uid);
  b.ConnIdColumns(r.id);
  b.String("version", r.version);
  b.String("cipher", r.cipher);
  b.String("curve", r.curve);
  b.String("server_name", r.server_name);
  b.Bool("resumed", r.resumed);
  b.String("last_alert", r.last_alert);
  b.String("next_protocol", r.next_protocol);
  b.Bool("established", r.established);
  b.String("ssl_history", r.ssl_history);
  b.StringSet("cert_chain_fps", r.cert_chain_fps);
  b.StringSet("client_cert_chain_fps", r.client_cert_chain_fps);
  b.Bool("sni_matches_cert", r.sni_matches_cert);
}

// Not Zeek's column: JSON only, so that Zeek's tab-separated layout is kept column for column.
void BuildMailtapFields(const SslRecord& r, LogFormat format, LogLineBuilder& b) {
  if (format == LogFormat::kJson) b.OptionalString("community_id", r.community_id);
}

void BuildLine(const SslRecord& r, LogFormat format, LogLineBuilder& b) {
  BuildRecord(r, b);
  BuildMailtapFields(r, format, b);
}

}  // namespace

const LogSchema& SslLogSchema() {
  static const LogSchema schema{
      "ssl",
      {"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "version", "cipher",
       "curve", "server_name", "resumed", "last_alert", "next_protocol", "established",
       "ssl_history", "cert_chain_fps", "client_cert_chain_fps", "sni_matches_cert"},
      {"time", "string", "addr", "port", "addr", "port", "string", "string", "string", "string",
       "bool", "string", "string", "bool", "string", "vector[string]", "vector[string]", "bool"}};
  return schema;
}

std::string FormatSslRecord(const SslRecord& record, LogFormat format, const LogLimits& limits) {
  LogLineBuilder b(format, limits);
  BuildLine(record, format, b);
  return b.Finish();
}

SslLogWriter::SslLogWriter(const std::string& dir, SslLogWriterOptions options)
    : RecordLogWriter(dir, SslLogSchema(), std::move(options)) {}

void SslLogWriter::OnSslRecord(const SslRecord& record) {
  log().Write([&](LogLineBuilder& b) { BuildLine(record, log().format(), b); });
}

void SslLogWriter::VisitStats(StatsVisitor& v) const {
  log().VisitStats(v, "ssl_log_file", "ssl.log", "ssl_log_output_error");
}

}  // namespace mailtap
