#include "mailtap/port_set.h"

#include <charconv>

namespace mailtap {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<PortSet> PortSet::Parse(std::string_view text, std::string* error) {
  PortSet set;
  bool any = false;
  while (true) {
    size_t comma = text.find(',');
    std::string_view item = Trim(text.substr(0, comma));
    unsigned value = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || value == 0 ||
        value > 65535) {
      *error = "'" + std::string(item) + "' is not a TCP port (expected 1-65535, e.g. 25,587)";
      return std::nullopt;
    }
    set.Add(static_cast<uint16_t>(value));
    any = true;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (!any) {
    *error = "empty port list";
    return std::nullopt;
  }
  return set;
}

std::vector<uint16_t> PortSet::List() const {
  std::vector<uint16_t> out;
  for (uint32_t p = 1; p < 65536; ++p) {
    if (bits_.test(p)) out.push_back(static_cast<uint16_t>(p));
  }
  return out;
}

std::string PortSet::ToString() const {
  std::string out;
  for (uint16_t p : List()) {
    if (!out.empty()) out += ',';
    out += std::to_string(p);
  }
  return out;
}

}  // namespace mailtap
