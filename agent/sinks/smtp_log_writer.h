// --log-dir: smtp.log as Zeek's JSON writer or Zeek's ASCII writer would write it.
#pragma once

#include <string>

#include "mailtap/sink.h"
#include "mailtap/smtp_record.h"
#include "mailtap/stats.h"
#include "sinks/zeek_log.h"

namespace mailtap {

// smtp.log's #path, #fields and #types (Zeek's SMTP::Info, base scripts only).
const LogSchema& SmtpLogSchema();

// One smtp.log record as Zeek's JSON writer prints it, without a newline: keys in Zeek's column
// order with id.* flattened, unset fields omitted, sets/vectors as arrays, ts a number, tls
// true/false. Limits as in LogLineBuilder. Reused by the query server.
std::string FormatRecordJson(const SmtpRecord& record, const LogLimits& limits = {});

// The same record as one Zeek ASCII (tab-separated) line, without a newline.
std::string FormatRecordZeek(const SmtpRecord& record, const LogLimits& limits = {});

// The options every record log has (zeek_log.h), and where smtp.log's own weirds go.
struct SmtpLogWriterOptions : RecordLogOptions {
  // Receives Zeek's log_string_field_truncated / log_container_field_truncated weirds (addl
  // "SMTP::LOG", no connection) when a record had to be cut. May be null.
  EventSink* weirds = nullptr;
};

// Writes DIR/smtp.log. Not thread-safe: the pipeline thread only.
class SmtpLogWriter : public RecordLogWriter<RecordSink> {
 public:
  // Throws std::runtime_error naming the file and the errno text if it cannot be opened.
  SmtpLogWriter(const std::string& dir, SmtpLogWriterOptions options = {});

  // Never throws: write errors are counted and the record dropped.
  void OnRecord(const SmtpRecord& record) override;

  // Group "smtp_log_file": records, bytes_written, write_errors, bytes_dropped (loss cause
  // "smtp_log_output_error"), reopen_failures, strings_truncated, containers_truncated.
  void VisitStats(StatsVisitor& visitor) const override;

 private:
  void RaiseTruncationWeird(const SmtpRecord& record, std::string_view name);

  EventSink* weirds_;
  Counter strings_truncated_;
  Counter containers_truncated_;
};

}  // namespace mailtap
