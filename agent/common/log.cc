#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

namespace mailtap {
namespace {
std::atomic<int> threshold{static_cast<int>(Severity::kInfo)};

const char* Name(Severity s) {
  switch (s) {
    case Severity::kError: return "error";
    case Severity::kWarn: return "warn";
    case Severity::kInfo: return "info";
    case Severity::kDebug: return "debug";
  }
  return "?";
}
}  // namespace

void SetLogThreshold(Severity max) { threshold.store(static_cast<int>(max)); }

bool LogEnabled(Severity severity) { return static_cast<int>(severity) <= threshold.load(); }

void LogLine(Severity severity, std::string_view message) {
  std::string line = fmt::format("mailtapd: {}: {}\n", Name(severity), message);
  // One write so that lines from different threads never interleave; stderr is unbuffered.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace mailtap
