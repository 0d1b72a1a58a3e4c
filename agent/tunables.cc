#include "tunables.h"

#include <fmt/format.h>

#include <charconv>
#include <functional>

namespace mailtap {
namespace {

// A tunable is a name and where its value lives; booleans take Zeek's T/F.
struct Tunable {
  std::string_view name;
  std::function<size_t*(Tunables&)> count;
  std::function<bool*(Tunables&)> flag;
};

const std::vector<Tunable>& Table() {
  static const std::vector<Tunable> table = {
      {"SMTP::max_invalid_mail_transactions",
       [](Tunables& t) { return &t.smtp_log.max_invalid_mail_transactions; },
       {}},
      {"SMTP::mail_transaction_validation",
       {},
       [](Tunables& t) { return &t.smtp_log.mail_transaction_validation; }},
      {"SMTP::max_rcptto_addresses",
       [](Tunables& t) { return &t.smtp_log.max_rcptto_addresses; },
       {}},
      {"SMTP::max_to_addresses", [](Tunables& t) { return &t.smtp_log.max_to_addresses; }, {}},
      {"SMTP::max_cc_addresses", [](Tunables& t) { return &t.smtp_log.max_cc_addresses; }, {}},
      {"SMTP::max_path_length", [](Tunables& t) { return &t.smtp_log.max_path_length; }, {}},
      {"SMTP::bdat_max_line_length", [](Tunables& t) { return &t.smtp.bdat_max_line_length; }, {}},
      {"MIME::max_header_bytes", [](Tunables& t) { return &t.smtp.max_header_bytes; }, {}},
      {"MIME::max_depth", [](Tunables& t) { return &t.smtp.max_mime_depth; }, {}},
      {"SMTP::enable_rfc822_msg_file_analysis",
       {},
       [](Tunables& t) { return &t.smtp.rfc822_msg_file_analysis; }},
      {"DPD::ignore_violations_after",
       [](Tunables& t) { return &t.smtp.dpd_ignore_violations_after; },
       {}},
      {"Log::default_max_field_string_bytes",
       [](Tunables& t) { return &t.log_limits.max_field_string_bytes; },
       {}},
      {"Log::default_max_field_container_elements",
       [](Tunables& t) { return &t.log_limits.max_field_container_elements; },
       {}},
  };
  return table;
}

std::string ValidNames() {
  std::string names;
  for (const Tunable& t : Table()) names += fmt::format("{}{}", names.empty() ? "" : ", ", t.name);
  return names;
}

bool SetValue(const Tunable& tunable, std::string_view text, Tunables* tunables,
              std::string* error) {
  if (tunable.flag) {
    if (text != "T" && text != "F") {
      *error = fmt::format("--set {}: expected T or F, got '{}'", tunable.name, text);
      return false;
    }
    *tunable.flag(*tunables) = text == "T";
    return true;
  }
  size_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    *error = fmt::format("--set {}: expected a whole number, got '{}'", tunable.name, text);
    return false;
  }
  *tunable.count(*tunables) = value;
  return true;
}

}  // namespace

bool ApplyTunable(std::string_view assignment, Tunables* tunables, std::string* error) {
  size_t eq = assignment.find('=');
  if (eq == std::string_view::npos) {
    *error = fmt::format("--set '{}': expected NAME=VALUE", assignment);
    return false;
  }
  std::string_view name = assignment.substr(0, eq);
  for (const Tunable& tunable : Table()) {
    if (tunable.name == name) return SetValue(tunable, assignment.substr(eq + 1), tunables, error);
  }
  *error = fmt::format("--set: unknown name '{}' (known: {})", name, ValidNames());
  return false;
}

std::vector<std::string> TunableNames() {
  std::vector<std::string> out;
  Tunables defaults;
  for (const Tunable& t : Table()) {
    out.push_back(t.flag ? fmt::format("{} ({})", t.name, *t.flag(defaults) ? "T" : "F")
                         : fmt::format("{} ({})", t.name, *t.count(defaults)));
  }
  return out;
}

}  // namespace mailtap
