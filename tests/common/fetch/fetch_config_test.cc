// FetchGuardFromFlags: --allowed_hosts, --allow_private_ranges, --follow_redirects and
// --max_redirects become the FetchGuard the producer and the warmer fetch through, and a bad
// value is an error naming its flag.

#include "common/fetch/fetch_config.h"

#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_DECLARE_FLAG(std::vector<std::string>, allowed_hosts);
ABSL_DECLARE_FLAG(std::vector<std::string>, allow_private_ranges);
ABSL_DECLARE_FLAG(bool, follow_redirects);
ABSL_DECLARE_FLAG(int, max_redirects);

namespace cdnwarm::common {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(FetchConfigTest, DefaultsAllowEveryHostRefusePrivateAddressesAndFollowNoRedirect) {
  absl::FlagSaver saver;
  absl::StatusOr<FetchGuard> guard = FetchGuardFromFlags();
  ASSERT_TRUE(guard.ok()) << guard.status();
  EXPECT_TRUE(guard->hosts.empty());
  EXPECT_TRUE(guard->CheckHost("anything.example").ok());
  EXPECT_EQ(guard->addresses.CheckText("127.0.0.1").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(guard->addresses.CheckText("10.1.2.3").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(guard->addresses.CheckText("93.184.216.34").ok());
  EXPECT_FALSE(guard->follow_redirects);
  EXPECT_EQ(guard->max_redirects, 5);
}

TEST(FetchConfigTest, FlagsBecomeTheGuard) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_allowed_hosts, std::vector<std::string>{"Example.com", "*.cdn.test"});
  absl::SetFlag(&FLAGS_allow_private_ranges, std::vector<std::string>{"127.0.0.0/8"});
  absl::SetFlag(&FLAGS_follow_redirects, true);
  absl::SetFlag(&FLAGS_max_redirects, 7);
  absl::StatusOr<FetchGuard> guard = FetchGuardFromFlags();
  ASSERT_TRUE(guard.ok()) << guard.status();
  EXPECT_TRUE(guard->CheckHost("example.com").ok());
  EXPECT_TRUE(guard->CheckHost("img.cdn.test").ok());
  EXPECT_EQ(guard->CheckHost("cdn.test").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(guard->CheckHost("other.test").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(guard->addresses.CheckText("127.0.0.1").ok());
  // Only the listed range is exempt.
  EXPECT_EQ(guard->addresses.CheckText("10.1.2.3").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(guard->follow_redirects);
  EXPECT_EQ(guard->max_redirects, 7);
}

TEST(FetchConfigTest, ABadHostPatternNamesAllowedHosts) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_allowed_hosts, std::vector<std::string>{"example.com", "bad host/"});
  const absl::Status s = FetchGuardFromFlags().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), StartsWith("--allowed_hosts: "));
  EXPECT_THAT(std::string(s.message()), HasSubstr("\"bad host/\""));
}

TEST(FetchConfigTest, ABadRangeNamesAllowPrivateRanges) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_allow_private_ranges, std::vector<std::string>{"10.0.0.0/33"});
  absl::Status s = FetchGuardFromFlags().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), StartsWith("--allow_private_ranges: "));
  EXPECT_THAT(std::string(s.message()), HasSubstr("10.0.0.0/33"));

  absl::SetFlag(&FLAGS_allow_private_ranges, std::vector<std::string>{"localhost"});
  s = FetchGuardFromFlags().status();
  EXPECT_THAT(std::string(s.message()), StartsWith("--allow_private_ranges: "));
  EXPECT_THAT(std::string(s.message()), HasSubstr("not an IP address"));
}

TEST(FetchConfigTest, MaxRedirectsMustBeBetweenZeroAndTwenty) {
  absl::FlagSaver saver;
  for (int ok : {0, 20}) {
    absl::SetFlag(&FLAGS_max_redirects, ok);
    absl::StatusOr<FetchGuard> guard = FetchGuardFromFlags();
    ASSERT_TRUE(guard.ok()) << ok << ": " << guard.status();
    EXPECT_EQ(guard->max_redirects, ok);
  }
  for (int bad : {-1, 21}) {
    absl::SetFlag(&FLAGS_max_redirects, bad);
    const absl::Status s = FetchGuardFromFlags().status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message(), "--max_redirects must be between 0 and 20") << bad;
  }
}

}  // namespace
}  // namespace cdnwarm::common
