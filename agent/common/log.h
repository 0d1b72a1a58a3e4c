// Leveled diagnostics on stderr ("mailtapd: warn: ..."). Not for events: those go to sinks.
#pragma once

#include <fmt/format.h>

#include <array>
#include <string_view>
#include <utility>

namespace mailtap {

// Also the --log-level values: messages up to the chosen severity are written.
enum class Severity { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };
inline constexpr std::array<std::pair<std::string_view, Severity>, 4> kSeverityNames{{
    {"error", Severity::kError},
    {"warn", Severity::kWarn},
    {"info", Severity::kInfo},
    {"debug", Severity::kDebug},
}};

// Messages above `max` are dropped. Thread-safe (each message is one write(2)).
void SetLogThreshold(Severity max);
bool LogEnabled(Severity severity);
void LogLine(Severity severity, std::string_view message);

template <typename... Args>
void Log(Severity severity, fmt::format_string<Args...> format, Args&&... args) {
  if (LogEnabled(severity)) LogLine(severity, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace mailtap
