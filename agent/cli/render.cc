#include "cli/render.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>

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
  return out;
}

std::string RecordDetail(const Json& j) {
  std::string out =
      "from=" + (j.contains("mailfrom") ? Str(j, "mailfrom") : "-") + " to=" + Join(j, "rcptto");
  if (j.contains("subject")) out += " subject=\"" + Str(j, "subject") + "\"";
  if (j.contains("last_reply")) out += " reply=\"" + Str(j, "last_reply") + "\"";
  if (j.contains("tls") && j["tls"] == true) out += " tls";
  return out;
}

std::string ConnectionDetail(const Json& j) {
  return "age=" + Str(j, "age_seconds") + "s tcp=" + Str(j, "tcp_state") +
         " smtp=" + (Str(j, "smtp_state").empty() ? "-" : Str(j, "smtp_state")) +
         " bytes=" + Str(j, "orig_bytes") + "/" + Str(j, "resp_bytes") +
         " gap=" + Str(j, "gap_bytes");
}

std::string Paint(Color color, const char* code, const std::string& text) {
  return color == Color::kOn ? code + text + kReset : text;
}

}  // namespace

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

void Renderer::PrintHeader() {
  header_done_ = true;
  switch (kind_) {
    case ItemKind::kEvent:
      std::fprintf(out_, "%-27s  %-22s  %-23s  %-23s  %-16s  %s\n", "TIME", "UID", "SOURCE",
                   "DESTINATION", "EVENT", "DETAIL");
      break;
    case ItemKind::kRecord:
      std::fprintf(out_, "%-27s  %-22s  %-23s  %-23s  %s\n", "TIME", "UID", "CLIENT", "SERVER",
                   "TRANSACTION");
      break;
    case ItemKind::kConnection:
      std::fprintf(out_, "%-27s  %-22s  %-23s  %-23s  %s\n", "START", "UID", "CLIENT", "SERVER",
                   "STATE");
      break;
  }
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
  bool table = format_ == OutputFormat::kTable;
  if (table && !header_done_) PrintHeader();
  std::string time = FormatTime(j, kind_ == ItemKind::kConnection ? "start" : "ts");
  std::string uid = Str(j, "uid");
  if (kind_ == ItemKind::kEvent) {
    auto [from, to] = Endpoints(j);
    std::string event = Str(j, "event");
    std::string detail = EventDetail(j, event);
    // Bytes read from the TLS library, not the wire (docs/interface.md, "Inside TLS").
    const auto tls = j.find("inside_tls");
    if (tls != j.end() && tls->is_boolean() && tls->get<bool>()) detail = "[tls] " + detail;
    std::string painted = Paint(color_, EventColor(j, event), event);
    if (table) {
      // Pad before painting so that escape codes do not disturb the column widths.
      std::string padded = event.size() < 16 ? event + std::string(16 - event.size(), ' ') : event;
      std::fprintf(out_, "%-27s  %-22s  %-23s  %-23s  %s  %s\n", time.c_str(), uid.c_str(),
                   from.c_str(), to.c_str(), Paint(color_, EventColor(j, event), padded).c_str(),
                   detail.c_str());
    } else {
      std::fprintf(out_, "%s %s: %s -> %s %s %s\n", time.c_str(), uid.c_str(), from.c_str(),
                   to.c_str(), painted.c_str(), detail.c_str());
    }
    return;
  }
  std::string orig = Endpoint(j, "id.orig_h", "id.orig_p");
  std::string resp = Endpoint(j, "id.resp_h", "id.resp_p");
  std::string detail = kind_ == ItemKind::kRecord ? RecordDetail(j) : ConnectionDetail(j);
  if (table) {
    std::fprintf(out_, "%-27s  %-22s  %-23s  %-23s  %s\n", time.c_str(), uid.c_str(), orig.c_str(),
                 resp.c_str(), detail.c_str());
  } else {
    std::fprintf(out_, "%s %s: %s -> %s %s\n", time.c_str(), uid.c_str(), orig.c_str(),
                 resp.c_str(), detail.c_str());
  }
}

}  // namespace mailtap::cli
