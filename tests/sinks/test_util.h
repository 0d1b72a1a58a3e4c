// Helpers shared by the sinks tests: a temporary directory, file reading, a stats recorder,
// addresses, and writing a log file to read it back.
#pragma once

#include <stdlib.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "mailtap/packet.h"
#include "mailtap/stats.h"
#include "sinks/zeek_log.h"

namespace mailtap::testing_util {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mailtap-sinks-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::filesystem::path path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  return out;
}

// Parses a textual IPv4/IPv6 address; throws (failing the test) if it is not one.
inline IpAddress Ip(const std::string& text) {
  IpAddress a;
  if (!IpAddress::Parse(text, &a)) throw std::runtime_error("bad address in test: " + text);
  return a;
}

// A record log in Zeek format whose #open/#close lines always name the epoch, so that a test
// does not depend on when it runs.
inline RecordLogOptions ZeekLogAtEpoch() {
  RecordLogOptions options;
  options.format = LogFormat::kZeek;
  options.clock = [] { return std::time_t{0}; };
  return options;
}

// Opens a `Writer` on a fresh directory, lets `write` feed it, closes it (which writes Zeek's
// #close line) and returns the text of DIR/`file_name`.
template <typename Writer, typename Options, typename Write>
std::string WrittenLog(const std::string& file_name, Options options, Write write) {
  TempDir dir;
  {
    Writer writer(dir.path().string(), std::move(options));
    write(writer);
  }
  return ReadFile(dir.path() / file_name);
}

class StatsMap : public StatsVisitor {
 public:
  void Visit(std::string_view, std::string_view name, uint64_t value, std::string_view, StatKind,
             Loss) override {
    values[std::string(name)] = value;
  }
  std::map<std::string, uint64_t> values;
};

}  // namespace mailtap::testing_util
