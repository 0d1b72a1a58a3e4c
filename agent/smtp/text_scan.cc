// Text helpers of the smtp.log logic, with the behaviour of Zeek's base/utils/email.zeek and
// addrs.zeek, each in time linear in its input (hostile headers and commands are normal).
#include "smtp/text_scan.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <unordered_set>
#include <utility>

namespace mailtap {

namespace smtp_text {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// s.find(c, i), remembered: the answer found from one start serves every later start up to it,
// so a run without `c` is walked once however many starts fall inside it. Fastest for rising i.
class NextOf {
 public:
  NextOf(std::string_view s, char c) : s_(s), c_(c) {}
  // The first position >= i holding c, s.size() if none.
  size_t From(size_t i) {
    if (i < from_ || i > at_) {
      from_ = i;
      at_ = std::min(s_.find(c_, i), s_.size());
    }
    return at_;
  }

 private:
  std::string_view s_;
  char c_;
  size_t from_ = 1, at_ = 0;  // From(i) == at_ for every i in [from_, at_]; empty at first
};

// Zeek's find_all(s, email regex) as a left-to-right scan. The end of the local part found from
// one start serves every later start inside it, so an '@'-less run is walked once, not once per
// start (issue 17: MAIL FROM:<aaa...> without '@' took 25 s at 256 KiB).
class EmailMatcher {
 public:
  explicit EmailMatcher(std::string_view s) : s_(s) {}

  // Length of the longest match of
  //   (^|[<,:[:blank:]])[^<,:[:blank:]@]+"@"[^>,;[:blank:]]+([>,;[:blank:]]|$)
  // at s[t], 0 if none. `^` matches at every attempt (Zeek feeds BOL at the start of each prefix
  // match), so the leading delimiter is optional; the rest is deterministic. A match is consumed
  // by the caller, so the domain part is walked once too.
  size_t MatchAt(size_t t) {
    size_t i = t;
    if (IsLead(s_[i])) ++i;
    const size_t local_start = i;
    i = LocalEnd(i);
    if (i == local_start || i >= s_.size() || s_[i] != '@') return 0;
    const size_t domain_start = ++i;
    while (i < s_.size() && !IsTailEnd(s_[i])) ++i;
    if (i == domain_start) return 0;
    if (i < s_.size()) ++i;  // the terminating delimiter is part of the match
    return i - t;
  }

 private:
  static bool IsLead(char c) { return c == '<' || c == ',' || c == ':' || IsBlank(c); }
  static bool IsTailEnd(char c) { return c == '>' || c == ',' || c == ';' || IsBlank(c); }

  // The first position >= i that ends a local part: a lead delimiter, '@' or the end.
  size_t LocalEnd(size_t i) {
    if (i < from_ || i > end_) {
      from_ = i;
      end_ = i;
      while (end_ < s_.size() && !IsLead(s_[end_]) && s_[end_] != '@') ++end_;
    }
    return end_;
  }

  std::string_view s_;
  size_t from_ = 1, end_ = 0;  // LocalEnd(i) == end_ for every i in [from_, end_]
};

// Zeek's find_all(s, /(\"[^"]*\")?[^,]+@[^,]+/) as a left-to-right scan, linear in s: each
// search (next comma, next '@') is remembered for the later starts it also answers.
class MimeAddressMatcher {
 public:
  explicit MimeAddressMatcher(std::string_view s)
      : s_(s), comma_(s, ','), at_(s, '@'), quoted_comma_(s, ','), quoted_at_(s, '@') {}

  // Length of the longest match at s[t], 0 if none.
  size_t MatchAt(size_t t) {
    size_t best = Plain(t, comma_, at_);
    if (s_[t] == '"') {
      const size_t close = s_.find('"', t + 1);
      if (close != std::string_view::npos && close + 1 < s_.size()) {
        best = std::max(best, Plain(close + 1, quoted_comma_, quoted_at_));
      }
    }
    return best == 0 ? 0 : best - t;
  }

 private:
  // End of the match of [^,]+@[^,]+ at i (up to the next comma, with an '@' that has text on
  // both sides), 0 if none.
  static size_t Plain(size_t i, NextOf& comma, NextOf& at) {
    const size_t end = comma.From(i);
    if (end - i < 3) return 0;
    return at.From(i + 1) <= end - 2 ? end : 0;
  }

  std::string_view s_;
  NextOf comma_, at_;                // for the starts t, which rise
  NextOf quoted_comma_, quoted_at_;  // for the starts after a quoted part, which rise too
};

std::string_view Strip(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Zeek's ipv4_decim: [0-9] | [0-9]{2} | 0[0-9]{2} | 1[0-9]{2} | 2[0-4][0-9] | 25[0-5].
bool IsDecim(std::string_view s, size_t i, size_t len) {
  if (i + len > s.size()) return false;
  for (size_t k = 0; k < len; ++k) {
    if (!IsDigit(s[i + k])) return false;
  }
  if (len < 3) return true;
  const int value = (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
  return value <= 255;
}

// Longest match of decim(.decim){3 - octet} at s[i]; 0 if none.
size_t LongestIpv4At(std::string_view s, size_t i, int octet = 0) {
  size_t best = 0;
  for (size_t len = 1; len <= 3; ++len) {
    if (!IsDecim(s, i, len)) continue;
    if (octet == 3) {
      best = std::max(best, len);
    } else if (i + len < s.size() && s[i + len] == '.') {
      size_t rest = LongestIpv4At(s, i + len + 1, octet + 1);
      if (rest > 0) best = std::max(best, len + 1 + rest);
    }
  }
  return best;
}

bool FullIpv4(std::string_view s) { return !s.empty() && LongestIpv4At(s, 0) == s.size(); }

constexpr size_t kMaxIpv6Text = 45;  // six groups, six colons and a dotted quad

// Longest e - t such that s[t, e) matches all of Zeek's ipv6_addr_regex, with e <= limit; 0 if
// none. The forms: 8 groups; 6 groups, ':' and an IPv4; A::B with |A| + |B| <= 7 groups; A::B
// directly followed by an IPv4 (no ':' between B's last digit and it) with |A| + |B| <= 5. One
// walk over the groups tries every end at once: trying each end in turn cost about 5 s per MiB
// of hex digits and colons (issue 17).
size_t LongestIpv6At(std::string_view s, size_t t, size_t limit) {
  const std::string_view window = s.substr(0, limit);
  size_t best = 0;
  const auto accept = [&](size_t end) { best = std::max(best, end - t); };
  const auto accept_ipv4_at = [&](size_t q) {
    if (q < limit && IsDigit(s[q])) {
      if (const size_t n = LongestIpv4At(window, q)) accept(q + n);
    }
  };
  int before = -1;    // groups before "::", once seen
  size_t groups = 0;  // groups ended by ':' since the start, or since "::"
  size_t run = 0;     // hex digits of the current group
  size_t i = t;
  if (s[i] == ':') {
    if (i + 1 >= limit || s[i + 1] != ':') return 0;
    before = 0;
    i += 2;
    accept(i);
    accept_ipv4_at(i);
  }
  for (; i < limit; ++i) {
    if (IsHex(s[i])) {
      if (++run > 4) break;
      const size_t total = groups + 1 + static_cast<size_t>(std::max(before, 0));
      if (before < 0 && total == 8) accept(i + 1);
      if (before >= 0 && total <= 7) accept(i + 1);
      if (before >= 0 && total <= 5) accept_ipv4_at(i + 1);
      continue;
    }
    if (s[i] != ':' || run == 0) break;
    ++groups;
    run = 0;
    if (i + 1 < limit && s[i + 1] == ':') {
      if (before >= 0) break;  // a second "::"
      before = static_cast<int>(groups);
      groups = 0;
      ++i;
      if (before <= 7) accept(i + 1);
      if (before <= 5) accept_ipv4_at(i + 1);
    } else if (before < 0 && groups == 6) {
      accept_ipv4_at(i + 1);
    }
  }
  return best;
}

// Longest match of Zeek's ip_addr_regex at s[t], 0 if none.
size_t LongestIpAt(std::string_view s, size_t t) {
  if (!IsHex(s[t]) && s[t] != ':') return 0;
  // The walk stops at the first byte no IPv6 address holds; only the length is capped here.
  const size_t limit = std::min(s.size(), t + kMaxIpv6Text);
  return std::max(LongestIpv4At(s, t), LongestIpv6At(s, t, limit));
}

// split_string_all(s, ip_addr_regex): non-match, match, non-match, ..., non-match.
std::vector<std::string_view> SplitOnIps(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t seg = 0, pos = 0;
  while (pos < s.size()) {
    size_t len = LongestIpAt(s, pos);
    if (len == 0) {
      ++pos;
      continue;
    }
    parts.push_back(s.substr(seg, pos - seg));
    parts.push_back(s.substr(pos, len));
    pos += len;
    seg = pos;
  }
  parts.push_back(s.substr(seg));
  return parts;
}

bool Wrapped(std::string_view before, std::string_view after) {
  if (before.empty() && after.empty()) return true;
  if (before.empty() || after.empty()) return false;
  static constexpr std::array<std::pair<char, char>, 4> kPairs = {
      {{'[', ']'}, {'(', ')'}, {'{', '}'}, {' ', ' '}}};
  return std::any_of(kPairs.begin(), kPairs.end(), [&](const auto& p) {
    return before.back() == p.first && after.front() == p.second;
  });
}

}  // namespace

void ForEachEmailAddr(std::string_view text, const std::function<bool(std::string&&)>& visit) {
  EmailMatcher matcher(text);
  for (size_t t = 0; t < text.size();) {
    size_t n = matcher.MatchAt(t);
    if (n == 0) {
      ++t;
      continue;
    }
    std::string addr;
    for (char c : text.substr(t, n)) {
      if (c != '<' && c != '>' && c != ',' && c != ':' && c != ';' && !IsBlank(c)) addr += c;
    }
    if (!visit(std::move(addr))) return;
    t += n;
  }
}

std::vector<std::string> ExtractEmailAddrs(std::string_view text) {
  std::vector<std::string> out;
  ForEachEmailAddr(text, [&](std::string&& a) {
    out.push_back(std::move(a));
    return true;
  });
  return out;
}

void ForEachMimeEmailAddress(std::string_view text,
                             const std::function<bool(std::string_view)>& visit) {
  MimeAddressMatcher matcher(text);
  for (size_t t = 0; t < text.size();) {
    size_t n = matcher.MatchAt(t);
    if (n == 0) {
      ++t;
      continue;
    }
    if (!visit(Strip(text.substr(t, n)))) return;
    t += n;
  }
}

std::vector<std::string> SplitMimeEmailAddresses(std::string_view text) {
  std::vector<std::string> out;
  std::unordered_set<std::string_view> seen;  // views into `text`
  ForEachMimeEmailAddress(text, [&](std::string_view part) {
    if (seen.insert(part).second) out.emplace_back(part);
    return true;
  });
  return out;
}

std::vector<std::string> ExtractIpAddresses(std::string_view text, IpWrapping wrapping) {
  std::vector<std::string_view> parts = SplitOnIps(text);
  std::vector<std::string> out;
  for (size_t i = 1; i + 1 < parts.size(); i += 2) {
    if (!ParseIp(parts[i])) continue;  // Zeek's is_valid_ip()
    if (wrapping == IpWrapping::kRequireWrapped && !Wrapped(parts[i - 1], parts[i + 1])) continue;
    out.emplace_back(parts[i]);
  }
  return out;
}

std::optional<IpAddress> ParseIp(std::string_view text) {
  if (text.find(':') != std::string_view::npos) {
    std::array<uint8_t, 16> buf{};
    std::string z(text);
    if (inet_pton(AF_INET6, z.c_str(), buf.data()) != 1) return std::nullopt;
    return IpAddress::FromV6(buf);
  }
  if (!FullIpv4(text)) return std::nullopt;
  std::array<uint8_t, 4> octets{};
  size_t k = 0;
  unsigned value = 0;
  for (char c : text) {
    if (c == '.') {
      octets[k++] = static_cast<uint8_t>(value);
      value = 0;
    } else {
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
  }
  octets[k] = static_cast<uint8_t>(value);
  return IpAddress::FromV4(octets);
}

std::optional<IpAddress> FindAddressInSmtpHeader(std::string_view value) {
  std::vector<std::string> ips = ExtractIpAddresses(value, IpWrapping::kRequireWrapped);
  if (ips.empty()) return std::nullopt;
  return ParseIp(ips.size() > 1 ? ips[1] : ips[0]);
}

}  // namespace smtp_text

}  // namespace mailtap
