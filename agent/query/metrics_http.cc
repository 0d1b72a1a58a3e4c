#include "query/metrics_http.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include <stdexcept>
#include <utility>

namespace mailtap {
namespace {

class ProviderCollectable : public prometheus::Collectable {
 public:
  explicit ProviderCollectable(MetricsHttpListener::Provider provider)
      : provider_(std::move(provider)) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return provider_(); }

 private:
  MetricsHttpListener::Provider provider_;
};

}  // namespace

struct MetricsHttpListener::Impl {
  std::shared_ptr<ProviderCollectable> collectable;
  std::unique_ptr<prometheus::Exposer> exposer;
};

std::unique_ptr<MetricsHttpListener> MetricsHttpListener::Start(const std::string& address,
                                                                Provider provider) {
  auto impl = std::make_unique<Impl>();
  impl->collectable = std::make_shared<ProviderCollectable>(std::move(provider));
  try {
    // Two threads: a scrape is one short request; a second keeps a slow client from blocking
    // Prometheus. civetweb's request timeout bounds a client that never finishes its request.
    impl->exposer = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", address, "num_threads", "2", "request_timeout_ms", "10000"});
  } catch (const std::exception& e) {
    throw std::runtime_error("--metrics-address " + address + ": cannot listen (" + e.what() +
                             "); is the port in use, or below 1024 (the agent listens after "
                             "giving up its privileges)?");
  }
  impl->exposer->RegisterCollectable(impl->collectable);
  std::vector<int> ports = impl->exposer->GetListeningPorts();
  int port = ports.empty() ? 0 : ports.front();
  return std::unique_ptr<MetricsHttpListener>(new MetricsHttpListener(std::move(impl), port));
}

MetricsHttpListener::MetricsHttpListener(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

MetricsHttpListener::~MetricsHttpListener() = default;

}  // namespace mailtap
