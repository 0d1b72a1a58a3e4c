// Which events / smtp.log records / connections a query selects.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mailtap/connections.h"
#include "mailtap/events.h"
#include "mailtap/smtp_record.h"

namespace mailtap {

enum class Direction { kOrig, kResp };

// The facts a filter looks at, extracted once per item, the first time a filter looks.
struct FilterKeys {
  std::string event;  // event name; empty for records and connections
  std::string uid;
  std::string community_id;
  bool has_conn = false;  // false: no 4-tuple (events not tied to a connection)
  ConnId id;
  std::optional<bool> is_orig;  // the event's is_orig argument, if it has one
  Timestamp ts;
  std::string command;             // smtp_request command / smtp_reply cmd
  std::vector<std::string> texts;  // what `match` searches
  std::vector<std::string> fuids;  // a file event's f.id; an smtp.log record's fuids
  std::string mime_type;           // a file event's sniffed type (file_sniff, file_state_remove)
};

FilterKeys KeysFromEvent(const Event& event);
// The same, overwriting *keys in place: its strings keep their capacity (no allocation once warm).
void FillKeysFromEvent(const Event& event, FilterKeys* keys);
FilterKeys KeysFromRecord(const SmtpRecord& record);
FilterKeys KeysFromConnection(const ConnectionSummary& connection);

// Every set criterion must hold (AND); within one list any element may match (OR).
struct Filter {
  std::vector<std::string> events;  // event names
  std::vector<std::string> uids;
  std::vector<std::string> community_ids;  // exact ("1:...")
  std::vector<IpAddress> addresses;        // either endpoint
  std::vector<uint16_t> ports;             // either endpoint
  std::optional<Direction> direction;  // is_orig true = kOrig; items without is_orig never match
  std::optional<Timestamp> since;      // ts >= since
  std::optional<Timestamp> until;      // ts < until
  std::vector<std::string> commands;   // ASCII case-insensitive equality with FilterKeys::command
  std::string match;                   // ASCII case-insensitive substring of one of the texts
  std::vector<std::string> fuids;      // file ids: file events of those files, records with them
  // Media types, ASCII case-insensitive; "image/*" is every image type. Items without a type
  // (every event but file_sniff and file_state_remove) never match.
  std::vector<std::string> mime_types;

  bool Matches(const FilterKeys& keys) const;
};

}  // namespace mailtap
