#include "sinks/ssl_log_writer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sinks/test_util.h"

namespace mailtap {
namespace {

using testing_util::Ip;
using testing_util::Split;
using testing_util::WrittenLog;
using testing_util::ZeekLogAtEpoch;

// The values of Zeek's scripts.base.protocols.smtp.starttls ssl.log record.
SslRecord StartTlsRecord() {
  SslRecord r;
  r.ts = Timestamp{1400168397019290};
  r.uid = "CHhAvVGS1DHFjwGM9";
  r.id = ConnId{Ip("192.168.4.149"), 54170, Ip("74.125.142.26"), 25};
  r.version = "TLSv12";
  r.cipher = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256";
  r.curve = "secp256r1";
  r.established = true;
  r.ssl_history = "CsxknGIti";
  r.cert_chain_fps =
      std::vector<std::string>{"4f0a1ac1c6e873c8805fe2fc56c7aac77025f1dcbbbf907e768f1ec88c3485db",
                               "a047a37fa2d2e118a4f5095fe074d6cfe0e352425a7632bf8659c03919a6c81d",
                               "3c35cc963eb004451323d3275d05b353235053490d9cd83729a2faf5e7ca1cc0"};
  r.client_cert_chain_fps = std::vector<std::string>{};
  return r;
}

// Zeek's line, its ts masked as the baseline has it.
const char kStartTlsBaselineLine[] =
    "XXXXXXXXXX.XXXXXX\tCHhAvVGS1DHFjwGM9\t192.168.4.149\t54170\t74.125.142.26\t25\tTLSv12\t"
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\tsecp256r1\t-\tF\t-\t-\tT\tCsxknGIti\t"
    "4f0a1ac1c6e873c8805fe2fc56c7aac77025f1dcbbbf907e768f1ec88c3485db,"
    "a047a37fa2d2e118a4f5095fe074d6cfe0e352425a7632bf8659c03919a6c81d,"
    "3c35cc963eb004451323d3275d05b353235053490d9cd83729a2faf5e7ca1cc0\t(empty)\t-";

TEST(SslLogZeek, StartTlsRecordMatchesZeeksBaselineApartFromTs) {
  std::vector<std::string> ours = Split(FormatSslRecord(StartTlsRecord(), LogFormat::kZeek), '\t');
  std::vector<std::string> zeek = Split(kStartTlsBaselineLine, '\t');
  ASSERT_EQ(ours.size(), zeek.size());
  EXPECT_EQ(ours[0], "1400168397.019290");
  for (size_t i = 1; i < zeek.size(); ++i) {
    EXPECT_EQ(ours[i], zeek[i]) << "column " << SslLogSchema().fields[i];
  }
}

TEST(SslLogZeek, SchemaMatchesZeeksFieldsAndTypesLines) {
  const std::string header = ZeekLogHeader(SslLogSchema(), 0);
  EXPECT_NE(header.find("#path\tssl\n"), std::string::npos);
  EXPECT_NE(header.find("#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\t"
                        "cipher\tcurve\tserver_name\tresumed\tlast_alert\tnext_protocol\t"
                        "established\tssl_history\tcert_chain_fps\tclient_cert_chain_fps\t"
                        "sni_matches_cert\n"),
            std::string::npos);
  EXPECT_NE(header.find("#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring\tstring\t"
                        "string\tbool\tstring\tstring\tbool\tstring\tvector[string]\t"
                        "vector[string]\tbool\n"),
            std::string::npos);
}

TEST(SslLogJson, UnsetFieldsAreLeftOutAndVectorsAreArrays) {
  SslRecord r = StartTlsRecord();
  r.cert_chain_fps->resize(1);
  r.server_name = "mx.example.org";
  r.sni_matches_cert = false;
  EXPECT_EQ(FormatSslRecord(r, LogFormat::kJson),
            "{\"ts\":1400168397.019290,\"uid\":\"CHhAvVGS1DHFjwGM9\","
            "\"id.orig_h\":\"192.168.4.149\",\"id.orig_p\":54170,\"id.resp_h\":\"74.125.142.26\","
            "\"id.resp_p\":25,\"version\":\"TLSv12\","
            "\"cipher\":\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\",\"curve\":\"secp256r1\","
            "\"server_name\":\"mx.example.org\",\"resumed\":false,\"established\":true,"
            "\"ssl_history\":\"CsxknGIti\",\"cert_chain_fps\":["
            "\"4f0a1ac1c6e873c8805fe2fc56c7aac77025f1dcbbbf907e768f1ec88c3485db\"],"
            "\"client_cert_chain_fps\":[],\"sni_matches_cert\":false}");
}

TEST(SslLogJson, HostileServerNameStaysValidJson) {
  SslRecord r = StartTlsRecord();
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  r.server_name = all;
  EXPECT_TRUE(nlohmann::json::accept(FormatSslRecord(r, LogFormat::kJson)));
  EXPECT_EQ(Split(FormatSslRecord(r, LogFormat::kZeek), '\t').size(), SslLogSchema().fields.size());
}

TEST(SslLogWriter, WritesDirSslLogWithZeeksHeader) {
  const std::string text = WrittenLog<SslLogWriter>(
      "ssl.log", ZeekLogAtEpoch(), [](SslLogWriter& w) { w.OnSslRecord(StartTlsRecord()); });
  EXPECT_NE(text.find("#path\tssl\n"), std::string::npos);
  EXPECT_NE(text.find("\tCsxknGIti\t"), std::string::npos);
  EXPECT_NE(text.find("#close\t"), std::string::npos);
}

}  // namespace
}  // namespace mailtap
