#include "sinks/event_json.h"

#include <array>
#include <cstdint>
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

// `,"uid":…,"id.orig_h":…,"id.resp_p":N` of a connection. Formatting the addresses costs more
// than the rest of a typical event, and events of a few dozen concurrent connections interleave:
// a small direct-mapped cache (by Connection address) formats them about once per connection.
const std::string& ConnectionKeys(const Connection& c) {
  struct Entry {
    const Connection* conn = nullptr;
    std::string uid;
    std::string keys;
  };
  constexpr size_t kEntries = 64;
  thread_local std::array<Entry, kEntries> cache;
  const auto address = reinterpret_cast<uintptr_t>(&c);
  Entry& e = cache[((address >> 4) * 0x9E3779B97F4A7C15ULL >> 58) % kEntries];
  // The uid guards against a new connection allocated where a removed one lived.
  if (e.conn == &c && e.uid == c.uid) return e.keys;
  e.keys.clear();
  AppendKey("uid", &e.keys);
  AppendQuoted(c.uid, &e.keys);
  AppendKey("id.orig_h", &e.keys);
  AppendQuoted(c.id.orig_h.ToString(), &e.keys);
  AppendKey("id.orig_p", &e.keys);
  e.keys.append(std::to_string(c.id.orig_p));
  AppendKey("id.resp_h", &e.keys);
  AppendQuoted(c.id.resp_h.ToString(), &e.keys);
  AppendKey("id.resp_p", &e.keys);
  e.keys.append(std::to_string(c.id.resp_p));
  e.conn = &c;
  e.uid = c.uid;
  return e.keys;
}

// Every event raised for one segment carries the segment's ts (a 64 KiB segment of message
// data gives ~800 smtp_data events): a one-entry cache formats it once instead of per event.
const std::string& TimestampText(Timestamp ts) {
  thread_local bool cached = false;
  thread_local Timestamp cached_ts;
  thread_local std::string cached_text;
  if (!cached || cached_ts != ts) {
    cached_text = FormatTimestamp(ts);
    cached_ts = ts;
    cached = true;
  }
  return cached_text;
}

// Who owns the local socket (Falco's names); known only live, so replays stay unchanged.
void AppendProcess(const OwnerProcess& process, std::string* out) {
  AppendKey("proc.pid", out);
  out->append(std::to_string(process.pid));
  AppendKey("proc.name", out);
  AppendQuoted(process.name, out);
  if (process.cgroup_id != 0) {
    AppendKey("proc.cgroup_id", out);
    out->append(std::to_string(process.cgroup_id));
  }
}

}  // namespace

void AppendEventJson(const Event& event, std::string* out) {
  out->append("{\"ts\":");
  out->append(TimestampText(event.ts));
  AppendKey("event", out);
  const EventSchema& schema = SchemaOf(event.id);
  AppendQuoted(schema.name, out);
  if (event.conn != nullptr) {
    out->append(ConnectionKeys(*event.conn));
    if (event.conn->process) AppendProcess(*event.conn->process, out);
  }
  if (event.inside_tls) out->append(",\"inside_tls\":true");
  // After the keys above, which readers rely on in that order; base64 needs no escaping.
  if (event.conn != nullptr && !event.conn->community_id.empty()) {
    AppendKey("community_id", out);
    AppendQuoted(event.conn->community_id, out);
  }
  // The keys and their order come from the event's declaration (mailtap/event_list.h).
  for (size_t i = 0; i < schema.args.size(); ++i) {
    AppendKey(schema.args[i].key, out);
    AppendValue(event.args[i], out);
  }
  out->push_back('}');
}

std::string FormatEventSchemaJson() {
  std::string out = "[";
  for (const EventSchema& event : kEventSchemas) {
    if (out.size() > 1) out += ",";
    out += "\n{\"event\":";
    AppendQuoted(event.name, &out);
    AppendKey("kind", &out);
    AppendQuoted(EventKindName(event.kind), &out);
    AppendKey("doc", &out);
    AppendQuoted(event.doc, &out);
    AppendKey("args", &out);
    out += "[";
    for (const ArgSchema& arg : event.args) {
      if (out.back() != '[') out += ",";
      out += "{\"name\":";
      AppendQuoted(arg.key, &out);
      AppendKey("type", &out);
      AppendQuoted(ArgTypeName(arg.type), &out);
      AppendKey("doc", &out);
      AppendQuoted(arg.doc, &out);
      out += "}";
    }
    out += "]}";
  }
  out += "\n]\n";
  return out;
}

std::string FormatEventJson(const Event& event) {
  std::string out;
  out.reserve(256);
  AppendEventJson(event, &out);
  return out;
}

}  // namespace mailtap
