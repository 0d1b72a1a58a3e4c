// mailtapd's command line and config file -> Config.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "capture/ringbuf_source.h"  // kDefaultRingSize
#include "common/event_selection.h"
#include "common/log.h"            // Severity
#include "files/file_extractor.h"  // ExtractConfig
#include "mailtap/port_set.h"
#include "memory_budget.h"
#include "query/hub.h"       // kDefaultEventHistory
#include "sinks/redactor.h"  // RedactMode
#include "sinks/zeek_log.h"  // LogFormat
#include "tunables.h"

namespace mailtap {

struct Config {
  std::optional<std::string> read_file;       // -r: replay this capture ("-" = stdin)
  std::vector<std::string> interfaces;        // -i: live capture interfaces; empty = all
  PortSet ports = PortSet::Default();         // -p
  PortSet tls_ports = PortSet::DefaultTls();  // --tls-ports: implicit TLS (a subset of ports)
  std::optional<std::string> events_path;     // --events ("-" = stdout)
  // --events-include: what --events carries; message content only when asked for.
  EventSelection events_include = EventSelection::Protocol();
  std::optional<std::string> log_dir;  // --log-dir; "." for -r without any output option
  bool log_dir_defaulted = false;      // log_dir is "." because no output was named
  LogFormat log_format = LogFormat::kJson;
  uint16_t community_id_seed = 0;  // --community-id-seed (the Community ID's seed)
  // The query socket. Unset means the default path when capturing live and no socket at all
  // when replaying (a replay must not collide with a running agent), unless --keep-serving.
  std::optional<std::string> socket_path;
  std::optional<std::string> socket_group;
  bool keep_serving = false;  // after -r finished, keep answering queries
  // --metrics-address HOST:PORT: serve GET /metrics over HTTP there; unset = no listener.
  std::optional<std::string> metrics_address;
  size_t history = kDefaultEventHistory;  // events kept for `mailtap observe --last`
  bool observe_data = false;              // content events reach `mailtap observe` too
  RedactMode redact = RedactMode::kCredentials;
  std::optional<std::string> user;        // drop privileges to this user (live capture)
  uint64_t ring_size = kDefaultRingSize;  // eBPF ring buffer bytes
  bool tls_plaintext = true;              // --tls-plaintext on|off (live capture)
  // --tls-processes: task names whose TLS plaintext is captured; unset = the usual MTA programs.
  std::optional<std::vector<std::string>> tls_processes;
  // --memory-limit and the budgets it gives (filled by ParseCommandLine; the default plan here).
  uint64_t memory_limit = kDefaultMemoryLimit;
  MemoryPlan memory = DefaultMemoryPlan();
  bool file_hashes = true;  // --file-hashes: md5/sha1/sha256 in files.log and file_hash
  ExtractConfig extract;    // --extract*: off unless an operator enables it
  Severity log_level = Severity::kInfo;
  std::optional<uint64_t> uid_seed;  // --uid-seed: reproducible uids; unset = random per run
  Tunables tunables;                 // --set NAME=VALUE (Zeek's redef-able constants)
};

inline constexpr char kDefaultSocketPath[] = "/run/mailtap/mailtap.sock";

// Outcome of parsing: either a Config to run with, or an exit status with text to print
// (help/version/list-events on stdout with status 0; a usage error naming the option on stderr,
// status 2).
struct ParseOutcome {
  std::optional<Config> config;
  int exit_status = 0;
  std::string message;
};

ParseOutcome ParseCommandLine(int argc, const char* const argv[]);

}  // namespace mailtap
