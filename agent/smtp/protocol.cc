#include "smtp/protocol.h"

#include <array>

namespace mailtap::smtp {

namespace {

struct CommandName {
  Command cmd;
  std::string_view name;
};

// Zeek's SMTP_cmd.def order; X_ANONYMOUSTLS is the internal spelling of X-ANONYMOUSTLS.
constexpr std::array<CommandName, 23> kCommands = {{
    {Command::kEhlo, "EHLO"},
    {Command::kHelo, "HELO"},
    {Command::kMail, "MAIL"},
    {Command::kRcpt, "RCPT"},
    {Command::kData, "DATA"},
    {Command::kQuit, "QUIT"},
    {Command::kRset, "RSET"},
    {Command::kVrfy, "VRFY"},
    {Command::kExpn, "EXPN"},
    {Command::kHelp, "HELP"},
    {Command::kNoop, "NOOP"},
    {Command::kStartTls, "STARTTLS"},
    {Command::kXAnonymousTls, "X_ANONYMOUSTLS"},
    {Command::kSend, "SEND"},
    {Command::kSoml, "SOML"},
    {Command::kSaml, "SAML"},
    {Command::kTurn, "TURN"},
    {Command::kBdat, "BDAT"},
    {Command::kEtrn, "ETRN"},
    {Command::kAuth, "AUTH"},
    {Command::kConnEstablishment, "CONN_ESTABLISHMENT"},
    {Command::kEndOfData, "END_OF_DATA"},
    {Command::kAuthAnswer, "AUTH_ANSWER"},
}};

char UpperChar(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (UpperChar(a[i]) != UpperChar(b[i])) return false;
  }
  return true;
}

// C isspace() in the "C" locale, plus NUL, ends the command word (Zeek's get_word).
bool EndsWord(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == '\0';
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string_view InternalName(Command cmd) { return kCommands[static_cast<size_t>(cmd)].name; }

std::string_view ReplyLabel(std::optional<Command> cmd) {
  if (!cmd) return "(UNKNOWN)";
  if (*cmd == Command::kConnEstablishment) return ">";
  if (*cmd == Command::kEndOfData) return ".";
  return InternalName(*cmd);
}

std::optional<Command> LookupCommand(std::string_view word) {
  if (EqualsIgnoreCase(word, "X-ANONYMOUSTLS")) return Command::kXAnonymousTls;
  for (const auto& c : kCommands) {
    if (EqualsIgnoreCase(word, c.name)) return c.cmd;
  }
  return std::nullopt;
}

std::string_view SkipSpacesAndTabs(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

CommandLine SplitCommandLine(std::string_view line) {
  size_t n = 0;
  while (n < line.size() && !EndsWord(line[n])) ++n;
  return {line.substr(0, n), SkipSpacesAndTabs(line.substr(n))};
}

void UpperAsciiInPlace(std::string* s) {
  for (char& c : *s) c = UpperChar(c);
}

std::string UpperAscii(std::string_view s) {
  std::string out(s);
  UpperAsciiInPlace(&out);
  return out;
}

ReplyLine ParseReplyLine(std::string_view line) {
  ReplyLine r;
  if (line.size() >= 3 && IsDigit(line[0]) && IsDigit(line[1]) && IsDigit(line[2])) {
    r.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  }
  if (!r.InRange()) return r;
  r.continued = line.size() > 3 && line[3] == '-';
  r.msg = SkipSpacesAndTabs(line.substr(r.continued ? 4 : 3));
  return r;
}

}  // namespace mailtap::smtp
