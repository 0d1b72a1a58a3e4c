#include "capture/kernel_counters.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace mailtap {

KernelCounters::~KernelCounters() {
  if (addr_ != nullptr) munmap(addr_, len_);
}

void KernelCounters::Map(int map_fd, size_t ncpus, size_t row_bytes, std::string_view what) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t len = (ncpus * row_bytes + page - 1) / page * page;
  void* addr = mmap(nullptr, len, PROT_READ, MAP_SHARED, map_fd, 0);
  if (addr == MAP_FAILED) {
    throw std::runtime_error("mmap of the " + std::string(what) + ": " + std::strerror(errno));
  }
  addr_ = addr;
  len_ = len;
  ncpus_ = ncpus;
  row_bytes_ = row_bytes;
}

uint64_t KernelCounters::Sum(size_t index) const {
  uint64_t sum = 0;
  for (size_t cpu = 0; cpu < ncpus_; ++cpu) {
    const auto* row =
        reinterpret_cast<const uint64_t*>(static_cast<const uint8_t*>(addr_) + cpu * row_bytes_);
    sum += __atomic_load_n(&row[index], __ATOMIC_RELAXED);
  }
  return sum;
}

void KernelCounters::Visit(StatsVisitor& visitor, std::string_view group,
                           std::span<const KernelCounterInfo> table) const {
  for (size_t i = 0; i < table.size(); ++i) {
    const KernelCounterInfo& c = table[i];
    visitor.Visit(group, c.name, Sum(i), c.help, StatKind::kCounter, c.loss);
  }
}

}  // namespace mailtap
