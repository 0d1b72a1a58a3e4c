#include "capture/library_finder.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

namespace mailtap {
namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";

std::string_view BaseName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The first line of a small /proc file, without its newline; empty when unreadable.
std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool IsPid(std::string_view name) {
  return !name.empty() &&
         std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Skips `fields` whitespace-separated fields and the blanks after them; npos when the line
// has fewer.
size_t SkipFields(std::string_view line, int fields) {
  size_t at = 0;
  for (int i = 0; i < fields; ++i) {
    at = line.find_first_not_of(' ', at);
    if (at == std::string_view::npos) return at;
    at = line.find(' ', at);
    if (at == std::string_view::npos) return at;
  }
  return line.find_first_not_of(' ', at);
}

class Scanner {
 public:
  explicit Scanner(const TlsLibraryScanConfig& config) : config_(config) {}

  TlsLibraryScan Run() {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(config_.proc_root, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (IsPid(name)) ScanProcess(name);
    }
    for (const std::string& dir : config_.standard_dirs) ScanStandardDir(dir);
    return std::move(scan_);
  }

 private:
  void ScanProcess(const std::string& pid) {
    const std::string base = config_.proc_root + "/" + pid;
    const std::string comm = ReadFirstLine(base + "/comm");
    if (std::find(config_.process_names.begin(), config_.process_names.end(), comm) ==
        config_.process_names.end()) {
      return;
    }
    scan_.processes.push_back(pid + " " + comm);
    const std::string found_by = "pid " + pid + " (" + comm + ")";
    for (const MappedFile& f : ParseMappedFiles(ReadAll(base + "/maps"))) {
      if (!ClassifyTlsLibrary(f.path)) continue;
      if (f.deleted) {
        Skip(f.path, found_by,
             "the file was replaced on disk after the process mapped it (upgraded?): restart "
             "the process, then the agent");
        continue;
      }
      Add(f.path, base + "/root" + f.path, found_by);
    }
  }

  // Under PID 1's root (the host's, from a host-PID container) and under the agent's own
  // root (the same on a host install; the only one readable where PID 1 is not dumpable).
  void ScanStandardDir(const std::string& dir) {
    for (const char* root_of : {"/1/root", "/self/root"}) {
      const std::string root = config_.proc_root + root_of;
      for (const char* name : {"libssl.so.3", "libssl.so.1.1", "libgnutls.so.30"}) {
        const std::string path = dir + "/" + name;
        struct stat st {};
        if (stat((root + path).c_str(), &st) != 0) continue;  // not there: nothing to say
        Add(path, root + path, "standard location");
      }
    }
  }

  void Add(const std::string& path, const std::string& open_path, const std::string& found_by) {
    struct stat st {};
    if (stat(open_path.c_str(), &st) != 0) {
      Skip(path, found_by, std::string("cannot open it: ") + std::strerror(errno));
      return;
    }
    if (!S_ISREG(st.st_mode)) {
      Skip(path, found_by, "not a regular file");
      return;
    }
    if (!seen_.insert({st.st_dev, st.st_ino}).second) return;
    TlsLibraryFile file;
    file.kind = *ClassifyTlsLibrary(path);
    file.path = path;
    file.open_path = open_path;
    file.dev = st.st_dev;
    file.ino = st.st_ino;
    file.found_by = found_by;
    scan_.files.push_back(std::move(file));
  }

  void Skip(const std::string& path, const std::string& found_by, std::string reason) {
    scan_.skipped.push_back({path, found_by, std::move(reason)});
  }

  const TlsLibraryScanConfig& config_;
  TlsLibraryScan scan_;
  std::set<std::pair<uint64_t, uint64_t>> seen_;
};

}  // namespace

std::string_view TlsLibraryKindName(TlsLibraryKind kind) {
  switch (kind) {
    case TlsLibraryKind::kOpenSsl3:
      return "OpenSSL 3";
    case TlsLibraryKind::kOpenSsl11:
      return "OpenSSL 1.1";
    case TlsLibraryKind::kGnuTls30:
      return "GnuTLS";
  }
  return "?";
}

std::optional<TlsLibraryKind> ClassifyTlsLibrary(std::string_view path) {
  const std::string_view name = BaseName(path);
  if (name == "libssl.so.3") return TlsLibraryKind::kOpenSsl3;
  if (name == "libssl.so.1.1") return TlsLibraryKind::kOpenSsl11;
  if (name == "libgnutls.so.30") return TlsLibraryKind::kGnuTls30;
  return std::nullopt;
}

// A maps line: "start-end perms offset dev inode   pathname"; the pathname may contain spaces
// and ends with " (deleted)" when the file was unlinked.
std::vector<MappedFile> ParseMappedFiles(std::string_view maps_text) {
  std::vector<MappedFile> out;
  std::set<std::string, std::less<>> seen;
  while (!maps_text.empty()) {
    const size_t eol = maps_text.find('\n');
    std::string_view line = maps_text.substr(0, eol);
    maps_text = eol == std::string_view::npos ? std::string_view() : maps_text.substr(eol + 1);
    const size_t at = SkipFields(line, 5);
    if (at == std::string_view::npos || line[at] != '/') continue;
    MappedFile f;
    std::string_view path = line.substr(at);
    if (path.size() > kDeletedSuffix.size() && path.ends_with(kDeletedSuffix)) {
      f.deleted = true;
      path.remove_suffix(kDeletedSuffix.size());
    }
    if (!seen.insert(std::string(path)).second) continue;
    f.path = std::string(path);
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<std::string> DefaultTlsProcessNames() {
  // Postfix: smtpd (server), smtp (client), tlsproxy (postscreen, connection reuse). Exim:
  // exim4 on Debian, exim elsewhere. OpenSMTPD's network process is also called smtpd.
  return {"smtpd", "smtp", "tlsproxy", "exim", "exim4", "sendmail"};
}

std::vector<std::string> DefaultTlsLibraryDirs() {
  return {"/usr/lib/x86_64-linux-gnu",
          "/usr/lib/aarch64-linux-gnu",
          "/lib/x86_64-linux-gnu",
          "/lib/aarch64-linux-gnu",
          "/usr/lib64",
          "/lib64",
          "/usr/lib",
          "/lib"};
}

TlsLibraryScan ScanTlsLibraries(const TlsLibraryScanConfig& config) {
  return Scanner(config).Run();
}

}  // namespace mailtap
