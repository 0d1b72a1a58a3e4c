// Event construction for SmtpSession: Zeek's event names and argument names/types.
#include "smtp/session.h"

namespace mailtap {
namespace {

void SetText(EventArg& arg, std::string_view name, std::string_view text) {
  arg.name = name;
  if (auto* s = std::get_if<std::string>(&arg.value)) {
    s->assign(text);
  } else {
    arg.value.emplace<std::string>(text);
  }
}

template <typename T>
void SetValue(EventArg& arg, std::string_view name, T value) {
  arg.name = name;
  arg.value = value;
}

}  // namespace

Event& SmtpSession::Reuse(ReusableEvent::Lease& lease, std::string_view name, size_t nargs) {
  Event& event = lease.event();
  event.ts = ts_;
  event.name = name;
  event.conn = &conn_;
  event.inside_tls = plaintext_;
  event.args.resize(nargs);
  return event;
}

void SmtpSession::Emit(std::string_view name, std::vector<EventArg> args) {
  Event event;
  event.ts = ts_;
  event.name = name;
  event.conn = &conn_;
  event.inside_tls = plaintext_;
  event.args = std::move(args);
  sink_.OnEvent(event);
}

// smtp_request's is_orig is the current sender role, not the packet direction (spec 4).
void SmtpSession::Request(std::string_view command, std::string_view arg) {
  counters_.requests.Add();
  ReusableEvent::Lease lease(shared_->request_event);
  Event& e = Reuse(lease, event_names::kSmtpRequest, 3);
  SetValue(e.args[0], "is_orig", orig_is_sender_);
  SetText(e.args[1], "command", command);
  SetText(e.args[2], "arg", arg);
  sink_.OnEvent(e);
}

void SmtpSession::Reply(Side side, int code, std::string_view cmd, std::string_view msg,
                        bool cont) {
  counters_.replies.Add();
  ReusableEvent::Lease lease(shared_->reply_event);
  Event& e = Reuse(lease, event_names::kSmtpReply, 5);
  SetValue(e.args[0], "is_orig", IsOrig(side));
  SetValue(e.args[1], "code", static_cast<int64_t>(code));
  SetText(e.args[2], "cmd", cmd);
  SetText(e.args[3], "msg", msg);
  SetValue(e.args[4], "cont_resp", cont);
  sink_.OnEvent(e);
}

void SmtpSession::Data(Side side, std::string_view data) {
  counters_.data_lines.Add();
  if (!raise_data_) return;
  ReusableEvent::Lease lease(shared_->data_event);
  Event& e = Reuse(lease, event_names::kSmtpData, 2);
  SetValue(e.args[0], "is_orig", IsOrig(side));
  SetText(e.args[1], "data", data);
  sink_.OnEvent(e);
}

// mime_one_header: real mail carries dozens of headers, so it is built in place too.
void SmtpSession::Header(std::string_view original_name, std::string_view value) {
  ReusableEvent::Lease lease(shared_->header_event);
  Event& e = Reuse(lease, event_names::kMimeOneHeader, 3);
  SetText(e.args[0], "h.original_name", original_name);
  SetText(e.args[1], "h.name", original_name);
  smtp::UpperAsciiInPlace(&std::get<std::string>(e.args[1].value));
  SetText(e.args[2], "h.value", value);
  sink_.OnEvent(e);
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
  Event weird = MakeWeird(ts_, &conn_, name, std::string(addl), source);
  weird.inside_tls = plaintext_;
  sink_.OnEvent(weird);
}

}  // namespace mailtap
