// smtp.log: turns the analyzer's events into mail-transaction records with the semantics of
// Zeek's scripts/base/protocols/smtp/main.zeek (spec section 19).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mailtap/events.h"
#include "mailtap/file_sink.h"
#include "mailtap/sink.h"
#include "mailtap/stats.h"
#include "smtp/text_scan.h"

namespace mailtap {

// Zeek's SMTP:: script options. A limit of 0 disables that limit, as in Zeek.
struct SmtpLogConfig {
  size_t max_rcptto_addresses = 1000;
  size_t max_to_addresses = 1000;
  size_t max_cc_addresses = 1000;
  size_t max_path_length = 1000;
  bool mail_transaction_validation = true;
  size_t max_invalid_mail_transactions = 25;
  // What the smtp.log writer can print of one string (Log::default_max_field_string_bytes) and
  // of one set (Log::default_max_field_container_elements), plus one, so that the writer still
  // sees that a field was cut and says so. The pending record keeps no more of any string or set
  // (not Zeek's: it keeps everything until the writer cuts it); the address caps above still
  // count every distinct address. 0 = no bound.
  size_t max_kept_string_bytes = 4096 + 1;
  size_t max_kept_set_elements = 100 + 1;
  // The strings, path entries and file ids of all pending records together (a share of
  // --memory-limit). When what arrives does not fit, the records holding the most are cut first,
  // down to no less than the arriving record will hold; only then is the arriving value cut. What
  // is cut is counted as lost (cause "smtp_log_memory_budget", bytes). 0 = no bound.
  size_t max_pending_bytes = 0;
  // Bound of the per-connection table (not a Zeek option). Connections beyond it get no smtp.log
  // records; they are counted as lost (cause "smtp_log_table_full").
  size_t max_connections = 1 << 20;
};

// A set of strings of which `list` keeps the first `keep_elements`, each cut to `keep_bytes`
// (0 = no bound): the set itself is known by hash, so that adding to a set of n strings costs the
// length of the new string, not n times it, and the strings not kept cost a hash each. Only for
// a list that grows by AddIfMissing alone.
class StringListIndex {
 public:
  // Adds `s` to the set unless it holds it already; true if it was new.
  bool AddIfMissing(std::vector<std::string>& list, std::string_view s, size_t keep_elements,
                    size_t keep_bytes);
  // Distinct strings added, kept or not.
  size_t size() const { return first_with_hash_.size() + collisions_; }

 private:
  static constexpr size_t kNotKept = static_cast<size_t>(-1);
  std::unordered_map<size_t, size_t> first_with_hash_;  // hash -> index of its first string
  size_t collisions_ = 0;  // kept strings whose hash an earlier, different one had
};

// Consumes smtp_request, smtp_reply, smtp_starttls, mime_begin_entity and mime_one_header events
// and produces one SmtpRecord per mail transaction:
//  * the current record is created lazily by the first smtp_request/smtp_reply of a connection;
//  * it is written at the reply to "." (every line of it) or to `BDAT ... LAST` (final line),
//    at the next `MAIL FROM:` and when the connection is removed -- each time only if it saw
//    client activity (MAIL FROM:, RCPT TO: or STARTTLS);
//  * weirds (smtp_mail_transaction_invalid, smtp_excessive_invalid_mail_transactions,
//    smtp_too_many_{rcptto,to,cc}_addresses, smtp_max_path_length_exceeded) go to `weirds`, a
//    sink downstream of this log (never the bus that feeds it). smtp_mail_transaction_invalid is
//    raised for every invalid transaction; Zeek's weird.log shows it once per connection (that
//    de-duplication belongs to the weird.log writer);
//  * smtp_excessive_invalid_mail_transactions also asks the connection's analyzer to stop
//    (Connection::analyzer_requests, Zeek's disable_analyzer): the one path back upstream.
// Its per-connection state lives in the connection's StateSlot::kSmtpLog.
// Not thread-safe: the pipeline thread only.
class SmtpTransactionLog : public EventSink, public StatsSource {
 public:
  // `weirds` and `records` must outlive this object.
  SmtpTransactionLog(SmtpLogConfig config, EventSink& weirds, RecordSink& records);
  SmtpTransactionLog(const SmtpTransactionLog&) = delete;
  SmtpTransactionLog& operator=(const SmtpTransactionLog&) = delete;

  void OnEvent(const Event& event) override;
  // smtp_data, the most frequent event by far, and weirds feed no record.
  bool Wants(EventId id) const override {
    return id != EventId::kSmtpData && id != EventId::kWeird;
  }
  // Writes the pending record (if it has client activity) and forgets the connection.
  void OnConnectionRemoved(const Connection& conn, Timestamp ts) override;
  // Forgets the connection now if the removal would write nothing (no client activity pending):
  // a closed connection then keeps no smtp.log state through its close delay.
  void OnConnectionFinished(const Connection& conn) override;
  // Group "smtp_log"; pending_fields_cut counts strings and sets cut to what the writer can
  // print (not a loss: the writer would have cut them).
  void VisitStats(StatsVisitor& visitor) const override;

  // Zeek's files.zeek: a file that begins while the connection has a current record (not in TLS)
  // joins its fuids, up to kMaxRecordFuids (then counted).
  void OnFileBegin(const Connection& conn, std::string_view fuid);

  // Connections with state right now (for tests and the gauge).
  size_t TrackedConnections() const { return tracked_; }

 private:
  // Zeek's SMTP::State: per connection, survives records.
  // (The HELO name lives in the current record and is carried from one record to the next.)
  struct Session {
    uint64_t messages_transferred = 0;
    bool trans_mail_from_seen = false;
    bool trans_rcpt_to_seen = false;
    uint64_t invalid_transactions = 0;
    bool bdat_last_observed = false;
    bool analyzer_attached = true;  // Zeek's analyzer_id: cleared once disabled
  };
  // Zeek's SMTP::Info: the record plus its unlogged flags.
  struct Transaction {
    SmtpRecord record;
    bool has_client_activity = false;
    bool process_smtp_headers = true;
    uint64_t entity_count = 0;
    StringListIndex rcptto_index, to_index, cc_index;  // of record.rcptto, .to and .cc
    size_t charged = 0;  // bytes charged to max_pending_bytes (holders_ knows it too)
  };
  struct ConnState {
    Session session;
    std::optional<Transaction> current;
  };
  friend struct SmtpLogState;

  // This log's state for `conn`, or nullptr (none, or one an earlier log left).
  ConnState* StateOf(const Connection& conn) const;
  ConnState* Lookup(const Event& event, bool create);
  Transaction& EnsureTransaction(const Event& event, ConnState& cs);
  // A fresh record for `cause`'s connection, begun at `cause`.
  void StartTransaction(ConnState& cs, const Event& cause);
  // Zeek's smtp_message(): writes the record if it has client activity and starts a fresh one;
  // returns whether it did.
  bool FlushIfActive(const Event& cause, ConnState& cs);
  void Write(const Connection& conn, SmtpRecord& record);
  // Unlinks and frees the connection's state. REQUIRES: it has one from this log.
  void Forget(const Connection& conn);

  void OnRequest(const Event& event, ConnState& cs);
  void OnRcptTo(const Event& event, ConnState& cs, std::string_view arg);
  void OnMailFrom(const Event& event, ConnState& cs, std::string_view arg);
  void OnDataOrBdat(const Event& event, ConnState& cs, std::string_view command,
                    std::string_view arg);
  void OnReply(const Event& event, ConnState& cs);
  void OnHeader(const Event& event, ConnState& cs);
  void OnReceivedPath(const Event& event, Transaction& t, std::string_view value);
  void AddAddresses(const Event& event, Transaction& t, std::string_view header_value,
                    std::optional<std::vector<std::string>>* set, StringListIndex& index,
                    size_t limit, std::string_view weird_name);
  void MailTransactionInvalid(const Event& event, ConnState& cs, std::string_view addl);
  void RaiseWeird(const Event& cause, std::string_view name, std::string addl,
                  std::string_view source);
  // The part of `s` the pending record keeps (config_.max_kept_string_bytes) after the
  // `already_kept` bytes of the same field.
  std::string_view Kept(std::string_view s, size_t already_kept = 0);
  void KeepHeader(Transaction& t, std::optional<std::string>& field, std::string_view value);
  // Charges `t` for a field going from `old_size` bytes to `value`; returns the part of `value`
  // that max_pending_bytes leaves room for.
  std::string_view Charge(Transaction& t, size_t old_size, std::string_view value);
  // Charges the last element of a list that just grew; cuts it if the budget says so.
  void ChargeLast(Transaction& t, std::vector<std::string>& list);
  // Charges `t` for an entry of `bytes` that is kept whole or not at all; false if no room.
  bool ChargeWhole(Transaction& t, size_t bytes);
  // How many of `wanted` more bytes `t` may hold: makes room by cutting the records that hold
  // the most first, never below what `t` will then hold; counts what `t` itself cannot get.
  size_t Reserve(Transaction& t, size_t wanted);
  // Cuts about `bytes` from `t`'s record, its longest strings first, then its file ids and path.
  void Shrink(Transaction& t, size_t bytes);
  void SetCharged(Transaction& t, size_t charged);
  void Release(Transaction& t) { SetCharged(t, 0); }

  SmtpLogConfig config_;
  EventSink& weirds_;
  RecordSink& records_;
  const uint64_t id_;  // marks the states this log created (SmtpLogState::owner)
  size_t tracked_ = 0;

  Counter records_written_;
  Counter invalid_transactions_;
  Counter analyzers_disabled_;
  Counter addresses_capped_;
  Counter table_full_;
  Counter fields_cut_;
  Counter budget_cut_;
  size_t pending_bytes_ = 0;  // charged by all pending records
  // The pending records that hold bytes, by how many: the largest is the first to be cut.
  std::set<std::pair<size_t, Transaction*>> holders_;
  Counter fuids_capped_;
};

// Not Zeek's: fuids kept per smtp.log record (the log shows at most
// Log::default_max_field_container_elements of them anyway).
inline constexpr size_t kMaxRecordFuids = 1000;

// The seam between the MIME analyzer's files and the rest: each file's fuid goes into smtp.log
// (SmtpTransactionLog::OnFileBegin), then the file goes on to file analysis, if any.
class FuidRecorder : public FileSink {
 public:
  // `log` and `downstream` (nullable) must outlive this object.
  explicit FuidRecorder(SmtpTransactionLog& log, FileSink* downstream = nullptr)
      : log_(log), downstream_(downstream) {}
  void SetDownstream(FileSink* downstream) { downstream_ = downstream; }

  void BeginFile(const FileInfo& info) override;
  void FileData(std::string_view fuid, Timestamp ts, std::string_view bytes) override;
  void FileGap(std::string_view fuid, Timestamp ts, uint64_t length) override;
  void EndFile(std::string_view fuid, Timestamp ts) override;

 private:
  SmtpTransactionLog& log_;
  FileSink* downstream_;
};

}  // namespace mailtap
