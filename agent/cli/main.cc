// mailtap: the client of mailtapd's query socket (docs/query-protocol.md).
// Exit status: 0 success; 2 bad usage (the message names the option); 1 agent unreachable,
// access denied or the agent failed the request (the message says which).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/connection.h"
#include "cli/options.h"
#include "cli/render.h"
#include "cli/status_view.h"
#include "query/protocol.h"

namespace mailtap::cli {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kReplyTimeoutSeconds = 30;

int Fail(const std::string& message) {
  std::fprintf(stderr, "mailtap: %s\n", message.c_str());
  return kExitFailure;
}

// A protocol message that ends the exchange with an error: says which.
int ReportAgentError(const nlohmann::json& j) {
  std::string code = j.value("code", "");
  std::string message = j.value("message", "");
  if (code == query_errors::kAccessDenied) return Fail("access denied by the agent: " + message);
  return Fail("the agent refused the request (" + code + "): " + message);
}

void PrintData(const Invocation& inv, Renderer& renderer, const std::string& line) {
  if (inv.request.verb == Verb::kStatus) {
    auto j = nlohmann::ordered_json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      std::printf("%s\n", line.c_str());
    } else if (inv.format == OutputFormat::kText) {
      std::fputs(FormatStatusSummary(j).c_str(), stdout);
    } else {
      std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    }
  } else if (inv.request.verb == Verb::kMetrics) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("text") && j["text"].is_string()) {
      std::fputs(j["text"].get<std::string>().c_str(), stdout);
    }
  } else {
    renderer.Print(line);
  }
}

// Returns true when the line ends the exchange; *status is then the exit status.
bool HandleMessage(const std::string& line, int* status) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  std::string kind = j.is_object() ? j.value("mailtap", "") : "";
  if (kind == "lost") {
    std::fprintf(stderr, "mailtap: %llu items were lost: this client read too slowly (%s)\n",
                 static_cast<unsigned long long>(j.value("count", uint64_t{0})),
                 j.value("cause", "slow_subscriber").c_str());
    return false;
  }
  if (kind == "end") {
    *status = kExitOk;
    return true;
  }
  if (kind == "error") {
    *status = ReportAgentError(j);
    return true;
  }
  return false;  // "ok" and messages of later protocol versions
}

int Run(const Invocation& inv) {
  AgentConnection conn;
  ConnectResult connected = conn.Connect(inv.socket_path, inv.socket_origin);
  if (connected.status != ConnectStatus::kOk) return Fail(connected.message);
  if (!inv.request.follow) conn.SetReadTimeout(kReplyTimeoutSeconds);
  if (!conn.SendLine(FormatQueryRequest(inv.request))) {
    // A refused peer may be closed before it finished writing; its answer says why.
    auto line = conn.ReadLine();
    int status = kExitFailure;
    if (line && IsProtocolMessage(*line) && HandleMessage(*line, &status)) return status;
    return Fail("the agent at " + inv.socket_path + " closed the connection");
  }
  Renderer renderer(inv.format, inv.kind, ColorFor(stdout), stdout, TableWidthFor(stdout));
  while (auto line = conn.ReadLine()) {
    int status = kExitOk;
    if (IsProtocolMessage(*line)) {
      if (!HandleMessage(*line, &status)) continue;
      renderer.Finish();
      return status;
    }
    PrintData(inv, renderer, *line);
    // A follower shows each item as soon as it is here, but flushes once per burst (before
    // it would wait for the agent), not per line: a write per line would make a busy follower
    // too slow to keep up, and the agent drops what a slow follower cannot take.
    if (inv.request.follow && !conn.HasBufferedLine()) std::fflush(stdout);
  }
  return Fail("the agent at " + inv.socket_path +
              " closed the connection before the end of the answer");
}

}  // namespace
}  // namespace mailtap::cli

int main(int argc, char** argv) {
  using namespace mailtap::cli;
  ParsedCommandLine parsed = ParseCommandLine(argc, argv);
  if (parsed.exit_status) {
    std::fputs(parsed.message.c_str(), *parsed.exit_status == 0 ? stdout : stderr);
    return *parsed.exit_status;
  }
  return Run(*parsed.invocation);
}
