// A blocking SMTP client for the privileged TLS tests: plain until STARTTLS (or TLS from the
// first byte for port 465), then OpenSSL. Records every plaintext byte it sends and receives
// inside TLS, which is what the server's TLS library sees from the other end.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace mailtap::live_test {

class TlsSmtpClient {
 public:
  enum class Mode { kStartTls, kImplicitTls };
  // Connects to 127.0.0.1:port; ok() tells whether it worked.
  TlsSmtpClient(uint16_t port, Mode mode);
  ~TlsSmtpClient();
  TlsSmtpClient(const TlsSmtpClient&) = delete;
  TlsSmtpClient& operator=(const TlsSmtpClient&) = delete;

  bool ok() const { return fd_ >= 0; }
  uint16_t local_port() const { return local_port_; }

  // kStartTls: greeting, EHLO, STARTTLS, handshake. kImplicitTls: handshake, greeting (recorded
  // as received inside TLS). False on failure.
  bool StartTls();
  // Inside TLS: sends `line` + CRLF and returns the complete reply ("" on error).
  std::string Command(std::string_view line);
  void Send(std::string_view bytes);
  std::string ReadReply();
  // Closes TLS (close_notify) and the socket.
  void Finish();

  const std::string& tls_sent() const { return tls_sent_; }
  const std::string& tls_received() const { return tls_received_; }

 private:
  std::string ReadPlainReply();
  bool SendPlain(std::string_view bytes);

  int fd_ = -1;
  uint16_t local_port_ = 0;
  Mode mode_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string unread_;  // received, not yet returned as a reply
  std::string tls_sent_;
  std::string tls_received_;
};

}  // namespace mailtap::live_test
