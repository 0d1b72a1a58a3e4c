// One way to name the values of an enum: a table declared once beside the enum, read both ways.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace mailtap {

template <typename E>
using EnumNameTable = std::span<const std::pair<std::string_view, E>>;

// The value called `name`, if any.
template <typename E>
std::optional<E> EnumFromName(EnumNameTable<E> table, std::string_view name) {
  for (const auto& [n, value] : table) {
    if (n == name) return value;
  }
  return std::nullopt;
}

// The name of `value`; empty if the table lacks it.
template <typename E>
std::string_view EnumName(EnumNameTable<E> table, E value) {
  for (const auto& [name, v] : table) {
    if (v == value) return name;
  }
  return {};
}

// "a, b, c": the names, for messages that list the choices.
template <typename E>
std::string EnumNameList(EnumNameTable<E> table) {
  std::string out;
  for (const auto& entry : table) {
    if (!out.empty()) out += ", ";
    out += entry.first;
  }
  return out;
}

}  // namespace mailtap
