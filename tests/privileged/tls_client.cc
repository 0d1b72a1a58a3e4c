#include "tls_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace mailtap::live_test {
namespace {

// A reply ends with a line whose fourth character is a space (RFC 5321 4.2).
size_t ReplyEnd(const std::string& buf) {
  size_t line = 0;
  while (true) {
    const size_t eol = buf.find("\r\n", line);
    if (eol == std::string::npos) return std::string::npos;
    if (eol - line >= 4 && buf[line + 3] == ' ') return eol + 2;
    line = eol + 2;
  }
}

}  // namespace

TlsSmtpClient::TlsSmtpClient(uint16_t port, Mode mode) : mode_(mode) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  timeval timeout{20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return;
  }
  sockaddr_in local{};
  socklen_t len = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  local_port_ = ntohs(local.sin_port);
  fd_ = fd;
}

TlsSmtpClient::~TlsSmtpClient() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) close(fd_);
}

bool TlsSmtpClient::SendPlain(std::string_view bytes) {
  return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

std::string TlsSmtpClient::ReadPlainReply() {
  std::string buf;
  char chunk[4096];
  while (ReplyEnd(buf) == std::string::npos) {
    const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return "";
    buf.append(chunk, static_cast<size_t>(n));
  }
  return buf;
}

bool TlsSmtpClient::StartTls() {
  if (fd_ < 0) return false;
  if (mode_ == Mode::kStartTls) {
    if (ReadPlainReply().rfind("220", 0) != 0) return false;
    if (!SendPlain("EHLO plain.example\r\n") || ReadPlainReply().rfind("250", 0) != 0) {
      return false;
    }
    if (!SendPlain("STARTTLS\r\n") || ReadPlainReply().rfind("220", 0) != 0) return false;
  }
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) return false;
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);  // the fixture's self-signed certificate
  ssl_ = SSL_new(ctx_);
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) return false;
  if (SSL_connect(ssl_) != 1) return false;
  // Implicit TLS (RFC 8314): the greeting is the first thing inside TLS.
  return mode_ == Mode::kStartTls || ReadReply().rfind("220", 0) == 0;
}

void TlsSmtpClient::Send(std::string_view bytes) {
  if (ssl_ == nullptr || bytes.empty()) return;
  const int n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
  if (n > 0) tls_sent_.append(bytes.substr(0, static_cast<size_t>(n)));
}

std::string TlsSmtpClient::ReadReply() {
  char chunk[16384];
  while (ssl_ != nullptr && ReplyEnd(unread_) == std::string::npos) {
    const int n = SSL_read(ssl_, chunk, sizeof chunk);
    if (n <= 0) return "";
    unread_.append(chunk, static_cast<size_t>(n));
    tls_received_.append(chunk, static_cast<size_t>(n));
  }
  const size_t end = ReplyEnd(unread_);
  if (end == std::string::npos) return "";
  std::string reply = unread_.substr(0, end);
  unread_.erase(0, end);
  return reply;
}

std::string TlsSmtpClient::Command(std::string_view line) {
  Send(std::string(line) + "\r\n");
  return ReadReply();
}

void TlsSmtpClient::Finish() {
  if (ssl_ != nullptr) SSL_shutdown(ssl_);
  if (fd_ >= 0) shutdown(fd_, SHUT_WR);
}

}  // namespace mailtap::live_test
