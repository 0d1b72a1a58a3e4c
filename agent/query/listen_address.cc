#include "query/listen_address.h"

#include <arpa/inet.h>

#include <charconv>

namespace mailtap {

std::optional<std::string> ParseListenAddress(std::string_view address, std::string* error) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    *error = "'" + std::string(address) + "' is not HOST:PORT (e.g. 127.0.0.1:9465 or [::1]:9465)";
    return std::nullopt;
  }
  std::string host(address.substr(0, colon));
  std::string_view port_text = address.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    *error = "'" + std::string(port_text) + "' is not a port (0 to 65535)";
    return std::nullopt;
  }
  unsigned char buf[16];
  bool v6 = host.size() > 2 && host.front() == '[' && host.back() == ']';
  bool ok = v6 ? ::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) == 1
               : ::inet_pton(AF_INET, host.c_str(), buf) == 1;
  if (!ok) {
    *error = "'" + host +
             "' is not an IP address (an IPv4 address, or an IPv6 address in brackets: [::1])";
    return std::nullopt;
  }
  return std::string(address);
}

}  // namespace mailtap
