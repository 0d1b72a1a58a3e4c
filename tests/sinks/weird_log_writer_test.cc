#include "sinks/weird_log_writer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sinks/test_util.h"

namespace mailtap {
namespace {

using testing_util::ReadFile;
using testing_util::Split;
using testing_util::TempDir;

constexpr int64_t kSec = 1000000;

Event Weird(const Connection* c, int64_t usec, const std::string& name, const std::string& addl,
            const std::string& source) {
  return MakeWeird(Timestamp{usec}, c, name, addl, source);
}

class WeirdLogTest : public ::testing::Test {
 protected:
  WeirdLogTest() {
    conn_.uid = "CHhAvVGS1DHFjwGM9";
    IpAddress::Parse("10.0.0.1", &conn_.id.orig_h);
    conn_.id.orig_p = 60606;
    IpAddress::Parse("10.0.0.2", &conn_.id.resp_h);
    conn_.id.resp_p = 25;
  }
  std::vector<std::string> Lines(WeirdLogWriter& w) {
    w.Flush();
    std::vector<std::string> out;
    for (const std::string& l : Split(ReadFile(dir_.path() / "weird.log"), '\n')) {
      if (!l.empty() && l[0] != '#') out.push_back(l);
    }
    return out;
  }
  WeirdLogWriterOptions ZeekOptions() {
    WeirdLogWriterOptions o;
    o.format = LogFormat::kZeek;
    o.clock = [] { return std::time_t{0}; };
    return o;
  }

  TempDir dir_;
  Connection conn_;
};

// Columns and values as in Zeek's address-limits weird.log.
TEST_F(WeirdLogTest, ZeekColumnsWithUnsetAddlAndSource) {
  WeirdLogWriter w(dir_.path().string(), ZeekOptions());
  w.OnEvent(Weird(&conn_, 5 * kSec, "smtp_too_many_rcptto_addresses", "", ""));
  ASSERT_EQ(Lines(w).size(), 1u);
  EXPECT_EQ(Lines(w)[0],
            "5.000000\tCHhAvVGS1DHFjwGM9\t10.0.0.1\t60606\t10.0.0.2\t25\t"
            "smtp_too_many_rcptto_addresses\t-\tF\tzeek\t-");
}

TEST_F(WeirdLogTest, SameWeirdOnSameConnectionIsLoggedOncePerTenMinutes) {
  WeirdLogWriter w(dir_.path().string(), ZeekOptions());
  w.OnEvent(Weird(&conn_, 0, "smtp_invalid_bdat_command", "BDAT argument bad length", "SMTP"));
  w.OnEvent(Weird(&conn_, 1 * kSec, "smtp_invalid_bdat_command", "other text", "SMTP"));
  w.OnEvent(Weird(&conn_, 2 * kSec, "smtp_huge_bdat_chunk", "15555555557777777777", "SMTP"));
  w.OnEvent(Weird(&conn_, 601 * kSec, "smtp_invalid_bdat_command", "again", "SMTP"));
  std::vector<std::string> lines = Lines(w);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(Split(lines[0], '\t')[7], "BDAT argument bad length");
  EXPECT_EQ(Split(lines[0], '\t')[10], "SMTP");
  EXPECT_EQ(Split(lines[2], '\t')[7], "again");
}

TEST_F(WeirdLogTest, InvalidMailTransactionIsLoggedOncePerConnection) {
  WeirdLogWriter w(dir_.path().string(), ZeekOptions());
  w.OnEvent(Weird(&conn_, 0, "smtp_mail_transaction_invalid", "rcpt to missing mail from", "SMTP"));
  w.OnEvent(
      Weird(&conn_, 700 * kSec, "smtp_mail_transaction_invalid", "data missing rcpt to", "SMTP"));
  EXPECT_EQ(Lines(w).size(), 1u);
}

TEST_F(WeirdLogTest, WeirdsWithoutConnectionLeaveConnectionColumnsUnset) {
  WeirdLogWriter w(dir_.path().string(), ZeekOptions());
  w.OnEvent(Weird(nullptr, 0, "log_container_field_truncated", "SMTP::LOG", ""));
  EXPECT_EQ(Lines(w)[0],
            "0.000000\t-\t-\t-\t-\t-\tlog_container_field_truncated\tSMTP::LOG\tF\tzeek\t-");
}

TEST_F(WeirdLogTest, OtherEventsAreIgnored) {
  WeirdLogWriter w(dir_.path().string(), ZeekOptions());
  w.OnEvent(ev::smtp_request::Make(Timestamp{0}, &conn_));
  EXPECT_TRUE(Lines(w).empty());
}

TEST_F(WeirdLogTest, FullDedupTableStillLogs) {
  WeirdLogWriterOptions o = ZeekOptions();
  o.max_dedup_entries = 1;
  WeirdLogWriter w(dir_.path().string(), o);
  w.OnEvent(Weird(&conn_, 0, "a", "", ""));
  w.OnEvent(Weird(&conn_, 0, "b", "", ""));
  w.OnEvent(Weird(&conn_, 0, "b", "", ""));
  EXPECT_EQ(Lines(w).size(), 3u);
}

}  // namespace
}  // namespace mailtap
