// smtp.log transaction logic. The sessions below are modelled on the Zeek test traces (their
// commands, replies and headers as tshark shows them, turned into the events the analyzer raises
// per the spec); expected field values are copied from Zeek's smtp.log / weird.log baselines.
#include "smtp/transaction.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mailtap {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class RecordCollector : public RecordSink {
 public:
  void OnRecord(const SmtpRecord& record) override { records.push_back(record); }
  std::vector<SmtpRecord> records;
};

class EventCollector : public EventSink {
 public:
  void OnEvent(const Event& event) override { events.push_back(event); }
  std::vector<Event> events;
};

IpAddress Ip(const std::string& text) {
  IpAddress a;
  EXPECT_TRUE(IpAddress::Parse(text, &a)) << text;
  return a;
}

// Drives one connection through a SmtpTransactionLog, one event per call, 1 ms apart.
class Session {
 public:
  Session(SmtpTransactionLog& log, std::string orig_h, uint16_t orig_p, std::string resp_h,
          uint16_t resp_p)
      : log_(log) {
    conn_.uid = "CTest" + std::to_string(orig_p);
    conn_.id = ConnId{Ip(orig_h), orig_p, Ip(resp_h), resp_p};
  }

  void Req(std::string command, std::string arg) {
    Emit(ev::smtp_request::Make(
        {}, nullptr, {.is_orig = true, .command = std::move(command), .arg = std::move(arg)}));
  }
  void Reply(int64_t code, std::string cmd, std::string msg, bool cont = false) {
    Emit(ev::smtp_reply::Make({}, nullptr,
                              {.is_orig = false,
                               .code = code,
                               .cmd = std::move(cmd),
                               .msg = std::move(msg),
                               .cont_resp = cont}));
  }
  void BeginEntity() { Emit(ev::mime_begin_entity::Make({}, nullptr)); }
  void Header(const std::string& name, std::string value) {
    std::string upper = name;
    for (char& c : upper) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    Emit(ev::mime_one_header::Make(
        {}, nullptr, {.h_original_name = name, .h_name = upper, .h_value = std::move(value)}));
  }
  void StartTls() { Emit(ev::smtp_starttls::Make({}, nullptr)); }
  void End() { log_.OnConnectionRemoved(conn_, Now()); }

  Timestamp Now() const { return Timestamp{1000000 * 1000 + step_ * 1000}; }
  const Connection& conn() const { return conn_; }

 private:
  // Sends `event` as raised now on this connection.
  void Emit(Event event) {
    ++step_;
    event.ts = Now();
    event.conn = &conn_;
    log_.OnEvent(event);
  }

  SmtpTransactionLog& log_;
  Connection conn_;
  int64_t step_ = 0;
};

class TransactionTest : public ::testing::Test {
 protected:
  SmtpTransactionLog& Log(SmtpLogConfig config = {}) {
    log_ = std::make_unique<SmtpTransactionLog>(config, weirds_, records_);
    return *log_;
  }
  std::vector<std::string> WeirdNames() const {
    std::vector<std::string> names;
    for (const Event& e : weirds_.events) names.push_back(Get(e, ev::weird::name));
    return names;
  }
  const std::vector<SmtpRecord>& records() const { return records_.records; }

  EventCollector weirds_;
  RecordCollector records_;
  std::unique_ptr<SmtpTransactionLog> log_;
};

// The state lives on the Connection (as Zeek's c$smtp): a connection that outlives its log and is
// seen by another must start afresh there, not reach into the first log's freed state.
TEST_F(TransactionTest, StateLeftOnAConnectionByAnEarlierLogIsNotUsedByTheNext) {
  SmtpTransactionLog& first = Log();
  Session s(first, "10.0.0.1", 40000, "10.0.0.2", 25);
  s.Req("HELO", "first");
  s.Req("MAIL", "FROM: <a@example.com>");
  EXPECT_EQ(first.TrackedConnections(), 1u);

  SmtpTransactionLog second(SmtpLogConfig{}, weirds_, records_);
  log_.reset();  // the first log goes without a removal notice for the connection
  second.OnEvent(ev::smtp_request::Make(
      s.Now(), &s.conn(), {.is_orig = true, .command = "RCPT", .arg = "TO: <b@example.com>"}));
  EXPECT_EQ(second.TrackedConnections(), 1u);
  second.OnConnectionRemoved(s.conn(), s.Now());
  ASSERT_EQ(records().size(), 1u);
  EXPECT_FALSE(records()[0].helo.has_value());  // not "first": that was the other log's session
  EXPECT_FALSE(records()[0].mailfrom.has_value());
  ASSERT_TRUE(records()[0].rcptto.has_value());
  EXPECT_EQ(*records()[0].rcptto, std::vector<std::string>{"b@example.com"});
  EXPECT_EQ(second.TrackedConnections(), 0u);
}

// At the close (both streams ended), state with nothing left to write goes at once; a pending
// transaction with client activity stays until the removal writes it, as Zeek's finalize_smtp.
TEST_F(TransactionTest, FinishedConnectionKeepsStateOnlyForAPendingRecord) {
  SmtpTransactionLog& log = Log();
  Session done(log, "10.0.0.1", 40001, "10.0.0.2", 25);
  done.Reply(220, ">", "hi");
  done.Req("QUIT", "");
  Session pending(log, "10.0.0.1", 40002, "10.0.0.2", 25);
  pending.Reply(220, ">", "hi");
  pending.Req("MAIL", "FROM: <a@example.com>");
  EXPECT_EQ(log.TrackedConnections(), 2u);

  log.OnConnectionFinished(done.conn());
  log.OnConnectionFinished(pending.conn());
  EXPECT_EQ(log.TrackedConnections(), 1u);
  EXPECT_TRUE(records().empty());
  done.End();
  pending.End();
  ASSERT_EQ(records().size(), 1u);
  EXPECT_EQ(records()[0].uid, "CTest40002");
  EXPECT_EQ(records()[0].mailfrom, "a@example.com");
  EXPECT_EQ(log.TrackedConnections(), 0u);
}

// smtp.pcap, first connection (scripts.base.protocols.smtp.basic, record 1).
void PlayAuthSession(Session& s) {
  s.Reply(220, ">", "xc90.websitewelcome.com ESMTP Exim 4.69 #1 Mon, 05 Oct 2009 01:05:54 -0500 ",
          true);
  s.Reply(220, ">", "We do not authorize the use of this system to transport unsolicited, ", true);
  s.Reply(220, ">", "and/or bulk e-mail.");
  s.Req("EHLO", "GP");
  s.Reply(250, "EHLO", "xc90.websitewelcome.com Hello GP [122.162.143.157]", true);
  s.Reply(250, "EHLO", "HELP");
  s.Req("AUTH", "LOGIN");
  s.Reply(334, "AUTH", "VXNlcm5hbWU6");
  s.Req("**", "Z3VycGFydGFwQHBhdHJpb3RzLmlu");
  s.Reply(334, "AUTH_ANSWER", "UGFzc3dvcmQ6");
  s.Req("**", "cHVuamFiQDEyMw==");
  s.Reply(235, "AUTH_ANSWER", "Authentication succeeded");
  s.Req("MAIL", "FROM: <gurpartap@patriots.in>");
  s.Reply(250, "MAIL", "OK");
  s.Req("RCPT", "TO: <raj_deol2002in@yahoo.co.in>");
  s.Reply(250, "RCPT", "Accepted");
  s.Req("DATA", "");
  s.BeginEntity();
  s.Header("From", "\"Gurpartap Singh\" <gurpartap@patriots.in>");
  s.Header("To", "<raj_deol2002in@yahoo.co.in>");
  s.Header("Subject", "SMTP");
  s.Header("Date", "Mon, 5 Oct 2009 11:36:07 +0530");
  s.Header("Message-ID", "<000301ca4581$ef9e57f0$cedb07d0$@in>");
  s.Header("MIME-Version", "1.0");
  s.Header("X-Mailer", "Microsoft Office Outlook 12.0");
  s.Header("Content-Language", "en-us");
  s.Reply(354, "DATA", "Enter message, ending with \".\" on a line by itself");
  s.Req(".", ".");
  s.Reply(250, ".", "OK id=1Mugho-0003Dg-Un");
  s.Req("QUIT", "");
  s.Reply(221, "QUIT", "xc90.websitewelcome.com closing connection");
  s.End();
}

TEST_F(TransactionTest, AuthenticatedSessionGivesZeeksBasicRecord) {
  Session s(Log(), "10.10.1.4", 1470, "74.53.140.153", 25);
  PlayAuthSession(s);
  ASSERT_EQ(records().size(), 1u);
  const SmtpRecord& r = records()[0];
  EXPECT_EQ(r.uid, s.conn().uid);
  EXPECT_EQ(r.id.orig_p, 1470);
  EXPECT_EQ(r.trans_depth, 1u);
  EXPECT_EQ(r.helo, "GP");
  EXPECT_EQ(r.mailfrom, "gurpartap@patriots.in");
  EXPECT_THAT(*r.rcptto, ElementsAre("raj_deol2002in@yahoo.co.in"));
  EXPECT_EQ(r.date, "Mon, 5 Oct 2009 11:36:07 +0530");
  EXPECT_EQ(r.from, "\"Gurpartap Singh\" <gurpartap@patriots.in>");
  EXPECT_THAT(*r.to, ElementsAre("<raj_deol2002in@yahoo.co.in>"));
  EXPECT_FALSE(r.cc);
  EXPECT_FALSE(r.reply_to);
  EXPECT_EQ(r.msg_id, "<000301ca4581$ef9e57f0$cedb07d0$@in>");
  EXPECT_FALSE(r.in_reply_to);
  EXPECT_EQ(r.subject, "SMTP");
  EXPECT_FALSE(r.x_originating_ip);
  EXPECT_FALSE(r.first_received);
  EXPECT_FALSE(r.second_received);
  EXPECT_EQ(r.last_reply, "250 OK id=1Mugho-0003Dg-Un");
  EXPECT_THAT(*r.path, ElementsAre(Ip("74.53.140.153"), Ip("10.10.1.4")));
  EXPECT_EQ(r.user_agent, "Microsoft Office Outlook 12.0");
  EXPECT_FALSE(r.tls);
  EXPECT_THAT(WeirdNames(), IsEmpty());
  EXPECT_EQ(log_->TrackedConnections(), 0u);
}

TEST_F(TransactionTest, RecordTimeIsTheFirstSmtpEventOfTheTransaction) {
  Session s(Log(), "10.10.1.4", 1470, "74.53.140.153", 25);
  s.Reply(220, ">", "hi");
  const Timestamp greeting = s.Now();
  s.Req("MAIL", "FROM:<a@b.c>");
  s.End();
  ASSERT_EQ(records().size(), 1u);
  EXPECT_EQ(records()[0].ts, greeting);
}

// smtp.pcap, second connection (basic, record 2): three RCPTs, a folded Cc, no QUIT.
TEST_F(TransactionTest, CcSessionCollectsRecipientsAndSplitsFoldedCc) {
  Session s(Log(), "192.168.133.100", 49648, "192.168.133.102", 25);
  s.Reply(220, ">", "uprise ESMTP SubEthaSMTP null");
  s.Req("EHLO", "[192.168.133.100]");
  s.Reply(250, "EHLO", "Ok");
  s.Req("MAIL", "FROM:<albert@example.com>");
  s.Reply(250, "MAIL", "Ok");
  for (const char* rcpt :
       {"ericlim220@yahoo.com", "felica4uu@hotmail.com", "davis_mark1@outlook.com"}) {
    s.Req("RCPT", std::string("TO:<") + rcpt + ">");
    s.Reply(250, "RCPT", "Ok");
  }
  s.Req("DATA", "");
  s.Reply(354, "DATA", "End data with <CR><LF>.<CR><LF>");
  s.BeginEntity();
  s.Header("Subject", "Re: Bro SMTP CC Header");
  s.Header("From", "Albert Zaharovits <albert@example.com>");
  s.Header("In-Reply-To", "<9ACEE03C-AB98-4046-AEC1-BF4910C61E96@example.com>");
  s.Header("Date", "Sat, 25 Jul 2015 16:43:07 +0300");
  s.Header("Cc", "felica4uu@hotmail.com, davis_mark1@outlook.com");  // folded: CRLF dropped
  s.Header("Message-Id", "<A6202DF2-8E58-4E41-BE0B-C8D3989A4AEE@example.com>");
  s.Header("To", "ericlim220@yahoo.com");
  s.Header("X-Mailer", "Apple Mail (2.2102)");
  s.Req(".", ".");
  s.Reply(250, ".", "Ok");
  ASSERT_EQ(records().size(), 1u);  // written at the reply to ".", not at connection end
  const SmtpRecord& r = records()[0];
  EXPECT_EQ(r.helo, "[192.168.133.100]");
  EXPECT_EQ(r.mailfrom, "albert@example.com");
  EXPECT_THAT(*r.rcptto, UnorderedElementsAre("felica4uu@hotmail.com", "ericlim220@yahoo.com",
                                              "davis_mark1@outlook.com"));
  EXPECT_THAT(*r.to, ElementsAre("ericlim220@yahoo.com"));
  EXPECT_THAT(*r.cc, UnorderedElementsAre("felica4uu@hotmail.com", "davis_mark1@outlook.com"));
  EXPECT_EQ(r.msg_id, "<A6202DF2-8E58-4E41-BE0B-C8D3989A4AEE@example.com>");
  EXPECT_EQ(r.in_reply_to, "<9ACEE03C-AB98-4046-AEC1-BF4910C61E96@example.com>");
  EXPECT_EQ(r.subject, "Re: Bro SMTP CC Header");
  EXPECT_EQ(r.last_reply, "250 Ok");
  EXPECT_EQ(r.user_agent, "Apple Mail (2.2102)");
  s.End();
  EXPECT_EQ(records().size(), 1u);  // the fresh record after "." has no client activity
}

TEST_F(TransactionTest, SessionWithoutClientActivityIsNotLogged) {
  Session s(Log(), "10.0.0.1", 1000, "10.0.0.2", 25);
  s.Reply(220, ">", "hello");
  s.Req("EHLO", "x");
  s.Reply(250, "EHLO", "ok");
  s.Req("QUIT", "");
  s.Reply(221, "QUIT", "bye");
  s.End();
  EXPECT_THAT(records(), IsEmpty());
}

// smtp-mail-transactions-invalid.pcap (Exim; EHLO before the greeting).
void PlayInvalidTransactions(Session& s, bool stop_after_third_invalid_data) {
  s.Req("EHLO", "Bob-PC");
  s.Reply(220, ">", "tinkyx390 ESMTP Exim 4.94.2 Mon, 27 Mar 2023 17:17:37 +0200");
  s.Reply(250, "EHLO", "tinkyx390 Hello localhost [127.0.0.1]", true);
  s.Reply(250, "EHLO", "HELP");
  s.Req("MAIL", "FROM:<bob@example.org>");
  s.Reply(250, "MAIL", "OK");
  s.Req("RCPT", "TO:<alice@example.org>");
  s.Reply(250, "RCPT", "Accepted");
  s.Req("DATA", "");
  s.Reply(354, "DATA", "Enter message, ending with \".\" on a line by itself");
  s.Req(".", ".");
  s.Reply(250, ".", "OK id=1pgobK-001mwq-ED");
  s.Req("RCPT", "TO:<alice@example.org>");  // no MAIL FROM in this transaction
  s.Reply(503, "RCPT", "sender not yet given");
  s.Req("DATA", "");
  s.Reply(503, "DATA", "All RCPT commands were rejected with this error:", true);
  s.Reply(503, "DATA", "503 sender not yet given", true);
  s.Reply(503, "DATA", "valid RCPT command must precede DATA");
  // "Hello, Alice (2)" and "." are unknown commands now: no smtp_request.
  s.Reply(500, "(UNKNOWN)", "unrecognized command");
  s.Reply(500, "(UNKNOWN)", "unrecognized command");
  s.Req("MAIL", "FROM:<bob@example.org>");
  s.Reply(250, "MAIL", "OK");
  for (int i = 0; i < 2; ++i) {
    s.Req("DATA", "");
    s.Reply(503, "DATA", "valid RCPT command must precede DATA");
    s.Reply(500, "(UNKNOWN)", "unrecognized command");
    s.Reply(500, "(UNKNOWN)", "unrecognized command");
  }
  if (stop_after_third_invalid_data) return s.End();
  s.Req("MAIL", "FROM:<bob@example.org>");
  s.Reply(503, "MAIL", "sender already given");
  s.Req("RCPT", "TO:<alice@example.org>");
  s.Reply(250, "RCPT", "Accepted");
  s.Req("DATA", "");
  s.Reply(354, "DATA", "Enter message, ending with \".\" on a line by itself");
  s.Req(".", ".");
  s.Reply(250, ".", "OK id=1pgobM-001mwq-Vc");
  s.Req("QUIT", "");
  s.Reply(221, "QUIT", "tinkyx390 closing connection");
  s.End();
}

TEST_F(TransactionTest, MailFromFlushesWithoutIncrementingTransDepth) {
  Session s(Log(), "127.0.0.1", 44478, "127.0.0.1", 25);
  PlayInvalidTransactions(s, false);
  ASSERT_EQ(records().size(), 4u);
  std::vector<uint64_t> depths;
  for (const SmtpRecord& r : records()) depths.push_back(r.trans_depth);
  EXPECT_THAT(depths, ElementsAre(1, 2, 2, 2));
  EXPECT_EQ(records()[0].mailfrom, "bob@example.org");
  EXPECT_THAT(*records()[0].rcptto, ElementsAre("alice@example.org"));
  EXPECT_EQ(records()[0].last_reply, "250 OK id=1pgobK-001mwq-ED");
  EXPECT_FALSE(records()[1].mailfrom);
  EXPECT_THAT(*records()[1].rcptto, ElementsAre("alice@example.org"));
  EXPECT_EQ(records()[1].last_reply, "500 unrecognized command");
  EXPECT_EQ(records()[2].mailfrom, "bob@example.org");
  EXPECT_FALSE(records()[2].rcptto);
  EXPECT_EQ(records()[2].last_reply, "500 unrecognized command");
  EXPECT_EQ(records()[3].mailfrom, "bob@example.org");
  EXPECT_THAT(*records()[3].rcptto, ElementsAre("alice@example.org"));
  EXPECT_EQ(records()[3].last_reply, "250 OK id=1pgobM-001mwq-Vc");
  for (const SmtpRecord& r : records()) EXPECT_EQ(r.helo, "Bob-PC");
}

TEST_F(TransactionTest, InvalidTransactionsRaiseWeirdWithZeeksAddl) {
  Session s(Log(), "127.0.0.1", 44478, "127.0.0.1", 25);
  PlayInvalidTransactions(s, false);
  std::vector<std::string> addl;
  for (const Event& e : weirds_.events) {
    EXPECT_EQ(Get(e, ev::weird::name), "smtp_mail_transaction_invalid");
    EXPECT_EQ(Get(e, ev::weird::source), "SMTP");
    EXPECT_EQ(e.conn, &s.conn());
    addl.push_back(Get(e, ev::weird::addl));
  }
  EXPECT_THAT(addl, ElementsAre("rcpt to missing mail from", "data missing rcpt to",
                                "data missing rcpt to"));
  EXPECT_FALSE(s.conn().analyzer_requests.disable);
}

// scripts.base.protocols.smtp.mail-transactions-invalid-disable-analyzer.
TEST_F(TransactionTest, TooManyInvalidTransactionsDisableTheAnalyzerOnce) {
  SmtpLogConfig config;
  config.max_invalid_mail_transactions = 2;
  Session s(Log(config), "127.0.0.1", 44478, "127.0.0.1", 25);
  PlayInvalidTransactions(s, true);
  EXPECT_THAT(
      WeirdNames(),
      ElementsAre("smtp_mail_transaction_invalid", "smtp_mail_transaction_invalid",
                  "smtp_mail_transaction_invalid", "smtp_excessive_invalid_mail_transactions"));
  EXPECT_EQ(Get(weirds_.events[3], ev::weird::addl), "3 > 2");
  EXPECT_EQ(Get(weirds_.events[3], ev::weird::source), "SMTP");
  EXPECT_TRUE(s.conn().analyzer_requests.disable);  // the analyzer is asked to stop
  // The pending third record is still written when the connection goes away.
  ASSERT_EQ(records().size(), 3u);
  EXPECT_EQ(records()[2].trans_depth, 2u);
  EXPECT_EQ(records()[2].mailfrom, "bob@example.org");
  EXPECT_EQ(records()[2].last_reply, "500 unrecognized command");
}

TEST_F(TransactionTest, ValidationCanBeSwitchedOff) {
  SmtpLogConfig config;
  config.mail_transaction_validation = false;
  Session s(Log(config), "127.0.0.1", 44478, "127.0.0.1", 25);
  PlayInvalidTransactions(s, false);
  EXPECT_THAT(WeirdNames(), IsEmpty());
  EXPECT_EQ(records().size(), 4u);
}

// smtp-one-side-only.pcap: the server side is missing, so "." is never answered.
TEST_F(TransactionTest, ClientOnlyCaptureLogsEachMailWithTransDepthOne) {
  Session s(Log(), "192.150.187.22", 57722, "192.150.186.11", 25);
  s.Req("EHLO", "enzo.icir.org");
  s.Req("MAIL", "FROM:<robin@icir.org> size=9030");
  s.Req("RCPT", "TO:<robin@icir.org>");
  s.Req("DATA", "");
  s.BeginEntity();
  s.Header("From", "robin@icir.org");
  s.Header("To", "robin@icir.org");
  s.Header("Subject", "Hello1!");
  s.Req(".", ".");
  s.Req("MAIL", "FROM:<robin@icir.org> size=9030");
  s.Req("RCPT", "TO:<rsommer@lbl.gov>");
  s.Req("DATA", "");
  s.BeginEntity();
  s.Header("From", "robin@icir.org");
  s.Header("To", "rsommer@lbl.gov");
  s.Header("Subject", "Hello2!");
  s.Req(".", ".");
  s.Req("QUIT", "");
  s.End();
  ASSERT_EQ(records().size(), 2u);
  for (const SmtpRecord& r : records()) {
    EXPECT_EQ(r.trans_depth, 1u);
    EXPECT_EQ(r.helo, "enzo.icir.org");
    EXPECT_EQ(r.mailfrom, "robin@icir.org");
    EXPECT_FALSE(r.last_reply);
  }
  EXPECT_THAT(*records()[0].rcptto, ElementsAre("robin@icir.org"));
  EXPECT_EQ(records()[0].subject, "Hello1!");
  EXPECT_THAT(*records()[1].rcptto, ElementsAre("rsommer@lbl.gov"));
  EXPECT_THAT(*records()[1].to, ElementsAre("rsommer@lbl.gov"));
  EXPECT_EQ(records()[1].subject, "Hello2!");
  EXPECT_THAT(WeirdNames(), IsEmpty());
}

// tls/smtp-starttls.pcap.
TEST_F(TransactionTest, StartTlsCountsAsClientActivity) {
  Session s(Log(), "192.168.4.149", 54170, "74.125.142.26", 25);
  s.Reply(220, ">", "mx.google.com ESMTP");
  s.Req("EHLO", "openssl.client.net");
  s.Reply(250, "EHLO", "STARTTLS", true);
  s.Reply(250, "EHLO", "PIPELINING");
  s.Req("STARTTLS", "");
  s.StartTls();  // raised before the smtp_reply of the 220
  s.Reply(220, "STARTTLS", "2.0.0 Ready to start TLS");
  s.End();
  ASSERT_EQ(records().size(), 1u);
  const SmtpRecord& r = records()[0];
  EXPECT_EQ(r.helo, "openssl.client.net");
  EXPECT_FALSE(r.mailfrom);
  EXPECT_FALSE(r.rcptto);
  EXPECT_EQ(r.last_reply, "220 2.0.0 Ready to start TLS");
  EXPECT_TRUE(r.tls);
}

TEST_F(TransactionTest, StartTlsBeforeAnySmtpEventIsIgnored) {
  Session s(Log(), "192.168.4.149", 54170, "74.125.142.26", 25);
  s.StartTls();
  s.Header("Subject", "x");
  s.End();
  EXPECT_THAT(records(), IsEmpty());
  EXPECT_EQ(log_->TrackedConnections(), 0u);
}

void PlayBdatMail(Session& s, const std::string& bdat_arg) {
  s.Reply(220, ">", "localhost ESMTP Postfix");
  s.Req("EHLO", "localhost");
  s.Reply(250, "EHLO", "CHUNKING");
  s.Req("MAIL", "FROM:<zeek@localhost>");
  s.Reply(250, "MAIL", "2.1.0 Ok");
  s.Req("RCPT", "TO:<root@localhost>");
  s.Reply(250, "RCPT", "2.1.5 Ok");
  s.Req("BDAT", bdat_arg);
  s.BeginEntity();
  s.Header("From", "Sam@random.com");
  s.Header("To", "Susan@random.com");
  s.Header("Subject", "This is a bodyless test message");
  s.Reply(250, "BDAT", "2.0.0 Ok: 86 bytes queued as 1E2891CA025");
}

// smtp/rfc3030-bdat-example1.pcap (scripts.base.protocols.smtp.bdat).
TEST_F(TransactionTest, ReplyToBdatLastWritesTheRecord) {
  Session s(Log(), "127.0.0.1", 52210, "127.0.0.1", 25);
  PlayBdatMail(s, "86 LAST");
  ASSERT_EQ(records().size(), 1u);
  const SmtpRecord& r = records()[0];
  EXPECT_EQ(r.trans_depth, 1u);
  EXPECT_EQ(r.mailfrom, "zeek@localhost");
  EXPECT_THAT(*r.rcptto, ElementsAre("root@localhost"));
  EXPECT_EQ(r.from, "Sam@random.com");
  EXPECT_THAT(*r.to, ElementsAre("Susan@random.com"));
  EXPECT_EQ(r.subject, "This is a bodyless test message");
  EXPECT_EQ(r.last_reply, "250 2.0.0 Ok: 86 bytes queued as 1E2891CA025");
  EXPECT_THAT(WeirdNames(), IsEmpty());
  s.Req("MAIL", "FROM:<zeek@localhost>");
  s.End();
  ASSERT_EQ(records().size(), 2u);
  EXPECT_EQ(records()[1].trans_depth, 2u);
}

TEST_F(TransactionTest, LowerCaseBdatLastIsNotAWritePoint) {
  Session s(Log(), "127.0.0.1", 52210, "127.0.0.1", 25);
  PlayBdatMail(s, "86 last");
  EXPECT_THAT(records(), IsEmpty());
  s.Req("MAIL", "FROM:<zeek@localhost>");  // logged late, trans_depth not incremented
  ASSERT_EQ(records().size(), 1u);
  EXPECT_EQ(records()[0].subject, "This is a bodyless test message");
  s.Req("RCPT", "TO:<root@localhost>");
  s.End();
  ASSERT_EQ(records().size(), 2u);
  EXPECT_EQ(records()[1].trans_depth, 1u);
}

TEST_F(TransactionTest, IntermediateBdatRepliesDoNotWrite) {
  Session s(Log(), "127.0.0.1", 38718, "127.0.0.1", 25);
  PlayBdatMail(s, "129");
  EXPECT_THAT(records(), IsEmpty());
  s.Req("BDAT", "106 LAST");
  s.Reply(250, "BDAT", "2.0.0 Ok: 3462 bytes queued as E4F471CA025");
  ASSERT_EQ(records().size(), 1u);
  EXPECT_EQ(records()[0].last_reply, "250 2.0.0 Ok: 3462 bytes queued as E4F471CA025");
}

// smtp/smtp-bdat-cmd-invalid.pcapng: the script does not care that the analyzer rejected it.
TEST_F(TransactionTest, InvalidBdatWithLastStillEndsTheTransaction) {
  Session s(Log(), "127.0.0.1", 41610, "127.0.0.1", 25);
  PlayBdatMail(s, "15555555557777777777 LAST");
  ASSERT_EQ(records().size(), 1u);
}

TEST_F(TransactionTest, EveryLineOfAMultiLineReplyToDotCountsAsAMessage) {
  Session s(Log(), "10.0.0.1", 1000, "10.0.0.2", 25);
  s.Reply(220, ">", "hi");
  s.Req("MAIL", "FROM:<a@b.c>");
  s.Req("RCPT", "TO:<d@e.f>");
  s.Req("DATA", "");
  s.Req(".", ".");
  s.Reply(250, ".", "first", true);
  s.Reply(250, ".", "second");
  ASSERT_EQ(records().size(), 1u);
  EXPECT_EQ(records()[0].last_reply, "250 first");
  s.Req("MAIL", "FROM:<a@b.c>");
  s.End();
  ASSERT_EQ(records().size(), 2u);
  EXPECT_EQ(records()[1].trans_depth, 3u);
}

TEST_F(TransactionTest, MailFromWithoutActivityKeepsTheEarlierRecord) {
  Session s(Log(), "10.0.0.1", 1000, "10.0.0.2", 25);
  s.Reply(220, ">", "greeting");
  const Timestamp created = s.Now();
  s.Req("MAIL", "FROM :<not@matched.x>");  // no "from:" prefix: ignored entirely
  s.Req("MAIL", "from:<x@y.z>");
  s.End();
  ASSERT_EQ(records().size(), 1u);
  EXPECT_EQ(records()[0].ts, created);
  EXPECT_EQ(records()[0].mailfrom, "x@y.z");
  EXPECT_EQ(records()[0].last_reply, "220 greeting");
}

TEST_F(TransactionTest, RcptWithoutAddressCreatesAnEmptySet) {
  Session s(Log(), "10.0.0.1", 1000, "10.0.0.2", 25);
  s.Req("MAIL", "FROM:<>");
  s.Req("RCPT", "TO:<postmaster>");
  s.End();
  ASSERT_EQ(records().size(), 1u);
  EXPECT_FALSE(records()[0].mailfrom);
  ASSERT_TRUE(records()[0].rcptto);
  EXPECT_THAT(*records()[0].rcptto, IsEmpty());
}

TEST_F(TransactionTest, OrcptPrefixIsRemovedFromRecipients) {
  Session s(Log(), "10.0.0.1", 1000, "10.0.0.2", 25);
  s.Req("MAIL", "FROM:<a@b.c>");
  s.Req("RCPT", "TO:<a@b.c> ORCPT=rfc822;x@y.z");
  s.End();
  ASSERT_EQ(records().size(), 1u);
  EXPECT_THAT(*records()[0].rcptto, ElementsAre("a@b.c", "x@y.z"));
}

// smtp/smtp-bdat-pipeline-8bitmime.pcap, first mail (bdat-pipeline-8bitmime smtp.log record 1).
TEST_F(TransactionTest, ReceivedHeadersGiveFirstSecondReceivedAndPath) {
  Session s(Log(), "23.128.96.18", 56074, "217.146.107.83", 25);
  s.Req("MAIL", "FROM:<linux-kernel-owner@vger.kernel.org> BODY=8BITMIME SIZE=4404");
  s.Req("RCPT", "TO:<trafficwatcher@foundit.scootmail.com>");
  s.Req("BDAT", "4404 LAST");
  s.BeginEntity();
  s.Header("Received",
           "(majordomo@vger.kernel.org) by vger.kernel.org via listexpand        id "
           "S237790AbhCDJkQ (ORCPT        <rfc822;trafficwatcher@foundit.scootmail.com>);        "
           "Thu, 4 Mar 2021 04:40:16 -0500");
  s.Header("Received",
           "from lindbergh.monkeyblade.net ([23.128.96.19]:56766 \"EHLO        "
           "lindbergh.monkeyblade.net\" rhost-flags-OK-OK-OK-OK) by vger.kernel.org        with "
           "ESMTP id S237779AbhCDJjx (ORCPT        <rfc822;linux-kernel@vger.kernel.org>);        "
           "Thu, 4 Mar 2021 04:39:36 -0500");
  const std::string third =
      "from mail-pf1-x42f.google.com (mail-pf1-x42f.google.com [IPv6:2607:f8b0:4864:20::42f])"
      "        by lindbergh.monkeyblade.net (Postfix) with ESMTPS id A02A7C061574        for "
      "<linux-kernel@vger.kernel.org>; Thu,  4 Mar 2021 01:39:13 -0800 (PST)";
  const std::string fourth =
      "by mail-pf1-x42f.google.com with SMTP id y67so641134pfb.2        for "
      "<linux-kernel@vger.kernel.org>; Thu, 04 Mar 2021 01:39:13 -0800 (PST)";
  s.Header("Received", third);
  s.Header("Received", fourth);
  s.Reply(250, "MAIL", "OK");
  s.Reply(250, "RCPT", "Accepted");
  s.Reply(250, "BDAT", "OK id=1lHkUh-008hPw-NY");
  ASSERT_EQ(records().size(), 1u);
  const SmtpRecord& r = records()[0];
  EXPECT_EQ(r.first_received, fourth);
  EXPECT_EQ(r.second_received, third);
  EXPECT_THAT(*r.path, ElementsAre(Ip("217.146.107.83"), Ip("23.128.96.18"), Ip("23.128.96.19")));
  EXPECT_EQ(r.mailfrom, "linux-kernel-owner@vger.kernel.org");
}

// http/connect-with-smtp.pcap: "Return-Path" merely contains "Received:".
TEST_F(TransactionTest, OnlyReceivedHeadersExtendThePath) {
  Session s(Log(), "79.26.245.236", 3378, "254.228.86.79", 8240);
  s.Req("MAIL", "FROM:<nhfjenna_neumann@lycos.com>");
  s.Req("DATA", "");
  s.BeginEntity();
  s.Header("Return-Path",
           "Received: from nfinity.nfinity.com (nfinity.nfinity.com [206.101.78.1]) by "
           "chronos.cardina.net with smtp; Mrz, 02 2004 13:50:44 -0700");
  s.Header("Received",
           "from mail.iosphere.net (mail.iosphere.net [216.58.97.33]) by mail.netsync.net with "
           "esmtp; Mrz, 02 2004 12:55:34 -0700");
  s.End();
  ASSERT_EQ(records().size(), 1u);
  EXPECT_THAT(*records()[0].path,
              ElementsAre(Ip("254.228.86.79"), Ip("79.26.245.236"), Ip("216.58.97.33")));
  EXPECT_FALSE(records()[0].second_received);
}

TEST_F(TransactionTest, PathSkipsARepeatOfTheLastHop) {
  Session s(Log(), "10.0.0.1", 1000, "10.0.0.2", 25);
  s.Req("MAIL", "FROM:<a@b.c>");
  s.Header("Received", "from x ([10.0.0.1]) by y");
  s.Header("Received", "from x ([192.0.2.7]) by y");
  s.Header("Received", "from x ([192.0.2.7]) by y");
  s.End();
  EXPECT_THAT(*records()[0].path, ElementsAre(Ip("10.0.0.2"), Ip("10.0.0.1"), Ip("192.0.2.7")));
}

TEST_F(TransactionTest, XOriginatingIpAndUserAgentHeaders) {
  Session s(Log(), "10.0.0.1", 1000, "10.0.0.2", 25);
  s.Req("MAIL", "FROM:<a@b.c>");
  s.Header("X-Originating-IP", "[198.51.100.23]");
  s.Header("User-Agent", "Mutt/2.0");
  s.Header("X-User-Agent", "Later wins");
  s.Header("Reply-To", "r@s.t");
  s.End();
  const SmtpRecord& r = records()[0];
  EXPECT_EQ(r.x_originating_ip, Ip("198.51.100.23"));
  EXPECT_EQ(r.user_agent, "Later wins");
  EXPECT_EQ(r.reply_to, "r@s.t");
}

TEST_F(TransactionTest, HeadersOfASecondMessageInTheSameRecordAreIgnored) {
  Session s(Log(), "10.0.0.1", 1000, "10.0.0.2", 25);
  s.Req("MAIL", "FROM:<a@b.c>");
  s.Req("DATA", "");
  s.BeginEntity();
  s.Header("Subject", "first");
  s.Req(".", ".");
  s.Req("DATA", "");  // no MAIL FROM and no reply: still the same record
  s.BeginEntity();
  s.Header("Subject", "second");
  s.End();
  ASSERT_EQ(records().size(), 1u);
  EXPECT_EQ(records()[0].subject, "first");
}

// scripts.base.protocols.smtp.address-limits (limits lowered).
TEST_F(TransactionTest, AddressAndPathLimitsRaiseWeirdsWithoutSource) {
  SmtpLogConfig config;
  config.max_rcptto_addresses = 2;
  config.max_to_addresses = 2;
  config.max_cc_addresses = 1;
  config.max_path_length = 3;
  Session s(Log(config), "10.0.0.1", 60606, "10.0.0.2", 25);
  s.Req("MAIL", "FROM:<a@b.c>");
  for (int i = 0; i < 3; ++i) s.Req("RCPT", "TO:<r" + std::to_string(i) + "@x.y>");
  s.Req("DATA", "");
  s.BeginEntity();
  s.Header("Received", "from a ([192.0.2.1])");
  s.Header("Received", "from a ([192.0.2.2])");
  s.Header("To", "t1@x.y, t2@x.y, t3@x.y");
  s.Header("Cc", "c1@x.y, c2@x.y");
  s.End();
  EXPECT_THAT(WeirdNames(),
              ElementsAre("smtp_too_many_rcptto_addresses", "smtp_max_path_length_exceeded",
                          "smtp_too_many_to_addresses", "smtp_too_many_cc_addresses"));
  for (const Event& e : weirds_.events) {
    EXPECT_EQ(Get(e, ev::weird::addl), "");
    EXPECT_EQ(Get(e, ev::weird::source), "");
  }
  const SmtpRecord& r = records()[0];
  EXPECT_EQ(r.rcptto->size(), 2u);
  EXPECT_EQ(r.to->size(), 2u);
  EXPECT_EQ(r.cc->size(), 1u);
  EXPECT_EQ(r.path->size(), 3u);
}

// Issue 17: the pending record kept every address (up to 1000 of up to 16 MiB each) and every
// header value whole, though the writer prints 4096 bytes of a string and 100 set elements:
// 400 x 1 MiB RCPT held 423 MB. Now it keeps what the writer prints plus one (so the writer still
// says it cut), while the Zeek caps still count every distinct address.
TEST_F(TransactionTest, PendingRecordKeepsWhatTheWriterPrintsPlusOne) {
  SmtpLogConfig config;
  config.max_kept_string_bytes = 9;
  config.max_kept_set_elements = 3;
  config.max_rcptto_addresses = 6;
  Session s(Log(config), "10.0.0.1", 60607, "10.0.0.2", 25);
  s.Req("HELO", "a-very-long-helo-name");
  s.Req("MAIL", "FROM:<sender-with-a-long-name@b.c>");
  for (int i = 0; i < 5; ++i) s.Req("RCPT", "TO:<r" + std::to_string(i) + "-long-name@x.y>");
  // Already in the set, though not kept: no new distinct address.
  s.Req("RCPT", "TO:<r4-long-name@x.y>");
  s.Req("RCPT", "TO:<r5-long-name@x.y>");  // the 6th distinct: still under the cap
  s.Req("RCPT", "TO:<r6-long-name@x.y>");  // the 7th: over it
  s.Reply(250, "RCPT", std::string(100, 'k'));
  s.Req("DATA", "");
  s.BeginEntity();
  s.Header("Subject", std::string(1 << 20, 's'));
  s.Header("To", "t1@x.y, t2@x.y, t3@x.y, t4@x.y, t1@x.y");
  s.End();
  EXPECT_THAT(WeirdNames(), ElementsAre("smtp_too_many_rcptto_addresses"));
  const SmtpRecord& r = records()[0];
  EXPECT_EQ(r.helo, "a-very-lo");
  EXPECT_EQ(r.mailfrom, "sender-wi");
  EXPECT_THAT(*r.rcptto, ElementsAre("r0-long-n", "r1-long-n", "r2-long-n"));
  EXPECT_EQ(r.subject, std::string(9, 's'));
  EXPECT_EQ(r.last_reply, "250 kkkkk");
  EXPECT_THAT(*r.to, ElementsAre("t1@x.y", "t2@x.y", "t3@x.y"));
}

std::map<std::string, uint64_t> StatsOf(const SmtpTransactionLog& log) {
  std::map<std::string, uint64_t> out;
  for (const StatSample& s : CollectStats({&log})) out[s.name] = s.value;
  return out;
}

// All pending records together stay within their share of --memory-limit: past it, what arrives
// is cut and counted as lost (in bytes); a record written gives its bytes back.
TEST_F(TransactionTest, PendingRecordsTogetherStayWithinTheirBudget) {
  SmtpLogConfig config;
  config.max_pending_bytes = 40;
  SmtpTransactionLog& log = Log(config);
  Session a(log, "10.0.0.1", 60608, "10.0.0.2", 25);
  a.Req("MAIL", "FROM:<" + std::string(20, 'a') + "@x.y>");  // 24 bytes
  a.Reply(250, "MAIL", "ok");                                // "250 ok": 6 bytes
  a.Req("RCPT", "TO:<" + std::string(20, 'r') + "@x.y>");    // 10 of 24 bytes fit
  EXPECT_EQ(StatsOf(log)["memory_budget_cut"], 14u);
  EXPECT_EQ(StatsOf(log)["pending_bytes"], 40u);
  a.End();
  EXPECT_EQ(StatsOf(log)["pending_bytes"], 0u);
  Session b(log, "10.0.0.3", 60609, "10.0.0.2", 25);
  b.Req("MAIL", "FROM:<" + std::string(20, 'b') + "@x.y>");
  b.End();
  ASSERT_EQ(records().size(), 2u);
  EXPECT_EQ(records()[0].mailfrom, std::string(20, 'a') + "@x.y");
  EXPECT_THAT(*records()[0].rcptto, ElementsAre(std::string(10, 'r')));
  EXPECT_EQ(records()[1].mailfrom, std::string(20, 'b') + "@x.y");
}

// Issue 17: a few connections holding the whole budget must not starve the others. The record
// holding the most gives up bytes, its longest strings first, down to no less than the arriving
// record will hold.
TEST_F(TransactionTest, PendingRecordsBudgetCutsTheLargestHolderFirst) {
  SmtpLogConfig config;
  config.max_pending_bytes = 100;
  SmtpTransactionLog& log = Log(config);
  Session attacker(log, "10.0.0.1", 60610, "10.0.0.2", 25);
  attacker.Req("MAIL", "FROM:<a@x.y>");  // 5 bytes
  for (char c : {'p', 'q', 'r'}) attacker.Req("RCPT", "TO:<" + std::string(26, c) + "@x.y>");
  EXPECT_EQ(StatsOf(log)["pending_bytes"], 95u);
  Session plain(log, "10.0.0.3", 60611, "10.0.0.2", 25);
  // 13 bytes, 8 too many: the attacker's three 30-byte addresses give 3 each.
  plain.Req("MAIL", "FROM:<b@example.com>");
  // 13 bytes, 12 too many: 4 more each.
  plain.Req("RCPT", "TO:<c@example.org>");
  EXPECT_EQ(StatsOf(log)["memory_budget_cut"], 21u);
  plain.End();
  attacker.End();
  ASSERT_EQ(records().size(), 2u);
  EXPECT_EQ(records()[0].mailfrom, "b@example.com");
  EXPECT_THAT(*records()[0].rcptto, ElementsAre("c@example.org"));
  EXPECT_EQ(records()[1].mailfrom, "a@x.y");
  EXPECT_THAT(*records()[1].rcptto,
              ElementsAre(std::string(23, 'p'), std::string(23, 'q'), std::string(23, 'r')));
  EXPECT_EQ(StatsOf(log)["pending_bytes"], 0u);
}

// When every record holds alike, the arriving value is the one cut: no record is cut below what
// the one asking will hold.
TEST_F(TransactionTest, PendingRecordsHoldingAlikeCutTheArrivingValue) {
  SmtpLogConfig config;
  config.max_pending_bytes = 20;
  SmtpTransactionLog& log = Log(config);
  Session a(log, "10.0.0.1", 60612, "10.0.0.2", 25);
  Session b(log, "10.0.0.3", 60613, "10.0.0.2", 25);
  a.Req("MAIL", "FROM:<aaaaaa@x.y>");  // 10 bytes
  b.Req("MAIL", "FROM:<bbbbbb@x.y>");  // 10 bytes
  a.Req("RCPT", "TO:<c@x.y>");
  EXPECT_EQ(StatsOf(log)["memory_budget_cut"], 5u);
  a.End();
  b.End();
  ASSERT_EQ(records().size(), 2u);
  EXPECT_EQ(records()[0].mailfrom, "aaaaaa@x.y");
  EXPECT_THAT(*records()[0].rcptto, ElementsAre(""));
  EXPECT_EQ(records()[1].mailfrom, "bbbbbb@x.y");
}

// Path entries and the HELO name are paid for too (before, 1000 path entries and a HELO copy per
// connection were outside every budget).
TEST_F(TransactionTest, PathEntriesAndHeloArePaidForByThePendingRecordsBudget) {
  SmtpLogConfig config;
  config.max_pending_bytes = 4 + 30 + 2 * sizeof(IpAddress);
  SmtpTransactionLog& log = Log(config);
  Session s(log, "10.0.0.1", 60614, "10.0.0.2", 25);
  s.Req("HELO", "helo");
  s.Req("MAIL", "FROM:<>");
  s.Req("RCPT", "TO:<>");
  s.Req("DATA", "");
  s.BeginEntity();
  // 15 bytes each; the record keeps the last two; each adds a path entry.
  for (const char* ip : {"10.0.0.7", "10.0.0.8", "10.0.0.9"}) {
    s.Header("Received", std::string("from [") + ip + "]");
  }
  EXPECT_EQ(StatsOf(log)["memory_budget_cut"], sizeof(IpAddress));
  s.End();
  ASSERT_EQ(records().size(), 1u);
  EXPECT_EQ(records()[0].helo, "helo");
  EXPECT_EQ(records()[0].path->size(), 4u);
  EXPECT_EQ(StatsOf(log)["pending_bytes"], 0u);
}

TEST_F(TransactionTest, FullConnectionTableIsCountedNotLogged) {
  SmtpLogConfig config;
  config.max_connections = 1;
  SmtpTransactionLog& log = Log(config);
  Session a(log, "10.0.0.1", 1000, "10.0.0.2", 25);
  Session b(log, "10.0.0.3", 1001, "10.0.0.2", 25);
  a.Req("MAIL", "FROM:<a@b.c>");
  b.Req("MAIL", "FROM:<a@b.c>");
  a.End();
  b.End();
  EXPECT_EQ(records().size(), 1u);
}

// ---- text helpers ----------------------------------------------------------------------------

using smtp_text::ExtractEmailAddrs;
using smtp_text::ExtractIpAddresses;
using smtp_text::IpWrapping;
using smtp_text::SplitMimeEmailAddresses;

TEST(SmtpText, ExtractEmailAddrsFindsTheAddressAfterFrom) {
  EXPECT_THAT(ExtractEmailAddrs("FROM: <gurpartap@patriots.in>"),
              ElementsAre("gurpartap@patriots.in"));
  EXPECT_THAT(ExtractEmailAddrs("FROM:<robin@icir.org> size=9030"), ElementsAre("robin@icir.org"));
  EXPECT_THAT(ExtractEmailAddrs("from:a@b.c"), ElementsAre("a@b.c"));
  EXPECT_THAT(ExtractEmailAddrs("FROM:<>"), IsEmpty());
  EXPECT_THAT(ExtractEmailAddrs("TO:<a@b> ORCPT=rfc822;c@d"),
              ElementsAre("a@b", "ORCPT=rfc822c@d"));
}

TEST(SmtpText, SplitMimeEmailAddressesKeepsDisplayNames) {
  EXPECT_THAT(
      SplitMimeEmailAddresses(
          "Lukasz Luba <lukasz.luba@arm.com>,        open list <linux-kernel@vger.kernel.org>"),
      ElementsAre("Lukasz Luba <lukasz.luba@arm.com>", "open list <linux-kernel@vger.kernel.org>"));
  EXPECT_THAT(SplitMimeEmailAddresses("\"Doe, John\" <j@d.e>, x@y.z"),
              ElementsAre("\"Doe, John\" <j@d.e>", "x@y.z"));
  EXPECT_THAT(SplitMimeEmailAddresses("\"rafael@kernel.org\" <rafael@kernel.org>"),
              ElementsAre("\"rafael@kernel.org\" <rafael@kernel.org>"));
  EXPECT_THAT(SplitMimeEmailAddresses("undisclosed-recipients:;"), IsEmpty());
  EXPECT_THAT(SplitMimeEmailAddresses("Group: a@b.c, d@e.f;"),
              ElementsAre("Group: a@b.c", "d@e.f;"));
  EXPECT_THAT(SplitMimeEmailAddresses("a@b, a@b"), ElementsAre("a@b"));
}

TEST(SmtpText, WrappedIpsOnlyWhenRequired) {
  const std::string v = "from h (h [192.0.2.1]) by 198.51.100.2x with 203.0.113.3 ;";
  EXPECT_THAT(ExtractIpAddresses(v, IpWrapping::kRequireWrapped),
              ElementsAre("192.0.2.1", "203.0.113.3"));
  EXPECT_THAT(ExtractIpAddresses(v, IpWrapping::kAny),
              ElementsAre("192.0.2.1", "198.51.100.2", "203.0.113.3"));
  EXPECT_THAT(ExtractIpAddresses("10.1.2.3", IpWrapping::kRequireWrapped), ElementsAre("10.1.2.3"));
  EXPECT_THAT(ExtractIpAddresses("x {10.1.2.3} (10.1.2.4]", IpWrapping::kRequireWrapped),
              ElementsAre("10.1.2.3"));
}

TEST(SmtpText, Ipv6LiteralsAreFoundButIPv6TagIsNotAWrapper) {
  EXPECT_THAT(ExtractIpAddresses("(2001:db8::1)", IpWrapping::kRequireWrapped),
              ElementsAre("2001:db8::1"));
  EXPECT_THAT(ExtractIpAddresses("[IPv6:2607:f8b0:4864:20::42f]", IpWrapping::kRequireWrapped),
              IsEmpty());
  EXPECT_THAT(ExtractIpAddresses("a [2001:db8:1:2:3:4:5:6] b", IpWrapping::kRequireWrapped),
              ElementsAre("2001:db8:1:2:3:4:5:6"));
  // Zeek's embedded-IPv4 pattern has no colon before the dotted quad; "ffff:1" + "92.0.2.1"
  // still matches it, so the mapped address is found.
  EXPECT_THAT(ExtractIpAddresses("(::ffff:192.0.2.1)", IpWrapping::kRequireWrapped),
              ElementsAre("::ffff:192.0.2.1"));
}

TEST(SmtpText, FindAddressPrefersTheSecondWrappedIp) {
  EXPECT_EQ(smtp_text::FindAddressInSmtpHeader("from a ([192.0.2.1]) by b ([192.0.2.2]) c"),
            Ip("192.0.2.2"));
  EXPECT_EQ(smtp_text::FindAddressInSmtpHeader("from a ([192.0.2.1])"), Ip("192.0.2.1"));
  EXPECT_FALSE(smtp_text::FindAddressInSmtpHeader("by mail-pf1-x42f.google.com with SMTP"));
}

TEST(SmtpText, ParseIpAcceptsLeadingZerosInIpv4) {
  EXPECT_EQ(smtp_text::ParseIp("010.001.000.255"), Ip("10.1.0.255"));
  EXPECT_FALSE(smtp_text::ParseIp("1.2.3"));
}

}  // namespace
}  // namespace mailtap
