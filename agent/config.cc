#include "config.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <charconv>
#include <fstream>
#include <sstream>

#include "common/enum_names.h"
#include "mailtap/version.h"
#include "query/listen_address.h"
#include "sinks/event_json.h"

namespace po = boost::program_options;

namespace mailtap {
namespace {

// --history: the event ring is history × 512 bytes, so the bound keeps it under 512 MiB.
constexpr uint64_t kMaxHistory = 1'000'000;
// --ring-size: a page at least; at most what the agent's memory limit leaves room for (and
// what the kernel maps as one ring).
constexpr uint64_t kMinRingSize = 4096;
constexpr uint64_t kMaxRingSize = uint64_t{1} << 30;

// --tls-plaintext's values.
constexpr std::pair<std::string_view, bool> kOnOffNames[] = {{"on", true}, {"off", false}};

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
    ("ports,p", po::value<std::string>()->value_name("LIST")->default_value("25,465,587"),
     "SMTP ports, comma-separated")
    ("tls-ports", po::value<std::string>()->value_name("LIST")->default_value("465"),
     "of the SMTP ports, those with implicit TLS (RFC 8314), or 'none': only the plaintext from "
     "inside TLS is analysed there")
    ("events", po::value<std::string>()->value_name("PATH"),
     "write events as JSON lines to PATH ('-' = stdout): those --events-include selects")
    ("events-include", po::value<std::string>()->value_name("LIST")->default_value("protocol"),
     "the events --events writes, comma-separated: event names (--list-events) and the groups "
     "'protocol' (commands, replies, anomalies), 'content' (message lines, header values) and "
     "'all'; message content leaves the agent only if listed here")
    ("log-dir", po::value<std::string>()->value_name("DIR"),
     "write smtp.log, ssl.log, conn.log, files.log and weird.log into DIR (an existing directory); -r with neither "
     "--events nor --log-dir writes them into the current directory, as zeek -r does")
    ("log-format", po::value<std::string>()->value_name("json|zeek")->default_value("json"),
     "the logs as JSON lines or Zeek's tab-separated format")
    ("file-hashes", po::value<std::string>()->value_name("on|off")->default_value("on"),
     "MD5, SHA-1 and SHA-256 of every file (attachment, message part) in files.log and "
     "file_hash events")
    ("extract", po::value<std::string>()->value_name("none|files|messages|all")
                    ->default_value("none"),
     "write files (attachments, message parts), whole messages (.eml), or both into "
     "--extract-dir; off by default: message content is private")
    ("extract-dir", po::value<std::string>()->value_name("DIR"),
     "the directory extracted files are written to (must exist; files are named by their fuid)")
    ("extract-max-file", po::value<std::string>()->value_name("BYTES")->default_value(
                             std::to_string(kDefaultExtractFileBytes)),
     "extraction: bytes written per file; the rest is cut off (extracted_cutoff in files.log)")
    ("extract-max-connection", po::value<std::string>()->value_name("BYTES")->default_value(
                                   std::to_string(kDefaultExtractConnectionBytes)),
     "extraction: bytes written per connection, all its files together")
    ("extract-max-total", po::value<std::string>()->value_name("BYTES")->default_value(
                              std::to_string(kDefaultExtractTotalBytes)),
     "extraction: bytes written in total since the agent started")
    ("socket", po::value<std::string>()->value_name("PATH"),
     "query socket (default /run/mailtap/mailtap.sock when capturing live; none for -r)")
    ("socket-group", po::value<std::string>()->value_name("GROUP"),
     "group allowed to query the agent (socket directory and file get this group)")
    ("keep-serving", po::bool_switch(), "with -r: keep serving queries after the replay ended")
    ("metrics-address", po::value<std::string>()->value_name("HOST:PORT"),
     "also serve Prometheus metrics over HTTP at http://HOST:PORT/metrics (no authentication: "
     "counters only, never mail content; e.g. 127.0.0.1:9465); default: only `mailtap metrics`")
    ("history", po::value<std::string>()->value_name("N")->default_value(
                    std::to_string(Config{}.history)),
     "events kept in memory for `mailtap observe --last`")
    ("observe-data", po::bool_switch(),
     "also send content events (message lines, header values) to `mailtap observe`; without it "
     "the socket carries the protocol events (commands, replies, anomalies)")
    ("redact", po::value<std::string>()->value_name("credentials|data|none")
                   ->default_value("credentials"),
     "what to hide in every output: AUTH credentials, also message data, or nothing")
    ("user", po::value<std::string>()->value_name("USER"),
     "live capture: switch to USER after attaching (default: mailtap if it exists, else nobody)")
    ("ring-size", po::value<std::string>()->value_name("BYTES")->default_value(
                      std::to_string(Config{}.ring_size)),
     "live capture: eBPF ring buffer size (power of two, at least one page)")
    ("memory-limit", po::value<std::string>()->value_name("BYTES")->default_value("448M"),
     "memory the agent plans for (K, M, G: binary units); every bounded structure gets its share "
     "of it (docs/deployment.md, Sizing); fit it to the unit's MemoryMax / the pod's limit")
    ("tls-plaintext", po::value<std::string>()->value_name("on|off")->default_value("on"),
     "live capture: read the plaintext of TLS sessions (STARTTLS, port 465) from the mail "
     "server's TLS library with eBPF uprobes")
    ("tls-processes", po::value<std::string>()->value_name("LIST"),
     "live capture: comma-separated task names (as in /proc/PID/comm) whose TLS plaintext is "
     "read; default smtpd,smtp,tlsproxy,exim,exim4,sendmail")
    ("community-id-seed", po::value<std::string>()->value_name("N")->default_value("0"),
     "seed of the Community ID flow hash (0-65535) written as community_id in every output")
    ("uid-seed", po::value<std::string>()->value_name("N"),
     "seed the connection uids with N (0 to 2^64-1), for output that is the same on every run "
     "(tests, diffs); default: a random seed, so that uids differ between runs and agents")
    ("log-level", po::value<std::string>()->value_name("LEVEL")->default_value("info"),
     "stderr log level: error, warn, info or debug")
    ("set", po::value<std::vector<std::string>>()->value_name("NAME=VALUE"),
     "set one of Zeek's constants, with Zeek's name (repeatable); see 'Zeek constants' below");
  // clang-format on
  return opts;
}

// --OPTION's value, one of the names in `table`, or sets *error naming the option and the choices.
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

// A whole number option within [min, max], or sets *error naming the option and the range.
// Parsed here rather than by Boost, which takes "-1" for the largest size_t.
bool ParseCount(const po::variables_map& vm, const char* option, uint64_t min, uint64_t max,
                uint64_t* out, std::string* error) {
  const auto& text = vm[option].as<std::string>();
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    *error = fmt::format("--{}: '{}' is not a whole number from {} to {}", option, text, min, max);
    return false;
  }
  *out = value;
  return true;
}

bool ParseSizes(const po::variables_map& vm, Config* cfg, std::string* error) {
  uint64_t history = 0;
  if (!ParseCount(vm, "history", 0, kMaxHistory, &history, error)) return false;
  cfg->history = static_cast<size_t>(history);
  if (vm.count("uid-seed")) {
    uint64_t seed = 0;
    if (!ParseCount(vm, "uid-seed", 0, UINT64_MAX, &seed, error)) return false;
    cfg->uid_seed = seed;
  }
  if (!ParseCount(vm, "ring-size", kMinRingSize, kMaxRingSize, &cfg->ring_size, error)) {
    return false;
  }
  if ((cfg->ring_size & (cfg->ring_size - 1)) != 0) {
    *error = fmt::format("--ring-size: {} is not a power of two", cfg->ring_size);
    return false;
  }
  uint64_t seed = 0;
  if (!ParseCount(vm, "community-id-seed", 0, UINT16_MAX, &seed, error)) return false;
  cfg->community_id_seed = static_cast<uint16_t>(seed);
  return true;
}

// "448M" -> bytes: a whole number with an optional K, M or G (powers of 1024).
bool ParseMemoryLimit(const po::variables_map& vm, uint64_t* out, std::string* error) {
  const auto& text = vm["memory-limit"].as<std::string>();
  std::string_view digits = text;
  unsigned shift = 0;
  if (!digits.empty()) {
    const char unit = digits.back();
    shift = unit == 'K' ? 10 : unit == 'M' ? 20 : unit == 'G' ? 30 : 0;
    if (shift > 0) digits.remove_suffix(1);
  }
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  constexpr uint64_t kMax = uint64_t{1} << 46;  // 64 TiB
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      value > (kMax >> shift)) {
    *error = fmt::format(
        "--memory-limit: '{}' is not a byte count (a whole number, optionally "
        "followed by K, M or G, at most 64 TiB)",
        text);
    return false;
  }
  *out = value << shift;
  return true;
}

bool PlanMemoryOf(const po::variables_map& vm, Config* cfg, std::string* error) {
  MemoryPlanInput input;
  if (!ParseMemoryLimit(vm, &input.limit, error)) return false;
  input.ring_size = cfg->ring_size;
  input.tls_plaintext = cfg->tls_plaintext;
  input.history_bytes = QueryHistoryBytes(cfg->history);
  cfg->memory_limit = input.limit;
  return PlanMemory(input, &cfg->memory, error);
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

// "smtpd,exim4" -> names; each must fit a kernel task name (15 bytes).
bool ParseProcessNames(const std::string& text, std::vector<std::string>* out, std::string* error) {
  std::vector<std::string> names;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    std::string name = text.substr(start, comma - start);
    if (name.empty() || name.size() > 15) {
      *error = fmt::format(
          "--tls-processes: '{}' is not a task name (1 to 15 bytes, comma-separated)", name);
      return false;
    }
    names.push_back(std::move(name));
    start = comma + 1;
  }
  *out = std::move(names);
  return true;
}

bool FillTlsOptions(const po::variables_map& vm, Config* cfg, std::string* error) {
  if (vm.count("tls-processes")) {
    std::vector<std::string> names;
    if (!ParseProcessNames(vm["tls-processes"].as<std::string>(), &names, error)) return false;
    cfg->tls_processes = std::move(names);
  }
  return ParseChoice<bool>(vm, "tls-plaintext", kOnOffNames, &cfg->tls_plaintext, error);
}

bool FillEventOptions(const po::variables_map& vm, Config* cfg, std::string* error) {
  if (vm.count("events")) cfg->events_path = vm["events"].as<std::string>();
  auto selection = EventSelection::Parse(vm["events-include"].as<std::string>(), error);
  if (!selection) {
    *error = "--events-include: " + *error;
    return false;
  }
  cfg->events_include = *selection;
  return true;
}

constexpr uint64_t kMaxExtractBytes = uint64_t{1} << 50;

bool FillFileOptions(const po::variables_map& vm, Config* cfg, std::string* error) {
  ExtractConfig& x = cfg->extract;
  if (!ParseChoice<bool>(vm, "file-hashes", kOnOffNames, &cfg->file_hashes, error) ||
      !ParseChoice<ExtractWhat>(vm, "extract", kExtractWhatNames, &x.what, error) ||
      !ParseCount(vm, "extract-max-file", 0, kMaxExtractBytes, &x.max_file_bytes, error) ||
      !ParseCount(vm, "extract-max-connection", 0, kMaxExtractBytes, &x.max_connection_bytes,
                  error) ||
      !ParseCount(vm, "extract-max-total", 0, kMaxExtractBytes, &x.max_total_bytes, error)) {
    return false;
  }
  if (vm.count("extract-dir")) x.dir = vm["extract-dir"].as<std::string>();
  if (x.what != ExtractWhat::kNone && x.dir.empty()) {
    *error = "--extract needs --extract-dir: the directory to write the files to";
    return false;
  }
  if (x.what == ExtractWhat::kNone && !x.dir.empty()) {
    *error =
        "--extract-dir is set but --extract is none: say what to extract (files, messages, all)";
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
  if (const auto& tls = vm["tls-ports"].as<std::string>(); tls == "none") {
    cfg->tls_ports = PortSet{};
  } else if (auto tls_ports = PortSet::Parse(tls, error)) {
    cfg->tls_ports = *tls_ports;
  } else {
    *error = "--tls-ports: " + *error;
    return false;
  }
  if (!FillEventOptions(vm, cfg, error)) return false;
  if (vm.count("log-dir")) cfg->log_dir = vm["log-dir"].as<std::string>();
  if (vm.count("socket")) cfg->socket_path = vm["socket"].as<std::string>();
  if (vm.count("socket-group")) cfg->socket_group = vm["socket-group"].as<std::string>();
  if (vm.count("user")) cfg->user = vm["user"].as<std::string>();
  cfg->keep_serving = vm["keep-serving"].as<bool>();
  if (vm.count("metrics-address")) {
    cfg->metrics_address = ParseListenAddress(vm["metrics-address"].as<std::string>(), error);
    if (!cfg->metrics_address) {
      *error = "--metrics-address: " + *error;
      return false;
    }
  }
  cfg->observe_data = vm["observe-data"].as<bool>();
  if (!ParseSizes(vm, cfg, error)) return false;
  if (!FillTlsOptions(vm, cfg, error)) return false;
  if (!PlanMemoryOf(vm, cfg, error)) return false;
  if (!FillFileOptions(vm, cfg, error)) return false;
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

// `mailtapd -r x.pcap` alone writes the logs where `zeek -r x.pcap` would: the current directory.
void ApplyReplayDefaults(Config* cfg) {
  if (cfg->read_file && !cfg->events_path && !cfg->log_dir) {
    cfg->log_dir = ".";
    cfg->log_dir_defaulted = true;
  }
}

ParseOutcome UsageError(const std::string& message) {
  return ParseOutcome{
      std::nullopt, 2,
      fmt::format("mailtapd: {}\nTry 'mailtapd --help' for more information.\n", message)};
}

// mailtapd takes options only. A stray word must not be ignored: without -r, ignoring it would
// start a live capture on every interface, which is not what someone who typed a file name meant.
std::string StrayArgumentMessage(const std::string& word, const po::variables_map& vm) {
  if (vm.count("read")) {
    return fmt::format(
        "unexpected argument '{}': -r reads one capture; replay the files one at a time, or merge "
        "them first (mergecap -w all.pcap a.pcap b.pcap)",
        word);
  }
  if (vm.count("interface")) {
    return fmt::format(
        "unexpected argument '{}': mailtapd takes options only (another interface "
        "is another -i)",
        word);
  }
  return fmt::format("unexpected argument '{}': mailtapd takes options only (did you mean -r {}?)",
                     word, word);
}

}  // namespace

ParseOutcome ParseCommandLine(int argc, const char* const argv[]) {
  const po::options_description opts = Options();
  po::variables_map vm;
  try {
    const po::parsed_options parsed = po::command_line_parser(argc, argv).options(opts).run();
    po::store(parsed, vm);
    const std::vector<std::string> stray =
        po::collect_unrecognized(parsed.options, po::include_positional);
    if (!stray.empty()) return UsageError(StrayArgumentMessage(stray.front(), vm));
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
  ApplyReplayDefaults(&cfg);
  return ParseOutcome{std::move(cfg), 0, {}};
}

}  // namespace mailtap
