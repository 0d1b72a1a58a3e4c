#include "tls/certificate.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace mailtap::tls {
namespace {

struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr Parse(std::span<const uint8_t> der) {
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  return cert;
}

}  // namespace

std::optional<std::string> CertificateFingerprint(std::span<const uint8_t> der) {
  if (!Parse(der)) return std::nullopt;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(der.data(), der.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return std::nullopt;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xF];
  }
  return hex;
}

bool CertificateMatchesHost(std::span<const uint8_t> der, std::string_view host) {
  X509Ptr cert = Parse(der);
  if (!cert || host.empty()) return false;
  // Zeek checks the common name even when there are DNS names.
  return X509_check_host(cert.get(), host.data(), host.size(), X509_CHECK_FLAG_ALWAYS_CHECK_SUBJECT,
                         nullptr) == 1;
}

}  // namespace mailtap::tls
