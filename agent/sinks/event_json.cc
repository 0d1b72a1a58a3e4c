#include "sinks/event_json.h"

#include <type_traits>

#include "common/json_escape.h"

namespace mailtap {
namespace {

void AppendKey(std::string_view key, std::string* out) {
  out->push_back(',');
  out->push_back('"');
  AppendJsonEscaped(key, out);
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

}  // namespace

void AppendEventJson(const Event& event, std::string* out) {
  out->append("{\"ts\":");
  out->append(FormatTimestamp(event.ts));
  AppendKey("event", out);
  AppendQuoted(event.name, out);
  if (event.conn != nullptr) {
    const Connection& c = *event.conn;
    AppendKey("uid", out);
    AppendQuoted(c.uid, out);
    AppendKey("id.orig_h", out);
    AppendQuoted(c.id.orig_h.ToString(), out);
    AppendKey("id.orig_p", out);
    out->append(std::to_string(c.id.orig_p));
    AppendKey("id.resp_h", out);
    AppendQuoted(c.id.resp_h.ToString(), out);
    AppendKey("id.resp_p", out);
    out->append(std::to_string(c.id.resp_p));
  }
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
