#include "cli/suggest.h"

#include <algorithm>
#include <vector>

namespace mailtap::cli {

// Optimal string alignment distance: Levenshtein plus transposition of adjacent characters,
// the commonest typo ("stauts").
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::optional<std::string> Nearest(std::string_view typed,
                                   std::span<const std::string> candidates) {
  // Words are short (command and option names): the quadratic distance costs nothing here,
  // and a hostile argv cannot make it expensive because it is bounded by the longest candidate.
  if (typed.empty() || typed.size() > 64) return std::nullopt;
  const std::string* prefix_of = nullptr;
  size_t prefixes = 0;
  const std::string* best = nullptr;
  size_t best_distance = std::max<size_t>(1, typed.size() / 3) + 1;
  for (const auto& c : candidates) {
    if (c.starts_with(typed)) {
      prefix_of = &c;
      ++prefixes;
    }
    size_t d = EditDistance(typed, c);
    if (d < best_distance) {
      best = &c;
      best_distance = d;
    }
  }
  if (best != nullptr) return *best;
  if (prefixes == 1) return *prefix_of;
  return std::nullopt;
}

std::string JoinList(std::span<const std::string> items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace mailtap::cli
