// What ssl.log needs from an X.509 certificate, computed by libcrypto (OpenSSL).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace mailtap::tls {

// Lower-case hex SHA-256 of `der` when it parses as an X.509 certificate (Zeek fingerprints
// only what its X.509 analyzer parsed), else nullopt.
std::optional<std::string> CertificateFingerprint(std::span<const uint8_t> der);

// Whether the certificate `der` names `host` in its subject alternative names or its subject
// common name, wildcards as RFC 6125 (Zeek's x509_check_cert_hostname). False when `der` does
// not parse.
bool CertificateMatchesHost(std::span<const uint8_t> der, std::string_view host);

}  // namespace mailtap::tls
