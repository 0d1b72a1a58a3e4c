// Zeek's redef-able constants that change what mailtap reports, settable as `--set NAME=VALUE`
// with Zeek's own names (e.g. --set SMTP::max_invalid_mail_transactions=2).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "memory_budget.h"
#include "sinks/zeek_log.h"
#include "smtp/analyzer.h"
#include "smtp/transaction.h"

namespace mailtap {

struct Tunables {
  SmtpConfig smtp;  // `ports` is ignored here: --ports sets it
  SmtpLogConfig smtp_log;
  LogLimits log_limits;
};

// smtp_log with the pending record's bounds set to what the smtp.log writer prints (log_limits)
// plus one (a writer limit of 0, none, leaves that bound off too), and all pending records
// together bounded by their share of the memory plan.
SmtpLogConfig SmtpLogConfigFor(const Tunables& tunables, const MemoryPlan& memory);

// Applies one "NAME=VALUE". Returns false and sets *error (naming the valid names or the
// expected value) when the name is unknown or the value is not a whole number (T/F for
// booleans).
bool ApplyTunable(std::string_view assignment, Tunables* tunables, std::string* error);

// "NAME (default)" for every tunable, for --help and error messages.
std::vector<std::string> TunableNames();

}  // namespace mailtap
