// A query server with known statistics, for checking `mailtap metrics` with a real Prometheus
// parser (check_metrics.py). Usage: query_fake_agent SOCKET. Prints "ready" once serving and
// stops when its standard input closes.
#include <cstdio>
#include <iostream>
#include <string>

#include "query/query_server.h"

int main(int argc, char** argv) {
  using namespace mailtap;
  if (argc != 2) {
    std::fprintf(stderr, "usage: query_fake_agent SOCKET\n");
    return 2;
  }
  StatsSnapshot stats;
  auto sample = [](const char* group, const char* name, const char* help, uint64_t value,
                   StatKind kind = StatKind::kCounter) {
    return StatSample{group, name, help, "", value, kind, "", "", ""};
  };
  auto loss = [](const char* group, const char* name, const char* cause, LossUnit unit,
                 uint64_t value) {
    return StatSample{
        group, name, "Lost.", cause, value, StatKind::kCounter, std::string(LossUnitName(unit)),
        "",    ""};
  };
  auto labelled = [](const char* name, const char* label, const char* label_value, uint64_t value) {
    return StatSample{"smtp", name,  "Per label.", "", value, StatKind::kCounter,
                      "",     label, label_value};
  };
  stats.Publish({
      sample("capture", "packets", "Packets seen.", 1234),
      sample("capture", "bytes", "Bytes seen, with a \\ backslash and\na newline in the help.",
             99999),
      loss("capture", "ringbuf_lost", "kernel_ring_buffer", LossUnit::kPackets, 5),
      loss("capture", "truncated", "truncation", LossUnit::kPackets, 2),
      loss("tcp", "gap_bytes_not_captured", "reassembly_gap", LossUnit::kBytes, 7),
      loss("tcp", "gap_bytes_buffer_dropped", "reassembly_buffer", LossUnit::kBytes, 3),
      loss("smtp", "lines_truncated", "smtp_line_too_long", LossUnit::kLines, 1),
      sample("tcp", "flows", "Flows tracked now.", 3, StatKind::kGauge),
      sample("smtp-analyzer", "lines.total", "Odd characters in the name.", 11),
      labelled("commands", "command", "MAIL", 4),
      labelled("commands", "command", "RCPT", 6),
      labelled("replies_by_class", "class", "2xx", 9),
  });
  ConnectionsSnapshot connections;
  QueryServerConfig config;
  config.socket_path = argv[1];
  AgentInfo info{"1.2.3",
                 [] { return std::string("fake"); },
                 {},
                 "credentials",
                 std::chrono::system_clock::now()};
  auto server = QueryServer::Start(config, info, stats, connections);
  std::cout << "ready" << std::endl;
  std::string ignored;
  while (std::getline(std::cin, ignored)) {
  }
  server->Stop();
  return 0;
}
