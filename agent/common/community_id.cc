#include "common/community_id.h"

#include <openssl/evp.h>

#include <array>
#include <tuple>
#include <vector>

namespace mailtap {
namespace {

void AppendAddress(const IpAddress& addr, std::vector<uint8_t>* out) {
  const auto& b = addr.bytes();
  size_t skip = addr.IsV4() ? 12 : 0;  // the IPv4 address without its ::ffff: prefix
  out->insert(out->end(), b.begin() + static_cast<std::ptrdiff_t>(skip), b.end());
}

void AppendBe16(uint16_t v, std::vector<uint8_t>* out) {
  out->push_back(static_cast<uint8_t>(v >> 8));
  out->push_back(static_cast<uint8_t>(v & 0xff));
}

std::string Encode(const unsigned char* digest, unsigned int len, CommunityIdEncoding encoding) {
  std::string out = "1:";
  if (encoding == CommunityIdEncoding::kHex) {
    static constexpr char kHexDigits[] = "0123456789abcdef";
    for (unsigned int i = 0; i < len; ++i) {
      out.push_back(kHexDigits[digest[i] >> 4]);
      out.push_back(kHexDigits[digest[i] & 0x0f]);
    }
    return out;
  }
  std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> text{};
  int n = EVP_EncodeBlock(text.data(), digest, static_cast<int>(len));
  out.append(reinterpret_cast<const char*>(text.data()), static_cast<size_t>(n));
  return out;
}

}  // namespace

std::string CommunityId(const IpAddress& src, uint16_t src_port, const IpAddress& dst,
                        uint16_t dst_port, uint8_t protocol, uint16_t seed,
                        CommunityIdEncoding encoding) {
  // The spec orders by address, then port; the byte order of the held addresses is the
  // spec's (IPv4-mapped addresses share their prefix, so IPv4 compares as its 4 bytes).
  bool keep = std::tie(src, src_port) < std::tie(dst, dst_port);
  const IpAddress& a = keep ? src : dst;
  const IpAddress& b = keep ? dst : src;
  std::vector<uint8_t> input;
  input.reserve(2 + 16 + 16 + 2 + 4);
  AppendBe16(seed, &input);
  AppendAddress(a, &input);
  AppendAddress(b, &input);
  input.push_back(protocol);
  input.push_back(0);  // padding
  AppendBe16(keep ? src_port : dst_port, &input);
  AppendBe16(keep ? dst_port : src_port, &input);

  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  if (EVP_Digest(input.data(), input.size(), digest.data(), &digest_len, EVP_sha1(), nullptr) !=
      1) {
    return {};
  }
  return Encode(digest.data(), digest_len, encoding);
}

}  // namespace mailtap
