// Session-level behaviour: byte streams in, Zeek's events out. Expected values come from the
// spec (section numbers in the test comments) and Zeek's baselines.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "session_harness.h"

namespace mailtap::testing {
namespace {

// Spec 22 (dump-events really-all-events.log, first connection of smtp.pcap), with a shortened
// message body.
TEST(SmtpSession, ReplaysTheFirstSmtpPcapConnection) {
  SessionHarness h;
  h.Server(
      "220-xc90.websitewelcome.com ESMTP Exim 4.69 #1 Mon, 05 Oct 2009 01:05:54 -0500 \r\n"
      "220-We do not authorize the use of this system to transport unsolicited, \r\n"
      "220 and/or bulk e-mail.\r\n");
  h.Client("EHLO GP\r\n");
  h.Server(
      "250-xc90.websitewelcome.com Hello GP [122.162.143.157]\r\n250-SIZE 52428800\r\n"
      "250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250-STARTTLS\r\n250 HELP\r\n");
  h.Client("AUTH LOGIN\r\n");
  h.Server("334 VXNlcm5hbWU6\r\n");
  h.Client("Z3VycGFydGFwQHBhdHJpb3RzLmlu\r\n");
  h.Server("334 UGFzc3dvcmQ6\r\n");
  h.Client("cHVuamFiQDEyMw==\r\n");
  h.Server("235 Authentication succeeded\r\n");
  h.Client("MAIL FROM: <gurpartap@patriots.in>\r\n");
  h.Server("250 OK\r\n");
  h.Client("RCPT TO: <raj_deol2002in@yahoo.co.in>\r\n");
  h.Server("250 Accepted\r\n");
  h.Client("DATA\r\n");
  h.Server("354 Enter message, ending with \".\" on a line by itself\r\n");
  h.Client(
      "From: \"Gurpartap Singh\" <gurpartap@patriots.in>\r\nTo: <raj_deol2002in@yahoo.co.in>\r\n"
      "Subject: SMTP\r\n\r\nhello\r\n..MsoChpDefault\r\n\r\n.\r\n");
  h.Server("250 OK id=1Mugho-0003Dg-Un\r\n");
  h.Client("QUIT\r\n");
  h.Server("221 xc90.websitewelcome.com closing connection\r\n");
  EXPECT_EQ(h.Take(),
            (Events{
                "smtp_reply(F, 220, >, xc90.websitewelcome.com ESMTP Exim 4.69 #1 Mon, 05 Oct 2009 "
                "01:05:54 -0500 , T)",
                "smtp_reply(F, 220, >, We do not authorize the use of this system to transport "
                "unsolicited, , T)",
                "smtp_reply(F, 220, >, and/or bulk e-mail., F)",
                "smtp_request(T, EHLO, GP)",
                "smtp_reply(F, 250, EHLO, xc90.websitewelcome.com Hello GP [122.162.143.157], T)",
                "smtp_reply(F, 250, EHLO, SIZE 52428800, T)",
                "smtp_reply(F, 250, EHLO, PIPELINING, T)",
                "smtp_reply(F, 250, EHLO, AUTH PLAIN LOGIN, T)",
                "smtp_reply(F, 250, EHLO, STARTTLS, T)",
                "smtp_reply(F, 250, EHLO, HELP, F)",
                "smtp_request(T, AUTH, LOGIN)",
                "smtp_reply(F, 334, AUTH, VXNlcm5hbWU6, F)",
                "smtp_request(T, **, Z3VycGFydGFwQHBhdHJpb3RzLmlu)",
                "smtp_reply(F, 334, AUTH_ANSWER, UGFzc3dvcmQ6, F)",
                "smtp_request(T, **, cHVuamFiQDEyMw==)",
                "smtp_reply(F, 235, AUTH_ANSWER, Authentication succeeded, F)",
                "smtp_request(T, MAIL, FROM: <gurpartap@patriots.in>)",
                "smtp_unexpected(T, unexpected command, MAIL reply = 0 state = 1)",
                "smtp_reply(F, 250, MAIL, OK, F)",
                "smtp_request(T, RCPT, TO: <raj_deol2002in@yahoo.co.in>)",
                "smtp_reply(F, 250, RCPT, Accepted, F)",
                "smtp_request(T, DATA, )",
                "mime_begin_entity()",
                "smtp_reply(F, 354, DATA, Enter message, ending with \".\" on a line by itself, F)",
                // A header is reported when the next line completes it, before that line's
                // smtp_data (baseline order).
                "smtp_data(T, From: \"Gurpartap Singh\" <gurpartap@patriots.in>)",
                "mime_one_header(From, FROM, \"Gurpartap Singh\" <gurpartap@patriots.in>)",
                "smtp_data(T, To: <raj_deol2002in@yahoo.co.in>)",
                "mime_one_header(To, TO, <raj_deol2002in@yahoo.co.in>)",
                "smtp_data(T, Subject: SMTP)",
                "mime_one_header(Subject, SUBJECT, SMTP)",
                "smtp_data(T, )",
                "smtp_data(T, hello)",
                "smtp_data(T, .MsoChpDefault)",
                "smtp_data(T, )",
                "mime_end_entity()",
                "smtp_request(T, ., .)",
                "smtp_reply(F, 250, ., OK id=1Mugho-0003Dg-Un, F)",
                "smtp_request(T, QUIT, )",
                "smtp_reply(F, 221, QUIT, xc90.websitewelcome.com closing connection, F)",
            }));
  EXPECT_EQ(h.session().StateName(), "QUIT");
}

TEST(SmtpSession, EventsCarryTheTimestampOfTheCompletingDelivery) {
  SessionHarness h;
  h.Server("220 hi", 100);
  h.Server("\r\n", 200);
  ASSERT_EQ(h.sink().events.size(), 1u);
  EXPECT_EQ(h.sink().events[0].ts.usec, 200);
  EXPECT_EQ(h.sink().events[0].conn, &h.conn());
}

// Spec 7: commands sent before the greeting wait behind it; replies are matched FIFO.
TEST(SmtpSession, PipelinedCommandsAreAnsweredInOrder) {
  SessionHarness h;
  h.Client("EHLO x\r\n");
  h.Server("220 hi\r\n250 x\r\n");
  h.Client("MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n");
  h.Server("250 ok\r\n250 ok\r\n354 go\r\n");
  EXPECT_EQ(h.Take(),
            (Events{"smtp_request(T, EHLO, x)", "smtp_reply(F, 220, >, hi, F)",
                    "smtp_reply(F, 250, EHLO, x, F)", "smtp_request(T, MAIL, FROM:<a>)",
                    "smtp_request(T, RCPT, TO:<b>)", "smtp_request(T, DATA, )",
                    "mime_begin_entity()", "smtp_reply(F, 250, MAIL, ok, F)",
                    "smtp_reply(F, 250, RCPT, ok, F)", "smtp_reply(F, 354, DATA, go, F)"}));
}

// Spec 5.5: unknown words raise "unknown command" only; the reply goes to what is queued.
TEST(SmtpSession, UnknownCommandIsNotQueued) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Client("XYZZY foo\r\n\r\n mail from:<a>\r\n");
  h.Server("500 what\r\n");
  EXPECT_EQ(
      h.Take(),
      (Events{"smtp_reply(F, 220, >, hi, F)", "smtp_unexpected(T, unknown command, XYZZY)",
              "smtp_unexpected(T, unknown command, )", "smtp_unexpected(T, unknown command, )",
              "smtp_reply(F, 500, (UNKNOWN), what, F)"}));
}

TEST(SmtpSession, CommandIsUpperCasedArgumentIsNot) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Client("ehlo Me \r\nmail from:<a@b>\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_reply(F, 220, >, hi, F)", "smtp_request(T, EHLO, Me )",
                              "smtp_request(T, MAIL, from:<a@b>)"}));
}

TEST(SmtpSession, ReplyCodeMismatchAbandonsTheContinuingReply) {
  SessionHarness h;
  h.Client("EHLO x\r\n");
  h.Server("220-a\r\n250 b\r\n");
  EXPECT_EQ(h.Take(),
            (Events{"smtp_request(T, EHLO, x)", "smtp_reply(F, 220, >, a, T)",
                    "smtp_unexpected(F, reply code does not match the continuing reply, 250 b)",
                    "smtp_reply(F, 250, EHLO, b, F)"}));
}

TEST(SmtpSession, UnsolicitedReplyIsLabelledUnknown) {
  SessionHarness h;
  h.Server("220 hi\r\n250 extra\r\n");
  EXPECT_EQ(h.Take(),
            (Events{"smtp_reply(F, 220, >, hi, F)", "smtp_reply(F, 250, (UNKNOWN), extra, F)"}));
}

// Spec 8 notation: UR "<code> state = <n>, last command = <CMD>".
TEST(SmtpSession, UnexpectedReplyDetail) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Client("RSET\r\n");
  h.Server("500 no\r\n");
  EXPECT_EQ(h.Take(),
            (Events{"smtp_reply(F, 220, >, hi, F)", "smtp_request(T, RSET, )",
                    "smtp_unexpected(T, unexpected reply, 500 state = 3, last command = RSET)",
                    "smtp_reply(F, 500, RSET, no, F)"}));
}

TEST(SmtpSession, GreetingRefusedMakesHeloUnexpected) {
  SessionHarness h;
  h.Server("554 go away\r\n");
  h.Client("EHLO x\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_reply(F, 554, >, go away, F)", "smtp_request(T, EHLO, x)",
                              "smtp_unexpected(T, unexpected command, EHLO reply = 0 state = 2)"}));
  EXPECT_EQ(h.session().StateName(), "READY");
}

// Spec 8: after QUIT, commands with their own check raise UC twice, others once.
TEST(SmtpSession, CommandsAfterQuit) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Client("QUIT\r\nNOOP\r\nQUIT\r\nMAIL FROM:<a>\r\n");
  EXPECT_EQ(
      h.Take(),
      (Events{"smtp_reply(F, 220, >, hi, F)", "smtp_request(T, QUIT, )", "smtp_request(T, NOOP, )",
              "smtp_unexpected(T, unexpected command, NOOP reply = 0 state = 10)",
              "smtp_request(T, QUIT, )",
              "smtp_unexpected(T, unexpected command, QUIT reply = 0 state = 10)",
              "smtp_request(T, MAIL, FROM:<a>)",
              "smtp_unexpected(T, unexpected command, MAIL reply = 0 state = 10)",
              "smtp_unexpected(T, unexpected command, MAIL reply = 0 state = 10)"}));
  EXPECT_EQ(h.session().StateName(), "MAIL_OK");
}

// Baseline smtp-mail-transactions-invalid: a refused DATA closes the message; body lines are then
// parsed as commands.
TEST(SmtpSession, RefusedDataClosesTheMessage) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("DATA\r\n");
  h.Server("503 no\r\n");
  h.Client("Subject: x\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_request(T, DATA, )", "mime_begin_entity()", "mime_end_entity()",
                              "smtp_reply(F, 503, DATA, no, F)",
                              "smtp_unexpected(T, unknown command, Subject:)"}));
  EXPECT_EQ(h.session().StateName(), "READY");
}

TEST(SmtpSession, LinesBeforeThe354AreData) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("DATA\r\nSubject: early\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_request(T, DATA, )", "mime_begin_entity()",
                              "smtp_data(T, Subject: early)"}));
}

TEST(SmtpSession, DataReply250IsUnexpectedAndClosesTheMessage) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("DATA\r\n");
  h.Server("250 huh\r\n");
  EXPECT_EQ(h.Take(),
            (Events{"smtp_request(T, DATA, )", "mime_begin_entity()",
                    "smtp_unexpected(T, unexpected reply, 250 state = 6, last command = DATA)",
                    "mime_end_entity()", "smtp_reply(F, 250, DATA, huh, F)"}));
  EXPECT_EQ(h.session().StateName(), "READY");
}

TEST(SmtpSession, Data421MovesToQuit) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("DATA\r\n");
  h.Server("421 bye\r\n");
  EXPECT_EQ(h.session().StateName(), "QUIT");
}

TEST(SmtpSession, DotStuffingRemovesOneDot) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("DATA\r\n\r\n..\r\n. x\r\n...\r\n.\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_request(T, DATA, )", "mime_begin_entity()", "smtp_data(T, )",
                              "smtp_data(T, .)", "smtp_data(T,  x)", "smtp_data(T, ..)",
                              "mime_end_entity()", "smtp_request(T, ., .)"}));
}

TEST(SmtpSession, TypedEndOfDataWithoutMessage) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Take();
  h.Client("END_OF_DATA now\r\n");
  EXPECT_EQ(
      h.Take(),
      (Events{"smtp_unexpected(T, unexpected command, END_OF_DATA reply = 0 state = 1)",
              "weird(smtp_unmatched_end_of_data, , SMTP)", "smtp_request(T, END_OF_DATA, now)"}));
  EXPECT_EQ(h.session().StateName(), "AFTER_DATA");
}

TEST(SmtpSession, AuthFailureReturnsToInitiated) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Client("EHLO x\r\n");
  h.Server("250 x\r\n");
  h.Client("AUTH PLAIN\r\n");
  h.Server("334 \r\n");
  h.Client("\r\n");
  h.Server("535 bad\r\n");
  h.Take();
  EXPECT_EQ(h.session().StateName(), "INITIATED");
  h.Client("AUTH LOGIN\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_request(T, AUTH, LOGIN)",
                              "smtp_unexpected(T, unexpected command, AUTH reply = 0 state = 1)"}));
  h.Server("334 x\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_unexpected(T, unexpected command, AUTH reply = 334 state = 1)",
                              "smtp_reply(F, 334, AUTH, x, F)"}));
}

TEST(SmtpSession, EmptyAuthAnswerIsStillARequest) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Client("EHLO x\r\n");
  h.Server("250 x\r\n");
  h.Client("AUTH PLAIN\r\n");
  h.Server("334 \r\n");
  h.Take();
  h.Client("\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_request(T, **, )"}));
}

// Spec 13.
TEST(SmtpSession, TurnFlipsTheSenderRole) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Client("EHLO x\r\n");
  h.Server("250 x\r\n");
  h.Client("TURN\r\n");
  h.Server("250 ok\r\n");
  h.Take();
  EXPECT_EQ(h.session().StateName(), "CONNECTED");
  h.Server("EHLO y\r\n");
  h.Client("250 fine\r\n");
  h.Server("FOO\r\n");
  h.Gap(Side::kOriginator, 10, 5);
  h.Client("abc\r\n");
  EXPECT_EQ(h.Take(),
            (Events{"smtp_request(F, EHLO, y)",
                    "smtp_unexpected(F, unexpected command, EHLO reply = 0 state = 0)",
                    "smtp_reply(T, 250, EHLO, fine, F)", "smtp_unexpected(F, unknown command, FOO)",
                    "smtp_unexpected(F, content gap, seq = 10, len = 5)",
                    "smtp_unexpected(T, reply code out of range, abc)"}));
}

TEST(SmtpSession, RefusedTurnChangesNothing) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Client("EHLO x\r\n");
  h.Server("250 x\r\n");
  h.Client("TURN\r\n");
  h.Server("502 no\r\n");
  h.Client("NOOP\r\n");
  EXPECT_EQ(h.Take().back(), "smtp_request(T, NOOP, )");
}

// Spec 11.
TEST(SmtpSession, StartTlsStopsParsing) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Client("EHLO x\r\n");
  h.Server("250 x\r\n");
  h.Client("STARTTLS\r\n");
  h.Take();
  h.Server("220-go ahead\r\n220 more\r\n");
  h.Client("\x16\x03\x01\x00\x05hello\r\n");
  h.Server("\x16\x03\x03 garbage\r\n");
  h.End(Side::kOriginator);
  h.End(Side::kResponder);
  h.Finish();
  EXPECT_EQ(h.Take(), (Events{"smtp_starttls()", "smtp_reply(F, 220, STARTTLS, go ahead, T)"}));
  EXPECT_EQ(h.session().StateName(), "IN_TLS");
}

TEST(SmtpSession, XAnonymousTlsBehavesLikeStartTls) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Client("EHLO x\r\n");
  h.Server("250 x\r\n");
  h.Client("x-anonymoustls\r\n");
  h.Server("220 ok\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_reply(F, 220, >, hi, F)", "smtp_request(T, EHLO, x)",
                              "smtp_reply(F, 250, EHLO, x, F)", "smtp_request(T, X-ANONYMOUSTLS, )",
                              "smtp_starttls()", "smtp_reply(F, 220, X_ANONYMOUSTLS, ok, F)"}));
}

TEST(SmtpSession, StartTlsRefusedKeepsParsing) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Client("EHLO x\r\nSTARTTLS\r\n");
  h.Server("250 x\r\n454 no\r\n");
  h.Client("QUIT\r\n");
  EXPECT_EQ(h.Take().back(), "smtp_request(T, QUIT, )");
}

// Spec 11 [corrected]: a gap after the hand-off revives the analyzer on raw chunks.
TEST(SmtpSession, GapAfterStartTlsRevivesOnRawChunks) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Client("EHLO x\r\n");
  h.Server("250 x\r\n");
  h.Client("STARTTLS\r\n");
  h.Server("220 go\r\n");
  h.Take();
  h.Gap(Side::kResponder, 100, 50);
  h.Client("\x17\x03\x03 client\r\n");
  h.Server("\x17\x03\x03\r");
  h.Server("x\r\ny");
  EXPECT_EQ(h.Take(),
            (Events{"smtp_unexpected(F, content gap, seq = 100, len = 50)",
                    // Every chunk is one "line": legacy checks first; client lines are then
                    // swallowed (AFTER_GAP), server lines parsed as replies.
                    "smtp_unexpected(T, Bare <CR> or <LF> appears in the middle of line, "
                    "\x17\x03\x03 client\r\n)",
                    "smtp_unexpected(F, more than one <CR> at the end of line, \x17\x03\x03\r)",
                    "smtp_unexpected(F, reply code out of range, \x17\x03\x03)",
                    "smtp_unexpected(F, Bare <CR> or <LF> appears in the middle of line, x\r\ny)",
                    "smtp_unexpected(F, reply code out of range, x\r\ny)"}));
  EXPECT_FALSE(h.session().disabled());
}

// Spec 14.
TEST(SmtpSession, GapSwallowsClientLinesUntilTheNextReply) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Client("EHLO x\r\n");
  h.Server("250 x\r\n");
  h.Take();
  h.Gap(Side::kOriginator, 9, 1000);
  h.Client("MAIL FROM:<a>\r\nRCPT TO:<b>\r\n");
  h.Server("250 ok\r\n");
  h.Client("DATA\r\n");
  h.Server("354 go\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_unexpected(T, content gap, seq = 9, len = 1000)",
                              "smtp_request(T, (UNKNOWN), )",
                              "smtp_reply(F, 250, (UNKNOWN), ok, F)", "smtp_request(T, DATA, )",
                              "smtp_unexpected(T, unexpected command, DATA reply = 0 state = 12)",
                              "mime_begin_entity()", "smtp_reply(F, 354, DATA, go, F)"}));
}

TEST(SmtpSession, A354InGapRecoveryStartsAMessage) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Take();
  h.Gap(Side::kResponder, 9, 10);
  h.Server("354 go\r\n");
  h.Client("Subject: s\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_unexpected(F, content gap, seq = 9, len = 10)",
                              "smtp_request(T, (UNKNOWN), )", "mime_begin_entity()",
                              "smtp_reply(F, 354, (UNKNOWN), go, F)", "smtp_data(T, Subject: s)",
                              "mime_one_header(Subject, SUBJECT, s)", "smtp_data(T, )",
                              "smtp_data(T, body)", "mime_end_entity()", "smtp_request(T, ., .)"}));
}

TEST(SmtpSession, GapInDataClosesTheMessage) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("DATA\r\nA: 1\r\n");
  h.Gap(Side::kOriginator, 40, 100);
  EXPECT_EQ(h.Take(),
            (Events{"smtp_request(T, DATA, )", "mime_begin_entity()", "smtp_data(T, A: 1)",
                    "smtp_unexpected(T, content gap, seq = 40, len = 100)",
                    "mime_one_header(A, A, 1)", "mime_end_entity()"}));
  EXPECT_EQ(h.session().StateName(), "AFTER_GAP");
}

TEST(SmtpSession, GapDoesNotFlushThePartialLine) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Take();
  h.Server("250-abc");
  h.Gap(Side::kResponder, 15, 3);
  h.Server("def\r\n");
  EXPECT_EQ(h.Take(),
            (Events{"smtp_unexpected(F, content gap, seq = 15, len = 3)",
                    "smtp_request(T, (UNKNOWN), )", "smtp_reply(F, 250, (UNKNOWN), abcdef, T)"}));
}

// Spec 14.7: a continuation of the pending reply after a gap does not start a new reply.
TEST(SmtpSession, ContinuationAfterGapIsNotANewReply) {
  SessionHarness h;
  h.Client("EHLO x\r\n");
  h.Server("220 hi\r\n250-a\r\n");
  h.Take();
  h.Gap(Side::kResponder, 20, 5);
  h.Server("250 b\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_unexpected(F, content gap, seq = 20, len = 5)",
                              "smtp_reply(F, 250, (UNKNOWN), b, F)"}));
  EXPECT_EQ(h.session().StateName(), "AFTER_GAP");
}

// Spec 7: 1000 queued commands, then the queue is emptied.
TEST(SmtpSession, ExcessivePendingCommands) {
  SmtpLimits limits;
  limits.max_pending_commands = 2;
  SessionHarness h(limits);
  h.Client("NOOP\r\nNOOP\r\nNOOP\r\n");
  EXPECT_EQ(h.Take(),
            (Events{"smtp_request(T, NOOP, )", "smtp_request(T, NOOP, )",
                    "weird(smtp_excessive_pending_cmds, , SMTP)", "smtp_request(T, NOOP, )"}));
  EXPECT_EQ(h.shared().counters.pending_cmd_overflows.Get(), 1u);
  h.Server("220 hi\r\n250 a\r\n250 b\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_reply(F, 220, >, hi, F)", "smtp_reply(F, 250, NOOP, a, F)",
                              "smtp_reply(F, 250, (UNKNOWN), b, F)"}));
}

TEST(SmtpSession, ContentlineWeirds) {
  SmtpLimits limits;
  limits.max_line_length = 8;
  SessionHarness h(limits);
  h.Server("220 hi\r\n");
  h.Take();
  h.Client(std::string_view("NO\0OP\r\n", 7));
  h.Client(std::string_view("NO\0OP\rNOOP\r\rNOOP\n", 17));
  h.Server(std::string_view("250 \0a\r250 b\n", 13));
  h.Client("NOOPNOOPNOOP\r\n");
  EXPECT_EQ(h.Take(), (Events{"weird(NUL_in_line, , CONTENTLINE)", "smtp_request(T, NOOP, )",
                              "smtp_unexpected(T, unknown command, NO)",
                              "weird(line_terminated_with_single_CR, , CONTENTLINE)",
                              "smtp_request(T, NOOP, )", "smtp_unexpected(T, unknown command, )",
                              "smtp_request(T, NOOP, )", "smtp_reply(F, 250, NOOP, a, F)",
                              "smtp_reply(F, 250, NOOP, b, F)",
                              "weird(contentline_size_exceeded, , CONTENTLINE)",
                              "smtp_unexpected(T, unknown command, NOOPNOO)",
                              "smtp_unexpected(T, unknown command, OOP)"}));
}

TEST(SmtpSession, PartialLineIsFlushedAtEndOfStream) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Take();
  h.Client("QUIT");
  EXPECT_TRUE(h.Take().empty());
  h.End(Side::kOriginator);
  EXPECT_EQ(h.Take(), (Events{"smtp_request(T, QUIT, )"}));
}

TEST(SmtpSession, OpenMessageIsClosedAtConnectionEnd) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("DATA\r\nA: 1\r\n");
  h.Take();
  h.End(Side::kOriginator);
  EXPECT_TRUE(h.Take().empty());
  h.End(Side::kResponder);
  EXPECT_EQ(h.Take(), (Events{"mime_one_header(A, A, 1)", "mime_end_entity()"}));
  h.Finish();
  EXPECT_TRUE(h.Take().empty());
}

TEST(SmtpSession, FinishClosesAnOpenMessage) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("DATA\r\n");
  h.Take();
  h.Finish(7);
  EXPECT_EQ(h.Take(), (Events{"mime_end_entity()"}));
  EXPECT_EQ(h.sink().events.back().ts.usec, 7);
}

TEST(SmtpSession, MimeHeaderCapRaisesWeird) {
  SmtpLimits limits;
  limits.max_header_bytes = 13;
  SessionHarness h(limits);
  ToRcptOk(h);
  h.Client("DATA\r\nSubject: ab\r\n c\r\n d\r\n\r\n.\r\n");
  EXPECT_EQ(h.Take(),
            (Events{"smtp_request(T, DATA, )", "mime_begin_entity()", "smtp_data(T, Subject: ab)",
                    "smtp_data(T,  c)", "weird(exceeded_mime_max_header_bytes, 13, SMTP)",
                    "smtp_data(T,  d)", "mime_one_header(Subject, SUBJECT, ab c)", "smtp_data(T, )",
                    "mime_end_entity()", "smtp_request(T, ., .)"}));
  EXPECT_EQ(h.shared().mime.header_lines_dropped.Get(), 1u);
}

// Once both streams have ended (which closes an open message, as Zeek's ConnectionFinished does),
// Finish() only reports the removal; only then does a session retire into a stand-in, which
// reports the removal as the session would have.
TEST(SmtpSession, RetiresOnlyWhenFinishWouldOnlyReportTheRemoval) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("DATA\r\n");
  h.Server("354 go\r\n");
  h.Client("Subject: x\r\n\r\nbody\r\n");
  EXPECT_EQ(h.session().Retire(), nullptr);  // both streams open, a message open
  h.End(Side::kOriginator);
  EXPECT_EQ(h.session().Retire(), nullptr);  // the message is still open
  h.Take();
  h.End(Side::kResponder, 5);
  EXPECT_EQ(h.Take(), (Events{"mime_end_entity()"}));
  std::unique_ptr<StreamConsumer> stand_in = h.session().Retire();
  ASSERT_NE(stand_in, nullptr);
  EXPECT_EQ(stand_in->StateName(), h.session().StateName());
  stand_in->Finish(Timestamp{9});
  EXPECT_EQ(h.Take(), Events{});
  EXPECT_EQ(h.sink().removals, std::vector<int64_t>{9});
}

// The frequent events are shared by all sessions of an analyzer; a lease taken while another is
// held (an emission nested in a dispatch) must get an event of its own.
TEST(ReusableEvent, NestedLeaseGetsItsOwnEventAndTheSharedOneIsReusedAfter) {
  ReusableEvent shared;
  Event* first = nullptr;
  {
    ReusableEvent::Lease outer(shared);
    first = &outer.event();
    first->id = EventId::kSmtpReply;
    ReusableEvent::Lease inner(shared);
    EXPECT_NE(&inner.event(), first);
    inner.event().id = EventId::kSmtpRequest;
    EXPECT_EQ(inner.event().id, EventId::kSmtpRequest);  // the same private event on every call
    EXPECT_EQ(first->id, EventId::kSmtpReply);
  }
  ReusableEvent::Lease again(shared);
  EXPECT_EQ(&again.event(), first);
}

// Zeek raises smtp_data only when a script handles it; the session asks its sink once.
TEST(SmtpSession, RaisesNoSmtpDataWhenNoSinkWantsIt) {
  auto run = [](SessionHarness& h) {
    ToRcptOk(h);
    h.Client("DATA\r\n");
    h.Server("354 go\r\n");
    h.Client("Subject: s\r\n\r\nline one\r\nline two\r\n.\r\n");
    h.Server("250 ok\r\n");
    return h.Take();
  };
  SessionHarness all;
  SessionHarness no_data({}, false, [](std::string_view name) {
    return name != "smtp_data" && WithoutMimeData(name);
  });
  const Events with_data = run(all);
  Events expected;
  for (const auto& e : with_data) {
    if (!e.starts_with("smtp_data(")) expected.push_back(e);
  }
  ASSERT_EQ(with_data.size(), expected.size() + 4);  // "Subject: s", "", "line one", "line two"
  EXPECT_EQ(run(no_data), expected);
  EXPECT_EQ(no_data.shared().counters.data_lines.Get(), 4u);
}

std::string Repeat(std::string_view text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += text;
  return out;
}

// Without smtp_data, body lines after the headers skip the listener chain (LineSplitter::
// SkipLines). Whatever the segmentation, everything else must come out as with smtp_data raised:
// the same events in the same order (weirds included) and the same count of lines.
TEST(SmtpSession, SkippingBodyLinesNobodyWantsChangesNothingElse) {
  using namespace std::string_literals;
  const std::string body =
      "From: <a@example.com>\r\nSubject: test\r\n folded\r\n\r\n"
      "plain line\r\n..dot-stuffed\r\n\r\nwith\0nul\r\nsecond\0nul\r\nbare\rcr\r\n"
      "lf only\nafter lf\r\n"s +
      Repeat("ordinary line\r\n", 5) + std::string(300, 'x') + "\r\n" +
      Repeat("ordinary line\r\n", 5) + "after long\r\n.\r\n";
  SmtpLimits limits;
  limits.max_line_length = 100;  // the long line is cut: contentline_size_exceeded
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE(seed);
    auto run = [&](SessionHarness& h) {
      std::mt19937 random(seed);
      ToRcptOk(h);
      for (int message = 0; message < 2; ++message) {
        if (message > 0) {
          h.Client("MAIL FROM:<a>\r\nRCPT TO:<b>\r\n");
          h.Server("250 ok\r\n250 ok\r\n");
        }
        h.Client("DATA\r\n");
        h.Server("354 go\r\n");
        for (size_t at = 0; at < body.size();) {
          // Small pieces split lines everywhere; large ones let whole lines take the fast path.
          const size_t piece = 1 + random() % (seed % 2 == 0 ? 64 : 1024);
          const size_t n = std::min<size_t>(body.size() - at, piece);
          h.Client(std::string_view(body).substr(at, n));
          at += n;
        }
        h.Server("250 ok\r\n");
      }
      return h.Take();
    };
    SessionHarness all(limits);
    SessionHarness no_data(limits, false, [](std::string_view name) {
      return name != "smtp_data" && WithoutMimeData(name);
    });
    Events expected;
    for (const auto& e : run(all)) {
      if (!e.starts_with("smtp_data(")) expected.push_back(e);
    }
    EXPECT_EQ(run(no_data), expected);
    EXPECT_EQ(no_data.shared().counters.data_lines.Get(), all.shared().counters.data_lines.Get());
    // Per message: 13 lines up to "after lf" ("bare\rcr" is two), 5 ordinary ones, the 300 x's
    // as 99 + 99 + 98 (spec 3.6: a full 100-byte buffer emits 99 and loses the next byte), 5
    // ordinary ones, "after long".
    EXPECT_EQ(all.shared().counters.data_lines.Get(), 2u * 27);
  }
}

}  // namespace
}  // namespace mailtap::testing
