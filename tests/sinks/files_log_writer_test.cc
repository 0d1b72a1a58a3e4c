#include "sinks/files_log_writer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sinks/test_util.h"

namespace mailtap {
namespace {

using testing_util::Ip;
using testing_util::ReadFile;
using testing_util::Split;
using testing_util::WrittenLog;
using testing_util::ZeekLogAtEpoch;

// Zeek's files.log of scripts.base.protocols.smtp.attachment (no hashes, no extraction).
std::vector<std::string> BaselineLines() {
  const char* root = std::getenv("MAILTAP_ZEEK_CORPUS");
  if (root == nullptr) return {};
  return Split(
      ReadFile(std::string(root) + "/baselines/scripts.base.protocols.smtp.attachment/files.log"),
      '\n');
}

std::string LineStartingWith(const std::vector<std::string>& lines, const std::string& prefix) {
  for (const std::string& l : lines) {
    if (l.rfind(prefix, 0) == 0) return l;
  }
  return {};
}

// The values of the baseline's NEWS.txt record.
FileRecord NewsTxtRecord() {
  FileRecord r;
  r.ts = Timestamp{1254722770692743};
  r.fuid = "FEFYSd1s8Onn9LynKj";
  r.uid = "CHhAvVGS1DHFjwGM9";
  r.id = ConnId{Ip("10.10.1.4"), 1470, Ip("74.53.140.153"), 25};
  r.depth = 5;
  r.mime_type = "text/plain";
  r.filename = "NEWS.txt";
  r.duration_usec = 1165512;
  r.local_orig = true;
  r.seen_bytes = 10809;
  return r;
}

TEST(FilesLogZeek, SchemaWithoutHashesIsZeeksFieldsAndTypes) {
  auto lines = BaselineLines();
  if (lines.empty()) GTEST_SKIP() << "MAILTAP_ZEEK_CORPUS is not set";
  const std::string header = ZeekLogHeader(FilesLogSchema({.hashes = false}), 0);
  EXPECT_NE(header.find(LineStartingWith(lines, "#fields\t") + "\n"), std::string::npos);
  EXPECT_NE(header.find(LineStartingWith(lines, "#types\t") + "\n"), std::string::npos);
  EXPECT_NE(header.find("#path\tfiles\n"), std::string::npos);
}

TEST(FilesLogZeek, NewsTxtRecordMatchesZeeksLineApartFromTs) {
  auto lines = BaselineLines();
  if (lines.empty()) GTEST_SKIP() << "MAILTAP_ZEEK_CORPUS is not set";
  std::vector<std::string> zeek = Split(LineStartingWith(lines, "XXXXXXXXXX.XXXXXX\tFEFY"), '\t');
  std::vector<std::string> ours =
      Split(FormatFileRecord(NewsTxtRecord(), {.hashes = false}, LogFormat::kZeek), '\t');
  ASSERT_EQ(ours.size(), zeek.size());
  EXPECT_EQ(ours[0], "1254722770.692743");
  const LogSchema schema = FilesLogSchema({.hashes = false});
  for (size_t i = 1; i < zeek.size(); ++i) EXPECT_EQ(ours[i], zeek[i]) << schema.fields[i];
}

// Zeek's files.log with hash-all-files and extraction: the hash columns after parent_fuid, then
// the extract analyzer's.
TEST(FilesLogZeek, HashAndExtractColumnsFollowParentFuid) {
  const LogSchema schema = FilesLogSchema({.hashes = true, .extraction = true});
  ASSERT_EQ(schema.fields.size(), 27u);
  EXPECT_EQ(schema.fields[20], "parent_fuid");
  EXPECT_EQ((std::vector<std::string>(schema.fields.begin() + 21, schema.fields.end())),
            (std::vector<std::string>{"md5", "sha1", "sha256", "extracted", "extracted_cutoff",
                                      "extracted_size"}));
  EXPECT_EQ((std::vector<std::string>(schema.types.begin() + 21, schema.types.end())),
            (std::vector<std::string>{"string", "string", "string", "string", "bool", "count"}));
}

TEST(FilesLogJson, UnsetFieldsAreLeftOutAndSetsAreArrays) {
  FileRecord r = NewsTxtRecord();
  r.analyzers = {"MD5", "SHA1", "SHA256", "EXTRACT"};
  r.md5 = "30a60389acc290515651391154ba1b33";
  r.extracted = "FEFYSd1s8Onn9LynKj";
  r.extracted_cutoff = false;
  r.extracted_size = 10809;
  auto j = nlohmann::json::parse(
      FormatFileRecord(r, {.hashes = true, .extraction = true}, LogFormat::kJson));
  EXPECT_EQ(j["analyzers"].size(), 4u);
  EXPECT_EQ(j["duration"], 1.165512);
  EXPECT_EQ(j["md5"], "30a60389acc290515651391154ba1b33");
  EXPECT_FALSE(j.contains("sha1"));
  EXPECT_FALSE(j.contains("total_bytes"));
  EXPECT_EQ(j["extracted_cutoff"], false);
  EXPECT_EQ(j["extracted_size"], 10809);
}

TEST(FilesLogJson, HostileFilenameStaysValidJsonAndOneZeekLine) {
  FileRecord r = NewsTxtRecord();
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  r.filename = all;
  EXPECT_TRUE(nlohmann::json::accept(FormatFileRecord(r, {}, LogFormat::kJson)));
  const std::string line = FormatFileRecord(r, {}, LogFormat::kZeek);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(Split(line, '\t').size(), FilesLogSchema({}).fields.size());
}

TEST(FilesLogWriter, WritesDirFilesLogWithZeeksHeader) {
  const std::string text = WrittenLog<FilesLogWriter>(
      "files.log", FilesLogWriterOptions{ZeekLogAtEpoch(), FilesLogColumns{}},
      [](FilesLogWriter& w) { w.OnFileRecord(NewsTxtRecord()); });
  EXPECT_NE(text.find("#path\tfiles\n"), std::string::npos);
  EXPECT_NE(text.find("\tNEWS.txt\t"), std::string::npos);
  EXPECT_NE(text.find("#close\t"), std::string::npos);
}

}  // namespace
}  // namespace mailtap
