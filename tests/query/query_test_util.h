// Helpers for the query tests: a temporary directory, synthetic events, and a raw protocol
// client whose reads are bounded by a failure guard (never used for synchronisation).
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "mailtap/events.h"
#include "mailtap/flow.h"

namespace mailtap::testing {

// Generous: only a broken server ever waits this long.
inline constexpr int kGuardMillis = 20000;

class TempDir {
 public:
  TempDir() {
    std::string templ = "/tmp/mailtap-query-XXXXXX";
    char* made = ::mkdtemp(templ.data());
    if (made != nullptr) path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Connections with stable addresses, as the flow table would own them.
inline const Connection& TestConnection(int n) {
  static std::deque<Connection> conns;
  while (static_cast<int>(conns.size()) <= n) {
    Connection c;
    int i = static_cast<int>(conns.size());
    c.uid = "CTest" + std::to_string(i);
    c.community_id = "1:cid" + std::to_string(i) + "=";
    IpAddress::Parse("10.0.0." + std::to_string(i + 1), &c.id.orig_h);
    c.id.orig_p = static_cast<uint16_t>(40000 + i);
    IpAddress::Parse("192.0.2.25", &c.id.resp_h);
    c.id.resp_p = i % 2 == 0 ? 25 : 587;
    c.start = Timestamp{1700000000000000};
    conns.push_back(c);
  }
  return conns[static_cast<size_t>(n)];
}

// smtp_request number `seq` (arg "seq=<seq>") on connection `conn`, at ts base + seq ms.
inline Event Request(int seq, int conn = 0, std::string command = "NOOP") {
  return ev::smtp_request::Make(
      Timestamp{1700000000000000 + int64_t{seq} * 1000}, &TestConnection(conn),
      {.is_orig = true, .command = std::move(command), .arg = "seq=" + std::to_string(seq)});
}

inline Event Reply(int seq, int conn = 0, int64_t code = 250, std::string cmd = "NOOP") {
  return ev::smtp_reply::Make(Timestamp{1700000000000000 + int64_t{seq} * 1000},
                              &TestConnection(conn),
                              {.is_orig = false,
                               .code = code,
                               .cmd = std::move(cmd),
                               .msg = "ok seq=" + std::to_string(seq),
                               .cont_resp = false});
}

// A protocol client over a raw socket.
class RawClient {
 public:
  bool Connect(const std::string& path) {
    fd_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    return ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  void SetReceiveBuffer(int bytes) {
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }
  bool Send(const std::string& data) {
    return ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(data.size());
  }
  // The next line, or nullopt at end of stream (or when the guard expires).
  std::optional<std::string> ReadLine() {
    for (;;) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, kGuardMillis) <= 0) return std::nullopt;
      char chunk[65536];
      ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
      if (n <= 0) return std::nullopt;
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }
  // All remaining lines until the server closes.
  std::vector<std::string> ReadAll() {
    std::vector<std::string> lines;
    while (auto l = ReadLine()) lines.push_back(*l);
    return lines;
  }
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::string buf_;
};

}  // namespace mailtap::testing
