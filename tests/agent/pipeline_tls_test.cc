// The pipeline with TLS plaintext: a fake capture source plays a client's SMTP session as TCP
// segments (cleartext up to STARTTLS, then ciphertext) and as the plaintext the server process
// read and wrote through its TLS library, in the orders the two ring buffers can produce.
// Every expected event and record is written from the session's own script.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config.h"
#include "fake_tls_source.h"
#include "pipeline.h"

namespace mailtap {
namespace {

using testing::Conversation;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using testing::FakeTlsSource;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// One line per event: name, "[tls]" when from inside TLS, "[proc …]" when the owner is known,
// then the arguments. Rendered as the event arrives (its connection is gone afterwards).
std::string Render(const Event& e) {
  std::string s(e.name());
  if (e.inside_tls) s += " [tls]";
  if (e.conn != nullptr && e.conn->process) {
    const OwnerProcess& p = *e.conn->process;
    s += " [proc " + std::to_string(p.pid) + " " + p.name + " " + std::to_string(p.cgroup_id) + "]";
  }
  const EventSchema& schema = SchemaOf(e.id);
  for (size_t i = 0; i < schema.args.size(); ++i) {
    s += " " + std::string(schema.args[i].key) + "=";
    std::visit(
        [&s](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, bool>) {
            s += v ? "T" : "F";
          } else if constexpr (std::is_same_v<T, int64_t>) {
            s += std::to_string(v);
          } else {
            s += "'" + v + "'";
          }
        },
        e.args[i]);
  }
  return s;
}

// The MIME events that carry a message's content and the file events (tests/mime, tests/files,
// PipelineFiles) are left out: these tests are about where the plaintext goes, and the
// structure events show that.
bool IsMimeContentOrFile(EventId id) {
  switch (id) {
    case EventId::kMimeAllHeaders:
    case EventId::kMimeEntityData:
    case EventId::kMimeAllData:
    case EventId::kMimeContentHash:
    case EventId::kMimeContentHashSha256:
    case EventId::kFileNew:
    case EventId::kFileOverNewConnection:
    case EventId::kFileSniff:
    case EventId::kFileGap:
    case EventId::kFileHash:
    case EventId::kFileStateRemove:
      return true;
    default:
      return false;
  }
}

class EventLines : public EventSink {
 public:
  void OnEvent(const Event& event) override {
    if (!IsMimeContentOrFile(event.id)) lines.push_back(Render(event));
    if (event.id == EventId::kFileNew || event.id == EventId::kFileStateRemove) {
      file_lines.push_back(Render(event));
    }
  }
  std::vector<std::string> lines;
  std::vector<std::string> file_lines;  // file_new and file_state_remove only
};

class Records : public RecordSink {
 public:
  void OnRecord(const SmtpRecord& record) override { records.push_back(record); }
  std::vector<SmtpRecord> records;
};

struct Outcome {
  std::vector<std::string> events;
  std::vector<SmtpRecord> records;
  std::vector<StatSample> stats;
  std::vector<std::string> file_events;
  uint64_t Stat(std::string_view group, std::string_view name) const {
    for (const StatSample& s : stats) {
      if (s.group == group && s.name == name) return s.value;
    }
    ADD_FAILURE() << "no statistic " << group << "." << name;
    return 0;
  }
};

Outcome RunPipeline(FakeTlsSource& source) {
  Config config;
  config.read_file.emplace("fake");  // replay-style uids and packet-time housekeeping
  Pipeline pipeline(config);
  EventLines events;
  Records records;
  pipeline.AddEventSink(&events);
  pipeline.AddRecordSink(&records);
  pipeline.Run(source);
  return {events.lines, records.records, pipeline.stats().Get(), events.file_lines};
}

// The server's lines and the client's commands, one place for the script and the expectations.
constexpr char kGreeting[] = "220 mx.example ESMTP\r\n";
constexpr char kEhlo[] = "EHLO client.example\r\n";
constexpr char kEhloReply[] = "250-mx.example\r\n250 STARTTLS\r\n";
constexpr char kStartTls[] = "STARTTLS\r\n";
constexpr char kReadyReply[] = "220 2.0.0 Ready to start TLS\r\n";
constexpr char kClientHello[] = "\x16\x03\x01\x00\x31\x01\x00\x00\x2d\x03\x03 EHLO not this\r\n";
constexpr char kServerHello[] = "\x16\x03\x03\x00\x10\x02\x00\x00\x0c 250 not this\r\n";

std::vector<std::string> CleartextUpToStartTls() {
  return {
      "smtp_reply is_orig=F code=220 cmd='>' msg='mx.example ESMTP' cont_resp=F",
      "smtp_request is_orig=T command='EHLO' arg='client.example'",
      "smtp_reply is_orig=F code=250 cmd='EHLO' msg='mx.example' cont_resp=T",
      "smtp_reply is_orig=F code=250 cmd='EHLO' msg='STARTTLS' cont_resp=F",
      "smtp_request is_orig=T command='STARTTLS' arg=''",
      "smtp_starttls",
      "smtp_reply is_orig=F code=220 cmd='STARTTLS' msg='2.0.0 Ready to start TLS' cont_resp=F",
  };
}

// Handshake and cleartext SMTP up to the client's STARTTLS (the 220 reply is left to the test).
void CleartextPart(Conversation& c, FakeTlsSource& source) {
  source.Add(c.Syn(1'000'000));
  source.Add(c.SynAck(1'000'100));
  source.Add(c.Ack(1'000'200));
  source.Add(c.Server(1'001'000, kGreeting));
  source.Add(c.Client(1'002'000, kEhlo));
  source.Add(c.Server(1'003'000, kEhloReply));
  source.Add(c.Client(1'004'000, kStartTls));
}

// The TLS handshake on the wire: ciphertext, which must not reach the SMTP parser.
void Handshake(Conversation& c, FakeTlsSource& source, int64_t usec) {
  source.Add(c.Client(usec, kClientHello));
  source.Add(c.Server(usec + 100, kServerHello));
}

// A whole mail transaction inside TLS, as the server process read and wrote it.
void MailInsideTls(Conversation& c, FakeTlsSource& source, int64_t usec) {
  source.Add(c.ServerWrote(usec, "250-mx.example\r\n250 AUTH PLAIN\r\n"));
  source.Add(c.ServerRead(usec + 1000, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"));
  source.Add(c.ServerWrote(usec + 2000, "235 2.7.0 Authentication successful\r\n"));
  source.Add(c.ServerRead(usec + 3000, "MAIL FROM:<alice@example.org>\r\n"));
  source.Add(c.ServerWrote(usec + 4000, "250 2.1.0 Ok\r\n"));
  source.Add(c.ServerRead(usec + 5000, "RCPT TO:<bob@example.net>\r\n"));
  source.Add(c.ServerWrote(usec + 6000, "250 2.1.5 Ok\r\n"));
  source.Add(c.ServerRead(usec + 7000, "DATA\r\n"));
  source.Add(c.ServerWrote(usec + 8000, "354 End data with <CR><LF>.<CR><LF>\r\n"));
  source.Add(c.ServerRead(usec + 9000, "Subject: inside\r\n\r\nhello\r\n.\r\n"));
  source.Add(c.ServerWrote(usec + 10000, "250 2.0.0 Ok: queued as ABC\r\n"));
  source.Add(c.ServerRead(usec + 11000, "QUIT\r\n"));
  source.Add(c.ServerWrote(usec + 12000, "221 2.0.0 Bye\r\n"));
}

// The events MailInsideTls must give, after the second EHLO's request.
std::vector<std::string> MailEvents() {
  return {
      "smtp_reply [tls] is_orig=F code=250 cmd='EHLO' msg='mx.example' cont_resp=T",
      "smtp_reply [tls] is_orig=F code=250 cmd='EHLO' msg='AUTH PLAIN' cont_resp=F",
      // Credentials are redacted by default, inside TLS as outside.
      "smtp_request [tls] is_orig=T command='AUTH' arg='PLAIN [REDACTED]'",
      "smtp_reply [tls] is_orig=F code=235 cmd='AUTH' msg='2.7.0 Authentication successful' "
      "cont_resp=F",
      "smtp_request [tls] is_orig=T command='MAIL' arg='FROM:<alice@example.org>'",
      // Zeek's quirk, kept inside TLS: any reply to AUTH sets state INITIATED (spec 12).
      "smtp_unexpected [tls] is_orig=T msg='unexpected command' detail='MAIL reply = 0 state = 1'",
      "smtp_reply [tls] is_orig=F code=250 cmd='MAIL' msg='2.1.0 Ok' cont_resp=F",
      "smtp_request [tls] is_orig=T command='RCPT' arg='TO:<bob@example.net>'",
      "smtp_reply [tls] is_orig=F code=250 cmd='RCPT' msg='2.1.5 Ok' cont_resp=F",
      "smtp_request [tls] is_orig=T command='DATA' arg=''",
      "mime_begin_entity [tls]",
      "smtp_reply [tls] is_orig=F code=354 cmd='DATA' msg='End data with <CR><LF>.<CR><LF>' "
      "cont_resp=F",
      "smtp_data [tls] is_orig=T data='Subject: inside'",
      "mime_one_header [tls] h.original_name='Subject' h.name='SUBJECT' h.value='inside'",
      "smtp_data [tls] is_orig=T data=''",
      "smtp_data [tls] is_orig=T data='hello'",
      "mime_end_entity [tls]",
      "smtp_request [tls] is_orig=T command='.' arg='.'",
      "smtp_reply [tls] is_orig=F code=250 cmd='.' msg='2.0.0 Ok: queued as ABC' cont_resp=F",
      "smtp_request [tls] is_orig=T command='QUIT' arg=''",
      "smtp_reply [tls] is_orig=F code=221 cmd='QUIT' msg='2.0.0 Bye' cont_resp=F",
  };
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

void ExpectMailRecord(const SmtpRecord& r) {
  EXPECT_EQ(r.trans_depth, 1u);
  EXPECT_EQ(r.helo, "client.example");
  EXPECT_EQ(r.mailfrom, "alice@example.org");
  EXPECT_THAT(r.rcptto.value_or(std::vector<std::string>{}), ElementsAre("bob@example.net"));
  EXPECT_EQ(r.subject, "inside");
  EXPECT_EQ(r.last_reply, "250 2.0.0 Ok: queued as ABC");
  EXPECT_TRUE(r.tls);
}

TEST(PipelineTls, PlaintextReadBeforeTheStartTlsReplyWaitsForIt) {
  FakeTlsSource source(/*captures_tls=*/true);
  Conversation c("10.0.0.1", 40000, "10.0.0.2", 587);
  CleartextPart(c, source);
  // The server read the second EHLO from its ring before the 220 reply's segment was read.
  source.Add(c.ServerRead(1'006'000, kEhlo));
  source.Add(c.Server(1'005'000, kReadyReply));
  Handshake(c, source, 1'005'500);
  MailInsideTls(c, source, 1'007'000);
  source.Add(c.ClientFin(1'100'000));
  source.Add(c.ServerFin(1'100'100));

  Outcome out = RunPipeline(source);
  std::vector<std::string> expected = CleartextUpToStartTls();
  expected.push_back("smtp_request [tls] is_orig=T command='EHLO' arg='client.example'");
  EXPECT_THAT(out.events, ElementsAreArray(Concat(expected, MailEvents())));

  // The STARTTLS phase (its record has client activity: STARTTLS), then the mail inside TLS.
  ASSERT_EQ(out.records.size(), 2u);
  EXPECT_EQ(out.records[0].helo, "client.example");
  EXPECT_FALSE(out.records[0].mailfrom);
  EXPECT_TRUE(out.records[0].tls);
  EXPECT_EQ(out.records[0].last_reply, "235 2.7.0 Authentication successful");
  ExpectMailRecord(out.records[1]);
  EXPECT_EQ(out.Stat("tls_plaintext", "held_bytes"), 0u);
  EXPECT_EQ(out.Stat("smtp", "tls_plaintext_sessions"), 1u);
}

TEST(PipelineTls, PlaintextAfterTheStartTlsReplyGoesStraightThrough) {
  FakeTlsSource source(/*captures_tls=*/true);
  Conversation c("10.0.0.1", 40001, "10.0.0.2", 25);
  CleartextPart(c, source);
  source.Add(c.Server(1'005'000, kReadyReply));
  Handshake(c, source, 1'005'500);
  source.Add(c.ServerRead(1'006'000, kEhlo));
  MailInsideTls(c, source, 1'007'000);

  Outcome out = RunPipeline(source);
  std::vector<std::string> expected = CleartextUpToStartTls();
  expected.push_back("smtp_request [tls] is_orig=T command='EHLO' arg='client.example'");
  EXPECT_THAT(out.events, ElementsAreArray(Concat(expected, MailEvents())));
  ASSERT_EQ(out.records.size(), 2u);
  ExpectMailRecord(out.records[1]);
  // The message's file came from inside TLS too, and its events say so.
  ASSERT_EQ(out.file_events.size(), 2u);
  EXPECT_THAT(out.file_events[0], StartsWith("file_new [tls] "));
  EXPECT_THAT(out.file_events[1], StartsWith("file_state_remove [tls] "));
}

// The local process is the client (an MTA delivering outbound): what it wrote was sent by the
// originator, what it read by the responder.
TEST(PipelineTls, PlaintextOfALocalClientTakesTheOtherDirections) {
  FakeTlsSource source(/*captures_tls=*/true);
  Conversation c("10.0.0.2", 50000, "192.0.2.7", 25);
  CleartextPart(c, source);
  source.Add(c.Server(1'005'000, kReadyReply));
  Handshake(c, source, 1'005'500);
  source.Add(c.ClientWrote(1'006'000, kEhlo));
  source.Add(c.ClientRead(1'006'500, "250 mx.example\r\n"));
  source.Add(c.ClientWrote(1'007'000, "QUIT\r\n"));
  source.Add(c.ClientRead(1'007'500, "221 Bye\r\n"));

  Outcome out = RunPipeline(source);
  std::vector<std::string> expected = CleartextUpToStartTls();
  expected.insert(expected.end(),
                  {"smtp_request [tls] is_orig=T command='EHLO' arg='client.example'",
                   "smtp_reply [tls] is_orig=F code=250 cmd='EHLO' msg='mx.example' cont_resp=F",
                   "smtp_request [tls] is_orig=T command='QUIT' arg=''",
                   "smtp_reply [tls] is_orig=F code=221 cmd='QUIT' msg='Bye' cont_resp=F"});
  EXPECT_THAT(out.events, ElementsAreArray(expected));
}

// One local MTA relaying to another over loopback: both ends report the same bytes; the
// session sees them once.
TEST(PipelineTls, WhenBothEndsAreLocalTheBytesCountOnce) {
  FakeTlsSource source(/*captures_tls=*/true);
  Conversation c("127.0.0.1", 50001, "127.0.0.1", 25);
  CleartextPart(c, source);
  source.Add(c.Server(1'005'000, kReadyReply));
  source.Add(c.ClientWrote(1'006'000, kEhlo));
  source.Add(c.ServerRead(1'006'100, kEhlo));
  source.Add(c.ServerWrote(1'006'200, "250 mx.example\r\n"));
  source.Add(c.ClientRead(1'006'300, "250 mx.example\r\n"));

  Outcome out = RunPipeline(source);
  std::vector<std::string> expected = CleartextUpToStartTls();
  expected.insert(expected.end(),
                  {"smtp_request [tls] is_orig=T command='EHLO' arg='client.example'",
                   "smtp_reply [tls] is_orig=F code=250 cmd='EHLO' msg='mx.example' cont_resp=F"});
  EXPECT_THAT(out.events, ElementsAreArray(expected));
  EXPECT_EQ(out.Stat("tls_plaintext", "other_end_records"), 2u);
}

TEST(PipelineTls, ImplicitTlsPlaintextBeforeTheSynIsKeptUntilTheConnectionAppears) {
  FakeTlsSource source(/*captures_tls=*/true);
  Conversation c("10.0.0.1", 40002, "10.0.0.2", 465);
  c.process = ProcessInfo{4242, {}, 77};
  c.comm = "smtpd";
  // The socket's owner and the greeting come off their ring before the SYN off its own.
  source.Add(c.ServerOwner(999'000, 4242, "smtpd", 77));
  source.Add(c.ServerWrote(999'500, kGreeting));
  source.Add(c.Syn(1'000'000));
  source.Add(c.SynAck(1'000'100));
  source.Add(c.Ack(1'000'200));
  Handshake(c, source, 1'000'300);
  source.Add(c.ServerRead(1'001'000, kEhlo));
  MailInsideTls(c, source, 1'002'000);

  Outcome out = RunPipeline(source);
  const std::string proc = " [proc 4242 smtpd 77]";
  std::vector<std::string> expected = {
      "smtp_reply [tls]" + proc + " is_orig=F code=220 cmd='>' msg='mx.example ESMTP' cont_resp=F",
      "smtp_request [tls]" + proc + " is_orig=T command='EHLO' arg='client.example'",
  };
  for (std::string line : MailEvents()) {
    line.insert(line.find(" [tls]") + 6, proc);
    expected.push_back(line);
  }
  EXPECT_THAT(out.events, ElementsAreArray(expected));
  ASSERT_EQ(out.records.size(), 1u);  // no STARTTLS phase: the one transaction
  ExpectMailRecord(out.records[0]);
  ASSERT_TRUE(out.records[0].proc);
  EXPECT_EQ(out.records[0].proc->pid, 4242u);
  EXPECT_EQ(out.records[0].proc->name, "smtpd");
  EXPECT_EQ(out.records[0].proc->cgroup_id, 77u);
  EXPECT_EQ(out.Stat("tls_plaintext", "unmatched_records"), 0u);
}

TEST(PipelineTls, TruncatedRecordIsAContentGapOfThePlaintextStream) {
  FakeTlsSource source(/*captures_tls=*/true);
  Conversation c("10.0.0.1", 40003, "10.0.0.2", 465);
  source.Add(c.Syn(1'000'000));
  source.Add(c.SynAck(1'000'100));
  source.Add(c.Ack(1'000'200));
  source.Add(c.ServerWrote(1'001'000, kGreeting));
  source.Add(c.ServerRead(1'002'000, kEhlo));
  source.Add(c.ServerWrote(1'003'000, "250 mx.example\r\n"));
  // The client pipelined two commands; the kernel kept only the first.
  const std::string mail = "MAIL FROM:<alice@example.org>\r\n";
  const std::string rcpt = "RCPT TO:<bob@example.net>\r\n";
  source.Add(c.ServerRead(1'004'000, mail + rcpt, mail.size()));
  source.Add(c.ServerWrote(1'005'000, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"));

  Outcome out = RunPipeline(source);
  // Zeek's numbering: the client's plaintext stream starts at 1.
  const std::string gap = "seq = " + std::to_string(std::string(kEhlo).size() + mail.size() + 1) +
                          ", len = " + std::to_string(rcpt.size());
  EXPECT_THAT(out.events,
              ElementsAre("smtp_reply [tls] is_orig=F code=220 cmd='>' msg='mx.example ESMTP' "
                          "cont_resp=F",
                          "smtp_request [tls] is_orig=T command='EHLO' arg='client.example'",
                          "smtp_reply [tls] is_orig=F code=250 cmd='EHLO' msg='mx.example' "
                          "cont_resp=F",
                          "smtp_request [tls] is_orig=T command='MAIL' "
                          "arg='FROM:<alice@example.org>'",
                          "smtp_unexpected [tls] is_orig=T msg='content gap' detail='" + gap + "'",
                          // After a gap, Zeek's recovery: the next reply answers "(UNKNOWN)".
                          "smtp_request [tls] is_orig=T command='(UNKNOWN)' arg=''",
                          "smtp_reply [tls] is_orig=F code=250 cmd='(UNKNOWN)' msg='2.1.0 Ok' "
                          "cont_resp=F",
                          "smtp_reply [tls] is_orig=F code=250 cmd='(UNKNOWN)' msg='2.1.5 Ok' "
                          "cont_resp=F"));
  EXPECT_EQ(out.Stat("tls_plaintext", "truncated_bytes"), rcpt.size());
}

TEST(PipelineTls, WithoutTlsCaptureAnalysisStopsAtStartTlsAsZeeksDoes) {
  FakeTlsSource source(/*captures_tls=*/false);
  Conversation c("10.0.0.1", 40004, "10.0.0.2", 587);
  CleartextPart(c, source);
  source.Add(c.Server(1'005'000, kReadyReply));
  Handshake(c, source, 1'005'500);
  source.Add(c.ClientFin(1'100'000));
  source.Add(c.ServerFin(1'100'100));

  Outcome out = RunPipeline(source);
  EXPECT_THAT(out.events, ElementsAreArray(CleartextUpToStartTls()));  // no notice: replays
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_TRUE(out.records[0].tls);
  EXPECT_EQ(out.records[0].last_reply, "220 2.0.0 Ready to start TLS");
  EXPECT_EQ(out.Stat("tls_plaintext", "starttls_capture_off"), 1u);
}

TEST(PipelineTls, WithTlsCaptureButNoPlaintextTheConnectionSaysSo) {
  FakeTlsSource source(/*captures_tls=*/true);
  Conversation c("10.0.0.1", 40005, "10.0.0.2", 587);
  CleartextPart(c, source);
  source.Add(c.Server(1'005'000, kReadyReply));
  Handshake(c, source, 1'005'500);
  // Ciphertext goes on past the wait (5 s of packet time); no plaintext ever comes.
  source.Add(c.Client(7'000'000, "\x17\x03\x03\x00\x05hello"));

  Outcome out = RunPipeline(source);
  std::vector<std::string> expected = CleartextUpToStartTls();
  expected.push_back(
      "weird name='smtp_tls_plaintext_unavailable' addl='no_plaintext' source='TLS'");
  EXPECT_THAT(out.events, ElementsAreArray(expected));
  EXPECT_EQ(out.Stat("tls_plaintext", "starttls_no_plaintext"), 1u);
}

// A busy server (300 handshakes at once): the handshake's flights come seconds apart and its
// first plaintext more than the 5 s wait after the 220 reply. The connection was not quiet for
// the wait, so there is no notice: the plaintext was on its way, not unavailable.
TEST(PipelineTls, AHandshakeSlowerThanTheWaitGetsNoNotice) {
  FakeTlsSource source(/*captures_tls=*/true);
  Conversation c("10.0.0.1", 40006, "10.0.0.2", 25);
  CleartextPart(c, source);
  source.Add(c.Server(1'005'000, kReadyReply));
  Handshake(c, source, 3'000'000);
  source.Add(c.Client(6'000'000, "\x14\x03\x03\x00\x01\x01"));  // the client's last flight
  source.Add(c.ServerRead(6'500'000, kEhlo));
  MailInsideTls(c, source, 6'501'000);

  Outcome out = RunPipeline(source);
  std::vector<std::string> expected = CleartextUpToStartTls();
  expected.push_back("smtp_request [tls] is_orig=T command='EHLO' arg='client.example'");
  EXPECT_THAT(out.events, ElementsAreArray(Concat(expected, MailEvents())));
  EXPECT_EQ(out.Stat("tls_plaintext", "starttls_no_plaintext"), 0u);
}

TEST(PipelineTls, PlaintextOfAConnectionNeverSeenExpiresAsUnmatched) {
  FakeTlsSource source(/*captures_tls=*/true);
  Conversation lost("10.0.0.9", 40006, "10.0.0.2", 465);
  source.Add(lost.ServerWrote(1'000'000, kGreeting));
  // Another connection's packets move time on past the pending window.
  Conversation other("10.0.0.1", 40007, "10.0.0.2", 25);
  source.Add(other.Syn(5'000'000));

  Outcome out = RunPipeline(source);
  EXPECT_THAT(out.events, IsEmpty());
  EXPECT_EQ(out.Stat("tls_plaintext", "unmatched_records"), 1u);
  EXPECT_EQ(out.Stat("tls_plaintext", "unmatched_bytes"), std::string(kGreeting).size());
}

TEST(PipelineTls, HeldPlaintextBeyondItsBoundIsDroppedCountedAndReported) {
  FakeTlsSource source(/*captures_tls=*/true);
  Conversation c("10.0.0.1", 40008, "10.0.0.2", 587);
  CleartextPart(c, source);
  // More than a connection may hold (256 KiB) before the reply to STARTTLS is seen.
  const std::string big(200 << 10, 'x');
  source.Add(c.ServerRead(1'004'500, big));
  source.Add(c.ServerRead(1'004'600, big));
  source.Add(c.Server(1'005'000, kReadyReply));
  source.Add(c.ServerRead(1'006'000, kEhlo));

  Outcome out = RunPipeline(source);
  std::vector<std::string> expected = CleartextUpToStartTls();
  expected.push_back("weird name='smtp_tls_plaintext_unavailable' addl='buffer_full' source='TLS'");
  EXPECT_THAT(out.events, ElementsAreArray(expected));
  EXPECT_EQ(out.Stat("tls_plaintext", "held_full_bytes"), 2 * big.size() + 21u);
  EXPECT_EQ(out.Stat("tls_plaintext", "starttls_buffer_full"), 1u);
  EXPECT_EQ(out.Stat("tls_plaintext", "held_connection_bound_hits"), 1u);
}

}  // namespace
}  // namespace mailtap
