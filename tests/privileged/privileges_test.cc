// DropPrivileges changes the whole process for good, so each case runs in a forked child that
// reports through its exit status (no gtest machinery in the child).
#include "capture/privileges.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>
#include <string>

#include "capture/ringbuf_source.h"
#include "live_fixture.h"

namespace mailtap {
namespace {

// Runs `body` in a child; returns its exit code (or 100 + signal).
template <typename F>
int InChild(F body) {
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

bool NoCapabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  for (const auto& d : data) {
    if (d.effective != 0 || d.permitted != 0 || d.inheritable != 0) return false;
  }
  return true;
}

TEST(DropPrivilegesTest, UnknownUserIsNamedInTheError) {
  int code = InChild([] {
    try {
      DropPrivileges("mailtap-no-such-user");
    } catch (const std::runtime_error& e) {
      return std::string(e.what()).find("'mailtap-no-such-user'") != std::string::npos ? 0 : 2;
    }
    return 1;
  });
  EXPECT_EQ(code, 0);
}

TEST(DropPrivilegesTest, DefaultUserExists) {
  const std::string user = DefaultUnprivilegedUser();
  EXPECT_TRUE(user == "mailtap" || user == "nobody") << user;
}

// After attach + mmap, the capture keeps working as "nobody" with no capability at all, and
// the process cannot become root again.
TEST(DropPrivilegesTest, CaptureKeepsWorkingAsNobodyWithoutCapabilities) {
  MAILTAP_SKIP_OR_FAIL(live_test::LiveCaptureUnavailableReason());
  MAILTAP_SKIP_OR_FAIL(live_test::PostfixUnavailableReason());
  int code = InChild([] {
    try {
      LiveCaptureConfig config;
      config.interfaces = {"lo"};
      auto source = RingbufSource::Open(config);
      DropPrivileges("nobody");
      if (getuid() != 65534 && geteuid() != 65534) return 3;
      if (!NoCapabilities()) return 4;
      if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return 5;
      if (setuid(0) == 0) return 6;
      live_test::SmtpClient client("127.0.0.1", 25);
      if (!client.ok() || client.ReadReply().rfind("220", 0) != 0) return 7;
      client.Command("QUIT");
      client.Finish();
      TcpSegment seg;
      int greeting_segments = 0;
      while (source->Next(&seg) == CaptureStatus::kSegment) {
        if (seg.src_port == 25 && seg.dst_port == client.local_port() && !seg.payload.empty()) {
          ++greeting_segments;
        }
      }
      if (greeting_segments == 0) return 8;
      if (live_test::Stats(*source)["kernel_matched"] == 0) return 9;  // counters still readable
      return 0;
    } catch (const std::exception&) {
      return 10;
    }
  });
  EXPECT_EQ(code, 0) << "3 uid, 4 capabilities, 5 no_new_privs, 6 root again, 7 connect, "
                        "8 nothing captured, 9 counters, 10 exception";
}

TEST(MissingCaptureCapabilitiesTest, NamesTheCapabilitiesAnUnprivilegedProcessLacks) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to fork a child and drop its capabilities";
  int code = InChild([] {
    try {
      DropPrivileges("nobody");
    } catch (const std::exception&) {
      return 2;
    }
    const std::string missing = MissingCaptureCapabilities();
    if (missing.find("CAP_NET_RAW") == std::string::npos) return 3;
    std::ifstream sysctl("/proc/sys/kernel/unprivileged_bpf_disabled");
    int unprivileged_bpf_disabled = 1;
    sysctl >> unprivileged_bpf_disabled;
    if (unprivileged_bpf_disabled != 0 && missing.find("CAP_BPF") == std::string::npos) return 4;
    try {
      LiveCaptureConfig config;
      RingbufSource::Open(config);
    } catch (const std::runtime_error& e) {
      return std::string(e.what()).find("CAP_NET_RAW") != std::string::npos ? 0 : 5;
    }
    return 6;
  });
  EXPECT_EQ(code, 0);
}

}  // namespace
}  // namespace mailtap
