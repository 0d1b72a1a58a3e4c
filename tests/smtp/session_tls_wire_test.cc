// The hand-over of the wire bytes to the TLS handshake analyzer (ssl.log): after the 220 reply
// to STARTTLS, and from the first byte on an implicit-TLS port, the session gives each wire byte
// to the analyzer SmtpShared::tls_wire creates, as Zeek's SMTP analyzer forwards to its SSL child.
#include <gtest/gtest.h>

#include <string>

#include "session_harness.h"

namespace mailtap::testing {
namespace {

struct WireLog {
  std::string orig, resp;
  int gaps = 0;
  int finished = 0;
};

class FakeTlsAnalyzer : public StreamConsumer {
 public:
  explicit FakeTlsAnalyzer(WireLog& log) : log_(log) {}
  void Deliver(Side side, Timestamp, std::span<const uint8_t> data) override {
    (IsOrig(side) ? log_.orig : log_.resp).append(data.begin(), data.end());
  }
  void Undelivered(Side, Timestamp, uint64_t, uint64_t) override { ++log_.gaps; }
  void EndOfStream(Side, Timestamp) override {}
  void Finish(Timestamp) override { ++log_.finished; }

 private:
  WireLog& log_;
};

class FakeTlsFactory : public StreamConsumerFactory {
 public:
  std::unique_ptr<StreamConsumer> Create(const Connection&) override {
    ++created;
    return std::make_unique<FakeTlsAnalyzer>(log);
  }
  WireLog log;
  int created = 0;
};

TEST(SmtpSessionTlsWire, WireBytesAfterTheStartTlsReplyGoToTheTlsAnalyzer) {
  SessionHarness h;
  FakeTlsFactory tls;
  h.shared().tls_wire = &tls;
  h.Server("220 hi\r\n");
  h.Client("EHLO x\r\nSTARTTLS\r\n");
  h.Server("250 STARTTLS\r\n454 not now\r\n");  // refused: nothing to hand over
  EXPECT_EQ(tls.created, 0);
  h.Client("STARTTLS\r\n");
  h.Server("220 go ahead\r\n");
  EXPECT_EQ(tls.created, 1);
  h.Client("\x16\x03\x01");
  h.Server("\x16\x03\x03");
  h.Gap(Side::kOriginator, 100, 5);
  h.Finish();
  EXPECT_EQ(tls.log.orig, "\x16\x03\x01");
  EXPECT_EQ(tls.log.resp, "\x16\x03\x03");
  EXPECT_EQ(tls.log.gaps, 1);
  EXPECT_EQ(tls.log.finished, 1);
}

TEST(SmtpSessionTlsWire, WireStillGoesThereWhileThePlaintextIsAnalysed) {
  SessionHarness h;
  FakeTlsFactory tls;
  h.shared().tls_wire = &tls;
  h.Server("220 hi\r\n");
  h.Client("STARTTLS\r\n");
  h.Server("220 go ahead\r\n");
  h.ClientTls("EHLO again\r\n");
  h.Client("\x17\x03\x03");
  EXPECT_EQ(tls.log.orig, "\x17\x03\x03");
}

TEST(SmtpSessionTlsWire, ImplicitTlsPortHandsOverFromTheFirstByte) {
  auto shared = std::make_shared<SmtpShared>();
  FakeTlsFactory tls;
  shared->tls_wire = &tls;
  Connection conn;
  conn.id.resp_p = 465;
  RecordingSink sink;
  SmtpSession session(conn, SmtpLimits{}, sink, shared, SessionTls::kImplicit);
  const std::string hello = "\x16\x03\x01\x00\x05hello";
  session.Deliver(Side::kOriginator, Timestamp{1},
                  {reinterpret_cast<const uint8_t*>(hello.data()), hello.size()});
  session.Finish(Timestamp{2});
  EXPECT_EQ(tls.log.orig, hello);
  EXPECT_EQ(tls.log.finished, 1);
  EXPECT_TRUE(sink.events.empty());
}

// Spec 2: a connection whose handshake was not seen starts mid-stream, not at a TLS record.
TEST(SmtpSessionTlsWire, PartialImplicitTlsConnectionIsNotHandedOver) {
  auto shared = std::make_shared<SmtpShared>();
  FakeTlsFactory tls;
  shared->tls_wire = &tls;
  Connection conn;
  conn.id.resp_p = 465;
  conn.partial = true;
  RecordingSink sink;
  SmtpSession session(conn, SmtpLimits{}, sink, shared, SessionTls::kImplicit);
  EXPECT_EQ(tls.created, 0);
  session.Finish(Timestamp{2});
}

// A disabled session would retire into a stand-in; with a TLS analyzer it stays, so that the
// handshake is still logged when the connection is removed (Zeek's finalize_ssl).
TEST(SmtpSessionTlsWire, SessionWithATlsAnalyzerIsNotRetired) {
  SessionHarness h;
  FakeTlsFactory tls;
  h.shared().tls_wire = &tls;
  h.Server("220 hi\r\n");
  h.Client("STARTTLS\r\n");
  h.Server("220 go ahead\r\n");
  h.session().RequestDisable(DisableReason::kScript);
  EXPECT_EQ(h.session().Retire(), nullptr);
  h.Finish();
  EXPECT_EQ(tls.log.finished, 1);
}

}  // namespace
}  // namespace mailtap::testing
