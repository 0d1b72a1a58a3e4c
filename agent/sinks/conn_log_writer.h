// --log-dir: conn.log as Zeek's JSON writer or Zeek's ASCII writer would write it, and the
// observer that tells the flow table what conn.log's service and history need from the events.
#pragma once

#include <string>

#include "mailtap/conn_record.h"
#include "mailtap/sink.h"
#include "mailtap/stats.h"
#include "sinks/zeek_log.h"

namespace mailtap {

// conn.log's #path, #fields and #types: Zeek's Conn::Info (base scripts), then community_id (as
// Zeek's community-id-logging policy adds it). JSON records also have end_reason and proc.*.
const LogSchema& ConnLogSchema();

// One record as one line without a newline, in `format`. end_reason and the owning process
// (proc.*, only when known) are written in JSON only, as smtp.log's proc.*.
std::string FormatConnRecord(const ConnRecord& record, LogFormat format,
                             const LogLimits& limits = {});

// Format, limits, clock, buffer and start as every record log has them (zeek_log.h).
using ConnLogWriterOptions = RecordLogOptions;

// Writes DIR/conn.log. Not thread-safe: the pipeline thread only.
class ConnLogWriter : public RecordLogWriter<ConnRecordSink> {
 public:
  // Throws std::runtime_error naming the file and the errno text if it cannot be opened.
  ConnLogWriter(const std::string& dir, ConnLogWriterOptions options = {});

  // Never throws: write errors are counted and the record dropped.
  void OnConnRecord(const ConnRecord& record) override;

  // Group "conn_log_file": records, and the file's counters (loss cause "conn_log_output_error").
  void VisitStats(StatsVisitor& visitor) const override;
};

// Reads the events for what conn.log reports beyond the packets (Connection::analysis): service
// "smtp" once the SMTP analyzer parsed a command or a reply, and history 'X' when an analyzer
// limit cut the analysis (the weird exceeded_mime_max_header_bytes, for the originator's message).
// Service "ssl" is set by the TLS analyzer itself. Put it on the event bus.
class ConnAnalysisObserver : public EventSink {
 public:
  void OnEvent(const Event& event) override;
  bool Wants(EventId id) const override;
};

}  // namespace mailtap
