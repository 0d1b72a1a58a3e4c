#include "mime/header_field.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mailtap::mime {
namespace {

TEST(ParseHeaderField, ValueAfterFirstColonLeadingWhitespaceRemoved) {
  auto f = ParseHeaderField("Subject:   Re: x  ");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->name, "Subject");
  EXPECT_EQ(f->value, "Re: x  ");
}

TEST(ParseHeaderField, WhitespaceAndCommentBeforeColonAreTolerated) {
  auto f = ParseHeaderField("Subject (c) : v");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->name, "Subject");
  EXPECT_EQ(f->value, "v");
}

TEST(ParseHeaderField, LineWithoutColonIsMalformed) {
  EXPECT_FALSE(ParseHeaderField("just text"));
  EXPECT_FALSE(ParseHeaderField(""));
}

TEST(ParseHeaderField, EmptyValue) {
  auto f = ParseHeaderField("X-Empty:");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->value, "");
}

TEST(ParseContentType, TypeSubtypeAndQuotedBoundary) {
  auto t =
      ParseContentType("multipart/mixed;\tboundary=\"----=_NextPart_000_0004_01CA45B0.095693F0\"");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->type, "multipart");
  EXPECT_EQ(t->subtype, "mixed");
  EXPECT_EQ(t->boundary, "----=_NextPart_000_0004_01CA45B0.095693F0");
}

TEST(ParseContentType, UnquotedBoundaryMayHoldTspecials) {
  auto t = ParseContentType("Multipart/Alternative; charset=x; BOUNDARY=a=b/c?d");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->boundary, "a=b/c?d");
}

TEST(ParseContentType, QuotedPairsInTheBoundaryAreDecoded) {
  auto t = ParseContentType("multipart/mixed; boundary=\"a\\\"b\"");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->boundary, "a\"b");
}

TEST(ParseContentType, OnlyMultipartKeepsABoundary) {
  auto t = ParseContentType("text/plain; boundary=x");
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->boundary);
}

TEST(ParseContentType, WithoutSlashPairIsNothing) {
  EXPECT_FALSE(ParseContentType("text"));
  EXPECT_FALSE(ParseContentType("text/"));
  EXPECT_FALSE(ParseContentType(""));
}

TEST(FirstToken, SkipsCommentsAndWhitespace) {
  EXPECT_EQ(FirstToken(" (c) base64 (x)"), "base64");
  EXPECT_FALSE(FirstToken("  "));
}

// entities.zeek's extract_filename_from_content_disposition.
TEST(FilenameFromHeaderValue, QuotedUnquotedAndRfc2231) {
  EXPECT_EQ(FilenameFromHeaderValue("attachment;\tfilename=\"NEWS.txt\""), "NEWS.txt");
  EXPECT_EQ(FilenameFromHeaderValue("text/plain; name=a%20b.txt"), "a b.txt");
  EXPECT_EQ(FilenameFromHeaderValue("attachment; filename*=UTF-8''%E2%82%AC.txt"),
            "\xE2\x82\xAC.txt");
  EXPECT_EQ(FilenameFromHeaderValue("attachment; filename=\"a\" ; x"), "a");
}

TEST(FilenameFromHeaderValue, TheLastNameWins) {
  EXPECT_EQ(FilenameFromHeaderValue("a; name=one; filename = two"), "two");
}

TEST(HasFilenameParameter, AsEntitiesZeekTestsIt) {
  EXPECT_TRUE(HasFilenameParameter("attachment; FileName =x"));
  EXPECT_TRUE(HasFilenameParameter("attachment; filename*=x"));
  EXPECT_FALSE(HasFilenameParameter("attachment; file=x"));
  EXPECT_TRUE(HasNameParameter("text/plain; name=x"));
  EXPECT_FALSE(HasNameParameter("text/plain; name*=x"));
}

}  // namespace
}  // namespace mailtap::mime
