// A view of the connections open right now, for `mailtap connections` and status.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "mailtap/flow.h"

namespace mailtap {

struct ConnectionSummary {
  std::string uid;
  ConnId id;
  Timestamp start;
  Timestamp last_seen;
  uint64_t orig_bytes = 0;  // payload bytes delivered in order, originator -> responder
  uint64_t resp_bytes = 0;
  uint64_t gap_bytes = 0;   // bytes reported as content gaps, both directions
  std::string tcp_state;    // e.g. "established", "closing"
  std::string smtp_state;   // the analyzer's state name, e.g. "IN_DATA"; empty if not analysed
};

// Hand-over point between the pipeline thread (which publishes a fresh snapshot now and then)
// and the query server thread (which reads it). Thread-safe.
class ConnectionsSnapshot {
 public:
  void Publish(std::vector<ConnectionSummary> connections) {
    std::lock_guard lock(mu_);
    connections_ = std::move(connections);
  }
  std::vector<ConnectionSummary> Get() const {
    std::lock_guard lock(mu_);
    return connections_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<ConnectionSummary> connections_;
};

}  // namespace mailtap
