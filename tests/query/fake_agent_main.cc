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
  stats.Publish({
      {"capture", "packets", "Packets seen.", "", 1234, StatKind::kCounter},
      {"capture", "bytes", "Bytes seen, with a \\ backslash and\na newline in the help.", "", 99999,
       StatKind::kCounter},
      {"capture", "ringbuf_lost", "Records the kernel could not queue.", "kernel_ring_buffer", 5,
       StatKind::kCounter},
      {"capture", "truncated", "Packets cut short.", "truncation", 2, StatKind::kCounter},
      {"tcp", "gap_bytes", "Bytes never seen.", "reassembly_gap", 7, StatKind::kCounter},
      {"tcp", "flows", "Flows tracked now.", "", 3, StatKind::kGauge},
      {"smtp-analyzer", "lines.total", "Odd characters in the name.", "", 11, StatKind::kCounter},
  });
  ConnectionsSnapshot connections;
  QueryServerConfig config;
  config.socket_path = argv[1];
  AgentInfo info{"1.2.3", "fake", {}, "credentials", std::chrono::system_clock::now()};
  auto server = QueryServer::Start(config, info, stats, connections);
  std::cout << "ready" << std::endl;
  std::string ignored;
  while (std::getline(std::cin, ignored)) {
  }
  server->Stop();
  return 0;
}
