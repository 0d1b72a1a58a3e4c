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

struct SslLogWriterOptions {
  LogFormat format = LogFormat::kJson;
  LogLimits limits;
  WallClock clock;                       // for #open/#close; empty = the system clock
  LogStart start = LogStart::kContinue;  // kFresh for a replay (zeek_log.h)
  size_t buffer_bytes = 64 * 1024;
};

// Writes DIR/ssl.log. Not thread-safe: the pipeline thread only.
class SslLogWriter : public SslRecordSink, public StatsSource {
 public:
  // Throws std::runtime_error naming the file and the errno text if it cannot be opened.
  SslLogWriter(const std::string& dir, SslLogWriterOptions options = {});

  // Never throws: write errors are counted and the record dropped.
  void OnSslRecord(const SslRecord& record) override;
  void Flush() override { file_.Flush(); }
  bool Reopen() { return file_.Reopen(); }
  FileOutput& output() { return file_.output(); }

  // Group "ssl_log_file": records, and the file's counters (loss cause "ssl_log_output_error").
  void VisitStats(StatsVisitor& visitor) const override;

 private:
  LogLimits limits_;
  LogFile file_;
  std::string line_;
  Counter records_;
};

}  // namespace mailtap
