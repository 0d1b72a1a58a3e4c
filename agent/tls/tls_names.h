// Names of TLS code points as Zeek's ssl.log writes them (the IANA registries' names; Zeek's
// SSL::version_strings, cipher_desc, ec_curves and alert_descriptions). A code point without a
// name is "unknown-N" (N decimal), as Zeek's tables default.
#pragma once

#include <cstdint>
#include <string>

namespace mailtap::tls {

// "SSLv3", "TLSv10" ... "TLSv13", "TLSv13-draftNN" (0x7fNN), "DTLSv10" ...
std::string VersionName(uint16_t version);
// "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"...
std::string CipherName(uint16_t cipher);
// Named groups: "secp256r1", "x25519", "ffdhe2048"...
std::string CurveName(uint16_t group);
// "close_notify", "handshake_failure"...
std::string AlertName(uint8_t description);

// Whether a negotiated version is TLS 1.3 or one of its drafts (Zeek treats every version it
// does not know as one, for the encryption switch on application data).
bool IsTls13OrLater(uint16_t version);

}  // namespace mailtap::tls
