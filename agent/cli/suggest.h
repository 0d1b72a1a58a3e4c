// "Did you mean ...?" for usage errors: the known word nearest to a mistyped one.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace mailtap::cli {

// Edits (insertion, deletion, substitution, swap of two neighbours) that turn `a` into `b`.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate nearest to `typed`, if it is close enough to be what the user meant: at most
// one edit per three characters (at least one), or `typed` is a prefix of exactly that candidate.
std::optional<std::string> Nearest(std::string_view typed, std::span<const std::string> candidates);

// "a, b, c" (for messages that list the valid values).
std::string JoinList(std::span<const std::string> items);

}  // namespace mailtap::cli
