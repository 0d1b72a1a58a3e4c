#include "sinks/conn_log_writer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "sinks/test_util.h"

namespace mailtap {
namespace {

using testing_util::Ip;
using testing_util::WrittenLog;
using testing_util::ZeekLogAtEpoch;

// The values of Zeek's scripts.base.protocols.http.http-connect conn.log record (service and
// local_* as mailtap logs them).
ConnRecord HttpConnectRecord() {
  ConnRecord r;
  r.ts = Timestamp{1078232251833846};
  r.uid = "CHhAvVGS1DHFjwGM9";
  r.id = ConnId{Ip("79.26.245.236"), 3378, Ip("254.228.86.79"), 8240};
  r.service = "smtp";
  r.duration = Timestamp{6722274};
  r.orig_bytes = 1685;
  r.resp_bytes = 223;
  r.conn_state = "SF";
  r.history = "ShADadtTfF";
  r.orig_pkts = 14;
  r.orig_ip_bytes = 2257;
  r.resp_pkts = 16;
  r.resp_ip_bytes = 944;
  r.community_id = "1:5k/fZJc/8tZK4vZJrqkD49MIUqE=";
  r.end_reason = "end_of_input";
  return r;
}

TEST(ConnLogWriterTest, ZeekFormatHasZeeksColumnsThenMailtaps) {
  EXPECT_EQ(FormatConnRecord(HttpConnectRecord(), LogFormat::kZeek),
            "1078232251.833846\tCHhAvVGS1DHFjwGM9\t79.26.245.236\t3378\t254.228.86.79\t8240\ttcp\t"
            "smtp\t6.722274\t1685\t223\tSF\t-\t-\t0\tShADadtTfF\t14\t2257\t16\t944\t-\t6\t"
            "1:5k/fZJc/8tZK4vZJrqkD49MIUqE=");
}

TEST(ConnLogWriterTest, JsonOmitsUnsetFieldsAndAddsTheProcessWhenKnown) {
  ConnRecord r = HttpConnectRecord();
  r.duration.reset();
  r.orig_bytes.reset();
  r.resp_bytes.reset();
  r.resp_ip_bytes.reset();
  r.proc = OwnerProcess{42, "smtpd", 0};
  auto j = nlohmann::json::parse(FormatConnRecord(r, LogFormat::kJson));
  EXPECT_FALSE(j.contains("duration"));
  EXPECT_FALSE(j.contains("orig_bytes"));
  EXPECT_FALSE(j.contains("resp_ip_bytes"));
  EXPECT_FALSE(j.contains("local_orig"));
  EXPECT_EQ(j["conn_state"], "SF");
  EXPECT_EQ(j["missed_bytes"], 0);
  EXPECT_EQ(j["community_id"], "1:5k/fZJc/8tZK4vZJrqkD49MIUqE=");
  EXPECT_EQ(j["end_reason"], "end_of_input");
  EXPECT_EQ(j["proc.pid"], 42);
  EXPECT_FALSE(j.contains("proc.cgroup_id"));
}

TEST(ConnLogWriterTest, WritesTheHeaderAndOneLinePerRecord) {
  const std::string text = WrittenLog<ConnLogWriter>(
      "conn.log", ZeekLogAtEpoch(), [](ConnLogWriter& w) { w.OnConnRecord(HttpConnectRecord()); });
  EXPECT_NE(text.find("#path\tconn\n"), std::string::npos);
  EXPECT_NE(text.find("#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\t"
                      "service\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\t"
                      "local_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\t"
                      "resp_ip_bytes\ttunnel_parents\tip_proto\tcommunity_id\n"),
            std::string::npos);
  EXPECT_NE(text.find("\tShADadtTfF\t"), std::string::npos);
}

Event SmtpReply(const Connection* conn) {
  return ev::smtp_reply::Make(Timestamp{1}, conn, {.is_orig = false, .code = 220});
}

TEST(ConnAnalysisObserverTest, SmtpTrafficAndMimeLimitsReachTheConnection) {
  Connection conn;
  ConnAnalysisObserver observer;
  EXPECT_TRUE(observer.Wants(EventId::kSmtpReply));
  observer.OnEvent(MakeWeird(Timestamp{1}, &conn, "line_too_long", "", "SMTP"));
  EXPECT_FALSE(conn.analysis.smtp);
  EXPECT_FALSE(conn.analysis.partial[0]);
  observer.OnEvent(SmtpReply(&conn));
  EXPECT_TRUE(conn.analysis.smtp);
  observer.OnEvent(MakeWeird(Timestamp{1}, &conn, "exceeded_mime_max_header_bytes", "65536", ""));
  EXPECT_TRUE(conn.analysis.partial[0]);
  EXPECT_FALSE(conn.analysis.partial[1]);
}

}  // namespace
}  // namespace mailtap
