#include "mailtap/stats.h"

#include <utility>

namespace mailtap {
namespace {

class Collector : public StatsVisitor {
 public:
  explicit Collector(std::vector<StatSample>* out) : out_(out) {}
  void Visit(std::string_view group, std::string_view name, uint64_t value, std::string_view help,
             StatKind kind, Loss loss) override {
    std::string unit = loss.cause.empty() ? "" : std::string(LossUnitName(loss.unit));
    out_->push_back(StatSample{std::string(group), std::string(name), std::string(help),
                               std::string(loss.cause), value, kind, std::move(unit), "", ""});
  }
  void VisitLabeled(std::string_view group, std::string_view name, std::string_view label,
                    std::string_view label_value, uint64_t value, std::string_view help,
                    StatKind kind) override {
    out_->push_back(StatSample{std::string(group), std::string(name), std::string(help), "", value,
                               kind, "", std::string(label), std::string(label_value)});
  }

 private:
  std::vector<StatSample>* out_;
};

}  // namespace

std::string_view LossUnitName(LossUnit unit) {
  switch (unit) {
    case LossUnit::kBytes:
      return "bytes";
    case LossUnit::kPackets:
      return "packets";
    case LossUnit::kLines:
      return "lines";
    case LossUnit::kEvents:
      return "events";
    case LossUnit::kRecords:
      return "records";
    case LossUnit::kConnections:
      return "connections";
    case LossUnit::kFiles:
      return "files";
    case LossUnit::kEntities:
      return "entities";
    case LossUnit::kRingRecords:
      return "ring_records";
    case LossUnit::kTlsCalls:
      return "tls_calls";
  }
  return "items";
}

std::vector<StatSample> CollectStats(const std::vector<const StatsSource*>& sources) {
  std::vector<StatSample> out;
  Collector collector(&out);
  for (const StatsSource* source : sources) source->VisitStats(collector);
  return out;
}

}  // namespace mailtap
