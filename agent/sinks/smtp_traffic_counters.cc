#include "sinks/smtp_traffic_counters.h"

#include <algorithm>

#include "mailtap/smtp_record.h"

namespace mailtap {
namespace {

constexpr std::string_view kReplyClasses[] = {"2xx", "3xx", "4xx", "5xx", "other"};
constexpr std::string_view kTransports[] = {"plain", "tls"};

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'a' && x <= 'z' ? x - 32 : x) == y;
         });
}

}  // namespace

bool SmtpTrafficCounters::Wants(EventId id) const {
  return id == EventId::kSmtpRequest || id == EventId::kSmtpReply;
}

void SmtpTrafficCounters::OnEvent(const Event& event) {
  if (event.id == EventId::kSmtpRequest) {
    CountRequest(Get(event, ev::smtp_request::command));
  } else if (event.id == EventId::kSmtpReply && !Get(event, ev::smtp_reply::cont_resp)) {
    // A multi-line reply is one reply: counted at its last line.
    CountReply(static_cast<uint64_t>(Get(event, ev::smtp_reply::code)));
  }
}

// Commands are case-insensitive (RFC 5321 section 2.4).
void SmtpTrafficCounters::CountRequest(std::string_view command) {
  for (size_t i = 0; i < kCommands.size(); ++i) {
    if (EqualsIgnoringCase(command, kCommands[i])) {
      commands_[i].Add();
      return;
    }
  }
  commands_[command == "**" ? kCommands.size() : kCommands.size() + 1].Add();
}

// RFC 5321 section 4.2.1: the first digit is the class; anything else (a code the analyzer
// could not read, 1xx, 6xx and up) is "other".
void SmtpTrafficCounters::CountReply(uint64_t code) {
  const uint64_t first_digit = code / 100;
  replies_[first_digit >= 2 && first_digit <= 5 && code < 600 ? first_digit - 2 : 4].Add();
}

void SmtpTrafficCounters::OnRecord(const SmtpRecord& record) {
  transactions_[record.tls ? 1 : 0].Add();
}

void SmtpTrafficCounters::VisitStats(StatsVisitor& v) const {
  constexpr std::string_view g = "smtp";
  constexpr std::string_view kCommandsHelp =
      "SMTP commands by verb (AUTH_RESPONSE: lines answering an AUTH challenge; OTHER: any "
      "other word).";
  for (size_t i = 0; i < kCommands.size(); ++i) {
    v.VisitLabeled(g, "commands", "command", kCommands[i], commands_[i].Get(), kCommandsHelp);
  }
  v.VisitLabeled(g, "commands", "command", "AUTH_RESPONSE", commands_[kCommands.size()].Get(),
                 kCommandsHelp);
  v.VisitLabeled(g, "commands", "command", "OTHER", commands_[kCommands.size() + 1].Get(),
                 kCommandsHelp);
  for (size_t i = 0; i < replies_.size(); ++i) {
    v.VisitLabeled(g, "replies_by_class", "class", kReplyClasses[i], replies_[i].Get(),
                   "SMTP replies (a multi-line reply once) by class of their code.");
  }
  for (size_t i = 0; i < transactions_.size(); ++i) {
    v.VisitLabeled(g, "transactions", "transport", kTransports[i], transactions_[i].Get(),
                   "smtp.log transactions, in sessions without TLS (plain) or with it (tls: "
                   "after STARTTLS or on an implicit-TLS port).");
  }
}

}  // namespace mailtap
