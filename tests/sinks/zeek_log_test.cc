#include "sinks/zeek_log.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <string>

#include "sinks/test_util.h"

namespace mailtap {
namespace {

using testing_util::Split;

std::string Escaped(std::string_view bytes, bool in_container = false) {
  std::string out;
  AppendZeekEscaped(bytes, in_container, &out);
  return out;
}

std::string ZeekString(const std::optional<std::string>& value) {
  LogLineBuilder b(LogFormat::kZeek, LogLimits{});
  b.String("s", value);
  return b.Finish();
}

TEST(ZeekEscaping, SeparatorBackslashAndControlBytesBecomeHex) {
  EXPECT_EQ(Escaped("a\tb"), "a\\x09b");
  EXPECT_EQ(Escaped("C:\\dir"), "C:\\x5cdir");
  EXPECT_EQ(Escaped(std::string("\x00\x01\r\n\x7f", 5)), "\\x00\\x01\\x0d\\x0a\\x7f");
  EXPECT_EQ(Escaped("a,b"), "a,b");
  EXPECT_EQ(Escaped("a,b", true), "a\\x2cb");
}

TEST(ZeekEscaping, ValidUtf8PassesInvalidBytesAreHex) {
  EXPECT_EQ(Escaped("Gr\xc3\xbc\xc3\x9f"
                    "e"),
            "Gr\xc3\xbc\xc3\x9f"
            "e");
  EXPECT_EQ(Escaped("f\xfcr"), "f\\xfcr");
  EXPECT_EQ(Escaped("\xe2\x82"), "\\xe2\\x82");
  EXPECT_EQ(Escaped("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a UTF-16 surrogate
}

TEST(ZeekStrings, EmptyUnsetAndReservedValues) {
  EXPECT_EQ(ZeekString(std::nullopt), "-");
  EXPECT_EQ(ZeekString(std::string()), "(empty)");
  EXPECT_EQ(ZeekString(std::string("-")), "\\x2d");
  EXPECT_EQ(ZeekString(std::string("(empty)")), "\\x28empty)");
  EXPECT_EQ(ZeekString(std::string("--")), "--");
}

TEST(ZeekContainers, EmptySetIsEmptyFieldAndElementsAreEscaped) {
  LogLineBuilder b(LogFormat::kZeek, LogLimits{});
  b.StringSet("a", std::vector<std::string>{});
  b.StringSet("b", std::nullopt);
  b.StringSet("c", std::vector<std::string>{"x,y", "", "-", "z"});
  EXPECT_EQ(b.Finish(), "(empty)\t-\tx\\x2cy,(empty),\\x2d,z");
}

TEST(JsonLines, UnsetFieldsAreOmittedAndContainersAreArrays) {
  LogLineBuilder b(LogFormat::kJson, LogLimits{});
  b.Time("ts", Timestamp{1500000});
  b.String("s", std::nullopt);
  b.String("e", std::string());
  b.StringSet("set", std::vector<std::string>{"a\"b"});
  b.AddrVector("path", std::vector<IpAddress>{});
  b.Bool("tls", true);
  b.Count("n", 7);
  EXPECT_EQ(b.Finish(),
            "{\"ts\":1.500000,\"e\":\"\",\"set\":[\"a\\\"b\"],\"path\":[],"
            "\"tls\":true,\"n\":7}");
}

TEST(Limits, LongStringsAreCutTo4096Bytes) {
  LogLineBuilder b(LogFormat::kZeek, LogLimits{});
  b.String("s", std::string(5000, 'x'));
  EXPECT_EQ(b.Finish(), std::string(4096, 'x'));
  EXPECT_EQ(b.strings_truncated(), 1u);
}

TEST(Limits, ContainersAreCutTo100Elements) {
  std::vector<std::string> many;
  for (int i = 0; i < 150; ++i) many.push_back("a" + std::to_string(i));
  LogLineBuilder b(LogFormat::kJson, LogLimits{});
  b.StringSet("s", many);
  const std::string line = b.Finish();
  EXPECT_NE(line.find("\"a99\""), std::string::npos);
  EXPECT_EQ(line.find("\"a100\""), std::string::npos);
  EXPECT_EQ(b.containers_truncated(), 1u);
}

TEST(Limits, RecordStringTotalEmptiesLaterStrings) {
  LogLimits limits;
  limits.max_total_string_bytes = 6;
  LogLineBuilder b(LogFormat::kZeek, limits);
  b.String("a", std::string("abcd"));
  b.String("b", std::string("efgh"));
  b.String("c", std::string("ijkl"));
  EXPECT_EQ(Split(b.Finish(), '\t'), (std::vector<std::string>{"abcd", "ef", "(empty)"}));
  EXPECT_EQ(b.strings_truncated(), 2u);
}

TEST(Limits, RecordContainerTotalEmptiesLaterContainers) {
  LogLimits limits;
  limits.max_total_container_elements = 3;
  IpAddress a;
  IpAddress::Parse("192.0.2.1", &a);
  LogLineBuilder b(LogFormat::kZeek, limits);
  b.AddrVector("d", std::vector<IpAddress>{a, a});
  b.AddrVector("e", std::vector<IpAddress>{a, a});
  b.AddrVector("f", std::vector<IpAddress>{a});
  EXPECT_EQ(Split(b.Finish(), '\t'),
            (std::vector<std::string>{"192.0.2.1,192.0.2.1", "192.0.2.1", "(empty)"}));
  EXPECT_EQ(b.containers_truncated(), 2u);
}

TEST(Limits, ZeroDisablesALimit) {
  LogLimits limits{0, 0, 0, 0};
  LogLineBuilder b(LogFormat::kZeek, limits);
  b.String("s", std::string(10000, 'y'));
  EXPECT_EQ(b.Finish().size(), 10000u);
}

TEST(ZeekHeader, MatchesZeeksAsciiWriter) {
  setenv("TZ", "UTC", 1);
  tzset();
  LogSchema schema{"smtp", {"ts", "uid"}, {"time", "string"}};
  EXPECT_EQ(ZeekLogHeader(schema, 1254722767),
            "#separator \\x09\n"
            "#set_separator\t,\n"
            "#empty_field\t(empty)\n"
            "#unset_field\t-\n"
            "#path\tsmtp\n"
            "#open\t2009-10-05-06-06-07\n"
            "#fields\tts\tuid\n"
            "#types\ttime\tstring\n");
}

TEST(LogFormatParsing, AcceptsJsonAndZeekOnly) {
  EXPECT_EQ(ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(ParseLogFormat("zeek"), LogFormat::kZeek);
  EXPECT_FALSE(ParseLogFormat("tsv"));
}

}  // namespace
}  // namespace mailtap
