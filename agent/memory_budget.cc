#include "memory_budget.h"

#include <fmt/format.h>

#include <algorithm>

namespace mailtap {

uint64_t QueryHistoryBytes(size_t history) {
  // One ring of max(8 MiB, history × 512 B) for events and one of 2 MiB for records.
  return std::max<uint64_t>(uint64_t{8} << 20, uint64_t{history} * 512) + (uint64_t{2} << 20);
}

bool PlanMemory(const MemoryPlanInput& input, MemoryPlan* plan, std::string* error) {
  MemoryPlan p;
  p.fixed = input.ring_size + (input.tls_plaintext ? kTlsKernelBytes : 0) + input.history_bytes +
            kFileAnalysisBytes + kBaselineBytes;
  if (input.limit < p.fixed + kMinShareableBytes) {
    *error = fmt::format(
        "--memory-limit: {} bytes leave less than {} MiB for connections after the ring ({}), the "
        "TLS kernel maps ({}), the query history ({}), the open files ({}) and the baseline ({}); "
        "at least {} needed",
        input.limit, kMinShareableBytes >> 20, input.ring_size,
        input.tls_plaintext ? kTlsKernelBytes : 0, input.history_bytes, kFileAnalysisBytes,
        kBaselineBytes, p.fixed + kMinShareableBytes);
    return false;
  }
  p.shareable = input.limit - p.fixed;
  for (size_t i = 0; i < kBudgetShares.size(); ++i) {
    p.bytes[i] = p.shareable / 1000 * kBudgetShares[i].per_mille;
  }
  p.max_flows = static_cast<size_t>(p.Of(Budget::kFlows) / kFlowBytes);
  *plan = p;
  return true;
}

MemoryPlan DefaultMemoryPlan() {
  MemoryPlan plan;
  std::string ignored;
  PlanMemory(MemoryPlanInput{}, &plan, &ignored);  // the defaults always fit
  return plan;
}

}  // namespace mailtap
