// --log-dir: ssl.log as Zeek's JSON writer or Zeek's ASCII writer would write it.
#pragma once

#include <string>

#include "mailtap/stats.h"
#include "sinks/zeek_log.h"
#include "tls/ssl_log.h"

namespace mailtap {

// ssl.log's #path, #fields and #types (Zeek's SSL::Info, base scripts only).
const LogSchema& SslLogSchema();

// One record as one line without a newline, in `format`. Limits as in LogLineBuilder.
std::string FormatSslRecord(const SslRecord& record, LogFormat format,
                            const LogLimits& limits = {});

// Format, limits, clock, buffer and start as every record log has them (zeek_log.h).
using SslLogWriterOptions = RecordLogOptions;

// Writes DIR/ssl.log. Not thread-safe: the pipeline thread only.
class SslLogWriter : public RecordLogWriter<SslRecordSink> {
 public:
  // Throws std::runtime_error naming the file and the errno text if it cannot be opened.
  SslLogWriter(const std::string& dir, SslLogWriterOptions options = {});

  // Never throws: write errors are counted and the record dropped.
  void OnSslRecord(const SslRecord& record) override;

  // Group "ssl_log_file": records, and the file's counters (loss cause "ssl_log_output_error").
  void VisitStats(StatsVisitor& visitor) const override;
};

}  // namespace mailtap
