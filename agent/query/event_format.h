// The JSON shape of events and smtp.log records: the very formatters of the --events and
// smtp.log writers, so that `mailtap observe -o json` lines equal `--events` lines byte for byte.
#pragma once

#include "sinks/event_json.h"
#include "sinks/smtp_log_writer.h"
