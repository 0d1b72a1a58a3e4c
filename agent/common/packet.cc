#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "mailtap/packet.h"

namespace mailtap {
namespace {
constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}  // namespace

std::string FormatTimestamp(Timestamp ts) {
  std::string out;
  AppendTimestamp(ts, &out);
  return out;
}

void AppendTimestamp(Timestamp ts, std::string* out) {
  int64_t secs = ts.usec / 1000000;
  int64_t frac = ts.usec % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  // Hand-rolled rather than snprintf: this runs once per event on the hot path.
  char buf[32];
  char* end = std::to_chars(buf, buf + sizeof buf - 8, secs).ptr;
  *end++ = '.';
  for (int64_t div = 100000; div > 0; div /= 10) *end++ = static_cast<char>('0' + (frac / div) % 10);
  out->append(buf, end);
}

IpAddress IpAddress::FromV4(std::span<const uint8_t, 4> bytes) {
  IpAddress a;
  std::memcpy(a.bytes_.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
  std::memcpy(a.bytes_.data() + 12, bytes.data(), 4);
  return a;
}

IpAddress IpAddress::FromV6(std::span<const uint8_t, 16> bytes) {
  IpAddress a;
  std::memcpy(a.bytes_.data(), bytes.data(), 16);
  return a;
}

bool IpAddress::Parse(const std::string& text, IpAddress* out) {
  uint8_t buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    *out = FromV4(std::span<const uint8_t, 4>(buf, 4));
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    *out = FromV6(std::span<const uint8_t, 16>(buf, 16));
    return true;
  }
  return false;
}

bool IpAddress::IsV4() const {
  return std::memcmp(bytes_.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size()) == 0;
}

std::string IpAddress::ToString() const {
  std::string out;
  AppendTo(&out);
  return out;
}

void IpAddress::AppendTo(std::string* out) const {
  if (IsV4()) {
    // Dotted quad by hand: glibc's inet_ntop formats IPv4 through sprintf, which cost a visible
    // share of writing every smtp.log record (four addresses each).
    char text[16];
    char* end = text;
    for (int i = 12; i < 16; ++i) {
      if (i > 12) *end++ = '.';
      const unsigned b = bytes_[i];
      if (b >= 100) *end++ = static_cast<char>('0' + b / 100);
      if (b >= 10) *end++ = static_cast<char>('0' + b / 10 % 10);
      *end++ = static_cast<char>('0' + b % 10);
    }
    out->append(text, end);
    return;
  }
  char buf[INET6_ADDRSTRLEN];
  const char* s = inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf);
  out->append(s ? s : "?");
}

}  // namespace mailtap
