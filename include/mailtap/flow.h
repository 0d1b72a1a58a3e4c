// A TCP connection as the analyzers see it.
#pragma once

#include <cstdint>
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

struct SmtpLogState;  // agent/smtp/transaction.cc
class SmtpSession;    // agent/smtp/session.h

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
  // The smtp.log logic's state for this connection, kept here as Zeek's scripts keep theirs in
  // the connection record (c$smtp, c$smtp_state), so that each event finds it without a table
  // lookup. Valid only while smtp_log_owner is the id of the SmtpTransactionLog that set it.
  mutable SmtpLogState* smtp_log = nullptr;
  mutable uint64_t smtp_log_owner = 0;
  // The SMTP analyzer attached to this connection, if any (it sets and clears this itself), for
  // Zeek's disable_analyzer.
  mutable SmtpSession* smtp_analyzer = nullptr;
};

}  // namespace mailtap
