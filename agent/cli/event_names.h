// The event names the client accepts for `observe --event`.
#pragma once

#include <span>
#include <string>

namespace mailtap::cli {

// Every event the agent can raise, in declaration order (include/mailtap/events.h).
std::span<const std::string> KnownEventNames();

}  // namespace mailtap::cli
