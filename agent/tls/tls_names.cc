#include "tls/tls_names.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <span>
#include <string_view>

namespace mailtap::tls {
namespace {

struct Named {
  uint16_t code;
  std::string_view name;
};

constexpr Named kCipherSuites[] = {
#include "tls/cipher_suites.inc"
};

// IANA TLS Supported Groups registry (RFC 8422, 7919, 8446, 8734).
constexpr Named kCurves[] = {
    {1, "sect163k1"},
    {2, "sect163r1"},
    {3, "sect163r2"},
    {4, "sect193r1"},
    {5, "sect193r2"},
    {6, "sect233k1"},
    {7, "sect233r1"},
    {8, "sect239k1"},
    {9, "sect283k1"},
    {10, "sect283r1"},
    {11, "sect409k1"},
    {12, "sect409r1"},
    {13, "sect571k1"},
    {14, "sect571r1"},
    {15, "secp160k1"},
    {16, "secp160r1"},
    {17, "secp160r2"},
    {18, "secp192k1"},
    {19, "secp192r1"},
    {20, "secp224k1"},
    {21, "secp224r1"},
    {22, "secp256k1"},
    {23, "secp256r1"},
    {24, "secp384r1"},
    {25, "secp521r1"},
    {26, "brainpoolP256r1"},
    {27, "brainpoolP384r1"},
    {28, "brainpoolP512r1"},
    {29, "x25519"},
    {30, "x448"},
    {31, "brainpoolP256r1tls13"},
    {32, "brainpoolP384r1tls13"},
    {33, "brainpoolP512r1tls13"},
    {256, "ffdhe2048"},
    {257, "ffdhe3072"},
    {258, "ffdhe4096"},
    {259, "ffdhe6144"},
    {260, "ffdhe8192"},
    {0xFF01, "arbitrary_explicit_prime_curves"},
    {0xFF02, "arbitrary_explicit_char2_curves"},
};

// IANA TLS Alert Descriptions registry (RFC 8446 6, RFC 5246 7.2).
constexpr Named kAlerts[] = {
    {0, "close_notify"},
    {10, "unexpected_message"},
    {20, "bad_record_mac"},
    {21, "decryption_failed"},
    {22, "record_overflow"},
    {30, "decompression_failure"},
    {40, "handshake_failure"},
    {41, "no_certificate"},
    {42, "bad_certificate"},
    {43, "unsupported_certificate"},
    {44, "certificate_revoked"},
    {45, "certificate_expired"},
    {46, "certificate_unknown"},
    {47, "illegal_parameter"},
    {48, "unknown_ca"},
    {49, "access_denied"},
    {50, "decode_error"},
    {51, "decrypt_error"},
    {60, "export_restriction"},
    {70, "protocol_version"},
    {71, "insufficient_security"},
    {80, "internal_error"},
    {86, "inappropriate_fallback"},
    {90, "user_canceled"},
    {100, "no_renegotiation"},
    {109, "missing_extension"},
    {110, "unsupported_extension"},
    {111, "certificate_unobtainable"},
    {112, "unrecognized_name"},
    {113, "bad_certificate_status_response"},
    {114, "bad_certificate_hash_value"},
    {115, "unknown_psk_identity"},
    {116, "certificate_required"},
    {120, "no_application_protocol"},
};

constexpr Named kVersions[] = {
    {0x0002, "SSLv2"},   {0x0300, "SSLv3"},   {0x0301, "TLSv10"},
    {0x0302, "TLSv11"},  {0x0303, "TLSv12"},  {0x0304, "TLSv13"},
    {0xFEFF, "DTLSv10"}, {0xFEFD, "DTLSv12"}, {0xFEFC, "DTLSv13"},
};

// Tables in code order, so that lookups are a binary search.
constexpr bool Sorted(std::span<const Named> table) {
  return std::is_sorted(table.begin(), table.end(),
                        [](const Named& a, const Named& b) { return a.code < b.code; });
}
static_assert(Sorted(kCipherSuites) && Sorted(kCurves) && Sorted(kAlerts));

std::string Lookup(std::span<const Named> table, uint16_t code) {
  auto it = std::lower_bound(table.begin(), table.end(), code,
                             [](const Named& n, uint16_t c) { return n.code < c; });
  if (it != table.end() && it->code == code) return std::string(it->name);
  return fmt::format("unknown-{}", code);
}

}  // namespace

std::string VersionName(uint16_t version) {
  for (const Named& v : kVersions) {
    if (v.code == version) return std::string(v.name);
  }
  // TLS 1.3 drafts were numbered 0x7f00 + draft (RFC 8446 was draft 28).
  if ((version >> 8) == 0x7F) return fmt::format("TLSv13-draft{:02}", version & 0xFF);
  return fmt::format("unknown-{}", version);
}

std::string CipherName(uint16_t cipher) { return Lookup(kCipherSuites, cipher); }
std::string CurveName(uint16_t group) { return Lookup(kCurves, group); }
std::string AlertName(uint8_t description) { return Lookup(kAlerts, description); }

bool IsTls13OrLater(uint16_t version) {
  return version != 0x0002 && version != 0x0300 && version != 0x0301 && version != 0x0302 &&
         version != 0x0303;
}

}  // namespace mailtap::tls
