#include "sinks/jsonl_event_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

#include "sinks/test_util.h"

namespace mailtap {
namespace {

namespace fs = std::filesystem;
using testing_util::ReadFile;
using testing_util::StatsMap;
using testing_util::TempDir;

Event Request(const std::string& command) {
  return ev::smtp_request::Make(Timestamp{2000000}, nullptr,
                                {.is_orig = true, .command = command, .arg = ""});
}

TEST(JsonlEventWriter, WritesOneJsonObjectPerLineAfterFlush) {
  TempDir dir;
  const fs::path file = dir.path() / "events.jsonl";
  JsonlEventWriter writer(file.string());
  writer.OnEvent(Request("EHLO"));
  writer.OnEvent(Request("QUIT"));
  EXPECT_EQ(ReadFile(file), "");  // buffered
  writer.Flush();
  std::istringstream lines(ReadFile(file));
  std::string line;
  std::vector<std::string> commands;
  while (std::getline(lines, line)) commands.push_back(nlohmann::json::parse(line)["command"]);
  EXPECT_EQ(commands, (std::vector<std::string>{"EHLO", "QUIT"}));
}

TEST(JsonlEventWriter, SmallBufferWritesWithoutFlush) {
  TempDir dir;
  const fs::path file = dir.path() / "events.jsonl";
  JsonlEventWriter writer(file.string(), 1);
  writer.OnEvent(Request("EHLO"));
  EXPECT_NE(ReadFile(file).find("EHLO"), std::string::npos);
}

TEST(JsonlEventWriter, ReopenStartsANewFileAfterRotation) {
  TempDir dir;
  const fs::path file = dir.path() / "events.jsonl";
  JsonlEventWriter writer(file.string());
  writer.OnEvent(Request("EHLO"));
  fs::rename(file, dir.path() / "events.jsonl.1");
  ASSERT_TRUE(writer.Reopen());
  writer.OnEvent(Request("QUIT"));
  writer.Flush();
  EXPECT_NE(ReadFile(dir.path() / "events.jsonl.1").find("EHLO"), std::string::npos);
  EXPECT_EQ(ReadFile(file).find("EHLO"), std::string::npos);
  EXPECT_NE(ReadFile(file).find("QUIT"), std::string::npos);
}

// The agent reopens as an unprivileged user: when the path cannot be opened again, nothing may be
// lost. (Made unopenable by moving its directory away, which fails for root too.)
TEST(JsonlEventWriter, FailedReopenKeepsWritingToTheFileItHad) {
  TempDir dir;
  const fs::path logs = dir.path() / "logs";
  fs::create_directory(logs);
  JsonlEventWriter writer((logs / "events.jsonl").string());
  writer.OnEvent(Request("EHLO"));
  fs::rename(logs, dir.path() / "moved");
  EXPECT_FALSE(writer.Reopen());
  writer.OnEvent(Request("QUIT"));
  writer.Flush();
  const std::string kept = ReadFile(dir.path() / "moved" / "events.jsonl");
  EXPECT_NE(kept.find("EHLO"), std::string::npos);
  EXPECT_NE(kept.find("QUIT"), std::string::npos);
  StatsMap stats;
  writer.VisitStats(stats);
  EXPECT_EQ(stats.values["reopen_failures"], 1u);
  EXPECT_EQ(stats.values["bytes_dropped"], 0u);
  EXPECT_EQ(stats.values["write_errors"], 0u);
}

TEST(JsonlEventWriter, UnopenablePathThrowsNamingPathAndReason) {
  try {
    JsonlEventWriter writer("/nonexistent-dir/x/events.jsonl");
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x/events.jsonl"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos);
  }
}

TEST(JsonlEventWriter, WriteErrorsAreCountedNotThrown) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  JsonlEventWriter writer("/dev/full");
  writer.OnEvent(Request("EHLO"));
  EXPECT_NO_THROW(writer.Flush());
  StatsMap stats;
  writer.VisitStats(stats);
  EXPECT_EQ(stats.values["write_errors"], 1u);
  EXPECT_GT(stats.values["bytes_dropped"], 0u);
  EXPECT_EQ(stats.values["events_written"], 1u);
}

}  // namespace
}  // namespace mailtap
