#include "common/event_bus.h"

#include <utility>

namespace mailtap {

void EventBus::Publish(Event event) {
  queued_.push_back(std::move(event));
  if (!dispatching_) Drain();
}

void EventBus::Drain() {
  dispatching_ = true;
  while (!queued_.empty()) {
    Event event = std::move(queued_.front());
    queued_.pop_front();
    for (EventSink* sink : sinks_) sink->OnEvent(event);
  }
  dispatching_ = false;
}

void EventBus::OnConnectionRemoved(const Connection& conn, Timestamp ts) {
  // Events raised while the connection is torn down go out before the removal notice.
  if (!dispatching_) Drain();
  for (EventSink* sink : sinks_) sink->OnConnectionRemoved(conn, ts);
  if (!dispatching_) Drain();
}

void EventBus::Flush() {
  for (EventSink* sink : sinks_) sink->Flush();
}

}  // namespace mailtap
