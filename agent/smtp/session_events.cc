// Event construction for SmtpSession, with the typed builders of mailtap/events.h.
#include "smtp/session.h"

namespace mailtap {

// The sinks may ask, through the connection, for the analyzer to stop (the smtp.log logic does,
// as Zeek's scripts call disable_analyzer): that takes effect once the current input is done.
void SmtpSession::Dispatch(Event& event) {
  event.inside_tls = plaintext_;
  sink_.OnEvent(event);
  if (conn_.analyzer_requests.disable) {
    conn_.analyzer_requests.disable = false;
    RequestDisable(DisableReason::kScript);
  }
}

Event& SmtpSession::Reuse(ReusableEvent::Lease& lease, EventId id) {
  Event& event = lease.event();
  Reset(event, id, ts_, &conn_);
  return event;
}

// smtp_request's is_orig is the current sender role, not the packet direction (spec 4).
void SmtpSession::Request(std::string_view command, std::string_view arg) {
  counters_.requests.Add();
  namespace request = ev::smtp_request;
  ReusableEvent::Lease lease(shared_->request_event);
  Event& e = Reuse(lease, request::kId);
  Set(e, request::is_orig, orig_is_sender_);
  Set(e, request::command, command);
  Set(e, request::arg, arg);
  Dispatch(e);
}

void SmtpSession::Reply(Side side, int code, std::string_view cmd, std::string_view msg,
                        bool cont) {
  counters_.replies.Add();
  namespace reply = ev::smtp_reply;
  ReusableEvent::Lease lease(shared_->reply_event);
  Event& e = Reuse(lease, reply::kId);
  Set(e, reply::is_orig, IsOrig(side));
  Set(e, reply::code, code);
  Set(e, reply::cmd, cmd);
  Set(e, reply::msg, msg);
  Set(e, reply::cont_resp, cont);
  Dispatch(e);
}

void SmtpSession::Data(Side side, std::string_view data) {
  counters_.data_lines.Add();
  if (!raise_data_) return;
  ReusableEvent::Lease lease(shared_->data_event);
  Event& e = Reuse(lease, ev::smtp_data::kId);
  Set(e, ev::smtp_data::is_orig, IsOrig(side));
  Set(e, ev::smtp_data::data, data);
  Dispatch(e);
}

// mime_one_header: real mail carries dozens of headers, so it is built in place too.
void SmtpSession::Header(std::string_view original_name, std::string_view value) {
  namespace header = ev::mime_one_header;
  ReusableEvent::Lease lease(shared_->header_event);
  Event& e = Reuse(lease, header::kId);
  Set(e, header::h_original_name, original_name);
  Set(e, header::h_name, original_name);
  smtp::UpperAsciiInPlace(&GetMutable(e, header::h_name));
  Set(e, header::h_value, value);
  Dispatch(e);
}

// Zeek passes the sender role per call; is_orig maps it through the current roles (spec 4).
void SmtpSession::Unexpected(Role role, std::string_view msg, std::string_view detail) {
  counters_.unexpected.Add();
  const bool is_sender = role == Role::kSender;
  const bool is_orig = orig_is_sender_ ? is_sender : !is_sender;
  Dispatch(ev::smtp_unexpected::Make(
      ts_, &conn_, {.is_orig = is_orig, .msg = std::string(msg), .detail = std::string(detail)}));
}

void SmtpSession::Announce(EventId id) { Dispatch(Event{ts_, id, &conn_, {}}); }

void SmtpSession::Weird(std::string_view name, std::string_view addl, std::string_view source) {
  counters_.weirds.Add();
  Dispatch(MakeWeird(ts_, &conn_, name, std::string(addl), source));
}

}  // namespace mailtap
