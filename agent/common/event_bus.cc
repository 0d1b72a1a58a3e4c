#include "common/event_bus.h"

#include <utility>

namespace mailtap {

// Only an event published during a dispatch is copied (queued); the usual one goes to the sinks
// straight from the caller's object. Copying every event (its args and their strings) once per
// bus was a large share of the agent's CPU at 10^5 events/s.
void EventBus::OnEvent(const Event& event) {
  if (dispatching_) {
    queued_.push_back(event);
  } else {
    Dispatch(event);
  }
}

void EventBus::Publish(Event event) {
  if (dispatching_) {
    queued_.push_back(std::move(event));
  } else {
    Dispatch(event);
  }
}

// Not dispatching, so nothing is queued: `event` first, then what the sinks published meanwhile.
void EventBus::Dispatch(const Event& event) {
  dispatching_ = true;
  sinks_.OnEvent(event);
  Drain();
}

void EventBus::Drain() {
  dispatching_ = true;
  while (!queued_.empty()) {
    Event event = std::move(queued_.front());
    queued_.pop_front();
    sinks_.OnEvent(event);
  }
  dispatching_ = false;
}

void EventBus::OnConnectionRemoved(const Connection& conn, Timestamp ts) {
  // Events raised while the connection is torn down go out before the removal notice.
  if (!dispatching_) Drain();
  sinks_.OnConnectionRemoved(conn, ts);
  if (!dispatching_) Drain();
}

void EventBus::OnConnectionFinished(const Connection& conn) {
  if (!dispatching_) Drain();
  sinks_.OnConnectionFinished(conn);
}

}  // namespace mailtap
