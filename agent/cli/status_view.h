// `mailtap status` for a person: a short summary of the agent's status object
// (docs/query-protocol.md, "status"). Scripts read the object itself (`-o json`).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mailtap::cli {

// At most ~25 lines: the agent, what it captures and how fast, sessions, transactions, the
// query socket's clients, and losses by cause with their units ("none" when nothing was lost).
// Members the status lacks are left out; never throws on an unexpected shape.
std::string FormatStatusSummary(const nlohmann::ordered_json& status);

// What one loss of `cause` counts ("bytes", "packets", ...); empty when the client does not know
// the cause. A status that carries `loss_units` ({cause: unit}) is believed first.
std::string LossUnit(const nlohmann::ordered_json& status, std::string_view cause);

}  // namespace mailtap::cli
