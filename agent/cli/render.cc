#include "cli/render.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>

#include "cli/table.h"

namespace mailtap::cli {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kReset = "\033[0m";
constexpr const char* kCyan = "\033[36m";
constexpr const char* kGreen = "\033[32m";
constexpr const char* kYellow = "\033[33m";
constexpr const char* kRed = "\033[31m";
constexpr const char* kDim = "\033[2m";

// Protocol bytes go to a terminal: control characters would let a peer's data move the cursor
// or change colours, so they are shown as \xNN.
std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return "";
  if (it->is_string()) return Printable(it->get<std::string>());
  return Printable(it->dump());
}

std::string FormatTime(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return "-";
  double ts = it->get<double>();
  auto secs = static_cast<std::time_t>(std::floor(ts));
  auto usec = static_cast<long>(std::lround((ts - static_cast<double>(secs)) * 1e6));
  if (usec >= 1000000) {
    ++secs;
    usec -= 1000000;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%06ldZ", usec);
  return buf;
}

std::string Endpoint(const Json& j, const char* host, const char* port) {
  std::string h = Str(j, host);
  if (h.empty()) return "-";
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  return h + ":" + Str(j, port);
}

// Sender first: the originator for is_orig=true, the responder for is_orig=false.
std::pair<std::string, std::string> Endpoints(const Json& j) {
  std::string orig = Endpoint(j, "id.orig_h", "id.orig_p");
  std::string resp = Endpoint(j, "id.resp_h", "id.resp_p");
  auto it = j.find("is_orig");
  if (it != j.end() && it->is_boolean() && !it->get<bool>()) return {resp, orig};
  return {orig, resp};
}

const char* EventColor(const Json& j, const std::string& event) {
  if (event == "smtp_request") return kCyan;
  if (event == "smtp_reply") {
    auto it = j.find("code");
    int64_t code = it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
    return code >= 500 ? kRed : code >= 400 ? kYellow : kGreen;
  }
  if (event == "smtp_data") return kDim;
  if (event == "smtp_unexpected" || event == "weird") return kRed;
  return kYellow;
}

std::string OtherArgs(const Json& j) {
  static const char* kCommon[] = {"ts",        "event",     "uid",     "id.orig_h", "id.orig_p",
                                  "id.resp_h", "id.resp_p", "is_orig", "inside_tls"};
  std::string out;
  for (const auto& [key, value] : j.items()) {
    if (std::find(std::begin(kCommon), std::end(kCommon), key) != std::end(kCommon)) continue;
    if (!out.empty()) out += " ";
    out += key + "=" + Printable(value.is_string() ? value.get<std::string>() : value.dump());
  }
  return out;
}

std::string EventDetail(const Json& j, const std::string& event) {
  if (event == "smtp_request") return Str(j, "command") + " " + Str(j, "arg");
  if (event == "smtp_reply") {
    bool cont =
        j.contains("cont_resp") && j["cont_resp"].is_boolean() && j["cont_resp"].get<bool>();
    return Str(j, "code") + (cont ? "-" : " ") + Str(j, "msg") + " (" + Str(j, "cmd") + ")";
  }
  if (event == "smtp_data") return "| " + Str(j, "data");
  if (event == "smtp_unexpected") return Str(j, "msg") + ": " + Str(j, "detail");
  if (event == "mime_one_header") return Str(j, "h.original_name") + ": " + Str(j, "h.value");
  return OtherArgs(j);
}

std::string Join(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return "-";
  if (!it->is_array()) return Str(j, key);
  std::string out;
  for (const auto& v : *it)
    out += (out.empty() ? "" : ",") + Printable(v.is_string() ? v.get<std::string>() : v.dump());
  return out.empty() ? "-" : out;
}

// Envelope addresses carry smtp.log's names (mailfrom, rcptto): in smtp.log `from` and `to` are
// the message's header fields, which are different things (a forged From: is the classic case).
std::string RecordDetail(const Json& j) {
  std::string out = "mailfrom=" + (j.contains("mailfrom") ? Str(j, "mailfrom") : "-") +
                    " rcptto=" + Join(j, "rcptto");
  if (j.contains("subject")) out += " subject=\"" + Str(j, "subject") + "\"";
  if (j.contains("last_reply")) out += " reply=\"" + Str(j, "last_reply") + "\"";
  if (j.contains("tls") && j["tls"] == true) out += " tls";
  return out;
}

double Number(const Json& j, const char* key, double otherwise) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : otherwise;
}

// "1234", "12.3k", "4.5M": byte counts for people (exact below 10000).
std::string FormatBytes(double bytes) {
  static const char* kUnits[] = {"", "k", "M", "G", "T"};
  size_t unit = 0;
  while (bytes >= 10000 && unit + 1 < std::size(kUnits)) {
    bytes /= 1000;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f%s" : "%.1f%s", bytes, kUnits[unit]);
  return buf;
}

// Packet time "now" for connection ages: the agent's own when it sends one (`now`), else the
// newest packet of any listed connection. Never the client's clock: a replay's packets are
// years old, and live the newest packet is at most a moment behind.
double PacketNow(const std::vector<Json>& connections) {
  double now = 0;
  for (const auto& j : connections) {
    now = std::max(now, Number(j, "now", Number(j, "last_seen", Number(j, "start", 0))));
  }
  return now;
}

struct ConnectionView {
  std::string uid, client, server, age, idle, tcp, smtp, bytes, gap;
};

ConnectionView ViewOf(const Json& j, double now) {
  ConnectionView v;
  v.uid = Str(j, "uid");
  v.client = Endpoint(j, "id.orig_h", "id.orig_p");
  v.server = Endpoint(j, "id.resp_h", "id.resp_p");
  double start = Number(j, "start", now);
  v.age = FormatAge(now - start);
  v.idle = FormatAge(now - Number(j, "last_seen", start));
  v.tcp = Str(j, "tcp_state").empty() ? "-" : Str(j, "tcp_state");
  v.smtp = Str(j, "smtp_state").empty() ? "-" : Str(j, "smtp_state");
  v.bytes = FormatBytes(Number(j, "orig_bytes", 0)) + "/" + FormatBytes(Number(j, "resp_bytes", 0));
  double gap = Number(j, "gap_bytes", 0);
  v.gap = gap > 0 ? FormatBytes(gap) : "-";
  return v;
}

std::string CompactConnection(const ConnectionView& v, bool with_idle) {
  return v.uid + ": " + v.client + " -> " + v.server + " age=" + v.age +
         (with_idle ? " idle=" + v.idle : "") + " tcp=" + v.tcp + " smtp=" + v.smtp +
         " bytes=" + v.bytes + " gap=" + v.gap;
}

std::string Paint(Color color, const char* code, const std::string& text) {
  return color == Color::kOn ? code + text + kReset : text;
}

// Time of day for table rows (the date is in compact and json output).
std::string TableTime(const std::string& iso) {
  size_t t = iso.find('T');
  if (t == std::string::npos || iso.size() < t + 13) return iso;
  return iso.substr(t + 1, 12);
}

std::string HostOnly(const Json& j, const char* host) {
  std::string h = Str(j, host);
  return h.empty() ? "-" : h;
}

// The last column takes what the others leave of the width (at least its title).
size_t Rest(size_t width, std::initializer_list<size_t> fixed, size_t minimum) {
  size_t used = 0;
  for (size_t w : fixed) used += w + 2;
  return used + minimum <= width ? width - used : minimum;
}

}  // namespace

std::string FormatAge(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  auto s = static_cast<long long>(seconds);
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  } else if (s < 86400) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s % 3600 / 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
  }
  return buf;
}

bool ParseOutputFormat(const std::string& text, OutputFormat* out) {
  if (text == "json") {
    *out = OutputFormat::kJson;
  } else if (text == "compact") {
    *out = OutputFormat::kCompact;
  } else if (text == "table") {
    *out = OutputFormat::kTable;
  } else {
    return false;
  }
  return true;
}

Color ColorFor(std::FILE* out) {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && *no_color != '\0') return Color::kOff;
  return ::isatty(::fileno(out)) ? Color::kOn : Color::kOff;
}

size_t TableWidthFor(std::FILE* out) {
  winsize ws{};
  if (::isatty(::fileno(out)) && ::ioctl(::fileno(out), TIOCGWINSZ, &ws) == 0 &&
      ws.ws_col > kTableWidth) {
    return ws.ws_col;
  }
  return kTableWidth;
}

void Renderer::Print(const std::string& line) {
  if (format_ == OutputFormat::kJson) {
    std::fprintf(out_, "%s\n", line.c_str());
    return;
  }
  Json j = Json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    std::fprintf(out_, "%s\n", Printable(line).c_str());
    return;
  }
  switch (kind_) {
    case ItemKind::kEvent:
      return PrintEvent(line);
    case ItemKind::kRecord:
      return PrintRecord(line);
    case ItemKind::kConnection:
      held_.push_back(line);
      return;
  }
}

void Renderer::Finish() {
  if (kind_ == ItemKind::kConnection && format_ != OutputFormat::kJson) PrintConnections();
  held_.clear();
}

void Renderer::PrintEvent(const std::string& line) {
  Json j = Json::parse(line);
  std::string time = FormatTime(j, "ts");
  auto [from, to] = Endpoints(j);
  std::string event = Str(j, "event");
  std::string detail = EventDetail(j, event);
  // Bytes read from the TLS library, not the wire (docs/interface.md, "Inside TLS").
  const auto tls = j.find("inside_tls");
  if (tls != j.end() && tls->is_boolean() && tls->get<bool>()) detail = "[tls] " + detail;
  const char* color = EventColor(j, event);
  if (format_ == OutputFormat::kCompact) {
    std::fprintf(out_, "%s %s: %s -> %s %s %s\n", time.c_str(), Str(j, "uid").c_str(), from.c_str(),
                 to.c_str(), Paint(color_, color, event).c_str(), detail.c_str());
    return;
  }
  // One endpoint: the sender of this event (the client for requests, the server for replies);
  // the connection's uid ties it to the other (`mailtap connections`, compact output).
  constexpr size_t kTime = 12, kUid = 18, kSource = 21, kEvent = 17;
  size_t detail_width = Rest(width_, {kTime, kUid, kSource, kEvent}, 6);
  if (!header_done_) {
    header_done_ = true;
    std::fprintf(out_, "%s\n",
                 FormatHeader({{"TIME", kTime},
                               {"UID", kUid},
                               {"SOURCE", kSource},
                               {"EVENT", kEvent},
                               {"DETAIL", detail_width}})
                     .c_str());
  }
  // Padded before painting, so that escape codes do not count as columns.
  std::string row = Pad(TableTime(time), kTime) + "  " + Pad(Str(j, "uid"), kUid) + "  " +
                    Pad(from, kSource) + "  " + Paint(color_, color, Pad(event, kEvent)) + "  " +
                    Elide(detail, detail_width);
  row.erase(row.find_last_not_of(' ') + 1);
  std::fprintf(out_, "%s\n", row.c_str());
}

void Renderer::PrintRecord(const std::string& line) {
  Json j = Json::parse(line);
  std::string time = FormatTime(j, "ts");
  if (format_ == OutputFormat::kCompact) {
    std::fprintf(out_, "%s %s: %s -> %s %s\n", time.c_str(), Str(j, "uid").c_str(),
                 Endpoint(j, "id.orig_h", "id.orig_p").c_str(),
                 Endpoint(j, "id.resp_h", "id.resp_p").c_str(), RecordDetail(j).c_str());
    return;
  }
  constexpr size_t kTime = 12, kUid = 18, kClient = 15, kAddress = 20;
  std::vector<Column> columns = {
      {"TIME", kTime},      {"UID", kUid},
      {"CLIENT", kClient},  {"MAILFROM", kAddress},
      {"RCPTTO", kAddress}, {"REPLY", Rest(width_, {kTime, kUid, kClient, kAddress, kAddress}, 5)}};
  if (!header_done_) {
    header_done_ = true;
    std::fprintf(out_, "%s\n", FormatHeader(columns).c_str());
  }
  std::string reply = j.contains("last_reply") ? Str(j, "last_reply") : "-";
  std::fprintf(out_, "%s\n",
               FormatRow(columns, {TableTime(time), Str(j, "uid"), HostOnly(j, "id.orig_h"),
                                   j.contains("mailfrom") ? Str(j, "mailfrom") : "-",
                                   Join(j, "rcptto"), reply})
                   .c_str());
}

void Renderer::PrintConnections() {
  std::vector<Json> items;
  for (const auto& line : held_) items.push_back(Json::parse(line));
  double now = PacketNow(items);
  // Idle times need the agent's packet time: measured against the newest listed packet, the
  // most recently active connection would always look idle for 0s.
  bool with_idle =
      std::any_of(items.begin(), items.end(), [](auto& j) { return j.contains("now"); });
  bool with_gap = false;
  std::vector<ConnectionView> views;
  for (const auto& j : items) {
    views.push_back(ViewOf(j, now));
    with_gap |= views.back().gap != "-";
  }
  if (format_ == OutputFormat::kCompact) {
    for (const auto& v : views) std::fprintf(out_, "%s\n", CompactConnection(v, with_idle).c_str());
    return;
  }
  std::vector<Column> columns = {{"UID", 18}, {"CLIENT", 47}, {"SERVER", 47}, {"AGE", 7}};
  if (with_idle) columns.push_back({"IDLE", 7});
  for (Column c : {Column{"TCP", 11}, Column{"SMTP", 13}, Column{"BYTES C/S", 15}}) {
    columns.push_back(c);
  }
  if (with_gap) columns.push_back({"GAP", 7});
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : views) {
    rows.push_back({v.uid, v.client, v.server, v.age});
    if (with_idle) rows.back().push_back(v.idle);
    rows.back().insert(rows.back().end(), {v.tcp, v.smtp, v.bytes});
    if (with_gap) rows.back().push_back(v.gap);
  }
  columns = FitColumns(std::move(columns), rows, width_);
  std::fprintf(out_, "%s\n", FormatHeader(columns).c_str());
  for (const auto& row : rows) std::fprintf(out_, "%s\n", FormatRow(columns, row).c_str());
}

}  // namespace mailtap::cli
