// Linear-time assertions that hold on a loaded machine: work is measured in CPU time against a
// plain byte-by-byte pass over the same number of bytes, and run in a child process whose CPU
// time is capped, so that a quadratic regression fails in seconds instead of hanging the suite.
#pragma once

#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

namespace mailtap::cpu_ratio {

inline double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// CPU seconds of the plain pass: FNV-1a over `bytes` bytes, one byte at a time (it cannot be
// vectorised, like a scanner's loop). The fastest of three, to shed scheduling noise.
inline double PlainPassSeconds(size_t bytes) {
  const std::vector<uint8_t> data(bytes, 'a');
  double best = 1e9;
  for (int round = 0; round < 3; ++round) {
    const double start = ProcessCpuSeconds();
    uint64_t h = 14695981039346656037ull;
    for (uint8_t b : data) h = (h ^ b) * 1099511628211ull;
    volatile uint64_t sink = h;
    (void)sink;
    best = std::min(best, ProcessCpuSeconds() - start);
  }
  return std::max(best, 1e-4);
}

struct RatioOutcome {
  bool finished = false;  // false: the CPU cap was reached (or the work crashed)
  double ratio = 0;       // CPU time of the work / CPU time of the plain pass
  double limit_seconds = 0;
  std::string Describe() const {
    return finished
               ? "took " + std::to_string(ratio) + "x a plain pass"
               : "still running after " + std::to_string(limit_seconds) + " CPU seconds (the cap)";
  }
};

// Runs `work` (which handles `bytes` bytes) in a child process capped at `max_ratio` times the
// plain pass's CPU time, at least `floor_seconds` (process start and page faults are not the
// work's). Setup done before the call (building the input) is not counted.
inline RatioOutcome RunAgainstPlainPass(size_t bytes, double max_ratio,
                                        const std::function<void()>& work,
                                        double floor_seconds = 1.0) {
  const double plain = PlainPassSeconds(bytes);
  RatioOutcome out;
  out.limit_seconds = std::max(plain * max_ratio, floor_seconds);
  int fds[2];
  if (pipe(fds) != 0) return out;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    itimerval cap{};
    cap.it_value.tv_sec = static_cast<time_t>(out.limit_seconds);
    cap.it_value.tv_usec = static_cast<suseconds_t>(
        (out.limit_seconds - static_cast<double>(cap.it_value.tv_sec)) * 1e6);
    std::signal(SIGPROF, SIG_DFL);
    setitimer(ITIMER_PROF, &cap, nullptr);
    const double start = ProcessCpuSeconds();
    work();
    const double ratio = (ProcessCpuSeconds() - start) / plain;
    _exit(write(fds[1], &ratio, sizeof ratio) == sizeof ratio ? 0 : 1);
  }
  close(fds[1]);
  double ratio = 0;
  const bool got = read(fds[0], &ratio, sizeof ratio) == sizeof ratio;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  out.finished = got && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  out.ratio = ratio;
  return out;
}

}  // namespace mailtap::cpu_ratio
