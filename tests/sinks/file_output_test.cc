// FileOutput when the disk fills up (issue 17): the file keeps whole records only, the failure is
// counted, and writing resumes cleanly once there is room again. A full disk is simulated with
// RLIMIT_FSIZE, which makes write() stop at the limit exactly as a full filesystem does (a short
// write, then an error), without root or a mount.
#include "sinks/file_output.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <string>

#include "test_util.h"

namespace mailtap {
namespace {

using testing_util::ReadFile;
using testing_util::Split;
using testing_util::TempDir;

// Caps the size of files this process writes for its lifetime; restores the limit after.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of the default signal
    rlimit cap = saved_;
    cap.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &cap);
  }
  ~FileSizeLimit() { Lift(); }
  void Lift() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit saved_{};
  sighandler_t old_handler_ = SIG_DFL;
};

std::string Record(int n) { return "{\"n\":" + std::to_string(n) + ",\"pad\":\"xxxxxxxxxx\"}\n"; }

TEST(FileOutput, AFullDiskLeavesOnlyWholeRecordsAndCountsTheRest) {
  TempDir dir;
  const auto path = dir.path() / "events.json";
  FileSizeLimit limit(1000);  // not a multiple of the record size: the write stops mid-record
  FileOutput out(path.string(), 1 << 20);
  size_t appended = 0;
  for (int n = 0; n < 100; ++n) {
    out.Append(Record(n));
    appended += Record(n).size();
  }
  out.Flush();
  limit.Lift();
  const std::string text = ReadFile(path);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "a partial record was left at the end";
  EXPECT_LE(text.size(), 1000u);
  EXPECT_EQ(out.write_errors(), 1u);
  EXPECT_EQ(out.bytes_written(), text.size());
  EXPECT_EQ(out.bytes_written() + out.bytes_dropped(), appended);
}

TEST(FileOutput, WritingResumesWithoutSplicingOnceThereIsRoomAgain) {
  TempDir dir;
  const auto path = dir.path() / "events.json";
  FileOutput out(path.string(), 1 << 20);
  {
    FileSizeLimit limit(1000);
    for (int n = 0; n < 100; ++n) out.Append(Record(n));
    out.Flush();
  }
  for (int n = 100; n < 110; ++n) out.Append(Record(n));
  out.Flush();
  const std::vector<std::string> lines = Split(ReadFile(path), '\n');
  ASSERT_GE(lines.size(), 10u);
  for (const std::string& line : lines) {
    if (line.empty()) continue;
    EXPECT_EQ(line.front(), '{') << line;
    EXPECT_EQ(line.back(), '}') << line;
    EXPECT_EQ(line.find('{', 1), std::string::npos) << "spliced: " << line;
  }
  EXPECT_NE(ReadFile(path).find(Record(109)), std::string::npos);
  EXPECT_EQ(out.write_errors(), 1u);
}

TEST(FileOutput, EverythingLostToAFullDeviceIsCountedAsDropped) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  FileOutput out("/dev/full");
  out.Append(Record(1));
  out.Flush();
  out.Append(Record(2));
  out.Flush();
  EXPECT_EQ(out.bytes_written(), 0u);
  EXPECT_EQ(out.bytes_dropped(), Record(1).size() + Record(2).size());
  EXPECT_EQ(out.write_errors(), 2u);
}

}  // namespace
}  // namespace mailtap
