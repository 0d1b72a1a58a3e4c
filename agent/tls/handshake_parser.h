// The TLS handshake as seen on the wire (RFC 5246, RFC 8446): the two directions' byte streams
// cut into records, the plaintext handshake messages reassembled across records and segments,
// and what Zeek's ssl.log keeps of them (its SSL analyzer and base/protocols/ssl scripts).
//
// Pure and bounded: no I/O, no clock, no crypto. Each direction holds at most one record (the
// record length field is 16 bits) and one handshake message up to HandshakeLimits; a longer
// message is skipped with a weird. Linear in the input. Parsing stops, as Zeek's analyzer does,
// once the session is established (both sides encrypting), after a content gap, or at bytes that
// are not TLS records (a weird).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/packet.h"

namespace mailtap::tls {

// Which end sent the bytes: the client is the one that sent the ClientHello (for SMTP, the
// originator of the connection).
enum class Role : uint8_t { kClient = 0, kServer = 1 };

// What the handshake showed, as Zeek's SSL::Info holds it. Numeric code points; names are for
// the log (tls_names.h).
struct HandshakeSummary {
  bool seen = false;  // a TLS record was parsed: Zeek's set_session, there is an ssl.log record
  Timestamp first_seen;
  std::optional<uint16_t> version;  // the server's choice (supported_versions overrides)
  std::optional<uint16_t> cipher;
  std::optional<uint16_t> curve;
  std::optional<std::string> server_name;  // the first host name of the client's SNI
  bool resumed = false;
  std::optional<uint8_t> last_alert;         // description of the last plaintext alert
  std::optional<std::string> next_protocol;  // the server's ALPN choice
  bool established = false;
  std::string history;  // ssl_history: one letter per message, upper case from the client
  bool certificates_seen = false;  // a Certificate message carried at least one certificate
};

// Receives what the summary cannot hold. Called synchronously from Feed().
class HandshakeListener {
 public:
  virtual ~HandshakeListener() = default;
  // A named anomaly (weird.log). `addl` may be empty.
  virtual void OnWeird(std::string_view name, std::string_view addl) = 0;
  // One certificate of a Certificate message, in chain order; `der` valid during the call.
  virtual void OnCertificate(Role role, std::span<const uint8_t> der) = 0;
  // Both sides encrypt and a record went: Zeek's ssl_established. Parsing has stopped.
  virtual void OnEstablished() = 0;
};

struct HandshakeLimits {
  // One handshake message (a Certificate chain is the largest in practice, ~10 KiB).
  size_t max_message_bytes = 256 << 10;
  size_t max_history = 100;  // SSL::max_ssl_history_length
};

// Counters of one parser, summed by its owner.
struct HandshakeCounters {
  uint64_t records = 0;
  uint64_t messages = 0;
  uint64_t messages_too_long = 0;
  uint64_t malformed_messages = 0;
};

class HandshakeParser {
 public:
  // `listener` must outlive the parser.
  HandshakeParser(HandshakeLimits limits, HandshakeListener& listener);
  ~HandshakeParser();
  HandshakeParser(const HandshakeParser&) = delete;
  HandshakeParser& operator=(const HandshakeParser&) = delete;

  // The next bytes `role` sent, in stream order. `ts` is the time of the segment carrying them.
  void Feed(Role role, Timestamp ts, std::span<const uint8_t> bytes);
  // Bytes of `role`'s stream were lost: records can no longer be found (Zeek stops too).
  void Gap(Role role);

  // Whether parsing has stopped (established, gap, or not TLS); Feed() then ignores its input.
  bool stopped() const { return stopped_; }
  const HandshakeSummary& summary() const { return summary_; }
  const HandshakeCounters& counters() const { return counters_; }

 private:
  struct Direction;
  class Reader;

  size_t FeedRecordBytes(Direction& dir, Role role, std::span<const uint8_t> bytes);
  bool CheckHeader(Direction& dir, Role role);
  void BeginRecord(Direction& dir, Role role);
  void Record(Direction& dir, Role role);
  void Ciphertext();
  void ChangeCipherSpec(Direction& dir, Role role);
  void Alerts(Role role, std::span<const uint8_t> body);
  void HandshakeBytes(Direction& dir, Role role, std::span<const uint8_t> body);
  void Message(Role role, uint8_t type, std::span<const uint8_t> body);
  bool ClientHello(std::span<const uint8_t> body);
  bool ServerHello(std::span<const uint8_t> body, bool* retry_request);
  bool ClientExtension(uint16_t type, std::span<const uint8_t> data);
  bool ServerExtension(uint16_t type, std::span<const uint8_t> data);
  bool Certificate(Role role, std::span<const uint8_t> body);
  void ServerKeyExchange(std::span<const uint8_t> body);
  void AddHistory(Role role, char letter);
  void MarkSeen(Timestamp ts);
  void Stop();

  HandshakeLimits limits_;
  HandshakeListener& listener_;
  HandshakeSummary summary_;
  HandshakeCounters counters_;
  std::unique_ptr<Direction> dirs_[2];
  std::optional<uint16_t> record_layer_version_;
  Timestamp ts_;
  // Zeek's resumption bookkeeping (base/protocols/ssl/main.zeek).
  std::optional<std::vector<uint8_t>> client_session_id_;
  bool client_ticket_empty_session_seen_ = false;
  bool client_key_exchange_seen_ = false;
  bool client_psk_seen_ = false;
  bool stopped_ = false;
};

}  // namespace mailtap::tls
