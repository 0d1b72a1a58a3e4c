#include "live_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "capture/privileges.h"

namespace mailtap::live_test {

bool RunningUnderCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

namespace {

std::string ProbeLiveCapture() {
  if (geteuid() != 0) return "not running as root";
  std::string missing = MissingCaptureCapabilities();
  if (!missing.empty()) return missing;
  try {
    LiveCaptureConfig config;
    config.interfaces = {"lo"};
    RingbufSource::Open(config);
  } catch (const std::runtime_error& e) {
    return std::string("cannot open live capture: ") + e.what();
  }
  return "";
}

std::string StartPostfix() {
  const std::string cmd =
      std::string(MAILTAP_SOURCE_DIR) + "/scripts/postfix-fixture.sh start 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return "cannot run " + cmd;
  std::string output;
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) output += buf;
  int status = pclose(pipe);
  if (status != 0) return "postfix fixture failed: " + output;
  return "";
}

}  // namespace

// Both probes run once per process: loading the program and configuring Postfix take seconds.
std::string LiveCaptureUnavailableReason() {
  static const std::string reason = ProbeLiveCapture();
  return reason;
}

std::string PostfixUnavailableReason() {
  static const std::string reason = StartPostfix();
  return reason;
}

SmtpClient::SmtpClient(const std::string& address, uint16_t port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    return;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  timeval timeout{20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    close(fd);
    return;
  }
  sockaddr_storage local{};
  socklen_t local_len = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);
  local_port_ =
      ntohs(local.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&local)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
  fd_ = fd;
}

SmtpClient::~SmtpClient() {
  if (fd_ >= 0) close(fd_);
}

void SmtpClient::Send(std::string_view bytes) {
  size_t done = 0;
  while (fd_ >= 0 && done < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  sent_.append(bytes.substr(0, done));
}

// A reply ends with a line whose fourth character is a space (RFC 5321 4.2).
static size_t ReplyEnd(const std::string& buf) {
  size_t line = 0;
  while (true) {
    size_t eol = buf.find("\r\n", line);
    if (eol == std::string::npos) return std::string::npos;
    if (eol - line >= 4 && buf[line + 3] == ' ') return eol + 2;
    if (eol - line == 3) return eol + 2;
    line = eol + 2;
  }
}

std::string SmtpClient::ReadReply() {
  while (ReplyEnd(unread_) == std::string::npos) {
    char buf[4096];
    ssize_t n = fd_ >= 0 ? recv(fd_, buf, sizeof buf, 0) : -1;
    if (n <= 0) return "";
    received_.append(buf, static_cast<size_t>(n));
    unread_.append(buf, static_cast<size_t>(n));
  }
  size_t end = ReplyEnd(unread_);
  std::string reply = unread_.substr(0, end);
  unread_.erase(0, end);
  return reply;
}

std::string SmtpClient::Command(std::string_view line) {
  Send(std::string(line) + "\r\n");
  return ReadReply();
}

void SmtpClient::Finish() {
  if (fd_ < 0) return;
  shutdown(fd_, SHUT_WR);
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd_, buf, sizeof buf, 0)) > 0) received_.append(buf, static_cast<size_t>(n));
  close(fd_);
  fd_ = -1;
}

Collector::Collector(RingbufSource* source) : source_(source), thread_([this] { Run(); }) {}

Collector::~Collector() {
  source_->Stop();
  thread_.join();
}

void Collector::Run() {
  TcpSegment seg;
  while (true) {
    CaptureStatus status = source_->Next(&seg);
    std::lock_guard<std::mutex> lock(mu_);
    if (status == CaptureStatus::kSegment) {
      Captured c{seg, std::string(seg.payload.begin(), seg.payload.end())};
      c.seg.payload = {};
      captured_.push_back(std::move(c));
      continue;
    }
    if (status == CaptureStatus::kEndOfInput) ended_ = true;
    ++idle_rounds_;
    cv_.notify_all();
    if (ended_) return;
  }
}

std::vector<Captured> Collector::Quiesce() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t start = idle_rounds_;
  // +2: a round that was already under way when we started may have missed the newest bytes.
  cv_.wait_for(lock, std::chrono::seconds(30), [&] { return idle_rounds_ >= start + 2 || ended_; });
  return captured_;
}

Direction Reassemble(const std::vector<Captured>& all, uint16_t sport, uint16_t dport) {
  Direction d;
  std::vector<const Captured*> data;
  uint32_t isn = 0;
  for (const Captured& c : all) {
    if (c.seg.src_port != sport || c.seg.dst_port != dport) continue;
    if (c.seg.Has(kTcpSyn)) {
      ++d.syns;
      isn = c.seg.seq + 1;
    }
    if (c.seg.Has(kTcpFin)) ++d.fins;
    if (c.seg.payload_wire_len > c.payload.size()) ++d.truncated;
    if (c.seg.payload_wire_len > 0) data.push_back(&c);
  }
  d.payload_segments = static_cast<int>(data.size());
  std::stable_sort(data.begin(), data.end(), [isn](const Captured* a, const Captured* b) {
    return a->seg.seq - isn < b->seg.seq - isn;
  });
  uint32_t expected = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    const uint32_t rel = data[i]->seg.seq - isn;
    if (i > 0 && data[i]->seg.seq == data[i - 1]->seg.seq) {
      ++d.duplicates;
      continue;
    }
    if (rel != expected) ++d.holes;
    d.bytes += data[i]->payload;
    expected = rel + static_cast<uint32_t>(data[i]->payload.size());
  }
  return d;
}

namespace {
class MapVisitor : public StatsVisitor {
 public:
  explicit MapVisitor(std::map<std::string, uint64_t>* out) : out_(out) {}
  void Visit(std::string_view, std::string_view name, uint64_t value, std::string_view, StatKind,
             Loss) override {
    (*out_)[std::string(name)] = value;
  }

 private:
  std::map<std::string, uint64_t>* out_;
};
}  // namespace

std::map<std::string, uint64_t> Stats(const StatsSource& source) {
  std::map<std::string, uint64_t> out;
  MapVisitor visitor(&out);
  source.VisitStats(visitor);
  return out;
}

}  // namespace mailtap::live_test
