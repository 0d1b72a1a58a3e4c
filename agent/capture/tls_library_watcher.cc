#include "capture/tls_library_watcher.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "capture/privileges.h"
#include "common/log.h"

namespace mailtap {
namespace {

constexpr size_t kMaxReportLine = 64 * 1024;  // a line longer than this is dropped
constexpr size_t kFields = 9;

uint64_t Bit(int cap) { return uint64_t{1} << cap; }

// What the child keeps: attaching (CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN before Linux 5.8),
// reading other users' /proc/PID/maps and /proc/PID/root (CAP_SYS_PTRACE), opening library
// files the agent's uid could not (CAP_DAC_READ_SEARCH).
uint64_t WatcherCapabilities() {
  return Bit(CAP_BPF) | Bit(CAP_PERFMON) | Bit(CAP_SYS_ADMIN) | Bit(CAP_SYS_PTRACE) |
         Bit(CAP_DAC_READ_SEARCH);
}

std::string Escape(std::string_view field) {
  std::string out;
  for (char c : field) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::string> SplitEscaped(std::string_view line) {
  std::vector<std::string> fields(1);
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\t') {
      fields.emplace_back();
    } else if (c == '\\' && i + 1 < line.size()) {
      const char e = line[++i];
      fields.back() += e == 't' ? '\t' : e == 'n' ? '\n' : e;
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

bool ParseNumber(const std::string& text, uint64_t* out) {
  if (text.empty() || text.size() > 20) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// Every descriptor but `keep` is closed: the child holds no socket, ring or log file of the
// agent, and no copy of the agent's probe links (which would keep them attached).
void CloseAllExcept(const std::vector<int>& keep) {
  std::vector<int> open;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    open.push_back(std::atoi(it->path().filename().c_str()));
  }
  for (int fd : open) {
    if (fd > 2 && std::find(keep.begin(), keep.end(), fd) == keep.end()) ::close(fd);
  }
}

bool WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

struct ChildSetup {
  const TlsLibraryScanConfig& scan;
  std::chrono::milliseconds interval;
  std::set<TlsLibraryWatcher::FileId> known;
  const TlsLibraryWatcher::AttachFn& attach;
  int control_fd;
  int report_fd;
};

// One scan: reports every file not seen before, attached or refused, and every refusal of the
// scan itself once. False when the agent stopped reading.
bool ScanOnce(ChildSetup& c, std::set<std::string>& refused) {
  TlsLibraryScan scan = ScanTlsLibraries(c.scan);
  for (const SkippedTlsLibrary& s : scan.skipped) {
    if (!refused.insert(s.path + '\t' + s.reason).second) continue;
    TlsWatchReport report;
    report.file.path = s.path;
    report.file.found_by = s.found_by;
    report.reason = s.reason;
    if (!WriteAll(c.report_fd, EncodeTlsWatchReport(report))) return false;
  }
  for (const TlsLibraryFile& file : scan.files) {
    if (!c.known.insert({file.dev, file.ino}).second) continue;
    if (!WriteAll(c.report_fd, EncodeTlsWatchReport(c.attach(file)))) return false;
  }
  return true;
}

[[noreturn]] void RunChild(ChildSetup c, pid_t parent, const std::vector<int>& keep_fds) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(0);
  prctl(PR_SET_NAME, "mailtapd-tlswatch");
  std::vector<int> keep = keep_fds;
  keep.push_back(c.control_fd);
  keep.push_back(c.report_fd);
  CloseAllExcept(keep);
  if (std::string failed = KeepOnlyCapabilities(WatcherCapabilities()); !failed.empty()) {
    Log(Severity::kWarn, "TLS library watcher: cannot reduce its capabilities: {}", failed);
  }
  std::set<std::string> refused;
  for (;;) {
    pollfd control{c.control_fd, POLLIN, 0};
    const int ready = poll(&control, 1, static_cast<int>(c.interval.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready != 0) break;  // the agent closed the pipe (or died): end, taking the probes along
    if (!ScanOnce(c, refused)) break;
  }
  _exit(0);
}

}  // namespace

std::string EncodeTlsWatchReport(const TlsWatchReport& r) {
  const TlsLibraryFile& f = r.file;
  std::string line;
  for (const std::string& field :
       {std::to_string(static_cast<int>(f.kind)), f.path, f.open_path, std::to_string(f.dev),
        std::to_string(f.ino), f.found_by, std::to_string(r.probes), r.entry_points, r.reason}) {
    if (!line.empty()) line += '\t';
    line += Escape(field);
  }
  return line + '\n';
}

std::optional<TlsWatchReport> DecodeTlsWatchReport(std::string_view line) {
  const std::vector<std::string> f = SplitEscaped(line);
  uint64_t kind = 0, probes = 0;
  TlsWatchReport r;
  if (f.size() != kFields || !ParseNumber(f[0], &kind) || kind > 2 ||
      !ParseNumber(f[3], &r.file.dev) || !ParseNumber(f[4], &r.file.ino) ||
      !ParseNumber(f[6], &probes) || probes > 1000) {
    return std::nullopt;
  }
  r.file.kind = static_cast<TlsLibraryKind>(kind);
  r.file.path = f[1];
  r.file.open_path = f[2];
  r.file.found_by = f[5];
  r.probes = static_cast<int>(probes);
  r.entry_points = f[7];
  r.reason = f[8];
  return r;
}

std::unique_ptr<TlsLibraryWatcher> TlsLibraryWatcher::Start(const TlsLibraryScanConfig& scan,
                                                            std::chrono::milliseconds interval,
                                                            std::set<FileId> known, AttachFn attach,
                                                            const std::vector<int>& keep_fds) {
  int control[2], report[2];
  if (pipe2(control, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  if (pipe2(report, O_CLOEXEC) != 0) {
    ::close(control[0]);
    ::close(control[1]);
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    ::close(control[1]);
    ::close(report[0]);
    RunChild(ChildSetup{scan, interval, std::move(known), attach, control[0], report[1]}, parent,
             keep_fds);
  }
  ::close(control[0]);
  ::close(report[1]);
  if (pid < 0) {
    const int err = errno;
    ::close(control[1]);
    ::close(report[0]);
    throw std::runtime_error(std::string("fork: ") + std::strerror(err));
  }
  fcntl(report[0], F_SETFL, fcntl(report[0], F_GETFL) | O_NONBLOCK);
  return std::unique_ptr<TlsLibraryWatcher>(new TlsLibraryWatcher(pid, control[1], report[0]));
}

TlsLibraryWatcher::TlsLibraryWatcher(pid_t pid, int control_fd, int report_fd)
    : pid_(pid), control_fd_(control_fd), report_fd_(report_fd) {}

TlsLibraryWatcher::~TlsLibraryWatcher() { Stop(); }

// The child ends when its control pipe closes (or its report pipe breaks); the agent may no
// longer be allowed to signal it (it runs as root, the agent not), but may always wait for it.
void TlsLibraryWatcher::Stop() {
  ::close(report_fd_);
  ::close(control_fd_);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

std::vector<TlsWatchReport> TlsLibraryWatcher::Poll() {
  std::vector<TlsWatchReport> out;
  char buf[16 * 1024];
  for (;;) {
    const ssize_t n = ::read(report_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    partial_.append(buf, static_cast<size_t>(n));
    size_t eol;
    while ((eol = partial_.find('\n')) != std::string::npos) {
      if (auto report = DecodeTlsWatchReport(std::string_view(partial_).substr(0, eol))) {
        out.push_back(std::move(*report));
      }
      partial_.erase(0, eol + 1);
    }
    if (partial_.size() > kMaxReportLine) partial_.clear();
  }
  return out;
}

}  // namespace mailtap
