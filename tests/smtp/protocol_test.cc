#include "smtp/protocol.h"

#include <gtest/gtest.h>

namespace mailtap::smtp {
namespace {

TEST(SplitCommandLine, WordAndArgument) {
  CommandLine c = SplitCommandLine("MAIL FROM:<x>");
  EXPECT_EQ(c.word, "MAIL");
  EXPECT_EQ(c.arg, "FROM:<x>");
  c = SplitCommandLine("mail from:<a@b>");
  EXPECT_EQ(c.word, "mail");
  EXPECT_EQ(c.arg, "from:<a@b>");
}

TEST(SplitCommandLine, OnlySpacesAndTabsAreSkippedAndTrailingWhitespaceIsKept) {
  CommandLine c = SplitCommandLine("BDAT \t 86 LAST  ");
  EXPECT_EQ(c.word, "BDAT");
  EXPECT_EQ(c.arg, "86 LAST  ");
  c = SplitCommandLine("BDAT\v86");
  EXPECT_EQ(c.word, "BDAT");
  EXPECT_EQ(c.arg, "\v86");
}

TEST(SplitCommandLine, LeadingWhitespaceGivesAnEmptyWord) {
  const CommandLine c = SplitCommandLine(" EHLO x");
  EXPECT_EQ(c.word, "");
  EXPECT_EQ(c.arg, "EHLO x");
}

TEST(SplitCommandLine, NulEndsTheWord) {
  const CommandLine c = SplitCommandLine(std::string_view("HE\0LO x", 7));
  EXPECT_EQ(c.word, "HE");
}

TEST(LookupCommand, ExactLengthCaseInsensitive) {
  EXPECT_EQ(LookupCommand("ehlo"), Command::kEhlo);
  EXPECT_EQ(LookupCommand("StartTLS"), Command::kStartTls);
  EXPECT_EQ(LookupCommand("X-ANONYMOUSTLS"), Command::kXAnonymousTls);
  EXPECT_EQ(LookupCommand("x_anonymoustls"), Command::kXAnonymousTls);
  EXPECT_EQ(LookupCommand("END_OF_DATA"), Command::kEndOfData);
  EXPECT_EQ(LookupCommand("AUTH_ANSWER"), Command::kAuthAnswer);
  EXPECT_EQ(LookupCommand("CONN_ESTABLISHMENT"), Command::kConnEstablishment);
  EXPECT_FALSE(LookupCommand("MA"));
  EXPECT_FALSE(LookupCommand("MAILX"));
  EXPECT_FALSE(LookupCommand(""));
  EXPECT_FALSE(LookupCommand("LAST"));
  EXPECT_FALSE(LookupCommand("."));
}

TEST(ReplyLabel, SpecialLabels) {
  EXPECT_EQ(ReplyLabel(Command::kConnEstablishment), ">");
  EXPECT_EQ(ReplyLabel(Command::kEndOfData), ".");
  EXPECT_EQ(ReplyLabel(std::nullopt), "(UNKNOWN)");
  EXPECT_EQ(ReplyLabel(Command::kAuthAnswer), "AUTH_ANSWER");
  EXPECT_EQ(ReplyLabel(Command::kXAnonymousTls), "X_ANONYMOUSTLS");
  EXPECT_EQ(ReplyLabel(Command::kMail), "MAIL");
}

TEST(UpperAscii, UpperCasesAsciiOnly) {
  EXPECT_EQ(UpperAscii("x-anonymousTLS\xe4"), "X-ANONYMOUSTLS\xe4");
}

TEST(ParseReplyLine, FinalAndContinuationLines) {
  ReplyLine r = ParseReplyLine("250-SIZE 52428800");
  ASSERT_TRUE(r.InRange());
  EXPECT_EQ(*r.code, 250);
  EXPECT_TRUE(r.continued);
  EXPECT_EQ(r.msg, "SIZE 52428800");
  r = ParseReplyLine("250 OK id=1");
  EXPECT_FALSE(r.continued);
  EXPECT_EQ(r.msg, "OK id=1");
}

TEST(ParseReplyLine, SeparatorIsOptionalAndTrailingSpaceKept) {
  EXPECT_EQ(ParseReplyLine("250OK").msg, "OK");
  EXPECT_EQ(ParseReplyLine("250").msg, "");
  EXPECT_EQ(ParseReplyLine("250+x").msg, "+x");
  EXPECT_EQ(ParseReplyLine("220-a  \t").msg, "a  \t");
  EXPECT_EQ(ParseReplyLine("220 \t x ").msg, "x ");
}

TEST(ParseReplyLine, OutOfRangeCodes) {
  EXPECT_FALSE(ParseReplyLine("").InRange());
  EXPECT_FALSE(ParseReplyLine("25").InRange());
  EXPECT_FALSE(ParseReplyLine("099 x").InRange());
  EXPECT_FALSE(ParseReplyLine("600 x").InRange());
  EXPECT_FALSE(ParseReplyLine("2a0 x").InRange());
  EXPECT_FALSE(ParseReplyLine("\x16\x03\x01").InRange());
  EXPECT_TRUE(ParseReplyLine("599 x").InRange());
  EXPECT_TRUE(ParseReplyLine("100").InRange());
}

}  // namespace
}  // namespace mailtap::smtp
