#include "query/socket_setup.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "common/log.h"

namespace mailtap {
namespace {

constexpr int kListenBacklog = 64;

[[noreturn]] void Throw(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err));
}

sockaddr_un Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    throw std::runtime_error("query socket path '" + path + "' must be 1 to " +
                             std::to_string(sizeof(addr.sun_path) - 1) + " bytes long");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// Returns whether it created the directory.
bool PrepareDirectory(const std::string& path, std::optional<gid_t> gid) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) return false;
  mode_t mode = gid ? 0750 : 0700;
  if (::mkdir(dir.c_str(), mode) == 0) {
    // mkdir's mode is filtered by the umask; set it exactly.
    if (gid && ::chown(dir.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
      Throw("cannot give socket directory " + dir + " to its group", errno);
    }
    if (::chmod(dir.c_str(), mode) != 0) Throw("cannot set the mode of " + dir, errno);
    return true;
  }
  if (errno != EEXIST) Throw("cannot create socket directory " + dir, errno);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw std::runtime_error("socket directory " + dir + " is not a directory");
  }
  return false;
}

// Whether `fd` is the file at `path` now (the lock file was not removed and made anew meanwhile).
bool IsFileAt(int fd, const std::string& path, struct stat* st) {
  struct stat at_path {};
  return ::fstat(fd, st) == 0 && ::stat(path.c_str(), &at_path) == 0 &&
         st->st_dev == at_path.st_dev && st->st_ino == at_path.st_ino;
}

// The stopping agent removes its lock file while holding the lock: a file locked after that is
// no longer the path's, so the lock is taken again on the path's new file.
void LockAgainstOtherAgents(const std::string& path, ListeningSocket* s) {
  std::string lock_path = path + ".lock";
  for (int attempt = 0; attempt < 100; ++attempt) {
    UniqueFd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) Throw("cannot create lock file " + lock_path, errno);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        throw std::runtime_error("another mailtapd is already serving queries on " + path +
                                 " (it holds " + lock_path +
                                 "); stop it or choose another --socket");
      }
      Throw("cannot lock " + lock_path, errno);
    }
    struct stat st {};
    if (!IsFileAt(fd.get(), lock_path, &st)) continue;
    s->lock = std::move(fd);
    s->lock_dev = st.st_dev;
    s->lock_ino = st.st_ino;
    return;
  }
  throw std::runtime_error("cannot lock " + lock_path + ": it keeps being replaced");
}

// A socket file left by a crashed agent is replaced; a live one is not (connect() tells).
void RemoveStaleSocket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    Throw("cannot inspect " + path, errno);
  }
  if (!S_ISSOCK(st.st_mode)) {
    throw std::runtime_error(path + " exists and is not a socket; refusing to replace it");
  }
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!probe.valid()) Throw("cannot create a socket", errno);
  sockaddr_un addr = Address(path);
  int rc = ::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc == 0 || errno == EAGAIN) {
    throw std::runtime_error("another agent is already serving queries on " + path +
                             "; stop it or choose another --socket");
  }
  if (errno != ECONNREFUSED) Throw("cannot check whether " + path + " is in use", errno);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    Throw("cannot remove stale socket " + path, errno);
  }
}

void BindAndListen(const std::string& path, ListeningSocket* s) {
  sockaddr_un addr = Address(path);
  s->fd = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s->fd.valid()) Throw("cannot create the query socket", errno);
  mode_t mode = s->group ? 0660 : 0600;
  // Linux creates the socket file with the socket inode's mode minus the umask: narrowing it
  // first leaves no moment where the file is more open than intended.
  (void)::fchmod(s->fd.get(), mode);
  if (::bind(s->fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    Throw("cannot bind the query socket " + path, errno);
  }
  if (s->group && ::chown(path.c_str(), static_cast<uid_t>(-1), *s->group) != 0) {
    Throw("cannot give " + path + " to its group", errno);
  }
  if (::chmod(path.c_str(), mode) != 0) Throw("cannot set the mode of " + path, errno);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) Throw("cannot inspect " + path, errno);
  s->dev = st.st_dev;
  s->ino = st.st_ino;
  if (::listen(s->fd.get(), kListenBacklog) != 0) Throw("cannot listen on " + path, errno);
}

}  // namespace

gid_t ResolveGroup(const std::string& group) {
  std::vector<char> buf(16384);
  struct group gr {};
  struct group* result = nullptr;
  if (::getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &result) == 0 && result) {
    return result->gr_gid;
  }
  if (!group.empty() && group.find_first_not_of("0123456789") == std::string::npos &&
      group.size() < 10) {
    return static_cast<gid_t>(std::stoul(group));
  }
  throw std::runtime_error("--socket-group: unknown group '" + group + "'");
}

ListeningSocket OpenListeningSocket(const std::string& path,
                                    const std::optional<std::string>& group) {
  ListeningSocket s;
  if (group) s.group = ResolveGroup(*group);
  Address(path);  // validates the length before touching the file system
  s.created_directory = PrepareDirectory(path, s.group);
  LockAgainstOtherAgents(path, &s);
  RemoveStaleSocket(path);
  BindAndListen(path, &s);
  return s;
}

void RemoveSocketFile(const std::string& path, const ListeningSocket& socket) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && st.st_dev == socket.dev && st.st_ino == socket.ino &&
      ::unlink(path.c_str()) != 0) {
    Log(Severity::kWarn, "cannot remove the query socket {}: {}", path, std::strerror(errno));
  }
  const std::string lock_path = path + ".lock";
  if (socket.lock.valid() && ::lstat(lock_path.c_str(), &st) == 0 && st.st_dev == socket.lock_dev &&
      st.st_ino == socket.lock_ino && ::unlink(lock_path.c_str()) != 0) {
    Log(Severity::kWarn, "cannot remove {}: {}", lock_path, std::strerror(errno));
  }
}

bool HandSocketDirectoryTo(const std::string& path, const ListeningSocket& socket, uid_t uid) {
  if (!socket.created_directory) return true;
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (::chown(dir.c_str(), uid, static_cast<gid_t>(-1)) == 0) return true;
  Log(Severity::kWarn,
      "cannot give the socket directory {} to uid {}: {}; the socket will be "
      "left behind at exit",
      dir, uid, std::strerror(errno));
  return false;
}

bool GetPeerCredentials(int fd, PeerCredentials* out) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  out->pid = cred.pid;
  out->uid = cred.uid;
  out->gid = cred.gid;
#ifdef SO_PEERGROUPS
  std::vector<gid_t> groups(64);
  socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
    groups.resize(glen / sizeof(gid_t));
    out->groups = std::move(groups);
  }
#endif
  return true;
}

}  // namespace mailtap
