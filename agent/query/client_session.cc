#include "query/client_session.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

namespace mailtap {
namespace {

// Output is gathered up to this many bytes per send(): large enough for few syscalls, small
// enough that a slow client holds little memory beyond its (bounded) queue.
constexpr size_t kOutputChunk = 64 * 1024;
constexpr size_t kTakeBatch = 256;
constexpr size_t kReadChunk = 4096;

}  // namespace

ClientSession::ClientSession(UniqueFd fd, SessionHost& host, SessionLimits limits, SteadyTime now)
    : fd_(std::move(fd)), host_(host), limits_(limits), accepted_(now), last_progress_(now) {}

ClientSession::~ClientSession() {
  if (subscription_) host_.Unsubscribe(subscription_);
}

ClientSession::Next ClientSession::OnReadable(SteadyTime now) {
  char buf[kReadChunk];
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Next::kKeep;
    if (n < 0) return Next::kClose;
    if (n == 0) {
      // The client finished sending. A request without its final newline still counts; with
      // nothing at all there is nobody to answer.
      read_closed_ = true;
      if (state_ != State::kReadingRequest) return Next::kKeep;
      if (in_.empty()) return Next::kClose;
      return HandleRequestLine(std::exchange(in_, {}), now);
    }
    if (state_ != State::kReadingRequest) continue;  // one request per connection: ignore more
    in_.append(buf, static_cast<size_t>(n));
    size_t newline = in_.find('\n');
    if (newline != std::string::npos) {
      std::string line = in_.substr(0, newline);
      in_.clear();
      return HandleRequestLine(std::move(line), now);
    }
    if (in_.size() > limits_.max_request_bytes) {
      return Fail(
          {query_errors::kRequestTooLong,
           "request line longer than " + std::to_string(limits_.max_request_bytes) + " bytes"},
          now);
    }
  }
}

ClientSession::Next ClientSession::HandleRequestLine(std::string line, SteadyTime now) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > limits_.max_request_bytes) {
    return Fail(
        {query_errors::kRequestTooLong,
         "request line longer than " + std::to_string(limits_.max_request_bytes) + " bytes"},
        now);
  }
  QueryRequest request;
  QueryError error;
  if (!ParseQueryRequest(line, &request, &error)) return Fail(error, now);
  QueryResponse response;
  host_.Answer(request, &response);
  // Kept as they are and moved to the socket's buffer as it drains: a reply of 10^5 lines is
  // held once, and counted by the server's output budget.
  for (auto& l : response.lines) {
    pending_bytes_ += l.size() + 1;
    pending_lines_.push_back(std::move(l));
  }
  data_items_ = response.data_lines;
  backlog_.assign(response.backlog.begin(), response.backlog.end());
  for (const auto& item : backlog_) backlog_bytes_ += item->HeldBytes();
  subscription_ = std::move(response.subscription);
  end_pending_ = subscription_ == nullptr;
  state_ = State::kResponding;
  return Pump(now);
}

ClientSession::Next ClientSession::Fail(const QueryError& error, SteadyTime now) {
  host_.CountBadRequest(error);
  return Refuse(error, now);
}

ClientSession::Next ClientSession::Refuse(const QueryError& error, SteadyTime now) {
  AppendLine(ErrorMessage(error));
  state_ = State::kClosing;
  return Pump(now);
}

void ClientSession::AppendLine(const std::string& line) {
  out_ += line;
  out_ += '\n';
}

void ClientSession::Fill() {
  if (out_off_ > 0) {
    out_.erase(0, out_off_);
    out_off_ = 0;
  }
  while (out_.size() < kOutputChunk && !pending_lines_.empty()) {
    AppendLine(pending_lines_.front());
    pending_bytes_ -= pending_lines_.front().size() + 1;
    pending_lines_.pop_front();
  }
  while (out_.size() < kOutputChunk && pending_lines_.empty() && !backlog_.empty()) {
    backlog_bytes_ -= std::min(backlog_bytes_, backlog_.front()->HeldBytes());
    AppendLine(backlog_.front()->Json());
    backlog_.pop_front();
    ++data_items_;
  }
  if (out_.size() < kOutputChunk && pending_lines_.empty() && backlog_.empty() && subscription_) {
    std::vector<ItemPtr> items;
    uint64_t lost = host_.Take(*subscription_, kTakeBatch, &items);
    // The lost items were older than everything still queued: the notice goes exactly where
    // the gap is.
    if (lost > 0) AppendLine(LostMessage(lost));
    for (const auto& item : items) AppendLine(item->Json());
    data_items_ += items.size();
  }
  if (pending_lines_.empty() && backlog_.empty() && end_pending_) {
    AppendLine(EndMessage(data_items_));
    end_pending_ = false;
    state_ = State::kClosing;
  }
}

ClientSession::WriteResult ClientSession::Write(SteadyTime now) {
  while (!OutputEmpty()) {
    ssize_t n = ::send(fd_.get(), out_.data() + out_off_, out_.size() - out_off_,
                       MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return WriteResult::kBlocked;
    if (n < 0) return WriteResult::kError;
    out_off_ += static_cast<size_t>(n);
    last_progress_ = now;
  }
  return WriteResult::kDone;
}

ClientSession::Next ClientSession::Pump(SteadyTime now) {
  if (state_ == State::kReadingRequest) return Next::kKeep;
  for (;;) {
    if (state_ != State::kClosing) Fill();
    if (OutputEmpty()) {
      write_blocked_ = false;
      return state_ == State::kClosing ? Next::kClose : Next::kKeep;
    }
    if (!write_blocked_) last_progress_ = now;  // the idle clock starts when output waits
    WriteResult r = Write(now);
    if (r == WriteResult::kError) return Next::kClose;
    write_blocked_ = r == WriteResult::kBlocked;
    if (write_blocked_) return Next::kKeep;
  }
}

std::optional<SteadyTime> ClientSession::Deadline() const {
  if (state_ == State::kReadingRequest) return accepted_ + limits_.request_timeout;
  if (write_blocked_) return last_progress_ + limits_.idle_timeout;
  return std::nullopt;
}

ClientSession::Next ClientSession::OnTimer(SteadyTime now) {
  std::optional<SteadyTime> deadline = Deadline();
  if (!deadline || now < *deadline) return Next::kKeep;
  if (state_ == State::kReadingRequest) {
    host_.CountRequestTimeout();
    return Refuse({query_errors::kRequestTimeout,
                   "no complete request line within " +
                       std::to_string(limits_.request_timeout.count()) + " ms"},
                  now);
  }
  host_.CountWriteTimeout();
  return Next::kClose;
}

void ClientSession::SendFinal(const std::string& line) {
  if (!OutputEmpty()) return;
  std::string text = line + "\n";
  (void)::send(fd_.get(), text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

}  // namespace mailtap
