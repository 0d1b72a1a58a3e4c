// --events: every event as one JSON line (see event_json.h) to a file or standard output.
#pragma once

#include <cstddef>
#include <string>

#include "mailtap/sink.h"
#include "mailtap/stats.h"
#include "sinks/file_output.h"

namespace mailtap {

// Not thread-safe: the pipeline thread only.
class JsonlEventWriter : public EventSink, public StatsSource {
 public:
  // Opens `path` for appending, or with kTruncate emptied first ("-" = standard output). Throws
  // std::runtime_error naming the path and the errno text if it cannot be opened (start-up only).
  // Lines are written when `buffer_bytes` are buffered, on Flush() and on destruction.
  explicit JsonlEventWriter(std::string path, size_t buffer_bytes = 64 * 1024,
                            OpenMode mode = OpenMode::kAppend);

  // Never throws: write errors are counted (VisitStats) and the lines dropped.
  void OnEvent(const Event& event) override;
  void Flush() override;
  // For SIGHUP after log rotation: flushes, closes and reopens the path. False if that failed
  // (counted and logged; events go on into the file already open).
  bool Reopen();
  FileOutput& output() { return out_; }

  // Group "events_jsonl": events_written, bytes_written, write_errors, bytes_dropped (loss cause
  // "events_output_error"), reopen_failures.
  void VisitStats(StatsVisitor& visitor) const override;

 private:
  FileOutput out_;
  std::string line_;  // reused between events
  Counter events_written_;
};

}  // namespace mailtap
