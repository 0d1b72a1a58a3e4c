// Covers TLS library files first used after start-up: a mail server, or a container with its own
// copy of OpenSSL or GnuTLS, started after the agent.
//
// Uprobes belong to a library *file*: a process started later that maps a file already probed is
// covered with nothing to do. A file not seen at start-up needs new probes, and attaching needs
// privileges the agent gives up once it is set up. So a small child process, forked before the
// agent drops its privileges, keeps only what attaching needs — CAP_BPF and CAP_PERFMON (or
// CAP_SYS_ADMIN where the kernel predates them), CAP_SYS_PTRACE to read /proc/PID/maps and open
// files through /proc/PID/root of processes of other users, CAP_DAC_READ_SEARCH to open library
// files the agent's uid could not — and nothing else. It parses no traffic: every `interval` it
// lists the processes with a watched name (library_finder.h), and attaches the probes to each
// library file (by device and inode) it has not seen, through the attach function it inherited.
// Its probes live as long as it does; it ends when the agent destroys the watcher, when the agent
// dies (PR_SET_PDEATHSIG and the closed control pipe), and never outlives it.
//
// It reports each file it attached or refused to the agent over a pipe; Poll() reads them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "capture/library_finder.h"

namespace mailtap {

// One library file the watcher attached probes to (probes > 0) or could not (reason).
struct TlsWatchReport {
  TlsLibraryFile file;
  int probes = 0;
  std::string entry_points;  // as AttachedTlsLibrary::entry_points
  std::string reason;        // when probes == 0
};

// The report line format: tab-separated fields, backslash, tab and newline escaped. Exposed for
// tests; a line that does not parse yields nullopt.
std::string EncodeTlsWatchReport(const TlsWatchReport& report);
std::optional<TlsWatchReport> DecodeTlsWatchReport(std::string_view line);

class TlsLibraryWatcher {
 public:
  // Runs in the child: attaches probes to `file` and says how it went.
  using AttachFn = std::function<TlsWatchReport(const TlsLibraryFile&)>;
  using FileId = std::pair<uint64_t, uint64_t>;  // device, inode

  // Forks the watcher. `known`: files attached or refused at start-up, not attached again.
  // `keep_fds`: the descriptors the child keeps (the BPF programs); it closes every other one.
  // Throws std::runtime_error when the pipe or the fork fails.
  static std::unique_ptr<TlsLibraryWatcher> Start(const TlsLibraryScanConfig& scan,
                                                  std::chrono::milliseconds interval,
                                                  std::set<FileId> known, AttachFn attach,
                                                  const std::vector<int>& keep_fds);

  // Stops the child and waits for it: its probes are detached when this returns.
  ~TlsLibraryWatcher();
  TlsLibraryWatcher(const TlsLibraryWatcher&) = delete;
  TlsLibraryWatcher& operator=(const TlsLibraryWatcher&) = delete;

  // The reports that arrived since the last call; never blocks.
  std::vector<TlsWatchReport> Poll();

  pid_t pid() const { return pid_; }

 private:
  TlsLibraryWatcher(pid_t pid, int control_fd, int report_fd);
  void Stop();

  pid_t pid_;
  int control_fd_;  // write end: closed to tell the child to end
  int report_fd_;   // read end of the child's reports, non-blocking
  std::string partial_;
};

}  // namespace mailtap
