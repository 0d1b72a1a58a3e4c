#include "query/redactor.h"

#include <string>
#include <utility>

namespace mailtap {
namespace {

constexpr std::string_view kAuthAnswerCommand = "**";
constexpr std::string_view kAuthCommand = "AUTH";
constexpr std::string_view kHeaderValueArg = "h.value";

std::string* StringArg(Event* event, std::string_view name) {
  for (auto& arg : event->args) {
    if (arg.name == name) return std::get_if<std::string>(&arg.value);
  }
  return nullptr;
}

const std::string* StringArg(const Event& event, std::string_view name) {
  const EventValue* v = event.Find(name);
  return v ? std::get_if<std::string>(v) : nullptr;
}

// RFC 4954 section 4: "AUTH mechanism [initial-response]". The mechanism word stays visible (it
// is useful and not secret); everything after the first space is the response.
bool AuthArgHasInitialResponse(const std::string& arg) {
  size_t space = arg.find(' ');
  return space != std::string::npos && space + 1 < arg.size();
}

bool IsCredentialRequest(const Event& event) {
  if (event.name != event_names::kSmtpRequest) return false;
  const std::string* command = StringArg(event, "command");
  const std::string* arg = StringArg(event, "arg");
  if (command == nullptr || arg == nullptr) return false;
  if (*command == kAuthAnswerCommand) return !arg->empty();
  return *command == kAuthCommand && AuthArgHasInitialResponse(*arg);
}

bool IsContent(const Event& event) {
  return (event.name == event_names::kSmtpData && StringArg(event, "data") != nullptr) ||
         (event.name == event_names::kMimeOneHeader && StringArg(event, kHeaderValueArg));
}

void RedactCredential(Event* event) {
  std::string* command = StringArg(event, "command");
  std::string* arg = StringArg(event, "arg");
  if (*command == kAuthAnswerCommand) {
    *arg = kRedactedText;
  } else {
    *arg = arg->substr(0, arg->find(' ') + 1) + std::string(kRedactedText);
  }
}

void RedactContent(Event* event) {
  std::string* value = event->name == event_names::kSmtpData ? StringArg(event, "data")
                                                             : StringArg(event, kHeaderValueArg);
  *value = kRedactedText;
}

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

bool ParseRedactMode(std::string_view text, RedactMode* mode) {
  if (text == "credentials") {
    *mode = RedactMode::kCredentials;
  } else if (text == "data") {
    *mode = RedactMode::kData;
  } else if (text == "none") {
    *mode = RedactMode::kNone;
  } else {
    return false;
  }
  return true;
}

std::string_view RedactModeName(RedactMode mode) {
  switch (mode) {
    case RedactMode::kCredentials:
      return "credentials";
    case RedactMode::kData:
      return "data";
    case RedactMode::kNone:
      return "none";
  }
  return "credentials";
}

bool Redactor::NeedsRedaction(RedactMode mode, const Event& event) {
  if (mode == RedactMode::kNone) return false;
  if (IsCredentialRequest(event)) return true;
  return mode == RedactMode::kData && IsContent(event);
}

void Redactor::Redact(RedactMode mode, Event* event) {
  if (mode == RedactMode::kNone) return;
  if (IsCredentialRequest(*event)) {
    RedactCredential(event);
  } else if (mode == RedactMode::kData && IsContent(*event)) {
    RedactContent(event);
  }
}

void Redactor::OnEvent(const Event& event) {
  if (!NeedsRedaction(mode_, event)) {
    downstream_.OnEvent(event);
    return;
  }
  Event copy = event;
  Redact(mode_, &copy);
  downstream_.OnEvent(copy);
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
