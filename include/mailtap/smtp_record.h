// One smtp.log record: a mail transaction, with Zeek's fields in Zeek's order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mailtap/flow.h"

namespace mailtap {

// std::nullopt = unset (Zeek's "-"); an engaged empty vector = "(empty)".
// Sets (rcptto, to, cc) keep first-seen order and hold no duplicates.
struct SmtpRecord {
  Timestamp ts;
  std::string uid;
  ConnId id;
  uint64_t trans_depth = 0;
  std::optional<std::string> helo;
  std::optional<std::string> mailfrom;
  std::optional<std::vector<std::string>> rcptto;
  std::optional<std::string> date;
  std::optional<std::string> from;
  std::optional<std::vector<std::string>> to;
  std::optional<std::vector<std::string>> cc;
  std::optional<std::string> reply_to;
  std::optional<std::string> msg_id;
  std::optional<std::string> in_reply_to;
  std::optional<std::string> subject;
  std::optional<IpAddress> x_originating_ip;
  std::optional<std::string> first_received;
  std::optional<std::string> second_received;
  std::optional<std::string> last_reply;
  std::optional<std::vector<IpAddress>> path;
  std::optional<std::string> user_agent;
  bool tls = false;
  // File ids of the MIME entities of the message (files.log), outside TLS as in Zeek.
  std::vector<std::string> fuids;
  // Not Zeek's: the local process owning the connection's socket, when the socket probes said
  // (live only). Written in JSON only (proc.pid, proc.name, proc.cgroup_id), and only if known.
  std::optional<OwnerProcess> proc;
  // Not Zeek's: the connection's Community ID, appended to the log after Zeek's columns.
  std::string community_id;
};

}  // namespace mailtap
