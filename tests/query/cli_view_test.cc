// What the client prints for people: tables, the status summary, suggestions. Inputs are data
// items as docs/query-protocol.md and docs/interface.md describe them, written out by hand.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/render.h"
#include "cli/status_view.h"
#include "cli/suggest.h"
#include "cli/table.h"

namespace mailtap::cli {
namespace {

// Everything a Renderer prints for `items`, as lines.
std::vector<std::string> Render(OutputFormat format, ItemKind kind,
                                const std::vector<std::string>& items, size_t width = kTableWidth) {
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* out = ::open_memstream(&buffer, &size);
  {
    Renderer r(format, kind, Color::kOff, out, width);
    for (const auto& item : items) r.Print(item);
    r.Finish();
  }
  std::fclose(out);
  std::string text(buffer, size);
  std::free(buffer);
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void ExpectAllFit(const std::vector<std::string>& lines, size_t width) {
  for (const auto& line : lines) EXPECT_LE(DisplayWidth(line), width) << "'" << line << "'";
}

// smtp_reply of Zeek's smtp.pcap (conn 1), with an IPv6 originator and a long message.
const std::string kLongReply =
    R"({"ts":1254722768.566737,"event":"smtp_reply","uid":"C4KpbRV61w6pTiex0K",)"
    R"("id.orig_h":"2001:db8:1234:5678:9abc:def0:1234:5678","id.orig_p":1470,)"
    R"("id.resp_h":"74.53.140.153","id.resp_p":25,"is_orig":false,"code":250,"cmd":"EHLO",)"
    R"("msg":"ip-74-53-140-153.static.theplanet.com Hello GP [122.162.143.157] and a long tail",)"
    R"("cont_resp":true})";

TEST(CliTableTest, ObserveTableFitsOneHundredColumnsAndMarksWhatItCut) {
  auto lines = Render(OutputFormat::kTable, ItemKind::kEvent, {kLongReply});
  ASSERT_EQ(lines.size(), 2u);
  ExpectAllFit(lines, 100);
  EXPECT_EQ(lines[0].rfind("TIME", 0), 0u);
  // The reply is from the server: its endpoint is the source.
  EXPECT_NE(lines[1].find("74.53.140.153:25"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("smtp_reply"), std::string::npos);
  EXPECT_NE(lines[1].find("250-ip-74-53"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[1].substr(lines[1].size() - std::string("…").size()), "…") << lines[1];
}

TEST(CliTableTest, AWiderTerminalShowsMoreOfTheLastColumn) {
  auto lines = Render(OutputFormat::kTable, ItemKind::kEvent, {kLongReply}, 200);
  ExpectAllFit(lines, 200);
  EXPECT_NE(lines[1].find("and a long tail (EHLO)"), std::string::npos) << lines[1];
}

// smtp.log record of Zeek's smtp.pcap, connection 2 (three recipients).
const std::string kRecord =
    R"({"ts":1437831787.867142,"uid":"CBePi43XY0clPIbcY","id.orig_h":"192.168.133.100",)"
    R"("id.orig_p":49648,"id.resp_h":"192.168.133.102","id.resp_p":25,"trans_depth":1,)"
    R"("helo":"[192.168.133.100]","mailfrom":"albert@example.com","rcptto":)"
    R"(["ericlim220@yahoo.com","felica4uu@hotmail.com","davis_mark1@outlook.com"],)"
    R"("from":"Albert Zaharovits <albert@example.com>","to":["ericlim220@yahoo.com"],)"
    R"("subject":"Re: Bro SMTP CC Header","last_reply":"250 Ok"})";

TEST(CliTableTest, CompactTransactionsNameTheEnvelopeAsSmtpLogDoes) {
  auto lines = Render(OutputFormat::kCompact, ItemKind::kRecord, {kRecord});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(" mailfrom=albert@example.com rcptto=ericlim220@yahoo.com,"
                          "felica4uu@hotmail.com,davis_mark1@outlook.com "),
            std::string::npos)
      << lines[0];
  // from=/to= are smtp.log's header fields: never used for the envelope.
  EXPECT_EQ(lines[0].find(" from="), std::string::npos) << lines[0];
  EXPECT_EQ(lines[0].find(" to="), std::string::npos) << lines[0];
}

TEST(CliTableTest, TransactionsTableHasEnvelopeColumnsWithinTheWidth) {
  auto lines = Render(OutputFormat::kTable, ItemKind::kRecord, {kRecord});
  ASSERT_EQ(lines.size(), 2u);
  ExpectAllFit(lines, 100);
  EXPECT_NE(lines[0].find("MAILFROM"), std::string::npos);
  EXPECT_NE(lines[0].find("RCPTTO"), std::string::npos);
  EXPECT_NE(lines[1].find("albert@example.com"), std::string::npos);
  EXPECT_NE(lines[1].find("250"), std::string::npos);
}

// Connections of a replayed 2009 capture: packet times far from the wall clock.
std::string Connection(const std::string& uid, double start, double last_seen,
                       const std::string& extra = "") {
  return R"({"uid":")" + uid +
         R"(","id.orig_h":"10.10.1.4","id.orig_p":1470,"id.resp_h":"74.53.140.153",)"
         R"("id.resp_p":25,"start":)" +
         std::to_string(start) + R"(,"last_seen":)" + std::to_string(last_seen) +
         R"(,"age_seconds":540000000.0,"orig_bytes":1234,"resp_bytes":56789,"gap_bytes":0,)"
         R"("tcp_state":"established","smtp_state":"IN_DATA")" +
         extra + "}";
}

TEST(CliTableTest, ConnectionAgesComeFromPacketTimeNotTheWallClock) {
  auto lines = Render(OutputFormat::kTable, ItemKind::kConnection,
                      {Connection("CAAAAAAAAAAAAAAAA1", 1254722760, 1254722768),
                       Connection("CAAAAAAAAAAAAAAAA2", 1254722700, 1254722710)});
  ASSERT_EQ(lines.size(), 3u);
  ExpectAllFit(lines, 100);
  // Columns, not a key=value blob.
  for (const char* title : {"UID", "CLIENT", "SERVER", "AGE", "TCP", "SMTP", "BYTES"}) {
    EXPECT_NE(lines[0].find(title), std::string::npos) << title << " in " << lines[0];
  }
  EXPECT_EQ(lines[1].find('='), std::string::npos) << lines[1];
  // Measured against the newest packet listed (1254722768): 8 s and 68 s, not years.
  EXPECT_NE(lines[1].find(" 8s "), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find(" 1m08s "), std::string::npos) << lines[2];
  EXPECT_NE(lines[1].find("established"), std::string::npos);
  EXPECT_NE(lines[1].find("IN_DATA"), std::string::npos);
  EXPECT_NE(lines[1].find("1234/56.8k"), std::string::npos) << lines[1];
}

TEST(CliTableTest, ConnectionsShowIdleTimeWhenTheAgentSendsItsPacketTime) {
  auto lines =
      Render(OutputFormat::kTable, ItemKind::kConnection,
             {Connection("CAAAAAAAAAAAAAAAA1", 1254722760, 1254722768, R"(,"now":1254722888)")});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("IDLE"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find(" 2m08s  2m00s "), std::string::npos) << lines[1];
}

TEST(CliTableTest, LongIpv6ConnectionsStillFit) {
  std::string item = Connection("CAAAAAAAAAAAAAAAA1", 1, 2);
  std::string v6 = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff";
  item.replace(item.find("10.10.1.4"), 9, v6);
  item.replace(item.find("74.53.140.153"), 13, v6);
  auto lines = Render(OutputFormat::kTable, ItemKind::kConnection, {item});
  ASSERT_EQ(lines.size(), 2u);
  ExpectAllFit(lines, 100);
  EXPECT_NE(lines[1].find("…"), std::string::npos) << lines[1];
}

TEST(CliTableTest, CompactConnectionsAreOneLineEach) {
  auto lines = Render(OutputFormat::kCompact, ItemKind::kConnection,
                      {Connection("CAAAAAAAAAAAAAAAA1", 1254722760, 1254722768)});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            "CAAAAAAAAAAAAAAAA1: 10.10.1.4:1470 -> 74.53.140.153:25 age=8s tcp=established "
            "smtp=IN_DATA bytes=1234/56.8k gap=-");
}

TEST(CliTableTest, JsonConnectionsPassThroughUnchanged) {
  std::string item = Connection("CAAAAAAAAAAAAAAAA1", 1, 2);
  auto lines = Render(OutputFormat::kJson, ItemKind::kConnection, {item});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], item);
}

TEST(CliTableTest, ElideKeepsTheStartAndMarksTheCut) {
  EXPECT_EQ(Elide("abcdef", 6), "abcdef");
  EXPECT_EQ(Elide("abcdefg", 6), "abcde…");
  EXPECT_EQ(Elide("ééééééé", 4), "ééé…");  // counted in characters, not bytes
  EXPECT_EQ(Pad("ab", 4), "ab  ");
}

TEST(CliAgeTest, AgesReadAsPeopleWriteThem) {
  EXPECT_EQ(FormatAge(0.4), "0s");
  EXPECT_EQ(FormatAge(59), "59s");
  EXPECT_EQ(FormatAge(192), "3m12s");
  EXPECT_EQ(FormatAge(7500), "2h05m");
  EXPECT_EQ(FormatAge(3 * 86400 + 4 * 3600), "3d04h");
  EXPECT_EQ(FormatAge(-5), "0s");
}

// A status object as docs/query-protocol.md describes it (a live agent, some losses).
nlohmann::ordered_json LiveStatus() {
  return nlohmann::ordered_json::parse(R"({
    "version":"1.2.3","protocol":1,"started":"2026-12-04T10:00:00Z","uptime_seconds":600.0,
    "capture_source":"live (eBPF socket filter) on every interface, ports 25,587",
    "capture_state":"running","kernel_features":["socket_filter","ringbuf"],
    "redact":"credentials",
    "counters":{"capture":{"packets_total":60000,"bytes_total":9000000},
                "smtp":{"sessions_created":40,"sessions_active":3,"requests":500,"replies":520,
                        "unexpected":2,"weirds":1,"content_gaps":1,"messages":35,"starttls":30},
                "smtp_log":{"records_written":35},
                "query":{"clients":2,"subscribers":1,"history_events":4000}},
    "loss":{"kernel_ringbuf_full":0,"reassembly_gap":1460,"slow_subscriber":12},
    "loss_units":{"kernel_ringbuf_full":"bytes","reassembly_gap":"bytes","slow_subscriber":"events"},
    "lost_total":1472})");
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(CliStatusTest, SummaryIsShortAndSaysWhatMatters) {
  std::string text = FormatStatusSummary(LiveStatus());
  auto lines = Lines(text);
  EXPECT_LE(lines.size(), 25u) << text;
  ExpectAllFit(lines, 100);
  EXPECT_NE(text.find("mailtapd 1.2.3, up 10m00s"), std::string::npos) << text;
  EXPECT_NE(text.find("live (eBPF socket filter)"), std::string::npos) << text;
  EXPECT_NE(text.find("(running)"), std::string::npos) << text;
  EXPECT_NE(text.find("100.0 packets/s"), std::string::npos) << text;  // 60000 in 600 s
  EXPECT_NE(text.find("socket_filter, ringbuf"), std::string::npos) << text;
  EXPECT_NE(text.find("3 open, 40 seen"), std::string::npos) << text;
  EXPECT_NE(text.find("35 messages"), std::string::npos) << text;
}

TEST(CliStatusTest, LossesAreListedByCauseWithTheirUnitsNeverSummed) {
  std::string text = FormatStatusSummary(LiveStatus());
  EXPECT_NE(text.find("reassembly_gap"), std::string::npos) << text;
  EXPECT_NE(text.find("1460 bytes"), std::string::npos) << text;
  EXPECT_NE(text.find("12 events"), std::string::npos) << text;
  EXPECT_EQ(text.find("kernel_ringbuf_full"), std::string::npos) << text;  // zero: not listed
  EXPECT_EQ(text.find("1472"), std::string::npos) << text;  // bytes + events means nothing
}

TEST(CliStatusTest, ManyLossCausesStillFitOneScreen) {
  auto status = LiveStatus();
  for (int i = 0; i < 30; ++i) status["loss"]["cause_" + std::to_string(i)] = i + 1;
  std::string text = FormatStatusSummary(status);
  EXPECT_LE(Lines(text).size(), 25u) << text;
  EXPECT_NE(text.find("more causes: mailtap status -o json"), std::string::npos) << text;
}

TEST(CliStatusTest, LossesOfOneUnitAreListedTogether) {
  auto status = nlohmann::ordered_json::parse(R"({"version":"1",
      "loss":{"a_bytes":5,"b_events":3,"c_bytes":7},
      "loss_units":{"a_bytes":"bytes","b_events":"events","c_bytes":"bytes"}})");
  std::string text = FormatStatusSummary(status);
  size_t a = text.find("a_bytes"), b = text.find("b_events"), c = text.find("c_bytes");
  ASSERT_NE(b, std::string::npos) << text;
  EXPECT_LT(a, c) << text;
  EXPECT_LT(c, b) << text;  // bytes before events, never interleaved
}

TEST(CliStatusTest, AStalledPipelineIsSaidAndOnlyThen) {
  auto status = LiveStatus();
  EXPECT_EQ(FormatStatusSummary(status).find("STALLED"), std::string::npos);
  status["pipeline"] = {{"stalled", true}, {"seconds_since_progress", 75.0}};
  std::string text = FormatStatusSummary(status);
  EXPECT_NE(text.find("pipeline     STALLED: no progress for 1m15s"), std::string::npos) << text;
}

TEST(CliStatusTest, NothingLostSaysNone) {
  auto status = LiveStatus();
  status["loss"] = {{"reassembly_gap", 0}};
  EXPECT_NE(FormatStatusSummary(status).find("losses       none"), std::string::npos);
}

// The agent names each cause's unit (status loss_units); the client keeps no list of its own.
TEST(CliStatusTest, UnitsAreTheAgents) {
  auto status = LiveStatus();
  status["loss_units"] = {{"reassembly_gap", "octets"}};
  EXPECT_EQ(LossUnit(status, "reassembly_gap"), "octets");
  EXPECT_EQ(LossUnit(status, "a_cause_the_agent_did_not_name"), "");
}

TEST(CliStatusTest, AnUnexpectedShapeGivesAShorterSummaryNotACrash) {
  auto status = nlohmann::ordered_json::parse(R"({"version":7,"counters":[],"loss":"x"})");
  std::string text = FormatStatusSummary(status);
  EXPECT_NE(text.find("losses       none"), std::string::npos) << text;
}

TEST(CliSuggestTest, NearestNamesTheWordMeant) {
  std::vector<std::string> commands = {"status", "observe", "transactions", "connections",
                                       "metrics"};
  EXPECT_EQ(Nearest("stauts", commands), "status");
  EXPECT_EQ(Nearest("transaction", commands), "transactions");
  EXPECT_EQ(Nearest("conn", commands), "connections");
  EXPECT_EQ(Nearest("frobnicate", commands), std::nullopt);
  EXPECT_EQ(Nearest("", commands), std::nullopt);
  EXPECT_EQ(EditDistance("sockt", "socket"), 1u);
}

}  // namespace
}  // namespace mailtap::cli
