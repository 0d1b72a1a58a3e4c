// A buffered, reopenable append-only output file (or standard output) for the log writers.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "mailtap/stats.h"

namespace mailtap {

// How a run starts an output file: a replay writes fresh files (as `zeek -r` does); the live
// agent appends, so that a restart continues the files a log shipper is tailing.
enum class OpenMode { kAppend, kTruncate };

// Owns one file descriptor. Not thread-safe: the pipeline thread only (a SIGHUP handler should
// set a flag that the pipeline thread turns into a Reopen() call).
class FileOutput {
 public:
  static constexpr std::string_view kStdout = "-";

  // Opens `path` for appending, creating it (mode 0644) if needed, and with kTruncate emptying it
  // first (a later Reopen() appends); "-" means standard output.
  // Throws std::runtime_error naming the path and the errno text if it cannot be opened: this is
  // start-up, where a precise message is wanted.
  // `buffer_bytes`: output is written once this much is buffered (and on Flush()).
  explicit FileOutput(std::string path, size_t buffer_bytes = 64 * 1024,
                      OpenMode mode = OpenMode::kAppend);
  ~FileOutput();
  FileOutput(const FileOutput&) = delete;
  FileOutput& operator=(const FileOutput&) = delete;

  // Buffers `records`: whole lines, each ending with '\n'. Never throws; write errors are counted
  // and the unwritten bytes dropped.
  void Append(std::string_view records);
  // Buffers `line` and its newline, as one record.
  void AppendLine(std::string_view line);
  // Writes everything buffered. On a failed write (disk full, I/O error, closed pipe) the file
  // is left holding whole records only (cut back to the last one complete), the rest is counted
  // as dropped, and the error is logged once until a later write succeeds again.
  void Flush();
  // Flushes, closes and opens the path again (after logrotate moved the file). Standard output
  // is left alone. Returns false if the path cannot be opened: counted and logged, and output
  // goes on into the file already open.
  bool Reopen();
  // Gives the open file to `uid`:`gid` (before the agent drops root for that user, so that it can
  // still reopen the file after SIGHUP). Standard output is left alone. False, logged, on failure.
  bool HandTo(uid_t uid, gid_t gid);

  const std::string& path() const { return path_; }
  bool is_stdout() const { return path_ == kStdout; }

  uint64_t bytes_written() const { return bytes_written_.Get(); }
  uint64_t write_errors() const { return write_errors_.Get(); }
  uint64_t bytes_dropped() const { return bytes_dropped_.Get(); }
  uint64_t reopen_failures() const { return reopen_failures_.Get(); }

  // Reports bytes_written, write_errors, bytes_dropped (lost, as `loss_cause`) and
  // reopen_failures under `group`; `what` names the output in the help texts ("smtp.log").
  void VisitStats(StatsVisitor& visitor, std::string_view group, std::string_view what,
                  std::string_view loss_cause) const;

 private:
  int OpenPath(OpenMode mode) const;  // returns the fd or -1 (errno set)
  void CloseFd();
  // After a write of `written` buffered bytes failed: how many of them stay in the file as
  // whole records (a partial one is cut off again where possible).
  size_t TakeBackPartialRecord(size_t written);
  void ReportFailure(int error);
  void ReportRecovery();

  std::string path_;
  size_t buffer_bytes_;
  int fd_ = -1;
  std::string buffer_;
  bool failing_ = false;         // the last write failed (logged once until one succeeds)
  bool line_left_open_ = false;  // a partial record could not be cut off the output
  Counter bytes_written_;
  Counter write_errors_;
  Counter bytes_dropped_;
  Counter reopen_failures_;
};

}  // namespace mailtap
