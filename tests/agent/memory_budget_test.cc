// The memory plan: shares that add up, a limit too small refused with a precise message, and the
// sizing table of docs/deployment.md showing exactly the constants of agent/memory_budget.h.
#include "memory_budget.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config.h"

namespace mailtap {
namespace {

TEST(MemoryBudget, SharesAddUpToTheWhole) {
  unsigned total = 0;
  for (const BudgetShare& s : kBudgetShares) total += s.per_mille;
  EXPECT_EQ(total, 1000u);
  const MemoryPlan plan = DefaultMemoryPlan();
  uint64_t sum = plan.fixed;
  for (uint64_t b : plan.bytes) sum += b;
  EXPECT_LE(sum, kDefaultMemoryLimit);
  EXPECT_GT(sum, kDefaultMemoryLimit - 1000);  // only the rounding of the per-mille parts left
}

TEST(MemoryBudget, LimitLeavingTooLittleToShareIsAUsageErrorNamingTheOption) {
  const char* argv[] = {"mailtapd", "-r", "x.pcap", "--memory-limit", "100M"};
  ParseOutcome out = ParseCommandLine(5, argv);
  EXPECT_FALSE(out.config);
  EXPECT_EQ(out.exit_status, 2);
  EXPECT_NE(out.message.find("--memory-limit: 104857600 bytes leave less than 64 MiB"),
            std::string::npos)
      << out.message;
  const char* bad[] = {"mailtapd", "-r", "x.pcap", "--memory-limit", "-1"};
  out = ParseCommandLine(5, bad);
  EXPECT_EQ(out.exit_status, 2);
  EXPECT_NE(out.message.find("--memory-limit: '-1' is not a byte count"), std::string::npos);
}

TEST(MemoryBudget, TheLimitSizesEveryShare) {
  const char* argv[] = {"mailtapd", "-r",          "x.pcap",  "--memory-limit",
                        "1G",       "--ring-size", "67108864"};
  ParseOutcome out = ParseCommandLine(7, argv);
  ASSERT_TRUE(out.config) << out.message;
  const MemoryPlan& plan = out.config->memory;
  EXPECT_EQ(out.config->memory_limit, uint64_t{1} << 30);
  EXPECT_EQ(plan.fixed, (uint64_t{64} << 20) + kTlsKernelBytes + (uint64_t{10} << 20) +
                            kFileAnalysisBytes + kBaselineBytes);
  EXPECT_EQ(plan.shareable, (uint64_t{1} << 30) - plan.fixed);
  EXPECT_EQ(plan.Of(Budget::kLines), plan.shareable / 1000 * 150);
  EXPECT_EQ(plan.Of(Budget::kMimeData), plan.shareable / 1000 * 50);
  EXPECT_EQ(plan.max_flows, plan.Of(Budget::kFlows) / kFlowBytes);
}

std::string SizingSection() {
  std::ifstream in(MAILTAP_SOURCE_DIR "/docs/deployment.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const size_t begin = doc.find("<!-- memory-plan:begin");
  const size_t end = doc.find("<!-- memory-plan:end -->");
  EXPECT_NE(begin, std::string::npos);
  EXPECT_NE(end, std::string::npos);
  return begin < end && end != std::string::npos ? doc.substr(begin, end - begin) : "";
}

std::string MiB(uint64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / 1048576.0);
}

TEST(MemoryBudget, DeploymentDocShowsTheConstants) {
  const std::string doc = SizingSection();
  const MemoryPlan plan = DefaultMemoryPlan();
  for (size_t i = 0; i < kBudgetShares.size(); ++i) {
    std::string row = fmt::format("| `{}` | {} | {}", kBudgetShares[i].name,
                                  kBudgetShares[i].per_mille, MiB(plan.bytes[i]));
    if (static_cast<Budget>(i) == Budget::kFlows) {
      row += fmt::format(" ({} flows)", plan.max_flows);
    }
    EXPECT_NE(doc.find(row + " |"), std::string::npos) << "missing: " << row;
  }
  EXPECT_NE(doc.find(fmt::format("− {} MiB (TLS kernel maps", kTlsKernelBytes >> 20)),
            std::string::npos);
  EXPECT_NE(doc.find(fmt::format("− {} MiB (baseline)", kBaselineBytes >> 20)), std::string::npos);
  EXPECT_NE(doc.find(fmt::format("− {} MiB (open files: {} files × {} B)", kFileAnalysisBytes >> 20,
                                 kMaxOpenFiles, kOpenFileBytes)),
            std::string::npos);
  EXPECT_EQ(kFileAnalysisBytes % (1 << 20), 0u);  // shown whole in MiB
  EXPECT_NE(
      doc.find(fmt::format("{} MiB and {} MiB are shared", plan.fixed >> 20, plan.shareable >> 20)),
      std::string::npos);
  EXPECT_NE(doc.find(fmt::format("flows share / {} B", kFlowBytes)), std::string::npos);
  EXPECT_NE(doc.find("max(8 MiB, history × 512 B) + 2 MiB"), std::string::npos);
  EXPECT_EQ(QueryHistoryBytes(10000), (uint64_t{10} << 20));
  EXPECT_EQ(QueryHistoryBytes(100000), 100000u * 512 + (uint64_t{2} << 20));
}

}  // namespace
}  // namespace mailtap
