#include "sinks/smtp_log_writer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "sinks/test_util.h"

namespace mailtap {
namespace {

using testing_util::Ip;
using testing_util::ReadFile;
using testing_util::Split;
using testing_util::StatsMap;
using testing_util::TempDir;
using testing_util::WrittenLog;
using testing_util::ZeekLogAtEpoch;

// The values of the first record of Zeek's scripts.base.protocols.smtp.basic smtp.log.
SmtpRecord BasicRecord() {
  SmtpRecord r;
  r.ts = Timestamp{1254722767529046};
  r.uid = "CHhAvVGS1DHFjwGM9";
  r.id = ConnId{Ip("10.10.1.4"), 1470, Ip("74.53.140.153"), 25};
  r.trans_depth = 1;
  r.helo = "GP";
  r.mailfrom = "gurpartap@patriots.in";
  r.rcptto = std::vector<std::string>{"raj_deol2002in@yahoo.co.in"};
  r.date = "Mon, 5 Oct 2009 11:36:07 +0530";
  r.from = "\"Gurpartap Singh\" <gurpartap@patriots.in>";
  r.to = std::vector<std::string>{"<raj_deol2002in@yahoo.co.in>"};
  r.msg_id = "<000301ca4581$ef9e57f0$cedb07d0$@in>";
  r.subject = "SMTP";
  r.last_reply = "250 OK id=1Mugho-0003Dg-Un";
  r.path = std::vector<IpAddress>{Ip("74.53.140.153"), Ip("10.10.1.4")};
  r.user_agent = "Microsoft Office Outlook 12.0";
  return r;
}

// Zeek's line with ts, uid and fuids left out (they are run-specific).
const char kBasicBaselineLine[] =
    "XXXXXXXXXX.XXXXXX\tCHhAvVGS1DHFjwGM9\t10.10.1.4\t1470\t74.53.140.153\t25\t1\tGP\t"
    "gurpartap@patriots.in\traj_deol2002in@yahoo.co.in\tMon, 5 Oct 2009 11:36:07 +0530\t"
    "\"Gurpartap Singh\" <gurpartap@patriots.in>\t<raj_deol2002in@yahoo.co.in>\t-\t-\t"
    "<000301ca4581$ef9e57f0$cedb07d0$@in>\t-\tSMTP\t-\t-\t-\t250 OK id=1Mugho-0003Dg-Un\t"
    "74.53.140.153,10.10.1.4\tMicrosoft Office Outlook 12.0\tF\t"
    "FmFp351N5nhsMmAfQg,Fqrb1K5DWEfgy4WU2,FEFYSd1s8Onn9LynKj";

TEST(SmtpLogZeek, BasicRecordMatchesZeeksBaselineApartFromTsUidAndFuids) {
  std::vector<std::string> ours = Split(FormatRecordZeek(BasicRecord()), '\t');
  std::vector<std::string> zeek = Split(kBasicBaselineLine, '\t');
  ASSERT_EQ(ours.size(), zeek.size());
  EXPECT_EQ(ours[0], "1254722767.529046");
  for (size_t i = 2; i + 1 < zeek.size(); ++i) {
    EXPECT_EQ(ours[i], zeek[i]) << "column " << SmtpLogSchema().fields[i];
  }
  EXPECT_EQ(ours.back(), "(empty)");
}

TEST(SmtpLogZeek, SchemaMatchesZeeksFieldsAndTypesLines) {
  setenv("TZ", "UTC", 1);
  tzset();
  const std::string header = ZeekLogHeader(SmtpLogSchema(), 0);
  EXPECT_NE(header.find(
                "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\ttrans_depth\thelo\t"
                "mailfrom\trcptto\tdate\tfrom\tto\tcc\treply_to\tmsg_id\tin_reply_to\tsubject\t"
                "x_originating_ip\tfirst_received\tsecond_received\tlast_reply\tpath\tuser_agent\t"
                "tls\tfuids\n"),
            std::string::npos);
  EXPECT_NE(header.find("#types\ttime\tstring\taddr\tport\taddr\tport\tcount\tstring\tstring\t"
                        "set[string]\tstring\tstring\tset[string]\tset[string]\tstring\tstring\t"
                        "string\tstring\taddr\tstring\tstring\tstring\tvector[addr]\tstring\tbool\t"
                        "vector[string]\n"),
            std::string::npos);
}

TEST(SmtpLogJson, BasicRecordAsZeeksJsonWriter) {
  EXPECT_EQ(FormatRecordJson(BasicRecord()),
            "{\"ts\":1254722767.529046,\"uid\":\"CHhAvVGS1DHFjwGM9\",\"id.orig_h\":\"10.10.1.4\","
            "\"id.orig_p\":1470,\"id.resp_h\":\"74.53.140.153\",\"id.resp_p\":25,"
            "\"trans_depth\":1,\"helo\":\"GP\",\"mailfrom\":\"gurpartap@patriots.in\","
            "\"rcptto\":[\"raj_deol2002in@yahoo.co.in\"],\"date\":\"Mon, 5 Oct 2009 11:36:07 "
            "+0530\",\"from\":\"\\\"Gurpartap Singh\\\" <gurpartap@patriots.in>\","
            "\"to\":[\"<raj_deol2002in@yahoo.co.in>\"],"
            "\"msg_id\":\"<000301ca4581$ef9e57f0$cedb07d0$@in>\",\"subject\":\"SMTP\","
            "\"last_reply\":\"250 OK id=1Mugho-0003Dg-Un\","
            "\"path\":[\"74.53.140.153\",\"10.10.1.4\"],"
            "\"user_agent\":\"Microsoft Office Outlook 12.0\",\"tls\":false,\"fuids\":[]}");
}

// Not Zeek's columns: in JSON only, after Zeek's, and only when known.
TEST(SmtpLogJson, OwnerProcessOnlyInJsonAndOnlyWhenKnown) {
  SmtpRecord r = BasicRecord();
  const std::string zeek_before = FormatRecordZeek(r);
  EXPECT_EQ(FormatRecordJson(r).find("proc."), std::string::npos);
  r.proc = OwnerProcess{812, "smtpd", 4711};
  EXPECT_EQ(FormatRecordZeek(r), zeek_before);
  const std::string json = FormatRecordJson(r);
  EXPECT_NE(json.find(",\"proc.pid\":812,\"proc.name\":\"smtpd\",\"proc.cgroup_id\":4711}"),
            std::string::npos)
      << json;
}

TEST(SmtpLogJson, HostileBytesStayValidJson) {
  SmtpRecord r = BasicRecord();
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  r.subject = all;
  r.cc = std::vector<std::string>{all, ""};
  EXPECT_TRUE(nlohmann::json::accept(FormatRecordJson(r)));
}

TEST(SmtpLogZeek, HostileBytesCannotBreakTheColumns) {
  SmtpRecord r = BasicRecord();
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  r.subject = all;
  r.cc = std::vector<std::string>{all, "x"};
  const std::string line = FormatRecordZeek(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  std::vector<std::string> cols = Split(line, '\t');
  ASSERT_EQ(cols.size(), SmtpLogSchema().fields.size());
  EXPECT_EQ(Split(cols[13], ',').size(), 2u);  // cc: the ',' inside the element is escaped
}

TEST(SmtpLogWriter, ZeekFormatFileHasHeaderRecordsAndClose) {
  setenv("TZ", "UTC", 1);
  tzset();
  SmtpLogWriterOptions options;
  options.format = LogFormat::kZeek;
  options.clock = [] { return std::time_t{1254722767}; };
  const std::string text = WrittenLog<SmtpLogWriter>(
      "smtp.log", options, [](SmtpLogWriter& w) { w.OnRecord(BasicRecord()); });
  std::vector<std::string> lines = Split(text, '\n');
  ASSERT_EQ(lines.size(), 11u);  // 8 header lines, 1 record, #close, trailing ""
  EXPECT_EQ(lines[0], "#separator \\x09");
  EXPECT_EQ(lines[4], "#path\tsmtp");
  EXPECT_EQ(lines[5], "#open\t2009-10-05-06-06-07");
  EXPECT_EQ(lines[8].substr(0, 17), "1254722767.529046");
  EXPECT_EQ(lines[9], "#close\t2009-10-05-06-06-07");
}

TEST(SmtpLogWriter, JsonFormatWritesOneObjectPerLine) {
  TempDir dir;
  {
    SmtpLogWriter writer(dir.path().string());
    writer.OnRecord(BasicRecord());
    writer.OnRecord(BasicRecord());
    StatsMap stats;
    writer.VisitStats(stats);
    EXPECT_EQ(stats.values["records"], 2u);
  }
  std::vector<std::string> lines = Split(ReadFile(dir.path() / "smtp.log"), '\n');
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(lines[1])["helo"], "GP");
}

TEST(SmtpLogWriter, ReopenClosesTheRotatedFileAndStartsANewHeader) {
  TempDir dir;
  SmtpLogWriter writer(dir.path().string(), SmtpLogWriterOptions{ZeekLogAtEpoch(), nullptr});
  writer.OnRecord(BasicRecord());
  std::filesystem::rename(dir.path() / "smtp.log", dir.path() / "smtp.log.1");
  ASSERT_TRUE(writer.Reopen());
  writer.Flush();
  const std::string old_file = ReadFile(dir.path() / "smtp.log.1");
  EXPECT_NE(old_file.find("#close\t"), std::string::npos);
  EXPECT_EQ(ReadFile(dir.path() / "smtp.log").substr(0, 18), "#separator \\x09\n#s");
}

// Writes one record into `dir` in `format`, starting the file as `start` says.
void WriteOneRun(const TempDir& dir, LogFormat format, LogStart start) {
  SmtpLogWriterOptions options;
  options.format = format;
  options.start = start;
  options.clock = [] { return std::time_t{1254722767}; };
  SmtpLogWriter writer(dir.path().string(), options);
  writer.OnRecord(BasicRecord());
}

size_t CountOf(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(SmtpLogWriter, FreshStartTruncatesWhatAnEarlierRunLeft) {
  TempDir dir;
  WriteOneRun(dir, LogFormat::kZeek, LogStart::kFresh);
  WriteOneRun(dir, LogFormat::kZeek, LogStart::kFresh);
  const std::string zeek = ReadFile(dir.path() / "smtp.log");
  EXPECT_EQ(CountOf(zeek, "#separator"), 1u);
  EXPECT_EQ(CountOf(zeek, "#close"), 1u);
  WriteOneRun(dir, LogFormat::kJson, LogStart::kFresh);
  const std::vector<std::string> lines = Split(ReadFile(dir.path() / "smtp.log"), '\n');
  ASSERT_EQ(lines.size(), 2u);  // one record, trailing ""
  EXPECT_EQ(lines[0][0], '{');
}

TEST(SmtpLogWriter, ContinueAppendsJsonToJson) {
  TempDir dir;
  WriteOneRun(dir, LogFormat::kJson, LogStart::kContinue);
  WriteOneRun(dir, LogFormat::kJson, LogStart::kContinue);
  EXPECT_EQ(Split(ReadFile(dir.path() / "smtp.log"), '\n').size(), 3u);  // two records
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(SmtpLogWriter, ContinueMovesAsideAFileItMustNotMixWith) {
  TempDir dir;
  WriteOneRun(dir, LogFormat::kZeek, LogStart::kContinue);
  const std::string first = ReadFile(dir.path() / "smtp.log");
  WriteOneRun(dir, LogFormat::kJson, LogStart::kContinue);  // JSON after TSV: moved aside
  EXPECT_EQ(ReadFile(dir.path() / "smtp.log")[0], '{');
  std::vector<std::filesystem::path> aside;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (entry.path().filename() != "smtp.log") aside.push_back(entry.path());
  }
  ASSERT_EQ(aside.size(), 1u);
  // smtp.<modification time as Zeek's #open>.log, holding the earlier run whole.
  EXPECT_EQ(aside[0].filename().string().substr(0, 5), "smtp.");
  EXPECT_EQ(aside[0].extension(), ".log");
  EXPECT_EQ(aside[0].filename().string().size(),
            std::string("smtp.2009-10-05-06-06-07.log").size());
  EXPECT_EQ(ReadFile(aside[0]), first);
}

TEST(SmtpLogWriter, MissingDirectoryThrowsAtStartUp) {
  EXPECT_THROW(SmtpLogWriter("/nonexistent-dir/mailtap"), std::runtime_error);
}

TEST(SmtpLogWriter, LongFieldsAreTruncatedAndCounted) {
  TempDir dir;
  SmtpLogWriter writer(dir.path().string());
  SmtpRecord r = BasicRecord();
  r.subject = std::string(5000, 's');
  r.rcptto = std::vector<std::string>(150, "a@b");
  writer.OnRecord(r);
  writer.Flush();
  nlohmann::json j = nlohmann::json::parse(ReadFile(dir.path() / "smtp.log"));
  EXPECT_EQ(j["subject"].get<std::string>().size(), 4096u);
  EXPECT_EQ(j["rcptto"].size(), 100u);
  StatsMap stats;
  writer.VisitStats(stats);
  EXPECT_EQ(stats.values["strings_truncated"], 1u);
  EXPECT_EQ(stats.values["containers_truncated"], 1u);
}

// Zeek's logging framework raises log_*_truncated weirds naming the stream (address-limits
// baseline: `log_container_field_truncated  SMTP::LOG`).
TEST(SmtpLogWriter, TruncationRaisesZeeksWeirdsNamingTheStream) {
  class Weirds : public EventSink {
   public:
    void OnEvent(const Event& e) override {
      names.push_back(Get(e, ev::weird::name) + " " + Get(e, ev::weird::addl));
      EXPECT_EQ(e.conn, nullptr);
    }
    std::vector<std::string> names;
  } weirds;
  TempDir dir;
  SmtpLogWriterOptions options;
  options.weirds = &weirds;
  SmtpLogWriter writer(dir.path().string(), options);
  SmtpRecord r = BasicRecord();
  writer.OnRecord(r);
  EXPECT_TRUE(weirds.names.empty());
  r.subject = std::string(5000, 's');
  r.rcptto = std::vector<std::string>(150, "a@b");
  writer.OnRecord(r);
  EXPECT_EQ(weirds.names, (std::vector<std::string>{"log_string_field_truncated SMTP::LOG",
                                                    "log_container_field_truncated SMTP::LOG"}));
}

}  // namespace
}  // namespace mailtap
