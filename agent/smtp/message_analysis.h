// What an SMTP session does with the content of its messages (spec 9): the MIME analyzer's
// events, each entity's body as a file (mailtap/file_sink.h) and, with
// enable_rfc822_msg_file_analysis, the whole message as one more file. One per session: the
// MIME entity counter that numbers files (files.log depth) runs over the connection's messages.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/uid.h"
#include "mailtap/events.h"
#include "mailtap/file_sink.h"
#include "mime/parser.h"

namespace mailtap::smtp {

// How the session raises what the message analysis produces.
class MessageOutput {
 public:
  virtual ~MessageOutput() = default;
  virtual bool WantsEvent(EventId id) const = 0;
  virtual Timestamp Now() const = 0;
  // Whether the bytes being analysed came from inside TLS (the TLS library's plaintext).
  virtual bool InsideTls() const = 0;
  virtual void Announce(EventId id) = 0;
  virtual void Header(std::string_view original_name, std::string_view value) = 0;
  virtual void DispatchEvent(Event&& event) = 0;
  virtual void RaiseWeird(std::string_view name, std::string_view addl,
                          std::string_view source) = 0;
};

// Where files go, shared by the sessions of one analyzer factory. Both may be null.
struct FileAnalysis {
  FileSink* sink = nullptr;          // null: no file analysis (no fuids either)
  UidGenerator* file_ids = nullptr;  // fuids; null: the sessions' own generator
  bool rfc822_messages = false;      // SMTP::enable_rfc822_msg_file_analysis
};

class MessageAnalysis : private mime::MimeListener {
 public:
  // All references and `data_budget` (nullable: no global bound) must outlive this object.
  MessageAnalysis(MessageOutput& output, const Connection& conn, mime::MimeCounters& counters,
                  mime::MimeLimits limits, const FileAnalysis& files, UidGenerator& own_ids,
                  mime::MimeDataBudget* data_budget = nullptr);
  ~MessageAnalysis() override;

  // A message begins (raises mime_begin_entity for its top level); `is_orig`: who sends it.
  void Begin(bool is_orig);
  bool open() const { return message_ != nullptr; }
  // One message line without its terminator (DATA lines dot-unstuffed).
  void Line(std::string_view line, mime::LineEnd end);
  // The bytes of the message as sent, for the whole-message file: a DATA line plus CRLF, or
  // BDAT chunk bytes.
  void RawMessageBytes(std::string_view bytes);
  // `length` bytes of the message are missing.
  void Gap(uint64_t length);
  // The message ends: open entities end, then the message events.
  void End();
  bool in_header() const { return message_ && message_->in_header(); }
  bool NeedsBody() const { return message_ && (message_->NeedsBody() || !message_fuid_.empty()); }

 private:
  void OnBeginEntity() override;
  void OnHeader(std::string_view original_name, std::string_view value) override;
  void OnAllHeaders(std::string_view header_block) override;
  void OnData(std::string_view bytes) override;
  void OnGap(uint64_t length) override;
  void OnEntityData(uint64_t length, std::string_view data) override;
  void OnEndEntity() override;
  void OnAllData(uint64_t length, std::string_view data) override;
  void OnContentHash(mime::HashKind kind, uint64_t length, std::string_view digest) override;
  void OnWeird(std::string_view name, std::string_view addl, std::string_view source) override;

  std::string BeginFile(std::string declared_type, std::string filename, bool is_message);
  void EnsureEntityFile();
  mime::MimeWants Wants() const;

  MessageOutput& output_;
  const Connection& conn_;
  mime::MimeCounters& counters_;
  const mime::MimeLimits limits_;
  const FileAnalysis& files_;
  UidGenerator& own_ids_;
  mime::MimeDataBudget* data_budget_;
  std::unique_ptr<mime::MimeMessage> message_;
  bool is_orig_ = true;
  uint64_t entities_seen_ = 0;  // entities.zeek's mime_depth: per connection
  // The current entity (entities.zeek's c$smtp$entity): begun, not yet ended.
  std::string entity_fuid_;
  std::string entity_filename_;
  std::string entity_type_;
  std::string message_fuid_;  // the whole-message file, when enabled
};

}  // namespace mailtap::smtp
