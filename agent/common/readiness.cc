#include "common/readiness.h"

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/log.h"
#ifdef MAILTAP_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace mailtap {
namespace {

std::atomic<bool> ready_sent{false};
std::atomic<bool> stopping_sent{false};

// The unit's Type=notify waits for this message: if it is lost, systemd gives up on the start
// after TimeoutStartSec= and stops the agent, so a failure is worth a warning that says so.
void Send(const std::string& state) {
#ifdef MAILTAP_HAVE_SYSTEMD
  // unset_environment=0: a child started later (none today) may still need the variable.
  const int sent = sd_notify(0, state.c_str());
  if (sent < 0) {
    Log(Severity::kWarn, "cannot notify the service manager ({}): {}", state.substr(0, 10),
        std::strerror(-sent));
  }
#else
  if (std::getenv("NOTIFY_SOCKET") != nullptr) {
    Log(Severity::kWarn,
        "NOTIFY_SOCKET is set but mailtapd was built without libsystemd: the service manager "
        "is not told it is ready (rebuild with libsystemd-dev installed, or use Type=exec)");
  }
  (void)state;
#endif
}

}  // namespace

void NotifyReady(std::string_view status) {
  if (ready_sent.exchange(true)) return;
  Send(fmt::format("READY=1\nSTATUS={}", status));
}

void NotifyStopping() {
  if (stopping_sent.exchange(true)) return;
  Send("STOPPING=1\nSTATUS=stopping");
}

}  // namespace mailtap
