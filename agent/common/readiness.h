// Start-up and shutdown notifications to the service manager (systemd's sd_notify protocol), for
// units with Type=notify: "ready" means the capture is attached and the query socket bound, so
// `systemctl start mailtapd` returns only once `mailtap status` can answer.
#pragma once

#include <string_view>

namespace mailtap {

// Sends READY=1 and STATUS=<status> when the service manager asked for notifications
// ($NOTIFY_SOCKET set); does nothing otherwise. At most once per process. A failure to send is
// logged as a warning, never fatal: the agent works without its manager's knowing.
// Thread-safe.
void NotifyReady(std::string_view status);

// Sends STOPPING=1 (and STATUS=stopping) once the agent has begun to shut down; at most once per
// process, the same conditions as NotifyReady. Thread-safe.
void NotifyStopping();

}  // namespace mailtap
