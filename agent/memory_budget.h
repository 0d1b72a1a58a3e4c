// One memory total (--memory-limit) and the budgets every bounded structure gets from it. The
// constants here are the only source of the sizing formula: docs/deployment.md shows them and a
// test checks that it shows these numbers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "files/file_limits.h"

namespace mailtap {

// Fits the shipped limits: the Kubernetes limit of 512Mi with 64 MiB to spare for what no budget
// covers (page tables, fragmentation), and the unit's MemoryMax=1G.
inline constexpr uint64_t kDefaultMemoryLimit = uint64_t{448} << 20;
// The program, its libraries, thread stacks, and the freed heap the allocator keeps for reuse
// (32 MiB, main.cc TuneAllocator), measured ≈ 6 MB RSS idle before that retention.
inline constexpr uint64_t kBaselineBytes = uint64_t{48} << 20;
// The TLS plaintext ring (8 MiB) and the kernel's preallocated LRU maps (≈ 6 MiB), when on.
inline constexpr uint64_t kTlsKernelBytes = uint64_t{14} << 20;
// Files under analysis (agent/files): at most kMaxOpenFiles open, each within kOpenFileBytes.
inline constexpr uint64_t kFileAnalysisBytes = kMaxOpenFiles * kOpenFileBytes;
// One tracked flow with its reassembler, SMTP session and smtp.log state, idle (measured: 100,000
// flows of a SYN flood took 283 MB).
inline constexpr uint64_t kFlowBytes = 3000;
// Less than this left for the shares is a configuration error.
inline constexpr uint64_t kMinShareableBytes = uint64_t{64} << 20;

// What is left after the fixed parts (ring, TLS kernel maps, query history, open files, baseline)
// is shared out in these per-mille parts.
enum class Budget : uint8_t {
  kFlows,           // tracked flows: count = bytes / kFlowBytes
  kReassembly,      // out-of-order TCP data held for reassembly
  kRetained,        // delivered bytes kept to check retransmissions
  kLines,           // partial SMTP lines
  kMimeData,        // data held for the mime_entity_data / mime_all_data events
  kPendingRecords,  // pending smtp.log records' strings
  kTlsHold,         // TLS plaintext held until its connection's analyzer takes it
  kQueryOutput,     // output waiting for query clients
  kMargin,          // per-session state and transient copies no budget counts
  kCount,
};
struct BudgetShare {
  std::string_view name;
  unsigned per_mille;
};
inline constexpr std::array<BudgetShare, static_cast<size_t>(Budget::kCount)> kBudgetShares = {{
    {"flows", 150},
    {"reassembly", 200},
    {"retained", 50},
    {"lines", 150},
    {"mime_data", 50},
    {"pending_records", 100},
    {"tls_hold", 50},
    {"query_output", 100},
    {"margin", 150},
}};

struct MemoryPlanInput {
  uint64_t limit = kDefaultMemoryLimit;
  uint64_t ring_size = 16 << 20;  // --ring-size (live capture only; counted always)
  bool tls_plaintext = true;
  uint64_t history_bytes = 10 << 20;  // both query history rings
};

struct MemoryPlan {
  uint64_t fixed = 0;      // ring + TLS kernel + history + open files + baseline
  uint64_t shareable = 0;  // limit - fixed
  std::array<uint64_t, static_cast<size_t>(Budget::kCount)> bytes{};
  size_t max_flows = 0;
  uint64_t Of(Budget b) const { return bytes[static_cast<size_t>(b)]; }
};

// The plan for `input`; false (and *error naming --memory-limit and the parts) when less than
// kMinShareableBytes would be left to share.
bool PlanMemory(const MemoryPlanInput& input, MemoryPlan* plan, std::string* error);

// The plan of the defaults (MemoryPlanInput{}).
MemoryPlan DefaultMemoryPlan();

// Bytes of both query history rings for `history` events (query_server.cc HubLimits).
uint64_t QueryHistoryBytes(size_t history);

}  // namespace mailtap
