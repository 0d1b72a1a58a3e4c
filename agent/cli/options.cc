#include "cli/options.h"

#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "cli/event_names.h"
#include "cli/suggest.h"
#include "mailtap/version.h"

namespace mailtap::cli {
namespace {

namespace po = boost::program_options;

struct UsageError : std::runtime_error {
  explicit UsageError(const std::string& what, std::string help = "mailtap --help")
      : std::runtime_error(what), help_command(std::move(help)) {}
  std::string help_command;  // where the user reads how to do it right
};

constexpr char kUsage[] =
    "Usage: mailtap [--socket PATH] COMMAND [OPTIONS]\n"
    "\n"
    "Asks a running mailtapd what is happening on the local mail server.\n"
    "\n"
    "Commands:\n"
    "  status        what the agent captures, sessions, transactions, losses by cause\n"
    "  observe       SMTP events: the last N (--last) and/or new ones (--follow)\n"
    "  transactions  smtp.log records (mail transactions), same options as observe\n"
    "  connections   the SMTP sessions open now\n"
    "  metrics       Prometheus text exposition\n"
    "\n"
    "Run 'mailtap COMMAND --help' for the options of a command. Output for people on a\n"
    "terminal, JSON otherwise; scripts should ask for JSON explicitly with -o json.\n";

enum class Filters { kNone, kConnection, kTransaction, kEvent };
enum class Output { kNone, kItems, kStatus };

struct CommandSpec {
  const char* name;
  Verb verb;
  ItemKind kind;
  bool streams;   // --last/--follow
  Output output;  // which -o choices
  Filters filters;
};

constexpr CommandSpec kCommands[] = {
    {"status", Verb::kStatus, ItemKind::kEvent, false, Output::kStatus, Filters::kNone},
    {"observe", Verb::kObserve, ItemKind::kEvent, true, Output::kItems, Filters::kEvent},
    {"transactions", Verb::kTransactions, ItemKind::kRecord, true, Output::kItems,
     Filters::kTransaction},
    {"connections", Verb::kConnections, ItemKind::kConnection, false, Output::kItems,
     Filters::kConnection},
    {"metrics", Verb::kMetrics, ItemKind::kEvent, false, Output::kNone, Filters::kNone},
};

// observe/transactions --last: the agent answers at most this many (query protocol).
constexpr unsigned long long kMaxLast = 1ULL << 30;
// --since/--until as seconds since the epoch: up to the year 2286, as the agent accepts.
constexpr double kMaxEpochSeconds = 1e10;

using Strings = std::vector<std::string>;

void AddOutputOption(const CommandSpec& spec, po::options_description* d) {
  if (spec.output == Output::kItems) {
    d->add_options()("output,o", po::value<std::string>()->value_name("json|compact|table"),
                     "output format (default: compact on a terminal, else json)");
  } else if (spec.output == Output::kStatus) {
    d->add_options()("output,o", po::value<std::string>()->value_name("json|text"),
                     "output format: json is the agent's status object, text a summary for "
                     "people (default: text on a terminal, else json)");
  }
}

// Value names as mailtapd --help spells them: N, LIST (comma-separated, repeatable), PATH.
po::options_description CommandOptions(const CommandSpec& spec) {
  po::options_description d(std::string("Options of '") + spec.name + "'");
  d.add_options()("help,h", "print this help and exit");
  if (spec.streams) {
    d.add_options()("last", po::value<std::string>()->value_name("N"),
                    "first show the last N stored items (default 20; 0 with --follow)")(
        "follow,f", "then show new items as they happen (until interrupted)");
  }
  AddOutputOption(spec, &d);
  if (spec.filters == Filters::kNone) return d;
  d.add_options()("uid", po::value<Strings>()->composing()->value_name("LIST"),
                  "connection uids, comma-separated (repeatable)")(
      "community-id", po::value<Strings>()->composing()->value_name("LIST"),
      "Community IDs of connections (1:...), comma-separated (repeatable)")(
      "address", po::value<Strings>()->composing()->value_name("LIST"),
      "IP addresses of either endpoint, comma-separated (repeatable)")(
      "port", po::value<Strings>()->composing()->value_name("LIST"),
      "TCP ports of either endpoint, comma-separated (repeatable)");
  if (spec.filters == Filters::kConnection) return d;
  d.add_options()("since", po::value<std::string>()->value_name("TIME"),
                  "only items at or after TIME: seconds since the epoch, or a duration ago "
                  "(30s, 5m, 2h, 1d)")("until", po::value<std::string>()->value_name("TIME"),
                                       "only items before TIME (same forms as --since)")(
      "match", po::value<std::string>()->value_name("TEXT"),
      spec.filters == Filters::kEvent
          ? "case-insensitive TEXT in a request's command or argument"
          : "case-insensitive TEXT in helo, mailfrom, rcptto, from, to, cc, subject or the "
            "last reply");
  d.add_options()("fuid", po::value<Strings>()->composing()->value_name("LIST"),
                  spec.filters == Filters::kEvent
                      ? "file ids, comma-separated (repeatable): the file events of those files"
                      : "file ids, comma-separated (repeatable): the transactions that carried "
                        "those files");
  if (spec.filters == Filters::kTransaction) return d;
  d.add_options()("mime-type", po::value<Strings>()->composing()->value_name("LIST"),
                  "media types of files, comma-separated (repeatable), e.g. application/pdf or "
                  "image/*: their file_sniff and file_state_remove events");
  d.add_options()("event", po::value<Strings>()->composing()->value_name("LIST"),
                  "event names, comma-separated (repeatable), e.g. smtp_request,smtp_reply")(
      "command", po::value<Strings>()->composing()->value_name("LIST"),
      "SMTP commands, comma-separated (repeatable), e.g. MAIL: requests and their replies")(
      "direction", po::value<std::string>()->value_name("orig|resp"),
      "orig: client to server; resp: server to client");
  return d;
}

Strings SplitCommas(const Strings& values) {
  Strings out;
  for (const auto& v : values) {
    std::stringstream ss(v);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (!item.empty()) out.push_back(item);
    }
  }
  return out;
}

Timestamp ParseTime(const std::string& option, const std::string& text) {
  static const std::pair<char, double> kUnits[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  bool ok = !text.empty() && end != text.c_str() && std::isfinite(v) && v >= 0;
  if (ok && *end == '\0') {
    if (v > kMaxEpochSeconds) {
      throw UsageError("--" + option + ": " + text +
                       " seconds since the epoch is out of range (at most 1e10, the year 2286)");
    }
    return Timestamp{std::llround(v * 1e6)};
  }
  for (auto [unit, scale] : kUnits) {
    if (ok && end[0] == unit && end[1] == '\0') {
      auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
      if (v * scale > now.count()) {
        throw UsageError("--" + option + ": '" + text + "' ago is before 1970 (out of range)");
      }
      return Timestamp{std::llround((now.count() - v * scale) * 1e6)};
    }
  }
  throw UsageError("--" + option + ": '" + text +
                   "' is neither seconds since the epoch nor a duration like 30s, 5m, 2h or 1d");
}

// The values an --event filter may name: a misspelt one would silently match nothing.
Strings ParseEvents(const Strings& values) {
  Strings events = SplitCommas(values);
  auto known = KnownEventNames();
  for (const auto& e : events) {
    if (std::find(known.begin(), known.end(), e) != known.end()) continue;
    auto nearest = Nearest(e, known);
    throw UsageError("--event: unknown event '" + e + "'" +
                     (nearest ? " (did you mean " + *nearest + "?)" : "") +
                     "; the events are: " + JoinList(known));
  }
  return events;
}

void ParseEndpointFilters(const po::variables_map& vm, Filter* f) {
  if (vm.count("uid")) f->uids = SplitCommas(vm["uid"].as<Strings>());
  if (vm.count("community-id")) {
    f->community_ids = SplitCommas(vm["community-id"].as<Strings>());
  }
  if (vm.count("address")) {
    for (const auto& a : SplitCommas(vm["address"].as<Strings>())) {
      IpAddress ip;
      if (!IpAddress::Parse(a, &ip))
        throw UsageError("--address: '" + a + "' is not an IP address");
      f->addresses.push_back(ip);
    }
  }
  if (vm.count("port")) {
    for (const auto& p : SplitCommas(vm["port"].as<Strings>())) {
      char* end = nullptr;
      long v = std::strtol(p.c_str(), &end, 10);
      if (*end != '\0' || v < 1 || v > 65535)
        throw UsageError("--port: '" + p + "' is not a port (1-65535)");
      f->ports.push_back(static_cast<uint16_t>(v));
    }
  }
}

void ParseFilters(const po::variables_map& vm, Filter* f) {
  ParseEndpointFilters(vm, f);
  if (vm.count("since")) f->since = ParseTime("since", vm["since"].as<std::string>());
  if (vm.count("until")) f->until = ParseTime("until", vm["until"].as<std::string>());
  if (f->since && f->until && *f->until <= *f->since) {
    throw UsageError("--until is not after --since: no item can match (--until TIME is the end)");
  }
  if (vm.count("match")) f->match = vm["match"].as<std::string>();
  if (vm.count("fuid")) f->fuids = SplitCommas(vm["fuid"].as<Strings>());
  if (vm.count("mime-type")) f->mime_types = SplitCommas(vm["mime-type"].as<Strings>());
  if (vm.count("event")) f->events = ParseEvents(vm["event"].as<Strings>());
  if (vm.count("command")) f->commands = SplitCommas(vm["command"].as<Strings>());
  if (vm.count("direction")) {
    std::string d = vm["direction"].as<std::string>();
    if (d != "orig" && d != "resp")
      throw UsageError("--direction: '" + d +
                       "' is neither orig (client to server) nor resp (server to client)");
    f->direction = d == "orig" ? Direction::kOrig : Direction::kResp;
  }
}

void ParseStreaming(const po::variables_map& vm, QueryRequest* r) {
  r->follow = vm.count("follow") > 0;
  r->last = r->follow ? 0 : kDefaultLast;
  if (!vm.count("last")) return;
  const std::string& text = vm["last"].as<std::string>();
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0') {
    throw UsageError("--last: '" + text + "' is not a number of items (0 or more)");
  }
  if (errno == ERANGE || n > kMaxLast) {
    throw UsageError("--last: " + text + " is out of range (at most " + std::to_string(kMaxLast) +
                     "; the agent keeps what mailtapd --history N says)");
  }
  r->last = static_cast<size_t>(n);
}

OutputFormat ParseFormat(const CommandSpec& spec, const po::variables_map& vm) {
  bool terminal = ::isatty(STDOUT_FILENO) != 0;
  OutputFormat for_people =
      spec.output == Output::kStatus ? OutputFormat::kText : OutputFormat::kCompact;
  if (!vm.count("output")) return terminal ? for_people : OutputFormat::kJson;
  const std::string& text = vm["output"].as<std::string>();
  if (spec.output == Output::kStatus) {
    if (text == "json") return OutputFormat::kJson;
    if (text == "text") return OutputFormat::kText;
    throw UsageError("-o/--output: '" + text + "' is neither json nor text (status)");
  }
  OutputFormat f;
  if (!ParseOutputFormat(text, &f))
    throw UsageError("-o/--output: '" + text + "' is not json, compact or table");
  return f;
}

Strings CommandNames() {
  Strings names;
  for (const auto& c : kCommands) names.push_back(c.name);
  return names;
}

const CommandSpec& FindCommand(const std::string& name) {
  for (const auto& c : kCommands) {
    if (name == c.name) return c;
  }
  Strings names = CommandNames();
  auto nearest = Nearest(name, names);
  throw UsageError("unknown command '" + name + "'" +
                   (nearest ? " (did you mean " + *nearest + "?)" : "") +
                   "; the commands are: " + JoinList(names));
}

// "--name" for each long option of `d`.
Strings LongOptions(const po::options_description& d) {
  Strings names;
  for (const auto& o : d.options()) names.push_back("--" + o->long_name());
  return names;
}

// What a stray word probably was, as the option that takes it ("" when nothing fits).
std::string OptionForStrayWord(const CommandSpec& spec, const std::string& word) {
  IpAddress ip;
  auto events = KnownEventNames();
  bool digits = !word.empty() && word.find_first_not_of("0123456789") == std::string::npos;
  if (spec.filters == Filters::kEvent &&
      std::find(events.begin(), events.end(), word) != events.end())
    return "--event " + word;
  if (spec.filters != Filters::kNone && IpAddress::Parse(word, &ip)) return "--address " + word;
  if (spec.streams && digits) return "--last " + word;
  if (spec.filters != Filters::kNone && digits) return "--port " + word;
  if (spec.filters != Filters::kNone && word.size() >= 10 && word[0] == 'C' &&
      std::all_of(word.begin(), word.end(),
                  [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }))
    return "--uid " + word;
  return "";
}

void RejectPositionals(const CommandSpec& spec, const po::parsed_options& parsed) {
  for (const auto& o : parsed.options) {
    if (o.position_key < 0) continue;
    const std::string& word = o.value.front();
    std::string option = OptionForStrayWord(spec, word);
    throw UsageError(std::string(spec.name) + ": unexpected argument '" + word + "' (" +
                     (option.empty() ? std::string(spec.name) + " takes no arguments, only options"
                                     : "did you mean " + option + "?") +
                     ")");
  }
}

po::parsed_options ParseCommandTokens(const CommandSpec& spec,
                                      const po::options_description& options, const Strings& args) {
  try {
    return po::command_line_parser(args).options(options).run();
  } catch (const po::unknown_option& e) {
    std::string name = e.get_option_name();
    Strings known = LongOptions(options);
    auto nearest = Nearest(name.substr(0, name.find('=')), known);
    throw UsageError(std::string(spec.name) + ": unknown option '" + name + "'" +
                     (nearest ? " (did you mean " + *nearest + "?)" : ""));
  }
}

ParsedCommandLine Exit(int status, std::string message) {
  ParsedCommandLine p;
  p.exit_status = status;
  p.message = std::move(message);
  return p;
}

ParsedCommandLine ParseCommandOptions(const CommandSpec& spec, const Strings& args,
                                      Invocation inv) {
  po::options_description options = CommandOptions(spec);
  po::variables_map vm;
  po::parsed_options parsed = ParseCommandTokens(spec, options, args);
  RejectPositionals(spec, parsed);
  po::store(parsed, vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::ostringstream out;
    out << "Usage: mailtap [--socket PATH] " << spec.name << " [OPTIONS]\n\n" << options;
    return Exit(0, out.str());
  }
  inv.request.verb = spec.verb;
  inv.kind = spec.kind;
  if (spec.streams) ParseStreaming(vm, &inv.request);
  if (spec.output != Output::kNone) inv.format = ParseFormat(spec, vm);
  if (spec.filters != Filters::kNone) ParseFilters(vm, &inv.request.filter);
  ParsedCommandLine p;
  p.invocation = std::move(inv);
  return p;
}

// Errors in a command's options point at that command's help.
ParsedCommandLine ParseCommand(const CommandSpec& spec, const Strings& args, Invocation inv) {
  std::string help = std::string("mailtap ") + spec.name + " --help";
  try {
    return ParseCommandOptions(spec, args, std::move(inv));
  } catch (const UsageError& e) {
    throw UsageError(e.what(), help);
  } catch (const po::error& e) {
    throw UsageError(e.what(), help);
  }
}

po::options_description GlobalOptions() {
  po::options_description global("Options");
  global.add_options()("socket", po::value<std::string>()->value_name("PATH"),
                       "the agent's query socket, as given to mailtapd --socket (default: "
                       "$MAILTAP_SOCKET, else /run/mailtap/mailtap.sock)")(
      "help,h", "print this help and exit")("version", "print the version and exit");
  return global;
}

// An option before the command: a mistyped global option, or a command's option too early.
[[noreturn]] void RejectOptionBeforeCommand(const po::options_description& global,
                                            const std::string& token) {
  std::string name = token.substr(0, token.find('='));
  Strings users;
  for (const auto& c : kCommands) {
    bool is_long = name.starts_with("--");
    if (CommandOptions(c).find_nothrow(is_long ? name.substr(2) : name, false) != nullptr) {
      users.push_back(c.name);
    }
  }
  if (!users.empty()) {
    throw UsageError("'" + name + "' is an option of " + JoinList(users) +
                     ": put it after the command (mailtap " + users.front() + " " + name + " ...)");
  }
  auto nearest = Nearest(name, LongOptions(global));
  throw UsageError("unknown option '" + name + "'" +
                   (nearest ? " (did you mean " + *nearest + "?)" : "") +
                   "; options before the command: --socket PATH, --help, --version");
}

ParsedCommandLine Parse(int argc, const char* const argv[]) {
  po::options_description global = GlobalOptions();
  // Only the global options are known here; every other token (the command, its options and
  // their values) is left in order for the command's parser. The command is the first of them.
  // (Naming the command slot as a hidden option would let a command option of the same name,
  // `observe --command MAIL`, be taken for it.)
  po::parsed_options parsed =
      po::command_line_parser(argc, argv).options(global).allow_unregistered().run();
  po::variables_map vm;
  po::store(parsed, vm);
  if (vm.count("version")) return Exit(0, std::string("mailtap ") + kVersion + "\n");
  std::ostringstream help;
  help << kUsage << "\n" << global;
  Strings rest = po::collect_unrecognized(parsed.options, po::include_positional);
  if (rest.empty() || rest.front().starts_with('-')) {
    if (vm.count("help")) return Exit(0, help.str());
    if (rest.empty()) return Exit(2, "mailtap: no command given\n\n" + help.str());
    RejectOptionBeforeCommand(global, rest.front());
  }
  std::string command = rest.front();
  rest.erase(rest.begin());
  if (vm.count("help")) rest.push_back("--help");
  Invocation inv;
  const char* env = std::getenv("MAILTAP_SOCKET");
  if (vm.count("socket")) {
    inv.socket_path = vm["socket"].as<std::string>();
    inv.socket_origin = SocketOrigin::kOption;
  } else if (env != nullptr && *env != '\0') {
    inv.socket_path = env;
    inv.socket_origin = SocketOrigin::kEnvironment;
  } else {
    inv.socket_path = kDefaultSocket;
    inv.socket_origin = SocketOrigin::kDefault;
  }
  return ParseCommand(FindCommand(command), rest, std::move(inv));
}

}  // namespace

ParsedCommandLine ParseCommandLine(int argc, const char* const argv[]) {
  try {
    return Parse(argc, argv);
  } catch (const UsageError& e) {
    return Exit(2, std::string("mailtap: ") + e.what() + "\nTry '" + e.help_command + "'.\n");
  } catch (const po::error& e) {
    return Exit(2, std::string("mailtap: ") + e.what() + "\nTry 'mailtap --help'.\n");
  }
}

}  // namespace mailtap::cli
