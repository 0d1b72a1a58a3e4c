// Finds the TLS libraries that mail servers use, for the TLS uprobes: the files mapped by
// processes with a watched name (/proc/PID/comm, /proc/PID/maps), opened through
// /proc/PID/root so that a mail server in a container is found from the host's PID namespace,
// plus the standard library directories of the host (PID 1's root, and the agent's own root). Each
// file is reported once (by device and inode), whichever way it was found.
//
// Pure file reading under a configurable /proc root: no privilege, no BPF, tested on a fake tree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailtap {

enum class TlsLibraryKind { kOpenSsl3, kOpenSsl11, kGnuTls30 };

// "OpenSSL 3", "OpenSSL 1.1", "GnuTLS".
std::string_view TlsLibraryKindName(TlsLibraryKind kind);

// The kind of a library by its file name (libssl.so.3, libssl.so.1.1, libgnutls.so.30), or
// nullopt for any other file.
std::optional<TlsLibraryKind> ClassifyTlsLibrary(std::string_view path);

// One file mapping of /proc/PID/maps: the path and whether the kernel marked it deleted (the
// file was replaced on disk after the process mapped it, e.g. by a package upgrade).
struct MappedFile {
  std::string path;
  bool deleted = false;
};

// The distinct files mapped in a /proc/PID/maps text, in order of first appearance. Anonymous
// and special mappings ([heap], [vdso], ...) are left out. Linear in the text.
std::vector<MappedFile> ParseMappedFiles(std::string_view maps_text);

struct TlsLibraryFile {
  TlsLibraryKind kind = TlsLibraryKind::kOpenSsl3;
  std::string path;       // as the process that maps it sees it
  std::string open_path;  // where this process opens it: <proc>/PID/root/<path>
  uint64_t dev = 0;
  uint64_t ino = 0;
  std::string found_by;  // "pid 812 (smtpd)" or "standard location"
};

// A library that was found but cannot be probed, and why.
struct SkippedTlsLibrary {
  std::string path;
  std::string found_by;
  std::string reason;
};

struct TlsLibraryScan {
  std::vector<TlsLibraryFile> files;
  std::vector<SkippedTlsLibrary> skipped;
  std::vector<std::string> processes;  // "812 smtpd": every process with a watched name
};

struct TlsLibraryScanConfig {
  std::string proc_root = "/proc";
  // Task names (as in /proc/PID/comm) of the mail-server processes.
  std::vector<std::string> process_names;
  // Directories searched under PID 1's root and the agent's own root (<proc>/self/root) for the
  // libraries, whether a process maps them or not.
  std::vector<std::string> standard_dirs;
};

// The default process names: Postfix smtpd/smtp/tlsproxy, Exim, Sendmail, OpenSMTPD's smtpd.
std::vector<std::string> DefaultTlsProcessNames();
// The usual library directories of Debian, Ubuntu, RHEL, Alpine.
std::vector<std::string> DefaultTlsLibraryDirs();

// Never throws: unreadable processes (gone meanwhile, or not permitted) are skipped.
TlsLibraryScan ScanTlsLibraries(const TlsLibraryScanConfig& config);

}  // namespace mailtap
