#include "tls/handshake_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mailtap::tls {
namespace {

using Bytes = std::vector<uint8_t>;

// ---- hand-built TLS messages (RFC 8446 / RFC 5246 wire formats) ----

Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Bytes U8(size_t v) { return {static_cast<uint8_t>(v)}; }
Bytes U16(size_t v) { return {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)}; }
Bytes U24(size_t v) {
  return {static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}
Bytes Text(std::string_view s) { return Bytes(s.begin(), s.end()); }
Bytes Repeat(uint8_t b, size_t n) { return Bytes(n, b); }

Bytes Record(uint8_t type, const Bytes& body, uint16_t version = 0x0303) {
  return Cat({U8(type), U16(version), U16(body.size()), body});
}
Bytes Message(uint8_t type, const Bytes& body) { return Cat({U8(type), U24(body.size()), body}); }
Bytes Extension(uint16_t type, const Bytes& data) {
  return Cat({U16(type), U16(data.size()), data});
}
Bytes Extensions(std::initializer_list<Bytes> exts) {
  Bytes all = Cat(exts);
  return Cat({U16(all.size()), all});
}

Bytes Sni(std::initializer_list<std::string_view> names) {
  Bytes list;
  for (auto n : names) list = Cat({list, U8(0), U16(n.size()), Text(n)});
  return Extension(0, Cat({U16(list.size()), list}));
}
Bytes Alpn(std::initializer_list<std::string_view> protocols) {
  Bytes list;
  for (auto p : protocols) list = Cat({list, U8(p.size()), Text(p)});
  return Extension(16, Cat({U16(list.size()), list}));
}

Bytes ClientHello(const Bytes& session_id, const Bytes& extensions) {
  return Message(1, Cat({U16(0x0303), Repeat(0x11, 32), U8(session_id.size()), session_id, U16(4),
                         U16(0xC02F), U16(0x1301), U8(1), U8(0), extensions}));
}
Bytes ServerHello(uint16_t cipher, const Bytes& session_id, const Bytes& extensions,
                  const Bytes& random = Repeat(0x22, 32)) {
  return Message(2, Cat({U16(0x0303), random, U8(session_id.size()), session_id, U16(cipher), U8(0),
                         extensions}));
}
Bytes CertificateMsg(std::initializer_list<Bytes> certs) {
  Bytes list;
  for (const Bytes& c : certs) list = Cat({list, U24(c.size()), c});
  return Message(11, Cat({U24(list.size()), list}));
}

constexpr uint8_t kCcs = 20, kAlert = 21, kHandshake = 22, kAppData = 23;

class Recorder : public HandshakeListener {
 public:
  void OnWeird(std::string_view name, std::string_view addl) override {
    weirds.push_back(std::string(name) + (addl.empty() ? "" : ": " + std::string(addl)));
  }
  void OnCertificate(Role role, std::span<const uint8_t> der) override {
    certificates.emplace_back(role, Bytes(der.begin(), der.end()));
  }
  void OnEstablished() override { ++established; }

  std::vector<std::string> weirds;
  std::vector<std::pair<Role, Bytes>> certificates;
  int established = 0;
};

class HandshakeParserTest : public ::testing::Test {
 protected:
  void Client(const Bytes& b) { parser_.Feed(Role::kClient, Timestamp{1}, b); }
  void Server(const Bytes& b) { parser_.Feed(Role::kServer, Timestamp{2}, b); }
  const HandshakeSummary& summary() { return parser_.summary(); }

  Recorder recorder_;
  HandshakeParser parser_{HandshakeLimits{}, recorder_};
};

TEST_F(HandshakeParserTest, ClientHelloGivesServerNameAndServerHelloTheSession) {
  Client(Record(kHandshake,
                ClientHello({}, Extensions({Sni({"mail.example.org"}), Alpn({"smtp", "h2"})}))));
  Server(Record(kHandshake, ServerHello(0xC02F, {}, Extensions({Alpn({"smtp"})}))));
  EXPECT_TRUE(summary().seen);
  EXPECT_EQ(summary().first_seen, Timestamp{1});
  EXPECT_EQ(summary().server_name, "mail.example.org");
  EXPECT_EQ(summary().version, 0x0303);
  EXPECT_EQ(summary().cipher, 0xC02F);
  EXPECT_EQ(summary().next_protocol, "smtp");
  EXPECT_EQ(summary().history, "Cs");
  EXPECT_FALSE(summary().established);
  EXPECT_TRUE(recorder_.weirds.empty());
}

TEST_F(HandshakeParserTest, SeveralServerNamesKeepTheFirstAndRaiseAWeird) {
  Client(Record(kHandshake, ClientHello({}, Extensions({Sni({"a.example", "b.example"})}))));
  EXPECT_EQ(summary().server_name, "a.example");
  ASSERT_EQ(recorder_.weirds.size(), 1u);
  EXPECT_EQ(recorder_.weirds[0], "SSL_many_server_names: a.example,b.example");
}

// A TLS 1.2 handshake as in Zeek's smtp-starttls.pcap: its ssl_history is "CsxknGIti".
TEST_F(HandshakeParserTest, FullTls12HandshakeIsEstablishedAtTheServersFinished) {
  const Bytes leaf = Repeat(0xAA, 300), ca = Repeat(0xBB, 200);
  Client(Record(kHandshake, ClientHello({}, Extensions({Extension(35, {})}))));
  Server(Record(kHandshake,
                Cat({ServerHello(0xC02F, {}, {}), CertificateMsg({leaf, ca}),
                     Message(12, Cat({U8(3), U16(23), U8(65), Repeat(4, 65)})), Message(14, {})})));
  Client(Cat({Record(kHandshake, Message(16, Repeat(1, 66))), Record(kCcs, {1}),
              Record(kHandshake, Repeat(0x5A, 40))}));  // Finished, encrypted
  EXPECT_EQ(recorder_.established, 0);
  Server(Cat({Record(kHandshake, Message(4, Repeat(7, 100))), Record(kCcs, {1}),
              Record(kHandshake, Repeat(0x5B, 40))}));
  EXPECT_EQ(summary().history, "CsxknGIti");
  EXPECT_EQ(summary().curve, 23);  // secp256r1
  EXPECT_TRUE(summary().established);
  EXPECT_EQ(recorder_.established, 1);
  EXPECT_TRUE(parser_.stopped());
  ASSERT_EQ(recorder_.certificates.size(), 2u);
  EXPECT_EQ(recorder_.certificates[0], std::make_pair(Role::kServer, leaf));
  EXPECT_EQ(recorder_.certificates[1], std::make_pair(Role::kServer, ca));
  EXPECT_TRUE(summary().certificates_seen);
  EXPECT_FALSE(summary().resumed);
}

TEST_F(HandshakeParserTest, Tls13TakesVersionAndCurveFromServerExtensions) {
  const Bytes versions = Cat({U8(4), U16(0x0304), U16(0x0303)});
  Client(Record(kHandshake, ClientHello(Repeat(9, 32), Extensions({Extension(43, versions)})),
                0x0301));
  Server(
      Cat({Record(kHandshake,
                  ServerHello(0x1301, Repeat(9, 32),
                              Extensions({Extension(43, U16(0x0304)),
                                          Extension(51, Cat({U16(29), U16(32), Repeat(3, 32)}))}))),
           Record(kCcs, {1}), Record(kAppData, Repeat(0x77, 500))}));
  EXPECT_EQ(summary().version, 0x0304);
  EXPECT_EQ(summary().cipher, 0x1301);
  EXPECT_EQ(summary().curve, 29);   // x25519
  EXPECT_FALSE(summary().resumed);  // a TLS 1.3 session id is only for middleboxes
  EXPECT_FALSE(summary().established);
  // Without a ChangeCipherSpec from the client, its first application data switches it.
  Client(Record(kAppData, Repeat(0x78, 53)));
  EXPECT_TRUE(summary().established);
  EXPECT_EQ(summary().history, "Csi");
}

TEST_F(HandshakeParserTest, HelloRetryRequestIsLetterJ) {
  Bytes hrr_random = {0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C,
                      0x02, 0x1E, 0x65, 0xB8, 0x91, 0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB,
                      0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};
  Client(Record(kHandshake, ClientHello({}, {})));
  Server(Record(
      kHandshake,
      ServerHello(0x1301, {}, Extensions({Extension(43, U16(0x0304)), Extension(51, U16(23))}),
                  hrr_random)));
  EXPECT_EQ(summary().history, "Cj");
  EXPECT_EQ(summary().curve, 23);
}

TEST_F(HandshakeParserTest, SameSessionIdInBothHellosIsAResumption) {
  const Bytes id = Repeat(0x42, 32);
  Client(Record(kHandshake, ClientHello(id, {})));
  Server(Record(kHandshake, ServerHello(0xC02F, id, {})));
  EXPECT_TRUE(summary().resumed);
}

TEST_F(HandshakeParserTest, TicketWithoutKeyExchangeIsAResumption) {
  Client(Record(kHandshake, ClientHello({}, Extensions({Extension(35, Repeat(1, 100))}))));
  Server(Record(kHandshake, ServerHello(0xC02F, {}, {})));
  Client(Record(kCcs, {1}));
  EXPECT_TRUE(summary().resumed);
}

TEST_F(HandshakeParserTest, AlertsGiveOneLetterEachAndTheLastDescription) {
  Client(Record(kHandshake, ClientHello({}, {})));
  Server(Record(kAlert, {2, 40, 2, 70}));
  EXPECT_EQ(summary().history, "Cll");
  EXPECT_EQ(summary().last_alert, 70);
}

TEST_F(HandshakeParserTest, MessageFragmentedAcrossRecordsIsParsedOnce) {
  const Bytes hello = ClientHello({}, Extensions({Sni({"mx.example.net"})}));
  const size_t half = hello.size() / 2;
  Client(Record(kHandshake, Bytes(hello.begin(), hello.begin() + half)));
  EXPECT_EQ(summary().history, "");
  Client(Record(kHandshake, Bytes(hello.begin() + half, hello.end())));
  EXPECT_EQ(summary().history, "C");
  EXPECT_EQ(summary().server_name, "mx.example.net");
}

TEST_F(HandshakeParserTest, RecordsCutIntoOneByteSegmentsGiveTheSameResult) {
  const Bytes wire = Cat({Record(kHandshake, ClientHello({}, Extensions({Sni({"a.example"})}))),
                          Record(kAlert, {1, 0})});
  for (uint8_t b : wire) parser_.Feed(Role::kClient, Timestamp{5}, Bytes{b});
  EXPECT_EQ(summary().history, "CL");
  EXPECT_EQ(summary().server_name, "a.example");
  EXPECT_EQ(summary().last_alert, 0);
}

TEST_F(HandshakeParserTest, BytesThatAreNotTlsRaiseAWeirdAndStop) {
  Client(Text("EHLO client.example.org\r\n"));
  EXPECT_TRUE(parser_.stopped());
  ASSERT_EQ(recorder_.weirds.size(), 1u);
  EXPECT_EQ(recorder_.weirds[0], "SSL_invalid_record_header: client record type 69 version 0x484c");
  EXPECT_FALSE(summary().seen);
  Client(Record(kHandshake, ClientHello({}, {})));  // ignored once stopped
  EXPECT_EQ(summary().history, "");
}

TEST_F(HandshakeParserTest, LaterRecordWithABadVersionStops) {
  Client(Record(kHandshake, ClientHello({}, {})));
  Server(Record(kHandshake, ServerHello(0xC02F, {}, {}), 0x0909));
  EXPECT_TRUE(parser_.stopped());
  EXPECT_EQ(summary().history, "C");
}

TEST_F(HandshakeParserTest, MalformedHelloRaisesAWeird) {
  Client(Record(kHandshake, Message(1, Repeat(3, 10))));
  ASSERT_EQ(recorder_.weirds.size(), 1u);
  EXPECT_EQ(recorder_.weirds[0], "SSL_malformed_handshake_message: type 1");
  EXPECT_FALSE(parser_.stopped());
}

TEST(HandshakeParserLimitsTest, MessageLongerThanTheLimitIsSkippedWithAWeird) {
  Recorder recorder;
  HandshakeLimits limits;
  limits.max_message_bytes = 1000;
  HandshakeParser parser(limits, recorder);
  const Bytes big = CertificateMsg({Repeat(0xCC, 5000)});
  for (size_t i = 0; i < big.size(); i += 1500) {
    const size_t n = std::min<size_t>(1500, big.size() - i);
    parser.Feed(Role::kServer, Timestamp{1},
                Record(kHandshake, Bytes(big.begin() + i, big.begin() + i + n)));
  }
  parser.Feed(Role::kServer, Timestamp{1}, Record(kHandshake, Message(14, {})));
  ASSERT_EQ(recorder.weirds.size(), 1u);
  EXPECT_EQ(recorder.weirds[0], "SSL_handshake_message_too_long: type 11 length 5006");
  EXPECT_TRUE(recorder.certificates.empty());
  EXPECT_EQ(parser.summary().history, "n");
  EXPECT_EQ(parser.counters().messages_too_long, 1u);
}

TEST(HandshakeParserLimitsTest, HistoryStopsAtItsLimitWithOneWeird) {
  Recorder recorder;
  HandshakeParser parser(HandshakeLimits{}, recorder);
  for (int i = 0; i < 150; ++i) parser.Feed(Role::kServer, Timestamp{1}, Record(kAlert, {1, 0}));
  EXPECT_EQ(parser.summary().history, std::string(100, 'l'));
  EXPECT_EQ(recorder.weirds, std::vector<std::string>{"SSL_max_ssl_history_length_reached"});
}

TEST_F(HandshakeParserTest, GapStopsParsing) {
  Client(Record(kHandshake, ClientHello({}, {})));
  parser_.Gap(Role::kServer);
  Server(Record(kHandshake, ServerHello(0xC02F, {}, {})));
  EXPECT_TRUE(parser_.stopped());
  EXPECT_EQ(summary().history, "C");
  EXPECT_TRUE(recorder_.weirds.empty());
}

TEST_F(HandshakeParserTest, ApplicationDataBeforeTls12IsEncryptedIsAWeird) {
  Client(Record(kHandshake, ClientHello({}, {})));
  Server(Record(kHandshake, ServerHello(0xC02F, {}, {})));
  Client(Record(kAppData, Text("hello")));
  EXPECT_EQ(recorder_.weirds, std::vector<std::string>{"ssl_early_application_data"});
}

// The server's whole first flight, cut into two segments at every possible point.
TEST(HandshakeParserSegmentsTest, EveryCutOfTheServerFlightGivesTheSameSummary) {
  const Bytes flight = Cat(
      {Record(kHandshake, Cat({ServerHello(0xC02F, {}, {}), CertificateMsg({Repeat(0xAA, 40)})})),
       Record(kHandshake, Cat({Message(12, Cat({U8(3), U16(29), U8(0)})), Message(14, {})})),
       Record(kAlert, {1, 0})});
  for (size_t cut = 0; cut <= flight.size(); ++cut) {
    Recorder recorder;
    HandshakeParser parser(HandshakeLimits{}, recorder);
    parser.Feed(Role::kClient, Timestamp{1}, Record(kHandshake, ClientHello({}, {})));
    parser.Feed(Role::kServer, Timestamp{2}, Bytes(flight.begin(), flight.begin() + cut));
    parser.Feed(Role::kServer, Timestamp{3}, Bytes(flight.begin() + cut, flight.end()));
    EXPECT_EQ(parser.summary().history, "Csxknl") << "cut at " << cut;
    EXPECT_EQ(parser.summary().curve, 29) << "cut at " << cut;
    EXPECT_EQ(recorder.certificates.size(), 1u) << "cut at " << cut;
    EXPECT_TRUE(recorder.weirds.empty()) << "cut at " << cut;
  }
}

// Hostile input is normal: records of every type with arbitrary bodies never crash the parser
// and never make it hold more than one record and one message per direction.
TEST(HandshakeParserSegmentsTest, ArbitraryRecordBodiesAreSurvived) {
  uint32_t state = 12345;
  auto next = [&state] {
    state = state * 1103515245u + 12345u;
    return static_cast<uint8_t>(state >> 16);
  };
  for (int run = 0; run < 200; ++run) {
    Recorder recorder;
    HandshakeParser parser(HandshakeLimits{}, recorder);
    for (int i = 0; i < 30 && !parser.stopped(); ++i) {
      Bytes body(next() % 64);
      for (uint8_t& b : body) b = next();
      if (next() % 2 == 0 && body.size() >= 4) body[0] = next() % 3;  // hellos, often broken
      const uint8_t type = static_cast<uint8_t>(20 + next() % 5);
      parser.Feed(next() % 2 ? Role::kClient : Role::kServer, Timestamp{i}, Record(type, body));
    }
    EXPECT_LE(parser.summary().history.size(), 100u);
  }
}

}  // namespace
}  // namespace mailtap::tls
