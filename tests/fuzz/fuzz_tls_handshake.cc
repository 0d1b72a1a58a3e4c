// Both directions of a TLS session as any bytes: each chunk is [side+length byte, bytes...],
// fed to the handshake parser in order. It must neither crash nor read outside its input, keep
// its history within the limit, and stay stopped once stopped.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "tls/handshake_parser.h"

namespace {

class Discard : public mailtap::tls::HandshakeListener {
 public:
  void OnWeird(std::string_view, std::string_view) override {}
  void OnCertificate(mailtap::tls::Role, std::span<const uint8_t> der) override {
    if (der.empty()) std::abort();  // empty entries are not certificates
  }
  void OnEstablished() override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mailtap::tls;
  Discard listener;
  HandshakeLimits limits;
  limits.max_message_bytes = 4096;  // small, so that the too-long path is reached
  HandshakeParser parser(limits, listener);
  std::span<const uint8_t> in(data, size);
  int64_t ts = 0;
  while (!in.empty()) {
    const Role role = (in[0] & 0x80) ? Role::kServer : Role::kClient;
    const size_t len = std::min<size_t>(in[0] & 0x7F, in.size() - 1);
    const bool was_stopped = parser.stopped();
    if (len == 0 && (in[0] & 0x40) == 0) {
      parser.Gap(role);
    } else {
      parser.Feed(role, mailtap::Timestamp{++ts}, in.subspan(1, len));
    }
    if (was_stopped && !parser.stopped()) std::abort();
    in = in.subspan(1 + len);
  }
  if (parser.summary().history.size() > limits.max_history) std::abort();
  return 0;
}
