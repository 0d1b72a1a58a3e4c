// Event construction for SmtpSession: Zeek's event names and argument names/types.
#include "smtp/session.h"

namespace mailtap {

void SmtpSession::Emit(std::string_view name, std::vector<EventArg> args) {
  Event event;
  event.ts = ts_;
  event.name = name;
  event.conn = &conn_;
  event.args = std::move(args);
  sink_.OnEvent(event);
}

// smtp_request's is_orig is the current sender role, not the packet direction (spec 4).
void SmtpSession::Request(std::string command, std::string_view arg) {
  counters_.requests.Add();
  Emit(event_names::kSmtpRequest,
       {{"is_orig", orig_is_sender_}, {"command", std::move(command)}, {"arg", std::string(arg)}});
}

void SmtpSession::Reply(Side side, int code, std::string_view cmd, std::string_view msg,
                        bool cont) {
  counters_.replies.Add();
  Emit(event_names::kSmtpReply, {{"is_orig", IsOrig(side)},
                                 {"code", static_cast<int64_t>(code)},
                                 {"cmd", std::string(cmd)},
                                 {"msg", std::string(msg)},
                                 {"cont_resp", cont}});
}

void SmtpSession::Data(Side side, std::string_view data) {
  counters_.data_lines.Add();
  Emit(event_names::kSmtpData, {{"is_orig", IsOrig(side)}, {"data", std::string(data)}});
}

// `is_sender` is Zeek's per-call flag; it is mapped through the sender role (spec 4).
void SmtpSession::Unexpected(bool is_sender, std::string_view msg, std::string_view detail) {
  counters_.unexpected.Add();
  const bool is_orig = orig_is_sender_ ? is_sender : !is_sender;
  Emit(event_names::kSmtpUnexpected,
       {{"is_orig", is_orig}, {"msg", std::string(msg)}, {"detail", std::string(detail)}});
}

void SmtpSession::Weird(std::string_view name, std::string_view addl, std::string_view source) {
  counters_.weirds.Add();
  sink_.OnEvent(MakeWeird(ts_, &conn_, name, std::string(addl), source));
}

}  // namespace mailtap
