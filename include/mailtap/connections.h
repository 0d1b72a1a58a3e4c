// A view of the connections open right now, for `mailtap connections` and status.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mailtap/flow.h"
#include "mailtap/snapshot.h"

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

// The connections open now, handed from the pipeline thread to the query server.
using ConnectionsSnapshot = Snapshot<std::vector<ConnectionSummary>>;

}  // namespace mailtap
