#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "common/enum_names.h"

namespace mailtap {
namespace {
std::atomic<int> threshold{static_cast<int>(Severity::kInfo)};

}  // namespace

void SetLogThreshold(Severity max) { threshold.store(static_cast<int>(max)); }

bool LogEnabled(Severity severity) { return static_cast<int>(severity) <= threshold.load(); }

void LogLine(Severity severity, std::string_view message) {
  std::string line =
      fmt::format("mailtapd: {}: {}\n", EnumName<Severity>(kSeverityNames, severity), message);
  // One write so that lines from different threads never interleave; stderr is unbuffered.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace mailtap
