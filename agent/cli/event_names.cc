#include "cli/event_names.h"

#include <vector>

#include "mailtap/events.h"

namespace mailtap::cli {

std::span<const std::string> KnownEventNames() {
  // The one list of event names is include/mailtap/events.h; this copies it once.
  namespace n = event_names;
  static const std::vector<std::string> kNames = {
      std::string(n::kSmtpRequest),    std::string(n::kSmtpReply),
      std::string(n::kSmtpData),       std::string(n::kSmtpStartTls),
      std::string(n::kSmtpUnexpected), std::string(n::kWeird),
      std::string(n::kMimeOneHeader),  std::string(n::kMimeBeginEntity),
      std::string(n::kMimeEndEntity)};
  return kNames;
}

}  // namespace mailtap::cli
