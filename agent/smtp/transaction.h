// smtp.log: turns the analyzer's events into mail-transaction records with the semantics of
// Zeek's scripts/base/protocols/smtp/main.zeek (spec section 19).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
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
  // Bound of the per-connection table (not a Zeek option). Connections beyond it get no smtp.log
  // records; they are counted as lost (cause "smtp_log_table_full").
  size_t max_connections = 1 << 20;
};

// Which strings a list already holds, by hash, so that adding to a list of n strings costs the
// length of the new string, not n times it. Only for a list that grows by AddIfMissing alone.
class StringListIndex {
 public:
  // Appends `s` to `list` unless `list` holds it already.
  void AddIfMissing(std::vector<std::string>& list, std::string s);

 private:
  std::unordered_map<size_t, size_t> first_with_hash_;  // hash -> index of its first string
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
  // Group "smtp_log".
  void VisitStats(StatsVisitor& visitor) const override;

  // Zeek's files.zeek: a file that begins while the connection has a current record (not in TLS)
  // joins its fuids, up to kMaxRecordFuids (then counted).
  void OnFileBegin(const Connection& conn, std::string_view fuid);

  // Connections with state right now (for tests and the gauge).
  size_t TrackedConnections() const { return tracked_; }

 private:
  // Zeek's SMTP::State: per connection, survives records.
  struct Session {
    std::optional<std::string> helo;
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
  void StartTransaction(ConnState& cs, const Event& cause) const;
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
  void AddAddresses(const Event& event, std::string_view header_value,
                    std::optional<std::vector<std::string>>* set, StringListIndex& index,
                    size_t limit, std::string_view weird_name);
  void MailTransactionInvalid(const Event& event, ConnState& cs, std::string_view addl);
  void RaiseWeird(const Event& cause, std::string_view name, std::string addl,
                  std::string_view source);

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
