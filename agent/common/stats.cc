#include "mailtap/stats.h"

namespace mailtap {
namespace {

class Collector : public StatsVisitor {
 public:
  explicit Collector(std::vector<StatSample>* out) : out_(out) {}
  void Visit(std::string_view group, std::string_view name, uint64_t value, std::string_view help,
             StatKind kind, std::string_view loss_cause) override {
    out_->push_back(StatSample{std::string(group), std::string(name), std::string(help),
                               std::string(loss_cause), value, kind});
  }

 private:
  std::vector<StatSample>* out_;
};

}  // namespace

std::vector<StatSample> CollectStats(const std::vector<const StatsSource*>& sources) {
  std::vector<StatSample> out;
  Collector collector(&out);
  for (const StatsSource* source : sources) source->VisitStats(collector);
  return out;
}

}  // namespace mailtap
