// Zeek-compatible log lines (the ASCII "TSV" writer and the JSON writer) and log files with
// Zeek's header/footer lines. Used by smtp.log, weird.log, ssl.log, conn.log and files.log.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mailtap/flow.h"
#include "mailtap/packet.h"
#include "mailtap/stats.h"
#include "sinks/file_output.h"

namespace mailtap {

enum class LogFormat { kJson, kZeek };
inline constexpr std::array<std::pair<std::string_view, LogFormat>, 2> kLogFormatNames{{
    {"json", LogFormat::kJson},
    {"zeek", LogFormat::kZeek},
}};

// "json" or "zeek"; nullopt otherwise.
std::optional<LogFormat> ParseLogFormat(std::string_view text);

// Zeek's Log::default_max_field_string_bytes, ..._container_elements and the per-record totals.
// 0 disables a limit.
struct LogLimits {
  size_t max_field_string_bytes = 4096;
  size_t max_field_container_elements = 100;
  size_t max_total_string_bytes = 256000;
  size_t max_total_container_elements = 500;
};

// Builds one log line field by field, in the order the fields are added. Unset (nullopt) fields
// are "-" in Zeek format and omitted in JSON. Strings are raw bytes.
// Zeek format escaping (ASCII writer, LogAscii::enable_utf_8 = T): TAB, `\`, control bytes and
// bytes that are not valid UTF-8 become \xNN, and inside sets/vectors so does `,`; an empty
// string is "(empty)"; a string that is exactly "-" or "(empty)" gets its first byte escaped.
// Limits: each string (also inside containers) is cut to max_field_string_bytes, each container
// to max_field_container_elements, and once a record's totals are used up further strings log as
// empty and further containers as empty (Zeek's log_*_truncated behaviour; counted, no weird).
class LogLineBuilder {
 public:
  // `buffer` is cleared and written into, so that a writer can hand the same allocation back
  // for every line (Finish() returns it).
  LogLineBuilder(LogFormat format, const LogLimits& limits, std::string buffer = {});

  void Time(std::string_view name, Timestamp ts);
  void String(std::string_view name, const std::optional<std::string>& value);
  void Count(std::string_view name, uint64_t value);
  void Count(std::string_view name, std::optional<uint64_t> value);  // nullopt: unset
  // A duration as Zeek's interval: seconds with six decimals. nullopt: unset.
  void Interval(std::string_view name, std::optional<Timestamp> span);
  // An empty string is unset (for mailtap's appended fields, e.g. community_id).
  void OptionalString(std::string_view name, const std::string& value);
  void Port(std::string_view name, uint16_t port);
  void Bool(std::string_view name, bool value);
  void Bool(std::string_view name, std::optional<bool> value);  // nullopt: unset
  void Addr(std::string_view name, const std::optional<IpAddress>& value);
  void StringSet(std::string_view name, const std::optional<std::vector<std::string>>& values);
  void AddrVector(std::string_view name, const std::optional<std::vector<IpAddress>>& values);
  // id.orig_h, id.orig_p, id.resp_h, id.resp_p: the columns every Zeek log of a connection has.
  void ConnIdColumns(const ConnId& id);

  // The line, without a newline. The builder must not be used afterwards.
  std::string Finish();

  uint64_t strings_truncated() const { return strings_truncated_; }
  uint64_t containers_truncated() const { return containers_truncated_; }

 private:
  void BeginField(std::string_view name);
  void Unset();
  std::string_view LimitString(std::string_view s);
  size_t LimitContainer(size_t n);
  void AppendStringValue(std::string_view s, bool in_container);
  void AppendRaw(std::string_view text, bool quote_in_json);
  void AppendAddr(const IpAddress& a);
  template <typename T, typename Fn>
  void Container(std::string_view name, const std::optional<std::vector<T>>& values, Fn each);

  LogFormat format_;
  LogLimits limits_;
  std::string out_;
  bool first_ = true;
  size_t string_bytes_ = 0;
  size_t container_elements_ = 0;
  uint64_t strings_truncated_ = 0;
  uint64_t containers_truncated_ = 0;
};

// Appends `bytes` escaped as Zeek's ASCII writer does (see LogLineBuilder), without the
// reserved-value handling. Exposed for tests.
void AppendZeekEscaped(std::string_view bytes, bool in_container, std::string* out);

// Wall-clock seconds, for the #open/#close lines only (never for record content).
using WallClock = std::function<std::time_t()>;
WallClock SystemWallClock();

// "2024-05-01-13-45-00" in local time, as Zeek's #open/#close.
std::string FormatLogDate(std::time_t t);

struct LogSchema {
  std::string path;                 // "smtp"
  std::vector<std::string> fields;  // "ts", "uid", "id.orig_h", ...
  std::vector<std::string> types;   // "time", "string", "addr", ...
};

// The header block of a Zeek-format log, each line ending in "\n".
std::string ZeekLogHeader(const LogSchema& schema, std::time_t open_time);

// How a run starts its log files (a file never mixes formats or runs' header blocks):
//   kFresh     truncate them (a replay, as `zeek -r` writes fresh logs);
//   kContinue  append JSON lines to a JSON file left by an earlier run (a restarted live agent:
//              a shipper tailing the file just reads on). A file of the other format, or any
//              non-empty Zeek-format file (one header block and #close per file, as Zeek's), is
//              first renamed aside to <path>.<its modification time>.log, as Zeek names rotated
//              logs (smtp.2024-05-01-13-45-00.log), and a new file started.
enum class LogStart { kFresh, kContinue };

// A log file DIR/<schema.path>.log in one format. Zeek format gets the header when opened and
// "#close" when closed or rotated. Not thread-safe: the pipeline thread only.
class LogFile {
 public:
  // Throws std::runtime_error naming the file and errno text if it cannot be opened (start-up).
  LogFile(const std::string& dir, LogSchema schema, LogFormat format, WallClock clock,
          size_t buffer_bytes = 64 * 1024, LogStart start = LogStart::kContinue);
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  // `line` without its newline.
  void WriteLine(std::string_view line);
  void Flush() { out_.Flush(); }
  // After rotation: "#close" to the old file, reopen, header to the new one.
  bool Reopen();

  LogFormat format() const { return format_; }
  const FileOutput& output() const { return out_; }
  FileOutput& output() { return out_; }

 private:
  void WriteHeader();
  void WriteFooter();

  LogSchema schema_;
  LogFormat format_;
  WallClock clock_;
  FileOutput out_;
};

// How a record log writer (smtp.log, ssl.log, conn.log, files.log) writes its file.
struct RecordLogOptions {
  LogFormat format = LogFormat::kJson;
  LogLimits limits;
  WallClock clock;  // for #open/#close; empty = the system clock
  size_t buffer_bytes = 64 * 1024;
  LogStart start = LogStart::kContinue;  // kFresh for a replay
};

// What LogLineBuilder cut from one record to keep within the LogLimits.
struct LogTruncation {
  uint64_t strings = 0;
  uint64_t containers = 0;
};

// The part every record log writer has: the LogFile, the limits its lines are built with, the
// line buffer reused from one record to the next (so that writing a record does not allocate)
// and the count of records written. Not thread-safe: the pipeline thread only.
class RecordLogFile {
 public:
  // Throws std::runtime_error naming the file and the errno text if it cannot be opened.
  RecordLogFile(const std::string& dir, LogSchema schema, RecordLogOptions options);

  // Builds one line with `build(LogLineBuilder&)`, which adds the record's fields in the log's
  // column order, writes it and counts it. Never throws on a write error (FileOutput counts it
  // and drops the line).
  template <typename Build>
  LogTruncation Write(Build&& build) {
    LogLineBuilder b(file_.format(), limits_, std::move(line_));
    build(b);
    const LogTruncation cut{b.strings_truncated(), b.containers_truncated()};
    line_ = b.Finish();
    file_.WriteLine(line_);
    records_.Add();
    return cut;
  }

  LogFormat format() const { return file_.format(); }
  void Flush() { file_.Flush(); }
  bool Reopen() { return file_.Reopen(); }
  FileOutput& output() { return file_.output(); }

  // Under `group`: records ("Records formatted for <what>."), then the file's counters, its
  // dropped bytes as loss `loss_cause` (FileOutput::VisitStats).
  void VisitStats(StatsVisitor& visitor, std::string_view group, std::string_view what,
                  std::string_view loss_cause) const;

 private:
  LogLimits limits_;
  LogFile file_;
  std::string line_;  // the last line written: its allocation serves the next one
  Counter records_;
};

// What every record log writer is: the `Sink` its records come through, a StatsSource, and a
// RecordLogFile behind both. The writer adds its On*Record (building the line with log().Write)
// and its VisitStats (naming its group). Not thread-safe: the pipeline thread only.
template <typename Sink>
class RecordLogWriter : public Sink, public StatsSource {
 public:
  void Flush() override { log_.Flush(); }
  // SIGHUP after log rotation (Zeek format: #close to the old file, a header to the new one).
  bool Reopen() { return log_.Reopen(); }
  FileOutput& output() { return log_.output(); }

 protected:
  // Throws std::runtime_error naming the file and the errno text if it cannot be opened.
  RecordLogWriter(const std::string& dir, LogSchema schema, RecordLogOptions options)
      : log_(dir, std::move(schema), std::move(options)) {}
  RecordLogFile& log() { return log_; }
  const RecordLogFile& log() const { return log_; }

 private:
  RecordLogFile log_;
};

}  // namespace mailtap
