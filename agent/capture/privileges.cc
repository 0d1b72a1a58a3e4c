#include "capture/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace mailtap {
namespace {

// The three 64-bit capability sets of the calling thread (capget, version 3).
struct CapSets {
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
};

std::string ErrnoText(const char* what) {
  return std::string(what) + " failed: " + std::strerror(errno);
}

bool ReadCaps(CapSets* out) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  out->effective = data[0].effective | (uint64_t{data[1].effective} << 32);
  out->permitted = data[0].permitted | (uint64_t{data[1].permitted} << 32);
  out->inheritable = data[0].inheritable | (uint64_t{data[1].inheritable} << 32);
  return true;
}

bool Has(uint64_t set, int cap) { return (set >> cap) & 1; }

// Highest capability the running kernel knows (CAP_BPF exists from Linux 5.8).
int CapLastCap() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int last = CAP_LAST_CAP;
  if (!(in >> last)) return CAP_LAST_CAP;
  return last;
}

// kernel.unprivileged_bpf_disabled: 0 lets any user load socket filters.
bool UnprivilegedBpfAllowed() {
  std::ifstream in("/proc/sys/kernel/unprivileged_bpf_disabled");
  int value = 1;
  return (in >> value) && value == 0;
}

size_t ThreadCount() {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/task", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

void ClearCapabilitySets() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capset, &header, data) != 0) throw std::runtime_error(ErrnoText("capset"));
  // Ambient capabilities (Linux 4.3+); EINVAL means the kernel has none.
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    throw std::runtime_error(ErrnoText("prctl(PR_CAP_AMBIENT_CLEAR_ALL)"));
  }
}

// The bounding set limits what an exec could gain; dropping it needs CAP_SETPCAP, which a
// process started with only the capture capabilities lacks (PR_SET_NO_NEW_PRIVS covers that).
void DropBoundingSet() {
  CapSets caps;
  if (!ReadCaps(&caps) || !Has(caps.effective, CAP_SETPCAP)) return;
  for (int cap = 0; cap <= CapLastCap(); ++cap) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      throw std::runtime_error(ErrnoText("prctl(PR_CAPBSET_DROP)"));
    }
  }
}

void SwitchUser(const passwd& pw) {
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  getresuid(&ruid, &euid, &suid);
  getresgid(&rgid, &egid, &sgid);
  bool same = ruid == pw.pw_uid && euid == pw.pw_uid && suid == pw.pw_uid && rgid == pw.pw_gid &&
              egid == pw.pw_gid && sgid == pw.pw_gid;
  if (same) return;
  const std::string who = "'" + std::string(pw.pw_name) + "'";
  if (setgroups(1, &pw.pw_gid) != 0) {
    throw std::runtime_error(ErrnoText("setgroups") + " (switching to user " + who +
                             " needs CAP_SETGID)");
  }
  if (setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid) != 0) {
    throw std::runtime_error(ErrnoText("setresgid") + " (needs CAP_SETGID)");
  }
  if (setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid) != 0) {
    throw std::runtime_error(ErrnoText("setresuid") + " (switching to user " + who +
                             " needs CAP_SETUID)");
  }
}

void Verify(const passwd& pw) {
  CapSets caps;
  if (!ReadCaps(&caps)) throw std::runtime_error(ErrnoText("capget"));
  if (caps.effective != 0 || caps.permitted != 0 || caps.inheritable != 0) {
    throw std::runtime_error("capabilities remain after dropping privileges");
  }
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  getresuid(&ruid, &euid, &suid);
  getresgid(&rgid, &egid, &sgid);
  if (ruid != pw.pw_uid || euid != pw.pw_uid || suid != pw.pw_uid || rgid != pw.pw_gid ||
      egid != pw.pw_gid || sgid != pw.pw_gid) {
    throw std::runtime_error("uid/gid did not change to those of '" + std::string(pw.pw_name) +
                             "'");
  }
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
    throw std::runtime_error("PR_SET_NO_NEW_PRIVS did not stick");
  }
  if (pw.pw_uid != 0 && setuid(0) == 0) {
    throw std::runtime_error("could switch back to root after dropping privileges");
  }
}

}  // namespace

std::string MissingCaptureCapabilities() {
  CapSets caps;
  if (!ReadCaps(&caps)) return ErrnoText("capget");
  std::string missing;
  if (!Has(caps.effective, CAP_NET_RAW)) {
    missing = "CAP_NET_RAW (to open the AF_PACKET socket)";
  }
  const bool kernel_has_cap_bpf = CapLastCap() >= CAP_BPF;
  const bool sys_admin = Has(caps.effective, CAP_SYS_ADMIN);
  std::string bpf_missing;
  if (!sys_admin && !UnprivilegedBpfAllowed()) {
    if (!kernel_has_cap_bpf) {
      bpf_missing =
          "CAP_SYS_ADMIN (this kernel predates CAP_BPF, Linux 5.8, so loading the eBPF "
          "program needs CAP_SYS_ADMIN)";
    } else if (!Has(caps.effective, CAP_BPF)) {
      bpf_missing = "CAP_BPF (to create the maps and load the eBPF program)";
    }
  }
  // Without CAP_PERFMON the verifier adds Spectre v1 path exploration and pointer-arithmetic
  // restrictions under which the program exceeds its complexity limit.
  if (!sys_admin && kernel_has_cap_bpf && !Has(caps.effective, CAP_PERFMON)) {
    if (!bpf_missing.empty()) bpf_missing += " and ";
    bpf_missing +=
        "CAP_PERFMON (the verifier accepts the program only from a perfmon-capable "
        "loader)";
  }
  if (!bpf_missing.empty()) {
    if (!missing.empty()) missing += " and ";
    missing += bpf_missing;
  }
  if (missing.empty()) return missing;
  return "live capture needs " + missing +
         ": run mailtapd as root, or grant them, e.g. "
         "setcap cap_bpf,cap_perfmon,cap_net_raw+ep mailtapd";
}

std::string DefaultUnprivilegedUser() { return getpwnam("mailtap") ? "mailtap" : "nobody"; }

std::optional<UserIds> LookupUser(const std::string& user) {
  const passwd* pw = getpwnam(user.c_str());
  if (pw == nullptr) return std::nullopt;
  return UserIds{pw->pw_uid, pw->pw_gid};
}

void DropPrivileges(const std::string& user) {
  const size_t threads = ThreadCount();
  if (threads > 1) {
    throw std::runtime_error("dropping privileges must happen before other threads start (" +
                             std::to_string(threads) + " threads running)");
  }
  errno = 0;
  passwd* found = getpwnam(user.c_str());
  if (found == nullptr) {
    throw std::runtime_error("cannot drop privileges to unknown user '" + user + "'");
  }
  passwd pw = *found;  // getpwnam's buffer is static; copy the fields used below
  std::string name = pw.pw_name;
  pw.pw_name = name.data();
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    throw std::runtime_error(ErrnoText("prctl(PR_SET_NO_NEW_PRIVS)"));
  }
  DropBoundingSet();
  SwitchUser(pw);
  ClearCapabilitySets();
  Verify(pw);
}

std::string KeepOnlyCapabilities(uint64_t keep) {
  CapSets caps;
  if (!ReadCaps(&caps)) return ErrnoText("capget");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return ErrnoText("prctl(PR_SET_NO_NEW_PRIVS)");
  if (Has(caps.effective, CAP_SETPCAP)) {
    for (int cap = 0; cap <= CapLastCap(); ++cap) {
      if (!Has(keep, cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
        return ErrnoText("prctl(PR_CAPBSET_DROP)");
      }
    }
  }
  const uint64_t kept = caps.permitted & keep;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  data[0].effective = data[0].permitted = static_cast<uint32_t>(kept);
  data[1].effective = data[1].permitted = static_cast<uint32_t>(kept >> 32);
  if (syscall(SYS_capset, &header, data) != 0) return ErrnoText("capset");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return ErrnoText("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  }
  return "";
}

}  // namespace mailtap
