// BridgeAuth: a region's subscribers need that region's token, operators need the operator
// token (a region's token is not one), and nothing is checked when no region has a token.

#include "streamer-bridge/bridge_auth.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::bridge {
namespace {

using ::testing::HasSubstr;

constexpr char kEuToken[] = "eu-token-0123456789";
constexpr char kOpToken[] = "operator-0123456789";

BridgeAuth Guarded(bool with_operator) {
  const std::map<std::string, std::string> tokens = {{"eu", kEuToken}, {"us", "short"}};
  return BridgeAuth(
      tokens, with_operator ? *common::BearerAuth::FromToken(kOpToken) : common::BearerAuth());
}

TEST(BridgeAuthTest, WithoutRegionTokensEveryCallPasses) {
  const BridgeAuth open({}, common::BearerAuth());
  EXPECT_TRUE(open.Subscriber(std::nullopt, "eu").ok());
  EXPECT_TRUE(open.Operator(std::nullopt).ok());
}

TEST(BridgeAuthTest, ASubscriberNeedsItsRegionsToken) {
  const BridgeAuth auth = Guarded(true);
  EXPECT_TRUE(auth.Subscriber(absl::StrCat("Bearer ", kEuToken), "eu").ok());
  EXPECT_TRUE(auth.Subscriber(absl::StrCat("bearer ", kEuToken), "eu").ok()) << "scheme: any case";

  const absl::Status missing = auth.Subscriber(std::nullopt, "eu");
  EXPECT_EQ(missing.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(missing.message(), HasSubstr("region eu"));
  EXPECT_EQ(auth.Subscriber(absl::StrCat("Bearer ", kOpToken), "eu").code(),
            absl::StatusCode::kUnauthenticated)
      << "the operator token is not a region's";
  const absl::Status other = auth.Subscriber(absl::StrCat("Bearer ", kEuToken), "ap");
  EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(other.message(), HasSubstr("region ap has no token configured"));
  EXPECT_EQ(auth.Subscriber("Bearer short", "us").code(), absl::StatusCode::kPermissionDenied)
      << "a token too short to load admits no one";
}

TEST(BridgeAuthTest, AnOperatorNeedsTheOperatorToken) {
  const BridgeAuth auth = Guarded(true);
  EXPECT_TRUE(auth.Operator(absl::StrCat("Bearer ", kOpToken)).ok());
  const absl::Status region = auth.Operator(absl::StrCat("Bearer ", kEuToken));
  EXPECT_EQ(region.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(region.message(), HasSubstr("operator token: bearer token is not valid"));
  EXPECT_THAT(region.message(), ::testing::Not(HasSubstr(kEuToken))) << "never echoed";
  EXPECT_EQ(auth.Operator(absl::StrCat("Basic ", kOpToken)).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(BridgeAuthTest, GuardedRegionsWithoutAnOperatorTokenRefuseOperators) {
  const absl::Status s = Guarded(false).Operator(absl::StrCat("Bearer ", kOpToken));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("--operator_token_file"));
}

}  // namespace
}  // namespace cdnwarm::bridge
