// The client's command line (Boost.Program_options) -> what to ask the agent and how to print it.
#pragma once

#include <optional>
#include <string>

#include "cli/connection.h"
#include "cli/render.h"
#include "query/protocol.h"

namespace mailtap::cli {

inline constexpr char kDefaultSocket[] = "/run/mailtap/mailtap.sock";
// observe/transactions with neither --last nor --follow show this many (as `hubble observe`).
inline constexpr size_t kDefaultLast = 20;

struct Invocation {
  std::string socket_path;  // --socket, else $MAILTAP_SOCKET, else kDefaultSocket
  SocketOrigin socket_origin = SocketOrigin::kDefault;
  QueryRequest request;
  OutputFormat format = OutputFormat::kJson;
  ItemKind kind = ItemKind::kEvent;
};

// Either an invocation to run, or an exit status with text (help/version: stdout, status 0;
// usage error naming the option: stderr, status 2).
struct ParsedCommandLine {
  std::optional<Invocation> invocation;
  std::optional<int> exit_status;
  std::string message;
};

ParsedCommandLine ParseCommandLine(int argc, const char* const argv[]);

}  // namespace mailtap::cli
