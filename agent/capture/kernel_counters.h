// The eBPF programs' own counters, read without a syscall: an array map created mmapable, one
// row of 64-bit slots per CPU (each CPU increments its own row, so the kernel side takes no
// lock). Shared by the socket filter's and the TLS probes' sources.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "mailtap/stats.h"

namespace mailtap {

// One counter's name, one-sentence help and loss (cause "" when it counts no loss), for status
// and metrics. Tables of these are indexed by the counter enum of the program's ABI header.
struct KernelCounterInfo {
  const char* name;
  const char* help;
  Loss loss;
};

class KernelCounters {
 public:
  KernelCounters() = default;
  KernelCounters(const KernelCounters&) = delete;
  KernelCounters& operator=(const KernelCounters&) = delete;
  ~KernelCounters();

  // Maps `map_fd` read-only: `ncpus` rows of `row_bytes` bytes. Throws std::runtime_error
  // naming `what` when the map cannot be mapped (start-up only).
  void Map(int map_fd, size_t ncpus, size_t row_bytes, std::string_view what);

  // Slot `index` summed over the CPUs. REQUIRES: Map() succeeded, index < row_bytes / 8.
  uint64_t Sum(size_t index) const;

  // Visits every counter of `table` (slot i = table[i]) in `group`.
  void Visit(StatsVisitor& visitor, std::string_view group,
             std::span<const KernelCounterInfo> table) const;

 private:
  void* addr_ = nullptr;
  size_t len_ = 0;
  size_t ncpus_ = 0;
  size_t row_bytes_ = 0;
};

}  // namespace mailtap
