// Drives one SmtpSession with byte streams and records its events as compact text, e.g.
// "smtp_reply(F, 220, >, hello, F)" or "weird(NUL_in_line, , CONTENTLINE)".
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/sink.h"
#include "smtp/session.h"

namespace mailtap::testing {

inline std::string Render(const Event& e) {
  std::string out(e.name());
  out += '(';
  for (size_t i = 0; i < e.args.size(); ++i) {
    if (i > 0) out += ", ";
    const EventValue& v = e.args[i];
    if (const bool* b = std::get_if<bool>(&v)) {
      out += *b ? "T" : "F";
    } else if (const int64_t* n = std::get_if<int64_t>(&v)) {
      out += std::to_string(*n);
    } else {
      out += std::get<std::string>(v);
    }
  }
  out += ')';
  return out;
}

class RecordingSink : public EventSink {
 public:
  void OnEvent(const Event& event) override {
    events.push_back(event);
    if (on_event) on_event(event);
  }
  bool Wants(EventId id) const override { return !wants || wants(EventName(id)); }
  void OnConnectionRemoved(const Connection& /*conn*/, Timestamp ts) override {
    removals.push_back(ts.usec);
  }
  std::function<bool(std::string_view)> wants;  // unset: every event
  std::vector<Event> events;
  std::vector<int64_t> removals;  // timestamps of the removal notices
  std::function<void(const Event&)> on_event;
};

// The MIME events that carry a message's data are raised only for a sink that wants them (as
// Zeek raises them only with a handler): the session tests see the structure without them unless
// they ask (a `wants` of their own).
inline bool WithoutMimeData(std::string_view name) {
  return name != "mime_all_headers" && name != "mime_entity_data" && name != "mime_all_data" &&
         name != "mime_content_hash";
}

class SessionHarness {
 public:
  explicit SessionHarness(SmtpLimits limits = {}, bool partial = false,
                          std::function<bool(std::string_view)> wants = {},
                          SessionTls tls = SessionTls::kStartTls)
      : shared_(std::make_shared<SmtpShared>()) {
    sink_.wants = wants ? std::move(wants) : WithoutMimeData;
    conn_.uid = "Ctest";
    conn_.id.resp_p = 25;
    conn_.partial = partial;
    session_ = std::make_unique<SmtpSession>(conn_, limits, sink_, shared_, tls);
  }

  void Client(std::string_view bytes, int64_t usec = 1) { Send(Side::kOriginator, bytes, usec); }
  void Server(std::string_view bytes, int64_t usec = 1) { Send(Side::kResponder, bytes, usec); }
  void Send(Side side, std::string_view bytes, int64_t usec = 1) {
    session_->Deliver(side, Timestamp{usec},
                      {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  }
  void Gap(Side side, uint64_t seq, uint64_t len, int64_t usec = 1) {
    session_->Undelivered(side, Timestamp{usec}, seq, len);
  }
  // Plaintext from inside TLS; `missing` bytes after it were not captured.
  void ClientTls(std::string_view bytes, uint64_t missing = 0) {
    SendTls(Side::kOriginator, bytes, missing);
  }
  void ServerTls(std::string_view bytes, uint64_t missing = 0) {
    SendTls(Side::kResponder, bytes, missing);
  }
  void SendTls(Side side, std::string_view bytes, uint64_t missing = 0) {
    session_->DeliverTlsPlaintext(side, Timestamp{1},
                                  {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                                  missing);
  }
  void End(Side side, int64_t usec = 1) { session_->EndOfStream(side, Timestamp{usec}); }
  void Finish(int64_t usec = 1) { session_->Finish(Timestamp{usec}); }

  // Rendered events since the last Take().
  std::vector<std::string> Take() {
    std::vector<std::string> out;
    for (size_t i = taken_; i < sink_.events.size(); ++i) out.push_back(Render(sink_.events[i]));
    taken_ = sink_.events.size();
    return out;
  }

  SmtpSession& session() { return *session_; }
  RecordingSink& sink() { return sink_; }
  SmtpShared& shared() { return *shared_; }
  const Connection& conn() const { return conn_; }

 private:
  Connection conn_;
  RecordingSink sink_;
  std::shared_ptr<SmtpShared> shared_;
  std::unique_ptr<SmtpSession> session_;
  size_t taken_ = 0;
};

using Events = std::vector<std::string>;

// Greeting, EHLO, MAIL and RCPT all accepted: the session is in RCPT_OK, events taken.
inline void ToRcptOk(SessionHarness& h) {
  h.Server("220 hi\r\n");
  h.Client("EHLO x\r\n");
  h.Server("250 x\r\n");
  h.Client("MAIL FROM:<a>\r\n");
  h.Server("250 ok\r\n");
  h.Client("RCPT TO:<b>\r\n");
  h.Server("250 ok\r\n");
  h.Take();
}

}  // namespace mailtap::testing
