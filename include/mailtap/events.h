// Events: what the analyzers raise, in Zeek's names and argument order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "mailtap/flow.h"

namespace mailtap {

// An argument value. Strings hold raw protocol bytes (not necessarily UTF-8); writers escape.
using EventValue = std::variant<bool, int64_t, std::string>;

struct EventArg {
  std::string_view name;  // static storage: Zeek's parameter name, e.g. "is_orig"
  EventValue value;
};

// One event. `name` is Zeek's event name ("smtp_request", "smtp_reply", "smtp_data",
// "smtp_starttls", "smtp_unexpected", "weird", "mime_one_header", ...) and has static storage.
// `conn` is null for events not tied to a connection (e.g. global capture loss).
struct Event {
  Timestamp ts;
  std::string_view name;
  const Connection* conn = nullptr;
  std::vector<EventArg> args;
  // The bytes behind the event travelled inside TLS: the analyzer read them as plaintext from the
  // local process's TLS library, not from the wire (written as "inside_tls": true, only if so).
  bool inside_tls = false;

  // Returns the argument called `arg_name`, or nullptr.
  const EventValue* Find(std::string_view arg_name) const {
    // Argument names are literals, and the linker merges equal literals: comparing where they
    // are finds the argument without comparing characters (this runs several times per event).
    for (const auto& a : args) {
      if (a.name.data() == arg_name.data() && a.name.size() == arg_name.size()) return &a.value;
    }
    for (const auto& a : args) {
      if (a.name == arg_name) return &a.value;
    }
    return nullptr;
  }
};

// Names of the events, one place, so that producers and consumers cannot drift apart.
namespace event_names {
inline constexpr std::string_view kSmtpRequest = "smtp_request";
inline constexpr std::string_view kSmtpReply = "smtp_reply";
inline constexpr std::string_view kSmtpData = "smtp_data";
inline constexpr std::string_view kSmtpStartTls = "smtp_starttls";
inline constexpr std::string_view kSmtpUnexpected = "smtp_unexpected";
// Zeek's weirds: args `name`, `addl` (may be empty), `source` (e.g. "SMTP", "CONTENTLINE").
inline constexpr std::string_view kWeird = "weird";
// Headers of the top-level entity of a message (Zeek's mime_one_header(c, h)): args
// `h.original_name` (as sent), `h.name` (upper-cased), `h.value` (folded lines joined, see spec
// 19.1). mime_begin_entity / mime_end_entity (no args) bracket the top-level entity.
inline constexpr std::string_view kMimeOneHeader = "mime_one_header";
inline constexpr std::string_view kMimeBeginEntity = "mime_begin_entity";
inline constexpr std::string_view kMimeEndEntity = "mime_end_entity";
}  // namespace event_names

// Zeek's weird as an event: `addl` may be empty; `source` names the raising component ("SMTP",
// "CONTENTLINE", "TCP") and is empty for script-level and logging weirds. `conn` may be null.
inline Event MakeWeird(Timestamp ts, const Connection* conn, std::string_view name,
                       std::string addl, std::string_view source) {
  return Event{
      ts,
      event_names::kWeird,
      conn,
      {{"name", std::string(name)}, {"addl", std::move(addl)}, {"source", std::string(source)}}};
}

}  // namespace mailtap
