// One connected query client, driven by the server thread: read one request line, then write
// the response (and, when following, everything that arrives) without ever blocking.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "query/hub.h"
#include "query/protocol.h"

namespace mailtap {

using SteadyTime = std::chrono::steady_clock::time_point;

// What the server answers to a request: protocol/data lines first, then `backlog`, then the
// subscription's items (if any); without a subscription an end message follows and the
// connection is closed.
struct QueryResponse {
  std::vector<std::string> lines;  // each one JSON line, without newline
  uint64_t data_lines = 0;         // how many of `lines` are data items (for the end message)
  std::vector<ItemPtr> backlog;
  std::shared_ptr<Subscription> subscription;
};

// The server side a session calls back into. Server thread only.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual void Answer(const QueryRequest& request, QueryResponse* response) = 0;
  virtual void Unsubscribe(const std::shared_ptr<Subscription>& subscription) = 0;
  // Takes queued items of a follower (Hub::Take).
  virtual uint64_t Take(Subscription& subscription, size_t max, std::vector<ItemPtr>* out) = 0;
  virtual void CountBadRequest(const QueryError& error) = 0;
  virtual void CountRequestTimeout() = 0;
  virtual void CountWriteTimeout() = 0;
};

struct SessionLimits {
  size_t max_request_bytes;
  std::chrono::milliseconds request_timeout;
  std::chrono::milliseconds idle_timeout;
};

class ClientSession {
 public:
  enum class Next { kKeep, kClose };

  ClientSession(UniqueFd fd, SessionHost& host, SessionLimits limits, SteadyTime now);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  int fd() const { return fd_.get(); }
  // Socket readiness and timers. Each returns kClose when the session is over.
  Next OnReadable(SteadyTime now);
  Next Pump(SteadyTime now);  // moves queued output to the socket
  Next OnTimer(SteadyTime now);
  std::optional<SteadyTime> Deadline() const;
  bool WantsRead() const { return !read_closed_ && state_ == State::kReadingRequest; }
  bool WantsWrite() const { return write_blocked_; }
  bool ReadClosed() const { return read_closed_; }
  bool Following() const { return subscription_ != nullptr; }
  // Output waiting for the client: reply lines, backlog items and the bytes gathered for the
  // socket. What the server's output budget counts.
  size_t QueuedBytes() const { return out_.size() - out_off_ + pending_bytes_ + backlog_bytes_; }
  // Whether output has waited for the client, which took none of it, for at least `d`.
  bool StalledFor(std::chrono::milliseconds d, SteadyTime now) const {
    return write_blocked_ && now - last_progress_ >= d;
  }
  // Reply lines and items not yet handed to the socket (the loss if the client is dropped).
  uint64_t QueuedItems() const { return pending_lines_.size() + backlog_.size(); }

  // Best-effort last words before the server stops (only at a line boundary).
  void SendFinal(const std::string& line);
  // Sends an error line and closes after it (used for refused peers and the client limit).
  Next Refuse(const QueryError& error, SteadyTime now);

 private:
  enum class State { kReadingRequest, kResponding, kClosing };

  Next HandleRequestLine(std::string line, SteadyTime now);
  Next Fail(const QueryError& error, SteadyTime now);
  void Fill();
  void AppendLine(const std::string& line);
  enum class WriteResult { kDone, kBlocked, kError };
  WriteResult Write(SteadyTime now);
  bool OutputEmpty() const { return out_off_ >= out_.size(); }

  UniqueFd fd_;
  SessionHost& host_;
  SessionLimits limits_;
  SteadyTime accepted_;
  SteadyTime last_progress_;
  State state_ = State::kReadingRequest;
  bool read_closed_ = false;
  bool write_blocked_ = false;
  std::string in_;
  std::string out_;
  size_t out_off_ = 0;
  std::deque<std::string> pending_lines_;  // the reply's lines, moved to out_ as it drains
  size_t pending_bytes_ = 0;
  std::deque<ItemPtr> backlog_;
  size_t backlog_bytes_ = 0;  // Item::HeldBytes of backlog_
  std::shared_ptr<Subscription> subscription_;
  bool end_pending_ = false;
  uint64_t data_items_ = 0;
};

}  // namespace mailtap
