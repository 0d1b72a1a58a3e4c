// Where events and smtp.log records go: JSON lines, log files, the query server, metrics.
#pragma once

#include <string_view>

#include "mailtap/events.h"
#include "mailtap/smtp_record.h"

namespace mailtap {

// Receives every event, in the order the analyzers raise them, on the pipeline thread.
// Implementations must not block for long: the capture waits while they run.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void OnEvent(const Event& event) = 0;
  // Whether this sink does anything with events `id` (events.h). Producers may skip raising an
  // event no sink wants, as Zeek skips events without a handler; it is asked when an analyzer
  // starts, so the answer must not change while the pipeline runs.
  virtual bool Wants(EventId /*id*/) const { return true; }
  // The connection is being removed; no more events for it follow. `conn` is valid during the
  // call only.
  virtual void OnConnectionRemoved(const Connection& /*conn*/, Timestamp /*ts*/) {}
  // Both streams of `conn` have ended and its analyzer is done with it: no event for it follows,
  // only the removal notice, after the close delay. A sink may drop now whatever it keeps for
  // the connection that the removal would not use.
  virtual void OnConnectionFinished(const Connection& /*conn*/) {}
  // Write buffered output (end of input, SIGTERM, periodic).
  virtual void Flush() {}
};

// Receives finished smtp.log records.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void OnRecord(const SmtpRecord& record) = 0;
  virtual void Flush() {}
};

}  // namespace mailtap
