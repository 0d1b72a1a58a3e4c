// Messages (DATA and BDAT), STARTTLS and disabling: the parts of SmtpSession that start and end
// things (spec sections 9, 10, 11).
#include <string>

#include "smtp/session.h"

namespace mailtap {

using smtp::Command;
using smtp::State;

// Spec 10.1, 10.2. The BDAT request has been queued and raised already.
void SmtpSession::HandleBdat(std::string_view arg) {
  const smtp::BdatArg parsed = smtp::ParseBdatArg(arg);
  if (!parsed.error.empty()) {
    Weird("smtp_invalid_bdat_command", parsed.error, "SMTP");
    return;
  }
  if (parsed.chunk_size > smtp::kMaxBdatChunkSize) {
    Weird("smtp_huge_bdat_chunk", std::to_string(parsed.chunk_size), "SMTP");
    return;
  }
  counters_.bdat_chunks.Add();
  SenderSplitter().SetPlainDelivery(parsed.chunk_size);
  if (!bdat_) {
    BeginData(State::kInBdat);
    bdat_ = std::make_unique<smtp::BdatChunkSplitter>(static_cast<smtp::BdatChunkListener&>(*this),
                                                      limits_.bdat_max_line_length);
  }
  bdat_->NextChunk(parsed.chunk_size, parsed.last);
  // State is IN_BDAT by now, so this always raises "BDAT reply = 0 state = 13" (spec 10.3).
  RunMachine(Command::kBdat, 0);
}

void SmtpSession::HandleChunkBytes(std::span<const uint8_t> bytes) {
  if (!bdat_) return;  // plain mode is only ever set together with an open transfer
  message_.RawMessageBytes(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  bdat_->Deliver(bytes);
  // The final byte of a LAST chunk ends the message; no "." request is raised (spec 10.2.6).
  if (bdat_->Complete()) RunMachine(Command::kEndOfData, 0);
}

// Spec 9 "Start message".
void SmtpSession::BeginData(State state) {
  state_ = state;
  if (message_.open()) {
    Weird("smtp_nested_mail_transaction", "", "SMTP");
    FinishMessage();
  }
  counters_.messages.Add();
  message_.Begin(orig_is_sender_);  // raises mime_begin_entity
}

// Spec 9 "Close message" (Zeek's EndData).
void SmtpSession::EndData() {
  if (bdat_) CloseBdat();
  if (!message_.open()) {
    Weird("smtp_unmatched_end_of_data", "", "SMTP");
    return;
  }
  FinishMessage();
}

// Spec 10.5.
void SmtpSession::CloseBdat() {
  if (bdat_->remaining() > 0) {
    Weird("smtp_bdat_remaining_at_end_data", "", "SMTP");
    orig_lines_.CancelPlainDelivery();
    resp_lines_.CancelPlainDelivery();
  }
  bdat_->Done();
  bdat_.reset();
}

void SmtpSession::FinishMessage() {
  message_.End();  // mime_end_entity and the rest of the message's events
}

// Spec 11: the reply to STARTTLS/X-ANONYMOUSTLS was 220. The splitters are removed; the rest of
// the connection is TLS, which this analyzer does not parse.
void SmtpSession::StartTls() {
  state_ = State::kInTls;
  tls_ = true;
  orig_lines_.Detach();
  resp_lines_.Detach();
  counters_.starttls.Add();
  AttachTlsWire();
  Announce(EventId::kSmtpStartTls);
}

void SmtpSession::DoDisable(DisableReason reason) {
  if (disabled_) return;
  pending_disable_.reset();
  // Zeek's Done() on analyzer removal closes an open message; a disable requested meanwhile
  // is moot.
  ++call_depth_;
  if (message_.open()) EndData();
  --call_depth_;
  disabled_ = true;
  (reason == DisableReason::kDpd ? counters_.disabled_dpd : counters_.disabled_script).Add();
}

void SmtpSession::OnChunkLine(std::string_view line, smtp::ChunkLineEnd end) {
  message_.Line(
      line, end == smtp::ChunkLineEnd::kCrlfRemoved ? mime::LineEnd::kCrlf : mime::LineEnd::kNone);
}

void SmtpSession::OnChunkWeird(std::string_view name, std::string_view addl) {
  Weird(name, addl, "SMTP_BDAT");
}

}  // namespace mailtap
