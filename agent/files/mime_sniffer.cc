#include "files/mime_sniffer.h"

#include <magic.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace mailtap {
namespace {

// The bytes come from the network: libmagic must not decompress them (a small attachment could
// expand to gigabytes) nor look into archives; type detection needs neither.
constexpr int kMagicFlags = MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_NO_CHECK_TAR |
                            MAGIC_NO_CHECK_CDF | MAGIC_NO_CHECK_ELF | MAGIC_ERROR;

bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

MimeSniffer::MimeSniffer() : cookie_(magic_open(kMagicFlags)) {
  if (cookie_ == nullptr) throw std::runtime_error("libmagic: cannot allocate a handle");
  if (magic_load(cookie_, nullptr) != 0) {
    std::string message = "libmagic: cannot load the magic database: ";
    const char* error = magic_error(cookie_);
    message += error != nullptr ? error : "unknown error";
    magic_close(cookie_);
    throw std::runtime_error(message);
  }
}

MimeSniffer::~MimeSniffer() { magic_close(cookie_); }

// Zeek's signatures find no type in blank content (a part of only CRLFs logs mime_type "-"),
// where libmagic would say text/plain: blank heads are left untyped as Zeek leaves them.
std::optional<std::string> MimeSniffer::Sniff(std::string_view head) const {
  if (std::all_of(head.begin(), head.end(), IsWhitespace)) return std::nullopt;
  const char* type = magic_buffer(cookie_, head.data(), head.size());
  if (type == nullptr || *type == '\0') return std::nullopt;
  return std::string(type);
}

}  // namespace mailtap
