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

// The options every record log has (zeek_log.h), and files.log's optional columns.
struct FilesLogWriterOptions : RecordLogOptions {
  FilesLogColumns columns;
};

// Writes DIR/files.log. Not thread-safe: the pipeline thread only.
class FilesLogWriter : public RecordLogWriter<FileRecordSink> {
 public:
  // Throws std::runtime_error naming the file and the errno text if it cannot be opened.
  FilesLogWriter(const std::string& dir, FilesLogWriterOptions options = {});

  // Never throws: write errors are counted and the record dropped.
  void OnFileRecord(const FileRecord& record) override;

  // Group "files_log_file": records, and the file's counters (loss cause
  // "files_log_output_error").
  void VisitStats(StatsVisitor& visitor) const override;

 private:
  FilesLogColumns columns_;
};

}  // namespace mailtap
