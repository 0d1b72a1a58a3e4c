#include "files/file_extractor.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>

#include "files/corpus.h"
#include "files/file_analyzer.h"

namespace mailtap {
namespace {

namespace fs = std::filesystem;
using files_test::BaselineDir;
using files_test::ReadBytes;
using files_test::SmtpPart;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "mailtap-files-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

struct Sinks : EventSink, FileRecordSink {
  void OnEvent(const Event&) override {}
  void OnFileRecord(const FileRecord& r) override { records.push_back(r); }
  std::vector<FileRecord> records;
};

struct StatsMap : StatsVisitor {
  void Visit(std::string_view, std::string_view name, uint64_t value, std::string_view, StatKind,
             Loss loss) override {
    values[std::string(name)] = value;
    if (!loss.cause.empty()) causes[std::string(name)] = std::string(loss.cause);
  }
  std::map<std::string, uint64_t> values;
  std::map<std::string, std::string> causes;
};

uint64_t Stat(const StatsSource& s, const std::string& name) {
  StatsMap m;
  s.VisitStats(m);
  return m.values.at(name);
}

class ExtractionTest : public ::testing::Test {
 protected:
  ExtractConfig Config(ExtractWhat what = ExtractWhat::kAll) {
    ExtractConfig c;
    c.what = what;
    c.dir = dir_.path().string();
    return c;
  }
  FileInfo Info(const std::string& fuid, bool is_message = false) {
    FileInfo info;
    info.fuid = fuid;
    info.conn = &conn_;
    info.is_message = is_message;
    return info;
  }
  // One file through the analyzer, as the MIME analyzer would hand it over.
  const FileRecord& Run(FileAnalyzer& a, const FileInfo& info, const std::string& bytes) {
    a.BeginFile(info);
    for (size_t at = 0; at < bytes.size(); at += 100) {
      a.FileData(info.fuid, Timestamp{1}, std::string_view(bytes).substr(at, 100));
    }
    a.EndFile(info.fuid, Timestamp{2});
    return sinks_.records.back();
  }

  TempDir dir_;
  Connection conn_;
  Sinks sinks_;
};

TEST_F(ExtractionTest, OffByDefaultWritesNothing) {
  FileExtractor x{ExtractConfig{}};
  EXPECT_FALSE(x.Open("F1", false).has_value());
  EXPECT_FALSE(x.Open("F2", true).has_value());
  EXPECT_TRUE(fs::is_empty(dir_.path()));
}

TEST_F(ExtractionTest, MissingDirectoryIsAStartUpError) {
  ExtractConfig c = Config();
  c.dir = (dir_.path() / "nope").string();
  EXPECT_THROW(FileExtractor{c}, std::runtime_error);
}

// Zeek extracted the same parts of smtp.pcap as thefile0..2: ours must be byte-identical.
TEST_F(ExtractionTest, PartsAreByteIdenticalToZeeksExtractedFiles) {
  if (BaselineDir("x").empty()) GTEST_SKIP() << "MAILTAP_ZEEK_CORPUS is not set";
  FileExtractor x(Config());
  FileAnalyzer a({}, sinks_, sinks_, &x);
  for (int n = 0; n < 3; ++n) {
    const std::string zeeks = SmtpPart(n);
    const FileRecord& r = Run(a, Info("Fpart" + std::to_string(n)), zeeks);
    ASSERT_TRUE(r.extracted.has_value());
    EXPECT_EQ(*r.extracted, "Fpart" + std::to_string(n));
    EXPECT_EQ(r.extracted_cutoff, false);
    EXPECT_EQ(r.extracted_size, zeeks.size());
    EXPECT_EQ(ReadBytes(dir_.path() / *r.extracted), zeeks) << "thefile" << n;
    EXPECT_EQ(r.analyzers.back(), "EXTRACT");
  }
}

// rfc822-msg-file-analysis*: the whole message, as Zeek extracted it, as <fuid>.eml.
TEST_F(ExtractionTest, MessagesAreByteIdenticalEmlFiles) {
  if (BaselineDir("x").empty()) GTEST_SKIP() << "MAILTAP_ZEEK_CORPUS is not set";
  FileExtractor x(Config(ExtractWhat::kMessages));
  FileAnalyzer a({}, sinks_, sinks_, &x);
  for (const char* test : {"scripts.base.protocols.smtp.rfc822-msg-file-analysis",
                           "scripts.base.protocols.smtp.rfc822-msg-file-analysis-binary"}) {
    const std::string zeeks = ReadBytes(BaselineDir(test) + "/extract_files.mail");
    const std::string fuid = std::string("Fm") + std::to_string(sinks_.records.size());
    const FileRecord& r = Run(a, Info(fuid, /*is_message=*/true), zeeks);
    ASSERT_EQ(r.extracted, fuid + ".eml") << test;
    EXPECT_EQ(ReadBytes(dir_.path() / *r.extracted), zeeks) << test;
  }
  // kMessages: a part is not extracted.
  const FileRecord& part = Run(a, Info("Fpart"), "Hello\r\n");
  EXPECT_FALSE(part.extracted.has_value());
}

// rfc822-msg-file-analysis-gap: Zeek's extracted message holds the 100 bytes before the hole.
TEST_F(ExtractionTest, GapLeavesTheBytesBeforeItMarkedCutOff) {
  if (BaselineDir("x").empty()) GTEST_SKIP() << "MAILTAP_ZEEK_CORPUS is not set";
  const std::string zeeks =
      ReadBytes(BaselineDir("scripts.base.protocols.smtp.rfc822-msg-file-analysis-gap") +
                "/extract_files.mail");
  ASSERT_EQ(zeeks.size(), 100u);
  FileExtractor x(Config());
  FileAnalyzer a({}, sinks_, sinks_, &x);
  a.BeginFile(Info("Fgap", true));
  a.FileData("Fgap", Timestamp{1}, zeeks);
  a.FileGap("Fgap", Timestamp{2}, 1000);
  a.FileData("Fgap", Timestamp{3}, "after the hole\r\n");
  a.EndFile("Fgap", Timestamp{4});
  const FileRecord& r = sinks_.records.back();
  EXPECT_EQ(r.extracted_cutoff, true);
  EXPECT_EQ(r.extracted_size, 100u);
  EXPECT_EQ(ReadBytes(dir_.path() / "Fgap.eml"), zeeks);
  EXPECT_EQ(Stat(x, "gap_cutoffs"), 1u);
  EXPECT_EQ(Stat(x, "after_gap_bytes"), 16u);
}

TEST_F(ExtractionTest, NamedByFuidNeverByTheSendersFilename) {
  FileExtractor x(Config());
  FileAnalyzer a({}, sinks_, sinks_, &x);
  FileInfo info = Info("Fname");
  info.filename = "../../etc/cron.d/evil";
  Run(a, info, "payload");
  EXPECT_EQ(ReadBytes(dir_.path() / "Fname"), "payload");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_.path())) ++entries;
  EXPECT_EQ(entries, 1u);
  struct stat st {};
  ASSERT_EQ(::stat((dir_.path() / "Fname").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // message content is private
}

// O_EXCL|O_NOFOLLOW: a planted symlink or an existing file is neither followed nor replaced.
TEST_F(ExtractionTest, NeverFollowsOrReplacesWhatIsThere) {
  const fs::path target = dir_.path() / "target";
  { std::ofstream(target) << "keep"; }
  fs::create_symlink(target, dir_.path() / "Flink");
  { std::ofstream(dir_.path() / "Fexists") << "old"; }
  FileExtractor x(Config());
  EXPECT_FALSE(x.Open("Flink", false).has_value());
  EXPECT_FALSE(x.Open("Fexists", false).has_value());
  EXPECT_EQ(ReadBytes(target), "keep");
  EXPECT_EQ(ReadBytes(dir_.path() / "Fexists"), "old");
  EXPECT_EQ(Stat(x, "open_failures"), 2u);
}

// Hostile: a file over the per-file cap is cut there, marked, and the rest counted as lost.
TEST_F(ExtractionTest, FileCapCutsTheFileAndCountsTheRest) {
  ExtractConfig c = Config();
  c.max_file_bytes = 1000;
  FileExtractor x(c);
  FileAnalyzer a({}, sinks_, sinks_, &x);
  const FileRecord& r = Run(a, Info("Fbig"), std::string(5000, 'x'));
  EXPECT_EQ(r.extracted_cutoff, true);
  EXPECT_EQ(r.extracted_size, 1000u);
  EXPECT_EQ(r.seen_bytes, 5000u);  // analysis goes on past the cap
  EXPECT_EQ(fs::file_size(dir_.path() / "Fbig"), 1000u);
  EXPECT_EQ(Stat(x, "file_cap_hits"), 1u);
  EXPECT_EQ(Stat(x, "file_cap_bytes"), 4000u);
  StatsMap m;
  x.VisitStats(m);
  EXPECT_EQ(m.causes["file_cap_bytes"], "extract_file_cap");
}

TEST_F(ExtractionTest, ConnectionCapSpansTheConnectionsFiles) {
  ExtractConfig c = Config();
  c.max_connection_bytes = 1500;
  FileExtractor x(c);
  FileAnalyzer a({}, sinks_, sinks_, &x);
  EXPECT_EQ(Run(a, Info("F1"), std::string(1000, 'a')).extracted_cutoff, false);
  const FileRecord& second = Run(a, Info("F2"), std::string(1000, 'b'));
  EXPECT_EQ(second.extracted_cutoff, true);
  EXPECT_EQ(second.extracted_size, 500u);
  EXPECT_EQ(Stat(x, "connection_cap_hits"), 1u);
  // Another connection starts afresh.
  Connection other;
  FileInfo info = Info("F3");
  info.conn = &other;
  EXPECT_EQ(Run(a, info, std::string(1000, 'c')).extracted_cutoff, false);
}

TEST_F(ExtractionTest, TotalCapSpansConnections) {
  ExtractConfig c = Config();
  c.max_total_bytes = 1200;
  FileExtractor x(c);
  FileAnalyzer a({}, sinks_, sinks_, &x);
  Run(a, Info("F1"), std::string(1000, 'a'));
  Connection other;
  FileInfo info = Info("F2");
  info.conn = &other;
  EXPECT_EQ(Run(a, info, std::string(1000, 'b')).extracted_size, 200u);
  EXPECT_EQ(Stat(x, "total_cap_hits"), 1u);
  EXPECT_EQ(Stat(x, "total_cap_bytes"), 800u);
}

// A full disk, made with RLIMIT_FSIZE (a write past it fails with EFBIG as one past a full file
// system fails with ENOSPC): the file keeps its last whole chunk, marked, counted; the next file
// is created again once there is room.
TEST_F(ExtractionTest, FullDiskLeavesWholeChunksAndIsCounted) {
  FileExtractor x(Config());
  FileAnalyzer a({}, sinks_, sinks_, &x);
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = 250;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const FileRecord r = Run(a, Info("Ffull"), std::string(1000, 'z'));  // chunks of 100
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(r.extracted_cutoff, true);
  EXPECT_EQ(r.extracted_size, 200u);
  EXPECT_EQ(fs::file_size(dir_.path() / "Ffull"), 200u);
  EXPECT_EQ(Stat(x, "write_errors"), 1u);
  EXPECT_EQ(Stat(x, "write_error_bytes") + Stat(x, "bytes"), 1000u);
  EXPECT_EQ(Run(a, Info("Fnext"), "fine").extracted_cutoff, false);
}

}  // namespace
}  // namespace mailtap
