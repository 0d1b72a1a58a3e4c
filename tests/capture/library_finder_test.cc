#include "capture/library_finder.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

namespace mailtap {
namespace {

namespace fs = std::filesystem;

TEST(ClassifyTlsLibraryTest, KnowsTheThreeLibrariesByFileNameOnly) {
  EXPECT_EQ(ClassifyTlsLibrary("/usr/lib/x86_64-linux-gnu/libssl.so.3"), TlsLibraryKind::kOpenSsl3);
  EXPECT_EQ(ClassifyTlsLibrary("/lib/libssl.so.1.1"), TlsLibraryKind::kOpenSsl11);
  EXPECT_EQ(ClassifyTlsLibrary("libgnutls.so.30"), TlsLibraryKind::kGnuTls30);
  EXPECT_EQ(ClassifyTlsLibrary("/usr/lib/libcrypto.so.3"), std::nullopt);
  EXPECT_EQ(ClassifyTlsLibrary("/usr/lib/libssl.so.3.bak"), std::nullopt);
  EXPECT_EQ(ClassifyTlsLibrary("/opt/libssl.so.3/libc.so.6"), std::nullopt);
}

TEST(ParseMappedFilesTest, ListsEachFileOnceWithDeletedMarkAndSpaces) {
  const std::string maps =
      "55d0c0a00000-55d0c0a10000 r--p 00000000 fd:01 1234   /usr/lib/postfix/sbin/smtpd\n"
      "7f00a0000000-7f00a0020000 r--p 00000000 fd:01 5678   /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
      "7f00a0020000-7f00a0080000 r-xp 00020000 fd:01 5678   /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
      "7f00a1000000-7f00a1021000 rw-p 00000000 00:00 0 \n"
      "7f00a2000000-7f00a2021000 rw-p 00000000 00:00 0      [heap]\n"
      "7f00a3000000-7f00a3001000 r-xp 00000000 fd:01 999    /opt/my libs/libgnutls.so.30 "
      "(deleted)\n"
      "7f00a4000000-7f00a4001000 r-xp 00000000 fd:01 998    /opt/x/libssl.so.1.1";  // no newline
  const auto files = ParseMappedFiles(maps);
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].path, "/usr/lib/postfix/sbin/smtpd");
  EXPECT_EQ(files[1].path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
  EXPECT_FALSE(files[1].deleted);
  EXPECT_EQ(files[2].path, "/opt/my libs/libgnutls.so.30");
  EXPECT_TRUE(files[2].deleted);
  EXPECT_EQ(files[3].path, "/opt/x/libssl.so.1.1");
}

TEST(ParseMappedFilesTest, MalformedLinesAreSkipped) {
  EXPECT_TRUE(ParseMappedFiles("").empty());
  EXPECT_TRUE(ParseMappedFiles("garbage\n\n   \nonly three fields\n").empty());
  EXPECT_TRUE(ParseMappedFiles("a b c d e relative/path\n").empty());
}

// A fake /proc: PID 1's root (the host), two mail-server processes sharing one libssl (one of
// them through a symlinked directory), a container process with its own root and libgnutls, a
// process whose library was replaced on disk, and a process that is not a mail server.
class FakeProc : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("mailtap-proc-" + std::to_string(getpid()));
    fs::remove_all(root_);
    Write("1/root/usr/lib/x86_64-linux-gnu/libssl.so.3", "host libssl");
    Write("1/root/usr/lib/x86_64-linux-gnu/libgnutls.so.30", "host gnutls");
    fs::create_directories(root_ / "1/root/lib");
    fs::create_directory_symlink(root_ / "1/root/usr/lib/x86_64-linux-gnu",
                                 root_ / "1/root/lib/x86_64-linux-gnu");
    Process("1", "systemd", "", "");
    Process("100", "smtpd", "", "/usr/lib/x86_64-linux-gnu/libssl.so.3");
    Process("101", "smtp", "", "/lib/x86_64-linux-gnu/libssl.so.3");  // same file
    Process("200", "exim4", "../200c", "/usr/lib/x86_64-linux-gnu/libgnutls.so.30");
    Write("200c/usr/lib/x86_64-linux-gnu/libgnutls.so.30", "container gnutls");
    Process("300", "sendmail", "", "/usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)");
    Process("400", "curl", "", "/usr/lib/x86_64-linux-gnu/libssl.so.3");
    Write("self/comm", "smtpd\n");  // not a PID: ignored
  }
  void TearDown() override { fs::remove_all(root_); }

  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  // `root`: empty = the host's root (a symlink to 1/root), else a directory relative to it.
  void Process(const std::string& pid, const std::string& comm, const std::string& root,
               const std::string& lib) {
    Write(pid + "/comm", comm + "\n");
    std::string maps = "55d0c0a00000-55d0c0a10000 r-xp 00000000 fd:01 1 /usr/bin/" + comm + "\n";
    if (!lib.empty()) maps += "7f00a0000000-7f00a0020000 r-xp 00000000 fd:01 2 " + lib + "\n";
    Write(pid + "/maps", maps);
    if (pid == "1") return;
    fs::create_directory_symlink(root.empty() ? root_ / "1/root" : root_ / pid / root,
                                 root_ / pid / "root");
  }

  TlsLibraryScan Scan(std::vector<std::string> dirs = {}) {
    TlsLibraryScanConfig config;
    config.proc_root = root_.string();
    config.process_names = DefaultTlsProcessNames();
    config.standard_dirs = std::move(dirs);
    return ScanTlsLibraries(config);
  }

  fs::path root_;
};

TEST_F(FakeProc, EachLibraryFileOnceThroughTheProcessRoot) {
  const TlsLibraryScan scan = Scan();
  ASSERT_EQ(scan.files.size(), 2u);
  std::map<std::string, const TlsLibraryFile*> by_kind;
  for (const TlsLibraryFile& f : scan.files) by_kind[std::string(TlsLibraryKindName(f.kind))] = &f;
  ASSERT_TRUE(by_kind.count("OpenSSL 3"));
  ASSERT_TRUE(by_kind.count("GnuTLS"));
  const TlsLibraryFile& ssl = *by_kind["OpenSSL 3"];
  EXPECT_TRUE(ssl.found_by == "pid 100 (smtpd)" || ssl.found_by == "pid 101 (smtp)")
      << ssl.found_by;
  const TlsLibraryFile& gnutls = *by_kind["GnuTLS"];
  EXPECT_EQ(gnutls.path, "/usr/lib/x86_64-linux-gnu/libgnutls.so.30");
  EXPECT_EQ(gnutls.open_path,
            (root_ / "200/root/usr/lib/x86_64-linux-gnu/libgnutls.so.30").string());
  EXPECT_EQ(gnutls.found_by, "pid 200 (exim4)");
  struct stat st {};
  ASSERT_EQ(stat((root_ / "200c/usr/lib/x86_64-linux-gnu/libgnutls.so.30").c_str(), &st), 0);
  EXPECT_EQ(gnutls.ino, st.st_ino) << "the container's own copy, not the host's";
}

TEST_F(FakeProc, OnlyWatchedProcessesAreListed) {
  const TlsLibraryScan scan = Scan();
  std::set<std::string> processes(scan.processes.begin(), scan.processes.end());
  EXPECT_EQ(processes,
            (std::set<std::string>{"100 smtpd", "101 smtp", "200 exim4", "300 sendmail"}));
}

TEST_F(FakeProc, ReplacedLibraryIsSkippedWithTheReason) {
  const TlsLibraryScan scan = Scan();
  ASSERT_EQ(scan.skipped.size(), 1u);
  EXPECT_EQ(scan.skipped[0].path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
  EXPECT_EQ(scan.skipped[0].found_by, "pid 300 (sendmail)");
  EXPECT_NE(scan.skipped[0].reason.find("replaced on disk"), std::string::npos);
}

TEST_F(FakeProc, StandardDirectoriesAddTheHostsLibrariesOnce) {
  const TlsLibraryScan scan =
      Scan({"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64"});
  // The host's libssl (already found through smtpd), the host's libgnutls (new, no process maps
  // it), the container's libgnutls: three distinct files.
  ASSERT_EQ(scan.files.size(), 3u);
  int standard = 0;
  for (const TlsLibraryFile& f : scan.files) standard += f.found_by == "standard location";
  EXPECT_EQ(standard, 1);
}

// Where PID 1 is not dumpable its root cannot be read; the agent's own root is searched too.
TEST_F(FakeProc, StandardDirectoriesAlsoUnderTheAgentsOwnRoot) {
  Write("agentroot/usr/lib64/libssl.so.1.1", "agent's libssl 1.1");
  fs::create_directory_symlink(root_ / "agentroot", root_ / "self/root");
  const TlsLibraryScan scan = Scan({"/usr/lib64"});
  bool found = false;
  for (const TlsLibraryFile& f : scan.files) {
    if (f.kind == TlsLibraryKind::kOpenSsl11) {
      found = true;
      EXPECT_EQ(f.path, "/usr/lib64/libssl.so.1.1");
      EXPECT_EQ(f.open_path, (root_ / "self/root/usr/lib64/libssl.so.1.1").string());
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(FakeProc, MissingProcRootFindsNothingAndDoesNotThrow) {
  TlsLibraryScanConfig config;
  config.proc_root = (root_ / "nonexistent").string();
  config.process_names = {"smtpd"};
  config.standard_dirs = {"/usr/lib"};
  const TlsLibraryScan scan = ScanTlsLibraries(config);
  EXPECT_TRUE(scan.files.empty());
  EXPECT_TRUE(scan.skipped.empty());
}

TEST_F(FakeProc, UnreadableLibraryIsSkippedWithTheError) {
  Process("500", "smtpd", "../500c", "/usr/lib/libssl.so.3");  // not in its root
  const TlsLibraryScan scan = Scan();
  bool found = false;
  for (const SkippedTlsLibrary& s : scan.skipped) {
    if (s.found_by == "pid 500 (smtpd)") {
      found = true;
      EXPECT_NE(s.reason.find("cannot open it"), std::string::npos) << s.reason;
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace mailtap
