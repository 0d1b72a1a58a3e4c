// Test helper: a component's statistics as name -> value, for compact expectations.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "mailtap/stats.h"

namespace mailtap::testing {

// Every statistic of `source` by name. Names must be unique within the source.
inline std::map<std::string, uint64_t> StatsByName(const StatsSource& source) {
  std::map<std::string, uint64_t> out;
  for (const StatSample& s : CollectStats({&source})) out[s.name] = s.value;
  return out;
}

}  // namespace mailtap::testing
