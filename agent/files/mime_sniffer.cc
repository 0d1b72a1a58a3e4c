#include "files/mime_sniffer.h"

#include <magic.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>

namespace mailtap {
namespace {

// The bytes come from the network: libmagic must not decompress them (a small attachment could
// expand to gigabytes) nor look into archives; type detection needs neither.
constexpr int kMagicFlags = MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_NO_CHECK_TAR |
                            MAGIC_NO_CHECK_CDF | MAGIC_NO_CHECK_ELF | MAGIC_ERROR;

bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

// HTML as libmagic's and Zeek's HTML signatures see it: a document that opens with one of the
// tags only HTML begins with, after any leading whitespace.
bool OpensWithHtmlMarkup(std::string_view head) {
  const size_t start = head.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return false;
  head.remove_prefix(start);
  for (std::string_view tag : {"<!doctype html", "<html", "<head", "<body", "<title"}) {
    if (StartsWithIgnoreCase(head, tag)) return true;
  }
  return false;
}

}  // namespace

::magic_set* MimeSniffer::Open(int flags) {
  ::magic_set* cookie = magic_open(flags);
  if (cookie == nullptr) throw std::runtime_error("libmagic: cannot allocate a handle");
  if (magic_load(cookie, nullptr) != 0) {
    std::string message = "libmagic: cannot load the magic database: ";
    const char* error = magic_error(cookie);
    message += error != nullptr ? error : "unknown error";
    magic_close(cookie);
    throw std::runtime_error(message);
  }
  return cookie;
}

MimeSniffer::MimeSniffer() : builtin_(Open(kMagicFlags | MAGIC_NO_CHECK_SOFT)) {
  try {
    full_ = Open(kMagicFlags);
  } catch (...) {
    magic_close(builtin_);
    throw;
  }
}

MimeSniffer::~MimeSniffer() {
  magic_close(builtin_);
  magic_close(full_);
}

std::optional<std::string> MimeSniffer::Ask(::magic_set* cookie, std::string_view head) {
  const char* type = magic_buffer(cookie, head.data(), head.size());
  if (type == nullptr || *type == '\0') return std::nullopt;
  return std::string(type);
}

// Zeek's signatures find no type in blank content (a part of only CRLFs logs mime_type "-"),
// where libmagic would say text/plain: blank heads are left untyped as Zeek leaves them.
std::optional<std::string> MimeSniffer::Sniff(std::string_view head) const {
  if (std::all_of(head.begin(), head.end(), IsWhitespace)) return std::nullopt;
  std::optional<std::string> type = Ask(builtin_, head);
  if (type && type->starts_with("text/")) {
    return OpensWithHtmlMarkup(head) ? "text/html" : type;
  }
  if (type && *type != "application/octet-stream") return type;  // JSON and the like
  return Ask(full_, head);
}

}  // namespace mailtap
