#include "sinks/event_json.h"

#include <type_traits>

#include "common/json_escape.h"

namespace mailtap {
namespace {

// Keys are our own static names (event argument names), never network bytes: no escaping.
void AppendKey(std::string_view key, std::string* out) {
  out->append(",\"");
  out->append(key);
  out->append("\":");
}

void AppendQuoted(std::string_view bytes, std::string* out) {
  out->push_back('"');
  AppendJsonEscaped(bytes, out);
  out->push_back('"');
}

void AppendValue(const EventValue& value, std::string* out) {
  std::visit(
      [out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          out->append(v ? "true" : "false");
        } else if constexpr (std::is_same_v<T, int64_t>) {
          out->append(std::to_string(v));
        } else {
          AppendQuoted(v, out);
        }
      },
      value);
}

// `,"uid":…,"id.orig_h":…,"id.resp_p":N` of a connection. Events come in runs per connection,
// so a one-entry cache saves formatting the addresses for nearly every event.
const std::string& ConnectionKeys(const Connection& c) {
  thread_local const Connection* cached_conn = nullptr;
  thread_local std::string cached_uid;
  thread_local std::string cached_keys;
  // The uid guards against a new connection allocated where a removed one lived.
  if (cached_conn == &c && cached_uid == c.uid) return cached_keys;
  cached_keys.clear();
  AppendKey("uid", &cached_keys);
  AppendQuoted(c.uid, &cached_keys);
  AppendKey("id.orig_h", &cached_keys);
  AppendQuoted(c.id.orig_h.ToString(), &cached_keys);
  AppendKey("id.orig_p", &cached_keys);
  cached_keys.append(std::to_string(c.id.orig_p));
  AppendKey("id.resp_h", &cached_keys);
  AppendQuoted(c.id.resp_h.ToString(), &cached_keys);
  AppendKey("id.resp_p", &cached_keys);
  cached_keys.append(std::to_string(c.id.resp_p));
  cached_conn = &c;
  cached_uid = c.uid;
  return cached_keys;
}

}  // namespace

void AppendEventJson(const Event& event, std::string* out) {
  out->append("{\"ts\":");
  out->append(FormatTimestamp(event.ts));
  AppendKey("event", out);
  AppendQuoted(event.name, out);
  if (event.conn != nullptr) out->append(ConnectionKeys(*event.conn));
  for (const EventArg& arg : event.args) {
    AppendKey(arg.name, out);
    AppendValue(arg.value, out);
  }
  out->push_back('}');
}

std::string FormatEventJson(const Event& event) {
  std::string out;
  out.reserve(256);
  AppendEventJson(event, &out);
  return out;
}

}  // namespace mailtap
