// The TLS probes' loader and ring reader (bpf/tls.bpf.c): finds the mail servers' TLS libraries,
// attaches the uprobes to each library file once and the socket probes once, and reads the
// plaintext and socket-owner records back for a TlsPlaintextSink. Part of mailtap_live, the only
// code that links libbpf.
//
// Coverage: uprobes belong to the library file (its inode), so every process that maps an
// attached file is covered, including processes started after the agent. A library file first
// used after start-up (a container started later with its own copy) is found and probed by the
// TLS library watcher (tls_library_watcher.h), a child process that keeps the few capabilities
// attaching needs, within `watch_interval` of its first use. See bpf/README.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "capture/library_finder.h"
#include "mailtap/port_set.h"
#include "mailtap/stats.h"
#include "mailtap/tls_plaintext.h"

namespace mailtap {

struct TlsCaptureConfig {
  bool enabled = true;  // --tls-plaintext on|off
  // Task names whose libraries are found and whose TLS calls are captured (--tls-processes).
  std::vector<std::string> process_names = DefaultTlsProcessNames();
  // Also probed when no watched process maps them yet (PID 1's root).
  std::vector<std::string> library_dirs = DefaultTlsLibraryDirs();
  std::string proc_root = "/proc";
  size_t ring_size = size_t{8} << 20;  // power of two, page multiple
  uint32_t max_copy = 256 * 1024;      // plaintext bytes per call at most (<= 256 KiB)
  // How often the library watcher looks for library files first used after start-up; 0: no
  // watcher (such files stay unprobed until the agent restarts).
  std::chrono::milliseconds watch_interval{1000};
};

// One library file with probes on it.
struct AttachedTlsLibrary {
  TlsLibraryFile file;
  int probes = 0;            // uprobes + uretprobes
  std::string entry_points;  // where they sit: "SSL_read/SSL_read_ex at their shared function; ..."
};

class TlsProbes {
 public:
  // Finds the libraries, loads the program, fills its maps and attaches. Throws
  // std::runtime_error naming the cause when the program cannot be loaded or the socket probes
  // cannot be attached; a library that cannot be probed is only reported (skipped()).
  static std::unique_ptr<TlsProbes> Open(const TlsCaptureConfig& config, const PortSet& ports);

  // Detaches every probe.
  ~TlsProbes();
  TlsProbes(const TlsProbes&) = delete;
  TlsProbes& operator=(const TlsProbes&) = delete;

  // The ring's fd, readable (poll) when records wait and the kernel woke the reader.
  int ring_fd() const;

  // Hands the records waiting in the ring to `sink` (nullptr: read and count only), in ring
  // order, up to the first one captured after `up_to_ns` (CLOCK_BOOTTIME, the socket filter's
  // clock): that one is set aside (one record at most) and handed over first by the next Drain
  // whose limit reaches it; the rest stay in the ring. So the caller can merge this ring with the
  // packet ring in capture order. Returns the number of records handed over. No system call:
  // works after privileges are dropped.
  size_t Drain(TlsPlaintextSink* sink, uint64_t up_to_ns = UINT64_MAX);

  // Detaches every probe (nothing new is captured); the ring can still be drained.
  void Detach();

  // What is probed and what was found but not, with the files the library watcher reported so
  // far. Thread-safe (copies).
  std::vector<AttachedTlsLibrary> attached() const;
  std::vector<SkippedTlsLibrary> skipped() const;

  // "TLS plaintext (socket ...): /usr/lib/x86_64-linux-gnu/libssl.so.3 (OpenSSL 3, inode 1234,
  // 4 probes: SSL_read/SSL_read_ex at their shared function; ...)"; thread-safe.
  std::string Describe() const;

  // Group "tls": the kernel's counters ("kernel_*"; loss causes "tls_unmatched",
  // "tls_ringbuf_full", "tls_truncated", "tls_read_failed", ...), what is attached, and the
  // reader's own counters.
  void VisitStats(StatsVisitor& visitor) const;

 private:
  struct Impl;
  explicit TlsProbes(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailtap
