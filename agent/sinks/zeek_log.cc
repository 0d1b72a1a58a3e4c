#include "sinks/zeek_log.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <utility>

#include "common/enum_names.h"
#include "common/json_escape.h"
#include "common/log.h"

namespace mailtap {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr std::string_view kUnsetField = "-";
constexpr std::string_view kEmptyField = "(empty)";

void AppendHexEscape(uint8_t c, std::string* out) {
  out->append("\\x");
  out->push_back(kHex[c >> 4]);
  out->push_back(kHex[c & 0xF]);
}

// Length of the valid UTF-8 sequence starting at s[i] (RFC 3629: no overlongs, surrogates or
// code points above U+10FFFF), or 0.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  const uint8_t c = b(0);
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) >= 0xA0)) return 0;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) >= 0x90)) return 0;
    return 4;
  }
  return 0;
}

}  // namespace

std::optional<LogFormat> ParseLogFormat(std::string_view text) {
  return EnumFromName<LogFormat>(kLogFormatNames, text);
}

void AppendZeekEscaped(std::string_view bytes, bool in_container, std::string* out) {
  size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<uint8_t>(bytes[i]);
    if (c == '\t' || c == '\\' || (in_container && c == ',') || c < 0x20 || c == 0x7F) {
      AppendHexEscape(c, out);
      ++i;
    } else if (c < 0x80) {
      out->push_back(static_cast<char>(c));
      ++i;
    } else if (size_t n = Utf8SequenceLength(bytes, i); n > 0) {
      out->append(bytes.substr(i, n));
      i += n;
    } else {
      AppendHexEscape(c, out);
      ++i;
    }
  }
}

LogLineBuilder::LogLineBuilder(LogFormat format, const LogLimits& limits, std::string buffer)
    : format_(format), limits_(limits), out_(std::move(buffer)) {
  out_.clear();
  out_.reserve(1024);
  if (format_ == LogFormat::kJson) out_.push_back('{');
}

void LogLineBuilder::BeginField(std::string_view name) {
  if (format_ == LogFormat::kZeek) {
    if (!first_) out_.push_back('\t');
  } else {
    // Field names are the schema's own (letters, digits, '_' and '.'), never network bytes.
    out_.append(first_ ? "\"" : ",\"");
    out_.append(name);
    out_.append("\":");
  }
  first_ = false;
}

// Zeek writes unset fields as "-" and its JSON writer leaves them out.
void LogLineBuilder::Unset() {
  if (format_ == LogFormat::kZeek) {
    if (!first_) out_.push_back('\t');
    out_.append(kUnsetField);
    first_ = false;
  }
}

std::string_view LogLineBuilder::LimitString(std::string_view s) {
  size_t keep = s.size();
  if (limits_.max_field_string_bytes > 0) keep = std::min(keep, limits_.max_field_string_bytes);
  if (limits_.max_total_string_bytes > 0) {
    keep = std::min(keep, limits_.max_total_string_bytes -
                              std::min(string_bytes_, limits_.max_total_string_bytes));
  }
  if (keep < s.size()) ++strings_truncated_;
  string_bytes_ += keep;
  return s.substr(0, keep);
}

size_t LogLineBuilder::LimitContainer(size_t n) {
  size_t keep = n;
  if (limits_.max_field_container_elements > 0) {
    keep = std::min(keep, limits_.max_field_container_elements);
  }
  if (limits_.max_total_container_elements > 0) {
    keep = std::min(keep, limits_.max_total_container_elements -
                              std::min(container_elements_, limits_.max_total_container_elements));
  }
  if (keep < n) ++containers_truncated_;
  container_elements_ += keep;
  return keep;
}

void LogLineBuilder::AppendStringValue(std::string_view raw, bool in_container) {
  const std::string_view s = LimitString(raw);
  if (format_ == LogFormat::kJson) {
    out_.push_back('"');
    AppendJsonEscaped(s, &out_);
    out_.push_back('"');
    return;
  }
  if (s.empty()) {
    out_.append(kEmptyField);
  } else if (s == kUnsetField || s == kEmptyField) {
    // Escape the first byte so that the value cannot be mistaken for the placeholder.
    AppendHexEscape(static_cast<uint8_t>(s[0]), &out_);
    AppendZeekEscaped(s.substr(1), in_container, &out_);
  } else {
    AppendZeekEscaped(s, in_container, &out_);
  }
}

void LogLineBuilder::AppendRaw(std::string_view text, bool quote_in_json) {
  const bool quote = quote_in_json && format_ == LogFormat::kJson;
  if (quote) out_.push_back('"');
  out_.append(text);
  if (quote) out_.push_back('"');
}

void LogLineBuilder::AppendAddr(const IpAddress& a) {
  const bool quote = format_ == LogFormat::kJson;  // addresses never need escaping
  if (quote) out_.push_back('"');
  a.AppendTo(&out_);
  if (quote) out_.push_back('"');
}

void LogLineBuilder::Time(std::string_view name, Timestamp ts) {
  BeginField(name);
  AppendTimestamp(ts, &out_);
}

void LogLineBuilder::String(std::string_view name, const std::optional<std::string>& value) {
  if (!value) return Unset();
  BeginField(name);
  AppendStringValue(*value, false);
}

void LogLineBuilder::Count(std::string_view name, uint64_t value) {
  BeginField(name);
  char digits[24];
  out_.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

void LogLineBuilder::Count(std::string_view name, std::optional<uint64_t> value) {
  if (!value) return Unset();
  Count(name, *value);
}

void LogLineBuilder::Interval(std::string_view name, std::optional<Timestamp> span) {
  if (!span) return Unset();
  BeginField(name);
  AppendTimestamp(*span, &out_);
}

void LogLineBuilder::OptionalString(std::string_view name, const std::string& value) {
  if (value.empty()) return Unset();
  String(name, value);
}

void LogLineBuilder::Port(std::string_view name, uint16_t port) { Count(name, port); }

void LogLineBuilder::ConnIdColumns(const ConnId& id) {
  Addr("id.orig_h", id.orig_h);
  Port("id.orig_p", id.orig_p);
  Addr("id.resp_h", id.resp_h);
  Port("id.resp_p", id.resp_p);
}

void LogLineBuilder::Bool(std::string_view name, bool value) {
  BeginField(name);
  if (format_ == LogFormat::kJson) {
    AppendRaw(value ? "true" : "false", false);
  } else {
    AppendRaw(value ? "T" : "F", false);
  }
}

void LogLineBuilder::Bool(std::string_view name, std::optional<bool> value) {
  if (!value) return Unset();
  Bool(name, *value);
}

void LogLineBuilder::Addr(std::string_view name, const std::optional<IpAddress>& value) {
  if (!value) return Unset();
  BeginField(name);
  AppendAddr(*value);
}

template <typename T, typename Fn>
void LogLineBuilder::Container(std::string_view name, const std::optional<std::vector<T>>& values,
                               Fn each) {
  if (!values) return Unset();
  BeginField(name);
  const size_t n = LimitContainer(values->size());
  if (format_ == LogFormat::kJson) out_.push_back('[');
  if (n == 0 && format_ == LogFormat::kZeek) out_.append(kEmptyField);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out_.push_back(',');
    each((*values)[i]);
  }
  if (format_ == LogFormat::kJson) out_.push_back(']');
}

void LogLineBuilder::StringSet(std::string_view name,
                               const std::optional<std::vector<std::string>>& values) {
  Container(name, values, [this](const std::string& s) { AppendStringValue(s, true); });
}

void LogLineBuilder::AddrVector(std::string_view name,
                                const std::optional<std::vector<IpAddress>>& values) {
  Container(name, values, [this](const IpAddress& a) { AppendAddr(a); });
}

std::string LogLineBuilder::Finish() {
  if (format_ == LogFormat::kJson) out_.push_back('}');
  return std::move(out_);
}

WallClock SystemWallClock() {
  return [] { return std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()); };
}

std::string FormatLogDate(std::time_t t) {
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d-%H-%M-%S", &tm);
  return std::string(buf, n);
}

std::string ZeekLogHeader(const LogSchema& schema, std::time_t open_time) {
  const auto joined = [](const std::vector<std::string>& v) {
    std::string out;
    for (const std::string& s : v) out += "\t" + s;
    return out;
  };
  std::string h;
  h += "#separator \\x09\n";
  h += "#set_separator\t,\n";
  h += "#empty_field\t(empty)\n";
  h += "#unset_field\t-\n";
  h += "#path\t" + schema.path + "\n";
  h += "#open\t" + FormatLogDate(open_time) + "\n";
  h += "#fields" + joined(schema.fields) + "\n";
  h += "#types" + joined(schema.types) + "\n";
  return h;
}

namespace {

// Whether a log left by an earlier run can take this run's lines: JSON lines onto JSON lines only.
bool CanContinue(const std::string& path, LogFormat format) {
  std::ifstream in(path, std::ios::binary);
  const int first = in.get();
  if (first == std::char_traits<char>::eof()) return true;  // missing or empty
  return format == LogFormat::kJson && first == '{';
}

// The log file's path, after moving aside a file that this run must not continue (LogStart).
std::string PrepareLogPath(const std::string& dir, const std::string& name, LogFormat format,
                           LogStart start) {
  std::string path = dir + "/" + name + ".log";
  if (start == LogStart::kFresh || CanContinue(path, format)) return path;
  struct stat st {};
  const std::time_t mtime = ::stat(path.c_str(), &st) == 0 ? st.st_mtime : std::time(nullptr);
  const std::string stem = dir + "/" + name + "." + FormatLogDate(mtime);
  std::string aside = stem + ".log";
  // Two restarts within a second must not overwrite the first file moved aside.
  for (int n = 1; std::filesystem::exists(aside); ++n) aside = fmt::format("{}-{}.log", stem, n);
  if (::rename(path.c_str(), aside.c_str()) == 0) {
    Log(Severity::kInfo, "'{}' is from an earlier run in another format: moved to '{}'", path,
        aside);
  } else {
    throw std::runtime_error(
        fmt::format("'{}' is from an earlier run in another format and "
                    "cannot be moved aside: {}; move it away",
                    path, std::strerror(errno)));
  }
  return path;
}

}  // namespace

LogFile::LogFile(const std::string& dir, LogSchema schema, LogFormat format, WallClock clock,
                 size_t buffer_bytes, LogStart start)
    : schema_(std::move(schema)),
      format_(format),
      clock_(clock ? std::move(clock) : SystemWallClock()),
      out_(PrepareLogPath(dir, schema_.path, format, start), buffer_bytes,
           start == LogStart::kFresh ? OpenMode::kTruncate : OpenMode::kAppend) {
  WriteHeader();
}

LogFile::~LogFile() { WriteFooter(); }

void LogFile::WriteHeader() {
  if (format_ == LogFormat::kZeek) out_.Append(ZeekLogHeader(schema_, clock_()));
}

void LogFile::WriteFooter() {
  if (format_ == LogFormat::kZeek) out_.Append("#close\t" + FormatLogDate(clock_()) + "\n");
  out_.Flush();
}

void LogFile::WriteLine(std::string_view line) { out_.AppendLine(line); }

bool LogFile::Reopen() {
  WriteFooter();
  if (!out_.Reopen()) return false;
  WriteHeader();
  return true;
}

RecordLogFile::RecordLogFile(const std::string& dir, LogSchema schema, RecordLogOptions options)
    : limits_(options.limits),
      file_(dir, std::move(schema), options.format, std::move(options.clock), options.buffer_bytes,
            options.start) {}

void RecordLogFile::VisitStats(StatsVisitor& v, std::string_view group, std::string_view what,
                               std::string_view loss_cause) const {
  v.Visit(group, "records", records_.Get(), fmt::format("Records formatted for {}.", what));
  file_.output().VisitStats(v, group, what, loss_cause);
}

}  // namespace mailtap
