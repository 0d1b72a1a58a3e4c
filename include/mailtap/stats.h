// Counters and the visitor that enumerates them for status, metrics and logs.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/snapshot.h"

namespace mailtap {

// A monotonically increasing count. Written by one thread (the component's: the pipeline's or
// the query server's), read by others, hence atomic (relaxed: each counter is independent).
// With a single writer an increment needs no read-modify-write: a plain load and store, not a
// locked instruction, which the busiest counters (one per segment, per line) would pay each time.
class Counter {
 public:
  void Add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Kind of a reported number, for the Prometheus exposition.
enum class StatKind { kCounter, kGauge };

// Receives every statistic of a component. `group` is the component ("capture", "tcp", "smtp",
// ...), `name` a stable snake_case name, `help` one sentence. Loss counters additionally carry a
// non-empty `loss_cause` so that status and metrics can list "loss by cause" in one place
// (exported as mailtap_lost_total{cause="..."}).
class StatsVisitor {
 public:
  virtual ~StatsVisitor() = default;
  virtual void Visit(std::string_view group, std::string_view name, uint64_t value,
                     std::string_view help, StatKind kind = StatKind::kCounter,
                     std::string_view loss_cause = {}) = 0;
};

// Anything that owns statistics.
class StatsSource {
 public:
  virtual ~StatsSource() = default;
  virtual void VisitStats(StatsVisitor& visitor) const = 0;
};

// One statistic, copied out of its component.
struct StatSample {
  std::string group;
  std::string name;
  std::string help;
  std::string loss_cause;  // empty unless this counts lost data
  uint64_t value = 0;
  StatKind kind = StatKind::kCounter;
};

// Collects the statistics of `sources` (call on the thread that owns them).
std::vector<StatSample> CollectStats(const std::vector<const StatsSource*>& sources);

// Statistics handed from the pipeline thread, which publishes fresh samples now and then (and at
// the end of input), to readers on other threads. Components may therefore keep plain counters:
// only the pipeline thread ever calls VisitStats.
using StatsSnapshot = Snapshot<std::vector<StatSample>>;

}  // namespace mailtap
