// A TCP connection as the analyzers see it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mailtap/packet.h"

namespace mailtap {

// Which endpoint sent some bytes: the originator (the side that sent the SYN, Zeek's `is_orig`)
// or the responder.
enum class Side : uint8_t { kOriginator = 0, kResponder = 1 };

inline Side Other(Side s) { return s == Side::kOriginator ? Side::kResponder : Side::kOriginator; }
inline bool IsOrig(Side s) { return s == Side::kOriginator; }

// Zeek's conn_id: the 4-tuple oriented originator → responder.
struct ConnId {
  IpAddress orig_h;
  uint16_t orig_p = 0;
  IpAddress resp_h;
  uint16_t resp_p = 0;
};

// The local process that owns a connection's socket, as the kernel reported it.
struct OwnerProcess {
  uint32_t pid = 0;        // in the host's PID namespace
  std::string name;        // the kernel's task name (comm), at most 15 bytes
  uint64_t cgroup_id = 0;  // cgroup v2 id (a container or pod), 0 if unknown
};

// State a pipeline stage keeps for one connection (as Zeek's scripts keep theirs in the
// connection record), so that each event finds it without a table lookup.
class ConnectionState {
 public:
  virtual ~ConnectionState() = default;
};

// The stages that keep per-connection state: one slot each, set and read by that stage only.
enum class StateSlot : uint8_t { kSmtpLog };
inline constexpr size_t kStateSlots = 1;

// The slots of one connection. A copy of a Connection is a value snapshot (e.g. the query
// server's): it starts with empty slots, the state stays with the connection the flow owns.
class StateSlots {
 public:
  StateSlots() = default;
  StateSlots(const StateSlots& /*other*/) {}
  StateSlots& operator=(const StateSlots& /*other*/) { return *this; }
  std::unique_ptr<ConnectionState>& operator[](StateSlot slot) {
    return slots_[static_cast<size_t>(slot)];
  }

 private:
  std::array<std::unique_ptr<ConnectionState>, kStateSlots> slots_;
};

// What the stages after the analyzer may ask of it for one connection: the only path against the
// flow of events. A later stage sets it while it handles an event of the connection; the analyzer
// reads it when the dispatch of that event returns.
struct AnalyzerRequests {
  bool disable = false;  // Zeek's disable_analyzer() from a script
};

// What the analysis of a connection found that conn.log reports, set by the stage that sees it
// (sinks/conn_log.h, from the events) and read by the flow table.
struct ConnAnalysis {
  bool smtp = false;  // service "smtp": the SMTP analyzer saw SMTP
  bool ssl = false;   // service "ssl": a TLS handshake was seen on the wire
  // History 'X' (originator) / 'x' (responder): an analyzer limit cut the analysis of that side.
  std::array<bool, 2> partial{};
};

// One tracked TCP connection. Owned by the flow table; analyzers and sinks borrow it and may keep
// the pointer until the connection's StreamConsumer::Finish() has returned.
struct Connection {
  std::string uid;  // "C" + base62, stable for the connection (Zeek's uid)
  ConnId id;
  Timestamp start;  // time of the first packet
  // True when the handshake was not seen (first originator packet not a SYN), as Zeek's
  // "partial connection": analyzers then ignore payload but still see content gaps.
  bool partial = false;
  // Who owns the local socket, once the socket probes said (live capture only; never in replays).
  std::optional<OwnerProcess> process;
  // The Community ID of the 4-tuple ("1:..."), computed once when the connection is created.
  std::string community_id;
  // Per-stage state, owned here and so destroyed with the connection (after every stage's last
  // notice for it). Stages see the connection as const: these are theirs to change.
  mutable StateSlots state;
  mutable AnalyzerRequests analyzer_requests;
  mutable ConnAnalysis analysis;

  std::unique_ptr<ConnectionState>& Slot(StateSlot slot) const { return state[slot]; }
};

}  // namespace mailtap
