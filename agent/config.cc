#include "config.h"

#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <fstream>
#include <sstream>

#include "common/enum_names.h"
#include "mailtap/version.h"
#include "sinks/event_json.h"

namespace po = boost::program_options;

namespace mailtap {
namespace {

constexpr char kUsage[] =
    "Usage: mailtapd [OPTIONS]\n"
    "Watches SMTP sessions (live via eBPF, or from a capture file with -r) and reports them as\n"
    "Zeek does: smtp_* events as JSON lines and smtp.log transaction records.\n";

po::options_description Options() {
  po::options_description opts("Options");
  // clang-format off
  opts.add_options()
    ("help,h", "print this help and exit")
    ("version", "print the version and exit")
    ("list-events", "print every event and its arguments as JSON and exit")
    ("config", po::value<std::string>()->value_name("FILE"),
     "read options from FILE (lines of long-option=value)")
    ("read,r", po::value<std::string>()->value_name("FILE"),
     "replay a pcap or pcapng file ('-' = standard input), then exit")
    ("interface,i", po::value<std::vector<std::string>>()->value_name("NAME"),
     "live capture on this interface (repeatable); default: every interface")
    ("ports,p", po::value<std::string>()->value_name("LIST")->default_value("25,587"),
     "SMTP ports, comma-separated")
    ("events", po::value<std::string>()->value_name("PATH"),
     "write every event as JSON lines to PATH ('-' = stdout)")
    ("log-dir", po::value<std::string>()->value_name("DIR"), "write smtp.log into DIR")
    ("log-format", po::value<std::string>()->value_name("json|zeek")->default_value("json"),
     "smtp.log as JSON lines or Zeek's tab-separated format")
    ("socket", po::value<std::string>()->value_name("PATH"),
     "query socket (default /run/mailtap/mailtap.sock when capturing live; none for -r)")
    ("socket-group", po::value<std::string>()->value_name("GROUP"),
     "group allowed to query the agent (socket directory and file get this group)")
    ("keep-serving", po::bool_switch(), "with -r: keep serving queries after the replay ended")
    ("history", po::value<size_t>()->value_name("N")->default_value(Config{}.history),
     "events kept in memory for `mailtap observe --last`")
    ("observe-data", po::bool_switch(),
     "also send message lines (smtp_data events) to `mailtap observe`; without it the socket "
     "carries the protocol (commands, replies, headers, weirds) and --events has everything")
    ("redact", po::value<std::string>()->value_name("credentials|data|none")
                   ->default_value("credentials"),
     "what to hide in every output: AUTH credentials, also message data, or nothing")
    ("user", po::value<std::string>()->value_name("USER"),
     "live capture: switch to USER after attaching (default: mailtap if it exists, else nobody)")
    ("ring-size", po::value<uint64_t>()->value_name("BYTES")->default_value(Config{}.ring_size),
     "live capture: eBPF ring buffer size (power of two, at least one page)")
    ("log-level", po::value<std::string>()->value_name("LEVEL")->default_value("info"),
     "stderr log level: error, warn, info or debug")
    ("set", po::value<std::vector<std::string>>()->value_name("NAME=VALUE"),
     "set one of Zeek's constants, with Zeek's name (repeatable); see 'Zeek constants' below");
  // clang-format on
  return opts;
}

// Maps a choice option's text to its enum, or sets *error naming the option and the choices.
// --OPTION's value, one of the names in `table`.
template <typename E>
bool ParseChoice(const po::variables_map& vm, const char* option, EnumNameTable<E> table, E* out,
                 std::string* error) {
  const auto& text = vm[option].as<std::string>();
  if (std::optional<E> value = EnumFromName(table, text)) {
    *out = *value;
    return true;
  }
  *error = fmt::format("--{}: '{}' is not one of {}", option, text, EnumNameList(table));
  return false;
}

bool ReadConfigFile(const std::string& path, const po::options_description& opts,
                    po::variables_map* vm, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = fmt::format("--config: cannot read '{}'", path);
    return false;
  }
  try {
    po::store(po::parse_config_file(in, opts), *vm);
  } catch (const po::error& e) {
    *error = fmt::format("--config '{}': {}", path, e.what());
    return false;
  }
  return true;
}

bool FillConfig(const po::variables_map& vm, Config* cfg, std::string* error) {
  if (vm.count("read")) cfg->read_file = vm["read"].as<std::string>();
  if (vm.count("interface")) cfg->interfaces = vm["interface"].as<std::vector<std::string>>();
  auto ports = PortSet::Parse(vm["ports"].as<std::string>(), error);
  if (!ports) {
    *error = "--ports: " + *error;
    return false;
  }
  cfg->ports = *ports;
  if (vm.count("events")) cfg->events_path = vm["events"].as<std::string>();
  if (vm.count("log-dir")) cfg->log_dir = vm["log-dir"].as<std::string>();
  if (vm.count("socket")) cfg->socket_path = vm["socket"].as<std::string>();
  if (vm.count("socket-group")) cfg->socket_group = vm["socket-group"].as<std::string>();
  if (vm.count("user")) cfg->user = vm["user"].as<std::string>();
  cfg->keep_serving = vm["keep-serving"].as<bool>();
  cfg->history = vm["history"].as<size_t>();
  cfg->observe_data = vm["observe-data"].as<bool>();
  cfg->ring_size = vm["ring-size"].as<uint64_t>();
  if (vm.count("set")) {
    for (const std::string& assignment : vm["set"].as<std::vector<std::string>>()) {
      if (!ApplyTunable(assignment, &cfg->tunables, error)) return false;
    }
  }
  if (cfg->read_file && !cfg->interfaces.empty()) {
    *error = "--read and --interface exclude each other: replay a file or capture live";
    return false;
  }
  if (cfg->keep_serving && !cfg->read_file) {
    *error = "--keep-serving only applies with --read";
    return false;
  }
  return ParseChoice<LogFormat>(vm, "log-format", kLogFormatNames, &cfg->log_format, error) &&
         ParseChoice<RedactMode>(vm, "redact", kRedactModeNames, &cfg->redact, error) &&
         ParseChoice<Severity>(vm, "log-level", kSeverityNames, &cfg->log_level, error);
}

ParseOutcome UsageError(const std::string& message) {
  return ParseOutcome{
      std::nullopt, 2,
      fmt::format("mailtapd: {}\nTry 'mailtapd --help' for more information.\n", message)};
}

}  // namespace

ParseOutcome ParseCommandLine(int argc, const char* const argv[]) {
  const po::options_description opts = Options();
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).run(), vm);
  } catch (const po::error& e) {
    return UsageError(e.what());
  }
  if (vm.count("help")) {
    std::ostringstream out;
    out << kUsage << "\n" << opts << "\nZeek constants for --set (default):\n";
    for (const std::string& name : TunableNames()) out << "  " << name << "\n";
    return ParseOutcome{std::nullopt, 0, out.str()};
  }
  if (vm.count("version")) {
    return ParseOutcome{std::nullopt, 0, fmt::format("mailtapd {}\n", kVersion)};
  }
  if (vm.count("list-events")) return ParseOutcome{std::nullopt, 0, FormatEventSchemaJson()};
  std::string error;
  if (vm.count("config") && !ReadConfigFile(vm["config"].as<std::string>(), opts, &vm, &error)) {
    return UsageError(error);
  }
  try {
    po::notify(vm);
  } catch (const po::error& e) {
    return UsageError(e.what());
  }
  Config cfg;
  if (!FillConfig(vm, &cfg, &error)) return UsageError(error);
  return ParseOutcome{std::move(cfg), 0, {}};
}

}  // namespace mailtap
