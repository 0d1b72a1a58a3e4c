// Pipeline: the stages wired together, driven by a scripted capture source. Expected values come
// from the scripted SMTP session itself and Zeek's semantics (spec sections 18 and 19).
#include "pipeline.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/fake_capture_source.h"

namespace mailtap {
namespace {

using testing::FakeCaptureSource;
using testing::TcpConversation;

IpAddress Ip(const char* text) {
  IpAddress a;
  EXPECT_TRUE(IpAddress::Parse(text, &a)) << text;
  return a;
}

// Every event, in order: its name and the argument that tells it apart ("smtp_reply:RCPT").
class EventNames : public EventSink {
 public:
  void OnEvent(const Event& e) override {
    std::string text(e.name());
    switch (e.id) {
      case EventId::kSmtpRequest:
        text += ":" + Get(e, ev::smtp_request::command);
        break;
      case EventId::kSmtpReply:
        text += ":" + Get(e, ev::smtp_reply::cmd);
        break;
      case EventId::kSmtpUnexpected:
        text += ":" + Get(e, ev::smtp_unexpected::msg);
        break;
      case EventId::kWeird:
        text += ":" + Get(e, ev::weird::name);
        break;
      default:
        break;
    }
    names.push_back(text);
  }
  std::vector<std::string> names;
};

class Records : public RecordSink {
 public:
  void OnRecord(const SmtpRecord& r) override { records.push_back(r); }
  std::vector<SmtpRecord> records;
};

class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest() { config_.read_file = "scripted"; }  // packet time only, replay uids

  TcpConversation Conversation(uint16_t client_port) {
    return TcpConversation(source_, Ip("192.0.2.1"), client_port, Ip("192.0.2.25"), 25,
                           1'700'000'000'000'000);
  }
  void Run() {
    Pipeline pipeline(config_);
    pipeline.AddEventSink(&events_);
    pipeline.AddRecordSink(&records_);
    pipeline.Run(source_);
    stats_ = pipeline.stats().Get();
  }

  Config config_;
  FakeCaptureSource source_;
  EventNames events_;
  Records records_;
  std::vector<StatSample> stats_;
};

TEST_F(PipelineTest, AMailTransactionBecomesOneSmtpLogRecord) {
  TcpConversation c = Conversation(40001);
  c.Handshake();
  c.Server("220 mx.example ESMTP\r\n");
  c.Client("HELO client.example\r\n");
  c.Server("250 mx.example\r\n");
  c.Client("MAIL FROM:<alice@example.org>\r\n");
  c.Server("250 ok\r\n");
  c.Client("RCPT TO:<bob@example.net>\r\n");
  c.Server("250 ok\r\n");
  c.Client("DATA\r\n");
  c.Server("354 go ahead\r\n");
  c.Client("Subject: hello\r\n\r\nbody\r\n.\r\n");
  c.Server("250 queued\r\n");
  c.Client("QUIT\r\n");
  c.Server("221 bye\r\n");
  c.Close();
  Run();
  ASSERT_EQ(records_.records.size(), 1u);
  const SmtpRecord& r = records_.records[0];
  EXPECT_EQ(r.helo, "client.example");
  EXPECT_EQ(r.mailfrom, "alice@example.org");
  EXPECT_EQ(r.rcptto, std::vector<std::string>{"bob@example.net"});
  EXPECT_EQ(r.subject, "hello");
  EXPECT_EQ(r.last_reply, "250 queued");
  EXPECT_EQ(r.trans_depth, 1u);
  EXPECT_EQ(r.id.orig_p, 40001);
}

// Zeek raises smtp_mail_transaction_invalid in its smtp_request handler: in the event stream the
// weird comes right after the request that caused it (spec 18, 19.5). The analyzer's own
// "unexpected command" for RCPT outside MAIL_OK comes with the reply (spec 8).
TEST_F(PipelineTest, AWeirdOfTheSmtpLogLogicFollowsTheEventThatCausedIt) {
  TcpConversation c = Conversation(40002);
  c.Handshake();
  c.Server("220 mx.example ESMTP\r\n");
  c.Client("RCPT TO:<bob@example.net>\r\n");
  c.Server("503 need MAIL first\r\n");
  c.Close();
  Run();
  EXPECT_EQ(events_.names,
            (std::vector<std::string>{"smtp_reply:>", "smtp_request:RCPT",
                                      "weird:smtp_mail_transaction_invalid",
                                      "smtp_unexpected:unexpected command", "smtp_reply:RCPT"}));
}

TEST_F(PipelineTest, CredentialsAreRedactedBeforeTheOutputs) {
  class Args : public EventSink {
   public:
    void OnEvent(const Event& e) override {
      if (e.id == EventId::kSmtpRequest) args.push_back(Get(e, ev::smtp_request::arg));
    }
    std::vector<std::string> args;
  } requests;
  TcpConversation c = Conversation(40003);
  c.Handshake();
  c.Server("220 mx.example ESMTP\r\n");
  c.Client("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
  c.Close();
  Pipeline pipeline(config_);  // default --redact credentials
  pipeline.AddEventSink(&requests);
  pipeline.Run(source_);
  EXPECT_EQ(requests.args, std::vector<std::string>{"PLAIN [REDACTED]"});
}

TEST_F(PipelineTest, TimeoutsDoNotEndTheRunAndEveryStepIsConsumed) {
  TcpConversation c = Conversation(40004);
  c.Handshake();
  source_.AddTimeout();
  c.Server("220 mx.example ESMTP\r\n");
  source_.AddTimeout();
  source_.AddTimeout();
  c.Client("QUIT\r\n");
  c.Close();
  Run();
  EXPECT_EQ(source_.remaining(), 0u);
  EXPECT_EQ(events_.names, (std::vector<std::string>{"smtp_reply:>", "smtp_request:QUIT"}));
}

TEST_F(PipelineTest, TheSourcesStatisticsArePublishedWithTheStages) {
  TcpConversation c = Conversation(40005);
  c.Handshake();
  c.Close();
  Run();
  auto find = [&](std::string_view group, std::string_view name) -> const StatSample* {
    for (const StatSample& s : stats_) {
      if (s.group == group && s.name == name) return &s;
    }
    return nullptr;
  };
  const StatSample* calls = find("capture", "next_calls");
  ASSERT_NE(calls, nullptr);
  EXPECT_EQ(calls->value, 7u);  // 6 segments, then the end of input
  const StatSample* created = find("tcp", "flows_created");
  ASSERT_NE(created, nullptr);
  EXPECT_EQ(created->value, 1u);
}

}  // namespace
}  // namespace mailtap
