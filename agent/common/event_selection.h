// Which events an output carries (--events-include), and the EventSink stage that applies it.
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "mailtap/events.h"
#include "mailtap/sink.h"

namespace mailtap {

// A set of events. The words of a list are event names and the groups `protocol` (every event
// whose kind is kProtocol in event_list.h), `content` (every kContent event: message lines,
// header values, entity bodies) and `all`.
class EventSelection {
 public:
  // The default of every output that leaves the agent: no message content.
  static EventSelection Protocol();
  static EventSelection All();
  // "protocol,smtp_data" -> the protocol events and smtp_data. An empty list, an empty word or an
  // unknown word returns nullopt and sets *error naming the word and the choices.
  static std::optional<EventSelection> Parse(std::string_view list, std::string* error);

  bool Contains(EventId id) const { return ids_.test(static_cast<size_t>(id)); }
  bool IncludesContent() const;
  // The content events in the selection, comma-separated ("" if none): for the start-up log.
  std::string ContentNames() const;

 private:
  std::bitset<kEventCount> ids_;
};

// Forwards the selected events and every notice to `downstream`; declines the others in Wants(),
// so that an event no output selected is not even raised (smtp_data costs the most).
// `downstream` must outlive the filter. Not thread-safe (pipeline thread).
class SelectedEvents final : public EventSink {
 public:
  SelectedEvents(EventSelection selection, EventSink& downstream)
      : selection_(selection), downstream_(downstream) {}
  void OnEvent(const Event& event) override {
    if (selection_.Contains(event.id)) downstream_.OnEvent(event);
  }
  bool Wants(EventId id) const override { return selection_.Contains(id) && downstream_.Wants(id); }
  void OnConnectionRemoved(const Connection& conn, Timestamp ts) override {
    downstream_.OnConnectionRemoved(conn, ts);
  }
  void OnConnectionFinished(const Connection& conn) override {
    downstream_.OnConnectionFinished(conn);
  }
  void Flush() override { downstream_.Flush(); }

 private:
  EventSelection selection_;
  EventSink& downstream_;
};

}  // namespace mailtap
