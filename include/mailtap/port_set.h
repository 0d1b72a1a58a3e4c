// A set of TCP ports: those treated as SMTP (--ports, default 25,465,587), those with implicit
// TLS (--tls-ports, default 465).
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailtap {

class PortSet {
 public:
  PortSet() = default;
  PortSet(std::initializer_list<uint16_t> ports) {
    for (uint16_t p : ports) Add(p);
  }
  static PortSet Default() { return PortSet{25, 465, 587}; }
  static PortSet DefaultTls() { return PortSet{465}; }

  // Parses "25,587" (spaces allowed around commas). Returns nullopt and sets *error to a message
  // naming the offending item when an item is not a port number in 1..65535 or the list is empty.
  // (An empty --tls-ports is written "none" and handled by the option parser.)
  static std::optional<PortSet> Parse(std::string_view text, std::string* error);

  void Add(uint16_t port) { bits_.set(port); }
  bool Contains(uint16_t port) const { return bits_.test(port); }
  std::vector<uint16_t> List() const;
  std::string ToString() const;  // "25,587"

 private:
  std::bitset<65536> bits_;
};

}  // namespace mailtap
