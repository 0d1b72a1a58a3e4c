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
  std::string community_id;
  ConnId id;
  Timestamp start;
  Timestamp last_seen;
  uint64_t orig_bytes = 0;  // payload bytes delivered in order, originator -> responder
  uint64_t resp_bytes = 0;
  uint64_t gap_bytes = 0;  // bytes reported as content gaps, both directions
  std::string tcp_state;   // e.g. "established", "closing"
  std::string smtp_state;  // the analyzer's state name, e.g. "IN_DATA"; empty if not analysed
};

// The connections tracked now, built by the pipeline thread when the query server asks: closed
// connections stay tracked for the close delay (5 s), so at 10^3 connections/s a copy holds
// ~10^4 of them, and building one a second was ~5% of the busy agent's CPU.
using ConnectionsSnapshot = OnDemandSnapshot<std::vector<ConnectionSummary>>;

}  // namespace mailtap
