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

// The schema of every event (mailtap/event_list.h), for `mailtapd --list-events`: a JSON array,
// one event per line, each {"event":NAME,"kind":"protocol"|"content","doc":TEXT,"args":[
// {"name":KEY,"type":"bool"|"count"|"string","doc":TEXT},...]}, arguments in the order events
// carry them. Ends with a newline.
std::string FormatEventSchemaJson();

}  // namespace mailtap
