#include "cli/options.h"

#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "mailtap/version.h"

namespace mailtap::cli {
namespace {

namespace po = boost::program_options;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr char kUsage[] =
    "Usage: mailtap [--socket PATH] COMMAND [OPTIONS]\n"
    "\n"
    "Asks a running mailtapd what is happening on the local mail server.\n"
    "\n"
    "Commands:\n"
    "  status        version, uptime, capture source, every counter, loss by cause (JSON)\n"
    "  observe       SMTP events: the last N (--last) and/or new ones (--follow)\n"
    "  transactions  smtp.log records (mail transactions), same options as observe\n"
    "  connections   the SMTP sessions open now\n"
    "  metrics       Prometheus text exposition\n"
    "\n"
    "Run 'mailtap COMMAND --help' for the options of a command.\n";

enum class Filters { kNone, kConnection, kTransaction, kEvent };

struct CommandSpec {
  const char* name;
  Verb verb;
  ItemKind kind;
  bool streams;  // --last/--follow
  bool output;   // -o
  Filters filters;
};

constexpr CommandSpec kCommands[] = {
    {"status", Verb::kStatus, ItemKind::kEvent, false, false, Filters::kNone},
    {"metrics", Verb::kMetrics, ItemKind::kEvent, false, false, Filters::kNone},
    {"observe", Verb::kObserve, ItemKind::kEvent, true, true, Filters::kEvent},
    {"transactions", Verb::kTransactions, ItemKind::kRecord, true, true, Filters::kTransaction},
    {"connections", Verb::kConnections, ItemKind::kConnection, false, true, Filters::kConnection},
};

using Strings = std::vector<std::string>;

po::options_description CommandOptions(const CommandSpec& spec) {
  po::options_description d(std::string("Options of '") + spec.name + "'");
  d.add_options()("help,h", "show this help");
  if (spec.streams) {
    d.add_options()("last", po::value<std::string>(), "first show the last N stored items")(
        "follow,f", "then show new items as they happen (until interrupted)");
  }
  if (spec.output) {
    d.add_options()("output,o", po::value<std::string>(),
                    "json | compact | table (default: compact on a terminal, else json)");
  }
  if (spec.filters == Filters::kNone) return d;
  d.add_options()("uid", po::value<Strings>()->composing(),
                  "connection uid (repeatable, or comma list)")(
      "address", po::value<Strings>()->composing(), "IP address of either endpoint (repeatable)")(
      "port", po::value<Strings>()->composing(), "TCP port of either endpoint (repeatable)");
  if (spec.filters == Filters::kConnection) return d;
  d.add_options()(
      "since", po::value<std::string>(),
      "only items at or after: seconds since the epoch, or a duration ago (30s, 5m, 2h, 1d)")(
      "until", po::value<std::string>(), "only items before (same forms as --since)")(
      "match", po::value<std::string>(),
      "case-insensitive text in command/arg (transactions: "
      "helo, from/to addresses, subject, reply)");
  if (spec.filters == Filters::kTransaction) return d;
  d.add_options()("event", po::value<Strings>()->composing(),
                  "event name, e.g. smtp_request (repeatable)")(
      "command", po::value<Strings>()->composing(),
      "SMTP command, e.g. MAIL (requests and their replies)")(
      "direction", po::value<std::string>(), "orig (client to server) | resp (server to client)");
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
  if (ok && *end == '\0') return Timestamp{std::llround(v * 1e6)};
  for (auto [unit, scale] : kUnits) {
    if (ok && end[0] == unit && end[1] == '\0') {
      auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
      return Timestamp{std::llround((now.count() - v * scale) * 1e6)};
    }
  }
  throw UsageError("--" + option + ": '" + text +
                   "' is neither seconds since the epoch nor a duration like 5m");
}

void ParseEndpointFilters(const po::variables_map& vm, Filter* f) {
  if (vm.count("uid")) f->uids = SplitCommas(vm["uid"].as<Strings>());
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
  if (vm.count("match")) f->match = vm["match"].as<std::string>();
  if (vm.count("event")) f->events = SplitCommas(vm["event"].as<Strings>());
  if (vm.count("command")) f->commands = SplitCommas(vm["command"].as<Strings>());
  if (vm.count("direction")) {
    std::string d = vm["direction"].as<std::string>();
    if (d != "orig" && d != "resp")
      throw UsageError("--direction: '" + d + "' is not orig or resp");
    f->direction = d == "orig" ? Direction::kOrig : Direction::kResp;
  }
}

void ParseStreaming(const po::variables_map& vm, QueryRequest* r) {
  r->follow = vm.count("follow") > 0;
  r->last = r->follow ? 0 : kDefaultLast;
  if (!vm.count("last")) return;
  const std::string& text = vm["last"].as<std::string>();
  char* end = nullptr;
  unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0') {
    throw UsageError("--last: '" + text + "' is not a non-negative number");
  }
  r->last = static_cast<size_t>(n);
}

OutputFormat ParseFormat(const po::variables_map& vm) {
  if (!vm.count("output"))
    return ::isatty(STDOUT_FILENO) ? OutputFormat::kCompact : OutputFormat::kJson;
  OutputFormat f;
  const std::string& text = vm["output"].as<std::string>();
  if (!ParseOutputFormat(text, &f))
    throw UsageError("-o/--output: '" + text + "' is not json, compact or table");
  return f;
}

const CommandSpec& FindCommand(const std::string& name) {
  for (const auto& c : kCommands) {
    if (name == c.name) return c;
  }
  throw UsageError("unknown command '" + name +
                   "' (commands: status, observe, transactions, connections, metrics)");
}

ParsedCommandLine Exit(int status, std::string message) {
  ParsedCommandLine p;
  p.exit_status = status;
  p.message = std::move(message);
  return p;
}

ParsedCommandLine ParseCommand(const CommandSpec& spec, const Strings& args, Invocation inv) {
  po::options_description options = CommandOptions(spec);
  po::variables_map vm;
  po::parsed_options parsed = po::command_line_parser(args).options(options).run();
  for (const auto& o : parsed.options) {
    if (o.position_key >= 0) {
      throw UsageError(std::string(spec.name) + ": unexpected argument '" + o.value.front() + "'");
    }
  }
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
  if (spec.output) inv.format = ParseFormat(vm);
  if (spec.filters != Filters::kNone) ParseFilters(vm, &inv.request.filter);
  ParsedCommandLine p;
  p.invocation = std::move(inv);
  return p;
}

ParsedCommandLine Parse(int argc, const char* const argv[]) {
  po::options_description global("Options");
  global.add_options()(
      "socket", po::value<std::string>(),
      "the agent's query socket (default: $MAILTAP_SOCKET, else /run/mailtap/mailtap.sock)")(
      "help,h", "show this help")("version", "show the version");
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
    throw UsageError("'" + rest.front() + "' comes before the command; command options follow it");
  }
  std::string command = rest.front();
  rest.erase(rest.begin());
  if (vm.count("help")) rest.push_back("--help");
  Invocation inv;
  const char* env = std::getenv("MAILTAP_SOCKET");
  inv.socket_path = vm.count("socket") ? vm["socket"].as<std::string>()
                                       : (env != nullptr && *env != '\0' ? env : kDefaultSocket);
  return ParseCommand(FindCommand(command), rest, std::move(inv));
}

}  // namespace

ParsedCommandLine ParseCommandLine(int argc, const char* const argv[]) {
  try {
    return Parse(argc, argv);
  } catch (const UsageError& e) {
    return Exit(2, std::string("mailtap: ") + e.what() + "\nTry 'mailtap --help'.\n");
  } catch (const po::error& e) {
    return Exit(2, std::string("mailtap: ") + e.what() + "\nTry 'mailtap --help'.\n");
  }
}

}  // namespace mailtap::cli
