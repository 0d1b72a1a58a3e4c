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

// What one lost item is. Losses of different units are never added up: each unit is its own
// metric family (mailtap_lost_<unit>_total{cause="..."}) and its own object in status.
enum class LossUnit {
  kBytes,        // stream or output bytes
  kPackets,      // packets or TCP segments
  kLines,        // SMTP lines or MIME header lines
  kEvents,       // events of the query socket's event stream
  kRecords,      // smtp.log records of the query socket's transaction stream
  kConnections,  // connections whose analysis (or smtp.log state) was dropped
  kFiles,        // capture files read only in part; message files not analysed
  kEntities,     // MIME entities not split out or whose event data was cut
  kRingRecords,  // ring buffer records between the eBPF programs and the agent
  kTlsCalls,     // TLS library calls whose plaintext was not captured
};

// Its stable name, as in metric families and status ("bytes", "ring_records", ...).
std::string_view LossUnitName(LossUnit unit);

// Marks a counter as counting lost data: `cause` is a stable snake_case name, unique across the
// agent, and `unit` what one count is. A cause always has the same unit, so that the loss of a
// cause is one meaningful sum. The same loss is counted under one cause only (a counter that
// breaks another loss down carries no cause). Default: not a loss.
struct Loss {
  std::string_view cause;
  LossUnit unit = LossUnit::kBytes;
};

// Receives every statistic of a component. `group` is the component ("capture", "tcp", "smtp",
// ...), `name` a stable snake_case name, `help` one sentence. Loss counters additionally carry a
// Loss so that status and metrics can list losses by unit and cause in one place.
class StatsVisitor {
 public:
  virtual ~StatsVisitor() = default;
  virtual void Visit(std::string_view group, std::string_view name, uint64_t value,
                     std::string_view help, StatKind kind = StatKind::kCounter, Loss loss = {}) = 0;
  // One series of a labelled statistic: `name` counts per value of `label` (e.g. name
  // "commands", label "command", label_value "MAIL"). The values of a label must be few and
  // chosen by the agent, never taken from the network as they are. Ignored by default.
  virtual void VisitLabeled(std::string_view group, std::string_view name, std::string_view label,
                            std::string_view label_value, uint64_t value, std::string_view help,
                            StatKind kind = StatKind::kCounter) {
    (void)group, (void)name, (void)label, (void)label_value, (void)value, (void)help, (void)kind;
  }
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
  std::string loss_unit;    // LossUnitName of the loss; empty without loss_cause
  std::string label;        // a labelled statistic's label name (VisitLabeled), else empty
  std::string label_value;  // and its value
};

// Collects the statistics of `sources` (call on the thread that owns them).
std::vector<StatSample> CollectStats(const std::vector<const StatsSource*>& sources);

// Statistics handed from the pipeline thread, which publishes fresh samples now and then (and at
// the end of input), to readers on other threads. Components may therefore keep plain counters:
// only the pipeline thread ever calls VisitStats.
using StatsSnapshot = Snapshot<std::vector<StatSample>>;

}  // namespace mailtap
