// The optional HTTP listener for Prometheus (--metrics-address): GET /metrics answers with the
// same families as the query socket's `metrics` (BuildMetricFamilies), served by prometheus-cpp
// (civetweb), plus prometheus-cpp's own exposer_* metrics about the scrapes.
#pragma once

#include <prometheus/metric_family.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mailtap {

class MetricsHttpListener {
 public:
  // Called on a listener thread for each scrape; must be thread-safe.
  using Provider = std::function<std::vector<prometheus::MetricFamily>()>;

  // Listens on `address` (ParseListenAddress's form) with two threads. Throws
  // std::runtime_error naming the address when it cannot listen (start-up only).
  static std::unique_ptr<MetricsHttpListener> Start(const std::string& address, Provider provider);
  ~MetricsHttpListener();

  // The port listened on (the kernel's choice for port 0).
  int port() const { return port_; }

 private:
  struct Impl;
  explicit MetricsHttpListener(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_;
};

}  // namespace mailtap
