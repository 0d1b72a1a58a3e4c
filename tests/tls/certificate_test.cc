#include "tls/certificate.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mailtap::tls {
namespace {

// A self-signed P-256 certificate for CN=mail.example.org with the DNS names mail.example.org
// and *.mx.example.org, made by `openssl req -x509`; its fingerprint below is what
// `openssl x509 -noout -fingerprint -sha256` printed for it.
constexpr char kCertificateHex[] =
    "308201bc30820162a0030201020214562ac3730726d67ebf1a16cce13fd629a9e15a40300a06082a8648ce3d"
    "040302301b3119301706035504030c106d61696c2e6578616d706c652e6f7267301e170d3236313230343230"
    "303933305a170d3336313230313230303933305a301b3119301706035504030c106d61696c2e6578616d706c"
    "652e6f72673059301306072a8648ce3d020106082a8648ce3d0301070342000425958f059f7f077357f32ab5"
    "456848d8d9f4477041ebad7ea494ae9a26bd780929264e5c85451bb2ad9199a2352cec34d582dae8afc8b4a6"
    "84f53bc3fc8685ada38183308180301d0603551d0e041604142a88edad498b6a4a61df786f9ba82d6c3d7beb"
    "86301f0603551d230418301680142a88edad498b6a4a61df786f9ba82d6c3d7beb86300f0603551d130101ff"
    "040530030101ff302d0603551d110426302482106d61696c2e6578616d706c652e6f726782102a2e6d782e65"
    "78616d706c652e6f7267300a06082a8648ce3d0403020348003045022100da297ee1c6c1f65e63de4d204725"
    "a53889b1065c3515956e5ccf17fe67e5ff6202207238ee085aa21667f105992ece4101ac26cbf2c60488284d"
    "0bc844ec9fb71fd8";
constexpr char kFingerprint[] = "e9dfd8918fc18a06950c928ffc43936065b278a5305d63f0d652c0d60f9eef57";

std::vector<uint8_t> FromHex(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

TEST(CertificateTest, FingerprintIsTheSha256OfTheDerBytes) {
  EXPECT_EQ(CertificateFingerprint(FromHex(kCertificateHex)), kFingerprint);
}

TEST(CertificateTest, BytesThatAreNotACertificateHaveNoFingerprint) {
  std::vector<uint8_t> der = FromHex(kCertificateHex);
  der.resize(der.size() / 2);
  EXPECT_EQ(CertificateFingerprint(der), std::nullopt);
  EXPECT_EQ(CertificateFingerprint(std::vector<uint8_t>{0x30, 0x03, 0x01, 0x01, 0xff}),
            std::nullopt);
}

TEST(CertificateTest, HostMatchesNamesAndWildcardsOfTheCertificate) {
  const std::vector<uint8_t> der = FromHex(kCertificateHex);
  EXPECT_TRUE(CertificateMatchesHost(der, "mail.example.org"));
  EXPECT_TRUE(CertificateMatchesHost(der, "in1.mx.example.org"));
  EXPECT_FALSE(CertificateMatchesHost(der, "a.b.mx.example.org"));  // one label per wildcard
  EXPECT_FALSE(CertificateMatchesHost(der, "example.org"));
  EXPECT_FALSE(CertificateMatchesHost(std::vector<uint8_t>{1, 2, 3}, "mail.example.org"));
}

}  // namespace
}  // namespace mailtap::tls
