#include "sinks/event_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mailtap {
namespace {

Connection MakeConn() {
  Connection c;
  c.uid = "CHhAvVGS1DHFjwGM9";
  IpAddress::Parse("10.10.1.4", &c.id.orig_h);
  c.id.orig_p = 1470;
  IpAddress::Parse("74.53.140.153", &c.id.resp_h);
  c.id.resp_p = 25;
  return c;
}

TEST(EventJson, KeysComeInThePinnedOrder) {
  Connection c = MakeConn();
  Event e = ev::smtp_request::Make(Timestamp{1254722767529046}, &c,
                                   {.is_orig = true, .command = "EHLO", .arg = "GP"});
  EXPECT_EQ(FormatEventJson(e),
            "{\"ts\":1254722767.529046,\"event\":\"smtp_request\",\"uid\":\"CHhAvVGS1DHFjwGM9\","
            "\"id.orig_h\":\"10.10.1.4\",\"id.orig_p\":1470,\"id.resp_h\":\"74.53.140.153\","
            "\"id.resp_p\":25,\"is_orig\":true,\"command\":\"EHLO\",\"arg\":\"GP\"}");
}

// docs/interface.md "Inside TLS": the owner after the connection keys, then inside_tls, then
// the arguments; each only when known or true.
TEST(EventJson, ProcessAndInsideTlsOnlyWhenKnown) {
  Connection c = MakeConn();
  Event e = ev::smtp_starttls::Make(Timestamp{1000000}, &c);
  const std::string plain = FormatEventJson(e);
  EXPECT_EQ(plain.find("proc."), std::string::npos);
  EXPECT_EQ(plain.find("inside_tls"), std::string::npos);
  c.process = OwnerProcess{812, "smtpd", 0};
  e.inside_tls = true;
  EXPECT_EQ(FormatEventJson(e),
            "{\"ts\":1.000000,\"event\":\"smtp_starttls\",\"uid\":\"CHhAvVGS1DHFjwGM9\","
            "\"id.orig_h\":\"10.10.1.4\",\"id.orig_p\":1470,\"id.resp_h\":\"74.53.140.153\","
            "\"id.resp_p\":25,\"proc.pid\":812,\"proc.name\":\"smtpd\",\"inside_tls\":true}");
  c.process->cgroup_id = 4711;
  EXPECT_NE(FormatEventJson(e).find(",\"proc.name\":\"smtpd\",\"proc.cgroup_id\":4711,"),
            std::string::npos);
}

TEST(EventJson, NumbersBooleansAndMicrosecondTimestamps) {
  Connection c = MakeConn();
  Event e = ev::smtp_reply::Make(
      Timestamp{1000000}, &c,
      {.is_orig = false, .code = 250, .cmd = ".", .msg = "OK", .cont_resp = false});
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(FormatEventJson(e));
  EXPECT_EQ(FormatEventJson(e).substr(0, 16), "{\"ts\":1.000000,\"");
  EXPECT_EQ(j["code"], 250);
  EXPECT_EQ(j["is_orig"], false);
  EXPECT_EQ(j["cont_resp"], false);
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"ts", "event", "uid", "id.orig_h", "id.orig_p", "id.resp_h",
                                      "id.resp_p", "is_orig", "code", "cmd", "msg", "cont_resp"}));
}

TEST(EventJson, EventWithoutConnectionHasNoConnectionKeys) {
  Event e = MakeWeird(Timestamp{5}, nullptr, "capture_loss", "", "");
  EXPECT_EQ(FormatEventJson(e),
            "{\"ts\":0.000005,\"event\":\"weird\",\"name\":\"capture_loss\",\"addl\":\"\","
            "\"source\":\"\"}");
}

TEST(EventJson, IPv6AddressesArePrintedCompressed) {
  Connection c = MakeConn();
  IpAddress::Parse("::1", &c.id.orig_h);
  IpAddress::Parse("::1", &c.id.resp_h);
  nlohmann::json j = nlohmann::json::parse(FormatEventJson(ev::smtp_starttls::Make({}, &c)));
  EXPECT_EQ(j["id.orig_h"], "::1");
}

TEST(EventJson, EveryByteValueGivesValidJson) {
  Connection c = MakeConn();
  for (int b = 0; b < 256; ++b) {
    std::string raw = "a";
    raw.push_back(static_cast<char>(b));
    raw += "z";
    Event e = ev::smtp_data::Make(Timestamp{1}, &c, {.is_orig = true, .data = raw});
    const std::string text = FormatEventJson(e);
    ASSERT_TRUE(nlohmann::json::accept(text)) << "byte " << b << ": " << text;
    const std::string data = nlohmann::json::parse(text)["data"];
    if (b < 0x80) {
      EXPECT_EQ(data, raw) << "byte " << b;  // ASCII round-trips, controls via JSON escapes
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", b);
      EXPECT_EQ(data, std::string("a") + hex + "z") << "byte " << b;  // not UTF-8: \xNN text
    }
  }
}

TEST(EventJson, ValidUtf8PassesThroughAndMixedBytesStayValid) {
  Connection c = MakeConn();
  const std::string raw =
      "Gr\xc3\xbc\xc3\x9f"
      "e \xff\xfe \xe2\x82";
  const std::string text = FormatEventJson(ev::smtp_data::Make({}, &c, {.data = raw}));
  ASSERT_TRUE(nlohmann::json::accept(text)) << text;
  EXPECT_EQ(nlohmann::json::parse(text)["data"],
            "Gr\xc3\xbc\xc3\x9f"
            "e \\xff\\xfe \\xe2\\x82");
}

}  // namespace
}  // namespace mailtap
