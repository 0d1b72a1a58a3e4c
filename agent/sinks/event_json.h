// The JSON shape of one event (interface.md "Events"), shared by --events and the query server.
#pragma once

#include <string>

#include "mailtap/events.h"

namespace mailtap {

// One JSON object without a trailing newline. Keys in order: "ts" (seconds with exactly six
// decimals), "event", then -- if the event belongs to a connection -- "uid", "id.orig_h",
// "id.orig_p", "id.resp_h", "id.resp_p", then the event's arguments in their order (bool ->
// true/false, int64 -> number, string -> JSON string with raw bytes escaped per
// common/json_escape.h). Always valid JSON whatever the bytes.
std::string FormatEventJson(const Event& event);

// Same, appended to *out (no allocation per event when *out has capacity).
void AppendEventJson(const Event& event, std::string* out);

}  // namespace mailtap
