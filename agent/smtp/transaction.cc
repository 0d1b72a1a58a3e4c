#include "smtp/transaction.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <functional>
#include <unordered_set>
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

// gsub(addr, /ORCPT=rfc822;?/, ""): one left-to-right pass, as Zeek's gsub makes (the text
// left after a removal is not searched again).
std::string RemoveOrcptPrefix(std::string_view addr) {
  static constexpr std::string_view kPrefix = "ORCPT=rfc822";
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = addr.find(kPrefix, pos)) != std::string_view::npos;) {
    out.append(addr.substr(pos, hit - pos));
    pos = hit + kPrefix.size();
    if (pos < addr.size() && addr[pos] == ';') ++pos;
  }
  out.append(addr.substr(pos));
  return out;
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

void StringListIndex::AddIfMissing(std::vector<std::string>& list, std::string s) {
  const size_t hash = std::hash<std::string_view>{}(s);
  const auto [it, fresh] = first_with_hash_.try_emplace(hash, list.size());
  if (!fresh && (list[it->second] == s || std::find(list.begin(), list.end(), s) != list.end())) {
    return;  // the full search only runs for two different strings with one hash
  }
  list.push_back(std::move(s));
}

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
  ConnState* cs = StateOf(conn);
  if (cs == nullptr) return;
  // Zeek's finalize_smtp removal hook.
  if (cs->current && cs->current->has_client_activity) Write(conn, cs->current->record);
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
void SmtpTransactionLog::StartTransaction(ConnState& cs, const Event& cause) const {
  const Connection& conn = *cause.conn;
  const Timestamp ts = cause.ts;
  std::string uid;
  std::vector<IpAddress> path;
  if (cs.current) {
    uid = std::move(cs.current->record.uid);
    if (cs.current->record.path) path = std::move(*cs.current->record.path);
    *cs.current = Transaction{};
  } else {
    cs.current = Transaction{};
  }
  SmtpRecord& r = cs.current->record;
  r.ts = ts;
  r.uid = std::move(uid);
  r.uid.assign(conn.uid);
  r.id = conn.id;
  // messages_transferred is only incremented when a message is finished, hence the + 1.
  r.trans_depth = cs.session.messages_transferred + 1;
  r.helo = cs.session.helo;
  // A transaction begun inside TLS (plaintext from the TLS library, after STARTTLS or on an
  // implicit-TLS port) is a TLS one from the start.
  r.tls = cause.inside_tls;
  // The path always ends with the two hosts of this connection.
  path.assign({conn.id.resp_h, conn.id.orig_h});
  r.path = std::move(path);
}

SmtpTransactionLog::Transaction& SmtpTransactionLog::EnsureTransaction(const Event& event,
                                                                       ConnState& cs) {
  if (!cs.current) StartTransaction(cs, event);
  return *cs.current;
}

bool SmtpTransactionLog::FlushIfActive(const Event& cause, ConnState& cs) {
  if (!cs.current || !cs.current->has_client_activity) return false;
  Write(*cause.conn, cs.current->record);
  StartTransaction(cs, cause);
  return true;
}

void SmtpTransactionLog::Write(const Connection& conn, SmtpRecord& record) {
  record.proc = conn.process;  // known once the socket probes reported the owner
  records_.OnRecord(record);
  records_written_.Add();
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
  if (!t.record.rcptto) t.record.rcptto.emplace();
  // main.zeek first makes a set of the command's addresses, then adds them one by one; the same
  // done in one pass, which stops at the cap instead of collecting a whole line's addresses.
  std::unordered_set<std::string> seen;
  smtp_text::ForEachEmailAddr(arg, [&](std::string&& a) {
    if (!seen.insert(a).second) return true;
    // The cap is checked before every add, even of an address already in the set.
    if (config_.max_rcptto_addresses > 0 &&
        t.record.rcptto->size() >= config_.max_rcptto_addresses) {
      addresses_capped_.Add();
      RaiseWeird(event, "smtp_too_many_rcptto_addresses", "", "");
      return false;
    }
    t.rcptto_index.AddIfMissing(*t.record.rcptto, RemoveOrcptPrefix(a));
    return true;
  });
  t.has_client_activity = true;
  cs.session.trans_rcpt_to_seen = true;
  if (config_.mail_transaction_validation && !cs.session.trans_mail_from_seen) {
    MailTransactionInvalid(event, cs, "rcpt to missing mail from");
  }
}

void SmtpTransactionLog::OnMailFrom(const Event& event, ConnState& cs, std::string_view arg) {
  // Flush the previous transaction in case the server's acknowledgement was not seen; this
  // does not count as a transferred message (so trans_depth is not incremented).
  FlushIfActive(event, cs);
  Transaction& t = *cs.current;
  std::string first;  // only the first address counts: the scan stops there
  smtp_text::ForEachEmailAddr(arg, [&first](std::string&& a) {
    first = std::move(a);
    return false;
  });
  if (!first.empty()) t.record.mailfrom = std::move(first);
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
    if (!FlushIfActive(event, cs)) StartTransaction(cs, event);
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
    AddAddresses(event, value, &r.to, t.to_index, config_.max_to_addresses,
                 "smtp_too_many_to_addresses");
  } else if (name == "CC") {
    AddAddresses(event, value, &r.cc, t.cc_index, config_.max_cc_addresses,
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

void SmtpTransactionLog::AddAddresses(const Event& event, std::string_view header_value,
                                      std::optional<std::vector<std::string>>* set,
                                      StringListIndex& index, size_t limit,
                                      std::string_view weird_name) {
  // A To/Cc header creates its set even when nothing is extracted: the log then says (empty).
  if (!*set) set->emplace();
  // split_mime_email_addresses() then one add per address, in one pass that stops at the cap.
  std::unordered_set<std::string_view> seen;  // views into header_value
  smtp_text::ForEachMimeEmailAddress(header_value, [&](std::string_view a) {
    if (!seen.insert(a).second) return true;
    if (limit > 0 && (*set)->size() >= limit) {
      addresses_capped_.Add();
      RaiseWeird(event, weird_name, "", "");
      return false;
    }
    index.AddIfMissing(**set, std::string(a));
    return true;
  });
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
  Event weird = MakeWeird(cause.ts, cause.conn, name, std::move(addl), source);
  weird.inside_tls = cause.inside_tls;
  weirds_.OnEvent(weird);
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

// s.find(c, i), remembered: the answer found from one start serves every later start up to it,
// so a run without `c` is walked once however many starts fall inside it. Fastest for rising i.
class NextOf {
 public:
  NextOf(std::string_view s, char c) : s_(s), c_(c) {}
  // The first position >= i holding c, s.size() if none.
  size_t From(size_t i) {
    if (i < from_ || i > at_) {
      from_ = i;
      at_ = std::min(s_.find(c_, i), s_.size());
    }
    return at_;
  }

 private:
  std::string_view s_;
  char c_;
  size_t from_ = 1, at_ = 0;  // From(i) == at_ for every i in [from_, at_]; empty at first
};

// Zeek's find_all(s, email regex) as a left-to-right scan. The end of the local part found from
// one start serves every later start inside it, so an '@'-less run is walked once, not once per
// start (issue 17: MAIL FROM:<aaa...> without '@' took 25 s at 256 KiB).
class EmailMatcher {
 public:
  explicit EmailMatcher(std::string_view s) : s_(s) {}

  // Length of the longest match of
  //   (^|[<,:[:blank:]])[^<,:[:blank:]@]+"@"[^>,;[:blank:]]+([>,;[:blank:]]|$)
  // at s[t], 0 if none. `^` matches at every attempt (Zeek feeds BOL at the start of each prefix
  // match), so the leading delimiter is optional; the rest is deterministic. A match is consumed
  // by the caller, so the domain part is walked once too.
  size_t MatchAt(size_t t) {
    size_t i = t;
    if (IsLead(s_[i])) ++i;
    const size_t local_start = i;
    i = LocalEnd(i);
    if (i == local_start || i >= s_.size() || s_[i] != '@') return 0;
    const size_t domain_start = ++i;
    while (i < s_.size() && !IsTailEnd(s_[i])) ++i;
    if (i == domain_start) return 0;
    if (i < s_.size()) ++i;  // the terminating delimiter is part of the match
    return i - t;
  }

 private:
  static bool IsLead(char c) { return c == '<' || c == ',' || c == ':' || IsBlank(c); }
  static bool IsTailEnd(char c) { return c == '>' || c == ',' || c == ';' || IsBlank(c); }

  // The first position >= i that ends a local part: a lead delimiter, '@' or the end.
  size_t LocalEnd(size_t i) {
    if (i < from_ || i > end_) {
      from_ = i;
      end_ = i;
      while (end_ < s_.size() && !IsLead(s_[end_]) && s_[end_] != '@') ++end_;
    }
    return end_;
  }

  std::string_view s_;
  size_t from_ = 1, end_ = 0;  // LocalEnd(i) == end_ for every i in [from_, end_]
};

// Zeek's find_all(s, /(\"[^"]*\")?[^,]+@[^,]+/) as a left-to-right scan, linear in s: each
// search (next comma, next '@') is remembered for the later starts it also answers.
class MimeAddressMatcher {
 public:
  explicit MimeAddressMatcher(std::string_view s)
      : s_(s), comma_(s, ','), at_(s, '@'), quoted_comma_(s, ','), quoted_at_(s, '@') {}

  // Length of the longest match at s[t], 0 if none.
  size_t MatchAt(size_t t) {
    size_t best = Plain(t, comma_, at_);
    if (s_[t] == '"') {
      const size_t close = s_.find('"', t + 1);
      if (close != std::string_view::npos && close + 1 < s_.size()) {
        best = std::max(best, Plain(close + 1, quoted_comma_, quoted_at_));
      }
    }
    return best == 0 ? 0 : best - t;
  }

 private:
  // End of the match of [^,]+@[^,]+ at i (up to the next comma, with an '@' that has text on
  // both sides), 0 if none.
  static size_t Plain(size_t i, NextOf& comma, NextOf& at) {
    const size_t end = comma.From(i);
    if (end - i < 3) return 0;
    return at.From(i + 1) <= end - 2 ? end : 0;
  }

  std::string_view s_;
  NextOf comma_, at_;                // for the starts t, which rise
  NextOf quoted_comma_, quoted_at_;  // for the starts after a quoted part, which rise too
};

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

constexpr size_t kMaxIpv6Text = 45;  // six groups, six colons and a dotted quad

// Longest e - t such that s[t, e) matches all of Zeek's ipv6_addr_regex, with e <= limit; 0 if
// none. The forms: 8 groups; 6 groups, ':' and an IPv4; A::B with |A| + |B| <= 7 groups; A::B
// directly followed by an IPv4 (no ':' between B's last digit and it) with |A| + |B| <= 5. One
// walk over the groups tries every end at once: trying each end in turn cost about 5 s per MiB
// of hex digits and colons (issue 17).
size_t LongestIpv6At(std::string_view s, size_t t, size_t limit) {
  const std::string_view window = s.substr(0, limit);
  size_t best = 0;
  const auto accept = [&](size_t end) { best = std::max(best, end - t); };
  const auto accept_ipv4_at = [&](size_t q) {
    if (q < limit && IsDigit(s[q])) {
      if (const size_t n = LongestIpv4At(window, q)) accept(q + n);
    }
  };
  int before = -1;    // groups before "::", once seen
  size_t groups = 0;  // groups ended by ':' since the start, or since "::"
  size_t run = 0;     // hex digits of the current group
  size_t i = t;
  if (s[i] == ':') {
    if (i + 1 >= limit || s[i + 1] != ':') return 0;
    before = 0;
    i += 2;
    accept(i);
    accept_ipv4_at(i);
  }
  for (; i < limit; ++i) {
    if (IsHex(s[i])) {
      if (++run > 4) break;
      const size_t total = groups + 1 + static_cast<size_t>(std::max(before, 0));
      if (before < 0 && total == 8) accept(i + 1);
      if (before >= 0 && total <= 7) accept(i + 1);
      if (before >= 0 && total <= 5) accept_ipv4_at(i + 1);
      continue;
    }
    if (s[i] != ':' || run == 0) break;
    ++groups;
    run = 0;
    if (i + 1 < limit && s[i + 1] == ':') {
      if (before >= 0) break;  // a second "::"
      before = static_cast<int>(groups);
      groups = 0;
      ++i;
      if (before <= 7) accept(i + 1);
      if (before <= 5) accept_ipv4_at(i + 1);
    } else if (before < 0 && groups == 6) {
      accept_ipv4_at(i + 1);
    }
  }
  return best;
}

// Longest match of Zeek's ip_addr_regex at s[t], 0 if none.
size_t LongestIpAt(std::string_view s, size_t t) {
  if (!IsHex(s[t]) && s[t] != ':') return 0;
  // The walk stops at the first byte no IPv6 address holds; only the length is capped here.
  const size_t limit = std::min(s.size(), t + kMaxIpv6Text);
  return std::max(LongestIpv4At(s, t), LongestIpv6At(s, t, limit));
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

void ForEachEmailAddr(std::string_view text, const std::function<bool(std::string&&)>& visit) {
  EmailMatcher matcher(text);
  for (size_t t = 0; t < text.size();) {
    size_t n = matcher.MatchAt(t);
    if (n == 0) {
      ++t;
      continue;
    }
    std::string addr;
    for (char c : text.substr(t, n)) {
      if (c != '<' && c != '>' && c != ',' && c != ':' && c != ';' && !IsBlank(c)) addr += c;
    }
    if (!visit(std::move(addr))) return;
    t += n;
  }
}

std::vector<std::string> ExtractEmailAddrs(std::string_view text) {
  std::vector<std::string> out;
  ForEachEmailAddr(text, [&](std::string&& a) {
    out.push_back(std::move(a));
    return true;
  });
  return out;
}

void ForEachMimeEmailAddress(std::string_view text,
                             const std::function<bool(std::string_view)>& visit) {
  MimeAddressMatcher matcher(text);
  for (size_t t = 0; t < text.size();) {
    size_t n = matcher.MatchAt(t);
    if (n == 0) {
      ++t;
      continue;
    }
    if (!visit(Strip(text.substr(t, n)))) return;
    t += n;
  }
}

std::vector<std::string> SplitMimeEmailAddresses(std::string_view text) {
  std::vector<std::string> out;
  std::unordered_set<std::string_view> seen;  // views into `text`
  ForEachMimeEmailAddress(text, [&](std::string_view part) {
    if (seen.insert(part).second) out.emplace_back(part);
    return true;
  });
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
