// BDAT (spec 10) and the bdat-gap sequence (spec 14.8) at session level.
#include <gtest/gtest.h>

#include "session_harness.h"

namespace mailtap::testing {
namespace {

TEST(SmtpSessionBdat, LastChunkIsAWholeMessageWithoutDataEvents) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("BDAT 31 LAST\r\nFrom: a@b\r\nSubject: s\r\n\r\nbody\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_request(T, BDAT, 31 LAST)", "mime_begin_entity()",
                              "smtp_unexpected(T, unexpected command, BDAT reply = 0 state = 13)",
                              "mime_one_header(From, FROM, a@b)",
                              "mime_one_header(Subject, SUBJECT, s)", "mime_end_entity()"}));
  EXPECT_EQ(h.session().StateName(), "AFTER_DATA");
  h.Server("250 2.0.0 Ok: queued\r\n");
  h.Client("MAIL FROM:<c>\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_reply(F, 250, BDAT, 2.0.0 Ok: queued, F)",
                              "smtp_request(T, MAIL, FROM:<c>)",
                              "smtp_unexpected(T, unexpected command, MAIL reply = 0 state = 7)"}));
}

TEST(SmtpSessionBdat, ChunksSplitLinesAndTheNextBdatFollowsChunkData) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("BDAT 7\r\nA: 1\r\nBBDAT 7 LAST\r\n: 2\r\n\r\n");
  EXPECT_EQ(h.Take(),
            (Events{"smtp_request(T, BDAT, 7)", "mime_begin_entity()",
                    "smtp_unexpected(T, unexpected command, BDAT reply = 0 state = 13)",
                    "smtp_request(T, BDAT, 7 LAST)",
                    "smtp_unexpected(T, unexpected command, BDAT reply = 0 state = 13)",
                    "mime_one_header(A, A, 1)", "mime_one_header(B, B, 2)", "mime_end_entity()"}));
  EXPECT_EQ(h.shared().counters.bdat_chunks.Get(), 2u);
}

TEST(SmtpSessionBdat, ChunkBytesSpanDeliveries) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("BDAT 8 LAST\r");
  h.Client("\nA: 1");
  h.Client("\r\n\r\nQUIT\r\n");
  EXPECT_EQ(h.Take(),
            (Events{"smtp_request(T, BDAT, 8 LAST)", "mime_begin_entity()",
                    "smtp_unexpected(T, unexpected command, BDAT reply = 0 state = 13)",
                    "mime_one_header(A, A, 1)", "mime_end_entity()", "smtp_request(T, QUIT, )"}));
}

TEST(SmtpSessionBdat, ChunkLineWeirdsHaveSourceSmtpBdat) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("BDAT 13 LAST\r\nA: 1\nB: 2\r\n\r\n");
  EXPECT_EQ(h.Take(),
            (Events{"smtp_request(T, BDAT, 13 LAST)", "mime_begin_entity()",
                    "smtp_unexpected(T, unexpected command, BDAT reply = 0 state = 13)",
                    "weird(smtp_bdat_line_lf_only, , SMTP_BDAT)", "mime_one_header(A, A, 1\n)",
                    "mime_one_header(B, B, 2)", "mime_end_entity()"}));
}

// Spec 10.2.7: BDAT 0 LAST closes at the next non-empty sender line.
TEST(SmtpSessionBdat, ZeroLastClosesOnTheNextNonEmptyClientLine) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("BDAT 0 LAST\r\n");
  h.Server("250 ok\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_request(T, BDAT, 0 LAST)", "mime_begin_entity()",
                              "smtp_unexpected(T, unexpected command, BDAT reply = 0 state = 13)",
                              "smtp_reply(F, 250, BDAT, ok, F)"}));
  EXPECT_EQ(h.session().StateName(), "IN_BDAT");
  h.Client("\r\nQUIT\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_unexpected(T, unknown command, )", "mime_end_entity()",
                              "smtp_request(T, QUIT, )"}));
  EXPECT_EQ(h.session().StateName(), "QUIT");
}

// Spec 10.1 and baselines bdat-cmd-invalid, bdat-chunk-size-overflow(2), negative-chunk-size.
TEST(SmtpSessionBdat, InvalidArgumentsRaiseWeirdAndChangeNothing) {
  const std::pair<std::string, std::string> cases[] = {
      {"BDAT", "BDAT argument bad length"},
      {"BDAT 184467440737095516150 LAST", "BDAT argument bad length"},
      {"BDAT -1 LAST", "BDAT not followed by a valid chunk-size"},
      {"BDAT SCRAMBLE", "BDAT not followed by a valid chunk-size"},
      {"BDAT 86LAST", "BDAT chunk-size not valid"},
      {"BDAT 99999999999999999999", "BDAT chunk-size too large"},
      {"BDAT 1234 SCRAMBLE", "BDAT chunk-size followed by junk"},
  };
  for (const auto& [line, addl] : cases) {
    SessionHarness h;
    ToRcptOk(h);
    h.Client(line + "\r\nabc\r\n");
    h.Server("521 5.5.4 Syntax: BDAT count [LAST]\r\n");
    const std::string arg = line.size() > 5 ? line.substr(5) : "";
    EXPECT_EQ(h.Take(), (Events{"smtp_request(T, BDAT, " + arg + ")",
                                "weird(smtp_invalid_bdat_command, " + addl + ", SMTP)",
                                "smtp_unexpected(T, unknown command, abc)",
                                // 521 is not among BDAT's known replies (spec 8, 10.2.8).
                                "smtp_unexpected(T, unexpected reply, 521 state = 5, last "
                                "command = BDAT)",
                                "smtp_reply(F, 521, BDAT, 5.5.4 Syntax: BDAT count [LAST], F)"}))
        << line;
    EXPECT_EQ(h.session().StateName(), "RCPT_OK") << line;
  }
}

TEST(SmtpSessionBdat, HugeChunkSizeRaisesWeird) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("BDAT 15555555557777777777 LAST\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_request(T, BDAT, 15555555557777777777 LAST)",
                              "weird(smtp_huge_bdat_chunk, 15555555557777777777, SMTP)"}));
}

TEST(SmtpSessionBdat, OtherCommandWithoutLastChunkClosesTheTransfer) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("BDAT 9\r\nA: 1\r\nabc");
  h.Take();
  h.Client("MAIL FROM:<x>\r\n");
  EXPECT_EQ(
      h.Take(),
      (Events{"smtp_request(T, MAIL, FROM:<x>)", "weird(smtp_missing_bdat_last_chunk, , SMTP)",
              "weird(smtp_bdat_undelivered_at_done, , SMTP_BDAT)", "mime_one_header(A, A, 1)",
              "mime_end_entity()",
              "smtp_unexpected(T, unexpected command, MAIL reply = 0 state = 13)"}));
}

// Spec 14.8 / baseline bdat-gap: requests EHLO, MAIL, RCPT, BDAT 200, (UNKNOWN), DATA, ., QUIT;
// weirds smtp_bdat_remaining_at_end_data (SMTP) then smtp_bdat_undelivered_at_done (SMTP_BDAT).
TEST(SmtpSessionBdat, GapInsideAChunk) {
  SessionHarness h;
  ToRcptOk(h);
  h.Client("BDAT 200\r\nSubject: gap\r\n" + std::string(86, 'x'));
  h.Server("250 2.0.0 Ok: 200 bytes\r\n");
  h.Take();
  h.Gap(Side::kOriginator, 60, 1000);
  EXPECT_EQ(h.Take(), (Events{"smtp_unexpected(T, content gap, seq = 60, len = 1000)",
                              "weird(smtp_bdat_remaining_at_end_data, , SMTP)",
                              "weird(smtp_bdat_undelivered_at_done, , SMTP_BDAT)",
                              "mime_one_header(Subject, SUBJECT, gap)", "mime_end_entity()"}));
  h.Server("250 2.0.0 Ok\r\n");
  h.Client("DATA\r\n");
  h.Server("354 go\r\n");
  h.Client("Subject: s\r\n\r\nx\r\n.\r\n");
  h.Server("250 ok\r\n");
  h.Client("QUIT\r\n");
  EXPECT_EQ(
      h.Take(),
      (Events{"smtp_request(T, (UNKNOWN), )", "smtp_reply(F, 250, (UNKNOWN), 2.0.0 Ok, F)",
              "smtp_request(T, DATA, )",
              "smtp_unexpected(T, unexpected command, DATA reply = 0 state = 12)",
              "mime_begin_entity()", "smtp_reply(F, 354, DATA, go, F)", "smtp_data(T, Subject: s)",
              "mime_one_header(Subject, SUBJECT, s)", "smtp_data(T, )", "smtp_data(T, x)",
              "mime_end_entity()", "smtp_request(T, ., .)", "smtp_reply(F, 250, ., ok, F)",
              "smtp_request(T, QUIT, )"}));
}

// Spec 8 (MAIL row: IN_BDAT is not exempt) and spec 9 (nested message).
TEST(SmtpSessionBdat, NestedMailTransaction) {
  SessionHarness h;
  h.Client("EHLO x\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nBDAT 3\r\nabc");
  h.Server("220 hi\r\n250 x\r\n550 no\r\n");
  EXPECT_EQ(h.session().StateName(), "READY");
  h.Take();
  h.Gap(Side::kResponder, 40, 10);
  h.Server("354 go\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_unexpected(F, content gap, seq = 40, len = 10)",
                              "smtp_request(T, (UNKNOWN), )",
                              "weird(smtp_nested_mail_transaction, , SMTP)", "mime_end_entity()",
                              "mime_begin_entity()", "smtp_reply(F, 354, (UNKNOWN), go, F)"}));
}

}  // namespace
}  // namespace mailtap::testing
