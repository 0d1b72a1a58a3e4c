// The query server: answers `mailtap` (observe, transactions, connections, status, metrics) on a
// Unix stream socket. See docs/query-protocol.md.
//
// Threads: OnEvent/OnRecord run on the pipeline thread and never block on a client (they copy
// the item into the bounded history and wake the server thread if anyone follows; the server
// thread formats an item the first time a client reads it). Everything else happens on the
// server's own thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/connections.h"
#include "mailtap/sink.h"
#include "mailtap/stats.h"
#include "query/hub.h"
#include "query/status.h"

namespace mailtap {

struct QueryServerConfig {
  std::string socket_path = "/run/mailtap/mailtap.sock";
  std::optional<std::string> socket_group;  // --socket-group: may connect; owns dir and socket
  // Peers allowed to query, checked with SO_PEERCRED on every connection. Unset means the
  // default: uids {0, the agent's euid}; gids {the socket group, if any}.
  std::optional<std::vector<uid_t>> allowed_uids;
  std::optional<std::vector<gid_t>> allowed_gids;
  size_t history_size = kDefaultEventHistory;  // events kept for observe --last
  // Whether content events (event_list.h: message lines, header values) reach `observe`, --last
  // and --follow alike (--observe-data). Off, the history keeps the protocol events only: private
  // by default, and one message of 64 KiB is ~900 smtp_data lines.
  bool observe_data = false;
  size_t record_history_size = 1000;  // smtp.log records kept for transactions --last
  size_t subscriber_queue = 10000;    // events/records a follower may fall behind before it
                                      // loses the oldest (slow_subscriber)
  size_t max_clients = 64;
  size_t max_request_bytes = 64 * 1024;
  // A client must send its request line within request_timeout (slowloris guard); a client that
  // accepts no output for idle_timeout while output is waiting is disconnected.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(300)};
  // Output waiting for clients, all clients together (reply lines, backlog items, follower
  // output). Past it, of the clients that accepted no output for output_stall the one holding
  // the most is disconnected, then the next (any client past twice the budget), and what they
  // held is counted as lost (cause slow_subscriber).
  size_t max_output_bytes = 64 << 20;
  std::chrono::milliseconds output_stall{std::chrono::seconds(1)};
  int send_buffer_bytes = 0;  // SO_SNDBUF for client sockets; 0 = kernel default (tests shrink it)
  // Where refused peers and other notable events are reported (one line, no newline). Default:
  // stderr with a "mailtapd: " prefix. Called on the server thread.
  std::function<void(std::string_view)> log;
};

class QueryServer : public EventSink, public RecordSink {
 public:
  // Opens the socket (see OpenListeningSocket for the file-system rules) and starts the server
  // thread. `stats` and `connections` are published by the pipeline and must outlive the
  // server. Throws std::runtime_error with a precise message (start-up only).
  static std::unique_ptr<QueryServer> Start(QueryServerConfig config, AgentInfo info,
                                            const StatsSnapshot& stats,
                                            const ConnectionsSnapshot& connections);
  // The same in two steps, for an agent that must give up privilege in between: Open() binds the
  // socket (may need privilege, starts no thread); Serve() starts the server thread.
  static std::unique_ptr<QueryServer> Open(QueryServerConfig config, AgentInfo info,
                                           const StatsSnapshot& stats,
                                           const ConnectionsSnapshot& connections);
  void Serve();
  ~QueryServer() override;  // Stop()s
  QueryServer(const QueryServer&) = delete;
  QueryServer& operator=(const QueryServer&) = delete;

  // Before the agent drops root for `uid`: lets it remove its socket and lock file at Stop()
  // (socket_setup.h, HandSocketDirectoryTo).
  void HandSocketTo(uid_t uid);

  // Closes every client, joins the thread, removes the socket and lock files. Idempotent. Not to be
  // called concurrently with OnEvent/OnRecord.
  void Stop();

  // Pipeline thread. Never block on clients.
  void OnEvent(const Event& event) override;
  bool Wants(EventId id) const override;
  void OnRecord(const SmtpRecord& record) override;
  void Flush() override {}

  // Tells `status` that the capture source has ended and the pipeline has flushed: every event
  // and record has been published, and the statistics are final (capture_state "finished"
  // instead of "running"). For a replay kept serving with --keep-serving, this is how a script
  // knows the answers are complete. Thread-safe.
  void MarkCaptureFinished();

  // The server's own statistics (group "query"), as merged into status and metrics. Thread-safe.
  std::vector<StatSample> OwnStats() const;

  const std::string& socket_path() const;

  class Impl;

 private:
  explicit QueryServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailtap
