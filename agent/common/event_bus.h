// Fans events out to every sink, in order.
#pragma once

#include <deque>

#include "common/event_fanout.h"
#include "mailtap/sink.h"

namespace mailtap {

// Publishing is re-entrant the way Zeek's event queue is: an event published while another is
// being dispatched (e.g. a weird raised by the smtp.log logic while it handles smtp_request) is
// delivered to all sinks after the current event has reached every sink, so every sink sees the
// same order. Not thread-safe: the pipeline thread only.
class EventBus : public EventSink {
 public:
  // `sink` must outlive the bus.
  void AddSink(EventSink* sink) { sinks_.Add(sink); }

  void OnEvent(const Event& event) override;
  bool Wants(EventId id) const override { return sinks_.Wants(id); }
  void OnConnectionRemoved(const Connection& conn, Timestamp ts) override;
  void OnConnectionFinished(const Connection& conn) override;
  void Flush() override { sinks_.Flush(); }

  void Publish(Event event);

 private:
  void Dispatch(const Event& event);
  void Drain();

  EventFanout sinks_;
  std::deque<Event> queued_;
  bool dispatching_ = false;
};

}  // namespace mailtap
