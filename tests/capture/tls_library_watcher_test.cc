#include "capture/tls_library_watcher.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace mailtap {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

TEST(TlsWatchReportTest, RoundTripsFieldsWithTabsNewlinesAndBackslashes) {
  TlsWatchReport r;
  r.file.kind = TlsLibraryKind::kGnuTls30;
  r.file.path = "/opt/odd\tdir\n/back\\slash/libgnutls.so.30";
  r.file.open_path = "/proc/7/root" + r.file.path;
  r.file.dev = 2049;
  r.file.ino = 123456789012;
  r.file.found_by = "pid 7 (exim4)";
  r.probes = 6;
  r.entry_points = "by name";
  const std::string line = EncodeTlsWatchReport(r);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line";
  const auto back = DecodeTlsWatchReport(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->file.kind, r.file.kind);
  EXPECT_EQ(back->file.path, r.file.path);
  EXPECT_EQ(back->file.open_path, r.file.open_path);
  EXPECT_EQ(back->file.dev, r.file.dev);
  EXPECT_EQ(back->file.ino, r.file.ino);
  EXPECT_EQ(back->file.found_by, r.file.found_by);
  EXPECT_EQ(back->probes, 6);
  EXPECT_EQ(back->entry_points, "by name");
  EXPECT_EQ(back->reason, "");
}

TEST(TlsWatchReportTest, RefusesLinesThatDoNotParse) {
  EXPECT_FALSE(DecodeTlsWatchReport(""));
  EXPECT_FALSE(DecodeTlsWatchReport("0\ta\tb\t1\t2\tc\t3\td"));         // 8 fields
  EXPECT_FALSE(DecodeTlsWatchReport("9\ta\tb\t1\t2\tc\t3\td\te"));      // unknown kind
  EXPECT_FALSE(DecodeTlsWatchReport("0\ta\tb\tx\t2\tc\t3\td\te"));      // dev not a number
  EXPECT_FALSE(DecodeTlsWatchReport("0\ta\tb\t1\t2\tc\t99999\td\te"));  // absurd probe count
  EXPECT_TRUE(DecodeTlsWatchReport("0\ta\tb\t1\t2\tc\t3\td\te"));
}

// A fake /proc with one mail server whose library is known at start; a second one, with its own
// library file, appears while the watcher runs.
class WatcherOnFakeProc : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("mailtap-watch-" + std::to_string(getpid()));
    fs::remove_all(root_);
    Process("100", "smtpd", "/usr/lib/libssl.so.3");
    config_.proc_root = root_.string();
    config_.process_names = {"smtpd", "exim4"};
  }
  void TearDown() override { fs::remove_all(root_); }

  void Process(const std::string& pid, const std::string& comm, const std::string& lib) {
    fs::create_directories(root_ / pid / "root" / fs::path(lib).parent_path().relative_path());
    std::ofstream(root_ / pid / "root" / fs::path(lib).relative_path()) << comm << " library";
    std::ofstream(root_ / pid / "maps")
        << "7f00a0000000-7f00a0020000 r-xp 00000000 fd:01 2 " << lib << "\n";
    std::ofstream(root_ / pid / "comm") << comm << "\n";  // last: the scan keys on it
  }

  TlsLibraryWatcher::FileId IdOf(const std::string& pid, const std::string& lib) {
    struct stat st {};
    EXPECT_EQ(stat((root_ / pid / "root" / fs::path(lib).relative_path()).c_str(), &st), 0);
    return {st.st_dev, st.st_ino};
  }

  // Polls the watcher until `n` reports arrived or `wait` passed (for an expected silence: 15
  // scans at the tests' 20 ms interval).
  static std::vector<TlsWatchReport> Collect(TlsLibraryWatcher& w, size_t n,
                                             milliseconds wait = milliseconds(300)) {
    std::vector<TlsWatchReport> all;
    for (int i = 0; i < wait.count() / 10 && all.size() < n; ++i) {
      for (TlsWatchReport& r : w.Poll()) all.push_back(std::move(r));
      std::this_thread::sleep_for(milliseconds(10));
    }
    return all;
  }

  fs::path root_;
  TlsLibraryScanConfig config_;
};

// The attach function runs in the child; a fake one says what it was given.
TlsWatchReport FakeAttach(const TlsLibraryFile& file) {
  TlsWatchReport r;
  r.file = file;
  r.probes = 2;
  r.entry_points = "attached in pid " + std::to_string(getpid());
  return r;
}

TEST_F(WatcherOnFakeProc, ProbesOnlyTheFileThatAppearsLaterAndOnlyOnce) {
  auto watcher = TlsLibraryWatcher::Start(config_, milliseconds(20),
                                          {IdOf("100", "/usr/lib/libssl.so.3")}, FakeAttach, {});
  EXPECT_TRUE(Collect(*watcher, 1).empty()) << "the file known at start is not attached again";
  Process("200", "exim4", "/usr/lib/libgnutls.so.30");
  const auto reports = Collect(*watcher, 1, milliseconds(5000));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].file.path, "/usr/lib/libgnutls.so.30");
  EXPECT_EQ(reports[0].file.found_by, "pid 200 (exim4)");
  EXPECT_EQ(reports[0].file.ino, IdOf("200", "/usr/lib/libgnutls.so.30").second);
  EXPECT_EQ(reports[0].probes, 2);
  EXPECT_EQ(reports[0].entry_points, "attached in pid " + std::to_string(watcher->pid()))
      << "attached by the child, not by the agent";
  EXPECT_TRUE(Collect(*watcher, 1).empty()) << "found again by every scan, reported once";
}

TEST_F(WatcherOnFakeProc, ARefusalIsReportedOnceWithItsReason) {
  auto watcher = TlsLibraryWatcher::Start(config_, milliseconds(20),
                                          {IdOf("100", "/usr/lib/libssl.so.3")}, FakeAttach, {});
  fs::create_directories(root_ / "300");
  std::ofstream(root_ / "300" / "maps")
      << "7f00a0000000-7f00a0020000 r-xp 00000000 fd:01 2 /usr/lib/libssl.so.3 (deleted)\n";
  std::ofstream(root_ / "300" / "comm") << "smtpd\n";
  const auto reports = Collect(*watcher, 2, milliseconds(1000));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].probes, 0);
  EXPECT_EQ(reports[0].file.found_by, "pid 300 (smtpd)");
  EXPECT_NE(reports[0].reason.find("replaced on disk"), std::string::npos) << reports[0].reason;
}

TEST_F(WatcherOnFakeProc, DestroyingTheWatcherEndsTheChild) {
  pid_t pid = 0;
  {
    auto watcher = TlsLibraryWatcher::Start(config_, milliseconds(20), {}, FakeAttach, {});
    pid = watcher->pid();
    EXPECT_EQ(kill(pid, 0), 0) << "running";
  }
  EXPECT_NE(kill(pid, 0), 0) << "ended and reaped by the destructor";
  EXPECT_EQ(errno, ESRCH);
}

}  // namespace
}  // namespace mailtap
