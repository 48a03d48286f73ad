#include "common/core/naming.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::common {
namespace {

using ::testing::HasSubstr;

TEST(InstanceTest, AcceptsEmptyAndValidSuffixes) {
  for (const char* ok : {"", "a", "blue", "ci42", "a234567890123456"}) {
    EXPECT_TRUE(ValidateInstance(ok).ok()) << ok;
  }
}

TEST(InstanceTest, RejectsWithReason) {
  struct Case {
    const char* instance;
    const char* reason;
  };
  for (const Case& c :
       {Case{"A", "lower-case letter"}, Case{"1abc", "lower-case letter"},
        Case{"-x", "lower-case letter"}, Case{"blue-green", "a-z, 0-9"}, Case{"blue_1", "a-z, 0-9"},
        Case{"bLue", "a-z, 0-9"}, Case{"a2345678901234567", "longer than 16"},
        Case{"a b", "a-z, 0-9"}, Case{"caf\xc3\xa9", "a-z, 0-9"}}) {
    const absl::Status s = ValidateInstance(c.instance);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.instance;
    EXPECT_THAT(s.message(), HasSubstr(c.reason)) << c.instance;
    EXPECT_THAT(s.message(), HasSubstr("^[a-z][a-z0-9]{0,15}$")) << c.instance;
  }
}

TEST(InstanceTest, LongHostileValueIsTruncatedInMessage) {
  const std::string hostile(10000, 'x');
  const absl::Status s = ValidateInstance(hostile);
  EXPECT_FALSE(s.ok());
  EXPECT_LT(s.message().size(), 200u);
}

TEST(InstanceTest, SuffixIsAppendedOnlyWhenSet) {
  EXPECT_EQ(WithInstance("warm.requests", ""), "warm.requests");
  EXPECT_EQ(WithInstance("warm.requests", "ci1"), "warm.requests-ci1");
}

TEST(RegionTest, ValidatesRegionNames) {
  for (const char* ok : {"us-east", "eu-west-1", "a", "ap-south"}) {
    EXPECT_TRUE(ValidateRegion(ok).ok()) << ok;
  }
  for (const char* bad :
       {"", "US-east", "us_east", "us-", "-us", "1us", "a23456789012345678901234567890123"}) {
    EXPECT_EQ(ValidateRegion(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(RegionGroupTest, BuildsGroupNames) {
  EXPECT_EQ(*RegionGroup(kRegionGroupPrefix, "us-east", ""), "cdnwarm.bridge.us-east");
  EXPECT_EQ(*RegionGroup("p", "eu-west", "blue"), "p.eu-west-blue");
  EXPECT_THAT(RegionGroup("p", "EU", "").status().message(), HasSubstr("region"));
  EXPECT_THAT(RegionGroup("p", "eu", "Blue").status().message(), HasSubstr("instance"));
}

}  // namespace
}  // namespace cdnwarm::common
