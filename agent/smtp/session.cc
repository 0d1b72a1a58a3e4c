#include "smtp/session.h"

#include <fmt/format.h>

#include <algorithm>

namespace mailtap {

using smtp::Command;
using smtp::State;

// Marks "processing input": a disable requested meanwhile waits until the outermost call ends
// (Zeek runs disable_analyzer from the event queue, after the current packet).
class SmtpSession::CallScope {
 public:
  CallScope(SmtpSession& s, Timestamp ts) : s_(s) {
    ++s_.call_depth_;
    s_.ts_ = ts;
  }
  ~CallScope() {
    if (--s_.call_depth_ == 0 && s_.pending_disable_ && !s_.disabled_) {
      s_.DoDisable(*s_.pending_disable_);
    }
  }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  SmtpSession& s_;
};

SmtpSession::SmtpSession(const Connection& conn, const SmtpLimits& limits, EventSink& sink,
                         std::shared_ptr<SmtpShared> shared, SessionTls tls)
    : conn_(conn),
      limits_(limits),
      sink_(sink),
      shared_(std::move(shared)),
      counters_(shared_->counters),
      orig_lines_(orig_listener_, limits.max_line_length, &shared_->line_budget),
      resp_lines_(resp_listener_, limits.max_line_length, &shared_->line_budget),
      raise_data_(sink.Wants(EventId::kSmtpData)),
      message_(*this, conn, shared_->mime, {limits.max_header_bytes, limits.max_mime_depth},
               shared_->files, shared_->own_file_ids, &shared_->mime_data_budget),
      implicit_tls_(tls == SessionTls::kImplicit) {
  counters_.sessions_created.Add();
  counters_.sessions_active.fetch_add(1, std::memory_order_relaxed);
  // Zeek runs the machine once with the greeting pseudo-command: CONNECTED -> INITIATED, and the
  // greeting is the first reply expected.
  first_cmd_ = Command::kConnEstablishment;
  RunMachine(Command::kConnEstablishment, 0);
  if (implicit_tls_) AttachTlsWire();
}

SmtpSession::~SmtpSession() { counters_.sessions_active.fetch_sub(1, std::memory_order_relaxed); }

void SmtpSession::Deliver(Side side, Timestamp ts, std::span<const uint8_t> data) {
  // On the wire, TLS is ciphertext: once the plaintext is analysed (or on an implicit-TLS port
  // from the start) the wire bytes only count for TCP.
  if (disabled_ || data.empty()) return;
  if (tls_wire_) tls_wire_->Deliver(side, ts, data);
  if (plaintext_ || implicit_tls_) return;
  CallScope scope(*this, ts);
  bytes_seen_ += data.size();
  // Partial connections: the line splitters drop all payload (spec 2).
  if (conn_.partial) return;
  if (tls_) {
    // After STARTTLS the bytes belong to TLS; after a later gap each chunk is one "line".
    if (state_ != State::kInTls) {
      HandleUnsplitLine(side, {reinterpret_cast<const char*>(data.data()), data.size()});
    }
    return;
  }
  FeedLines(side, data);
}

// Plaintext from inside TLS (the rest is in session_tls.cc).
void SmtpSession::DeliverTlsPlaintext(Side side, Timestamp ts, std::span<const uint8_t> data,
                                      uint64_t missing) {
  // As on the wire, a connection whose handshake was not seen is not analysed (spec 2).
  if (!AcceptsTlsPlaintext() || conn_.partial) return;
  CallScope scope(*this, ts);
  if (!plaintext_) EnterPlaintext();
  uint64_t& offset = plaintext_offset_[static_cast<int>(side)];
  if (!data.empty()) {
    bytes_seen_ += data.size();
    offset += data.size();
    FeedLines(side, data);
  }
  if (missing > 0) {
    // Zeek's content-gap numbering: the first byte of the stream is 1.
    ContentGap(side, offset + 1, missing);
    offset += missing;
  }
}

void SmtpSession::FeedLines(Side side, std::span<const uint8_t> data) {
  smtp::LineSplitter& lines = IsOrig(side) ? orig_lines_ : resp_lines_;
  if (IsOrig(side) == orig_is_sender_) {
    FeedSenderLines(lines, data);
  } else {
    lines.Feed(data);
  }
}

// In a DATA message nobody wants as smtp_data, the body lines after the headers only count:
// they skip the listener chain. Lines go one at a time until the headers end; the line a
// segment starts in the middle of, and any line starting with "." (the end of the message, or
// dot-stuffed), take the usual path.
void SmtpSession::FeedSenderLines(smtp::LineSplitter& lines, std::span<const uint8_t> data) {
  while (!data.empty() && !lines.detached() && state_ == State::kInData && !raise_data_ && !bdat_) {
    if (message_.open() && !message_.NeedsBody()) {
      const auto skipped =
          lines.SkipLines(data, [](std::string_view l) { return !l.starts_with('.'); });
      counters_.data_lines.Add(skipped.lines);
      data = data.subspan(skipped.bytes);
    }
    data = data.subspan(lines.FeedOne(data));
  }
  lines.Feed(data);
}

void SmtpSession::Undelivered(Side side, Timestamp ts, uint64_t seq, uint64_t len) {
  // A hole in the ciphertext is not one in the plaintext (which has its own, see ContentGap).
  if (disabled_ || len == 0) return;
  if (tls_wire_) tls_wire_->Undelivered(side, ts, seq, len);
  if (plaintext_ || implicit_tls_) return;
  CallScope scope(*this, ts);
  ContentGap(side, seq, len);
}

// Zeek's content-gap handling, for the wire stream and for the plaintext stream inside TLS.
void SmtpSession::ContentGap(Side side, uint64_t seq, uint64_t len) {
  had_gap_ = true;
  counters_.content_gaps.Add();
  // Zeek passes is_orig where the other calls pass the sender flag (spec 14).
  Unexpected(IsOrig(side) ? Role::kSender : Role::kReceiver, "content gap",
             fmt::format("seq = {}, len = {}", seq, len));
  if (state_ == State::kInData || state_ == State::kInBdat) {
    message_.Gap(len);
    EndData();
  }
  // Spec 14.3: the queue is cleared; the pending multi-line reply code and the partial line
  // buffers are kept.
  pending_.clear();
  first_cmd_.reset();
  last_replied_.reset();
  state_ = State::kAfterGap;
}

void SmtpSession::EndOfStream(Side side, Timestamp ts) {
  if (disabled_) return;
  CallScope scope(*this, ts);
  // Plaintext may still be on its way (it arrives on another path than the FIN): its splitters
  // are flushed when the connection is removed.
  if (plaintext_ || implicit_tls_) return;
  if (!conn_.partial && !tls_) (IsOrig(side) ? orig_lines_ : resp_lines_).FlushAtEnd();
  (IsOrig(side) ? orig_ended_ : resp_ended_) = true;
  // Zeek's ConnectionFinished: both sides closed, an open message is closed silently.
  if (orig_ended_ && resp_ended_ && message_.open()) EndData();
}

void SmtpSession::Finish(Timestamp ts) {
  if (tls_wire_) tls_wire_->Finish(ts);  // even when disabled: Zeek's finalize_ssl
  if (!disabled_) {
    CallScope scope(*this, ts);
    if (plaintext_) {
      orig_lines_.FlushAtEnd();
      resp_lines_.FlushAtEnd();
    } else if (implicit_tls_) {
      counters_.implicit_tls_without_plaintext.Add();
    }
    if (message_.open()) EndData();
    disabled_ = true;  // the last call: nothing may follow
  }
  // Even a disabled analyzer's connection is removed: smtp.log writes its pending record then
  // (Zeek's finalize_smtp removal hook runs whatever happened to the analyzer).
  sink_.OnConnectionRemoved(conn_, ts);
}

namespace {

// What a retired session leaves for the close delay (SmtpSession::Retire).
class RetiredSession : public StreamConsumer {
 public:
  RetiredSession(const Connection& conn, EventSink& sink, std::string_view state)
      : conn_(conn), sink_(sink), state_(state) {}
  void Deliver(Side, Timestamp, std::span<const uint8_t>) override {}
  void Undelivered(Side, Timestamp, uint64_t, uint64_t) override {}
  void EndOfStream(Side, Timestamp) override {}
  void Finish(Timestamp ts) override { sink_.OnConnectionRemoved(conn_, ts); }
  std::string_view StateName() const override { return state_; }

 private:
  const Connection& conn_;
  EventSink& sink_;
  std::string_view state_;  // static storage (smtp::StateName)
};

}  // namespace

std::unique_ptr<StreamConsumer> SmtpSession::Retire() {
  // A TLS session stays: its plaintext may still arrive, after the FINs (another path).
  const bool tls_may_follow = !disabled_ && (tls_ || implicit_tls_);
  // The TLS analyzer logs an unfinished handshake when the connection is removed.
  if (tls_wire_) return nullptr;
  const bool finish_only_reports_removal =
      !tls_may_follow && (disabled_ || (orig_ended_ && resp_ended_ && !message_.open()));
  if (!finish_only_reports_removal || call_depth_ > 0) return nullptr;
  sink_.OnConnectionFinished(conn_);
  return std::make_unique<RetiredSession>(conn_, sink_, StateName());
}

void SmtpSession::RequestDisable(DisableReason reason) {
  if (disabled_) return;
  if (call_depth_ > 0) {
    if (!pending_disable_) pending_disable_ = reason;
    return;
  }
  DoDisable(reason);
}

// Spec 5: two legacy checks, then sender or receiver handling. The checks can only fire for
// data that did not come through a line splitter (which ends lines at every CR and LF).
void SmtpSession::HandleUnsplitLine(Side side, std::string_view line) {
  const Role role = IsOrig(side) == orig_is_sender_ ? Role::kSender : Role::kReceiver;
  if (!line.empty() && line.back() == '\r') {
    Unexpected(role, "more than one <CR> at the end of line", line);
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  }
  if (line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos) {
    Unexpected(role, "Bare <CR> or <LF> appears in the middle of line", line);
  }
  HandleLine(side, line);
}

void SmtpSession::HandleLine(Side side, std::string_view line) {
  const bool is_sender = IsOrig(side) == orig_is_sender_;
  if (is_sender) {
    SenderLine(side, line);
  } else {
    ReceiverLine(side, line);
  }
}

// Spec 5, dispatch in priority order.
void SmtpSession::SenderLine(Side side, std::string_view line) {
  // "BDAT 0 LAST" sends no bytes: the message closes at the next non-empty sender line (10.2.7).
  if (bdat_ && bdat_->Complete() && !line.empty()) RunMachine(Command::kEndOfData, 0);
  switch (state_) {
    case State::kAfterGap:
      return;  // unknown whether command or data: swallowed (14.4)
    case State::kInData:
      if (line == ".") {
        // The machine (message close, MIME end events) runs before the request (spec 18).
        Enqueue(Command::kEndOfData);
        RunMachine(Command::kEndOfData, 0);
        Request(".", line);
      } else {
        DataLine(side, line);
      }
      return;
    case State::kInAuth:
      Enqueue(Command::kAuthAnswer);
      Request("**", line);
      RunMachine(Command::kAuthAnswer, 0);
      return;
    default:
      CommandLine(line);
  }
}

void SmtpSession::DataLine(Side side, std::string_view line) {
  if (!line.empty() && line[0] == '.') line.remove_prefix(1);  // dot-unstuffing (RFC 5321 4.5.2)
  if (!message_.open()) BeginData(State::kInData);
  message_.Line(line, mime::LineEnd::kCrlf);
  // The whole-message file holds the message as sent, dot-unstuffed (spec 5.3).
  message_.RawMessageBytes(line);
  message_.RawMessageBytes("\r\n");
  Data(side, line);
}

void SmtpSession::CommandLine(std::string_view line) {
  const smtp::CommandLine parsed = smtp::SplitCommandLine(line);
  const std::optional<Command> cmd = smtp::LookupCommand(parsed.word);
  if (!cmd) {
    Unexpected(Role::kSender, "unknown command", parsed.word);
    return;
  }
  Enqueue(*cmd);
  if (*cmd == Command::kEndOfData) {
    RunMachine(*cmd, 0);
    Request(smtp::UpperAscii(parsed.word), parsed.arg);
    return;
  }
  Request(smtp::UpperAscii(parsed.word), parsed.arg);
  if (*cmd == Command::kBdat) {
    HandleBdat(parsed.arg);
    return;
  }
  if (bdat_) {
    Weird("smtp_missing_bdat_last_chunk", "", "SMTP");
    EndData();
  }
  RunMachine(*cmd, 0);
}

// Spec 6.
void SmtpSession::ReceiverLine(Side side, std::string_view line) {
  const smtp::ReplyLine reply = smtp::ParseReplyLine(line);
  if (!reply.InRange()) {
    Unexpected(Role::kReceiver, "reply code out of range", line);
    Violation();
    return;
  }
  const int code = *reply.code;
  if (pending_reply_ && *pending_reply_ != code) {
    Unexpected(Role::kReceiver, "reply code does not match the continuing reply", line);
    pending_reply_.reset();
  }
  if (!pending_reply_) NewReply(code);
  pending_reply_ = reply.continued ? std::optional<int>(code) : std::nullopt;
  Reply(side, code, smtp::ReplyLabel(last_replied_), reply.msg, reply.continued);
}

// First line of a reply: it answers the head of the queue (spec 7), after a gap it first raises
// the (UNKNOWN) pseudo request (spec 14.5).
void SmtpSession::NewReply(int code) {
  if (state_ == State::kAfterGap) {
    state_ = State::kGapRecovery;
    Request("(UNKNOWN)", "");
  }
  const std::optional<Command> cmd = first_cmd_;
  last_replied_ = first_cmd_;
  first_cmd_.reset();
  if (!pending_.empty()) {
    first_cmd_ = pending_.front();
    pending_.pop_front();
  }
  RunMachine(cmd, code);
}

// Zeek's analyzer violation ("reply code -1 out of range"), filtered as in TCP.cc and
// Analyzer.cc, and acted on as dpd.zeek does (spec 2).
void SmtpSession::Violation() {
  if (conn_.partial || had_gap_) return;
  ++violations_;
  if (violations_ > limits_.max_analyzer_violations) {
    if (violations_ == limits_.max_analyzer_violations + 1) {
      Weird("too_many_analyzer_violations", "", "SMTP");
    }
    return;
  }
  if (bytes_seen_ > limits_.dpd_ignore_violations_after) return;
  RequestDisable(DisableReason::kDpd);
}

void SmtpSession::Enqueue(Command cmd) {
  if (!first_cmd_) {
    first_cmd_ = cmd;
    return;
  }
  if (pending_.size() >= limits_.max_pending_commands) {
    Weird("smtp_excessive_pending_cmds", "", "SMTP");
    counters_.pending_cmd_overflows.Add();
    pending_.clear();
  }
  pending_.push_back(cmd);
}

void SmtpSession::RunMachine(std::optional<Command> cmd, int code) {
  const smtp::Decision d = smtp::Decide(cmd, code, state_);
  const std::string_view name = cmd ? smtp::InternalName(*cmd) : "(UNKNOWN)";
  const int state_number = smtp::StateNumber(state_);
  if (d.unexpected_commands > 0) {
    const std::string detail = fmt::format("{} reply = {} state = {}", name, code, state_number);
    for (int i = 0; i < d.unexpected_commands; ++i) {
      Unexpected(Role::kSender, "unexpected command", detail);
    }
  }
  if (d.unexpected_reply) {
    Unexpected(Role::kSender, "unexpected reply",
               fmt::format("{} state = {}, last command = {}", code, state_number, name));
  }
  Perform(d.action);
  if (d.next_state) state_ = *d.next_state;
}

void SmtpSession::Perform(smtp::Action action) {
  switch (action) {
    case smtp::Action::kNone:
      return;
    case smtp::Action::kBeginData:
      BeginData(State::kInData);
      return;
    case smtp::Action::kEndDataIfInData:
      if (state_ == State::kInData) EndData();
      return;
    case smtp::Action::kEndData:
      EndData();
      return;
    case smtp::Action::kStartTls:
      StartTls();
      return;
    case smtp::Action::kFlipSender:
      orig_is_sender_ = !orig_is_sender_;
      return;
  }
}

void SmtpSession::HandleAnomaly(smtp::SplitterAnomaly anomaly) {
  switch (anomaly) {
    case smtp::SplitterAnomaly::kSingleCr:
      if (single_cr_reported_) return;  // Zeek flags it once per connection
      single_cr_reported_ = true;
      Weird("line_terminated_with_single_CR", "", "CONTENTLINE");
      return;
    case smtp::SplitterAnomaly::kNulInLine:
      if (nul_reported_) return;
      nul_reported_ = true;
      Weird("NUL_in_line", "", "CONTENTLINE");
      return;
    case smtp::SplitterAnomaly::kLineTooLong:
      counters_.lines_truncated.Add();
      Weird("contentline_size_exceeded", "", "CONTENTLINE");
      return;
    case smtp::SplitterAnomaly::kLineCutByMemoryBudget:
      // Zeek's weird, so the cut shows in the event stream where a reader looks for it.
      counters_.lines_cut_by_budget.Add();
      Weird("contentline_size_exceeded", "", "CONTENTLINE");
      return;
  }
}

smtp::LineSplitter& SmtpSession::SenderSplitter() {
  return orig_is_sender_ ? orig_lines_ : resp_lines_;
}

}  // namespace mailtap
