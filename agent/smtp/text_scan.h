// Text helpers of the smtp.log logic (smtp/transaction.h), with the exact behaviour of Zeek's
// base/utils/email.zeek and addrs.zeek, in linear time.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/packet.h"

namespace mailtap {

// Text helpers with the exact behaviour of Zeek's base/utils/email.zeek and addrs.zeek, exposed
// for tests. All take raw bytes and never fail.
namespace smtp_text {

// extract_email_addrs_vec(): every address-looking token, in order (duplicates kept), with
// `<>,:;` and blanks removed. "FROM: <a@b>" -> {"a@b"}.
std::vector<std::string> ExtractEmailAddrs(std::string_view text);
// The same addresses handed to `visit` one by one, until it returns false (so that a caller with
// a cap stops scanning, and keeps no list of everything a line holds).
void ForEachEmailAddr(std::string_view text, const std::function<bool(std::string&&)>& visit);

// split_mime_email_addresses(): every maximal comma-free part containing an `@` (a leading
// double-quoted display name may contain commas), whitespace-stripped, display names kept.
// Duplicates removed, first-seen order.
std::vector<std::string> SplitMimeEmailAddresses(std::string_view text);
// The same parts, duplicates included, handed to `visit` one by one until it returns false.
// Views into `text`.
void ForEachMimeEmailAddress(std::string_view text,
                             const std::function<bool(std::string_view)>& visit);

enum class IpWrapping { kAny, kRequireWrapped };
// extract_ip_addresses(): IPv4/IPv6 literals found by Zeek's ip_addr_regex (longest match,
// scanning left to right). With kRequireWrapped only those enclosed in [], (), {} or spaces, or
// making up the whole text, are returned.
std::vector<std::string> ExtractIpAddresses(std::string_view text, IpWrapping wrapping);

// Zeek's to_addr() for strings found above: IPv4 octets may have leading zeros.
std::optional<IpAddress> ParseIp(std::string_view text);

// find_address_in_smtp_header(): of the wrapped IPs in a Received header, the second if there
// are several, else the first.
std::optional<IpAddress> FindAddressInSmtpHeader(std::string_view value);

}  // namespace smtp_text

}  // namespace mailtap
