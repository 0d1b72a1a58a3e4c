// SMTP command and reply lines: pure parsing functions (spec 5.5, 6.1-6.4) and the command
// table with Zeek's internal command names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mailtap::smtp {

// Zeek's command codes. The four pseudo-commands at the end are queued internally but, as in
// Zeek, are also recognised when a client literally sends their names.
enum class Command : uint8_t {
  kEhlo,
  kHelo,
  kMail,
  kRcpt,
  kData,
  kQuit,
  kRset,
  kVrfy,
  kExpn,
  kHelp,
  kNoop,
  kStartTls,
  kXAnonymousTls,
  kSend,
  kSoml,
  kSaml,
  kTurn,
  kBdat,
  kEtrn,
  kAuth,
  kConnEstablishment,
  kEndOfData,
  kAuthAnswer,
};

// Internal name used in "unexpected command"/"unexpected reply" details and as smtp_reply's
// `cmd` for ordinary commands, e.g. "MAIL", "X_ANONYMOUSTLS", "END_OF_DATA".
std::string_view InternalName(Command cmd);

// smtp_reply's `cmd` for the command a reply answers: ">" for the greeting, "." for end of data,
// "(UNKNOWN)" when nothing was pending, else the internal name.
std::string_view ReplyLabel(std::optional<Command> cmd);

// Exact-length, case-insensitive lookup (spec 5.5). "X-ANONYMOUSTLS" and the literal pseudo
// names are recognised; anything else (including "") is unknown.
std::optional<Command> LookupCommand(std::string_view word);

// A sender line split into command word and argument (spec 5.5): the word is the longest prefix
// without C whitespace or NUL (leading whitespace is not skipped); the argument is the rest with
// leading spaces/TABs removed and trailing whitespace kept. Views into the input line.
struct CommandLine {
  std::string_view word;
  std::string_view arg;
};
CommandLine SplitCommandLine(std::string_view line);

// ASCII upper-casing of the command word for smtp_request's `command`.
std::string UpperAscii(std::string_view s);
void UpperAsciiInPlace(std::string* s);

// A receiver line (spec 6.1, 6.4). `code` is the value of three leading ASCII digits, or nullopt.
// `continued` is true for a "-" in the fourth byte. `msg` is the text after the code (and the
// "-"), leading spaces/TABs removed, trailing whitespace kept; a view into the input line.
struct ReplyLine {
  std::optional<int> code;
  bool continued = false;
  std::string_view msg;

  // Codes outside 100..599 (or no code) are "out of range" and give no smtp_reply.
  bool InRange() const { return code && *code >= 100 && *code <= 599; }
};
ReplyLine ParseReplyLine(std::string_view line);

// Skips leading spaces and TABs (Zeek's skip_whitespace).
std::string_view SkipSpacesAndTabs(std::string_view s);

}  // namespace mailtap::smtp
