// SMTP inside TLS: the parts of SmtpSession that analyse the plaintext a local process read or
// wrote through its TLS library, instead of the ciphertext on the wire. Zeek stops at the 220
// reply to STARTTLS (spec 11); a host agent can go on, because it sees the plaintext.
#include "smtp/session.h"

namespace mailtap {

using smtp::State;

bool SmtpSession::AcceptsTlsPlaintext() const {
  if (disabled_) return false;
  return implicit_tls_ || tls_;
}

// After STARTTLS, RFC 3207 4.2: both sides discard what they knew and the client starts again
// with EHLO, with no new greeting. So the session continues as after a greeting: state
// INITIATED, nothing outstanding, fresh line splitters. On an implicit-TLS port the session is
// still at its start (the greeting is the first plaintext), and is left as it is.
void SmtpSession::EnterPlaintext() {
  plaintext_ = true;
  counters_.tls_plaintext_sessions.Add();
  if (implicit_tls_) return;
  orig_lines_.Restart();
  resp_lines_.Restart();
  state_ = State::kInitiated;
  first_cmd_.reset();
  pending_.clear();
  last_replied_.reset();
  pending_reply_.reset();
}

// From here on the wire bytes are TLS records: Zeek attaches its SSL analyzer below SMTP.
void SmtpSession::AttachTlsWire() {
  if (shared_->tls_wire != nullptr && !conn_.partial && !tls_wire_) {
    tls_wire_ = shared_->tls_wire->Create(conn_);
  }
}

}  // namespace mailtap
