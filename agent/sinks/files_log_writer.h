// --log-dir: files.log as Zeek's JSON writer or Zeek's ASCII writer would write it.
#pragma once

#include <string>

#include "files/file_record.h"
#include "mailtap/stats.h"
#include "sinks/zeek_log.h"

namespace mailtap {

// Which optional column groups files.log has: Zeek adds md5/sha1/sha256 when its hash analyzers
// are loaded (hash-all-files) and extracted/extracted_cutoff/extracted_size with file extraction.
struct FilesLogColumns {
  bool hashes = true;
  bool extraction = false;
};

// files.log's #path, #fields and #types (Zeek's Files::Info, then the hash and extract columns).
LogSchema FilesLogSchema(FilesLogColumns columns);

// One record as one line without a newline, in `format`. Limits as in LogLineBuilder.
std::string FormatFileRecord(const FileRecord& record, FilesLogColumns columns, LogFormat format,
                             const LogLimits& limits = {});

struct FilesLogWriterOptions {
  LogFormat format = LogFormat::kJson;
  FilesLogColumns columns;
  LogLimits limits;
  WallClock clock;  // for #open/#close; empty = the system clock
  size_t buffer_bytes = 64 * 1024;
  LogStart start = LogStart::kContinue;  // kFresh for a replay (zeek_log.h)
};

// Writes DIR/files.log. Not thread-safe: the pipeline thread only.
class FilesLogWriter : public FileRecordSink, public StatsSource {
 public:
  // Throws std::runtime_error naming the file and the errno text if it cannot be opened.
  FilesLogWriter(const std::string& dir, FilesLogWriterOptions options = {});

  // Never throws: write errors are counted and the record dropped.
  void OnFileRecord(const FileRecord& record) override;
  void Flush() override { file_.Flush(); }
  bool Reopen() { return file_.Reopen(); }
  FileOutput& output() { return file_.output(); }

  // Group "files_log_file": records, and the file's counters (loss cause
  // "files_log_output_error").
  void VisitStats(StatsVisitor& visitor) const override;

 private:
  FilesLogColumns columns_;
  LogLimits limits_;
  LogFile file_;
  std::string line_;
  Counter records_;
};

}  // namespace mailtap
