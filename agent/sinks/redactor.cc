#include "sinks/redactor.h"

#include <string>
#include <utility>

namespace mailtap {
namespace {

constexpr std::string_view kAuthAnswerCommand = "**";
constexpr std::string_view kAuthCommand = "AUTH";
constexpr std::string_view kUnknownCommand = "unknown command";
// The analyzer splits a command from its argument at spaces and TABs (spec 5).
constexpr std::string_view kArgSeparators = " \t";

// RFC 4954 section 4: "AUTH mechanism [initial-response]". The mechanism word stays visible (it
// is useful and not secret); everything after the first space or TAB is the response.
bool AuthArgHasInitialResponse(const std::string& arg) {
  size_t space = arg.find_first_of(kArgSeparators);
  return space != std::string::npos && space + 1 < arg.size();
}

bool IsCredentialRequest(const Event& event) {
  if (event.id != EventId::kSmtpRequest) return false;
  const std::string& command = Get(event, ev::smtp_request::command);
  const std::string& arg = Get(event, ev::smtp_request::arg);
  if (command == kAuthAnswerCommand) return !arg.empty();
  return command == kAuthCommand && AuthArgHasInitialResponse(arg);
}

// Message text: lines, header values, decoded bodies. (mime_content_hash's digest is not.)
bool IsContent(const Event& event) {
  switch (event.id) {
    case EventId::kSmtpData:
    case EventId::kMimeOneHeader:
    case EventId::kMimeAllHeaders:
    case EventId::kMimeEntityData:
    case EventId::kMimeAllData:
      return true;
    default:
      return false;
  }
}

void RedactCredential(Event* event) {
  const std::string& command = Get(*event, ev::smtp_request::command);
  std::string& arg = GetMutable(*event, ev::smtp_request::arg);
  if (command == kAuthAnswerCommand) {
    arg = kRedactedText;
  } else {
    arg = arg.substr(0, arg.find_first_of(kArgSeparators) + 1) + std::string(kRedactedText);
  }
}

std::string& ContentOf(Event* event) {
  switch (event->id) {
    case EventId::kSmtpData:
      return GetMutable(*event, ev::smtp_data::data);
    case EventId::kMimeAllHeaders:
      return GetMutable(*event, ev::mime_all_headers::hlist);
    case EventId::kMimeEntityData:
      return GetMutable(*event, ev::mime_entity_data::data);
    case EventId::kMimeAllData:
      return GetMutable(*event, ev::mime_all_data::data);
    default:
      return GetMutable(*event, ev::mime_one_header::h_value);
  }
}

// Lengths stay: they say how much was hidden, not what.
void RedactContent(Event* event) { ContentOf(event) = kRedactedText; }

void RedactField(std::optional<std::string>* field) {
  if (field->has_value()) *field = std::string(kRedactedText);
}

void RedactField(std::optional<std::vector<std::string>>* field) {
  if (!field->has_value()) return;
  for (auto& v : **field) v = kRedactedText;
  // Redacted set members collapse into one: sets hold no duplicates.
  if ((*field)->size() > 1) (*field)->resize(1);
}

}  // namespace

// A client that sends its SASL responses before the server's 334 (pipelined) or after a refusal
// has them parsed as commands: "unknown command" with the whole response as the detail.
bool Redactor::IsUnknownCommandAfterAuth(const Event& event) const {
  if (event.id != EventId::kSmtpUnexpected || !after_auth_.contains(event.conn)) {
    return false;
  }
  return Get(event, ev::smtp_unexpected::msg) == kUnknownCommand;
}

void Redactor::TrackAuth(const Event& event) {
  if (event.id != EventId::kSmtpRequest || event.conn == nullptr) return;
  const std::string& command = Get(event, ev::smtp_request::command);
  if (command == kAuthCommand) {
    after_auth_.insert(event.conn);
  } else if (command != kAuthAnswerCommand && !after_auth_.empty()) {
    after_auth_.erase(event.conn);  // the client has moved on from AUTH
  }
}

bool Redactor::NeedsRedaction(const Event& event) const {
  if (IsCredentialRequest(event) || IsUnknownCommandAfterAuth(event)) return true;
  return mode_ == RedactMode::kData && IsContent(event);
}

void Redactor::Redact(Event* event) const {
  if (IsCredentialRequest(*event)) {
    RedactCredential(event);
  } else if (IsUnknownCommandAfterAuth(*event)) {
    GetMutable(*event, ev::smtp_unexpected::detail) = kRedactedText;
  } else {
    RedactContent(event);
  }
}

void Redactor::OnEvent(const Event& event) {
  if (mode_ == RedactMode::kNone) return downstream_.OnEvent(event);
  TrackAuth(event);
  if (!NeedsRedaction(event)) return downstream_.OnEvent(event);
  Event copy = event;
  Redact(&copy);
  downstream_.OnEvent(copy);
}

void Redactor::OnConnectionRemoved(const Connection& conn, Timestamp ts) {
  after_auth_.erase(&conn);
  downstream_.OnConnectionRemoved(conn, ts);
}

void RecordRedactor::OnRecord(const SmtpRecord& record) {
  if (mode_ != RedactMode::kData) {
    downstream_.OnRecord(record);
    return;
  }
  SmtpRecord copy = record;
  for (auto* field :
       {&copy.date, &copy.from, &copy.reply_to, &copy.msg_id, &copy.in_reply_to, &copy.subject,
        &copy.first_received, &copy.second_received, &copy.user_agent}) {
    RedactField(field);
  }
  RedactField(&copy.to);
  RedactField(&copy.cc);
  copy.x_originating_ip.reset();
  downstream_.OnRecord(copy);
}

}  // namespace mailtap
