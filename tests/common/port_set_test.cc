#include "mailtap/port_set.h"

#include <gtest/gtest.h>

namespace mailtap {
namespace {

TEST(PortSet, ParsesCommaSeparatedList) {
  std::string error;
  auto set = PortSet::Parse("25, 587,2525", &error);
  ASSERT_TRUE(set) << error;
  EXPECT_EQ(set->ToString(), "25,587,2525");
  EXPECT_TRUE(set->Contains(587));
  EXPECT_FALSE(set->Contains(465));
}

TEST(PortSet, RejectsBadItemsNamingThem) {
  std::string error;
  EXPECT_FALSE(PortSet::Parse("25,smtp", &error));
  EXPECT_NE(error.find("'smtp'"), std::string::npos) << error;
  EXPECT_FALSE(PortSet::Parse("0", &error));
  EXPECT_FALSE(PortSet::Parse("65536", &error));
  EXPECT_FALSE(PortSet::Parse("", &error));
  EXPECT_FALSE(PortSet::Parse("25,", &error));
}

}  // namespace
}  // namespace mailtap
