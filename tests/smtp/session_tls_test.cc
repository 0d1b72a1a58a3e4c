// SMTP inside TLS at the session level: after the 220 reply to STARTTLS (and on implicit-TLS
// ports from the start) the session analyses the plaintext stream and no longer the wire.
// Expected events follow the spec's sections (cited) applied to each test's own script.
#include <gtest/gtest.h>

#include <string>

#include "session_harness.h"

namespace mailtap::testing {
namespace {

// Greeting, EHLO, STARTTLS and its 220 on the wire; events taken.
void UpToTls(SessionHarness& h) {
  h.Server("220 hi\r\n");
  h.Client("EHLO x\r\n");
  h.Server("250 STARTTLS\r\n");
  h.Client("STARTTLS\r\n");
  h.Server("220 go ahead\r\n");
  h.Take();
}

TEST(SmtpSessionTls, PlaintextIsRefusedBeforeTheStartTlsReply) {
  SessionHarness h;
  h.Server("220 hi\r\n");
  h.Client("EHLO x\r\nSTARTTLS\r\n");
  EXPECT_FALSE(h.session().AcceptsTlsPlaintext());
  h.Server("250 STARTTLS\r\n454 not now\r\n");  // refused: still cleartext
  EXPECT_FALSE(h.session().AcceptsTlsPlaintext());
  h.Client("STARTTLS\r\n");
  h.Server("220 go ahead\r\n");
  EXPECT_TRUE(h.session().AcceptsTlsPlaintext());
}

// RFC 3207 4.2: no new greeting; the client's EHLO comes first and is answered as in INITIATED.
TEST(SmtpSessionTls, AfterStartTlsTheSessionStartsAgainWithEhlo) {
  SessionHarness h;
  UpToTls(h);
  h.ClientTls("EHLO again\r\n");
  h.ServerTls("250-mx\r\n250 AUTH PLAIN\r\n");
  h.ClientTls("MAIL FROM:<a@b>\r\n");
  h.ServerTls("250 ok\r\n");
  EXPECT_EQ(h.Take(),
            (Events{"smtp_request(T, EHLO, again)", "smtp_reply(F, 250, EHLO, mx, T)",
                    "smtp_reply(F, 250, EHLO, AUTH PLAIN, F)", "smtp_request(T, MAIL, FROM:<a@b>)",
                    "smtp_reply(F, 250, MAIL, ok, F)"}));
  // The wire part's events say nothing; every event from the plaintext says inside_tls.
  const std::vector<Event>& all = h.sink().events;
  const size_t wire_events = all.size() - 5;
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].inside_tls, i >= wire_events) << i;
  EXPECT_EQ(h.shared().counters.tls_plaintext_sessions.Get(), 1u);
}

TEST(SmtpSessionTls, OnceThePlaintextFlowsTheWireIsNotParsed) {
  SessionHarness h;
  UpToTls(h);
  h.ClientTls("EHLO again\r\n");
  h.Take();
  // Ciphertext that happens to look like SMTP, and a hole in it: neither reaches the parser.
  h.Server("250 not a reply\r\n");
  h.Gap(Side::kOriginator, 100, 20);
  h.Client("QUIT\r\n");
  h.End(Side::kOriginator);
  h.End(Side::kResponder);
  EXPECT_TRUE(h.Take().empty());
  h.ServerTls("250 mx\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_reply(F, 250, EHLO, mx, F)"}));
}

// Spec 11: without plaintext a gap after the hand-off still revives the analyzer on the raw
// bytes, exactly as before.
TEST(SmtpSessionTls, WithoutPlaintextAWireGapStillRevivesTheAnalyzerAsZeeksDoes) {
  SessionHarness h;
  UpToTls(h);
  h.Gap(Side::kOriginator, 30, 5);
  h.Server("\x17\x03\x03");
  EXPECT_EQ(h.Take(), (Events{"smtp_unexpected(T, content gap, seq = 30, len = 5)",
                              "smtp_unexpected(F, reply code out of range, \x17\x03\x03)"}));
}

// Spec 14 on the plaintext stream: its own numbering, the first plaintext byte being 1.
TEST(SmtpSessionTls, ATruncatedPlaintextRecordIsAContentGap) {
  SessionHarness h;
  UpToTls(h);
  h.ClientTls("EHLO again\r\n", 7);
  EXPECT_EQ(h.Take(), (Events{"smtp_request(T, EHLO, again)",
                              "smtp_unexpected(T, content gap, seq = 13, len = 7)"}));
  EXPECT_EQ(h.session().state(), smtp::State::kAfterGap);
}

TEST(SmtpSessionTls, ImplicitTlsIgnoresTheWireAndReadsTheGreetingFromThePlaintext) {
  SessionHarness h({}, false, {}, SessionTls::kImplicit);
  EXPECT_TRUE(h.session().AcceptsTlsPlaintext());
  h.Server("\x16\x03\x03\x00\x10 220 not this\r\n");
  h.Gap(Side::kResponder, 1, 10);
  EXPECT_TRUE(h.Take().empty());
  h.ServerTls("220 mx ESMTP\r\n");
  h.ClientTls("EHLO x\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_reply(F, 220, >, mx ESMTP, F)", "smtp_request(T, EHLO, x)"}));
}

TEST(SmtpSessionTls, ImplicitTlsWithoutPlaintextIsCountedWhenTheConnectionEnds) {
  SessionHarness h({}, false, {}, SessionTls::kImplicit);
  h.Server("\x16\x03\x03\x00\x10");
  h.Finish();
  EXPECT_TRUE(h.Take().empty());
  EXPECT_EQ(h.shared().counters.implicit_tls_without_plaintext.Get(), 1u);
}

// The plaintext travels on another path than the FINs: the session must still be there for it.
TEST(SmtpSessionTls, ATlsSessionIsNotRetiredWhenBothStreamsEnd) {
  SessionHarness h;
  UpToTls(h);
  h.End(Side::kOriginator);
  h.End(Side::kResponder);
  EXPECT_EQ(h.session().Retire(), nullptr);
  h.ClientTls("EHLO late\r\n");
  EXPECT_EQ(h.Take(), (Events{"smtp_request(T, EHLO, late)"}));
}

// An unterminated last line of the plaintext is delivered when the connection goes (spec 3.7).
TEST(SmtpSessionTls, ThePlaintextSplittersAreFlushedAtTheEnd) {
  SessionHarness h;
  UpToTls(h);
  h.ClientTls("QUIT");
  EXPECT_TRUE(h.Take().empty());
  h.Finish();
  EXPECT_EQ(h.Take(), (Events{"smtp_request(T, QUIT, )"}));
}

// Partial connections are not analysed (spec 2), inside TLS either.
TEST(SmtpSessionTls, APartialConnectionIgnoresPlaintext) {
  SessionHarness h({}, true, {}, SessionTls::kImplicit);
  h.ServerTls("220 mx\r\n");
  EXPECT_TRUE(h.Take().empty());
}

}  // namespace
}  // namespace mailtap::testing
