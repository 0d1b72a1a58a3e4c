// Counters for dashboards: SMTP commands by verb, replies by class, and smtp.log transactions by
// transport (plain or TLS). Exported as labelled statistics (group "smtp"): commands{command},
// replies{class}, transactions{transport}.
#pragma once

#include <array>
#include <cstdint>

#include "mailtap/events.h"
#include "mailtap/sink.h"
#include "mailtap/stats.h"

namespace mailtap {

class SmtpTrafficCounters : public EventSink, public RecordSink, public StatsSource {
 public:
  // The commands counted by name ("." is the end of DATA, which Zeek raises as a command); any
  // other command word counts as "OTHER". A fixed list: a label value never comes from the
  // network, so a client cannot create series at will.
  static constexpr std::array<std::string_view, 21> kCommands = {
      "EHLO", "HELO", "MAIL", "RCPT",    "DATA",     "BDAT", "RSET",
      "NOOP", "QUIT", "VRFY", "EXPN",    "HELP",     "AUTH", "STARTTLS",
      "TURN", "ETRN", "ATRN", "XCLIENT", "XFORWARD", "LHLO", "."};

  // Events: smtp_request and smtp_reply only (the pipeline thread).
  void OnEvent(const Event& event) override;
  bool Wants(EventId id) const override;
  // Records: one per smtp.log transaction.
  void OnRecord(const SmtpRecord& record) override;
  void Flush() override {}

  void VisitStats(StatsVisitor& v) const override;

 private:
  void CountRequest(std::string_view command);
  void CountReply(uint64_t code);

  // kCommands, then "AUTH_RESPONSE" (the lines that answer an AUTH challenge, which the
  // analyzer raises as command "**"), then "OTHER".
  std::array<Counter, kCommands.size() + 2> commands_;
  std::array<Counter, 5> replies_;       // 2xx, 3xx, 4xx, 5xx, other
  std::array<Counter, 2> transactions_;  // plain, tls
};

}  // namespace mailtap
