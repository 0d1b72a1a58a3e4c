#include "files/file_analyzer.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <memory>
#include <string>
#include <vector>

#include "files/corpus.h"

namespace mailtap {
namespace {

using files_test::BaselineDir;
using files_test::ReadBytes;
using files_test::SmtpPart;
using files_test::SmtpPartFacts;

IpAddress Ip(const std::string& text) {
  IpAddress a;
  EXPECT_TRUE(IpAddress::Parse(text, &a));
  return a;
}

class Recorder : public EventSink, public FileRecordSink {
 public:
  void OnEvent(const Event& e) override { events.push_back(e); }
  void OnFileRecord(const FileRecord& r) override { records.push_back(r); }
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const Event& e : events) names.emplace_back(e.name());
    return names;
  }
  std::vector<Event> events;
  std::vector<FileRecord> records;
};

class FileAnalyzerTest : public ::testing::Test {
 protected:
  FileAnalyzerTest() {
    conn_.uid = "CHhAvVGS1DHFjwGM9";
    conn_.id = ConnId{Ip("10.10.1.4"), 1470, Ip("74.53.140.153"), 25};
  }
  void SetUp() override {
    if (BaselineDir("x").empty()) GTEST_SKIP() << "MAILTAP_ZEEK_CORPUS is not set";
  }

  FileInfo Info(const std::string& fuid, bool is_message = false) {
    FileInfo info;
    info.fuid = fuid;
    info.conn = &conn_;
    info.ts = Timestamp{1254722767000000};
    info.depth = 3;
    info.is_message = is_message;
    return info;
  }

  // Feeds `bytes` in small pieces, as the MIME analyzer hands over decoded lines.
  void Feed(FileAnalyzer& a, const std::string& fuid, const std::string& bytes) {
    for (size_t at = 0; at < bytes.size(); at += 7) {
      a.FileData(fuid, Timestamp{1254722767000000 + static_cast<int64_t>(at)},
                 std::string_view(bytes).substr(at, 7));
    }
  }

  FileRecord Analyse(const std::string& bytes, bool is_message = false) {
    FileAnalyzer a({}, rec_, rec_, nullptr);
    a.BeginFile(Info("Fx", is_message));
    Feed(a, "Fx", bytes);
    a.EndFile("Fx", Timestamp{1254722769000000});
    EXPECT_EQ(rec_.records.size(), 1u);
    return rec_.records.empty() ? FileRecord{} : rec_.records.back();
  }

  Connection conn_;
  Recorder rec_;
};

// Expected digests and types: what Zeek printed for the same bytes
// (scripts.base.frameworks.file-analysis.smtp `out`).
TEST_F(FileAnalyzerTest, HashesAndTypesOfSmtpPcapPartsEqualZeeks) {
  for (int n = 0; n < 3; ++n) {
    const std::string bytes = SmtpPart(n);
    auto facts = SmtpPartFacts(n);
    ASSERT_FALSE(bytes.empty());
    ASSERT_EQ(facts.size(), 4u) << "file #" << n;
    rec_.records.clear();
    FileRecord r = Analyse(bytes);
    EXPECT_EQ(r.md5, facts["MD5"]) << "file #" << n;
    EXPECT_EQ(r.sha1, facts["SHA1"]) << "file #" << n;
    EXPECT_EQ(r.sha256, facts["SHA256"]) << "file #" << n;
    EXPECT_EQ(r.mime_type, facts["MIME_TYPE"]) << "file #" << n;
    EXPECT_EQ(r.seen_bytes, bytes.size());
    EXPECT_EQ(r.missing_bytes, 0u);
  }
}

TEST_F(FileAnalyzerTest, RecordCarriesTheConnectionAndTheSendersFacts) {
  FileAnalyzer a({}, rec_, rec_, nullptr);
  FileInfo info = Info("Fnews");
  info.filename = "NEWS.txt";
  info.parent_fuid = "Fparent";
  a.BeginFile(info);
  a.FileData("Fnews", Timestamp{1254722767000000}, "Version 4.9.9.1\r\n");
  a.FileData("Fnews", Timestamp{1254722768165512}, "* Many bug fixes\r\n");
  a.EndFile("Fnews", Timestamp{1254722769000000});
  ASSERT_EQ(rec_.records.size(), 1u);
  const FileRecord& r = rec_.records[0];
  EXPECT_EQ(r.uid, "CHhAvVGS1DHFjwGM9");
  EXPECT_EQ(r.id.resp_p, 25);
  EXPECT_EQ(r.source, "SMTP");
  EXPECT_EQ(r.depth, 3u);
  EXPECT_EQ(r.filename, "NEWS.txt");
  EXPECT_EQ(r.parent_fuid, "Fparent");
  EXPECT_EQ(r.duration_usec, 1165512);  // first to last byte, as Zeek's last_active
  EXPECT_EQ(r.local_orig, true);        // 10.10.1.4 is private address space
  EXPECT_FALSE(r.total_bytes.has_value());
  EXPECT_EQ(r.analyzers, (std::vector<std::string>{"MD5", "SHA1", "SHA256"}));
}

// files.cut of the rfc822-msg-file-analysis baselines: the whole message as a message/rfc822
// file, its SHA1 over the bytes of extract_files.mail.
TEST_F(FileAnalyzerTest, WholeMessageIsRfc822WithZeeksSha1) {
  const struct {
    const char* test;
    const char* sha1;
  } kCases[] = {
      {"scripts.base.protocols.smtp.rfc822-msg-file-analysis",
       "f9bc3e476a513159f5c7c5869d47364514605b45"},
      {"scripts.base.protocols.smtp.rfc822-msg-file-analysis-binary",
       "6ae7bc45d107228ca00b44d9d93ba7fdcf7255bf"},
  };
  for (const auto& c : kCases) {
    const std::string message = ReadBytes(BaselineDir(c.test) + "/extract_files.mail");
    ASSERT_FALSE(message.empty()) << c.test;
    rec_.records.clear();
    FileRecord r = Analyse(message, /*is_message=*/true);
    EXPECT_EQ(r.mime_type, "message/rfc822") << c.test;
    EXPECT_EQ(r.sha1, c.sha1) << c.test;
    EXPECT_EQ(r.seen_bytes, message.size()) << c.test;
  }
}

// rfc822-msg-file-analysis-gap `out`: file_gap at offset 100 for 1000 bytes, file_state_remove
// with 1000 missing; files.cut: 100 seen, 1000 missing, no hash after the gap.
TEST_F(FileAnalyzerTest, GapIsRaisedCountedAndStopsTheHashes) {
  FileAnalyzer a({}, rec_, rec_, nullptr);
  a.BeginFile(Info("Fgap", /*is_message=*/true));
  a.FileData("Fgap", Timestamp{1}, std::string(100, 'A'));
  a.FileGap("Fgap", Timestamp{2}, 1000);
  a.EndFile("Fgap", Timestamp{3});
  EXPECT_EQ(rec_.Names(),
            (std::vector<std::string>{"file_new", "file_over_new_connection", "file_sniff",
                                      "file_gap", "file_state_remove"}));
  const Event& gap = rec_.events[3];
  EXPECT_EQ(Get(gap, ev::file_gap::f_id), "Fgap");
  EXPECT_EQ(Get(gap, ev::file_gap::offset), 100);
  EXPECT_EQ(Get(gap, ev::file_gap::len), 1000);
  EXPECT_EQ(Get(rec_.events[4], ev::file_state_remove::f_missing_bytes), 1000);
  ASSERT_EQ(rec_.records.size(), 1u);
  EXPECT_EQ(rec_.records[0].seen_bytes, 100u);
  EXPECT_EQ(rec_.records[0].missing_bytes, 1000u);
  EXPECT_EQ(rec_.records[0].mime_type, "message/rfc822");
  EXPECT_FALSE(rec_.records[0].sha1.has_value());
}

TEST_F(FileAnalyzerTest, HashEventsFollowTheContentInZeeksKinds) {
  FileRecord r = Analyse(SmtpPart(0));
  std::vector<std::string> kinds;
  for (const Event& e : rec_.events) {
    if (e.id == EventId::kFileHash) kinds.push_back(Get(e, ev::file_hash::kind));
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"md5", "sha1", "sha256"}));
  EXPECT_EQ(rec_.Names().back(), "file_state_remove");
}

// files.cut of the gap baseline: a part with no bytes logs no type; of the first baseline: a
// part of two bytes (a CRLF) logs no type either.
TEST_F(FileAnalyzerTest, EmptyOrBlankFilesHaveNoTypeAndNoHash) {
  FileRecord empty = Analyse("");
  EXPECT_FALSE(empty.mime_type.has_value());
  EXPECT_FALSE(empty.md5.has_value());
  rec_.records.clear();
  FileRecord blank = Analyse("\r\n");
  EXPECT_FALSE(blank.mime_type.has_value());
  EXPECT_EQ(blank.seen_bytes, 2u);
}

TEST_F(FileAnalyzerTest, HashingOffLeavesNoHashesAndNoAnalyzers) {
  FileAnalysisConfig config;
  config.hashes = false;
  FileAnalyzer a(config, rec_, rec_, nullptr);
  a.BeginFile(Info("F1"));
  a.FileData("F1", Timestamp{1}, "Hello\r\n");
  a.EndFile("F1", Timestamp{2});
  ASSERT_EQ(rec_.records.size(), 1u);
  EXPECT_FALSE(rec_.records[0].md5.has_value());
  EXPECT_TRUE(rec_.records[0].analyzers.empty());
}

TEST_F(FileAnalyzerTest, RedactedFilenamesNeverReachTheRecord) {
  FileAnalysisConfig config;
  config.redact_filenames = true;
  FileAnalyzer a(config, rec_, rec_, nullptr);
  FileInfo info = Info("F1");
  info.filename = "salaries-2026.xlsx";
  a.BeginFile(info);
  a.EndFile("F1", Timestamp{2});
  ASSERT_EQ(rec_.records.size(), 1u);
  EXPECT_EQ(rec_.records[0].filename, "[REDACTED]");
}

struct StatsMap : StatsVisitor {
  void Visit(std::string_view, std::string_view name, uint64_t value, std::string_view, StatKind,
             Loss) override {
    values[std::string(name)] = value;
  }
  std::map<std::string, uint64_t> values;
};

uint64_t Stat(const StatsSource& s, const std::string& name) {
  StatsMap m;
  s.VisitStats(m);
  return m.values.at(name);
}

// Hostile: a message that opens many files at once (deep nesting) is bounded per connection.
TEST_F(FileAnalyzerTest, OpenFilesPerConnectionAreBoundedAndCounted) {
  FileAnalysisConfig config;
  config.max_open_files_per_connection = 10;
  FileAnalyzer a(config, rec_, rec_, nullptr);
  for (int i = 0; i < 25; ++i) a.BeginFile(Info("F" + std::to_string(i)));
  EXPECT_EQ(a.open_files(), 10u);
  EXPECT_EQ(Stat(a, "over_connection_limit"), 15u);
  a.FileData("F20", Timestamp{1}, "x");  // not admitted: ignored, counted
  EXPECT_EQ(Stat(a, "unknown_fuid_calls"), 1u);
  a.EndFile("F0", Timestamp{2});
  a.BeginFile(Info("F30"));  // a slot was freed
  EXPECT_EQ(a.open_files(), 10u);
}

TEST_F(FileAnalyzerTest, OpenFilesInTotalAreBoundedAcrossConnections) {
  FileAnalysisConfig config;
  config.max_open_files = 4;
  FileAnalyzer a(config, rec_, rec_, nullptr);
  Connection other;
  other.uid = "Cother";
  for (int i = 0; i < 3; ++i) a.BeginFile(Info("Fa" + std::to_string(i)));
  for (int i = 0; i < 3; ++i) {
    FileInfo info = Info("Fb" + std::to_string(i));
    info.conn = &other;
    a.BeginFile(info);
  }
  EXPECT_EQ(a.open_files(), 4u);
  EXPECT_EQ(Stat(a, "over_total_limit"), 2u);
}

// Hostile: many tiny files one after another stay one open file at a time.
TEST_F(FileAnalyzerTest, ManyTinyFilesAreEachLoggedAndNothingAccumulates) {
  FileAnalyzer a({}, rec_, rec_, nullptr);
  for (int i = 0; i < 20000; ++i) {
    const std::string fuid = "F" + std::to_string(i);
    a.BeginFile(Info(fuid));
    a.FileData(fuid, Timestamp{i}, "x");
    a.EndFile(fuid, Timestamp{i});
  }
  EXPECT_EQ(rec_.records.size(), 20000u);
  EXPECT_EQ(a.open_files(), 0u);
}

TEST_F(FileAnalyzerTest, ConnectionRemovalEndsItsOpenFiles) {
  FileAnalyzer a({}, rec_, rec_, nullptr);
  a.BeginFile(Info("F1"));
  a.FileData("F1", Timestamp{1}, "Hello\r\n");
  a.OnConnectionRemoved(conn_, Timestamp{5});
  ASSERT_EQ(rec_.records.size(), 1u);
  EXPECT_EQ(rec_.records[0].seen_bytes, 7u);
  EXPECT_EQ(a.open_files(), 0u);
  EXPECT_EQ(Stat(a, "ended_by_removal"), 1u);
}

TEST_F(FileAnalyzerTest, DuplicateBeginIsIgnoredAndCounted) {
  FileAnalyzer a({}, rec_, rec_, nullptr);
  a.BeginFile(Info("F1"));
  a.BeginFile(Info("F1"));
  EXPECT_EQ(Stat(a, "duplicate_begins"), 1u);
  EXPECT_EQ(a.open_files(), 1u);
}

// Heap statistics (mallinfo2) are glibc's allocator's; a sanitizer's allocator keeps none, so a
// sanitized build leaves the measurement out rather than skip it (the release build runs it).
#if defined(__SANITIZE_ADDRESS__)
#define MAILTAP_GLIBC_HEAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MAILTAP_GLIBC_HEAP 0
#endif
#endif
#ifndef MAILTAP_GLIBC_HEAP
#define MAILTAP_GLIBC_HEAP 1
#endif

#if MAILTAP_GLIBC_HEAP
// The memory plan counts kOpenFileBytes per open file (memory_budget.h): the worst a sender can
// make a file hold — a huge file name and type, a sniff buffer one byte short of sniffing, all
// three hashes — measured on the heap, stays within it; and the name is still logged as cut.
TEST(FileAnalyzerMemory, OpenFilesStayWithinTheirBytes) {
  Recorder rec;
  Connection conn;
  conn.uid = "Cmem";
  FileAnalysisConfig config;
  config.max_open_files_per_connection = kMaxOpenFiles;
  auto analyzer = std::make_unique<FileAnalyzer>(config, rec, rec, nullptr);
  constexpr size_t kFiles = 1024;
  const std::string data(kSniffBytes - 1, 'x');
  const size_t heap_before = mallinfo2().uordblks;
  for (size_t i = 0; i < kFiles; ++i) {
    FileInfo info;
    info.fuid = "Fmem" + std::to_string(i);
    info.conn = &conn;
    info.filename = std::string(65536, 'n');
    info.declared_type = std::string(65536, 't');
    analyzer->BeginFile(info);
    analyzer->FileData(info.fuid, Timestamp{1}, data);
  }
  const size_t heap_after = mallinfo2().uordblks;
  ASSERT_GT(heap_after, heap_before) << "mallinfo2 did not move: not glibc's allocator?";
  EXPECT_EQ(analyzer->open_files(), kFiles);
  EXPECT_LE((heap_after - heap_before) / kFiles, kOpenFileBytes) << "bytes per open file";
  RecordProperty("bytes_per_open_file", std::to_string((heap_after - heap_before) / kFiles));
  analyzer->EndFile("Fmem0", Timestamp{2});
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_EQ(rec.records[0].filename.value_or("").size(), kMaxKeptFilenameBytes);
}
#endif  // MAILTAP_GLIBC_HEAP

TEST(PrivateAddress, ZeeksPrivateSpaceIsLocal) {
  for (const char* local : {"10.10.1.4", "192.168.133.100", "172.31.255.1", "100.64.0.1",
                            "127.0.0.1", "::1", "fe80::1", "fd00::5"}) {
    EXPECT_TRUE(IsPrivateAddress(Ip(local))) << local;
  }
  for (const char* remote : {"74.53.140.153", "172.32.0.1", "8.8.8.8", "2001:db8::1", "11.0.0.1"}) {
    EXPECT_FALSE(IsPrivateAddress(Ip(remote))) << remote;
  }
}

}  // namespace
}  // namespace mailtap
