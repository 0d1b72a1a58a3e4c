#include "tls/handshake_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "tls/tls_names.h"

namespace mailtap::tls {
namespace {

// Record content types (RFC 8446 5.1, RFC 6520).
constexpr uint8_t kChangeCipherSpec = 20;
constexpr uint8_t kAlert = 21;
constexpr uint8_t kHandshake = 22;
constexpr uint8_t kApplicationData = 23;
constexpr uint8_t kHeartbeat = 24;

// Handshake message types used here (RFC 8446 4, RFC 5246 7.4).
constexpr uint8_t kClientHello = 1;
constexpr uint8_t kServerHello = 2;
constexpr uint8_t kCertificate = 11;
constexpr uint8_t kServerKeyExchange = 12;
constexpr uint8_t kClientKeyExchange = 16;

// Extensions (IANA TLS ExtensionType registry).
constexpr uint16_t kServerNameExt = 0;
constexpr uint16_t kAlpnExt = 16;
constexpr uint16_t kSessionTicketExt = 35;
constexpr uint16_t kPreSharedKeyExt = 41;
constexpr uint16_t kSupportedVersionsExt = 43;
constexpr uint16_t kKeyShareExt = 51;

constexpr size_t kRecordHeader = 5;
constexpr size_t kMessageHeader = 4;

// A ServerHello with this random is a HelloRetryRequest (RFC 8446 4.1.3).
constexpr std::array<uint8_t, 32> kHelloRetryRandom = {
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};

// Zeek's ssl_history letters by handshake message type (base/protocols/ssl/main.zeek); 'z' for
// the unassigned ones.
char HistoryLetter(uint8_t type) {
  switch (type) {
    case 0:
      return 'h';  // hello_request
    case 1:
      return 'c';  // client_hello
    case 2:
      return 's';  // server_hello
    case 3:
      return 'v';  // hello_verify_request
    case 4:
      return 't';  // new_session_ticket
    case 5:
      return 'e';  // end_of_early_data
    case 6:
      return 'j';  // hello_retry_request (TLS 1.3 drafts)
    case 8:
      return 'o';  // encrypted_extensions
    case 11:
      return 'x';  // certificate
    case 12:
      return 'k';  // server_key_exchange
    case 13:
      return 'r';  // certificate_request
    case 14:
      return 'n';  // server_hello_done
    case 15:
      return 'y';  // certificate_verify
    case 16:
      return 'g';  // client_key_exchange
    case 20:
      return 'f';  // finished
    case 21:
      return 'w';  // certificate_url
    case 22:
      return 'u';  // certificate_status
    case 23:
      return 'a';  // supplemental_data
    case 24:
      return 'p';  // key_update
    case 254:
      return 'm';  // message_hash
    default:
      return 'z';
  }
}

bool RecordVersionOk(uint16_t version) { return version >= 0x0300 && version <= 0x0303; }

uint32_t Uint24(std::span<const uint8_t> b) { return (b[0] << 16) | (b[1] << 8) | b[2]; }

}  // namespace

// Bounds-checked big-endian reads over one message; a read past the end fails and every later
// read fails too, so a parse checks ok() once at the end.
class HandshakeParser::Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}
  bool ok() const { return ok_; }
  bool empty() const { return pos_ >= data_.size(); }
  uint32_t U8() { return Take(1).empty() ? 0 : data_[pos_ - 1]; }
  uint16_t U16() {
    auto b = Take(2);
    return b.empty() ? 0 : static_cast<uint16_t>((b[0] << 8) | b[1]);
  }
  uint32_t U24() {
    auto b = Take(3);
    return b.empty() ? 0 : Uint24(b);
  }
  std::span<const uint8_t> Bytes(size_t n) { return Take(n); }
  std::span<const uint8_t> Rest() { return Take(data_.size() - std::min(pos_, data_.size())); }

 private:
  std::span<const uint8_t> Take(size_t n) {
    if (!ok_ || data_.size() - pos_ < n) {
      ok_ = false;
      return {};
    }
    pos_ += n;
    return data_.subspan(pos_ - n, n);
  }
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

struct HandshakeParser::Direction {
  bool encrypted = false;  // after this side's ChangeCipherSpec (Zeek's STATE_ENCRYPTED)
  std::array<uint8_t, kRecordHeader> header{};
  size_t header_len = 0;
  uint8_t content_type = 0;
  size_t body_remaining = 0;
  bool skip_body = false;          // a ciphertext record: its bytes are not kept
  std::vector<uint8_t> body;       // the plaintext record being collected (at most 64 KiB)
  std::vector<uint8_t> handshake;  // handshake bytes not yet forming a whole message
  size_t skip_message = 0;         // bytes left of a message too long to keep
};

HandshakeParser::HandshakeParser(HandshakeLimits limits, HandshakeListener& listener)
    : limits_(limits), listener_(listener) {
  dirs_[0] = std::make_unique<Direction>();
  dirs_[1] = std::make_unique<Direction>();
}

HandshakeParser::~HandshakeParser() = default;

void HandshakeParser::Feed(Role role, Timestamp ts, std::span<const uint8_t> bytes) {
  Direction& dir = *dirs_[static_cast<int>(role)];
  ts_ = ts;
  while (!bytes.empty() && !stopped_) {
    bytes = bytes.subspan(FeedRecordBytes(dir, role, bytes));
  }
}

void HandshakeParser::Gap(Role /*role*/) { Stop(); }

// Consumes bytes of the current record (its header, then its body); returns how many.
size_t HandshakeParser::FeedRecordBytes(Direction& dir, Role role, std::span<const uint8_t> bytes) {
  if (dir.header_len < kRecordHeader) {
    const size_t n = std::min(kRecordHeader - dir.header_len, bytes.size());
    std::copy_n(bytes.begin(), n, dir.header.begin() + static_cast<ptrdiff_t>(dir.header_len));
    dir.header_len += n;
    if (dir.header_len == kRecordHeader && CheckHeader(dir, role)) BeginRecord(dir, role);
    return n;
  }
  const size_t n = std::min(dir.body_remaining, bytes.size());
  if (!dir.skip_body) dir.body.insert(dir.body.end(), bytes.begin(), bytes.begin() + n);
  dir.body_remaining -= n;
  if (dir.body_remaining == 0) {
    if (!dir.skip_body) Record(dir, role);
    dir.header_len = 0;
    dir.body.clear();
  }
  return n;
}

// Zeek's determine_ssl_record_layer: the first record fixes the record layer (SSLv3 to TLS 1.2
// record versions; TLS 1.3 uses 0x0303 there too), later ones must keep a TLS version. SSLv2
// records are not analysed.
bool HandshakeParser::CheckHeader(Direction& dir, Role role) {
  const uint8_t type = dir.header[0];
  const uint16_t version = (dir.header[1] << 8) | dir.header[2];
  const bool first = !record_layer_version_;
  if (RecordVersionOk(version) && (!first || (type >= 20 && type <= 30))) {
    record_layer_version_ = version;
    return true;
  }
  listener_.OnWeird("SSL_invalid_record_header",
                    fmt::format("{} record type {} version 0x{:04x}",
                                role == Role::kClient ? "client" : "server", type, version));
  Stop();
  return false;
}

void HandshakeParser::BeginRecord(Direction& dir, Role role) {
  dir.content_type = dir.header[0];
  dir.body_remaining = (dir.header[3] << 8) | dir.header[4];
  ++counters_.records;
  // Zeek's determine_state: application data before this side's ChangeCipherSpec is encrypted
  // too when the session negotiated TLS 1.3 (or no version yet), where ChangeCipherSpec is
  // optional (RFC 8446 D.4).
  if (!dir.encrypted && dir.content_type == kApplicationData &&
      (!summary_.version || IsTls13OrLater(*summary_.version))) {
    dir.encrypted = true;
  }
  dir.skip_body = dir.encrypted;
  if (dir.skip_body) Ciphertext();
  if (!stopped_ && dir.body_remaining == 0) {
    if (!dir.skip_body) Record(dir, role);
    dir.header_len = 0;
  }
}

// Zeek's proc_ciphertext_record: the first encrypted record once both sides encrypt.
void HandshakeParser::Ciphertext() {
  if (summary_.established || !dirs_[0]->encrypted || !dirs_[1]->encrypted) return;
  summary_.established = true;
  // SSL::disable_analyzer_after_detection: nothing more is parsed.
  Stop();
  listener_.OnEstablished();
}

// A whole plaintext record (Zeek's ssl_plaintext_data and what follows from its type).
void HandshakeParser::Record(Direction& dir, Role role) {
  MarkSeen(ts_);
  std::span<const uint8_t> body(dir.body);
  switch (dir.content_type) {
    case kChangeCipherSpec:
      ChangeCipherSpec(dir, role);
      break;
    case kAlert:
      Alerts(role, body);
      break;
    case kHandshake:
      HandshakeBytes(dir, role, body);
      break;
    case kHeartbeat:
      AddHistory(role, 'b');
      break;
    case kApplicationData:
      if (summary_.version && !summary_.established) {
        listener_.OnWeird("ssl_early_application_data", "");
      }
      break;
    default:
      break;  // Zeek reports an analyzer violation and goes on
  }
}

void HandshakeParser::ChangeCipherSpec(Direction& dir, Role role) {
  AddHistory(role, 'i');
  // A client resuming with a session ticket sends no key exchange (RFC 5077 3.1).
  if (role == Role::kClient && client_ticket_empty_session_seen_ && !client_key_exchange_seen_) {
    summary_.resumed = true;
  }
  dir.encrypted = true;
}

void HandshakeParser::Alerts(Role role, std::span<const uint8_t> body) {
  for (size_t i = 0; i + 2 <= body.size(); i += 2) {
    AddHistory(role, 'l');
    summary_.last_alert = body[i + 1];
  }
}

// Handshake messages may span records and several may share one (RFC 8446 5.1).
void HandshakeParser::HandshakeBytes(Direction& dir, Role role, std::span<const uint8_t> body) {
  if (dir.skip_message > 0) {
    const size_t n = std::min(dir.skip_message, body.size());
    dir.skip_message -= n;
    body = body.subspan(n);
  }
  dir.handshake.insert(dir.handshake.end(), body.begin(), body.end());
  size_t pos = 0;
  while (!stopped_ && dir.handshake.size() - pos >= kMessageHeader) {
    std::span<const uint8_t> rest = std::span<const uint8_t>(dir.handshake).subspan(pos);
    const size_t length = Uint24(rest.subspan(1, 3));
    if (length > limits_.max_message_bytes) {
      ++counters_.messages_too_long;
      listener_.OnWeird("SSL_handshake_message_too_long",
                        fmt::format("type {} length {}", rest[0], length));
      const size_t have = rest.size() - kMessageHeader;
      dir.skip_message = length - std::min(length, have);
      pos += kMessageHeader + std::min(length, have);
      continue;
    }
    if (rest.size() - kMessageHeader < length) break;
    Message(role, rest[0], rest.subspan(kMessageHeader, length));
    pos += kMessageHeader + length;
  }
  dir.handshake.erase(dir.handshake.begin(), dir.handshake.begin() + static_cast<ptrdiff_t>(pos));
}

// One whole handshake message: its fields, then its history letter (Zeek raises the message's
// own event before ssl_handshake_message).
void HandshakeParser::Message(Role role, uint8_t type, std::span<const uint8_t> body) {
  ++counters_.messages;
  bool ok = true;
  char letter = HistoryLetter(type);
  if (type == kClientHello && role == Role::kClient) {
    ok = ClientHello(body);
  } else if (type == kServerHello && role == Role::kServer) {
    bool retry = false;
    ok = ServerHello(body, &retry);
    if (retry) letter = 'j';
  } else if (type == kCertificate) {
    ok = Certificate(role, body);
  } else if (type == kServerKeyExchange && role == Role::kServer) {
    ServerKeyExchange(body);
  } else if (type == kClientKeyExchange && role == Role::kClient) {
    client_key_exchange_seen_ = true;
  }
  if (!ok) {
    ++counters_.malformed_messages;
    listener_.OnWeird("SSL_malformed_handshake_message", fmt::format("type {}", type));
  }
  AddHistory(role, letter);
}

// RFC 8446 4.1.2 (and RFC 5246 7.4.1.2: extensions optional).
bool HandshakeParser::ClientHello(std::span<const uint8_t> body) {
  Reader r(body);
  r.U16();      // legacy_version
  r.Bytes(32);  // random
  auto session_id = r.Bytes(r.U8());
  r.Bytes(r.U16());  // cipher_suites
  r.Bytes(r.U8());   // compression_methods
  if (!r.ok()) return false;
  // Zeek raises the extension events before the hello's own.
  if (!r.empty()) {
    Reader exts(r.Bytes(r.U16()));
    while (r.ok() && exts.ok() && !exts.empty()) {
      const uint16_t type = exts.U16();
      auto data = exts.Bytes(exts.U16());
      if (exts.ok() && !ClientExtension(type, data)) return false;
    }
    if (!r.ok() || !exts.ok()) return false;
  }
  const bool all_zero = session_id.size() == 32 && std::all_of(session_id.begin(), session_id.end(),
                                                               [](uint8_t b) { return b == 0; });
  if (!session_id.empty() && !all_zero) {
    client_session_id_.emplace(session_id.begin(), session_id.end());
    client_ticket_empty_session_seen_ = false;
  }
  return true;
}

bool HandshakeParser::ClientExtension(uint16_t type, std::span<const uint8_t> data) {
  if (type == kSessionTicketExt && !data.empty()) client_ticket_empty_session_seen_ = true;
  if (type == kPreSharedKeyExt) client_psk_seen_ = true;
  if (type != kServerNameExt) return true;
  // RFC 6066 3: a list of (type, name); Zeek keeps the host names (type 0).
  Reader list(data);
  Reader names(list.Bytes(list.U16()));
  std::vector<std::string> hosts;
  while (names.ok() && !names.empty()) {
    const uint32_t name_type = names.U8();
    auto name = names.Bytes(names.U16());
    if (names.ok() && name_type == 0) hosts.emplace_back(name.begin(), name.end());
  }
  if (!list.ok() || !names.ok()) return false;
  if (!hosts.empty()) summary_.server_name = hosts.front();
  if (hosts.size() > 1) {
    std::string all;
    for (const std::string& h : hosts) all += (all.empty() ? "" : ",") + h;
    listener_.OnWeird("SSL_many_server_names", all);
  }
  return true;
}

// RFC 8446 4.1.3: a ServerHello or, by its random, a HelloRetryRequest.
bool HandshakeParser::ServerHello(std::span<const uint8_t> body, bool* retry_request) {
  Reader r(body);
  const uint16_t legacy_version = r.U16();
  auto random = r.Bytes(32);
  auto session_id = r.Bytes(r.U8());
  const uint16_t cipher = r.U16();
  r.U8();  // compression_method
  if (!r.ok()) return false;
  if (!r.empty()) {
    Reader exts(r.Bytes(r.U16()));
    while (r.ok() && exts.ok() && !exts.empty()) {
      const uint16_t type = exts.U16();
      auto data = exts.Bytes(exts.U16());
      if (exts.ok() && !ServerExtension(type, data)) return false;
    }
    if (!r.ok() || !exts.ok()) return false;
  }
  if (!summary_.version) summary_.version = legacy_version;
  summary_.cipher = cipher;
  *retry_request = std::equal(random.begin(), random.end(), kHelloRetryRandom.begin());
  // Session-id resumption exists up to TLS 1.2 (RFC 5246 7.4.1.3).
  const uint16_t v = *summary_.version;
  if (client_session_id_ &&
      std::equal(session_id.begin(), session_id.end(), client_session_id_->begin(),
                 client_session_id_->end()) &&
      (v >> 8) != 0x7F && v != 0x0304) {
    summary_.resumed = true;
  }
  return true;
}

bool HandshakeParser::ServerExtension(uint16_t type, std::span<const uint8_t> data) {
  Reader r(data);
  if (type == kSupportedVersionsExt) {
    const uint16_t version = r.U16();
    if (r.ok() && r.empty()) summary_.version = version;
  } else if (type == kKeyShareExt) {
    const uint16_t group = r.U16();  // a HelloRetryRequest has only the group
    if (r.ok()) summary_.curve = group;
  } else if (type == kAlpnExt) {
    Reader list(r.Bytes(r.U16()));
    auto protocol = list.Bytes(list.U8());
    if (list.ok() && !protocol.empty()) {
      summary_.next_protocol = std::string(protocol.begin(), protocol.end());
    }
    return r.ok() && list.ok();
  } else if (type == kPreSharedKeyExt && client_psk_seen_) {
    summary_.resumed = true;  // the server accepted the client's PSK (RFC 8446 4.2.11)
  }
  return r.ok();
}

// RFC 5246 7.4.2; TLS 1.3 (RFC 8446 4.4.2) adds a request context and per-entry extensions.
bool HandshakeParser::Certificate(Role role, std::span<const uint8_t> body) {
  const bool tls13 =
      summary_.version && *summary_.version != 0x0002 && IsTls13OrLater(*summary_.version);
  Reader r(body);
  if (tls13) r.Bytes(r.U8());  // certificate_request_context
  Reader list(r.Bytes(r.U24()));
  while (r.ok() && list.ok() && !list.empty()) {
    auto der = list.Bytes(list.U24());
    if (tls13) list.Bytes(list.U16());  // extensions
    if (!list.ok()) break;
    if (der.empty()) continue;
    summary_.certificates_seen = true;
    listener_.OnCertificate(role, der);
  }
  return r.ok() && list.ok();
}

// RFC 8422 5.4: ECDHE parameters start with the curve type, 3 = named_curve, and its id. Zeek
// reads them only when the chosen cipher suite is an ECDHE one.
void HandshakeParser::ServerKeyExchange(std::span<const uint8_t> body) {
  if (!summary_.cipher) return;
  const std::string cipher = CipherName(*summary_.cipher);
  if (cipher.find("_ECDHE_") == std::string::npos && !cipher.starts_with("TLS_ECDH_anon_")) {
    return;
  }
  Reader r(body);
  const uint32_t curve_type = r.U8();
  const uint16_t curve = r.U16();
  if (r.ok() && curve_type == 3) summary_.curve = curve;
}

void HandshakeParser::AddHistory(Role role, char letter) {
  std::string& history = summary_.history;
  if (history.size() >= limits_.max_history) return;
  history += role == Role::kClient ? static_cast<char>(letter - 'a' + 'A') : letter;
  if (history.size() == limits_.max_history) {
    listener_.OnWeird("SSL_max_ssl_history_length_reached", "");
  }
}

// Nothing more is parsed: the buffers go (a stopped parser lives as long as its connection).
void HandshakeParser::Stop() {
  stopped_ = true;
  for (auto& dir : dirs_) {
    std::vector<uint8_t>().swap(dir->body);
    std::vector<uint8_t>().swap(dir->handshake);
  }
}

void HandshakeParser::MarkSeen(Timestamp ts) {
  if (summary_.seen) return;
  summary_.seen = true;
  summary_.first_seen = ts;
}

}  // namespace mailtap::tls
