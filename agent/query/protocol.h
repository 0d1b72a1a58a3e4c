// The query protocol, version 1 (docs/query-protocol.md): one JSON request line from the client,
// then JSON lines from the server. Lines whose object's first member is "mailtap" are protocol
// messages; every other line is a data item, byte-identical to the agent's other JSON outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "query/filter.h"

namespace mailtap {

inline constexpr int kQueryProtocolVersion = 1;

enum class Verb { kObserve, kTransactions, kConnections, kStatus, kMetrics };

std::string_view VerbName(Verb verb);

struct QueryRequest {
  Verb verb = Verb::kStatus;
  Filter filter;
  size_t last = 0;      // observe/transactions: how many stored items to send first
  bool follow = false;  // observe/transactions: then keep sending new items
};

// Stable error codes (the "code" member of an error message).
namespace query_errors {
inline constexpr std::string_view kBadJson = "bad_json";
inline constexpr std::string_view kBadRequest = "bad_request";
inline constexpr std::string_view kUnknownVerb = "unknown_verb";
inline constexpr std::string_view kUnsupportedProtocol = "unsupported_protocol";
inline constexpr std::string_view kRequestTooLong = "request_too_long";
inline constexpr std::string_view kRequestTimeout = "request_timeout";
inline constexpr std::string_view kAccessDenied = "access_denied";
inline constexpr std::string_view kTooManyClients = "too_many_clients";
inline constexpr std::string_view kShuttingDown = "shutting_down";
}  // namespace query_errors

struct QueryError {
  std::string_view code;  // one of query_errors
  std::string message;
};

// Parses one request line (without its newline). Never throws: on failure returns false and
// fills *error. Unknown members and filters that do not apply to the verb are errors, so that a
// typo never silently widens a query.
bool ParseQueryRequest(std::string_view line, QueryRequest* request, QueryError* error);

// Serialises a request (the client side). The inverse of ParseQueryRequest.
std::string FormatQueryRequest(const QueryRequest& request);

// Server messages, each one JSON line without the newline.
std::string OkMessage(Verb verb);
std::string ErrorMessage(const QueryError& error);
std::string LostMessage(uint64_t count);
std::string EndMessage(uint64_t items);

// True if `line` is a protocol message rather than a data item.
bool IsProtocolMessage(std::string_view line);

}  // namespace mailtap
