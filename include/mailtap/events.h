// Events: what the analyzers raise, in Zeek's names and argument order. The events themselves
// are declared once, in event_list.h; this header turns that list into types.
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "mailtap/event_list.h"
#include "mailtap/flow.h"

namespace mailtap {

#define MAILTAP_IGNORE_ARG(...)
#define MAILTAP_EVENT_ID(Id, name, kind, doc, args) Id,
// Every event, in the order of event_list.h.
enum class EventId : uint8_t { MAILTAP_EVENTS(MAILTAP_EVENT_ID, MAILTAP_IGNORE_ARG) };
#undef MAILTAP_EVENT_ID

#define MAILTAP_COUNT_EVENT(Id, name, kind, doc, args) +1
inline constexpr size_t kEventCount = 0 MAILTAP_EVENTS(MAILTAP_COUNT_EVENT, MAILTAP_IGNORE_ARG);
#undef MAILTAP_COUNT_EVENT

// The types an argument can have, and their C++ representation.
enum class ArgType : uint8_t { kBool, kCount, kString };
template <ArgType>
struct ArgTraits;
template <>
struct ArgTraits<ArgType::kBool> {
  using Type = bool;
};
template <>
struct ArgTraits<ArgType::kCount> {
  using Type = int64_t;  // Zeek's count; JSON number
};
template <>
struct ArgTraits<ArgType::kString> {
  using Type = std::string;  // raw protocol bytes (not necessarily UTF-8); writers escape
};
template <ArgType kType>
using ArgValueType = typename ArgTraits<kType>::Type;

// "bool", "count" or "string": the type as `mailtapd --list-events` and docs/events.md name it.
constexpr std::string_view ArgTypeName(ArgType type) {
  switch (type) {
    case ArgType::kBool:
      return "bool";
    case ArgType::kCount:
      return "count";
    case ArgType::kString:
      return "string";
  }
  return "string";
}

// An argument value, held in the alternative its ArgType names.
using EventValue = std::variant<bool, int64_t, std::string>;

// Whether an event carries message content (event_list.h, `kind`). Content events reach an output
// only when the operator selects them (--events-include, --observe-data).
enum class EventKind : uint8_t { kProtocol, kContent };

// "protocol" or "content": as `mailtapd --list-events` and --events-include name them.
constexpr std::string_view EventKindName(EventKind kind) {
  return kind == EventKind::kContent ? "content" : "protocol";
}

struct ArgSchema {
  std::string_view key;  // the JSON key (Zeek's parameter name)
  ArgType type;
  std::string_view doc;
};

struct EventSchema {
  EventId id;
  std::string_view name;  // Zeek's event name
  EventKind kind;
  std::string_view doc;
  std::span<const ArgSchema> args;  // in Zeek's parameter order
};

// One event. `args` holds one value per argument of `id`, in declaration order, each in the
// alternative of its declared type: build events with ev::NAME::Make or Reset + Set, read them
// with Get (below), never by position. `conn` is null for events not tied to a connection.
//
// A further top-level field (beside ts, event and the connection keys) is a member here, written
// by AppendEventJson (sinks/event_json.cc) and kept by the query history (query/hub.cc).
struct Event {
  Timestamp ts;
  EventId id = EventId::kWeird;
  const Connection* conn = nullptr;
  std::vector<EventValue> args;
  // The bytes behind the event travelled inside TLS: the analyzer read them as plaintext from the
  // local process's TLS library, not from the wire (written as "inside_tls": true, only if so).
  bool inside_tls = false;

  std::string_view name() const;
};

// A typed argument key: event, position and type, known at compile time. Keys are generated as
// ev::NAME::ARG (e.g. ev::smtp_reply::code), so a misspelt argument does not compile.
template <EventId kEventId, size_t kIndex, ArgType kType>
struct ArgKey {
  static constexpr EventId kEvent = kEventId;
  static constexpr size_t kPosition = kIndex;
  using Type = ArgValueType<kType>;
};

namespace ev {

// Pass 1: per event, its id and the positions of its arguments.
#define MAILTAP_ARG_INDEX(ident, key, type, doc) ident,
#define MAILTAP_EVENT_INDEX(Id, name, kind, doc, args) \
  namespace name {                                     \
  inline constexpr EventId kId = EventId::Id;          \
  struct Index {                                       \
    enum : size_t { args kArgCount };                  \
  };                                                   \
  }
MAILTAP_EVENTS(MAILTAP_EVENT_INDEX, MAILTAP_ARG_INDEX)
#undef MAILTAP_EVENT_INDEX
#undef MAILTAP_ARG_INDEX

// Pass 2: the typed keys, ev::NAME::ARG.
#define MAILTAP_ARG_KEY(ident, key, type, doc) \
  inline constexpr ArgKey<kId, Index::ident, ArgType::type> ident{};
#define MAILTAP_EVENT_KEYS(Id, name, kind, doc, args) \
  namespace name {                                    \
  args                                                \
  }
MAILTAP_EVENTS(MAILTAP_EVENT_KEYS, MAILTAP_ARG_KEY)
#undef MAILTAP_EVENT_KEYS
#undef MAILTAP_ARG_KEY

// Pass 3: the schema of each event's arguments, ev::NAME::kArgs.
#define MAILTAP_ARG_SCHEMA(ident, key, type, doc) ArgSchema{key, ArgType::type, doc},
#define MAILTAP_EVENT_ARGS(Id, name, kind, doc, args)                     \
  namespace name {                                                        \
  inline constexpr std::array<ArgSchema, Index::kArgCount> kArgs{{args}}; \
  }
MAILTAP_EVENTS(MAILTAP_EVENT_ARGS, MAILTAP_ARG_SCHEMA)
#undef MAILTAP_EVENT_ARGS
#undef MAILTAP_ARG_SCHEMA

// Pass 4: ev::NAME::Args, the arguments as a struct for Make, e.g.
//   ev::smtp_unexpected::Make(ts, &conn, {.is_orig = true, .msg = "...", .detail = line})
#define MAILTAP_ARG_FIELD(ident, key, type, doc) ArgValueType<ArgType::type> ident{};
#define MAILTAP_EVENT_STRUCT(Id, name, kind, doc, args) \
  namespace name {                                      \
  struct Args {                                         \
    args                                                \
  };                                                    \
  }
MAILTAP_EVENTS(MAILTAP_EVENT_STRUCT, MAILTAP_ARG_FIELD)
#undef MAILTAP_EVENT_STRUCT
#undef MAILTAP_ARG_FIELD

// Pass 5: ev::NAME::Make(ts, conn, args) builds the event.
#define MAILTAP_ARG_MOVE(ident, key, type, doc) EventValue(std::move(a.ident)),
#define MAILTAP_EVENT_MAKE(Id, name, kind, doc, args)                    \
  namespace name {                                                       \
  inline Event Make(Timestamp ts, const Connection* conn, Args a = {}) { \
    (void)a;                                                             \
    return Event{ts, kId, conn, std::vector<EventValue>{args}};          \
  }                                                                      \
  }
MAILTAP_EVENTS(MAILTAP_EVENT_MAKE, MAILTAP_ARG_MOVE)
#undef MAILTAP_EVENT_MAKE
#undef MAILTAP_ARG_MOVE

}  // namespace ev

// Every event's schema, indexed by EventId.
#define MAILTAP_EVENT_SCHEMA(Id, name, kind, doc, args) \
  EventSchema{EventId::Id, #name, EventKind::kind, doc, ev::name::kArgs},
inline constexpr std::array<EventSchema, kEventCount> kEventSchemas{
    {MAILTAP_EVENTS(MAILTAP_EVENT_SCHEMA, MAILTAP_IGNORE_ARG)}};
#undef MAILTAP_EVENT_SCHEMA
#undef MAILTAP_IGNORE_ARG

constexpr const EventSchema& SchemaOf(EventId id) { return kEventSchemas[static_cast<size_t>(id)]; }
constexpr std::string_view EventName(EventId id) { return SchemaOf(id).name; }
constexpr bool IsContentEvent(EventId id) { return SchemaOf(id).kind == EventKind::kContent; }
inline std::string_view Event::name() const { return EventName(id); }

// The event called `name`, if there is one.
constexpr std::optional<EventId> EventIdByName(std::string_view name) {
  for (const EventSchema& s : kEventSchemas) {
    if (s.name == name) return s.id;
  }
  return std::nullopt;
}

// For keys that several events share (is_orig): per event, the position of the argument with
// this key and type, or -1. Evaluated at compile time.
consteval std::array<int, kEventCount> ArgPositions(std::string_view key, ArgType type) {
  std::array<int, kEventCount> positions{};
  for (size_t e = 0; e < kEventCount; ++e) {
    positions[e] = -1;
    for (size_t i = 0; i < kEventSchemas[e].args.size(); ++i) {
      const ArgSchema& a = kEventSchemas[e].args[i];
      if (a.key == key && a.type == type) positions[e] = static_cast<int>(i);
    }
  }
  return positions;
}

// Typed access. REQUIRES: event.id == Key::kEvent and `event` built as above.
template <typename Key>
const typename Key::Type& Get(const Event& event, Key /*key*/) {
  assert(event.id == Key::kEvent);
  return *std::get_if<typename Key::Type>(&event.args[Key::kPosition]);
}
template <typename Key>
typename Key::Type& GetMutable(Event& event, Key /*key*/) {
  assert(event.id == Key::kEvent);
  return *std::get_if<typename Key::Type>(&event.args[Key::kPosition]);
}

// Readies `event` (e.g. one reused across emissions, whose strings keep their capacity) for an
// event `id`: its arguments are then set with Set, every one of them.
inline void Reset(Event& event, EventId id, Timestamp ts, const Connection* conn) {
  event.ts = ts;
  event.id = id;
  event.conn = conn;
  event.inside_tls = false;
  event.args.resize(SchemaOf(id).args.size());
}

// Sets one argument, reusing a string's capacity. REQUIRES: event.id == Key::kEvent.
template <typename Key, typename Value>
void Set(Event& event, Key /*key*/, Value&& value) {
  assert(event.id == Key::kEvent);
  EventValue& slot = event.args[Key::kPosition];
  if constexpr (std::is_same_v<typename Key::Type, std::string>) {
    if (auto* s = std::get_if<std::string>(&slot)) {
      s->assign(std::forward<Value>(value));
      return;
    }
    slot.emplace<std::string>(std::forward<Value>(value));
  } else {
    slot = static_cast<typename Key::Type>(value);
  }
}

// Zeek's weird as an event: `addl` may be empty; `source` names the raising component ("SMTP",
// "CONTENTLINE", "TCP") and is empty for script-level and logging weirds. `conn` may be null.
inline Event MakeWeird(Timestamp ts, const Connection* conn, std::string_view name,
                       std::string addl, std::string_view source) {
  return ev::weird::Make(
      ts, conn,
      {.name = std::string(name), .addl = std::move(addl), .source = std::string(source)});
}

}  // namespace mailtap
