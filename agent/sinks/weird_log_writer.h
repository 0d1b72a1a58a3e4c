// weird.log: Zeek's weird events as Zeek's notice/weird.zeek logs them, with its de-duplication.
#pragma once

#include <string>
#include <unordered_map>

#include "mailtap/sink.h"
#include "mailtap/stats.h"
#include "sinks/zeek_log.h"

namespace mailtap {

// weird.log's #path, #fields and #types.
const LogSchema& WeirdLogSchema();

struct WeirdLogWriterOptions {
  LogFormat format = LogFormat::kJson;
  WallClock clock;                       // for #open/#close; empty = the system clock
  LogStart start = LogStart::kContinue;  // kFresh for a replay (zeek_log.h)
  size_t buffer_bytes = 64 * 1024;
  // Bound of the de-duplication table. When it is full and nothing has expired, weirds are
  // logged without being remembered (counted as dedup_table_full).
  size_t max_dedup_entries = 100000;
};

// Consumes "weird" events (args name, addl, source; other events are ignored) and writes
// DIR/weird.log with columns ts uid id.* name addl notice peer source (empty addl/source are
// unset). De-duplication as weird.zeek: a (name, connection 4-tuple) pair is logged at most once
// per 10 minutes of packet time; smtp_mail_transaction_invalid and
// smtp_excessive_invalid_mail_transactions once per connection 4-tuple (remembered one day);
// weirds without a connection are keyed by name. Not thread-safe: the pipeline thread only.
class WeirdLogWriter : public EventSink, public StatsSource {
 public:
  // Throws std::runtime_error naming the file and the errno text if it cannot be opened.
  WeirdLogWriter(const std::string& dir, WeirdLogWriterOptions options = {});

  void OnEvent(const Event& event) override;
  bool Wants(EventId id) const override { return id == EventId::kWeird; }
  void Flush() override { file_.Flush(); }
  bool Reopen() { return file_.Reopen(); }
  FileOutput& output() { return file_.output(); }

  // Group "weird_log": weirds_logged, weirds_suppressed, dedup_table_full, bytes_written,
  // write_errors, bytes_dropped (loss cause "weird_log_output_error"), reopen_failures.
  void VisitStats(StatsVisitor& visitor) const override;

 private:
  bool ShouldLog(const Event& event, const std::string& name);
  void Write(const Event& event, const std::string& name);

  size_t max_dedup_entries_;
  LogFile file_;
  std::unordered_map<std::string, Timestamp> seen_until_;  // key -> suppress until
  Counter logged_;
  Counter suppressed_;
  Counter table_full_;
};

}  // namespace mailtap
