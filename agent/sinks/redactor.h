// Redaction of sensitive mail content before it reaches any output (--redact): a pipeline
// stage between the event bus and every output.
#pragma once

#include <array>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "common/enum_names.h"
#include "mailtap/sink.h"

namespace mailtap {

// What replaces a redacted value. Chosen so that it cannot be mistaken for protocol data: it is
// not valid base64 (AUTH answers are base64) and carries no length information.
inline constexpr std::string_view kRedactedText = "[REDACTED]";

// What --redact hides (see Redactor below).
enum class RedactMode { kCredentials, kData, kNone };
inline constexpr std::array<std::pair<std::string_view, RedactMode>, 3> kRedactModeNames{{
    {"credentials", RedactMode::kCredentials},
    {"data", RedactMode::kData},
    {"none", RedactMode::kNone},
}};

// An EventSink decorator: rewrites sensitive argument values and forwards every event, in order,
// to `downstream`. The pipeline puts it in front of ALL outputs, so filters and history in the
// query server only ever see redacted text.
//   credentials: smtp_request "**" (AUTH answers): arg -> [REDACTED];
//                smtp_request "AUTH": arg keeps the mechanism word, the initial response after it
//                becomes [REDACTED] ("PLAIN [REDACTED]");
//                smtp_unexpected "unknown command" after the client's AUTH and before its next
//                other command: detail -> [REDACTED] (SASL responses sent too early or too late
//                for the analyzer to take them as AUTH answers).
//   data:        credentials, plus smtp_data `data`, mime_one_header `h.value`,
//                mime_all_headers `hlist`, mime_entity_data and mime_all_data `data`.
//   none:        events pass through untouched (the output equals Zeek's).
// Not thread-safe (pipeline thread). `downstream` must outlive the Redactor.
class Redactor : public EventSink {
 public:
  Redactor(RedactMode mode, EventSink& downstream) : mode_(mode), downstream_(downstream) {}

  void OnEvent(const Event& event) override;
  bool Wants(EventId id) const override { return downstream_.Wants(id); }
  void OnConnectionRemoved(const Connection& conn, Timestamp ts) override;
  void OnConnectionFinished(const Connection& conn) override {
    downstream_.OnConnectionFinished(conn);
  }
  void Flush() override { downstream_.Flush(); }

 private:
  void TrackAuth(const Event& event);
  bool IsUnknownCommandAfterAuth(const Event& event) const;
  bool NeedsRedaction(const Event& event) const;
  void Redact(Event* event) const;

  RedactMode mode_;
  EventSink& downstream_;
  // Connections whose client sent AUTH and no other command since; at most one entry per
  // tracked connection, dropped when the flow table removes it.
  std::unordered_set<const Connection*> after_auth_;
};

// The RecordSink counterpart for smtp.log: in `data` mode the header-derived fields (date, from,
// to, cc, reply_to, msg_id, in_reply_to, subject, first_received, second_received, user_agent,
// x_originating_ip) are replaced by [REDACTED] (x_originating_ip is unset: it is an address).
// credentials and none pass records through: smtp.log carries no AUTH data.
class RecordRedactor : public RecordSink {
 public:
  RecordRedactor(RedactMode mode, RecordSink& downstream) : mode_(mode), downstream_(downstream) {}
  void OnRecord(const SmtpRecord& record) override;
  void Flush() override { downstream_.Flush(); }

 private:
  RedactMode mode_;
  RecordSink& downstream_;
};

}  // namespace mailtap
