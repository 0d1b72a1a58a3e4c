#include "smtp/transaction.h"

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

// A record that must give up bytes gives at least this many, or 1/64 of the budget if less
// (unless it would then hold less than the record that needs them): a budget that stays
// exhausted then costs one cut per 16 KiB that arrives, not one per string.
constexpr size_t kMinCutBytes = 16 << 10;
// Records cut to make room for one arriving value, at most.
constexpr int kMaxRecordsCutPerCharge = 8;

// Cuts the longest of `strings` down to one common length, just far enough to free `bytes` (or
// all of them to nothing when they hold less); returns the bytes freed.
size_t CutLongestFirst(std::vector<std::string*>& strings, size_t bytes) {
  std::sort(strings.begin(), strings.end(),
            [](const std::string* a, const std::string* b) { return a->size() > b->size(); });
  size_t level = 0;  // the common length
  size_t count = strings.size();
  size_t total = 0;  // bytes of the `n + 1` longest
  for (size_t n = 0; n < strings.size(); ++n) {
    total += strings[n]->size();
    const size_t next = n + 1 < strings.size() ? strings[n + 1]->size() : 0;
    // Cutting the n + 1 longest down to the length of the next frees this much.
    if (total - (n + 1) * next >= bytes) {
      count = n + 1;
      level = (total - bytes) / count;
      break;
    }
  }
  size_t freed = 0;
  for (size_t i = 0; i < count; ++i) {
    freed += strings[i]->size() - std::min(level, strings[i]->size());
    if (strings[i]->size() > level) strings[i]->resize(level);
  }
  return freed;
}

// Every string of `r` the pending-records budget pays for.
std::vector<std::string*> ChargedStrings(SmtpRecord& r) {
  std::vector<std::string*> out;
  for (std::optional<std::string>* s :
       {&r.helo, &r.mailfrom, &r.date, &r.from, &r.reply_to, &r.msg_id, &r.in_reply_to, &r.subject,
        &r.first_received, &r.second_received, &r.last_reply, &r.user_agent}) {
    if (*s && !(*s)->empty()) out.push_back(&**s);
  }
  for (std::optional<std::vector<std::string>>* list : {&r.rcptto, &r.to, &r.cc}) {
    if (!*list) continue;
    for (std::string& s : **list) {
      if (!s.empty()) out.push_back(&s);
    }
  }
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

bool StringListIndex::AddIfMissing(std::vector<std::string>& list, std::string_view s,
                                   size_t keep_elements, size_t keep_bytes) {
  const std::string_view kept = keep_bytes > 0 ? s.substr(0, keep_bytes) : s;
  const bool keep = keep_elements == 0 || list.size() < keep_elements;
  const size_t hash = std::hash<std::string_view>{}(s);
  const auto [it, fresh] = first_with_hash_.try_emplace(hash, keep ? list.size() : kNotKept);
  if (!fresh) {
    // A string not kept is known by its hash alone. The full search only runs for two different
    // strings with one hash.
    if (it->second == kNotKept || list[it->second] == kept ||
        std::find(list.begin(), list.end(), kept) != list.end()) {
      return false;
    }
    if (!keep) return false;  // a collision beyond what is kept: taken for the same string
    ++collisions_;
  }
  if (keep) list.emplace_back(kept);
  return true;
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
  if (ConnState* cs = StateOf(conn); cs != nullptr && cs->current) Release(*cs->current);
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
void SmtpTransactionLog::StartTransaction(ConnState& cs, const Event& cause) {
  const Connection& conn = *cause.conn;
  const Timestamp ts = cause.ts;
  std::string uid;
  std::vector<IpAddress> path;
  std::optional<std::string> helo;  // Zeek's c$smtp_state$helo, which outlives records
  if (cs.current) {
    uid = std::move(cs.current->record.uid);
    if (cs.current->record.path) path = std::move(*cs.current->record.path);
    helo = std::move(cs.current->record.helo);
    Release(*cs.current);
    *cs.current = Transaction{};
  } else {
    cs.current = Transaction{};
  }
  SmtpRecord& r = cs.current->record;
  r.ts = ts;
  r.uid = std::move(uid);
  r.uid.assign(conn.uid);
  r.id = conn.id;
  r.community_id.assign(conn.community_id);
  // messages_transferred is only incremented when a message is finished, hence the + 1.
  r.trans_depth = cs.session.messages_transferred + 1;
  if (helo) {
    helo->resize(Charge(*cs.current, 0, *helo).size());
    r.helo = std::move(helo);
  }
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
    t.record.helo = std::string(Charge(t, t.record.helo ? t.record.helo->size() : 0, Kept(arg)));
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
    if (config_.max_rcptto_addresses > 0 && t.rcptto_index.size() >= config_.max_rcptto_addresses) {
      addresses_capped_.Add();
      RaiseWeird(event, "smtp_too_many_rcptto_addresses", "", "");
      return false;
    }
    const size_t kept_before = t.record.rcptto->size();
    if (t.rcptto_index.AddIfMissing(*t.record.rcptto, RemoveOrcptPrefix(a),
                                    config_.max_kept_set_elements, config_.max_kept_string_bytes)) {
      if (t.record.rcptto->size() == kept_before) {
        fields_cut_.Add();
      } else {
        ChargeLast(t, *t.record.rcptto);
      }
    }
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
  if (!first.empty()) {
    t.record.mailfrom =
        std::string(Charge(t, t.record.mailfrom ? t.record.mailfrom->size() : 0, Kept(first)));
  }
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
  const size_t old_size = last_reply.size();
  last_reply.assign(code, static_cast<size_t>(code_end - code));
  last_reply += ' ';
  last_reply += Kept(Get(event, ev::smtp_reply::msg), last_reply.size());
  last_reply.resize(Charge(t, old_size, last_reply).size());
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
    KeepHeader(t, r.msg_id, value);
  } else if (name == "RECEIVED") {
    // Headers are in order newest hop first, so the last one seen is the oldest hop.
    if (r.first_received) {
      Charge(t, r.second_received ? r.second_received->size() : 0, {});
      r.second_received = std::move(r.first_received);
      r.first_received.reset();
    }
    KeepHeader(t, r.first_received, value);
    OnReceivedPath(event, t, value);
  } else if (name == "IN-REPLY-TO") {
    KeepHeader(t, r.in_reply_to, value);
  } else if (name == "SUBJECT") {
    KeepHeader(t, r.subject, value);
  } else if (name == "FROM") {
    KeepHeader(t, r.from, value);
  } else if (name == "REPLY-TO") {
    KeepHeader(t, r.reply_to, value);
  } else if (name == "DATE") {
    KeepHeader(t, r.date, value);
  } else if (name == "TO") {
    AddAddresses(event, t, value, &r.to, t.to_index, config_.max_to_addresses,
                 "smtp_too_many_to_addresses");
  } else if (name == "CC") {
    AddAddresses(event, t, value, &r.cc, t.cc_index, config_.max_cc_addresses,
                 "smtp_too_many_cc_addresses");
  } else if (name == "X-ORIGINATING-IP") {
    std::vector<std::string> ips =
        smtp_text::ExtractIpAddresses(value, smtp_text::IpWrapping::kAny);
    if (!ips.empty()) {
      if (auto ip = smtp_text::ParseIp(ips.front())) r.x_originating_ip = *ip;
    }
  } else if (name == "X-MAILER" || name == "USER-AGENT" || name == "X-USER-AGENT") {
    KeepHeader(t, r.user_agent, value);
  }
}

std::string_view SmtpTransactionLog::Kept(std::string_view s, size_t already_kept) {
  const size_t keep = config_.max_kept_string_bytes;
  if (keep == 0 || already_kept + s.size() <= keep) return s;
  fields_cut_.Add();
  return s.substr(0, keep - std::min(keep, already_kept));
}

void SmtpTransactionLog::KeepHeader(Transaction& t, std::optional<std::string>& field,
                                    std::string_view value) {
  const size_t old_size = field ? field->size() : 0;
  field.emplace(Charge(t, old_size, Kept(value)));
}

std::string_view SmtpTransactionLog::Charge(Transaction& t, size_t old_size,
                                            std::string_view value) {
  SetCharged(t, t.charged - std::min(old_size, t.charged));
  value = value.substr(0, Reserve(t, value.size()));
  SetCharged(t, t.charged + value.size());
  return value;
}

void SmtpTransactionLog::ChargeLast(Transaction& t, std::vector<std::string>& list) {
  list.back().resize(Charge(t, 0, list.back()).size());
}

bool SmtpTransactionLog::ChargeWhole(Transaction& t, size_t bytes) {
  const size_t room = Reserve(t, bytes);
  if (room < bytes) {
    budget_cut_.Add(room);  // Reserve counted the rest
    return false;
  }
  SetCharged(t, t.charged + bytes);
  return true;
}

size_t SmtpTransactionLog::Reserve(Transaction& t, size_t wanted) {
  const size_t max = config_.max_pending_bytes;
  if (max == 0) return wanted;
  // No record is cut below what `t` will hold: when all hold alike, the arriving value is cut.
  const size_t floor = t.charged + wanted;
  for (int cut = 0;
       cut < kMaxRecordsCutPerCharge && pending_bytes_ + wanted > max && !holders_.empty(); ++cut) {
    const auto [held, largest] = *holders_.rbegin();
    if (largest == &t || held <= floor) break;
    const size_t min_cut = std::min(kMinCutBytes, max / 64);
    Shrink(*largest, std::min(held - floor, std::max(pending_bytes_ + wanted - max, min_cut)));
  }
  const size_t room = max - std::min(max, pending_bytes_);
  if (wanted <= room) return wanted;
  budget_cut_.Add(wanted - room);
  return room;
}

void SmtpTransactionLog::Shrink(Transaction& t, size_t bytes) {
  SmtpRecord& r = t.record;
  std::vector<std::string*> strings = ChargedStrings(r);
  size_t freed = CutLongestFirst(strings, bytes);
  for (; freed < bytes && !r.fuids.empty(); r.fuids.pop_back()) freed += r.fuids.back().size();
  // The first two entries (this connection's hosts) were never charged.
  for (; freed < bytes && r.path && r.path->size() > 2; r.path->pop_back()) {
    freed += sizeof(IpAddress);
  }
  freed = std::min(freed, t.charged);
  budget_cut_.Add(freed);
  SetCharged(t, t.charged - freed);
}

void SmtpTransactionLog::SetCharged(Transaction& t, size_t charged) {
  if (charged == t.charged) return;
  if (t.charged > 0) holders_.erase({t.charged, &t});
  if (charged > 0) holders_.emplace(charged, &t);
  pending_bytes_ = pending_bytes_ - t.charged + charged;
  t.charged = charged;
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
  if (ChargeWhole(t, sizeof(IpAddress))) path.push_back(*ip);
}

void SmtpTransactionLog::AddAddresses(const Event& event, Transaction& t,
                                      std::string_view header_value,
                                      std::optional<std::vector<std::string>>* set,
                                      StringListIndex& index, size_t limit,
                                      std::string_view weird_name) {
  // A To/Cc header creates its set even when nothing is extracted: the log then says (empty).
  if (!*set) set->emplace();
  // split_mime_email_addresses() then one add per address, in one pass that stops at the cap.
  std::unordered_set<std::string_view> seen;  // views into header_value
  smtp_text::ForEachMimeEmailAddress(header_value, [&](std::string_view a) {
    if (!seen.insert(a).second) return true;
    if (limit > 0 && index.size() >= limit) {
      addresses_capped_.Add();
      RaiseWeird(event, weird_name, "", "");
      return false;
    }
    const size_t kept_before = (*set)->size();
    if (index.AddIfMissing(**set, a, config_.max_kept_set_elements,
                           config_.max_kept_string_bytes)) {
      if ((*set)->size() == kept_before) {
        fields_cut_.Add();
      } else {
        ChargeLast(t, **set);
      }
    }
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

void SmtpTransactionLog::OnFileBegin(const Connection& conn, std::string_view fuid) {
  ConnState* cs = StateOf(conn);
  if (cs == nullptr || !cs->current || cs->current->record.tls) return;
  std::vector<std::string>& fuids = cs->current->record.fuids;
  if (fuids.size() >= kMaxRecordFuids) {
    fuids_capped_.Add();
    return;
  }
  if (ChargeWhole(*cs->current, fuid.size())) fuids.emplace_back(fuid);
}

void FuidRecorder::BeginFile(const FileInfo& info) {
  if (info.conn != nullptr) log_.OnFileBegin(*info.conn, info.fuid);
  if (downstream_ != nullptr) downstream_->BeginFile(info);
}

void FuidRecorder::FileData(std::string_view fuid, Timestamp ts, std::string_view bytes) {
  if (downstream_ != nullptr) downstream_->FileData(fuid, ts, bytes);
}

void FuidRecorder::FileGap(std::string_view fuid, Timestamp ts, uint64_t length) {
  if (downstream_ != nullptr) downstream_->FileGap(fuid, ts, length);
}

void FuidRecorder::EndFile(std::string_view fuid, Timestamp ts) {
  if (downstream_ != nullptr) downstream_->EndFile(fuid, ts);
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
          StatKind::kCounter, Loss{"smtp_log_table_full", LossUnit::kConnections});
  v.Visit("smtp_log", "pending_fields_cut", fields_cut_.Get(),
          "Strings and set elements the pending record did not keep beyond what the smtp.log "
          "writer prints (Log::default_max_field_* + 1; not a loss).");
  v.Visit("smtp_log", "pending_bytes", pending_bytes_,
          "Bytes of strings held by pending smtp.log records now.", StatKind::kGauge);
  v.Visit("smtp_log", "memory_budget_cut", budget_cut_.Get(),
          "Bytes cut from pending records because all pending records together reached their "
          "share of --memory-limit (the records holding the most are cut first).",
          StatKind::kCounter, Loss{"smtp_log_memory_budget", LossUnit::kBytes});
  v.Visit("smtp_log", "fuids_capped", fuids_capped_.Get(),
          "File ids not added to a record's fuids beyond 1000 per record.");
}

}  // namespace mailtap
