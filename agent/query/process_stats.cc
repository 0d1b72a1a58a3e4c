#include "query/process_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace mailtap {
namespace {

// Seconds since the epoch at which the machine booted (/proc/stat "btime").
std::optional<uint64_t> BootTime() {
  std::ifstream in("/proc/stat");
  std::string key;
  uint64_t value = 0;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    if (fields >> key >> value && key == "btime") return value;
  }
  return std::nullopt;
}

std::optional<uint64_t> CountOpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  uint64_t n = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n - 1;  // the directory's own descriptor
}

// The fields of /proc/self/stat after the command name, which is in parentheses and may itself
// contain spaces and parentheses (proc(5)): fields[0] is field 3, "state".
std::optional<std::vector<std::string>> StatFields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  if (fields.size() < 22) return std::nullopt;
  return fields;
}

}  // namespace

std::optional<ProcessStats> ReadProcessStats() {
  std::optional<std::vector<std::string>> f = StatFields();
  if (!f) return std::nullopt;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const long page = ::sysconf(_SC_PAGESIZE);
  ProcessStats s;
  try {
    // proc(5) numbering: utime 14, stime 15, starttime 22, vsize 23, rss 24 (pages).
    s.cpu_seconds = (std::stod((*f)[11]) + std::stod((*f)[12])) / ticks;
    double started_after_boot = std::stod((*f)[19]) / ticks;
    s.virtual_bytes = std::stoull((*f)[20]);
    s.resident_bytes = std::stoull((*f)[21]) * static_cast<uint64_t>(page);
    if (std::optional<uint64_t> boot = BootTime()) {
      s.start_time_seconds = static_cast<double>(*boot) + started_after_boot;
    }
  } catch (const std::exception&) {
    return std::nullopt;
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) s.max_fds = limit.rlim_cur;
  s.open_fds = CountOpenFds();
  return s;
}

}  // namespace mailtap
