// One ssl.log record: a TLS session seen on the wire, with Zeek's SSL::Info fields in Zeek's
// column order (base/protocols/ssl/main.zeek and files.zeek, base scripts only).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mailtap/flow.h"
#include "mailtap/packet.h"

namespace mailtap {

// std::nullopt = unset (Zeek's "-"); an engaged empty vector = "(empty)".
struct SslRecord {
  Timestamp ts;  // when the first TLS record was parsed
  std::string uid;
  ConnId id;
  std::optional<std::string> version;  // "TLSv12"
  std::optional<std::string> cipher;   // "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
  std::optional<std::string> curve;    // "secp256r1"
  std::optional<std::string> server_name;
  bool resumed = false;
  std::optional<std::string> last_alert;     // "handshake_failure"
  std::optional<std::string> next_protocol;  // ALPN
  bool established = false;
  std::string ssl_history;
  // SHA-256 (hex) of each certificate that parses as X.509, in chain order; both set (maybe
  // empty) once either side sent a certificate.
  std::optional<std::vector<std::string>> cert_chain_fps;
  std::optional<std::vector<std::string>> client_cert_chain_fps;
  // Whether the server's first certificate covers server_name; unset without both.
  std::optional<bool> sni_matches_cert;
  // Not Zeek's: the connection's Community ID (appended to the log).
  std::string community_id;
};

// Receives ssl.log records. Pipeline thread only.
class SslRecordSink {
 public:
  virtual ~SslRecordSink() = default;
  virtual void OnSslRecord(const SslRecord& record) = 0;
  virtual void Flush() {}
};

}  // namespace mailtap
