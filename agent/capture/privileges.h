// Capabilities of live capture, and giving them up once the capture is set up.
//
// Needed at start-up only (by RingbufSource::Open):
//   CAP_NET_RAW   open the AF_PACKET socket;
//   CAP_BPF       create the maps and load the socket filter (Linux >= 5.8);
//   CAP_PERFMON   with CAP_BPF: without it the verifier explores Spectre v1 speculative paths
//                 and forbids per-path pointer offsets, and the program exceeds the 1M
//                 instruction complexity limit;
//   or CAP_SYS_ADMIN instead of CAP_BPF + CAP_PERFMON (the only choice before Linux 5.8).
// e.g. `setcap cap_bpf,cap_perfmon,cap_net_raw+ep mailtapd`, or run as root.
// Once the filter is attached and the ring and counters are mapped, nothing needs a capability:
// reading the ring, polling it and reading the mapped counters work for any user.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace mailtap {

// Empty when the effective capabilities allow live capture; otherwise one sentence naming each
// missing capability and what it is for. Never throws.
std::string MissingCaptureCapabilities();

// "mailtap" when that user exists, else "nobody".
std::string DefaultUnprivilegedUser();

struct UserIds {
  uid_t uid;
  gid_t gid;
};
// The user's uid and primary gid, or nullopt for an unknown user.
std::optional<UserIds> LookupUser(const std::string& user);

// Switches to `user` for good: supplementary groups = the user's primary group, real/effective/
// saved gid and uid = the user's, every capability set (effective, permitted, inheritable,
// ambient and, when CAP_SETPCAP allows, the bounding set) empty, and PR_SET_NO_NEW_PRIVS so no
// exec can regain any. Verifies the result and throws std::runtime_error with a precise message
// on any failure (unknown user, missing CAP_SETUID/CAP_SETGID, capabilities still present).
// REQUIRES: called before any other thread is started (capabilities are per thread); it throws
// if the process already has several threads.
void DropPrivileges(const std::string& user);

// For a helper process that must keep a few capabilities while the rest of the agent drops them
// all (the TLS library watcher, tls_library_watcher.h): effective and permitted = the current
// ones within `keep` (a mask of CAP_* bits), inheritable and ambient empty, the bounding set
// reduced to `keep` where CAP_SETPCAP allows, and PR_SET_NO_NEW_PRIVS. The uid is unchanged.
// Returns an empty string, or what failed. Never throws.
std::string KeepOnlyCapabilities(uint64_t keep);

}  // namespace mailtap
