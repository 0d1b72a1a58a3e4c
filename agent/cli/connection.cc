#include "cli/connection.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace mailtap::cli {

namespace {

std::string OriginText(SocketOrigin origin) {
  switch (origin) {
    case SocketOrigin::kOption:
      return "given with --socket";
    case SocketOrigin::kEnvironment:
      return "from $MAILTAP_SOCKET";
    case SocketOrigin::kDefault:
      return "the default";
  }
  return "";
}

constexpr char kPointElsewhere[] =
    "point --socket PATH (or $MAILTAP_SOCKET) at the agent's socket, as given to mailtapd "
    "--socket; a replay (mailtapd -r) serves queries only with --socket PATH --keep-serving";

const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISFIFO(mode)) return "a named pipe";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a socket";
}

// Why connect() failed, in the user's terms: is there an agent, is this its socket, may I.
ConnectResult Explain(const std::string& path, SocketOrigin origin, int err) {
  struct stat st {};
  bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && !S_ISSOCK(st.st_mode)) {
    return {ConnectStatus::kOtherError, path + " (" + OriginText(origin) + ") is " +
                                            FileKind(st.st_mode) +
                                            ", not a socket: " + kPointElsewhere};
  }
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return {ConnectStatus::kNotRunning, "agent not running: no socket at " + path + " (" +
                                              OriginText(origin) + "); start mailtapd, or " +
                                              kPointElsewhere};
    case ECONNREFUSED:
      return {ConnectStatus::kNotRunning,
              "agent not running: nothing is listening on the socket " + path + " (" +
                  OriginText(origin) + "; left by a mailtapd that stopped); start mailtapd, or " +
                  kPointElsewhere};
    case EACCES:
    case EPERM:
      return {ConnectStatus::kPermissionDenied,
              "permission denied: cannot connect to " + path +
                  " (run as root, as the agent's user, or as a member of the agent's "
                  "--socket-group)"};
    default:
      return {ConnectStatus::kOtherError, "cannot connect to " + path + ": " + std::strerror(err)};
  }
}

}  // namespace

ConnectResult AgentConnection::Connect(const std::string& path, SocketOrigin origin) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return {ConnectStatus::kOtherError, "socket path '" + path +
                                            "' is empty or too long (at most " +
                                            std::to_string(sizeof(addr.sun_path) - 1) + " bytes)"};
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  fd_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd_.valid())
    return {ConnectStatus::kOtherError, std::string("socket: ") + std::strerror(errno)};
  if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    return {ConnectStatus::kOk, ""};
  }
  return Explain(path, origin, errno);
}

bool AgentConnection::SendLine(const std::string& line) {
  std::string data = line + "\n";
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd_.get(), data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

void AgentConnection::SetReadTimeout(int seconds) {
  timeval tv{};
  tv.tv_sec = seconds;
  (void)::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

std::optional<std::string> AgentConnection::ReadLine() {
  for (;;) {
    size_t newline = buffer_.find('\n', offset_);
    if (newline != std::string::npos) {
      std::string line = buffer_.substr(offset_, newline - offset_);
      offset_ = newline + 1;
      if (offset_ > 64 * 1024) {
        buffer_.erase(0, offset_);
        offset_ = 0;
      }
      return line;
    }
    char chunk[65536];
    ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace mailtap::cli
