// The query socket's file-system side: directory, stale-socket replacement, modes, group, and
// the identity of connecting peers.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace mailtap {

// A bound, listening, non-blocking Unix stream socket, and the lock that proves it is ours.
struct ListeningSocket {
  UniqueFd fd;
  UniqueFd lock;               // flock'ed <path>.lock, held for the socket's lifetime
  std::optional<gid_t> group;  // the resolved --socket-group
  dev_t dev = 0;               // identity of the socket file we created, so that RemoveSocket
  ino_t ino = 0;               // never unlinks a file that another process put there
  dev_t lock_dev = 0;          // identity of the lock file, likewise
  ino_t lock_ino = 0;
  bool created_directory = false;  // the socket's directory was made by this agent
};

// Creates the socket at `path`:
//  - the directory is created if missing, mode 0750 with `group` (owner root/agent), else 0700;
//  - `<path>.lock` is flock'ed: a second agent on the same path is refused;
//  - an existing file at `path` is replaced only if it is a socket nobody listens on (connect()
//    is refused): a crashed run's leftover. A live socket or a non-socket file is an error;
//  - the socket is mode 0660 and owned by `group` when given, else 0600.
// Throws std::runtime_error naming the path and what to do (start-up only).
ListeningSocket OpenListeningSocket(const std::string& path,
                                    const std::optional<std::string>& group);

// Unlinks the socket file and its lock file if they are still the ones `socket` created (call
// while the lock is held: an agent waiting for the lock then finds it on a removed file and
// locks the path's new one).
void RemoveSocketFile(const std::string& path, const ListeningSocket& socket);

// Gives the socket's directory to `uid` if this agent created it, so that the agent can still
// remove its socket and lock file after dropping root for that user (a directory that existed
// before -- systemd's RuntimeDirectory, a hostPath -- is left as it is). False, logged, on
// failure.
bool HandSocketDirectoryTo(const std::string& path, const ListeningSocket& socket, uid_t uid);

// Resolves a group name or numeric gid. Throws std::runtime_error if unknown.
gid_t ResolveGroup(const std::string& group);

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (SO_PEERGROUPS), when the kernel tells
};

// SO_PEERCRED (+ SO_PEERGROUPS). Returns false if the kernel does not say.
bool GetPeerCredentials(int fd, PeerCredentials* out);

}  // namespace mailtap
