#include "common/event_selection.h"

#include <fmt/format.h>

namespace mailtap {
namespace {

constexpr std::string_view kGroupNames = "protocol, content, all";

std::bitset<kEventCount> OfKind(EventKind kind) {
  std::bitset<kEventCount> ids;
  for (const EventSchema& schema : kEventSchemas) {
    if (schema.kind == kind) ids.set(static_cast<size_t>(schema.id));
  }
  return ids;
}

std::optional<std::bitset<kEventCount>> WordSelects(std::string_view word) {
  if (word == "protocol") return OfKind(EventKind::kProtocol);
  if (word == "content") return OfKind(EventKind::kContent);
  if (word == "all") return std::bitset<kEventCount>().set();
  if (std::optional<EventId> id = EventIdByName(word)) {
    return std::bitset<kEventCount>().set(static_cast<size_t>(*id));
  }
  return std::nullopt;
}

std::string EventNameList() {
  std::string names;
  for (const EventSchema& schema : kEventSchemas) {
    if (!names.empty()) names += ", ";
    names += schema.name;
  }
  return names;
}

}  // namespace

EventSelection EventSelection::Protocol() {
  EventSelection selection;
  selection.ids_ = OfKind(EventKind::kProtocol);
  return selection;
}

EventSelection EventSelection::All() {
  EventSelection selection;
  selection.ids_.set();
  return selection;
}

std::optional<EventSelection> EventSelection::Parse(std::string_view list, std::string* error) {
  EventSelection selection;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string_view word = list.substr(start, comma - start);
    std::optional<std::bitset<kEventCount>> ids = WordSelects(word);
    if (!ids) {
      *error = fmt::format("'{}' is not an event or a group; groups: {}; events: {}", word,
                           kGroupNames, EventNameList());
      return std::nullopt;
    }
    selection.ids_ |= *ids;
    start = comma + 1;
  }
  return selection;
}

bool EventSelection::IncludesContent() const { return (ids_ & OfKind(EventKind::kContent)).any(); }

std::string EventSelection::ContentNames() const {
  std::string names;
  for (const EventSchema& schema : kEventSchemas) {
    if (schema.kind != EventKind::kContent || !Contains(schema.id)) continue;
    if (!names.empty()) names += ",";
    names += schema.name;
  }
  return names;
}

}  // namespace mailtap
