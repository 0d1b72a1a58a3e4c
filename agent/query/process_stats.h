// The agent process's own resource use, read from /proc, for the process_* metrics that
// Prometheus client libraries export (names and units as theirs).
#pragma once

#include <cstdint>
#include <optional>

namespace mailtap {

struct ProcessStats {
  double cpu_seconds = 0;         // user + system CPU time
  uint64_t resident_bytes = 0;    // resident set size
  uint64_t virtual_bytes = 0;     // virtual memory size
  double start_time_seconds = 0;  // when the process started, seconds since the epoch
  uint64_t max_fds = 0;           // the soft RLIMIT_NOFILE
  // Unknown when /proc/self/fd cannot be read: after the live agent gives up its privileges
  // the kernel makes its /proc entries root's (not dumpable).
  std::optional<uint64_t> open_fds;
};

// Reads the calling process's statistics; nullopt if /proc/self/stat cannot be read or parsed.
std::optional<ProcessStats> ReadProcessStats();

}  // namespace mailtap
