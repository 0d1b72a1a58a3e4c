#include "query/protocol.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace mailtap {
namespace {

using nlohmann::ordered_json;
using Json = nlohmann::json;

constexpr uint64_t kMaxLast = 1u << 30;

struct Applicability {
  bool events, direction, command, match, time, fuid, mime_type;
};

Applicability FiltersFor(Verb verb) {
  switch (verb) {
    case Verb::kObserve:
      return {true, true, true, true, true, true, true};
    case Verb::kTransactions:
      return {false, false, false, true, true, true, false};
    case Verb::kConnections:
      return {false, false, false, false, false, false, false};
    default:
      return {false, false, false, false, false, false, false};
  }
}

bool ParseVerb(std::string_view s, Verb* verb) {
  for (Verb v :
       {Verb::kObserve, Verb::kTransactions, Verb::kConnections, Verb::kStatus, Verb::kMetrics}) {
    if (VerbName(v) == s) {
      *verb = v;
      return true;
    }
  }
  return false;
}

bool Fail(QueryError* error, std::string_view code, std::string message) {
  *error = QueryError{code, std::move(message)};
  return false;
}

// Accepts a single value or an array of values of one JSON type.
template <typename Convert>
bool ParseList(const Json& value, std::string_view key, Convert convert, QueryError* error) {
  if (!value.is_array())
    return convert(value) || Fail(error, query_errors::kBadRequest,
                                  "filter '" + std::string(key) + "' has an invalid value");
  for (const Json& v : value) {
    if (!convert(v)) {
      return Fail(error, query_errors::kBadRequest,
                  "filter '" + std::string(key) + "' has an invalid value");
    }
  }
  return true;
}

bool ParseStrings(const Json& v, std::string_view key, std::vector<std::string>* out,
                  QueryError* error) {
  return ParseList(
      v, key,
      [&](const Json& s) {
        if (!s.is_string()) return false;
        out->push_back(s.get<std::string>());
        return true;
      },
      error);
}

bool ParseAddresses(const Json& v, std::vector<IpAddress>* out, QueryError* error) {
  return ParseList(
      v, "address",
      [&](const Json& s) {
        IpAddress a;
        if (!s.is_string() || !IpAddress::Parse(s.get<std::string>(), &a)) return false;
        out->push_back(a);
        return true;
      },
      error);
}

bool ParsePorts(const Json& v, std::vector<uint16_t>* out, QueryError* error) {
  return ParseList(
      v, "port",
      [&](const Json& p) {
        if (!p.is_number_unsigned() || p.get<uint64_t>() == 0 || p.get<uint64_t>() > 65535)
          return false;
        out->push_back(static_cast<uint16_t>(p.get<uint64_t>()));
        return true;
      },
      error);
}

bool ParseTime(const Json& v, std::string_view key, std::optional<Timestamp>* out,
               QueryError* error) {
  if (!v.is_number() || !std::isfinite(v.get<double>()) || std::fabs(v.get<double>()) > 1e13) {
    return Fail(error, query_errors::kBadRequest,
                "filter '" + std::string(key) + "' must be seconds since the epoch");
  }
  *out = Timestamp{std::llround(v.get<double>() * 1e6)};
  return true;
}

bool ParseDirection(const Json& v, std::optional<Direction>* out, QueryError* error) {
  if (v == "orig") {
    *out = Direction::kOrig;
  } else if (v == "resp") {
    *out = Direction::kResp;
  } else {
    return Fail(error, query_errors::kBadRequest,
                "filter 'direction' must be \"orig\" or \"resp\"");
  }
  return true;
}

bool NotApplicable(std::string_view key, Verb verb, QueryError* error) {
  return Fail(error, query_errors::kBadRequest,
              "filter '" + std::string(key) + "' does not apply to " + std::string(VerbName(verb)));
}

bool ParseFilterMember(const std::string& key, const Json& v, Verb verb, Filter* f,
                       QueryError* error) {
  Applicability a = FiltersFor(verb);
  bool any = verb == Verb::kObserve || verb == Verb::kTransactions || verb == Verb::kConnections;
  if (key == "uid" && any) return ParseStrings(v, key, &f->uids, error);
  if (key == "community_id" && any) return ParseStrings(v, key, &f->community_ids, error);
  if (key == "address" && any) return ParseAddresses(v, &f->addresses, error);
  if (key == "port" && any) return ParsePorts(v, &f->ports, error);
  if (key == "event" && a.events) return ParseStrings(v, key, &f->events, error);
  if (key == "command" && a.command) return ParseStrings(v, key, &f->commands, error);
  if (key == "direction" && a.direction) return ParseDirection(v, &f->direction, error);
  if (key == "since" && a.time) return ParseTime(v, key, &f->since, error);
  if (key == "until" && a.time) return ParseTime(v, key, &f->until, error);
  if (key == "fuid" && a.fuid) return ParseStrings(v, key, &f->fuids, error);
  if (key == "mime_type" && a.mime_type) return ParseStrings(v, key, &f->mime_types, error);
  if (key == "match" && a.match) {
    if (!v.is_string())
      return Fail(error, query_errors::kBadRequest, "filter 'match' must be a string");
    f->match = v.get<std::string>();
    return true;
  }
  static constexpr std::string_view kKnown[] = {"uid",   "community_id", "address",   "port",
                                                "event", "command",      "direction", "since",
                                                "until", "match",        "fuid",      "mime_type"};
  for (auto k : kKnown) {
    if (k == key) return NotApplicable(key, verb, error);
  }
  return Fail(error, query_errors::kBadRequest, "unknown filter '" + key + "'");
}

bool ParseFilter(const Json& v, Verb verb, Filter* f, QueryError* error) {
  if (!v.is_object()) return Fail(error, query_errors::kBadRequest, "'filter' must be an object");
  for (const auto& [key, value] : v.items()) {
    if (!ParseFilterMember(key, value, verb, f, error)) return false;
  }
  return true;
}

bool ParseStreamOptions(const Json& j, QueryRequest* r, QueryError* error) {
  bool streams = r->verb == Verb::kObserve || r->verb == Verb::kTransactions;
  if (j.contains("last")) {
    const Json& last = j["last"];
    if (!streams)
      return Fail(error, query_errors::kBadRequest,
                  "'last' does not apply to " + std::string(VerbName(r->verb)));
    if (!last.is_number_unsigned())
      return Fail(error, query_errors::kBadRequest, "'last' must be a non-negative integer");
    r->last = static_cast<size_t>(std::min<uint64_t>(last.get<uint64_t>(), kMaxLast));
  }
  if (j.contains("follow")) {
    if (!streams)
      return Fail(error, query_errors::kBadRequest,
                  "'follow' does not apply to " + std::string(VerbName(r->verb)));
    if (!j["follow"].is_boolean())
      return Fail(error, query_errors::kBadRequest, "'follow' must be true or false");
    r->follow = j["follow"].get<bool>();
  }
  return true;
}

bool CheckMembers(const Json& j, QueryError* error) {
  for (const auto& [key, value] : j.items()) {
    if (key != "protocol" && key != "verb" && key != "last" && key != "follow" && key != "filter") {
      return Fail(error, query_errors::kBadRequest, "unknown request member '" + key + "'");
    }
  }
  return true;
}

bool ParseHeader(const Json& j, QueryRequest* r, QueryError* error) {
  if (j.contains("protocol") && (!j["protocol"].is_number_integer() ||
                                 j["protocol"].get<int64_t>() != kQueryProtocolVersion)) {
    return Fail(
        error, query_errors::kUnsupportedProtocol,
        "this agent speaks query protocol version " + std::to_string(kQueryProtocolVersion));
  }
  if (!j.contains("verb") || !j["verb"].is_string()) {
    return Fail(error, query_errors::kBadRequest, "the request has no 'verb'");
  }
  std::string verb = j["verb"].get<std::string>();
  if (!ParseVerb(verb, &r->verb)) {
    return Fail(
        error, query_errors::kUnknownVerb,
        "unknown verb '" + verb + "' (known: observe, transactions, connections, status, metrics)");
  }
  return true;
}

void AddList(ordered_json* f, const char* key, const auto& values) {
  if (!values.empty()) (*f)[key] = values;
}

}  // namespace

std::string_view VerbName(Verb verb) {
  switch (verb) {
    case Verb::kObserve:
      return "observe";
    case Verb::kTransactions:
      return "transactions";
    case Verb::kConnections:
      return "connections";
    case Verb::kStatus:
      return "status";
    case Verb::kMetrics:
      return "metrics";
  }
  return "status";
}

bool ParseQueryRequest(std::string_view line, QueryRequest* request, QueryError* error) {
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(error, query_errors::kBadJson, "the request is not valid JSON");
  if (!j.is_object())
    return Fail(error, query_errors::kBadRequest, "the request must be a JSON object");
  QueryRequest r;
  if (!CheckMembers(j, error) || !ParseHeader(j, &r, error)) return false;
  if (!ParseStreamOptions(j, &r, error)) return false;
  if (j.contains("filter") && !ParseFilter(j["filter"], r.verb, &r.filter, error)) return false;
  *request = std::move(r);
  return true;
}

std::string FormatQueryRequest(const QueryRequest& r) {
  ordered_json j;
  j["protocol"] = kQueryProtocolVersion;
  j["verb"] = VerbName(r.verb);
  if (r.verb == Verb::kObserve || r.verb == Verb::kTransactions) {
    j["last"] = r.last;
    j["follow"] = r.follow;
  }
  ordered_json f = ordered_json::object();
  const Filter& filter = r.filter;
  AddList(&f, "event", filter.events);
  AddList(&f, "uid", filter.uids);
  AddList(&f, "community_id", filter.community_ids);
  std::vector<std::string> addresses;
  for (const auto& a : filter.addresses) addresses.push_back(a.ToString());
  AddList(&f, "address", addresses);
  AddList(&f, "port", filter.ports);
  if (filter.direction) f["direction"] = *filter.direction == Direction::kOrig ? "orig" : "resp";
  if (filter.since) f["since"] = static_cast<double>(filter.since->usec) / 1e6;
  if (filter.until) f["until"] = static_cast<double>(filter.until->usec) / 1e6;
  AddList(&f, "command", filter.commands);
  if (!filter.match.empty()) f["match"] = filter.match;
  AddList(&f, "fuid", filter.fuids);
  AddList(&f, "mime_type", filter.mime_types);
  if (!f.empty()) j["filter"] = f;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string OkMessage(Verb verb) {
  ordered_json j;
  j["mailtap"] = "ok";
  j["protocol"] = kQueryProtocolVersion;
  j["verb"] = VerbName(verb);
  return j.dump();
}

std::string ErrorMessage(const QueryError& error) {
  ordered_json j;
  j["mailtap"] = "error";
  j["protocol"] = kQueryProtocolVersion;
  j["code"] = error.code;
  j["message"] = error.message;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string LostMessage(uint64_t count) {
  ordered_json j;
  j["mailtap"] = "lost";
  j["count"] = count;
  j["cause"] = "slow_subscriber";
  return j.dump();
}

std::string EndMessage(uint64_t items) {
  ordered_json j;
  j["mailtap"] = "end";
  j["items"] = items;
  return j.dump();
}

bool IsProtocolMessage(std::string_view line) {
  constexpr std::string_view kPrefix = "{\"mailtap\":";
  return line.substr(0, kPrefix.size()) == kPrefix;
}

}  // namespace mailtap
