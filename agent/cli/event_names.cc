#include "cli/event_names.h"

#include <vector>

#include "mailtap/events.h"

namespace mailtap::cli {

std::span<const std::string> KnownEventNames() {
  // The one list of events is include/mailtap/event_list.h; this copies their names once.
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const EventSchema& schema : kEventSchemas) names.emplace_back(schema.name);
    return names;
  }();
  return kNames;
}

}  // namespace mailtap::cli
