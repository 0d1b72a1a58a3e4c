// HOST:PORT addresses for the metrics HTTP listener (--metrics-address).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailtap {

// Checks `address`: an IPv4 literal, or an IPv6 literal in brackets, then ':' and a port from 1
// to 65535 ("127.0.0.1:9465", "[::1]:9465", "0.0.0.0:9465"), or port 0 to let the kernel pick
// one (tests). Returns it unchanged, or nullopt with *error saying what is wrong. Host names
// are refused: which address a name resolves to is not something to guess on a mail host.
std::optional<std::string> ParseListenAddress(std::string_view address, std::string* error);

}  // namespace mailtap
