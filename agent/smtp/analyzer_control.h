// Lets script-level logic (smtp.log transaction tracking) act on the analyzer of a connection,
// as Zeek scripts can call disable_analyzer().
#pragma once

#include "mailtap/flow.h"

namespace mailtap {

class AnalyzerControl {
 public:
  virtual ~AnalyzerControl() = default;
  // Stops SMTP analysis of `conn`: no further events for it (Zeek's disable_analyzer). A no-op if
  // the connection has no analyzer. Safe to call while an event of that connection is dispatched.
  virtual void DisableAnalyzer(const Connection& conn) = 0;
};

}  // namespace mailtap
