#include "smtp/transaction.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <utility>

namespace mailtap {
namespace {

char AsciiUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// main.zeek's to_upper(command), for the commands the log follows: none is longer than 4 bytes,
// so a longer command comes back empty and matches none of them.
std::string_view UpperShortCommand(std::string_view command, char (&buf)[4]) {
  if (command.size() > sizeof buf) return {};
  for (size_t i = 0; i < command.size(); ++i) buf[i] = AsciiUpper(command[i]);
  return {buf, command.size()};
}

// Zeek's /^[fF][rR][oO][mM]:/ style tests.
bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (AsciiUpper(s[i]) != AsciiUpper(prefix[i])) return false;
  }
  return true;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// gsub(addr, /ORCPT=rfc822;?/, "")
std::string RemoveOrcptPrefix(std::string addr) {
  static constexpr std::string_view kPrefix = "ORCPT=rfc822";
  size_t pos;
  while ((pos = addr.find(kPrefix)) != std::string::npos) {
    size_t len = kPrefix.size();
    if (pos + len < addr.size() && addr[pos + len] == ';') ++len;
    addr.erase(pos, len);
  }
  return addr;
}

}  // namespace

// What a connection holds in its StateSlot::kSmtpLog.
struct SmtpLogState : ConnectionState {
  uint64_t owner = 0;  // the id of the log that created it
  SmtpTransactionLog::ConnState state;
};

namespace {

// Never reused by a later log at the same address.
uint64_t NextLogId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

SmtpTransactionLog::SmtpTransactionLog(SmtpLogConfig config, EventSink& weirds, RecordSink& records)
    : config_(config), weirds_(weirds), records_(records), id_(NextLogId()) {}

void SmtpTransactionLog::OnEvent(const Event& event) {
  // smtp_data may reach here anyway (another sink wants it): skip the lookup.
  if (event.conn == nullptr || !Wants(event.id)) return;
  const bool is_request = event.id == EventId::kSmtpRequest;
  const bool is_reply = event.id == EventId::kSmtpReply;
  // Only requests and replies create session state (Zeek's set_smtp_session); the other events
  // need an existing record (c?$smtp).
  ConnState* cs = Lookup(event, is_request || is_reply);
  if (cs == nullptr) return;
  if (is_request) {
    OnRequest(event, *cs);
  } else if (is_reply) {
    OnReply(event, *cs);
  } else if (event.id == EventId::kSmtpStartTls) {
    if (!cs->current) return;
    cs->current->record.tls = true;
    cs->current->has_client_activity = true;
  } else if (event.id == EventId::kMimeBeginEntity) {
    // Only the first entity of a record feeds it: a second one (a second message in the same
    // record, or a child entity) stops header processing, as main.zeek's entity_count does.
    if (!cs->current) return;
    if (++cs->current->entity_count > 1) cs->current->process_smtp_headers = false;
  } else if (event.id == EventId::kMimeOneHeader) {
    OnHeader(event, *cs);
  }
}

void SmtpTransactionLog::OnConnectionRemoved(const Connection& conn, Timestamp /*ts*/) {
  const ConnState* cs = StateOf(conn);
  if (cs == nullptr) return;
  // Zeek's finalize_smtp removal hook.
  if (cs->current && cs->current->has_client_activity) {
    records_.OnRecord(cs->current->record);
    records_written_.Add();
  }
  Forget(conn);
}

void SmtpTransactionLog::OnConnectionFinished(const Connection& conn) {
  const ConnState* cs = StateOf(conn);
  if (cs == nullptr) return;
  if (cs->current && cs->current->has_client_activity) return;  // the removal writes it
  Forget(conn);
}

SmtpTransactionLog::ConnState* SmtpTransactionLog::StateOf(const Connection& conn) const {
  auto* s = static_cast<SmtpLogState*>(conn.Slot(StateSlot::kSmtpLog).get());
  return s != nullptr && s->owner == id_ ? &s->state : nullptr;
}

void SmtpTransactionLog::Forget(const Connection& conn) {
  conn.Slot(StateSlot::kSmtpLog).reset();
  --tracked_;
}

SmtpTransactionLog::ConnState* SmtpTransactionLog::Lookup(const Event& event, bool create) {
  const Connection& conn = *event.conn;
  if (ConnState* cs = StateOf(conn)) return cs;
  if (!create) return nullptr;
  if (tracked_ >= config_.max_connections) {
    table_full_.Add();
    return nullptr;
  }
  // Replaces whatever an earlier log left in the slot.
  auto s = std::make_unique<SmtpLogState>();
  s->owner = id_;
  ConnState* cs = &s->state;
  conn.Slot(StateSlot::kSmtpLog) = std::move(s);
  ++tracked_;
  return cs;
}

// Zeek's fresh record (new_smtp_log). A finished transaction is reset in place: the strings and
// the path every record carries keep their allocations from one message to the next.
void SmtpTransactionLog::StartTransaction(ConnState& cs, const Connection& conn,
                                          Timestamp ts) const {
  std::string uid;
  std::vector<IpAddress> path;
  if (cs.current) {
    uid = std::move(cs.current->record.uid);
    if (cs.current->record.path) path = std::move(*cs.current->record.path);
    *cs.current = Transaction{};
  } else {
    cs.current.emplace();
  }
  SmtpRecord& r = cs.current->record;
  r.ts = ts;
  r.uid = std::move(uid);
  r.uid.assign(conn.uid);
  r.id = conn.id;
  // messages_transferred is only incremented when a message is finished, hence the + 1.
  r.trans_depth = cs.session.messages_transferred + 1;
  r.helo = cs.session.helo;
  // The path always ends with the two hosts of this connection.
  path.assign({conn.id.resp_h, conn.id.orig_h});
  r.path = std::move(path);
}

SmtpTransactionLog::Transaction& SmtpTransactionLog::EnsureTransaction(const Event& event,
                                                                       ConnState& cs) {
  if (!cs.current) StartTransaction(cs, *event.conn, event.ts);
  return *cs.current;
}

bool SmtpTransactionLog::FlushIfActive(const Connection& conn, Timestamp ts, ConnState& cs) {
  if (!cs.current || !cs.current->has_client_activity) return false;
  records_.OnRecord(cs.current->record);
  records_written_.Add();
  StartTransaction(cs, conn, ts);
  return true;
}

void SmtpTransactionLog::OnRequest(const Event& event, ConnState& cs) {
  Transaction& t = EnsureTransaction(event, cs);
  char buf[4];
  const std::string_view upper = UpperShortCommand(Get(event, ev::smtp_request::command), buf);
  const std::string_view arg = Get(event, ev::smtp_request::arg);
  if (upper == "HELO" || upper == "EHLO") {
    cs.session.helo = std::string(arg);
    t.record.helo = std::string(arg);
  } else if (upper == "RCPT" && StartsWithNoCase(arg, "to:")) {
    OnRcptTo(event, cs, arg);
  } else if (upper == "MAIL" && StartsWithNoCase(arg, "from:")) {
    OnMailFrom(event, cs, arg);
  } else if (upper == "DATA" || upper == "BDAT") {
    OnDataOrBdat(event, cs, upper, arg);
  } else if (upper == ".") {
    cs.session.trans_mail_from_seen = false;
    cs.session.trans_rcpt_to_seen = false;
  }
}

void SmtpTransactionLog::OnRcptTo(const Event& event, ConnState& cs, std::string_view arg) {
  Transaction& t = *cs.current;
  std::vector<std::string> found;
  for (std::string& a : smtp_text::ExtractEmailAddrs(arg)) {
    if (!Contains(found, a)) found.push_back(std::move(a));
  }
  if (!t.record.rcptto) t.record.rcptto.emplace();
  for (const std::string& a : found) {
    // The cap is checked before every add, even of an address already in the set.
    if (config_.max_rcptto_addresses > 0 &&
        t.record.rcptto->size() >= config_.max_rcptto_addresses) {
      addresses_capped_.Add();
      RaiseWeird(event, "smtp_too_many_rcptto_addresses", "", "");
      break;
    }
    std::string cleaned = RemoveOrcptPrefix(a);
    if (!Contains(*t.record.rcptto, cleaned)) t.record.rcptto->push_back(std::move(cleaned));
  }
  t.has_client_activity = true;
  cs.session.trans_rcpt_to_seen = true;
  if (config_.mail_transaction_validation && !cs.session.trans_mail_from_seen) {
    MailTransactionInvalid(event, cs, "rcpt to missing mail from");
  }
}

void SmtpTransactionLog::OnMailFrom(const Event& event, ConnState& cs, std::string_view arg) {
  // Flush the previous transaction in case the server's acknowledgement was not seen; this
  // does not count as a transferred message (so trans_depth is not incremented).
  FlushIfActive(*event.conn, event.ts, cs);
  Transaction& t = *cs.current;
  std::vector<std::string> addrs = smtp_text::ExtractEmailAddrs(arg);
  if (!addrs.empty() && !addrs.front().empty()) t.record.mailfrom = addrs.front();
  t.has_client_activity = true;
  cs.session.trans_mail_from_seen = true;
  cs.session.trans_rcpt_to_seen = false;
}

void SmtpTransactionLog::OnDataOrBdat(const Event& event, ConnState& cs, std::string_view command,
                                      std::string_view arg) {
  if (config_.mail_transaction_validation && !cs.session.trans_rcpt_to_seen) {
    MailTransactionInvalid(event, cs, "data missing rcpt to");
  }
  // Case-sensitive on purpose: main.zeek uses ends_with(arg, " LAST") although the analyzer
  // accepts any case (spec 19.2).
  if (command == "BDAT" && arg.ends_with(" LAST")) {
    cs.session.trans_mail_from_seen = false;
    cs.session.trans_rcpt_to_seen = false;
    cs.session.bdat_last_observed = true;
  }
}

void SmtpTransactionLog::OnReply(const Event& event, ConnState& cs) {
  Transaction& t = EnsureTransaction(event, cs);
  // "%d %s" of code and msg, built in the record's string (every reply lands here).
  char code[24];
  const char* code_end =
      std::to_chars(code, code + sizeof code, Get(event, ev::smtp_reply::code)).ptr;
  std::string& last_reply =
      t.record.last_reply ? *t.record.last_reply : t.record.last_reply.emplace();
  last_reply.assign(code, static_cast<size_t>(code_end - code));
  last_reply += ' ';
  last_reply += Get(event, ev::smtp_reply::msg);
  // What main.zeek does at priority -5, i.e. after last_reply was updated. The "." test ignores
  // cont_resp, so every line of a multi-line reply to "." counts as a transferred message.
  const std::string_view cmd = Get(event, ev::smtp_reply::cmd);
  const bool cont_resp = Get(event, ev::smtp_reply::cont_resp);
  if (cmd == "." || (!cont_resp && cmd == "BDAT" && cs.session.bdat_last_observed)) {
    ++cs.session.messages_transferred;
    cs.session.bdat_last_observed = false;
    // main.zeek starts a fresh record here; smtp_message() already did if it wrote one.
    if (!FlushIfActive(*event.conn, event.ts, cs)) {
      StartTransaction(cs, *event.conn, event.ts);
    }
  }
}

void SmtpTransactionLog::OnHeader(const Event& event, ConnState& cs) {
  if (!cs.current || !cs.current->process_smtp_headers) return;
  Transaction& t = *cs.current;
  SmtpRecord& r = t.record;
  const std::string_view name = Get(event, ev::mime_one_header::h_name);
  const std::string_view value = Get(event, ev::mime_one_header::h_value);
  if (name == "MESSAGE-ID") {
    r.msg_id.emplace(value);
  } else if (name == "RECEIVED") {
    // Headers are in order newest hop first, so the last one seen is the oldest hop.
    if (r.first_received) r.second_received = std::move(r.first_received);
    r.first_received.emplace(value);
    OnReceivedPath(event, t, value);
  } else if (name == "IN-REPLY-TO") {
    r.in_reply_to.emplace(value);
  } else if (name == "SUBJECT") {
    r.subject.emplace(value);
  } else if (name == "FROM") {
    r.from.emplace(value);
  } else if (name == "REPLY-TO") {
    r.reply_to.emplace(value);
  } else if (name == "DATE") {
    r.date.emplace(value);
  } else if (name == "TO") {
    AddAddresses(event, smtp_text::SplitMimeEmailAddresses(value), &r.to, config_.max_to_addresses,
                 "smtp_too_many_to_addresses");
  } else if (name == "CC") {
    AddAddresses(event, smtp_text::SplitMimeEmailAddresses(value), &r.cc, config_.max_cc_addresses,
                 "smtp_too_many_cc_addresses");
  } else if (name == "X-ORIGINATING-IP") {
    std::vector<std::string> ips =
        smtp_text::ExtractIpAddresses(value, smtp_text::IpWrapping::kAny);
    if (!ips.empty()) {
      if (auto ip = smtp_text::ParseIp(ips.front())) r.x_originating_ip = *ip;
    }
  } else if (name == "X-MAILER" || name == "USER-AGENT" || name == "X-USER-AGENT") {
    r.user_agent.emplace(value);
  }
}

void SmtpTransactionLog::OnReceivedPath(const Event& event, Transaction& t,
                                        std::string_view value) {
  // With Zeek's default mail_path_capture = ALL_HOSTS every Received header is considered.
  std::optional<IpAddress> ip = smtp_text::FindAddressInSmtpHeader(value);
  if (!ip) return;
  std::vector<IpAddress>& path = *t.record.path;
  if (!path.empty() && path.back() == *ip) return;
  if (config_.max_path_length > 0 && path.size() >= config_.max_path_length) {
    addresses_capped_.Add();
    RaiseWeird(event, "smtp_max_path_length_exceeded", "", "");
    return;
  }
  path.push_back(*ip);
}

void SmtpTransactionLog::AddAddresses(const Event& event, std::vector<std::string> found,
                                      std::optional<std::vector<std::string>>* set, size_t limit,
                                      std::string_view weird_name) {
  // A To/Cc header creates its set even when nothing is extracted: the log then says (empty).
  if (!*set) set->emplace();
  for (std::string& a : found) {
    if (limit > 0 && (*set)->size() >= limit) {
      addresses_capped_.Add();
      RaiseWeird(event, weird_name, "", "");
      break;
    }
    if (!Contains(**set, a)) (*set)->push_back(std::move(a));
  }
}

void SmtpTransactionLog::MailTransactionInvalid(const Event& event, ConnState& cs,
                                                std::string_view addl) {
  RaiseWeird(event, "smtp_mail_transaction_invalid", std::string(addl), "SMTP");
  invalid_transactions_.Add();
  Session& s = cs.session;
  ++s.invalid_transactions;
  const size_t limit = config_.max_invalid_mail_transactions;
  if (limit == 0 || s.invalid_transactions <= limit || !s.analyzer_attached) return;
  RaiseWeird(event, "smtp_excessive_invalid_mail_transactions",
             std::to_string(s.invalid_transactions) + " > " + std::to_string(limit), "SMTP");
  // Zeek forgets the analyzer id once disabled, so the weird is raised only once.
  s.analyzer_attached = false;
  analyzers_disabled_.Add();
  event.conn->analyzer_requests.disable = true;
}

void SmtpTransactionLog::RaiseWeird(const Event& cause, std::string_view name, std::string addl,
                                    std::string_view source) {
  weirds_.OnEvent(MakeWeird(cause.ts, cause.conn, name, std::move(addl), source));
}

void SmtpTransactionLog::VisitStats(StatsVisitor& v) const {
  v.Visit("smtp_log", "records_written", records_written_.Get(), "smtp.log records written.");
  v.Visit("smtp_log", "invalid_mail_transactions", invalid_transactions_.Get(),
          "Mail transactions without MAIL FROM before RCPT TO or RCPT TO before DATA/BDAT.");
  v.Visit("smtp_log", "analyzers_disabled", analyzers_disabled_.Get(),
          "Connections whose SMTP analysis was stopped for too many invalid transactions.");
  v.Visit("smtp_log", "addresses_capped", addresses_capped_.Get(),
          "Addresses or path entries not recorded because a per-record limit was reached.");
  v.Visit("smtp_log", "connections_tracked", tracked_, "Connections with smtp.log state right now.",
          StatKind::kGauge);
  v.Visit("smtp_log", "table_full", table_full_.Get(),
          "Connections not logged because the smtp.log connection table was full.",
          StatKind::kCounter, "smtp_log_table_full");
}

// ---------------------------------------------------------------------------------------------
// Text helpers (Zeek's base/utils/email.zeek and addrs.zeek).

namespace smtp_text {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Length of the longest match of
//   (^|[<,:[:blank:]])[^<,:[:blank:]@]+"@"[^>,;[:blank:]]+([>,;[:blank:]]|$)
// at s[t], 0 if none. `^` matches at every attempt (Zeek feeds BOL at the start of each prefix
// match), so the leading delimiter is optional; the rest is deterministic.
size_t EmailMatchAt(std::string_view s, size_t t) {
  const auto is_lead = [](char c) { return c == '<' || c == ',' || c == ':' || IsBlank(c); };
  const auto is_tail_end = [](char c) { return c == '>' || c == ',' || c == ';' || IsBlank(c); };
  size_t i = t;
  if (is_lead(s[i])) ++i;
  const size_t local_start = i;
  while (i < s.size() && !is_lead(s[i]) && s[i] != '@') ++i;
  if (i == local_start || i >= s.size() || s[i] != '@') return 0;
  const size_t domain_start = ++i;
  while (i < s.size() && !is_tail_end(s[i])) ++i;
  if (i == domain_start) return 0;
  if (i < s.size()) ++i;  // the terminating delimiter is part of the match
  return i - t;
}

// Length of the longest match of (\"[^"]*\")?[^,]+@[^,]+ at s[t], 0 if none.
size_t MimeAddressMatchAt(std::string_view s, size_t t) {
  // [^,]+@[^,]+ starting at i: up to the next comma, needing an '@' with text on both sides.
  const auto plain = [&](size_t i) -> size_t {
    size_t end = s.find(',', i);
    if (end == std::string_view::npos) end = s.size();
    if (end - i < 3) return 0;
    size_t at = s.substr(i + 1, end - i - 2).find('@');
    return at == std::string_view::npos ? 0 : end;
  };
  size_t best = plain(t);
  if (s[t] == '"') {
    size_t close = s.find('"', t + 1);
    if (close != std::string_view::npos && close + 1 < s.size()) {
      best = std::max(best, plain(close + 1));
    }
  }
  return best == 0 ? 0 : best - t;
}

std::string_view Strip(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Zeek's ipv4_decim: [0-9] | [0-9]{2} | 0[0-9]{2} | 1[0-9]{2} | 2[0-4][0-9] | 25[0-5].
bool IsDecim(std::string_view s, size_t i, size_t len) {
  if (i + len > s.size()) return false;
  for (size_t k = 0; k < len; ++k) {
    if (!IsDigit(s[i + k])) return false;
  }
  if (len < 3) return true;
  const int value = (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
  return value <= 255;
}

// Longest match of decim(.decim){3 - octet} at s[i]; 0 if none.
size_t LongestIpv4At(std::string_view s, size_t i, int octet = 0) {
  size_t best = 0;
  for (size_t len = 1; len <= 3; ++len) {
    if (!IsDecim(s, i, len)) continue;
    if (octet == 3) {
      best = std::max(best, len);
    } else if (i + len < s.size() && s[i + len] == '.') {
      size_t rest = LongestIpv4At(s, i + len + 1, octet + 1);
      if (rest > 0) best = std::max(best, len + 1 + rest);
    }
  }
  return best;
}

bool FullIpv4(std::string_view s) { return !s.empty() && LongestIpv4At(s, 0) == s.size(); }

// Number of 1-4 digit hex groups separated by single colons making up all of `s` (0 groups for
// an empty `s`), or -1.
int HexGroups(std::string_view s) {
  if (s.empty()) return 0;
  int groups = 0;
  size_t run = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == ':') {
      if (run == 0 || run > 4) return -1;
      ++groups;
      run = 0;
    } else if (IsHex(s[i])) {
      ++run;
    } else {
      return -1;
    }
  }
  return groups;
}

// Whether all of `s` matches Zeek's ipv6_addr_regex: 8 groups; 6 groups + ':' + IPv4;
// A::B with |A| + |B| <= 7 groups; or A::B directly followed by an IPv4 with |A| + |B| <= 5.
bool FullIpv6(std::string_view s) {
  if (HexGroups(s) == 8) return true;
  size_t colons = 0, last_colon = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ':') ++colons, last_colon = i;
  }
  if (colons == 6 && HexGroups(s.substr(0, last_colon)) == 6 && FullIpv4(s.substr(last_colon + 1)))
    return true;
  const size_t dc = s.find("::");
  if (dc == std::string_view::npos) return false;
  const int a = HexGroups(s.substr(0, dc));
  if (a < 0) return false;
  const std::string_view rest = s.substr(dc + 2);
  const int b = HexGroups(rest);
  if (b >= 0 && a + b <= 7) return true;
  // The embedded-IPv4 forms have no separator between the last group and the IPv4 part.
  for (size_t j = 0; j < rest.size(); ++j) {
    if (!IsDigit(rest[j]) || !FullIpv4(rest.substr(j))) continue;
    const int bj = HexGroups(rest.substr(0, j));
    if (bj >= 0 && (j == 0 || rest[j - 1] != ':') && a + bj <= 5) return true;
  }
  return false;
}

constexpr size_t kMaxIpv6Text = 45;  // six groups, six colons and a dotted quad

// Longest match of Zeek's ip_addr_regex at s[t], 0 if none.
size_t LongestIpAt(std::string_view s, size_t t) {
  if (!IsHex(s[t]) && s[t] != ':') return 0;
  size_t best = LongestIpv4At(s, t);
  size_t run_end = t;
  while (run_end < s.size() && run_end - t < kMaxIpv6Text &&
         (IsHex(s[run_end]) || s[run_end] == ':' || s[run_end] == '.')) {
    ++run_end;
  }
  for (size_t e = run_end; e > t + best; --e) {
    if (FullIpv6(s.substr(t, e - t))) return e - t;
  }
  return best;
}

// split_string_all(s, ip_addr_regex): non-match, match, non-match, ..., non-match.
std::vector<std::string_view> SplitOnIps(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t seg = 0, pos = 0;
  while (pos < s.size()) {
    size_t len = LongestIpAt(s, pos);
    if (len == 0) {
      ++pos;
      continue;
    }
    parts.push_back(s.substr(seg, pos - seg));
    parts.push_back(s.substr(pos, len));
    pos += len;
    seg = pos;
  }
  parts.push_back(s.substr(seg));
  return parts;
}

bool Wrapped(std::string_view before, std::string_view after) {
  if (before.empty() && after.empty()) return true;
  if (before.empty() || after.empty()) return false;
  static constexpr std::array<std::pair<char, char>, 4> kPairs = {
      {{'[', ']'}, {'(', ')'}, {'{', '}'}, {' ', ' '}}};
  return std::any_of(kPairs.begin(), kPairs.end(), [&](const auto& p) {
    return before.back() == p.first && after.front() == p.second;
  });
}

}  // namespace

std::vector<std::string> ExtractEmailAddrs(std::string_view text) {
  std::vector<std::string> out;
  for (size_t t = 0; t < text.size();) {
    size_t n = EmailMatchAt(text, t);
    if (n == 0) {
      ++t;
      continue;
    }
    std::string addr;
    for (char c : text.substr(t, n)) {
      if (c != '<' && c != '>' && c != ',' && c != ':' && c != ';' && !IsBlank(c)) addr += c;
    }
    out.push_back(std::move(addr));
    t += n;
  }
  return out;
}

std::vector<std::string> SplitMimeEmailAddresses(std::string_view text) {
  std::vector<std::string> out;
  for (size_t t = 0; t < text.size();) {
    size_t n = MimeAddressMatchAt(text, t);
    if (n == 0) {
      ++t;
      continue;
    }
    std::string part(Strip(text.substr(t, n)));
    if (!Contains(out, part)) out.push_back(std::move(part));
    t += n;
  }
  return out;
}

std::vector<std::string> ExtractIpAddresses(std::string_view text, IpWrapping wrapping) {
  std::vector<std::string_view> parts = SplitOnIps(text);
  std::vector<std::string> out;
  for (size_t i = 1; i + 1 < parts.size(); i += 2) {
    if (!ParseIp(parts[i])) continue;  // Zeek's is_valid_ip()
    if (wrapping == IpWrapping::kRequireWrapped && !Wrapped(parts[i - 1], parts[i + 1])) continue;
    out.emplace_back(parts[i]);
  }
  return out;
}

std::optional<IpAddress> ParseIp(std::string_view text) {
  if (text.find(':') != std::string_view::npos) {
    std::array<uint8_t, 16> buf{};
    std::string z(text);
    if (inet_pton(AF_INET6, z.c_str(), buf.data()) != 1) return std::nullopt;
    return IpAddress::FromV6(buf);
  }
  if (!FullIpv4(text)) return std::nullopt;
  std::array<uint8_t, 4> octets{};
  size_t k = 0;
  unsigned value = 0;
  for (char c : text) {
    if (c == '.') {
      octets[k++] = static_cast<uint8_t>(value);
      value = 0;
    } else {
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
  }
  octets[k] = static_cast<uint8_t>(value);
  return IpAddress::FromV4(octets);
}

std::optional<IpAddress> FindAddressInSmtpHeader(std::string_view value) {
  std::vector<std::string> ips = ExtractIpAddresses(value, IpWrapping::kRequireWrapped);
  if (ips.empty()) return std::nullopt;
  return ParseIp(ips.size() > 1 ? ips[1] : ips[0]);
}

}  // namespace smtp_text
}  // namespace mailtap
