// Hands every event and notice to several sinks, in the order they were added.
#pragma once

#include <algorithm>
#include <string_view>
#include <vector>

#include "mailtap/sink.h"

namespace mailtap {

// Queues nothing: an event a sink publishes while another is being delivered would reach the
// later sinks first (EventBus adds the queue that orders those). Not thread-safe.
class EventFanout final : public EventSink {
 public:
  // `sink` must outlive the fan-out.
  void Add(EventSink* sink) { sinks_.push_back(sink); }
  void OnEvent(const Event& event) override {
    for (EventSink* sink : sinks_) sink->OnEvent(event);
  }
  bool Wants(EventId id) const override {
    return std::any_of(sinks_.begin(), sinks_.end(),
                       [id](const EventSink* s) { return s->Wants(id); });
  }
  void OnConnectionRemoved(const Connection& conn, Timestamp ts) override {
    for (EventSink* sink : sinks_) sink->OnConnectionRemoved(conn, ts);
  }
  void OnConnectionFinished(const Connection& conn) override {
    for (EventSink* sink : sinks_) sink->OnConnectionFinished(conn);
  }
  void Flush() override {
    for (EventSink* sink : sinks_) sink->Flush();
  }

 private:
  std::vector<EventSink*> sinks_;
};

}  // namespace mailtap
