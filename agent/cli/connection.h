// The client's side of the query socket: connect, send one request, read lines.
#pragma once

#include <optional>
#include <string>

#include "common/unique_fd.h"

namespace mailtap::cli {

// Where the socket path came from, for messages that say how to point elsewhere.
enum class SocketOrigin { kOption, kEnvironment, kDefault };

enum class ConnectStatus { kOk, kNotRunning, kPermissionDenied, kOtherError };

struct ConnectResult {
  ConnectStatus status = ConnectStatus::kOtherError;
  std::string message;  // for the user: what failed and what to do
};

class AgentConnection {
 public:
  // Connects to the agent's socket at `path` (which came from `origin`).
  ConnectResult Connect(const std::string& path, SocketOrigin origin);
  // Writes `line` and a newline. False on error.
  bool SendLine(const std::string& line);
  // Blocks until a full line arrives (returned without its newline), or returns nullopt at end
  // of stream or on error (timeout included when `timeout_seconds` > 0 was set).
  std::optional<std::string> ReadLine();
  // True when the next ReadLine() returns without waiting for the agent.
  bool HasBufferedLine() const { return buffer_.find('\n', offset_) != std::string::npos; }
  void SetReadTimeout(int seconds);

 private:
  UniqueFd fd_;
  std::string buffer_;
  size_t offset_ = 0;
};

}  // namespace mailtap::cli
