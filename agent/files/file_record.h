// One files.log record: Zeek's Files::Info as the SMTP analysis fills it, plus the columns of
// Zeek's hash and extract analyzers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mailtap/flow.h"
#include "mailtap/packet.h"

namespace mailtap {

struct FileRecord {
  Timestamp ts;  // the first byte of the file
  std::string fuid;
  std::string uid;  // the connection the file came over
  ConnId id;
  std::string source = "SMTP";
  uint64_t depth = 0;
  std::vector<std::string> analyzers;  // "MD5", "SHA1", "SHA256", "EXTRACT" as attached
  std::optional<std::string> mime_type;
  std::optional<std::string> filename;  // as the sender named it: display only
  int64_t duration_usec = 0;
  std::optional<bool> local_orig;
  bool is_orig = true;
  uint64_t seen_bytes = 0;
  std::optional<uint64_t> total_bytes;  // unknown for MIME entities: always unset here
  uint64_t missing_bytes = 0;
  uint64_t overflow_bytes = 0;
  bool timedout = false;
  std::optional<std::string> parent_fuid;
  std::optional<std::string> md5, sha1, sha256;
  std::optional<std::string> extracted;  // the file's name inside the extraction directory
  std::optional<bool> extracted_cutoff;  // the file on disk is not the whole file
  std::optional<uint64_t> extracted_size;
};

// Receives files.log records when their file ends, on the pipeline thread.
class FileRecordSink {
 public:
  virtual ~FileRecordSink() = default;
  virtual void OnFileRecord(const FileRecord& record) = 0;
  virtual void Flush() {}
};

}  // namespace mailtap
