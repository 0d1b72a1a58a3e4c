// Zeek's file-analysis baselines, read from $MAILTAP_ZEEK_CORPUS (INDEX.md describes them).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace mailtap::files_test {

inline std::string BaselineDir(const std::string& test) {
  const char* root = std::getenv("MAILTAP_ZEEK_CORPUS");
  if (root == nullptr) return {};
  return std::string(root) + "/baselines/" + test;
}

inline std::string ReadBytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A btest baseline's content: its first line is btest's own header, not output.
inline std::string WithoutBtestHeader(const std::string& text) {
  const size_t eol = text.find('\n');
  return eol == std::string::npos ? std::string() : text.substr(eol + 1);
}

// scripts.base.frameworks.file-analysis.smtp: the bytes of the first three MIME parts of
// smtp.pcap as Zeek extracted them (thefile0..2).
inline std::string SmtpPart(int n) {
  return WithoutBtestHeader(ReadBytes(BaselineDir("scripts.base.frameworks.file-analysis.smtp") +
                                      "/thefile" + std::to_string(n)));
}

// What that test's `out` printed for file #n: "MD5" -> hex, "SHA1", "SHA256", "MIME_TYPE".
inline std::map<std::string, std::string> SmtpPartFacts(int n) {
  std::istringstream out(
      ReadBytes(BaselineDir("scripts.base.frameworks.file-analysis.smtp") + "/out"));
  std::map<std::string, std::string> facts;
  std::string line;
  int file = -1;
  bool type_next = false;
  while (std::getline(out, line)) {
    if (line == "FILE_NEW") ++file;
    if (file != n) continue;
    if (type_next) facts["MIME_TYPE"] = line;
    type_next = line == "MIME_TYPE";
    for (const char* kind : {"MD5", "SHA1", "SHA256"}) {
      const std::string prefix = std::string(kind) + ": ";
      if (line.rfind(prefix, 0) == 0) facts[kind] = line.substr(prefix.size());
    }
  }
  return facts;
}

}  // namespace mailtap::files_test
