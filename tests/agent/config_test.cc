#include "config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <vector>

namespace mailtap {
namespace {

ParseOutcome Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "mailtapd");
  return ParseCommandLine(static_cast<int>(args.size()), args.data());
}

TEST(ParseCommandLine, DefaultsMatchTheInterface) {
  ParseOutcome out = Parse({});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->ports.ToString(), "25,465,587");
  EXPECT_EQ(out.config->tls_ports.ToString(), "465");
  EXPECT_EQ(out.config->log_format, LogFormat::kJson);
  EXPECT_EQ(out.config->redact, RedactMode::kCredentials);
  EXPECT_FALSE(out.config->read_file);
  EXPECT_TRUE(out.config->interfaces.empty());
  EXPECT_FALSE(out.config->events_include.IncludesContent());
  EXPECT_FALSE(out.config->observe_data);
}

TEST(ParseCommandLine, EventsIncludeSelectsContentOnlyWhenAsked) {
  ParseOutcome out = Parse({"--events", "-", "--events-include", "protocol,smtp_data"});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_TRUE(out.config->events_include.Contains(EventId::kSmtpData));
  EXPECT_FALSE(out.config->events_include.Contains(EventId::kMimeOneHeader));
  out = Parse({"--events-include", "smtp_requst"});
  EXPECT_EQ(out.exit_status, 2);
  EXPECT_NE(out.message.find("--events-include: 'smtp_requst'"), std::string::npos) << out.message;
}

TEST(ParseCommandLine, ReadsPinnedShortAndLongOptions) {
  ParseOutcome out = Parse(
      {"-r", "x.pcap", "-p", "25,2525", "--events", "-", "--log-dir", "d", "--log-format", "zeek"});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(*out.config->read_file, "x.pcap");
  EXPECT_EQ(out.config->ports.ToString(), "25,2525");
  EXPECT_EQ(*out.config->events_path, "-");
  EXPECT_EQ(*out.config->log_dir, "d");
  EXPECT_EQ(out.config->log_format, LogFormat::kZeek);
}

TEST(ParseCommandLine, InterfaceIsRepeatable) {
  ParseOutcome out = Parse({"-i", "lo", "--interface", "eth0"});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->interfaces, (std::vector<std::string>{"lo", "eth0"}));
}

TEST(ParseCommandLine, BadUsageExitsTwoNamingTheOption) {
  struct Case {
    std::vector<const char*> args;
    const char* must_mention;
  };
  for (const Case& c :
       {Case{{"--log-format", "xml"}, "--log-format"}, Case{{"--ports", "25,smtp"}, "--ports"},
        Case{{"--tls-ports", "465,smtps"}, "--tls-ports"}, Case{{"--redact", "all"}, "--redact"},
        Case{{"--no-such-option"}, "no-such-option"}, Case{{"-r"}, "read"},
        Case{{"-r", "a.pcap", "-i", "lo"}, "--interface"},
        Case{{"--keep-serving"}, "--keep-serving"},
        // Boost alone takes -1 for the largest size_t (issue 17).
        Case{{"--history", "-1"}, "--history: '-1' is not a whole number from 0"},
        Case{{"--history", "100000000"}, "from 0 to 1000000"},
        Case{{"--history", "1e3"}, "--history"}, Case{{"--ring-size", "-4096"}, "--ring-size"},
        Case{{"--ring-size", "12288"}, "--ring-size: 12288 is not a power of two"},
        Case{{"--ring-size", "2147483648"}, "--ring-size"},
        Case{{"--community-id-seed", "65536"}, "--community-id-seed"},
        Case{{"--community-id-seed", "-1"}, "--community-id-seed"},
        // A stray word used to start a live capture on every interface (issue 16).
        Case{{"extra-arg"}, "did you mean -r extra-arg?"},
        Case{{"-i", "lo", "extra-arg"}, "'extra-arg'"},
        Case{{"-r", "a.pcap", "b.pcap"}, "unexpected argument 'b.pcap'"}}) {
    ParseOutcome out = Parse(c.args);
    EXPECT_FALSE(out.config);
    EXPECT_EQ(out.exit_status, 2);
    EXPECT_NE(out.message.find(c.must_mention), std::string::npos) << out.message;
  }
}

TEST(ParseCommandLine, CommunityIdSeedDefaultsToZero) {
  ParseOutcome out = Parse({"-r", "a.pcap"});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->community_id_seed, 0);
  out = Parse({"-r", "a.pcap", "--community-id-seed", "65535"});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->community_id_seed, 65535);
}

TEST(ParseCommandLine, TlsPortsListOrNone) {
  ParseOutcome out = Parse({"--tls-ports", "465,2465"});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->tls_ports.ToString(), "465,2465");
  out = Parse({"--tls-ports", "none"});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->tls_ports.ToString(), "");
}

TEST(ParseCommandLine, TlsPlaintextIsOnByDefaultAndCanBeTurnedOff) {
  ParseOutcome out = Parse({});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_TRUE(out.config->tls_plaintext);
  EXPECT_FALSE(out.config->tls_processes);
  out = Parse({"--tls-plaintext", "off", "--tls-processes", "smtpd,exim4"});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_FALSE(out.config->tls_plaintext);
  EXPECT_EQ(*out.config->tls_processes, (std::vector<std::string>{"smtpd", "exim4"}));
}

TEST(ParseCommandLine, BadTlsOptionsExitTwoNamingTheOption) {
  for (std::vector<const char*> args :
       {std::vector<const char*>{"--tls-plaintext", "yes"},
        std::vector<const char*>{"--tls-processes", ""},
        std::vector<const char*>{"--tls-processes", "smtpd,,exim"},
        std::vector<const char*>{"--tls-processes", "a-name-longer-than-15"}}) {
    ParseOutcome out = Parse(args);
    EXPECT_FALSE(out.config);
    EXPECT_EQ(out.exit_status, 2);
    EXPECT_NE(out.message.find(args[0]), std::string::npos) << out.message;
  }
}

TEST(ParseCommandLine, HelpAndVersionExitZero) {
  ParseOutcome help = Parse({"--help"});
  EXPECT_EQ(help.exit_status, 0);
  EXPECT_NE(help.message.find("--read"), std::string::npos);
  ParseOutcome version = Parse({"--version"});
  EXPECT_EQ(version.exit_status, 0);
  EXPECT_EQ(version.message.rfind("mailtapd ", 0), 0u) << version.message;
}

TEST(ParseCommandLine, ConfigFileSetsOptionsAndCommandLineWins) {
  std::string path = ::testing::TempDir() + "/mailtapd.conf";
  {
    std::ofstream f(path);
    f << "ports = 2525\nlog-format = zeek\nlog-dir = /tmp/x\n";
  }
  ParseOutcome out = Parse({"--config", path.c_str(), "--log-dir", "/tmp/y"});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->ports.ToString(), "2525");
  EXPECT_EQ(out.config->log_format, LogFormat::kZeek);
  EXPECT_EQ(*out.config->log_dir, "/tmp/y");
  std::remove(path.c_str());
}

TEST(ParseCommandLine, UnreadableConfigFileIsAUsageErrorNamingIt) {
  ParseOutcome out = Parse({"--config", "/nonexistent/mailtapd.conf"});
  EXPECT_EQ(out.exit_status, 2);
  EXPECT_NE(out.message.find("/nonexistent/mailtapd.conf"), std::string::npos);
}

TEST(ParseCommandLine, SetChangesZeeksConstantsByTheirZeekNames) {
  ParseOutcome out =
      Parse({"--set", "SMTP::max_invalid_mail_transactions=2", "--set",
             "SMTP::mail_transaction_validation=F", "--set", "MIME::max_header_bytes=100"});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->tunables.smtp_log.max_invalid_mail_transactions, 2u);
  EXPECT_FALSE(out.config->tunables.smtp_log.mail_transaction_validation);
  EXPECT_EQ(out.config->tunables.smtp.max_header_bytes, 100u);
}

TEST(ParseCommandLine, SetRejectsUnknownNamesAndBadValuesNamingThem) {
  for (const char* bad : {"SMTP::nope=1", "SMTP::max_path_length=lots",
                          "SMTP::mail_transaction_validation=yes", "no-equals-sign"}) {
    ParseOutcome out = Parse({"--set", bad});
    EXPECT_EQ(out.exit_status, 2) << bad;
    EXPECT_NE(out.message.find("--set"), std::string::npos) << out.message;
  }
}

// Message content is private by default: nothing is extracted unless an operator says so.
TEST(ParseCommandLine, ExtractionIsOffAndHashesOnByDefault) {
  ParseOutcome out = Parse({});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->extract.what, ExtractWhat::kNone);
  EXPECT_TRUE(out.config->extract.dir.empty());
  EXPECT_TRUE(out.config->file_hashes);
}

TEST(ParseCommandLine, ExtractionOptionsAndCaps) {
  ParseOutcome out = Parse({"--extract", "messages", "--extract-dir", "/var/lib/mailtap/extract",
                            "--extract-max-file", "1000", "--extract-max-connection", "2000",
                            "--extract-max-total", "3000", "--file-hashes", "off"});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->extract.what, ExtractWhat::kMessages);
  EXPECT_EQ(out.config->extract.dir, "/var/lib/mailtap/extract");
  EXPECT_EQ(out.config->extract.max_file_bytes, 1000u);
  EXPECT_EQ(out.config->extract.max_connection_bytes, 2000u);
  EXPECT_EQ(out.config->extract.max_total_bytes, 3000u);
  EXPECT_FALSE(out.config->file_hashes);
}

TEST(ParseCommandLine, ExtractionMisuseExitsTwoNamingTheOption) {
  struct Case {
    std::vector<const char*> args;
    const char* must_mention;
  };
  for (const Case& c : {Case{{"--extract", "all"}, "--extract needs --extract-dir"},
                        Case{{"--extract-dir", "/tmp"}, "--extract is none"},
                        Case{{"--extract", "everything", "--extract-dir", "/tmp"}, "--extract"},
                        Case{{"--extract-max-file", "-1"}, "--extract-max-file"},
                        Case{{"--file-hashes", "yes"}, "--file-hashes"}}) {
    ParseOutcome out = Parse(c.args);
    EXPECT_FALSE(out.config);
    EXPECT_EQ(out.exit_status, 2);
    EXPECT_NE(out.message.find(c.must_mention), std::string::npos) << out.message;
  }
}

}  // namespace
}  // namespace mailtap
